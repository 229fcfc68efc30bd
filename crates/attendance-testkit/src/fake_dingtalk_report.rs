//! The fake DingTalk smart attendance report over real HTTP (approvals.md
//! §3): `isopensmartreport`, `getattcolumns`, `getcolumnval`,
//! `getleavetimebynames` and `vacation/type/list`, answering in the shapes
//! of the documentation's samples (leave columns without `id`) with values a
//! test sets per user, column and date, and DingTalk's limits checked: one
//! user, at most 20 columns or leave names, at most 31 days, no leave data
//! older than 225 days, nothing while the smart report is off. Every call
//! is recorded.
//!
//! It has no token endpoint of its own: it honours the tokens a
//! [`FakeDingTalkApi`] issued, and [`serve_with`](FakeDingTalkReport::serve_with)
//! merges both onto one base URL. Dates are China Standard Time.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex};

use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use chrono::{Duration, FixedOffset, NaiveDate, NaiveDateTime, Utc};
use serde_json::{json, Value};

use crate::fake_dingtalk_api::{FakeDingTalkApi, INVALID_PARAMETER, INVALID_TOKEN};

/// The errcode the fake answers while the smart report is off (the
/// documentation names none; "the others cannot be called").
pub const SMART_REPORT_OFF: i64 = 880_001;

/// One call the fake answered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReportCall {
    /// `getcolumnval`, `getleavetimebynames`, ...
    pub path: String,
    /// The user asked about, for the per-user calls.
    pub user_id: String,
    pub errcode: i64,
}

#[derive(Default)]
struct ReportState {
    smart_report: bool,
    /// `getattcolumns` items, as DingTalk answers them.
    columns: Vec<Value>,
    /// `vacation/type/list` items.
    vacation_types: Vec<Value>,
    values: HashMap<(String, i64), BTreeMap<NaiveDate, String>>,
    leave_values: HashMap<(String, String), BTreeMap<NaiveDate, String>>,
    departed: BTreeSet<String>,
    /// Leave types listed whose report column is gone (answered `null`).
    hidden_leave: BTreeSet<String>,
    calls: Vec<ReportCall>,
}

/// The fake; cheap to clone, shared with the test.
#[derive(Clone)]
pub struct FakeDingTalkReport {
    api: FakeDingTalkApi,
    state: Arc<Mutex<ReportState>>,
}

fn cst_today() -> NaiveDate {
    Utc::now()
        .with_timezone(&FixedOffset::east_opt(8 * 3600).expect("+08:00"))
        .date_naive()
}

impl FakeDingTalkReport {
    /// A report whose calls need a token `api` issued; the smart report is
    /// on, with the documentation's two sample columns and no leave types.
    pub fn new(api: &FakeDingTalkApi) -> FakeDingTalkReport {
        FakeDingTalkReport {
            api: api.clone(),
            state: Arc::new(Mutex::new(ReportState {
                smart_report: true,
                columns: vec![
                    json!({"alias":"should_attendance_days","expression_id":129334038,"id":129339038,"name":"应出勤天数","status":0,"sub_type":0,"type":0}),
                    json!({"alias":"making_up_lack_times","expression_id":129334039,"id":129339039,"name":"补卡次数","status":0,"sub_type":0,"type":0}),
                ],
                ..ReportState::default()
            })),
        }
    }

