//! The TOML configuration: defaults, `${VAR}` expansion through an injected
//! environment, and validation whose errors name the key and the problem.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::Path;

use serde::Deserialize;

/// Where `${VAR}` references are looked up. Tests pass a map, so they never
/// touch the process environment.
pub trait Environment {
    fn var(&self, name: &str) -> Option<String>;
}

/// The process environment.
pub struct ProcessEnvironment;

impl Environment for ProcessEnvironment {
    fn var(&self, name: &str) -> Option<String> {
        std::env::var(name).ok()
    }
}

impl Environment for std::collections::HashMap<String, String> {
    fn var(&self, name: &str) -> Option<String> {
        self.get(name).cloned()
    }
}

/// A configuration problem, naming the key where it can.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {reason}")]
    Read { path: String, reason: String },
    #[error("config is not valid TOML: {0}")]
    Syntax(String),
    #[error("{key}: {problem}")]
    Invalid { key: String, problem: String },
}

fn invalid(key: impl Into<String>, problem: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        key: key.into(),
        problem: problem.into(),
    }
}

/// The whole configuration.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub server: ServerConfig,
    #[serde(default)]
    pub storage: StorageConfig,
    #[serde(default)]
    pub feishu: Vec<FeishuConfig>,
    #[serde(default)]
    pub dingtalk: Vec<DingTalkConfig>,
    #[serde(default)]
    pub reconciliation: ReconciliationConfig,
}

/// One DingTalk app: Stream mode, HTTP callbacks, or both.
#[derive(Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct DingTalkConfig {
    /// Route name: callbacks arrive at `/webhooks/dingtalk/{name}`.
    pub name: String,
    /// The ClientID (AppKey).
    pub client_id: String,
    /// The ClientSecret (AppSecret): Stream mode and the APIs.
    #[serde(default)]
    pub client_secret: String,
    /// The corp id (the tenant), when known; callbacks may name it as owner.
    #[serde(default)]
    pub corp_id: String,
    /// Dial out to DingTalk's Stream gateway.
    #[serde(default)]
    pub stream: bool,
    /// HTTP callback mode: the console's token and 43-character aes_key.
    #[serde(default)]
    pub callback_token: String,
    #[serde(default)]
    pub callback_aes_key: String,
    #[serde(default = "default_dingtalk_api_base_url")]
    pub api_base_url: String,
    #[serde(default = "default_dingtalk_oapi_base_url")]
    pub oapi_base_url: String,
    /// The IANA zone the tenant's work dates are civil dates in.
    #[serde(default = "default_time_zone")]
    pub time_zone: String,
    /// Employees reconciled even before any event named them (userIds).
    #[serde(default)]
    pub roster: Vec<String>,
    /// At most this many API requests per second from this app (20 to 60 by edition).
    #[serde(default = "default_requests_per_second")]
    pub requests_per_second: u32,
}

fn default_dingtalk_api_base_url() -> String {
    "https://api.dingtalk.com".into()
}

fn default_dingtalk_oapi_base_url() -> String {
    "https://oapi.dingtalk.com".into()
}

impl std::fmt::Debug for DingTalkConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DingTalkConfig")
            .field("name", &self.name)
            .field("client_id", &self.client_id)
            .field("client_secret", &"**REDACTED**")
            .field("corp_id", &self.corp_id)
            .field("stream", &self.stream)
            .field("callback_token", &"**REDACTED**")
            .field("callback_aes_key", &"**REDACTED**")
            .field("api_base_url", &self.api_base_url)
            .field("oapi_base_url", &self.oapi_base_url)
            .field("time_zone", &self.time_zone)
            .field("roster", &self.roster)
            .field("requests_per_second", &self.requests_per_second)
            .finish()
    }
}

