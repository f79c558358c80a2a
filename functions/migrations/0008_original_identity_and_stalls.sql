-- What was processed: the original's ETag (with bytes, already on the row, its size), recorded when a
-- worker reads it, so a later ObjectCreated with other content (a presigned POST used again) is seen
-- as a replacement, and a duplicate event for the same content stays a no-op.
ALTER TABLE images ADD COLUMN original_etag text;
-- Attempts that ended without recording anything (the worker was killed at its timeout): after a few,
-- the image ends failed (too_slow) instead of going round until the dead-letter queue.
ALTER TABLE images ADD COLUMN stalled_attempts integer NOT NULL DEFAULT 0;
-- Which attempt (processing_attempts at the time) recorded last_error, to tell a failure from a kill.
ALTER TABLE images ADD COLUMN last_error_attempt integer;
