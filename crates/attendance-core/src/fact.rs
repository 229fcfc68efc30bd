//! What the store needs to know about each kind of fact: its identity and
//! other keys, its place in time, its vendor version, its fingerprints (all
//! content, and payroll content alone) and its encoding.

use attendance_proto::ingest::Fact;
use attendance_proto::v1::{
    log_entry, Approval, DayReconciled, LogEntryKind, Provenance, Punch, RevisionKind, ShiftResult,
    Source,
};
use prost::Message;
use sha2::{Digest, Sha256};

use crate::time::to_micros;
use crate::StoreError;

/// Where a fact is stored: one current revision per identity.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct Identity {
    pub kind: i16,
    pub vendor: i16,
    pub tenant: String,
    pub business_key: String,
}

impl Identity {
    /// The same thing under another of its keys.
    pub fn with_key(&self, key: &str) -> Identity {
        Identity {
            business_key: key.to_owned(),
            ..self.clone()
        }
    }
}

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
    /// ISO date, or empty for facts that are not about one work date.
    pub work_date: String,
}

impl FactRow {
    pub fn identity(&self) -> Identity {
        Identity {
            kind: self.kind as i16,
            vendor: self.vendor as i16,
            tenant: self.tenant.clone(),
            business_key: self.business_key.clone(),
        }
    }
}

/// Text as a column stores it. PostgreSQL's text cannot hold NUL, so both
/// engines store U+FFFD in its place (the fact's body keeps the original):
/// a vendor string with a NUL commits alike everywhere instead of failing
/// on one engine for ever.
pub(crate) fn column_text(text: &str) -> String {
    if text.contains('\0') {
        text.replace('\0', "\u{fffd}")
    } else {
        text.to_owned()
    }
}

fn source_of(source: &Option<Source>) -> (i32, String, String) {
    source
        .as_ref()
        .map(|s| (s.vendor, column_text(&s.app), column_text(&s.tenant)))
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
                business_key: column_text(&p.business_key),
                employee_id: column_text(&p.employee_id),
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
                business_key: column_text(&s.business_key),
                employee_id: column_text(&s.employee_id),
                occurred_at_us: at,
                sort_key: column_text(&s.work_date),
                start_at_us: day,
                end_at_us: day,
                work_date: column_text(&s.work_date),
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
                business_key: column_text(&a.business_key),
                employee_id: column_text(&a.employee_id),
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
                business_key: column_text(&d.work_date),
                employee_id: String::new(),
                occurred_at_us: day,
                sort_key: column_text(&d.work_date),
                start_at_us: day,
                end_at_us: day,
                work_date: column_text(&d.work_date),
            }
        }
    }
}

fn provenance(fact: &Fact) -> Option<&Provenance> {
    match fact {
        Fact::Punch(p) => p.provenance.as_ref(),
        Fact::ShiftResult(s) => s.provenance.as_ref(),
        Fact::Approval(a) => a.provenance.as_ref(),
        Fact::DayReconciled(_) => None,
    }
}

/// The vendor's own version of a fact, if the adapter gave one.
pub(crate) fn version_of(fact: &Fact) -> Option<i64> {
    provenance(fact)
        .and_then(|p| p.version_time.as_ref())
        .map(to_micros)
}

/// When the hub received a fact, if the adapter said.
pub(crate) fn received_time(fact: &Fact) -> Option<i64> {
    provenance(fact)
        .and_then(|p| p.received_time.as_ref())
        .map(to_micros)
}

/// Whether a fact only amends one stored before it: an approval that names
/// no employee (a Feishu revert carries only its instance and status) is
/// no approval payroll can use on its own.
pub(crate) fn amends_only(fact: &Fact) -> bool {
    matches!(fact, Fact::Approval(a) if a.employee_id.is_empty())
}

