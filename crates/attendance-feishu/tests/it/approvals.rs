//! Translation of the approval events (schema 1.0 `event.type`, and the 2.0
//! punch-correction form) into `Approval` facts, and their way through the
//! webhook router.

use std::sync::Arc;

use attendance_feishu::{router, translate};
use attendance_proto::ingest::{Delivery, Fact, Recognition};
use attendance_proto::v1::{Approval, ApprovalKind, ApprovalStatus, Channel, DurationUnit, Vendor};
use attendance_proto::Timestamp;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::{json, Map, Value};
use tower::ServiceExt;

use crate::support::{app_for, edited, recipient, redacted, verified, RecordingSink};

const LEAVE_JSON: &str = include_str!("../fixtures/leave_approval_v2.json");
const LEAVE_REVERT_JSON: &str = include_str!("../fixtures/leave_approval_revert.json");
const WORK_JSON: &str = include_str!("../fixtures/work_approval.json");
const WORK_REVERT_JSON: &str = include_str!("../fixtures/work_approval_revert.json");
const REMEDY_JSON: &str = include_str!("../fixtures/remedy_approval.json");
const TRIP_JSON: &str = include_str!("../fixtures/trip_approval.json");
const OUT_JSON: &str = include_str!("../fixtures/out_approval.json");
const OUT_REVERT_JSON: &str = include_str!("../fixtures/out_approval_revert.json");
const SHIFT_JSON: &str = include_str!("../fixtures/shift_approval.json");
const REMEDY_V2_JSON: &str = include_str!("../fixtures/remedy_group_update_v4.json");

const RECEIVED: Timestamp = Timestamp {
    seconds: 1_726_000_000,
    nanos: 7,
};

fn deliver(json: &str) -> Delivery {
    translate(&verified(json), recipient(), Channel::Webhook, RECEIVED)
}

fn approval(json: &str) -> Approval {
    let delivery = deliver(json);
    assert_eq!(delivery.recognition, Recognition::Translated, "{json}");
    match delivery.facts.as_slice() {
        [Fact::Approval(approval)] => approval.clone(),
        other => panic!("expected one approval, got {other:?}"),
    }
}

/// The instant of a wall-clock time at UTC+8, written out in UTC.
fn at(seconds: i64) -> Option<Timestamp> {
    Some(Timestamp { seconds, nanos: 0 })
}

fn event_with(json: &str, edit: impl FnOnce(&mut Map<String, Value>)) -> String {
    edited(json, |v| edit(v["event"].as_object_mut().unwrap()))
}

fn leave_with(edit: impl FnOnce(&mut Map<String, Value>)) -> String {
    event_with(LEAVE_JSON, edit)
}

fn assert_untranslatable(json: &str, mentions: &str) {
    let delivery = deliver(json);
    match &delivery.recognition {
        Recognition::Untranslatable(reason) => assert!(
            reason.contains(mentions),
            "reason {reason:?} lacks {mentions:?}"
        ),
        other => panic!("expected untranslatable, got {other:?} for {json}"),
    }
    assert!(delivery.facts.is_empty());
    assert_eq!(delivery.raw_json, redacted(json), "the raw body is kept");
}

