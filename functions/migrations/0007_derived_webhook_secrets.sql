-- Webhook secrets are derived from WEBHOOK_SIGNING_KEY and this random nonce, and no longer stored.
-- Rows from before keep their stored secret (nonce NULL) until the user rotates it.
ALTER TABLE webhook_secrets ADD COLUMN nonce text;
ALTER TABLE webhook_secrets ALTER COLUMN secret DROP NOT NULL;
ALTER TABLE webhook_secrets ADD CONSTRAINT webhook_secrets_nonce_or_secret
    CHECK ((nonce IS NULL) <> (secret IS NULL));
