//! Tests of the pulled approvals: the doc samples of approvals.md §1.1 and
//! §1.2 verbatim, every vendor status, units, zones, and how the items of
//! one approval gather into one fact that meets its pushed twin.

use attendance_proto::v1::{ApprovalKind, ApprovalStatus, DurationUnit};
use attendance_proto::Timestamp;
use chrono::NaiveDate;
use serde_json::{json, Value};

use super::approval::{approval_from_remedy, approvals_from_day, gather, PulledApproval};
use super::PullSource;
use crate::api::UserApprovalDay;
use crate::keys;

/// §1.1's response sample, verbatim (whitespace compacted as in the notes).
const USER_APPROVALS_SAMPLE: &str = r#"{"code":0,"msg":"success","data":{"user_approvals":[{"user_id":"abd754f7","date":"20210104",
 "leaves":[{"approval_id":"6737202939523236113","uniq_id":"6852582717813440527","unit":1,"interval":8,"start_time":"2021-01-04 09:00:00","end_time":"2021-01-04 19:00:00","i18n_names":{"ch":"中文描述","en":"English description","ja":"日本語の説明"},"default_locale":"ch","reason":"家里有事","approve_pass_time":"2021-01-04 12:00:00","approve_apply_time":"2021-01-04 11:00:00","idempotent_id":"1233432312"}],
 "overtime_works":[{"approval_id":"6737202939523236113","duration":1.5,"unit":1,"category":2,"type":1,"start_time":"2021-01-09 09:00:00","end_time":"2021-01-10 13:00:00","reason":"推进项目进度","idempotent_id":"1233432312","correct_process_id":["7304865941202929196"],"cancel_process_id":["7304865941202929196"],"process_id":["7304865941202929196"]}],
 "time_zone":"Asia/Shanghai"}]}}"#;

/// §1.2's response sample, verbatim.
const USER_REMEDYS_SAMPLE: &str = r#"{"code":0,"msg":"success","data":{"user_remedys":[{"user_id":"abd754f7","remedy_date":20210701,"punch_no":0,"work_type":1,"approval_id":"6737202939523236113","remedy_time":"2021-07-01 08:00","status":2,"reason":"忘记打卡","time":"1611476284","time_zone":"Asia/Shanghai","create_time":"1611476284","update_time":"1611476284"}]}}"#;

const PULLED_AT: Timestamp = Timestamp {
    seconds: 1_726_000_000,
    nanos: 0,
};

fn pull() -> PullSource {
    PullSource {
        app: "acme".into(),
        app_id: "cli_a".into(),
        tenant: "t1".into(),
        time_zone: "Asia/Shanghai".into(),
        received_time: PULLED_AT,
    }
}

/// Seconds of a wall-clock time at UTC+8.
fn shanghai(text: &str) -> Option<Timestamp> {
    let naive = chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S").unwrap();
    Some(Timestamp {
        seconds: naive.and_utc().timestamp() - 8 * 3600,
        nanos: 0,
    })
}

fn days(answer: &str) -> Vec<UserApprovalDay> {
    let answer: Value = serde_json::from_str(answer).unwrap();
    serde_json::from_value(answer["data"]["user_approvals"].clone()).unwrap()
}

fn from_day(status: i64, day: Value) -> Vec<PulledApproval> {
    let day: UserApprovalDay = serde_json::from_value(day).unwrap();
    let (approvals, problems) = approvals_from_day(&pull(), status, &day);
    assert!(problems.is_empty(), "{problems:?}");
    approvals
}