#[test]
fn leave_approval_translates_field_by_field() {
    let delivery = deliver(LEAVE_JSON);
    assert_eq!(delivery.vendor, Vendor::Feishu);
    assert_eq!(delivery.tenant, "1d3e5f7a9b2c4d6e");
    assert_eq!(delivery.event_id, "6f1c0b0e8a2d4c3e9b7a5d4f3e2c1b0a");
    assert_eq!(delivery.event_type, "leave_approvalV2");

    let leave = approval(LEAVE_JSON);
    let source = leave.source.as_ref().unwrap();
    assert_eq!(source.vendor, Vendor::Feishu as i32);
    assert_eq!(source.app, "main");
    assert_eq!(source.app_id, "cli_a5f2c3d4e6b7a00d");
    assert_eq!(source.tenant, "1d3e5f7a9b2c4d6e");
    assert_eq!(
        leave.business_key,
        "leave/81D31358-93AF-92D6-7425-01A5D67C4E71"
    );
    assert_eq!(leave.instance_id, "81D31358-93AF-92D6-7425-01A5D67C4E71");
    assert_eq!(leave.employee_id, "6e4b3a21", "user_id, not open_id");
    assert_eq!(leave.kind, ApprovalKind::Leave as i32);
    assert_eq!(leave.kind_original, "leave_approvalV2");
    assert_eq!(leave.status, ApprovalStatus::Approved as i32);
    assert_eq!(leave.status_original, "leave_approvalV2");
    // "2024-09-05 13:30:00" at UTC+8 is 2024-09-05T05:30:00Z.
    assert_eq!(leave.start_time, at(1_725_514_200));
    // "2024-09-06 18:00:00" at UTC+8 is 2024-09-06T10:00:00Z.
    assert_eq!(leave.end_time, at(1_725_616_800));
    // 129 600 s with a half-day unit: half a day plus a day, 3 half days.
    assert_eq!(leave.duration, 3.0);
    assert_eq!(leave.duration_unit, DurationUnit::HalfDays as i32);
    assert_eq!(leave.duration_unit_original, "HALF_DAY");
    assert_eq!(leave.leave_type, "@i18n@7276381556766212099");
    assert_eq!(leave.reason, "家中有事");
    assert_eq!(leave.corrected_time, None);
    assert_eq!(leave.revision, 0);
    assert_eq!(leave.raw_json, redacted(LEAVE_JSON));
    assert!(!leave.raw_json.contains("Q7vWm2LxR9pZk4TbN8cY3hJe6uDs1aFg"));

    let provenance = leave.provenance.as_ref().unwrap();
    assert_eq!(provenance.channel, Channel::Webhook as i32);
    assert_eq!(provenance.event_id, "6f1c0b0e8a2d4c3e9b7a5d4f3e2c1b0a");
    assert_eq!(provenance.event_type, "leave_approvalV2");
    assert_eq!(provenance.received_time, Some(RECEIVED));
    assert_eq!(
        provenance.vendor_create_time, None,
        "1.0 envelopes carry none"
    );
}

#[test]
fn leave_units_by_name_and_by_legacy_number() {
    let cases = [
        (json!("DAY"), 1.5, DurationUnit::Days, "DAY"),
        (json!("day"), 1.5, DurationUnit::Days, "day"),
        (json!("HALF_DAY"), 3.0, DurationUnit::HalfDays, "HALF_DAY"),
        (json!("HOUR"), 36.0, DurationUnit::Hours, "HOUR"),
        (json!("HALF_HOUR"), 36.0, DurationUnit::Hours, "HALF_HOUR"),
        (json!("MINUTE"), 36.0, DurationUnit::Hours, "MINUTE"),
        (json!(1), 1.5, DurationUnit::Days, "1"),
        (json!("2"), 3.0, DurationUnit::HalfDays, "2"),
        (json!(3), 36.0, DurationUnit::Hours, "3"),
    ];
    for (unit, duration, expected, original) in cases {
        let leave = approval(&leave_with(|e| {
            e.insert("leave_unit".into(), unit.clone());
        }));
        assert_eq!(leave.duration, duration, "unit {unit}");
        assert_eq!(leave.duration_unit, expected as i32, "unit {unit}");
        assert_eq!(leave.duration_unit_original, original, "unit {unit}");
    }

    let no_unit = approval(&leave_with(|e| {
        e.remove("leave_unit");
        e.insert("leave_interval".into(), json!("5400"));
    }));
    assert_eq!(no_unit.duration, 1.5, "seconds as a string, in hours");
    assert_eq!(no_unit.duration_unit, DurationUnit::Hours as i32);
    assert_eq!(no_unit.duration_unit_original, "");

    let no_interval = approval(&leave_with(|e| {
        e.remove("leave_interval");
    }));
    assert_eq!(no_interval.duration, 0.0);
    assert_eq!(no_interval.duration_unit, DurationUnit::Unspecified as i32);
    assert_eq!(no_interval.duration_unit_original, "HALF_DAY");
}

