//! What the pull APIs answer, translated into the same facts, under the same
//! business keys, as the pushes they complete (pure: no I/O, no clock).
//!
//! - `getupdatedata` → one employee-day: [`ShiftResult`]s, [`Punch`]es and
//!   [`Approval`]s ([`facts_from_update_data`]);
//! - `attendance/list` → [`ShiftResult`]s ([`shift_results_from_list`]);
//! - `attendance/listRecord` → [`Punch`]es ([`punches_from_records`]);
//! - a failed-push item (either shape) → the [`Delivery`] its push would
//!   have produced, on the failed-push-recovery channel
//!   ([`failed_push_delivery`]).
//!
//! A check point's business key is `{userId}/{work date}/{index}/{on|off}`,
//! where `index` numbers the day's on-duty (and, separately, off-duty) check
//! points from 1 in scheduled-time order, so that `getupdatedata` and
//! `attendance/list` name the same check point alike. Punches are keyed by
//! [`punch_from_record`]'s rule (`bizId`, else `corpId/userId/checkTime`) and
//! carry the instant and the record id as matching keys: `getupdatedata` has
//! no `bizId`, and the store lets a pulled punch meet the stored one on them.
//!
//! `mod.rs` holds who pulled; `check_points.rs` numbers and builds the check
//! points both result APIs report; `update_data.rs`, `list.rs`,
//! `instance.rs` and `failed_item.rs` read one answer each; `workflow.rs`
//! reads approval instances together (revocations and modifications). Vendor values become model values
//! in [`crate::mapping`].

mod check_points;
mod failed_item;
mod instance;
mod list;
mod update_data;
mod workflow;

#[cfg(test)]
mod tests;

pub use failed_item::failed_push_delivery;
pub use instance::{approval_from_instance, InstanceHint};
pub use list::{punches_from_records, record_instance_id, shift_results_from_list};
pub use update_data::facts_from_update_data;
pub use workflow::{approvals_from_instances, biz_action, linked_ids, BizAction, ReadInstance};

use attendance_adapter_kit::translation::pull_provenance;
use attendance_proto::ingest::{Delivery, Fact};
use attendance_proto::v1::{Provenance, Source, Vendor};
use attendance_proto::Timestamp;
use chrono::{DateTime, NaiveDate, NaiveDateTime, TimeZone};
use chrono_tz::Tz;

/// `Provenance.event_type` and `Delivery.event_type` of each pull.
pub const GETUPDATEDATA: &str = "topapi/attendance/getupdatedata";
pub const LIST_RESULTS: &str = "attendance/list";
pub const LIST_RECORDS: &str = "attendance/listRecord";
pub const PROCESS_INSTANCE: &str = "v1.0/workflow/processInstances";

/// Which end of an approval's period a time is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SpanEdge {
    Start,
    End,
}

/// Who pulled, for the facts' source and provenance.
#[derive(Clone, Debug)]
pub struct PullSource {
    /// The configured app name.
    pub app: String,
    /// The ClientID (AppKey).
    pub app_id: String,
    /// The corp the employees belong to (the APIs do not always say).
    pub tenant: String,
    /// The zone DingTalk's `yyyy-MM-dd HH:mm:ss` times and work dates are in.
    pub zone: Tz,
    pub received_time: Timestamp,
}

impl PullSource {
    fn source(&self, tenant: &str) -> Source {
        Source {
            vendor: Vendor::Dingtalk as i32,
            app: self.app.clone(),
            app_id: self.app_id.clone(),
            tenant: if self.tenant.is_empty() {
                tenant.to_owned()
            } else {
                self.tenant.clone()
            },
        }
    }

    fn provenance(&self, api: &str) -> Provenance {
        pull_provenance(api, self.received_time)
    }

    /// A `yyyy-MM-dd HH:mm:ss` time in the tenant's zone.
    fn local_time(&self, text: &str) -> Option<Timestamp> {
        let text = text.trim();
        let naive = NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S")
            .or_else(|_| NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M"))
            .ok()?;
        let instant = self.zone.from_local_datetime(&naive).earliest()?;
        Some(Timestamp {
            seconds: instant.timestamp(),
            nanos: 0,
        })
    }

    /// An approval's start or end as DingTalk's attendance approval APIs
    /// write it: `yyyy-MM-dd HH:mm[:ss]`, `yyyy-MM-dd AM|PM` (a half day) or
    /// a bare `yyyy-MM-dd` (a whole day), the three forms the documentation
    /// names (`2019-08-15`, `2019-08-15 AM`, `2019-08-15 12:43`). A date or
    /// half day is a span: it starts at midnight (`PM` at noon) and, as an
    /// end, ends when that span does, so a leave "to 2019-08-17" covers the
    /// 17th.
    pub fn approval_time(&self, text: &str, edge: SpanEdge) -> Option<Timestamp> {
        let text = text.trim();
        if let Some(exact) = self.local_time(text) {
            return Some(exact);
        }
        let (date, half) = match text.split_once(' ') {
            Some((date, half)) => (date, Some(half.trim().to_ascii_uppercase())),
            None => (text, None),
        };
        let date = NaiveDate::parse_from_str(date, "%Y-%m-%d").ok()?;
        let (from_hour, span_hours) = match half.as_deref() {
            None => (0, 24),
            Some("AM") => (0, 12),
            Some("PM") => (12, 12),
            Some(_) => return None,
        };
        let start = date.and_hms_opt(from_hour, 0, 0)?;
        let naive = match edge {
            SpanEdge::Start => start,
            SpanEdge::End => start + chrono::Duration::hours(span_hours),
        };
        let instant = self.zone.from_local_datetime(&naive).earliest()?;
        Some(Timestamp {
            seconds: instant.timestamp(),
            nanos: 0,
        })
    }

    /// The civil date of an instant in the tenant's zone.
    pub fn local_date(&self, time: &Timestamp) -> Option<NaiveDate> {
        let utc = DateTime::from_timestamp(time.seconds, 0)?;
        Some(utc.with_timezone(&self.zone).date_naive())
    }
}

/// A pull's facts as one delivery. Pulls have no delivery id: business keys
/// alone deduplicate them.
pub fn pull_delivery(pull: &PullSource, event_type: &str, facts: Vec<Fact>) -> Delivery {
    attendance_adapter_kit::reconcile::pull_delivery(&pull.source(&pull.tenant), event_type, facts)
}
