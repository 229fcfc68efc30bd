//! The Feishu open API client the hub pulls with: tenant_access_token (cached,
//! refreshed once on an invalid-token answer), the attendance queries, a
//! per-app request rate, and throttling answers honoured.

use std::sync::Arc;
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::sync::Mutex;
use tokio::time::Instant;

/// Feishu caps every attendance query at 50 users per call.
pub const MAX_USERS_PER_CALL: usize = 50;
/// The token is treated as expired this long before Feishu says it is.
const TOKEN_EXPIRY_MARGIN: Duration = Duration::from_secs(180);
/// Token answers that mean "get a new token and try once more".
const INVALID_TOKEN_CODES: [i64; 3] = [99991663, 99991664, 99991671];
const THROTTLED_CODE: i64 = 99991400;

/// Counts the calls an app makes, so operators see its monthly budget go.
pub trait CallMeter: Send + Sync + 'static {
    fn record_call(&self, app: &str);
}

/// A meter that counts nothing, for callers that do not meter.
pub struct NoMeter;

impl CallMeter for NoMeter {
    fn record_call(&self, _app: &str) {}
}

/// How to reach one app's API.
#[derive(Clone)]
pub struct ApiConfig {
    /// The configured app name (for metering and logs).
    pub app: String,
    pub base_url: String,
    pub app_id: String,
    pub app_secret: String,
    /// At most this many requests per second from this app (Feishu allows 50 per API).
    pub requests_per_second: u32,
    /// How many throttling answers one call waits out before giving up.
    pub max_throttle_waits: u32,
    pub timeout: Duration,
}

impl std::fmt::Debug for ApiConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiConfig")
            .field("app", &self.app)
            .field("base_url", &self.base_url)
            .field("app_id", &self.app_id)
            .field("app_secret", &"**REDACTED**")
            .field("requests_per_second", &self.requests_per_second)
            .finish()
    }
}

impl ApiConfig {
    pub fn new(app: &str, base_url: &str, app_id: &str, app_secret: &str) -> ApiConfig {
        ApiConfig {
            app: app.into(),
            base_url: base_url.trim_end_matches('/').into(),
            app_id: app_id.into(),
            app_secret: app_secret.into(),
            requests_per_second: 20,
            max_throttle_waits: 8,
            timeout: Duration::from_secs(15),
        }
    }
}

/// Why an API call failed.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("request to {path} failed: {reason}")]
    Transport { path: String, reason: String },
    #[error("{path} answered code {code}: {msg}")]
    Vendor {
        path: String,
        code: i64,
        msg: String,
    },
    #[error("{path} answered HTTP {status}")]
    Status { path: String, status: u16 },
    #[error("{path} kept throttling after {waits} waits")]
    Throttled { path: String, waits: u32 },
    #[error("{path} answered something unreadable: {reason}")]
    Decode { path: String, reason: String },
}

struct CachedToken {
    value: String,
    usable_until: Instant,
}

/// One app's API client. Cheap to share behind an `Arc`.
pub struct FeishuApi {
    http: reqwest::Client,
    config: ApiConfig,
    token: Mutex<Option<CachedToken>>,
    /// When the next request may start: a simple spacing limiter.
    next_slot: Mutex<Instant>,
    meter: Arc<dyn CallMeter>,
}

/// One punch as `user_flows/query` returns it.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(default)]
pub struct UserFlow {
    pub user_id: String,
    pub creator_id: String,
    pub location_name: String,
    pub check_time: String,
    pub comment: String,
    pub record_id: String,
    pub ssid: String,
    pub bssid: String,
    pub is_field: bool,
    pub is_wifi: bool,
    #[serde(rename = "type")]
    pub kind: i64,
    pub photo_urls: Option<Vec<String>>,
    pub device_id: String,
    pub check_result: String,
    pub external_id: String,
    pub idempotent_id: String,
}

/// One check point pair of a day, as `user_tasks/query` returns it.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(default)]
pub struct TaskRecord {
    pub check_in_record_id: String,
    pub check_in_record: Option<UserFlow>,
    pub check_out_record_id: String,
    pub check_out_record: Option<UserFlow>,
    pub check_in_result: String,
    pub check_out_result: String,
    pub check_in_result_supplement: String,
    pub check_out_result_supplement: String,
    pub check_in_shift_time: String,
    pub check_out_shift_time: String,
    pub task_shift_type: i64,
}

/// One employee-day as `user_tasks/query` returns it.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(default)]
pub struct UserTaskResult {
    pub result_id: String,
    pub user_id: String,
    pub employee_name: String,
    pub day: i64,
    pub group_id: String,
    pub shift_id: String,
    pub records: Vec<TaskRecord>,
}

