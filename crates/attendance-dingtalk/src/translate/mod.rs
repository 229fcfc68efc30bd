//! Pure translation of a [`VerifiedCallback`] or a [`StreamEvent`] into a
//! [`Delivery`] of unified facts, and of a delivery into the pulls it calls
//! for. No I/O and no clock: the caller passes the received time.
//!
//! A delivery always keeps the raw JSON, so a type this module does not know,
//! or a body it cannot read, is stored and reported rather than lost.
//!
//! `mod.rs` holds the entry points and what every event shares (tenant,
//! source, provenance); `punch.rs` the punch record, which pulls translate
//! too; `approval.rs` the approval and overtime events; `triggers.rs` the
//! pulls a delivery calls for. Vendor values become model values in
//! [`crate::mapping`].

mod approval;
mod punch;
mod triggers;

pub use crate::mapping::approval_kind_of_category;
pub(crate) use attendance_adapter_kit::translation::millis_timestamp;
pub use punch::punch_from_record;
pub use triggers::{approval_pulls, instance_pulls, pull_triggers};

use attendance_adapter_kit::translation::{recognized, require};
use attendance_proto::ingest::{Delivery, Fact};
use attendance_proto::v1::{Channel, Provenance, Source, Vendor};
use attendance_proto::Timestamp;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::app::{DingTalkApp, TranslationSettings};
use crate::stream_frame::StreamEvent;
use crate::verify::VerifiedCallback;
use crate::wire::{
    BossCheckChange, BpmsChange, CheckRecordEvent, DailySummaryRefresh,
    ATTENDANCE_APPROVE_STATUS_CHANGE, ATTENDANCE_CHECK_RECORD, ATTENDANCE_OVERTIME_DURATION,
    ATTEND_BOSS_CHECK_CHANGE, ATTEND_USER_DAILY_SUMMARY_REFRESH, BPMS_INSTANCE_CHANGE,
    BPMS_TASK_CHANGE,
};
use triggers::day_of_trigger;

/// Translates one verified HTTP callback.
pub fn translate_callback(callback: &VerifiedCallback, received_time: Timestamp) -> Delivery {
    Inbound {
        app: callback.app(),
        settings: callback.translation(),
        client_id: callback.client_id(),
        configured_corp_id: callback.configured_corp_id(),
        channel: Channel::HttpCallback,
        event_id: callback.event_id(),
        event_type: callback.event_type(),
        envelope_corp_id: callback.corp_id(),
        vendor_time_ms: callback.event_time(),
        raw_json: callback.json(),
        body: Ok(callback.body().clone()),
        received_time,
    }
    .translate()
}

/// Translates one Stream EVENT received on `app`'s connection. The kept raw
/// JSON is the frame's `data`; what the headers say is in the delivery and
/// each fact's provenance.
pub fn translate_stream(
    event: &StreamEvent,
    app: &DingTalkApp,
    received_time: Timestamp,
) -> Delivery {
    let body = match serde_json::from_str::<Value>(event.data()) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(other) => Err(format!(
            "data is {}, not an object",
            attendance_adapter_kit::lenient::kind_of(&other)
        )),
        Err(error) => Err(format!("data is not JSON: {error}")),
    };
    Inbound {
        app: &app.name,
        settings: &app.translation,
        client_id: &app.client_id,
        configured_corp_id: app.corp_id.as_deref(),
        channel: Channel::Stream,
        event_id: event.event_id(),
        event_type: event.event_type(),
        envelope_corp_id: event.corp_id(),
        vendor_time_ms: event.born_time(),
        raw_json: event.data(),
        body,
        received_time,
    }
    .translate()
}

/// Translates an event body that reached the hub other than by its push
/// (failed-push recovery, [`crate::pull::failed_push_delivery`]): the same
/// facts the push would have given, on `channel`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn translate_body(
    app: &DingTalkApp,
    channel: Channel,
    event_id: &str,
    event_type: &str,
    corp_id: Option<&str>,
    vendor_time_ms: Option<i64>,
    raw_json: &str,
    body: Result<Map<String, Value>, String>,
    received_time: Timestamp,
) -> Delivery {
    Inbound {
        app: &app.name,
        settings: &app.translation,
        client_id: &app.client_id,
        configured_corp_id: app.corp_id.as_deref(),
        channel,
        event_id,
        event_type,
        envelope_corp_id: corp_id,
        vendor_time_ms,
        raw_json,
        body,
        received_time,
    }
    .translate()
}

/// What both channels reduce to.
struct Inbound<'a> {
    app: &'a str,
    /// The app's zone (work dates) and process-code kinds.
    settings: &'a TranslationSettings,
    client_id: &'a str,
    configured_corp_id: Option<&'a str>,
    channel: Channel,
    event_id: &'a str,
    event_type: &'a str,
    envelope_corp_id: Option<&'a str>,
    vendor_time_ms: Option<i64>,
    raw_json: &'a str,
    body: Result<Map<String, Value>, String>,
    received_time: Timestamp,
}

