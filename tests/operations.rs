//! What an operator meets first, through the real `attendance-hub` binary:
//! a database it cannot reach fails startup at once with one clear error
//! that names the host, the port and the cause, and never the password;
//! `check-config` prints no secret; and no secret of the configuration
//! reaches the hub's log or any answer, on refused webhooks and failing
//! vendor calls alike. Its log, on stderr, has no colour codes when stderr
//! is not a terminal, and is one JSON object a line when asked.

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use attendance_proto::v1::{ReconcileRequest, Vendor};
use attendance_testkit::dingtalk::DingTalkCallbackSender;
use attendance_testkit::fake_dingtalk::FakeDingTalk;
use attendance_testkit::fake_dingtalk_api::FakeDingTalkApi;
use attendance_testkit::fake_feishu::{FakeFeishu, FakeFeishuApi};
use attendance_testkit::feishu::FeishuWebhookSender;
use attendance_testkit::hub::HubProcess;
use attendance_testkit::TestDatabase;

mod support;
use support::*;

/// Secret values no output may show: each distinct, none a substring of
/// anything the hub would say for another reason.
const FEISHU_APP_SECRET: &str = "fs-app-secret-5d1c9a77e2";
const FEISHU_TOKEN: &str = "fs-verify-token-8b3e41c0d9";
const FEISHU_ENCRYPT_KEY: &str = "fs-encrypt-key-2f6a90b1c4";
const DINGTALK_SECRET: &str = "dt-client-secret-73e0a5b8f1";
const DINGTALK_TOKEN: &str = "dt-callback-token-91c4d2e7a6";
/// A valid callback key (43 characters of base64 for 32 bytes).
const DINGTALK_AES_KEY: &str = "c2VjcmV0LWFlcy1rZXktZm9yLXRoZS1odWItdGVzdDE";
const DB_PASSWORD: &str = "db-password-4e8f1a2c90";
const FEISHU_APP_ID: &str = "cli_a0c203e66cf8100c";
const DINGTALK_CLIENT: &str = "dingclientsecrets01";

/// Every secret `vendor_sections` sets.
fn vendor_secrets() -> Vec<String> {
    [
        FEISHU_APP_SECRET,
        FEISHU_TOKEN,
        FEISHU_ENCRYPT_KEY,
        DINGTALK_SECRET,
        DINGTALK_TOKEN,
        DINGTALK_AES_KEY,
    ]
    .map(String::from)
    .into()
}

/// The vendor sections, with every secret set.
fn vendor_sections(feishu_base: &str, dingtalk_base: &str) -> String {
    format!(
        r#"
[reconciliation]
enabled = false

[[feishu]]
name = "plain"
app_id = "{FEISHU_APP_ID}"
app_secret = "{FEISHU_APP_SECRET}"
verification_token = "{FEISHU_TOKEN}"
base_url = "{feishu_base}"
long_connection = true

[[feishu]]
name = "secure"
app_id = "{FEISHU_APP_ID}"
verification_token = "{FEISHU_TOKEN}"
encrypt_key = "{FEISHU_ENCRYPT_KEY}"

[[dingtalk]]
name = "acme"
client_id = "{DINGTALK_CLIENT}"
client_secret = "{DINGTALK_SECRET}"
corp_id = "dingcorpsecrets"
stream = true
callback_token = "{DINGTALK_TOKEN}"
callback_aes_key = "{DINGTALK_AES_KEY}"
api_base_url = "{dingtalk_base}"
oapi_base_url = "{dingtalk_base}"
failed_push_poll_seconds = 1
"#
    )
}

/// `url` with a password: the one it has, or `DB_PASSWORD` put in (the test
/// server lets its user in without one, so any password does).
fn with_password(url: &str) -> (String, Option<String>) {
    let Some(scheme_end) = url.find("://").map(|i| i + 3) else {
        return (url.to_owned(), None);
    };
    let rest = &url[scheme_end..];
    match rest.find('@') {
        None => (url.to_owned(), None),
        Some(at) => match rest[..at].split_once(':') {
            Some((_, password)) => (url.to_owned(), Some(password.to_owned())),
            None => (
                format!(
                    "{}{}:{DB_PASSWORD}{}",
                    &url[..scheme_end],
                    &rest[..at],
                    &rest[at..]
                ),
                Some(DB_PASSWORD.to_owned()),
            ),
        },
    }
}

/// Every secret `text` shows.
fn secrets_in<'a>(text: &str, secrets: &'a [String]) -> Vec<&'a str> {
    secrets
        .iter()
        .filter(|secret| text.contains(secret.as_str()))
        .map(String::as_str)
        .collect()
}

