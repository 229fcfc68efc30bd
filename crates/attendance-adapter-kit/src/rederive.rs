//! Re-derivation: stored deliveries translated again through the current
//! mapping and committed through the ordinary commit path, so a fact that an
//! older mapping derived differently gets a correction revision, an event
//! whose type is now understood becomes facts, and a second run changes
//! nothing (the commit path appends only what differs).

use std::sync::Arc;

use attendance_proto::hub::{DeliveryScope, HubStore, StoredDelivery};
use attendance_proto::ingest::{Delivery, Recognition, SinkError};
use attendance_proto::v1::Vendor;

/// Deliveries read per page.
const PAGE: usize = 200;

/// One configured app's translation of its stored deliveries.
pub trait Retranslator: Send + Sync + 'static {
    fn vendor(&self) -> Vendor;
    /// The configured app name it translates for.
    fn app(&self) -> &str;
    /// The delivery `stored` is under the current mapping. The JSON was
    /// verified when it arrived and has been in the store since.
    fn retranslate(&self, stored: &StoredDelivery) -> Delivery;
}

/// The delivery for a stored one that cannot be translated again (its JSON
/// no longer parses as its channel's shape): counted, nothing committed.
pub fn untranslatable(stored: &StoredDelivery, reason: String) -> Delivery {
    Delivery {
        vendor: stored.vendor,
        app: stored.app.clone(),
        tenant: stored.tenant.clone(),
        channel: stored.channel,
        event_id: stored.event_id.clone(),
        event_type: stored.event_type.clone(),
        raw_json: stored.raw_json.clone(),
        recognition: Recognition::Untranslatable(reason),
        facts: Vec::new(),
        jobs: Vec::new(),
    }
}

/// What one re-derivation did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RederiveReport {
    pub deliveries_read: u64,
    /// Read deliveries whose translation gave facts now.
    pub deliveries_translated: u64,
    /// Read deliveries whose type is still unknown or untranslatable.
    pub deliveries_untranslatable: u64,
    /// Read deliveries of apps that are no longer configured.
    pub deliveries_without_app: u64,
    /// Log entries appended: facts whose derivation changed.
    pub facts_changed: u64,
    pub facts_unchanged: u64,
    /// Derived facts older than what is stored (a later event or pull won).
    pub facts_superseded: u64,
}

/// Re-derives every stored delivery of `scope`, in arrival order, with the
/// app's translator; stops at the first commit that fails (what was
/// committed before stays, and a rerun continues harmlessly).
pub async fn rederive(
    store: &dyn HubStore,
    translators: &[Arc<dyn Retranslator>],
    scope: &DeliveryScope,
) -> Result<RederiveReport, SinkError> {
    let mut report = RederiveReport::default();
    let mut after = 0;
    loop {
        let page = store.stored_deliveries(scope, after, PAGE).await?;
        let Some(last) = page.last() else {
            return Ok(report);
        };
        after = last.position;
        for stored in &page {
            report.deliveries_read += 1;
            let Some(translator) = translators
                .iter()
                .find(|t| t.vendor() == stored.vendor && t.app() == stored.app)
            else {
                report.deliveries_without_app += 1;
                continue;
            };
            let mut delivery = translator.retranslate(stored);
            if delivery.recognition != Recognition::Translated {
                report.deliveries_untranslatable += 1;
                continue;
            }
            report.deliveries_translated += 1;
            if delivery.facts.is_empty() {
                continue;
            }
            // The delivery itself is stored already; only its facts are new
            // input. No event id, so the commit path decides on business keys
            // and vendor versions alone; no jobs, since its pulls were queued
            // when it arrived.
            delivery.event_id.clear();
            delivery.raw_json.clear();
            delivery.jobs.clear();
            let receipt = store.commit(delivery).await?;
            report.facts_changed += receipt.appended as u64;
            report.facts_unchanged += receipt.unchanged as u64;
            report.facts_superseded += receipt.superseded as u64;
        }
        if page.len() < PAGE {
            return Ok(report);
        }
    }
}
