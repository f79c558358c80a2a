-- Whether images.sha256 was declared by the uploader (a promise to check) or computed by processing
-- (a fact about the current original). A replacement of the original keeps a declared hash, so
-- other content fails as checksum_mismatch, and forgets a computed one, so it is computed anew.
ALTER TABLE images ADD COLUMN sha256_declared boolean NOT NULL DEFAULT false;
UPDATE images SET sha256_declared = true WHERE sha256 IS NOT NULL AND status IN ('awaiting_upload', 'queued');