/// When reconciliation pulls the vendors' view on its own.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ReconciliationConfig {
    /// Scheduled passes on or off; the admin call works either way.
    pub enabled: bool,
    /// Minutes between passes over `recent_days` (today, yesterday, ...).
    pub interval_minutes: u64,
    pub recent_days: u32,
    /// Once a day, at this hour of each app's time zone, a pass over `nightly_days`.
    pub nightly_hour: u32,
    pub nightly_days: u32,
    /// Seconds between reads of DingTalk's failed-push list (each read is a
    /// metered call per app); 0 turns the recovery off.
    pub failed_push_poll_seconds: u64,
    /// How many days back an approved DingTalk 补卡 (punch correction) is
    /// looked for in `listRecord`, to find the day it corrected.
    pub supply_lookback_days: u32,
}

impl Default for ReconciliationConfig {
    fn default() -> Self {
        ReconciliationConfig {
            enabled: true,
            interval_minutes: 15,
            recent_days: 2,
            nightly_hour: 2,
            nightly_days: 7,
            failed_push_poll_seconds: 300,
            supply_lookback_days: 31,
        }
    }
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    pub grpc_listen: SocketAddr,
    pub http_listen: SocketAddr,
    /// Largest webhook body accepted; larger ones get 413.
    pub max_body_bytes: usize,
    /// Seconds without an entry after which a subscriber gets a heartbeat.
    pub heartbeat_seconds: u64,
    /// Seconds that in-flight requests get to finish on shutdown.
    pub shutdown_grace_seconds: u64,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            grpc_listen: SocketAddr::from(([127, 0, 0, 1], 50051)),
            http_listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            max_body_bytes: 1024 * 1024,
            heartbeat_seconds: 5,
            shutdown_grace_seconds: 10,
        }
    }
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct StorageConfig {
    /// `sqlite://FILE` (created if missing) or `postgres://...`.
    pub url: String,
    pub max_connections: u32,
}

impl Default for StorageConfig {
    fn default() -> Self {
        StorageConfig {
            url: "sqlite://attendance-hub.db".into(),
            max_connections: 8,
        }
    }
}

/// One Feishu (Lark) app.
#[derive(Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct FeishuConfig {
    /// Route name: events arrive at `/webhooks/feishu/{name}`.
    pub name: String,
    pub app_id: String,
    #[serde(default)]
    pub app_secret: String,
    pub verification_token: String,
    #[serde(default)]
    pub encrypt_key: Option<String>,
    #[serde(default = "default_feishu_base_url")]
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

fn default_time_zone() -> String {
    "Asia/Shanghai".into()
}

fn default_requests_per_second() -> u32 {
    20
}

fn default_feishu_base_url() -> String {
    "https://open.feishu.cn".into()
}

impl std::fmt::Debug for FeishuConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FeishuConfig")
            .field("name", &self.name)
            .field("app_id", &self.app_id)
            .field("app_secret", &"**REDACTED**")
            .field("verification_token", &"**REDACTED**")
            .field(
                "encrypt_key",
                &self.encrypt_key.as_ref().map(|_| "**REDACTED**"),
            )
            .field("base_url", &self.base_url)
            .field("long_connection", &self.long_connection)
            .field("time_zone", &self.time_zone)
            .field("roster", &self.roster)
            .field("tenant_key", &self.tenant_key)
            .field("requests_per_second", &self.requests_per_second)
            .finish()
    }
}

