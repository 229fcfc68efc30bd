-- Adapters' follow-up work (a DingTalk day to pull), durable: committed with
-- the delivery that calls for it, deduplicated on (queue, job_key) while it
-- waits, and taken again when its lease runs out (its taker died).
CREATE TABLE jobs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    queue TEXT NOT NULL,
    job_key TEXT NOT NULL,
    payload TEXT NOT NULL,
    -- Due from this instant (µs); a taken job is due again when its lease ends.
    available_at_us INTEGER NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    UNIQUE (queue, job_key)
);
CREATE INDEX jobs_due ON jobs (queue, available_at_us);
