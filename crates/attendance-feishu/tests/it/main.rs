//! Integration tests of the Feishu adapter, linked into one binary: fixture
//! translation through the public `verify` → `translate` path, and the webhook
//! router driven in-process with `tower::ServiceExt::oneshot`.

mod approvals;
mod hostile;
mod mapping;
mod support;
mod translate;
mod webhook;
