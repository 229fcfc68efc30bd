//! Feishu approval passes at the edges of what Feishu shows: a user whose
//! approvals Feishu will not show, and the query windows Feishu allows. The
//! week of Feishu approvals whose pushes were partly lost is replayed beside
//! DingTalk's in `approvals.rs`.

use attendance_proto::v1::{ReconcileRequest, Vendor};
use attendance_testkit::fake_feishu::FakeFeishuApi;
use attendance_testkit::hub::HubProcess;
use attendance_testkit::TestDatabase;
use chrono::NaiveDate;
use serde_json::Value;

mod support;
use support::*;

#[path = "approvals_feishu/week.rs"]
mod week;
use week::*;

on_both_backends! {
    a_user_whose_approvals_feishu_will_not_show_keeps_the_days_unreconciled => |db: TestDatabase| async move {
        let monday = last_finished_week();
        let specs = week(monday);
        let feishu = serve_week(&specs).await;
        let api = feishu.api().clone();
        // The approval queries refuse any batch holding e4 (1220004) while
        // the attendance queries show e4: its approvals are not covered.
        api.hide_approvals_of(&["e4"]);
        let dir = tempfile::tempdir().unwrap();
        let config = reconciling_on_request(&db, &app_section(feishu.base_url()));
        let hub = HubProcess::start(binary(), dir.path(), &config).await;
        let mut admin = admin(&hub).await;
        let pass = admin.reconcile(reconcile_week(monday)).await.unwrap().into_inner();
        let outcome = &pass.apps[0];
        assert_eq!(outcome.error, "", "{}", hub.log());
        assert!(outcome.work_dates_reconciled.is_empty(), "no day is whole: {outcome:?}");
        let refused = api.calls().iter().filter(|c| c.code == 1220004 && c.path == "user_approvals/query").count();
        assert!(refused >= 10, "each status's batch, then the id alone: {:?}", api.calls());
        let others: Vec<Spec> = specs.into_iter().filter(|s| s.employee != "e4").collect();
        assert_exactly_once(&approvals_of(&hub, Vendor::Feishu).await, &others, false);
        let signals = signalled(&everything(&hub).await);
        assert!(signals.is_empty(), "{signals:?}");

        // A user Feishu does not know at all (user_tasks/query calls it
        // invalid) does not hold the days back.
        api.hide_approvals_of(&[]);
        api.reject_users(&["e4"]);
        let pass = admin.reconcile(reconcile_week(monday)).await.unwrap().into_inner();
        assert_eq!(pass.apps[0].work_dates_reconciled.len(), 7, "{:?}", pass.apps[0]);
    };

    the_approval_queries_stop_at_tomorrow_and_span_at_most_30_days => |db: TestDatabase| async move {
        let feishu = serve_week(&[]).await;
        let api = feishu.api().clone();
        let dir = tempfile::tempdir().unwrap();
        let config = reconciling_on_request(&db, &app_section(feishu.base_url()));
        let hub = HubProcess::start(binary(), dir.path(), &config).await;
        let mut admin = admin(&hub).await;
        let today = chrono::Utc::now().date_naive();
        let days = chrono::Duration::days;
        let date = |v: &Value| NaiveDate::parse_from_str(&v.as_i64().unwrap().to_string(), "%Y%m%d").unwrap();
        let asked = |api: &FakeFeishuApi| -> Vec<(i64, NaiveDate, NaiveDate)> {
            api.approval_requests().iter()
                .filter(|(p, _)| p == "user_approvals/query")
                .map(|(_, b)| (b["status"].as_i64().unwrap(), date(&b["check_date_from"]), date(&b["check_date_to"])))
                .collect()
        };
        // 31 days, the longest pass: two spans per status.
        for (from, to) in [(today - days(30), today), (today - days(5), today + days(20))] {
            let request = ReconcileRequest {
                work_date_from: from.to_string(),
                work_date_to: to.to_string(),
                ..reconcile_week(today)
            };
            let pass = admin.reconcile(request).await.unwrap().into_inner();
            assert_eq!(pass.apps[0].error, "", "{}", hub.log());
        }
        let asked = asked(&api);
        assert_eq!(asked.len(), 3 * 5, "two spans, then one, for each of 5 statuses: {asked:?}");
        for (_, from, to) in &asked {
            assert!(*to - *from < days(30), "{from}..{to}");
            assert!(*to <= today + days(1), "never beyond tomorrow: {to}");
        }
        assert!(asked.iter().any(|(_, _, to)| *to >= today), "the clipped window still reaches today");
        assert!(api.calls().iter().all(|c| c.code == 0), "nothing refused: {:?}", api.calls());
    };
}
