-- A generation step's claim carries a token, like an image's: the worker that holds the step
-- renews step_claimed_at while it runs (a lease heartbeat), and only the holder may renew it.
ALTER TABLE generations ADD COLUMN step_claim_token uuid;
