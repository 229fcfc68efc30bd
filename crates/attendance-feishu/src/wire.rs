//! Serde mirrors of what Feishu sends: the envelopes (schema 2.0, schema 1.0,
//! challenge, encrypted wrapper), the two attendance event bodies and the
//! attendance-adjacent approval event bodies.
//!
//! The mirrors are lenient where Feishu's own documents disagree with its
//! examples (numbers sent as strings and back, `null` for empty lists) and
//! strict nowhere else: deciding what is required is translation's job.

use attendance_adapter_kit::lenient::{kind_of, nullable, parse_strict_i64};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

/// The event type of a punch flow (打卡流水).
pub const USER_FLOW_CREATED_V1: &str = "attendance.user_flow.created_v1";
/// The event type of a change of a day's punch results (用户任务状态变更).
pub const USER_TASK_UPDATED_V1: &str = "attendance.user_task.updated_v1";
/// The top-level `type` of the URL-verification handshake.
pub const URL_VERIFICATION: &str = "url_verification";

// Approval events of schema 1.0, named by `event.type` (protocol notes §3.3).
// Each approved form is pushed once the approval instance is approved; the
// `_revert` forms when an approved instance is revoked (通过并撤销).

/// A leave (请假) approval was approved.
pub const LEAVE_APPROVAL_V2: &str = "leave_approvalV2";
/// An approved leave approval was revoked.
pub const LEAVE_APPROVAL_REVERT: &str = "leave_approval_revert";
/// An overtime (加班) approval was approved.
pub const WORK_APPROVAL: &str = "work_approval";
/// An approved overtime approval was revoked.
pub const WORK_APPROVAL_REVERT: &str = "work_approval_revert";
/// A punch correction (补卡) approval was approved.
pub const REMEDY_APPROVAL: &str = "remedy_approval";
/// A business trip (出差) approval was approved.
pub const TRIP_APPROVAL: &str = "trip_approval";
/// A going-out (外出) approval was approved.
pub const OUT_APPROVAL: &str = "out_approval";
/// An approved going-out approval was revoked.
pub const OUT_APPROVAL_REVERT: &str = "out_approval_revert";
/// A shift swap (换班) approval was approved.
pub const SHIFT_APPROVAL: &str = "shift_approval";
/// Schema 2.0: a punch correction approval (补卡控件组) changed status.
pub const REMEDY_GROUP_UPDATE_V4: &str = "approval.instance.remedy_group_update_v4";

/// The body when an Encrypt Key is configured: `{"encrypt":"<base64>"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Encrypted {
    pub encrypt: String,
}

/// A verification token as it arrives in an envelope. It is a credential, so
/// `Debug` never shows it.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Token(pub String);

impl Token {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("**REDACTED**")
    }
}

/// Every field any envelope may carry, all optional, so one parse tells the
/// kinds apart the way the official SDKs do (GO `EventFuzzy`): the challenge
/// `{challenge, token, type:"url_verification"}`, schema 2.0
/// `{schema, header, event}`, schema 1.0 `{ts, uuid, token, type, event}` and
/// the encrypted wrapper `{encrypt}`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct FuzzyEnvelope {
    #[serde(default, deserialize_with = "lenient_string")]
    pub encrypt: Option<String>,
    #[serde(default, deserialize_with = "lenient_string")]
    pub schema: Option<String>,
    #[serde(default)]
    pub header: Option<HeaderV2>,
    #[serde(default)]
    pub token: Option<Token>,
    #[serde(rename = "type", default, deserialize_with = "lenient_string")]
    pub kind: Option<String>,
    #[serde(default, deserialize_with = "lenient_string")]
    pub challenge: Option<String>,
    #[serde(default, deserialize_with = "lenient_string")]
    pub uuid: Option<String>,
    #[serde(default, deserialize_with = "lenient_string")]
    pub ts: Option<String>,
    #[serde(default)]
    pub event: Option<Value>,
}

