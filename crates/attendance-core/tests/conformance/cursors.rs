//! Cursors checked against the log that issued them, and retention: a cursor
//! from another database, or from a restored timeline, is unknown; one from
//! before the retained range is expired and names the oldest cursor served.

use std::time::SystemTime;

use super::*;

/// Another fresh database on the same backend as `db`.
async fn another(db: &TestDatabase) -> TestDatabase {
    if db.is_sqlite() {
        TestDatabase::sqlite()
    } else {
        TestDatabase::postgres().await
    }
}

fn punches(event_id: &str, record: &str) -> Delivery {
    delivery(event_id, vec![Fact::Punch(punch("t1", record, "u1", 1))])
}

async fn resume(store: &Store, cursor: &str) -> Result<Subscription, StoreError> {
    subscribe(
        store.clone(),
        Start::After(Cursor::decode(cursor).unwrap()),
        SubscriptionFilter::default(),
        fast(),
    )
    .await
}

/// An instant strictly between what was committed before and what is committed after.
async fn cut() -> SystemTime {
    tokio::time::sleep(Duration::from_millis(5)).await;
    let at = SystemTime::now();
    tokio::time::sleep(Duration::from_millis(5)).await;
    at
}

async fn count(db: &TestDatabase, sql: &str) -> i64 {
    db.integers(sql, "").await[0]
}

