//! How Feishu's times, dates and intervals are read: epoch numbers in
//! seconds or milliseconds, wall-clock text in the tenant's zone, `yyyyMMdd`
//! work dates and the 1.0 envelope's fractional `ts`.

use attendance_adapter_kit::lenient::parse_strict_i64;
use attendance_adapter_kit::translation::MAX_TIMESTAMP_SECONDS;
use attendance_proto::Timestamp;
use chrono::{DateTime, FixedOffset, NaiveDate, NaiveDateTime, TimeZone};
use chrono_tz::Tz;

use crate::wire::IntOrString;

/// An epoch number at least this large is milliseconds, not seconds: as
/// seconds it would be past the year 5000, as milliseconds it is after 1973.
/// The remedy 2.0 doc says milliseconds while its example shows seconds.
const MIN_EPOCH_MILLIS: i64 = 100_000_000_000;

/// A non-negative whole number of seconds, if present.
pub(super) fn seconds(name: &str, value: Option<&IntOrString>) -> Result<Option<i64>, String> {
    let Some(value) = value else {
        return Ok(None);
    };
    if matches!(value, IntOrString::String(text) if text.trim().is_empty()) {
        return Ok(None);
    }
    match value.as_i64() {
        Some(n) if n >= 0 => Ok(Some(n)),
        _ => Err(format!(
            "{name} {:?} is not a number of seconds",
            value.original()
        )),
    }
}

/// An approval time: wall-clock text ("2006-01-02 15:04:05") in `zone`,
/// the app's configured `time_zone` (the events name no zone; Feishu shows
/// and stores them in the zone of the tenant's attendance, which the app's
/// configuration states), RFC 3339 text with its own offset, or an epoch
/// number (seconds, or milliseconds when that large), which is UTC. Absent,
/// empty and `0` (Feishu's "unset") read as no time.
pub(crate) fn instant(
    zone: Tz,
    name: &str,
    value: Option<&IntOrString>,
) -> Result<Option<Timestamp>, String> {
    let Some(value) = value else {
        return Ok(None);
    };
    let unreadable = || format!("{name} {:?} is not a time", value.original());
    if let Some(epoch) = value.as_i64() {
        return match epoch {
            0 => Ok(None),
            n if n < 0 => Err(unreadable()),
            n if n >= MIN_EPOCH_MILLIS => millis_timestamp(&n.to_string())
                .map(Some)
                .ok_or_else(unreadable),
            n => seconds_timestamp(&IntOrString::Int(n))
                .map(Some)
                .ok_or_else(unreadable),
        };
    }
    let IntOrString::String(text) = value else {
        return Err(unreadable());
    };
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    let at = wall_clock(text, zone).ok_or_else(unreadable)?;
    let seconds = at.timestamp();
    if !(0..=MAX_TIMESTAMP_SECONDS).contains(&seconds) {
        return Err(unreadable());
    }
    Ok(Some(Timestamp { seconds, nanos: 0 }))
}

fn wall_clock(text: &str, zone: Tz) -> Option<DateTime<FixedOffset>> {
    if let Ok(at) = DateTime::parse_from_rfc3339(text) {
        return Some(at);
    }
    let naive = ["%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S"]
        .iter()
        .find_map(|format| NaiveDateTime::parse_from_str(text, format).ok())
        .or_else(|| {
            NaiveDate::parse_from_str(text, "%Y-%m-%d")
                .ok()
                .and_then(|date| date.and_hms_opt(0, 0, 0))
        })?;
    // A time the clocks skip (a spring-forward gap) names no instant and is
    // reported; one they repeat (the autumn hour) is read as the first.
    zone.from_local_datetime(&naive)
        .earliest()
        .map(|at| at.fixed_offset())
}

pub(super) fn earliest(a: Option<Timestamp>, b: Option<Timestamp>) -> Option<Timestamp> {
    match (a, b) {
        (Some(a), Some(b)) => Some(if b.seconds < a.seconds { b } else { a }),
        (a, b) => a.or(b),
    }
}

pub(super) fn latest(a: Option<Timestamp>, b: Option<Timestamp>) -> Option<Timestamp> {
    match (a, b) {
        (Some(a), Some(b)) => Some(if b.seconds > a.seconds { b } else { a }),
        (a, b) => a.or(b),
    }
}

pub(super) fn optional_int(name: &str, value: Option<&IntOrString>) -> Result<Option<i64>, String> {
    value
        .map(|v| {
            v.as_i64()
                .ok_or_else(|| format!("{name} {:?} is not an integer", v.original()))
        })
        .transpose()
}

pub(super) fn seconds_timestamp(value: &IntOrString) -> Option<Timestamp> {
    let seconds = value.as_i64()?;
    (0..=MAX_TIMESTAMP_SECONDS)
        .contains(&seconds)
        .then_some(Timestamp { seconds, nanos: 0 })
}

/// `header.create_time` is milliseconds as a string; anything else (the GO
/// SDK's test vector sends microseconds) is dropped rather than misread.
pub(super) fn millis_timestamp(text: &str) -> Option<Timestamp> {
    parse_strict_i64(text).and_then(attendance_adapter_kit::translation::millis_timestamp)
}

/// The 1.0 envelope's `ts`: seconds, possibly with a fraction ("1502199207.7171419").
pub(super) fn fractional_seconds_timestamp(text: &str) -> Option<Timestamp> {
    let (whole, fraction) = text.trim().split_once('.').unwrap_or((text.trim(), ""));
    let seconds: i64 = whole.parse().ok()?;
    if !(0..=MAX_TIMESTAMP_SECONDS).contains(&seconds) {
        return None;
    }
    let digits: String = fraction.chars().take(9).collect();
    let nanos = if digits.is_empty() {
        0
    } else {
        format!("{digits:0<9}").parse().ok()?
    };
    Some(Timestamp { seconds, nanos })
}

/// `20210310` → `"2021-03-10"`, only for dates that exist.
pub(super) fn work_date(value: &IntOrString) -> Option<String> {
    let n = value.as_i64()?;
    if !(10_000_101..=99_991_231).contains(&n) {
        return None;
    }
    let year = i32::try_from(n / 10_000).ok()?;
    let month = u32::try_from(n / 100 % 100).ok()?;
    let day = u32::try_from(n % 100).ok()?;
    let date = NaiveDate::from_ymd_opt(year, month, day)?;
    Some(date.format("%Y-%m-%d").to_string())
}
