-- The log's identity and retained range, one row. A cursor carries a tag of
-- log_id, so a cursor from another database is refused instead of resuming
-- at whatever this log holds at its position; removed_through is the highest
-- sequence number retention removed (0: none), below which cursors expired.
CREATE TABLE log_meta (
    only_row INTEGER PRIMARY KEY CHECK (only_row = 1),
    log_id TEXT NOT NULL,
    removed_through INTEGER NOT NULL DEFAULT 0
);
INSERT INTO log_meta (only_row, log_id) VALUES (1, lower(hex(randomblob(16))));
