//! The DingTalk (钉钉) attendance adapter: verifies and decrypts HTTP
//! callbacks, reads Stream frames, and translates attendance events into the
//! unified `attendance.v1` model.
//!
//! The flow is `wire` (what DingTalk sends) → `verify` (the only way to obtain
//! a [`VerifiedCallback`]) or `stream_frame` (an EVENT frame becomes a
//! [`StreamEvent`]) → `translate` (pure) → a [`DeliverySink`] chosen by the
//! caller. [`pull_triggers`] says which employee-days a delivery calls for
//! pulling. `api` is the client of DingTalk's open APIs; `pull` translates
//! what they answer (pure) and `reconcile` runs one pass through a sink.
//! `stream` is the Stream client: it dials DingTalk's gateway and commits
//! each event through a sink before acknowledging it.
//! `jobs` and `failed_push` are the background work (durable pull jobs,
//! failed-push recovery); `report` reads the smart attendance report for
//! the kit's cross-check of leave and overtime totals; `config` is the `[[dingtalk]]` section and
//! `runtime::start` plugs the adapter into the hub.
//! This crate knows nothing of storage and binds no socket.
//!
//! [`DeliverySink`]: attendance_proto::ingest::DeliverySink

pub mod api;
pub mod app;
pub mod callback;
pub mod config;
pub mod crypto;
pub mod error;
pub mod failed_push;
pub mod jobs;
pub mod mapping;
pub mod pull;
pub mod reconcile;
pub mod rederive;
pub mod report;
pub mod runtime;
pub mod stream;
pub mod stream_frame;
pub mod translate;
pub mod trigger;
pub mod verify;
pub mod wire;

pub use app::DingTalkApp;
pub use callback::router;
pub use config::DingTalkConfig;
pub use error::{CallbackError, FrameError};
pub use runtime::start;
pub use stream_frame::{classify, parse_frame, FrameKind, StreamEvent};
pub use translate::{
    approval_pulls, instance_pulls, pull_triggers, translate_callback, translate_stream,
};
pub use trigger::{ApprovalPull, DayPull, InstancePull};
pub use verify::{verify_callback, VerifiedCallback};
