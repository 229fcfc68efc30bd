//! The TOML configuration: defaults, `${VAR}` expansion through an injected
//! environment, and validation whose errors name the key and the problem.

use std::net::SocketAddr;
use std::path::Path;

use attendance_adapter_kit::config::ConfigProblem;
use attendance_adapter_kit::reconcile::Schedule;
use attendance_dingtalk::DingTalkConfig;
use attendance_feishu::FeishuConfig;
use serde::Deserialize;

use crate::access::{AccessPolicy, ClientConfig};

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

pub(crate) fn invalid(key: impl Into<String>, problem: impl Into<String>) -> ConfigError {
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
    pub reconciliation: Schedule,
    #[serde(default)]
    pub retention: RetentionConfig,
    /// Both listeners speak TLS when set.
    #[serde(default)]
    pub tls: Option<crate::tls::TlsConfig>,
    // One field per vendor: its crate owns the section and its checks.
    #[serde(default)]
    pub feishu: Vec<FeishuConfig>,
    #[serde(default)]
    pub dingtalk: Vec<DingTalkConfig>,
    /// Who may call the gRPC API (`access/`); none: the API is open, on loopback only.
    #[serde(default)]
    pub clients: Vec<ClientConfig>,
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
    /// Serve gRPC without authentication beyond loopback when no
    /// `[[clients]]` are configured; refused otherwise.
    pub allow_unauthenticated: bool,
    /// Requests a second each push route (one vendor app) takes before
    /// answering 429; 0: no limit.
    pub webhook_requests_per_second: u32,
    /// How many requests a route may take at once above its rate; 0: the
    /// rate itself.
    pub webhook_burst: u32,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            grpc_listen: SocketAddr::from(([127, 0, 0, 1], 50051)),
            http_listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            max_body_bytes: 1024 * 1024,
            heartbeat_seconds: 5,
            shutdown_grace_seconds: 10,
            allow_unauthenticated: false,
            webhook_requests_per_second: 0,
            webhook_burst: 0,
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

/// How long the hub keeps what it received; 0 keeps it for ever.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct RetentionConfig {
    /// Days raw vendor documents (personal data) are kept; the facts parsed
    /// from them stay, without their raw JSON.
    pub raw_days: u32,
    /// Months log entries are kept; facts keep their current revision, and
    /// subscribers resuming from before the retained range get CURSOR_EXPIRED.
    pub log_months: u32,
}

/// The longest retention the config accepts: ten years, in each unit.
const MAX_RAW_DAYS: u32 = 3653;
const MAX_LOG_MONTHS: u32 = 120;

impl RetentionConfig {
    /// Whether anything is ever removed.
    pub fn removes_anything(&self) -> bool {
        self.raw_days > 0 || self.log_months > 0
    }

    /// The instants before which raw documents and log entries go, as of
    /// `now`; `None` for what is kept for ever.
    pub fn cuts(
        &self,
        now: chrono::DateTime<chrono::Utc>,
    ) -> (Option<std::time::SystemTime>, Option<std::time::SystemTime>) {
        let raw = (self.raw_days > 0)
            .then(|| now.checked_sub_days(chrono::Days::new(u64::from(self.raw_days))))
            .flatten();
        let log = (self.log_months > 0)
            .then(|| now.checked_sub_months(chrono::Months::new(self.log_months)))
            .flatten();
        (raw.map(Into::into), log.map(Into::into))
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
        if self.reconciliation.day_end_grace_hours > 72 {
            // A longer grace means the recent passes never signal a day:
            // only a nightly window wider than the grace would.
            return Err(invalid(
                "reconciliation.day_end_grace_hours",
                "must be 0 to 72",
            ));
        }
        if self.server.heartbeat_seconds == 0 {
            return Err(invalid("server.heartbeat_seconds", "must be positive"));
        }
        if self.retention.raw_days > MAX_RAW_DAYS {
            return Err(invalid(
                "retention.raw_days",
                format!("must be 0 (keep for ever) to {MAX_RAW_DAYS}"),
            ));
        }
        if self.retention.log_months > MAX_LOG_MONTHS {
            return Err(invalid(
                "retention.log_months",
                format!("must be 0 (keep for ever) to {MAX_LOG_MONTHS}"),
            ));
        }
        attendance_feishu::config::validate(&self.feishu)?;
        attendance_dingtalk::config::validate(&self.dingtalk)?;
        AccessPolicy::from_config(&self.server, &self.clients)?;
        Ok(())
    }
}

impl From<ConfigProblem> for ConfigError {
    fn from(problem: ConfigProblem) -> ConfigError {
        invalid(problem.key, problem.problem)
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

        let retention = Config::from_toml("[retention]\nraw_days=100000", &env(&[]))
            .unwrap_err()
            .to_string();
        assert!(retention.starts_with("retention.raw_days:"), "{retention}");
        let retention = Config::from_toml("[retention]\nlog_months=1000", &env(&[]))
            .unwrap_err()
            .to_string();
        assert!(
            retention.starts_with("retention.log_months:"),
            "{retention}"
        );

        let addr = Config::from_toml("[server]\ngrpc_listen='nowhere'", &env(&[]))
            .unwrap_err()
            .to_string();
        assert!(
            addr.contains("grpc_listen") || addr.contains("socket address"),
            "{addr}"
        );
    }

    #[test]
    fn retention_keeps_for_ever_unless_configured() {
        let config = Config::from_toml("", &env(&[])).unwrap();
        assert!(!config.retention.removes_anything());
        let now = chrono::DateTime::parse_from_rfc3339("2024-03-31T12:00:00Z")
            .unwrap()
            .with_timezone(&chrono::Utc);
        assert_eq!(config.retention.cuts(now), (None, None));

        let config =
            Config::from_toml("[retention]\nraw_days = 30\nlog_months = 1", &env(&[])).unwrap();
        let (raw, log) = config.retention.cuts(now);
        let at = |text: &str| -> std::time::SystemTime {
            chrono::DateTime::parse_from_rfc3339(text)
                .unwrap()
                .with_timezone(&chrono::Utc)
                .into()
        };
        assert_eq!(raw, Some(at("2024-03-01T12:00:00Z")));
        // Calendar months: the end of a longer month clamps to the shorter one's.
        assert_eq!(log, Some(at("2024-02-29T12:00:00Z")));
    }
}