/// The useful part of a `user_tasks/query` answer.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(default)]
pub struct UserTasks {
    pub user_task_results: Vec<UserTaskResult>,
    pub invalid_user_ids: Vec<String>,
    pub unauthorized_user_ids: Vec<String>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Envelope {
    code: i64,
    msg: String,
    data: Value,
}

#[derive(Deserialize)]
struct TokenAnswer {
    code: i64,
    #[serde(default)]
    msg: String,
    #[serde(default)]
    tenant_access_token: String,
    #[serde(default)]
    expire: u64,
}

enum Attempt<T> {
    Done(T),
    Throttled(Duration),
    InvalidToken,
}

impl FeishuApi {
    pub fn new(config: ApiConfig, meter: Arc<dyn CallMeter>) -> FeishuApi {
        let http = reqwest::Client::builder()
            .timeout(config.timeout)
            .build()
            .expect("an HTTP client with a timeout builds");
        FeishuApi {
            http,
            config,
            token: Mutex::new(None),
            next_slot: Mutex::new(Instant::now()),
            meter,
        }
    }

    pub fn config(&self) -> &ApiConfig {
        &self.config
    }

    /// Waits for this app's next request slot.
    async fn pace(&self) {
        let spacing = Duration::from_secs(1) / self.config.requests_per_second.max(1);
        let start = {
            let mut next = self.next_slot.lock().await;
            let start = (*next).max(Instant::now());
            *next = start + spacing;
            start
        };
        tokio::time::sleep_until(start).await;
    }

    /// The cached tenant_access_token, fetched when missing or near expiry.
    pub async fn tenant_access_token(&self) -> Result<String, ApiError> {
        let mut cached = self.token.lock().await;
        if let Some(token) = cached.as_ref() {
            if Instant::now() < token.usable_until {
                return Ok(token.value.clone());
            }
        }
        let path = "/open-apis/auth/v3/tenant_access_token/internal";
        let mut waits = 0;
        loop {
            self.pace().await;
            let response = self
                .http
                .post(format!("{}{path}", self.config.base_url))
                .json(&serde_json::json!({
                    "app_id": self.config.app_id,
                    "app_secret": self.config.app_secret,
                }))
                .send()
                .await
                .map_err(|e| transport(path, e))?;
            self.meter.record_call(&self.config.app);
            if let Some(wait) = throttle_wait(&response) {
                waits += 1;
                if waits > self.config.max_throttle_waits {
                    return Err(ApiError::Throttled {
                        path: path.into(),
                        waits,
                    });
                }
                tokio::time::sleep(wait).await;
                continue;
            }
            let status = response.status().as_u16();
            let text = response.text().await.map_err(|e| transport(path, e))?;
            let answer: TokenAnswer = serde_json::from_str(&text).map_err(|e| {
                if status != 200 {
                    ApiError::Status {
                        path: path.into(),
                        status,
                    }
                } else {
                    ApiError::Decode {
                        path: path.into(),
                        reason: e.to_string(),
                    }
                }
            })?;
            if answer.code == THROTTLED_CODE {
                waits += 1;
                if waits > self.config.max_throttle_waits {
                    return Err(ApiError::Throttled {
                        path: path.into(),
                        waits,
                    });
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
            if answer.code != 0 || answer.tenant_access_token.is_empty() {
                return Err(ApiError::Vendor {
                    path: path.into(),
                    code: answer.code,
                    msg: answer.msg,
                });
            }
            let lifetime = Duration::from_secs(answer.expire).saturating_sub(TOKEN_EXPIRY_MARGIN);
            *cached = Some(CachedToken {
                value: answer.tenant_access_token.clone(),
                usable_until: Instant::now() + lifetime,
            });
            return Ok(answer.tenant_access_token);
        }
    }

    async fn forget_token(&self, stale: &str) {
        let mut cached = self.token.lock().await;
        if cached.as_ref().is_some_and(|t| t.value == stale) {
            *cached = None;
        }
    }

    /// One authorized call: paced, metered, throttling waited out, and the
    /// token refreshed once if Feishu calls it invalid.
    async fn call<T: DeserializeOwned>(
        &self,
        method: reqwest::Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&Value>,
    ) -> Result<T, ApiError> {
        let mut refreshed = false;
        let mut waits = 0;
        loop {
            let token = self.tenant_access_token().await?;
            match self
                .attempt(method.clone(), path, query, body, &token)
                .await?
            {
                Attempt::Done(value) => return Ok(value),
                Attempt::Throttled(wait) => {
                    waits += 1;
                    if waits > self.config.max_throttle_waits {
                        return Err(ApiError::Throttled {
                            path: path.into(),
                            waits,
                        });
                    }
                    tracing::info!(app = %self.config.app, path, wait_ms = wait.as_millis() as u64, "throttled; waiting");
                    tokio::time::sleep(wait).await;
                }
                Attempt::InvalidToken if !refreshed => {
                    tracing::info!(app = %self.config.app, path, "token refused; refreshing once");
                    refreshed = true;
                    self.forget_token(&token).await;
                }
                Attempt::InvalidToken => {
                    return Err(ApiError::Vendor {
                        path: path.into(),
                        code: INVALID_TOKEN_CODES[0],
                        msg: "token refused again after a refresh".into(),
                    })
                }
            }
        }
    }

    async fn attempt<T: DeserializeOwned>(
        &self,
        method: reqwest::Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&Value>,
        token: &str,
    ) -> Result<Attempt<T>, ApiError> {
        self.pace().await;
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.config.base_url))
            .bearer_auth(token)
            .query(query);
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request.send().await.map_err(|e| transport(path, e))?;
        self.meter.record_call(&self.config.app);
        if let Some(wait) = throttle_wait(&response) {
            return Ok(Attempt::Throttled(wait));
        }
        let status = response.status().as_u16();
        let reset = reset_header(&response);
        let text = response.text().await.map_err(|e| transport(path, e))?;
        let envelope: Envelope = match serde_json::from_str(&text) {
            Ok(envelope) => envelope,
            Err(_) if status != 200 => {
                return Err(ApiError::Status {
                    path: path.into(),
                    status,
                })
            }
            Err(e) => {
                return Err(ApiError::Decode {
                    path: path.into(),
                    reason: e.to_string(),
                })
            }
        };
        if envelope.code == THROTTLED_CODE {
            // Some old APIs throttle with HTTP 400 and this code.
            return Ok(Attempt::Throttled(reset.unwrap_or(Duration::from_secs(1))));
        }
        if INVALID_TOKEN_CODES.contains(&envelope.code) {
            return Ok(Attempt::InvalidToken);
        }
        if envelope.code != 0 {
            return Err(ApiError::Vendor {
                path: path.into(),
                code: envelope.code,
                msg: envelope.msg,
            });
        }
        serde_json::from_value(envelope.data)
            .map(Attempt::Done)
            .map_err(|e| ApiError::Decode {
                path: path.into(),
                reason: e.to_string(),
            })
    }