#[test]
fn the_employee_is_employee_id_then_user_id_then_open_id() {
    let by_employee_id = approval(&leave_with(|e| {
        e.insert("employee_id".into(), json!("e-1"));
    }));
    assert_eq!(by_employee_id.employee_id, "e-1");

    let by_open_id = approval(&leave_with(|e| {
        e.remove("user_id");
    }));
    assert_eq!(
        by_open_id.employee_id,
        "ou_7f0d2b8e1c4a6f3d9e5b2a1c8d7e6f50"
    );

    let legacy_name = approval(&leave_with(|e| {
        e.remove("leave_name");
        e.insert("leave_type".into(), json!("事假"));
    }));
    assert_eq!(legacy_name.leave_type, "事假");
}

#[test]
fn wall_clock_times_are_utc_plus_8_unless_they_carry_an_offset() {
    let numeric = approval(&leave_with(|e| {
        e.insert("leave_start_time".into(), json!(1_725_514_200));
        e.insert("leave_end_time".into(), json!("1725616800000"));
    }));
    assert_eq!(
        numeric.start_time,
        at(1_725_514_200),
        "epoch seconds are UTC"
    );
    assert_eq!(
        numeric.end_time,
        at(1_725_616_800),
        "epoch milliseconds too"
    );

    let offset = approval(&leave_with(|e| {
        e.insert(
            "leave_start_time".into(),
            json!("2024-09-05T13:30:00+09:00"),
        );
        e.insert("leave_end_time".into(), json!("2024-09-06"));
    }));
    assert_eq!(offset.start_time, at(1_725_510_600), "13:30 at +09:00");
    // A bare date is midnight in the tenant's zone: 2024-09-05T16:00:00Z.
    assert_eq!(offset.end_time, at(1_725_552_000));

    let absent = approval(&leave_with(|e| {
        e.insert("leave_start_time".into(), json!(""));
        e.remove("leave_end_time");
    }));
    assert_eq!(absent.start_time, None);
    assert_eq!(absent.end_time, None);
}

#[test]
fn overtime_translates_with_hours() {
    let work = approval(WORK_JSON);
    assert_eq!(
        work.business_key,
        "overtime/C0F3A2B1-7D6E-4F5A-9B8C-1D2E3F4A5B6C"
    );
    assert_eq!(work.kind, ApprovalKind::Overtime as i32);
    assert_eq!(work.kind_original, "work_approval");
    assert_eq!(work.status, ApprovalStatus::Approved as i32);
    assert_eq!(work.employee_id, "6e4b3a21");
    // 19:00 and 21:00 on 2024-09-06 at UTC+8: 11:00Z and 13:00Z.
    assert_eq!(work.start_time, at(1_725_620_400));
    assert_eq!(work.end_time, at(1_725_627_600));
    assert_eq!(work.duration, 2.0);
    assert_eq!(work.duration_unit, DurationUnit::Hours as i32);
    assert_eq!(work.duration_unit_original, "");
    assert_eq!(work.reason, "版本发布值守");
    assert_eq!(work.leave_type, "");

    // Several time ranges without a top-level pair: their overall span.
    let ranges = approval(&event_with(WORK_JSON, |e| {
        e.remove("work_start_time");
        e.remove("work_end_time");
        e.insert("allow_multi_time_range".into(), json!(1));
        e.insert(
            "time_range".into(),
            json!([
                {"work_start_time": "2024-09-06 20:00:00", "work_end_time": "2024-09-06 21:00:00"},
                {"work_start_time": "2024-09-06 19:00:00", "work_end_time": "2024-09-06 19:30:00"}
            ]),
        );
    }));
    assert_eq!(ranges.start_time, at(1_725_620_400));
    assert_eq!(ranges.end_time, at(1_725_627_600));
}