#[test]
fn the_user_approvals_sample_reads_as_a_leave_and_an_overtime() {
    let day = &days(USER_APPROVALS_SAMPLE)[0];
    let (approvals, problems) = approvals_from_day(&pull(), 2, day);
    assert!(problems.is_empty(), "{problems:?}");
    assert_eq!(approvals.len(), 2);
    let leave = &approvals[0].approval;
    assert_eq!(leave.kind(), ApprovalKind::Leave);
    assert_eq!(leave.kind_original, "leaves");
    assert_eq!(leave.business_key, "leave/6737202939523236113");
    assert_eq!(leave.instance_id, "6737202939523236113");
    assert_eq!(leave.employee_id, "abd754f7");
    assert_eq!(leave.status(), ApprovalStatus::Approved);
    assert_eq!(leave.status_original, "2");
    assert_eq!(leave.start_time, shanghai("2021-01-04 09:00:00"));
    assert_eq!(leave.end_time, shanghai("2021-01-04 19:00:00"));
    // interval is seconds whatever the unit: 8 s of a day unit.
    assert_eq!(leave.duration_unit(), DurationUnit::Days);
    assert_eq!(leave.duration, 8.0 / 86_400.0);
    assert_eq!(leave.duration_unit_original, "1");
    assert_eq!(leave.leave_type, "中文描述", "the default locale's name");
    assert_eq!(leave.reason, "家里有事");
    assert_eq!(
        leave.matching_keys,
        keys::span_key(
            ApprovalKind::Leave,
            "abd754f7",
            shanghai("2021-01-04 09:00:00"),
            shanghai("2021-01-04 19:00:00")
        )
        .into_iter()
        .collect::<Vec<_>>()
    );
    let raw: Value = serde_json::from_str(&leave.raw_json).unwrap();
    assert_eq!(
        raw["idempotent_id"], "1233432312",
        "the item as Feishu sent it"
    );
    let provenance = leave.provenance.as_ref().unwrap();
    assert_eq!(provenance.event_type, "attendance/v1/user_approvals/query");
    assert_eq!(
        provenance.version_time, None,
        "an approval may still be revoked"
    );
    assert_eq!(
        approvals[0].listed_dates,
        [NaiveDate::from_ymd_opt(2021, 1, 4).unwrap()].into()
    );

    let overtime = &approvals[1].approval;
    assert_eq!(overtime.kind(), ApprovalKind::Overtime);
    assert_eq!(overtime.business_key, "overtime/6737202939523236113");
    assert_eq!(overtime.start_time, shanghai("2021-01-09 09:00:00"));
    assert_eq!(overtime.end_time, shanghai("2021-01-10 13:00:00"));
    assert_eq!(overtime.duration_unit(), DurationUnit::Days);
    assert_eq!(overtime.duration, 1.5);
    assert_eq!(overtime.reason, "推进项目进度");
    assert!(overtime.leave_type.is_empty());
}

#[test]
fn the_remedy_sample_reads_as_an_approved_correction() {
    let answer: Value = serde_json::from_str(USER_REMEDYS_SAMPLE).unwrap();
    let item = &answer["data"]["user_remedys"][0];
    let pulled = approval_from_remedy(&pull(), 2, item).unwrap();
    let remedy = &pulled.approval;
    assert_eq!(remedy.kind(), ApprovalKind::PunchCorrection);
    assert_eq!(remedy.kind_original, "user_remedys");
    assert_eq!(remedy.business_key, "punch_correction/6737202939523236113");
    assert_eq!(remedy.employee_id, "abd754f7");
    assert_eq!(remedy.status(), ApprovalStatus::Approved);
    assert_eq!(remedy.corrected_time, shanghai("2021-07-01 08:00:00"));
    assert_eq!(remedy.reason, "忘记打卡");
    assert_eq!(
        remedy.matching_keys,
        vec![keys::correction_key("abd754f7", shanghai("2021-07-01 08:00:00")).unwrap()]
    );
    assert_eq!(
        pulled.listed_dates,
        [NaiveDate::from_ymd_opt(2021, 7, 1).unwrap()].into()
    );
    assert_eq!(
        remedy.provenance.as_ref().unwrap().event_type,
        "attendance/v1/user_task_remedys/query"
    );
}

