//! The DingTalk open API client the hub pulls with (protocol §4, §5): the
//! endpoints, and how DingTalk's answers read: which codes mean an invalid
//! accessToken, "system busy" (`-1`) and "rate limited" (`90002`), retried
//! with exponential backoff up to their bounds, or a business error never
//! retried. The token cache, the per-app pacing, the retry loop and the
//! [`CallMeter`] every request is reported to are the adapter kit's
//! ([`attendance_adapter_kit::api`]).
//!
//! Endpoints answer raw JSON values: [`crate::pull`] translates them and
//! keeps each item's JSON as the facts' raw JSON. The v1.0 workflow calls
//! (approval instances, and their ids by template) are in `workflow.rs`.

use std::sync::Arc;
use std::time::Duration;

use attendance_adapter_kit::api::{
    read_json, ApiClientCore, Attempt, Backoff, FreshToken, GiveUp, HttpError, RetryPolicy,
};
use attendance_adapter_kit::Secret;
use chrono::{NaiveDate, NaiveDateTime};
use serde_json::{json, Value};

pub use attendance_adapter_kit::api::{CallMeter, NoMeter};

mod workflow;
pub use workflow::{
    InstanceIdQuery, InstanceIds, INSTANCE_IDS_PATH, MAX_INSTANCE_IDS_PER_LOOP,
    MAX_INSTANCE_IDS_PER_PAGE, MAX_INSTANCE_LIST_AGE_DAYS, MAX_INSTANCE_LIST_DAYS,
    MAX_ORIGINATORS_PER_CALL, PROCESS_INSTANCE_PATH,
};

/// `attendance/list` and `attendance/listRecord` take at most 50 users.
pub const MAX_USERS_PER_CALL: usize = 50;
/// ... and a window of at most 7 days.
pub const MAX_DAYS_PER_CALL: i64 = 7;
/// `attendance/list` pages hold at most 50 results.
pub const MAX_PAGE_LIMIT: usize = 50;

/// 系统繁忙: retry.
pub const SYSTEM_BUSY: i64 = -1;
/// All apps together called the API above its ceiling: back off and retry.
pub const RATE_LIMITED: i64 = 90002;
/// 鉴权异常 (no permission, ...): a business error, never retried.
pub const AUTH_ERROR: i64 = 88;
/// Answers that mean "this access_token is no good": 40014 (illegal token)
/// and 42001 (expired), refreshed once. Protocol §5 only confirms the
/// generic rule, so HTTP 401 is treated the same.
pub const INVALID_TOKEN_CODES: [i64; 2] = [40014, 42001];

pub const ACCESS_TOKEN_PATH: &str = "/v1.0/oauth2/accessToken";
pub const GET_UPDATE_DATA_PATH: &str = "/topapi/attendance/getupdatedata";
pub const LIST_RESULTS_PATH: &str = "/attendance/list";
pub const LIST_RECORDS_PATH: &str = "/attendance/listRecord";
pub const FAILED_RESULT_PATH: &str = "/call_back/get_call_back_failed_result";

/// The token is treated as expired this long before DingTalk says it is
/// (the Python SDK keeps 5 minutes; the doc suggests ~7000 of 7200 s).
const TOKEN_EXPIRY_MARGIN: Duration = Duration::from_secs(300);
/// `attendance/list` paging stops here whatever `hasMore` says.
const MAX_PAGES: usize = 10_000;

/// How to reach one app's API.
#[derive(Clone, Debug)]
pub struct ApiConfig {
    /// The configured app name (for metering and logs).
    pub app: String,
    /// `https://api.dingtalk.com`: the accessToken endpoint.
    pub api_base_url: String,
    /// `https://oapi.dingtalk.com`: the attendance and callback endpoints.
    pub oapi_base_url: String,
    /// The ClientID (AppKey).
    pub app_key: String,
    /// The ClientSecret (AppSecret).
    pub app_secret: Secret,
    /// At most this many requests per second from this app (20, 40 or 60 by
    /// edition).
    pub requests_per_second: u32,
    /// Retries of one call answered `-1` (protocol §5: at most 3).
    pub max_busy_retries: u32,
    /// Retries of one call answered `90002` (or HTTP 429).
    pub max_throttle_retries: u32,
    /// The first retry waits this long; each further one twice as long.
    pub backoff_base: Duration,
    pub backoff_cap: Duration,
    pub timeout: Duration,
}

