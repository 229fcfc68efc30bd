//! What the store needs to know about each kind of fact: its key, its place in
//! time, its content fingerprint and its encoding.

use attendance_proto::ingest::Fact;
use attendance_proto::v1::{
    log_entry, Approval, DayReconciled, LogEntryKind, Punch, ShiftResult, Source,
};
use prost::Message;
use sha2::{Digest, Sha256};

use crate::time::to_micros;
use crate::StoreError;

/// The columns under which a fact is stored and listed.
pub(crate) struct FactRow {
    pub kind: LogEntryKind,
    pub vendor: i32,
    pub app: String,
    pub tenant: String,
    pub business_key: String,
    pub employee_id: String,
    pub occurred_at_us: i64,
    /// Orders list results: a padded instant, or the ISO work date.
    pub sort_key: String,
    pub start_at_us: i64,
    pub end_at_us: i64,
    pub work_date: String,
}

fn source_of(source: &Option<Source>) -> (i32, String, String) {
    source
        .as_ref()
        .map(|s| (s.vendor, s.app.clone(), s.tenant.clone()))
        .unwrap_or_default()
}

/// Pads an instant so that text order is time order, also before 1970.
pub(crate) fn instant_sort_key(us: i64) -> String {
    format!("{:020}", (us as i128 + i64::MAX as i128 / 2).max(0))
}

/// Days since 1970-01-01 of a civil date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (m + if m > 2 { -3 } else { 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Midnight UTC of an ISO work date; the order key of a shift result without times.
pub(crate) fn work_date_micros(work_date: &str) -> Option<i64> {
    let mut parts = work_date.splitn(3, '-').map(|p| p.parse::<i64>().ok());
    let (y, m, d) = (parts.next()??, parts.next()??, parts.next()??);
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) {
        return None;
    }
    Some(days_from_civil(y, m, d) * 86_400 * 1_000_000)
}

pub(crate) fn validate_work_date(field: &'static str, value: &str) -> Result<(), StoreError> {
    if value.is_empty() || (value.len() == 10 && work_date_micros(value).is_some()) {
        Ok(())
    } else {
        Err(StoreError::InvalidArgument {
            field,
            reason: format!("{value:?} is not a YYYY-MM-DD date"),
        })
    }
}

fn ts(t: &Option<attendance_proto::Timestamp>) -> Option<i64> {
    t.as_ref().map(to_micros)
}

pub(crate) fn row_of(fact: &Fact) -> FactRow {
    match fact {
        Fact::Punch(p) => {
            let (vendor, app, tenant) = source_of(&p.source);
            let at = ts(&p.check_time).unwrap_or_default();
            FactRow {
                kind: LogEntryKind::Punch,
                vendor,
                app,
                tenant,
                business_key: p.business_key.clone(),
                employee_id: p.employee_id.clone(),
                occurred_at_us: at,
                sort_key: instant_sort_key(at),
                start_at_us: at,
                end_at_us: at,
                work_date: String::new(),
            }
        }
        Fact::ShiftResult(s) => {
            let (vendor, app, tenant) = source_of(&s.source);
            let day = work_date_micros(&s.work_date).unwrap_or_default();
            let at = ts(&s.scheduled_time).or(ts(&s.actual_time)).unwrap_or(day);
            FactRow {
                kind: LogEntryKind::ShiftResult,
                vendor,
                app,
                tenant,
                business_key: s.business_key.clone(),
                employee_id: s.employee_id.clone(),
                occurred_at_us: at,
                sort_key: s.work_date.clone(),
                start_at_us: day,
                end_at_us: day,
                work_date: s.work_date.clone(),
            }
        }
        Fact::Approval(a) => {
            let (vendor, app, tenant) = source_of(&a.source);
            let start = ts(&a.start_time).unwrap_or_default();
            let end = ts(&a.end_time).unwrap_or(start);
            FactRow {
                kind: LogEntryKind::Approval,
                vendor,
                app,
                tenant,
                business_key: a.business_key.clone(),
                employee_id: a.employee_id.clone(),
                occurred_at_us: start,
                sort_key: instant_sort_key(start),
                start_at_us: start,
                end_at_us: end,
                work_date: String::new(),
            }
        }
        Fact::DayReconciled(d) => {
            let (vendor, app, tenant) = source_of(&d.source);
            let day = work_date_micros(&d.work_date).unwrap_or_default();
            FactRow {
                kind: LogEntryKind::DayReconciled,
                vendor,
                app,
                tenant,
                business_key: d.work_date.clone(),
                employee_id: String::new(),
                occurred_at_us: day,
                sort_key: d.work_date.clone(),
                start_at_us: day,
                end_at_us: day,
                work_date: d.work_date.clone(),
            }
        }
    }
}

