//! Fixtures shared by the test modules; the recording sink and JSON edits
//! are the kit's, shared with the other vendors' tests.

pub use attendance_adapter_kit::testing::{edited, RecordingSink};
use attendance_feishu::{verify, FeishuApp, Recipient, Verified, VerifiedEvent};
use axum::http::HeaderMap;
use serde_json::Value;

pub const FLOW_JSON: &str = include_str!("../../../../examples/feishu/user_flow_created_v1.json");
pub const TASK_JSON: &str = include_str!("../../../../examples/feishu/user_task_updated_v1.json");

/// The verification token of both seed payloads' apps.
pub const FLOW_TOKEN: &str = "wz5vVgAqJ0cghdfdjdVuxeyTt8hvYHBg";

/// An app whose token and app id are whatever `json` carries, so any
/// fixture verifies (a webhook refuses an event of another app than its own).
pub fn app_for(json: &str) -> FeishuApp {
    let value: Value = serde_json::from_str(json).expect("fixture is JSON");
    let token = value["header"]["token"]
        .as_str()
        .or_else(|| value["token"].as_str())
        .expect("fixture has a token");
    let app_id = value["header"]["app_id"]
        .as_str()
        .or_else(|| value["event"]["app_id"].as_str())
        .unwrap_or("cli_configured");
    FeishuApp {
        name: "main".into(),
        app_id: app_id.into(),
        verification_token: token.into(),
        encrypt_key: None,
        time_zone: chrono_tz::Asia::Shanghai,
        pulls: true,
    }
}

/// The app the fixtures are translated for: the default zone, and pulls.
pub fn recipient() -> Recipient<'static> {
    recipient_in(chrono_tz::Asia::Shanghai)
}

/// The app the fixtures are translated for, configured with `zone`.
pub fn recipient_in(zone: chrono_tz::Tz) -> Recipient<'static> {
    Recipient {
        app: "main",
        zone,
        pulls: true,
    }
}

/// Verifies a plaintext fixture the way the webhook would.
pub fn verified(json: &str) -> VerifiedEvent {
    match verify(&app_for(json), &HeaderMap::new(), json.as_bytes()) {
        Ok(Verified::Event(event)) => event,
        other => panic!("fixture did not verify as an event: {other:?}"),
    }
}

/// The JSON as the hub keeps it: verbatim but for the verification token's value.
pub fn redacted(json: &str) -> String {
    let value: Value = serde_json::from_str(json).expect("test JSON parses");
    let token = value["header"]["token"]
        .as_str()
        .or(value["token"].as_str())
        .expect("test JSON carries a token");
    json.replace(&format!("\"{token}\""), "\"**REDACTED**\"")
}
