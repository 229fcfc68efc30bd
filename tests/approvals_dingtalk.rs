//! DingTalk's instance listing, which every approval pass walks, as the fake
//! serves it and the hub's client asks it. The week of DingTalk approvals
//! whose events were partly lost is replayed beside Feishu's in
//! `approvals.rs`.

use attendance_testkit::fake_dingtalk_api::FakeDingTalkApi;
use chrono::{Duration as Days, Utc};
use serde_json::{json, Value};

mod support;

#[path = "approvals_dingtalk/week.rs"]
mod week;
use week::{employee, CLIENT_ID, CLIENT_SECRET};

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
