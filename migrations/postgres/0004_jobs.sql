-- Adapters' follow-up work (a DingTalk day to pull), durable: committed with
-- the delivery that calls for it, deduplicated on (queue, job_key) while it
-- waits, taken with FOR UPDATE SKIP LOCKED by whichever replica asks, and
-- taken again when its lease runs out (its taker died).
CREATE TABLE jobs (
    id BIGSERIAL PRIMARY KEY,
    queue TEXT NOT NULL,
    job_key TEXT NOT NULL,
    payload TEXT NOT NULL,
    -- Due from this instant; a taken job is due again when its lease ends.
    available_at TIMESTAMPTZ NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    UNIQUE (queue, job_key)
);
CREATE INDEX jobs_due ON jobs (queue, available_at);
