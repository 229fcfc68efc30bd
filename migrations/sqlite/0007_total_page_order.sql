-- List pages are ordered by (sort_key, vendor, business_key, tenant): a caller
-- may list several tenants at once, whose rows can share every value but the
-- tenant, and only with it is the order total. The index that serves the
-- list queries' order gains the tenant as its last column.
DROP INDEX facts_by_sort_key;
CREATE INDEX facts_by_sort_key ON facts (kind, sort_key, vendor, business_key, tenant);
