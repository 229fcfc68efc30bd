//! Fresh databases for tests, re-exported from `attendance_core::testing`
//! (feature `test-util`), where the core's own tests reach them without
//! building the vendor adapters.

pub use attendance_core::testing::{TestDatabase, POSTGRES_URL_VAR};
