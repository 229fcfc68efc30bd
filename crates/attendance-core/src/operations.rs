//! Operator-facing state beside the log: the employees reconciliation pulls,
//! metered vendor API calls, and singleton work that one replica at a time runs.

use crate::engine::Claim;
use crate::records::{KnownEmployee, SourceActivity, VendorCalls};
use crate::{Store, StoreError};

/// Held while a replica runs singleton work; dropping it releases the work.
pub struct Singleton {
    /// The engine's claim across replicas (a PostgreSQL advisory lock).
    _claim: Claim,
    local: (Store, String),
}

impl Drop for Singleton {
    fn drop(&mut self) {
        let (store, name) = &self.local;
        store
            .inner
            .local_singletons
            .lock()
            .expect("singleton set lock")
            .remove(name);
    }
}

impl Store {
    /// Employees of one app seen in facts, with their tenant.
    pub async fn known_employees(
        &self,
        vendor: i32,
        app: &str,
    ) -> Result<Vec<KnownEmployee>, StoreError> {
        self.inner.engine.known_employees(vendor, app).await
    }

    /// Adds `calls` to an app's count for `month` (YYYY-MM).
    pub async fn add_vendor_calls(
        &self,
        vendor: i32,
        app: &str,
        month: &str,
        calls: i64,
    ) -> Result<(), StoreError> {
        self.inner
            .engine
            .add_vendor_calls(vendor, app, month, calls)
            .await
    }

    /// Retained deliveries per source (vendor, app, channel), with the
    /// newest one's receipt time.
    pub async fn source_activity(&self) -> Result<Vec<SourceActivity>, StoreError> {
        self.inner.engine.source_activity().await
    }

    /// Every app's counts, newest month first.
    pub async fn vendor_calls(&self) -> Result<Vec<VendorCalls>, StoreError> {
        self.inner.engine.vendor_calls().await
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
        let release_local = || {
            self.inner
                .local_singletons
                .lock()
                .expect("singleton set lock")
                .remove(name);
        };
        match self.inner.engine.claim(name).await {
            Ok(Some(claim)) => Ok(Some(Singleton {
                _claim: claim,
                local: (self.clone(), name.to_string()),
            })),
            Ok(None) => {
                release_local();
                Ok(None)
            }
            Err(error) => {
                release_local();
                Err(error)
            }
        }
    }
}
