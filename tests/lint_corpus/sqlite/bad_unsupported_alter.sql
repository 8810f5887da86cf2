-- expect: unsupported-alter@1 unsupported-alter@2
ALTER TABLE users ALTER COLUMN email SET NOT NULL;
ALTER TABLE users ADD CONSTRAINT email_unique UNIQUE (email);
