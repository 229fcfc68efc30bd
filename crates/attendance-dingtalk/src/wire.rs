//! Serde mirrors of what DingTalk sends and answers: Stream frames and their
//! ACKs, the HTTP callback body, query and reply, the attendance event bodies,
//! and the two pull responses (`getupdatedata`, failed pushes).
//!
//! The mirrors are lenient where DingTalk's own samples disagree with its
//! tables (numbers as strings and back, `DataList` vs `dataList`, `userid` vs
//! `userId`, `null` for empty lists) and strict nowhere else: deciding what is
//! required is translation's job. Unknown fields are ignored, never refused.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};

// ---------------------------------------------------------------------------
// Event types (protocol §2).

/// 员工打卡 (a punch).
pub const ATTENDANCE_CHECK_RECORD: &str = "attendance_check_record";
/// 员工加班 (overtime converted to compensatory leave).
pub const ATTENDANCE_OVERTIME_DURATION: &str = "attendance_overtime_duration";
/// 请假/加班/出差/外出状态变更 (an attendance approval's status).
pub const ATTENDANCE_APPROVE_STATUS_CHANGE: &str = "attendance_approve_status_change";
/// 考勤结果变更 (an admin edited a day's result).
pub const ATTEND_BOSS_CHECK_CHANGE: &str = "attend_bossCheck_change";
/// 考勤日统计变更 (a day's summary was recomputed).
pub const ATTEND_USER_DAILY_SUMMARY_REFRESH: &str = "attend_user_daily_summary_refresh";
/// 审批实例 开始/结束/终止/删除 (an approval instance).
pub const BPMS_INSTANCE_CHANGE: &str = "bpms_instance_change";
/// 审批任务 开始/结束/转交 (one approver's task).
pub const BPMS_TASK_CHANGE: &str = "bpms_task_change";
/// The handshake pushed when a callback URL is saved in the console.
pub const CHECK_URL: &str = "check_url";
/// The ISV suite-creation handshake.
pub const CHECK_CREATE_SUITE_URL: &str = "check_create_suite_url";

// ---------------------------------------------------------------------------
// Stream frames (protocol §1.3, §1.4).

/// `type` of a frame carrying a subscribed event.
pub const FRAME_EVENT: &str = "EVENT";
/// `type` of a connection-control frame (ping, disconnect, ...).
pub const FRAME_SYSTEM: &str = "SYSTEM";
/// `type` of a request that expects a response payload (bots, cards).
pub const FRAME_CALLBACK: &str = "CALLBACK";
/// SYSTEM topic of a ping whose `data` must be echoed.
pub const TOPIC_PING: &str = "ping";
/// SYSTEM topic announcing that the server is about to drop the connection.
pub const TOPIC_DISCONNECT: &str = "disconnect";
/// The only content type DingTalk sends today.
pub const CONTENT_TYPE_JSON: &str = "application/json";

/// One frame from the Stream server. `data` is JSON inside a string and is
/// parsed a second time by whoever knows what it is.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StreamFrame {
    #[serde(
        rename = "specVersion",
        default,
        deserialize_with = "opt_text",
        skip_serializing_if = "Option::is_none"
    )]
    pub spec_version: Option<String>,
    /// `EVENT`, `SYSTEM` or `CALLBACK`.
    #[serde(rename = "type", default, deserialize_with = "text")]
    pub kind: String,
    #[serde(default, deserialize_with = "nullable")]
    pub headers: FrameHeaders,
    /// The body as a JSON text. A frame whose `data` is an object (as the
    /// doc samples print it) is kept as that object's JSON text.
    #[serde(default, deserialize_with = "json_text")]
    pub data: String,
    /// GO's `DataFrame` carries an optional top-level `time`; no doc does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time: Option<i64>,
}

