//! What every vendor's translation into the unified model shares: the
//! bounds of a protobuf timestamp, the all-or-nothing rule for a delivery's
//! facts, the provenance of a pulled fact and the checks on required fields.

use attendance_proto::ingest::{Fact, Recognition};
use attendance_proto::v1::{Channel, Provenance};
use attendance_proto::Timestamp;

/// The largest instant a `google.protobuf.Timestamp` may hold (9999-12-31T23:59:59Z).
pub const MAX_TIMESTAMP_SECONDS: i64 = 253_402_300_799;

/// Milliseconds since the epoch, if a `Timestamp` can hold them.
pub fn millis_timestamp(millis: i64) -> Option<Timestamp> {
    if !(0..=MAX_TIMESTAMP_SECONDS * 1000 + 999).contains(&millis) {
        return None;
    }
    Some(Timestamp {
        seconds: millis / 1000,
        nanos: i32::try_from(millis % 1000).ok()? * 1_000_000,
    })
}

/// What a delivery says of its event: `None` for a type the adapter does not
/// know, else the facts or why there are none.
///
/// All or nothing: a half-translated delivery would look complete
/// downstream, while an untranslatable one is stored raw and reported.
pub fn recognized(translated: Option<Result<Vec<Fact>, String>>) -> (Recognition, Vec<Fact>) {
    match translated {
        None => (Recognition::Unknown, Vec::new()),
        Some(Ok(facts)) => (Recognition::Translated, facts),
        Some(Err(reason)) => (Recognition::Untranslatable(reason), Vec::new()),
    }
}

/// The provenance of a fact read from the vendor's `api` at `received_time`.
pub fn pull_provenance(api: &str, received_time: Timestamp) -> Provenance {
    Provenance {
        channel: Channel::Pull as i32,
        event_id: String::new(),
        event_type: api.into(),
        received_time: Some(received_time),
        vendor_create_time: None,
        // What the API answers now supersedes what was pushed before.
        version_time: Some(received_time),
        stated_fields: Vec::new(),
    }
}

/// A required text field: empty and absent are both missing.
pub fn require(name: &str, value: &str) -> Result<(), String> {
    if value.is_empty() {
        Err(format!("{name} is missing or empty"))
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn millis_convert_within_range_only() {
        assert_eq!(
            millis_timestamp(1_570_791_880_123),
            Some(Timestamp {
                seconds: 1_570_791_880,
                nanos: 123_000_000
            })
        );
        assert_eq!(millis_timestamp(-1), None);
        assert_eq!(millis_timestamp(MAX_TIMESTAMP_SECONDS * 1000 + 1000), None);
    }
}
