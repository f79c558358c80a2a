-- Delivery keys: each user's URL signing key is derived from WEBHOOK_SIGNING_KEY (the server key) and this
-- random nonce, like webhook secrets, so a copy of the database alone cannot sign a /img URL.
CREATE TABLE delivery_keys (
    user_id uuid PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    nonce text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);

-- On-demand renditions kept in storage under renditions/{user}/{image}/{options}.{ext}: one row per
-- image and canonical options (the format resolved), so a hit needs no render and GET /images/{id}
-- can show what renditions cost in storage. The row goes with its image; the objects are deleted by
-- DELETE /images/{id}, and housekeeping sweeps the prefix again for renders that finish later.
CREATE TABLE renditions (
    image_id uuid NOT NULL REFERENCES images (id) ON DELETE CASCADE,
    options text NOT NULL,
    storage_key text NOT NULL,
    content_type text NOT NULL,
    width integer NOT NULL,
    height integer NOT NULL,
    bytes bigint NOT NULL,
    etag text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (image_id, options)
);
