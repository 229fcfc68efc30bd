//! DingTalk Stream mode and HTTP callbacks end to end, over real sockets: the
//! real `attendance-hub` binary registers with a fake DingTalk
//! (`attendance_testkit::fake_dingtalk`: `connections/open` over HTTP, JSON
//! frames over a WebSocket, the open APIs beside them), commits into a fresh
//! SQLite file and, when `HUB_TEST_POSTGRES_URL` is set, a fresh PostgreSQL
//! database, and serves a gRPC subscriber. Callbacks are sealed and signed
//! the way DingTalk does it.
//!
//! Faults are real too: connections are cut, told to disconnect or fall
//! silent on the fake's side, and a commit failure is a trigger in the hub's
//! own database.

use std::path::Path;
use std::time::Duration;

use attendance_proto::v1::{
    log_entry, subscribe_request, Channel as DeliveryChannel, LogEntry, Punch,
};
use attendance_testkit::dingtalk::DingTalkCallbackSender;
use attendance_testkit::fake_dingtalk::{
    ClosedBy, ConnectionEvent, FakeDingTalk, FakeGateway, CLIENT_ID, CLIENT_SECRET, CORP_ID,
};
use attendance_testkit::fake_dingtalk_api::FakeDingTalkApi;
use attendance_testkit::hub::HubProcess;
use attendance_testkit::TestDatabase;
use serde_json::{json, Value};
use tonic_health::pb::health_check_response::ServingStatus;

mod support;
use support::*;

const APP: &str = "acme";
const PUNCH_EVENT: &str = "attendance_check_record";
/// The `data` of `shared/fixtures/dingtalk/stream_attendance_check_record.json`.
const PUNCH_DATA: &str = r#"{"dataList": [{"address": "中国科学院物理研究所(浙江海外高层次人才创新园东)", "corpId": "ding9f50b15b16741", "checkTime": 1570791880000, "locationResult": "Normal", "groupId": "4C63AB12", "latitude": 30.285230848524307, "bizId": "FF62CD34", "locationMethod": "MAP", "userId": "0126501", "deviceSN": "160xxxxx6KN0294", "checkByUser": true, "longitude": 120.01713514539931}]}"#;
const PUNCH_BIZ_ID: &str = "FF62CD34";
const PUNCH_USER: &str = "0126501";
/// The console's callback token and aes_key (protocol notes, vector V1).
const TOKEN: &str = "mryue";
const AES_KEY: &str = "Yue0EfdN5900c1ce5cf6A152c63DDe1808a60c5ecd7";

/// Another punch: its own bizId, employee and instant.
fn punch_data(biz_id: &str, user_id: &str, check_ms: i64) -> String {
    PUNCH_DATA
        .replace(PUNCH_BIZ_ID, biz_id)
        .replace(PUNCH_USER, user_id)
        .replace("1570791880000", &check_ms.to_string())
}

/// One app, `acme`, on Stream and HTTP callbacks, with every DingTalk URL on
/// `fake` (so that trigger pulls reach the fake's API, never DingTalk).
fn config(db: &TestDatabase, fake: &FakeDingTalk) -> String {
    format!(
        r#"{server}
[reconciliation]
enabled = false

[[dingtalk]]
failed_push_poll_seconds = 0
name = "{APP}"
client_id = "{CLIENT_ID}"
client_secret = "{CLIENT_SECRET}"
corp_id = "{CORP_ID}"
stream = true
callback_token = "{TOKEN}"
callback_aes_key = "{AES_KEY}"
api_base_url = "{base}"
oapi_base_url = "{base}"
"#,
        server = server_and_storage(db),
        base = fake.base_url(),
    )
}

/// The fake Stream gateway with the fake open APIs merged beside it.
async fn fake_dingtalk() -> FakeDingTalk {
    let api = FakeDingTalkApi::new(CLIENT_ID, CLIENT_SECRET);
    api.set_corp_id(CORP_ID);
    FakeDingTalk::start_with(api.router()).await
}

/// Starts the fake and a hub connected to it.
async fn connected_hub(db: &TestDatabase, dir: &Path) -> (FakeDingTalk, HubProcess) {
    let fake = fake_dingtalk().await;
    let hub = HubProcess::start(binary(), dir, &config(db, &fake)).await;
    fake.wait_for_live_connections(1).await;
    wait_for_state(&hub, APP, "connected").await;
    (fake, hub)
}

