//! What the Feishu week must leave: a revert whose approval was never pushed
//! read from its instance before any pass; after the pass, Feishu asked
//! within its documented limits, every day of the week signalled, and later
//! pushes and passes keeping Feishu's state.

use std::collections::BTreeSet;

use attendance_proto::v1::{subscribe_request, ApprovalStatus, Vendor};
use attendance_testkit::fake_feishu::{FakeApprovalKind, FakeFeishuApi};
use attendance_testkit::hub::HubProcess;
use chrono::{Duration as Days, NaiveDate};

use super::{
    approved_push, assert_exactly_once, is_about, lost, reconcile_week, revert_push, sender,
    signalled, Spec,
};
use crate::support::{admin, approvals_of, entries_until_idle, everything, open_stream, WAIT};

/// e1's leave lost its approved push; its revert came, naming neither
/// employee nor dates. It never stood as an approval without an employee:
/// its instance was read, and before any pass the hub holds the leave,
/// withdrawn, with its employee and span. The approved push arriving after
/// that, older than the revert, leaves it withdrawn.
pub(crate) async fn assert_a_revert_without_its_approval_is_read_from_its_instance(
    hub: &HubProcess,
    api: &FakeFeishuApi,
    specs: &[Spec],
    now: i64,
) {
    let spec = specs
        .iter()
        .find(|s| lost(s, false) && !lost(s, true) && s.has_revert())
        .unwrap();
    let read = |stored: &[attendance_proto::v1::Approval]| {
        stored
            .iter()
            .filter(|a| is_about(a, spec))
            .cloned()
            .collect::<Vec<_>>()
    };
    let started = std::time::Instant::now();
    let found = loop {
        let found = read(&approvals_of(hub, Vendor::Feishu).await);
        if !found.is_empty() || started.elapsed() > WAIT {
            break found;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    };
    assert_eq!(
        found.len(),
        1,
        "{spec:?} read from its instance: {}",
        hub.log()
    );
    assert_eq!(
        found[0].status,
        ApprovalStatus::Withdrawn as i32,
        "{:#?}",
        found[0]
    );
    assert_eq!(found[0].instance_id, spec.instance_code());
    assert!(api.instance_reads().contains(&spec.instance_code()));

    let late = sender(hub)
        .post_plain(&approved_push(spec, now - 3600))
        .await;
    assert_eq!(late.status, 200);
    let after = read(&approvals_of(hub, Vendor::Feishu).await);
    assert_eq!(after.len(), 1);
    assert_eq!(
        after[0].status,
        ApprovalStatus::Withdrawn as i32,
        "the older push stays behind"
    );
}

/// Every call within the documented limits: one status each, all of 0..4
/// asked, nothing refused.
pub(crate) fn assert_queries_within_limits(api: &FakeFeishuApi) {
    let requests = api.approval_requests();
    for path in ["user_approvals/query", "user_task_remedys/query"] {
        let statuses: BTreeSet<i64> = requests
            .iter()
            .filter(|(p, _)| p == path)
            .map(|(_, body)| body["status"].as_i64().expect("one status per call"))
            .collect();
        assert_eq!(statuses, (0..=4).collect(), "{path}");
    }
    let calls = api.calls();
    assert!(
        calls.iter().all(|c| c.code == 0),
        "nothing refused: {calls:?}"
    );
}

/// Every day of the week from `monday` was signalled for Feishu's tenant;
/// returns the cursor after the log so far.
pub(crate) async fn assert_every_day_signalled(hub: &HubProcess, monday: NaiveDate) -> String {
    let entries = everything(hub).await;
    let days: BTreeSet<String> = signalled(&entries).into_iter().map(|(d, _)| d).collect();
    let week: BTreeSet<String> = monday.iter_days().take(7).map(|d| d.to_string()).collect();
    assert_eq!(days, week);
    entries.last().unwrap().cursor.clone()
}

/// After the pass: a push that was only late arrives after its pull (the
/// approved going-out of e2), and a revert whose approval Feishu's lists
/// still show approved (e0's leave), stamped before the pass; both keep the
/// approvals exactly once. Feishu then shows both, and e0's trip (Thursday
/// and Friday) revoked: the next pass signals those days again (after
/// `cursor`) with a new fingerprint, and no other.
pub(crate) async fn assert_later_pushes_and_a_second_pass(
    hub: &HubProcess,
    api: &FakeFeishuApi,
    specs: &[Spec],
    monday: NaiveDate,
    now: i64,
    cursor: String,
) {
    let sender = sender(hub);
    let of = |employee: &str, kind: FakeApprovalKind| {
        let found = specs
            .iter()
            .find(|s| s.employee == employee && s.kind == kind);
        found.unwrap().clone()
    };
    let late = of("e2", FakeApprovalKind::Out);
    assert!(lost(&late, false) && late.status == 2);
    let answer = sender.post_plain(&approved_push(&late, now - 3600)).await;
    assert_eq!(answer.status, 200);
    let revoked = of("e0", FakeApprovalKind::Leave);
    let answer = sender.post_plain(&revert_push(&revoked, now - 600)).await;
    assert_eq!(answer.status, 200);
    let mut specs = specs.to_vec();
    specs[revoked.n].status = 3;
    assert_exactly_once(&approvals_of(hub, Vendor::Feishu).await, &specs, true);

    api.set_approval_status(&revoked.approval_id(), 3);
    let trip = of("e0", FakeApprovalKind::Trip);
    api.set_approval_status(&trip.approval_id(), 4);
    specs[trip.n].status = 4;
    let second = admin(hub)
        .await
        .reconcile(reconcile_week(monday))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(second.apps[0].error, "");
    assert_exactly_once(&approvals_of(hub, Vendor::Feishu).await, &specs, true);
    let mut stream = open_stream(hub, Some(subscribe_request::Start::AfterCursor(cursor))).await;
    let (after, _) = entries_until_idle(&mut stream).await;
    let again: BTreeSet<String> = signalled(&after).into_iter().map(|(d, _)| d).collect();
    let day = |n: i64| (monday + Days::days(n)).to_string();
    // Tuesday's leave, Thursday and Friday's trip.
    for changed in [1, 3, 4].map(day) {
        assert!(
            again.contains(&changed),
            "{changed} changed and is signalled again: {again:?}"
        );
    }
    for unchanged in [2, 5, 6].map(day) {
        assert!(
            !again.contains(&unchanged),
            "{unchanged} did not change: {again:?}"
        );
    }
}
