//! Vendor calls counted in memory per app and added to the store in batches
//! (after a pass, every few seconds of background work), so a call costs no
//! write of its own and operators see each app's monthly quota coming.

use std::collections::HashMap;
use std::sync::Mutex;

use attendance_proto::hub::HubStore;
use attendance_proto::v1::Vendor;
use chrono::Utc;

/// One vendor's call counts, per app, not yet added to the store.
pub struct CallCounter {
    vendor: Vendor,
    // A std Mutex: it is never held across an await.
    pending: Mutex<HashMap<String, i64>>,
}

impl CallCounter {
    pub fn new(vendor: Vendor) -> CallCounter {
        CallCounter {
            vendor,
            pending: Mutex::default(),
        }
    }

    /// One call made for `app`.
    pub fn record(&self, app: &str) {
        metrics::counter!(
            "attendance_hub_vendor_calls_total",
            "vendor" => crate::outcome::vendor_name(self.vendor),
            "app" => app.to_owned()
        )
        .increment(1);
        *self
            .pending
            .lock()
            .expect("call counter lock")
            .entry(app.to_owned())
            .or_default() += 1;
    }

    /// Adds what was counted to this month's totals; what cannot be added
    /// now is kept for the next flush.
    pub async fn flush(&self, store: &dyn HubStore) {
        let pending: Vec<(String, i64)> = self
            .pending
            .lock()
            .expect("call counter lock")
            .drain()
            .collect();
        let month = Utc::now().format("%Y-%m").to_string();
        for (app, calls) in pending {
            if let Err(error) = store
                .add_vendor_calls(self.vendor, &app, &month, calls)
                .await
            {
                tracing::warn!(%error, app, calls, "vendor calls not recorded; kept for the next flush");
                *self
                    .pending
                    .lock()
                    .expect("call counter lock")
                    .entry(app)
                    .or_default() += calls;
            }
        }
    }
}

impl crate::api::CallMeter for CallCounter {
    fn record_call(&self, app: &str) {
        self.record(app);
    }
}
