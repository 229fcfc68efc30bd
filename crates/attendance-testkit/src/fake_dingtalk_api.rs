//! The fake DingTalk open APIs over real HTTP (protocol §4, §5): the app
//! accessToken, `topapi/attendance/getupdatedata`, `attendance/list`,
//! `attendance/listRecord`, `call_back/get_call_back_failed_result` and
//! the v1.0 workflow API (`workflow.rs`: one approval instance, a
//! template's instance ids), serving data a test sets, checking DingTalk's
//! limits (≤ 50 users, ≤ 7 days, page size ≤ 50), with fault injection (`-1` / `90002` for the next
//! calls, tokens that stop being valid) and every call recorded.
//!
//! [`FakeDingTalkApi::serve`] runs it alone on 127.0.0.1:0; the same
//! [`router`](FakeDingTalkApi::router) can be merged into another fake
//! server, so one base URL plays the whole vendor. Times and work dates are
//! China Standard Time (+08:00), as DingTalk's are.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::{DateTime, FixedOffset, NaiveDate, NaiveDateTime, TimeZone};
use serde_json::{json, Value};

mod workflow;

/// The errcode the fake answers for a malformed request (DingTalk's
/// "不合法的参数").
pub const INVALID_PARAMETER: i64 = 40035;
/// The errcode of a token the fake does not know.
pub const INVALID_TOKEN: i64 = 40014;

/// One API call the fake answered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiCall {
    /// The endpoint, e.g. `attendance/list` or `accessToken`.
    pub path: String,
    pub status: u16,
    /// The errcode answered (0 for success; the token endpoint's are 0 or 400).
    pub errcode: i64,
}

#[derive(Default)]
struct ApiState {
    app_key: String,
    app_secret: String,
    corp_id: String,
    issued: u64,
    valid_tokens: Vec<String>,
    token_lifetime: u64,
    /// errcodes to answer, one per coming oapi call.
    faults: VecDeque<i64>,
    update_data: HashMap<(String, NaiveDate), Value>,
    results: Vec<Value>,
    records: Vec<Value>,
    failed: VecDeque<Value>,
    failed_page_size: usize,
    /// Approval instances by processInstanceId: the `result` object.
    instances: HashMap<String, Value>,
    workflow: workflow::WorkflowState,
    calls: Vec<ApiCall>,
}

/// The fake; cheap to clone, shared with the test.
#[derive(Clone)]
pub struct FakeDingTalkApi {
    state: Arc<Mutex<ApiState>>,
}

fn cst() -> FixedOffset {
    FixedOffset::east_opt(8 * 3600).expect("+08:00")
}

impl FakeDingTalkApi {
    /// A fake that issues tokens only for these app credentials.
    pub fn new(app_key: &str, app_secret: &str) -> FakeDingTalkApi {
        FakeDingTalkApi {
            state: Arc::new(Mutex::new(ApiState {
                app_key: app_key.into(),
                app_secret: app_secret.into(),
                corp_id: "dingfakecorp".into(),
                token_lifetime: 7200,
                failed_page_size: 200,
                ..ApiState::default()
            })),
        }
    }

