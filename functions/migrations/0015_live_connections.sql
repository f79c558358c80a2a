-- Live updates over WebSocket (functions/live/). A ticket is single use and short-lived: only its
-- SHA-256 is stored, so a copy of the database cannot connect as anyone.
CREATE TABLE live_tickets (
    ticket_hash text PRIMARY KEY,
    user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    expires_at timestamptz NOT NULL
);
CREATE INDEX live_tickets_expiry ON live_tickets (expires_at);

-- One row per open WebSocket connection (API Gateway's connection id); removed on disconnect, on a
-- 410 from the management API, and by housekeeping after API Gateway's 2-hour connection limit.
CREATE TABLE live_connections (
    id text PRIMARY KEY,
    user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    connected_at timestamptz NOT NULL DEFAULT now(),
    last_seen timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX live_connections_user ON live_connections (user_id);
