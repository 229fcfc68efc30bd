//! Translation of the seed payloads and their variations.

use attendance_feishu::translate;
use attendance_proto::ingest::{Delivery, Fact, Recognition};
use attendance_proto::v1::{
    Channel, LocationResult, Punch, PunchMethod, PunchOrigin, PunchRisk, PunchValidity,
    ShiftResult, ShiftStatus, Supplement, Vendor, WorkDirection,
};
use attendance_proto::Timestamp;
use serde_json::{json, Value};

use crate::support::{edited, recipient, verified, FLOW_JSON, TASK_JSON};

const RECEIVED: Timestamp = Timestamp {
    seconds: 1_700_000_000,
    nanos: 5,
};

fn deliver(json: &str) -> Delivery {
    translate(&verified(json), recipient(), Channel::Webhook, RECEIVED)
}

fn punch(json: &str) -> Punch {
    let delivery = deliver(json);
    assert_eq!(delivery.recognition, Recognition::Translated);
    match delivery.facts.as_slice() {
        [Fact::Punch(punch)] => punch.clone(),
        other => panic!("expected one punch, got {other:?}"),
    }
}

fn shift_results(json: &str) -> Vec<ShiftResult> {
    let delivery = deliver(json);
    assert_eq!(delivery.recognition, Recognition::Translated);
    delivery
        .facts
        .into_iter()
        .map(|fact| match fact {
            Fact::ShiftResult(result) => result,
            other => panic!("expected shift results, got {other:?}"),
        })
        .collect()
}

fn shift_result(json: &str) -> ShiftResult {
    let mut results = shift_results(json);
    assert_eq!(results.len(), 1);
    results.remove(0)
}

fn flow_with(edit: impl FnOnce(&mut serde_json::Map<String, Value>)) -> String {
    edited(FLOW_JSON, |v| edit(v["event"].as_object_mut().unwrap()))
}

fn change_with(edit: impl FnOnce(&mut serde_json::Map<String, Value>)) -> String {
    edited(TASK_JSON, |v| {
        edit(v["event"]["status_changes"][0].as_object_mut().unwrap())
    })
}

fn assert_untranslatable(json: &str, mentions: &str) {
    let delivery = deliver(json);
    match &delivery.recognition {
        Recognition::Untranslatable(reason) => {
            assert!(
                reason.contains(mentions),
                "reason {reason:?} lacks {mentions:?}"
            )
        }
        other => panic!("expected untranslatable, got {other:?}"),
    }
    assert!(delivery.facts.is_empty());
    assert_eq!(
        delivery.raw_json,
        crate::support::redacted(json),
        "the raw body is kept for later"
    );
    assert!(!delivery.event_id.is_empty());
}

