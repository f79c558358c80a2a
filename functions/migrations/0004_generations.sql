-- A text-to-image job behind an image row (source 'generation'). polls is the sequence number
-- of the last poll taken: each poll message carries the next number, so a duplicated message
-- finds its number taken and does nothing (no second provider job, no second original).
CREATE TABLE generations (
    image_id uuid PRIMARY KEY REFERENCES images (id) ON DELETE CASCADE,
    provider text NOT NULL,
    prompt text NOT NULL,
    style text,
    negative_prompt text,
    width integer NOT NULL,
    height integer NOT NULL,
    job_id text,
    provider_status text NOT NULL DEFAULT 'WAITING',
    step integer NOT NULL DEFAULT 0,
    step_claimed_at timestamptz,
    deadline_at timestamptz NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
