//! The hub's core: durable delivery dedup, business-key revisions decided
//! inside the commit's transaction, one gapless log of every committed
//! change, and subscriptions that follow it, on SQLite or PostgreSQL. It
//! speaks the `attendance.v1` model only; vendor JSON is an opaque string here.

mod batch;
mod commit;
mod cursor;
mod engine;
mod error;
mod fact;
mod filter;
mod hub_store;
mod log_entry;
mod log_identity;
mod metrics;
mod operations;
mod page;
mod pg_connect;
mod postgres;
mod reconciled_days;
mod records;
mod retention;
mod shared_sql;
mod sqlite;
mod store;
mod stored;
mod subscription;
mod tail;
#[cfg(feature = "test-util")]
pub mod testing;
mod time;

pub use cursor::Cursor;
pub use error::StoreError;
pub use operations::Singleton;
pub use page::{ApprovalQuery, Page, PunchQuery, ShiftResultQuery, TenantScope};
pub use reconciled_days::{ReconciledDaysQuery, MAX_RECONCILED_DAYS};
pub use records::{Backend, DeliveryCounts, KnownEmployee, SourceActivity, VendorCalls};
pub use retention::Removed;
pub use store::{Store, StoreOptions};
pub use subscription::{
    subscribe, EntryView, Start, Subscription, SubscriptionFilter, SubscriptionItem,
    SubscriptionOptions,
};
pub use tail::TailLimits;
