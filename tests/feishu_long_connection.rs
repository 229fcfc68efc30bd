//! The Feishu long connection end to end, over real sockets: the real
//! `attendance-hub` binary dials a fake Feishu (`attendance_testkit::fake_feishu`:
//! endpoint discovery over HTTP, pbbp2 frames over a WebSocket), commits into
//! a fresh SQLite file and, when `HUB_TEST_POSTGRES_URL` is set, a fresh
//! PostgreSQL database, and serves a gRPC subscriber.
//!
//! Faults are real too: connections are cut or fall silent on the fake's
//! side, and a commit failure is a trigger in the hub's own database.

use std::path::Path;

use attendance_proto::v1::{log_entry, subscribe_request, Channel as DeliveryChannel, LogEntry};
use attendance_testkit::fake_feishu::{ClientConfig, FakeFeishu, FakeGateway, HandshakeRejection};
use attendance_testkit::feishu::FeishuWebhookSender;
use attendance_testkit::hub::HubProcess;
use attendance_testkit::TestDatabase;
use tonic_health::pb::health_check_response::ServingStatus;

mod support;
use support::*;

const FLOW_EVENT_ID: &str = "41fae5c12837ead344eced982fbde395";
const FLOW_RECORD_ID: &str = "6938012269578125316";
const APP_ID: &str = "cli_a0c203e66cf8100c";
const APP_SECRET: &str = "long-connection-secret";

/// The seed punch as another event: a new event id and a new punch record.
fn another_flow(event_id: &str, record_id: &str) -> String {
    FLOW_JSON
        .replace(FLOW_EVENT_ID, event_id)
        .replace(FLOW_RECORD_ID, record_id)
}

/// One app, `flows`, taking webhooks and a long connection to `fake`.
fn config(db: &TestDatabase, fake: &FakeFeishu) -> String {
    format!(
        r#"{server}
[[feishu]]
name = "flows"
app_id = "{APP_ID}"
app_secret = "{APP_SECRET}"
verification_token = "{FLOW_TOKEN}"
base_url = "{base_url}"
long_connection = true
"#,
        server = server_and_storage(db),
        base_url = fake.base_url(),
    )
}

/// Polls `/healthz` until the app's long connection reports a state that
/// starts with `prefix`; returns that state.
async fn wait_for_state(hub: &HubProcess, app: &str, prefix: &str) -> String {
    wait_for_state_where(hub, app, prefix, |state| state.starts_with(prefix)).await
}

/// Polls `/healthz` until the app's long connection reports a state that
/// `wanted` accepts; returns that state.
async fn wait_for_state_where(
    hub: &HubProcess,
    app: &str,
    what: &str,
    wanted: impl Fn(&str) -> bool,
) -> String {
    wait_for_health_state(hub, "feishu_long_connections", app, what, wanted).await
}

/// Starts the fake and a hub connected to it.
async fn connected_hub(db: &TestDatabase, dir: &Path) -> (FakeFeishu, HubProcess) {
    let fake = FakeFeishu::start().await;
    let hub = HubProcess::start(binary(), dir, &config(db, &fake)).await;
    fake.wait_for_live_connections(1).await;
    wait_for_state(&hub, "flows", "connected").await;
    (fake, hub)
}

fn the_punch(entry: &LogEntry) -> &attendance_proto::v1::Punch {
    let Some(log_entry::Fact::Punch(punch)) = &entry.fact else {
        panic!("expected a punch, got {entry:?}");
    };
    punch
}