#[test]
fn seed_punch_translates_field_by_field() {
    let delivery = deliver(FLOW_JSON);
    assert_eq!(delivery.vendor, Vendor::Feishu);
    assert_eq!(delivery.app, "main");
    assert_eq!(delivery.tenant, "2fce678eb60d1651");
    assert_eq!(delivery.channel, Channel::Webhook);
    assert_eq!(delivery.event_id, "41fae5c12837ead344eced982fbde395");
    assert_eq!(delivery.event_type, "attendance.user_flow.created_v1");
    assert_eq!(delivery.raw_json, crate::support::redacted(FLOW_JSON));

    let punch = punch(FLOW_JSON);
    let source = punch.source.as_ref().unwrap();
    assert_eq!(source.vendor, Vendor::Feishu as i32);
    assert_eq!(source.app, "main");
    assert_eq!(source.app_id, "cli_a0c203e66cf8100c");
    assert_eq!(source.tenant, "2fce678eb60d1651");
    assert_eq!(punch.business_key, "6938012269578125316");
    assert_eq!(punch.record_id, "6938012269578125316");
    assert_eq!(punch.employee_id, "2b68933a");
    assert_eq!(punch.employee_no, "");
    assert_eq!(
        punch.check_time,
        Some(Timestamp {
            seconds: 1_615_381_916,
            nanos: 0
        })
    );
    let location = punch.location.as_ref().unwrap();
    assert_eq!(location.name, "浙江省杭州市余杭区五常街道木桥头西溪八方城");
    assert_eq!(location.latitude, Some(30.29245030908851));
    assert_eq!(location.longitude, Some(120.04004357074373));
    assert_eq!(location.accuracy, None);
    let wifi = punch.wifi.as_ref().unwrap();
    assert_eq!(wifi.ssid, "ByteDance Inc");
    assert_eq!(wifi.bssid, "b0:b8:67:62:18:73");
    assert_eq!(punch.method, PunchMethod::Gps as i32);
    assert_eq!(punch.method_original, "is_wifi=false");
    assert!(!punch.field_punch);
    assert_eq!(punch.origin, PunchOrigin::User as i32);
    assert_eq!(punch.origin_original, "0");
    assert_eq!(punch.risk, PunchRisk::None as i32);
    assert_eq!(punch.risk_original, "0");
    assert_eq!(punch.validity, PunchValidity::Valid as i32);
    assert_eq!(punch.comment, "");
    assert!(punch.photo_urls.is_empty());
    assert_eq!(punch.revision, 0);
    assert_eq!(punch.raw_json, crate::support::redacted(FLOW_JSON));

    let provenance = punch.provenance.as_ref().unwrap();
    assert_eq!(provenance.channel, Channel::Webhook as i32);
    assert_eq!(provenance.event_id, "41fae5c12837ead344eced982fbde395");
    assert_eq!(provenance.event_type, "attendance.user_flow.created_v1");
    assert_eq!(provenance.received_time, Some(RECEIVED));
    assert_eq!(
        provenance.vendor_create_time,
        Some(Timestamp {
            seconds: 1_615_381_917,
            nanos: 707_000_000
        })
    );
}

#[test]
fn punch_method_comes_from_is_wifi_then_type() {
    let wifi = punch(&flow_with(|e| {
        e.insert("is_wifi".into(), json!(true));
    }));
    assert_eq!(wifi.method, PunchMethod::Wifi as i32);
    assert_eq!(wifi.method_original, "is_wifi=true");

    let machine = punch(&flow_with(|e| {
        e.insert("type".into(), json!(5));
    }));
    assert_eq!(machine.method, PunchMethod::Machine as i32);
    assert_eq!(machine.origin, PunchOrigin::Machine as i32);
    assert_eq!(machine.origin_original, "5");
}

#[test]
fn every_punch_type_maps_to_its_origin() {
    let cases = [
        (json!(0), PunchOrigin::User, "0"),
        (json!(1), PunchOrigin::Admin, "1"),
        (json!(2), PunchOrigin::Correction, "2"),
        (json!(3), PunchOrigin::System, "3"),
        (json!(4), PunchOrigin::AutoOffDuty, "4"),
        (json!(5), PunchOrigin::Machine, "5"),
        (json!(6), PunchOrigin::Quick, "6"),
        (json!(7), PunchOrigin::Import, "7"),
        (json!(8), PunchOrigin::Unspecified, "8"),
        (json!("2"), PunchOrigin::Correction, "2"),
    ];
    for (kind, origin, original) in cases {
        let punch = punch(&flow_with(|e| {
            e.insert("type".into(), kind.clone());
        }));
        assert_eq!(punch.origin, origin as i32, "type {kind}");
        assert_eq!(punch.origin_original, original, "type {kind}");
    }
}

#[test]
fn every_risk_result_maps_and_absence_is_unspecified() {
    let cases = [
        (Some(0), PunchRisk::None, "0"),
        (Some(1), PunchRisk::CheatingApp, "1"),
        (Some(2), PunchRisk::OtherPersonsDevice, "2"),
        (Some(3), PunchRisk::SharedDevice, "3"),
        (Some(4), PunchRisk::Unspecified, "4"),
        (None, PunchRisk::Unspecified, ""),
    ];
    for (risk, expected, original) in cases {
        let punch = punch(&flow_with(|e| match risk {
            Some(n) => {
                e.insert("risk_result".into(), json!(n));
            }
            None => {
                e.remove("risk_result");
            }
        }));
        assert_eq!(punch.risk, expected as i32, "risk {risk:?}");
        assert_eq!(punch.risk_original, original, "risk {risk:?}");
    }
}

