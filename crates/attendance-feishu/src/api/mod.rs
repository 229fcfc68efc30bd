//! The Feishu open API client the hub pulls with: the attendance queries,
//! and how Feishu's answers read (protocol §4): which codes mean an invalid
//! tenant_access_token, throttling and its wait, or failure. The token cache,
//! the per-app pacing, the bounded retries and the meter are the adapter
//! kit's ([`attendance_adapter_kit::api`]). `approvals.rs` holds the
//! approval queries and the mirrors of what they answer, `instance.rs` the
//! approval API's instance read.

use std::sync::Arc;
use std::time::Duration;

use attendance_adapter_kit::api::{
    read_json, ApiClientCore, Attempt, Backoff, FreshToken, GiveUp, HttpError, RetryPolicy,
};
use attendance_adapter_kit::lenient::nullable;
use attendance_adapter_kit::Secret;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use approvals::{
    ApprovalLists, PulledLeave, PulledOvertime, PulledTrip, UserApprovalDay, UserRemedy,
    APPROVAL_STATUSES, MAX_APPROVAL_DAYS,
};
pub use attendance_adapter_kit::api::{CallMeter, NoMeter};

pub(crate) mod approvals;
mod instance;

pub use instance::ApprovalInstance;

/// Feishu caps every attendance query at 50 users per call.
pub const MAX_USERS_PER_CALL: usize = 50;
const TOKEN_PATH: &str = "/open-apis/auth/v3/tenant_access_token/internal";
/// The token is treated as expired this long before Feishu says it is (the
/// Go SDK's `expiryDelta`).
const TOKEN_EXPIRY_MARGIN: Duration = Duration::from_secs(180);
/// Token answers that mean "get a new token and try once more".
const INVALID_TOKEN_CODES: [i64; 3] = [99991663, 99991664, 99991671];
/// Throttled (HTTP 429, or HTTP 400 with this code on some old APIs): the
/// one kind of answer a call retries, after the wait Feishu asks for.
const THROTTLED_CODE: i64 = 99991400;
/// "User does not exist or no permission" (用户不存在或没有权限): the error
/// tables of `user_flows/query` and `user_tasks/query`.
pub const USER_REJECTED_CODE: i64 = 1220004;
const USER_FLOWS_QUERY_PATH: &str = "/open-apis/attendance/v1/user_flows/query";

/// How to reach one app's API.
#[derive(Clone, Debug)]
pub struct ApiConfig {
    /// The configured app name (for metering and logs).
    pub app: String,
    pub base_url: String,
    pub app_id: String,
    pub app_secret: Secret,
    /// At most this many requests per second from this app (Feishu allows 50 per API).
    pub requests_per_second: u32,
    /// How many throttling answers one call waits out before giving up.
    pub max_throttle_waits: u32,
    pub timeout: Duration,
}