impl ApiConfig {
    pub fn new(
        app: &str,
        api_base_url: &str,
        oapi_base_url: &str,
        app_key: &str,
        app_secret: &str,
    ) -> ApiConfig {
        ApiConfig {
            app: app.into(),
            api_base_url: api_base_url.trim_end_matches('/').into(),
            oapi_base_url: oapi_base_url.trim_end_matches('/').into(),
            app_key: app_key.into(),
            app_secret: Secret::new(app_secret),
            requests_per_second: 20,
            max_busy_retries: 3,
            max_throttle_retries: 6,
            backoff_base: Duration::from_millis(250),
            backoff_cap: Duration::from_secs(10),
            timeout: Duration::from_secs(15),
        }
    }
}

/// Why an API call failed.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// No answer, an HTTP error page, or a body that does not read.
    #[error(transparent)]
    Http(#[from] HttpError),
    /// A business error (`88`, `90020`, a bad parameter, ...): not retried.
    #[error("{path} answered errcode {code}: {msg}")]
    Vendor {
        path: String,
        code: i64,
        msg: String,
    },
    /// The accessToken endpoint refused (e.g. `invalidClientIdOrSecret`).
    #[error("{path} refused the credentials (HTTP {status}, {code}): {msg}")]
    Credentials {
        path: String,
        status: u16,
        code: String,
        msg: String,
    },
    /// A v1.0 API refused the call (`processInstanceNotExist`,
    /// `invalidParameter`, ...): not retried.
    #[error("{path} answered HTTP {status} {code}: {msg}")]
    Refused {
        path: String,
        status: u16,
        code: String,
        msg: String,
    },
    /// Still busy or rate limited after the configured retries.
    #[error("{path} still answered errcode {code} after {retries} retries")]
    Exhausted {
        path: String,
        code: i64,
        retries: u32,
    },
    /// DingTalk's per-IP block answer (over 10 000 calls per 20 s: a
    /// 5-minute ban), `{"status":1111,"wait":5,"punish":"deny",...}`.
    #[error("{path}: this IP is blocked by DingTalk's flow control (wait {wait})")]
    Banned { path: String, wait: i64 },
    /// The caller asked for more than one call may carry.
    #[error("invalid request: {0}")]
    Request(String),
}

impl ApiError {
    /// The vendor's errcode, when the call failed with one.
    pub fn code(&self) -> Option<i64> {
        match self {
            ApiError::Vendor { code, .. } | ApiError::Exhausted { code, .. } => Some(*code),
            _ => None,
        }
    }
}

impl GiveUp<i64> for ApiError {
    fn retries_exhausted(path: &str, code: i64, retries: u32) -> ApiError {
        ApiError::Exhausted {
            path: path.into(),
            code,
            retries,
        }
    }

    fn token_refused_again(path: &str) -> ApiError {
        ApiError::Vendor {
            path: path.into(),
            code: INVALID_TOKEN_CODES[0],
            msg: "the token was refused again after a refresh".into(),
        }
    }
}

/// Which answers a call retries (`-1` and `90002`, as their codes), how
/// often, and the backoff between tries: DingTalk never says how long.
fn retry_policy(config: &ApiConfig) -> RetryPolicy<i64> {
    RetryPolicy::new(Backoff::new(config.backoff_base, config.backoff_cap))
        .with_limit(SYSTEM_BUSY, config.max_busy_retries)
        .with_limit(RATE_LIMITED, config.max_throttle_retries)
}

/// One batch of `get_call_back_failed_result`: the items as DingTalk sent
/// them (already deleted at DingTalk) and whether more remain.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FailedBatch {
    pub items: Vec<Value>,
    pub has_more: bool,
}

/// One app's API client. Share it behind an `Arc`: the token cache and the
/// request pacing are per client.
pub struct DingTalkApi {
    http: reqwest::Client,
    config: ApiConfig,
    /// Pacing, metering, the accessToken and the retries.
    core: ApiClientCore<i64>,
}

impl std::fmt::Debug for DingTalkApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DingTalkApi")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// `yyyy-MM-dd HH:mm:ss`, the form every attendance endpoint takes.
pub fn date_time_text(at: NaiveDateTime) -> String {
    at.format("%Y-%m-%d %H:%M:%S").to_string()
}

fn midnight(date: NaiveDate) -> NaiveDateTime {
    date.and_hms_opt(0, 0, 0).expect("midnight exists")
}