/// The other keys a fact may already be stored under.
pub(crate) fn matching_keys(fact: &Fact) -> &[String] {
    match fact {
        Fact::Punch(p) => &p.matching_keys,
        Fact::ShiftResult(s) => &s.matching_keys,
        Fact::Approval(a) => &a.matching_keys,
        Fact::DayReconciled(_) => &[],
    }
}

pub(crate) fn set_business_key(fact: &mut Fact, key: &str) {
    let field = match fact {
        Fact::Punch(p) => &mut p.business_key,
        Fact::ShiftResult(s) => &mut s.business_key,
        Fact::Approval(a) => &mut a.business_key,
        Fact::DayReconciled(_) => return,
    };
    key.clone_into(field);
}

/// Moves the raw vendor JSON out of a fact: it is stored once, beside it.
pub(crate) fn take_raw_json(fact: &mut Fact) -> String {
    match fact {
        Fact::Punch(p) => std::mem::take(&mut p.raw_json),
        Fact::ShiftResult(s) => std::mem::take(&mut s.raw_json),
        Fact::Approval(a) => std::mem::take(&mut a.raw_json),
        Fact::DayReconciled(_) => String::new(),
    }
}

/// The raw JSON a fact carries, for the committer's batch bound.
pub(crate) fn raw_len(fact: &Fact) -> usize {
    match fact {
        Fact::Punch(p) => p.raw_json.len(),
        Fact::ShiftResult(s) => s.raw_json.len(),
        Fact::Approval(a) => a.raw_json.len(),
        Fact::DayReconciled(_) => 0,
    }
}

/// Puts the raw vendor JSON back into a decoded fact, unless the stored body
/// still carries its own (rows written before raw JSON was stored apart).
pub(crate) fn restore_raw_json(fact: &mut log_entry::Fact, raw: Option<String>) {
    let Some(raw) = raw else { return };
    let field = match fact {
        log_entry::Fact::Punch(p) => &mut p.raw_json,
        log_entry::Fact::ShiftResult(s) => &mut s.raw_json,
        log_entry::Fact::Approval(a) => &mut a.raw_json,
        log_entry::Fact::DayReconciled(_) => return,
    };
    if field.is_empty() {
        *field = raw;
    }
}

/// Leaves out the vendor's raw JSON (a basic view of the fact).
#[cfg(test)]
pub(crate) fn clear_raw_json(fact: &mut log_entry::Fact) -> bool {
    let field = match fact {
        log_entry::Fact::Punch(p) => &mut p.raw_json,
        log_entry::Fact::ShiftResult(s) => &mut s.raw_json,
        log_entry::Fact::Approval(a) => &mut a.raw_json,
        log_entry::Fact::DayReconciled(_) => return false,
    };
    let had = !field.is_empty();
    field.clear();
    had
}

/// Leaves only who said it (vendor and tenant): the app that delivered a
/// fact is provenance, so two apps of one tenant say the same thing alike.
fn strip_source(source: &mut Option<Source>) {
    if let Some(source) = source {
        source.app.clear();
        source.app_id.clear();
    }
}

fn digest(bytes: &[u8]) -> Vec<u8> {
    Sha256::digest(bytes).to_vec()
}

/// A fingerprint of what a fact says, leaving out how and when it reached us
/// (provenance, the app, raw JSON, revision, other keys) and what a previous
/// revision said: the same punch from a retry, a second channel, a second app
/// of the tenant or a pull is the same content.
pub(crate) fn content_hash(fact: &Fact) -> Vec<u8> {
    let bytes = match fact.clone() {
        Fact::Punch(mut p) => {
            strip_source(&mut p.source);
            p.revision = 0;
            p.revision_kind = 0;
            p.provenance = None;
            p.raw_json.clear();
            p.matching_keys.clear();
            p.encode_to_vec()
        }
        Fact::ShiftResult(mut s) => {
            strip_source(&mut s.source);
            s.revision = 0;
            s.revision_kind = 0;
            s.provenance = None;
            s.raw_json.clear();
            s.matching_keys.clear();
            s.previous_status = 0;
            s.previous_status_original.clear();
            s.previous_supplement = 0;
            s.previous_supplement_original.clear();
            s.encode_to_vec()
        }
        Fact::Approval(mut a) => {
            strip_source(&mut a.source);
            a.revision = 0;
            a.revision_kind = 0;
            a.provenance = None;
            a.raw_json.clear();
            a.matching_keys.clear();
            a.encode_to_vec()
        }
        Fact::DayReconciled(mut d) => {
            strip_source(&mut d.source);
            // Every pass has its own id and time: a pass that saw the day as
            // the last signal did (same fingerprint, same coverage) says
            // nothing new.
            d.reconciled_time = None;
            d.differences_applied = 0;
            d.pass_id.clear();
            d.encode_to_vec()
        }
    };
    digest(&bytes)
}

