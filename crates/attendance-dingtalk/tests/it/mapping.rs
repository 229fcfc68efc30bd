//! Data-driven checks of every DingTalk value that becomes a model value
//! (`src/mapping.rs`), in the manner of rust-analyzer's expectation tests:
//! each `tests/data/mapping/*.json` is a payload as the adapter receives it,
//! its `.expect` twin the facts translated from it. The file name's prefix
//! says which path reads it:
//!
//! - `stream_*`: a Stream EVENT frame (its `data` may be written as an
//!   object), translated as received on the app's connection;
//! - `getupdatedata_*`: a `getupdatedata` answer, one employee-day;
//! - `list_*`: an `attendance/list` answer, check-point results;
//! - `listrecord_*`: an `attendance/listRecord` answer, punches;
//! - `instance_*`: a `/v1.0/workflow/processInstances` answer, read for the
//!   event named by its `"event"` key (`processCode`, and the
//!   `bizCategoryId` or `approveType` it stated as `kind`);
//! - `workflow_*`: several instances, as reconciliation lists and reads
//!   them (`"instances"`: each with the `processCode` it was listed under,
//!   its `processInstanceId` and the answer's `result`), resolved together.
//!
//! A fixture may carry two top-level keys of its own, removed before it is
//! fed through the adapter: `"source"`, the documentation page or SDK file
//! its payload was built from, and `"app"`, the app settings it is
//! translated under (`time_zone`, `process_kinds`, as in the config). A
//! Stream delivery's expectation also lists the pulls it queues.
//!
//! `UPDATE_EXPECT=1 cargo test -p attendance-dingtalk --test it mapping`
//! rewrites the expectations; review the diff before committing it.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use attendance_adapter_kit::testing::expect::{assert_expected, json_fixtures, render_facts};
use attendance_dingtalk::config::DingTalkConfig;
use attendance_dingtalk::jobs::PullRouting;
use attendance_dingtalk::mapping::{approval_kind_of_category, approve_type_kind};
use attendance_dingtalk::pull::{
    approval_from_instance, approvals_from_instances, facts_from_update_data, punches_from_records,
    shift_results_from_list, InstanceHint, PullSource, ReadInstance,
};
use attendance_dingtalk::{translate_stream, DingTalkApp};
use attendance_proto::ingest::Fact;
use attendance_proto::Timestamp;
use chrono::NaiveDate;
use serde_json::Value;

use crate::support::{app, stream_event};

const RECEIVED: Timestamp = Timestamp {
    seconds: 1_700_000_000,
    nanos: 0,
};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/mapping")
}

