//! DingTalk approvals recovered by reconciliation, end to end: the real hub
//! binary, real databases and a fake DingTalk API over real HTTP. A finished
//! week of leaves, overtime, trips, going-out and 补卡 approvals, some
//! refused, withdrawn, pending, some revoked after approval by REVOKE
//! instances; 30 % of their events are lost, some arrive without their
//! employee, and none carries dates. One pass over the tenant lists every
//! template's instances, reads each once, and leaves every approval in the
//! hub exactly once with its kind, status, period and duration; revoked ones
//! withdrawn, no revocation counted as an approval; every day signalled.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use attendance_proto::v1::{
    ApprovalKind, ApprovalStatus, ListApprovalsRequest, ReconcileRequest, Vendor,
};
use attendance_testkit::dingtalk::DingTalkCallbackSender;
use attendance_testkit::fake_dingtalk_api::FakeDingTalkApi;
use attendance_testkit::hub::HubProcess;
use attendance_testkit::TestDatabase;
use chrono::{Datelike, Duration as Days, Utc};
use serde_json::{json, Value};

mod support;
use support::*;

const CLIENT_ID: &str = "dingclientappr0001";
const CLIENT_SECRET: &str = DINGTALK_CLIENT_SECRET;
const TOKEN: &str = DINGTALK_CALLBACK_TOKEN;
const AES_KEY: &str = DINGTALK_AES_KEY;
const CORP: &str = "dingapprcorp01";
const EMPLOYEES: usize = 12;

/// Template → (kind name in the config, kind, `bizCategoryId`, `approveType`).
const TEMPLATES: [(&str, &str, ApprovalKind, &str, &str); 5] = [
    ("PROC-LEAVE", "leave", ApprovalKind::Leave, "", "LEAVE"),
    (
        "PROC-OT",
        "overtime",
        ApprovalKind::Overtime,
        "attendance.batchovertime",
        "OVERTIME",
    ),
    (
        "PROC-TRIP",
        "business_trip",
        ApprovalKind::BusinessTrip,
        "alitrip.business",
        "OUT",
    ),
    (
        "PROC-OUT",
        "go_out",
        ApprovalKind::GoOut,
        "attendance.goout",
        "TRAVEL",
    ),
    (
        "PROC-SUPPLY",
        "punch_correction",
        ApprovalKind::PunchCorrection,
        "attendance.supply",
        "",
    ),
];

fn employee(i: usize) -> String {
    format!("dt-e{i:02}")
}

fn config(db: &TestDatabase, api_base: &str) -> String {
    let kinds: Vec<String> = TEMPLATES
        .iter()
        .map(|(code, kind, ..)| format!("'{code}' = '{kind}'"))
        .collect();
    let roster: Vec<String> = (0..EMPLOYEES)
        .map(|i| format!("'{}'", employee(i)))
        .collect();
    let extra = format!(
        "roster = [{}]\nprocess_kinds = {{ {} }}",
        roster.join(", "),
        kinds.join(", ")
    );
    format!(
        r#"{server}
[reconciliation]
enabled = false   # passes run only when the test asks
day_end_grace_hours = 0
{app}"#,
        server = server_and_storage(db),
        app = dingtalk_app(CLIENT_ID, CORP, api_base, &extra),
    )
}

#[path = "approvals_dingtalk/week.rs"]
mod week;
use week::*;