conformance! {
    a_cursor_from_another_database_is_unknown_behind_and_ahead => |db: TestDatabase| async move {
        let store = open(&db).await;
        for i in 0..5 {
            store.commit(punches(&format!("e{i}"), &format!("r{i}"))).await.unwrap();
        }
        let other_db = another(&db).await;
        let other = open(&other_db).await;
        other.commit(punches("x1", "r1")).await.unwrap();
        other.commit(punches("x2", "r2")).await.unwrap();
        let short = all_entries(&other).await;
        let long = all_entries(&store).await;

        // Behind this log's head, with an entry at its position: still refused.
        let behind = resume(&store, &short[1].cursor).await;
        assert!(matches!(behind, Err(StoreError::CursorUnknown { cursor: 2, .. })), "{:?}", behind.err());
        // Ahead of the other log's head.
        let ahead = resume(&other, &long[4].cursor).await;
        assert!(matches!(ahead, Err(StoreError::CursorUnknown { cursor: 5, .. })), "{:?}", ahead.err());
        // Each log still resumes its own cursors.
        let mut own = resume(&store, &long[3].cursor).await.unwrap();
        assert_eq!(next_entry(&mut own).await.cursor, long[4].cursor);
        assert!(resume(&other, &short[0].cursor).await.is_ok());
        other.close().await;
    };

    a_cursor_from_a_restored_timeline_is_unknown_once_writes_pass_it => |db: TestDatabase| async move {
        let store = open(&db).await;
        for i in 0..3 {
            store.commit(punches(&format!("e{i}"), &format!("r{i}"))).await.unwrap();
        }
        let issued = all_entries(&store).await;
        // The database goes back (a restore, a failover to a standby that
        // missed the last commits) and new writes take the positions again:
        // entry 2 is another entry now, and nothing is at position 3.
        let rewrite = if db.is_sqlite() {
            "UPDATE log SET received_at_us = received_at_us + 1000 WHERE seq = 2"
        } else {
            "UPDATE log SET received_at = received_at + interval '1 millisecond' WHERE seq = 2"
        };
        db.execute(&[rewrite, "DELETE FROM log WHERE seq = 3"]).await;
        store.commit(punches("e3", "r3")).await.unwrap();

        let rewritten = resume(&store, &issued[1].cursor).await;
        assert!(matches!(rewritten, Err(StoreError::CursorUnknown { cursor: 2, .. })), "{:?}", rewritten.err());
        let missing = resume(&store, &issued[2].cursor).await;
        assert!(matches!(missing, Err(StoreError::CursorUnknown { cursor: 3, .. })), "{:?}", missing.err());
        // The entry before the divergence vouches for its cursor.
        let mut kept = resume(&store, &issued[0].cursor).await.unwrap();
        assert_eq!(next_entry(&mut kept).await.employee_id, "u1");
        // A cursor from before the upgrade names no entry: it resumes.
        assert!(resume(&store, &encode_sequence(2)).await.is_ok());
    };

    retention_removes_old_raw_documents_and_log_entries_and_facts_stay => |db: TestDatabase| async move {
        let store = open(&db).await;
        store.commit(punches("e1", "r1")).await.unwrap();
        store.commit(punches("e2", "r2")).await.unwrap();
        let raw_cut = cut().await;
        store.commit(punches("e3", "r3")).await.unwrap();
        let log_cut = cut().await;
        store.commit(punches("e4", "r4")).await.unwrap();
        let raw_before = count(&db, "SELECT CAST(COUNT(*) AS BIGINT) FROM raw_documents WHERE '' = $1").await;

        let removed = store.apply_retention(Some(raw_cut), Some(log_cut)).await.unwrap();
        assert_eq!(removed.log_entries, 3);
        assert_eq!(removed.oldest.sequence(), 3);
        assert!(removed.raw_documents > 0);
        let raw_after = count(&db, "SELECT CAST(COUNT(*) AS BIGINT) FROM raw_documents WHERE '' = $1").await;
        assert_eq!(raw_after, raw_before - removed.raw_documents as i64);
        assert_eq!(count(&db, "SELECT CAST(COUNT(*) AS BIGINT) FROM deliveries \
            WHERE raw_id IS NOT NULL AND event_id IN ('e1', 'e2', $1)").await, 0);

        // The log keeps the entry received after the cut only.
        let entries = all_entries(&store).await;
        assert_eq!(entries.len(), 1);
        assert_eq!(Cursor::decode(&entries[0].cursor).unwrap().sequence(), 4);
        // Every fact stays queryable; the raw JSON of the old ones is gone.
        let current = store.list_punches(&PunchQuery::default()).await.unwrap().items;
        let raw: Vec<(&str, bool)> = current.iter().map(|p| (p.record_id.as_str(), p.raw_json.is_empty())).collect();
        assert_eq!(raw, vec![("r1", true), ("r2", true), ("r3", false), ("r4", false)]);
        assert_eq!(current[0].employee_id, "u1");

        // Delivery dedup outlives the raw documents.
        store.close().await;
        let reopened = open(&db).await;
        assert!(reopened.commit(punches("e1", "r1")).await.unwrap().duplicate_delivery);
        // A second run finds nothing more to remove.
        let again = reopened.apply_retention(Some(raw_cut), Some(log_cut)).await.unwrap();
        assert_eq!((again.raw_documents, again.log_entries, again.oldest), (0, 0, removed.oldest));
    };

    resuming_from_before_the_retained_range_is_expired_with_the_oldest_cursor => |db: TestDatabase| async move {
        let store = open(&db).await;
        store.commit(punches("e1", "r1")).await.unwrap();
        store.commit(punches("e2", "r2")).await.unwrap();
        let log_cut = cut().await;
        store.commit(punches("e3", "r3")).await.unwrap();
        let issued = all_entries(&store).await;
        let removed = store.apply_retention(None, Some(log_cut)).await.unwrap();
        assert_eq!((removed.raw_documents, removed.log_entries), (0, 2));

        let expired = resume(&store, &issued[0].cursor).await;
        match expired {
            Err(StoreError::CursorExpired { cursor: 1, oldest }) => {
                assert_eq!(oldest, removed.oldest);
                let mut rx = subscribe(store.clone(), Start::After(oldest), SubscriptionFilter::default(), fast()).await.unwrap();
                assert_eq!(next_entry(&mut rx).await.cursor, issued[2].cursor);
            }
            other => panic!("expected CursorExpired, got {:?}", other.err()),
        }
        // A cursor from before the upgrade is checked against the range too.
        assert!(matches!(resume(&store, &encode_sequence(1)).await, Err(StoreError::CursorExpired { .. })));
        // The last removed entry's cursor still resumes: nothing after it is gone.
        let mut at_edge = resume(&store, &issued[1].cursor).await.unwrap();
        assert_eq!(next_entry(&mut at_edge).await.cursor, issued[2].cursor);
        // From the beginning: the retained entries only.
        let mut from_start = subscribe(store.clone(), Start::Beginning, SubscriptionFilter::default(), fast()).await.unwrap();
        assert_eq!(next_entry(&mut from_start).await.cursor, issued[2].cursor);

        // Retention may empty the log: the head stays where it was, and the
        // log goes on from there.
        let everything = cut().await;
        assert_eq!(store.apply_retention(None, Some(everything)).await.unwrap().log_entries, 1);
        assert_eq!(store.head().await.unwrap().sequence(), 3);
        let mut live = resume(&store, &issued[2].cursor).await.unwrap();
        store.commit(punches("e4", "r4")).await.unwrap();
        let next = next_entry(&mut live).await;
        assert_eq!(Cursor::decode(&next.cursor).unwrap().sequence(), 4);
        assert!(matches!(resume(&store, &issued[1].cursor).await, Err(StoreError::CursorExpired { .. })));
    };
}