#[test]
fn punch_correction_carries_the_corrected_instant() {
    let remedy = approval(REMEDY_JSON);
    assert_eq!(
        remedy.business_key,
        "punch_correction/4D5E6F70-8192-4A3B-BC4D-5E6F708192A3"
    );
    assert_eq!(remedy.kind, ApprovalKind::PunchCorrection as i32);
    assert_eq!(remedy.kind_original, "remedy_approval");
    assert_eq!(remedy.status, ApprovalStatus::Approved as i32);
    // "2024-09-09 09:00:00" at UTC+8 is 2024-09-09T01:00:00Z.
    assert_eq!(remedy.corrected_time, at(1_725_843_600));
    assert_eq!(remedy.start_time, None);
    assert_eq!(remedy.end_time, None);
    assert_eq!(remedy.duration_unit, DurationUnit::Unspecified as i32);
    assert_eq!(remedy.reason, "忘记打上班卡");
    assert_eq!(remedy.employee_id, "6e4b3a21");
}

#[test]
fn business_trip_spans_its_legs() {
    let trip = approval(TRIP_JSON);
    assert_eq!(
        trip.business_key,
        "business_trip/A1B2C3D4-E5F6-4789-9ABC-DEF012345678"
    );
    assert_eq!(trip.kind, ApprovalKind::BusinessTrip as i32);
    assert_eq!(trip.kind_original, "trip_approval");
    // From the first leg's 2024-09-12 20:00 to the last's 2024-09-14 21:30.
    assert_eq!(trip.start_time, at(1_726_142_400));
    assert_eq!(trip.end_time, at(1_726_320_600));
    assert_eq!(trip.duration, 49.5);
    assert_eq!(trip.duration_unit, DurationUnit::Hours as i32);
    assert_eq!(trip.reason, "客户现场部署");

    // Without the total, the legs add up to the same.
    let summed = approval(&event_with(TRIP_JSON, |e| {
        e.remove("trip_interval");
        e["schedules"][1]["trip_interval"] = json!("120600");
    }));
    assert_eq!(summed.duration, 49.5);

    let no_legs = approval(&event_with(TRIP_JSON, |e| {
        e.insert("schedules".into(), Value::Null);
    }));
    assert_eq!(no_legs.start_time, None);
    assert_eq!(no_legs.duration, 49.5);
}

#[test]
fn going_out_translates_with_its_unit() {
    let out = approval(OUT_JSON);
    assert_eq!(
        out.business_key,
        "go_out/E7F8A9B0-C1D2-4E3F-A4B5-C6D7E8F9A0B1"
    );
    assert_eq!(out.kind, ApprovalKind::GoOut as i32);
    assert_eq!(out.kind_original, "out_approval");
    assert_eq!(out.employee_id, "6e4b3a21");
    // 14:00 to 17:00 on 2024-09-10 at UTC+8.
    assert_eq!(out.start_time, at(1_725_948_000));
    assert_eq!(out.end_time, at(1_725_958_800));
    assert_eq!(out.duration, 3.0);
    assert_eq!(out.duration_unit, DurationUnit::Hours as i32);
    assert_eq!(out.duration_unit_original, "HOUR");
    assert_eq!(out.reason, "拜访客户签合同");

    // The doc table's spelling of a half day.
    let half_days = approval(&event_with(OUT_JSON, |e| {
        e.insert("out_unit".into(), json!("HALR_DAY"));
        e.insert("out_interval".into(), json!(43_200));
    }));
    assert_eq!(half_days.duration, 1.0);
    assert_eq!(half_days.duration_unit, DurationUnit::HalfDays as i32);
    assert_eq!(half_days.duration_unit_original, "HALR_DAY");
}

