-- The rebuilt commit path: raw vendor JSON stored once, facts matched on
-- their other keys, ordered by the vendor's version, and every revision
-- marked first, correction or enrichment.

-- Every raw vendor document, once; deliveries, log entries and facts point here.
CREATE TABLE raw_documents (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    received_at_us INTEGER NOT NULL,
    json TEXT NOT NULL
);

ALTER TABLE deliveries ADD COLUMN raw_id INTEGER;
-- Facts of this delivery that were older (by the vendor's version) than
-- what was stored, so not applied.
ALTER TABLE deliveries ADD COLUMN superseded INTEGER NOT NULL DEFAULT 0;
INSERT INTO raw_documents (id, received_at_us, json)
    SELECT rowid, received_at_us, raw_json FROM deliveries;
UPDATE deliveries SET raw_id = rowid;
ALTER TABLE deliveries DROP COLUMN raw_json;

-- 1 first, 2 correction, 3 enrichment; 0 for signals and older entries.
ALTER TABLE log ADD COLUMN revision_kind INTEGER NOT NULL DEFAULT 0;
ALTER TABLE log ADD COLUMN raw_id INTEGER;

-- NULL for rows written before payroll fingerprints: they are fingerprinted again when met.
ALTER TABLE facts ADD COLUMN payroll_hash BLOB;
-- The vendor's version of the current revision, in microseconds.
ALTER TABLE facts ADD COLUMN version_us INTEGER;
ALTER TABLE facts ADD COLUMN raw_id INTEGER;

-- Other keys of a stored fact: a fact arriving under one of them meets the
-- fact stored under business_key.
CREATE TABLE fact_keys (
    kind INTEGER NOT NULL,
    vendor INTEGER NOT NULL,
    tenant TEXT NOT NULL,
    match_key TEXT NOT NULL,
    business_key TEXT NOT NULL,
    PRIMARY KEY (kind, vendor, tenant, match_key)
) WITHOUT ROWID;