/// Frame headers: a string→string map with the names the SDKs know, plus
/// every other header kept as sent (PY keeps them as `extensions`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FrameHeaders {
    #[serde(
        rename = "appId",
        default,
        deserialize_with = "opt_text",
        skip_serializing_if = "Option::is_none"
    )]
    pub app_id: Option<String>,
    #[serde(
        rename = "connectionId",
        default,
        deserialize_with = "opt_text",
        skip_serializing_if = "Option::is_none"
    )]
    pub connection_id: Option<String>,
    #[serde(
        rename = "contentType",
        default,
        deserialize_with = "opt_text",
        skip_serializing_if = "Option::is_none"
    )]
    pub content_type: Option<String>,
    #[serde(
        rename = "messageId",
        default,
        deserialize_with = "opt_text",
        skip_serializing_if = "Option::is_none"
    )]
    pub message_id: Option<String>,
    /// Milliseconds since the epoch, as a string.
    #[serde(
        default,
        deserialize_with = "opt_text",
        skip_serializing_if = "Option::is_none"
    )]
    pub time: Option<String>,
    /// `"*"` or `"dingTalk"` on events, the command on SYSTEM frames. Never
    /// route events on it (protocol §1.3).
    #[serde(
        default,
        deserialize_with = "opt_text",
        skip_serializing_if = "Option::is_none"
    )]
    pub topic: Option<String>,
    #[serde(
        rename = "eventType",
        default,
        deserialize_with = "opt_text",
        skip_serializing_if = "Option::is_none"
    )]
    pub event_type: Option<String>,
    #[serde(
        rename = "eventId",
        default,
        deserialize_with = "opt_text",
        skip_serializing_if = "Option::is_none"
    )]
    pub event_id: Option<String>,
    #[serde(
        rename = "eventCorpId",
        default,
        deserialize_with = "opt_text",
        skip_serializing_if = "Option::is_none"
    )]
    pub event_corp_id: Option<String>,
    /// Milliseconds since the epoch, as a string.
    #[serde(
        rename = "eventBornTime",
        default,
        deserialize_with = "opt_text",
        skip_serializing_if = "Option::is_none"
    )]
    pub event_born_time: Option<String>,
    #[serde(
        rename = "eventUnifiedAppId",
        default,
        deserialize_with = "opt_text",
        skip_serializing_if = "Option::is_none"
    )]
    pub event_unified_app_id: Option<String>,
    /// Every header not named above, as sent.
    #[serde(flatten)]
    pub other: BTreeMap<String, Value>,
}

/// The client's answer to a frame: `{code, headers, message, data}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamAck {
    /// 200 success, 404 topic not present, 500 internal error.
    pub code: u16,
    pub headers: AckHeaders,
    pub message: String,
    /// JSON inside a string, like a frame's `data`.
    pub data: String,
}

/// Both reply headers are required (protocol §1.4).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AckHeaders {
    #[serde(rename = "contentType")]
    pub content_type: String,
    #[serde(rename = "messageId")]
    pub message_id: String,
}

/// The `data` of an EVENT ACK: `status` is `SUCCESS` (consumed) or `LATER`
/// (redeliver).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventAckStatus {
    pub status: String,
    pub message: String,
}

// ---------------------------------------------------------------------------
// HTTP callbacks (protocol §3).

/// The POST body of an HTTP callback.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallbackBody {
    pub encrypt: String,
}

/// The callback's query. DingTalk has used two spellings of the signature and
/// of the timestamp; the CRYPTO README takes `msg_signature`, else
/// `signature`, and `timeStamp`, else `timestamp`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallbackQuery {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub msg_signature: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature: Option<String>,
    #[serde(rename = "timeStamp", default, skip_serializing_if = "Option::is_none")]
    pub time_stamp: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nonce: Option<String>,
}

impl CallbackQuery {
    /// Reads the query from `(name, value)` pairs, already percent-decoded.
    /// The first occurrence of a name wins; later ones cannot help a forger,
    /// because whatever is picked must still produce the right signature.
    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        let mut query = CallbackQuery::default();
        for (name, value) in pairs {
            let slot = match name {
                "msg_signature" => &mut query.msg_signature,
                "signature" => &mut query.signature,
                "timeStamp" => &mut query.time_stamp,
                "timestamp" => &mut query.timestamp,
                "nonce" => &mut query.nonce,
                _ => continue,
            };
            if slot.is_none() {
                *slot = Some(value.to_owned());
            }
        }
        query
    }

    /// `msg_signature`, else `signature`.
    pub fn signature(&self) -> Option<&str> {
        self.msg_signature.as_deref().or(self.signature.as_deref())
    }

    /// `timeStamp`, else `timestamp`.
    pub fn timestamp(&self) -> Option<&str> {
        self.time_stamp.as_deref().or(self.timestamp.as_deref())
    }

    pub fn nonce(&self) -> Option<&str> {
        self.nonce.as_deref()
    }
}

