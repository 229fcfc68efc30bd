//! The ceiling of the webhook rows: an axum server that reads the body and
//! answers 200 `{"msg":"success"}`, nothing else. It runs in a child process
//! (this bench binary again, with [`FLAG`]) on a runtime shaped like the
//! hub's, so that it meets the load generator exactly as the hub does.

use std::net::SocketAddr;
use std::process::Stdio;
use std::time::Duration;

use axum::body::Bytes;
use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;
use axum::Router;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// The argument that turns this binary into the no-work server.
pub const FLAG: &str = "--ceiling-server";
const READY: &str = "ceiling-server listening ";

async fn no_work(body: Bytes) -> impl IntoResponse {
    // The body is read whole, as the hub reads it, and dropped.
    drop(body);
    ([(CONTENT_TYPE, "application/json")], r#"{"msg":"success"}"#)
}

/// Runs the no-work server until the parent goes away (its stdin closes).
pub fn serve() -> std::process::ExitCode {
    // The hub's `#[tokio::main]`: a multi-threaded runtime, one worker a core.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("the ceiling server binds a port");
        let addr = listener.local_addr().expect("bound address");
        println!("{READY}{addr}");
        // A bench that dies without killing its child must not leave a
        // server behind: the end of stdin is the parent's end.
        tokio::spawn(async {
            let mut lines = BufReader::new(tokio::io::stdin()).lines();
            while let Ok(Some(_)) = lines.next_line().await {}
            std::process::exit(0);
        });
        let app = Router::new().fallback(no_work);
        axum::serve(listener, app)
            .await
            .expect("the ceiling server serves");
    });
    std::process::ExitCode::SUCCESS
}

/// The no-work server as a child process.
pub struct CeilingServer {
    _child: Child,
    pub addr: SocketAddr,
    pub pid: Option<u32>,
}

impl CeilingServer {
    pub async fn start() -> Result<CeilingServer, String> {
        let exe = std::env::current_exe().map_err(|e| format!("current_exe: {e}"))?;
        let mut child = Command::new(exe)
            .arg(FLAG)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| format!("cannot start the ceiling server: {e}"))?;
        let stdout = child.stdout.take().expect("piped stdout");
        let mut lines = BufReader::new(stdout).lines();
        let line = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
            .await
            .map_err(|_| "the ceiling server did not start within 30 s".to_string())?
            .map_err(|e| format!("ceiling server stdout: {e}"))?
            .unwrap_or_default();
        let addr = line
            .strip_prefix(READY)
            .and_then(|a| a.trim().parse().ok())
            .ok_or_else(|| format!("unexpected ceiling server line {line:?}"))?;
        let pid = child.id();
        Ok(CeilingServer {
            _child: child,
            addr,
            pid,
        })
    }
}