impl DingTalkApi {
    pub fn new(config: ApiConfig, meter: Arc<dyn CallMeter>) -> DingTalkApi {
        let http = reqwest::Client::builder()
            .timeout(config.timeout)
            .build()
            .expect("an HTTP client with a timeout builds");
        let core = ApiClientCore::new(
            &config.app,
            config.requests_per_second,
            TOKEN_EXPIRY_MARGIN,
            retry_policy(&config),
            meter,
        );
        DingTalkApi { http, config, core }
    }

    pub fn config(&self) -> &ApiConfig {
        &self.config
    }

    /// The cached accessToken, fetched when missing or near expiry.
    pub async fn access_token(&self) -> Result<String, ApiError> {
        self.core.token(|| self.fetch_token()).await
    }

    async fn fetch_token(&self) -> Result<FreshToken, ApiError> {
        let path = ACCESS_TOKEN_PATH;
        let url = &format!("{}{path}", self.config.api_base_url);
        let body = &json!({
            "appKey": self.config.app_key,
            "appSecret": self.config.app_secret.expose(),
        });
        self.core
            .run(path, || async move {
                let response = self
                    .core
                    .send(path, || self.http.post(url).json(body).send())
                    .await?;
                let (status, answer) = v1_answer(path, response).await?;
                if status == 429 || status == 503 {
                    return Ok(Attempt::Retry {
                        kind: RATE_LIMITED,
                        wait: None,
                    });
                }
                if status != 200 {
                    if let Some(code) = answer.get("code").and_then(Value::as_str) {
                        return Err(ApiError::Credentials {
                            path: path.into(),
                            status,
                            code: code.into(),
                            msg: answer["message"].as_str().unwrap_or_default().into(),
                        });
                    }
                    return Err(HttpError::status(path, status).into());
                }
                let token = answer["accessToken"].as_str().unwrap_or_default();
                if token.is_empty() {
                    return Err(HttpError::decode(path, "no accessToken in the answer").into());
                }
                let seconds = number(&answer["expireIn"]).unwrap_or(7200).max(0);
                Ok(Attempt::Done(FreshToken {
                    value: token.to_owned(),
                    lifetime: Duration::from_secs(seconds as u64),
                }))
            })
            .await
    }