/// A fingerprint of the fields payroll pays on: times, status, result, kind,
/// approval state and durations. Two versions that differ elsewhere only
/// (a device, a record id, a place, a scheduled time) differ by enrichment.
pub(crate) fn payroll_hash(fact: &Fact) -> Vec<u8> {
    let bytes = match fact {
        Fact::Punch(p) => Punch {
            employee_id: p.employee_id.clone(),
            check_time: p.check_time,
            validity: p.validity,
            field_punch: p.field_punch,
            ..Punch::default()
        }
        .encode_to_vec(),
        Fact::ShiftResult(s) => ShiftResult {
            employee_id: s.employee_id.clone(),
            work_date: s.work_date.clone(),
            index: s.index,
            direction: s.direction,
            status: s.status,
            supplement: s.supplement,
            location_result: s.location_result,
            actual_time: s.actual_time,
            ..ShiftResult::default()
        }
        .encode_to_vec(),
        Fact::Approval(a) => Approval {
            employee_id: a.employee_id.clone(),
            kind: a.kind,
            status: a.status,
            start_time: a.start_time,
            end_time: a.end_time,
            duration: a.duration,
            duration_unit: a.duration_unit,
            leave_type: a.leave_type.clone(),
            corrected_time: a.corrected_time,
            ..Approval::default()
        }
        .encode_to_vec(),
        Fact::DayReconciled(d) => DayReconciled {
            work_date: d.work_date.clone(),
            ..DayReconciled::default()
        }
        .encode_to_vec(),
    };
    digest(&bytes)
}

/// Fills `new` from `old` when `new` is empty and the version does not state
/// the field (`stated` names the fields a source reports even when empty).
fn fill<T: PartialEq + Default + Clone>(stated: &[String], name: &str, new: &mut T, old: &T) {
    if *new == T::default() && !stated.iter().any(|s| s == name) {
        *new = old.clone();
    }
}

fn stated_fields(provenance: &Option<Provenance>) -> Vec<String> {
    provenance
        .as_ref()
        .map(|p| p.stated_fields.clone())
        .unwrap_or_default()
}

