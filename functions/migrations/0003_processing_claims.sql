-- Processing claims: a worker owns an image while claim_token is its token. A claim older
-- than the function timeout belongs to a worker that died, and the redelivered event may take it over.
ALTER TABLE images ADD COLUMN claim_token uuid;
ALTER TABLE images ADD COLUMN claimed_at timestamptz;
ALTER TABLE images ADD COLUMN processing_attempts integer NOT NULL DEFAULT 0;
ALTER TABLE images ADD COLUMN last_error text;
