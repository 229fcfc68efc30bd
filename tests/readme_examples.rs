//! The README's examples, run as written against the example config: every
//! `curl` that posts a seed event and every `grpcurl` / `buf curl` call of
//! its shell blocks, each request built from the example's own JSON through
//! the service descriptors (as grpcurl does), so a renamed field, a changed
//! default or an example that needs more than the example config fails here.
//! Examples that need what the example config lacks (a client token, TLS)
//! are counted as skipped and named.

mod support;

use std::str::FromStr;
use std::time::Duration;

use attendance_testkit::hub::HubProcess;
use bytes::{Buf, BufMut};
use prost::Message;
use prost_reflect::{DescriptorPool, DynamicMessage, MethodDescriptor};
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::codegen::http::uri::PathAndQuery;
use tonic::transport::Channel;
use tonic::{Code, Request, Status};

use support::{channel, reflected_services, WAIT};

const README: &str = include_str!("../README.md");
const EXAMPLE_CONFIG: &str = include_str!("../examples/config.toml");
const EXAMPLES_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../");

/// The addresses the README's examples use, which the example config
/// listens on; the suite's hub listens on ports it picks instead.
const README_GRPC: &str = "127.0.0.1:50051";
const README_HTTP: &str = "http://127.0.0.1:8080";

/// Every command of the README's ```sh blocks, continuation lines joined.
fn readme_commands() -> Vec<String> {
    let mut commands = Vec::new();
    let mut in_block = false;
    let mut pending = String::new();
    for line in README.lines() {
        if line.trim_start().starts_with("```") {
            in_block = line.trim_start() == "```sh";
            continue;
        }
        if !in_block || line.trim_start().starts_with('#') {
            continue;
        }
        let line = line.trim();
        if let Some(head) = line.strip_suffix('\\') {
            pending.push_str(head);
            pending.push(' ');
            continue;
        }
        pending.push_str(line);
        if !pending.trim().is_empty() {
            commands.push(std::mem::take(&mut pending));
        }
        pending.clear();
    }
    commands
}

/// A command's words as a POSIX shell would split them (quotes kept
/// together, not interpreted further).
fn words(command: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut quote: Option<char> = None;
    let mut in_word = false;
    for c in command.chars() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => word.push(c),
            (None, '\'' | '"') => {
                quote = Some(c);
                in_word = true;
            }
            (None, c) if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            (None, c) => {
                word.push(c);
                in_word = true;
            }
        }
    }
    if in_word {
        words.push(word);
    }
    words
}

/// A gRPC call an example makes.
#[derive(Debug)]
struct GrpcExample {
    command: String,
    /// `service/method`, or `list` for reflection.
    target: String,
    body: String,
}

