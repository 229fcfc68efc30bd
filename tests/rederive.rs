//! Re-derivation end to end: deliveries stored by an older mapping (one
//! punch derived wrongly, one event of a type it did not understand) are
//! translated again by the running hub on an operator's call; the live
//! subscriber receives the correction and the new fact, and a second call
//! appends nothing.

use attendance_core::{Store, StoreOptions};
use attendance_proto::ingest::{Delivery, Fact, Recognition};
use attendance_proto::v1::{
    log_entry, subscribe_request, Channel, Location, Provenance, Punch, PunchMethod,
    RederiveRequest, RevisionKind, Source, Vendor,
};
use attendance_proto::Timestamp;
use attendance_testkit::hub::HubProcess;
use attendance_testkit::TestDatabase;

mod support;
use support::*;

const APP_ID: &str = "cli_a0c203e66cf8100c";
const TENANT: &str = "2fce678eb60d1651";
const EVENT_ID: &str = "41fae5c12837ead344eced982fbde395";
const RECORD_ID: &str = "6938012269578125316";

fn config(db: &TestDatabase) -> String {
    format!(
        r#"{server}
[reconciliation]
enabled = false

[[feishu]]
name = "flows"
app_id = "{APP_ID}"
verification_token = "{FLOW_TOKEN}"
"#,
        server = server_and_storage(db)
    )
}

/// The envelope as the hub stores it: its verification token redacted.
fn stored_json(json: &str) -> String {
    json.replace(FLOW_TOKEN, "**REDACTED**")
}

/// The punch an older mapping derived from the flow: a GPS punch labelled
/// as a machine punch.
fn punch_of_an_older_mapping() -> Punch {
    Punch {
        source: Some(Source {
            vendor: Vendor::Feishu as i32,
            app: "flows".into(),
            app_id: APP_ID.into(),
            tenant: TENANT.into(),
        }),
        business_key: RECORD_ID.into(),
        record_id: RECORD_ID.into(),
        employee_id: "2b68933a".into(),
        check_time: Some(Timestamp {
            seconds: 1_615_381_916,
            nanos: 0,
        }),
        location: Some(Location {
            name: "浙江省杭州市余杭区五常街道木桥头西溪八方城".into(),
            ..Location::default()
        }),
        method: PunchMethod::Machine as i32,
        provenance: Some(Provenance {
            channel: Channel::Webhook as i32,
            event_id: EVENT_ID.into(),
            event_type: "attendance.user_flow.created_v1".into(),
            version_time: Some(Timestamp {
                seconds: 1_615_381_917,
                nanos: 707_000_000,
            }),
            ..Provenance::default()
        }),
        raw_json: stored_json(FLOW_JSON),
        ..Punch::default()
    }
}

fn delivery(event_id: &str, json: String, recognition: Recognition, facts: Vec<Fact>) -> Delivery {
    Delivery {
        vendor: Vendor::Feishu,
        app: "flows".into(),
        tenant: TENANT.into(),
        channel: Channel::Webhook,
        event_id: event_id.into(),
        event_type: "attendance.user_flow.created_v1".into(),
        raw_json: json,
        recognition,
        facts,
        jobs: Vec::new(),
    }
}

fn rederive_feishu() -> RederiveRequest {
    RederiveRequest {
        vendor: Vendor::Feishu as i32,
        ..RederiveRequest::default()
    }
}

on_both_backends! {
    stored_deliveries_are_derived_again_and_a_second_run_changes_nothing => |db: TestDatabase| async move {
        // What an older release left in the database.
        let store = Store::connect(StoreOptions::new(db.url())).await.unwrap();
        store
            .commit(delivery(EVENT_ID, stored_json(FLOW_JSON), Recognition::Translated, vec![Fact::Punch(punch_of_an_older_mapping())]))
            .await
            .unwrap();
        let unknown_then = stored_json(FLOW_JSON)
            .replace(EVENT_ID, "evt-understood-now")
            .replace(RECORD_ID, "6938012269578125999");
        store.commit(delivery("evt-understood-now", unknown_then, Recognition::Unknown, Vec::new())).await.unwrap();
        store.close().await;

        let dir = tempfile::tempdir().unwrap();
        let hub = HubProcess::start(binary(), dir.path(), &config(&db)).await;
        let mut stream = open_stream(&hub, Some(subscribe_request::Start::FromBeginning(true))).await;
        let (before, _) = entries_until_idle(&mut stream).await;
        assert_eq!(before.len(), 1, "{before:#?}");

        let mut admin = admin(&hub).await;
        let report = admin.rederive(rederive_feishu()).await.unwrap().into_inner();
        assert_eq!(report.deliveries_read, 2, "{report:?}");
        assert_eq!(report.deliveries_translated, 2, "{report:?}");
        assert_eq!(report.facts_changed, 2, "{report:?}");

        let (after, _) = entries_until_idle(&mut stream).await;
        assert_eq!(after.len(), 2, "{after:#?}");
        let Some(log_entry::Fact::Punch(corrected)) = &after[0].fact else { panic!("{after:#?}") };
        assert_eq!(corrected.business_key, RECORD_ID);
        assert_eq!(corrected.revision, 2);
        assert_eq!(corrected.revision_kind, RevisionKind::Correction as i32);
        assert_eq!(corrected.method, PunchMethod::Gps as i32);
        assert_eq!(corrected.wifi.as_ref().unwrap().ssid, "ByteDance Inc", "what the mapping derives now");
        let Some(log_entry::Fact::Punch(understood)) = &after[1].fact else { panic!("{after:#?}") };
        assert_eq!(understood.business_key, "6938012269578125999");
        assert_eq!(understood.revision, 1);

        let again = admin.rederive(rederive_feishu()).await.unwrap().into_inner();
        assert_eq!((again.deliveries_read, again.facts_changed, again.facts_unchanged), (2, 0, 2), "{again:?}");
        let (nothing, _) = entries_until_idle(&mut stream).await;
        assert!(nothing.is_empty(), "{nothing:#?}");

        // A request without a vendor changes nothing and says why.
        let refused = admin.rederive(RederiveRequest::default()).await.unwrap_err();
        assert_eq!(refused.code(), tonic::Code::InvalidArgument);
        assert!(refused.message().contains("vendor"), "{}", refused.message());
    };
}