/// The schema 2.0 `header`. Feishu sends every field as a string.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct HeaderV2 {
    #[serde(default, deserialize_with = "lenient_string")]
    pub event_id: Option<String>,
    #[serde(default, deserialize_with = "lenient_string")]
    pub event_type: Option<String>,
    /// Milliseconds since the epoch, as a string.
    #[serde(default, deserialize_with = "lenient_string")]
    pub create_time: Option<String>,
    #[serde(default)]
    pub token: Option<Token>,
    #[serde(default, deserialize_with = "lenient_string")]
    pub app_id: Option<String>,
    #[serde(default, deserialize_with = "lenient_string")]
    pub tenant_key: Option<String>,
}

/// A classified, verified envelope.
#[derive(Debug, Clone, PartialEq)]
pub enum Envelope {
    /// `{"schema":"2.0","header":{..},"event":{..}}`.
    V2 {
        schema: String,
        header: HeaderV2,
        event: Value,
    },
    /// `{"ts":..,"uuid":..,"token":..,"type":"event_callback","event":{"type":..}}`.
    V1 {
        ts: Option<String>,
        uuid: String,
        kind: Option<String>,
        event: Value,
    },
}

impl Envelope {
    /// The `event` object, `Null` when the envelope had none.
    pub fn event(&self) -> &Value {
        match self {
            Envelope::V2 { event, .. } | Envelope::V1 { event, .. } => event,
        }
    }
}

/// Body of `attendance.user_flow.created_v1`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct UserFlowCreated {
    #[serde(default, deserialize_with = "nullable")]
    pub employee_id: String,
    #[serde(default, deserialize_with = "nullable")]
    pub employee_no: String,
    #[serde(default, deserialize_with = "nullable")]
    pub location_name: String,
    /// Seconds since the epoch; a string on the wire, a number tolerated.
    #[serde(default)]
    pub check_time: Option<IntOrString>,
    #[serde(default, deserialize_with = "nullable")]
    pub comment: String,
    #[serde(default, deserialize_with = "nullable")]
    pub record_id: String,
    /// Documented but "not returned for now"; present in the doc example.
    #[serde(default)]
    pub longitude: Option<f64>,
    #[serde(default)]
    pub latitude: Option<f64>,
    #[serde(default, deserialize_with = "nullable")]
    pub ssid: String,
    #[serde(default, deserialize_with = "nullable")]
    pub bssid: String,
    #[serde(default, deserialize_with = "nullable")]
    pub is_field: bool,
    #[serde(default, deserialize_with = "nullable")]
    pub is_wifi: bool,
    /// 0 user … 7 import, see the protocol notes §3.1.
    #[serde(rename = "type", default)]
    pub kind: Option<IntOrString>,
    /// `null` in the doc example when there are no photos.
    #[serde(default, deserialize_with = "nullable")]
    pub photo_urls: Vec<String>,
    /// A newer field, absent from older payloads.
    #[serde(default)]
    pub risk_result: Option<IntOrString>,
}

/// Body of `attendance.user_task.updated_v1`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct UserTaskUpdated {
    /// `yyyyMMdd` as an int.
    #[serde(default)]
    pub date: Option<IntOrString>,
    #[serde(default, deserialize_with = "nullable")]
    pub employee_id: String,
    #[serde(default, deserialize_with = "nullable")]
    pub employee_no: String,
    #[serde(default, deserialize_with = "nullable")]
    pub group_id: String,
    #[serde(default, deserialize_with = "nullable")]
    pub shift_id: String,
    #[serde(default, deserialize_with = "nullable")]
    pub task_id: String,
    #[serde(default, deserialize_with = "nullable")]
    pub time_zone: String,
    #[serde(default, deserialize_with = "nullable")]
    pub status_changes: Vec<StatusChange>,
}

/// One item of `status_changes`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct StatusChange {
    #[serde(default, deserialize_with = "nullable")]
    pub before_status: String,
    #[serde(default, deserialize_with = "nullable")]
    pub before_supplement: String,
    #[serde(default, deserialize_with = "nullable")]
    pub current_status: String,
    #[serde(default, deserialize_with = "nullable")]
    pub current_supplement: String,
    /// The doc table says string, the example and NET say int.
    #[serde(default)]
    pub index: Option<IntOrString>,
    /// `on` or `off`.
    #[serde(default, deserialize_with = "nullable")]
    pub work_type: String,
}

