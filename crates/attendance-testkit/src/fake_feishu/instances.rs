//! The fake Feishu's approval instance read (`GET /open-apis/approval/v4/
//! instances/:instance_code`, approvals.md §1.3) over the approvals the
//! attendance queries serve: the submitter, the instance status (`reverted`
//! once revoked after approval) and a form holding the kind's widget group
//! with its span in RFC 3339. An unknown code is refused with HTTP 400.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use chrono::{FixedOffset, NaiveDateTime, TimeZone};
use serde_json::{json, Value};

use super::api::{answer, gate, FakeFeishuApi};
use super::approvals::{FakeApproval, FakeApprovalKind};

/// The code a read of an unknown instance is answered with here; the
/// approval API's error table is not part of the protocol notes.
pub const UNKNOWN_INSTANCE_CODE: i64 = 1390001;

impl FakeFeishuApi {
    /// The instance codes read so far, in order.
    pub fn instance_reads(&self) -> Vec<String> {
        self.with(|s| s.instance_reads.clone())
    }
}

fn rfc3339(text: &str) -> Value {
    let Ok(wall) = NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S") else {
        return Value::Null;
    };
    let zone = FixedOffset::east_opt(8 * 3600).expect("UTC+8");
    match zone.from_local_datetime(&wall).single() {
        Some(at) => json!(at.to_rfc3339()),
        None => Value::Null,
    }
}

/// The instance as the read answers it.
fn instance(approval: &FakeApproval) -> Value {
    let (status, reverted) = match approval.status {
        0 => ("PENDING", false),
        1 => ("REJECTED", false),
        2 => ("APPROVED", false),
        3 => ("CANCELED", false),
        _ => ("APPROVED", true),
    };
    let span = json!({
        "start": rfc3339(approval.item["start_time"].as_str().unwrap_or_default()),
        "end": rfc3339(approval.item["end_time"].as_str().unwrap_or_default()),
        "reason": approval.item["reason"],
    });
    let widget = match approval.kind {
        FakeApprovalKind::Leave => Some(("leaveGroupV2", "请假")),
        FakeApprovalKind::Overtime => Some(("workGroup", "加班")),
        FakeApprovalKind::Out => Some(("outGroup", "外出")),
        FakeApprovalKind::Trip => Some(("tripGroup", "出差")),
        FakeApprovalKind::Remedy => None,
    };
    let form: Vec<Value> = widget
        .map(|(kind, name)| json!({"id": format!("widget-{kind}"), "name": name, "type": kind, "value": span}))
        .into_iter()
        .collect();
    json!({
        "instance_code": approval.instance_code,
        "approval_code": "FAKE-APPROVAL-DEFINITION",
        "status": status,
        "reverted": reverted,
        "user_id": approval.user_id,
        "open_id": format!("ou_{}", approval.user_id),
        "form": Value::Array(form).to_string(),
    })
}

pub(super) async fn get_instance(
    State(api): State<FakeFeishuApi>,
    headers: HeaderMap,
    Path(code): Path<String>,
) -> Response {
    let path = "approval/v4/instances/get";
    if let Some(refused) = gate(&api, path, &headers) {
        return refused;
    }
    let found = api.with(|s| {
        s.instance_reads.push(code.clone());
        s.approvals
            .iter()
            .find(|a| !a.instance_code.is_empty() && a.instance_code == code)
            .map(instance)
    });
    match found {
        Some(data) => answer(
            &api,
            path,
            StatusCode::OK,
            json!({"code": 0, "msg": "success", "data": data}),
        ),
        None => answer(
            &api,
            path,
            StatusCode::BAD_REQUEST,
            json!({"code": UNKNOWN_INSTANCE_CODE, "msg": "instance not found"}),
        ),
    }
}
