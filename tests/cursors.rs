//! Cursors end to end: a cursor from another hub's database is refused with
//! `CURSOR_UNKNOWN` even where this log has an entry at its position, and
//! after retention an old cursor is refused with `CURSOR_EXPIRED` and the
//! oldest cursor still served, from which the subscriber resumes.

use std::time::SystemTime;

use attendance_proto::v1::{
    subscribe_request, ApplyRetentionRequest, ListPunchesRequest, SubscribeRequest,
};
use attendance_testkit::feishu::FeishuWebhookSender;
use attendance_testkit::hub::HubProcess;
use attendance_testkit::TestDatabase;
use tonic_types::StatusExt;

mod support;
use support::*;

fn config(db: &TestDatabase) -> String {
    format!(
        "{}\n[retention]\nraw_days = 30\nlog_months = 6\n{}",
        server_and_storage(db),
        seed_apps()
    )
}

/// The seed punch as another event with another record.
fn another_punch(n: u32) -> String {
    FLOW_JSON
        .replace(
            "41fae5c12837ead344eced982fbde395",
            &format!("41fae5c12837ead344eced982fbde{n:03}"),
        )
        .replace("6938012269578125316", &format!("6938012269578125{n:03}"))
}

async fn seeded(db: &TestDatabase, dir: &std::path::Path) -> HubProcess {
    let hub = HubProcess::start(binary(), dir, &config(db)).await;
    let flows = FeishuWebhookSender::new(&hub.http_url(), "flows", None);
    let tasks = FeishuWebhookSender::new(&hub.http_url(), "tasks", None);
    assert_eq!(flows.post_plain(FLOW_JSON).await.status, 200);
    assert_eq!(tasks.post_plain(TASK_JSON).await.status, 200);
    hub
}

async fn resume(hub: &HubProcess, cursor: &str) -> Result<(), tonic::Status> {
    client(hub)
        .await
        .subscribe(SubscribeRequest {
            start: Some(subscribe_request::Start::AfterCursor(cursor.into())),
            ..SubscribeRequest::default()
        })
        .await
        .map(|_| ())
}

on_both_backends! {
    a_cursor_from_another_hubs_database_is_unknown_even_behind_the_head => |db: TestDatabase| async move {
        let dir = tempfile::tempdir().unwrap();
        let hub = seeded(&db, dir.path()).await;
        assert!(everything(&hub).await.len() >= 2);

        // A shorter log elsewhere: its first cursor names a position this log has too.
        let other = TestDatabase::sqlite();
        let other_dir = tempfile::tempdir().unwrap();
        let other_hub = HubProcess::start(binary(), other_dir.path(), &config(&other)).await;
        let flows = FeishuWebhookSender::new(&other_hub.http_url(), "flows", None);
        assert_eq!(flows.post_plain(FLOW_JSON).await.status, 200);
        let foreign = everything(&other_hub).await.remove(0).cursor;

        let refused = resume(&hub, &foreign).await.expect_err("refused");
        assert_eq!(refused.code(), tonic::Code::FailedPrecondition);
        assert_eq!(refused.get_error_details().error_info().unwrap().reason, "CURSOR_UNKNOWN");
        assert!(refused.message().contains("another database"), "{}", refused.message());
    };

    after_retention_an_old_cursor_is_expired_and_the_oldest_cursor_resumes => |db: TestDatabase| async move {
        let dir = tempfile::tempdir().unwrap();
        let hub = seeded(&db, dir.path()).await;
        let before = everything(&hub).await;
        let first = before[0].cursor.clone();

        let now = prost_types::Timestamp::from(SystemTime::now());
        let removed = admin(&hub).await.apply_retention(ApplyRetentionRequest {
            raw_received_before: Some(now),
            log_received_before: Some(now),
        }).await.unwrap().into_inner();
        assert_eq!(removed.log_entries_removed, before.len() as i64);
        assert!(removed.raw_documents_removed > 0);

        let expired = resume(&hub, &first).await.expect_err("refused");
        assert_eq!(expired.code(), tonic::Code::FailedPrecondition);
        let details = expired.get_error_details();
        let info = details.error_info().unwrap();
        assert_eq!(info.reason, "CURSOR_EXPIRED");
        let oldest = info.metadata.get("oldest_cursor").expect("oldest_cursor metadata").clone();
        assert_eq!(oldest, removed.oldest_cursor);
        assert!(expired.message().contains(&oldest), "{}", expired.message());

        // From the oldest cursor: nothing was skipped, and what comes next arrives.
        let mut stream = open_stream(&hub, Some(subscribe_request::Start::AfterCursor(oldest))).await;
        let flows = FeishuWebhookSender::new(&hub.http_url(), "flows", None);
        assert_eq!(flows.post_plain(&another_punch(1)).await.status, 200);
        let (entries, _) = entries_until_idle(&mut stream).await;
        assert_eq!(entries.len(), 1);

        // The facts stay, without the raw JSON retention removed.
        let punches = client(&hub).await.list_punches(ListPunchesRequest::default()).await.unwrap().into_inner().punches;
        assert_eq!(punches.len(), 2);
        assert_eq!(punches.iter().filter(|p| p.raw_json.is_empty()).count(), 1);

        // An instant in the future is refused: it would remove what has not arrived.
        let later = prost_types::Timestamp::from(SystemTime::now() + std::time::Duration::from_secs(3600));
        let refused = admin(&hub).await.apply_retention(ApplyRetentionRequest {
            raw_received_before: None,
            log_received_before: Some(later),
        }).await.expect_err("refused");
        assert_eq!(refused.code(), tonic::Code::InvalidArgument);
    };
}
