//! Data-driven checks of every Feishu value that becomes a model value
//! (`src/mapping.rs`), in the manner of rust-analyzer's expectation tests:
//! each `tests/data/mapping/*.json` is a payload as the adapter receives it,
//! its `.expect` twin the facts translated from it. The file name's prefix
//! says which path reads it:
//!
//! - `event_*`: a plaintext webhook body, verified and translated for an
//!   app configured with the zone in its `.zone` twin, if it has one (else
//!   Asia/Shanghai); the jobs the delivery queues follow its facts;
//! - `user_flows_*`: a `user_flows/query` answer, each flow a pulled punch;
//! - `user_tasks_*`: a `user_tasks/query` answer, each day's check points.
//!
//! Where the fixtures of the vendor-truth review come from (the official
//! doc or SDK struct each is built from) is listed in
//! `tests/data/mapping/SOURCES.md`.
//!
//! `UPDATE_EXPECT=1 cargo test -p attendance-feishu --test it mapping`
//! rewrites the expectations; review the diff before committing it.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use attendance_adapter_kit::testing::expect::{assert_expected, json_fixtures, render_facts};
use attendance_feishu::api::{UserFlow, UserTaskResult};
use attendance_feishu::pull::{punch_from_flow, shift_results_from_task, PullSource};
use attendance_feishu::translate;
use attendance_proto::ingest::Fact;
use attendance_proto::v1::Channel;
use attendance_proto::Timestamp;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::support::{recipient_in, verified};

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
    let json = std::fs::read_to_string(fixture).expect("the fixture reads");
    let name = fixture.file_name().and_then(|n| n.to_str()).unwrap_or("");
    let actual = if name.starts_with("event_") {
        let zone = match std::fs::read_to_string(fixture.with_extension("zone")) {
            Ok(zone) => zone
                .trim()
                .parse()
                .expect("the .zone twin names an IANA zone"),
            Err(_) => chrono_tz::Asia::Shanghai,
        };
        let delivery = translate(
            &verified(&json),
            recipient_in(zone),
            Channel::Webhook,
            RECEIVED,
        );
        let mut text = render_facts(Some(&delivery.recognition), delivery.facts);
        for job in &delivery.jobs {
            let _ = writeln!(text, "{job:#?}");
        }
        text
    } else if name.starts_with("user_flows_") {
        let flows: Vec<UserFlow> = answer_list(&json, "user_flow_results");
        let facts = flows
            .iter()
            .filter_map(|flow| punch_from_flow(&pull(), flow))
            .map(Fact::Punch);
        render_facts(None, facts.collect())
    } else if name.starts_with("user_tasks_") {
        let tasks: Vec<UserTaskResult> = answer_list(&json, "user_task_results");
        let facts = tasks
            .iter()
            .flat_map(|task| shift_results_from_task(&pull(), task))
            .map(Fact::ShiftResult);
        render_facts(None, facts.collect())
    } else {
        panic!("{name}: the prefix names no path (event_, user_flows_, user_tasks_)");
    };
    assert_expected(fixture, &actual);
}

/// The answer's `data.<key>` list as the API client reads it.
fn answer_list<T: DeserializeOwned>(json: &str, key: &str) -> Vec<T> {
    let answer: Value = serde_json::from_str(json).expect("the answer is JSON");
    serde_json::from_value(answer["data"][key].clone()).expect("the answer's list reads")
}

fn pull() -> PullSource {
    PullSource {
        app: "main".into(),
        app_id: "cli_configured".into(),
        tenant: "tenant".into(),
        time_zone: "Asia/Shanghai".into(),
        received_time: RECEIVED,
    }
}

#[test]
fn every_fixture_gives_its_expected_facts() {
    for fixture in json_fixtures(&fixtures(), 8) {
        check(&fixture);
    }
}
