-- Delivery dedup, the append-only log and the current revision of every fact.

-- One row per vendor delivery id ever accepted, with the raw payload: the
-- durable delivery-dedup layer and the store of unknown or untranslatable events.
CREATE TABLE deliveries (
    vendor BIGINT NOT NULL,
    event_id TEXT NOT NULL,
    app TEXT NOT NULL,
    tenant TEXT NOT NULL,
    channel BIGINT NOT NULL,
    event_type TEXT NOT NULL,
    recognition TEXT NOT NULL,
    problem TEXT NOT NULL,
    raw_json TEXT NOT NULL,
    received_at_us BIGINT NOT NULL,
    PRIMARY KEY (vendor, event_id)
);
CREATE INDEX deliveries_by_recognition ON deliveries (recognition, received_at_us);

-- Every committed fact revision and signal, in commit order. BIGSERIAL so
-- that a sequence number is never reused, even after retention deletes rows.
CREATE TABLE log (
    seq BIGSERIAL PRIMARY KEY,
    kind BIGINT NOT NULL,
    vendor BIGINT NOT NULL,
    app TEXT NOT NULL,
    tenant TEXT NOT NULL,
    employee_id TEXT NOT NULL,
    business_key TEXT NOT NULL,
    revision BIGINT NOT NULL,
    occurred_at_us BIGINT NOT NULL,
    received_at_us BIGINT NOT NULL,
    body BYTEA NOT NULL
);

-- The current revision of each business key, for queries and business dedup.
-- Byte-order collation so that pages come in the same order as on SQLite.
CREATE TABLE facts (
    kind BIGINT NOT NULL,
    vendor BIGINT NOT NULL,
    tenant TEXT NOT NULL,
    business_key TEXT COLLATE "C" NOT NULL,
    revision BIGINT NOT NULL,
    content_hash BYTEA NOT NULL,
    log_seq BIGINT NOT NULL,
    employee_id TEXT NOT NULL,
    sort_key TEXT COLLATE "C" NOT NULL,
    start_at_us BIGINT NOT NULL,
    end_at_us BIGINT NOT NULL,
    work_date TEXT NOT NULL,
    body BYTEA NOT NULL,
    PRIMARY KEY (kind, vendor, tenant, business_key)
);
CREATE INDEX facts_by_sort_key ON facts (kind, sort_key, vendor, business_key);
CREATE INDEX facts_by_employee ON facts (kind, employee_id, sort_key);
