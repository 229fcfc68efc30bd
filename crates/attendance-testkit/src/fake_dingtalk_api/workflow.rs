//! The fake's v1.0 workflow API (approvals protocol §2.4, §2.5): one
//! approval instance (`GET processInstances`) and a template's instance ids
//! by creation time (`POST processes/instanceIds/query`), from instances a
//! test adds with their template. The listing checks DingTalk's limits and
//! refuses as documented (HTTP 400 with `{code, message}`): `maxResults`
//! 1 to 20, `endTime` at most 120 days after `startTime`, `startTime` at most
//! 365 days ago, at most 10 `userIds`, a numeric `nextToken`; it pages with
//! `nextToken` (a number in, a string out, absent on the last page). Every
//! call is recorded, with the listing's request bodies and the ids read.

use std::collections::HashMap;

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::Json;
use chrono::{DateTime, NaiveDateTime, Utc};
use serde_json::{json, Value};

use super::{answer, FakeDingTalkApi};

/// What the workflow endpoints know and saw.
#[derive(Default)]
pub(super) struct WorkflowState {
    /// (template, id, creation time in ms) of every listable instance.
    listed: Vec<(String, String, i64)>,
    /// `systemError` answers (HTTP 500) for the next listing calls.
    failures: usize,
    queries: Vec<Value>,
    reads: Vec<String>,
}

/// `createTime` as the API writes it (`2022-08-31T11:52Z`) in ms.
fn create_millis(result: &Value) -> Option<i64> {
    let text = result["createTime"].as_str()?;
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.timestamp_millis())
        .ok()
        .or_else(|| {
            NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%MZ")
                .ok()
                .map(|t| t.and_utc().timestamp_millis())
        })
}

impl FakeDingTalkApi {
    /// An instance of template `process_code`: read as `result` by
    /// `processInstances`, listed by `instanceIds/query` by its
    /// `createTime`, `originatorUserId` and `status`.
    pub fn add_process_instance(&self, process_code: &str, id: &str, result: Value) {
        let created = create_millis(&result).expect("the instance has a createTime");
        self.set_instance(id, result);
        self.with(|s| {
            s.workflow.listed.retain(|(_, listed, _)| listed != id);
            s.workflow
                .listed
                .push((process_code.into(), id.into(), created));
        });
    }

    /// The next `n` listing calls answer HTTP 500 `systemError`.
    pub fn fail_next_listings(&self, n: usize) {
        self.with(|s| s.workflow.failures += n);
    }

    /// The bodies of every `instanceIds/query` call, refused ones too.
    pub fn instance_id_queries(&self) -> Vec<Value> {
        self.with(|s| s.workflow.queries.clone())
    }

    /// The id of every `processInstances` read, in order.
    pub fn instance_reads(&self) -> Vec<String> {
        self.with(|s| s.workflow.reads.clone())
    }
}

fn token_refused(api: &FakeDingTalkApi, path: &str, headers: &HeaderMap) -> Option<Response> {
    let token = headers
        .get("x-acs-dingtalk-access-token")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    if api.with(|s| s.valid_tokens.contains(&token)) {
        return None;
    }
    Some(answer(
        api,
        path,
        StatusCode::UNAUTHORIZED,
        json!({"code": "InvalidAuthentication", "message": "不合法的access_token"}),
    ))
}

/// One approval instance (v1.0: the token in `x-acs-dingtalk-access-token`,
/// errors as `{code, message}` with an HTTP status).
pub(super) async fn process_instance(
    State(api): State<FakeDingTalkApi>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let path = "processInstances";
    if let Some(refused) = token_refused(&api, path, &headers) {
        return refused;
    }
    let id = query.get("processInstanceId").cloned().unwrap_or_default();
    api.with(|s| s.workflow.reads.push(id.clone()));
    match api.with(|s| s.instances.get(&id).cloned()) {
        Some(result) => answer(
            &api,
            path,
            StatusCode::OK,
            json!({"result": result, "success": "true"}),
        ),
        None => answer(
            &api,
            path,
            StatusCode::BAD_REQUEST,
            json!({"code": "processInstanceNotExist", "message": "审批实例不存在"}),
        ),
    }
}

