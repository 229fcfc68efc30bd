//! Translation of every event fixture, over Stream and over HTTP, field by
//! field; variations of each approval kind; unknown and garbled events; and
//! the pulls each delivery calls for.

use attendance_dingtalk::{
    instance_pulls, pull_triggers, translate_callback, translate_stream, DayPull, InstancePull,
};
use attendance_proto::ingest::{Delivery, Fact, Recognition};
use attendance_proto::v1::{
    Approval, ApprovalKind, ApprovalStatus, Channel, Device, DurationUnit, Location, Punch,
    PunchMethod, PunchOrigin, PunchValidity, Vendor,
};
use attendance_proto::Timestamp;
use chrono::NaiveDate;
use serde_json::{json, Value};

use crate::support::{
    app, callback, edited, event_headers, http_json, stream_event, stream_frame, CLIENT_ID,
    CORP_ID, DATA_BPMS_SUPPLY, DATA_OVERTIME, DATA_SUPPLEMENT_PUNCH, HTTP_CHECK_RECORD_LEGACY,
    STREAM_CHECK_RECORD,
};

/// The zone of the test app's attendance calendar (the default).
const SHANGHAI: chrono_tz::Tz = chrono_tz::Asia::Shanghai;

const RECEIVED: Timestamp = Timestamp {
    seconds: 1_700_000_100,
    nanos: 7,
};

fn via_stream(frame: &str) -> Delivery {
    translate_stream(&stream_event(frame), &app(), RECEIVED)
}

fn via_http(json: &str) -> Delivery {
    translate_callback(&callback(json), RECEIVED)
}

/// A Stream delivery of `data` as `event_type`, with standard headers.
fn stream_of(event_type: &str, data: &str) -> Delivery {
    via_stream(&stream_frame(event_headers(event_type, "evt-1"), data))
}

fn punches(delivery: &Delivery) -> Vec<Punch> {
    assert_eq!(delivery.recognition, Recognition::Translated);
    delivery
        .facts
        .iter()
        .map(|fact| match fact {
            Fact::Punch(punch) => punch.clone(),
            other => panic!("expected punches, got {other:?}"),
        })
        .collect()
}

fn approval(delivery: &Delivery) -> Approval {
    assert_eq!(
        delivery.recognition,
        Recognition::Translated,
        "{delivery:?}"
    );
    match delivery.facts.as_slice() {
        [Fact::Approval(approval)] => approval.clone(),
        other => panic!("expected one approval, got {other:?}"),
    }
}

fn assert_untranslatable(delivery: &Delivery, mentions: &str) {
    match &delivery.recognition {
        Recognition::Untranslatable(reason) => assert!(
            reason.contains(mentions),
            "reason {reason:?} lacks {mentions:?}"
        ),
        other => panic!("expected untranslatable, got {other:?}"),
    }
    assert!(delivery.facts.is_empty());
    assert!(!delivery.raw_json.is_empty(), "the raw body is kept");
    assert!(pull_triggers(delivery, SHANGHAI).is_empty());
}

fn ms(millis: i64) -> Option<Timestamp> {
    Some(Timestamp {
        seconds: millis / 1000,
        nanos: (millis % 1000) as i32 * 1_000_000,
    })
}

fn day(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap()
}

fn fixture_data(frame: &str) -> String {
    let value: Value = serde_json::from_str(frame).unwrap();
    value["data"].as_str().unwrap().to_owned()
}

