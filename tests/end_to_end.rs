//! End to end over real sockets: the real `attendance-hub` binary, Feishu
//! webhooks posted over HTTP (plain, and encrypted + signed), and a gRPC
//! subscriber, on a fresh SQLite file and, when `HUB_TEST_POSTGRES_URL` is
//! set, on a fresh PostgreSQL database.

use attendance_proto::v1::{
    log_entry, subscribe_request, ListPunchesRequest, ListShiftResultsRequest, LogEntry,
    LogEntryKind, PunchOrigin, ShiftStatus, SubscribeFilter, SubscribeRequest, WorkDirection,
};
use attendance_testkit::feishu::{encrypted_body, FeishuWebhookSender};
use attendance_testkit::hub::HubProcess;
use attendance_testkit::TestDatabase;

mod support;
use support::*;

const ENCRYPT_KEY: &str = "e2e-encrypt-key";

/// The seed events come from two Feishu apps; each is configured twice, once
/// plain and once with an encrypt key, as a tenant migrating to encryption would.
fn config(db: &TestDatabase) -> String {
    format!(
        r#"
[server]
grpc_listen = "127.0.0.1:0"
http_listen = "127.0.0.1:0"
heartbeat_seconds = 1
shutdown_grace_seconds = 5

[storage]
url = "{url}"
{seed_apps}
[[feishu]]
name = "flows-secure"
app_id = "cli_a0c203e66cf8100c"
verification_token = "{FLOW_TOKEN}"
encrypt_key = "{ENCRYPT_KEY}"

[[feishu]]
name = "tasks-secure"
app_id = "cli_a0c27934a1f8100b"
verification_token = "{TASK_TOKEN}"
encrypt_key = "{ENCRYPT_KEY}"
"#,
        url = db.url(),
        seed_apps = seed_apps(),
    )
}

fn assert_seed_punch(entry: &LogEntry) {
    assert_eq!(entry.kind, LogEntryKind::Punch as i32);
    let Some(log_entry::Fact::Punch(punch)) = &entry.fact else {
        panic!("expected a punch, got {entry:?}");
    };
    let check_time = punch.check_time.expect("check time");
    assert_eq!((check_time.seconds, check_time.nanos), (1_615_381_916, 0));
    assert_eq!(entry.occurred_time, Some(check_time));
    assert_eq!(punch.employee_id, "2b68933a");
    assert_eq!(punch.record_id, "6938012269578125316");
    assert_eq!(punch.origin, PunchOrigin::User as i32);
    assert_eq!(punch.wifi.as_ref().unwrap().ssid, "ByteDance Inc");
    assert_eq!(punch.revision, 1);
    assert_eq!(entry.source.as_ref().unwrap().tenant, "2fce678eb60d1651");
}

fn assert_seed_shift_result(entry: &LogEntry) {
    assert_eq!(entry.kind, LogEntryKind::ShiftResult as i32);
    let Some(log_entry::Fact::ShiftResult(result)) = &entry.fact else {
        panic!("expected a shift result, got {entry:?}");
    };
    assert_eq!(result.work_date, "2021-03-10");
    assert_eq!(result.time_zone, "Asia/Shanghai");
    assert_eq!(result.status, ShiftStatus::Late as i32);
    assert_eq!(result.status_original, "Late");
    assert_eq!(result.previous_status, ShiftStatus::Normal as i32);
    assert_eq!(result.direction, WorkDirection::OnDuty as i32);
    assert_eq!(result.index, 1);
    assert_eq!(result.revision, 1);
}

