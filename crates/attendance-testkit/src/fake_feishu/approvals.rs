//! The fake Feishu's approval queries, `user_approvals/query` and
//! `user_task_remedys/query` (approvals.md §1.1, §1.2), with their documented
//! request shapes and limits: `employee_type`, `user_ids` (≤ 50 for
//! remedies), dates at most 30 days apart and a `check_date_from` no later
//! than tomorrow, one `status` per call (2 when absent), leaves and overtime
//! only for statuses 2 and 3; a refusal is HTTP 400 with code 1220001. An
//! approval of several days is listed under each of its dates, as Feishu
//! lists it. Every request that passed the token check is recorded.

use std::collections::{BTreeMap, HashMap};

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::Json;
use chrono::{Duration, FixedOffset, NaiveDate, Utc};
use serde_json::{json, Value};

use super::api::{answer, gate, number, user_ids, FakeFeishuApi};

/// Which list an approval is served in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FakeApprovalKind {
    /// `user_approvals[].leaves[]`
    Leave,
    /// `user_approvals[].overtime_works[]`
    Overtime,
    /// `user_approvals[].outs[]`
    Out,
    /// `user_approvals[].trips[]`
    Trip,
    /// `user_remedys[]`
    Remedy,
}

impl FakeApprovalKind {
    fn list(self) -> &'static str {
        match self {
            FakeApprovalKind::Leave => "leaves",
            FakeApprovalKind::Overtime => "overtime_works",
            FakeApprovalKind::Out => "outs",
            FakeApprovalKind::Trip => "trips",
            FakeApprovalKind::Remedy => "user_remedys",
        }
    }
}

/// One approval Feishu knows, in its current status.
#[derive(Clone, Debug, PartialEq)]
pub struct FakeApproval {
    pub user_id: String,
    pub kind: FakeApprovalKind,
    /// 0 pending, 1 rejected, 2 approved, 3 withdrawn (remedies:
    /// cancelled), 4 revoked (remedies: withdrawn after approval).
    pub status: i64,
    /// The zone of the item's times, as Feishu names it.
    pub time_zone: String,
    /// The item as Feishu lists it. `user_approvals/query` lists it under
    /// every date from its `start_time` to its `end_time`
    /// (`yyyy-MM-dd HH:mm:ss`); `user_task_remedys/query` when its `time`
    /// (Unix seconds) is in the asked range, with `user_id`, `status` and
    /// `time_zone` added.
    pub item: Value,
    /// Its approval instance's code, which the approval API's instance
    /// read answers to (`instances.rs`); empty: that read knows it not.
    pub instance_code: String,
}

impl FakeApproval {
    pub fn new(user_id: &str, kind: FakeApprovalKind, status: i64, item: Value) -> FakeApproval {
        FakeApproval {
            user_id: user_id.into(),
            kind,
            status,
            time_zone: "Asia/Shanghai".into(),
            item,
            instance_code: String::new(),
        }
    }

    /// The same approval, readable by its instance code.
    pub fn with_instance_code(mut self, instance_code: &str) -> FakeApproval {
        self.instance_code = instance_code.into();
        self
    }

    /// The dates it is listed under by `user_approvals/query`.
    fn dates(&self) -> Vec<NaiveDate> {
        let date = |field: &str| {
            self.item[field]
                .as_str()
                .and_then(|t| t.get(..10))
                .and_then(|t| NaiveDate::parse_from_str(t, "%Y-%m-%d").ok())
        };
        match (date("start_time"), date("end_time")) {
            (Some(first), Some(last)) => first.iter_days().take_while(|d| *d <= last).collect(),
            (Some(only), None) | (None, Some(only)) => vec![only],
            (None, None) => Vec::new(),
        }
    }
}

impl FakeFeishuApi {
    /// The approvals both queries serve from.
    pub fn set_approvals(&self, approvals: Vec<FakeApproval>) {
        self.with(|s| s.approvals = approvals);
    }