#[test]
fn the_stream_punch_fixture_translates_field_by_field() {
    let delivery = via_stream(STREAM_CHECK_RECORD);
    let data = fixture_data(STREAM_CHECK_RECORD);
    assert_eq!(delivery.vendor, Vendor::Dingtalk);
    assert_eq!(delivery.app, "main");
    assert_eq!(delivery.tenant, "ding9f50b15b16741");
    assert_eq!(delivery.channel, Channel::Stream);
    assert_eq!(delivery.event_id, "c7c7120f2c07419ebdba0318c8");
    assert_eq!(delivery.event_type, "attendance_check_record");
    assert_eq!(delivery.raw_json, data, "the frame's data, verbatim");

    let [punch] = punches(&delivery).try_into().unwrap();
    let source = punch.source.as_ref().unwrap();
    assert_eq!(source.vendor, Vendor::Dingtalk as i32);
    assert_eq!(source.app, "main");
    assert_eq!(source.app_id, CLIENT_ID);
    assert_eq!(source.tenant, "ding9f50b15b16741");
    // The instant, not `bizId` (an associated business id two punches may
    // share); the push has no record id.
    assert_eq!(
        punch.business_key,
        "ding9f50b15b16741/0126501/1570791880000"
    );
    assert_eq!(punch.record_id, "");
    assert_eq!(punch.employee_id, "0126501");
    assert_eq!(punch.employee_no, "");
    assert_eq!(punch.check_time, ms(1_570_791_880_000));
    assert_eq!(
        punch.location,
        Some(Location {
            name: "中国科学院物理研究所(浙江海外高层次人才创新园东)".into(),
            latitude: Some(30.285230848524307),
            longitude: Some(120.01713514539931),
            accuracy: None,
        })
    );
    assert_eq!(punch.wifi, None, "the event has no Wi-Fi fields");
    assert_eq!(
        punch.device,
        Some(Device {
            id: String::new(),
            serial_number: "160xxxxx6KN0294".into(),
            name: String::new(),
        })
    );
    assert_eq!(punch.method, PunchMethod::Gps as i32);
    assert_eq!(punch.method_original, "MAP");
    assert!(!punch.field_punch);
    assert_eq!(punch.origin, PunchOrigin::User as i32);
    assert_eq!(punch.origin_original, "checkByUser=true");
    assert_eq!(punch.risk, 0);
    assert_eq!(punch.risk_original, "");
    assert_eq!(punch.validity, PunchValidity::Unspecified as i32);
    assert_eq!(punch.validity_original, "");
    assert_eq!(punch.invalid_reason, "");
    assert_eq!(punch.comment, "");
    assert!(punch.photo_urls.is_empty());
    assert_eq!(punch.revision, 0);
    assert_eq!(punch.raw_json, data);
    let provenance = punch.provenance.as_ref().unwrap();
    assert_eq!(provenance.channel, Channel::Stream as i32);
    assert_eq!(provenance.event_id, "c7c7120f2c07419ebdba0318c8");
    assert_eq!(provenance.event_type, "attendance_check_record");
    assert_eq!(provenance.received_time, Some(RECEIVED));
    assert_eq!(provenance.vendor_create_time, ms(1_683_533_823_336));

    // 2019-10-11T11:04:40Z is 19:04 on the 11th in China.
    assert_eq!(
        pull_triggers(&delivery, SHANGHAI),
        vec![DayPull {
            tenant: "ding9f50b15b16741".into(),
            employee_id: "0126501".into(),
            work_date: day(2019, 10, 11),
        }]
    );
    assert!(instance_pulls(&delivery).is_empty());
}

#[test]
fn the_same_punch_over_http_is_the_same_fact_with_http_provenance() {
    let data = fixture_data(STREAM_CHECK_RECORD);
    let json = http_json(
        "attendance_check_record",
        &data,
        json!({"EventTime": 1663143335567_i64, "CorpId": "ding9f50b15b16741",
               "BizId": "1663143335567", "eventId": "c7c7120f2c07419ebdba0318c8"}),
    );
    let delivery = via_http(&json);
    assert_eq!(delivery.channel, Channel::HttpCallback);
    assert_eq!(delivery.event_id, "c7c7120f2c07419ebdba0318c8");
    assert_eq!(delivery.tenant, "ding9f50b15b16741");
    assert_eq!(delivery.raw_json, json, "the decrypted JSON, verbatim");

    let [over_http] = punches(&delivery).try_into().unwrap();
    let [over_stream] = punches(&via_stream(STREAM_CHECK_RECORD))
        .try_into()
        .unwrap();
    let provenance = over_http.provenance.clone().unwrap();
    assert_eq!(provenance.channel, Channel::HttpCallback as i32);
    assert_eq!(provenance.vendor_create_time, ms(1_663_143_335_567));
    // Everything but how it arrived is identical, so the store sees no change.
    let strip = |mut punch: Punch| {
        punch.provenance = None;
        punch.raw_json.clear();
        punch
    };
    assert_eq!(strip(over_http), strip(over_stream));
}

