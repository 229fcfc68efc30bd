//! Helpers shared by the end-to-end suites: running a case on both backends,
//! gRPC clients of a hub process, and reading a subscription until it idles.

#![allow(dead_code)] // each suite uses its own subset

use std::path::Path;
use std::time::Duration;

use attendance_proto::v1::admin_service_client::AdminServiceClient;
use attendance_proto::v1::attendance_service_client::AttendanceServiceClient;
use attendance_proto::v1::{
    subscribe_request, subscribe_response, Approval, ListApprovalsRequest, LogEntry,
    SubscribeRequest, SubscribeResponse, Vendor,
};
use attendance_testkit::hub::HubProcess;
use attendance_testkit::TestDatabase;
use chrono::{Datelike, Duration as Days, NaiveDate, NaiveDateTime};
use serde_json::Value;
use tonic::transport::Channel;
use tonic::Streaming;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::HealthCheckRequest;

/// How long a suite waits for the hub before failing: generous, never a measurement.
pub const WAIT: Duration = Duration::from_secs(120);

pub const FLOW_JSON: &str = include_str!("../../examples/feishu/user_flow_created_v1.json");
pub const TASK_JSON: &str = include_str!("../../examples/feishu/user_task_updated_v1.json");
pub const FLOW_TOKEN: &str = "wz5vVgAqJ0cghdfdjdVuxeyTt8hvYHBg";
pub const TASK_TOKEN: &str = "drIibiox5ZEZl5UvuRL3Uf3LNwD0fB6e";

/// The DingTalk app credentials of the suites that sign callbacks (the
/// callback token and key are DingTalk's documented sample).
pub const DINGTALK_CLIENT_SECRET: &str = "fake-dingtalk-secret";
pub const DINGTALK_CALLBACK_TOKEN: &str = "mryue";
pub const DINGTALK_AES_KEY: &str = "Yue0EfdN5900c1ce5cf6A152c63DDe1808a60c5ecd7";

/// A `[[dingtalk]]` app named `acme` of `corp`, taking callbacks, pulling
/// from the fake at `api_base` in Asia/Shanghai without failed-push polls,
/// and the lines of `extra`.
pub fn dingtalk_app(client_id: &str, corp: &str, api_base: &str, extra: &str) -> String {
    format!(
        r#"
[[dingtalk]]
name = "acme"
client_id = "{client_id}"
client_secret = "{DINGTALK_CLIENT_SECRET}"
corp_id = "{corp}"
callback_token = "{DINGTALK_CALLBACK_TOKEN}"
callback_aes_key = "{DINGTALK_AES_KEY}"
api_base_url = "{api_base}"
oapi_base_url = "{api_base}"
time_zone = "Asia/Shanghai"
failed_push_poll_seconds = 0
{extra}
"#
    )
}

/// The `[server]` and `[storage]` sections every suite's hub runs with:
/// ephemeral ports, a one-second heartbeat, storage in `db`.
pub fn server_and_storage(db: &TestDatabase) -> String {
    format!(
        r#"
[server]
grpc_listen = "127.0.0.1:0"
http_listen = "127.0.0.1:0"
heartbeat_seconds = 1
shutdown_grace_seconds = 10

[storage]
url = "{url}"
"#,
        url = db.url()
    )
}

/// The `[[feishu]]` sections of the two apps the seed events come from,
/// routed at `/webhooks/feishu/flows` and `/webhooks/feishu/tasks`.
pub fn seed_apps() -> String {
    format!(
        r#"
[[feishu]]
name = "flows"
app_id = "cli_a0c203e66cf8100c"
verification_token = "{FLOW_TOKEN}"

[[feishu]]
name = "tasks"
app_id = "cli_a0c27934a1f8100b"
verification_token = "{TASK_TOKEN}"
"#
    )
}

/// A hub config whose reconciliation passes run only when a suite asks, and
/// then signal every ended day at once (no grace after midnight, or a pass
/// early on a Monday would leave last Sunday unsignalled), with the app
/// sections `apps`.
pub fn reconciling_on_request(db: &TestDatabase, apps: &str) -> String {
    format!(
        "{server}\n[reconciliation]\nenabled = false\nday_end_grace_hours = 0\n{apps}",
        server = server_and_storage(db)
    )
}

/// The Monday of the last finished week in China Standard Time, the zone of
/// the approval suites' apps: recent enough for DingTalk's listing look-back,
/// ended for both vendors' passes.
pub fn last_finished_week() -> NaiveDate {
    let today = chrono::Utc::now()
        .with_timezone(&chrono_tz::Asia::Shanghai)
        .date_naive();
    today - Days::days(i64::from(today.weekday().num_days_from_monday()) + 7)
}