// The approval bodies below follow the official doc pages (leave, overtime,
// out-of-office, shift-change, attendance-record-correction), the GO SDK's
// `P1*ApprovalV4Data` structs and NET's `src/Approval.Events/`. Where those
// disagree (a number in one, a string in another; `i18n_resources` as objects
// or as strings) the mirror accepts every shape seen. Times that are
// wall-clock text ("2006-01-02 15:04:05") and times that are epoch numbers
// both read as `IntOrString`; translation tells them apart. Fields that are
// not translated but worth keeping typed are mirrored as `Value`.

/// Body of `leave_approvalV2`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct LeaveApprovalV2 {
    #[serde(default, deserialize_with = "text")]
    pub instance_code: String,
    #[serde(default, deserialize_with = "text")]
    pub approval_code: String,
    /// For a leave cancellation (销假单): the instance it cancels.
    #[serde(default, deserialize_with = "text")]
    pub origin_instance_code: String,
    /// The legacy `leave_approval` form names the user so; tolerated here.
    #[serde(default, deserialize_with = "text")]
    pub employee_id: String,
    #[serde(default, deserialize_with = "text")]
    pub user_id: String,
    #[serde(default, deserialize_with = "text")]
    pub open_id: String,
    /// When the approval process started and ended, epoch seconds.
    #[serde(default)]
    pub start_time: Option<IntOrString>,
    #[serde(default)]
    pub end_time: Option<IntOrString>,
    /// The leave type, usually an `@i18n@…` key into `i18n_resources`.
    #[serde(default, deserialize_with = "text")]
    pub leave_name: String,
    /// The legacy form's leave type name; tolerated here.
    #[serde(default, deserialize_with = "text")]
    pub leave_type: String,
    /// `DAY`, `HALF_DAY`, `HOUR`, `HALF_HOUR`, `MINUTE`; the legacy form
    /// sends 1 day, 2 half day, 3 hour, 4 half hour, 5 minute.
    #[serde(default)]
    pub leave_unit: Option<IntOrString>,
    /// Wall-clock text in the tenant's zone.
    #[serde(default)]
    pub leave_start_time: Option<IntOrString>,
    #[serde(default)]
    pub leave_end_time: Option<IntOrString>,
    /// Seconds.
    #[serde(default)]
    pub leave_interval: Option<IntOrString>,
    #[serde(default, deserialize_with = "text")]
    pub leave_reason: String,
    /// `[[start, end], …]`, or the same as one string in the doc example.
    #[serde(default)]
    pub leave_detail: Value,
    #[serde(default)]
    pub leave_range: Value,
    /// Objects `{is_default, locale, texts}` (GO, NET), or strings (doc).
    #[serde(default)]
    pub i18n_resources: Value,
}

/// Body of `work_approval` (overtime).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct WorkApproval {
    #[serde(default, deserialize_with = "text")]
    pub instance_code: String,
    #[serde(default, deserialize_with = "text")]
    pub approval_code: String,
    /// The submitter's user_id.
    #[serde(default, deserialize_with = "text")]
    pub employee_id: String,
    #[serde(default, deserialize_with = "text")]
    pub user_id: String,
    #[serde(default, deserialize_with = "text")]
    pub open_id: String,
    #[serde(default)]
    pub start_time: Option<IntOrString>,
    #[serde(default)]
    pub end_time: Option<IntOrString>,
    #[serde(default, deserialize_with = "text")]
    pub work_type: String,
    /// Wall-clock text in the tenant's zone.
    #[serde(default)]
    pub work_start_time: Option<IntOrString>,
    #[serde(default)]
    pub work_end_time: Option<IntOrString>,
    /// Seconds.
    #[serde(default)]
    pub work_interval: Option<IntOrString>,
    #[serde(default, deserialize_with = "text")]
    pub work_reason: String,
    /// 1 when the overtime has several time ranges, listed in `time_range`.
    #[serde(default)]
    pub allow_multi_time_range: Option<IntOrString>,
    #[serde(default, deserialize_with = "nullable")]
    pub time_range: Vec<WorkTimeRange>,
    /// Per-day detail `{start, end, rule_associated, interval}`.
    #[serde(default)]
    pub work_detail: Value,
}

