//! The approval queries of the attendance API (approvals.md §1.1, §1.2):
//! `user_approvals/query` (leaves, overtime, going out, trips) and
//! `user_task_remedys/query` (punch corrections), asked within their limits,
//! and lenient mirrors of what they answer. The FS-GO structs (2024) lack
//! `idempotent_id`, the `*_process_id` lists and the trip extras, so every
//! field is optional, numbers may come as text, and `null` reads as absent;
//! each listed item is kept as the JSON Feishu sent, for the fact's raw JSON,
//! and read into its mirror by the pull, where one odd item is skipped and
//! reported instead of failing the answer.

use attendance_adapter_kit::api::HttpError;
use attendance_adapter_kit::lenient::nullable;
use chrono::{Duration, NaiveDate};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::Value;

use super::{ApiError, FeishuApi, PerUser};
use crate::wire::{text, IntOrString};

const USER_APPROVALS_QUERY_PATH: &str = "/open-apis/attendance/v1/user_approvals/query";
const USER_TASK_REMEDYS_QUERY_PATH: &str = "/open-apis/attendance/v1/user_task_remedys/query";

/// Days one approval query covers at most: `user_approvals/query` allows
/// `check_date_to − check_date_from` ≤ 30 days; `user_task_remedys/query`
/// documents no bound and is asked in the same spans.
pub const MAX_APPROVAL_DAYS: i64 = 30;

/// Every `status` either query knows; each call asks for one.
pub const APPROVAL_STATUSES: [i64; 5] = [0, 1, 2, 3, 4];

/// One (user, date) of `user_approvals/query`: the approvals that apply to
/// that date, listed again under every date they apply to.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
pub struct UserApprovalDay {
    #[serde(default, deserialize_with = "text")]
    pub user_id: String,
    /// `yyyyMMdd`, text in the doc sample.
    #[serde(default, deserialize_with = "text")]
    pub date: String,
    /// The zone of the item's times; empty means UTC+0.
    #[serde(default, deserialize_with = "text")]
    pub time_zone: String,
    #[serde(flatten)]
    pub lists: ApprovalLists,
}

/// The four lists of a `user_approvals/query` item, as Feishu sent them.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
pub struct ApprovalLists {
    #[serde(default, deserialize_with = "nullable")]
    pub leaves: Vec<Value>,
    #[serde(default, deserialize_with = "nullable")]
    pub overtime_works: Vec<Value>,
    #[serde(default, deserialize_with = "nullable")]
    pub outs: Vec<Value>,
    #[serde(default, deserialize_with = "nullable")]
    pub trips: Vec<Value>,
}

/// A number Feishu may send as a JSON number or as text.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(untagged)]
pub enum Decimal {
    Number(f64),
    Text(String),
}

impl Decimal {
    /// The finite value, if it is one.
    pub fn value(&self) -> Option<f64> {
        match self {
            Decimal::Number(n) => Some(*n),
            Decimal::Text(text) => text.trim().parse().ok(),
        }
        .filter(|n: &f64| n.is_finite())
    }

    pub fn original(&self) -> String {
        match self {
            Decimal::Number(n) => n.to_string(),
            Decimal::Text(text) => text.clone(),
        }
    }
}

/// An item of `leaves[]`, and of `outs[]`, which has the same fields
/// (`uniq_id` is then the going-out type).
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
pub struct PulledLeave {
    #[serde(default, deserialize_with = "text")]
    pub approval_id: String,
    /// The leave (or going-out) type's id.
    #[serde(default, deserialize_with = "text")]
    pub uniq_id: String,
    /// 1 day, 2 hour, 3 half day, 4 half hour.
    #[serde(default)]
    pub unit: Option<IntOrString>,
    /// Seconds, whatever the unit; the doc says the leave duration is "not
    /// yet provided" (暂未开放提供), so 0 or absent is unknown.
    #[serde(default)]
    pub interval: Option<IntOrString>,
    /// `yyyy-MM-dd HH:mm:ss` in the item's zone.
    #[serde(default, deserialize_with = "text")]
    pub start_time: String,
    #[serde(default, deserialize_with = "text")]
    pub end_time: String,
    /// Display names by locale: `ch`, `en`, `ja`.
    #[serde(default, deserialize_with = "nullable")]
    pub i18n_names: std::collections::BTreeMap<String, Value>,
    #[serde(default, deserialize_with = "text")]
    pub default_locale: String,
    #[serde(default, deserialize_with = "text")]
    pub reason: String,
}