    /// Serves the API alone on 127.0.0.1:0; returns its base URL (use it as
    /// both `api_base_url` and `oapi_base_url`).
    pub async fn serve(&self) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind a loopback port");
        let addr = listener.local_addr().expect("bound");
        let router = self.router();
        tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        format!("http://{addr}")
    }

    /// Every endpoint, at DingTalk's paths.
    pub fn router(&self) -> Router {
        Router::new()
            .route("/v1.0/oauth2/accessToken", post(access_token))
            .route("/topapi/attendance/getupdatedata", post(get_update_data))
            .route("/attendance/list", post(list_results))
            .route("/attendance/listRecord", post(list_records))
            .route("/call_back/get_call_back_failed_result", get(failed_result))
            .route(
                "/v1.0/workflow/processInstances",
                get(workflow::process_instance),
            )
            .route(
                "/v1.0/workflow/processes/instanceIds/query",
                post(workflow::instance_ids),
            )
            .with_state(self.clone())
    }

    fn with<R>(&self, f: impl FnOnce(&mut ApiState) -> R) -> R {
        f(&mut self.state.lock().expect("fake state lock"))
    }

    /// The corp `getupdatedata` names in its answers.
    pub fn set_corp_id(&self, corp_id: &str) {
        self.with(|s| s.corp_id = corp_id.into());
    }

    /// What `getupdatedata` answers for `user_id` on `work_date`: the
    /// `result` object. Other days answer an empty day.
    pub fn set_update_data(&self, user_id: &str, work_date: NaiveDate, result: Value) {
        self.with(|s| {
            s.update_data.insert((user_id.into(), work_date), result);
        });
    }

    /// The check-point results `attendance/list` knows (`recordresult`
    /// items; `userId` and `workDate` in ms select them).
    pub fn set_results(&self, results: Vec<Value>) {
        self.with(|s| s.results = results);
    }

    /// The punches `attendance/listRecord` knows (`userId` and
    /// `userCheckTime` in ms select them).
    /// The instance `GET /v1.0/workflow/processInstances` answers for `id`:
    /// the answer's `result` object, as DingTalk documents it.
    pub fn set_instance(&self, id: &str, result: Value) {
        self.with(|s| {
            s.instances.insert(id.into(), result);
        });
    }

    pub fn set_records(&self, records: Vec<Value>) {
        self.with(|s| s.records = records);
    }

    /// Adds failed pushes; each is answered once, then gone (reading deletes).
    pub fn add_failed(&self, items: Vec<Value>) {
        self.with(|s| s.failed.extend(items));
    }

    /// How many failed pushes one call returns (DingTalk: up to 200).
    pub fn set_failed_page_size(&self, size: usize) {
        self.with(|s| s.failed_page_size = size.max(1));
    }

    /// Failed pushes not read yet.
    pub fn failed_remaining(&self) -> usize {
        self.with(|s| s.failed.len())
    }

    /// The next `n` oapi calls answer `errcode` (`-1` system busy, `90002`
    /// rate limited, `88` ...), whatever they asked.
    pub fn fail_next(&self, n: usize, errcode: i64) {
        self.with(|s| s.faults.extend(std::iter::repeat_n(errcode, n)));
    }

    /// Every token issued so far stops being valid (errcode 40014).
    pub fn expire_tokens(&self) {
        self.with(|s| s.valid_tokens.clear());
    }

    /// Whether `token` is one this fake issued and still honours, for the
    /// routes of other fakes merged onto its base URL.
    pub fn honours_token(&self, token: &str) -> bool {
        self.with(|s| s.valid_tokens.iter().any(|t| t == token))
    }

    pub fn tokens_issued(&self) -> u64 {
        self.with(|s| s.issued)
    }

    pub fn calls(&self) -> Vec<ApiCall> {
        self.with(|s| s.calls.clone())
    }

    /// The calls to one endpoint (`attendance/list`, `getupdatedata`, ...).
    pub fn calls_to(&self, path: &str) -> Vec<ApiCall> {
        self.calls()
            .into_iter()
            .filter(|c| c.path == path)
            .collect()
    }
}

fn answer(api: &FakeDingTalkApi, path: &str, status: StatusCode, body: Value) -> Response {
    let errcode = body["errcode"]
        .as_i64()
        .unwrap_or(if status == StatusCode::OK {
            0
        } else {
            i64::from(status.as_u16())
        });
    api.with(|s| {
        s.calls.push(ApiCall {
            path: path.into(),
            status: status.as_u16(),
            errcode,
        })
    });
    (status, Json(body)).into_response()
}

fn refuse(api: &FakeDingTalkApi, path: &str, errmsg: &str) -> Response {
    answer(
        api,
        path,
        StatusCode::OK,
        json!({"errcode": INVALID_PARAMETER, "errmsg": errmsg}),
    )
}

