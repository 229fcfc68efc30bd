//! What a new version of a fact does, decided inside the commit's
//! transaction: matching keys, vendor order, provenance-free fingerprints,
//! corrections and enrichments, clearing, and one bad delivery in a batch.

use attendance_core::StoreOptions;
use attendance_proto::ingest::Receipt;
use attendance_proto::v1::{
    ApprovalKind, ApprovalStatus, Device, Provenance, RevisionKind, ShiftStatus,
};

use super::*;

const CORP: &str = "dingcorp";

fn dingtalk_source() -> Option<Source> {
    Some(Source {
        vendor: Vendor::Dingtalk as i32,
        app: "dt".into(),
        app_id: "dingclient".into(),
        tenant: CORP.into(),
    })
}

fn at(micros: i64) -> Option<Timestamp> {
    Some(Timestamp {
        seconds: micros.div_euclid(1_000_000),
        nanos: (micros.rem_euclid(1_000_000) * 1_000) as i32,
    })
}

fn versioned(version_us: i64) -> Option<Provenance> {
    Some(Provenance {
        version_time: at(version_us),
        ..Provenance::default()
    })
}

/// A DingTalk punch as its push reports it: keyed by bizId, meeting others
/// on its instant.
fn pushed_punch(n: i64) -> Punch {
    let ms = 1_610_594_344_000 + n * 1_000;
    Punch {
        source: dingtalk_source(),
        business_key: format!("BIZ-{n}"),
        employee_id: "user01".into(),
        check_time: at(ms * 1_000),
        comment: "from the push".into(),
        matching_keys: vec![format!("{CORP}/user01/{ms}")],
        provenance: versioned(ms * 1_000),
        ..Punch::default()
    }
}

/// The same punch as a pull of the day reports it: no bizId, keyed by its
/// instant, with a record id.
fn pulled_punch(n: i64) -> Punch {
    let ms = 1_610_594_344_000 + n * 1_000;
    Punch {
        source: dingtalk_source(),
        business_key: format!("{CORP}/user01/{ms}"),
        employee_id: "user01".into(),
        check_time: at(ms * 1_000),
        record_id: format!("R{n}"),
        matching_keys: vec![format!("{CORP}/user01/{ms}"), format!("record:R{n}")],
        provenance: versioned(ms * 1_000 + 60_000_000),
        ..Punch::default()
    }
}

fn dingtalk_delivery(event_id: &str, facts: Vec<Fact>) -> Delivery {
    Delivery {
        vendor: Vendor::Dingtalk,
        app: "dt".into(),
        tenant: CORP.into(),
        channel: if event_id.is_empty() {
            Channel::Pull
        } else {
            Channel::Stream
        },
        event_id: event_id.into(),
        event_type: "attendance_check_record".into(),
        raw_json: String::new(),
        recognition: Recognition::Translated,
        facts,
        jobs: Vec::new(),
    }
}

async fn punches(store: &Store) -> Vec<Punch> {
    let mut all = Vec::new();
    let mut query = PunchQuery {
        page_size: 1000,
        ..PunchQuery::default()
    };
    loop {
        let page = store.list_punches(&query).await.unwrap();
        all.extend(page.items);
        if page.next_page_token.is_empty() {
            return all;
        }
        query.page_token = page.next_page_token;
    }
}

fn approval(status: ApprovalStatus, version_us: i64) -> Approval {
    Approval {
        source: source("t1"),
        business_key: "leave/inst-1".into(),
        employee_id: "u1".into(),
        kind: ApprovalKind::Leave as i32,
        status: status as i32,
        instance_id: "inst-1".into(),
        start_time: at(1_000_000_000_000),
        end_time: at(1_000_086_400_000_000),
        duration: 1.0,
        provenance: versioned(version_us),
        ..Approval::default()
    }
}

fn revision_kinds(entries: &[LogEntry]) -> Vec<i32> {
    entries.iter().map(|e| e.revision_kind).collect()
}