#[test]
fn the_legacy_http_data_list_translates() {
    let delivery = via_http(HTTP_CHECK_RECORD_LEGACY);
    assert_eq!(delivery.event_type, "attendance_check_record");
    assert_eq!(
        delivery.tenant, "ding241f334c339e175b",
        "from the item's corpId"
    );
    assert_eq!(delivery.event_id, "", "old payloads carry no event id");
    assert_eq!(delivery.raw_json, HTTP_CHECK_RECORD_LEGACY);

    let [punch] = punches(&delivery).try_into().unwrap();
    assert_eq!(
        punch.source.as_ref().unwrap().tenant,
        "ding241f334c339e175b"
    );
    assert_eq!(
        punch.business_key,
        "ding241f334c339e175b/user0042/1611793083000"
    );
    assert_eq!(punch.employee_id, "user0042");
    assert_eq!(punch.check_time, ms(1_611_793_083_000));
    assert_eq!(
        punch.location,
        Some(Location {
            name: "测试门禁_80692".into(),
            latitude: None,
            longitude: None,
            accuracy: None,
        })
    );
    assert_eq!(
        punch.device,
        Some(Device {
            id: String::new(),
            serial_number: "SN00112233".into(),
            name: "测试门禁_80692".into(),
        })
    );
    assert_eq!(
        punch.wifi, None,
        "baseMacAddr is the machine's, not the user's"
    );
    assert_eq!(punch.method, PunchMethod::Machine as i32);
    assert_eq!(punch.method_original, "ATM");
    assert_eq!(punch.origin, PunchOrigin::User as i32);
    let provenance = punch.provenance.unwrap();
    assert_eq!(provenance.channel, Channel::HttpCallback as i32);
    assert_eq!(provenance.vendor_create_time, None);
    assert_eq!(provenance.event_id, "");
}

#[test]
fn the_supplementary_punch_takes_its_event_id_and_tenant_from_data() {
    let frame = stream_frame(
        json!({"messageId": "m", "eventType": "attendance_check_record", "topic": "*"}),
        DATA_SUPPLEMENT_PUNCH,
    );
    let delivery = via_stream(&frame);
    assert_eq!(delivery.event_id, "3b15cb8159204bfe9e60f4f276fdc29c");
    assert_eq!(delivery.tenant, "dinged281b9ee2134221a39a90f97fcb1e09");
    let [punch] = punches(&delivery).try_into().unwrap();
    assert_eq!(punch.method, PunchMethod::Other as i32);
    assert_eq!(punch.method_original, "OTHER");
    assert_eq!(
        punch.business_key,
        "dinged281b9ee2134221a39a90f97fcb1e09/02253726682920171716/1756083600000"
    );
    assert_eq!(punch.employee_id, "02253726682920171716");
    assert_eq!(punch.location, None, "no place, no coordinates");
    assert_eq!(punch.device, None);
    assert_eq!(
        punch.provenance.unwrap().vendor_create_time,
        None,
        "no eventBornTime header"
    );
    // 2025-08-25T01:00:00Z is 09:00 on the 25th in China.
    assert_eq!(
        pull_triggers(&delivery, SHANGHAI),
        vec![DayPull {
            tenant: "dinged281b9ee2134221a39a90f97fcb1e09".into(),
            employee_id: "02253726682920171716".into(),
            work_date: day(2025, 8, 25),
        }]
    );
}

#[test]
fn pulled_record_fields_fill_the_rest_of_a_punch() {
    let data = json!({"dataList": [{
        "userId": "u1", "checkTime": 1611793083000_i64, "corpId": "dingc",
        "userAddress": "Office", "userLatitude": "30.5", "userLongitude": "120.25",
        "userAccuracy": "15.0", "userSsid": "corp-wifi", "userMacAddr": "aa:bb",
        "deviceId": "dev-1", "deviceName": "Phone", "locationMethod": "WIFI",
        "locationResult": "Outside", "sourceType": "APPROVE", "isLegal": "N",
        "invalidRecordType": "Other", "invalidRecordMsg": "外勤打卡需要审批",
        "outsideRemark": "client visit", "photoUrl": "http://p/1.jpg", "recordId": 52710882700_i64
    }]})
    .to_string();
    let [punch] = punches(&stream_of("attendance_check_record", &data))
        .try_into()
        .unwrap();
    assert_eq!(
        punch.location,
        Some(Location {
            name: "Office".into(),
            latitude: Some(30.5),
            longitude: Some(120.25),
            accuracy: Some(15.0),
        })
    );
    let wifi = punch.wifi.unwrap();
    assert_eq!(
        (wifi.ssid.as_str(), wifi.bssid.as_str()),
        ("corp-wifi", "aa:bb")
    );
    let device = punch.device.unwrap();
    assert_eq!(
        (device.id.as_str(), device.name.as_str()),
        ("dev-1", "Phone")
    );
    assert_eq!(punch.method, PunchMethod::Wifi as i32);
    assert!(punch.field_punch);
    assert_eq!(punch.origin, PunchOrigin::Correction as i32);
    assert_eq!(punch.origin_original, "APPROVE");
    assert_eq!(punch.validity, PunchValidity::Invalid as i32);
    assert_eq!(punch.validity_original, "isLegal=N;invalidRecordType=Other");
    assert_eq!(punch.invalid_reason, "外勤打卡需要审批");
    assert_eq!(punch.comment, "client visit");
    assert_eq!(punch.photo_urls, vec!["http://p/1.jpg"]);
    assert_eq!(punch.record_id, "52710882700");
    assert_eq!(
        punch.business_key,
        format!("{CORP_ID}/u1/1611793083000"),
        "no bizId: corp/user/checkTime with the delivery's tenant"
    );
}