/// Seconds of a China Standard Time wall clock.
pub fn cst(at: NaiveDateTime) -> i64 {
    at.and_utc().timestamp() - 8 * 3600
}

pub fn at(day: NaiveDate, hour: u32, minute: u32) -> NaiveDateTime {
    day.and_hms_opt(hour, minute, 0).unwrap()
}

/// Every approval the hub lists of `vendor` (unspecified: of every vendor),
/// page after page.
pub async fn approvals_of(hub: &HubProcess, vendor: Vendor) -> Vec<Approval> {
    let mut service = client(hub).await;
    let mut approvals = Vec::new();
    let mut page_token = String::new();
    loop {
        let page = service
            .list_approvals(ListApprovalsRequest {
                vendor: vendor as i32,
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

pub fn binary() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_attendance-hub"))
}

/// Runs each case on a fresh SQLite file and, when `HUB_TEST_POSTGRES_URL`
/// is set, on a fresh PostgreSQL database; without it the `postgres::` cases
/// are ignored (`cfg(hub_test_postgres)`, from the core's build script).
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident => $body:expr;)*) => {
        mod sqlite {
            use super::*;
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    ($body)(attendance_testkit::TestDatabase::sqlite()).await;
                }
            )*
        }
        mod postgres {
            use super::*;
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                #[cfg_attr(
                    not(hub_test_postgres),
                    ignore = "HUB_TEST_POSTGRES_URL unset: PostgreSQL case not run"
                )]
                async fn $name() {
                    ($body)(attendance_testkit::TestDatabase::postgres().await).await;
                }
            )*
        }
    };
}

pub async fn client(hub: &HubProcess) -> AttendanceServiceClient<Channel> {
    AttendanceServiceClient::connect(hub.grpc_url())
        .await
        .expect("gRPC connects")
}

pub async fn admin(hub: &HubProcess) -> AdminServiceClient<Channel> {
    AdminServiceClient::connect(hub.grpc_url())
        .await
        .expect("gRPC connects")
}

pub async fn open_stream(
    hub: &HubProcess,
    start: Option<subscribe_request::Start>,
) -> Streaming<SubscribeResponse> {
    client(hub)
        .await
        .subscribe(SubscribeRequest {
            start,
            ..SubscribeRequest::default()
        })
        .await
        .expect("Subscribe accepted")
        .into_inner()
}

/// Every entry until the stream goes idle (the first heartbeat after them),
/// and the cursor that heartbeat carried.
pub async fn entries_until_idle(
    stream: &mut Streaming<SubscribeResponse>,
) -> (Vec<LogEntry>, String) {
    let mut entries = Vec::new();
    loop {
        let item = tokio::time::timeout(Duration::from_secs(15), stream.message())
            .await
            .expect("an item or heartbeat within 15 s")
            .expect("stream healthy")
            .expect("stream open");
        match item.item {
            Some(subscribe_response::Item::Entry(entry)) => entries.push(entry),
            Some(subscribe_response::Item::Progress(progress)) => {
                return (entries, progress.cursor)
            }
            None => panic!("empty item"),
        }
    }
}

/// The whole log as a subscriber from the beginning sees it.
pub async fn everything(hub: &HubProcess) -> Vec<LogEntry> {
    let mut stream = open_stream(hub, Some(subscribe_request::Start::FromBeginning(true))).await;
    entries_until_idle(&mut stream).await.0
}

pub async fn healthz(hub: &HubProcess) -> (u16, Value) {
    let response = reqwest::get(format!("{}/healthz", hub.http_url()))
        .await
        .expect("/healthz answers");
    let status = response.status().as_u16();
    (status, response.json().await.expect("/healthz is JSON"))
}

