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

/// A configuration problem: the key (`feishu[0].app_secret`) and, when the
/// file has it, the line it stands on (or, for a missing key, the line of
/// its table). No message repeats a value, which may be a secret.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {reason}")]
    Read { path: String, reason: String },
    /// Not TOML at all; the key is the one the line seems to set.
    #[error("{}not valid TOML: {message}{}", key_prefix(.key), line_suffix(.line))]
    Syntax {
        key: Option<String>,
        line: Option<usize>,
        message: String,
    },
    #[error("{key}: {problem}{}", line_suffix(.line))]
    Invalid {
        key: String,
        line: Option<usize>,
        problem: String,
    },
}

fn key_prefix(key: &Option<String>) -> String {
    key.as_ref()
        .map(|key| format!("{key}: "))
        .unwrap_or_default()
}

fn line_suffix(line: &Option<usize>) -> String {
    line.map(|line| format!(" (line {line})"))
        .unwrap_or_default()
}

pub(crate) fn invalid(key: impl Into<String>, problem: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        key: key.into(),
        line: None,
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
    #[serde(default)]
    pub log: LogConfig,
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

#[derive(Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct StorageConfig {
    /// `sqlite://FILE` (created if missing) or `postgres://...`; it may hold
    /// a password, so `Debug` (what `check-config` prints) redacts it.
    pub url: String,
    pub max_connections: u32,
}

impl std::fmt::Debug for StorageConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StorageConfig")
            .field("url", &redact_url(&self.url))
            .field("max_connections", &self.max_connections)
            .finish()
    }
}

impl Default for StorageConfig {
    fn default() -> Self {
        StorageConfig {
            url: "sqlite://attendance-hub.db".into(),
            max_connections: 8,
        }
    }
}

/// How the hub logs (to stderr; the level comes from `RUST_LOG`, `info` by default).
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    pub format: LogFormat,
}

/// `text` for people, `json` (one object per line) for log collectors.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Text,
    Json,
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

    /// Parses TOML, expands `${VAR}` and `${VAR:-default}` in every string, and
    /// validates; every error names its key and line.
    pub fn from_toml(text: &str, env: &dyn Environment) -> Result<Config, ConfigError> {
        let document = toml_edit::ImDocument::parse(text).map_err(|e| {
            let line = e.span().map(|span| line_at(text, span.start));
            ConfigError::Syntax {
                key: line.and_then(|line| key_on_line(text, line)),
                line,
                message: one_line(e.message()),
            }
        })?;
        let lines = KeyLines::of(&document, text);
        let mut value: toml::Value = toml::from_str(text).map_err(|e| ConfigError::Syntax {
            key: None,
            line: e.span().map(|span| line_at(text, span.start)),
            message: one_line(e.message()),
        })?;
        let config = expand(&mut value, "", env)
            .and_then(|()| {
                // The path of what failed, which the error alone does not know.
                serde_path_to_error::deserialize(value).map_err(|e| {
                    let path = e.path().to_string();
                    let path = if path == "." { String::new() } else { path };
                    serde_problem(&path, e.inner().message())
                })
            })
            .and_then(|config: Config| config.validate().map(|()| config));
        config.map_err(|error| lines.locate(error))
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
                    redact_url(&self.storage.url)
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

/// A database URL without its password (`user:pass@` or `?password=`), to
/// print or log.
pub fn redact_url(url: &str) -> String {
    const REDACTED: &str = "**REDACTED**";
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let mut out = match (base.find("://"), base.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let userinfo = &base[scheme + 3..at];
            match userinfo.split_once(':') {
                Some((user, _)) => {
                    format!("{}{user}:{REDACTED}{}", &base[..scheme + 3], &base[at..])
                }
                None => base.to_owned(),
            }
        }
        _ => base.to_owned(),
    };
    if let Some(query) = query {
        let pairs: Vec<String> = query
            .split('&')
            .map(|pair| match pair.split_once('=') {
                Some((name, _)) if name.eq_ignore_ascii_case("password") => {
                    format!("{name}={REDACTED}")
                }
                _ => pair.to_owned(),
            })
            .collect();
        out.push('?');
        out.push_str(&pairs.join("&"));
    }
    out
}