/// Injected faults, then the token check, shared by every oapi endpoint.
fn gate(api: &FakeDingTalkApi, path: &str, query: &HashMap<String, String>) -> Option<Response> {
    if let Some(code) = api.with(|s| s.faults.pop_front()) {
        let errmsg = match code {
            -1 => "系统繁忙",
            90002 => "服务器调用频率超过限制",
            88 => "鉴权异常",
            _ => "injected fault",
        };
        return Some(answer(
            api,
            path,
            StatusCode::OK,
            json!({"errcode": code, "errmsg": errmsg, "request_id": "fake"}),
        ));
    }
    let token = query.get("access_token").cloned().unwrap_or_default();
    if !api.with(|s| s.valid_tokens.contains(&token)) {
        return Some(answer(
            api,
            path,
            StatusCode::OK,
            json!({"errcode": INVALID_TOKEN, "errmsg": "不合法的access_token"}),
        ));
    }
    None
}

async fn access_token(State(api): State<FakeDingTalkApi>, Json(body): Json<Value>) -> Response {
    let path = "accessToken";
    let (key, secret) = api.with(|s| (s.app_key.clone(), s.app_secret.clone()));
    if body["appKey"] != key.as_str() || body["appSecret"] != secret.as_str() {
        return answer(
            &api,
            path,
            StatusCode::BAD_REQUEST,
            json!({"code": "invalidClientIdOrSecret", "message": "无效的clientId或者clientSecret"}),
        );
    }
    let (token, expire) = api.with(|s| {
        s.issued += 1;
        let token = format!("dt-fake-{}", s.issued);
        s.valid_tokens.push(token.clone());
        (token, s.token_lifetime)
    });
    answer(
        &api,
        path,
        StatusCode::OK,
        json!({"accessToken": token, "expireIn": expire}),
    )
}

/// `yyyy-MM-dd HH:mm:ss` (or a bare date) at +08:00.
fn local(text: &str) -> Option<DateTime<FixedOffset>> {
    let text = text.trim();
    let naive = NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S")
        .ok()
        .or_else(|| {
            NaiveDate::parse_from_str(text, "%Y-%m-%d")
                .ok()?
                .and_hms_opt(0, 0, 0)
        })?;
    cst().from_local_datetime(&naive).single()
}

fn millis(value: &Value) -> Option<i64> {
    value.as_i64().or_else(|| value.as_str()?.parse().ok())
}

fn date_of_millis(value: &Value) -> Option<NaiveDate> {
    Some(
        DateTime::from_timestamp_millis(millis(value)?)?
            .with_timezone(&cst())
            .date_naive(),
    )
}

fn user_list(value: &Value) -> Result<Vec<String>, &'static str> {
    let ids: Vec<String> = value
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    if ids.is_empty() || ids.len() > 50 {
        return Err("the user list must hold 1 to 50 userIds");
    }
    Ok(ids)
}

async fn get_update_data(
    State(api): State<FakeDingTalkApi>,
    Query(query): Query<HashMap<String, String>>,
    Json(body): Json<Value>,
) -> Response {
    let path = "getupdatedata";
    if let Some(refused) = gate(&api, path, &query) {
        return refused;
    }
    let user = body["userid"].as_str().unwrap_or_default().to_string();
    let Some(date) = body["work_date"]
        .as_str()
        .and_then(local)
        .map(|t| t.date_naive())
    else {
        return refuse(&api, path, "work_date is missing or not a date");
    };
    if user.is_empty() {
        return refuse(&api, path, "userid is missing");
    }
    let result =
        api.with(|s| {
            s.update_data.get(&(user.clone(), date)).cloned().unwrap_or_else(|| {
            json!({
                "work_date": format!("{date} 00:00:00"), "userid": user, "corpId": s.corp_id,
                "attendance_result_list": [], "approve_list": [], "check_record_list": []
            })
        })
        });
    answer(
        &api,
        path,
        StatusCode::OK,
        json!({"errcode": 0, "result": result, "success": true, "request_id": "fake"}),
    )
}

