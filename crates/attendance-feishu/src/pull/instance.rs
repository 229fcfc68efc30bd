//! A revert whose approval the store does not hold, resolved from the
//! approval API's instance read: the revert states the status (withdrawn)
//! and its time; the instance states who submitted it and, in its form, the
//! span. The result is the approval under the revert's business key, with
//! the matching key its pushed and pulled twins carry, so it meets them in
//! the store whichever comes first.

use attendance_adapter_kit::translation::pull_provenance;
use attendance_proto::v1::{Approval, ApprovalKind, ApprovalStatus};
use attendance_proto::Timestamp;
use chrono::DateTime;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::PullSource;
use crate::api::ApprovalInstance;
use crate::{keys, mapping};

pub const APPROVAL_INSTANCE_GET: &str = "approval/v4/instances/get";

/// What a revert said, carried by the job that reads its instance.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RevertedInstance {
    pub tenant: String,
    /// The revert's event type, which names the kind.
    pub event_type: String,
    pub instance_code: String,
    pub status_original: String,
    /// The revert's own time (seconds, nanos): the approval it becomes is
    /// that version, so an older approved push stays behind it.
    pub version_time: Option<(i64, i32)>,
}

impl RevertedInstance {
    /// The revert a pushed approval fact states, if it is one: an approval
    /// naming no employee, as only a revert does.
    pub fn of(tenant: &str, approval: &Approval) -> Option<RevertedInstance> {
        let provenance = approval.provenance.as_ref()?;
        (approval.employee_id.is_empty() && is_plain_code(&approval.instance_id)).then(|| {
            RevertedInstance {
                tenant: tenant.to_owned(),
                event_type: provenance.event_type.clone(),
                instance_code: approval.instance_id.clone(),
                status_original: approval.status_original.clone(),
                version_time: provenance.version_time.map(|t| (t.seconds, t.nanos)),
            }
        })
    }
}

/// An instance code that can stand in a URL path as it is (Feishu's are
/// UUIDs); any other is not read.
fn is_plain_code(code: &str) -> bool {
    !code.is_empty()
        && code.len() <= 128
        && code
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// The form widget types that hold a kind's span.
fn widget_types(kind: ApprovalKind) -> &'static [&'static str] {
    match kind {
        ApprovalKind::Leave => &["leaveGroupV2", "leaveGroup"],
        ApprovalKind::Overtime => &["workGroup"],
        ApprovalKind::GoOut => &["outGroup"],
        ApprovalKind::BusinessTrip => &["tripGroup", "tripGroupV2"],
        _ => &[],
    }
}

fn rfc3339(value: &Value) -> Option<Timestamp> {
    let at = DateTime::parse_from_rfc3339(value.as_str()?.trim()).ok()?;
    Some(Timestamp {
        seconds: at.timestamp(),
        nanos: 0,
    })
}

/// The first sub-widget value whose id ends in `suffix`, at any depth (a
/// field list nests them in lists of rows).
fn sub_widget(value: &Value, suffix: &str) -> Option<Timestamp> {
    match value {
        Value::Array(items) => items.iter().find_map(|item| sub_widget(item, suffix)),
        Value::Object(widget) => {
            let named = widget
                .get("id")
                .and_then(Value::as_str)
                .is_some_and(|id| id.ends_with(suffix));
            if named {
                widget.get("value").and_then(rfc3339)
            } else {
                widget.get("value").and_then(|v| sub_widget(v, suffix))
            }
        }
        _ => None,
    }
}

/// The span the form states for `kind`: its widget group's value is an
/// object with `start` and `end`, or (as instances are created) a list of
/// sub-widgets whose ids end in `StartTime` and `EndTime`.
fn form_span(form: &str, kind: ApprovalKind) -> Option<(Timestamp, Timestamp)> {
    let widgets: Vec<Value> = serde_json::from_str(form).ok()?;
    let group = widgets.iter().find(|w| {
        w.get("type")
            .and_then(Value::as_str)
            .is_some_and(|t| widget_types(kind).contains(&t))
    })?;
    let value = group.get("value")?;
    let span = match value {
        Value::Object(fields) => {
            let field =
                |names: [&str; 2]| names.iter().find_map(|n| fields.get(*n).and_then(rfc3339));
            // A trip states its legs; the span is the first leg's start to
            // the last leg's end.
            match fields.get("schedule").and_then(Value::as_array) {
                Some(legs) if !legs.is_empty() => (
                    legs.first().and_then(|l| l.get("start")).and_then(rfc3339),
                    legs.last().and_then(|l| l.get("end")).and_then(rfc3339),
                ),
                _ => (field(["start", "startTime"]), field(["end", "endTime"])),
            }
        }
        other => (sub_widget(other, "StartTime"), sub_widget(other, "EndTime")),
    };
    Some((span.0?, span.1?))
}