    /// Changes the status of the approval with this `approval_id`.
    pub fn set_approval_status(&self, approval_id: &str, status: i64) {
        self.with(|s| {
            for approval in &mut s.approvals {
                if approval.item["approval_id"] == approval_id {
                    approval.status = status;
                }
            }
        })
    }

    /// User ids the approval queries refuse with 1220004 (no permission:
    /// the approval data is outside the app's range) while the attendance
    /// queries show them.
    pub fn hide_approvals_of(&self, user_ids: &[&str]) {
        self.with(|s| s.approvals_hidden = user_ids.iter().map(|id| id.to_string()).collect());
    }

    /// The fake's today, against which `check_date_from` is checked.
    pub fn set_today(&self, today: NaiveDate) {
        self.with(|s| s.today = Some(today));
    }

    /// (path, body) of every approval query that reached the fake's checks.
    pub fn approval_requests(&self) -> Vec<(String, Value)> {
        self.with(|s| s.approval_requests.clone())
    }
}

fn refuse(api: &FakeFeishuApi, path: &str, msg: &str) -> Response {
    answer(
        api,
        path,
        StatusCode::BAD_REQUEST,
        json!({"code": 1220001, "msg": msg}),
    )
}

fn refuse_rejected(api: &FakeFeishuApi, path: &str, ids: &[String]) -> Option<Response> {
    api.with(|s| {
        ids.iter()
            .any(|id| s.rejected_users.contains(id) || s.approvals_hidden.contains(id))
    })
    .then(|| {
        answer(
            api,
            path,
            StatusCode::BAD_REQUEST,
            json!({"code": 1220004, "msg": "user_id is not exist or does not have permission"}),
        )
    })
}

/// One status per call, 2 when absent.
fn status(body: &Value) -> Result<i64, &'static str> {
    match &body["status"] {
        Value::Null => Ok(2),
        value => value
            .as_i64()
            .filter(|s| (0..=4).contains(s))
            .ok_or("status must be one of 0, 1, 2, 3, 4"),
    }
}

fn date(value: &Value) -> Option<NaiveDate> {
    let digits = value.as_i64()?;
    NaiveDate::from_ymd_opt(
        (digits / 10_000) as i32,
        (digits / 100 % 100) as u32,
        (digits % 100) as u32,
    )
}

/// What both queries check first: the token, then (the request recorded)
/// `employee_type` among those the query takes and 1 to 50 `user_ids`.
fn opening(
    api: &FakeFeishuApi,
    path: &str,
    headers: &HeaderMap,
    query: &HashMap<String, String>,
    body: &Value,
    employee_types: &[&str],
) -> Result<Vec<String>, Box<Response>> {
    if let Some(refused) = gate(api, path, headers) {
        return Err(Box::new(refused));
    }
    api.with(|s| s.approval_requests.push((path.into(), body.clone())));
    let employee_type = query.get("employee_type").map(String::as_str);
    if !employee_type.is_some_and(|t| employee_types.contains(&t)) {
        return Err(Box::new(refuse(api, path, "employee_type invalid")));
    }
    user_ids(body).map_err(|e| Box::new(answer(api, path, StatusCode::BAD_REQUEST, e)))
}

