//! The adapter kit: what every vendor adapter needs, written once. Each
//! vendor crate keeps only what is its vendor's (wire formats, crypto,
//! translation, the vendor's API calls) and builds on these pieces. The kit
//! depends on the proto crate only: it knows nothing of storage.

pub mod api;
pub mod config;
pub mod connection;
pub mod health;
pub mod jobs;
pub mod lenient;
pub mod meter;
pub mod reconcile;
pub mod rederive;
pub mod runtime;
pub mod secret;
pub mod translation;

pub use runtime::{HubContext, LocalAddress, VendorRuntime};
pub use secret::Secret;