impl ApiConfig {
    pub fn new(app: &str, base_url: &str, app_id: &str, app_secret: &str) -> ApiConfig {
        ApiConfig {
            app: app.into(),
            base_url: base_url.trim_end_matches('/').into(),
            app_id: app_id.into(),
            app_secret: Secret::new(app_secret),
            requests_per_second: 20,
            max_throttle_waits: 8,
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
    #[error("{path} answered code {code}: {msg}")]
    Vendor {
        path: String,
        code: i64,
        msg: String,
    },
    #[error("{path} kept throttling after {waits} waits")]
    Throttled { path: String, waits: u32 },
}

impl GiveUp<i64> for ApiError {
    fn retries_exhausted(path: &str, _throttled: i64, waits: u32) -> ApiError {
        // Counted as the throttling answers seen, the last one included.
        ApiError::Throttled {
            path: path.into(),
            waits: waits + 1,
        }
    }

    fn token_refused_again(path: &str) -> ApiError {
        ApiError::Vendor {
            path: path.into(),
            code: INVALID_TOKEN_CODES[0],
            msg: "token refused again after a refresh".into(),
        }
    }
}

/// One app's API client. Cheap to share behind an `Arc`.
pub struct FeishuApi {
    http: reqwest::Client,
    config: ApiConfig,
    /// Pacing, metering, the tenant_access_token and throttling retries.
    core: ApiClientCore<i64>,
}

/// One punch as `user_flows/query` returns it. Every field is optional and
/// `null` reads as absent, as in the GO SDK's `UserFlow` (pointers and
/// `omitempty` throughout), so one odd record never fails a whole answer.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
pub struct UserFlow {
    #[serde(default, deserialize_with = "nullable")]
    pub user_id: String,
    #[serde(default, deserialize_with = "nullable")]
    pub creator_id: String,
    #[serde(default, deserialize_with = "nullable")]
    pub location_name: String,
    #[serde(default, deserialize_with = "nullable")]
    pub check_time: String,
    #[serde(default, deserialize_with = "nullable")]
    pub comment: String,
    #[serde(default, deserialize_with = "nullable")]
    pub record_id: String,
    #[serde(default, deserialize_with = "nullable")]
    pub ssid: String,
    #[serde(default, deserialize_with = "nullable")]
    pub bssid: String,
    #[serde(default, deserialize_with = "nullable")]
    pub is_field: bool,
    #[serde(default, deserialize_with = "nullable")]
    pub is_wifi: bool,
    #[serde(rename = "type", default, deserialize_with = "nullable")]
    pub kind: Option<i64>,
    #[serde(default, deserialize_with = "nullable")]
    pub photo_urls: Option<Vec<String>>,
    #[serde(default, deserialize_with = "nullable")]
    pub device_id: String,
    #[serde(default, deserialize_with = "nullable")]
    pub check_result: String,
    #[serde(default, deserialize_with = "nullable")]
    pub external_id: String,
    #[serde(default, deserialize_with = "nullable")]
    pub idempotent_id: String,
}

/// One check point pair of a day, as `user_tasks/query` returns it.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
pub struct TaskRecord {
    #[serde(default, deserialize_with = "nullable")]
    pub check_in_record_id: String,
    #[serde(default, deserialize_with = "nullable")]
    pub check_in_record: Option<UserFlow>,
    #[serde(default, deserialize_with = "nullable")]
    pub check_out_record_id: String,
    #[serde(default, deserialize_with = "nullable")]
    pub check_out_record: Option<UserFlow>,
    #[serde(default, deserialize_with = "nullable")]
    pub check_in_result: String,
    #[serde(default, deserialize_with = "nullable")]
    pub check_out_result: String,
    #[serde(default, deserialize_with = "nullable")]
    pub check_in_result_supplement: String,
    #[serde(default, deserialize_with = "nullable")]
    pub check_out_result_supplement: String,
    #[serde(default, deserialize_with = "nullable")]
    pub check_in_shift_time: String,
    #[serde(default, deserialize_with = "nullable")]
    pub check_out_shift_time: String,
    #[serde(default, deserialize_with = "nullable")]
    pub task_shift_type: i64,
}

/// One employee-day as `user_tasks/query` returns it.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
pub struct UserTaskResult {
    #[serde(default, deserialize_with = "nullable")]
    pub result_id: String,
    #[serde(default, deserialize_with = "nullable")]
    pub user_id: String,
    #[serde(default, deserialize_with = "nullable")]
    pub employee_name: String,
    #[serde(default, deserialize_with = "nullable")]
    pub day: i64,
    #[serde(default, deserialize_with = "nullable")]
    pub group_id: String,
    #[serde(default, deserialize_with = "nullable")]
    pub shift_id: String,
    #[serde(default, deserialize_with = "nullable")]
    pub records: Vec<TaskRecord>,
}

/// What `user_flows/query` gave for some users.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct UserFlows {
    pub user_flow_results: Vec<UserFlow>,
    /// The ids Feishu refused with code 1220004 (unknown, or not the app's
    /// to see), each asked alone to be sure.
    pub rejected_user_ids: Vec<String>,
}

/// What a query asked per user batch gave: the items of every batch, and
/// the ids Feishu refused with code 1220004 (unknown, or not the app's to
/// see), each asked alone to be sure.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PerUser<T> {
    pub items: Vec<T>,
    pub rejected_user_ids: Vec<String>,
}

