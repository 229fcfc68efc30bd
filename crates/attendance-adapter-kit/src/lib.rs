//! The adapter kit: what every vendor adapter needs, written once. Each
//! vendor crate keeps only what is its vendor's (wire formats, crypto,
//! translation, the vendor's API calls) and builds on these pieces. The kit
//! depends on the proto crate only: it knows nothing of storage.

pub mod api;
pub mod config;
pub mod connection;
pub mod cross_check;
pub mod error;
pub mod health;
pub mod jobs;
pub mod lenient;
pub mod meter;
pub mod outcome;
pub mod reconcile;
pub mod rederive;
pub mod runtime;
pub mod secret;
#[cfg(any(test, feature = "test-util"))]
pub mod testing;
pub mod translation;
pub mod webhook;

pub use runtime::{HubContext, LocalAddress, UnreconciledApp, VendorRuntime};
pub use secret::Secret;
pub use webhook::{Incoming, Opened, WebhookVendor};
