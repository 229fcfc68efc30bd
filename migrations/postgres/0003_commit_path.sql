-- The rebuilt commit path: proper column types, raw vendor JSON stored once,
-- facts matched on their other keys, ordered by the vendor's version, and
-- every revision marked first, correction or enrichment.

-- Every raw vendor document, once; deliveries, log entries and facts point here.
CREATE TABLE raw_documents (
    id BIGSERIAL PRIMARY KEY,
    received_at TIMESTAMPTZ NOT NULL,
    json TEXT NOT NULL
);

ALTER TABLE deliveries ADD COLUMN raw_id BIGINT;
-- Facts of this delivery that were older (by the vendor's version) than
-- what was stored, so not applied.
ALTER TABLE deliveries ADD COLUMN superseded INTEGER NOT NULL DEFAULT 0;
UPDATE deliveries SET raw_id = nextval('raw_documents_id_seq');
INSERT INTO raw_documents (id, received_at, json)
    SELECT raw_id, timestamptz 'epoch' + received_at_us * interval '1 microsecond', raw_json
    FROM deliveries;
ALTER TABLE deliveries DROP COLUMN raw_json;
ALTER TABLE deliveries
    ALTER COLUMN vendor TYPE SMALLINT,
    ALTER COLUMN channel TYPE SMALLINT,
    ALTER COLUMN received_at_us TYPE TIMESTAMPTZ
        USING timestamptz 'epoch' + received_at_us * interval '1 microsecond';
ALTER TABLE deliveries RENAME COLUMN received_at_us TO received_at;

ALTER TABLE log
    ALTER COLUMN kind TYPE SMALLINT,
    ALTER COLUMN vendor TYPE SMALLINT,
    ALTER COLUMN occurred_at_us TYPE TIMESTAMPTZ
        USING timestamptz 'epoch' + occurred_at_us * interval '1 microsecond',
    ALTER COLUMN received_at_us TYPE TIMESTAMPTZ
        USING timestamptz 'epoch' + received_at_us * interval '1 microsecond',
    -- 1 first, 2 correction, 3 enrichment; 0 for signals and older entries.
    ADD COLUMN revision_kind SMALLINT NOT NULL DEFAULT 0,
    ADD COLUMN raw_id BIGINT;
ALTER TABLE log RENAME COLUMN occurred_at_us TO occurred_at;
ALTER TABLE log RENAME COLUMN received_at_us TO received_at;

ALTER TABLE facts
    ALTER COLUMN kind TYPE SMALLINT,
    ALTER COLUMN vendor TYPE SMALLINT,
    ALTER COLUMN start_at_us TYPE TIMESTAMPTZ
        USING timestamptz 'epoch' + start_at_us * interval '1 microsecond',
    ALTER COLUMN end_at_us TYPE TIMESTAMPTZ
        USING timestamptz 'epoch' + end_at_us * interval '1 microsecond',
    ALTER COLUMN work_date DROP NOT NULL,
    ALTER COLUMN work_date TYPE DATE USING NULLIF(work_date, '')::date,
    -- NULL for rows written before payroll fingerprints: they are fingerprinted again when met.
    ADD COLUMN payroll_hash BYTEA,
    -- The vendor's version of the current revision.
    ADD COLUMN version TIMESTAMPTZ,
    ADD COLUMN raw_id BIGINT;
ALTER TABLE facts RENAME COLUMN start_at_us TO start_at;
ALTER TABLE facts RENAME COLUMN end_at_us TO end_at;

ALTER TABLE employees
    ALTER COLUMN vendor TYPE SMALLINT,
    ALTER COLUMN first_seen_us TYPE TIMESTAMPTZ
        USING timestamptz 'epoch' + first_seen_us * interval '1 microsecond',
    ALTER COLUMN last_seen_us TYPE TIMESTAMPTZ
        USING timestamptz 'epoch' + last_seen_us * interval '1 microsecond';
ALTER TABLE employees RENAME COLUMN first_seen_us TO first_seen;
ALTER TABLE employees RENAME COLUMN last_seen_us TO last_seen;

ALTER TABLE vendor_calls ALTER COLUMN vendor TYPE SMALLINT;

-- Other keys of a stored fact: a fact arriving under one of them meets the
-- fact stored under business_key.
CREATE TABLE fact_keys (
    kind SMALLINT NOT NULL,
    vendor SMALLINT NOT NULL,
    tenant TEXT NOT NULL,
    match_key TEXT NOT NULL,
    business_key TEXT NOT NULL,
    PRIMARY KEY (kind, vendor, tenant, match_key)
);