fn bad_request(api: &FakeDingTalkApi, path: &str, code: &str, message: &str) -> Response {
    answer(
        api,
        path,
        StatusCode::BAD_REQUEST,
        json!({"requestid": "fake", "code": code, "message": message}),
    )
}

/// A template's instance ids by creation time, paged.
pub(super) async fn instance_ids(
    State(api): State<FakeDingTalkApi>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    let path = "instanceIds/query";
    if let Some(refused) = token_refused(&api, path, &headers) {
        return refused;
    }
    api.with(|s| s.workflow.queries.push(body.clone()));
    let failing = api.with(|s| {
        let failing = s.workflow.failures > 0;
        s.workflow.failures = s.workflow.failures.saturating_sub(1);
        failing
    });
    if failing {
        return answer(
            &api,
            path,
            StatusCode::INTERNAL_SERVER_ERROR,
            json!({"requestid": "fake", "code": "systemError", "message": "系统错误"}),
        );
    }
    let code = body["processCode"].as_str().unwrap_or_default().to_owned();
    if code.is_empty() {
        return bad_request(&api, path, "invalidProcessCode", "processCode is required");
    }
    let Some(start) = body["startTime"].as_i64() else {
        return bad_request(
            &api,
            path,
            "invalidInstanceListIdsStartTime",
            "startTime is required",
        );
    };
    let now = Utc::now().timestamp_millis();
    let day = 86_400_000;
    if now - start > 365 * day {
        return bad_request(
            &api,
            path,
            "invalidInstanceListIdsStartTime",
            "startTime is more than 365 days ago",
        );
    }
    let end = match &body["endTime"] {
        Value::Null => now,
        end => match end.as_i64() {
            Some(end) => end,
            None => return bad_request(&api, path, "invalidEndTime", "endTime is not a number"),
        },
    };
    if end < start || end - start > 120 * day {
        return bad_request(
            &api,
            path,
            "invalidEndTime",
            "endTime is before startTime or over 120 days after it",
        );
    }
    let Some(offset) = body["nextToken"].as_u64() else {
        return bad_request(&api, path, "invalidNextToken", "nextToken must be a number");
    };
    let max = body["maxResults"].as_u64().unwrap_or(0);
    if max == 0 || max > 20 {
        return bad_request(
            &api,
            path,
            "invalidMaxResults",
            "maxResults must be 1 to 20",
        );
    }
    let text_list = |value: &Value| -> Vec<String> {
        value
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect()
    };
    let users = text_list(&body["userIds"]);
    if users.len() > 10 {
        return bad_request(&api, path, "invalidUserIds", "at most 10 userIds");
    }
    let statuses = text_list(&body["statuses"]);
    let mut matching: Vec<(i64, String)> = api.with(|s| {
        s.workflow
            .listed
            .iter()
            .filter(|(template, _, created)| {
                *template == code && start <= *created && *created <= end
            })
            .filter(|(_, id, _)| {
                let result = &s.instances[id];
                let originator = result["originatorUserId"].as_str().unwrap_or_default();
                let status = result["status"].as_str().unwrap_or_default();
                (users.is_empty() || users.iter().any(|u| u == originator))
                    && (statuses.is_empty() || statuses.iter().any(|s| s == status))
            })
            .map(|(_, id, created)| (*created, id.clone()))
            .collect()
    });
    matching.sort();
    let offset = offset as usize;
    let page: Vec<String> = matching
        .iter()
        .skip(offset)
        .take(max as usize)
        .map(|(_, id)| id.clone())
        .collect();
    let mut result = json!({"list": page});
    if offset + page.len() < matching.len() {
        result["nextToken"] = json!((offset + page.len()).to_string());
    }
    answer(
        &api,
        path,
        StatusCode::OK,
        json!({"result": result, "success": true}),
    )
}
