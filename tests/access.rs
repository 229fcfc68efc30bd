//! Access control end to end: the real binary with `[[clients]]`, Feishu
//! events of two tenants posted over HTTP, and gRPC clients presenting
//! bearer tokens. Unauthenticated calls and calls beyond a client's services
//! or tenants are refused with an `ErrorInfo`; every read (list queries, the
//! day view, reconciled days, Subscribe) returns only the client's tenants;
//! health and reflection stay open; a hub refuses to serve beyond loopback
//! without clients.

use std::process::Stdio;
use std::time::Duration;

use attendance_proto::v1::admin_service_client::AdminServiceClient;
use attendance_proto::v1::attendance_service_client::AttendanceServiceClient;
use attendance_proto::v1::{
    subscribe_request, CheckReportTotalsRequest, GetDailyAttendanceRequest, GetIngestStatsRequest,
    ListApprovalsRequest, ListPunchesRequest, ListReconciledDaysRequest, ListShiftResultsRequest,
    LogEntry, ReconcileRequest, RederiveRequest, Source, SubscribeFilter, SubscribeRequest,
    SubscribeResponse, Vendor,
};
use attendance_server::hash_token;
use attendance_testkit::fake_feishu::FakeFeishuApi;
use attendance_testkit::feishu::FeishuWebhookSender;
use attendance_testkit::hub::HubProcess;
use attendance_testkit::TestDatabase;
use serde_json::{json, Value};
use tokio::io::AsyncWriteExt;
use tonic::metadata::{Ascii, MetadataValue};
use tonic::service::interceptor::InterceptedService;
use tonic::service::Interceptor;
use tonic::transport::Channel;
use tonic::{Code, Status, Streaming};
use tonic_types::StatusExt;

mod support;
use support::*;

const APP_ID: &str = "cli_a0c203e66cf8100c";
const APP_SECRET: &str = "fake-secret";
/// The tenant of the seed events, and a second organisation on the same app.
const TENANT_A: &str = "2fce678eb60d1651";
const TENANT_B: &str = "b0b0b0b0b0b0b0b0";
/// A tenant the payroll client may read that has no data: its grant has two tenants.
const TENANT_C: &str = "c0c0c0c0c0c0c0c0";
/// One employee id in both tenants: only the tenant tells their facts apart.
const EMPLOYEE: &str = "2b68933a";
const DAY: &str = "2021-03-10";

const PAYROLL_TOKEN: &str = "payroll-a-3f9c1e7b5d2a4c6e8f0a1b3c5d7e9f1a";
const OPS_TOKEN: &str = "operations-8e2d4f6a1c3b5d7f9e1a3c5b7d9f2e4a";
const AUDITOR_TOKEN: &str = "auditor-a-5b7d9f1e3a5c7e9b1d3f5a7c9e1b3d5f";
const UNKNOWN_TOKEN: &str = "nobody-knows-1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c";