    /// Every valid punch of the users with check time in `[from, to)` (seconds).
    pub async fn query_user_flows(
        &self,
        user_ids: &[String],
        from_seconds: i64,
        to_seconds: i64,
    ) -> Result<Vec<UserFlow>, ApiError> {
        #[derive(Deserialize, Default)]
        #[serde(default)]
        struct Data {
            user_flow_results: Vec<UserFlow>,
        }
        let mut flows = Vec::new();
        for chunk in user_ids.chunks(MAX_USERS_PER_CALL) {
            let body = serde_json::json!({
                "user_ids": chunk,
                "check_time_from": from_seconds.to_string(),
                "check_time_to": to_seconds.to_string(),
            });
            let data: Data = self
                .call(
                    reqwest::Method::POST,
                    "/open-apis/attendance/v1/user_flows/query",
                    &[
                        ("employee_type", "employee_id".into()),
                        ("include_terminated_user", "true".into()),
                    ],
                    Some(&body),
                )
                .await?;
            flows.extend(data.user_flow_results);
        }
        Ok(flows)
    }

    /// One punch by its record id.
    pub async fn get_user_flow(&self, record_id: &str) -> Result<UserFlow, ApiError> {
        self.call(
            reqwest::Method::GET,
            &format!("/open-apis/attendance/v1/user_flows/{record_id}"),
            &[("employee_type", "employee_id".into())],
            None,
        )
        .await
    }

    /// The day results of the users for work dates `[from, to]` (yyyyMMdd).
    pub async fn query_user_tasks(
        &self,
        user_ids: &[String],
        date_from: u32,
        date_to: u32,
    ) -> Result<UserTasks, ApiError> {
        let mut all = UserTasks::default();
        for chunk in user_ids.chunks(MAX_USERS_PER_CALL) {
            let body = serde_json::json!({
                "user_ids": chunk,
                "check_date_from": date_from,
                "check_date_to": date_to,
                "need_overtime_result": true,
            });
            let data: UserTasks = self
                .call(
                    reqwest::Method::POST,
                    "/open-apis/attendance/v1/user_tasks/query",
                    &[
                        ("employee_type", "employee_id".into()),
                        ("ignore_invalid_users", "true".into()),
                        ("include_terminated_user", "true".into()),
                    ],
                    Some(&body),
                )
                .await?;
            all.user_task_results.extend(data.user_task_results);
            all.invalid_user_ids.extend(data.invalid_user_ids);
            all.unauthorized_user_ids.extend(data.unauthorized_user_ids);
        }
        Ok(all)
    }
}

fn transport(path: &str, error: reqwest::Error) -> ApiError {
    ApiError::Transport {
        path: path.into(),
        reason: error.to_string(),
    }
}

fn reset_header(response: &reqwest::Response) -> Option<Duration> {
    response
        .headers()
        .get("x-ogw-ratelimit-reset")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<f64>().ok())
        .filter(|secs| secs.is_finite() && *secs >= 0.0)
        .map(|secs| Duration::from_secs_f64(secs.min(60.0)))
}

/// HTTP 429 means throttled whatever the body says; wait what Feishu asks.
fn throttle_wait(response: &reqwest::Response) -> Option<Duration> {
    (response.status().as_u16() == 429)
        .then(|| reset_header(response).unwrap_or(Duration::from_secs(1)))
}