/// An item of `overtime_works[]`.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
pub struct PulledOvertime {
    #[serde(default, deserialize_with = "text")]
    pub approval_id: String,
    /// In `unit`s.
    #[serde(default)]
    pub duration: Option<Decimal>,
    /// 1 day, 2 hour, 3 half day, 4 half hour.
    #[serde(default)]
    pub unit: Option<IntOrString>,
    #[serde(default, deserialize_with = "text")]
    pub start_time: String,
    #[serde(default, deserialize_with = "text")]
    pub end_time: String,
    #[serde(default, deserialize_with = "text")]
    pub reason: String,
}

/// An item of `trips[]`.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
pub struct PulledTrip {
    #[serde(default, deserialize_with = "text")]
    pub approval_id: String,
    #[serde(default, deserialize_with = "text")]
    pub start_time: String,
    #[serde(default, deserialize_with = "text")]
    pub end_time: String,
    #[serde(default, deserialize_with = "text")]
    pub reason: String,
}

/// An item of `user_remedys[]`.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
pub struct UserRemedy {
    #[serde(default, deserialize_with = "text")]
    pub user_id: String,
    /// `yyyyMMdd`, a number.
    #[serde(default)]
    pub remedy_date: Option<IntOrString>,
    #[serde(default, deserialize_with = "text")]
    pub approval_id: String,
    /// `yyyy-MM-dd HH:mm` in `time_zone`.
    #[serde(default, deserialize_with = "text")]
    pub remedy_time: String,
    /// 0 pending, 1 rejected, 2 approved, 3 cancelled, 4 withdrawn after approval.
    #[serde(default)]
    pub status: Option<IntOrString>,
    #[serde(default, deserialize_with = "text")]
    pub reason: String,
    #[serde(default, deserialize_with = "text")]
    pub time_zone: String,
}

/// A date as Feishu's `yyyyMMdd` number (work dates of every attendance query).
pub(crate) fn yyyymmdd(date: NaiveDate) -> u32 {
    date.format("%Y%m%d")
        .to_string()
        .parse()
        .expect("a formatted date is digits")
}

impl FeishuApi {
    /// What `user_approvals/query` lists of the users for the dates
    /// `[first, last]` in one `status`, by approval effective time
    /// (`PeriodTime`), asked in spans of at most [`MAX_APPROVAL_DAYS`] and
    /// in user batches ([`FeishuApi::per_user_batch`]; its maximum is not
    /// documented, the attendance queries' 50 is used). Feishu refuses a
    /// `check_date_from` after tomorrow: the caller clips the window.
    /// Leaves and overtime are listed only for statuses 2 and 3 (the doc);
    /// the other statuses list going out and trips alone.
    pub async fn query_user_approvals(
        &self,
        user_ids: &[String],
        first: NaiveDate,
        last: NaiveDate,
        status: i64,
    ) -> Result<PerUser<UserApprovalDay>, ApiError> {
        let mut spans = Vec::new();
        let mut from = first;
        while from <= last {
            let to = last.min(from + Duration::days(MAX_APPROVAL_DAYS - 1));
            spans.push(serde_json::json!({
                "check_date_from": yyyymmdd(from),
                "check_date_to": yyyymmdd(to),
                "check_date_type": "PeriodTime",
                "status": status,
            }));
            from = to + Duration::days(1);
        }
        self.approval_query(USER_APPROVALS_QUERY_PATH, "user_approvals", user_ids, spans)
            .await
    }

