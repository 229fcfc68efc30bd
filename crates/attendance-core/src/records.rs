//! The plain records the store answers with, shared by the store handle and
//! both engines.

/// The database engine behind a store.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// How many deliveries the store holds, by what the adapter made of them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DeliveryCounts {
    pub translated: i64,
    pub unknown: i64,
    pub untranslatable: i64,
    /// Facts that arrived older than the stored version: kept raw, not applied.
    pub superseded: i64,
}

impl DeliveryCounts {
    pub(crate) fn add(&mut self, recognition: &str, n: i64, superseded: i64) {
        match recognition {
            "translated" => self.translated += n,
            "unknown" => self.unknown += n,
            _ => self.untranslatable += n,
        }
        self.superseded += superseded;
    }
}

/// An employee the hub has seen facts for.
pub use attendance_proto::hub::KnownEmployee;

/// The deliveries retained from one source (vendor, app, channel).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SourceActivity {
    pub vendor: i32,
    pub app: String,
    pub channel: i32,
    pub deliveries: i64,
    /// When the newest of them was received (µs since the epoch).
    pub last_received_us: i64,
}

/// One app's metered calls in one month.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VendorCalls {
    pub vendor: i32,
    pub app: String,
    /// YYYY-MM, UTC.
    pub month: String,
    pub calls: i64,
}
