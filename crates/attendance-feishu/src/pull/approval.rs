//! Pulled approvals (`user_approvals/query`, `user_task_remedys/query`) →
//! `Approval` facts that meet their pushed twins: the business key
//! `"{kind}/{approval_id}"`, in the push's shape, and the matching key of
//! what the approval is about ([`crate::keys`]), which pushes carry too.
//!
//! Feishu lists an approval under every date it applies to, and under each
//! status asked for that it had while the answers were put together, so the
//! items are gathered into one fact per approval ([`gather`]).

use std::collections::{BTreeMap, BTreeSet};

use attendance_proto::v1::{Approval, ApprovalKind};
use attendance_proto::Timestamp;
use chrono::NaiveDate;
use chrono_tz::Tz;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::{iso_date, PullSource};
use crate::api::{PulledLeave, PulledOvertime, PulledTrip, UserApprovalDay, UserRemedy};
use crate::keys;
use crate::mapping;
use crate::translate::time::instant;
use crate::wire::IntOrString;

pub const USER_APPROVALS_QUERY: &str = "attendance/v1/user_approvals/query";
pub const USER_TASK_REMEDYS_QUERY: &str = "attendance/v1/user_task_remedys/query";

/// One pulled approval: its fact, the vendor status it was read in, and
/// the work dates Feishu listed it under.
#[derive(Clone, Debug, PartialEq)]
pub struct PulledApproval {
    pub approval: Approval,
    pub vendor_status: i64,
    pub listed_dates: BTreeSet<NaiveDate>,
}

/// Statuses no later state follows: a pull that reads one carries its own
/// time as the version, so no older push undoes it. A pending or approved
/// reading carries none and is applied in arrival order, so that a revert
/// pushed after it lands whatever the revert event's own time (an approval
/// is revoked only after it was approved, and Feishu's lists may lag).
fn is_final(vendor_status: i64) -> bool {
    matches!(vendor_status, 1 | 3 | 4)
}

/// How far along an approval's life a vendor status is; of two readings of
/// one approval the later one stands: pending, approved, rejected,
/// withdrawn, revoked.
fn stage(vendor_status: i64) -> i64 {
    match vendor_status {
        0 => 0,
        2 => 1,
        1 => 2,
        other => other,
    }
}

/// Of several approvals about the same thing (a revoked leave submitted
/// again for the same hours), the one in effect takes the matching key:
/// approved, pending, rejected, withdrawn, revoked.
fn precedence(vendor_status: i64) -> i64 {
    match vendor_status {
        2 => 0,
        0 => 1,
        other => other,
    }
}

/// Why an item could not become a fact (it is skipped; the pull reports it).
pub type Problem = String;

fn read<T: DeserializeOwned>(list: &str, item: &Value) -> Result<T, Problem> {
    serde_json::from_value(item.clone()).map_err(|error| format!("{list}[]: {error}"))
}

fn zone(name: &str) -> Result<Tz, Problem> {
    if name.trim().is_empty() {
        // The doc: an empty time_zone is UTC+0.
        return Ok(Tz::UTC);
    }
    name.trim()
        .parse()
        .map_err(|_| format!("time_zone {name:?} is not an IANA zone"))
}

fn wall_clock(zone: Tz, name: &str, text: &str) -> Result<Option<Timestamp>, Problem> {
    instant(zone, name, Some(&IntOrString::String(text.to_owned())))
}

fn as_date(text: &str) -> Option<NaiveDate> {
    let digits = text.trim().parse::<i64>().ok()?;
    NaiveDate::parse_from_str(&iso_date(digits)?, "%Y-%m-%d").ok()
}

impl PullSource {
    fn pulled(
        &self,
        api: &str,
        kind: ApprovalKind,
        list: &str,
        vendor_status: i64,
        item: &Value,
    ) -> Approval {
        let mut provenance = self.provenance(api);
        if !is_final(vendor_status) {
            provenance.version_time = None;
        }
        Approval {
            source: Some(self.source()),
            kind: kind as i32,
            kind_original: list.to_owned(),
            status: mapping::pulled_approval_status(vendor_status) as i32,
            status_original: vendor_status.to_string(),
            provenance: Some(provenance),
            raw_json: item.to_string(),
            ..Approval::default()
        }
    }
}

