-- expect: add-column-refused@1 add-column-refused@2 add-column-refused@3
ALTER TABLE users ADD COLUMN created TEXT DEFAULT CURRENT_TIMESTAMP;
ALTER TABLE users ADD COLUMN n INTEGER NOT NULL;
ALTER TABLE [users] ADD COLUMN code TEXT UNIQUE;