conformance! {
    a_push_and_a_pull_of_one_punch_are_one_punch_whatever_the_order_and_timing => |db: TestDatabase| async move {
        let store = open(&db).await;
        // A second handle on the same database: another replica on
        // PostgreSQL, another writer connection on SQLite.
        let other = open(&db).await;
        const ROUNDS: i64 = 40;
        let mut rounds = Vec::new();
        for n in 0..ROUNDS {
            let (first, second) = if n % 4 < 2 { (store.clone(), other.clone()) } else { (store.clone(), store.clone()) };
            let push = dingtalk_delivery(&format!("evt-{n}"), vec![Fact::Punch(pushed_punch(n))]);
            let pull = dingtalk_delivery("", vec![Fact::Punch(pulled_punch(n))]);
            // Both orders, committed at the same moment.
            let (a, b) = if n % 2 == 0 { (push, pull) } else { (pull, push) };
            rounds.push(tokio::spawn(async move {
                let (x, y) = tokio::join!(first.commit(a), second.commit(b));
                x.unwrap();
                y.unwrap();
            }));
        }
        for round in rounds {
            round.await.unwrap();
        }
        let stored = punches(&store).await;
        assert_eq!(stored.len(), ROUNDS as usize, "one punch per real punch: {stored:#?}");
        for punch in &stored {
            assert!(!punch.record_id.is_empty(), "the pull's detail reached the punch: {punch:?}");
        }
        // Whichever came first, a late pull of the same punch meets it again.
        let again = store.commit(dingtalk_delivery("", vec![Fact::Punch(pulled_punch(3))])).await.unwrap();
        assert_eq!((again.appended, again.unchanged), (0, 1), "{again:?}");
        assert_eq!(punches(&store).await.len(), ROUNDS as usize);
    };

    an_approval_redelivered_after_its_revert_leaves_the_revert_standing => |db: TestDatabase| async move {
        let store = open(&db).await;
        store.commit(delivery("approve", vec![Fact::Approval(approval(ApprovalStatus::Approved, 1_000))])).await.unwrap();
        store.commit(delivery("revert", vec![Fact::Approval(approval(ApprovalStatus::Withdrawn, 2_000))])).await.unwrap();
        // Feishu retries the original after the revert was stored (under
        // another id, as a second channel would deliver it).
        let late = store.commit(delivery("approve-again", vec![Fact::Approval(approval(ApprovalStatus::Approved, 1_000))])).await.unwrap();
        assert_eq!(late, Receipt { superseded: 1, ..Receipt::default() });
        let current = store.list_approvals(&ApprovalQuery::default()).await.unwrap().items;
        assert_eq!(current.len(), 1);
        assert_eq!(current[0].status, ApprovalStatus::Withdrawn as i32);
        assert_eq!(current[0].revision, 2);
        assert_eq!(all_entries(&store).await.len(), 2, "the stale version is no event");
        assert_eq!(store.delivery_counts().await.unwrap().superseded, 1, "it is counted");
        // A newer version still applies.
        let newer = store.commit(delivery("reapproved", vec![Fact::Approval(approval(ApprovalStatus::Approved, 3_000))])).await.unwrap();
        assert_eq!(newer.appended, 1);
    };

    a_revert_naming_no_employee_is_set_aside_until_its_approval_is_stored => |db: TestDatabase| async move {
        let store = open(&db).await;
        let mut revert = approval(ApprovalStatus::Withdrawn, 2_000);
        revert.employee_id.clear();
        revert.start_time = None;
        revert.end_time = None;
        revert.duration = 0.0;
        // Its approval's push was lost: nothing to amend, so no approval
        // without an employee reaches the log, and the delivery is kept.
        let early = store.commit(delivery("revert", vec![Fact::Approval(revert.clone())])).await.unwrap();
        assert_eq!(early, Receipt { set_aside: 1, ..Receipt::default() });
        assert!(store.list_approvals(&ApprovalQuery::default()).await.unwrap().items.is_empty());
        assert!(all_entries(&store).await.is_empty());
        assert!(store.commit(delivery("revert", vec![])).await.unwrap().duplicate_delivery, "the delivery is stored");

        // Once its approval is stored, the same revert amends it.
        store.commit(delivery("approve", vec![Fact::Approval(approval(ApprovalStatus::Approved, 1_000))])).await.unwrap();
        let applied = store.commit(delivery("revert-again", vec![Fact::Approval(revert)])).await.unwrap();
        assert_eq!((applied.appended, applied.set_aside), (1, 0), "{applied:?}");
        let current = store.list_approvals(&ApprovalQuery::default()).await.unwrap().items;
        assert_eq!(current.len(), 1);
        assert_eq!(current[0].status, ApprovalStatus::Withdrawn as i32);
        assert_eq!(current[0].employee_id, "u1", "completed from the approval it amends");
        assert_eq!(current[0].duration, 1.0);
    };

    two_apps_of_one_tenant_delivering_the_same_fact_make_one_revision => |db: TestDatabase| async move {
        let store = open(&db).await;
        let mut from_hr = punch("t1", "r1", "u1", 100);
        from_hr.source.as_mut().unwrap().app = "acme-hr".into();
        from_hr.source.as_mut().unwrap().app_id = "cli_2".into();
        let mut hr_delivery = delivery("e2", vec![Fact::Punch(from_hr)]);
        hr_delivery.app = "acme-hr".into();
        store.commit(delivery("e1", vec![Fact::Punch(punch("t1", "r1", "u1", 100))])).await.unwrap();
        let second = store.commit(hr_delivery).await.unwrap();
        assert_eq!((second.appended, second.unchanged), (0, 1));
        assert_eq!(all_entries(&store).await.len(), 1);
    };

    a_pull_that_only_adds_detail_is_an_enrichment_a_subscriber_may_leave_out => |db: TestDatabase| async move {
        let store = open(&db).await;
        let only_payroll = SubscriptionFilter { exclude_enrichments: true, ..Default::default() };
        let mut lean = subscribe(store.clone(), Start::Beginning, only_payroll, fast()).await.unwrap();
        let mut full = subscribe(store.clone(), Start::Beginning, SubscriptionFilter::default(), fast()).await.unwrap();

        store.commit(delivery("e1", vec![Fact::Punch(punch("t1", "r1", "u1", 100))])).await.unwrap();
        let mut detailed = punch("t1", "r1", "u1", 100);
        detailed.device = Some(Device { id: "phone-7".into(), ..Device::default() });
        let enriched = store.commit(delivery("", vec![Fact::Punch(detailed)])).await.unwrap();
        assert_eq!(enriched.appended, 1);
        let mut moved = punch("t1", "r1", "u1", 160);
        moved.comment = "admin moved it".into();
        store.commit(delivery("e3", vec![Fact::Punch(moved)])).await.unwrap();

        let seen: Vec<LogEntry> = vec![next_entry(&mut full).await, next_entry(&mut full).await, next_entry(&mut full).await];
        assert_eq!(revision_kinds(&seen), vec![
            RevisionKind::First as i32, RevisionKind::Enrichment as i32, RevisionKind::Correction as i32,
        ]);
        let Some(log_entry::Fact::Punch(p)) = &seen[1].fact else { panic!("{seen:?}") };
        assert_eq!((p.revision, p.revision_kind), (2, RevisionKind::Enrichment as i32));
        assert_eq!(p.device.as_ref().unwrap().id, "phone-7");
        let Some(log_entry::Fact::Punch(p)) = &seen[2].fact else { panic!("{seen:?}") };
        assert_eq!(p.device.as_ref().unwrap().id, "phone-7", "the correction keeps the detail");

        let first = next_entry(&mut lean).await;
        let third = next_entry(&mut lean).await;
        assert_eq!(revision_kinds(&[first, third.clone()]), vec![RevisionKind::First as i32, RevisionKind::Correction as i32]);
        assert_eq!(third.cursor, seen[2].cursor, "the enrichment was left out, nothing else");
    };

    a_newer_version_that_states_a_field_empty_clears_it => |db: TestDatabase| async move {
        let store = open(&db).await;
        let mut punched = shift_result("t1", "u1", "2021-03-10", ShiftStatus::Normal);
        punched.actual_time = at(1_615_338_000_000_000);
        punched.punch_record_id = "rec-9".into();
        punched.task_id = "task-1".into();
        punched.provenance = versioned(1_000);
        store.commit(delivery("e1", vec![Fact::ShiftResult(punched)])).await.unwrap();
        // The punch was deleted: the vendor now reports the point unsigned,
        // stating that there is no actual time or punch any more.
        let mut unsigned = shift_result("t1", "u1", "2021-03-10", ShiftStatus::Missing);
        unsigned.provenance = Some(Provenance {
            stated_fields: vec!["actual_time".into(), "punch_record_id".into()],
            ..versioned(2_000).unwrap()
        });
        assert_eq!(store.commit(delivery("", vec![Fact::ShiftResult(unsigned)])).await.unwrap().appended, 1);
        let current = store.list_shift_results(&ShiftResultQuery::default()).await.unwrap().items;
        assert_eq!(current.len(), 1);
        let result = &current[0];
        assert_eq!(result.status, ShiftStatus::Missing as i32);
        assert_eq!(result.actual_time, None, "cleared");
        assert_eq!(result.punch_record_id, "", "cleared");
        assert_eq!(result.task_id, "task-1", "a field not stated keeps its value");
        assert_eq!(result.revision_kind, RevisionKind::Correction as i32);
    };

    one_delivery_that_cannot_commit_fails_alone_and_the_batch_commits => |db: TestDatabase| async move {
        let store = open(&db).await;
        // A real failure inside the database, for one delivery only.
        if db.is_sqlite() {
            db.execute(&["CREATE TRIGGER poison BEFORE INSERT ON deliveries WHEN NEW.event_id = 'poison' \
                          BEGIN SELECT RAISE(ABORT, 'poisoned delivery'); END"]).await;
        } else {
            db.execute(&[
                "CREATE FUNCTION poison() RETURNS trigger LANGUAGE plpgsql AS \
                 $$ BEGIN IF NEW.event_id = 'poison' THEN RAISE EXCEPTION 'poisoned delivery'; END IF; RETURN NEW; END $$",
                "CREATE TRIGGER poison BEFORE INSERT ON deliveries FOR EACH ROW EXECUTE FUNCTION poison()",
            ]).await;
        }
        let mut commits = Vec::new();
        for i in 0..30 {
            let id = if i == 13 { "poison".to_string() } else { format!("e{i}") };
            let store = store.clone();
            commits.push(tokio::spawn(async move {
                let p = punch("t1", &format!("r{i}"), "u1", i);
                (id.clone(), store.commit(delivery(&id, vec![Fact::Punch(p)])).await)
            }));
        }
        let mut failed = Vec::new();
        for commit in commits {
            let (id, result) = commit.await.unwrap();
            match result {
                Ok(receipt) => assert_eq!(receipt.appended, 1, "{id}"),
                Err(error) => failed.push((id, error.to_string())),
            }
        }
        assert_eq!(failed.len(), 1, "{failed:?}");
        assert_eq!(failed[0].0, "poison");
        assert!(failed[0].1.contains("poisoned delivery"), "{failed:?}");
        assert_eq!(all_entries(&store).await.len(), 29);
        assert!(store.list_punches(&PunchQuery { employee_id: "u1".into(), page_size: 100, ..Default::default() })
            .await.unwrap().items.iter().all(|p| p.business_key != "r13"));
    };

    a_nul_in_a_vendor_string_commits_alike_on_every_engine => |db: TestDatabase| async move {
        let store = open(&db).await;
        let odd = punch("t1", "r\0x", "u\0", 1);
        let receipt = store.commit(delivery("e\0v", vec![Fact::Punch(odd)])).await.unwrap();
        assert_eq!(receipt.appended, 1);
        assert!(store.commit(delivery("e\0v", vec![])).await.unwrap().duplicate_delivery);
        let listed = store.list_punches(&PunchQuery::default()).await.unwrap().items;
        assert_eq!(listed[0].business_key, "r\0x", "the fact keeps its text");
    };

    a_large_pull_commits_in_parts_and_reports_the_whole => |db: TestDatabase| async move {
        let store = open(&db).await;
        let facts: Vec<Fact> = (0..1_300).map(|i| Fact::Punch(punch("t1", &format!("bulk-{i}"), "u1", i))).collect();
        let receipt = store.commit(delivery("", facts)).await.unwrap();
        assert_eq!(receipt.appended, 1_300);
        let entries = store.read_after(Cursor::BEGINNING, 10_000).await.unwrap();
        assert_eq!(entries.len(), 1_300);
    };

    a_store_reopened_over_an_existing_database_keeps_deciding_alike => |db: TestDatabase| async move {
        {
            let store = Store::connect(StoreOptions::new(db.url())).await.unwrap();
            store.commit(dingtalk_delivery("evt-x", vec![Fact::Punch(pushed_punch(1))])).await.unwrap();
            store.close().await;
        }
        let store = open(&db).await;
        let pulled = store.commit(dingtalk_delivery("", vec![Fact::Punch(pulled_punch(1))])).await.unwrap();
        assert_eq!(pulled.appended, 1, "an enrichment of the pushed punch");
        let stored = punches(&store).await;
        assert_eq!(stored.len(), 1);
        assert_eq!(stored[0].business_key, "BIZ-1");
        assert_eq!(stored[0].revision_kind, RevisionKind::Enrichment as i32);
        assert_eq!(stored[0].comment, "from the push", "completed from the stored revision");
    };
}