#[test]
fn shift_swap_runs_from_shift_time_to_return_time() {
    let shift = approval(SHIFT_JSON);
    assert_eq!(
        shift.business_key,
        "shift_swap/B2C3D4E5-F6A7-4B8C-9D0E-1F2A3B4C5D6E"
    );
    assert_eq!(shift.kind, ApprovalKind::ShiftSwap as i32);
    assert_eq!(shift.kind_original, "shift_approval");
    assert_eq!(shift.status, ApprovalStatus::Approved as i32);
    assert_eq!(shift.start_time, at(1_726_880_400));
    assert_eq!(shift.end_time, at(1_727_485_200));
    assert_eq!(shift.duration, 0.0);
    assert_eq!(shift.duration_unit, DurationUnit::Unspecified as i32);
    assert_eq!(shift.reason, "与同事调班");
}

#[test]
fn a_revert_is_a_withdrawn_revision_of_the_same_approval() {
    let pairs = [
        (LEAVE_JSON, LEAVE_REVERT_JSON, ApprovalKind::Leave),
        (WORK_JSON, WORK_REVERT_JSON, ApprovalKind::Overtime),
        (OUT_JSON, OUT_REVERT_JSON, ApprovalKind::GoOut),
    ];
    for (approved_json, revert_json, kind) in pairs {
        let approved = approval(approved_json);
        let revert = approval(revert_json);
        let revert_type = verified(revert_json).event_type().to_owned();
        assert_eq!(revert.business_key, approved.business_key, "{revert_type}");
        assert_eq!(revert.instance_id, approved.instance_id, "{revert_type}");
        assert_eq!(revert.kind, kind as i32, "{revert_type}");
        assert_eq!(revert.kind_original, revert_type);
        assert_eq!(revert.status, ApprovalStatus::Withdrawn as i32);
        assert_eq!(revert.status_original, revert_type);
        assert_eq!(revert.employee_id, "", "a revert names no one");
        assert_eq!(revert.start_time, None);
        assert_eq!(revert.duration_unit, DurationUnit::Unspecified as i32);
        assert_eq!(revert.revision, 0, "the store numbers revisions");
        assert_eq!(revert.raw_json, redacted(revert_json));
        assert_eq!(revert.source.as_ref().unwrap().tenant, "1d3e5f7a9b2c4d6e");
    }

    let with_status = approval(&event_with(LEAVE_REVERT_JSON, |e| {
        e.insert("status".into(), json!("REVERTED"));
    }));
    assert_eq!(with_status.status, ApprovalStatus::Withdrawn as i32);
    assert_eq!(with_status.status_original, "REVERTED");
}

#[test]
fn remedy_group_update_maps_every_status() {
    let remedy = approval(REMEDY_V2_JSON);
    assert_eq!(remedy.business_key, approval(REMEDY_JSON).business_key);
    assert_eq!(remedy.kind, ApprovalKind::PunchCorrection as i32);
    assert_eq!(
        remedy.kind_original,
        "approval.instance.remedy_group_update_v4"
    );
    assert_eq!(remedy.employee_id, "6e4b3a21");
    assert_eq!(remedy.status, ApprovalStatus::Approved as i32);
    assert_eq!(remedy.status_original, "APPROVED");
    assert_eq!(
        remedy.corrected_time,
        at(1_725_843_600),
        "from milliseconds"
    );
    assert_eq!(remedy.reason, "忘记打上班卡");
    let provenance = remedy.provenance.as_ref().unwrap();
    assert_eq!(provenance.event_id, "d41e8c7b2a9f4e6d8c1b3a5f7e9d2c4b");
    assert_eq!(
        provenance.vendor_create_time,
        Some(Timestamp {
            seconds: 1_725_847_200,
            nanos: 123_000_000
        })
    );

    let statuses = [
        ("APPROVED", ApprovalStatus::Approved),
        ("REJECTED", ApprovalStatus::Rejected),
        ("CANCELED", ApprovalStatus::Withdrawn),
        ("DELETED", ApprovalStatus::Deleted),
        ("PENDING", ApprovalStatus::Pending),
        ("TRANSFERRED", ApprovalStatus::Unspecified),
    ];
    for (name, status) in statuses {
        let remedy = approval(&edited(REMEDY_V2_JSON, |v| {
            v["event"]["object"]["status"] = json!(name);
        }));
        assert_eq!(remedy.status, status as i32, "{name}");
        assert_eq!(remedy.status_original, name);
    }

    // The doc example's remedy_time is the size of seconds.
    let seconds = approval(&edited(REMEDY_V2_JSON, |v| {
        v["event"]["object"]["remedy_time"] = json!(1_725_843_600);
    }));
    assert_eq!(seconds.corrected_time, at(1_725_843_600));
}