impl Config {
    /// Reads and validates a config file.
    pub fn from_file(path: &Path, env: &dyn Environment) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError::Read {
            path: path.display().to_string(),
            reason: e.to_string(),
        })?;
        Config::from_toml(&text, env)
    }

    /// Parses TOML, expands `${VAR}` and `${VAR:-default}` in every string, and validates.
    pub fn from_toml(text: &str, env: &dyn Environment) -> Result<Config, ConfigError> {
        let mut value: toml::Value =
            toml::from_str(text).map_err(|e| ConfigError::Syntax(e.message().to_string()))?;
        expand(&mut value, "", env)?;
        let config =
            Config::deserialize(value).map_err(|e| ConfigError::Syntax(e.message().to_string()))?;
        config.validate()?;
        Ok(config)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        if !(self.storage.url.starts_with("sqlite:")
            || self.storage.url.starts_with("postgres:")
            || self.storage.url.starts_with("postgresql:"))
        {
            return Err(invalid(
                "storage.url",
                format!(
                    "{:?} is neither sqlite://FILE nor postgres://...",
                    self.storage.url
                ),
            ));
        }
        if self.server.max_body_bytes == 0 {
            return Err(invalid("server.max_body_bytes", "must be positive"));
        }
        if self.reconciliation.interval_minutes == 0 {
            return Err(invalid(
                "reconciliation.interval_minutes",
                "must be positive",
            ));
        }
        if self.reconciliation.nightly_hour > 23 {
            return Err(invalid("reconciliation.nightly_hour", "must be 0 to 23"));
        }
        if self.reconciliation.recent_days == 0 || self.reconciliation.nightly_days == 0 {
            return Err(invalid(
                "reconciliation",
                "recent_days and nightly_days must be positive",
            ));
        }
        if self.reconciliation.failed_push_poll_seconds > 86_400 {
            return Err(invalid(
                "reconciliation.failed_push_poll_seconds",
                "must be 0 (off) to 86400",
            ));
        }
        if !(1..=180).contains(&self.reconciliation.supply_lookback_days) {
            return Err(invalid(
                "reconciliation.supply_lookback_days",
                "must be 1 to 180 (listRecord serves 180 days back)",
            ));
        }
        if self.server.heartbeat_seconds == 0 {
            return Err(invalid("server.heartbeat_seconds", "must be positive"));
        }
        let mut names = BTreeSet::new();
        for (i, app) in self.feishu.iter().enumerate() {
            let key = |field: &str| format!("feishu[{i}].{field}");
            check_app_name(&key("name"), &app.name, &mut names)?;
            if app.app_id.is_empty() {
                return Err(invalid(key("app_id"), "must not be empty"));
            }
            if app.long_connection && app.app_secret.is_empty() {
                return Err(invalid(
                    key("app_secret"),
                    "must not be empty when long_connection = true (it authenticates the connection)",
                ));
            }
            if app.verification_token.is_empty() {
                return Err(invalid(key("verification_token"), "must not be empty"));
            }
            if app.encrypt_key.as_deref() == Some("") {
                return Err(invalid(
                    key("encrypt_key"),
                    "must not be empty; leave it out to disable encryption",
                ));
            }
            check_time_zone(&key("time_zone"), &app.time_zone)?;
            if !app.roster.is_empty() && app.tenant_key.is_empty() {
                return Err(invalid(
                    key("tenant_key"),
                    "is required when a roster is given",
                ));
            }
            if app.requests_per_second == 0 {
                return Err(invalid(key("requests_per_second"), "must be positive"));
            }
            check_http_url(&key("base_url"), &app.base_url)?;
        }
        self.validate_dingtalk()
    }

    fn validate_dingtalk(&self) -> Result<(), ConfigError> {
        let mut names = BTreeSet::new();
        for (i, app) in self.dingtalk.iter().enumerate() {
            let key = |field: &str| format!("dingtalk[{i}].{field}");
            check_app_name(&key("name"), &app.name, &mut names)?;
            if app.client_id.is_empty() {
                return Err(invalid(key("client_id"), "must not be empty"));
            }
            if app.stream && app.client_secret.is_empty() {
                return Err(invalid(
                    key("client_secret"),
                    "is required when stream = true",
                ));
            }
            match (
                app.callback_token.is_empty(),
                app.callback_aes_key.is_empty(),
            ) {
                (true, true) => {}
                (false, false) if app.callback_aes_key.len() == 43 => {}
                (false, false) => {
                    return Err(invalid(
                        key("callback_aes_key"),
                        "must be the console's 43-character key",
                    ))
                }
                (true, false) => {
                    return Err(invalid(
                        key("callback_token"),
                        "is required with callback_aes_key",
                    ))
                }
                (false, true) => {
                    return Err(invalid(
                        key("callback_aes_key"),
                        "is required with callback_token",
                    ))
                }
            }
            if !app.stream && app.callback_token.is_empty() {
                return Err(invalid(
                    key("stream"),
                    "the app receives nothing: set stream = true or the callback keys",
                ));
            }
            check_time_zone(&key("time_zone"), &app.time_zone)?;
            if !app.roster.is_empty() && app.corp_id.is_empty() {
                return Err(invalid(
                    key("corp_id"),
                    "is required when a roster is given",
                ));
            }
            if app.requests_per_second == 0 {
                return Err(invalid(key("requests_per_second"), "must be positive"));
            }
            for (field, url) in [
                ("api_base_url", &app.api_base_url),
                ("oapi_base_url", &app.oapi_base_url),
            ] {
                check_http_url(&key(field), url)?;
            }
        }
        Ok(())
    }
}

