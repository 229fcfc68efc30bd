//! Approvals of both vendors recovered by one reconciliation pass, end to
//! end: the real hub binary, real databases, and a fake Feishu and a fake
//! DingTalk API over real sockets, each with a finished week of leaves,
//! overtime, trips, going-out and punch corrections, some refused, some
//! revoked after approval. 30 % of both vendors' pushes are lost, some
//! arrive without employee or dates. One `Reconcile` over every app leaves
//! every approval in the hub exactly once with the vendor's kind, status,
//! span and duration, the revoked ones withdrawn, nothing else stored.

use std::collections::BTreeSet;

use attendance_proto::v1::{ReconcileRequest, Vendor};
use attendance_testkit::hub::HubProcess;
use attendance_testkit::TestDatabase;
use chrono::Duration as Days;

mod support;
use support::*;

#[path = "approvals_feishu/week.rs"]
mod feishu;

#[path = "approvals_dingtalk/week.rs"]
mod dingtalk;

on_both_backends! {
    one_pass_recovers_every_lost_approval_of_both_vendors => |db: TestDatabase| async move {
        let monday = last_finished_week();
        let specs = feishu::week(monday);
        let fake_feishu = feishu::serve_week(&specs).await;
        let instances = dingtalk::instances(monday);
        let (dingtalk_api, dingtalk_base) = dingtalk::serve_week(&instances).await;
        // App names are unique per vendor only: both apps are `acme`.
        let apps = feishu::app_section(fake_feishu.base_url()) + &dingtalk::app_section(&dingtalk_base);
        let dir = tempfile::tempdir().unwrap();
        let hub = HubProcess::start(binary(), dir.path(), &reconciling_on_request(&db, &apps)).await;

        let now = chrono::Utc::now().timestamp();
        feishu::push_week(&hub, &specs, now).await;
        feishu::checks::assert_a_revert_without_its_approval_is_read_from_its_instance(&hub, fake_feishu.api(), &specs, now).await;
        dingtalk::push_week(&hub, &instances).await;
        let before = dingtalk::checks::BeforePass::settle(&dingtalk_api).await;

        // Vendor and app unset: every configured app, one after the other.
        let week: Vec<String> = monday.iter_days().take(7).map(|d| d.to_string()).collect();
        let pass = admin(&hub).await.reconcile(ReconcileRequest {
            vendor: Vendor::Unspecified as i32,
            app: String::new(),
            work_date_from: monday.to_string(),
            work_date_to: (monday + Days::days(6)).to_string(),
            employee_ids: vec![],
        }).await.unwrap().into_inner();
        let apps: BTreeSet<(i32, &str)> = pass.apps.iter().map(|a| (a.vendor, a.app.as_str())).collect();
        let both = [(Vendor::Feishu as i32, "acme"), (Vendor::Dingtalk as i32, "acme")];
        assert_eq!(apps, both.into_iter().collect(), "one pass of each app");
        for outcome in &pass.apps {
            assert_eq!(outcome.error, "", "{}", hub.log());
            assert_eq!(outcome.work_dates_reconciled, week, "every day signalled: {outcome:?}");
            assert!(outcome.differences_applied > 0, "the pass found what was lost: {outcome:?}");
        }

        let stored_feishu = approvals_of(&hub, Vendor::Feishu).await;
        feishu::assert_exactly_once(&stored_feishu, &specs, true);
        let stored_dingtalk = approvals_of(&hub, Vendor::Dingtalk).await;
        dingtalk::checks::assert_exactly_once(&stored_dingtalk, &instances);
        let stored = approvals_of(&hub, Vendor::Unspecified).await;
        assert_eq!(stored.len(), stored_feishu.len() + stored_dingtalk.len(), "no other vendor's");

        feishu::checks::assert_queries_within_limits(fake_feishu.api());
        dingtalk::checks::assert_listed_and_read_once(&dingtalk_api, &before, &instances, monday);
        let cursor = feishu::checks::assert_every_day_signalled(&hub, monday).await;
        feishu::checks::assert_later_pushes_and_a_second_pass(&hub, fake_feishu.api(), &specs, monday, now, cursor).await;
        dingtalk::checks::assert_targeted_pass_finds_nothing_new(&hub, &dingtalk_api, monday).await;
    };
}