on_both_backends! {
    seed_events_reach_a_subscriber_exactly_once_by_any_route => |db: TestDatabase| async move {
        let dir = tempfile::tempdir().unwrap();
        let hub = HubProcess::start(binary(), dir.path(), &config(&db)).await;
        let http = hub.http_url();
        // Subscribed before anything arrives: these come live, not from catch-up.
        let mut live = open_stream(&hub, Some(subscribe_request::Start::FromNow(true))).await;

        let flows = FeishuWebhookSender::new(&http, "flows", None);
        let tasks = FeishuWebhookSender::new(&http, "tasks", None);
        let flows_secure = FeishuWebhookSender::new(&http, "flows-secure", Some(ENCRYPT_KEY));
        let tasks_secure = FeishuWebhookSender::new(&http, "tasks-secure", Some(ENCRYPT_KEY));
        for answer in [
            flows.post_plain(FLOW_JSON).await,
            tasks.post_plain(TASK_JSON).await,
            // The same events again, encrypted and signed: vendor retries.
            flows_secure.post_encrypted(FLOW_JSON).await,
            tasks_secure.post_encrypted(TASK_JSON).await,
            flows.post_plain(FLOW_JSON).await,
        ] {
            assert_eq!(answer.status, 200, "{}", answer.body);
            assert_eq!(answer.json()["msg"], "success");
        }

        let (entries, _) = entries_until_idle(&mut live).await;
        assert_eq!(entries.len(), 2, "exactly one punch and one shift result: {entries:#?}");
        assert_seed_punch(&entries[0]);
        assert_seed_shift_result(&entries[1]);
        let Some(log_entry::Fact::Punch(punch)) = &entries[0].fact else { unreachable!() };
        assert!(!punch.raw_json.contains(FLOW_TOKEN), "the token never reaches subscribers");

        // Catch-up sees the same two, and a fresh round of retries adds nothing.
        assert_eq!(tasks_secure.post_encrypted(TASK_JSON).await.status, 200);
        let all = everything(&hub).await;
        assert_eq!(all.len(), 2);
        assert_eq!(all[0].cursor, entries[0].cursor);

        let mut grpc = client(&hub).await;
        let punches = grpc.list_punches(ListPunchesRequest {
            tenant: "2fce678eb60d1651".into(), ..Default::default()
        }).await.unwrap().into_inner();
        assert_eq!(punches.punches.len(), 1);
        let results = grpc.list_shift_results(ListShiftResultsRequest {
            work_date_from: "2021-03-10".into(), work_date_to: "2021-03-10".into(), ..Default::default()
        }).await.unwrap().into_inner();
        assert_eq!(results.shift_results.len(), 1);
        assert_eq!(hub.terminate().await.code(), Some(0), "graceful exit on SIGTERM");
    };

    bad_input_is_refused_and_changes_nothing => |db: TestDatabase| async move {
        let dir = tempfile::tempdir().unwrap();
        let hub = HubProcess::start(binary(), dir.path(), &config(&db)).await;
        let http = hub.http_url();
        let flows = FeishuWebhookSender::new(&http, "flows", None);
        let secure = FeishuWebhookSender::new(&http, "flows-secure", Some(ENCRYPT_KEY));
        let wrong_key = FeishuWebhookSender::new(&http, "flows-secure", Some("not-the-key"));

        let wrong_signature = wrong_key.post_signed(encrypted_body(ENCRYPT_KEY, FLOW_JSON).into_bytes()).await;
        assert_eq!(wrong_signature.status, 401, "{}", wrong_signature.body);
        assert_eq!(wrong_signature.json()["error"]["code"], "INVALID_SIGNATURE");

        let wrong_token = flows.post_plain(&FLOW_JSON.replace(FLOW_TOKEN, "forged-token")).await;
        assert_eq!(wrong_token.status, 401, "{}", wrong_token.body);
        assert_eq!(wrong_token.json()["error"]["code"], "INVALID_TOKEN");

        let sealed = encrypted_body(ENCRYPT_KEY, FLOW_JSON);
        let value: serde_json::Value = serde_json::from_str(&sealed).unwrap();
        let ciphertext = value["encrypt"].as_str().unwrap();
        let truncated = serde_json::json!({"encrypt": &ciphertext[..ciphertext.len() - 8]}).to_string();
        let bad_ciphertext = secure.post_signed(truncated.into_bytes()).await;
        assert_eq!(bad_ciphertext.status, 400, "{}", bad_ciphertext.body);

        let malformed = flows.post_plain("{\"schema\":\"2.0\",\"header\":").await;
        assert_eq!(malformed.status, 400, "{}", malformed.body);
        assert_eq!(malformed.json()["error"]["code"], "MALFORMED_BODY");

        let huge = format!("{{\"pad\":\"{}\"}}", "x".repeat(2 * 1024 * 1024));
        let too_large = flows.post_plain(&huge).await;
        assert_eq!(too_large.status, 413, "{}", too_large.body);

        let unknown_app = FeishuWebhookSender::new(&http, "nobody", None).post_plain(FLOW_JSON).await;
        assert_eq!(unknown_app.status, 404);

        // Nothing of that reached the log.
        assert!(everything(&hub).await.is_empty());

        // An unknown event type is stored raw and answered 200, but is no fact.
        let unknown = FLOW_JSON
            .replace("attendance.user_flow.created_v1", "attendance.something_new_v9")
            .replace("41fae5c12837ead344eced982fbde395", "unknown-event-1");
        let answer = flows.post_plain(&unknown).await;
        assert_eq!(answer.status, 200, "{}", answer.body);
        assert!(everything(&hub).await.is_empty());

        // And the hub still works.
        assert_eq!(flows.post_plain(FLOW_JSON).await.status, 200);
        assert_eq!(everything(&hub).await.len(), 1);
    };

    a_killed_hub_resumes_subscribers_without_loss_or_repetition => |db: TestDatabase| async move {
        let dir = tempfile::tempdir().unwrap();
        let hub = HubProcess::start(binary(), dir.path(), &config(&db)).await;
        let flows = FeishuWebhookSender::new(&hub.http_url(), "flows", None);
        assert_eq!(flows.post_plain(FLOW_JSON).await.status, 200);
        let mut stream = open_stream(&hub, None).await;
        let (seen, _) = entries_until_idle(&mut stream).await;
        assert_eq!(seen.len(), 1);
        let last_cursor = seen[0].cursor.clone();

        // Acknowledged, then the process dies at once.
        let tasks = FeishuWebhookSender::new(&hub.http_url(), "tasks", None);
        assert_eq!(tasks.post_plain(TASK_JSON).await.status, 200);
        hub.kill().await;

        let hub = HubProcess::start(binary(), dir.path(), &config(&db)).await;
        // Vendor retries of both events after the restart change nothing.
        let flows = FeishuWebhookSender::new(&hub.http_url(), "flows", None);
        let tasks = FeishuWebhookSender::new(&hub.http_url(), "tasks", None);
        assert_eq!(flows.post_plain(FLOW_JSON).await.status, 200);
        assert_eq!(tasks.post_plain(TASK_JSON).await.status, 200);

        let mut resumed = open_stream(&hub, Some(subscribe_request::Start::AfterCursor(last_cursor))).await;
        let (after, cursor) = entries_until_idle(&mut resumed).await;
        assert_eq!(after.len(), 1, "exactly the entry after the cursor: {after:#?}");
        assert_seed_shift_result(&after[0]);
        assert_eq!(cursor, after[0].cursor, "the heartbeat carries the resume point");
    };

    a_hub_killed_under_concurrent_load_loses_no_acknowledged_event => |db: TestDatabase| async move {
        use std::sync::{Arc, Mutex};
        let dir = tempfile::tempdir().unwrap();
        let hub = HubProcess::start(binary(), dir.path(), &config(&db)).await;
        let http = hub.http_url();
        let acknowledged = Arc::new(Mutex::new(Vec::new()));
        let mut senders = Vec::new();
        for sender in 0..16 {
            let flows = FeishuWebhookSender::new(&http, "flows", None);
            let acknowledged = acknowledged.clone();
            senders.push(tokio::spawn(async move {
                for i in 0.. {
                    let record = format!("load-{sender}-{i}");
                    let event = FLOW_JSON
                        .replace("41fae5c12837ead344eced982fbde395", &format!("event-{record}"))
                        .replace("6938012269578125316", &record);
                    match flows.try_post_plain(&event).await {
                        Ok(answer) if answer.status == 200 => acknowledged.lock().unwrap().push(event),
                        Ok(answer) => assert_eq!(answer.status, 503, "only an unavailable store may refuse: {}", answer.body),
                        Err(_) => return, // the hub died mid-request: never acknowledged
                    }
                }
            }));
        }
        // Let the load run, then the process dies at once, commits in flight.
        tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
        hub.kill().await;
        for sender in senders {
            sender.await.unwrap();
        }
        let acknowledged = acknowledged.lock().unwrap().clone();
        assert!(acknowledged.len() >= 50, "the load was real: {} acknowledged", acknowledged.len());

        let hub = HubProcess::start(binary(), dir.path(), &config(&db)).await;
        let entries = everything(&hub).await;
        let mut stored: Vec<String> = entries.iter().map(|e| match &e.fact {
            Some(log_entry::Fact::Punch(p)) => p.record_id.clone(),
            other => panic!("only punches were sent: {other:?}"),
        }).collect();
        let total = stored.len();
        stored.sort();
        stored.dedup();
        assert_eq!(stored.len(), total, "no punch was stored twice");
        for event in &acknowledged {
            let record = event.split("\"record_id\": \"").nth(1).unwrap().split('"').next().unwrap();
            assert!(stored.binary_search(&record.to_string()).is_ok(), "acknowledged {record} was lost");
        }
        // Their retries after the restart are duplicates: nothing new.
        let flows = FeishuWebhookSender::new(&hub.http_url(), "flows", None);
        for event in acknowledged.iter().take(200) {
            assert_eq!(flows.post_plain(event).await.status, 200);
        }
        assert_eq!(everything(&hub).await.len(), total);
    };

    invalid_and_foreign_cursors_are_refused_with_details => |db: TestDatabase| async move {
        let dir = tempfile::tempdir().unwrap();
        let hub = HubProcess::start(binary(), dir.path(), &config(&db)).await;
        let mut grpc = client(&hub).await;
        let garbage = grpc.subscribe(SubscribeRequest {
            start: Some(subscribe_request::Start::AfterCursor("garbage".into())), ..SubscribeRequest::default()
        }).await.expect_err("refused");
        assert_eq!(garbage.code(), tonic::Code::InvalidArgument);

        // A filter value no enum names would match nothing, silently (and
        // 65,537 would once have matched vendor 1 in memory): refused.
        for (vendors, kinds, field) in [(vec![1, 65_537], vec![], "filter.vendors[1]"), (vec![], vec![0], "filter.kinds[0]")] {
            let unknown = grpc.subscribe(SubscribeRequest {
                filter: Some(SubscribeFilter { vendors, kinds, ..SubscribeFilter::default() }),
                ..SubscribeRequest::default()
            }).await.expect_err("refused");
            assert_eq!(unknown.code(), tonic::Code::InvalidArgument);
            assert!(unknown.message().starts_with(field), "{}", unknown.message());
        }

        // A well-formed cursor from some other, longer log.
        let foreign = {
            let other = TestDatabase::sqlite();
            let other_dir = tempfile::tempdir().unwrap();
            let other_hub = HubProcess::start(binary(), other_dir.path(), &config(&other)).await;
            let flows = FeishuWebhookSender::new(&other_hub.http_url(), "flows", None);
            let tasks = FeishuWebhookSender::new(&other_hub.http_url(), "tasks", None);
            flows.post_plain(FLOW_JSON).await;
            tasks.post_plain(TASK_JSON).await;
            everything(&other_hub).await.pop().unwrap().cursor
        };
        let ahead = grpc.subscribe(SubscribeRequest {
            start: Some(subscribe_request::Start::AfterCursor(foreign)), ..SubscribeRequest::default()
        }).await.expect_err("refused");
        assert_eq!(ahead.code(), tonic::Code::FailedPrecondition);
        use tonic_types::StatusExt;
        assert_eq!(ahead.get_error_details().error_info().unwrap().reason, "CURSOR_UNKNOWN");
    };
}

