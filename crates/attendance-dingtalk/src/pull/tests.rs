//! The pull translations against answers shaped like DingTalk's.

use attendance_proto::ingest::{Fact, Recognition};
use attendance_proto::v1::{
    ApprovalKind, ApprovalStatus, Channel, DurationUnit, ShiftResult, ShiftStatus, Supplement,
};
use attendance_proto::Timestamp;
use chrono::NaiveDate;

use super::update_data::date_of;
use super::*;
use crate::app::DingTalkApp;
use serde_json::json;

fn pull() -> PullSource {
    PullSource {
        app: "main".into(),
        app_id: "dingclient".into(),
        tenant: "dingcorp".into(),
        zone: "Asia/Shanghai".parse().unwrap(),
        received_time: Timestamp {
            seconds: 1_700_000_000,
            nanos: 0,
        },
    }
}

#[test]
fn local_times_are_in_the_tenant_zone() {
    let t = pull().local_time("2021-01-14 09:00:00").unwrap();
    assert_eq!(t.seconds, 1_610_586_000, "09:00 +08:00 is 01:00Z");
    assert_eq!(pull().local_date(&t), NaiveDate::from_ymd_opt(2021, 1, 14));
    assert!(pull().local_time("soon").is_none());
    assert_eq!(
        date_of("2021-01-14 09:00:00"),
        NaiveDate::from_ymd_opt(2021, 1, 14)
    );
}

#[test]
fn list_and_update_data_number_check_points_alike() {
    let day = json!({
        "userid": "u1", "work_date": "2021-01-14 00:00:00", "corpId": "dingcorp",
        "attendance_result_list": [
            {"check_type": "OffDuty", "plan_check_time": "2021-01-14 18:00:00", "time_result": "Normal", "source_type": "USER", "location_result": "Normal", "record_id": 2, "plan_id": 12, "group_id": 7},
            {"check_type": "OnDuty", "plan_check_time": "2021-01-14 13:00:00", "time_result": "Normal", "source_type": "USER", "location_result": "Normal", "record_id": 3, "plan_id": 13, "group_id": 7},
            {"check_type": "OnDuty", "plan_check_time": "2021-01-14 09:00:00", "user_check_time": "2021-01-14 09:10:00", "time_result": "Late", "source_type": "USER", "location_result": "Normal", "record_id": 1, "plan_id": 11, "group_id": 7},
            {"check_type": "OffDuty", "plan_check_time": "2021-01-14 12:00:00", "time_result": "NotSigned", "source_type": "SYSTEM", "location_result": "NotSigned", "plan_id": 14, "group_id": 7}
        ]
    });
    let from_day: Vec<ShiftResult> = facts_from_update_data(
        &pull(),
        "u1",
        NaiveDate::from_ymd_opt(2021, 1, 14).unwrap(),
        &day,
    )
    .into_iter()
    .filter_map(|f| match f {
        Fact::ShiftResult(s) => Some(s),
        _ => None,
    })
    .collect();
    let keys: Vec<(&str, &str)> = from_day
        .iter()
        .map(|s| (s.business_key.as_str(), s.status_original.as_str()))
        .collect();
    assert_eq!(
        keys,
        vec![
            ("u1/2021-01-14/1/on", "Late"),
            ("u1/2021-01-14/1/off", "NotSigned"),
            ("u1/2021-01-14/2/on", "Normal"),
            ("u1/2021-01-14/2/off", "Normal"),
        ]
    );
    let late = &from_day[0];
    assert_eq!(late.status, ShiftStatus::Late as i32);
    assert_eq!(late.task_id, "11");
    assert_eq!(late.scheduled_time.unwrap().seconds, 1_610_586_000);
    assert_eq!(late.actual_time.unwrap().seconds, 1_610_586_600);
    assert_eq!(from_day[1].status, ShiftStatus::Missing as i32);
    assert_eq!(from_day[1].supplement, Supplement::None as i32);

    let at = |h: i64| 1_610_553_600_000_i64 + h * 3_600_000; // 2021-01-14 00:00 +08:00
    let list = vec![
        json!({"userId": "u1", "checkType": "OnDuty", "baseCheckTime": at(9), "userCheckTime": at(9) + 600_123, "workDate": at(0), "timeResult": "Late", "sourceType": "USER", "locationResult": "Normal", "recordId": 1, "planId": 11, "groupId": 7}),
        json!({"userId": "u1", "checkType": "OffDuty", "baseCheckTime": at(12), "workDate": at(0), "timeResult": "NotSigned", "sourceType": "SYSTEM", "locationResult": "NotSigned", "planId": 14, "groupId": 7}),
        json!({"userId": "u1", "checkType": "OnDuty", "baseCheckTime": at(13), "workDate": at(0), "timeResult": "Normal", "sourceType": "USER", "locationResult": "Normal", "recordId": 3, "planId": 13, "groupId": 7}),
        json!({"userId": "u1", "checkType": "OffDuty", "baseCheckTime": at(18), "workDate": at(0), "timeResult": "Normal", "sourceType": "USER", "locationResult": "Normal", "recordId": 2, "planId": 12, "groupId": 7}),
    ];
    let from_list = shift_results_from_list(&pull(), &list);
    let strip = |s: &ShiftResult| {
        let mut s = s.clone();
        s.provenance = None;
        s.raw_json.clear();
        s.shift_id.clear();
        s
    };
    assert_eq!(from_list.len(), 4);
    for (a, b) in from_day.iter().zip(&from_list) {
        assert_eq!(
            strip(a),
            strip(b),
            "both APIs say the same of a check point"
        );
    }
}