/// App names are URL path segments and must be unique per vendor.
fn check_app_name<'a>(
    key: &str,
    name: &'a str,
    seen: &mut BTreeSet<&'a str>,
) -> Result<(), ConfigError> {
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Err(invalid(
            key,
            format!(
                "{name:?} must be non-empty letters, digits, '-' or '_' (it is a URL path segment)"
            ),
        ));
    }
    if !seen.insert(name) {
        return Err(invalid(key, format!("{name:?} is configured twice")));
    }
    Ok(())
}

fn check_time_zone(key: &str, zone: &str) -> Result<(), ConfigError> {
    zone.parse::<chrono_tz::Tz>()
        .map(|_| ())
        .map_err(|_| invalid(key, format!("{zone:?} is not an IANA time zone")))
}

fn check_http_url(key: &str, url: &str) -> Result<(), ConfigError> {
    if url.starts_with("http://") || url.starts_with("https://") {
        Ok(())
    } else {
        Err(invalid(key, format!("{url:?} is not an http(s) URL")))
    }
}

/// Expands `${VAR}` / `${VAR:-default}` in every string, naming the key on failure.
fn expand(value: &mut toml::Value, key: &str, env: &dyn Environment) -> Result<(), ConfigError> {
    match value {
        toml::Value::String(text) => *text = expand_text(text, key, env)?,
        toml::Value::Array(items) => {
            for (i, item) in items.iter_mut().enumerate() {
                expand(item, &format!("{key}[{i}]"), env)?;
            }
        }
        toml::Value::Table(table) => {
            for (name, item) in table.iter_mut() {
                let child = if key.is_empty() {
                    name.clone()
                } else {
                    format!("{key}.{name}")
                };
                expand(item, &child, env)?;
            }
        }
        _ => {}
    }
    Ok(())
}

