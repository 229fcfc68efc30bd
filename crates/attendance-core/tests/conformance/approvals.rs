//! One employee's approvals as a cross-check reads them through `HubStore`:
//! their current revision, overlapping a window, of one vendor and tenant,
//! every page.

use std::time::{SystemTime, UNIX_EPOCH};

use attendance_proto::hub::HubStore;
use attendance_proto::v1::{ApprovalKind, ApprovalStatus};

use super::*;

const DAY: i64 = 86_400;

fn leave(tenant: &str, key: &str, employee: &str, start: i64, status: ApprovalStatus) -> Fact {
    Fact::Approval(Approval {
        source: source(tenant),
        business_key: key.into(),
        employee_id: employee.into(),
        kind: ApprovalKind::Leave as i32,
        status: status as i32,
        start_time: Some(Timestamp {
            seconds: start,
            nanos: 0,
        }),
        end_time: Some(Timestamp {
            seconds: start + DAY,
            nanos: 0,
        }),
        duration: 1.0,
        ..Default::default()
    })
}

fn at(seconds: i64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(seconds as u64)
}

async fn keys(store: &Store, tenant: &str, employee: &str, from: i64, until: i64) -> Vec<String> {
    HubStore::employee_approvals(store, Vendor::Feishu, tenant, employee, at(from), at(until))
        .await
        .unwrap()
        .into_iter()
        .map(|a| a.business_key)
        .collect()
}

conformance! {
    an_employees_approvals_overlapping_a_window_are_read_whole => |db: TestDatabase| async move {
        let store = open(&db).await;
        let month = 1_000 * DAY;
        let facts = vec![
            // Began the day before the window and ends inside it.
            leave("t1", "crossing", "u1", month - DAY / 2, ApprovalStatus::Approved),
            leave("t1", "inside", "u1", month + 3 * DAY, ApprovalStatus::Withdrawn),
            leave("t1", "after", "u1", month + 40 * DAY, ApprovalStatus::Approved),
            leave("t1", "other-employee", "u2", month + 3 * DAY, ApprovalStatus::Approved),
            leave("t2", "other-tenant", "u1", month + 3 * DAY, ApprovalStatus::Approved),
        ];
        store.commit(delivery("e1", facts)).await.unwrap();
        // A later revision of one of them is what the read answers.
        store.commit(delivery("e2", vec![leave("t1", "inside", "u1", month + 4 * DAY, ApprovalStatus::Approved)])).await.unwrap();

        assert_eq!(keys(&store, "t1", "u1", month, month + 31 * DAY).await, ["crossing", "inside"]);
        let read = HubStore::employee_approvals(&store, Vendor::Feishu, "t1", "u1", at(month), at(month + 31 * DAY)).await.unwrap();
        assert_eq!(read[1].status, ApprovalStatus::Approved as i32, "the current revision");
        assert_eq!(read[1].start_time.as_ref().unwrap().seconds, month + 4 * DAY);
        assert_eq!(keys(&store, "t2", "u1", month, month + 31 * DAY).await, ["other-tenant"]);
        assert!(keys(&store, "t1", "u1", month + 50 * DAY, month + 60 * DAY).await.is_empty());
        let other_vendor = HubStore::employee_approvals(&store, Vendor::Dingtalk, "t1", "u1", at(month), at(month + 31 * DAY)).await.unwrap();
        assert!(other_vendor.is_empty());
    };

    an_employees_approvals_are_read_across_pages => |db: TestDatabase| async move {
        let store = open(&db).await;
        // More than one page of the list query (at most 1,000 a page).
        let facts: Vec<Fact> = (0..1_005)
            .map(|i| leave("t1", &format!("leave-{i:04}"), "u1", DAY + i * 60, ApprovalStatus::Approved))
            .collect();
        for (n, chunk) in facts.chunks(500).enumerate() {
            store.commit(delivery(&format!("bulk-{n}"), chunk.to_vec())).await.unwrap();
        }
        let read = keys(&store, "t1", "u1", 0, 10 * DAY).await;
        assert_eq!(read.len(), 1_005);
        assert_eq!(read.first().map(String::as_str), Some("leave-0000"));
        assert_eq!(read.last().map(String::as_str), Some("leave-1004"));
    };
}
