//! Event bodies (protocol §2). Over Stream they are the frame's `data`; over
//! HTTP they are the decrypted object, envelope fields included.

use serde::Deserialize;

use super::lenient::{opt_bool, opt_f64, opt_i64, string_or_list, text};

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