    /// Serves the API fake and this report on one 127.0.0.1:0 port; answers
    /// its base URL (both `api_base_url` and `oapi_base_url`).
    pub async fn serve_with(&self) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind a loopback port");
        let addr = listener.local_addr().expect("bound");
        let router = self.api.router().merge(self.router());
        tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        format!("http://{addr}")
    }

    /// The report's endpoints, at DingTalk's paths.
    pub fn router(&self) -> Router {
        let at = |name: &str| format!("/topapi/attendance/{name}");
        Router::new()
            .route(&at("isopensmartreport"), post(is_open))
            .route(&at("getattcolumns"), post(columns))
            .route(&at("getcolumnval"), post(column_values))
            .route(&at("getleavetimebynames"), post(leave_times))
            .route(&at("vacation/type/list"), post(vacation_types))
            .with_state(self.clone())
    }

    fn with<R>(&self, f: impl FnOnce(&mut ReportState) -> R) -> R {
        f(&mut self.state.lock().expect("fake report lock"))
    }

    pub fn set_smart_report(&self, on: bool) {
        self.with(|s| s.smart_report = on);
    }

    /// Adds a column to `getattcolumns` (`id` absent for a leave column).
    pub fn add_column(&self, id: Option<i64>, name: &str) {
        let mut column = json!({"alias": "", "name": name, "status": 0, "sub_type": 0, "type": 0});
        if let Some(id) = id {
            column["id"] = json!(id);
        }
        self.with(|s| s.columns.push(column));
    }

    /// Adds a leave type to `vacation/type/list`: its unit (`day`,
    /// `halfDay`, `hour`) and hours in its day in hundredths (800 = 8 h);
    /// its report column comes with it.
    pub fn add_vacation_type(&self, name: &str, view_unit: &str, hours_in_per_day: i64) {
        self.with(|s| {
            s.vacation_types.push(json!({
                "biz_type": "general_leave", "freedom_leave": false,
                "hours_in_per_day": hours_in_per_day, "leave_code": format!("code-{name}"),
                "leave_name": name, "leave_view_unit": view_unit,
                "natural_day_leave": "false", "paid_leave": false, "source": "inner"
            }));
        });
    }

    /// What `getcolumnval` answers for `user_id`'s column on `date`
    /// (other days: `"0.0"`).
    pub fn set_value(&self, user_id: &str, column_id: i64, date: NaiveDate, value: &str) {
        self.with(|s| {
            s.values
                .entry((user_id.into(), column_id))
                .or_default()
                .insert(date, value.into());
        });
    }

    /// What `getleavetimebynames` answers for `user_id`'s leave `name` on
    /// `date` (other days: `"0.0"`).
    pub fn set_leave_value(&self, user_id: &str, name: &str, date: NaiveDate, value: &str) {
        self.with(|s| {
            s.leave_values
                .entry((user_id.into(), name.into()))
                .or_default()
                .insert(date, value.into());
        });
    }

    /// `vacation/type/list` still lists the leave type `name`, but the
    /// report answers its column as `null` (its settings changed).
    pub fn hide_leave_column(&self, name: &str) {
        self.with(|s| s.hidden_leave.insert(name.into()));
    }

    /// The report holds nothing for `user_id` (an employee who left).
    pub fn set_departed(&self, user_id: &str) {
        self.with(|s| s.departed.insert(user_id.into()));
    }

    pub fn calls(&self) -> Vec<ReportCall> {
        self.with(|s| s.calls.clone())
    }

    pub fn calls_to(&self, path: &str) -> Vec<ReportCall> {
        self.calls()
            .into_iter()
            .filter(|c| c.path == path)
            .collect()
    }

    fn answer(&self, path: &str, user_id: &str, body: Value) -> Response {
        let errcode = body["errcode"].as_i64().unwrap_or_default();
        self.with(|s| {
            s.calls.push(ReportCall {
                path: path.into(),
                user_id: user_id.into(),
                errcode,
            })
        });
        Json(body).into_response()
    }

    fn refuse(&self, path: &str, user_id: &str, errcode: i64, errmsg: &str) -> Response {
        self.answer(
            path,
            user_id,
            json!({"errcode": errcode, "errmsg": errmsg, "request_id": "fake"}),
        )
    }

    /// A per-user call's gate and request, or its refusal.
    fn per_user(
        &self,
        path: &str,
        query: &HashMap<String, String>,
        body: &Value,
        list: &str,
    ) -> Result<Asked, Box<Response>> {
        if let Some(refused) = self.gate(path, query) {
            return Err(Box::new(refused));
        }
        asked(body, list)
            .map_err(|problem| Box::new(self.refuse(path, "", INVALID_PARAMETER, &problem)))
    }

    /// The token, then (but for `isopensmartreport`) the smart report.
    fn gate(&self, path: &str, query: &HashMap<String, String>) -> Option<Response> {
        let token = query.get("access_token").cloned().unwrap_or_default();
        if !self.api.honours_token(&token) {
            return Some(self.refuse(path, "", INVALID_TOKEN, "不合法的access_token"));
        }
        if path != "isopensmartreport" && !self.with(|s| s.smart_report) {
            return Some(self.refuse(path, "", SMART_REPORT_OFF, "智能考勤报表未开启"));
        }
        None
    }
}

async fn is_open(
    State(fake): State<FakeDingTalkReport>,
    query: Query<HashMap<String, String>>,
) -> Response {
    let path = "isopensmartreport";
    if let Some(refused) = fake.gate(path, &query) {
        return refused;
    }
    let on = fake.with(|s| s.smart_report);
    fake.answer(
        path,
        "",
        json!({"errcode": 0, "result": {"smart_report": on}, "success": true, "request_id": "fake"}),
    )
}

async fn columns(
    State(fake): State<FakeDingTalkReport>,
    query: Query<HashMap<String, String>>,
) -> Response {
    let path = "getattcolumns";
    if let Some(refused) = fake.gate(path, &query) {
        return refused;
    }
    let mut columns = fake.with(|s| s.columns.clone());
    // Leave columns come without an id.
    for kind in fake.with(|s| s.vacation_types.clone()) {
        columns.push(json!({"alias": "leave_", "name": kind["leave_name"], "status": 0, "sub_type": 0, "type": 0}));
    }
    fake.answer(
        path,
        "",
        json!({"errcode": 0, "result": {"columns": columns}, "request_id": "fake"}),
    )
}