/// Keys the approval and checks what every fact needs.
fn keyed(mut approval: Approval, employee: &str, approval_id: &str) -> Result<Approval, Problem> {
    if approval_id.trim().is_empty() {
        return Err(format!(
            "{}[]: approval_id is missing",
            approval.kind_original
        ));
    }
    if employee.is_empty() {
        return Err(format!("{}[]: user_id is missing", approval.kind_original));
    }
    approval.employee_id = employee.to_owned();
    approval.instance_id = approval_id.to_owned();
    approval.business_key = keys::business_key(approval.kind(), approval_id);
    approval.matching_keys = keys::matching_keys(&approval);
    Ok(approval)
}

fn span(approval: &mut Approval, zone: Tz, start: &str, end: &str) -> Result<(), Problem> {
    approval.start_time = wall_clock(zone, "start_time", start)?;
    approval.end_time = wall_clock(zone, "end_time", end)?;
    Ok(())
}

/// A duration of `amount` vendor units (`unit`, the pull's numbering).
fn set_duration(approval: &mut Approval, amount: f64, unit: Option<&IntOrString>) {
    approval.duration_unit_original = unit.map(IntOrString::original).unwrap_or_default();
    if amount > 0.0 {
        let (model_unit, per_vendor_unit) =
            mapping::pulled_duration_unit(unit.and_then(IntOrString::as_i64));
        approval.duration_unit = model_unit as i32;
        approval.duration = amount * per_vendor_unit;
    }
}

/// The display name in the default locale, else any, else the type's id.
fn leave_type(leave: &PulledLeave) -> String {
    let name = |locale: &str| {
        leave
            .i18n_names
            .get(locale)
            .and_then(Value::as_str)
            .filter(|n| !n.is_empty())
    };
    name(&leave.default_locale)
        .or_else(|| ["ch", "en", "ja"].into_iter().find_map(name))
        .map(str::to_owned)
        .unwrap_or_else(|| leave.uniq_id.clone())
}

/// The approvals of one (user, date) item of `user_approvals/query`, asked
/// with `status`; an item that cannot be read is reported, not fatal.
pub fn approvals_from_day(
    pull: &PullSource,
    status: i64,
    day: &UserApprovalDay,
) -> (Vec<PulledApproval>, Vec<Problem>) {
    let mut approvals = Vec::new();
    let mut problems = Vec::new();
    let zone = match zone(&day.time_zone) {
        Ok(zone) => zone,
        Err(problem) => return (approvals, vec![problem]),
    };
    let listed: BTreeSet<NaiveDate> = as_date(&day.date).into_iter().collect();
    let lists = &day.lists;
    let kinds = [
        ("leaves", ApprovalKind::Leave, &lists.leaves),
        (
            "overtime_works",
            ApprovalKind::Overtime,
            &lists.overtime_works,
        ),
        ("outs", ApprovalKind::GoOut, &lists.outs),
        ("trips", ApprovalKind::BusinessTrip, &lists.trips),
    ];
    for (list, kind, items) in kinds {
        for item in items {
            let base = pull.pulled(USER_APPROVALS_QUERY, kind, list, status, item);
            match listed_approval(base, zone, list, item, &day.user_id) {
                Ok(approval) => approvals.push(PulledApproval {
                    approval,
                    vendor_status: status,
                    listed_dates: listed.clone(),
                }),
                Err(problem) => problems.push(problem),
            }
        }
    }
    (approvals, problems)
}