impl Inbound<'_> {
    fn translate(&self) -> Delivery {
        let translated = match self.event_type {
            ATTENDANCE_CHECK_RECORD => Some(self.check_record()),
            ATTENDANCE_OVERTIME_DURATION => Some(self.overtime_duration()),
            ATTENDANCE_APPROVE_STATUS_CHANGE => Some(self.approve_status_change()),
            BPMS_INSTANCE_CHANGE => Some(self.bpms_instance_change()),
            BPMS_TASK_CHANGE => Some(self.bpms_task_change()),
            ATTEND_BOSS_CHECK_CHANGE => Some(self.parse::<BossCheckChange>().and_then(|change| {
                day_of_trigger(&change.user_id, &change.work_date).map(|_| Vec::new())
            })),
            ATTEND_USER_DAILY_SUMMARY_REFRESH => {
                Some(self.parse::<DailySummaryRefresh>().and_then(|change| {
                    day_of_trigger(&change.user_id, &change.work_date).map(|_| Vec::new())
                }))
            }
            _ => None,
        };
        let (recognition, facts) = recognized(translated);
        Delivery {
            vendor: Vendor::Dingtalk,
            app: self.app.to_owned(),
            tenant: self.tenant(),
            channel: self.channel,
            event_id: self.event_id.to_owned(),
            event_type: self.event_type.to_owned(),
            raw_json: self.raw_json.to_owned(),
            recognition,
            facts,
            jobs: Vec::new(),
        }
    }

    /// The envelope's corp id (`eventCorpId` / `CorpId`), else the body's,
    /// else the first item's (old `DataList` payloads have no envelope corp),
    /// else the configured one.
    fn tenant(&self) -> String {
        let from_body = self.body.as_ref().ok().and_then(|body| {
            ["corpId", "CorpId", "corpid"]
                .iter()
                .find_map(|key| non_empty_str(body.get(*key)))
                .or_else(|| {
                    ["dataList", "DataList"]
                        .iter()
                        .find_map(|key| body.get(*key)?.as_array()?.first())
                        .and_then(|item| {
                            non_empty_str(item.get("corpId")).or(non_empty_str(item.get("corpid")))
                        })
                })
        });
        self.envelope_corp_id
            .or(from_body)
            .or(self.configured_corp_id.filter(|c| !c.is_empty()))
            .unwrap_or_default()
            .to_owned()
    }

    /// The source of a fact: the delivery's tenant, else the item's own corp.
    fn source(&self, item_corp_id: &str) -> Source {
        let tenant = self.tenant();
        Source {
            vendor: Vendor::Dingtalk as i32,
            app: self.app.to_owned(),
            app_id: self.client_id.to_owned(),
            tenant: if tenant.is_empty() {
                item_corp_id.to_owned()
            } else {
                tenant
            },
        }
    }

    fn provenance(&self) -> Provenance {
        Provenance {
            channel: self.channel as i32,
            event_id: self.event_id.to_owned(),
            event_type: self.event_type.to_owned(),
            received_time: Some(self.received_time),
            vendor_create_time: self.vendor_time_ms.and_then(millis_timestamp),
            // The event's own time: a redelivered `start` keeps its time and
            // never overrides the `finish` stored after it.
            version_time: self.vendor_time_ms.and_then(millis_timestamp),
            stated_fields: Vec::new(),
        }
    }

    fn parse<T: DeserializeOwned>(&self) -> Result<T, String> {
        let body = self.body.as_ref().map_err(Clone::clone)?;
        serde_json::from_value(Value::Object(body.clone()))
            .map_err(|error| format!("event body: {error}"))
    }

    fn check_record(&self) -> Result<Vec<Fact>, String> {
        let event: CheckRecordEvent = self.parse()?;
        let records = event.data_list.ok_or("dataList is missing")?;
        self.each_item(records.iter().map(|record| {
            punch_from_record(
                record,
                self.source(&record.corp_id),
                self.provenance(),
                self.raw_json,
            )
            .map(Fact::Punch)
        }))
    }

    /// The facts of a `dataList`, item by item: each item is its own punch
    /// (or overtime day), so one unreadable item costs only itself. It is
    /// logged, and stays in the delivery's raw JSON; only a list with no
    /// readable item at all makes the delivery untranslatable.
    fn each_item(
        &self,
        items: impl Iterator<Item = Result<Fact, String>>,
    ) -> Result<Vec<Fact>, String> {
        let mut facts = Vec::new();
        let mut problems = Vec::new();
        for (position, item) in items.enumerate() {
            match item {
                Ok(fact) => facts.push(fact),
                Err(reason) => problems.push(format!("dataList[{position}]: {reason}")),
            }
        }
        if facts.is_empty() && !problems.is_empty() {
            return Err(problems.join("; "));
        }
        for problem in &problems {
            tracing::warn!(app = %self.app, event_id = %self.event_id, %problem, "dingtalk dataList item skipped");
        }
        Ok(facts)
    }

    /// A task is one approver's step: its `finish/agree` does not mean the
    /// instance is approved (a later approver may still refuse), so it yields
    /// no fact; `bpms_instance_change` carries the instance's outcome.
    fn bpms_task_change(&self) -> Result<Vec<Fact>, String> {
        let change: BpmsChange = self.parse()?;
        require("processInstanceId", &change.process_instance_id)?;
        Ok(Vec::new())
    }
}

fn non_empty_str(value: Option<&Value>) -> Option<&str> {
    value?.as_str().filter(|s| !s.is_empty())
}
