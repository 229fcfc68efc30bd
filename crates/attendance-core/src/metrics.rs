//! The store's metrics, recorded through the `metrics` facade (the server
//! installs the recorder and renders them on `GET /metrics`; without one,
//! recording costs nothing). Names and labels are written here once.

use std::time::Duration;

use attendance_proto::ingest::{Delivery, Fact, Receipt, Recognition};
use attendance_proto::labels::{channel_name, vendor_name};

/// The `kind` label of each fact kind, indexed by [`fact_index`].
const FACT_KINDS: [&str; 4] = ["punch", "shift_result", "approval", "day_reconciled"];

fn fact_index(fact: &Fact) -> usize {
    match fact {
        Fact::Punch(_) => 0,
        Fact::ShiftResult(_) => 1,
        Fact::Approval(_) => 2,
        Fact::DayReconciled(_) => 3,
    }
}

/// What the metrics need of a delivery, taken before it goes to the
/// committer.
pub(crate) struct DeliveryLabels {
    vendor: &'static str,
    channel: &'static str,
    unrecognized: Option<&'static str>,
    /// Facts per kind, in [`FACT_KINDS`] order.
    facts: [u64; 4],
}

impl DeliveryLabels {
    pub(crate) fn of(delivery: &Delivery) -> DeliveryLabels {
        DeliveryLabels {
            vendor: vendor_name(delivery.vendor),
            channel: channel_name(delivery.channel),
            unrecognized: match delivery.recognition {
                Recognition::Translated => None,
                Recognition::Unknown => Some("unknown_event_type"),
                Recognition::Untranslatable(_) => Some("untranslatable"),
            },
            facts: delivery.facts.iter().fold([0; 4], |mut counts, fact| {
                counts[fact_index(fact)] += 1;
                counts
            }),
        }
    }

    /// The delivery's commit as the caller saw it: stored, a duplicate, or
    /// failed (the vendor redelivers it).
    pub(crate) fn committed(&self, outcome: Result<&Receipt, ()>) {
        let (vendor, channel) = (self.vendor, self.channel);
        let result = match outcome {
            Ok(receipt) if receipt.duplicate_delivery => "duplicate",
            Ok(_) => "stored",
            Err(()) => "failed",
        };
        metrics::counter!("attendance_hub_deliveries_total", "vendor" => vendor, "channel" => channel, "result" => result)
            .increment(1);
        let Ok(receipt) = outcome else { return };
        if receipt.duplicate_delivery {
            return;
        }
        if let Some(reason) = self.unrecognized {
            metrics::counter!("attendance_hub_unrecognized_deliveries_total", "vendor" => vendor, "reason" => reason)
                .increment(1);
        }
        // One counter update per kind present, not per fact: a pull commits
        // hundreds of facts at once.
        for (kind, &count) in FACT_KINDS.iter().zip(&self.facts).filter(|(_, &n)| n > 0) {
            metrics::counter!("attendance_hub_facts_total", "vendor" => vendor, "channel" => channel, "kind" => *kind)
                .increment(count);
        }
        metrics::counter!("attendance_hub_log_entries_appended_total")
            .increment(receipt.appended as u64);
        metrics::counter!("attendance_hub_facts_superseded_total")
            .increment(receipt.superseded as u64);
        metrics::counter!("attendance_hub_facts_set_aside_total")
            .increment(receipt.set_aside as u64);
    }
}

/// One group commit: how many deliveries it carried and how long it took.
pub(crate) fn batch_committed(deliveries: usize, elapsed: Duration, ok: bool) {
    let result = if ok { "ok" } else { "failed" };
    metrics::histogram!("attendance_hub_commit_seconds", "result" => result)
        .record(elapsed.as_secs_f64());
    metrics::histogram!("attendance_hub_commit_batch_deliveries").record(deliveries as f64);
}

/// Subscribers attached to this replica, and how many read the store
/// because they are behind the shared tail.
pub(crate) struct SubscriberGauge {
    catching_up: bool,
}

impl SubscriberGauge {
    pub(crate) fn attach() -> SubscriberGauge {
        metrics::gauge!("attendance_hub_subscribers").increment(1.0);
        SubscriberGauge { catching_up: false }
    }

    pub(crate) fn set_catching_up(&mut self, catching_up: bool) {
        if catching_up != self.catching_up {
            let change = if catching_up { 1.0 } else { -1.0 };
            metrics::gauge!("attendance_hub_subscribers_catching_up").increment(change);
            self.catching_up = catching_up;
        }
    }

    /// How far behind the log's head a catching-up subscriber's read left
    /// it (live subscribers on the tail are at most a few entries behind).
    pub(crate) fn catch_up_lag(&self, entries: i64) {
        metrics::histogram!("attendance_hub_subscriber_catch_up_lag_entries")
            .record(entries.max(0) as f64);
    }
}

impl Drop for SubscriberGauge {
    fn drop(&mut self) {
        self.set_catching_up(false);
        metrics::gauge!("attendance_hub_subscribers").decrement(1.0);
    }
}

/// The log's newest sequence number as this replica's tail reader saw it.
pub(crate) fn log_head(seq: i64) {
    metrics::gauge!("attendance_hub_log_head_sequence").set(seq as f64);
}
