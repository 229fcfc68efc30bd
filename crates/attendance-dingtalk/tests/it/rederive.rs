//! Re-derivation: a stored callback body, Stream `data` and failed-push item
//! translate again into the facts their arrival gave.

use std::time::{Duration, SystemTime};

use attendance_adapter_kit::rederive::Retranslator;
use attendance_dingtalk::rederive::DingTalkRetranslator;
use attendance_proto::hub::StoredDelivery;
use attendance_proto::ingest::{Fact, Recognition};
use attendance_proto::v1::{Channel, Vendor};

use crate::support::app;

fn stored(channel: Channel, event_type: &str, raw_json: &str) -> StoredDelivery {
    StoredDelivery {
        position: 1,
        vendor: Vendor::Dingtalk,
        app: "main".into(),
        tenant: "ding241f334c339e175b".into(),
        channel,
        event_id: "evt-1".into(),
        event_type: event_type.into(),
        raw_json: raw_json.into(),
        received_at: SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000),
    }
}

fn punch_keys(facts: &[Fact]) -> Vec<String> {
    facts
        .iter()
        .map(|fact| match fact {
            Fact::Punch(punch) => punch.business_key.clone(),
            other => panic!("not a punch: {other:?}"),
        })
        .collect()
}

#[test]
fn each_channel_is_derived_again_as_it_arrived() {
    let translator = DingTalkRetranslator { app: app() };
    let callback = translator.retranslate(&stored(
        Channel::HttpCallback,
        "attendance_check_record",
        include_str!("../fixtures/http_attendance_check_record_legacy.json"),
    ));
    assert_eq!(callback.recognition, Recognition::Translated);
    assert_eq!(
        punch_keys(&callback.facts),
        vec!["ding241f334c339e175b/user0042/1611793083000"]
    );

    let streamed = translator.retranslate(&stored(
        Channel::Stream,
        "attendance_check_record",
        include_str!("../fixtures/stream_data_supplement_punch.json"),
    ));
    assert_eq!(streamed.recognition, Recognition::Translated);
    assert_eq!(
        punch_keys(&streamed.facts),
        vec!["ding241f334c339e175b/02253726682920171716/1756083600000"]
    );
    let Fact::Punch(punch) = &streamed.facts[0] else {
        unreachable!()
    };
    assert_eq!(
        punch
            .provenance
            .as_ref()
            .unwrap()
            .version_time
            .unwrap()
            .seconds,
        1_700_000_000,
        "the arrival stands in for the born time the headers carried"
    );

    let failed: serde_json::Value = serde_json::from_str(include_str!(
        "../fixtures/api_get_call_back_failed_result_response.json"
    ))
    .unwrap();
    let item = failed["failed_list"][0].to_string();
    let recovered = translator.retranslate(&stored(Channel::FailedPushRecovery, "", &item));
    assert_eq!(recovered.recognition, Recognition::Translated);
    assert_eq!(
        punch_keys(&recovered.facts),
        vec!["ding241f334c339e175b/zhangsan/1606126400000"]
    );

    let garbled = translator.retranslate(&stored(Channel::HttpCallback, "x", "not json"));
    assert!(matches!(
        garbled.recognition,
        Recognition::Untranslatable(_)
    ));
    assert!(garbled.facts.is_empty());
}