/// What the suite does with one README command.
#[derive(Debug)]
enum Example {
    PostWebhook {
        path: String,
        file: String,
    },
    Grpc(GrpcExample),
    /// Needs what the example config does not have; the reason.
    Skipped(String, &'static str),
}

fn parse(command: &str) -> Option<Example> {
    let words = words(command);
    let value_of = |flag: &str| {
        words
            .iter()
            .position(|w| w == flag)
            .and_then(|i| words.get(i + 1))
            .cloned()
    };
    match words.first().map(String::as_str) {
        Some("curl") => {
            let url = words.iter().find(|w| w.starts_with(README_HTTP))?;
            let file = value_of("--data-binary")?;
            Some(Example::PostWebhook {
                path: url[README_HTTP.len()..].to_owned(),
                file: file.trim_start_matches('@').to_owned(),
            })
        }
        Some("grpcurl") => {
            if words.iter().any(|w| w == "-H") {
                return Some(Example::Skipped(
                    command.to_owned(),
                    "needs a [[clients]] token",
                ));
            }
            if words.iter().any(|w| w == "-cacert") {
                return Some(Example::Skipped(command.to_owned(), "needs [tls]"));
            }
            let at = words.iter().position(|w| w == README_GRPC)?;
            Some(Example::Grpc(GrpcExample {
                command: command.to_owned(),
                target: words.get(at + 1)?.clone(),
                body: value_of("-d").unwrap_or_else(|| "{}".into()),
            }))
        }
        Some("buf") if words.get(1).map(String::as_str) == Some("curl") => {
            let prefix = format!("http://{README_GRPC}/");
            let url = words.iter().find(|w| w.starts_with(&prefix))?;
            Some(Example::Grpc(GrpcExample {
                command: command.to_owned(),
                target: url[prefix.len()..].to_owned(),
                body: value_of("-d").unwrap_or_else(|| "{}".into()),
            }))
        }
        _ => None,
    }
}

/// Messages as bytes: the examples' requests are encoded from their JSON
/// through the descriptors, and answers decoded the same way.
#[derive(Clone, Copy, Default)]
struct RawCodec;

impl Codec for RawCodec {
    type Encode = Vec<u8>;
    type Decode = Vec<u8>;
    type Encoder = RawCodec;
    type Decoder = RawCodec;
    fn encoder(&mut self) -> RawCodec {
        RawCodec
    }
    fn decoder(&mut self) -> RawCodec {
        RawCodec
    }
}

impl Encoder for RawCodec {
    type Item = Vec<u8>;
    type Error = Status;
    fn encode(&mut self, item: Vec<u8>, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        dst.put_slice(&item);
        Ok(())
    }
}

impl Decoder for RawCodec {
    type Item = Vec<u8>;
    type Error = Status;
    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Vec<u8>>, Status> {
        Ok(Some(src.copy_to_bytes(src.remaining()).to_vec()))
    }
}

fn pool() -> DescriptorPool {
    let mut pool = DescriptorPool::decode(attendance_proto::FILE_DESCRIPTOR_SET)
        .expect("the service descriptors decode");
    pool.decode_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .expect("the health descriptors decode");
    pool
}

fn method(pool: &DescriptorPool, target: &str) -> MethodDescriptor {
    let (service, name) = target
        .rsplit_once('/')
        .unwrap_or_else(|| panic!("{target:?} names no method"));
    let service = pool
        .get_service_by_name(service)
        .unwrap_or_else(|| panic!("the README names an unknown service {service:?}"));
    let method = service.methods().find(|m| m.name() == name);
    method.unwrap_or_else(|| panic!("the README names an unknown method {target:?}"))
}

/// Calls `method` with the example's JSON; the answers as JSON (a stream's
/// first few, read for a moment).
async fn call(
    channel: &Channel,
    method: &MethodDescriptor,
    body: &str,
) -> Result<Vec<serde_json::Value>, Status> {
    let mut json = serde_json::Deserializer::from_str(body);
    let request = DynamicMessage::deserialize(method.input(), &mut json).unwrap_or_else(|e| {
        panic!(
            "{}: the example's JSON is not its request: {e}",
            method.full_name()
        )
    });
    let path = PathAndQuery::from_str(&format!(
        "/{}/{}",
        method.parent_service().full_name(),
        method.name()
    ))
    .expect("a gRPC path");
    let mut grpc = tonic::client::Grpc::new(channel.clone());
    grpc.ready().await.expect("the channel is ready");
    let answer = |bytes: Vec<u8>| {
        let message = DynamicMessage::decode(method.output(), bytes.as_slice())
            .expect("the answer decodes as its message");
        serde_json::to_value(&message).expect("the answer maps to JSON")
    };
    if method.is_server_streaming() {
        let mut stream = grpc
            .server_streaming(Request::new(request.encode_to_vec()), path, RawCodec)
            .await?
            .into_inner();
        let mut answers = Vec::new();
        while answers.len() < 8 {
            match tokio::time::timeout(Duration::from_secs(3), stream.message()).await {
                Ok(Ok(Some(bytes))) => answers.push(answer(bytes)),
                Ok(Ok(None)) | Err(_) => break,
                Ok(Err(status)) => return Err(status),
            }
        }
        Ok(answers)
    } else {
        let response = grpc
            .unary(Request::new(request.encode_to_vec()), path, RawCodec)
            .await?;
        Ok(vec![answer(response.into_inner())])
    }
}

/// The example config as written, but on ports the suite's hub picks: the
/// SQLite file, the apps and every other setting are the README's.
fn example_config_on_free_ports() -> String {
    let config = EXAMPLE_CONFIG
        .replace(
            &format!("grpc_listen = \"{README_GRPC}\""),
            "grpc_listen = \"127.0.0.1:0\"",
        )
        .replace(
            &format!("http_listen = \"{}\"", &README_HTTP["http://".len()..]),
            "http_listen = \"127.0.0.1:0\"",
        );
    assert!(
        !config.contains("50051") && !config.contains(":8080"),
        "the example config listens where the README says"
    );
    config
}

#[tokio::test]
async fn the_readme_examples_work_with_the_example_config() {
    let examples: Vec<Example> = readme_commands().iter().filter_map(|c| parse(c)).collect();
    let posts = examples
        .iter()
        .filter(|e| matches!(e, Example::PostWebhook { .. }))
        .count();
    let calls = examples
        .iter()
        .filter(|e| matches!(e, Example::Grpc(_)))
        .count();
    assert!(
        posts >= 2 && calls >= 8,
        "the README's examples were found ({posts} posts, {calls} calls)"
    );

    let dir = tempfile::tempdir().expect("a working directory");
    let hub = HubProcess::start(
        support::binary(),
        dir.path(),
        &example_config_on_free_ports(),
    )
    .await;
    assert!(
        dir.path().join("attendance-hub.db").exists(),
        "the embedded default stores in a SQLite file in the working directory"
    );
    let http = reqwest::Client::new();
    let channel = channel(&hub).await;
    let pool = pool();
    let mut skipped = Vec::new();
    // In the README's order: the seed events are posted before they are read.
    for example in &examples {
        match example {
            Example::PostWebhook { path, file } => {
                let body = std::fs::read(format!("{EXAMPLES_DIR}{file}"))
                    .unwrap_or_else(|e| panic!("the README posts {file}: {e}"));
                let response = tokio::time::timeout(
                    WAIT,
                    http.post(format!("{}{path}", hub.http_url()))
                        .header("content-type", "application/json")
                        .body(body)
                        .send(),
                )
                .await
                .expect("the hub answers")
                .expect("the post is sent");
                assert_eq!(response.status(), 200, "POST {path}");
                let text = response.text().await.expect("a body");
                assert_eq!(
                    text, r#"{"msg":"success"}"#,
                    "POST {path} answers as the README shows"
                );
            }
            Example::Grpc(example) if example.target == "list" => {
                let services = reflected_services(&hub).await;
                for service in [
                    "attendance.v1.AttendanceService",
                    "attendance.v1.AdminService",
                ] {
                    assert!(services.iter().any(|s| s == service), "{services:?}");
                }
            }
            Example::Grpc(example) => {
                let method = method(&pool, &example.target);
                let outcome = tokio::time::timeout(WAIT, call(&channel, &method, &example.body))
                    .await
                    .expect("the hub answers");
                check(example, &method, outcome);
            }
            Example::Skipped(command, why) => skipped.push(format!("{command} ({why})")),
        }
    }
    eprintln!(
        "README examples: {posts} posts and {calls} calls run; skipped, needing more than the example config: {skipped:#?}"
    );
    hub.terminate().await;
}

/// What each example must answer with the example config and the two seed
/// events posted.
fn check(
    example: &GrpcExample,
    method: &MethodDescriptor,
    outcome: Result<Vec<serde_json::Value>, Status>,
) {
    let command = &example.command;
    let name = method.name();
    if name == "Reconcile" {
        // The example apps have no app_secret: the README says so, and the
        // hub must say what is missing rather than answer nothing.
        let status = outcome.expect_err("Reconcile without an app_secret is refused");
        assert_eq!(
            status.code(),
            Code::FailedPrecondition,
            "{command}: {status:?}"
        );
        assert!(
            status.message().contains("app_secret"),
            "{command}: the refusal names what is missing: {}",
            status.message()
        );
        return;
    }
    if name == "CheckReportTotals" {
        // The example config has no DingTalk app, whose report it reads:
        // refused, naming the tenant no app serves.
        let status = outcome.expect_err("no app reads that tenant's report");
        assert_eq!(
            status.code(),
            Code::InvalidArgument,
            "{command}: {status:?}"
        );
        assert!(
            status.message().contains("tenant"),
            "{command}: {}",
            status.message()
        );
        return;
    }
    let answers = outcome.unwrap_or_else(|status| panic!("{command}: {status:?}"));
    let first = answers.first().cloned().unwrap_or_default();
    let has = |field: &str| {
        first[field]
            .as_array()
            .is_some_and(|items| !items.is_empty())
    };
    match name {
        "ListPunches" => assert!(has("punches"), "{command}: {first}"),
        "ListShiftResults" => assert!(has("shiftResults"), "{command}: {first}"),
        "GetDailyAttendance" => assert!(
            has("punches") || has("shiftResults"),
            "{command}: the seed employee's day: {first}"
        ),
        "Subscribe" => assert!(
            answers.iter().any(|a| a.get("entry").is_some()),
            "{command}: the seed events are in the log: {answers:?}"
        ),
        "Check" => assert_eq!(first["status"], "SERVING", "{command}"),
        "GetIngestStats" | "ListSources" | "ListReconciledDays" => {}
        other => panic!("{command}: the suite does not know what {other} should answer; add it"),
    }
}
