-- Failed sign-ins per source address, so one address cannot spray guesses over many accounts
-- (the per-account counter in login_failures allows a few guesses for every address it tries).
CREATE TABLE login_sources (
    source_ip text PRIMARY KEY,
    failures integer NOT NULL,
    last_failure_at timestamptz NOT NULL
);
CREATE INDEX login_sources_last ON login_sources (last_failure_at);

-- The authorizer asks "is this access token's session (refresh-token family) revoked?" on every
-- cache miss; this partial index answers it from the few revoked rows only.
CREATE INDEX refresh_tokens_revoked_family ON refresh_tokens (family_id) WHERE revoked_at IS NOT NULL;
