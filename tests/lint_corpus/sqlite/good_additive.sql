-- expect:
ALTER TABLE users ADD COLUMN nickname TEXT;
ALTER TABLE users ADD COLUMN score INTEGER NOT NULL DEFAULT 0;
ALTER TABLE users RENAME COLUMN nickname TO handle;
CREATE INDEX users_handle ON users (handle);