#[test]
fn update_data_punches_and_approvals() {
    let day = json!({
        "userid": "u1", "corpId": "dingcorp",
        "check_record_list": [{"record_id": 52710882700_i64, "user_check_time": "2021-01-14 11:19:04", "source_type": "USER",
                               "invalid_record_type": "Other", "invalid_record_msg": "外勤打卡需要审批", "user_latitude": "30.286036"},
                              {"record_id": 1, "user_check_time": "never"}],
        "approve_list": [{"procInst_id": "p-1", "tag_name": "请假", "biz_type": 3, "sub_type": "年假", "duration": "1.0",
                          "duration_unit": "DAY", "begin_time": "2021-01-14 09:00:00", "end_time": "2021-01-14 18:00:00",
                          "gmt_finished": "2021-01-13 10:00:00"}, {"tag_name": "请假"}]
    });
    let facts = facts_from_update_data(
        &pull(),
        "u1",
        NaiveDate::from_ymd_opt(2021, 1, 14).unwrap(),
        &day,
    );
    assert_eq!(facts.len(), 2, "{facts:#?}");
    let Fact::Punch(punch) = &facts[0] else {
        panic!("{facts:?}")
    };
    assert_eq!(
        punch.business_key, "dingcorp/u1/1610594344000",
        "the push's rule without bizId"
    );
    assert_eq!(punch.record_id, "52710882700");
    assert_eq!(punch.invalid_reason, "外勤打卡需要审批");
    assert_eq!(punch.provenance.as_ref().unwrap().event_type, GETUPDATEDATA);
    let Fact::Approval(leave) = &facts[1] else {
        panic!("{facts:?}")
    };
    assert_eq!(leave.business_key, "p-1");
    assert_eq!(leave.kind, ApprovalKind::Leave as i32);
    assert_eq!(leave.status, ApprovalStatus::Approved as i32);
    assert_eq!(leave.duration, 1.0);
    assert_eq!(leave.duration_unit, DurationUnit::Days as i32);
    assert_eq!(leave.leave_type, "年假");
    assert_eq!(leave.start_time.unwrap().seconds, 1_610_586_000);
}