/// What grpcurl and `buf curl` rely on: reflection (both protocol versions)
/// lists the services, and gRPC health answers for the hub's service.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reflection_and_health_answer_like_grpcurl_needs() {
    use tonic_health::pb::health_check_response::ServingStatus;
    use tonic_health::pb::health_client::HealthClient;
    use tonic_health::pb::HealthCheckRequest;
    use tonic_reflection::pb::v1alpha;

    let db = TestDatabase::sqlite();
    let dir = tempfile::tempdir().unwrap();
    let hub = HubProcess::start(binary(), dir.path(), &config(&db)).await;

    let names = reflected_services(&hub).await;
    for expected in [
        "attendance.v1.AttendanceService",
        "attendance.v1.AdminService",
        "grpc.health.v1.Health",
    ] {
        assert!(
            names.iter().any(|n| n == expected),
            "{expected} missing from {names:?}"
        );
    }

    // The symbol grpcurl resolves before calling ListPunches, over the older protocol.
    let request = v1alpha::ServerReflectionRequest {
        host: String::new(),
        message_request: Some(
            v1alpha::server_reflection_request::MessageRequest::FileContainingSymbol(
                "attendance.v1.AttendanceService".into(),
            ),
        ),
    };
    let mut reflection =
        v1alpha::server_reflection_client::ServerReflectionClient::new(channel(&hub).await);
    let mut answers = reflection
        .server_reflection_info(tokio_stream::iter(vec![request]))
        .await
        .unwrap()
        .into_inner();
    match answers.message().await.unwrap().unwrap().message_response {
        Some(v1alpha::server_reflection_response::MessageResponse::FileDescriptorResponse(
            files,
        )) => {
            assert!(!files.file_descriptor_proto.is_empty());
        }
        other => panic!("a file descriptor, got {other:?}"),
    }

    let mut health = HealthClient::new(channel(&hub).await);
    for service in [
        "attendance.v1.AttendanceService",
        "attendance.v1.AdminService",
    ] {
        let status = health
            .check(HealthCheckRequest {
                service: service.into(),
            })
            .await
            .unwrap()
            .into_inner()
            .status;
        assert_eq!(status, ServingStatus::Serving as i32, "{service}");
    }
}