fn listed_approval(
    mut approval: Approval,
    zone: Tz,
    list: &str,
    item: &Value,
    employee: &str,
) -> Result<Approval, Problem> {
    let id = match approval.kind() {
        ApprovalKind::Leave | ApprovalKind::GoOut => {
            let leave: PulledLeave = read(list, item)?;
            span(&mut approval, zone, &leave.start_time, &leave.end_time)?;
            let seconds = leave.interval.as_ref().and_then(IntOrString::as_i64);
            let unit = leave.unit.as_ref();
            approval.duration_unit_original = unit.map(IntOrString::original).unwrap_or_default();
            if let Some(seconds) = seconds.filter(|s| *s > 0) {
                // Seconds whatever the unit, read as the push reads its
                // interval, so that push and pull state the same duration.
                let (model_unit, _) =
                    mapping::pulled_duration_unit(unit.and_then(IntOrString::as_i64));
                approval.duration_unit = model_unit as i32;
                approval.duration = seconds as f64 / mapping::seconds_per_unit(model_unit);
            }
            if approval.kind() == ApprovalKind::Leave {
                // Outs have a type too (uniq_id), which the push does not
                // state; the raw JSON keeps it.
                approval.leave_type = leave_type(&leave);
            }
            approval.reason = leave.reason;
            leave.approval_id
        }
        ApprovalKind::Overtime => {
            let overtime: PulledOvertime = read(list, item)?;
            span(
                &mut approval,
                zone,
                &overtime.start_time,
                &overtime.end_time,
            )?;
            let amount = overtime
                .duration
                .as_ref()
                .and_then(|d| d.value())
                .unwrap_or(0.0);
            set_duration(&mut approval, amount, overtime.unit.as_ref());
            approval.reason = overtime.reason;
            overtime.approval_id
        }
        _ => {
            let trip: PulledTrip = read(list, item)?;
            span(&mut approval, zone, &trip.start_time, &trip.end_time)?;
            approval.reason = trip.reason;
            trip.approval_id
        }
    };
    keyed(approval, employee, &id)
}

/// A pulled punch correction; `asked` is the status the call asked for,
/// which the item's own `status` overrides.
pub fn approval_from_remedy(
    pull: &PullSource,
    asked: i64,
    item: &Value,
) -> Result<PulledApproval, Problem> {
    let remedy: UserRemedy = read("user_remedys", item)?;
    let status = remedy
        .status
        .as_ref()
        .and_then(IntOrString::as_i64)
        .unwrap_or(asked);
    let mut approval = pull.pulled(
        USER_TASK_REMEDYS_QUERY,
        ApprovalKind::PunchCorrection,
        "user_remedys",
        status,
        item,
    );
    approval.corrected_time =
        wall_clock(zone(&remedy.time_zone)?, "remedy_time", &remedy.remedy_time)?;
    approval.reason = remedy.reason;
    let listed_dates = remedy
        .remedy_date
        .as_ref()
        .map(IntOrString::original)
        .and_then(|date| as_date(&date))
        .into_iter()
        .collect();
    Ok(PulledApproval {
        approval: keyed(approval, &remedy.user_id, &remedy.approval_id)?,
        vendor_status: status,
        listed_dates,
    })
}

/// One fact per approval: the items of one approval (listed per date, and
/// under several statuses when its state changed while the answers were put
/// together) become one, in the latest state, listed under every date any
/// of them was; and of different approvals about the same thing, only the
/// one in effect keeps the matching key, so that one reconciliation does
/// not fold them into one fact and flip it between their states.
pub fn gather(pulled: Vec<PulledApproval>) -> Vec<PulledApproval> {
    let mut by_key: BTreeMap<String, PulledApproval> = BTreeMap::new();
    for item in pulled {
        match by_key.get_mut(&item.approval.business_key) {
            None => {
                by_key.insert(item.approval.business_key.clone(), item);
            }
            Some(kept) => {
                let dates: BTreeSet<NaiveDate> = kept
                    .listed_dates
                    .union(&item.listed_dates)
                    .copied()
                    .collect();
                if stage(item.vendor_status) > stage(kept.vendor_status) {
                    *kept = item;
                }
                kept.listed_dates = dates;
            }
        }
    }
    let mut holder: BTreeMap<String, (i64, usize, String)> = BTreeMap::new();
    for item in by_key.values() {
        let id = &item.approval.instance_id;
        let claim = (
            precedence(item.vendor_status),
            usize::MAX - id.len(),
            id.clone(),
        );
        for key in &item.approval.matching_keys {
            let better = holder.get(key).is_none_or(|held| {
                // Lower precedence wins; among equals the later (longer,
                // then greater) id, as Feishu's ids grow.
                (claim.0, claim.1) < (held.0, held.1)
                    || ((claim.0, claim.1) == (held.0, held.1) && claim.2 > held.2)
            });
            if better {
                holder.insert(key.clone(), claim.clone());
            }
        }
    }
    by_key
        .into_values()
        .map(|mut item| {
            let id = item.approval.instance_id.clone();
            item.approval
                .matching_keys
                .retain(|key| holder.get(key).is_some_and(|held| held.2 == id));
            item
        })
        .collect()
}

/// Whether a pulled approval states both ends of its span.
pub fn has_span(approval: &Approval) -> bool {
    approval.start_time.is_some() && approval.end_time.is_some()
}
