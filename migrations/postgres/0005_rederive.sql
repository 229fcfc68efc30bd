-- Re-derivation reads deliveries in arrival order, which raw document ids give.
CREATE INDEX deliveries_by_raw ON deliveries (raw_id);