impl From<ConfigProblem> for ConfigError {
    fn from(problem: ConfigProblem) -> ConfigError {
        invalid(problem.key, problem.problem)
    }
}

/// A deserialization error at `path` as a problem of its key: a missing or
/// unknown field is named in the key itself, and a value never repeated.
fn serde_problem(path: &str, message: &str) -> ConfigError {
    // An unknown field's path already ends with it; a missing one's is its table.
    let child = |field: &str| {
        if path.is_empty() {
            field.to_owned()
        } else if path == field || path.ends_with(&format!(".{field}")) {
            path.to_owned()
        } else {
            format!("{path}.{field}")
        }
    };
    let field = |prefix: &str| {
        message
            .strip_prefix(prefix)
            .and_then(|rest| rest.split_once('`'))
            .map(|(field, rest)| (field.to_owned(), rest.to_owned()))
    };
    if let Some((name, _)) = field("missing field `") {
        return invalid(child(&name), "is required and missing");
    }
    if let Some((name, expected)) = field("unknown field `") {
        let expected = expected.trim_start_matches(',').trim();
        let problem = if expected.is_empty() {
            "is not a known key".to_owned()
        } else {
            format!("is not a known key ({expected})")
        };
        return invalid(child(&name), problem);
    }
    invalid(path, without_value(message))
}

/// Serde's "invalid type: string \"…\", expected u64" without the value:
/// a secret in the wrong place must not reach the error.
fn without_value(message: &str) -> String {
    for lead in ["invalid type: ", "invalid value: ", "invalid length "] {
        let Some(rest) = message.strip_prefix(lead) else {
            continue;
        };
        let Some(expected_at) = rest.rfind(", expected ") else {
            continue;
        };
        let found = &rest[..expected_at];
        // The kind before the value: `string "…"`, `integer `5``, `floating point `1.5``.
        let kind = found
            .find(['"', '`', '\''])
            .map_or(found, |quote| &found[..quote])
            .trim_end();
        return format!("{lead}{kind}{}", &rest[expected_at..]);
    }
    message.to_owned()
}

/// A parser's message of several lines ("invalid string\nexpected `\"`") as one.
fn one_line(message: &str) -> String {
    message
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .collect::<Vec<_>>()
        .join("; ")
}