#[test]
fn absent_coordinates_and_null_photos_read_as_empty() {
    let punch = punch(&flow_with(|e| {
        e.remove("latitude");
        e.remove("longitude");
        e.insert("photo_urls".into(), Value::Null);
        e.insert("is_field".into(), json!(true));
        e.insert("comment".into(), json!("at the client"));
    }));
    let location = punch.location.unwrap();
    assert_eq!(location.latitude, None);
    assert_eq!(location.longitude, None);
    assert!(punch.photo_urls.is_empty());
    assert!(punch.field_punch);
    assert_eq!(punch.comment, "at the client");

    let with_photos = self::punch(&flow_with(|e| {
        e.insert(
            "photo_urls".into(),
            json!(["https://a/1.jpg", "https://a/2.jpg"]),
        );
    }));
    assert_eq!(
        with_photos.photo_urls,
        ["https://a/1.jpg", "https://a/2.jpg"]
    );
}

#[test]
fn check_time_as_a_number_is_accepted() {
    let punch = punch(&flow_with(|e| {
        e.insert("check_time".into(), json!(1_615_381_916));
    }));
    assert_eq!(punch.check_time.unwrap().seconds, 1_615_381_916);
}

#[test]
fn garbled_or_missing_punch_fields_are_untranslatable() {
    assert_untranslatable(
        &flow_with(|e| {
            e.insert("check_time".into(), json!("16153819xx"));
        }),
        "check_time",
    );
    assert_untranslatable(
        &flow_with(|e| {
            e.insert("check_time".into(), json!("-5"));
        }),
        "check_time",
    );
    assert_untranslatable(
        &flow_with(|e| {
            e.remove("check_time");
        }),
        "check_time",
    );
    assert_untranslatable(
        &flow_with(|e| {
            e.insert("record_id".into(), json!(""));
        }),
        "record_id",
    );
    assert_untranslatable(
        &flow_with(|e| {
            e.remove("employee_id");
        }),
        "employee_id",
    );
    assert_untranslatable(
        &flow_with(|e| {
            e.insert("type".into(), json!("user"));
        }),
        "type",
    );
    assert_untranslatable(
        &flow_with(|e| {
            e.insert("latitude".into(), json!("north"));
        }),
        "event body",
    );
    assert_untranslatable(
        &edited(FLOW_JSON, |v| v["event"] = json!("text")),
        "event body",
    );
}

#[test]
fn seed_shift_result_translates_field_by_field() {
    let delivery = deliver(TASK_JSON);
    assert_eq!(delivery.event_id, "2a0b662d75f87508a016a8da8b225a46");
    assert_eq!(delivery.event_type, "attendance.user_task.updated_v1");
    assert_eq!(delivery.raw_json, crate::support::redacted(TASK_JSON));

    let result = shift_result(TASK_JSON);
    let source = result.source.as_ref().unwrap();
    assert_eq!(source.vendor, Vendor::Feishu as i32);
    assert_eq!(source.app_id, "cli_a0c27934a1f8100b");
    assert_eq!(source.tenant, "2fce678eb60d1651");
    assert_eq!(result.business_key, "2b68933a/2021-03-10/1/on");
    assert_eq!(result.employee_id, "2b68933a");
    assert_eq!(result.work_date, "2021-03-10");
    assert_eq!(result.time_zone, "Asia/Shanghai");
    assert_eq!(result.group_id, "6935645428507557915");
    assert_eq!(result.shift_id, "6938006252085739521");
    assert_eq!(result.task_id, "6936733176245026817");
    assert_eq!(result.index, 1);
    assert_eq!(result.direction, WorkDirection::OnDuty as i32);
    assert_eq!(result.direction_original, "on");
    assert_eq!(result.status, ShiftStatus::Late as i32);
    assert_eq!(result.status_original, "Late");
    assert_eq!(result.supplement, Supplement::None as i32);
    assert_eq!(result.supplement_original, "None");
    assert_eq!(result.previous_status, ShiftStatus::Normal as i32);
    assert_eq!(result.previous_status_original, "Normal");
    assert_eq!(result.previous_supplement, Supplement::None as i32);
    assert_eq!(result.previous_supplement_original, "None");
    assert_eq!(result.location_result, LocationResult::Unspecified as i32);
    assert_eq!(result.location_result_original, "");
    assert_eq!(result.revision, 0);
    assert_eq!(result.raw_json, crate::support::redacted(TASK_JSON));
    let provenance = result.provenance.as_ref().unwrap();
    assert_eq!(provenance.event_id, "2a0b662d75f87508a016a8da8b225a46");
    assert_eq!(provenance.received_time, Some(RECEIVED));
    assert_eq!(
        provenance.vendor_create_time,
        Some(Timestamp {
            seconds: 1_615_381_917,
            nanos: 559_000_000
        })
    );
}

