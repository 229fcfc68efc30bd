//! A log row as a subscriber receives it: the fact decoded, its raw vendor
//! JSON put back, and the cursor that resumes after it; or the same entry
//! encoded straight from the row, for the streams that only send it.

use attendance_proto::frame::SubscribeFrame;
use attendance_proto::v1::LogEntry;
use attendance_proto::v1::LogEntryKind;
use bytes::Bytes;
use prost::encoding::{decode_key, decode_varint, encode_key, encode_varint, WireType};

use crate::cursor::LogTag;
use crate::engine::LogRead;
use crate::fact::{decode, restore_raw_json};
use crate::subscription::EntryView;
use crate::time::from_micros;
use crate::{Cursor, StoreError};

pub(crate) fn log_entry_of(log: LogTag, row: LogRead) -> Result<LogEntry, StoreError> {
    let mut fact = decode(i64::from(row.kind), &row.body)?;
    restore_raw_json(&mut fact, row.raw);
    use attendance_proto::v1::log_entry;
    let source = match &fact {
        log_entry::Fact::Punch(p) => p.source.clone(),
        log_entry::Fact::ShiftResult(s) => s.source.clone(),
        log_entry::Fact::Approval(a) => a.source.clone(),
        log_entry::Fact::DayReconciled(d) => d.source.clone(),
    };
    Ok(LogEntry {
        cursor: Cursor::new(log, row.seq, row.received_at_us).encode(),
        kind: i32::from(row.kind),
        source,
        employee_id: row.employee_id,
        occurred_time: Some(from_micros(row.occurred_at_us)),
        received_time: Some(from_micros(row.received_at_us)),
        fact: Some(fact),
        revision_kind: i32::from(row.revision_kind),
    })
}

/// Where a kind's fact sits in `LogEntry` (its `fact` oneof) and the number
/// of its `raw_json` field (the model's `Punch`, `ShiftResult`, `Approval`;
/// `DayReconciled` has none). The tests compare every kind with prost's own
/// encoding, so a renumbered field cannot slip by.
fn fact_fields(kind: i16) -> Option<(u32, Option<u32>)> {
    match LogEntryKind::try_from(i32::from(kind)).ok()? {
        LogEntryKind::Punch => Some((7, Some(24))),
        LogEntryKind::ShiftResult => Some((8, Some(29))),
        LogEntryKind::Approval => Some((9, Some(19))),
        LogEntryKind::DayReconciled => Some((10, None)),
        LogEntryKind::Unspecified => None,
    }
}

/// The `SubscribeResponse` of a row, written from the stored body without
/// decoding the fact: the body's fields are copied as they are (the fact's
/// `source` also as the entry's), the raw JSON appended as the fact's
/// `raw_json` field (or, in the basic view, any left out). Bytes a client
/// decodes into exactly what [`log_entry_of`] gives; a catching-up stream
/// sends thousands of entries a second, and decoding each fact only to
/// encode it again was most of its work.
pub(crate) fn entry_frame(
    log: LogTag,
    row: &LogRead,
    view: EntryView,
) -> Result<SubscribeFrame, StoreError> {
    let corrupt = |what: &str| StoreError::Corrupt(format!("log entry {}: {what}", row.seq));
    let (fact_field, raw_field) =
        fact_fields(row.kind).ok_or_else(|| corrupt(&format!("unknown log kind {}", row.kind)))?;
    // One walk over the body's top-level fields: where the source is, and
    // whether the body holds raw JSON of its own (rows from before raw
    // documents were stored apart).
    let body = row.body.as_slice();
    let mut source: Option<&[u8]> = None;
    let mut own_raw: Option<(usize, usize)> = None;
    let mut rest = body;
    while !rest.is_empty() {
        let start = body.len() - rest.len();
        let (number, wire_type) = decode_key(&mut rest).map_err(|e| corrupt(&e.to_string()))?;
        match wire_type {
            WireType::Varint => {
                decode_varint(&mut rest).map_err(|e| corrupt(&e.to_string()))?;
            }
            WireType::SixtyFourBit | WireType::ThirtyTwoBit => {
                let width = if wire_type == WireType::SixtyFourBit {
                    8
                } else {
                    4
                };
                rest = rest.get(width..).ok_or_else(|| corrupt("truncated"))?;
            }
            WireType::LengthDelimited => {
                let length = decode_varint(&mut rest).map_err(|e| corrupt(&e.to_string()))?;
                let length = usize::try_from(length).map_err(|_| corrupt("length"))?;
                let value = rest.get(..length).ok_or_else(|| corrupt("truncated"))?;
                if number == 1 {
                    source = Some(value);
                }
                if Some(number) == raw_field && !value.is_empty() {
                    own_raw = Some((start, body.len() - rest.len() + length));
                }
                rest = &rest[length..];
            }
            WireType::StartGroup | WireType::EndGroup => return Err(corrupt("group field")),
        }
    }
    let raw = row.raw.as_deref().filter(|raw| !raw.is_empty());
    let mut fact: Vec<u8>;
    let fact_bytes: &[u8] = match (view, own_raw, raw_field, raw) {
        (EntryView::Basic, Some((from, to)), _, _) => {
            fact = Vec::with_capacity(body.len());
            fact.extend_from_slice(&body[..from]);
            fact.extend_from_slice(&body[to..]);
            &fact
        }
        (EntryView::Full, None, Some(number), Some(raw)) => {
            fact = Vec::with_capacity(body.len() + raw.len() + 8);
            fact.extend_from_slice(body);
            encode_key(number, WireType::LengthDelimited, &mut fact);
            encode_varint(raw.len() as u64, &mut fact);
            fact.extend_from_slice(raw.as_bytes());
            &fact
        }
        _ => body,
    };

    let cursor = Cursor::new(log, row.seq, row.received_at_us).encode();
    let occurred = from_micros(row.occurred_at_us);
    let received = from_micros(row.received_at_us);
    let mut entry = Vec::with_capacity(fact_bytes.len() + cursor.len() + 96);
    prost::encoding::string::encode(1, &cursor, &mut entry);
    if row.kind != 0 {
        prost::encoding::int32::encode(2, &i32::from(row.kind), &mut entry);
    }
    if let Some(source) = source {
        length_delimited(3, source, &mut entry);
    }
    if !row.employee_id.is_empty() {
        prost::encoding::string::encode(4, &row.employee_id, &mut entry);
    }
    prost::encoding::message::encode(5, &occurred, &mut entry);
    prost::encoding::message::encode(6, &received, &mut entry);
    length_delimited(fact_field, fact_bytes, &mut entry);
    if row.revision_kind != 0 {
        prost::encoding::int32::encode(11, &i32::from(row.revision_kind), &mut entry);
    }
    let mut response = Vec::with_capacity(entry.len() + 8);
    length_delimited(1, &entry, &mut response);
    Ok(SubscribeFrame::Entry(Bytes::from(response)))
}

