//! The open-API client against answers built from DingTalk's documentation
//! (`tests/data/api/*.json`, each naming its source), served over real HTTP:
//! the token refresh a topapi `88`/`40014` calls for, and `attendance/list`
//! paging by offset + limit.

use std::sync::{Arc, Mutex};

use attendance_dingtalk::api::{ApiConfig, DingTalkApi, NoMeter};
use axum::extract::{Query, State};
use axum::routing::post;
use axum::{Json, Router};
use chrono::NaiveDate;
use serde_json::{json, Value};

fn data(name: &str) -> Value {
    let path = format!("{}/tests/data/api/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(path).expect("the answer reads"))
        .expect("the answer is JSON")
}

/// What the vendor was asked: tokens issued and the offsets paged.
#[derive(Default)]
struct Seen {
    tokens: u32,
    offsets: Vec<u64>,
}

type Shared = Arc<Mutex<Seen>>;

async fn serve(router: Router) -> String {
    // A test plays the vendor on loopback: the ban on binding sockets is
    // about the adapter, which this is not.
    #[allow(clippy::disallowed_methods)]
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    format!("http://{address}")
}

fn vendor(seen: Shared) -> Router {
    Router::new()
        .route(
            "/v1.0/oauth2/accessToken",
            post(|State(seen): State<Shared>| async move {
                let mut seen = seen.lock().unwrap();
                seen.tokens += 1;
                Json(json!({"accessToken": format!("token-{}", seen.tokens), "expireIn": 7200}))
            }),
        )
        .route(
            "/topapi/attendance/getupdatedata",
            post(
                |Query(query): Query<std::collections::HashMap<String, String>>| async move {
                    // The first token has expired; topapi says so inside 88.
                    if query.get("access_token").map(String::as_str) == Some("token-1") {
                        let mut expired = data("topapi_expired_token_88_40014.json");
                        expired.as_object_mut().unwrap().remove("source");
                        return Json(expired);
                    }
                    Json(json!({"errcode": 0, "result": {"userid": "user01"}, "success": true}))
                },
            ),
        )
        .route(
            "/attendance/list",
            post(
                |State(seen): State<Shared>, Json(body): Json<Value>| async move {
                    let pages = data("attendance_list_short_page.json");
                    let offset = body["offset"].as_u64().unwrap_or(u64::MAX);
                    seen.lock().unwrap().offsets.push(offset);
                    let limit = body["limit"].as_u64().unwrap_or(0);
                    match offset {
                        0 => Json(pages["first_page"].clone()),
                        next if next == limit => Json(pages["second_page"].clone()),
                        _ => Json(json!({"errcode": 40035, "errmsg": "不合法的参数"})),
                    }
                },
            ),
        )
        .with_state(seen)
}

async fn client() -> (DingTalkApi, Shared) {
    let seen = Shared::default();
    let base = serve(vendor(seen.clone())).await;
    let config = ApiConfig::new("main", &base, &base, "key", "secret");
    (DingTalkApi::new(config, Arc::new(NoMeter)), seen)
}

#[tokio::test]
async fn a_topapi_88_with_sub_code_40014_refreshes_the_token() {
    let (api, seen) = client().await;
    let day = NaiveDate::from_ymd_opt(2021, 1, 14).unwrap();
    let result = api
        .get_update_data("user01", day)
        .await
        .expect("answered after a refresh");
    assert_eq!(result["userid"], "user01");
    assert_eq!(seen.lock().unwrap().tokens, 2, "one refresh");
}

#[tokio::test]
async fn attendance_list_pages_by_offset_plus_limit() {
    let (api, seen) = client().await;
    let day = NaiveDate::from_ymd_opt(2022, 10, 20).unwrap();
    let results = api
        .list_results(&["manager3451".to_owned()], day, day)
        .await
        .expect("every page");
    let ids: Vec<_> = results.iter().map(|r| r["id"].clone()).collect();
    assert_eq!(ids, [json!(260694657296_i64), json!(260815376208_i64)]);
    assert_eq!(seen.lock().unwrap().offsets, [0, 50]);
}
