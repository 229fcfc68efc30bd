//! The real hub binary as a child process on ports it picks itself; tests
//! kill it (SIGKILL, a crash) or stop it (SIGTERM) and start it again.

use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// A running `attendance-hub serve`.
pub struct HubProcess {
    child: Child,
    pub grpc_addr: String,
    pub http_addr: String,
    log: PathBuf,
}

impl HubProcess {
    /// Writes `config_toml` into `dir`, starts `binary serve --config …` there
    /// and waits for its ready line. The config should listen on port 0.
    pub async fn start(binary: &Path, dir: &Path, config_toml: &str) -> HubProcess {
        let config = dir.join("hub.toml");
        std::fs::write(&config, config_toml).expect("config written");
        let log = dir.join(format!("hub-{}.log", rand::random::<u32>()));
        let stderr = std::fs::File::create(&log).expect("log file");
        let mut child = Command::new(binary)
            .arg("serve")
            .arg("--config")
            .arg(&config)
            .current_dir(dir)
            .stdout(Stdio::piped())
            .stderr(stderr)
            .kill_on_drop(true)
            .spawn()
            .expect("the hub binary starts");
        let stdout = child.stdout.take().expect("piped stdout");
        let mut lines = BufReader::new(stdout).lines();
        let ready = tokio::time::timeout(Duration::from_secs(60), async {
            while let Ok(Some(line)) = lines.next_line().await {
                if let Some(rest) = line.strip_prefix("attendance-hub ready ") {
                    return Some(rest.to_string());
                }
            }
            None
        })
        .await;
        let Ok(Some(ready)) = ready else {
            let log_text = std::fs::read_to_string(&log).unwrap_or_default();
            panic!("the hub did not become ready; its log:\n{log_text}");
        };
        // Keep draining stdout so the hub never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        let field = |name: &str| {
            ready
                .split_whitespace()
                .find_map(|kv| kv.strip_prefix(name))
                .expect("ready line names both addresses")
                .to_string()
        };
        HubProcess {
            grpc_addr: field("grpc="),
            http_addr: field("http="),
            child,
            log,
        }
    }

    pub fn grpc_url(&self) -> String {
        format!("http://{}", self.grpc_addr)
    }

    pub fn http_url(&self) -> String {
        format!("http://{}", self.http_addr)
    }

    /// What the hub logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The process id, while it runs.
    pub fn pid(&self) -> u32 {
        self.child.id().expect("running hub has a pid")
    }

    /// The process's resident memory (`VmRSS`), in KiB.
    pub fn resident_kib(&self) -> u64 {
        resident_kib(self.pid())
    }

    /// SIGKILL: the process dies at once, as in a crash or power cut.
    pub async fn kill(mut self) {
        self.child.kill().await.expect("hub killed");
    }

    /// SIGTERM, then wait for a graceful exit.
    pub async fn terminate(mut self) -> ExitStatus {
        let pid = self.child.id().expect("running hub has a pid");
        let pid = i32::try_from(pid)
            .ok()
            .and_then(rustix::process::Pid::from_raw)
            .expect("a child's pid is a positive i32");
        rustix::process::kill_process(pid, rustix::process::Signal::TERM)
            .expect("SIGTERM delivered");
        tokio::time::timeout(Duration::from_secs(30), self.child.wait())
            .await
            .expect("the hub exits within 30 s of SIGTERM")
            .expect("exit status")
    }
}

/// The resident memory (`VmRSS` in `/proc/<pid>/status`) of a process, in KiB.
pub fn resident_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("/proc status");
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS in kB")
}