/// The answer to every accepted callback: the word `success`, encrypted and
/// signed. The field names are exactly these; DingTalk's console reports
/// "HTTP请求结果校验返回字段值失败" when one is off.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SuccessReply {
    pub msg_signature: String,
    #[serde(rename = "timeStamp")]
    pub time_stamp: String,
    pub nonce: String,
    pub encrypt: String,
}

/// The envelope fields of a decrypted HTTP callback; the body's own fields
/// sit beside them at the top level.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct CallbackEnvelope {
    #[serde(rename = "EventType", default, deserialize_with = "opt_text")]
    pub event_type: Option<String>,
    /// Milliseconds since the epoch.
    #[serde(rename = "EventTime", default, deserialize_with = "opt_i64")]
    pub event_time: Option<i64>,
    #[serde(rename = "CorpId", default, deserialize_with = "opt_text")]
    pub corp_id: Option<String>,
    /// "Meaningless, used for idempotency" (protocol §2).
    #[serde(rename = "BizId", default, deserialize_with = "opt_text")]
    pub biz_id: Option<String>,
    #[serde(rename = "eventId", default, deserialize_with = "opt_text")]
    pub event_id: Option<String>,
}

// ---------------------------------------------------------------------------
// Event bodies (protocol §2). Over Stream they are the frame's `data`; over
// HTTP they are the decrypted object, envelope fields included.

/// `attendance_check_record`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct CheckRecordEvent {
    /// Current docs say `dataList`; old HTTP payloads say `DataList`.
    #[serde(rename = "dataList", alias = "DataList", default)]
    pub data_list: Option<Vec<CheckRecord>>,
}

/// One punch: an item of `attendance_check_record.dataList`, and equally a
/// `recordresult` item of `/attendance/listRecord`, whose extra fields
/// (`sourceType`, `isLegal`, `userAccuracy`, ...) are the optional ones here.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CheckRecord {
    #[serde(default, deserialize_with = "text")]
    pub user_id: String,
    /// Milliseconds since the epoch.
    #[serde(default, deserialize_with = "opt_i64")]
    pub check_time: Option<i64>,
    #[serde(default, deserialize_with = "text")]
    pub corp_id: String,
    #[serde(default, deserialize_with = "text")]
    pub group_id: String,
    #[serde(default, deserialize_with = "text")]
    pub biz_id: String,
    /// `/attendance/listRecord`'s record id; the event carries none.
    #[serde(default, deserialize_with = "text")]
    pub record_id: String,
    #[serde(default, deserialize_with = "text")]
    pub address: String,
    /// `listRecord` calls the place `userAddress` (the device name for ATM).
    #[serde(default, deserialize_with = "text")]
    pub user_address: String,
    #[serde(default, alias = "userLatitude", deserialize_with = "opt_f64")]
    pub latitude: Option<f64>,
    #[serde(default, alias = "userLongitude", deserialize_with = "opt_f64")]
    pub longitude: Option<f64>,
    /// Metres.
    #[serde(default, deserialize_with = "opt_f64")]
    pub user_accuracy: Option<f64>,
    /// `Normal` (on-site) or `Outside` (field punch).
    #[serde(default, deserialize_with = "text")]
    pub location_result: String,
    /// `MAP`, `WIFI`, `ATM`; `OTHER` seen on supplementary punches.
    #[serde(default, deserialize_with = "text")]
    pub location_method: String,
    #[serde(rename = "deviceSN", default, deserialize_with = "text")]
    pub device_sn: String,
    #[serde(default, deserialize_with = "text")]
    pub device_id: String,
    #[serde(default, deserialize_with = "text")]
    pub device_name: String,
    #[serde(default, deserialize_with = "text")]
    pub user_ssid: String,
    #[serde(default, deserialize_with = "text")]
    pub user_mac_addr: String,
    /// `false` = a system replay, e.g. after re-scheduling.
    #[serde(default, deserialize_with = "opt_bool")]
    pub check_by_user: Option<bool>,
    /// `listRecord` only: USER, BOSS, APPROVE, SYSTEM, AUTO_CHECK, ATM,
    /// DING_ATM, BEACON.
    #[serde(default, deserialize_with = "text")]
    pub source_type: String,
    /// `listRecord` only: `Y` when time and location results are both Normal.
    #[serde(default, deserialize_with = "text")]
    pub is_legal: String,
    /// `listRecord` only: `Security` or `Other` for invalid punches.
    #[serde(default, deserialize_with = "text")]
    pub invalid_record_type: String,
    #[serde(default, deserialize_with = "text")]
    pub invalid_record_msg: String,
    #[serde(default, deserialize_with = "text")]
    pub outside_remark: String,
    /// One URL as a string (plain HTTP only); a list is tolerated.
    #[serde(default, deserialize_with = "string_or_list")]
    pub photo_url: Vec<String>,
}