/// Polls `/healthz` until the app's stream reports a state that starts with
/// `prefix`; returns that state.
async fn wait_for_state(hub: &HubProcess, app: &str, prefix: &str) -> String {
    wait_for_health_state(hub, "dingtalk_streams", app, prefix, |state| {
        state.starts_with(prefix)
    })
    .await
}

fn punch_of(entry: &LogEntry) -> Option<&Punch> {
    match &entry.fact {
        Some(log_entry::Fact::Punch(punch)) => Some(punch),
        _ => None,
    }
}

/// Every punch in the log, as a subscriber from the beginning sees it (trigger
/// pulls may add other entries; they are not what these tests are about).
async fn punches(hub: &HubProcess) -> Vec<Punch> {
    everything(hub)
        .await
        .iter()
        .filter_map(punch_of)
        .cloned()
        .collect()
}

/// The position of a connection event in the fake's history.
fn position(history: &[ConnectionEvent], wanted: ConnectionEvent) -> usize {
    history
        .iter()
        .position(|event| *event == wanted)
        .unwrap_or_else(|| panic!("{wanted:?} not in {history:?}"))
}

on_both_backends! {
    an_event_is_acknowledged_success_only_once_it_is_stored => |db: TestDatabase| async move {
        let dir = tempfile::tempdir().unwrap();
        let (fake, hub) = connected_hub(&db, dir.path()).await;

        // Registration as the protocol asks for it.
        let open = &fake.open_requests()[0];
        assert_eq!(open.client_id, CLIENT_ID);
        assert_eq!(open.client_secret, CLIENT_SECRET);
        assert_eq!(open.subscriptions, json!([{"type": "EVENT", "topic": "*"}]));
        assert_eq!(open.accept.as_deref(), Some("application/json"));
        assert_eq!(open.local_ip.as_deref(), Some("127.0.0.1"));
        let ua = open.ua.as_deref().unwrap_or_default();
        assert!(ua.starts_with("attendance-hub-rust/v"), "{ua}");
        assert!(!hub.log().contains(CLIENT_SECRET), "the secret never reaches the log");

        let (status, body) = healthz(&hub).await;
        assert_eq!(status, 200);
        assert_eq!(body["dingtalk_streams"][APP], "connected", "{body}");
        assert_eq!(grpc_health(&hub, &format!("dingtalk.stream.{APP}")).await, ServingStatus::Serving);
        let app_label = format!("app=\"{APP}\"");
        let up = metric(&scrape(&hub).await, "attendance_hub_vendor_connection_up", &["connection=\"dingtalk_streams\"", &app_label]);
        assert_eq!(up, 1.0);

        let mut live = open_stream(&hub, Some(subscribe_request::Start::FromNow(true))).await;
        let id = fake.send_event(PUNCH_EVENT, PUNCH_DATA);
        let event_id = fake.event_id(&id);
        let acks = fake.wait_for_success(&id).await;
        assert_eq!(acks.len(), 1, "{acks:?}");
        assert_eq!(acks[0].code, Some(200));
        assert_eq!(acks[0].json["headers"]["messageId"], id.as_str());
        assert_eq!(acks[0].json["headers"]["contentType"], "application/json");
        // Acked after the commit: the moment the ack is in, the event is stored.
        assert_eq!(delivery_channels(&db, &event_id).await, [DeliveryChannel::Stream as i64]);

        let (entries, _) = entries_until_idle(&mut live).await;
        let punches: Vec<&Punch> = entries.iter().filter_map(punch_of).collect();
        assert_eq!(punches.len(), 1, "{entries:#?}");
        let punch = punches[0];
        // Keyed on its instant; bizId is neither its key nor its record id.

        assert!(punch.business_key.ends_with(&format!("/{PUNCH_USER}/1570791880000")), "{}", punch.business_key);

        assert_eq!(punch.record_id, "");
        assert_eq!(punch.employee_id, PUNCH_USER);
        let provenance = punch.provenance.as_ref().unwrap();
        assert_eq!(provenance.channel, DeliveryChannel::Stream as i32);
        assert_eq!(provenance.event_id, event_id);
        assert_eq!(provenance.event_type, PUNCH_EVENT);
        assert!(punch.raw_json.contains("中国科学院物理研究所"), "{}", punch.raw_json);

        // The same event again (DingTalk's duplicates): acknowledged, nothing new.
        let again = fake.send_event_with_id(PUNCH_EVENT, &event_id, PUNCH_DATA);
        assert!(fake.wait_for_success(&again).await.iter().all(|ack| ack.connection == 1));
        let (entries, _) = entries_until_idle(&mut live).await;
        assert!(entries.iter().all(|e| punch_of(e).is_none()), "{entries:#?}");
        assert_eq!(delivery_channels(&db, &event_id).await.len(), 1);

        // The source shows its state and its one retained delivery.
        let sources = admin(&hub).await
            .list_sources(attendance_proto::v1::ListSourcesRequest {}).await.unwrap().into_inner().sources;
        let stream: Vec<_> = sources.iter().filter(|s| s.channel == DeliveryChannel::Stream as i32).collect();
        assert_eq!(stream.len(), 1, "{sources:#?}");
        assert_eq!((stream[0].app.as_str(), stream[0].state.as_str()), (APP, "connected"));
        assert_eq!(stream[0].vendor, attendance_proto::v1::Vendor::Dingtalk as i32);
        assert_eq!(stream[0].retained_deliveries, 1);
        let newest = stream[0].last_delivery_time.expect("a delivery time");
        let age = std::time::SystemTime::now().duration_since(std::time::SystemTime::try_from(newest).unwrap()).unwrap();
        assert!(age < std::time::Duration::from_secs(600), "{age:?}");

        // A graceful stop closes the WebSocket with a close frame.
        assert_eq!(hub.terminate().await.code(), Some(0));
        fake.wait_for("the hub's close", |f| f.closed_by(1)).await;
        assert_eq!(fake.closed_by(1), Some(ClosedBy::Client { clean: true }));
    };

    an_event_whose_ack_never_came_is_redelivered_and_stored_once => |db: TestDatabase| async move {
        let dir = tempfile::tempdir().unwrap();
        let (fake, hub) = connected_hub(&db, dir.path()).await;

        // The fake cuts the connection right after the frame: no ack can
        // come back on it, whatever the hub did with the event.
        let id = fake.send_event_then_drop(PUNCH_EVENT, PUNCH_DATA);
        let event_id = fake.event_id(&id);
        fake.wait_for_total_connections(2).await;
        let acks = fake.wait_for_success(&id).await;
        assert!(acks.iter().all(|ack| ack.connection >= 2), "nothing came back on the cut connection: {acks:?}");
        let deliveries = fake.deliveries(&id);
        assert!(deliveries.len() >= 2 && deliveries[0] == 1, "redelivered on the new connection: {deliveries:?}");
        assert!(fake.opens() >= 2, "a reconnect registers again");
        assert_eq!(fake.refused_handshakes(), 0, "every dial used a fresh ticket");
        wait_for_state(&hub, APP, "connected").await;

        assert_eq!(delivery_channels(&db, &event_id).await, [DeliveryChannel::Stream as i64]);
        let punches = punches(&hub).await;
        assert_eq!(punches.len(), 1, "stored once: {punches:#?}");
        // Keyed on its instant; bizId is neither its key nor its record id.

        assert!(punches[0].business_key.ends_with(&format!("/{PUNCH_USER}/1570791880000")), "{}", punches[0].business_key);

        assert_eq!(punches[0].record_id, "");
    };

    a_failed_commit_is_acknowledged_later_and_the_redelivery_stored_once => |db: TestDatabase| async move {
        let dir = tempfile::tempdir().unwrap();
        let (fake, hub) = connected_hub(&db, dir.path()).await;

        inject_commit_failure(&db).await;
        let id = fake.send_event(PUNCH_EVENT, PUNCH_DATA);
        let event_id = fake.event_id(&id);
        let acks = fake.wait_for_acks(&id, 1).await;
        assert_eq!(acks[0].status.as_deref(), Some("LATER"), "the store refused: {acks:?}");
        assert_eq!(acks[0].code, Some(200));
        assert!(delivery_channels(&db, &event_id).await.is_empty());
        assert!(punches(&hub).await.is_empty());
        let (status, _) = healthz(&hub).await;
        assert_eq!(status, 200, "storage itself answers");

        remove_commit_failure(&db).await;
        // The fake redelivers what was acknowledged LATER.
        let acks = fake.wait_for_success(&id).await;
        let success = acks.iter().position(|ack| ack.is_success()).unwrap();
        assert!(success >= 1, "{acks:?}");
        assert!(
            acks[..success].iter().all(|ack| ack.status.as_deref() == Some("LATER")),
            "every ack before the commit was LATER: {acks:?}"
        );
        assert!(fake.deliveries(&id).len() >= 2);
        assert_eq!(delivery_channels(&db, &event_id).await, [DeliveryChannel::Stream as i64]);
        let punches = punches(&hub).await;
        assert_eq!(punches.len(), 1, "{punches:#?}");
        // Keyed on its instant; bizId is neither its key nor its record id.

        assert!(punches[0].business_key.ends_with(&format!("/{PUNCH_USER}/1570791880000")), "{}", punches[0].business_key);

        assert_eq!(punches[0].record_id, "");
        assert_eq!(fake.total_connections(), 1, "a refused commit does not cost the connection");
    };

    a_disconnect_opens_the_new_connection_first_and_loses_nothing => |db: TestDatabase| async move {
        let dir = tempfile::tempdir().unwrap();
        let (fake, hub) = connected_hub(&db, dir.path()).await;
        // Long enough that only the hub can have closed the old connection.
        fake.set_disconnect_grace(Duration::from_secs(60));

        let before = fake.send_event(PUNCH_EVENT, &punch_data("BIZ-BEFORE", "u1", 1_700_000_000_000));
        fake.wait_for_success(&before).await;
        // One event in flight as the disconnect comes, one sent while the
        // old connection takes no more pushes.
        let in_flight = fake.send_event(PUNCH_EVENT, &punch_data("BIZ-IN-FLIGHT", "u2", 1_700_000_060_000));
        let (disconnect, old) = fake.send_disconnect();
        assert_eq!(old, 1);
        let meanwhile = fake.send_event(PUNCH_EVENT, &punch_data("BIZ-MEANWHILE", "u3", 1_700_000_120_000));

        let replies = fake.wait_for_reply(&disconnect).await;
        assert_eq!(replies[0].code, Some(200), "{replies:?}");
        assert_eq!(replies[0].connection, 1, "acknowledged where it came");
        fake.wait_for_success(&in_flight).await;
        let acks = fake.wait_for_success(&meanwhile).await;
        assert!(acks.iter().all(|ack| ack.connection == 2), "{acks:?}");

        // Make before break: the new connection was up before the old one
        // went, and the hub (not the fake's grace period) closed it cleanly.
        fake.wait_for_live_connections(1).await;
        assert_eq!(fake.total_connections(), 2);
        assert_eq!(fake.closed_by(1), Some(ClosedBy::Client { clean: true }));
        let history = fake.connection_events();
        assert!(
            position(&history, ConnectionEvent::Opened(2))
                < position(&history, ConnectionEvent::Closed { connection: 1, by: ClosedBy::Client { clean: true } }),
            "{history:?}"
        );
        assert_eq!(wait_for_state(&hub, APP, "connected").await, "connected");

        // Exactly one live connection takes what comes next.
        let after = fake.send_event(PUNCH_EVENT, &punch_data("BIZ-AFTER", "u4", 1_700_000_180_000));
        assert!(fake.wait_for_success(&after).await.iter().all(|ack| ack.connection == 2));
        assert_eq!(fake.live_connections(), 1);

        // One punch per employee (a push carries no record id, and bizId is not one).
        let mut stored: Vec<String> = punches(&hub).await.into_iter().map(|p| p.employee_id).collect();
        stored.sort();
        assert_eq!(stored, ["u1", "u2", "u3", "u4"]);
        for id in [&before, &in_flight, &meanwhile, &after] {
            assert_eq!(delivery_channels(&db, &fake.event_id(id)).await.len(), 1);
        }
    };

    a_ping_is_echoed_with_its_opaque => |db: TestDatabase| async move {
        let dir = tempfile::tempdir().unwrap();
        let (fake, _hub) = connected_hub(&db, dir.path()).await;

        let id = fake.send_ping();
        let replies = fake.wait_for_reply(&id).await;
        assert_eq!(replies.len(), 1, "{replies:?}");
        let echo = &replies[0];
        assert_eq!(echo.code, Some(200));
        assert_eq!(echo.data.as_deref(), Some(echo.sent_data.as_str()), "the opaque comes back verbatim");
        assert!(echo.sent_data.contains("opaque"));
        assert_eq!(echo.json["headers"]["messageId"], id.as_str());
        assert_eq!(echo.json["headers"]["contentType"], "application/json");

        // The fake's own timer pings are answered as well.
        fake.set_ping_interval(Some(Duration::from_millis(200)));
        fake.wait_for("three echoed pings", |f| (f.system_replies("ping").len() >= 3).then_some(())).await;
        assert!(fake.system_replies("ping").iter().all(|echo| echo.data.as_deref() == Some(echo.sent_data.as_str())));
        assert_eq!(fake.total_connections(), 1);
    };

    a_silent_connection_is_detected_and_replaced => |db: TestDatabase| async move {
        let dir = tempfile::tempdir().unwrap();
        let (fake, hub) = connected_hub(&db, dir.path()).await;

        // Half-open: the connection stays up and still answers WebSocket
        // pings, but no frame comes any more (not even DingTalk's pings).
        fake.go_silent();
        fake.wait_for_total_connections(2).await;
        // The hub closed the silent one itself, after its successor was up.
        fake.wait_for_live_connections(1).await;
        assert!(matches!(fake.closed_by(1), Some(ClosedBy::Client { .. })), "{:?}", fake.connection_events());
        let history = fake.connection_events();
        assert!(
            position(&history, ConnectionEvent::Opened(2))
                < history.iter().position(|e| matches!(e, ConnectionEvent::Closed { connection: 1, .. })).unwrap(),
            "{history:?}"
        );
        assert!(fake.opens() >= 2);
        assert!(hub.log().contains("presumed dead"), "{}", hub.log());

        let id = fake.send_event(PUNCH_EVENT, PUNCH_DATA);
        let acks = fake.wait_for_success(&id).await;
        assert!(acks.iter().all(|ack| ack.connection == 2), "{acks:?}");
        assert_eq!(punches(&hub).await.len(), 1);
        assert_eq!(wait_for_state(&hub, APP, "connected").await, "connected");
    };

    a_refused_registration_is_retried_and_shows_in_health => |db: TestDatabase| async move {
        let fake = fake_dingtalk().await;
        fake.reject_open(503, r#"{"code":"ServiceUnavailable","message":"busy"}"#);
        let dir = tempfile::tempdir().unwrap();
        let hub = HubProcess::start(binary(), dir.path(), &config(&db, &fake)).await;

        let state = wait_for_state(&hub, APP, "reconnecting").await;
        assert!(state.contains("503"), "{state}");
        let (status, body) = healthz(&hub).await;
        assert_eq!(status, 200, "a refused registration is no storage outage: {body}");
        assert_eq!(
            grpc_health(&hub, &format!("dingtalk.stream.{APP}")).await,
            ServingStatus::NotServing
        );
        assert_eq!(grpc_health(&hub, "").await, ServingStatus::Serving);
        // It keeps trying (with growing pauses), and never dials without a ticket.
        fake.wait_for_opens(3).await;
        assert_eq!(fake.total_connections(), 0);
        assert_eq!(fake.refused_handshakes(), 0);

        // Wrong credentials are refused the same way, and retried too.
        fake.accept_open();
        fake.set_credentials(CLIENT_ID, "rotated-secret");
        // The fake counts an open when it answers; the hub publishes the
        // state a moment later, so wait for the state that names the 400.
        wait_for_health_state(&hub, "dingtalk_streams", APP, "reconnecting after a 400", |state| {
            state.starts_with("reconnecting") && state.contains("400")
        })
        .await;

        fake.set_credentials(CLIENT_ID, CLIENT_SECRET);
        wait_for_state(&hub, APP, "connected").await;
        wait_for_grpc_health(&hub, &format!("dingtalk.stream.{APP}"), ServingStatus::Serving).await;
        fake.wait_for_live_connections(1).await;
        let id = fake.send_event(PUNCH_EVENT, PUNCH_DATA);
        fake.wait_for_success(&id).await;
    };

    a_signed_encrypted_callback_is_answered_with_encrypted_success_and_stored => |db: TestDatabase| async move {
        let dir = tempfile::tempdir().unwrap();
        let (fake, hub) = connected_hub(&db, dir.path()).await;
        let sender = DingTalkCallbackSender::new(&hub.http_url(), APP, TOKEN, AES_KEY, CLIENT_ID);
        let event_id = "http-callback-event-1";
        let callback = json!({
            "EventType": PUNCH_EVENT,
            "EventTime": 1_663_143_335_567_i64,
            "CorpId": CORP_ID,
            "BizId": "1663143335567",
            "eventId": event_id,
            "dataList": serde_json::from_str::<Value>(PUNCH_DATA).unwrap()["dataList"],
        })
        .to_string();

        let answer = sender.post(&callback).await;
        assert_eq!(answer.status, 200, "{}", answer.body);
        let (message, owner) = sender.open_reply(&answer).expect("a sealed, signed answer");
        assert_eq!(message, "success");
        assert_eq!(owner, CLIENT_ID);
        assert_eq!(delivery_channels(&db, event_id).await, [DeliveryChannel::HttpCallback as i64]);
        let stored = punches(&hub).await;
        assert_eq!(stored.len(), 1, "{stored:#?}");
        // Keyed on its instant; bizId is neither its key nor its record id.

        assert!(stored[0].business_key.ends_with(&format!("/{PUNCH_USER}/1570791880000")), "{}", stored[0].business_key);

        assert_eq!(stored[0].record_id, "");
        assert_eq!(stored[0].provenance.as_ref().unwrap().channel, DeliveryChannel::HttpCallback as i32);

        // DingTalk retries: the same callback again is answered, nothing new.
        let again = sender.post(&callback).await;
        assert_eq!(again.status, 200, "{}", again.body);
        // The same event over Stream as well: one delivery, one punch.
        let id = fake.send_event_with_id(PUNCH_EVENT, event_id, PUNCH_DATA);
        fake.wait_for_success(&id).await;
        assert_eq!(delivery_channels(&db, event_id).await, [DeliveryChannel::HttpCallback as i64]);
        assert_eq!(punches(&hub).await.len(), 1);
    };

    a_callback_with_a_wrong_signature_is_refused_and_nothing_is_stored => |db: TestDatabase| async move {
        let dir = tempfile::tempdir().unwrap();
        let (_fake, hub) = connected_hub(&db, dir.path()).await;
        let sender = DingTalkCallbackSender::new(&hub.http_url(), APP, TOKEN, AES_KEY, CLIENT_ID);
        let event_id = "http-callback-forged";
        let callback = json!({
            "EventType": PUNCH_EVENT,
            "CorpId": CORP_ID,
            "eventId": event_id,
            "dataList": serde_json::from_str::<Value>(PUNCH_DATA).unwrap()["dataList"],
        })
        .to_string();

        // Sealed with the right key, signed with the wrong token.
        let mut sealed = sender.seal(&callback);
        sealed.signature = attendance_dingtalk::crypto::signature("not-the-token", &sealed.timestamp, &sealed.nonce, &sealed.encrypt);
        let answer = sender.post_sealed(&sealed).await;
        assert_eq!(answer.status, 401, "{}", answer.body);
        assert_eq!(answer.json()["error"]["code"], "INVALID_SIGNATURE");
        // Without any signature.
        let answer = sender.post_raw(sealed.body().into_bytes(), &[("timestamp", &sealed.timestamp), ("nonce", &sealed.nonce)]).await;
        assert_eq!(answer.status, 401, "{}", answer.body);

        assert!(delivery_channels(&db, event_id).await.is_empty());
        assert!(punches(&hub).await.is_empty());
        // The same body, rightly signed, is taken: the refusal was the signature's.
        let answer = sender.post_sealed(&sender.seal(&callback)).await;
        assert_eq!(answer.status, 200, "{}", answer.body);
        assert_eq!(delivery_channels(&db, event_id).await.len(), 1);
    };
}
