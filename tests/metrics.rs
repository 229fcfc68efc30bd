//! `GET /metrics` scraped from the real binary: the key series exist from
//! the start and move as webhooks are stored, repeated and refused, as a
//! subscriber attaches, and as the commit path runs.

use attendance_proto::v1::subscribe_request;
use attendance_testkit::feishu::FeishuWebhookSender;
use attendance_testkit::hub::HubProcess;
use attendance_testkit::TestDatabase;

mod support;
use support::*;

fn config(db: &TestDatabase) -> String {
    format!("{}{}", server_and_storage(db), seed_apps())
}

on_both_backends! {
    the_key_series_move_as_events_arrive => |db: TestDatabase| async move {
        let dir = tempfile::tempdir().unwrap();
        let hub = HubProcess::start(binary(), dir.path(), &config(&db)).await;
        let before = scrape(&hub).await;
        let stored = ["vendor=\"feishu\"", "channel=\"webhook\"", "result=\"stored\""];
        let duplicate = ["vendor=\"feishu\"", "channel=\"webhook\"", "result=\"duplicate\""];
        assert_eq!(metric(&before, "attendance_hub_deliveries_total", &stored), 0.0);

        let mut live = open_stream(&hub, Some(subscribe_request::Start::FromNow(true))).await;
        let flows = FeishuWebhookSender::new(&hub.http_url(), "flows", None);
        assert_eq!(flows.post_plain(FLOW_JSON).await.status, 200);
        assert_eq!(flows.post_plain(FLOW_JSON).await.status, 200, "a retry");
        let refused = flows.post_plain(&FLOW_JSON.replace(FLOW_TOKEN, "not-the-token")).await;
        assert_eq!(refused.status, 401, "{}", refused.body);
        let code = refused.json()["error"]["code"].as_str().unwrap().to_owned();
        let unknown = FeishuWebhookSender::new(&hub.http_url(), "nobody", None);
        assert_eq!(unknown.post_plain(FLOW_JSON).await.status, 404);
        let (entries, _) = entries_until_idle(&mut live).await;
        assert_eq!(entries.len(), 1);

        let after = scrape(&hub).await;
        assert_eq!(metric(&after, "attendance_hub_deliveries_total", &stored), 1.0);
        assert_eq!(metric(&after, "attendance_hub_deliveries_total", &duplicate), 1.0);
        assert_eq!(metric(&after, "attendance_hub_facts_total", &["vendor=\"feishu\"", "kind=\"punch\""]), 1.0);
        assert_eq!(metric(&after, "attendance_hub_log_entries_appended_total", &[]), 1.0);
        let reason = format!("reason=\"{code}\"");
        assert_eq!(metric(&after, "attendance_hub_rejected_inputs_total", &["vendor=\"feishu\"", &reason]), 1.0);
        assert_eq!(metric(&after, "attendance_hub_rejected_inputs_total", &["reason=\"UNKNOWN_APP\""]), 1.0);
        assert!(metric(&after, "attendance_hub_commit_seconds_count", &["result=\"ok\""]) >= 1.0);
        assert!(metric(&after, "attendance_hub_commit_batch_deliveries_sum", &[]) >= 1.0);
        assert_eq!(metric(&after, "attendance_hub_subscribers", &[]), 1.0);
        assert!(metric(&after, "attendance_hub_log_head_sequence", &[]) >= 1.0);

        drop(live);
        // The stream's end reaches the hub shortly after the client leaves.
        let mut left = f64::NAN;
        for _ in 0..100 {
            left = metric(&scrape(&hub).await, "attendance_hub_subscribers", &[]);
            if left == 0.0 { break; }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        assert_eq!(left, 0.0, "a subscriber that left is no longer counted");

        // After a restart the log is in the store only: a subscriber from
        // the beginning reads it there before it joins the tail, and its
        // catch-up lag is recorded.
        hub.terminate().await;
        let hub = HubProcess::start(binary(), dir.path(), &config(&db)).await;
        let lag_reads = metric(&scrape(&hub).await, "attendance_hub_subscriber_catch_up_lag_entries_count", &[]);
        assert_eq!(lag_reads, 0.0);
        let mut replay = open_stream(&hub, Some(subscribe_request::Start::FromBeginning(true))).await;
        let (replayed, _) = entries_until_idle(&mut replay).await;
        assert_eq!(replayed.len(), 1);
        let samples = scrape(&hub).await;
        assert!(metric(&samples, "attendance_hub_subscriber_catch_up_lag_entries_count", &[]) > lag_reads);
        assert_eq!(metric(&samples, "attendance_hub_subscribers", &[]), 1.0);
    };

    a_flooded_route_is_answered_429_stores_nothing_more_and_is_counted => |db: TestDatabase| async move {
        let dir = tempfile::tempdir().unwrap();
        let limited = config(&db).replace(
            "[server]\n",
            "[server]\nwebhook_requests_per_second = 1\nwebhook_burst = 1\n",
        );
        assert!(limited.contains("webhook_burst"), "the [server] section is where the suites put it");
        let hub = HubProcess::start(binary(), dir.path(), &limited).await;
        let flows = FeishuWebhookSender::new(&hub.http_url(), "flows", None);
        let tasks = FeishuWebhookSender::new(&hub.http_url(), "tasks", None);
        assert_eq!(flows.post_plain(FLOW_JSON).await.status, 200);
        // Five more at once, within the same second: the budget is spent.
        let answers = futures::future::join_all((0..5).map(|_| flows.post_plain(FLOW_JSON))).await;
        let refused: Vec<_> = answers.iter().filter(|a| a.status == 429).collect();
        assert!(refused.len() >= 3, "{:?}", answers.iter().map(|a| a.status).collect::<Vec<_>>());
        assert!(answers.iter().all(|a| a.status == 429 || a.status == 200));
        assert_eq!(refused[0].json()["error"]["code"], "RATE_LIMITED");
        // The other app's route has its own budget.
        assert_eq!(tasks.post_plain(TASK_JSON).await.status, 200);

        let samples = scrape(&hub).await;
        let stored = ["vendor=\"feishu\"", "result=\"stored\""];
        assert_eq!(metric(&samples, "attendance_hub_deliveries_total", &stored), 2.0);
        let counted = metric(&samples, "attendance_hub_rejected_inputs_total", &["reason=\"RATE_LIMITED\""]);
        assert_eq!(counted, refused.len() as f64);
    };
}
