-- Accounts and the images they own. Later issues add their own migrations.
CREATE TABLE users (
    id uuid PRIMARY KEY,
    email text NOT NULL,
    email_normalized text NOT NULL UNIQUE,
    password_hash text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE images (
    id uuid PRIMARY KEY,
    owner_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    source text NOT NULL DEFAULT 'upload' CHECK (source IN ('upload', 'import', 'generation')),
    original_name text NOT NULL,
    storage_key text NOT NULL UNIQUE,
    content_type text,
    declared_bytes bigint,
    status text NOT NULL CHECK (status IN ('awaiting_upload', 'generating', 'queued', 'processing', 'done', 'failed')),
    format text,
    width integer,
    height integer,
    bytes bigint,
    requested_variants jsonb NOT NULL DEFAULT '[]'::jsonb,
    variants jsonb NOT NULL DEFAULT '[]'::jsonb,
    error_code text,
    error_message text,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    processed_at timestamptz
);

-- Keyset pagination: the caller's images, newest first.
CREATE INDEX images_owner_newest ON images (owner_id, created_at DESC, id DESC);
