-- Renditions of an original that was replaced (a presigned POST used again): their rows are deleted with the
-- claim of the new content, and their objects wait here until housekeeping deletes them (processing may not
-- delete objects). New renditions are stored under the new content version, so no key here is reused.
CREATE TABLE stale_renditions (
    storage_key text PRIMARY KEY,
    image_id uuid NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
