-- The log's identity and retained range, one row. A cursor carries a tag of
-- log_id, so a cursor from another database is refused instead of resuming
-- at whatever this log holds at its position; removed_through is the highest
-- sequence number retention removed (0: none), below which cursors expired.
CREATE TABLE log_meta (
    only_row BOOLEAN PRIMARY KEY DEFAULT true CHECK (only_row),
    log_id TEXT NOT NULL,
    removed_through BIGINT NOT NULL DEFAULT 0
);
INSERT INTO log_meta (log_id) VALUES (replace(gen_random_uuid()::text, '-', ''));