/// Runs `attendance-hub` with `args` and `config_toml` (as `hub.toml` in
/// `dir`) until it exits; panics if it has not within `limit`.
fn run_hub(dir: &Path, config_toml: &str, args: &[&str], limit: Duration) -> Output {
    let config = dir.join("hub.toml");
    std::fs::write(&config, config_toml).expect("config written");
    let mut child = Command::new(binary())
        .args(args)
        .arg("--config")
        .arg(&config)
        .current_dir(dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the hub binary starts");
    let started = Instant::now();
    while child.try_wait().expect("the hub's status").is_none() {
        if started.elapsed() > limit {
            let _ = child.kill();
            let output = child.wait_with_output().expect("the hub's output");
            panic!(
                "the hub was still running after {limit:?}; stderr:\n{}",
                String::from_utf8_lossy(&output.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().expect("the hub's output")
}

#[test]
fn an_unreachable_database_fails_startup_at_once_naming_host_port_and_cause_never_the_password() {
    const PASSWORD: &str = "pw-7c1e90d4b2";
    let dir = tempfile::tempdir().unwrap();
    let config = format!(
        r#"
[server]
grpc_listen = "127.0.0.1:0"
http_listen = "127.0.0.1:0"

[storage]
url = "postgres://hub:{PASSWORD}@127.0.0.1:1/hub"
"#
    );
    // Generous: the bound is "not a pool's 30 s timeout", not a measurement.
    let output = run_hub(dir.path(), &config, &["serve"], Duration::from_secs(20));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        !output.status.success(),
        "startup failed; stderr:\n{stderr}"
    );
    assert!(
        !stdout.contains("attendance-hub ready"),
        "never ready: {stdout}"
    );
    let errors: Vec<&str> = stderr.lines().filter(|l| l.contains("error")).collect();
    assert_eq!(errors.len(), 1, "one error line; stderr:\n{stderr}");
    assert!(
        errors[0].contains("127.0.0.1:1") && errors[0].contains("refused"),
        "the error names the host, port and cause: {}",
        errors[0]
    );
    assert!(
        !stderr.contains(PASSWORD) && !stdout.contains(PASSWORD),
        "the password never appears; stderr:\n{stderr}"
    );
}

#[test]
fn check_config_prints_every_secret_redacted() {
    let dir = tempfile::tempdir().unwrap();
    let config = format!(
        "[storage]\nurl = \"postgres://hub:{DB_PASSWORD}@db.internal:5432/hub\"\n{}",
        vendor_sections("https://open.feishu.cn", "https://api.dingtalk.com")
    );
    let output = run_hub(
        dir.path(),
        &config,
        &["check-config"],
        Duration::from_secs(60),
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "check-config accepts it: {stderr}");
    assert!(
        stdout.contains("db.internal:5432") && stdout.contains("REDACTED"),
        "it prints the config, secrets redacted:\n{stdout}"
    );
    let mut secrets = vendor_secrets();
    secrets.push(DB_PASSWORD.to_owned());
    let shown = secrets_in(&format!("{stdout}{stderr}"), &secrets);
    assert!(
        shown.is_empty(),
        "check-config showed {shown:?}:\n{stdout}{stderr}"
    );
}

on_both_backends! {
    no_secret_reaches_the_log_or_an_answer => |db: TestDatabase| async move {
        // Both vendors' fakes know other secrets than the hub's, so every
        // call the hub makes with its own is refused.
        let feishu = FakeFeishu::start_with_api(FakeFeishuApi::new(FEISHU_APP_ID, "another-secret")).await;
        feishu.reject_discovery(10003, "invalid app_secret");
        let dingtalk_api = FakeDingTalkApi::new(DINGTALK_CLIENT, "another-secret");
        let dingtalk = FakeDingTalk::start_with(dingtalk_api.router()).await;
        let (url, db_password) = with_password(db.url());
        let mut secrets = vendor_secrets();
        secrets.extend(db_password);
        let config = format!(
            "{}{}",
            server_and_storage(&db).replace(db.url(), &url),
            vendor_sections(feishu.base_url(), dingtalk.base_url())
        );
        let dir = tempfile::tempdir().unwrap();
        let hub = HubProcess::start(binary(), dir.path(), &config).await;
        let http = hub.http_url();
        let mut answers: Vec<String> = Vec::new();

        // Webhooks refused: a wrong token, a foreign app, no signature, a
        // wrong signature, a wrong key; and one accepted, whose token the
        // stored JSON must not keep.
        let plain = FeishuWebhookSender::new(&http, "plain", None);
        let event = FLOW_JSON.replace(FLOW_TOKEN, FEISHU_TOKEN);
        let feishu_answer = |answer: attendance_testkit::feishu::Answer| (answer.status, answer.body);
        let refused = [
            (feishu_answer(plain.post_plain(FLOW_JSON).await), 401),
            (feishu_answer(plain.post_plain(&event.replace(FEISHU_APP_ID, "cli_someone_else")).await), 403),
            (feishu_answer(FeishuWebhookSender::new(&http, "secure", None).post_plain(&event).await), 401),
            (
                feishu_answer(
                    FeishuWebhookSender::new(&http, "secure", Some("a-wrong-key")).post_encrypted(&event).await,
                ),
                401,
            ),
        ];
        for ((status, body), expected) in refused {
            assert_eq!(status, expected, "{body}");
            answers.push(body);
        }
        let wrong_token = DingTalkCallbackSender::new(&http, "acme", "a-wrong-token", DINGTALK_AES_KEY, DINGTALK_CLIENT)
            .post("{\"EventType\":\"check_in\"}")
            .await;
        assert!((400..500).contains(&wrong_token.status), "{}", wrong_token.body);
        answers.push(wrong_token.body);
        let wrong_owner = DingTalkCallbackSender::new(&http, "acme", DINGTALK_TOKEN, DINGTALK_AES_KEY, "dingsomeoneelse")
            .post("{\"EventType\":\"check_in\"}")
            .await;
        assert!((400..500).contains(&wrong_owner.status), "{}", wrong_owner.body);
        answers.push(wrong_owner.body);
        let accepted = plain.post_plain(&event).await;
        assert_eq!(accepted.status, 200, "{}", accepted.body);
        answers.push(format!("{:?}", everything(&hub).await));

        // Vendor calls refused: a pass per vendor over one employee.
        let mut admin = admin(&hub).await;
        for vendor in [Vendor::Feishu, Vendor::Dingtalk] {
            let pass = admin
                .reconcile(ReconcileRequest {
                    vendor: vendor as i32,
                    work_date_from: "2021-03-10".into(),
                    work_date_to: "2021-03-10".into(),
                    employee_ids: vec!["2b68933a".into()],
                    ..Default::default()
                })
                .await;
            let text = match pass {
                Ok(pass) => format!("{:?}", pass.into_inner()),
                Err(status) => format!("{status:?}"),
            };
            assert!(text.contains("error"), "the pass failed: {text}");
            answers.push(text);
        }
        // Both connections tried and failed, and health says so.
        wait_for_health_state(&hub, "feishu_long_connections", "plain", "failed", |s| s.starts_with("failed")).await;
        wait_for_health_state(&hub, "dingtalk_streams", "acme", "a refusal", |s| s != "connecting").await;
        answers.push(healthz(&hub).await.1.to_string());

        for answer in &answers {
            let shown = secrets_in(answer, &secrets);
            assert!(shown.is_empty(), "an answer showed {shown:?}: {answer}");
        }
        let log = hub.log();
        assert!(log.contains("WARN") || log.contains("ERROR"), "the failures were logged:\n{log}");
        let shown = secrets_in(&log, &secrets);
        assert!(shown.is_empty(), "the log showed {shown:?}:\n{log}");
    };
}

/// A hub on SQLite with one Feishu app (`[log]` as given), one event
/// refused and one committed; its whole log.
async fn log_of_a_short_run(log_section: &str) -> String {
    let db = TestDatabase::sqlite();
    let config = format!("{}{}{log_section}", server_and_storage(&db), seed_apps());
    let dir = tempfile::tempdir().unwrap();
    let hub = HubProcess::start(binary(), dir.path(), &config).await;
    let flows = FeishuWebhookSender::new(&hub.http_url(), "flows", None);
    assert_eq!(
        flows
            .post_plain(&FLOW_JSON.replace(FLOW_TOKEN, "wrong"))
            .await
            .status,
        401
    );
    assert_eq!(flows.post_plain(FLOW_JSON).await.status, 200);
    assert_eq!(hub.terminate().await.code(), Some(0));
    std::fs::read_dir(dir.path())
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "log"))
        .map(|path| std::fs::read_to_string(path).unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_log_has_no_colour_codes_when_stderr_is_not_a_terminal() {
    let log = log_of_a_short_run("").await;
    assert!(
        log.contains("webhook rejected") && log.contains("event committed"),
        "{log}"
    );
    assert!(
        !log.contains('\u{1b}'),
        "no ANSI escape in a log file:\n{log:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_logs_are_one_object_a_line_with_the_fields_beside_the_message() {
    let log = log_of_a_short_run("\n[log]\nformat = \"json\"\n").await;
    let lines: Vec<serde_json::Value> = log
        .lines()
        .filter(|line| !line.trim().is_empty())
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
        .collect();
    assert!(lines.len() >= 4, "{log}");
    for line in &lines {
        assert!(
            line["timestamp"].is_string() && line["level"].is_string(),
            "{line}"
        );
    }
    let ready = lines
        .iter()
        .find(|line| line["message"] == "attendance hub ready")
        .expect("the ready line");
    assert!(
        ready["grpc"].is_string(),
        "fields beside the message: {ready}"
    );
    let rejected = lines
        .iter()
        .find(|line| line["message"] == "webhook rejected")
        .expect("the refusal");
    assert_eq!(rejected["code"], "INVALID_TOKEN", "{rejected}");
    assert_eq!(rejected["level"], "WARN");
    assert!(!log.contains('\u{1b}'), "{log:?}");
}