#[test]
fn list_records_become_the_pushed_punch() {
    let items = vec![json!({
        "id": 933110197, "userId": "u1", "corpId": "dingcorp", "bizId": "FF62CD34",
        "userCheckTime": 1_570_791_880_000_i64, "locationMethod": "MAP", "locationResult": "Normal",
        "sourceType": "USER", "isLegal": "Y", "userAddress": "园区", "userLatitude": 30.2, "userLongitude": 120.0
    })];
    let [punch] = punches_from_records(&pull(), &items).try_into().unwrap();
    // Keyed on the instant, not on `bizId` (an associated business id
    // that two punches may share).
    assert_eq!(punch.business_key, "dingcorp/u1/1570791880000");
    assert_eq!(punch.record_id, "933110197");
    assert_eq!(punch.check_time.unwrap().seconds, 1_570_791_880);
    assert_eq!(punch.location.as_ref().unwrap().name, "园区");
    assert_eq!(
        punch.provenance.as_ref().unwrap().channel,
        Channel::Pull as i32
    );
}

#[test]
fn failed_pushes_of_both_shapes_become_their_pushes() {
    let app = DingTalkApp {
        name: "main".into(),
        client_id: "dingclient".into(),
        client_secret: Default::default(),
        callback_token: Default::default(),
        callback_aes_key: Default::default(),
        corp_id: None,
        translation: Default::default(),
    };
    let received = pull().received_time;
    let record = json!({"userId": "u1", "checkTime": 1_606_126_400_000_i64, "bizId": "AB12", "locationMethod": "WIFI"});
    let tagged = json!({
        "attendance_check_record": {"callbackData": {"dataList": [record.clone()]}, "corpid": "c1"},
        "call_back_tag": "attendance_check_record", "event_time": 1_606_126_433_000_i64
    });
    let flat = json!({
        "call_back_tag": "attendance_check_record", "corpid": "c1", "event_time": 1_606_126_433_000_i64,
        "callbackData": json!({"eventId": "evt-7", "dataList": [record]}).to_string()
    });
    let from_tagged = failed_push_delivery(&app, &tagged, received);
    let from_flat = failed_push_delivery(&app, &flat, received);
    for delivery in [&from_tagged, &from_flat] {
        assert_eq!(delivery.channel, Channel::FailedPushRecovery);
        assert_eq!(delivery.recognition, Recognition::Translated);
        assert_eq!(
            (delivery.tenant.as_str(), delivery.event_type.as_str()),
            ("c1", "attendance_check_record")
        );
        let [Fact::Punch(punch)] = delivery.facts.as_slice() else {
            panic!("{delivery:?}")
        };
        assert_eq!(punch.business_key, "c1/u1/1606126400000");
        let provenance = punch.provenance.as_ref().unwrap();
        assert_eq!(provenance.channel, Channel::FailedPushRecovery as i32);
        assert_eq!(
            provenance.vendor_create_time.unwrap().seconds,
            1_606_126_433
        );
    }
    assert_eq!(
        from_flat.event_id, "evt-7",
        "the push's own id, so its redelivery dedups"
    );
    assert!(
        from_tagged.event_id.starts_with("failed-push:"),
        "{}",
        from_tagged.event_id
    );
    assert_eq!(
        from_tagged.event_id,
        failed_push_delivery(&app, &tagged, received).event_id,
        "stable"
    );
    assert!(
        !from_tagged.raw_json.contains("call_back_tag"),
        "the body is kept, like a push's"
    );

    let unreadable = failed_push_delivery(
        &app,
        &json!({"call_back_tag": "attendance_check_record"}),
        received,
    );
    assert!(
        matches!(unreadable.recognition, Recognition::Untranslatable(_)),
        "{unreadable:?}"
    );
    assert!(unreadable.raw_json.contains("call_back_tag"), "kept whole");
    let other = failed_push_delivery(
        &app,
        &json!({"user_add_org": {"userid": ["z"], "corpid": "c1"}, "call_back_tag": "user_add_org"}),
        received,
    );
    assert_eq!(other.recognition, Recognition::Unknown);
}