/// A fingerprint of what a fact says, leaving out how and when it reached us
/// (provenance, raw JSON, revision) and what a previous revision said: the same
/// punch from a retry, a second channel or a pull is the same content.
pub(crate) fn content_hash(fact: &Fact) -> Vec<u8> {
    let bytes = match fact.clone() {
        Fact::Punch(mut p) => {
            p.revision = 0;
            p.provenance = None;
            p.raw_json.clear();
            p.encode_to_vec()
        }
        Fact::ShiftResult(mut s) => {
            s.revision = 0;
            s.provenance = None;
            s.raw_json.clear();
            s.previous_status = 0;
            s.previous_status_original.clear();
            s.previous_supplement = 0;
            s.previous_supplement_original.clear();
            s.encode_to_vec()
        }
        Fact::Approval(mut a) => {
            a.revision = 0;
            a.provenance = None;
            a.raw_json.clear();
            a.encode_to_vec()
        }
        Fact::DayReconciled(mut d) => {
            d.reconciled_time = None;
            d.differences_applied = 0;
            d.encode_to_vec()
        }
    };
    Sha256::digest(bytes).to_vec()
}

fn fill<T: PartialEq + Default + Clone>(new: &mut T, old: &T) {
    if *new == T::default() {
        *new = old.clone();
    }
}

/// Completes a new version of a fact with what the stored revision knew and
/// the new one does not say: a pull carries other fields than a push (Feishu's
/// API has no time zone or task id; a revert event names only the instance),
/// and silence is not a correction. Also records the previous status.
pub(crate) fn complete_from_previous(new: &mut Fact, old_body: &[u8]) -> Result<(), StoreError> {
    let corrupt = |e: prost::DecodeError| StoreError::Corrupt(e.to_string());
    match new {
        Fact::Punch(p) => {
            let old = Punch::decode(old_body).map_err(corrupt)?;
            fill(&mut p.employee_no, &old.employee_no);
            match (&mut p.location, &old.location) {
                (Some(new), Some(old)) => {
                    fill(&mut new.name, &old.name);
                    fill(&mut new.latitude, &old.latitude);
                    fill(&mut new.longitude, &old.longitude);
                    fill(&mut new.accuracy, &old.accuracy);
                }
                (location, old) => fill(location, old),
            }
            match (&mut p.wifi, &old.wifi) {
                (Some(new), Some(old)) => {
                    fill(&mut new.ssid, &old.ssid);
                    fill(&mut new.bssid, &old.bssid);
                }
                (wifi, old) => fill(wifi, old),
            }
            match (&mut p.device, &old.device) {
                (Some(new), Some(old)) => {
                    fill(&mut new.id, &old.id);
                    fill(&mut new.serial_number, &old.serial_number);
                    fill(&mut new.name, &old.name);
                }
                (device, old) => fill(device, old),
            }
            fill(&mut p.comment, &old.comment);
            fill(&mut p.photo_urls, &old.photo_urls);
            if p.risk == 0 {
                p.risk = old.risk;
                p.risk_original = old.risk_original;
            }
            fill(&mut p.record_id, &old.record_id);
        }
        Fact::ShiftResult(s) => {
            let old = ShiftResult::decode(old_body).map_err(corrupt)?;
            fill(&mut s.employee_no, &old.employee_no);
            fill(&mut s.time_zone, &old.time_zone);
            fill(&mut s.group_id, &old.group_id);
            fill(&mut s.shift_id, &old.shift_id);
            fill(&mut s.task_id, &old.task_id);
            fill(&mut s.scheduled_time, &old.scheduled_time);
            fill(&mut s.actual_time, &old.actual_time);
            fill(&mut s.punch_record_id, &old.punch_record_id);
            fill(&mut s.approval_id, &old.approval_id);
            if s.location_result == 0 {
                s.location_result = old.location_result;
                s.location_result_original = old.location_result_original.clone();
            }
            if s.previous_status == 0 && s.previous_status_original.is_empty() {
                s.previous_status = old.status;
                s.previous_status_original = old.status_original.clone();
            }
            if s.previous_supplement == 0 && s.previous_supplement_original.is_empty() {
                s.previous_supplement = old.supplement;
                s.previous_supplement_original = old.supplement_original;
            }
        }
        Fact::Approval(a) => {
            let old = Approval::decode(old_body).map_err(corrupt)?;
            fill(&mut a.employee_id, &old.employee_id);
            fill(&mut a.start_time, &old.start_time);
            fill(&mut a.end_time, &old.end_time);
            if a.duration == 0.0 {
                a.duration = old.duration;
                a.duration_unit = old.duration_unit;
                a.duration_unit_original = old.duration_unit_original;
            }
            fill(&mut a.leave_type, &old.leave_type);
            fill(&mut a.corrected_time, &old.corrected_time);
            fill(&mut a.reason, &old.reason);
        }
        Fact::DayReconciled(_) => {}
    }
    Ok(())
}