/// Polls `/healthz` until `section.app` (e.g. `feishu_long_connections.acme`)
/// reports a state that `wanted` accepts; returns that state.
pub async fn wait_for_health_state(
    hub: &HubProcess,
    section: &str,
    app: &str,
    what: &str,
    wanted: impl Fn(&str) -> bool,
) -> String {
    let mut last = Value::Null;
    let found = tokio::time::timeout(WAIT, async {
        loop {
            let (_, body) = healthz(hub).await;
            last = body[section][app].clone();
            if let Some(state) = last.as_str().filter(|state| wanted(state)) {
                return state.to_owned();
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await;
    found.unwrap_or_else(|_| panic!("{app} never reported {what:?}; last {last}"))
}

/// A connection to the hub's gRPC port, for any client.
pub async fn channel(hub: &HubProcess) -> Channel {
    tonic::transport::Endpoint::from_shared(hub.grpc_url())
        .expect("a valid URL")
        .connect()
        .await
        .expect("gRPC connects")
}

/// The services reflection (v1) lists, as grpcurl's `list` asks.
pub async fn reflected_services(hub: &HubProcess) -> Vec<String> {
    use tonic_reflection::pb::v1;
    let request = v1::ServerReflectionRequest {
        host: String::new(),
        message_request: Some(v1::server_reflection_request::MessageRequest::ListServices(
            String::new(),
        )),
    };
    let mut answers = v1::server_reflection_client::ServerReflectionClient::new(channel(hub).await)
        .server_reflection_info(tokio_stream::iter(vec![request]))
        .await
        .expect("reflection answers")
        .into_inner();
    let Some(v1::server_reflection_response::MessageResponse::ListServicesResponse(list)) =
        answers.message().await.unwrap().unwrap().message_response
    else {
        panic!("a service list");
    };
    list.service.into_iter().map(|s| s.name).collect()
}

pub async fn grpc_health(hub: &HubProcess, service: &str) -> ServingStatus {
    let mut client = HealthClient::new(channel(hub).await);
    let response = client
        .check(HealthCheckRequest {
            service: service.into(),
        })
        .await
        .expect("the service is known to health")
        .into_inner();
    ServingStatus::try_from(response.status).expect("a known status")
}

pub async fn wait_for_grpc_health(hub: &HubProcess, service: &str, wanted: ServingStatus) {
    let reached = tokio::time::timeout(WAIT, async {
        while grpc_health(hub, service).await != wanted {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await;
    assert!(reached.is_ok(), "{service} never became {wanted:?}");
}

/// The `deliveries` rows of one vendor event id: their channels.
pub async fn delivery_channels(db: &TestDatabase, event_id: &str) -> Vec<i64> {
    db.integers(
        "SELECT CAST(channel AS BIGINT) FROM deliveries WHERE event_id = $1",
        event_id,
    )
    .await
}

pub fn is_sqlite(db: &TestDatabase) -> bool {
    db.is_sqlite()
}

/// Makes every insert into `deliveries` fail inside the database: a real
/// commit failure, with nothing of the hub mocked.
pub async fn inject_commit_failure(db: &TestDatabase) {
    let statements: &[&str] = if is_sqlite(db) {
        &[
            "CREATE TRIGGER injected_failure BEFORE INSERT ON deliveries \
           BEGIN SELECT RAISE(ABORT, 'injected'); END",
        ]
    } else {
        &[
            "CREATE FUNCTION injected_failure() RETURNS trigger LANGUAGE plpgsql AS \
             $$ BEGIN RAISE EXCEPTION 'injected'; END $$",
            "CREATE TRIGGER injected_failure BEFORE INSERT ON deliveries \
             FOR EACH ROW EXECUTE FUNCTION injected_failure()",
        ]
    };
    execute(db, statements).await;
}

pub async fn remove_commit_failure(db: &TestDatabase) {
    let statements: &[&str] = if is_sqlite(db) {
        &["DROP TRIGGER injected_failure"]
    } else {
        &[
            "DROP TRIGGER injected_failure ON deliveries",
            "DROP FUNCTION injected_failure()",
        ]
    };
    execute(db, statements).await;
}

/// Runs statements on the hub's database, as an operator (or a fault) would.
pub async fn execute(db: &TestDatabase, statements: &[&str]) {
    db.execute(statements).await;
}

/// The scrape as `series → value` (series with their labels, as written).
pub async fn scrape(hub: &HubProcess) -> Vec<(String, f64)> {
    let response = reqwest::get(format!("{}/metrics", hub.http_url()))
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(content_type.starts_with("text/plain"), "{content_type}");
    let text = response.text().await.unwrap();
    text.lines()
        .filter(|line| !line.starts_with('#') && !line.is_empty())
        .map(|line| {
            let (series, value) = line
                .rsplit_once(' ')
                .unwrap_or_else(|| panic!("a sample line: {line}"));
            (
                series.to_owned(),
                value.parse().unwrap_or_else(|_| panic!("a value: {line}")),
            )
        })
        .collect()
}

/// The value of the series whose name is `name` and whose labels include
/// every one of `labels` (`key="value"`); 0 when absent.
pub fn metric(samples: &[(String, f64)], name: &str, labels: &[&str]) -> f64 {
    samples
        .iter()
        .filter(|(series, _)| {
            let (series_name, rest) = series.split_once('{').unwrap_or((series, ""));
            series_name == name && labels.iter().all(|label| rest.contains(label))
        })
        .map(|(_, value)| value)
        .sum()
}
