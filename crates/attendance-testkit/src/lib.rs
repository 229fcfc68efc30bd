//! Test infrastructure: fresh databases on both backends, vendor senders that
//! speak the real wire protocol, and the real hub binary as a child process.

pub mod database;
pub mod dingtalk;
pub mod fake_dingtalk;
pub mod fake_dingtalk_api;
pub mod fake_dingtalk_report;
pub mod fake_feishu;
pub mod fake_gateway;
pub mod feishu;
pub mod hub;

pub use database::TestDatabase;
