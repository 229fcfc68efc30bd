//! A failed-push item (either shape DingTalk reports) as the delivery its
//! push would have produced.

use attendance_proto::ingest::{Delivery, Recognition};
use attendance_proto::v1::Channel;
use attendance_proto::Timestamp;
use serde::Deserialize;
use serde_json::{Map, Value};
use sha1::{Digest, Sha1};

use crate::app::DingTalkApp;
use crate::translate::translate_body;
use crate::wire::FailedItem;

/// The delivery a failed push item stands for: translated exactly as its
/// push would have been, on [`Channel::FailedPushRecovery`], under the
/// push's event id when the payload carries one (so that a later push, or
/// an earlier one, dedups against it), else under an id derived from the
/// item's content (so that reading the same item twice stores it once).
///
/// The raw JSON kept is the event body, like a push's; an item whose body
/// cannot be found is kept whole and stored as untranslatable.
pub fn failed_push_delivery(app: &DingTalkApp, item: &Value, received_time: Timestamp) -> Delivery {
    let whole = item.to_string();
    let parsed: Result<FailedItem, String> =
        FailedItem::deserialize(item).map_err(|error| format!("failed item: {error}"));
    let (event_type, corp_id, event_time, payload) = match &parsed {
        Ok(failed) => (
            failed.call_back_tag.clone(),
            failed.corp_id().map(str::to_owned),
            failed.event_time,
            failed.payload(),
        ),
        Err(reason) => (String::new(), None, None, Err(reason.clone())),
    };
    let body: Result<Map<String, Value>, String> = payload.and_then(|value| match value {
        Value::Object(map) => Ok(map),
        _ => Err("the payload is not an object".into()),
    });
    let raw_json = match &body {
        Ok(map) => Value::Object(map.clone()).to_string(),
        Err(_) => whole.clone(),
    };
    let pushed_id = body.as_ref().ok().and_then(|map| {
        ["eventId", "EventId", "BizId"]
            .iter()
            .find_map(|key| map.get(*key)?.as_str().filter(|id| !id.is_empty()))
            .map(str::to_owned)
    });
    let event_id = pushed_id.unwrap_or_else(|| {
        let digest = Sha1::digest(whole.as_bytes());
        format!("failed-push:{}", hex::encode(digest))
    });
    let event_type = if event_type.is_empty() {
        "failed_push".to_owned()
    } else {
        event_type
    };
    let mut delivery = translate_body(
        app,
        Channel::FailedPushRecovery,
        &event_id,
        &event_type,
        corp_id.as_deref(),
        event_time,
        &raw_json,
        body,
        received_time,
    );
    if let (Err(reason), Recognition::Unknown) = (&parsed, &delivery.recognition) {
        delivery.recognition = Recognition::Untranslatable(reason.clone());
    }
    delivery
}