/// `attendance_overtime_duration`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct OvertimeDurationEvent {
    #[serde(rename = "dataList", alias = "DataList", default)]
    pub data_list: Option<Vec<OvertimeDuration>>,
}

/// One employee-day of overtime converted to compensatory leave.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OvertimeDuration {
    #[serde(default, deserialize_with = "opt_i64")]
    pub work_hours_per_day: Option<i64>,
    #[serde(default, deserialize_with = "opt_i64")]
    pub work_minutes_per_day: Option<i64>,
    /// `workDay`, `restDay` or `holiday`.
    #[serde(default, deserialize_with = "text")]
    pub overtime_day_type: String,
    /// Days (an int in the table; a fraction is tolerated).
    #[serde(default, deserialize_with = "opt_f64")]
    pub overtime_day: Option<f64>,
    /// Hours.
    #[serde(default, deserialize_with = "opt_f64")]
    pub overtime_hour: Option<f64>,
    /// Midnight of the work day, milliseconds since the epoch.
    #[serde(default, deserialize_with = "opt_i64")]
    pub work_date: Option<i64>,
    #[serde(default, alias = "corpid", deserialize_with = "text")]
    pub corp_id: String,
    /// Lower-case `id` in this event only; `userId` tolerated.
    #[serde(default, alias = "userId", deserialize_with = "text")]
    pub userid: String,
    /// `add` or `modify`.
    #[serde(default, deserialize_with = "text")]
    pub action: String,
    #[serde(default, deserialize_with = "opt_f64")]
    pub vacation_rate: Option<f64>,
    /// `corp;user;yyyyMMdd`, unique per employee-day.
    #[serde(default, deserialize_with = "text")]
    pub key: String,
    #[serde(default, deserialize_with = "opt_i64")]
    pub timestamp: Option<i64>,
}

/// `attendance_approve_status_change`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApproveStatusChange {
    #[serde(default, alias = "corpid", deserialize_with = "text")]
    pub corp_id: String,
    #[serde(default, deserialize_with = "text")]
    pub process_instance_id: String,
    #[serde(default, deserialize_with = "text")]
    pub main_process_instance_id: String,
    #[serde(default, deserialize_with = "text")]
    pub process_code: String,
    /// `LEAVE`, `OVERTIME`, `TRAVEL`, `OUT`.
    #[serde(default, deserialize_with = "text")]
    pub approve_type: String,
    /// `start`, `finish`, `terminate`, `delete`.
    #[serde(default, deserialize_with = "text")]
    pub status: String,
    /// Not in the documented fields; taken when a payload carries one.
    #[serde(
        default,
        alias = "userid",
        alias = "staffId",
        deserialize_with = "text"
    )]
    pub user_id: String,
}