/// The 1-based line of a byte offset.
fn line_at(text: &str, offset: usize) -> usize {
    text.as_bytes()[..offset.min(text.len())]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

/// For a line TOML could not parse, the key it seems to set: the last table
/// header above it (arrays of tables counted) and the bare key before its
/// `=`. Only a hint for the message: the file is not TOML, so nothing more
/// exact exists.
fn key_on_line(text: &str, line: usize) -> Option<String> {
    let mut table = String::new();
    let mut arrays: std::collections::HashMap<String, usize> = Default::default();
    for header in text.lines().take(line.saturating_sub(1)).map(str::trim) {
        if let Some(name) = header.strip_prefix("[[").and_then(|h| h.split_once("]]")) {
            let name = name.0.trim().to_owned();
            let count = arrays.entry(name.clone()).or_default();
            table = format!("{name}[{count}]");
            *count += 1;
        } else if let Some(name) = header.strip_prefix('[').and_then(|h| h.split_once(']')) {
            table = name.0.trim().to_owned();
        }
    }
    let here = text.lines().nth(line.checked_sub(1)?)?;
    let key = here
        .split_once('=')
        .map(|(key, _)| key.trim())
        .filter(|key| {
            !key.is_empty()
                && key
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
        });
    match (table.is_empty(), key) {
        (true, key) => key.map(str::to_owned),
        (false, Some(key)) => Some(format!("{table}.{key}")),
        (false, None) => Some(table),
    }
}

/// The line of every key in the file, under the path errors name it by
/// (`feishu[0].app_id`, as serde_path_to_error and `expand` write it).
struct KeyLines(std::collections::HashMap<String, usize>);

impl KeyLines {
    fn of(document: &toml_edit::ImDocument<&str>, text: &str) -> KeyLines {
        let mut lines = KeyLines(Default::default());
        lines.table(document.as_table(), "", text);
        lines
    }

    fn table(&mut self, table: &dyn toml_edit::TableLike, path: &str, text: &str) {
        for (name, item) in table.iter() {
            let child = if path.is_empty() {
                name.to_owned()
            } else {
                format!("{path}.{name}")
            };
            let key_span = table.get_key_value(name).and_then(|(key, _)| key.span());
            self.item(item, child, key_span, text);
        }
    }

    fn item(
        &mut self,
        item: &toml_edit::Item,
        path: String,
        key_span: Option<std::ops::Range<usize>>,
        text: &str,
    ) {
        self.mark(&path, key_span.or_else(|| item.span()), text);
        match item {
            toml_edit::Item::Table(table) => self.table(table, &path, text),
            toml_edit::Item::ArrayOfTables(tables) => {
                for (i, table) in tables.iter().enumerate() {
                    let element = format!("{path}[{i}]");
                    self.mark(&element, table.span(), text);
                    self.table(table, &element, text);
                }
            }
            toml_edit::Item::Value(value) => self.value(value, &path, text),
            toml_edit::Item::None => {}
        }
    }

    /// `path` stands on the line where `span` starts, when it has one.
    fn mark(&mut self, path: &str, span: Option<std::ops::Range<usize>>, text: &str) {
        if let Some(span) = span {
            self.0.insert(path.to_owned(), line_at(text, span.start));
        }
    }

    fn value(&mut self, value: &toml_edit::Value, path: &str, text: &str) {
        match value {
            toml_edit::Value::InlineTable(table) => self.table(table, path, text),
            toml_edit::Value::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    let element = format!("{path}[{i}]");
                    self.mark(&element, item.span(), text);
                    self.value(item, &element, text);
                }
            }
            _ => {}
        }
    }

    /// The line of `key`, or of the nearest table around it the file has
    /// (a missing key's table; nothing for a key only defaults set).
    fn line(&self, key: &str) -> Option<usize> {
        let mut key = key;
        loop {
            if let Some(line) = self.0.get(key) {
                return Some(*line);
            }
            key = &key[..key.rfind(['.', '['])?];
        }
    }

    /// The error with the line of its key, when it has none yet.
    fn locate(&self, error: ConfigError) -> ConfigError {
        match error {
            ConfigError::Invalid {
                key,
                line: None,
                problem,
            } => ConfigError::Invalid {
                line: self.line(&key),
                key,
                problem,
            },
            error => error,
        }
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
            "feishu[0].app_secret: environment variable NOPE is not set (line 4)"
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

    /// `error` starts with `start` (its key and problem) and ends with its line.
    fn assert_at(error: &str, start: &str, line: usize) {
        assert!(
            error.starts_with(start) && error.ends_with(&format!("(line {line})")),
            "expected {start:?}… (line {line}), got {error:?}"
        );
    }

    /// The error of `text`, which must not parse.
    fn error(text: &str) -> String {
        Config::from_toml(text, &env(&[])).unwrap_err().to_string()
    }

    #[test]
    fn a_missing_field_is_named_with_the_line_of_its_table() {
        let text = "[server]\nheartbeat_seconds = 2\n\n[[feishu]]\nname = 'a'\napp_id = 'x'\n\n\
                    [[feishu]]\nname = 'b'\napp_id = 'y'\n";
        assert_eq!(
            error(text),
            "feishu[0].verification_token: is required and missing (line 4)"
        );
        let second = text.replacen("app_id = 'x'", "app_id = 'x'\nverification_token = 't'", 1);
        assert_eq!(
            error(&second),
            "feishu[1].verification_token: is required and missing (line 9)"
        );
    }

    #[test]
    fn a_wrong_type_is_named_with_its_line_and_never_shows_the_value() {
        let wrong = error("[server]\ngrpc_listen = '127.0.0.1:0'\nheartbeat_seconds = 'soon'\n");
        assert_eq!(
            wrong,
            "server.heartbeat_seconds: invalid type: string, expected u64 (line 3)"
        );
        let secret =
            error("[[feishu]]\nname = 'a'\napp_id = 'x'\nverification_token = 918273645\n");
        assert_at(
            &secret,
            "feishu[0].verification_token: invalid type: integer, expected",
            4,
        );
        assert!(!secret.contains("918273645"), "{secret}");
        let inline = error("storage = { url = 'sqlite://x.db', max_connections = -1 }");
        assert_at(
            &inline,
            "storage.max_connections: invalid value: integer, expected",
            1,
        );
    }

    #[test]
    fn an_unknown_key_is_named_with_its_line() {
        let unknown = error("[server]\ngrpc_listen = '127.0.0.1:1'\nport = 3\n");
        assert_at(
            &unknown,
            "server.port: is not a known key (expected one of `grpc_listen`",
            3,
        );
        let top = error("\n\n[sever]\nport = 3\n");
        assert_at(&top, "sever: is not a known key", 3);
        let dingtalk = error(
            "[[dingtalk]]\nname = 'd'\nclient_id = 'c'\nclient_secret = 's'\nstream = true\n\
             callback_tokn = 'x'\n",
        );
        assert_at(
            &dingtalk,
            "dingtalk[0].callback_tokn: is not a known key",
            6,
        );
    }

    #[test]
    fn syntax_and_validation_errors_name_the_key_and_the_line() {
        let syntax = error("[server]\ngrpc_listen = '127.0.0.1:1'\nheartbeat_seconds = \n");
        assert_at(&syntax, "server.heartbeat_seconds: not valid TOML: ", 3);
        let name = error("[[feishu]]\nname = 'a b'\napp_id = 'x'\nverification_token = 't'");
        assert_at(&name, "feishu[0].name: ", 2);
        let absent = error("\n[[feishu]]\nname = 'a'\napp_id = 'x'\nverification_token = 't'\nlong_connection = true");
        assert_at(&absent, "feishu[0].app_secret: ", 2);
        let grace = error("[reconciliation]\n\nday_end_grace_hours = 100");
        assert_eq!(
            grace,
            "reconciliation.day_end_grace_hours: must be 0 to 72 (line 3)"
        );
    }

    #[test]
    fn logs_are_text_unless_json_is_asked_for() {
        let config = Config::from_toml("", &env(&[])).unwrap();
        assert_eq!(config.log.format, LogFormat::Text);
        let config = Config::from_toml("[log]\nformat = \"json\"", &env(&[])).unwrap();
        assert_eq!(config.log.format, LogFormat::Json);
        let wrong = error("[log]\nformat = \"xml\"");
        assert_at(&wrong, "log.format: unknown variant", 2);
    }

    #[test]
    fn database_urls_print_without_their_password() {
        assert_eq!(
            redact_url("postgres://hub:pa:ss@db.internal:5432/hub"),
            "postgres://hub:**REDACTED**@db.internal:5432/hub"
        );
        assert_eq!(
            redact_url("postgres://hub@db/hub?sslmode=require&password=pw&x=1"),
            "postgres://hub@db/hub?sslmode=require&password=**REDACTED**&x=1"
        );
        assert_eq!(redact_url("sqlite://hub.db"), "sqlite://hub.db");
        let config = Config::from_toml(
            "[storage]\nurl = 'postgres://hub:hunter2@db/hub'",
            &env(&[]),
        )
        .unwrap();
        let printed = format!("{config:#?}");
        assert!(
            printed.contains("postgres://hub:**REDACTED**@db/hub") && !printed.contains("hunter2"),
            "{printed}"
        );
        let refused = error("[storage]\nurl = 'mysql://root:hunter2@db/x'");
        assert!(
            refused.starts_with("storage.url: ") && !refused.contains("hunter2"),
            "{refused}"
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
