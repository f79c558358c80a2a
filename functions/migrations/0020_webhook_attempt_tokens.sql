-- A delivery attempt's claim carries a token, like an image's or a generation step's: it travels in
-- the send order and back in the outcome, so only the outcome of the claim that is held now records
-- anything (a duplicated or late outcome, or one for a claim taken over after its lease, matches nothing).
ALTER TABLE webhook_deliveries ADD COLUMN claim_token uuid;
