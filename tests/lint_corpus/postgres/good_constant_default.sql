-- expect:
SET lock_timeout = '2s';
ALTER TABLE orders ADD COLUMN state text DEFAULT 'new';
ALTER TABLE orders ADD COLUMN created_at timestamptz DEFAULT now();
ALTER TABLE orders ADD COLUMN note text;
