-- Batches: one request that starts many uploads and URL imports with one set of variant options.
-- completed_at is set once, by the conditional UPDATE that sees no unfinished item left
-- (functions/batches.py), so exactly one batch.complete event can follow.
CREATE TABLE batches (
    id uuid PRIMARY KEY,
    owner_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    callback_url text,
    item_count integer NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    completed_at timestamptz
);

CREATE INDEX batches_owner_newest ON batches (owner_id, created_at DESC, id DESC);

-- batch_index keeps the order of the request (files first, then URLs); source_url is what an
-- import fetches; callback_url receives the image's terminal event (not set on batch items:
-- a batch's callback gets the one batch.complete event instead).
ALTER TABLE images ADD COLUMN batch_id uuid REFERENCES batches (id) ON DELETE SET NULL;
ALTER TABLE images ADD COLUMN batch_index integer;
ALTER TABLE images ADD COLUMN source_url text;
ALTER TABLE images ADD COLUMN callback_url text;

CREATE INDEX images_batch ON images (batch_id, batch_index) WHERE batch_id IS NOT NULL;

-- One signing secret per user, shown once by POST /auth/webhook-secret and replaced on every call.
-- Stored as is because the delivery worker must sign with it (a hash would not do).
-- AWS follow-up: encrypt it at rest with a KMS key (envelope encryption in the column).
CREATE TABLE webhook_secrets (
    user_id uuid PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    secret text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);

-- One row per event, created by INSERT ... ON CONFLICT DO NOTHING on (subject_id, event_type):
-- a duplicated or replayed terminal transition can never produce a second event. attempts is
-- the number of the last attempt claimed: each delivery message carries the next number, so a
-- duplicated message finds its number taken and sends nothing.
CREATE TABLE webhook_deliveries (
    id uuid PRIMARY KEY,
    owner_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    subject_id uuid NOT NULL,
    event_type text NOT NULL,
    url text NOT NULL,
    body text NOT NULL,
    status text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'delivered', 'failed')),
    attempts integer NOT NULL DEFAULT 0,
    claimed_at timestamptz,
    last_status_code integer,
    last_error text,
    enqueued_at timestamptz,
    delivered_at timestamptz,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (subject_id, event_type)
);
