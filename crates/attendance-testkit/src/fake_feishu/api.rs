//! The fake Feishu open APIs over real HTTP: tenant_access_token and the
//! attendance queries, serving data a test sets, with fault injection
//! (throttling with `x-ogw-ratelimit-reset`, tokens that stop being valid).
//! The approval queries are in `approvals.rs`, the approval API's instance
//! read in `instances.rs`.

use std::sync::{Arc, Mutex};

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};

use super::approvals::{query_user_approvals, query_user_task_remedys, FakeApproval};
use super::instances::get_instance;

/// One API call the fake answered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiCall {
    pub path: String,
    pub status: u16,
    /// The vendor code in the answer (0 for success).
    pub code: i64,
}

#[derive(Default)]
pub(super) struct ApiState {
    app_id: String,
    app_secret: String,
    issued: u64,
    valid_tokens: Vec<String>,
    /// Seconds the token endpoint says a token lives.
    token_lifetime: u64,
    throttle_next: u32,
    throttle_reset_seconds: u32,
    flows: Vec<Value>,
    tasks: Vec<Value>,
    /// User ids Feishu does not know (or will not show this app).
    pub(super) rejected_users: Vec<String>,
    calls: Vec<ApiCall>,
    pub(super) approvals: Vec<FakeApproval>,
    /// User ids the approval queries refuse (1220004) though the others show them.
    pub(super) approvals_hidden: Vec<String>,
    /// (path, body) of every approval query that passed the gate.
    pub(super) approval_requests: Vec<(String, Value)>,
    /// The fake's today, if a test set one (else today at UTC+8).
    pub(super) today: Option<chrono::NaiveDate>,
    /// Every instance code the approval API's instance read was asked for.
    pub(super) instance_reads: Vec<String>,
}

/// The API half of the fake Feishu; cheap to clone, shared with the test.
#[derive(Clone)]
pub struct FakeFeishuApi {
    state: Arc<Mutex<ApiState>>,
}

impl FakeFeishuApi {
    /// A fake that accepts only these app credentials.
    pub fn new(app_id: &str, app_secret: &str) -> FakeFeishuApi {
        FakeFeishuApi {
            state: Arc::new(Mutex::new(ApiState {
                app_id: app_id.into(),
                app_secret: app_secret.into(),
                token_lifetime: 7200,
                throttle_reset_seconds: 1,
                ..ApiState::default()
            })),
        }
    }

    /// Serves the API alone on 127.0.0.1:0 (without the long connection);
    /// returns its base URL.
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

    pub fn router(&self) -> Router {
        Router::new()
            .route(
                "/open-apis/auth/v3/tenant_access_token/internal",
                post(tenant_access_token),
            )
            .route(
                "/open-apis/attendance/v1/user_flows/query",
                post(query_flows),
            )
            .route("/open-apis/attendance/v1/user_flows/{id}", get(get_flow))
            .route(
                "/open-apis/attendance/v1/user_tasks/query",
                post(query_tasks),
            )
            .route(
                "/open-apis/attendance/v1/user_approvals/query",
                post(query_user_approvals),
            )
            .route(
                "/open-apis/attendance/v1/user_task_remedys/query",
                post(query_user_task_remedys),
            )
            .route("/open-apis/approval/v4/instances/{code}", get(get_instance))
            .with_state(self.clone())
    }

    pub(super) fn with<R>(&self, f: impl FnOnce(&mut ApiState) -> R) -> R {
        f(&mut self.state.lock().expect("fake state lock"))
    }

    /// The punches `user_flows/query` knows (objects as Feishu returns them).
    pub fn set_flows(&self, flows: Vec<Value>) {
        self.with(|s| s.flows = flows);
    }

    /// The day results `user_tasks/query` knows.
    pub fn set_tasks(&self, tasks: Vec<Value>) {
        self.with(|s| s.tasks = tasks);
    }

