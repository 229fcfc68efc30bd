//! DingTalk's stored deliveries translated again under the current mapping,
//! by the channel they came through: a callback's decrypted body, a Stream
//! event's `data`, a failed-push item. The JSON was verified when it arrived.

use std::time::UNIX_EPOCH;

use attendance_adapter_kit::rederive::{untranslatable, Retranslator};
use attendance_proto::hub::StoredDelivery;
use attendance_proto::ingest::Delivery;
use attendance_proto::v1::{Channel, Vendor};
use attendance_proto::Timestamp;
use serde_json::Value;

use crate::app::DingTalkApp;
use crate::pull::failed_push_delivery;
use crate::translate::{translate_body, translate_callback};
use crate::verify::reverify_stored_callback;

/// One app's re-derivation.
pub struct DingTalkRetranslator {
    pub app: DingTalkApp,
}

impl Retranslator for DingTalkRetranslator {
    fn vendor(&self) -> Vendor {
        Vendor::Dingtalk
    }

    fn app(&self) -> &str {
        &self.app.name
    }

    fn retranslate(&self, stored: &StoredDelivery) -> Delivery {
        let received = timestamp(stored);
        match stored.channel {
            Channel::HttpCallback => match reverify_stored_callback(&self.app, &stored.raw_json) {
                Ok(callback) => translate_callback(&callback, received),
                Err(error) => untranslatable(stored, error.to_string()),
            },
            Channel::Stream => {
                let body = match serde_json::from_str::<Value>(&stored.raw_json) {
                    Ok(Value::Object(map)) => Ok(map),
                    _ => Err("data is not a JSON object".to_owned()),
                };
                // The frame's headers were not kept: the tenant stands for
                // its corp and the arrival for its born time, which stays in
                // vendor order with the events around it.
                let tenant = (!stored.tenant.is_empty()).then_some(stored.tenant.as_str());
                translate_body(
                    &self.app,
                    Channel::Stream,
                    &stored.event_id,
                    &stored.event_type,
                    tenant,
                    Some(millis(stored)),
                    &stored.raw_json,
                    body,
                    received,
                )
            }
            Channel::FailedPushRecovery => match serde_json::from_str::<Value>(&stored.raw_json) {
                Ok(item) => failed_push_delivery(&self.app, &item, received),
                Err(error) => untranslatable(stored, format!("failed item: {error}")),
            },
            other => untranslatable(stored, format!("no DingTalk delivery arrives on {other:?}")),
        }
    }
}

fn millis(stored: &StoredDelivery) -> i64 {
    stored
        .received_at
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or_default()
}

fn timestamp(stored: &StoredDelivery) -> Timestamp {
    stored.received_at.into()
}
