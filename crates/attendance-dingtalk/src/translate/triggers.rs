//! The pulls a committed delivery calls for: the push is a trigger and the
//! pull is the truth, so each punch, approved correction and result change
//! names the employee-days (or approval instances) to read back.

use attendance_adapter_kit::translation::require;
use attendance_proto::ingest::{Delivery, Fact, Recognition};
use attendance_proto::v1::{Approval, ApprovalKind, ApprovalStatus, Source, Vendor};
use attendance_proto::Timestamp;
use chrono::{DateTime, NaiveDate};
use chrono_tz::Tz;

use crate::mapping;
use crate::trigger::{ApprovalPull, DayPull, InstancePull};
use crate::wire::{
    ApproveStatusChange, BossCheckChange, BpmsChange, DailySummaryRefresh,
    ATTENDANCE_APPROVE_STATUS_CHANGE, ATTEND_BOSS_CHECK_CHANGE, ATTEND_USER_DAILY_SUMMARY_REFRESH,
    BPMS_INSTANCE_CHANGE,
};

/// The work date an instant falls on in the tenant's attendance calendar:
/// the app's `time_zone` (DingTalk's own examples are China Standard Time,
/// `workDate` `1684944000000` being 2023-05-25 00:00 +08:00, but a tenant
/// abroad keeps its calendar in its own zone).
pub(super) fn work_date_of(time: &Timestamp, zone: Tz) -> Option<NaiveDate> {
    let utc = DateTime::from_timestamp(time.seconds, u32::try_from(time.nanos).ok()?)?;
    Some(utc.with_timezone(&zone).date_naive())
}

/// `workDate` of the trigger events: `"2023-12-12"` or `"2020-11-10 00:00:00"`.
pub(super) fn parse_work_date(text: &str) -> Option<NaiveDate> {
    let date = text.split_once(' ').map_or(text, |(date, _)| date);
    if date.len() != 10 {
        return None;
    }
    NaiveDate::parse_from_str(date, "%Y-%m-%d").ok()
}

pub(super) fn day_of_trigger(user_id: &str, work_date: &str) -> Result<NaiveDate, String> {
    require("userId", user_id)?;
    parse_work_date(work_date)
        .ok_or_else(|| format!("workDate {work_date:?} is not a yyyy-MM-dd date"))
}

/// The days a committed delivery says must be pulled, because the push is a
/// trigger and the pull is the truth (the punch event has no on/off-duty or
/// late/early status):
/// - each punch: its employee on the work date of its check time;
/// - an approved punch correction whose corrected instant is known: that day;
/// - `attend_bossCheck_change` and `attend_user_daily_summary_refresh`: the
///   employee and `workDate` they name.
///
/// Instants become work dates in `zone`, the app's `time_zone`. Nothing for
/// deliveries that are not translated DingTalk ones. Each day is listed
/// once, in first-seen order.
pub fn pull_triggers(delivery: &Delivery, zone: Tz) -> Vec<DayPull> {
    if delivery.vendor != Vendor::Dingtalk || delivery.recognition != Recognition::Translated {
        return Vec::new();
    }
    let mut pulls = Vec::new();
    let mut add = |tenant: &str, employee_id: &str, work_date: Option<NaiveDate>| {
        let Some(work_date) = work_date else { return };
        if employee_id.is_empty() {
            return;
        }
        let pull = DayPull {
            tenant: tenant.to_owned(),
            employee_id: employee_id.to_owned(),
            work_date,
        };
        if !pulls.contains(&pull) {
            pulls.push(pull);
        }
    };
    let tenant_of = |source: &Option<Source>| {
        source
            .as_ref()
            .map(|s| s.tenant.clone())
            .filter(|t| !t.is_empty())
            .unwrap_or_else(|| delivery.tenant.clone())
    };
    for fact in &delivery.facts {
        match fact {
            Fact::Punch(punch) => add(
                &tenant_of(&punch.source),
                &punch.employee_id,
                punch
                    .check_time
                    .as_ref()
                    .and_then(|t| work_date_of(t, zone)),
            ),
            Fact::Approval(approval) if is_approved_correction(approval) => add(
                &tenant_of(&approval.source),
                &approval.employee_id,
                approval
                    .corrected_time
                    .as_ref()
                    .and_then(|t| work_date_of(t, zone)),
            ),
            _ => {}
        }
    }
    let trigger = match delivery.event_type.as_str() {
        ATTEND_BOSS_CHECK_CHANGE => serde_json::from_str::<BossCheckChange>(&delivery.raw_json)
            .ok()
            .map(|c| (c.user_id, c.work_date)),
        ATTEND_USER_DAILY_SUMMARY_REFRESH => {
            serde_json::from_str::<DailySummaryRefresh>(&delivery.raw_json)
                .ok()
                .map(|c| (c.user_id, c.work_date))
        }
        _ => None,
    };
    if let Some((user_id, work_date)) = trigger {
        add(&delivery.tenant, &user_id, parse_work_date(&work_date));
    }
    pulls
}

