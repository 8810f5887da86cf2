-- expect:
CREATE TABLE audit (id bigint PRIMARY KEY, at timestamptz NOT NULL);
CREATE INDEX audit_at_idx ON audit (at);
ALTER TABLE audit ADD CONSTRAINT audit_at_check CHECK (at > '2000-01-01');