#[test]
fn garbled_approvals_are_untranslatable() {
    assert_untranslatable(
        &leave_with(|e| {
            e.remove("instance_code");
        }),
        "instance_code",
    );
    assert_untranslatable(
        &event_with(LEAVE_REVERT_JSON, |e| {
            e.insert("instance_code".into(), json!(""));
        }),
        "instance_code",
    );
    assert_untranslatable(
        &leave_with(|e| {
            e.insert("leave_start_time".into(), json!("tomorrow morning"));
        }),
        "leave_start_time",
    );
    assert_untranslatable(
        &event_with(REMEDY_JSON, |e| {
            e.insert("remedy_time".into(), json!("2024-13-01 09:00:00"));
        }),
        "remedy_time",
    );
    assert_untranslatable(
        &event_with(WORK_JSON, |e| {
            e.insert("work_interval".into(), json!("two hours"));
        }),
        "work_interval",
    );
    assert_untranslatable(
        &event_with(TRIP_JSON, |e| {
            e["schedules"][1]["trip_end_time"] = json!("2024-09-14 25:00:00");
        }),
        "schedules[1]",
    );
    assert_untranslatable(
        &event_with(OUT_JSON, |e| {
            e.insert("out_interval".into(), json!(-60));
        }),
        "out_interval",
    );
    assert_untranslatable(
        &event_with(WORK_REVERT_JSON, |e| {
            e.insert("operate_time".into(), json!("yesterday"));
        }),
        "operate_time",
    );
    assert_untranslatable(
        &event_with(SHIFT_JSON, |e| {
            e.remove("employee_id");
            e.remove("open_id");
        }),
        "employee_id",
    );
    assert_untranslatable(
        &event_with(SHIFT_JSON, |e| {
            e.insert("shift_reason".into(), json!({"text": "nested"}));
        }),
        "event body",
    );
    assert_untranslatable(
        &edited(REMEDY_V2_JSON, |v| v["event"] = json!({})),
        "event.object",
    );
    assert_untranslatable(
        &edited(REMEDY_V2_JSON, |v| {
            v["event"]["object"]["remedy_time"] = json!("soon");
        }),
        "remedy_time",
    );
}

#[test]
fn the_legacy_leave_approval_twin_is_not_translated() {
    // Feishu pushes `leave_approval` and `leave_approvalV2` for the same
    // approval; only V2 is translated, so one approval is one revision.
    let legacy = deliver(&leave_with(|e| {
        e.insert("type".into(), json!("leave_approval"));
    }));
    // Known (no "unknown type" report for every leave), but carrying nothing.
    assert_eq!(legacy.recognition, Recognition::Translated);
    assert!(legacy.facts.is_empty());
}

