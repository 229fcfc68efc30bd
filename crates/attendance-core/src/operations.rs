//! Operator-facing state beside the log: the employees reconciliation pulls,
//! metered vendor API calls, and singleton work that one replica at a time runs.

use sqlx::pool::PoolConnection;
use sqlx::{Any, Row};

use crate::store::Backend;
use crate::{Store, StoreError};

/// An employee the hub has seen facts for.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct KnownEmployee {
    pub tenant: String,
    pub employee_id: String,
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

/// Held while a replica runs singleton work; dropping it releases the work.
pub struct Singleton {
    // PostgreSQL: the session that holds the advisory lock. Closing it (not
    // returning it to the pool) is what releases the lock if we are dropped.
    connection: Option<PoolConnection<Any>>,
    local: Option<(Store, String)>,
}

impl Drop for Singleton {
    fn drop(&mut self) {
        if let Some(connection) = self.connection.take() {
            drop(connection.detach());
        }
        if let Some((store, name)) = self.local.take() {
            store
                .inner
                .local_singletons
                .lock()
                .expect("singleton set lock")
                .remove(&name);
        }
    }
}

/// A stable advisory-lock key for a name (FNV-1a, so every replica agrees).
fn lock_key(name: &str) -> i64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in name.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    hash as i64
}

impl Store {
    /// Employees of one app seen in facts, with their tenant.
    pub async fn known_employees(
        &self,
        vendor: i32,
        app: &str,
    ) -> Result<Vec<KnownEmployee>, StoreError> {
        let rows = sqlx::query(
            "SELECT tenant, employee_id FROM employees WHERE vendor = $1 AND app = $2 \
             ORDER BY tenant, employee_id",
        )
        .bind(i64::from(vendor))
        .bind(app)
        .fetch_all(&self.inner.reader)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(KnownEmployee {
                    tenant: row.try_get("tenant")?,
                    employee_id: row.try_get("employee_id")?,
                })
            })
            .collect()
    }

    /// Adds `calls` to an app's count for `month` (YYYY-MM).
    pub async fn add_vendor_calls(
        &self,
        vendor: i32,
        app: &str,
        month: &str,
        calls: i64,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO vendor_calls (vendor, app, month, calls) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (vendor, app, month) DO UPDATE SET calls = vendor_calls.calls + excluded.calls",
        )
        .bind(i64::from(vendor))
        .bind(app)
        .bind(month)
        .bind(calls)
        .execute(&self.inner.writer)
        .await?;
        Ok(())
    }

    /// Every app's counts, newest month first.
    pub async fn vendor_calls(&self) -> Result<Vec<VendorCalls>, StoreError> {
        let rows = sqlx::query(
            "SELECT vendor, app, month, calls FROM vendor_calls ORDER BY month DESC, vendor, app",
        )
        .fetch_all(&self.inner.reader)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(VendorCalls {
                    vendor: row.try_get::<i64, _>("vendor")? as i32,
                    app: row.try_get("app")?,
                    month: row.try_get("month")?,
                    calls: row.try_get("calls")?,
                })
            })
            .collect()
    }

    /// Claims singleton work `name` unless another replica (PostgreSQL) or
    /// task (this process) holds it. `None` means someone else runs it.
    pub async fn try_singleton(&self, name: &str) -> Result<Option<Singleton>, StoreError> {
        {
            let mut held = self
                .inner
                .local_singletons
                .lock()
                .expect("singleton set lock");
            if !held.insert(name.to_string()) {
                return Ok(None);
            }
        }
        let mut singleton = Singleton {
            connection: None,
            local: Some((self.clone(), name.to_string())),
        };
        if self.inner.backend == Backend::Postgres {
            let mut connection = self.inner.writer.acquire().await?;
            let granted: bool = sqlx::query("SELECT pg_try_advisory_lock($1) AS granted")
                .bind(lock_key(name))
                .fetch_one(&mut *connection)
                .await?
                .try_get("granted")?;
            if !granted {
                return Ok(None);
            }
            singleton.connection = Some(connection);
        }
        Ok(Some(singleton))
    }
}