/// `bpms_instance_change` and `bpms_task_change`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BpmsChange {
    #[serde(default, deserialize_with = "text")]
    pub process_instance_id: String,
    #[serde(default, deserialize_with = "text")]
    pub process_code: String,
    /// `attendance.supply`, `attendance.batchovertime`, ...; absent on old
    /// HTTP payloads and on non-attendance processes.
    #[serde(default, deserialize_with = "text")]
    pub biz_category_id: String,
    #[serde(default, deserialize_with = "text")]
    pub business_id: String,
    #[serde(default, deserialize_with = "opt_i64")]
    pub create_time: Option<i64>,
    #[serde(default, deserialize_with = "opt_i64")]
    pub finish_time: Option<i64>,
    /// Instance: `start`, `finish`, `terminate`, `delete`. Task: `start`,
    /// `finish`, `cancel`, `comment`.
    #[serde(rename = "type", default, deserialize_with = "text")]
    pub kind: String,
    /// `agree`, `refuse` (task also `redirect`, `audit`); absent on terminate.
    #[serde(default, deserialize_with = "text")]
    pub result: String,
    #[serde(default, deserialize_with = "text")]
    pub title: String,
    #[serde(default, deserialize_with = "text")]
    pub business_type: String,
    #[serde(default, deserialize_with = "text")]
    pub url: String,
    /// Instance: the originator. Task: the approver.
    #[serde(default, deserialize_with = "text")]
    pub staff_id: String,
    /// Task only.
    #[serde(default, deserialize_with = "text")]
    pub task_id: String,
    /// Task only: the approver's comment.
    #[serde(default, deserialize_with = "text")]
    pub remark: String,
    #[serde(default, alias = "corpid", deserialize_with = "text")]
    pub corp_id: String,
}

/// `attend_bossCheck_change`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BossCheckChange {
    /// `"2020-11-10 00:00:00"` in the doc sample.
    #[serde(default, deserialize_with = "text")]
    pub work_date: String,
    /// `attend_bossCheck_update` seen.
    #[serde(default, deserialize_with = "text")]
    pub action: String,
    #[serde(default, deserialize_with = "text")]
    pub plan_id: String,
    #[serde(default, alias = "userid", deserialize_with = "text")]
    pub user_id: String,
}

/// `attend_user_daily_summary_refresh`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DailySummaryRefresh {
    /// `"2023-12-12"` in the doc sample.
    #[serde(default, deserialize_with = "text")]
    pub work_date: String,
    #[serde(default, alias = "userid", deserialize_with = "text")]
    pub user_id: String,
}

// ---------------------------------------------------------------------------
// Pull responses (protocol §4, §5), for the API client.

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

// ---------------------------------------------------------------------------
// Lenient field readers.

/// `null` reads as the type's default, so a field DingTalk nulls out is
/// treated like one it left out.
fn nullable<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}

/// A scalar as text: ids arrive as numbers in one sample and strings in the
/// next (`record_id`, `groupId`, `planId`).
fn scalar_text(value: Value) -> Result<Option<String>, String> {
    match value {
        Value::Null => Ok(None),
        Value::String(s) => Ok(Some(s)),
        Value::Number(n) => Ok(Some(n.to_string())),
        Value::Bool(b) => Ok(Some(b.to_string())),
        other => Err(format!("expected a string, found {}", kind_of(&other))),
    }
}

fn text<'de, D: Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    Ok(opt_text(deserializer)?.unwrap_or_default())
}

fn opt_text<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<String>, D::Error> {
    scalar_text(Value::deserialize(deserializer)?).map_err(serde::de::Error::custom)
}

/// An integer, or a string of ASCII digits with an optional leading minus.
fn opt_i64<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<i64>, D::Error> {
    match Value::deserialize(deserializer)? {
        Value::Null => Ok(None),
        Value::Number(n) => n
            .as_i64()
            .map(Some)
            .ok_or_else(|| serde::de::Error::custom(format_args!("{n} is not an integer"))),
        Value::String(s) if s.is_empty() => Ok(None),
        Value::String(s) => parse_i64(&s)
            .map(Some)
            .ok_or_else(|| serde::de::Error::custom(format_args!("{s:?} is not an integer"))),
        other => Err(serde::de::Error::custom(format_args!(
            "expected an integer, found {}",
            kind_of(&other)
        ))),
    }
}