#[test]
fn a_replayed_punch_is_a_system_punch() {
    let data = edited(DATA_SUPPLEMENT_PUNCH, |v| {
        v["dataList"][0]["checkByUser"] = json!(false)
    });
    let [punch] = punches(&stream_of("attendance_check_record", &data))
        .try_into()
        .unwrap();
    assert_eq!(punch.origin, PunchOrigin::System as i32);
    assert_eq!(punch.origin_original, "checkByUser=false");
}

#[test]
fn several_punches_give_one_fact_each_and_one_pull_per_day() {
    let data = json!({"dataList": [
        {"userId": "u1", "checkTime": 1700000000000_i64, "bizId": "a"},
        {"userId": "u1", "checkTime": 1700003600000_i64, "bizId": "b"},
        {"userId": "u2", "checkTime": 1700000000000_i64, "bizId": "c"}
    ]})
    .to_string();
    let delivery = stream_of("attendance_check_record", &data);
    let keys: Vec<_> = punches(&delivery)
        .into_iter()
        .map(|p| p.business_key)
        .collect();
    assert_eq!(
        keys,
        [
            format!("{CORP_ID}/u1/1700000000000"),
            format!("{CORP_ID}/u1/1700003600000"),
            format!("{CORP_ID}/u2/1700000000000")
        ]
    );
    let pulls = pull_triggers(&delivery, SHANGHAI);
    assert_eq!(
        pulls
            .iter()
            .map(|p| (p.employee_id.as_str(), p.work_date))
            .collect::<Vec<_>>(),
        [("u1", day(2023, 11, 15)), ("u2", day(2023, 11, 15))]
    );
    assert!(pulls.iter().all(|p| p.tenant == CORP_ID));
}

