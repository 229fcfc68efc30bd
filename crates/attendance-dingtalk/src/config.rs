//! The `[[dingtalk]]` section of the hub's configuration: one DingTalk app
//! each, and the same checks the adapter itself relies on (a callback key
//! the adapter cannot use is refused here, not on every callback).

use std::collections::{BTreeMap, BTreeSet};

use attendance_adapter_kit::config::{
    check_app_name, check_http_url, check_positive, check_time_zone, problem, ConfigProblem,
};
use attendance_adapter_kit::Secret;
use serde::Deserialize;

use crate::app::{DingTalkApp, TranslationSettings};
use crate::mapping;

/// One DingTalk app: Stream mode, HTTP callbacks, or both.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct DingTalkConfig {
    /// Route name: callbacks arrive at `/webhooks/dingtalk/{name}`.
    pub name: String,
    /// The ClientID (AppKey).
    pub client_id: String,
    /// The ClientSecret (AppSecret): Stream mode and the APIs.
    #[serde(default)]
    pub client_secret: Secret,
    /// The corp id (the tenant), when known; callbacks may name it as owner.
    #[serde(default)]
    pub corp_id: String,
    /// Dial out to DingTalk's Stream gateway.
    #[serde(default)]
    pub stream: bool,
    /// HTTP callback mode: the console's token and 43-character aes_key.
    #[serde(default)]
    pub callback_token: Secret,
    #[serde(default)]
    pub callback_aes_key: Secret,
    #[serde(default = "default_api_base_url")]
    pub api_base_url: String,
    #[serde(default = "default_oapi_base_url")]
    pub oapi_base_url: String,
    /// The IANA zone the tenant's work dates are civil dates in.
    #[serde(default = "default_time_zone")]
    pub time_zone: String,
    /// `processCode` → approval kind (`leave`, `overtime`, `business_trip`,
    /// `go_out`, `punch_correction`, `shift_swap`): the kind of approval
    /// forms whose `bizCategoryId` DingTalk does not list (custom forms, and
    /// leave, which has none), and the templates reconciliation lists
    /// approval instances of (so list every attendance template here).
    #[serde(default)]
    pub process_kinds: BTreeMap<String, String>,
    /// How many days before a pass's first day reconciliation looks for
    /// approval instances (DingTalk lists them by creation time: a leave
    /// requested two weeks ahead was created before the days it covers).
    #[serde(default = "default_approval_lookback_days")]
    pub approval_lookback_days: u32,
    /// Employees reconciled even before any event named them (userIds).
    #[serde(default)]
    pub roster: Vec<String>,
    /// At most this many API requests per second from this app (20 to 60 by edition).
    #[serde(default = "default_requests_per_second")]
    pub requests_per_second: u32,
    /// Seconds between reads of DingTalk's failed-push list (each read is a
    /// metered call); 0 turns the recovery off.
    #[serde(default = "default_failed_push_poll_seconds")]
    pub failed_push_poll_seconds: u64,
    /// How many days back an approved 补卡 (punch correction) is looked for
    /// in `listRecord`, to find the day it corrected.
    #[serde(default = "default_supply_lookback_days")]
    pub supply_lookback_days: u32,
    /// An administrator's userId, for reading the leave types when the
    /// CheckReportTotals call compares leave with the smart report; empty:
    /// leave is not compared.
    #[serde(default)]
    pub report_op_user_id: String,
    /// The smart report's overtime columns by exact name; empty: columns
    /// whose name holds 加班 (and no 次 or 天), only the totals (总) if any.
    #[serde(default)]
    pub report_overtime_columns: Vec<String>,
}

fn default_api_base_url() -> String {
    "https://api.dingtalk.com".into()
}

fn default_oapi_base_url() -> String {
    "https://oapi.dingtalk.com".into()
}

fn default_time_zone() -> String {
    "Asia/Shanghai".into()
}

fn default_requests_per_second() -> u32 {
    20
}

fn default_failed_push_poll_seconds() -> u64 {
    300
}

fn default_supply_lookback_days() -> u32 {
    31
}

fn default_approval_lookback_days() -> u32 {
    30
}

impl DingTalkConfig {
    /// The adapter's view of this app.
    pub fn app(&self) -> DingTalkApp {
        DingTalkApp {
            name: self.name.clone(),
            client_id: self.client_id.clone(),
            client_secret: self.client_secret.clone(),
            callback_token: self.callback_token.clone(),
            callback_aes_key: self.callback_aes_key.clone(),
            corp_id: Some(self.corp_id.clone()).filter(|corp| !corp.is_empty()),
            translation: TranslationSettings {
                // `validate` refused a zone that does not parse.
                time_zone: self.time_zone.parse().unwrap_or(chrono_tz::Asia::Shanghai),
                process_kinds: self
                    .process_kinds
                    .iter()
                    .filter_map(|(code, kind)| {
                        Some((code.clone(), mapping::configured_kind(kind)?))
                    })
                    .collect(),
            },
        }
    }
}

