//! Feishu's stored deliveries translated again under the current mapping:
//! the stored JSON is the decrypted event envelope (its verification token
//! redacted) from the webhook or the long connection, verified on arrival.

use attendance_adapter_kit::rederive::{untranslatable, Retranslator};
use attendance_proto::hub::StoredDelivery;
use attendance_proto::ingest::Delivery;
use attendance_proto::v1::Vendor;

use chrono_tz::Tz;

use crate::translate::{translate, Recipient};
use crate::verify::reverify_stored_event;

/// One app's re-derivation.
pub struct FeishuRetranslator {
    pub app: String,
    pub app_id: String,
    /// The configured `time_zone` (see [`Recipient::zone`]).
    pub time_zone: Tz,
}

impl Retranslator for FeishuRetranslator {
    fn vendor(&self) -> Vendor {
        Vendor::Feishu
    }

    fn app(&self) -> &str {
        &self.app
    }

    fn retranslate(&self, stored: &StoredDelivery) -> Delivery {
        match reverify_stored_event(&self.app_id, &stored.raw_json) {
            Ok(event) => {
                // Its pulls were queued on arrival; the kit drops jobs here.
                let recipient = Recipient {
                    app: &self.app,
                    zone: self.time_zone,
                    pulls: false,
                };
                translate(&event, recipient, stored.channel, stored.received_at.into())
            }
            Err(error) => untranslatable(stored, error.to_string()),
        }
    }
}