/// Strict integer text: `"+3"`, `" 3"` and `"3.0"` are not integers.
pub(crate) fn parse_i64(text: &str) -> Option<i64> {
    let digits = text.strip_prefix('-').unwrap_or(text);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

/// A number, or a string holding one (`"15.0"`, `"30.286036"`).
fn opt_f64<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<f64>, D::Error> {
    match Value::deserialize(deserializer)? {
        Value::Null => Ok(None),
        Value::Number(n) => Ok(n.as_f64()),
        Value::String(s) if s.trim().is_empty() => Ok(None),
        Value::String(s) => s
            .trim()
            .parse::<f64>()
            .ok()
            .filter(|f| f.is_finite())
            .map(Some)
            .ok_or_else(|| serde::de::Error::custom(format_args!("{s:?} is not a number"))),
        other => Err(serde::de::Error::custom(format_args!(
            "expected a number, found {}",
            kind_of(&other)
        ))),
    }
}

/// A boolean, or `"true"` / `"false"`.
fn opt_bool<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<bool>, D::Error> {
    match Value::deserialize(deserializer)? {
        Value::Null => Ok(None),
        Value::Bool(b) => Ok(Some(b)),
        Value::String(s) if s == "true" => Ok(Some(true)),
        Value::String(s) if s == "false" => Ok(Some(false)),
        other => Err(serde::de::Error::custom(format_args!(
            "expected a boolean, found {other}"
        ))),
    }
}

/// One string or a list of them; empty strings are dropped.
fn string_or_list<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<String>, D::Error> {
    match Value::deserialize(deserializer)? {
        Value::Null => Ok(Vec::new()),
        Value::String(s) if s.is_empty() => Ok(Vec::new()),
        Value::String(s) => Ok(vec![s]),
        Value::Array(items) => items
            .into_iter()
            .map(|item| match item {
                Value::String(s) => Ok(s),
                other => Err(serde::de::Error::custom(format_args!(
                    "expected a string, found {}",
                    kind_of(&other)
                ))),
            })
            .filter(|item| !matches!(item, Ok(s) if s.is_empty()))
            .collect(),
        other => Err(serde::de::Error::custom(format_args!(
            "expected a string or a list, found {}",
            kind_of(&other)
        ))),
    }
}

/// JSON carried as text: a string is kept verbatim, any other value is kept
/// as its JSON text, `null` as empty.
fn json_text<'de, D: Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    Ok(match Value::deserialize(deserializer)? {
        Value::Null => String::new(),
        Value::String(s) => s,
        other => other.to_string(),
    })
}