on_both_backends! {
    a_split_event_is_committed_once_and_acked_after_the_commit => |db: TestDatabase| async move {
        let dir = tempfile::tempdir().unwrap();
        let (fake, hub) = connected_hub(&db, dir.path()).await;
        let discovery = &fake.discovery_requests()[0];
        assert_eq!(discovery.app_id, APP_ID);
        assert_eq!(discovery.app_secret, APP_SECRET);
        assert_eq!(discovery.locale.as_deref(), Some("zh"));
        let (status, body) = healthz(&hub).await;
        assert_eq!(status, 200);
        assert_eq!(body["feishu_long_connections"]["flows"], "connected");
        assert_eq!(
            grpc_health(&hub, "feishu.long_connection.flows").await,
            ServingStatus::Serving
        );

        let mut live = open_stream(&hub, Some(subscribe_request::Start::FromNow(true))).await;
        // Three fragments, split by bytes (the location name is Chinese, so
        // a cut may fall inside a character).
        let message_id = fake.send_fragmented(FLOW_JSON, 3);
        let sent = fake.sent_frames(&message_id);
        assert_eq!(sent.len(), 3);
        let acks = fake.wait_for_acks(&message_id, 1).await;
        assert_eq!(acks.len(), 1, "one ack for the whole message: {acks:?}");
        let ack = &acks[0];
        assert_eq!(ack.code, Some(200));
        let biz_rt = ack.biz_rt.as_deref().expect("biz_rt header");
        assert!(biz_rt.parse::<u64>().is_ok(), "biz_rt is milliseconds: {biz_rt}");
        // The ack echoes the fragment that completed the message.
        let last = sent.last().unwrap();
        assert_eq!(ack.frame.seq_id, last.seq_id);
        assert_eq!(ack.frame.log_id, last.log_id);
        assert_eq!(ack.frame.service, last.service);
        assert_eq!(ack.frame.method, last.method);
        assert_eq!(ack.frame.headers[..last.headers.len()], last.headers[..]);
        // Acked after the commit: the moment the ack is in, the event is stored.
        assert_eq!(
            delivery_channels(&db, FLOW_EVENT_ID).await,
            [DeliveryChannel::LongConnection as i64]
        );

        let entries = entries_until_idle(&mut live).await.0;
        assert_eq!(entries.len(), 1, "{entries:#?}");
        let punch = the_punch(&entries[0]);
        assert_eq!(punch.record_id, FLOW_RECORD_ID);
        assert_eq!(punch.employee_id, "2b68933a");
        let provenance = punch.provenance.as_ref().unwrap();
        assert_eq!(provenance.channel, DeliveryChannel::LongConnection as i32);
        assert_eq!(provenance.event_id, FLOW_EVENT_ID);
        assert!(punch.raw_json.contains("浙江省杭州市"), "the split UTF-8 joined whole");
        assert!(!punch.raw_json.contains(FLOW_TOKEN), "the token never reaches subscribers");

        // Every frame the hub sent carried the discovered service id.
        assert!(fake.pings() >= 1);
        assert_eq!(fake.services_seen().into_iter().collect::<Vec<_>>(), [fake.service_id()]);

        // The same event again, whole: acknowledged, nothing new.
        let again = fake.send_event(FLOW_JSON);
        assert_eq!(fake.wait_for_acks(&again, 1).await[0].code, Some(200));
        assert!(entries_until_idle(&mut live).await.0.is_empty());
        assert_eq!(delivery_channels(&db, FLOW_EVENT_ID).await.len(), 1);

        // A graceful stop closes the WebSocket with a close frame.
        assert_eq!(hub.terminate().await.code(), Some(0));
        fake.wait_for("a clean close", |f| (f.clean_closes() == 1).then_some(())).await;
    };

    the_same_event_by_webhook_and_long_connection_is_one_delivery => |db: TestDatabase| async move {
        let dir = tempfile::tempdir().unwrap();
        let (fake, hub) = connected_hub(&db, dir.path()).await;
        let webhook = FeishuWebhookSender::new(&hub.http_url(), "flows", None);

        // Webhook first, then the long connection.
        let answer = webhook.post_plain(FLOW_JSON).await;
        assert_eq!(answer.status, 200, "{}", answer.body);
        let id = fake.send_event(FLOW_JSON);
        assert_eq!(fake.wait_for_acks(&id, 1).await[0].code, Some(200));

        // The long connection first, then the webhook.
        let second = another_flow("lc-first-event", "6938012269578199999");
        let id = fake.send_event(&second);
        assert_eq!(fake.wait_for_acks(&id, 1).await[0].code, Some(200));
        let answer = webhook.post_plain(&second).await;
        assert_eq!(answer.status, 200, "{}", answer.body);

        let entries = everything(&hub).await;
        assert_eq!(entries.len(), 2, "one entry per punch: {entries:#?}");
        assert_eq!(the_punch(&entries[0]).record_id, FLOW_RECORD_ID);
        assert_eq!(the_punch(&entries[1]).record_id, "6938012269578199999");
        // One delivery per event id, kept from the channel that came first.
        assert_eq!(
            delivery_channels(&db, FLOW_EVENT_ID).await,
            [DeliveryChannel::Webhook as i64]
        );
        assert_eq!(
            delivery_channels(&db, "lc-first-event").await,
            [DeliveryChannel::LongConnection as i64]
        );
    };

    a_cut_connection_is_discovered_again_and_the_event_redelivered_once => |db: TestDatabase| async move {
        let dir = tempfile::tempdir().unwrap();
        let (fake, hub) = connected_hub(&db, dir.path()).await;
        assert_eq!(fake.discoveries(), 1);

        // Cut in the middle of a split event: two of three fragments arrive.
        let id = fake.send_fragmented_then_drop(FLOW_JSON, 3, 2);
        fake.wait_for_total_connections(2).await;
        assert!(fake.discoveries() >= 2, "a reconnect discovers the endpoint again");
        let acks = fake.wait_for_acks(&id, 1).await;
        assert_eq!(acks.len(), 1, "{acks:?}");
        assert_eq!(acks[0].code, Some(200));
        assert_eq!(acks[0].connection, 2, "acked on the new connection");
        assert_eq!(fake.sent_frames(&id).len(), 2 + 3, "redelivered whole");
        wait_for_state(&hub, "flows", "connected").await;

        // A cut while idle, with an event sent while the hub is away.
        fake.drop_connections();
        let second = another_flow("sent-while-away", "6938012269578188888");
        let id = fake.send_event(&second);
        fake.wait_for_total_connections(3).await;
        assert_eq!(fake.wait_for_acks(&id, 1).await.last().unwrap().code, Some(200));

        let entries = everything(&hub).await;
        assert_eq!(entries.len(), 2, "{entries:#?}");
        assert_eq!(delivery_channels(&db, FLOW_EVENT_ID).await.len(), 1);
        assert_eq!(delivery_channels(&db, "sent-while-away").await.len(), 1);
        assert!(fake.discoveries() >= 3);
        assert_eq!(fake.refused_handshakes(), 0, "every dial used a fresh ticket");
    };

    a_failed_commit_is_acked_500_and_the_redelivery_is_stored => |db: TestDatabase| async move {
        let dir = tempfile::tempdir().unwrap();
        let (fake, hub) = connected_hub(&db, dir.path()).await;

        inject_commit_failure(&db).await;
        let id = fake.send_event(FLOW_JSON);
        let acks = fake.wait_for_acks(&id, 1).await;
        assert_eq!(acks[0].code, Some(500), "the store refused, so Feishu must redeliver");
        assert!(acks[0].biz_rt.is_some());
        assert!(delivery_channels(&db, FLOW_EVENT_ID).await.is_empty());
        assert!(everything(&hub).await.is_empty());
        let (status, _) = healthz(&hub).await;
        assert_eq!(status, 200, "storage itself answers");

        remove_commit_failure(&db).await;
        fake.redeliver_unacked();
        let acks = fake.wait_for_acks(&id, 2).await;
        assert_eq!(acks[1].code, Some(200));
        let entries = everything(&hub).await;
        assert_eq!(entries.len(), 1);
        assert_eq!(the_punch(&entries[0]).record_id, FLOW_RECORD_ID);
        assert_eq!(delivery_channels(&db, FLOW_EVENT_ID).await.len(), 1);
        assert_eq!(fake.total_connections(), 1, "a refused commit does not cost the connection");
    };

    a_half_open_connection_is_noticed_and_replaced => |db: TestDatabase| async move {
        let dir = tempfile::tempdir().unwrap();
        let (fake, hub) = connected_hub(&db, dir.path()).await;

        // The TCP connection stays up, but nothing comes back, not even pongs.
        fake.go_silent();
        fake.wait_for_total_connections(2).await;
        // The hub closed the silent one itself.
        fake.wait_for_live_connections(1).await;
        assert!(fake.discoveries() >= 2);
        assert!(hub.log().contains("presumed dead"), "{}", hub.log());

        let id = fake.send_event(FLOW_JSON);
        let acks = fake.wait_for_acks(&id, 1).await;
        assert_eq!(acks[0].code, Some(200));
        assert_eq!(acks[0].connection, 2);
        assert_eq!(everything(&hub).await.len(), 1);
    };

    a_pong_can_change_the_ping_interval => |db: TestDatabase| async move {
        let fake = FakeFeishu::start().await;
        // Discovery says every 120 s; every pong says every second.
        fake.set_client_config(ClientConfig { ping_interval: 120, ..ClientConfig::fast() });
        fake.set_pong_config(Some(ClientConfig::fast()));
        let dir = tempfile::tempdir().unwrap();
        let hub = HubProcess::start(binary(), dir.path(), &config(&db, &fake)).await;
        // At 120 s, the third ping would take four minutes.
        fake.wait_for("three pings", |f| (f.pings() >= 3).then_some(())).await;
        assert_eq!(fake.total_connections(), 1);
        wait_for_state(&hub, "flows", "connected").await;
    };

    fatal_errors_stop_retrying_and_show_in_health => |db: TestDatabase| async move {
        let bad_secret = FakeFeishu::start().await;
        bad_secret.reject_discovery(10003, "invalid app_secret");
        let too_many = FakeFeishu::start().await;
        too_many.reject_handshake(HandshakeRejection::ExceedConnLimit);
        let banned = FakeFeishu::start().await;
        banned.reject_handshake(HandshakeRejection::Forbidden);
        // Busy only after a first connection: until a discovery succeeds, the
        // client retries on Feishu's defaults (a pause of up to 30 s, then
        // every 120 s), too slow for a test.
        let busy = FakeFeishu::start().await;
        let auth_failed = FakeFeishu::start().await;
        auth_failed.reject_handshake(HandshakeRejection::AuthFailed { autherrcode: 1_000_040_351 });

        let mut config = server_and_storage(&db);
        for (name, fake) in [
            ("bad-secret", &bad_secret),
            ("too-many", &too_many),
            ("banned", &banned),
            ("busy", &busy),
            ("auth-failed", &auth_failed),
        ] {
            config.push_str(&format!(
                "\n[[feishu]]\nname = \"{name}\"\napp_id = \"{APP_ID}\"\napp_secret = \"{APP_SECRET}\"\n\
                 verification_token = \"{FLOW_TOKEN}\"\nbase_url = \"{}\"\nlong_connection = true\n",
                fake.base_url()
            ));
        }
        config.push_str(&format!(
            "\n[[feishu]]\nname = \"webhook-only\"\napp_id = \"{APP_ID}\"\nverification_token = \"{FLOW_TOKEN}\"\n"
        ));
        let dir = tempfile::tempdir().unwrap();
        let hub = HubProcess::start(binary(), dir.path(), &config).await;

        let state = wait_for_state(&hub, "bad-secret", "failed").await;
        assert!(state.contains("10003") && state.contains("invalid app_secret"), "{state}");
        let state = wait_for_state(&hub, "too-many", "failed").await;
        assert!(state.contains("1000040350"), "{state}");
        let state = wait_for_state(&hub, "banned", "failed").await;
        assert!(state.contains("403"), "{state}");
        wait_for_state(&hub, "busy", "connected").await;
        busy.reject_discovery(1, "system busy");
        busy.drop_connections();
        wait_for_state_where(&hub, "busy", "reconnecting: system busy", |state| {
            state.starts_with("reconnecting") && state.contains("system busy (code 1)")
        })
        .await;
        wait_for_state(&hub, "auth-failed", "reconnecting").await;

        let (status, body) = healthz(&hub).await;
        assert_eq!(status, 200, "a failed connection is no storage outage: {body}");
        assert_eq!(body["status"], "ok");
        let reported = body["feishu_long_connections"].as_object().unwrap();
        assert_eq!(reported.len(), 5, "webhook-only apps have no connection: {body}");
        for name in ["bad-secret", "too-many", "banned", "busy", "auth-failed"] {
            assert_eq!(
                grpc_health(&hub, &format!("feishu.long_connection.{name}")).await,
                ServingStatus::NotServing,
                "{name}"
            );
        }
        assert_eq!(grpc_health(&hub, "").await, ServingStatus::Serving);

        // The retryable ones keep trying; by the time they have tried three
        // more times, the fatal ones would have tried again too.
        let (secret_tries, limit_tries, banned_tries) =
            (bad_secret.discoveries(), too_many.discoveries(), banned.discoveries());
        let busy_tries = busy.discoveries();
        busy.wait_for_discoveries(busy_tries + 3).await;
        let refused = auth_failed.refused_handshakes();
        auth_failed
            .wait_for("three more refused handshakes", |f| (f.refused_handshakes() >= refused + 3).then_some(()))
            .await;
        assert_eq!((secret_tries, limit_tries, banned_tries), (1, 1, 1));
        assert_eq!(bad_secret.discoveries(), 1, "no retry after a fatal discovery code");
        assert_eq!(too_many.discoveries(), 1, "no retry after 514/1000040350");
        assert_eq!(too_many.refused_handshakes(), 1);
        assert_eq!(banned.discoveries(), 1, "no retry after 403");

        // When the retryable causes go away, those two connect.
        busy.accept_discovery();
        auth_failed.accept_handshake();
        wait_for_state(&hub, "busy", "connected").await;
        wait_for_state(&hub, "auth-failed", "connected").await;
        wait_for_grpc_health(&hub, "feishu.long_connection.busy", ServingStatus::Serving).await;
        assert!(wait_for_state(&hub, "bad-secret", "failed").await.contains("10003"));
    };
}
