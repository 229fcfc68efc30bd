//! Pull answers (protocol §4, §5), for the API client: `getupdatedata` and
//! the failed-push lists.

use serde::Deserialize;
use serde_json::{Map, Value};

use super::lenient::kind_of;
use super::lenient::{json_text, nullable, opt_bool, opt_f64, opt_i64, text};

/// `POST /topapi/attendance/getupdatedata`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct GetUpdateDataResponse {
    #[serde(default, deserialize_with = "opt_i64")]
    pub errcode: Option<i64>,
    #[serde(default, deserialize_with = "text")]
    pub errmsg: String,
    #[serde(default, deserialize_with = "opt_bool")]
    pub success: Option<bool>,
    #[serde(default, deserialize_with = "text")]
    pub request_id: String,
    #[serde(default)]
    pub result: Option<UpdateData>,
}

/// One employee's work day as `getupdatedata` sees it.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct UpdateData {
    /// `"2021-01-14"` or `"2021-01-14 09:00:00"`.
    #[serde(default, deserialize_with = "text")]
    pub work_date: String,
    #[serde(default, deserialize_with = "text")]
    pub userid: String,
    #[serde(rename = "corpId", default, deserialize_with = "text")]
    pub corp_id: String,
    #[serde(default, deserialize_with = "nullable")]
    pub attendance_result_list: Vec<UpdateAttendanceResult>,
    #[serde(default, deserialize_with = "nullable")]
    pub approve_list: Vec<UpdateApprove>,
    #[serde(default, deserialize_with = "nullable")]
    pub check_record_list: Vec<UpdateCheckRecord>,
    #[serde(default)]
    pub class_setting_info: Option<ClassSettingInfo>,
}

/// One check point's result.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct UpdateAttendanceResult {
    #[serde(default, deserialize_with = "text")]
    pub record_id: String,
    #[serde(default, deserialize_with = "text")]
    pub plan_id: String,
    #[serde(default, deserialize_with = "text")]
    pub class_id: String,
    #[serde(default, deserialize_with = "text")]
    pub group_id: String,
    #[serde(rename = "procInst_id", default, deserialize_with = "text")]
    pub proc_inst_id: String,
    /// `"yyyy-MM-dd HH:mm:ss"` in the tenant's zone.
    #[serde(default, deserialize_with = "text")]
    pub plan_check_time: String,
    #[serde(default, deserialize_with = "text")]
    pub user_check_time: String,
    #[serde(default, deserialize_with = "text")]
    pub source_type: String,
    #[serde(default, deserialize_with = "text")]
    pub location_method: String,
    /// `Normal`, `Outside`, `NotSigned`.
    #[serde(default, deserialize_with = "text")]
    pub location_result: String,
    #[serde(default, deserialize_with = "text")]
    pub outside_remark: String,
    #[serde(default, deserialize_with = "text")]
    pub user_address: String,
    /// `OnDuty`, `OffDuty`.
    #[serde(default, deserialize_with = "text")]
    pub check_type: String,
    /// `Normal`, `Early`, `Late`, `SeriousLate`, `Absenteeism`, `NotSigned`.
    #[serde(default, deserialize_with = "text")]
    pub time_result: String,
}

/// One approval that affects the day.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct UpdateApprove {
    #[serde(default, deserialize_with = "text")]
    pub duration_unit: String,
    #[serde(default, deserialize_with = "text")]
    pub duration: String,
    /// e.g. 年假 (annual leave).
    #[serde(default, deserialize_with = "text")]
    pub sub_type: String,
    /// 请假, 出差, 外出, 加班.
    #[serde(default, deserialize_with = "text")]
    pub tag_name: String,
    #[serde(rename = "procInst_id", default, deserialize_with = "text")]
    pub proc_inst_id: String,
    #[serde(default, deserialize_with = "text")]
    pub begin_time: String,
    #[serde(default, deserialize_with = "text")]
    pub end_time: String,
    #[serde(default, deserialize_with = "text")]
    pub gmt_finished: String,
    /// 1 overtime, 2 trip/out, 3 leave.
    #[serde(default, deserialize_with = "opt_i64")]
    pub biz_type: Option<i64>,
}