/// One item of `work_approval.time_range`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct WorkTimeRange {
    #[serde(default)]
    pub work_start_time: Option<IntOrString>,
    #[serde(default)]
    pub work_end_time: Option<IntOrString>,
}

/// Body of `remedy_approval` (punch correction).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct RemedyApproval {
    #[serde(default, deserialize_with = "text")]
    pub instance_code: String,
    #[serde(default, deserialize_with = "text")]
    pub employee_id: String,
    #[serde(default, deserialize_with = "text")]
    pub user_id: String,
    #[serde(default, deserialize_with = "text")]
    pub open_id: String,
    #[serde(default)]
    pub start_time: Option<IntOrString>,
    #[serde(default)]
    pub end_time: Option<IntOrString>,
    /// The punch being corrected: wall-clock text in the tenant's zone (a
    /// string in GO's `P1RemedyApprovalV4Data`).
    #[serde(default)]
    pub remedy_time: Option<IntOrString>,
    #[serde(default, deserialize_with = "text")]
    pub remedy_reason: String,
}

/// Body of `trip_approval` (business trip).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct TripApproval {
    #[serde(default, deserialize_with = "text")]
    pub instance_code: String,
    #[serde(default, deserialize_with = "text")]
    pub employee_id: String,
    #[serde(default, deserialize_with = "text")]
    pub user_id: String,
    #[serde(default, deserialize_with = "text")]
    pub open_id: String,
    #[serde(default)]
    pub start_time: Option<IntOrString>,
    #[serde(default)]
    pub end_time: Option<IntOrString>,
    #[serde(default, deserialize_with = "nullable")]
    pub schedules: Vec<TripSchedule>,
    /// The whole trip, seconds.
    #[serde(default)]
    pub trip_interval: Option<IntOrString>,
    #[serde(default, deserialize_with = "text")]
    pub trip_reason: String,
    /// Ids as strings (v1), or `{id:{…}}` objects (the 2.0 form).
    #[serde(default)]
    pub trip_peers: Value,
}

/// One leg of a business trip.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct TripSchedule {
    /// Wall-clock text in the tenant's zone.
    #[serde(default)]
    pub trip_start_time: Option<IntOrString>,
    #[serde(default)]
    pub trip_end_time: Option<IntOrString>,
    /// Seconds; a number in v1, a string in the 2.0 doc example.
    #[serde(default)]
    pub trip_interval: Option<IntOrString>,
    #[serde(default, deserialize_with = "text")]
    pub departure: String,
    #[serde(default, deserialize_with = "text")]
    pub destination: String,
    #[serde(default, deserialize_with = "text")]
    pub transportation: String,
    /// 单程 (one way) or 往返 (round trip).
    #[serde(default, deserialize_with = "text")]
    pub trip_type: String,
    #[serde(default, deserialize_with = "text")]
    pub remark: String,
}

/// Body of `out_approval` (going out).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct OutApproval {
    #[serde(default, deserialize_with = "text")]
    pub instance_code: String,
    #[serde(default, deserialize_with = "text")]
    pub approval_code: String,
    #[serde(default, deserialize_with = "text")]
    pub employee_id: String,
    #[serde(default, deserialize_with = "text")]
    pub user_id: String,
    #[serde(default, deserialize_with = "text")]
    pub open_id: String,
    #[serde(default)]
    pub start_time: Option<IntOrString>,
    #[serde(default)]
    pub end_time: Option<IntOrString>,
    /// Wall-clock text in the tenant's zone.
    #[serde(default)]
    pub out_start_time: Option<IntOrString>,
    #[serde(default)]
    pub out_end_time: Option<IntOrString>,
    /// Seconds.
    #[serde(default)]
    pub out_interval: Option<IntOrString>,
    /// `HOUR`, `DAY`, `HALF_DAY` (the doc table spells it `HALR_DAY`).
    #[serde(default)]
    pub out_unit: Option<IntOrString>,
    /// The going-out type, an `@i18n@…` key into `i18n_resources`.
    #[serde(default, deserialize_with = "text")]
    pub out_name: String,
    #[serde(default, deserialize_with = "text")]
    pub out_reason: String,
    #[serde(default, deserialize_with = "text")]
    pub out_image: String,
    #[serde(default)]
    pub i18n_resources: Value,
}

