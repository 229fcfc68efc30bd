//! A log row as a subscriber receives it: the fact decoded, its raw vendor
//! JSON put back, and the cursor that resumes after it.

use attendance_proto::v1::LogEntry;

use crate::cursor::LogTag;
use crate::engine::LogRead;
use crate::fact::{decode, restore_raw_json};
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