#[test]
fn every_vendor_status_maps_and_the_final_ones_carry_the_pull_time() {
    let expected = [
        (0, ApprovalStatus::Pending, None),
        (1, ApprovalStatus::Rejected, Some(PULLED_AT)),
        (2, ApprovalStatus::Approved, None),
        (3, ApprovalStatus::Withdrawn, Some(PULLED_AT)),
        (4, ApprovalStatus::Withdrawn, Some(PULLED_AT)),
        (9, ApprovalStatus::Unspecified, None),
    ];
    for (status, model, version) in expected {
        let out = json!({"user_id": "e1", "date": "20240902", "outs": [
            {"approval_id": "o1", "start_time": "2024-09-02 14:00:00", "end_time": "2024-09-02 16:00:00"}
        ]});
        let approval = &from_day(status, out)[0].approval;
        assert_eq!(approval.status(), model, "status {status}");
        assert_eq!(
            approval.status_original,
            status.to_string(),
            "the original tells 3 from 4"
        );
        assert_eq!(approval.provenance.as_ref().unwrap().version_time, version);
        let remedy = json!({"user_id": "e1", "approval_id": "r1", "remedy_time": "2024-09-02 09:00", "status": status});
        let approval = approval_from_remedy(&pull(), 2, &remedy).unwrap().approval;
        assert_eq!(
            approval.status(),
            model,
            "remedy status {status}: the item's own"
        );
    }
}

#[test]
fn units_and_intervals_read_as_the_push_reads_them() {
    let leave = |unit: Value, interval: Value| {
        let day = json!({"user_id": "e1", "date": "20240905", "leaves": [{
            "approval_id": "l1", "unit": unit, "interval": interval,
            "start_time": "2024-09-05 13:30:00", "end_time": "2024-09-06 18:00:00"
        }]});
        from_day(2, day).remove(0).approval
    };
    // The push doc's leave: 1.5 days, 129 600 s.
    let days = leave(json!(1), json!(129_600));
    assert_eq!(
        (days.duration_unit(), days.duration),
        (DurationUnit::Days, 1.5)
    );
    let halves = leave(json!(3), json!(129_600));
    assert_eq!(
        (halves.duration_unit(), halves.duration),
        (DurationUnit::HalfDays, 3.0)
    );
    let hours = leave(json!("2"), json!("7200"));
    assert_eq!(
        (hours.duration_unit(), hours.duration),
        (DurationUnit::Hours, 2.0)
    );
    let half_hours = leave(json!(4), json!(5400));
    assert_eq!(
        (half_hours.duration_unit(), half_hours.duration),
        (DurationUnit::Hours, 1.5)
    );
    for unknown in [json!(0), json!(null)] {
        let unknown = leave(json!(1), unknown);
        assert_eq!(
            unknown.duration, 0.0,
            "0 or absent is unknown, not zero days"
        );
        assert_eq!(unknown.duration_unit(), DurationUnit::Unspecified);
    }
    let overtime = |unit: i64, duration: Value| {
        let day = json!({"user_id": "e1", "date": "20240906", "overtime_works": [{
            "approval_id": "w1", "unit": unit, "duration": duration,
            "start_time": "2024-09-06 19:00:00", "end_time": "2024-09-06 21:00:00"
        }]});
        from_day(2, day).remove(0).approval
    };
    let two_hours = overtime(2, json!(2));
    assert_eq!(
        (two_hours.duration_unit(), two_hours.duration),
        (DurationUnit::Hours, 2.0)
    );
    let four_halves = overtime(4, json!("4"));
    assert_eq!(
        (four_halves.duration_unit(), four_halves.duration),
        (DurationUnit::Hours, 2.0)
    );
    let half_day = overtime(3, json!(1));
    assert_eq!(
        (half_day.duration_unit(), half_day.duration),
        (DurationUnit::HalfDays, 1.0)
    );
}