/// Checks every app; a problem names its key (`dingtalk[i].field`).
pub fn validate(apps: &[DingTalkConfig]) -> Result<(), ConfigProblem> {
    let mut names = BTreeSet::new();
    for (i, app) in apps.iter().enumerate() {
        let key = |field: &str| format!("dingtalk[{i}].{field}");
        check_app_name(&key("name"), &app.name, &mut names)?;
        if app.client_id.is_empty() {
            return Err(problem(key("client_id"), "must not be empty"));
        }
        if app.stream && app.client_secret.is_empty() {
            return Err(problem(
                key("client_secret"),
                "is required when stream = true",
            ));
        }
        match (
            app.callback_token.is_empty(),
            app.callback_aes_key.is_empty(),
        ) {
            (true, true) => {}
            (false, false) => {
                // The adapter's own check, so a key it would refuse on every
                // callback is refused at startup instead.
                if app.app().validate_callback_config().is_err() {
                    return Err(problem(
                        key("callback_aes_key"),
                        "must be the console's 43-character key",
                    ));
                }
            }
            (true, false) => {
                return Err(problem(
                    key("callback_token"),
                    "is required with callback_aes_key",
                ))
            }
            (false, true) => {
                return Err(problem(
                    key("callback_aes_key"),
                    "is required with callback_token",
                ))
            }
        }
        if !app.stream && app.callback_token.is_empty() {
            return Err(problem(
                key("stream"),
                "the app receives nothing: set stream = true or the callback keys",
            ));
        }
        check_time_zone(&key("time_zone"), &app.time_zone)?;
        if !app.roster.is_empty() && app.corp_id.is_empty() {
            return Err(problem(
                key("corp_id"),
                "is required when a roster is given",
            ));
        }
        for (code, kind) in &app.process_kinds {
            if code.is_empty() {
                return Err(problem(key("process_kinds"), "a process code is empty"));
            }
            if mapping::configured_kind(kind).is_none() {
                return Err(problem(
                    key(&format!("process_kinds.{code}")),
                    "must be leave, overtime, business_trip, go_out, punch_correction or shift_swap",
                ));
            }
        }
        check_positive(&key("requests_per_second"), app.requests_per_second)?;
        for (field, url) in [
            ("api_base_url", &app.api_base_url),
            ("oapi_base_url", &app.oapi_base_url),
        ] {
            check_http_url(&key(field), url)?;
        }
        if app.failed_push_poll_seconds > 86_400 {
            return Err(problem(
                key("failed_push_poll_seconds"),
                "must be 0 (off) to 86400",
            ));
        }
        if app.approval_lookback_days > 364 {
            return Err(problem(
                key("approval_lookback_days"),
                "must be 0 to 364 (DingTalk lists instances created up to 365 days ago)",
            ));
        }
        if !(1..=180).contains(&app.supply_lookback_days) {
            return Err(problem(
                key("supply_lookback_days"),
                "must be 1 to 180 (listRecord serves 180 days back)",
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn app(extra: &str) -> Result<Vec<DingTalkConfig>, String> {
        let text =
            format!("name = 'a'\nclient_id = 'ding1'\nstream = true\nclient_secret = 's'\n{extra}");
        let app: DingTalkConfig = toml::from_str(&text).map_err(|e| e.to_string())?;
        let apps = vec![app];
        validate(&apps).map_err(|p| p.to_string())?;
        Ok(apps)
    }

    #[test]
    fn dingtalk_pull_settings_default_and_are_checked() {
        let defaults = &app("").unwrap()[0];
        assert_eq!(defaults.failed_push_poll_seconds, 300);
        assert_eq!(defaults.supply_lookback_days, 31);
        assert_eq!(defaults.approval_lookback_days, 30);
        assert_eq!(
            app("approval_lookback_days = 0").unwrap()[0].approval_lookback_days,
            0
        );
        let approvals = app("approval_lookback_days = 365").unwrap_err();
        assert!(
            approvals.starts_with("dingtalk[0].approval_lookback_days:"),
            "{approvals}"
        );
        let off = app("failed_push_poll_seconds = 0").unwrap();
        assert_eq!(off[0].failed_push_poll_seconds, 0, "0 turns recovery off");
        let lookback = app("supply_lookback_days = 181").unwrap_err();
        assert!(
            lookback.starts_with("dingtalk[0].supply_lookback_days:"),
            "{lookback}"
        );
        let poll = app("failed_push_poll_seconds = 100000").unwrap_err();
        assert!(
            poll.starts_with("dingtalk[0].failed_push_poll_seconds:"),
            "{poll}"
        );
    }

    #[test]
    fn process_kinds_and_the_zone_reach_translation() {
        let apps = app("time_zone = 'Asia/Tokyo'\nprocess_kinds = { 'PROC-LEAVE-1' = 'leave', 'PROC-OUT' = 'go_out' }").unwrap();
        let settings = apps[0].app().translation;
        assert_eq!(settings.time_zone, chrono_tz::Asia::Tokyo);
        assert_eq!(
            settings.process_kinds.get("PROC-LEAVE-1"),
            Some(&attendance_proto::v1::ApprovalKind::Leave)
        );
        assert_eq!(
            settings.process_kinds.get("PROC-OUT"),
            Some(&attendance_proto::v1::ApprovalKind::GoOut)
        );
        assert_eq!(
            app("").unwrap()[0].app().translation.time_zone,
            chrono_tz::Asia::Shanghai
        );
        let wrong = app("process_kinds = { 'PROC-1' = 'holiday' }").unwrap_err();
        assert!(
            wrong.starts_with("dingtalk[0].process_kinds.PROC-1:"),
            "{wrong}"
        );
    }

    #[test]
    fn a_callback_key_the_adapter_would_refuse_is_refused_here() {
        let token = "callback_token = 't'\n";
        let short = app(&format!("{token}callback_aes_key = 'short'")).unwrap_err();
        assert!(
            short.starts_with("dingtalk[0].callback_aes_key:"),
            "{short}"
        );
        // 43 characters, but not base64 of a 32-byte key.
        let bad = app(&format!("{token}callback_aes_key = '{}'", "!".repeat(43))).unwrap_err();
        assert!(bad.starts_with("dingtalk[0].callback_aes_key:"), "{bad}");
        let good = "4g5j64qlyl3zvetqxz5jiocdr586fn2zvjpa8zls3ij";
        assert!(app(&format!("{token}callback_aes_key = '{good}'")).is_ok());
    }
}
