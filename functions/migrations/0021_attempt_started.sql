-- When the current processing attempt was claimed. claimed_at moves forward with the lease's
-- heartbeat while the worker lives; this does not, so a takeover can tell an attempt that ran on to
-- its time limit (a stall) from one cut short early, e.g. by a database outage that also kept it
-- from recording its error.
ALTER TABLE images ADD COLUMN attempt_started_at timestamptz;
