//! The hub as a library: configuration, composition of store, adapters and
//! APIs, and the two listeners. Only this crate binds sockets or reads the
//! environment.

mod access;
mod admin;
pub mod config;
mod day_view;
mod error;
mod grpc;
mod http;
mod hub;
mod metrics;
mod rate_limit;
mod retention;
pub mod tls;

pub use access::{hash_token, ClientConfig, WeakToken, MIN_TOKEN_CHARS};
pub use config::{Config, ConfigError, Environment, ProcessEnvironment};
pub use hub::{Hub, HubError};
