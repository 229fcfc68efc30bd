//! Hostile input against the real binary: every body of the committed
//! corpus (`tests/hostile/`, and the large inputs made at test time) posted
//! to a Feishu webhook with an encrypt key and to a DingTalk HTTP callback,
//! unsigned, signed and sealed, is refused with a 4xx in the one error shape
//! and changes nothing in the store; then a valid event of each vendor is
//! still accepted and stored. On a fresh SQLite file and, when
//! `HUB_TEST_POSTGRES_URL` is set, a fresh PostgreSQL database.

use attendance_adapter_kit::testing::hostile::{every_corpus, Hostile};
use attendance_proto::v1::{GetIngestStatsRequest, GetIngestStatsResponse};
use attendance_testkit::dingtalk::DingTalkCallbackSender;
use attendance_testkit::feishu::FeishuWebhookSender;
use attendance_testkit::hub::HubProcess;
use attendance_testkit::TestDatabase;
use serde_json::Value;

mod support;
use support::*;

const ENCRYPT_KEY: &str = "hostile-encrypt-key";
const DINGTALK_CLIENT_ID: &str = "dinghostileclient";
const DINGTALK_TOKEN: &str = "hostile-callback-token";
const DINGTALK_AES_KEY: &str = "Yue0EfdN5900c1ce5cf6A152c63DDe1808a60c5ecd7";

fn config(db: &TestDatabase) -> String {
    format!(
        r#"{server}
[[feishu]]
name = "secure"
app_id = "cli_a0c203e66cf8100c"
verification_token = "{FLOW_TOKEN}"
encrypt_key = "{ENCRYPT_KEY}"

[[dingtalk]]
name = "callbacks"
client_id = "{DINGTALK_CLIENT_ID}"
client_secret = "hostile-client-secret"
stream = false
callback_token = "{DINGTALK_TOKEN}"
callback_aes_key = "{DINGTALK_AES_KEY}"
failed_push_poll_seconds = 0
# No test here calls DingTalk: a closed port, should anything try.
api_base_url = "http://127.0.0.1:9"
oapi_base_url = "http://127.0.0.1:9"
"#,
        server = server_and_storage(db)
    )
}

/// The answer is a refusal in the one error shape: a 4xx and
/// `{"error":{"code":"…","message":"…"}}`.
fn assert_refused(input: &Hostile, how: &str, status: u16, body: &str) {
    assert!(
        (400..500).contains(&status),
        "{} {how}: {status} {body}",
        input.name
    );
    let json: Value = serde_json::from_str(body)
        .unwrap_or_else(|_| panic!("{} {how}: not JSON: {body}", input.name));
    assert!(
        json["error"]["code"]
            .as_str()
            .is_some_and(|code| !code.is_empty()),
        "{} {how}: {body}",
        input.name
    );
    assert!(
        json["error"]["message"].is_string(),
        "{} {how}: {body}",
        input.name
    );
}

async fn stats(hub: &HubProcess) -> GetIngestStatsResponse {
    admin(hub)
        .await
        .get_ingest_stats(GetIngestStatsRequest {})
        .await
        .expect("GetIngestStats answers")
        .into_inner()
}

async fn deliveries(db: &TestDatabase) -> i64 {
    db.integers("SELECT COUNT(*) FROM deliveries WHERE event_id <> $1", "")
        .await[0]
}

on_both_backends! {
    every_hostile_body_is_refused_and_changes_nothing => |db: TestDatabase| async move {
        let dir = tempfile::tempdir().unwrap();
        let hub = HubProcess::start(binary(), dir.path(), &config(&db)).await;
        let http = hub.http_url();
        let feishu = FeishuWebhookSender::new(&http, "secure", Some(ENCRYPT_KEY));
        let dingtalk = DingTalkCallbackSender::new(
            &http, "callbacks", DINGTALK_TOKEN, DINGTALK_AES_KEY, DINGTALK_CLIENT_ID,
        );
        let before = stats(&hub).await;
        assert_eq!(deliveries(&db).await, 0);

        let inputs = every_corpus();
        assert!(inputs.len() > 100, "the corpus has {} inputs", inputs.len());
        for input in &inputs {
            let body = input.bytes.clone();
            let answer = feishu.post_raw(body.clone(), &[]).await;
            assert_refused(input, "feishu unsigned", answer.status, &answer.body);
            let answer = feishu.post_signed(body.clone()).await;
            assert_refused(input, "feishu signed", answer.status, &answer.body);
            let sealed = serde_json::json!({
                "encrypt": attendance_feishu::crypto::encrypt(ENCRYPT_KEY, &body, [9; 16]),
            });
            let answer = feishu.post_signed(sealed.to_string().into_bytes()).await;
            assert_refused(input, "feishu sealed", answer.status, &answer.body);

            let answer = dingtalk.post_raw(body.clone(), &[]).await;
            assert_refused(input, "dingtalk unsigned", answer.status, &answer.body);
            if let Some(encrypt) = input.encrypt() {
                // Signed right, so that the hub's decryption must refuse it.
                let signature = attendance_dingtalk::crypto::signature(
                    DINGTALK_TOKEN, "1700000000000", "n0nce", &encrypt,
                );
                let answer = dingtalk.post_raw(body.clone(), &[
                    ("msg_signature", &signature), ("timestamp", "1700000000000"), ("nonce", "n0nce"),
                ]).await;
                assert_refused(input, "dingtalk signed", answer.status, &answer.body);
            }
            if let Some(text) = input.text() {
                let answer = dingtalk.post(text).await;
                assert_refused(input, "dingtalk sealed", answer.status, &answer.body);
            }
        }

        // Nothing of that barrage reached the store.
        assert_eq!(stats(&hub).await, before, "ingest counts changed");
        assert_eq!(deliveries(&db).await, 0, "a delivery was stored");
        assert!(everything(&hub).await.is_empty(), "the log grew");

        // The hub still works: a valid Feishu punch is stored as a fact...
        let answer = feishu.post_encrypted(FLOW_JSON).await;
        assert_eq!(answer.status, 200, "{}", answer.body);
        assert_eq!(everything(&hub).await.len(), 1);
        // ...and a valid DingTalk callback of a type the hub does not know
        // is stored raw, as every unknown type is.
        let probe = r#"{"EventType":"hostile_suite_probe","eventId":"probe-1","CorpId":"dinghostilecorp"}"#;
        let answer = dingtalk.post(probe).await;
        assert_eq!(answer.status, 200, "{}", answer.body);
        let after = stats(&hub).await;
        assert_eq!(after.deliveries_translated, before.deliveries_translated + 1);
        assert_eq!(after.deliveries_unknown, before.deliveries_unknown + 1);
        assert_eq!(deliveries(&db).await, 2);
        assert_eq!(hub.terminate().await.code(), Some(0), "graceful exit on SIGTERM");
    };
}
