//! Test helpers for vendor crates (feature `test-util`): a sink that records
//! or refuses deliveries, a router driven in-process with one request and
//! its reply read as JSON, JSON fixtures edited in place, and the check of
//! a pushed punch; and the pieces of the vendors' mapping expectation tests
//! (`expect`); the corpus of hostile input (`hostile`).

pub mod expect;
pub mod hostile;

use std::sync::Mutex;

use async_trait::async_trait;
use attendance_proto::ingest::{Delivery, DeliverySink, Fact, Receipt, SinkError};
use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::Router;
use serde_json::Value;
use tower::ServiceExt;

/// Records every delivery it is given, or refuses them all.
#[derive(Default)]
pub struct RecordingSink {
    // A std Mutex: it is never held across an await.
    deliveries: Mutex<Vec<Delivery>>,
    pub fail: bool,
}

impl RecordingSink {
    pub fn failing() -> Self {
        RecordingSink {
            fail: true,
            ..Default::default()
        }
    }

    pub fn deliveries(&self) -> Vec<Delivery> {
        self.deliveries.lock().unwrap().clone()
    }
}

#[async_trait]
impl DeliverySink for RecordingSink {
    async fn commit(&self, delivery: Delivery) -> Result<Receipt, SinkError> {
        if self.fail {
            return Err(SinkError::Unavailable("test sink refuses".into()));
        }
        let appended = delivery.facts.len();
        self.deliveries.lock().unwrap().push(delivery);
        Ok(Receipt {
            appended,
            ..Default::default()
        })
    }
}

/// A router's reply, its body JSON.
pub struct Reply {
    pub status: StatusCode,
    pub content_type: String,
    pub body: Value,
}

impl Reply {
    /// The reply is the one error shape, with this status and code.
    pub fn assert_error(&self, status: StatusCode, code: &str) {
        assert_eq!(self.status, status, "{}", self.body);
        assert_eq!(self.body["error"]["code"], code, "{}", self.body);
        assert!(self.body["error"]["message"].is_string());
        assert!(self.content_type.starts_with("application/json"));
    }
}

/// Sends `request` to `router` in-process; a reply that is not JSON panics.
pub async fn send(router: Router, request: Request<Body>) -> Reply {
    let response = router.oneshot(request).await.unwrap();
    let status = response.status();
    let content_type = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap();
    let body = serde_json::from_slice(&bytes)
        .unwrap_or_else(|_| panic!("non-JSON reply: {}", String::from_utf8_lossy(&bytes)));
    Reply {
        status,
        content_type,
        body,
    }
}

/// Applies `edit` to the JSON text and returns the new text.
pub fn edited(json: &str, edit: impl FnOnce(&mut Value)) -> String {
    let mut value: Value = serde_json::from_str(json).unwrap();
    edit(&mut value);
    serde_json::to_string(&value).unwrap()
}

/// The delivery's one fact is a punch by `employee_id`, stamped with the
/// time the hub received it (now, not a fixture's time).
pub fn assert_one_punch_received_now(delivery: &Delivery, employee_id: &str) {
    match &delivery.facts[..] {
        [Fact::Punch(punch)] => {
            assert_eq!(punch.employee_id, employee_id);
            let received = punch.provenance.as_ref().unwrap().received_time.unwrap();
            assert!(received.seconds > 1_700_000_000, "the received time is now");
        }
        other => panic!("expected one punch, got {other:?}"),
    }
}