/// Completes a new version of a fact with what the stored revision knew and
/// the new one does not say: a pull carries other fields than a push (Feishu's
/// API has no time zone or task id; a revert event names only the instance),
/// and silence is not a correction. A field the version states (its
/// provenance's `stated_fields`) is taken as it is, even empty: that clears
/// it. Also records the previous status.
pub(crate) fn complete_from_previous(new: &mut Fact, old_body: &[u8]) -> Result<(), StoreError> {
    let corrupt = |e: prost::DecodeError| StoreError::Corrupt(e.to_string());
    match new {
        Fact::Punch(p) => {
            let old = Punch::decode(old_body).map_err(corrupt)?;
            let stated = stated_fields(&p.provenance);
            let s = stated.as_slice();
            fill(s, "employee_no", &mut p.employee_no, &old.employee_no);
            match (&mut p.location, &old.location) {
                (Some(new), Some(old)) if !s.iter().any(|f| f == "location") => {
                    fill(s, "location", &mut new.name, &old.name);
                    fill(s, "location", &mut new.latitude, &old.latitude);
                    fill(s, "location", &mut new.longitude, &old.longitude);
                    fill(s, "location", &mut new.accuracy, &old.accuracy);
                }
                (location, old) => fill(s, "location", location, old),
            }
            match (&mut p.wifi, &old.wifi) {
                (Some(new), Some(old)) if !s.iter().any(|f| f == "wifi") => {
                    fill(s, "wifi", &mut new.ssid, &old.ssid);
                    fill(s, "wifi", &mut new.bssid, &old.bssid);
                }
                (wifi, old) => fill(s, "wifi", wifi, old),
            }
            match (&mut p.device, &old.device) {
                (Some(new), Some(old)) if !s.iter().any(|f| f == "device") => {
                    fill(s, "device", &mut new.id, &old.id);
                    fill(s, "device", &mut new.serial_number, &old.serial_number);
                    fill(s, "device", &mut new.name, &old.name);
                }
                (device, old) => fill(s, "device", device, old),
            }
            fill(s, "comment", &mut p.comment, &old.comment);
            fill(s, "photo_urls", &mut p.photo_urls, &old.photo_urls);
            if p.risk == 0 && !s.iter().any(|f| f == "risk") {
                p.risk = old.risk;
                p.risk_original = old.risk_original;
            }
            fill(s, "record_id", &mut p.record_id, &old.record_id);
            fill(
                s,
                "invalid_reason",
                &mut p.invalid_reason,
                &old.invalid_reason,
            );
        }
        Fact::ShiftResult(r) => {
            let old = ShiftResult::decode(old_body).map_err(corrupt)?;
            let stated = stated_fields(&r.provenance);
            let s = stated.as_slice();
            fill(s, "employee_no", &mut r.employee_no, &old.employee_no);
            fill(s, "time_zone", &mut r.time_zone, &old.time_zone);
            fill(s, "group_id", &mut r.group_id, &old.group_id);
            fill(s, "shift_id", &mut r.shift_id, &old.shift_id);
            fill(s, "task_id", &mut r.task_id, &old.task_id);
            fill(
                s,
                "scheduled_time",
                &mut r.scheduled_time,
                &old.scheduled_time,
            );
            fill(s, "actual_time", &mut r.actual_time, &old.actual_time);
            fill(
                s,
                "punch_record_id",
                &mut r.punch_record_id,
                &old.punch_record_id,
            );
            fill(s, "approval_id", &mut r.approval_id, &old.approval_id);
            if r.location_result == 0 && !s.iter().any(|f| f == "location_result") {
                r.location_result = old.location_result;
                r.location_result_original = old.location_result_original.clone();
            }
            if r.previous_status == 0 && r.previous_status_original.is_empty() {
                r.previous_status = old.status;
                r.previous_status_original = old.status_original.clone();
            }
            if r.previous_supplement == 0 && r.previous_supplement_original.is_empty() {
                r.previous_supplement = old.supplement;
                r.previous_supplement_original = old.supplement_original;
            }
        }
        Fact::Approval(a) => {
            let old = Approval::decode(old_body).map_err(corrupt)?;
            let stated = stated_fields(&a.provenance);
            let s = stated.as_slice();
            fill(s, "employee_id", &mut a.employee_id, &old.employee_id);
            fill(s, "start_time", &mut a.start_time, &old.start_time);
            fill(s, "end_time", &mut a.end_time, &old.end_time);
            if a.duration == 0.0 && !s.iter().any(|f| f == "duration") {
                a.duration = old.duration;
                a.duration_unit = old.duration_unit;
                a.duration_unit_original = old.duration_unit_original;
            }
            fill(s, "leave_type", &mut a.leave_type, &old.leave_type);
            fill(
                s,
                "corrected_time",
                &mut a.corrected_time,
                &old.corrected_time,
            );
            fill(s, "reason", &mut a.reason, &old.reason);
        }
        Fact::DayReconciled(_) => {}
    }
    Ok(())
}