pub(super) async fn query_user_approvals(
    State(api): State<FakeFeishuApi>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
    Json(body): Json<Value>,
) -> Response {
    let path = "user_approvals/query";
    // No maximum of user_ids is documented; the fake holds it to the
    // attendance queries' 50.
    let employee_types = ["employee_id", "employee_no", "open_id"];
    let ids = match opening(&api, path, &headers, &query, &body, &employee_types) {
        Ok(ids) => ids,
        Err(refused) => return *refused,
    };
    let (Some(from), Some(to)) = (date(&body["check_date_from"]), date(&body["check_date_to"]))
    else {
        return refuse(
            &api,
            path,
            "check_date_from and check_date_to are required yyyyMMdd",
        );
    };
    if to < from || to - from > Duration::days(30) {
        return refuse(&api, path, "the date range must not exceed 30 days");
    }
    let today = api.with(|s| s.today).unwrap_or_else(|| {
        Utc::now()
            .with_timezone(&FixedOffset::east_opt(8 * 3600).expect("UTC+8"))
            .date_naive()
    });
    if from > today + Duration::days(1) {
        return refuse(
            &api,
            path,
            "check_date_from must not be later than tomorrow",
        );
    }
    let status = match status(&body) {
        Ok(status) => status,
        Err(msg) => return refuse(&api, path, msg),
    };
    if let Some(refused) = refuse_rejected(&api, path, &ids) {
        return refused;
    }
    // (user, date) → the day's lists, in the order asked.
    let mut days: BTreeMap<(usize, NaiveDate), (Value, String)> = BTreeMap::new();
    api.with(|s| {
        for approval in &s.approvals {
            let Some(user) = ids.iter().position(|id| *id == approval.user_id) else {
                continue;
            };
            let answered = match approval.kind {
                FakeApprovalKind::Remedy => false,
                FakeApprovalKind::Leave | FakeApprovalKind::Overtime => {
                    matches!(status, 2 | 3)
                }
                FakeApprovalKind::Out | FakeApprovalKind::Trip => true,
            };
            if !answered || approval.status != status {
                continue;
            }
            for day in approval
                .dates()
                .into_iter()
                .filter(|d| (from..=to).contains(d))
            {
                let (lists, zone) = days.entry((user, day)).or_insert_with(|| {
                    (
                        json!({"leaves": [], "overtime_works": [], "outs": [], "trips": []}),
                        approval.time_zone.clone(),
                    )
                });
                *zone = approval.time_zone.clone();
                lists[approval.kind.list()]
                    .as_array_mut()
                    .expect("a list")
                    .push(approval.item.clone());
            }
        }
    });
    let user_approvals: Vec<Value> = days
        .into_iter()
        .map(|((user, day), (mut lists, zone))| {
            lists["user_id"] = json!(ids[user]);
            lists["date"] = json!(day.format("%Y%m%d").to_string());
            lists["time_zone"] = json!(zone);
            lists
        })
        .collect();
    answer(
        &api,
        path,
        StatusCode::OK,
        json!({"code": 0, "msg": "success", "data": {"user_approvals": user_approvals}}),
    )
}

pub(super) async fn query_user_task_remedys(
    State(api): State<FakeFeishuApi>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
    Json(body): Json<Value>,
) -> Response {
    let path = "user_task_remedys/query";
    let ids = match opening(
        &api,
        path,
        &headers,
        &query,
        &body,
        &["employee_id", "employee_no"],
    ) {
        Ok(ids) => ids,
        Err(refused) => return *refused,
    };
    let bound = |field: &str| body[field].as_str().and_then(|t| t.parse::<i64>().ok());
    let (Some(from), Some(to)) = (bound("check_time_from"), bound("check_time_to")) else {
        return refuse(&api, path, "check_time_from and check_time_to are required");
    };
    let status = match status(&body) {
        Ok(status) => status,
        Err(msg) => return refuse(&api, path, msg),
    };
    if let Some(refused) = refuse_rejected(&api, path, &ids) {
        return refused;
    }
    let remedys: Vec<Value> = api.with(|s| {
        s.approvals
            .iter()
            .filter(|a| a.kind == FakeApprovalKind::Remedy && a.status == status)
            .filter(|a| ids.contains(&a.user_id))
            .filter(|a| (from..=to).contains(&number(&a.item["time"])))
            .map(|a| {
                let mut item = a.item.clone();
                item["user_id"] = json!(a.user_id);
                item["status"] = json!(a.status);
                item["time_zone"] = json!(a.time_zone);
                item
            })
            .collect()
    });
    answer(
        &api,
        path,
        StatusCode::OK,
        json!({"code": 0, "msg": "success", "data": {"user_remedys": remedys}}),
    )
}