/// Approved punch corrections whose corrected day is not in the event (a
/// `bpms_instance_change` for `attendance.supply` never carries it): fetch the
/// instance, read the day from its form, then pull that day. DingTalk also
/// fires a punch event for most corrections, but not for one on a holiday.
pub fn instance_pulls(delivery: &Delivery) -> Vec<InstancePull> {
    if delivery.vendor != Vendor::Dingtalk || delivery.recognition != Recognition::Translated {
        return Vec::new();
    }
    let mut pulls: Vec<InstancePull> = Vec::new();
    for fact in &delivery.facts {
        let Fact::Approval(approval) = fact else {
            continue;
        };
        if !is_approved_correction(approval)
            || approval.corrected_time.is_some()
            || approval.instance_id.is_empty()
        {
            continue;
        }
        let pull = InstancePull {
            tenant: approval
                .source
                .as_ref()
                .map(|s| s.tenant.clone())
                .filter(|t| !t.is_empty())
                .unwrap_or_else(|| delivery.tenant.clone()),
            instance_id: approval.instance_id.clone(),
            employee_id: approval.employee_id.clone(),
        };
        if !pulls.contains(&pull) {
            pulls.push(pull);
        }
    }
    pulls
}

/// The approval instances a committed delivery calls for reading, because
/// its event could not say enough:
/// - `attendance_approve_status_change`, every status: it names no
///   employee, period or duration, and its `finish` no result;
/// - `bpms_instance_change` of any category but `attendance.supply` (whose
///   corrected day [`instance_pulls`] finds): it names no period either, and
///   an unlisted or empty `bizCategoryId` no kind (the documentation lists
///   only common categories; a custom leave form has none), which the
///   instance's form or the operator's `process_kinds` gives.
pub fn approval_pulls(delivery: &Delivery) -> Vec<ApprovalPull> {
    if delivery.vendor != Vendor::Dingtalk || delivery.recognition != Recognition::Translated {
        return Vec::new();
    }
    let (instance_id, corp_id, process_code, kind, kind_original) =
        match delivery.event_type.as_str() {
            ATTENDANCE_APPROVE_STATUS_CHANGE => {
                let Ok(change) = serde_json::from_str::<ApproveStatusChange>(&delivery.raw_json)
                else {
                    return Vec::new();
                };
                let kind = mapping::approve_type_kind(&change.approve_type);
                (
                    change.process_instance_id,
                    change.corp_id,
                    change.process_code,
                    kind,
                    change.approve_type,
                )
            }
            BPMS_INSTANCE_CHANGE => {
                let Ok(change) = serde_json::from_str::<BpmsChange>(&delivery.raw_json) else {
                    return Vec::new();
                };
                let kind = mapping::approval_kind_of_category(&change.biz_category_id);
                if kind == Some(ApprovalKind::PunchCorrection) {
                    return Vec::new();
                }
                (
                    change.process_instance_id,
                    change.corp_id,
                    change.process_code,
                    kind.unwrap_or(ApprovalKind::Unspecified),
                    change.biz_category_id,
                )
            }
            _ => return Vec::new(),
        };
    if instance_id.is_empty() {
        return Vec::new();
    }
    let tenant = if delivery.tenant.is_empty() {
        corp_id
    } else {
        delivery.tenant.clone()
    };
    vec![ApprovalPull {
        tenant,
        instance_id,
        process_code,
        kind: kind as i32,
        kind_original,
    }]
}

fn is_approved_correction(approval: &Approval) -> bool {
    approval.kind == ApprovalKind::PunchCorrection as i32
        && approval.status == ApprovalStatus::Approved as i32
}

#[cfg(test)]
mod tests {
    use super::*;
    use attendance_adapter_kit::translation::millis_timestamp;

    #[test]
    fn work_dates_are_civil_dates_in_the_app_zone() {
        let shanghai = chrono_tz::Asia::Shanghai;
        // 2023-05-24T16:00:00Z is midnight of the 25th at +08:00.
        let midnight = millis_timestamp(1_684_944_000_000).unwrap();
        assert_eq!(
            work_date_of(&midnight, shanghai),
            NaiveDate::from_ymd_opt(2023, 5, 25)
        );
        let just_before = millis_timestamp(1_684_943_999_999).unwrap();
        assert_eq!(
            work_date_of(&just_before, shanghai),
            NaiveDate::from_ymd_opt(2023, 5, 24)
        );
        // The same instant is still the 24th in Berlin (+02:00 in May).
        assert_eq!(
            work_date_of(&midnight, chrono_tz::Europe::Berlin),
            NaiveDate::from_ymd_opt(2023, 5, 24)
        );
    }

    #[test]
    fn trigger_work_dates_accept_both_documented_forms() {
        let day = NaiveDate::from_ymd_opt(2020, 11, 10);
        assert_eq!(parse_work_date("2020-11-10"), day);
        assert_eq!(parse_work_date("2020-11-10 00:00:00"), day);
        assert_eq!(parse_work_date("2020-11-31"), None);
        assert_eq!(parse_work_date("20201110"), None);
        assert_eq!(parse_work_date("2020-1-10"), None);
        assert_eq!(parse_work_date(""), None);
    }
}
