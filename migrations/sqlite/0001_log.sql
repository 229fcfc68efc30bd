-- Delivery dedup, the append-only log and the current revision of every fact.

-- One row per vendor delivery id ever accepted, with the raw payload: the
-- durable delivery-dedup layer and the store of unknown or untranslatable events.
CREATE TABLE deliveries (
    vendor INTEGER NOT NULL,
    event_id TEXT NOT NULL,
    app TEXT NOT NULL,
    tenant TEXT NOT NULL,
    channel INTEGER NOT NULL,
    event_type TEXT NOT NULL,
    recognition TEXT NOT NULL,
    problem TEXT NOT NULL,
    raw_json TEXT NOT NULL,
    received_at_us INTEGER NOT NULL,
    PRIMARY KEY (vendor, event_id)
);
CREATE INDEX deliveries_by_recognition ON deliveries (recognition, received_at_us);

-- Every committed fact revision and signal, in commit order. AUTOINCREMENT so
-- that a sequence number is never reused, even after retention deletes rows.
CREATE TABLE log (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    kind INTEGER NOT NULL,
    vendor INTEGER NOT NULL,
    app TEXT NOT NULL,
    tenant TEXT NOT NULL,
    employee_id TEXT NOT NULL,
    business_key TEXT NOT NULL,
    revision INTEGER NOT NULL,
    occurred_at_us INTEGER NOT NULL,
    received_at_us INTEGER NOT NULL,
    body BLOB NOT NULL
);

-- The current revision of each business key, for queries and business dedup.
CREATE TABLE facts (
    kind INTEGER NOT NULL,
    vendor INTEGER NOT NULL,
    tenant TEXT NOT NULL,
    business_key TEXT NOT NULL,
    revision INTEGER NOT NULL,
    content_hash BLOB NOT NULL,
    log_seq INTEGER NOT NULL,
    employee_id TEXT NOT NULL,
    sort_key TEXT NOT NULL,
    start_at_us INTEGER NOT NULL,
    end_at_us INTEGER NOT NULL,
    work_date TEXT NOT NULL,
    body BLOB NOT NULL,
    PRIMARY KEY (kind, vendor, tenant, business_key)
);
CREATE INDEX facts_by_sort_key ON facts (kind, sort_key, vendor, business_key);
CREATE INDEX facts_by_employee ON facts (kind, employee_id, sort_key);