#[test]
fn index_as_a_string_is_accepted() {
    let result = shift_result(&change_with(|c| {
        c.insert("index".into(), json!("1"));
    }));
    assert_eq!(result.index, 1);
    assert_eq!(result.business_key, "2b68933a/2021-03-10/1/on");
}

#[test]
fn every_status_and_supplement_maps_and_unknowns_keep_the_original() {
    let statuses = [
        ("NoNeedCheck", ShiftStatus::NoNeedCheck),
        ("SystemCheck", ShiftStatus::SystemCheck),
        ("Normal", ShiftStatus::Normal),
        ("Early", ShiftStatus::Early),
        ("Late", ShiftStatus::Late),
        ("Lack", ShiftStatus::Missing),
        ("Todo", ShiftStatus::Todo),
        ("SeriousLate", ShiftStatus::Unspecified),
    ];
    for (name, status) in statuses {
        let result = shift_result(&change_with(|c| {
            c.insert("current_status".into(), json!(name));
            c.insert("before_status".into(), json!(name));
        }));
        assert_eq!(result.status, status as i32, "{name}");
        assert_eq!(result.status_original, name);
        assert_eq!(result.previous_status, status as i32, "{name}");
        assert_eq!(result.previous_status_original, name);
    }

    let supplements = [
        ("None", Supplement::None),
        ("ManagerModification", Supplement::ManagerModification),
        ("CardReplacement", Supplement::CardReplacement),
        ("ShiftChange", Supplement::ShiftChange),
        ("Travel", Supplement::Travel),
        ("Leave", Supplement::Leave),
        ("GoOut", Supplement::GoOut),
        (
            "CardReplacementApplication",
            Supplement::CardReplacementApplication,
        ),
        ("FieldPunch", Supplement::FieldPunch),
        ("Overtime", Supplement::Unspecified),
    ];
    for (name, supplement) in supplements {
        let result = shift_result(&change_with(|c| {
            c.insert("current_supplement".into(), json!(name));
            c.insert("before_supplement".into(), json!(name));
        }));
        assert_eq!(result.supplement, supplement as i32, "{name}");
        assert_eq!(result.supplement_original, name);
        assert_eq!(result.previous_supplement, supplement as i32, "{name}");
        assert_eq!(result.previous_supplement_original, name);
    }
}

#[test]
fn a_field_punch_supplement_means_outside() {
    let result = shift_result(&change_with(|c| {
        c.insert("current_supplement".into(), json!("FieldPunch"));
    }));
    assert_eq!(result.location_result, LocationResult::Outside as i32);
    assert_eq!(result.location_result_original, "FieldPunch");

    // Only the current supplement counts: a field punch that was replaced
    // no longer describes the check point.
    let earlier = shift_result(&change_with(|c| {
        c.insert("before_supplement".into(), json!("FieldPunch"));
    }));
    assert_eq!(earlier.location_result, LocationResult::Unspecified as i32);
}