pub(crate) fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn frame_headers_keep_unknown_names_and_read_numbers_as_text() {
        let frame: StreamFrame = serde_json::from_value(json!({
            "specVersion": "1.0",
            "type": "EVENT",
            "headers": {"messageId": "m", "time": 1693221579964_i64, "x-new": "kept"},
            "data": {"a": 1}
        }))
        .unwrap();
        assert_eq!(frame.headers.message_id.as_deref(), Some("m"));
        assert_eq!(frame.headers.time.as_deref(), Some("1693221579964"));
        assert_eq!(frame.headers.other.get("x-new"), Some(&json!("kept")));
        assert_eq!(frame.data, r#"{"a":1}"#);
        assert_eq!(frame.spec_version.as_deref(), Some("1.0"));
    }

    #[test]
    fn the_query_takes_the_first_of_each_spelling() {
        let query = CallbackQuery::from_pairs([
            ("signature", "s-old"),
            ("timestamp", "t-old"),
            ("nonce", "n"),
            ("nonce", "n2"),
            ("other", "x"),
        ]);
        assert_eq!(query.signature(), Some("s-old"));
        assert_eq!(query.timestamp(), Some("t-old"));
        assert_eq!(query.nonce(), Some("n"));

        let both = CallbackQuery::from_pairs([
            ("signature", "s-old"),
            ("msg_signature", "s-new"),
            ("timestamp", "t-old"),
            ("timeStamp", "t-new"),
        ]);
        assert_eq!(both.signature(), Some("s-new"));
        assert_eq!(both.timestamp(), Some("t-new"));
        assert_eq!(both.nonce(), None);
    }

    #[test]
    fn check_records_read_both_list_spellings_and_lenient_numbers() {
        let upper: CheckRecordEvent = serde_json::from_value(json!({
            "DataList": [{"userId": "u", "checkTime": "1611793083000", "latitude": "30.5",
                          "userAccuracy": "15.0", "checkByUser": "true", "groupId": 42}]
        }))
        .unwrap();
        let record = &upper.data_list.unwrap()[0];
        assert_eq!(record.check_time, Some(1_611_793_083_000));
        assert_eq!(record.latitude, Some(30.5));
        assert_eq!(record.user_accuracy, Some(15.0));
        assert_eq!(record.check_by_user, Some(true));
        assert_eq!(record.group_id, "42");

        let lower: CheckRecordEvent = serde_json::from_value(json!({"dataList": []})).unwrap();
        assert_eq!(lower.data_list, Some(Vec::new()));

        let neither: CheckRecordEvent = serde_json::from_value(json!({"x": 1})).unwrap();
        assert_eq!(neither.data_list, None);

        for garbled in [
            json!({"dataList": [{"checkTime": "soon"}]}),
            json!({"dataList": [{"checkTime": 1.5}]}),
            json!({"dataList": [{"latitude": "north"}]}),
            json!({"dataList": [{"userId": {"a": 1}}]}),
            json!({"dataList": {"userId": "u"}}),
        ] {
            assert!(
                serde_json::from_value::<CheckRecordEvent>(garbled.clone()).is_err(),
                "{garbled}"
            );
        }
    }

    #[test]
    fn photo_url_is_one_string_or_a_list() {
        let one: CheckRecord = serde_json::from_value(json!({"photoUrl": "http://p/1"})).unwrap();
        assert_eq!(one.photo_url, vec!["http://p/1"]);
        let many: CheckRecord =
            serde_json::from_value(json!({"photoUrl": ["http://p/1", "", "http://p/2"]})).unwrap();
        assert_eq!(many.photo_url, vec!["http://p/1", "http://p/2"]);
        let none: CheckRecord = serde_json::from_value(json!({"photoUrl": ""})).unwrap();
        assert!(none.photo_url.is_empty());
    }

    #[test]
    fn integers_are_strict() {
        assert_eq!(parse_i64("-3"), Some(-3));
        assert_eq!(parse_i64("+3"), None);
        assert_eq!(parse_i64(" 3"), None);
        assert_eq!(parse_i64("3.0"), None);
        assert_eq!(parse_i64(""), None);
        assert_eq!(parse_i64("-"), None);
    }

    #[test]
    fn failed_items_read_both_shapes() {
        let tagged: FailedItem = serde_json::from_value(json!({
            "bpms_instance_change": {"bpmsCallBackData": {"processInstanceId": "p"}, "corpid": "c"},
            "call_back_tag": "bpms_instance_change",
            "event_time": 1606126433000_i64
        }))
        .unwrap();
        assert_eq!(tagged.corp_id(), Some("c"));
        assert_eq!(tagged.payload().unwrap(), json!({"processInstanceId": "p"}));

        let bare: FailedItem = serde_json::from_value(json!({
            "user_add_org": {"userid": ["zhangsan"], "corpid": "c"},
            "call_back_tag": "user_add_org"
        }))
        .unwrap();
        assert_eq!(
            bare.payload().unwrap(),
            json!({"userid": ["zhangsan"], "corpid": "c"})
        );

        let flat: FailedItem = serde_json::from_value(json!({
            "call_back_tag": "attendance_check_record",
            "corpid": "c2",
            "callbackData": "{\"dataList\":[]}"
        }))
        .unwrap();
        assert_eq!(flat.corp_id(), Some("c2"));
        assert_eq!(flat.payload().unwrap(), json!({"dataList": []}));

        let broken: FailedItem = serde_json::from_value(json!({
            "call_back_tag": "x", "callbackData": "{not json"
        }))
        .unwrap();
        assert!(broken.payload().is_err());
        let empty: FailedItem = serde_json::from_value(json!({"call_back_tag": "x"})).unwrap();
        assert!(empty.payload().is_err());
    }
}