    /// User ids Feishu does not know: `user_flows/query` refuses any batch
    /// holding one with HTTP 400 and code 1220004 (用户不存在或没有权限),
    /// naming none; `user_tasks/query` lists them in `invalid_user_ids`
    /// under `ignore_invalid_users=true`, else refuses likewise.
    pub fn reject_users(&self, user_ids: &[&str]) {
        self.with(|s| s.rejected_users = user_ids.iter().map(|id| id.to_string()).collect());
    }

    /// The next `n` calls are throttled (HTTP 429, code 99991400, reset header).
    pub fn throttle_next(&self, n: u32, reset_seconds: u32) {
        self.with(|s| {
            s.throttle_next = n;
            s.throttle_reset_seconds = reset_seconds;
        });
    }

    /// Every token issued so far stops being valid (code 99991663), as when
    /// Feishu rotates them earlier than the client expected.
    pub fn expire_tokens(&self) {
        self.with(|s| s.valid_tokens.clear());
    }

    pub fn tokens_issued(&self) -> u64 {
        self.with(|s| s.issued)
    }

    pub fn calls(&self) -> Vec<ApiCall> {
        self.with(|s| s.calls.clone())
    }
}

pub(super) fn answer(api: &FakeFeishuApi, path: &str, status: StatusCode, body: Value) -> Response {
    let code = body["code"].as_i64().unwrap_or(0);
    api.with(|s| {
        s.calls.push(ApiCall {
            path: path.into(),
            status: status.as_u16(),
            code,
        })
    });
    (status, Json(body)).into_response()
}

/// Throttling and token checks shared by every attendance endpoint.
pub(super) fn gate(api: &FakeFeishuApi, path: &str, headers: &HeaderMap) -> Option<Response> {
    let (throttled, reset) = api.with(|s| {
        if s.throttle_next > 0 {
            s.throttle_next -= 1;
            (true, s.throttle_reset_seconds)
        } else {
            (false, 0)
        }
    });
    if throttled {
        let mut response = answer(
            api,
            path,
            StatusCode::TOO_MANY_REQUESTS,
            json!({"code": 99991400, "msg": "request trigger frequency limit"}),
        );
        response.headers_mut().insert(
            "x-ogw-ratelimit-reset",
            reset
                .to_string()
                .parse()
                .expect("digits are a header value"),
        );
        return Some(response);
    }
    let token = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default()
        .to_string();
    if !api.with(|s| s.valid_tokens.contains(&token)) {
        return Some(answer(
            api,
            path,
            StatusCode::BAD_REQUEST,
            json!({"code": 99991663, "msg": "Invalid access token for authorization"}),
        ));
    }
    None
}

async fn tenant_access_token(
    State(api): State<FakeFeishuApi>,
    Json(body): Json<Value>,
) -> Response {
    let path = "tenant_access_token";
    let (id, secret) = api.with(|s| (s.app_id.clone(), s.app_secret.clone()));
    if body["app_id"] != id.as_str() || body["app_secret"] != secret.as_str() {
        return answer(
            &api,
            path,
            StatusCode::OK,
            json!({"code": 10003, "msg": "invalid app_secret"}),
        );
    }
    let (token, expire) = api.with(|s| {
        s.issued += 1;
        let token = format!("t-fake-{}", s.issued);
        s.valid_tokens.push(token.clone());
        (token, s.token_lifetime)
    });
    answer(
        &api,
        path,
        StatusCode::OK,
        json!({"code": 0, "msg": "ok", "tenant_access_token": token, "expire": expire}),
    )
}

