-- When housekeeping last re-sent an upload's lost S3 notification (at most once an hour).
ALTER TABLE images ADD COLUMN redriven_at timestamptz;

-- What the housekeeping sweep looks up every few minutes, without scanning whole tables.
CREATE INDEX images_awaiting_upload ON images (created_at) WHERE status = 'awaiting_upload';
CREATE INDEX login_failures_last ON login_failures (last_failure_at);
CREATE INDEX refresh_tokens_expiry ON refresh_tokens (expires_at);

-- A deleted image's prefixes, swept again once nothing can still write there: a worker that was
-- processing it, or a presigned POST issued before the delete, may store objects after it.
CREATE TABLE deleted_images (
    image_id uuid PRIMARY KEY,
    owner_id uuid NOT NULL,
    deleted_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX deleted_images_oldest ON deleted_images (deleted_at);