async fn all_approvals(hub: &HubProcess) -> Vec<attendance_proto::v1::Approval> {
    let mut service = client(hub).await;
    let mut approvals = Vec::new();
    let mut page_token = String::new();
    loop {
        let page = service
            .list_approvals(ListApprovalsRequest {
                page_size: 100,
                page_token,
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        approvals.extend(page.approvals);
        if page.next_page_token.is_empty() {
            return approvals;
        }
        page_token = page.next_page_token;
    }
}

/// Waits until the fake has seen no new instance read for two seconds: the
/// pushes' own instance reads are done.
async fn reads_settle(api: &FakeDingTalkApi) {
    let mut last = usize::MAX;
    let mut quiet = 0;
    for _ in 0..480 {
        let now = api.instance_reads().len() + api.calls().len();
        quiet = if now == last { quiet + 1 } else { 0 };
        if quiet >= 8 {
            return;
        }
        last = now;
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    panic!("the pushes' pulls never settled");
}

on_both_backends! {
    one_pass_recovers_every_approval_of_a_week_whose_events_were_partly_lost => |db: TestDatabase| async move {
        let today = Utc::now().with_timezone(&chrono_tz::Asia::Shanghai).date_naive();
        let monday = today - Days::days(i64::from(today.weekday().num_days_from_monday()) + 7);
        let sunday = monday + Days::days(6);
        let instances = instances(monday);
        let api = FakeDingTalkApi::new(CLIENT_ID, CLIENT_SECRET);
        api.set_corp_id(CORP);
        for instance in &instances {
            api.add_process_instance(instance.code, &instance.id, instance.result());
        }
        let api_base = api.serve().await;
        let dir = tempfile::tempdir().unwrap();
        let hub = HubProcess::start(binary(), dir.path(), &config(&db, &api_base)).await;
        let sender = DingTalkCallbackSender::new(&hub.http_url(), "acme", TOKEN, AES_KEY, CLIENT_ID);

        // 30 % of the events are lost (every event whose number ends in a
        // digit below 3, after a deterministic shuffle).
        let mut counter = 0;
        let (mut sent, mut lost) = (0usize, 0usize);
        for instance in instances.iter().filter(|i| i.pushed) {
            for event in events(instance, &mut counter) {
                let number = event["eventId"].as_str().unwrap()[4..].parse::<usize>().unwrap();
                if (number * 7) % 10 < 3 {
                    lost += 1;
                    continue;
                }
                let answer = sender.post(&event.to_string()).await;
                assert_eq!(answer.status, 200, "{}", hub.log());
                sent += 1;
            }
        }
        assert!((lost * 100 / (sent + lost)).abs_diff(30) <= 2, "{lost} of {} lost", sent + lost);
        reads_settle(&api).await;
        let reads_before = api.instance_reads().len();
        let queries_before = api.instance_id_queries().len();

        // DingTalk's `systemError` on the first listing is retried.
        api.fail_next_listings(1);
        let mut admin = admin(&hub).await;
        let outcome = admin.reconcile(ReconcileRequest {
            vendor: Vendor::Dingtalk as i32,
            app: "acme".into(),
            work_date_from: monday.to_string(),
            work_date_to: sunday.to_string(),
            employee_ids: vec![],
        }).await.unwrap().into_inner();
        let [outcome] = outcome.apps.try_into().expect("one app");
        assert_eq!(outcome.error, "", "{}", hub.log());
        let week: Vec<String> = (0..7).map(|d| (monday + Days::days(d)).to_string()).collect();
        assert_eq!(outcome.work_dates_reconciled, week, "every day of the week signalled");
        assert!(outcome.differences_applied > 0, "{outcome:?}");

        // Every approval of the week exactly once, as the instances say.
        let stored = all_approvals(&hub).await;
        let mut by_key: BTreeMap<&str, &attendance_proto::v1::Approval> = BTreeMap::new();
        for approval in &stored {
            assert!(by_key.insert(&approval.business_key, approval).is_none(), "twice: {approval:#?}");
        }
        let expected: BTreeSet<&str> = instances.iter().filter(|i| i.expected.is_some()).map(|i| i.id.as_str()).collect();
        let keys: BTreeSet<&str> = by_key.keys().copied().collect();
        assert_eq!(keys, expected, "the hub holds exactly the week's approvals");
        for instance in instances.iter().filter(|i| i.expected.is_some()) {
            let approval = by_key[instance.id.as_str()];
            let what = format!("{}: {approval:#?}", instance.id);
            assert_eq!(approval.employee_id, instance.employee, "{what}");
            assert_eq!(approval.kind, instance.kind as i32, "{what}");
            assert_eq!(approval.status, instance.expected.unwrap() as i32, "{what}");
            assert_eq!(approval.start_time.map(|t| t.seconds), Some(cst(instance.start)), "{what}");
            assert_eq!(approval.end_time.map(|t| t.seconds), instance.end.map(cst), "{what}");
            assert_eq!((approval.duration, approval.duration_unit), (instance.duration, instance.unit as i32), "{what}");
            assert_eq!(approval.source.as_ref().unwrap().tenant, CORP, "{what}");
            if instance.kind == ApprovalKind::PunchCorrection {
                assert_eq!(approval.corrected_time.map(|t| t.seconds), Some(cst(instance.start)), "{what}");
            }
            if instance.action == "REVOKE" {
                assert!(approval.status_original.starts_with("REVOKE "), "{what}");
            } else if instance.expected == Some(ApprovalStatus::Withdrawn) && instance.state.0 == "COMPLETED" {
                assert!(approval.status_original.ends_with(&format!("revoked by {}-revoke", instance.id)), "{what}");
            }
        }
        let revocations = instances.iter().filter(|i| i.action == "REVOKE").count();
        assert!(revocations >= 4, "{revocations} revocations");
        assert!(
            stored.iter().all(|a| !a.business_key.ends_with("-revoke") || a.status != ApprovalStatus::Approved as i32),
            "no revocation is an approval"
        );
        let statuses: BTreeSet<i32> = stored.iter().map(|a| a.status).collect();
        let every = [ApprovalStatus::Pending, ApprovalStatus::Approved, ApprovalStatus::Rejected, ApprovalStatus::Withdrawn];
        assert_eq!(statuses, every.iter().map(|s| *s as i32).collect(), "the week has every outcome");
        let kinds: BTreeSet<i32> = stored.iter().map(|a| a.kind).collect();
        assert_eq!(kinds.len(), TEMPLATES.len(), "the week has every kind");

        // The pass listed every template once over the tenant, from 30 days
        // before the week, 20 ids a page, and read each instance once.
        let queries = &api.instance_id_queries()[queries_before..];
        let listed_from = cst(at(monday - Days::days(30), 0, 0)) * 1000;
        for query in queries {
            assert_eq!(query["maxResults"], 20, "{query}");
            assert!(query.get("userIds").is_none(), "a pass over the tenant lists every originator: {query}");
            assert_eq!(query["startTime"], listed_from, "{query}");
        }
        let codes: BTreeSet<&str> = queries.iter().filter(|q| q["nextToken"] == 0).map(|q| q["processCode"].as_str().unwrap()).collect();
        assert_eq!(codes.len(), TEMPLATES.len(), "{queries:?}");
        assert_eq!(queries.iter().filter(|q| q["nextToken"] == 0).count(), TEMPLATES.len() + 1, "one retried after systemError");
        assert!(queries.iter().any(|q| q["nextToken"] != 0), "the leaves fill more than one page");
        assert_eq!(api.calls_to("instanceIds/query").first().map(|c| c.status), Some(500));
        let reads = &api.instance_reads()[reads_before..];
        let distinct: BTreeSet<&String> = reads.iter().collect();
        assert_eq!(distinct.len(), reads.len(), "no instance read twice in a pass: {reads:?}");
        let listable = instances.iter().filter(|i| i.created >= at(monday - Days::days(30), 0, 0)).count();
        assert_eq!(reads.len(), listable + 1, "every listed instance, and the one a revocation names");

        // A pass over 11 named employees lists them 10 to a call and finds
        // nothing new.
        let named: Vec<String> = (0..11).map(employee).collect();
        let before = api.instance_id_queries().len();
        let targeted = admin.reconcile(ReconcileRequest {
            vendor: Vendor::Dingtalk as i32,
            app: "acme".into(),
            work_date_from: monday.to_string(),
            work_date_to: sunday.to_string(),
            employee_ids: named.clone(),
        }).await.unwrap().into_inner();
        assert_eq!(targeted.apps[0].error, "", "{}", hub.log());
        assert_eq!(targeted.apps[0].differences_applied, 0, "{:?}", targeted.apps[0]);
        let queries = &api.instance_id_queries()[before..];
        let mut asked: BTreeSet<String> = BTreeSet::new();
        for query in queries {
            let users = query["userIds"].as_array().expect("a targeted pass names originators");
            assert!((1..=10).contains(&users.len()), "{query}");
            asked.extend(users.iter().map(|u| u.as_str().unwrap().to_owned()));
        }
        assert_eq!(asked, named.into_iter().collect());
        assert_eq!(all_approvals(&hub).await.len(), stored.len());
    };
}

/// The fake's listing pages as DingTalk documents and refuses what DingTalk
/// refuses, and the client stays inside those limits.
#[tokio::test]
async fn the_instance_listing_pages_and_refuses_as_documented() {
    use attendance_dingtalk::api::{ApiConfig, ApiError, DingTalkApi, InstanceIdQuery, NoMeter};
    let api = FakeDingTalkApi::new(CLIENT_ID, CLIENT_SECRET);
    let now = Utc::now();
    for n in 0..45 {
        let created = (now - Days::days(2) + Days::minutes(n))
            .format("%Y-%m-%dT%H:%MZ")
            .to_string();
        api.add_process_instance("PROC-LEAVE", &format!("i-{n:02}"), json!({
            "createTime": created, "originatorUserId": employee(n as usize % 3), "status": "COMPLETED", "result": "agree"
        }));
    }
    let base = api.serve().await;
    let http = reqwest::Client::new();
    let token: Value = http
        .post(format!("{base}/v1.0/oauth2/accessToken"))
        .json(&json!({"appKey": CLIENT_ID, "appSecret": CLIENT_SECRET}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = token["accessToken"].as_str().unwrap().to_owned();
    let start = (now - Days::days(3)).timestamp_millis();
    let day = 86_400_000i64;
    let valid = json!({"processCode": "PROC-LEAVE", "startTime": start, "endTime": start + day * 5, "nextToken": 0, "maxResults": 20});
    let with = |key: &str, value: Value| {
        let mut body = valid.clone();
        body[key] = value;
        body
    };
    let eleven: Vec<String> = (0..11).map(employee).collect();
    for (body, code) in [
        (with("maxResults", json!(21)), "invalidMaxResults"),
        (with("endTime", json!(start + day * 121)), "invalidEndTime"),
        (with("endTime", json!(start - 1)), "invalidEndTime"),
        (
            with("startTime", json!(start - day * 365)),
            "invalidInstanceListIdsStartTime",
        ),
        (with("userIds", json!(eleven)), "invalidUserIds"),
        (with("nextToken", json!("x")), "invalidNextToken"),
        (with("processCode", json!("")), "invalidProcessCode"),
    ] {
        let answer = http
            .post(format!("{base}/v1.0/workflow/processes/instanceIds/query"))
            .header("x-acs-dingtalk-access-token", &token)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status().as_u16(), 400, "{body}");
        let answer: Value = answer.json().await.unwrap();
        assert_eq!(answer["code"], code, "{body}");
    }
    // A page of 20, then a string token for the next; absent on the last.
    let first: Value = http
        .post(format!("{base}/v1.0/workflow/processes/instanceIds/query"))
        .header("x-acs-dingtalk-access-token", &token)
        .json(&valid)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(first["result"]["list"].as_array().unwrap().len(), 20);
    assert_eq!(first["result"]["nextToken"], "20");
    assert_eq!(first["success"], true);

    let client = DingTalkApi::new(
        ApiConfig::new("acme", &base, &base, CLIENT_ID, CLIENT_SECRET),
        std::sync::Arc::new(NoMeter),
    );
    let calls = api.calls_to("instanceIds/query").len();
    let query = InstanceIdQuery {
        process_code: "PROC-LEAVE",
        from: now - Days::days(3),
        to: now,
        originators: &[],
    };
    let listed = client.instance_ids(query).await.unwrap();
    assert_eq!(listed.ids.len(), 45);
    assert!(!listed.cut);
    assert_eq!(
        api.calls_to("instanceIds/query").len(),
        calls + 3,
        "three pages"
    );
    let some = [employee(1)];
    let theirs = client
        .instance_ids(InstanceIdQuery {
            originators: &some,
            ..query
        })
        .await
        .unwrap();
    assert_eq!(theirs.ids.len(), 15, "only the named originator's");
    // Outside DingTalk's limits the client sends nothing.
    let refused = client
        .instance_ids(InstanceIdQuery {
            originators: &eleven,
            ..query
        })
        .await
        .unwrap_err();
    assert!(matches!(refused, ApiError::Request(_)), "{refused}");
    let refused = client
        .instance_ids(InstanceIdQuery {
            from: now - Days::days(121),
            ..query
        })
        .await
        .unwrap_err();
    assert!(matches!(refused, ApiError::Request(_)), "{refused}");
    assert_eq!(api.calls_to("instanceIds/query").len(), calls + 4);
    // A refusal is not retried; `systemError` is.
    api.fail_next_listings(1);
    assert_eq!(client.instance_ids(query).await.unwrap().ids.len(), 45);
    assert_eq!(api.calls_to("instanceIds/query").len(), calls + 8);
}
