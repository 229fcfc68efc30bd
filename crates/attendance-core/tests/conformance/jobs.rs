//! The durable job queue: jobs committed with their delivery, deduplicated
//! while they wait, leased to one taker at a time and taken again when the
//! taker dies.

use attendance_proto::ingest::Job;

use super::*;

fn job(key: &str) -> Job {
    Job {
        queue: "dingtalk/acme".into(),
        key: key.into(),
        payload: format!("{{\"day\":\"{key}\"}}"),
    }
}

fn with_jobs(event_id: &str, keys: &[&str]) -> Delivery {
    let mut d = delivery(event_id, vec![Fact::Punch(punch("t1", event_id, "u1", 1))]);
    d.jobs = keys.iter().map(|k| job(k)).collect();
    d
}

conformance! {
    jobs_come_with_their_delivery_once_and_wait_deduplicated => |db: TestDatabase| async move {
        let store = open(&db).await;
        store.commit(with_jobs("e1", &["day-1", "day-2"])).await.unwrap();
        // A retry of the delivery queues nothing; another delivery asking for
        // a day already waiting adds nothing either.
        assert!(store.commit(with_jobs("e1", &["day-3"])).await.unwrap().duplicate_delivery);
        store.commit(with_jobs("e2", &["day-2"])).await.unwrap();
        store.enqueue(vec![job("day-4")]).await.unwrap();
        let taken = store.take_jobs("dingtalk/acme", 10, Duration::from_secs(60)).await.unwrap();
        let keys: Vec<&str> = taken.iter().map(|j| j.key.as_str()).collect();
        assert_eq!(keys, vec!["day-1", "day-2", "day-4"]);
        assert_eq!(taken[0].payload, "{\"day\":\"day-1\"}");
        assert!(taken.iter().all(|j| j.attempts == 1));
        assert!(store.take_jobs("other/queue", 10, Duration::from_secs(60)).await.unwrap().is_empty());
    };

    a_taken_job_is_not_taken_again_until_its_lease_ends_or_it_is_retried => |db: TestDatabase| async move {
        let store = open(&db).await;
        store.enqueue(vec![job("a"), job("b"), job("c")]).await.unwrap();
        let first = store.take_jobs("dingtalk/acme", 2, Duration::from_secs(60)).await.unwrap();
        assert_eq!(first.len(), 2);
        // Another replica on the same database takes what is left, not the leased ones.
        let other = open(&db).await;
        let second = other.take_jobs("dingtalk/acme", 10, Duration::from_secs(60)).await.unwrap();
        assert_eq!(second.iter().map(|j| j.key.as_str()).collect::<Vec<_>>(), vec!["c"]);
        store.finish_job(first[0].id).await.unwrap();
        store.retry_job(first[1].id, Duration::ZERO).await.unwrap();
        let again = other.take_jobs("dingtalk/acme", 10, Duration::from_millis(50)).await.unwrap();
        assert_eq!(again.len(), 1);
        assert_eq!((again[0].key.as_str(), again[0].attempts), ("b", 2));
        // Its taker dies: once the lease has passed it is due again.
        tokio::time::sleep(Duration::from_millis(120)).await;
        let after_lease = store.take_jobs("dingtalk/acme", 10, Duration::from_secs(60)).await.unwrap();
        assert_eq!(after_lease.iter().map(|j| j.key.as_str()).collect::<Vec<_>>(), vec!["b"]);
        // A finished job can be queued again later: the key is free.
        store.finish_job(after_lease[0].id).await.unwrap();
        store.enqueue(vec![job("b")]).await.unwrap();
        assert_eq!(store.take_jobs("dingtalk/acme", 10, Duration::from_secs(60)).await.unwrap().len(), 1);
    };

    concurrent_takers_never_take_the_same_job => |db: TestDatabase| async move {
        let store = open(&db).await;
        let keys: Vec<String> = (0..60).map(|i| format!("k{i}")).collect();
        store.enqueue(keys.iter().map(|k| job(k)).collect()).await.unwrap();
        let mut takers = Vec::new();
        for _ in 0..4 {
            let replica = open(&db).await;
            takers.push(tokio::spawn(async move {
                let mut mine = Vec::new();
                loop {
                    let batch = replica.take_jobs("dingtalk/acme", 5, Duration::from_secs(60)).await.unwrap();
                    if batch.is_empty() { return mine; }
                    mine.extend(batch.into_iter().map(|j| j.key));
                }
            }));
        }
        let mut all = Vec::new();
        for taker in takers {
            all.extend(taker.await.unwrap());
        }
        all.sort();
        let mut expected = keys.clone();
        expected.sort();
        assert_eq!(all, expected, "every job taken exactly once");
    };
}
