-- The SHA-256 of an image's original (64 lower-case hex digits): declared by the uploader, or computed
-- when processing when none was declared. Lets a client find what it already uploaded (GET /images?sha256=).
ALTER TABLE images ADD COLUMN sha256 text;
CREATE INDEX images_owner_sha256 ON images (owner_id, sha256) WHERE sha256 IS NOT NULL;
