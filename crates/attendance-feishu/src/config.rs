//! The `[[feishu]]` section of the hub's configuration: one Feishu (Lark) app
//! each, and the checks the adapter itself relies on.

use std::collections::BTreeSet;

use attendance_adapter_kit::config::{
    check_app_name, check_http_url, check_positive, check_time_zone, problem, ConfigProblem,
};
use attendance_adapter_kit::Secret;
use serde::Deserialize;

use crate::FeishuApp;

/// One Feishu (Lark) app.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct FeishuConfig {
    /// Route name: events arrive at `/webhooks/feishu/{name}`.
    pub name: String,
    pub app_id: String,
    #[serde(default)]
    pub app_secret: Secret,
    pub verification_token: Secret,
    #[serde(default)]
    pub encrypt_key: Option<Secret>,
    #[serde(default = "default_base_url")]
    pub base_url: String,
    /// Also receive this app's events over a long connection (a WebSocket
    /// the hub dials out to), authenticated by `app_secret`.
    #[serde(default)]
    pub long_connection: bool,
    /// The IANA zone the tenant's work dates are civil dates in.
    #[serde(default = "default_time_zone")]
    pub time_zone: String,
    /// Employees reconciled even before any event named them.
    #[serde(default)]
    pub roster: Vec<String>,
    /// The tenant the roster's employees belong to (the app's tenant_key).
    #[serde(default)]
    pub tenant_key: String,
    /// At most this many API requests per second from this app.
    #[serde(default = "default_requests_per_second")]
    pub requests_per_second: u32,
}

impl FeishuConfig {
    /// The app as the webhook verifies its pushes.
    pub fn app(&self) -> FeishuApp {
        FeishuApp {
            name: self.name.clone(),
            app_id: self.app_id.clone(),
            verification_token: self.verification_token.clone(),
            encrypt_key: self.encrypt_key.clone(),
            time_zone: self.time_zone.parse().expect("validated by the config"),
            // Only with an app_secret can it call the API.
            pulls: !self.app_secret.is_empty(),
        }
    }
}

fn default_time_zone() -> String {
    "Asia/Shanghai".into()
}

fn default_requests_per_second() -> u32 {
    20
}

fn default_base_url() -> String {
    "https://open.feishu.cn".into()
}

/// Checks every app; a problem names its key (`feishu[i].field`).
pub fn validate(apps: &[FeishuConfig]) -> Result<(), ConfigProblem> {
    let mut names = BTreeSet::new();
    for (i, app) in apps.iter().enumerate() {
        let key = |field: &str| format!("feishu[{i}].{field}");
        check_app_name(&key("name"), &app.name, &mut names)?;
        if app.app_id.is_empty() {
            return Err(problem(key("app_id"), "must not be empty"));
        }
        if app.long_connection && app.app_secret.is_empty() {
            return Err(problem(
                key("app_secret"),
                "must not be empty when long_connection = true (it authenticates the connection)",
            ));
        }
        if app.verification_token.is_empty() {
            return Err(problem(key("verification_token"), "must not be empty"));
        }
        if app.encrypt_key.as_ref().is_some_and(Secret::is_empty) {
            return Err(problem(
                key("encrypt_key"),
                "must not be empty; leave it out to disable encryption",
            ));
        }
        check_time_zone(&key("time_zone"), &app.time_zone)?;
        if !app.roster.is_empty() && app.tenant_key.is_empty() {
            return Err(problem(
                key("tenant_key"),
                "is required when a roster is given",
            ));
        }
        check_positive(&key("requests_per_second"), app.requests_per_second)?;
        check_http_url(&key("base_url"), &app.base_url)?;
    }
    Ok(())
}