/// The useful part of a `user_tasks/query` answer.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
pub struct UserTasks {
    #[serde(default, deserialize_with = "nullable")]
    pub user_task_results: Vec<UserTaskResult>,
    #[serde(default, deserialize_with = "nullable")]
    pub invalid_user_ids: Vec<String>,
    #[serde(default, deserialize_with = "nullable")]
    pub unauthorized_user_ids: Vec<String>,
}

#[derive(Deserialize, Default)]
struct Envelope {
    #[serde(default, deserialize_with = "nullable")]
    code: i64,
    #[serde(default, deserialize_with = "nullable")]
    msg: String,
    #[serde(default)]
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

impl FeishuApi {
    pub fn new(config: ApiConfig, meter: Arc<dyn CallMeter>) -> FeishuApi {
        // Feishu always says how long to wait, so the backoff is never used.
        let retries = RetryPolicy::new(Backoff::default())
            .with_limit(THROTTLED_CODE, config.max_throttle_waits);
        let http = reqwest::Client::builder()
            .timeout(config.timeout)
            .build()
            .expect("an HTTP client with a timeout builds");
        let core = ApiClientCore::new(
            &config.app,
            config.requests_per_second,
            TOKEN_EXPIRY_MARGIN,
            retries,
            meter,
        );
        FeishuApi { http, config, core }
    }

    pub fn config(&self) -> &ApiConfig {
        &self.config
    }

    /// The cached tenant_access_token, fetched when missing or near expiry.
    pub async fn tenant_access_token(&self) -> Result<String, ApiError> {
        self.core.token(|| self.fetch_token()).await
    }

    async fn fetch_token(&self) -> Result<FreshToken, ApiError> {
        let url = &format!("{}{TOKEN_PATH}", self.config.base_url);
        let body = &serde_json::json!({
            "app_id": self.config.app_id,
            "app_secret": self.config.app_secret.expose(),
        });
        self.core
            .run(TOKEN_PATH, || async move {
                let response = self
                    .core
                    .send(TOKEN_PATH, || self.http.post(url).json(body).send())
                    .await?;
                if let Some(wait) = throttle_wait(&response) {
                    return Ok(throttled(wait));
                }
                let status = response.status().as_u16();
                let text = body_text(TOKEN_PATH, response).await?;
                let answer: TokenAnswer = read_json(TOKEN_PATH, status, &text)?;
                if answer.code == THROTTLED_CODE {
                    return Ok(throttled(Duration::from_secs(1)));
                }
                if answer.code != 0 || answer.tenant_access_token.is_empty() {
                    return Err(ApiError::Vendor {
                        path: TOKEN_PATH.into(),
                        code: answer.code,
                        msg: answer.msg,
                    });
                }
                Ok(Attempt::Done(FreshToken {
                    value: answer.tenant_access_token,
                    lifetime: Duration::from_secs(answer.expire),
                }))
            })
            .await
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
        self.core
            .authorized(
                path,
                || self.fetch_token(),
                move |token| self.attempt(method.clone(), path, query, body, token),
            )
            .await
    }

    async fn attempt<T: DeserializeOwned>(
        &self,
        method: reqwest::Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&Value>,
        token: String,
    ) -> Result<Attempt<T, i64>, ApiError> {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.config.base_url))
            .bearer_auth(&token)
            .query(query);
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = self.core.send(path, || request.send()).await?;
        if let Some(wait) = throttle_wait(&response) {
            return Ok(throttled(wait));
        }
        let status = response.status().as_u16();
        let reset = reset_header(&response);
        let text = body_text(path, response).await?;
        let envelope: Envelope = read_json(path, status, &text)?;
        if envelope.code == THROTTLED_CODE {
            // Some old APIs throttle with HTTP 400 and this code.
            return Ok(throttled(reset.unwrap_or(Duration::from_secs(1))));
        }
        if INVALID_TOKEN_CODES.contains(&envelope.code) {
            return Ok(Attempt::TokenRefused { token });
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
            .map_err(|e| HttpError::decode(path, e).into())
    }