    /// One authorized oapi call: paced, metered, busy and rate-limit answers
    /// retried with backoff, the token refreshed once if DingTalk refuses it.
    /// Answers the whole body of an `errcode: 0` answer.
    pub(crate) async fn oapi(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Value, ApiError> {
        let attempt = move |token| self.attempt(method.clone(), path, body, token);
        self.core
            .authorized(path, || self.fetch_token(), attempt)
            .await
    }

    async fn attempt(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
        token: String,
    ) -> Result<Attempt<Value, i64>, ApiError> {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.config.oapi_base_url))
            .query(&[("access_token", &token)]);
        if let Some(body) = body {
            request = request.json(body);
        }
        // The token rides in the query, and reqwest's errors name the whole
        // URL: they lose it before they can reach a log or a response.
        let response = self
            .core
            .send(path, || async {
                request.send().await.map_err(reqwest::Error::without_url)
            })
            .await?;
        let status = response.status().as_u16();
        let text = response
            .text()
            .await
            .map_err(|e| HttpError::transport(path, e.without_url()))?;
        let refused = Attempt::TokenRefused { token };
        let rate_limited = Attempt::Retry {
            kind: RATE_LIMITED,
            wait: None,
        };
        let answer: Value = match read_json(path, status, &text) {
            Ok(answer) => answer,
            Err(_) if status == 401 => return Ok(refused),
            Err(_) if status == 429 => return Ok(rate_limited),
            Err(unreadable) => return Err(unreadable.into()),
        };
        if answer.get("punish").is_some() && answer.get("errcode").is_none() {
            return Err(ApiError::Banned {
                path: path.into(),
                wait: number(&answer["wait"]).unwrap_or_default(),
            });
        }
        let Some(code) = number(&answer["errcode"]) else {
            return match status {
                401 => Ok(refused),
                429 => Ok(rate_limited),
                200 => Err(HttpError::decode(path, "no errcode in the answer").into()),
                _ => Err(HttpError::status(path, status).into()),
            };
        };
        match code {
            0 => Ok(Attempt::Done(answer)),
            SYSTEM_BUSY | RATE_LIMITED => Ok(Attempt::Retry {
                kind: code,
                wait: None,
            }),
            code if INVALID_TOKEN_CODES.contains(&code) => Ok(refused),
            // topapi endpoints wrap an expired token in 88 (鉴权异常) and say
            // which in `sub_code`: 40014 (不合法的access_token).
            AUTH_ERROR
                if sub_code(&answer).is_some_and(|sub| INVALID_TOKEN_CODES.contains(&sub)) =>
            {
                Ok(refused)
            }
            _ if status == 401 => Ok(refused),
            code => {
                let msg = answer["errmsg"].as_str().unwrap_or_default();
                let sub = answer["sub_msg"].as_str().unwrap_or_default();
                Err(ApiError::Vendor {
                    path: path.into(),
                    code,
                    msg: if sub.is_empty() {
                        msg.to_owned()
                    } else {
                        format!("{msg} ({sub})")
                    },
                })
            }
        }
    }

    /// `topapi/attendance/getupdatedata`: one employee's work day. Answers
    /// the `result` object (work date, results, approvals, punches).
    pub async fn get_update_data(
        &self,
        user_id: &str,
        work_date: NaiveDate,
    ) -> Result<Value, ApiError> {
        // The SDKs type `work_date` as a Date and send it as
        // `yyyy-MM-dd HH:mm:ss`; the doc's example is the bare date.
        let body = json!({"userid": user_id, "work_date": date_time_text(midnight(work_date))});
        let mut answer = self
            .oapi(reqwest::Method::POST, GET_UPDATE_DATA_PATH, Some(&body))
            .await?;
        match answer.get_mut("result").map(Value::take) {
            Some(result @ Value::Object(_)) => Ok(result),
            Some(Value::Null) | None => Ok(json!({})),
            Some(_) => {
                Err(HttpError::decode(GET_UPDATE_DATA_PATH, "result is not an object").into())
            }
        }
    }

    /// `attendance/list`: the check-point results of up to 50 users for work
    /// dates `first..=last` (at most 7 days), every page.
    pub async fn list_results(
        &self,
        user_ids: &[String],
        first: NaiveDate,
        last: NaiveDate,
    ) -> Result<Vec<Value>, ApiError> {
        check_batch(user_ids, first, last)?;
        let mut results = Vec::new();
        let mut offset = 0;
        for _ in 0..MAX_PAGES {
            let body = json!({
                "workDateFrom": date_time_text(midnight(first)),
                "workDateTo": date_time_text(midnight(last)),
                "userIdList": user_ids,
                "offset": offset,
                "limit": MAX_PAGE_LIMIT,
                "isI18n": false,
            });
            let answer = self
                .oapi(reqwest::Method::POST, LIST_RESULTS_PATH, Some(&body))
                .await?;
            let page = items(&answer, "recordresult", LIST_RESULTS_PATH)?;
            let empty = page.is_empty();
            results.extend(page);
            // An empty page that claims more would page on forever.
            if !answer["hasMore"].as_bool().unwrap_or(false) || empty {
                return Ok(results);
            }
            // The documented next offset is offset + limit, whatever the
            // page held: a short page with `hasMore` skips nothing.
            offset += MAX_PAGE_LIMIT;
        }
        Err(HttpError::decode(
            LIST_RESULTS_PATH,
            format!("still hasMore after {MAX_PAGES} pages"),
        )
        .into())
    }

    /// `attendance/listRecord`: every punch of up to 50 users with check time
    /// in `from..=to` (at most 7 days; the time of day is honoured).
    pub async fn list_records(
        &self,
        user_ids: &[String],
        from: NaiveDateTime,
        to: NaiveDateTime,
    ) -> Result<Vec<Value>, ApiError> {
        if to < from || (to - from) > chrono::Duration::days(MAX_DAYS_PER_CALL) {
            return Err(ApiError::Request(format!(
                "listRecord covers at most {MAX_DAYS_PER_CALL} days: {from} .. {to}"
            )));
        }
        check_users(user_ids)?;
        let body = json!({
            "userIds": user_ids,
            "checkDateFrom": date_time_text(from),
            "checkDateTo": date_time_text(to),
            "isI18n": false,
        });
        let answer = self
            .oapi(reqwest::Method::POST, LIST_RECORDS_PATH, Some(&body))
            .await?;
        items(&answer, "recordresult", LIST_RECORDS_PATH)
    }

    /// `call_back/get_call_back_failed_result`: up to 200 events whose push
    /// failed. **Reading deletes them at DingTalk**: persist the batch
    /// before acting on it, and call again while `has_more`.
    pub async fn failed_results(&self) -> Result<FailedBatch, ApiError> {
        let answer = self
            .oapi(reqwest::Method::GET, FAILED_RESULT_PATH, None)
            .await?;
        Ok(FailedBatch {
            items: items(&answer, "failed_list", FAILED_RESULT_PATH)?,
            has_more: answer["has_more"].as_bool().unwrap_or(false),
        })
    }
}