#[test]
fn times_are_read_in_the_items_zone_and_utc_without_one() {
    let trip = |zone: &str| {
        let day = json!({"user_id": "e1", "date": "20240912", "time_zone": zone, "trips": [{
            "approval_id": "t1", "start_time": "2024-09-12 20:00:00", "end_time": "2024-09-14 21:30:00"
        }]});
        from_day(2, day).remove(0).approval
    };
    assert_eq!(
        trip("Asia/Shanghai").start_time,
        shanghai("2024-09-12 20:00:00")
    );
    let utc = trip("");
    assert_eq!(
        utc.start_time.unwrap().seconds,
        shanghai("2024-09-12 20:00:00").unwrap().seconds + 8 * 3600
    );
    assert_eq!(utc.kind(), ApprovalKind::BusinessTrip);
    let day: UserApprovalDay =
        serde_json::from_value(json!({"user_id": "e1", "time_zone": "Mars/Base",
        "trips": [{"approval_id": "t1"}]}))
        .unwrap();
    let (approvals, problems) = approvals_from_day(&pull(), 2, &day);
    assert!(approvals.is_empty());
    assert!(problems[0].contains("Mars/Base"), "{problems:?}");
}

#[test]
fn an_item_without_id_user_or_readable_times_is_reported_not_kept() {
    for day in [
        json!({"user_id": "e1", "leaves": [{"start_time": "2024-09-02 09:00:00"}]}),
        json!({"user_id": "", "leaves": [{"approval_id": "l1"}]}),
        json!({"user_id": "e1", "leaves": [{"approval_id": "l1", "start_time": "yesterday"}]}),
        json!({"user_id": "e1", "leaves": [{"approval_id": "l1", "unit": {"x": 1}}]}),
    ] {
        let day: UserApprovalDay = serde_json::from_value(day).unwrap();
        let (approvals, problems) = approvals_from_day(&pull(), 2, &day);
        assert!(approvals.is_empty());
        assert_eq!(problems.len(), 1, "{problems:?}");
    }
    assert!(approval_from_remedy(&pull(), 2, &json!({"user_id": "e1"})).is_err());
}

#[test]
fn an_approval_listed_per_date_and_status_gathers_into_one_fact_in_its_latest_state() {
    let item = json!({"approval_id": "l1", "start_time": "2024-09-02 09:00:00", "end_time": "2024-09-04 18:00:00"});
    let listed = |date: &str| json!({"user_id": "e1", "date": date, "leaves": [item.clone()]});
    let mut pulled = Vec::new();
    for date in ["20240902", "20240903", "20240904"] {
        pulled.extend(from_day(2, listed(date)));
    }
    // Revoked while the answers were put together: listed withdrawn too.
    pulled.extend(from_day(3, listed("20240903")));
    let gathered = gather(pulled);
    assert_eq!(gathered.len(), 1);
    assert_eq!(gathered[0].approval.status(), ApprovalStatus::Withdrawn);
    assert_eq!(gathered[0].listed_dates.len(), 3);
}

#[test]
fn of_two_approvals_about_the_same_hours_the_one_in_effect_keeps_the_matching_key() {
    let leave = |id: &str| json!({"approval_id": id, "start_time": "2024-09-02 09:00:00", "end_time": "2024-09-02 18:00:00"});
    let mut pulled = from_day(
        3,
        json!({"user_id": "e1", "date": "20240902", "leaves": [leave("100")]}),
    );
    pulled.extend(from_day(
        2,
        json!({"user_id": "e1", "date": "20240902", "leaves": [leave("101")]}),
    ));
    let gathered = gather(pulled);
    let keys_of = |id: &str| {
        gathered
            .iter()
            .find(|p| p.approval.instance_id == id)
            .unwrap()
            .approval
            .matching_keys
            .clone()
    };
    assert!(
        keys_of("100").is_empty(),
        "the revoked submission stands alone"
    );
    assert_eq!(
        keys_of("101").len(),
        1,
        "the approved resubmission meets the push"
    );
}
