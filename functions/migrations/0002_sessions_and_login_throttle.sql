-- Refresh tokens are stored only as SHA-256 hashes, grouped in families: one per sign-in.
-- Rotation marks the used token; presenting a rotated token again revokes its family.
CREATE TABLE refresh_tokens (
    token_hash text PRIMARY KEY,
    family_id uuid NOT NULL,
    user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL,
    rotated_at timestamptz,
    revoked_at timestamptz
);

CREATE INDEX refresh_tokens_family ON refresh_tokens (family_id);
CREATE INDEX refresh_tokens_user ON refresh_tokens (user_id);

-- Failed sign-ins per address (known or not), for the lockout curve in functions/auth/throttle.py.
CREATE TABLE login_failures (
    email_normalized text PRIMARY KEY,
    failures integer NOT NULL,
    last_failure_at timestamptz NOT NULL
);