/// The status and JSON body of a v1.0 API answer (`api_base_url`); a body
/// that is not JSON reads as `null`, the status then decides.
async fn v1_answer(path: &str, response: reqwest::Response) -> Result<(u16, Value), ApiError> {
    let status = response.status().as_u16();
    let text = response
        .text()
        .await
        .map_err(|e| HttpError::transport(path, e))?;
    Ok((status, serde_json::from_str(&text).unwrap_or(Value::Null)))
}

fn check_users(user_ids: &[String]) -> Result<(), ApiError> {
    if user_ids.is_empty() || user_ids.len() > MAX_USERS_PER_CALL {
        return Err(ApiError::Request(format!(
            "a call takes 1 to {MAX_USERS_PER_CALL} users, not {}",
            user_ids.len()
        )));
    }
    Ok(())
}

fn check_batch(user_ids: &[String], first: NaiveDate, last: NaiveDate) -> Result<(), ApiError> {
    check_users(user_ids)?;
    if last < first || (last - first).num_days() >= MAX_DAYS_PER_CALL {
        return Err(ApiError::Request(format!(
            "a call covers 1 to {MAX_DAYS_PER_CALL} work dates: {first} .. {last}"
        )));
    }
    Ok(())
}

/// The list under `key`; absent or `null` is empty.
fn items(answer: &Value, key: &str, path: &str) -> Result<Vec<Value>, ApiError> {
    match answer.get(key) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(items)) => Ok(items.clone()),
        Some(_) => Err(HttpError::decode(path, format!("{key} is not a list")).into()),
    }
}

/// The `sub_code` of a topapi error (a string of digits in the answers).
fn sub_code(answer: &Value) -> Option<i64> {
    number(&answer["sub_code"])
}

/// An integer, or a string holding one.
fn number(value: &Value) -> Option<i64> {
    value
        .as_i64()
        .or_else(|| value.as_str().and_then(|s| s.trim().parse().ok()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_respect_the_vendor_limits() {
        let day = NaiveDate::from_ymd_opt(2021, 1, 14).unwrap();
        let users: Vec<String> = (0..50).map(|i| format!("u{i}")).collect();
        assert!(check_batch(&users, day, day + chrono::Duration::days(6)).is_ok());
        assert!(check_batch(&users, day, day + chrono::Duration::days(7)).is_err());
        assert!(check_batch(&users, day, day - chrono::Duration::days(1)).is_err());
        let too_many: Vec<String> = (0..51).map(|i| format!("u{i}")).collect();
        assert!(check_batch(&too_many, day, day).is_err());
        assert!(check_batch(&[], day, day).is_err());
    }

    #[test]
    fn backoff_doubles_and_is_capped() {
        let mut config = ApiConfig::new("a", "http://x", "http://y", "k", "s");
        config.backoff_base = Duration::from_millis(100);
        config.backoff_cap = Duration::from_millis(350);
        let api = DingTalkApi::new(config, Arc::new(NoMeter));
        let backoff = api.core.retry_policy().backoff();
        let first = backoff.delay(1);
        assert!(
            first >= Duration::from_millis(100) && first < Duration::from_millis(121),
            "{first:?}"
        );
        let second = backoff.delay(2);
        assert!(
            second >= Duration::from_millis(200) && second < Duration::from_millis(241),
            "{second:?}"
        );
        let capped = backoff.delay(30);
        assert!(
            capped >= Duration::from_millis(350) && capped < Duration::from_millis(421),
            "{capped:?}"
        );
    }

    #[test]
    fn debug_redacts_the_secret() {
        let config = ApiConfig::new("a", "http://x", "http://y", "key", "s3cret-value");
        let shown = format!("{config:?}");
        assert!(
            !shown.contains("s3cret-value") && shown.contains("**REDACTED**"),
            "{shown}"
        );
    }

    #[test]
    fn numbers_read_from_text_too() {
        assert_eq!(number(&json!(7200)), Some(7200));
        assert_eq!(number(&json!("-1")), Some(-1));
        assert_eq!(number(&json!("x")), None);
        assert_eq!(number(&Value::Null), None);
    }
}