/// The approval a revert and its instance state together, or why not.
pub fn approval_from_instance(
    pull: &PullSource,
    revert: &RevertedInstance,
    instance: &ApprovalInstance,
) -> Result<Approval, String> {
    let kind = mapping::approval_kind(&revert.event_type);
    let employee = [&instance.user_id, &instance.open_id]
        .into_iter()
        .find(|id| !id.is_empty())
        .ok_or("the instance names no submitter")?;
    let (start, end) = form_span(&instance.form, kind)
        .ok_or_else(|| format!("the instance's form states no {kind:?} span"))?;
    let mut provenance = pull_provenance(APPROVAL_INSTANCE_GET, pull.received_time);
    provenance.version_time = revert
        .version_time
        .map(|(seconds, nanos)| Timestamp { seconds, nanos });
    let mut approval = Approval {
        source: Some(pull.source()),
        business_key: keys::business_key(kind, &revert.instance_code),
        employee_id: employee.clone(),
        kind: kind as i32,
        kind_original: revert.event_type.clone(),
        status: ApprovalStatus::Withdrawn as i32,
        status_original: revert.status_original.clone(),
        instance_id: revert.instance_code.clone(),
        start_time: Some(start),
        end_time: Some(end),
        provenance: Some(provenance),
        raw_json: instance.raw.to_string(),
        ..Approval::default()
    };
    approval.matching_keys = keys::matching_keys(&approval);
    Ok(approval)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_form_states_its_span_in_either_shape() {
        let read = r#"[{"id":"w1","type":"input","value":"x"},
            {"id":"w2","type":"leaveGroupV2","value":{"name":"年假","start":"2024-09-03T09:00:00+08:00","end":"2024-09-03T18:00:00+08:00","interval":1,"unit":"DAY"}}]"#;
        let span = form_span(read, ApprovalKind::Leave).unwrap();
        assert_eq!(
            (span.0.seconds, span.1.seconds),
            (1_725_325_200, 1_725_357_600)
        );
        assert_eq!(
            form_span(read, ApprovalKind::Overtime),
            None,
            "no overtime group"
        );

        let created = r#"[{"id":"widgetWorkGroup","type":"workGroup","value":[
            {"id":"widgetWorkGroupType","type":"radioV2","value":"7259"},
            {"id":"widgetWorkGroupTimeRangeFieldList","type":"fieldList","value":[[
                {"id":"widgetWorkGroupStartTime","type":"date","value":"2024-09-04T19:00:00+08:00"},
                {"id":"widgetWorkGroupEndTime","type":"date","value":"2024-09-04T21:00:00+08:00"}]]}]}]"#;
        let span = form_span(created, ApprovalKind::Overtime).unwrap();
        assert_eq!(span.1.seconds - span.0.seconds, 7200);
        assert_eq!(form_span("not json", ApprovalKind::Leave), None);
    }

    #[test]
    fn only_a_revert_with_a_plain_code_is_read() {
        let mut approval = Approval {
            instance_id: "CEF48CEE-CEF4-45C9-1234-DCBF8BEC1234".into(),
            provenance: Some(Default::default()),
            ..Approval::default()
        };
        assert!(RevertedInstance::of("t", &approval).is_some());
        approval.instance_id = "../../auth".into();
        assert!(RevertedInstance::of("t", &approval).is_none());
        approval.instance_id = "CODE".into();
        approval.employee_id = "e1".into();
        assert!(
            RevertedInstance::of("t", &approval).is_none(),
            "an approval, not a revert"
        );
    }
}