#[test]
fn an_empty_data_list_is_translated_with_no_facts() {
    let delivery = stream_of("attendance_check_record", r#"{"dataList":[]}"#);
    assert_eq!(delivery.recognition, Recognition::Translated);
    assert!(delivery.facts.is_empty());
}

#[test]
fn garbled_punches_are_untranslatable_and_keep_the_raw_body() {
    let cases = [
        (r#"{"eventId":"x"}"#.to_owned(), "dataList is missing"),
        (r#"{"dataList":null}"#.to_owned(), "dataList is missing"),
        (r#"{"dataList":"nope"}"#.to_owned(), "event body"),
        (
            edited(DATA_SUPPLEMENT_PUNCH, |v| {
                v["dataList"][0]["checkTime"] = json!("soon")
            }),
            "\"soon\" is not an integer",
        ),
        (
            edited(DATA_SUPPLEMENT_PUNCH, |v| {
                v["dataList"][0]
                    .as_object_mut()
                    .unwrap()
                    .remove("checkTime");
            }),
            "dataList[0]: checkTime is missing",
        ),
        (
            edited(DATA_SUPPLEMENT_PUNCH, |v| {
                v["dataList"][0].as_object_mut().unwrap().remove("userId");
            }),
            "dataList[0]: userId",
        ),
        (
            edited(DATA_SUPPLEMENT_PUNCH, |v| {
                v["dataList"][0]["checkTime"] = json!(-5)
            }),
            "out of range",
        ),
        ("{not json".to_owned(), "not JSON"),
        ("[1,2]".to_owned(), "not an object"),
    ];
    for (data, mentions) in cases {
        let delivery = stream_of("attendance_check_record", &data);
        assert_untranslatable(&delivery, mentions);
        assert_eq!(delivery.raw_json, data);
        assert_eq!(delivery.event_id, "evt-1");
    }
}

#[test]
fn one_bad_item_costs_only_itself() {
    let data = json!({"dataList": [
        {"userId": "u1", "checkTime": 1700000000000_i64},
        {"checkTime": 1700000000000_i64}
    ]})
    .to_string();
    let delivery = stream_of("attendance_check_record", &data);
    assert_eq!(delivery.recognition, Recognition::Translated);
    let [punch] = punches(&delivery).try_into().unwrap();
    assert_eq!(punch.employee_id, "u1");
    let none_readable = json!({"dataList": [{"checkTime": 1700000000000_i64}]}).to_string();
    assert_untranslatable(
        &stream_of("attendance_check_record", &none_readable),
        "dataList[0]",
    );
}

#[test]
fn the_overtime_fixture_is_an_overtime_approval() {
    let delivery = stream_of("attendance_overtime_duration", DATA_OVERTIME);
    let approval = approval(&delivery);
    assert_eq!(approval.source.as_ref().unwrap().tenant, CORP_ID);
    assert_eq!(approval.source.as_ref().unwrap().app_id, CLIENT_ID);
    assert_eq!(
        approval.business_key,
        "ding78d7bd4dc132dbc324f2fbecb85;265249460;20230525"
    );
    assert_eq!(approval.employee_id, "265249460");
    assert_eq!(approval.kind, ApprovalKind::Overtime as i32);
    assert_eq!(approval.kind_original, "workDay");
    assert_eq!(approval.status, ApprovalStatus::Approved as i32);
    assert_eq!(approval.status_original, "modify");
    assert_eq!(approval.instance_id, "");
    assert_eq!(approval.start_time, ms(1_684_944_000_000));
    assert_eq!(approval.end_time, None);
    assert_eq!(approval.duration, 2.5);
    assert_eq!(approval.duration_unit, DurationUnit::Hours as i32);
    assert_eq!(approval.duration_unit_original, "overtimeHour");
    assert_eq!(approval.corrected_time, None);
    assert_eq!(approval.revision, 0);
    assert_eq!(approval.raw_json, DATA_OVERTIME);
    let provenance = approval.provenance.unwrap();
    assert_eq!(provenance.event_type, "attendance_overtime_duration");
    assert_eq!(provenance.vendor_create_time, ms(1_700_000_000_000));
    assert!(pull_triggers(&delivery, SHANGHAI).is_empty());
}

#[test]
fn overtime_without_a_key_or_hours_falls_back_sensibly() {
    let data = edited(DATA_OVERTIME, |v| {
        let item = v["dataList"][0].as_object_mut().unwrap();
        item.remove("key");
        item.insert("overtimeHour".into(), json!(0.0));
        item.insert("overtimeDay".into(), json!(1));
    });
    let approval = approval(&stream_of("attendance_overtime_duration", &data));
    // workDate 1684944000000 is midnight of 2023-05-25 in China.
    assert_eq!(
        approval.business_key,
        format!("{CORP_ID};265249460;20230525")
    );
    assert_eq!(approval.duration, 1.0);
    assert_eq!(approval.duration_unit, DurationUnit::Days as i32);
    assert_eq!(approval.duration_unit_original, "overtimeDay");

    for (edit, mentions) in [("userid", "userid"), ("workDate", "workDate is missing")] {
        let data = edited(DATA_OVERTIME, |v| {
            v["dataList"][0].as_object_mut().unwrap().remove(edit);
        });
        assert_untranslatable(&stream_of("attendance_overtime_duration", &data), mentions);
    }
}

#[test]
fn the_supply_fixture_is_an_approved_punch_correction() {
    let delivery = stream_of("bpms_instance_change", DATA_BPMS_SUPPLY);
    let approval = approval(&delivery);
    assert_eq!(approval.source.as_ref().unwrap().tenant, CORP_ID);
    assert_eq!(
        approval.business_key,
        "ce133dd0-5b22-9516-0000-000000000001"
    );
    assert_eq!(approval.instance_id, "ce133dd0-5b22-9516-0000-000000000001");
    assert_eq!(approval.employee_id, "08058646137");
    assert_eq!(approval.kind, ApprovalKind::PunchCorrection as i32);
    assert_eq!(approval.kind_original, "attendance.supply");
    assert_eq!(approval.status, ApprovalStatus::Approved as i32);
    assert_eq!(approval.status_original, "finish/agree");
    assert_eq!(approval.start_time, None, "createTime is not the absence");
    assert_eq!(approval.end_time, None);
    assert_eq!(approval.duration, 0.0);
    assert_eq!(approval.duration_unit, DurationUnit::Unspecified as i32);
    assert_eq!(approval.corrected_time, None);
    assert_eq!(approval.raw_json, DATA_BPMS_SUPPLY);

    // The corrected day is only in the form: fetch the instance first.
    assert!(pull_triggers(&delivery, SHANGHAI).is_empty());
    assert_eq!(
        instance_pulls(&delivery),
        vec![InstancePull {
            tenant: CORP_ID.into(),
            instance_id: "ce133dd0-5b22-9516-0000-000000000001".into(),
            employee_id: "08058646137".into(),
        }]
    );
}

#[test]
fn the_supply_fixture_over_http() {
    let json = http_json(
        "bpms_instance_change",
        DATA_BPMS_SUPPLY,
        json!({"corpId": "dinghttpcorp"}),
    );
    let delivery = via_http(&json);
    assert_eq!(
        delivery.tenant, "dinghttpcorp",
        "old payloads name corpId in the body"
    );
    let approval = approval(&delivery);
    assert_eq!(approval.kind, ApprovalKind::PunchCorrection as i32);
    assert_eq!(approval.source.unwrap().tenant, "dinghttpcorp");
    assert_eq!(approval.raw_json, json);
}

#[test]
fn every_attendance_category_maps_to_its_kind() {
    for (category, kind) in [
        ("attendance.supply", ApprovalKind::PunchCorrection),
        ("attendance.batchovertime", ApprovalKind::Overtime),
        ("attendance.goout", ApprovalKind::GoOut),
        ("alitrip.business", ApprovalKind::BusinessTrip),
        ("attendance.relieve", ApprovalKind::ShiftSwap),
    ] {
        let data = edited(DATA_BPMS_SUPPLY, |v| v["bizCategoryId"] = json!(category));
        let approval = approval(&stream_of("bpms_instance_change", &data));
        assert_eq!(approval.kind, kind as i32, "{category}");
        assert_eq!(approval.kind_original, category);
    }
}

#[test]
fn every_instance_status_maps() {
    for (kind, result, status, original) in [
        ("start", None, ApprovalStatus::Pending, "start"),
        (
            "finish",
            Some("agree"),
            ApprovalStatus::Approved,
            "finish/agree",
        ),
        (
            "finish",
            Some("refuse"),
            ApprovalStatus::Rejected,
            "finish/refuse",
        ),
        ("terminate", None, ApprovalStatus::Withdrawn, "terminate"),
        ("delete", None, ApprovalStatus::Deleted, "delete"),
        ("finish", None, ApprovalStatus::Unspecified, "finish"),
        ("archive", None, ApprovalStatus::Unspecified, "archive"),
    ] {
        let data = edited(DATA_BPMS_SUPPLY, |v| {
            let object = v.as_object_mut().unwrap();
            object.insert("type".into(), json!(kind));
            match result {
                Some(result) => object.insert("result".into(), json!(result)),
                None => object.remove("result"),
            };
        });
        let delivery = stream_of("bpms_instance_change", &data);
        let approval = approval(&delivery);
        assert_eq!(approval.status, status as i32, "{original}");
        assert_eq!(approval.status_original, original);
        let wants_instance = status == ApprovalStatus::Approved;
        assert_eq!(
            !instance_pulls(&delivery).is_empty(),
            wants_instance,
            "{original}"
        );
    }
}

#[test]
fn other_approval_processes_carry_nothing_for_payroll() {
    for category in ["", "open.com.dd.at.approveCheck", "expense.claim"] {
        let data = edited(DATA_BPMS_SUPPLY, |v| v["bizCategoryId"] = json!(category));
        let delivery = stream_of("bpms_instance_change", &data);
        assert_eq!(delivery.recognition, Recognition::Translated, "{category}");
        assert!(delivery.facts.is_empty(), "{category}");
        assert_eq!(delivery.raw_json, data);
    }
}

#[test]
fn task_changes_are_known_but_yield_no_fact() {
    let data = edited(DATA_BPMS_SUPPLY, |v| {
        v["taskId"] = json!(811165);
        v["remark"] = json!("同意");
    });
    let delivery = stream_of("bpms_task_change", &data);
    assert_eq!(delivery.recognition, Recognition::Translated);
    assert!(delivery.facts.is_empty());
    assert!(instance_pulls(&delivery).is_empty());
    let no_instance = edited(DATA_BPMS_SUPPLY, |v| {
        v.as_object_mut().unwrap().remove("processInstanceId");
    });
    assert_untranslatable(
        &stream_of("bpms_task_change", &no_instance),
        "processInstanceId",
    );
}

#[test]
fn garbled_instance_changes_are_untranslatable() {
    for (field, mentions) in [("processInstanceId", "processInstanceId"), ("type", "type")] {
        let data = edited(DATA_BPMS_SUPPLY, |v| {
            v.as_object_mut().unwrap().remove(field);
        });
        assert_untranslatable(&stream_of("bpms_instance_change", &data), mentions);
    }
    let data = edited(DATA_BPMS_SUPPLY, |v| v["createTime"] = json!("yesterday"));
    assert_untranslatable(&stream_of("bpms_instance_change", &data), "event body");
}

const APPROVE_STATUS: &str = r#"{"approveType":"LEAVE","processInstanceId":"xxxx-fdr-3423","mainProcessInstanceId":"xxxx-fdr-3423","corpId":"dingxxxx","processCode":"PROC-1","status":"start"}"#;

#[test]
fn an_approval_status_change_is_an_approval() {
    let delivery = stream_of("attendance_approve_status_change", APPROVE_STATUS);
    let approval = approval(&delivery);
    assert_eq!(approval.source.as_ref().unwrap().tenant, CORP_ID);
    assert_eq!(approval.business_key, "xxxx-fdr-3423");
    assert_eq!(approval.instance_id, "xxxx-fdr-3423");
    assert_eq!(approval.employee_id, "", "the event names no employee");
    assert_eq!(approval.kind, ApprovalKind::Leave as i32);
    assert_eq!(approval.kind_original, "LEAVE");
    assert_eq!(approval.status, ApprovalStatus::Pending as i32);
    assert_eq!(approval.status_original, "start");
    assert_eq!(approval.raw_json, APPROVE_STATUS);

    let with_user = edited(APPROVE_STATUS, |v| v["userId"] = json!("u7"));
    let approval_with_user = approval_of(&with_user);
    assert_eq!(approval_with_user.employee_id, "u7");
}

fn approval_of(data: &str) -> Approval {
    approval(&stream_of("attendance_approve_status_change", data))
}

#[test]
fn every_approve_type_and_status_maps() {
    for (approve_type, kind) in [
        ("LEAVE", ApprovalKind::Leave),
        ("OVERTIME", ApprovalKind::Overtime),
        // As DingTalk documents them: OUT 出差, TRAVEL 外出.
        ("OUT", ApprovalKind::BusinessTrip),
        ("TRAVEL", ApprovalKind::GoOut),
        ("NEW", ApprovalKind::Unspecified),
    ] {
        let data = edited(APPROVE_STATUS, |v| v["approveType"] = json!(approve_type));
        let approval = approval_of(&data);
        assert_eq!(approval.kind, kind as i32, "{approve_type}");
        assert_eq!(approval.kind_original, approve_type);
    }
    for (status, expected) in [
        ("start", ApprovalStatus::Pending),
        ("terminate", ApprovalStatus::Withdrawn),
        ("delete", ApprovalStatus::Deleted),
    ] {
        let data = edited(APPROVE_STATUS, |v| v["status"] = json!(status));
        let approval = approval_of(&data);
        assert_eq!(approval.status, expected as i32, "{status}");
        assert_eq!(approval.status_original, status);
    }
    // `finish` (completed, agreed or refused) and unknown statuses say no
    // outcome: no fact that could overwrite one, the instance is read.
    for status in ["finish", "paused"] {
        let data = edited(APPROVE_STATUS, |v| v["status"] = json!(status));
        let delivery = stream_of("attendance_approve_status_change", &data);
        assert_eq!(delivery.recognition, Recognition::Translated, "{status}");
        assert!(delivery.facts.is_empty(), "{status}: {delivery:?}");
    }
    let data = edited(APPROVE_STATUS, |v| {
        v.as_object_mut().unwrap().remove("processInstanceId");
    });
    assert_untranslatable(
        &stream_of("attendance_approve_status_change", &data),
        "processInstanceId",
    );
}

#[test]
fn result_changes_are_pull_triggers_over_both_channels() {
    let boss = r#"{"workDate":"2020-11-10 00:00:00","action":"attend_bossCheck_update","planId":123,"userId":"001"}"#;
    let summary = r#"{"workDate":"2023-12-12","userId":"1234"}"#;
    for (event_type, data, employee, date) in [
        ("attend_bossCheck_change", boss, "001", day(2020, 11, 10)),
        (
            "attend_user_daily_summary_refresh",
            summary,
            "1234",
            day(2023, 12, 12),
        ),
    ] {
        let delivery = stream_of(event_type, data);
        assert_eq!(
            delivery.recognition,
            Recognition::Translated,
            "{event_type}"
        );
        assert!(delivery.facts.is_empty());
        assert_eq!(
            pull_triggers(&delivery, SHANGHAI),
            vec![DayPull {
                tenant: CORP_ID.into(),
                employee_id: employee.into(),
                work_date: date,
            }],
            "{event_type}"
        );

        let json = http_json(
            event_type,
            data,
            json!({"CorpId": "dinghttp", "eventId": "h1"}),
        );
        let delivery = via_http(&json);
        assert_eq!(delivery.recognition, Recognition::Translated);
        assert_eq!(
            pull_triggers(&delivery, SHANGHAI),
            vec![DayPull {
                tenant: "dinghttp".into(),
                employee_id: employee.into(),
                work_date: date,
            }]
        );
    }
}

#[test]
fn garbled_result_changes_are_untranslatable() {
    for (event_type, data, mentions) in [
        (
            "attend_bossCheck_change",
            r#"{"workDate":"soon","userId":"1"}"#,
            "workDate",
        ),
        (
            "attend_bossCheck_change",
            r#"{"workDate":"2020-11-10"}"#,
            "userId",
        ),
        (
            "attend_user_daily_summary_refresh",
            r#"{"userId":"1"}"#,
            "workDate",
        ),
        (
            "attend_user_daily_summary_refresh",
            r#"{"workDate":"2023-02-30","userId":"1"}"#,
            "workDate",
        ),
        ("attend_user_daily_summary_refresh", "nope", "not JSON"),
    ] {
        assert_untranslatable(&stream_of(event_type, data), mentions);
    }
}

#[test]
fn an_unknown_event_type_is_stored_raw_as_unknown() {
    let data = r#"{"timestamp":"1685501863357","userId":["015xxxx227"]}"#;
    let delivery = stream_of("user_add_org", data);
    assert_eq!(delivery.recognition, Recognition::Unknown);
    assert!(delivery.facts.is_empty());
    assert_eq!(delivery.event_type, "user_add_org");
    assert_eq!(delivery.event_id, "evt-1");
    assert_eq!(delivery.tenant, CORP_ID);
    assert_eq!(delivery.raw_json, data);
    assert!(pull_triggers(&delivery, SHANGHAI).is_empty());

    // Not even JSON: an unknown type is stored whatever it holds.
    let delivery = stream_of("attend_group_change", "not json");
    assert_eq!(delivery.recognition, Recognition::Unknown);
    assert_eq!(delivery.raw_json, "not json");

    let json = r#"{"EventType":"user_add_org","UserId":["u"],"CorpId":"dingc","TimeStamp":"1"}"#;
    let delivery = via_http(json);
    assert_eq!(delivery.recognition, Recognition::Unknown);
    assert_eq!(delivery.tenant, "dingc");
    assert_eq!(delivery.raw_json, json);
}

#[test]
fn events_route_on_event_type_never_on_topic() {
    let mut headers = event_headers("user_add_org", "e");
    headers["topic"] = json!("attendance_check_record");
    let delivery = via_stream(&stream_frame(headers, DATA_SUPPLEMENT_PUNCH));
    assert_eq!(delivery.recognition, Recognition::Unknown);

    let mut headers = event_headers("attendance_check_record", "e");
    headers["topic"] = json!("dingTalk");
    let delivery = via_stream(&stream_frame(headers, DATA_SUPPLEMENT_PUNCH));
    assert_eq!(delivery.facts.len(), 1);

    let mut headers = event_headers("", "e");
    headers.as_object_mut().unwrap().remove("eventType");
    let delivery = via_stream(&stream_frame(headers, DATA_SUPPLEMENT_PUNCH));
    assert_eq!(delivery.recognition, Recognition::Unknown);
    assert_eq!(delivery.event_type, "");
}

#[test]
fn the_configured_corp_is_the_tenant_of_last_resort() {
    let mut app = app();
    app.corp_id = Some("dingconfigured".into());
    let frame = stream_frame(
        json!({"messageId": "m", "eventType": "user_add_org"}),
        r#"{"x":1}"#,
    );
    let delivery = translate_stream(&stream_event(&frame), &app, RECEIVED);
    assert_eq!(delivery.tenant, "dingconfigured");
}

#[test]
fn pulls_ignore_deliveries_that_are_not_translated_dingtalk_ones() {
    let mut delivery = via_stream(STREAM_CHECK_RECORD);
    assert_eq!(pull_triggers(&delivery, SHANGHAI).len(), 1);
    delivery.vendor = Vendor::Feishu;
    assert!(pull_triggers(&delivery, SHANGHAI).is_empty());
    delivery.vendor = Vendor::Dingtalk;
    delivery.recognition = Recognition::Unknown;
    assert!(pull_triggers(&delivery, SHANGHAI).is_empty());
}

#[test]
fn an_approved_correction_with_a_known_instant_triggers_that_day() {
    let mut delivery = stream_of("bpms_instance_change", DATA_BPMS_SUPPLY);
    if let Fact::Approval(approval) = &mut delivery.facts[0] {
        // 2022-12-13T17:30:00Z is 01:30 on the 14th in China.
        approval.corrected_time = ms(1_670_952_600_000);
    }
    assert_eq!(
        pull_triggers(&delivery, SHANGHAI),
        vec![DayPull {
            tenant: CORP_ID.into(),
            employee_id: "08058646137".into(),
            work_date: day(2022, 12, 14),
        }]
    );
    assert!(
        instance_pulls(&delivery).is_empty(),
        "the day is already known"
    );
}