pub(super) fn user_ids(body: &Value) -> Result<Vec<String>, Value> {
    let ids: Vec<String> = body["user_ids"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    if ids.is_empty() || ids.len() > 50 {
        return Err(json!({"code": 1220001, "msg": "user_ids must hold 1 to 50 ids"}));
    }
    Ok(ids)
}

pub(super) fn number(value: &Value) -> i64 {
    value
        .as_i64()
        .or_else(|| value.as_str().and_then(|s| s.parse().ok()))
        .unwrap_or_default()
}

async fn query_flows(
    State(api): State<FakeFeishuApi>,
    headers: HeaderMap,
    Query(query): Query<std::collections::HashMap<String, String>>,
    Json(body): Json<Value>,
) -> Response {
    let path = "user_flows/query";
    if let Some(refused) = gate(&api, path, &headers) {
        return refused;
    }
    if query.get("employee_type").map(String::as_str) != Some("employee_id") {
        return answer(
            &api,
            path,
            StatusCode::BAD_REQUEST,
            json!({"code": 1220001, "msg": "employee_type invalid"}),
        );
    }
    let ids = match user_ids(&body) {
        Ok(ids) => ids,
        Err(e) => return answer(&api, path, StatusCode::BAD_REQUEST, e),
    };
    if api.with(|s| ids.iter().any(|id| s.rejected_users.contains(id))) {
        return answer(
            &api,
            path,
            StatusCode::BAD_REQUEST,
            json!({"code": 1220004, "msg": "user does not exist or no permission"}),
        );
    }
    let (from, to) = (
        number(&body["check_time_from"]),
        number(&body["check_time_to"]),
    );
    let flows: Vec<Value> = api.with(|s| {
        s.flows
            .iter()
            .filter(|f| ids.iter().any(|id| f["user_id"] == id.as_str()))
            .filter(|f| (from..to).contains(&number(&f["check_time"])))
            .cloned()
            .collect()
    });
    answer(
        &api,
        path,
        StatusCode::OK,
        json!({"code": 0, "msg": "success", "data": {"user_flow_results": flows}}),
    )
}

async fn get_flow(
    State(api): State<FakeFeishuApi>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let path = "user_flows/get";
    if let Some(refused) = gate(&api, path, &headers) {
        return refused;
    }
    match api.with(|s| {
        s.flows
            .iter()
            .find(|f| f["record_id"] == id.as_str())
            .cloned()
    }) {
        Some(flow) => answer(
            &api,
            path,
            StatusCode::OK,
            json!({"code": 0, "msg": "success", "data": flow}),
        ),
        None => answer(
            &api,
            path,
            StatusCode::BAD_REQUEST,
            json!({"code": 1220600, "msg": "record not found"}),
        ),
    }
}

async fn query_tasks(
    State(api): State<FakeFeishuApi>,
    headers: HeaderMap,
    Query(query): Query<std::collections::HashMap<String, String>>,
    Json(body): Json<Value>,
) -> Response {
    let path = "user_tasks/query";
    if let Some(refused) = gate(&api, path, &headers) {
        return refused;
    }
    let ids = match user_ids(&body) {
        Ok(ids) => ids,
        Err(e) => return answer(&api, path, StatusCode::BAD_REQUEST, e),
    };
    let invalid: Vec<String> = api.with(|s| {
        ids.iter()
            .filter(|id| s.rejected_users.contains(id))
            .cloned()
            .collect()
    });
    let ignore_invalid = query.get("ignore_invalid_users").map(String::as_str) == Some("true");
    if !invalid.is_empty() && !ignore_invalid {
        return answer(
            &api,
            path,
            StatusCode::BAD_REQUEST,
            json!({"code": 1220004, "msg": "user does not exist or no permission"}),
        );
    }
    let (from, to) = (
        number(&body["check_date_from"]),
        number(&body["check_date_to"]),
    );
    // Overtime segments (task_shift_type 1) only when asked for.
    let overtime = body["need_overtime_result"] == json!(true);
    let results: Vec<Value> = api.with(|s| {
        s.tasks
            .iter()
            .filter(|t| ids.iter().any(|id| t["user_id"] == id.as_str()))
            .filter(|t| (from..=to).contains(&number(&t["day"])))
            .cloned()
            .map(|mut task| {
                if !overtime {
                    if let Some(records) = task["records"].as_array_mut() {
                        records.retain(|r| number(&r["task_shift_type"]) == 0);
                    }
                }
                task
            })
            .collect()
    });
    answer(
        &api,
        path,
        StatusCode::OK,
        json!({"code": 0, "msg": "success", "data": {
            "user_task_results": results, "invalid_user_ids": invalid, "unauthorized_user_ids": []
        }}),
    )
}
