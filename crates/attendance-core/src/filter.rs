//! What a subscriber wants of the log: one filter, evaluated in SQL by each
//! engine's `read_log` and in memory over the shared tail, with the same
//! rules in both places.

use attendance_proto::v1::{LogEntryKind, RevisionKind};

/// Which entries a subscriber wants; empty lists match everything.
#[derive(Clone, Debug, Default)]
pub struct SubscriptionFilter {
    pub tenants: Vec<String>,
    pub vendors: Vec<i32>,
    pub kinds: Vec<i32>,
    pub employee_ids: Vec<String>,
    /// Leave out revisions that only added descriptive detail.
    pub exclude_enrichments: bool,
}

impl SubscriptionFilter {
    /// Whether an entry with these columns passes: the test the engines'
    /// `read_log` runs in SQL, for entries the shared tail already holds.
    pub(crate) fn matches(
        &self,
        tenant: &str,
        vendor: i16,
        kind: i16,
        employee_id: &str,
        revision_kind: i16,
    ) -> bool {
        (self.tenants.is_empty() || self.tenants.iter().any(|t| t == tenant))
            && (self.vendors.is_empty() || self.vendors.iter().any(|v| *v == i32::from(vendor)))
            && (self.kinds.is_empty() || self.kinds.iter().any(|k| *k == i32::from(kind)))
            // A day signal speaks for the whole tenant: no employee filter hides it.
            && (self.employee_ids.is_empty()
                || kind == LogEntryKind::DayReconciled as i16
                || self.employee_ids.iter().any(|e| e == employee_id))
            && !(self.exclude_enrichments && revision_kind == RevisionKind::Enrichment as i16)
    }
}