fn length_delimited(number: u32, value: &[u8], buf: &mut Vec<u8>) {
    encode_key(number, WireType::LengthDelimited, buf);
    encode_varint(value.len() as u64, buf);
    buf.extend_from_slice(value);
}

#[cfg(test)]
mod tests {
    use attendance_proto::v1::{
        Approval, DayReconciled, LogEntry, Punch, RevisionKind, ShiftResult, Source,
        SubscribeResponse,
    };
    use prost::Message;

    use super::*;
    use crate::fact::clear_raw_json;

    fn source() -> Option<Source> {
        Some(Source {
            vendor: 1,
            app: "acme".into(),
            app_id: "cli_1".into(),
            tenant: "t1".into(),
        })
    }

    fn row(kind: LogEntryKind, body: Vec<u8>, raw: Option<&str>) -> LogRead {
        LogRead {
            seq: 42,
            tenant: "t1".into(),
            vendor: 1,
            kind: kind as i16,
            revision_kind: RevisionKind::Correction as i16,
            employee_id: "u1".into(),
            occurred_at_us: 1_615_338_000_123_456,
            received_at_us: 1_615_338_001_000_000,
            body,
            raw: raw.map(str::to_owned),
        }
    }

    /// The entry as the decoding path builds it, encoded by prost.
    fn reference(log: LogTag, row: LogRead, view: EntryView) -> Vec<u8> {
        let mut entry: LogEntry = log_entry_of(log, row).unwrap();
        if view == EntryView::Basic {
            clear_raw_json(entry.fact.as_mut().unwrap());
        }
        SubscribeFrame::entry(entry).encode_to_vec()
    }

    #[test]
    fn an_entry_written_from_its_row_is_the_entry_prost_encodes() {
        let log = LogTag::of("log-1");
        let punch = Punch {
            source: source(),
            business_key: "k".into(),
            employee_id: "u1".into(),
            // Fields numbered after raw_json: the raw JSON appended after
            // them still decodes into the same message.
            revision: 3,
            matching_keys: vec!["m".into()],
            ..Punch::default()
        };
        let result = ShiftResult {
            source: source(),
            work_date: "2021-03-10".into(),
            ..ShiftResult::default()
        };
        let approval = Approval {
            source: source(),
            instance_id: "i".into(),
            duration: 1.5,
            matching_keys: vec!["m".into()],
            ..Approval::default()
        };
        let day = DayReconciled {
            source: source(),
            work_date: "2021-03-10".into(),
            ..DayReconciled::default()
        };
        let old_punch = Punch {
            raw_json: "{\"kept\":1}".into(),
            ..punch.clone()
        };
        let bodies = [
            (LogEntryKind::Punch, punch.encode_to_vec()),
            (LogEntryKind::Punch, old_punch.encode_to_vec()),
            (LogEntryKind::Punch, Punch::default().encode_to_vec()),
            (LogEntryKind::ShiftResult, result.encode_to_vec()),
            (LogEntryKind::Approval, approval.encode_to_vec()),
            (LogEntryKind::DayReconciled, day.encode_to_vec()),
        ];
        for (kind, body) in bodies {
            for raw in [None, Some(""), Some("{\"raw\":true}")] {
                for view in [EntryView::Full, EntryView::Basic] {
                    let direct = entry_frame(log, &row(kind, body.clone(), raw), view).unwrap();
                    let expected = reference(log, row(kind, body.clone(), raw), view);
                    assert_eq!(
                        SubscribeResponse::decode(direct.encode_to_vec().as_slice()).unwrap(),
                        SubscribeResponse::decode(expected.as_slice()).unwrap(),
                        "{kind:?} raw {raw:?} {view:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn a_corrupt_body_is_refused() {
        let log = LogTag::of("log-1");
        for body in [vec![0x0a, 0x05, 0x01], vec![0x0b], vec![0x80]] {
            assert!(matches!(
                entry_frame(log, &row(LogEntryKind::Punch, body, None), EntryView::Full),
                Err(StoreError::Corrupt(_))
            ));
        }
        assert!(entry_frame(
            log,
            &row(LogEntryKind::Unspecified, Vec::new(), None),
            EntryView::Full
        )
        .is_err());
    }
}