/// Sets the revision the store assigned and returns the stored encoding.
pub(crate) fn encode_with_revision(fact: &mut Fact, revision: i64) -> Vec<u8> {
    match fact {
        Fact::Punch(p) => {
            p.revision = revision;
            p.encode_to_vec()
        }
        Fact::ShiftResult(s) => {
            s.revision = revision;
            s.encode_to_vec()
        }
        Fact::Approval(a) => {
            a.revision = revision;
            a.encode_to_vec()
        }
        Fact::DayReconciled(d) => d.encode_to_vec(),
    }
}

pub(crate) fn decode(kind: i64, body: &[u8]) -> Result<log_entry::Fact, StoreError> {
    let corrupt = |e: prost::DecodeError| StoreError::Corrupt(e.to_string());
    let kind = i32::try_from(kind)
        .ok()
        .and_then(|k| LogEntryKind::try_from(k).ok());
    Ok(match kind {
        Some(LogEntryKind::Punch) => log_entry::Fact::Punch(Punch::decode(body).map_err(corrupt)?),
        Some(LogEntryKind::ShiftResult) => {
            log_entry::Fact::ShiftResult(ShiftResult::decode(body).map_err(corrupt)?)
        }
        Some(LogEntryKind::Approval) => {
            log_entry::Fact::Approval(Approval::decode(body).map_err(corrupt)?)
        }
        Some(LogEntryKind::DayReconciled) => {
            log_entry::Fact::DayReconciled(DayReconciled::decode(body).map_err(corrupt)?)
        }
        _ => return Err(StoreError::Corrupt(format!("unknown log kind {kind:?}"))),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn work_dates_map_to_utc_midnight() {
        assert_eq!(work_date_micros("1970-01-01"), Some(0));
        assert_eq!(
            work_date_micros("2021-03-10"),
            Some(1_615_334_400 * 1_000_000)
        );
        assert_eq!(work_date_micros("2021-13-10"), None);
        assert!(validate_work_date("f", "2021-3-1").is_err());
    }

    #[test]
    fn instant_sort_keys_order_like_instants() {
        let keys: Vec<_> = [-5_000_000, -1, 0, 1, 1_615_381_916_000_000]
            .iter()
            .map(|&us| instant_sort_key(us))
            .collect();
        let mut sorted = keys.clone();
        sorted.sort();
        assert_eq!(keys, sorted);
    }

    #[test]
    fn provenance_does_not_change_content() {
        let a = Punch {
            business_key: "r1".into(),
            comment: "x".into(),
            raw_json: "{}".into(),
            ..Default::default()
        };
        let mut b = a.clone();
        b.raw_json = "{\"other\":1}".into();
        b.revision = 3;
        assert_eq!(
            content_hash(&Fact::Punch(a.clone())),
            content_hash(&Fact::Punch(b))
        );
        let mut c = a.clone();
        c.comment = "y".into();
        assert_ne!(content_hash(&Fact::Punch(a)), content_hash(&Fact::Punch(c)));
    }
}