    /// Every valid punch of the users with check time in `[from, to)`
    /// (seconds), and the users Feishu rejected.
    ///
    /// `user_flows/query` has no `ignore_invalid_users`: one id it does not
    /// know, or may not show, fails the whole call with code 1220004
    /// (用户不存在或没有权限, the error table of the user_flows/query doc) and
    /// does not say which ([`FeishuApi::per_user_batch`]).
    pub async fn query_user_flows(
        &self,
        user_ids: &[String],
        from_seconds: i64,
        to_seconds: i64,
    ) -> Result<UserFlows, ApiError> {
        #[derive(Deserialize, Default)]
        struct Data {
            #[serde(default, deserialize_with = "nullable")]
            user_flow_results: Vec<UserFlow>,
        }
        let asked = self
            .per_user_batch(USER_FLOWS_QUERY_PATH, user_ids, |batch| {
                let body = serde_json::json!({
                    "user_ids": batch,
                    "check_time_from": from_seconds.to_string(),
                    "check_time_to": to_seconds.to_string(),
                });
                async move {
                    let data: Data = self
                        .call(
                            reqwest::Method::POST,
                            USER_FLOWS_QUERY_PATH,
                            &[
                                ("employee_type", "employee_id".into()),
                                ("include_terminated_user", "true".into()),
                            ],
                            Some(&body),
                        )
                        .await?;
                    Ok(data.user_flow_results)
                }
            })
            .await?;
        Ok(UserFlows {
            user_flow_results: asked.items,
            rejected_user_ids: asked.rejected_user_ids,
        })
    }

    /// Asks `ask` for the users in batches of at most
    /// [`MAX_USERS_PER_CALL`]. A query without `ignore_invalid_users`
    /// refuses a whole batch with 1220004 when one id is unknown or not the
    /// app's to see, without naming it; such a batch is split in halves and
    /// each asked again, down to the single id, which is then dropped and
    /// reported, so everyone else is still pulled.
    pub(crate) async fn per_user_batch<'a, T, F, Fut>(
        &self,
        api: &str,
        user_ids: &'a [String],
        ask: F,
    ) -> Result<PerUser<T>, ApiError>
    where
        F: Fn(&'a [String]) -> Fut,
        Fut: std::future::Future<Output = Result<Vec<T>, ApiError>>,
    {
        let mut answer = PerUser {
            items: Vec::new(),
            rejected_user_ids: Vec::new(),
        };
        // Batches still to ask, last first; each at most MAX_USERS_PER_CALL.
        let mut batches: Vec<&[String]> = user_ids.chunks(MAX_USERS_PER_CALL).rev().collect();
        while let Some(batch) = batches.pop() {
            match ask(batch).await {
                Ok(items) => answer.items.extend(items),
                Err(ApiError::Vendor { code, msg, .. }) if code == USER_REJECTED_CODE => {
                    if let [user_id] = batch {
                        tracing::warn!(
                            app = %self.config.app,
                            api,
                            user_id = %user_id,
                            code,
                            %msg,
                            "feishu rejected this user id; its records are not pulled"
                        );
                        answer.rejected_user_ids.push(user_id.clone());
                    } else {
                        let (first, second) = batch.split_at(batch.len() / 2);
                        batches.push(second);
                        batches.push(first);
                    }
                }
                Err(error) => return Err(error),
            }
        }
        Ok(answer)
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

async fn body_text(path: &str, response: reqwest::Response) -> Result<String, HttpError> {
    response
        .text()
        .await
        .map_err(|e| HttpError::transport(path, e))
}

fn throttled<T>(wait: Duration) -> Attempt<T, i64> {
    Attempt::Retry {
        kind: THROTTLED_CODE,
        wait: Some(wait),
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
