-- List pages are ordered by (sort_key, vendor, business_key, tenant): a caller
-- may list several tenants at once, whose rows can share every value but the
-- tenant, and only with it is the order total. The tenant takes byte-order
-- collation, as sort_key and business_key have, so pages come in the same
-- order as on SQLite and the index serves the order; equality is unchanged.
-- The index that serves the list queries' order gains the tenant last.
ALTER TABLE facts ALTER COLUMN tenant TYPE TEXT COLLATE "C";
DROP INDEX facts_by_sort_key;
CREATE INDEX facts_by_sort_key ON facts (kind, sort_key, vendor, business_key, tenant);
