//! What a reconciliation pass over the DingTalk week must leave: every
//! approval in the hub exactly once as its instance says, and DingTalk asked
//! only as its documented listing allows, each instance read once.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use attendance_proto::v1::{Approval, ApprovalKind, ApprovalStatus, ReconcileRequest, Vendor};
use attendance_testkit::fake_dingtalk_api::FakeDingTalkApi;
use attendance_testkit::hub::HubProcess;
use chrono::{Duration as Days, NaiveDate};

use super::{employee, Instance, CORP, TEMPLATES};
use crate::support::{admin, approvals_of, at, cst};

/// How much the fake had been asked before the pass, once the pushes' own
/// instance reads are done, so that the pass's requests can be told apart.
pub(crate) struct BeforePass {
    reads: usize,
    queries: usize,
}

impl BeforePass {
    /// Waits until the fake has seen no new request for two seconds, then
    /// makes DingTalk answer the pass's first listing with `systemError`,
    /// which the pass must retry.
    pub(crate) async fn settle(api: &FakeDingTalkApi) -> BeforePass {
        let mut last = usize::MAX;
        let mut quiet = 0;
        for _ in 0..480 {
            let now = api.instance_reads().len() + api.calls().len();
            quiet = if now == last { quiet + 1 } else { 0 };
            if quiet >= 8 {
                api.fail_next_listings(1);
                return BeforePass {
                    reads: api.instance_reads().len(),
                    queries: api.instance_id_queries().len(),
                };
            }
            last = now;
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        panic!("the pushes' pulls never settled");
    }
}

/// Every approval of the week is stored exactly once as its instance says,
/// revoked ones withdrawn, and nothing else is.
pub(crate) fn assert_exactly_once(stored: &[Approval], instances: &[Instance]) {
    let mut by_key: BTreeMap<&str, &Approval> = BTreeMap::new();
    for approval in stored {
        let first = by_key.insert(&approval.business_key, approval);
        assert!(first.is_none(), "twice: {approval:#?}");
    }
    let expected: BTreeSet<&str> = instances
        .iter()
        .filter(|i| i.expected.is_some())
        .map(|i| i.id.as_str())
        .collect();
    let keys: BTreeSet<&str> = by_key.keys().copied().collect();
    assert_eq!(keys, expected, "the hub holds exactly the week's approvals");
    for instance in instances.iter().filter(|i| i.expected.is_some()) {
        let approval = by_key[instance.id.as_str()];
        let what = format!("{}: {approval:#?}", instance.id);
        assert_eq!(approval.employee_id, instance.employee, "{what}");
        assert_eq!(approval.kind, instance.kind as i32, "{what}");
        assert_eq!(approval.status, instance.expected.unwrap() as i32, "{what}");
        assert_eq!(
            approval.start_time.map(|t| t.seconds),
            Some(cst(instance.start)),
            "{what}"
        );
        assert_eq!(
            approval.end_time.map(|t| t.seconds),
            instance.end.map(cst),
            "{what}"
        );
        assert_eq!(
            (approval.duration, approval.duration_unit),
            (instance.duration, instance.unit as i32),
            "{what}"
        );
        assert_eq!(approval.source.as_ref().unwrap().tenant, CORP, "{what}");
        if instance.kind == ApprovalKind::PunchCorrection {
            let corrected = approval.corrected_time.map(|t| t.seconds);
            assert_eq!(corrected, Some(cst(instance.start)), "{what}");
        }
        if instance.action == "REVOKE" {
            assert!(approval.status_original.starts_with("REVOKE "), "{what}");
        } else if instance.expected == Some(ApprovalStatus::Withdrawn)
            && instance.state.0 == "COMPLETED"
        {
            let revoked_by = format!("revoked by {}-revoke", instance.id);
            assert!(approval.status_original.ends_with(&revoked_by), "{what}");
        }
    }
    let revocations = instances.iter().filter(|i| i.action == "REVOKE").count();
    assert!(revocations >= 4, "{revocations} revocations");
    assert!(
        stored
            .iter()
            .all(|a| !a.business_key.ends_with("-revoke")
                || a.status != ApprovalStatus::Approved as i32),
        "no revocation is an approval"
    );
    let statuses: BTreeSet<i32> = stored.iter().map(|a| a.status).collect();
    let every = [
        ApprovalStatus::Pending,
        ApprovalStatus::Approved,
        ApprovalStatus::Rejected,
        ApprovalStatus::Withdrawn,
    ];
    let every: BTreeSet<i32> = every.iter().map(|s| *s as i32).collect();
    assert_eq!(statuses, every, "the week has every outcome");
    let kinds: BTreeSet<i32> = stored.iter().map(|a| a.kind).collect();
    assert_eq!(kinds.len(), TEMPLATES.len(), "the week has every kind");
}

/// The pass listed every template once over the tenant, from 30 days before
/// the week, 20 ids a page, retried the listing DingTalk failed, and read
/// each instance once.
pub(crate) fn assert_listed_and_read_once(
    api: &FakeDingTalkApi,
    before: &BeforePass,
    instances: &[Instance],
    monday: NaiveDate,
) {
    let queries = &api.instance_id_queries()[before.queries..];
    let look_back = at(monday - Days::days(30), 0, 0);
    for query in queries {
        assert_eq!(query["maxResults"], 20, "{query}");
        let why = "a pass over the tenant lists every originator";
        assert!(query.get("userIds").is_none(), "{why}: {query}");
        assert_eq!(query["startTime"], cst(look_back) * 1000, "{query}");
    }
    let first_pages: Vec<&str> = queries
        .iter()
        .filter(|q| q["nextToken"] == 0)
        .map(|q| q["processCode"].as_str().unwrap())
        .collect();
    let codes: BTreeSet<&str> = first_pages.iter().copied().collect();
    assert_eq!(codes.len(), TEMPLATES.len(), "{queries:?}");
    let retried = "one retried after systemError";
    assert_eq!(first_pages.len(), TEMPLATES.len() + 1, "{retried}");
    let failed = api.calls_to("instanceIds/query").first().map(|c| c.status);
    assert_eq!(failed, Some(500), "{retried}");
    let paged = queries.iter().any(|q| q["nextToken"] != 0);
    assert!(paged, "the leaves fill more than one page");
    let reads = &api.instance_reads()[before.reads..];
    let distinct: BTreeSet<&String> = reads.iter().collect();
    assert_eq!(
        distinct.len(),
        reads.len(),
        "no instance read twice in a pass: {reads:?}"
    );
    let listable = instances.iter().filter(|i| i.created >= look_back).count();
    assert_eq!(
        reads.len(),
        listable + 1,
        "every listed instance, and the one a revocation names"
    );
}

/// A later pass over 11 named employees of the week lists them 10 to a call
/// and finds nothing new.
pub(crate) async fn assert_targeted_pass_finds_nothing_new(
    hub: &HubProcess,
    api: &FakeDingTalkApi,
    monday: NaiveDate,
) {
    let stored = approvals_of(hub, Vendor::Dingtalk).await.len();
    let named: Vec<String> = (0..11).map(employee).collect();
    let before = api.instance_id_queries().len();
    let targeted = admin(hub)
        .await
        .reconcile(ReconcileRequest {
            vendor: Vendor::Dingtalk as i32,
            app: "acme".into(),
            work_date_from: monday.to_string(),
            work_date_to: (monday + Days::days(6)).to_string(),
            employee_ids: named.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    let [outcome] = targeted.apps.try_into().expect("one app");
    assert_eq!(outcome.error, "", "{}", hub.log());
    assert_eq!(outcome.differences_applied, 0, "{outcome:?}");
    let mut asked: BTreeSet<String> = BTreeSet::new();
    for query in &api.instance_id_queries()[before..] {
        let users = query["userIds"]
            .as_array()
            .expect("a targeted pass names originators");
        assert!((1..=10).contains(&users.len()), "{query}");
        asked.extend(users.iter().map(|u| u.as_str().unwrap().to_owned()));
    }
    assert_eq!(asked, named.into_iter().collect());
    assert_eq!(approvals_of(hub, Vendor::Dingtalk).await.len(), stored);
}