#[tokio::test]
async fn the_webhook_commits_a_plain_1_0_approval_as_one_approval() {
    let sink = Arc::new(RecordingSink::default());
    let hub = router(vec![app_for(LEAVE_JSON)], sink.clone(), 1024 * 1024);
    let response = hub
        .oneshot(
            Request::post("/webhooks/feishu/main")
                .header("content-type", "application/json")
                .body(Body::from(LEAVE_JSON))
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap();
    let reply: Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(reply, json!({"msg": "success"}));

    let deliveries = sink.deliveries();
    assert_eq!(deliveries.len(), 1);
    let delivery = &deliveries[0];
    assert_eq!(delivery.app, "main");
    assert_eq!(delivery.channel, Channel::Webhook);
    assert_eq!(delivery.event_id, "6f1c0b0e8a2d4c3e9b7a5d4f3e2c1b0a");
    assert_eq!(delivery.event_type, "leave_approvalV2");
    assert_eq!(delivery.recognition, Recognition::Translated);
    assert_eq!(delivery.raw_json, redacted(LEAVE_JSON));
    match delivery.facts.as_slice() {
        [Fact::Approval(leave)] => {
            assert_eq!(
                leave.business_key,
                "leave/81D31358-93AF-92D6-7425-01A5D67C4E71"
            );
            assert_eq!(leave.status, ApprovalStatus::Approved as i32);
            let received = leave.provenance.as_ref().unwrap().received_time.unwrap();
            assert!(received.seconds > 1_700_000_000, "the received time is now");
        }
        other => panic!("expected one approval, got {other:?}"),
    }
}

/// The pull of what a fixture pushes, under another id than its
/// instance_code (no doc ties the two), as `user_approvals/query` or
/// `user_task_remedys/query` lists it.
fn pulled_twin(list: &str, item: Value) -> Approval {
    use attendance_feishu::pull::{approval_from_remedy, approvals_from_day, PullSource};
    let pull = PullSource {
        app: "main".into(),
        app_id: "cli_a5f2c3d4e6b7a00d".into(),
        tenant: "1d3e5f7a9b2c4d6e".into(),
        time_zone: "Asia/Shanghai".into(),
        received_time: RECEIVED,
    };
    if list == "user_remedys" {
        return approval_from_remedy(&pull, 2, &item).unwrap().approval;
    }
    let day = json!({"user_id": "6e4b3a21", "date": "20240905", "time_zone": "Asia/Shanghai", list: [item]});
    let (mut approvals, problems) =
        approvals_from_day(&pull, 2, &serde_json::from_value(day).unwrap());
    assert!(problems.is_empty(), "{problems:?}");
    approvals.remove(0).approval
}

#[test]
fn every_approved_push_and_its_pulled_twin_share_one_matching_key() {
    let span = |start: &str, end: &str| json!({"approval_id": "7000000000000000001", "start_time": start, "end_time": end});
    let twins = [
        (
            LEAVE_JSON,
            "leaves",
            span("2024-09-05 13:30:00", "2024-09-06 18:00:00"),
        ),
        (
            WORK_JSON,
            "overtime_works",
            span("2024-09-06 19:00:00", "2024-09-06 21:00:00"),
        ),
        (
            TRIP_JSON,
            "trips",
            span("2024-09-12 20:00:00", "2024-09-14 21:30:00"),
        ),
        (
            REMEDY_JSON,
            "user_remedys",
            json!({"user_id": "6e4b3a21", "approval_id": "7000000000000000001", "remedy_time": "2024-09-09 09:00", "time_zone": "Asia/Shanghai", "status": 2}),
        ),
        (
            REMEDY_V2_JSON,
            "user_remedys",
            json!({"user_id": "6e4b3a21", "approval_id": "7000000000000000001", "remedy_time": "2024-09-09 09:00", "time_zone": "Asia/Shanghai", "status": 2}),
        ),
    ];
    for (push, list, item) in twins {
        let pushed = approval(push);
        let pulled = pulled_twin(list, item);
        assert_eq!(pushed.kind, pulled.kind, "{list}");
        assert_ne!(
            pushed.business_key, pulled.business_key,
            "different ids: {list}"
        );
        assert_eq!(pushed.matching_keys.len(), 1, "{list}");
        assert_eq!(pushed.matching_keys, pulled.matching_keys, "{list}");
    }
    let out = approval(OUT_JSON);
    let start = out.start_time.unwrap().seconds;
    assert_eq!(
        out.matching_keys,
        vec![format!(
            "go_out@6e4b3a21@{start}-{}",
            out.end_time.unwrap().seconds
        )]
    );
    // A revert names neither employee nor span: it meets by business key.
    assert!(approval(LEAVE_REVERT_JSON).matching_keys.is_empty());
}