fn expand_text(text: &str, key: &str, env: &dyn Environment) -> Result<String, ConfigError> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after
            .find('}')
            .ok_or_else(|| invalid(key, "unterminated ${...} reference"))?;
        let reference = &after[..end];
        let (name, default) = match reference.split_once(":-") {
            Some((name, default)) => (name, Some(default)),
            None => (reference, None),
        };
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(invalid(
                key,
                format!("${{{reference}}} is not a valid variable reference"),
            ));
        }
        match (env.var(name), default) {
            (Some(value), _) => out.push_str(&value),
            (None, Some(default)) => out.push_str(default),
            (None, None) => {
                return Err(invalid(
                    key,
                    format!("environment variable {name} is not set"),
                ));
            }
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn empty_config_is_the_embedded_default() {
        let config = Config::from_toml("", &env(&[])).unwrap();
        assert_eq!(config, Config::default());
        assert_eq!(config.storage.url, "sqlite://attendance-hub.db");
        assert_eq!(config.server.grpc_listen.to_string(), "127.0.0.1:50051");
        assert_eq!(config.server.http_listen.to_string(), "127.0.0.1:8080");
    }

    #[test]
    fn expands_environment_references() {
        let text = r#"
            [[feishu]]
            name = "acme"
            app_id = "cli_1"
            app_secret = "${SECRET}"
            verification_token = "tok-${MISSING:-fallback}"
        "#;
        let config = Config::from_toml(text, &env(&[("SECRET", "s3cret")])).unwrap();
        assert_eq!(config.feishu[0].app_secret, "s3cret");
        assert_eq!(config.feishu[0].verification_token, "tok-fallback");
        assert_eq!(config.feishu[0].base_url, "https://open.feishu.cn");
        assert!(
            !config.feishu[0].long_connection,
            "webhooks only, by default"
        );
        assert!(
            !format!("{config:?}").contains("s3cret"),
            "secrets are redacted"
        );
    }

    #[test]
    fn errors_name_the_key_and_the_problem() {
        let missing = Config::from_toml(
            "[[feishu]]\nname='a'\napp_id='x'\napp_secret='${NOPE}'\nverification_token='t'",
            &env(&[]),
        )
        .unwrap_err()
        .to_string();
        assert_eq!(
            missing,
            "feishu[0].app_secret: environment variable NOPE is not set"
        );

        let bad_name = Config::from_toml(
            "[[feishu]]\nname='a b'\napp_id='x'\nverification_token='t'",
            &env(&[]),
        )
        .unwrap_err()
        .to_string();
        assert!(bad_name.starts_with("feishu[0].name:"), "{bad_name}");

        let unknown = Config::from_toml("[server]\ngrpc_listen='127.0.0.1:1'\nport=3", &env(&[]))
            .unwrap_err()
            .to_string();
        assert!(unknown.contains("port"), "{unknown}");

        let no_secret = Config::from_toml(
            "[[feishu]]\nname='a'\napp_id='x'\nverification_token='t'\nlong_connection=true",
            &env(&[]),
        )
        .unwrap_err()
        .to_string();
        assert!(
            no_secret.starts_with("feishu[0].app_secret:") && no_secret.contains("long_connection"),
            "{no_secret}"
        );

        let url = Config::from_toml("[storage]\nurl='mysql://x'", &env(&[]))
            .unwrap_err()
            .to_string();
        assert!(url.starts_with("storage.url:"), "{url}");

        let addr = Config::from_toml("[server]\ngrpc_listen='nowhere'", &env(&[]))
            .unwrap_err()
            .to_string();
        assert!(
            addr.contains("grpc_listen") || addr.contains("socket address"),
            "{addr}"
        );
    }

    #[test]
    fn dingtalk_pull_settings_default_and_are_checked() {
        let defaults = Config::from_toml("", &env(&[])).unwrap().reconciliation;
        assert_eq!(defaults.failed_push_poll_seconds, 300);
        assert_eq!(defaults.supply_lookback_days, 31);
        let off =
            Config::from_toml("[reconciliation]\nfailed_push_poll_seconds = 0", &env(&[])).unwrap();
        assert_eq!(
            off.reconciliation.failed_push_poll_seconds, 0,
            "0 turns recovery off"
        );
        let lookback = Config::from_toml("[reconciliation]\nsupply_lookback_days = 181", &env(&[]))
            .unwrap_err()
            .to_string();
        assert!(
            lookback.starts_with("reconciliation.supply_lookback_days:"),
            "{lookback}"
        );
        let poll = Config::from_toml(
            "[reconciliation]\nfailed_push_poll_seconds = 100000",
            &env(&[]),
        )
        .unwrap_err()
        .to_string();
        assert!(
            poll.starts_with("reconciliation.failed_push_poll_seconds:"),
            "{poll}"
        );
    }
}