async fn list_results(
    State(api): State<FakeDingTalkApi>,
    Query(query): Query<HashMap<String, String>>,
    Json(body): Json<Value>,
) -> Response {
    let path = "attendance/list";
    if let Some(refused) = gate(&api, path, &query) {
        return refused;
    }
    let users = match user_list(&body["userIdList"]) {
        Ok(users) => users,
        Err(problem) => return refuse(&api, path, problem),
    };
    let (Some(from), Some(to)) = (
        body["workDateFrom"]
            .as_str()
            .and_then(local)
            .map(|t| t.date_naive()),
        body["workDateTo"]
            .as_str()
            .and_then(local)
            .map(|t| t.date_naive()),
    ) else {
        return refuse(
            &api,
            path,
            "workDateFrom and workDateTo must be yyyy-MM-dd HH:mm:ss",
        );
    };
    if to < from || (to - from).num_days() > 6 {
        return refuse(&api, path, "the work dates span at most 7 days");
    }
    let offset = body["offset"].as_u64().unwrap_or(0) as usize;
    let limit = body["limit"].as_u64().unwrap_or(0) as usize;
    if limit == 0 || limit > 50 {
        return refuse(&api, path, "limit must be 1 to 50");
    }
    let matching: Vec<Value> = api.with(|s| {
        s.results
            .iter()
            .filter(|r| users.iter().any(|u| r["userId"] == u.as_str()))
            .filter(|r| date_of_millis(&r["workDate"]).is_some_and(|d| from <= d && d <= to))
            .cloned()
            .collect()
    });
    let page: Vec<Value> = matching.iter().skip(offset).take(limit).cloned().collect();
    let has_more = offset + page.len() < matching.len();
    answer(
        &api,
        path,
        StatusCode::OK,
        json!({"errcode": 0, "errmsg": "ok", "recordresult": page, "hasMore": has_more}),
    )
}

async fn list_records(
    State(api): State<FakeDingTalkApi>,
    Query(query): Query<HashMap<String, String>>,
    Json(body): Json<Value>,
) -> Response {
    let path = "attendance/listRecord";
    if let Some(refused) = gate(&api, path, &query) {
        return refused;
    }
    let users = match user_list(&body["userIds"]) {
        Ok(users) => users,
        Err(problem) => return refuse(&api, path, problem),
    };
    let (Some(from), Some(to)) = (
        body["checkDateFrom"].as_str().and_then(local),
        body["checkDateTo"].as_str().and_then(local),
    ) else {
        return refuse(
            &api,
            path,
            "checkDateFrom and checkDateTo must be yyyy-MM-dd HH:mm:ss",
        );
    };
    if to < from || (to - from) > chrono::Duration::days(7) {
        return refuse(&api, path, "the check dates span at most 7 days");
    }
    let (from_ms, to_ms) = (from.timestamp_millis(), to.timestamp_millis());
    let records: Vec<Value> = api.with(|s| {
        s.records
            .iter()
            .filter(|r| users.iter().any(|u| r["userId"] == u.as_str()))
            .filter(|r| millis(&r["userCheckTime"]).is_some_and(|t| from_ms <= t && t <= to_ms))
            .cloned()
            .collect()
    });
    answer(
        &api,
        path,
        StatusCode::OK,
        json!({"errcode": 0, "errmsg": "ok", "recordresult": records}),
    )
}

async fn failed_result(
    State(api): State<FakeDingTalkApi>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let path = "get_call_back_failed_result";
    if let Some(refused) = gate(&api, path, &query) {
        return refused;
    }
    let (items, has_more) = api.with(|s| {
        let n = s.failed_page_size.min(s.failed.len());
        let items: Vec<Value> = s.failed.drain(..n).collect();
        (items, !s.failed.is_empty())
    });
    answer(
        &api,
        path,
        StatusCode::OK,
        json!({"errcode": 0, "errmsg": "ok", "failed_list": items, "has_more": has_more}),
    )
}