/// Sets the revision the store assigned, its kind and the keys the fact is
/// known under, and returns the stored encoding (raw JSON is stored apart).
pub(crate) fn encode_revision(
    fact: &mut Fact,
    revision: i64,
    kind: RevisionKind,
    keys: &[String],
) -> Vec<u8> {
    let others = |business_key: &str| -> Vec<String> {
        keys.iter()
            .filter(|k| k.as_str() != business_key)
            .cloned()
            .collect()
    };
    match fact {
        Fact::Punch(p) => {
            p.revision = revision;
            p.revision_kind = kind as i32;
            p.matching_keys = others(&p.business_key);
            p.encode_to_vec()
        }
        Fact::ShiftResult(s) => {
            s.revision = revision;
            s.revision_kind = kind as i32;
            s.matching_keys = others(&s.business_key);
            s.encode_to_vec()
        }
        Fact::Approval(a) => {
            a.revision = revision;
            a.revision_kind = kind as i32;
            a.matching_keys = others(&a.business_key);
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

/// The stored body of a fact as the model type, for re-fingerprinting rows
/// written before fingerprints left the app out.
pub(crate) fn decode_fact(kind: i16, body: &[u8]) -> Result<Fact, StoreError> {
    Ok(match decode(i64::from(kind), body)? {
        log_entry::Fact::Punch(p) => Fact::Punch(p),
        log_entry::Fact::ShiftResult(s) => Fact::ShiftResult(s),
        log_entry::Fact::Approval(a) => Fact::Approval(a),
        log_entry::Fact::DayReconciled(d) => Fact::DayReconciled(d),
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
            source: Some(Source {
                app: "acme".into(),
                app_id: "cli_1".into(),
                tenant: "t".into(),
                vendor: 1,
            }),
            ..Default::default()
        };
        let mut b = a.clone();
        b.raw_json = "{\"other\":1}".into();
        b.revision = 3;
        b.matching_keys = vec!["t/u/1".into()];
        let source = b.source.as_mut().unwrap();
        source.app = "acme-hr".into();
        source.app_id = "cli_2".into();
        assert_eq!(
            content_hash(&Fact::Punch(a.clone())),
            content_hash(&Fact::Punch(b))
        );
        let mut c = a.clone();
        c.comment = "y".into();
        assert_ne!(
            content_hash(&Fact::Punch(a.clone())),
            content_hash(&Fact::Punch(c.clone()))
        );
        assert_eq!(
            payroll_hash(&Fact::Punch(a.clone())),
            payroll_hash(&Fact::Punch(c)),
            "a comment is descriptive"
        );
        let mut d = a.clone();
        d.check_time = Some(attendance_proto::Timestamp {
            seconds: 5,
            nanos: 0,
        });
        assert_ne!(
            payroll_hash(&Fact::Punch(a)),
            payroll_hash(&Fact::Punch(d)),
            "the time is payroll"
        );
    }

    #[test]
    fn a_stated_empty_field_clears_and_an_unstated_one_keeps() {
        let old = ShiftResult {
            actual_time: Some(attendance_proto::Timestamp {
                seconds: 9,
                nanos: 0,
            }),
            task_id: "t-1".into(),
            ..Default::default()
        };
        let mut silent = Fact::ShiftResult(ShiftResult::default());
        complete_from_previous(&mut silent, &old.encode_to_vec()).unwrap();
        let Fact::ShiftResult(silent) = silent else {
            unreachable!()
        };
        assert_eq!(silent.actual_time, old.actual_time);
        let mut stated = Fact::ShiftResult(ShiftResult {
            provenance: Some(Provenance {
                stated_fields: vec!["actual_time".into()],
                ..Default::default()
            }),
            ..Default::default()
        });
        complete_from_previous(&mut stated, &old.encode_to_vec()).unwrap();
        let Fact::ShiftResult(stated) = stated else {
            unreachable!()
        };
        assert_eq!(stated.actual_time, None, "cleared");
        assert_eq!(stated.task_id, "t-1", "kept");
    }
}