/// Body of `shift_approval` (shift swap).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct ShiftApproval {
    #[serde(default, deserialize_with = "text")]
    pub instance_code: String,
    #[serde(default, deserialize_with = "text")]
    pub approval_code: String,
    #[serde(default, deserialize_with = "text")]
    pub employee_id: String,
    #[serde(default, deserialize_with = "text")]
    pub user_id: String,
    #[serde(default, deserialize_with = "text")]
    pub open_id: String,
    #[serde(default)]
    pub start_time: Option<IntOrString>,
    #[serde(default)]
    pub end_time: Option<IntOrString>,
    /// When the swapped shift is worked, wall-clock text.
    #[serde(default)]
    pub shift_time: Option<IntOrString>,
    /// When the shift is given back, wall-clock text.
    #[serde(default)]
    pub return_time: Option<IntOrString>,
    #[serde(default, deserialize_with = "text")]
    pub shift_reason: String,
}

/// Body of `leave_approval_revert`, `work_approval_revert` and
/// `out_approval_revert`: the instance and when it was revoked, nothing more.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct ApprovalRevert {
    #[serde(default, deserialize_with = "text")]
    pub instance_code: String,
    #[serde(default, deserialize_with = "text")]
    pub approval_code: String,
    /// Epoch seconds; the doc tables say string, their examples a number.
    #[serde(default)]
    pub operate_time: Option<IntOrString>,
    /// Not in any source; kept as the original status should Feishu add it.
    #[serde(default, deserialize_with = "text")]
    pub status: String,
}

/// The `event` of `approval.instance.remedy_group_update_v4` (schema 2.0).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct RemedyGroupUpdate {
    #[serde(default)]
    pub object: Option<RemedyGroupObject>,
}

/// `event.object` of `approval.instance.remedy_group_update_v4`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct RemedyGroupObject {
    #[serde(default, deserialize_with = "text")]
    pub instance_code: String,
    /// The submitter's user_id.
    #[serde(default, deserialize_with = "text")]
    pub employee_id: String,
    #[serde(default)]
    pub start_time: Option<IntOrString>,
    #[serde(default)]
    pub end_time: Option<IntOrString>,
    /// Epoch milliseconds by the doc table and NET (`long`); the doc example
    /// shows a value the size of seconds.
    #[serde(default)]
    pub remedy_time: Option<IntOrString>,
    #[serde(default, deserialize_with = "text")]
    pub remedy_reason: String,
    /// `APPROVED` when approved; other approval states are possible.
    #[serde(default, deserialize_with = "text")]
    pub status: String,
    /// Always `remedy_approval_v2`.
    #[serde(rename = "type", default, deserialize_with = "text")]
    pub kind: String,
}

/// A number Feishu sometimes sends as a JSON number and sometimes as a string.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(untagged)]
pub enum IntOrString {
    Int(i64),
    String(String),
}

impl IntOrString {
    /// The integer, if the value is one (a string must be only ASCII digits
    /// with an optional leading minus).
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            IntOrString::Int(n) => Some(*n),
            IntOrString::String(s) => parse_strict_i64(s),
        }
    }

    /// The value as it appeared, for error messages and `*_original` fields.
    pub fn original(&self) -> String {
        match self {
            IntOrString::Int(n) => n.to_string(),
            IntOrString::String(s) => s.clone(),
        }
    }
}

/// A string that may arrive as a number; envelope fields are matched as text.
fn lenient_string<'de, D>(deserializer: D) -> Result<Option<String>, D::Error>
where
    D: Deserializer<'de>,
{
    match Option::<Value>::deserialize(deserializer)? {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(Value::Number(n)) => Ok(Some(n.to_string())),
        Some(other) => Err(serde::de::Error::custom(format_args!(
            "expected a string, found {}",
            kind_of(&other)
        ))),
    }
}

