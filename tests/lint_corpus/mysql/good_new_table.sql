-- expect:
CREATE TABLE audit (id BIGINT PRIMARY KEY, note TEXT) ENGINE=InnoDB;
ALTER TABLE audit MODIFY note VARCHAR(100);
# a hash comment; with a semicolon
CREATE INDEX audit_note ON audit (note);