#[test]
fn every_status_change_becomes_one_result() {
    let json = edited(TASK_JSON, |v| {
        v["event"]["status_changes"] = json!([
            {"before_status":"Todo","before_supplement":"None","current_status":"Normal",
             "current_supplement":"None","index":1,"work_type":"on"},
            {"before_status":"Todo","before_supplement":"None","current_status":"Lack",
             "current_supplement":"None","index":"2","work_type":"off"}
        ]);
    });
    let results = shift_results(&json);
    assert_eq!(results.len(), 2);
    assert_eq!(results[0].business_key, "2b68933a/2021-03-10/1/on");
    assert_eq!(results[1].business_key, "2b68933a/2021-03-10/2/off");
    assert_eq!(results[1].direction, WorkDirection::OffDuty as i32);
    assert_eq!(results[1].direction_original, "off");
    assert_eq!(results[1].status, ShiftStatus::Missing as i32);
    assert_eq!(results[1].status_original, "Lack");
}

#[test]
fn no_status_changes_is_translated_with_no_facts() {
    for changes in [json!([]), Value::Null] {
        let delivery = deliver(&edited(TASK_JSON, |v| {
            v["event"]["status_changes"] = changes.clone()
        }));
        assert_eq!(delivery.recognition, Recognition::Translated);
        assert!(delivery.facts.is_empty());
    }
}

#[test]
fn garbled_task_fields_are_untranslatable() {
    assert_untranslatable(
        &edited(TASK_JSON, |v| v["event"]["date"] = json!(20210230)),
        "date",
    );
    assert_untranslatable(
        &edited(TASK_JSON, |v| v["event"]["date"] = json!(2021031)),
        "date",
    );
    assert_untranslatable(
        &edited(TASK_JSON, |v| v["event"]["date"] = json!("2021-03-10")),
        "date",
    );
    assert_untranslatable(
        &change_with(|c| {
            c.insert("index".into(), json!("first"));
        }),
        "index",
    );
    assert_untranslatable(
        &change_with(|c| {
            c.insert("index".into(), json!(4_294_967_296_i64));
        }),
        "index",
    );
    assert_untranslatable(
        &change_with(|c| {
            c.remove("work_type");
        }),
        "work_type",
    );
    assert_untranslatable(
        &edited(TASK_JSON, |v| v["event"]["employee_id"] = json!("")),
        "employee_id",
    );
}

#[test]
fn a_string_date_that_is_a_real_date_is_accepted() {
    let result = shift_result(&edited(TASK_JSON, |v| {
        v["event"]["date"] = json!("20240229")
    }));
    assert_eq!(result.work_date, "2024-02-29");
}

#[test]
fn an_unknown_event_type_is_unknown_with_no_facts() {
    let json = edited(FLOW_JSON, |v| {
        v["header"]["event_type"] = json!("attendance.user_approval.created_v1")
    });
    let delivery = deliver(&json);
    assert_eq!(delivery.recognition, Recognition::Unknown);
    assert!(delivery.facts.is_empty());
    assert_eq!(delivery.event_type, "attendance.user_approval.created_v1");
    assert_eq!(delivery.event_id, "41fae5c12837ead344eced982fbde395");
    assert_eq!(delivery.tenant, "2fce678eb60d1651");
    assert_eq!(delivery.raw_json, crate::support::redacted(&json));
}

#[test]
fn an_unparseable_create_time_leaves_vendor_create_time_empty() {
    for create_time in [json!("soon"), json!("1603977298000000")] {
        let json = edited(FLOW_JSON, |v| {
            v["header"]["create_time"] = create_time.clone()
        });
        let punch = punch(&json);
        assert_eq!(
            punch.provenance.unwrap().vendor_create_time,
            None,
            "{create_time}"
        );
    }
}

#[test]
fn the_channel_is_the_callers() {
    let delivery = translate(
        &verified(FLOW_JSON),
        recipient(),
        Channel::LongConnection,
        RECEIVED,
    );
    assert_eq!(delivery.channel, Channel::LongConnection);
    match &delivery.facts[..] {
        [Fact::Punch(punch)] => assert_eq!(
            punch.provenance.as_ref().unwrap().channel,
            Channel::LongConnection as i32
        ),
        other => panic!("{other:?}"),
    }
}