/// Translates `fixture` and compares what it gives with its `.expect` file,
/// or rewrites that file when `UPDATE_EXPECT` is set.
fn check(fixture: &Path) {
    let text = std::fs::read_to_string(fixture).expect("the fixture reads");
    let name = fixture.file_name().and_then(|n| n.to_str()).unwrap_or("");
    let mut fixture_value: Value = serde_json::from_str(&text).expect("the fixture is JSON");
    let app = app_of(fixture_value.get("app"));
    if let Some(object) = fixture_value.as_object_mut() {
        object.remove("source");
        object.remove("app");
    }
    let json = fixture_value.to_string();
    let answer = || fixture_value.clone();
    let pull = || PullSource {
        zone: app.translation.time_zone,
        ..pull()
    };
    let actual = if name.starts_with("stream_") {
        let mut delivery = translate_stream(&stream_event(&json), &app, RECEIVED);
        PullRouting {
            apps: vec![(app.name.clone(), String::new())],
            only: Some(app.name.clone()),
            zones: [(app.name.clone(), app.translation.time_zone)].into(),
        }
        .attach(&mut delivery);
        let mut text = render_facts(Some(&delivery.recognition), delivery.facts);
        for job in &delivery.jobs {
            let _ = writeln!(text, "pull {}: {}", job.key, job.payload);
        }
        text
    } else if name.starts_with("getupdatedata_") {
        let result = &answer()["result"];
        let user_id = result["userid"].as_str().unwrap_or_default();
        let work_date = NaiveDate::from_ymd_opt(2021, 1, 14).expect("a date");
        render_facts(
            None,
            facts_from_update_data(&pull(), user_id, work_date, result),
        )
    } else if name.starts_with("listrecord_") {
        let punches = punches_from_records(&pull(), &records(&answer()));
        render_facts(None, punches.into_iter().map(Fact::Punch).collect())
    } else if name.starts_with("list_") {
        let results = shift_results_from_list(&pull(), &records(&answer()));
        render_facts(None, results.into_iter().map(Fact::ShiftResult).collect())
    } else if name.starts_with("instance_") {
        let event = &answer()["event"];
        let stated = event["kind"].as_str().unwrap_or_default();
        let kind = approval_kind_of_category(stated).unwrap_or(approve_type_kind(stated));
        let hint = InstanceHint {
            instance_id: event["processInstanceId"]
                .as_str()
                .unwrap_or_default()
                .into(),
            kind,
            kind_original: stated.into(),
            process_code: event["processCode"].as_str().unwrap_or_default().into(),
        };
        let approval = approval_from_instance(
            &pull(),
            &hint,
            &app.translation.process_kinds,
            &answer()["result"],
        );
        render_facts(None, approval.into_iter().map(Fact::Approval).collect())
    } else if name.starts_with("workflow_") {
        let instances = answer()["instances"]
            .as_array()
            .expect("a workflow fixture lists instances")
            .iter()
            .map(|listed| {
                let id = listed["processInstanceId"].as_str().unwrap_or_default();
                let hint = InstanceHint {
                    instance_id: id.into(),
                    process_code: listed["processCode"].as_str().unwrap_or_default().into(),
                    ..InstanceHint::default()
                };
                let value = listed["result"].clone();
                (id.to_owned(), ReadInstance { hint, value })
            })
            .collect();
        let approvals =
            approvals_from_instances(&pull(), &app.translation.process_kinds, &instances);
        render_facts(None, approvals.into_iter().map(Fact::Approval).collect())
    } else {
        panic!("{name}: the prefix names no path (stream_, getupdatedata_, list_, listrecord_, instance_, workflow_)");
    };
    assert_expected(fixture, &actual);
}

/// The test app under the fixture's `"app"` settings, read as the
/// `[[dingtalk]]` config reads them.
fn app_of(settings: Option<&Value>) -> DingTalkApp {
    let mut app = app();
    let Some(settings) = settings else {
        return app;
    };
    let mut text =
        String::from("name = 'main'\nclient_id = 'x'\nstream = true\nclient_secret = 's'\n");
    if let Some(zone) = settings["time_zone"].as_str() {
        let _ = writeln!(text, "time_zone = '{zone}'");
    }
    if let Some(kinds) = settings["process_kinds"].as_object() {
        let pairs: Vec<String> = kinds
            .iter()
            .map(|(code, kind)| format!("'{code}' = {kind}"))
            .collect();
        let _ = writeln!(text, "process_kinds = {{ {} }}", pairs.join(", "));
    }
    let config: DingTalkConfig = toml::from_str(&text).expect("the fixture's app settings");
    app.translation = config.app().translation;
    app
}

/// `result.recordresult` of an `attendance/list` or `listRecord` answer.
fn records(answer: &Value) -> Vec<Value> {
    answer["recordresult"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

fn pull() -> PullSource {
    PullSource {
        app: "main".into(),
        app_id: "dingclient".into(),
        tenant: "dingcorp".into(),
        zone: chrono_tz::Asia::Shanghai,
        received_time: RECEIVED,
    }
}

#[test]
fn every_fixture_gives_its_expected_facts() {
    for fixture in json_fixtures(&fixtures(), 8) {
        check(&fixture);
    }
}