/// One punch of the day, valid or not.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct UpdateCheckRecord {
    #[serde(default, deserialize_with = "text")]
    pub record_id: String,
    #[serde(default, deserialize_with = "text")]
    pub source_type: String,
    #[serde(default, deserialize_with = "opt_f64")]
    pub user_accuracy: Option<f64>,
    /// Whether the day's result was computed from this punch.
    #[serde(default, deserialize_with = "opt_bool")]
    pub valid_matched: Option<bool>,
    #[serde(default, deserialize_with = "text")]
    pub user_check_time: String,
    #[serde(default, deserialize_with = "opt_f64")]
    pub user_longitude: Option<f64>,
    #[serde(default, deserialize_with = "opt_f64")]
    pub user_latitude: Option<f64>,
    #[serde(default, deserialize_with = "text")]
    pub user_ssid: String,
    #[serde(default, deserialize_with = "text")]
    pub user_mac_addr: String,
    #[serde(default, deserialize_with = "opt_f64")]
    pub base_accuracy: Option<f64>,
    #[serde(default, deserialize_with = "text")]
    pub base_address: String,
    #[serde(default, deserialize_with = "text")]
    pub invalid_record_msg: String,
    #[serde(default, deserialize_with = "text")]
    pub invalid_record_type: String,
}

/// The shift's rest periods.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct ClassSettingInfo {
    #[serde(default, deserialize_with = "nullable")]
    pub rest_time_vo_list: Vec<RestTime>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct RestTime {
    #[serde(default, deserialize_with = "text")]
    pub rest_begin_time: String,
    #[serde(default, deserialize_with = "text")]
    pub rest_end_time: String,
}

/// `GET /call_back/get_call_back_failed_result`. Reading it deletes the items,
/// so a batch must be persisted before it is acted on.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct FailedResultResponse {
    #[serde(default, deserialize_with = "opt_i64")]
    pub errcode: Option<i64>,
    #[serde(default, deserialize_with = "text")]
    pub errmsg: String,
    #[serde(default, deserialize_with = "opt_bool")]
    pub has_more: Option<bool>,
    #[serde(default, deserialize_with = "nullable")]
    pub failed_list: Vec<FailedItem>,
}

/// The payload keys DingTalk nests a failed event under, by event family.
const FAILED_PAYLOAD_KEYS: [&str; 3] = ["callbackData", "bpmsCallBackData", "roleLabelChange"];

/// One failed push. Two shapes are reported (protocol §4): an object keyed by
/// the tag holding `corpid` and a payload key, or a flat item with
/// `callbackData` as a JSON string. Everything but the tag and time is kept in
/// `other`, and [`payload`](Self::payload) reads either shape.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct FailedItem {
    #[serde(default, deserialize_with = "text")]
    pub call_back_tag: String,
    /// Milliseconds since the epoch.
    #[serde(default, deserialize_with = "opt_i64")]
    pub event_time: Option<i64>,
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

impl FailedItem {
    /// The object keyed by the tag, if this item has that shape.
    fn tagged(&self) -> Option<&Map<String, Value>> {
        self.other.get(&self.call_back_tag)?.as_object()
    }

    /// The tenant: `corpid` inside the tagged object, else at the top level.
    pub fn corp_id(&self) -> Option<&str> {
        self.tagged()
            .and_then(|tagged| tagged.get("corpid"))
            .or_else(|| self.other.get("corpid"))
            .or_else(|| self.other.get("corpId"))
            .and_then(Value::as_str)
    }

    /// The event body as an object: the payload key's value inside the tagged
    /// object (an object or a JSON string), the tagged object itself when it
    /// has no payload key (e.g. `user_add_org`), or the flat `callbackData`.
    pub fn payload(&self) -> Result<Value, String> {
        let found = match self.tagged() {
            Some(tagged) => FAILED_PAYLOAD_KEYS
                .iter()
                .find_map(|key| tagged.get(*key))
                .cloned()
                .unwrap_or_else(|| Value::Object(tagged.clone())),
            None => FAILED_PAYLOAD_KEYS
                .iter()
                .find_map(|key| self.other.get(*key))
                .cloned()
                .ok_or_else(|| {
                    format!(
                        "failed item {:?} has neither a tagged object nor a payload key",
                        self.call_back_tag
                    )
                })?,
        };
        match found {
            Value::String(text) => serde_json::from_str(&text)
                .map_err(|error| format!("payload string is not JSON: {error}")),
            Value::Object(_) => Ok(found),
            other => Err(format!("payload is {}, not an object", kind_of(&other))),
        }
    }
}

/// `GET https://api.dingtalk.com/v1.0/event/callbacks/failedResults`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FailedResultsV1 {
    #[serde(default, deserialize_with = "nullable")]
    pub failed_list: Vec<FailedResultV1>,
    #[serde(default, deserialize_with = "opt_bool")]
    pub has_more: Option<bool>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FailedResultV1 {
    /// The event body as a JSON string.
    #[serde(default, deserialize_with = "json_text")]
    pub call_back_data: String,
    #[serde(default, deserialize_with = "text")]
    pub call_back_tag: String,
    #[serde(default, deserialize_with = "text")]
    pub corp_id: String,
    #[serde(default, deserialize_with = "opt_i64")]
    pub event_time: Option<i64>,
}