/// The `[[clients]]`: payroll reads tenants A and C; operations reads and
/// administers every tenant; the auditor administers tenant A only.
fn clients() -> String {
    let client = |name: &str, token: &str, tenants: &str, services: &str| {
        format!(
            "\n[[clients]]\nname = \"{name}\"\ntoken_sha256 = \"{}\"\ntenants = {tenants}\nservices = {services}\n",
            hash_token(token).expect("a long token")
        )
    };
    client(
        "payroll-a",
        PAYROLL_TOKEN,
        &format!(r#"["{TENANT_A}", "{TENANT_C}"]"#),
        r#"["attendance"]"#,
    ) + &client("ops", OPS_TOKEN, r#"["*"]"#, r#"["attendance", "admin"]"#)
        + &client(
            "auditor-a",
            AUDITOR_TOKEN,
            &format!(r#"["{TENANT_A}"]"#),
            r#"["admin"]"#,
        )
}

/// One Feishu app per tenant (the same vendor app, as a store app installed
/// by two organisations), each reconcilable over its roster.
fn config(db: &TestDatabase, api_base: &str) -> String {
    let app = |name: &str, tenant: &str| {
        format!(
            r#"
[[feishu]]
name = "{name}"
app_id = "{APP_ID}"
app_secret = "{APP_SECRET}"
verification_token = "{FLOW_TOKEN}"
base_url = "{api_base}"
time_zone = "Asia/Shanghai"
tenant_key = "{tenant}"
roster = ["{EMPLOYEE}"]
"#
        )
    };
    format!(
        "{server}\n[reconciliation]\nenabled = false\n{a}{b}{clients}",
        server = server_and_storage(db),
        a = app("a", TENANT_A),
        b = app("b", TENANT_B),
        clients = clients(),
    )
}

async fn start(db: &TestDatabase, dir: &std::path::Path) -> HubProcess {
    let api_base = FakeFeishuApi::new(APP_ID, APP_SECRET).serve().await;
    HubProcess::start(binary(), dir, &config(db, &api_base)).await
}

/// Puts `authorization: Bearer <token>` on every call.
#[derive(Clone)]
struct Bearer(MetadataValue<Ascii>);

impl Interceptor for Bearer {
    fn call(&mut self, mut request: tonic::Request<()>) -> Result<tonic::Request<()>, Status> {
        request
            .metadata_mut()
            .insert("authorization", self.0.clone());
        Ok(request)
    }
}

fn bearer(token: &str) -> Bearer {
    Bearer(format!("Bearer {token}").parse().expect("an ASCII header"))
}

type Attendance = AttendanceServiceClient<InterceptedService<Channel, Bearer>>;
type Admin = AdminServiceClient<InterceptedService<Channel, Bearer>>;

async fn attendance_as(hub: &HubProcess, token: &str) -> Attendance {
    AttendanceServiceClient::with_interceptor(channel(hub).await, bearer(token))
}

async fn admin_as(hub: &HubProcess, token: &str) -> Admin {
    AdminServiceClient::with_interceptor(channel(hub).await, bearer(token))
}

/// A refusal with its code and the hub's `ErrorInfo` reason.
fn assert_refused(status: &Status, code: Code, reason: &str) {
    assert_eq!(status.code(), code, "{status:?}");
    let info = status
        .get_details_error_info()
        .expect("an ErrorInfo detail");
    assert_eq!(info.reason, reason, "{status:?}");
    assert_eq!(info.domain, "attendance-hub");
}

fn edited(json: &str, edit: impl FnOnce(&mut Value)) -> String {
    let mut value: Value = serde_json::from_str(json).expect("JSON");
    edit(&mut value);
    value.to_string()
}

/// A punch, a day result and a leave approval of `EMPLOYEE` in `tenant`,
/// posted to its app; `n` keeps event ids and records apart.
async fn seed(hub: &HubProcess, tenant: &str, n: u32) {
    let app = if tenant == TENANT_A { "a" } else { "b" };
    let punch = edited(FLOW_JSON, |v| {
        v["header"]["event_id"] = json!(format!("flow-{tenant}-{n}"));
        v["header"]["tenant_key"] = json!(tenant);
        v["event"]["record_id"] = json!(format!("record-{tenant}-{n}"));
        v["event"]["check_time"] = json!((1_615_381_916 + i64::from(n)).to_string());
    });
    let day_result = edited(TASK_JSON, |v| {
        v["header"]["event_id"] = json!(format!("task-{tenant}-{n}"));
        v["header"]["token"] = json!(FLOW_TOKEN);
        v["header"]["app_id"] = json!(APP_ID);
        v["header"]["tenant_key"] = json!(tenant);
        v["event"]["task_id"] = json!(format!("task-{tenant}-{n}"));
        v["event"]["status_changes"][0]["index"] = json!(n + 1);
    });
    let leave = json!({
        "ts": "1725429601.2273512",
        "uuid": format!("leave-{tenant}-{n}"),
        "token": FLOW_TOKEN,
        "type": "event_callback",
        "event": {
            "app_id": APP_ID,
            "tenant_key": tenant,
            "type": "leave_approvalV2",
            "instance_code": format!("leave-{tenant}-{n}"),
            "user_id": EMPLOYEE,
            "leave_name": "Personal leave",
            "leave_unit": "DAY",
            "leave_start_time": "2021-03-10 09:00:00",
            "leave_end_time": "2021-03-10 18:00:00",
            "leave_interval": 32400,
            "leave_reason": "family"
        }
    })
    .to_string();
    let sender = FeishuWebhookSender::new(&hub.http_url(), app, None);
    for event in [punch, day_result, leave] {
        let answer = sender.post_plain(&event).await;
        assert_eq!(answer.status, 200, "{answer:?}");
    }
}

fn tenants_of<'a>(sources: impl IntoIterator<Item = &'a Option<Source>>) -> Vec<String> {
    sources
        .into_iter()
        .map(|s| s.as_ref().expect("a source").tenant.clone())
        .collect()
}

fn entry_tenants(entries: &[LogEntry]) -> Vec<String> {
    tenants_of(entries.iter().map(|e| &e.source))
}

/// Every entry of a stream until it goes idle, skipping heartbeats until
/// `at_least` entries arrived.
async fn entries(stream: &mut Streaming<SubscribeResponse>, at_least: usize) -> Vec<LogEntry> {
    let mut entries = Vec::new();
    loop {
        let (mut more, _) = entries_until_idle(stream).await;
        let idle = more.is_empty();
        entries.append(&mut more);
        if idle && entries.len() >= at_least {
            return entries;
        }
    }
}

async fn subscribe(
    client: &mut Attendance,
    start: subscribe_request::Start,
    tenants: &[&str],
) -> Result<Streaming<SubscribeResponse>, Status> {
    client
        .subscribe(SubscribeRequest {
            start: Some(start),
            filter: Some(SubscribeFilter {
                tenants: tenants.iter().map(|t| t.to_string()).collect(),
                ..SubscribeFilter::default()
            }),
            ..SubscribeRequest::default()
        })
        .await
        .map(|response| response.into_inner())
}

fn whole_day_pass() -> ReconcileRequest {
    ReconcileRequest {
        vendor: Vendor::Feishu as i32,
        app: String::new(),
        work_date_from: DAY.into(),
        work_date_to: DAY.into(),
        employee_ids: Vec::new(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_without_a_known_token_are_unauthenticated() {
    let db = TestDatabase::sqlite();
    let dir = tempfile::tempdir().unwrap();
    let hub = start(&db, dir.path()).await;

    let mut anonymous = client(&hub).await;
    for missing in [
        anonymous
            .list_punches(ListPunchesRequest::default())
            .await
            .unwrap_err(),
        anonymous
            .subscribe(SubscribeRequest::default())
            .await
            .unwrap_err(),
        admin(&hub)
            .await
            .get_ingest_stats(GetIngestStatsRequest {})
            .await
            .unwrap_err(),
    ] {
        assert_refused(&missing, Code::Unauthenticated, "TOKEN_MISSING");
    }

    let wrong = attendance_as(&hub, UNKNOWN_TOKEN)
        .await
        .list_punches(ListPunchesRequest::default())
        .await
        .unwrap_err();
    assert_refused(&wrong, Code::Unauthenticated, "TOKEN_INVALID");
    assert!(!wrong.message().contains(UNKNOWN_TOKEN), "{wrong:?}");
    // A token without its scheme is no bearer token.
    let bare = AttendanceServiceClient::with_interceptor(
        channel(&hub).await,
        Bearer(PAYROLL_TOKEN.parse().unwrap()),
    )
    .list_punches(ListPunchesRequest::default())
    .await
    .unwrap_err();
    assert_refused(&bare, Code::Unauthenticated, "TOKEN_INVALID");

    // The same calls with a known token pass.
    attendance_as(&hub, PAYROLL_TOKEN)
        .await
        .list_punches(ListPunchesRequest::default())
        .await
        .expect("payroll lists punches");
    admin_as(&hub, OPS_TOKEN)
        .await
        .get_ingest_stats(GetIngestStatsRequest {})
        .await
        .expect("operations reads the statistics");
    let log = hub.log();
    for token in [PAYROLL_TOKEN, UNKNOWN_TOKEN, OPS_TOKEN] {
        assert!(!log.contains(token), "a token in the hub's log");
        assert!(
            !log.contains(&hash_token(token).unwrap()),
            "a hash in the hub's log"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_are_refused_beyond_their_services_and_tenants() {
    let db = TestDatabase::sqlite();
    let dir = tempfile::tempdir().unwrap();
    let hub = start(&db, dir.path()).await;
    seed(&hub, TENANT_A, 0).await;

    let refused = admin_as(&hub, PAYROLL_TOKEN)
        .await
        .reconcile(whole_day_pass())
        .await
        .unwrap_err();
    assert_refused(&refused, Code::PermissionDenied, "SERVICE_NOT_PERMITTED");
    let info = refused.get_details_error_info().unwrap();
    assert_eq!(info.metadata["client"], "payroll-a");
    assert_eq!(info.metadata["service"], "attendance.v1.AdminService");
    let refused = attendance_as(&hub, AUDITOR_TOKEN)
        .await
        .list_punches(ListPunchesRequest::default())
        .await
        .unwrap_err();
    assert_refused(&refused, Code::PermissionDenied, "SERVICE_NOT_PERMITTED");

    let refused = attendance_as(&hub, PAYROLL_TOKEN)
        .await
        .list_punches(ListPunchesRequest {
            tenant: TENANT_B.into(),
            ..ListPunchesRequest::default()
        })
        .await
        .unwrap_err();
    assert_refused(&refused, Code::PermissionDenied, "TENANT_NOT_PERMITTED");
    assert_eq!(
        refused.get_details_error_info().unwrap().metadata["tenant"],
        TENANT_B
    );

    // An administrator of one tenant may re-derive that tenant only; calls
    // on the whole hub need every tenant.
    let mut auditor = admin_as(&hub, AUDITOR_TOKEN).await;
    let report_check = |tenant: &str| CheckReportTotalsRequest {
        tenant: tenant.into(),
        month: "2021-03".into(),
        ..CheckReportTotalsRequest::default()
    };
    let rederive = |tenant: &str| RederiveRequest {
        vendor: Vendor::Feishu as i32,
        tenant: tenant.into(),
        ..RederiveRequest::default()
    };
    let own = auditor
        .rederive(rederive(TENANT_A))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(own.deliveries_read, 3, "{own:?}");
    for refused in [
        auditor.rederive(rederive(TENANT_B)).await.unwrap_err(),
        auditor.rederive(rederive("")).await.unwrap_err(),
        auditor.reconcile(whole_day_pass()).await.unwrap_err(),
        auditor
            .get_ingest_stats(GetIngestStatsRequest {})
            .await
            .unwrap_err(),
        auditor
            .check_report_totals(report_check(TENANT_B))
            .await
            .unwrap_err(),
    ] {
        assert_refused(&refused, Code::PermissionDenied, "TENANT_NOT_PERMITTED");
    }
    // The cross-check of its own tenant passes the grant (and is refused
    // only because no Feishu app reads a report).
    let own = auditor
        .check_report_totals(report_check(TENANT_A))
        .await
        .unwrap_err();
    assert_eq!(own.code(), Code::InvalidArgument, "{own:?}");
    let ops = admin_as(&hub, OPS_TOKEN)
        .await
        .rederive(rederive(""))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(ops.deliveries_read, 3, "{ops:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_and_reflection_answer_without_a_token() {
    use tonic_health::pb::health_check_response::ServingStatus;

    let db = TestDatabase::sqlite();
    let dir = tempfile::tempdir().unwrap();
    let hub = start(&db, dir.path()).await;

    assert_eq!(
        grpc_health(&hub, "attendance.v1.AttendanceService").await,
        ServingStatus::Serving
    );
    // Reflection too, without a token.
    let names = reflected_services(&hub).await;
    assert!(
        names.iter().any(|n| n == "attendance.v1.AttendanceService"),
        "{names:?}"
    );
}

/// The binary's own subcommands: `hash-token` prints the hash the config
/// wants; `check-config` prints clients without their hashes; `serve`
/// refuses gRPC beyond loopback without clients unless told so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_hashes_tokens_and_refuses_to_serve_unauthenticated_beyond_loopback() {
    let run = |args: &[&str], stdin: &str| {
        let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        let stdin = stdin.to_owned();
        async move {
            let mut child = tokio::process::Command::new(binary())
                .args(&args)
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .kill_on_drop(true)
                .spawn()
                .expect("the binary starts");
            let mut input = child.stdin.take().unwrap();
            input.write_all(stdin.as_bytes()).await.unwrap();
            drop(input);
            tokio::time::timeout(Duration::from_secs(60), child.wait_with_output())
                .await
                .expect("the binary exits within a minute")
                .expect("its output")
        }
    };
    let hashed = run(&["hash-token"], &format!("{PAYROLL_TOKEN}\n")).await;
    assert!(hashed.status.success());
    assert_eq!(
        String::from_utf8_lossy(&hashed.stdout).trim(),
        hash_token(PAYROLL_TOKEN).unwrap()
    );
    let weak = run(&["hash-token"], "short\n").await;
    assert!(!weak.status.success());
    assert!(String::from_utf8_lossy(&weak.stderr).contains("at least 32"));

    let db = TestDatabase::sqlite();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hub.toml");
    let path_text = path.to_str().unwrap();
    let with_clients = format!("{}{}", server_and_storage(&db), clients());
    std::fs::write(&path, &with_clients).unwrap();
    let checked = run(&["check-config", "--config", path_text], "").await;
    assert!(checked.status.success());
    let printed = String::from_utf8_lossy(&checked.stdout);
    assert!(
        printed.contains("payroll-a") && printed.contains(TENANT_C),
        "{printed}"
    );
    assert!(
        !printed.contains(&hash_token(PAYROLL_TOKEN).unwrap()),
        "{printed}"
    );

    let exposed = server_and_storage(&db).replace("127.0.0.1:0\"\nhttp", "0.0.0.0:0\"\nhttp");
    assert!(exposed.contains("grpc_listen = \"0.0.0.0:0\""), "{exposed}");
    std::fs::write(&path, &exposed).unwrap();
    let refused = run(&["serve", "--config", path_text], "").await;
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("server.allow_unauthenticated"), "{stderr}");
    assert!(!String::from_utf8_lossy(&refused.stdout).contains("ready"));

    // Said explicitly, it serves, and warns.
    let allowed = exposed.replace("[server]\n", "[server]\nallow_unauthenticated = true\n");
    let hub = HubProcess::start(binary(), dir.path(), &allowed).await;
    client(&hub)
        .await
        .list_punches(ListPunchesRequest::default())
        .await
        .expect("an open hub answers without a token");
    assert!(
        hub.log().contains("without authentication"),
        "{}",
        hub.log()
    );
}

on_both_backends! {
    every_read_returns_only_the_callers_tenants => |db: TestDatabase| async move {
        let dir = tempfile::tempdir().unwrap();
        let hub = start(&db, dir.path()).await;
        seed(&hub, TENANT_A, 0).await;
        seed(&hub, TENANT_B, 0).await;
        let pass = admin_as(&hub, OPS_TOKEN).await.reconcile(whole_day_pass()).await.unwrap().into_inner();
        assert_eq!(pass.apps.len(), 2, "{pass:?}");
        for app in &pass.apps {
            assert_eq!((app.error.as_str(), app.work_dates_reconciled.as_slice()), ("", [DAY.to_string()].as_slice()), "{pass:?}");
        }

        let mut payroll = attendance_as(&hub, PAYROLL_TOKEN).await;
        let mut ops = attendance_as(&hub, OPS_TOKEN).await;
        let a = vec![TENANT_A.to_string()];
        let both = vec![TENANT_A.to_string(), TENANT_B.to_string()];

        // Listing without a tenant: the caller's tenants only; operations sees both.
        let punches = |tenant: &str| ListPunchesRequest { tenant: tenant.into(), ..ListPunchesRequest::default() };
        let listed = payroll.list_punches(punches("")).await.unwrap().into_inner().punches;
        assert_eq!(tenants_of(listed.iter().map(|p| &p.source)), a);
        let listed = payroll.list_punches(punches(TENANT_A)).await.unwrap().into_inner().punches;
        assert_eq!(tenants_of(listed.iter().map(|p| &p.source)), a);
        let mut listed = tenants_of(ops.list_punches(punches("")).await.unwrap().into_inner().punches.iter().map(|p| &p.source));
        listed.sort();
        assert_eq!(listed, both);

        let results = |tenant: &str| ListShiftResultsRequest { tenant: tenant.into(), ..ListShiftResultsRequest::default() };
        let listed = payroll.list_shift_results(results("")).await.unwrap().into_inner().shift_results;
        assert_eq!(tenants_of(listed.iter().map(|s| &s.source)), a);
        let listed = ops.list_shift_results(results("")).await.unwrap().into_inner().shift_results;
        assert_eq!(listed.len(), 2);

        let approvals = |tenant: &str| ListApprovalsRequest { tenant: tenant.into(), ..ListApprovalsRequest::default() };
        let listed = payroll.list_approvals(approvals("")).await.unwrap().into_inner().approvals;
        assert_eq!(tenants_of(listed.iter().map(|a| &a.source)), a);
        let listed = ops.list_approvals(approvals("")).await.unwrap().into_inner().approvals;
        assert_eq!(listed.len(), 2);

        for refused in [
            payroll.list_punches(punches(TENANT_B)).await.unwrap_err(),
            payroll.list_shift_results(results(TENANT_B)).await.unwrap_err(),
            payroll.list_approvals(approvals(TENANT_B)).await.unwrap_err(),
        ] {
            assert_refused(&refused, Code::PermissionDenied, "TENANT_NOT_PERMITTED");
        }

        // The day view and the reconciled days: the caller's tenant, and no other.
        let day = |tenant: &str| GetDailyAttendanceRequest {
            tenant: tenant.into(), employee_id: EMPLOYEE.into(), work_date: DAY.into(), time_zone: String::new(),
        };
        let view = payroll.get_daily_attendance(day(TENANT_A)).await.unwrap().into_inner();
        assert_eq!(tenants_of(view.punches.iter().map(|p| &p.source)), a);
        assert_eq!(tenants_of(view.shift_results.iter().map(|s| &s.source)), a);
        assert_eq!(tenants_of(view.approvals.iter().map(|a| &a.source)), a);
        assert!(view.reconciled, "{view:#?}");
        let refused = payroll.get_daily_attendance(day(TENANT_B)).await.unwrap_err();
        assert_refused(&refused, Code::PermissionDenied, "TENANT_NOT_PERMITTED");
        let theirs = ops.get_daily_attendance(day(TENANT_B)).await.unwrap().into_inner();
        assert_eq!(tenants_of(theirs.punches.iter().map(|p| &p.source)), [TENANT_B]);

        let days = |tenant: &str| ListReconciledDaysRequest {
            tenant: tenant.into(), work_date_from: DAY.into(), work_date_to: DAY.into(), vendor: 0,
        };
        let listed = payroll.list_reconciled_days(days(TENANT_A)).await.unwrap().into_inner().days;
        assert_eq!(tenants_of(listed.iter().map(|d| &d.source)), a);
        let refused = payroll.list_reconciled_days(days(TENANT_B)).await.unwrap_err();
        assert_refused(&refused, Code::PermissionDenied, "TENANT_NOT_PERMITTED");
        let listed = ops.list_reconciled_days(days(TENANT_B)).await.unwrap().into_inner().days;
        assert_eq!(tenants_of(listed.iter().map(|d| &d.source)), [TENANT_B]);
    };

    a_subscription_carries_only_the_callers_tenants => |db: TestDatabase| async move {
        let dir = tempfile::tempdir().unwrap();
        let hub = start(&db, dir.path()).await;
        seed(&hub, TENANT_B, 0).await;
        seed(&hub, TENANT_A, 0).await;
        let mut payroll = attendance_as(&hub, PAYROLL_TOKEN).await;

        // Catching up without a filter: tenant A's three facts, none of B's.
        let mut stream = subscribe(&mut payroll, subscribe_request::Start::FromBeginning(true), &[]).await.unwrap();
        let caught_up = entries(&mut stream, 3).await;
        assert_eq!(entry_tenants(&caught_up), [TENANT_A; 3]);

        // Live: B's entries are committed first, A's after them, and only A's arrive.
        let mut live = subscribe(&mut payroll, subscribe_request::Start::FromNow(true), &[]).await.unwrap();
        let mut named = subscribe(&mut payroll, subscribe_request::Start::FromNow(true), &[TENANT_A]).await.unwrap();
        // Let both streams reach the tail before anything is committed.
        let _ = entries_until_idle(&mut live).await;
        let _ = entries_until_idle(&mut named).await;
        seed(&hub, TENANT_B, 1).await;
        seed(&hub, TENANT_A, 1).await;
        let received = entries(&mut live, 3).await;
        assert_eq!(entry_tenants(&received), [TENANT_A; 3]);
        assert_eq!(entry_tenants(&entries(&mut named, 3).await), [TENANT_A; 3]);

        let mut ops = attendance_as(&hub, OPS_TOKEN).await;
        let mut all = subscribe(&mut ops, subscribe_request::Start::FromBeginning(true), &[]).await.unwrap();
        let everything = entries(&mut all, 12).await;
        let from_b = entry_tenants(&everything).iter().filter(|t| *t == TENANT_B).count();
        assert_eq!((everything.len(), from_b), (12, 6), "B's entries were committed too");
        let last_of = |tenant: &str| everything.iter().rposition(|e| e.source.as_ref().unwrap().tenant == tenant).unwrap();
        assert!(last_of(TENANT_B) < last_of(TENANT_A), "B's live entries came before A's");

        for tenants in [&[TENANT_B][..], &[TENANT_A, TENANT_B][..]] {
            let refused = subscribe(&mut payroll, subscribe_request::Start::FromBeginning(true), tenants).await.unwrap_err();
            assert_refused(&refused, Code::PermissionDenied, "TENANT_NOT_PERMITTED");
        }
        let refused = subscribe(&mut attendance_as(&hub, AUDITOR_TOKEN).await, subscribe_request::Start::FromNow(true), &[]).await.unwrap_err();
        assert_refused(&refused, Code::PermissionDenied, "SERVICE_NOT_PERMITTED");
    };
}
