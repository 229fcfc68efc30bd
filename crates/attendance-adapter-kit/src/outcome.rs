//! The one log line every commit of a pushed delivery ends in, whatever the
//! vendor and whatever the channel, so operators search one set of fields.
//!
//! A commit consumes its [`Delivery`], so what the line names is read first:
//!
//! ```text
//! let log = CommitLog::of(&delivery);   // vendor, channel, app, event id and type, facts
//! let committed = sink.commit(delivery).await;
//! log.record(&committed);               // one line: the outcome and its numbers
//! ```
//!
//! [`commit_logged`] does the three steps for callers with nothing to do
//! between them (the webhook shell). A connection loop that commits under a
//! permit, or anything else that wants the line to carry its own context
//! (`connection`, `message_id`), enters a span with those fields around the
//! call; the subscriber prints the span's fields with the line:
//!
//! ```text
//! let span = tracing::info_span!("dingtalk_stream", connection, %message_id);
//! log.record(&committed)   // inside span.in_scope(..) or an .instrument(span)ed future
//! ```

use attendance_proto::ingest::{Delivery, DeliverySink, Receipt, Recognition, SinkError};
use attendance_proto::v1::{Channel, Vendor};

/// What became of a delivery handed to the sink: the `outcome` field's value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CommitOutcome {
    /// New, translated, durably stored.
    Committed,
    /// Its event id was seen before: nothing new was stored.
    Duplicate,
    /// Of a type the adapter does not know: stored raw.
    UnknownType,
    /// Of a known type that could not be translated: stored raw.
    Untranslatable,
    /// Not stored; the vendor must deliver it again.
    SinkFailed,
}

impl CommitOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            CommitOutcome::Committed => "committed",
            CommitOutcome::Duplicate => "duplicate",
            CommitOutcome::UnknownType => "unknown_type",
            CommitOutcome::Untranslatable => "untranslatable",
            CommitOutcome::SinkFailed => "sink_failed",
        }
    }

    /// Whether the vendor may be told the delivery is handled.
    pub fn is_durable(self) -> bool {
        self != CommitOutcome::SinkFailed
    }
}

impl std::fmt::Display for CommitOutcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A delivery's identity and size, read before the commit consumes it.
#[derive(Clone, Debug)]
pub struct CommitLog {
    vendor: Vendor,
    channel: Channel,
    app: String,
    event_id: String,
    event_type: String,
    recognition: Recognition,
    facts: usize,
}

impl CommitLog {
    pub fn of(delivery: &Delivery) -> CommitLog {
        CommitLog {
            vendor: delivery.vendor,
            channel: delivery.channel,
            app: delivery.app.clone(),
            event_id: delivery.event_id.clone(),
            event_type: delivery.event_type.clone(),
            recognition: delivery.recognition.clone(),
            facts: delivery.facts.len(),
        }
    }

    /// What the commit came to; a duplicate is a duplicate whatever its type.
    pub fn outcome(&self, committed: &Result<Receipt, SinkError>) -> CommitOutcome {
        match (committed, &self.recognition) {
            (Err(_), _) => CommitOutcome::SinkFailed,
            (Ok(receipt), _) if receipt.duplicate_delivery => CommitOutcome::Duplicate,
            (Ok(_), Recognition::Translated) => CommitOutcome::Committed,
            (Ok(_), Recognition::Unknown) => CommitOutcome::UnknownType,
            (Ok(_), Recognition::Untranslatable(_)) => CommitOutcome::Untranslatable,
        }
    }

    /// Logs the commit's outcome as one event with the fields `vendor`,
    /// `channel`, `app`, `event_id`, `event_type` and `outcome`, plus
    /// `facts` and `appended` when it was stored, `reason` when it could not
    /// be translated and `error` when it was not stored. Levels: `info` for
    /// what is stored as meant, `warn` for what is stored raw (someone should
    /// look), `error` for what is not stored (the vendor redelivers). Fields
    /// of the caller's current span (a connection id, a message id) go with it.
    pub fn record(&self, committed: &Result<Receipt, SinkError>) -> CommitOutcome {
        let outcome = self.outcome(committed);
        let vendor = vendor_name(self.vendor);
        let channel = channel_name(self.channel);
        let (app, event_id, event_type) = (&self.app, &self.event_id, &self.event_type);
        let facts = self.facts;
        match (committed, &self.recognition) {
            (Err(error), _) => tracing::error!(
                vendor, channel, app = %app, event_id = %event_id, event_type = %event_type,
                outcome = outcome.as_str(), %error,
                "event not committed; the vendor will deliver it again"
            ),
            (Ok(receipt), Recognition::Untranslatable(reason)) => tracing::warn!(
                vendor, channel, app = %app, event_id = %event_id, event_type = %event_type,
                outcome = outcome.as_str(), facts, appended = receipt.appended, %reason,
                "event could not be translated; stored raw"
            ),
            (Ok(receipt), Recognition::Unknown) => tracing::warn!(
                vendor, channel, app = %app, event_id = %event_id, event_type = %event_type,
                outcome = outcome.as_str(), facts, appended = receipt.appended,
                "event of an unknown type stored raw"
            ),
            (Ok(receipt), Recognition::Translated) => tracing::info!(
                vendor, channel, app = %app, event_id = %event_id, event_type = %event_type,
                outcome = outcome.as_str(), facts, appended = receipt.appended,
                "event committed"
            ),
        }
        outcome
    }
}

/// Commits `delivery` and logs the outcome (see [`CommitLog::record`]).
pub async fn commit_logged(
    sink: &dyn DeliverySink,
    delivery: Delivery,
) -> Result<Receipt, SinkError> {
    let log = CommitLog::of(&delivery);
    let committed = sink.commit(delivery).await;
    log.record(&committed);
    committed
}

pub use attendance_proto::labels::{channel_name, vendor_name};

#[cfg(test)]
mod tests {
    use super::*;

    fn delivery(recognition: Recognition) -> Delivery {
        Delivery {
            vendor: Vendor::Feishu,
            app: "main".into(),
            tenant: String::new(),
            channel: Channel::Webhook,
            event_id: "ev-1".into(),
            event_type: "attendance.user_flow.created_v1".into(),
            raw_json: "{}".into(),
            recognition,
            facts: Vec::new(),
            jobs: Vec::new(),
        }
    }

    #[test]
    fn outcomes_name_what_the_commit_came_to() {
        let stored = Ok(Receipt::default());
        let duplicate = Ok(Receipt {
            duplicate_delivery: true,
            ..Receipt::default()
        });
        let failed = Err(SinkError::Unavailable("down".into()));
        let translated = CommitLog::of(&delivery(Recognition::Translated));
        let unknown = CommitLog::of(&delivery(Recognition::Unknown));
        let raw = CommitLog::of(&delivery(Recognition::Untranslatable("no user".into())));
        assert_eq!(translated.record(&stored), CommitOutcome::Committed);
        assert_eq!(unknown.record(&stored), CommitOutcome::UnknownType);
        assert_eq!(raw.record(&stored), CommitOutcome::Untranslatable);
        assert_eq!(unknown.record(&duplicate), CommitOutcome::Duplicate);
        assert_eq!(translated.record(&failed), CommitOutcome::SinkFailed);
        assert!(!CommitOutcome::SinkFailed.is_durable());
        assert_eq!(CommitOutcome::UnknownType.to_string(), "unknown_type");
    }
}
