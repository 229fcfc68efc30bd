//! What an operator meets first, through the real `attendance-hub` binary:
//! a database it cannot reach fails startup at once with one clear error
//! that names the host, the port and the cause, and never the password.

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

mod support;
use support::*;

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
