//! The Feishu (Lark) attendance adapter: verifies and decrypts webhook pushes
//! and translates `attendance.*` events into the unified `attendance.v1` model.
//!
//! The flow is `wire` (what Feishu sends) → `verify` (the only way to obtain a
//! [`VerifiedEvent`]) → `translate` (pure) → a [`DeliverySink`] chosen by the
//! caller. `api`, `pull`, `reconcile` and `jobs` are the pull side; `config` is the
//! `[[feishu]]` section and `runtime::start` plugs the adapter into the hub.
//! This crate knows nothing of storage.
//!
//! [`DeliverySink`]: attendance_proto::ingest::DeliverySink

pub mod api;
pub mod app;
pub mod config;
pub mod crypto;
pub mod error;
pub mod frame;
pub mod jobs;
pub mod keys;
pub mod long_connection;
pub mod mapping;
pub mod pull;
pub mod reconcile;
pub mod rederive;
pub mod runtime;
pub mod translate;
pub mod verify;
pub mod webhook;
pub mod wire;

pub use app::FeishuApp;
pub use config::FeishuConfig;
pub use error::WebhookError;
pub use runtime::start;
pub use translate::{translate, Recipient};
pub use verify::{verify, Verified, VerifiedEvent};
pub use webhook::router;
