//! The real `attendance-hub` binary under test: its configurations, starting
//! it as a child process, finding its pid for CPU accounting, and the gRPC
//! clients the rows use.

use std::net::SocketAddr;
use std::path::Path;

use attendance_proto::v1::admin_service_client::AdminServiceClient;
use attendance_proto::v1::attendance_service_client::AttendanceServiceClient;
use attendance_proto::v1::{subscribe_request, SubscribeRequest, SubscribeResponse};
use attendance_testkit::hub::HubProcess;
use tonic::transport::Channel;
use tonic::Streaming;

use crate::events::{APP, APP_ID, APP_SECRET, ENCRYPT_KEY, TENANT, VERIFICATION_TOKEN};

pub fn binary() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_attendance-hub"))
}

/// A hub process and the folder holding its config and log.
pub struct RunningHub {
    pub process: HubProcess,
    pub pid: Option<u32>,
    pub http: SocketAddr,
    /// Holds the folder (config, log) for as long as the hub runs.
    _dir: tempfile::TempDir,
}

impl RunningHub {
    /// Starts `attendance-hub serve` with this config and waits until it is ready.
    pub async fn start(config: &str) -> Result<RunningHub, String> {
        let dir = tempfile::tempdir().map_err(|e| format!("temporary folder: {e}"))?;
        let process = HubProcess::start(binary(), dir.path(), config).await;
        let http = process
            .http_addr
            .parse()
            .map_err(|e| format!("the hub's HTTP address {}: {e}", process.http_addr))?;
        let pid = pid_of(&dir.path().join("hub.toml"));
        Ok(RunningHub {
            process,
            pid,
            http,
            _dir: dir,
        })
    }

    /// The last lines of the hub's log, to print beside a bench error.
    pub fn log_tail(&self) -> String {
        let log = self.process.log();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }

    pub fn pids(&self) -> Vec<u32> {
        self.pid.into_iter().collect()
    }

    pub async fn attendance(&self) -> Result<AttendanceServiceClient<Channel>, String> {
        AttendanceServiceClient::connect(self.process.grpc_url())
            .await
            .map_err(|e| format!("gRPC connect: {e}"))
    }

    pub async fn admin(&self) -> Result<AdminServiceClient<Channel>, String> {
        AdminServiceClient::connect(self.process.grpc_url())
            .await
            .map_err(|e| format!("gRPC connect: {e}"))
    }

    pub async fn subscribe(
        &self,
        start: subscribe_request::Start,
    ) -> Result<Streaming<SubscribeResponse>, String> {
        let mut client = self.attendance().await?;
        client
            .subscribe(SubscribeRequest {
                start: Some(start),
                ..SubscribeRequest::default()
            })
            .await
            .map(|response| response.into_inner())
            .map_err(|e| format!("Subscribe: {e}"))
    }
}

/// The pid of the child started with `--config {config}`: `HubProcess`
/// keeps its `Child` to itself, and the config path is unique per hub.
fn pid_of(config: &Path) -> Option<u32> {
    let wanted = config.to_str()?;
    std::fs::read_dir("/proc")
        .ok()?
        .flatten()
        .filter_map(|entry| entry.file_name().into_string().ok()?.parse::<u32>().ok())
        .find(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|cmdline| {
                cmdline
                    .split(|&b| b == 0)
                    .any(|arg| arg == wanted.as_bytes())
            })
        })
}

/// The `[server]` and `[storage]` every bench hub shares: loopback, ports
/// picked by the kernel, heartbeats every second so that a subscriber learns
/// quickly that it has caught up.
fn server_and_storage(storage_url: &str) -> String {
    format!(
        r#"[server]
grpc_listen = "127.0.0.1:0"
http_listen = "127.0.0.1:0"
heartbeat_seconds = 1

[storage]
url = "{storage_url}"
"#
    )
}

/// One Feishu app on webhooks, encrypted and signed, as it ships otherwise.
pub fn webhook_config(storage_url: &str) -> String {
    format!(
        r#"{}
[[feishu]]
name = "{APP}"
app_id = "{APP_ID}"
verification_token = "{VERIFICATION_TOKEN}"
encrypt_key = "{ENCRYPT_KEY}"
"#,
        server_and_storage(storage_url)
    )
}

/// The webhook app with its pull side on `api_base` and a roster, and no
/// scheduled pass: the bench starts the one pass it measures.
pub fn reconciliation_config(storage_url: &str, api_base: &str, roster: &[String]) -> String {
    let roster = roster
        .iter()
        .map(|id| format!("\"{id}\""))
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        r#"{}
[reconciliation]
enabled = false

[[feishu]]
name = "{APP}"
app_id = "{APP_ID}"
app_secret = "{APP_SECRET}"
verification_token = "{VERIFICATION_TOKEN}"
encrypt_key = "{ENCRYPT_KEY}"
base_url = "{api_base}"
time_zone = "Asia/Shanghai"
tenant_key = "{TENANT}"
roster = [{roster}]
"#,
        server_and_storage(storage_url)
    )
}

/// One DingTalk app on Stream mode against a fake gateway (which also serves
/// the open APIs the hub pulls a punched day from).
pub fn dingtalk_config(storage_url: &str, fake_base: &str) -> String {
    use attendance_testkit::fake_dingtalk::{CLIENT_ID, CLIENT_SECRET, CORP_ID};
    format!(
        r#"{}
[reconciliation]
enabled = false

[[dingtalk]]
failed_push_poll_seconds = 0
name = "{APP}"
client_id = "{CLIENT_ID}"
client_secret = "{CLIENT_SECRET}"
corp_id = "{CORP_ID}"
stream = true
api_base_url = "{fake_base}"
oapi_base_url = "{fake_base}"
"#,
        server_and_storage(storage_url)
    )
}