/// Text that may arrive as a number (ids, names); `null` reads as empty.
pub(crate) fn text<'de, D>(deserializer: D) -> Result<String, D::Error>
where
    D: Deserializer<'de>,
{
    Ok(lenient_string(deserializer)?.unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn int_or_string_accepts_both_and_rejects_garbage() {
        let parse = |json: &str| serde_json::from_str::<IntOrString>(json).unwrap();
        assert_eq!(parse("1").as_i64(), Some(1));
        assert_eq!(parse("\"1\"").as_i64(), Some(1));
        assert_eq!(parse("\"1615381916\"").as_i64(), Some(1_615_381_916));
        assert_eq!(parse("\"-3\"").as_i64(), Some(-3));
        assert_eq!(parse("\"+3\"").as_i64(), None);
        assert_eq!(parse("\" 3\"").as_i64(), None);
        assert_eq!(parse("\"\"").as_i64(), None);
        assert_eq!(parse("\"16153x\"").as_i64(), None);
        assert!(serde_json::from_str::<IntOrString>("1.5").is_err());
    }

    #[test]
    fn null_photo_urls_and_missing_optionals_read_as_empty() {
        let flow: UserFlowCreated = serde_json::from_str(
            r#"{"employee_id":"e","check_time":"1","record_id":"r","photo_urls":null,"employee_no":null}"#,
        )
        .unwrap();
        assert!(flow.photo_urls.is_empty());
        assert_eq!(flow.employee_no, "");
        assert_eq!(flow.latitude, None);
        assert_eq!(flow.risk_result, None);
    }

    #[test]
    fn fuzzy_envelope_reads_every_shape() {
        let v2: FuzzyEnvelope = serde_json::from_str(
            r#"{"schema":"2.0","header":{"event_id":"id","event_type":"t","create_time":1}}"#,
        )
        .unwrap();
        let header = v2.header.unwrap();
        assert_eq!(header.event_id.as_deref(), Some("id"));
        assert_eq!(header.create_time.as_deref(), Some("1"));

        let v1: FuzzyEnvelope = serde_json::from_str(
            r#"{"ts":"1502199207.7171419","uuid":"u","token":"t","type":"event_callback","event":{"type":"x"}}"#,
        )
        .unwrap();
        assert_eq!(v1.uuid.as_deref(), Some("u"));
        assert_eq!(v1.kind.as_deref(), Some("event_callback"));

        let encrypted: FuzzyEnvelope = serde_json::from_str(r#"{"encrypt":"abc"}"#).unwrap();
        assert_eq!(encrypted.encrypt.as_deref(), Some("abc"));

        assert!(serde_json::from_str::<FuzzyEnvelope>(r#"{"token":{"a":1}}"#).is_err());
    }

    #[test]
    fn approval_bodies_take_numbers_as_strings_and_nulls_as_empty() {
        let leave: LeaveApprovalV2 = serde_json::from_str(
            r#"{"instance_code":123,"user_id":null,"leave_interval":"7200","leave_unit":2,
                "leave_detail":"[[2024-09-05 13:30:00,2024-09-05 18:00:00]]","i18n_resources":null}"#,
        )
        .unwrap();
        assert_eq!(leave.instance_code, "123");
        assert_eq!(leave.user_id, "");
        assert_eq!(leave.leave_interval.unwrap().as_i64(), Some(7200));
        assert_eq!(leave.leave_unit.unwrap().original(), "2");
        assert!(leave.leave_detail.is_string());

        let trip: TripApproval =
            serde_json::from_str(r#"{"schedules":null,"trip_peers":["a"]}"#).unwrap();
        assert!(trip.schedules.is_empty());

        let work: WorkApproval =
            serde_json::from_str(r#"{"time_range":[{"work_start_time":"2024-01-01 18:00:00"}]}"#)
                .unwrap();
        assert_eq!(work.time_range.len(), 1);
        assert_eq!(work.time_range[0].work_end_time, None);

        assert!(serde_json::from_str::<ApprovalRevert>(r#"{"instance_code":{"a":1}}"#).is_err());
    }

    #[test]
    fn tokens_never_show_in_debug_output() {
        let v1: FuzzyEnvelope =
            serde_json::from_str(r#"{"uuid":"u","token":"hunter2","event":{}}"#).unwrap();
        assert_eq!(v1.token.as_ref().map(Token::expose), Some("hunter2"));
        let shown = format!("{v1:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("**REDACTED**"), "{shown}");
    }
}