async fn vacation_types(
    State(fake): State<FakeDingTalkReport>,
    query: Query<HashMap<String, String>>,
    Json(body): Json<Value>,
) -> Response {
    let path = "vacation/type/list";
    if let Some(refused) = fake.gate(path, &query) {
        return refused;
    }
    if body["op_userid"].as_str().unwrap_or_default().is_empty() {
        return fake.refuse(path, "", INVALID_PARAMETER, "op_userid is required");
    }
    let types = fake.with(|s| s.vacation_types.clone());
    fake.answer(
        path,
        "",
        json!({"errcode": 0, "errmsg": "ok", "result": types, "request_id": "fake"}),
    )
}

/// The one user, the comma list (at most 20) and the dates (at most 31
/// days) every per-user report call takes.
struct Asked {
    user_id: String,
    items: Vec<String>,
    days: Vec<NaiveDate>,
}

fn asked(body: &Value, list: &str) -> Result<Asked, String> {
    let user_id = body["userid"].as_str().unwrap_or_default().to_owned();
    if user_id.is_empty() || user_id.contains(',') {
        return Err("userid must name one user".into());
    }
    let items: Vec<String> = body[list]
        .as_str()
        .unwrap_or_default()
        .split(',')
        .filter(|item| !item.is_empty())
        .map(str::to_owned)
        .collect();
    if items.is_empty() || items.len() > 20 {
        return Err(format!("{list} must hold 1 to 20 items"));
    }
    let date = |key: &str| {
        NaiveDateTime::parse_from_str(body[key].as_str().unwrap_or_default(), "%Y-%m-%d %H:%M:%S")
            .map(|t| t.date())
            .map_err(|_| format!("{key} must be yyyy-MM-dd HH:mm:ss"))
    };
    let (from, to) = (date("from_date")?, date("to_date")?);
    if to < from || (to - from).num_days() >= 31 {
        return Err("the dates span at most 31 days".into());
    }
    let days = from.iter_days().take_while(|d| *d <= to).collect();
    Ok(Asked {
        user_id,
        items,
        days,
    })
}

fn day_values(days: &[NaiveDate], set: Option<&BTreeMap<NaiveDate, String>>) -> Vec<Value> {
    days.iter()
        .map(|day| {
            let value = set
                .and_then(|values| values.get(day).cloned())
                .unwrap_or_else(|| "0.0".into());
            json!({"date": format!("{day} 00:00:00"), "value": value})
        })
        .collect()
}

async fn column_values(
    State(fake): State<FakeDingTalkReport>,
    query: Query<HashMap<String, String>>,
    Json(body): Json<Value>,
) -> Response {
    let path = "getcolumnval";
    let asked = match fake.per_user(path, &query, &body, "column_id_list") {
        Ok(asked) => asked,
        Err(refused) => return *refused,
    };
    let known: Vec<i64> =
        fake.with(|s| s.columns.iter().filter_map(|c| c["id"].as_i64()).collect());
    let vals: Vec<Value> = if fake.with(|s| s.departed.contains(&asked.user_id)) {
        Vec::new()
    } else {
        asked
            .items
            .iter()
            .filter_map(|id| id.parse::<i64>().ok())
            .filter(|id| known.contains(id))
            .map(|id| {
                let set = fake.with(|s| s.values.get(&(asked.user_id.clone(), id)).cloned());
                json!({"column_vals": day_values(&asked.days, set.as_ref()), "column_vo": {"id": id}})
            })
            .collect()
    };
    fake.answer(
        path,
        &asked.user_id,
        json!({"errcode": 0, "result": {"column_vals": vals}, "request_id": "fake"}),
    )
}

async fn leave_times(
    State(fake): State<FakeDingTalkReport>,
    query: Query<HashMap<String, String>>,
    Json(body): Json<Value>,
) -> Response {
    let path = "getleavetimebynames";
    let asked = match fake.per_user(path, &query, &body, "leave_names") {
        Ok(asked) => asked,
        Err(refused) => return *refused,
    };
    if asked.days[0] < cst_today() - Duration::days(225) {
        return fake.refuse(
            path,
            &asked.user_id,
            INVALID_PARAMETER,
            "不支持查询225天以前的数据",
        );
    }
    let known: Vec<String> = fake.with(|s| {
        s.vacation_types
            .iter()
            .filter_map(|t| t["leave_name"].as_str().map(str::to_owned))
            .filter(|name| !s.hidden_leave.contains(name))
            .collect()
    });
    let columns: Vec<Value> = if fake.with(|s| s.departed.contains(&asked.user_id)) {
        Vec::new()
    } else {
        asked
            .items
            .iter()
            .map(|name| {
                // A name the tenant does not list (or hid): its column is null.
                let vals = known.contains(name).then(|| {
                    let set = fake.with(|s| s.leave_values.get(&(asked.user_id.clone(), name.clone())).cloned());
                    day_values(&asked.days, set.as_ref())
                });
                json!({"columnvals": vals, "columnvo": {"alias": "leave_", "name": name, "status": 0, "sub_type": 0, "type": 0}})
            })
            .collect()
    };
    fake.answer(
        path,
        &asked.user_id,
        json!({"errcode": 0, "result": {"columns": columns}, "request_id": "fake"}),
    )
}