    /// What `user_task_remedys/query` lists of the users' punch corrections
    /// in one `status` whose time lies in `[from, to]` (Unix seconds), in
    /// spans of at most [`MAX_APPROVAL_DAYS`] and batches of at most 50
    /// users (its documented maximum). Each item is the JSON Feishu sent.
    pub async fn query_user_task_remedys(
        &self,
        user_ids: &[String],
        from_seconds: i64,
        to_seconds: i64,
        status: i64,
    ) -> Result<PerUser<Value>, ApiError> {
        let mut spans = Vec::new();
        let mut from = from_seconds;
        while from <= to_seconds {
            let to = to_seconds.min(from + MAX_APPROVAL_DAYS * 86_400 - 1);
            spans.push(serde_json::json!({
                "check_time_from": from.to_string(),
                "check_time_to": to.to_string(),
                "check_date_type": "PeriodTime",
                "status": status,
            }));
            from = to + 1;
        }
        self.approval_query(
            USER_TASK_REMEDYS_QUERY_PATH,
            "user_remedys",
            user_ids,
            spans,
        )
        .await
    }

    /// Asks `path` once per span body (the request without `user_ids`) and
    /// user batch, and gathers the answers' `list`.
    async fn approval_query<T: DeserializeOwned>(
        &self,
        path: &'static str,
        list: &'static str,
        user_ids: &[String],
        spans: Vec<Value>,
    ) -> Result<PerUser<T>, ApiError> {
        let mut all = PerUser {
            items: Vec::new(),
            rejected_user_ids: Vec::new(),
        };
        for span in spans {
            let asked = self
                .per_user_batch(path, user_ids, |batch| {
                    let mut body = span.clone();
                    body["user_ids"] = serde_json::json!(batch);
                    async move {
                        let mut data: Value = self
                            .call(
                                reqwest::Method::POST,
                                path,
                                &[("employee_type", "employee_id".into())],
                                Some(&body),
                            )
                            .await?;
                        let items: Option<Vec<T>> = serde_json::from_value(data[list].take())
                            .map_err(|e| HttpError::decode(path, e))?;
                        Ok(items.unwrap_or_default())
                    }
                })
                .await?;
            merge(&mut all, asked);
        }
        Ok(all)
    }
}

/// One span's answer added to the others; an id refused in several spans
/// is reported once.
fn merge<T>(all: &mut PerUser<T>, span: PerUser<T>) {
    all.items.extend(span.items);
    for id in span.rejected_user_ids {
        if !all.rejected_user_ids.contains(&id) {
            all.rejected_user_ids.push(id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_answer_without_the_newer_fields_or_with_numbers_as_text_reads() {
        // The shape FS-GO (2024) knows: no idempotent_id, no process ids.
        let day: UserApprovalDay = serde_json::from_value(serde_json::json!({
            "user_id": "abd754f7", "date": 20210104, "time_zone": null,
            "leaves": [{"approval_id": 6737202939523236113_u64, "unit": "1", "interval": null}],
            "overtime_works": null
        }))
        .unwrap();
        assert_eq!(day.date, "20210104");
        assert_eq!(day.time_zone, "");
        assert!(day.lists.overtime_works.is_empty() && day.lists.trips.is_empty());
        let leave: PulledLeave = serde_json::from_value(day.lists.leaves[0].clone()).unwrap();
        assert_eq!(leave.approval_id, "6737202939523236113");
        assert_eq!(leave.unit.and_then(|u| u.as_i64()), Some(1));
        assert_eq!(leave.interval, None);
        let overtime: PulledOvertime =
            serde_json::from_value(serde_json::json!({"duration": "1.5"})).unwrap();
        assert_eq!(overtime.duration.and_then(|d| d.value()), Some(1.5));
    }
}
