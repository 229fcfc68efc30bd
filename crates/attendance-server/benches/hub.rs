//! End-to-end benchmark of the real `attendance-hub` binary, started as a
//! child process on loopback and driven the way vendors drive it: Feishu
//! webhooks, a reconciliation pass, DingTalk Stream frames, and gRPC
//! subscribers. Each row is printed beside a ceiling measured in the same run
//! (a no-work server, a no-work client, or the hub in easier conditions), so
//! that the ratio means something on a busy machine. Timing is never
//! asserted; a failed request or a lost event fails the run.
//!
//! Run: `cargo bench -p attendance-server --bench hub` (see BENCHMARKS.md
//! for the settings).

// A bench root resolves modules beside itself; its own live in hub/.
#[path = "hub/ceiling.rs"]
mod ceiling;
#[path = "hub/cpu.rs"]
mod cpu;
#[path = "hub/dingtalk.rs"]
mod dingtalk;
#[path = "hub/events.rs"]
mod events;
#[path = "hub/hubs.rs"]
mod hubs;
#[path = "hub/load.rs"]
mod load;
#[path = "hub/reconcile.rs"]
mod reconcile;
#[path = "hub/report.rs"]
mod report;
#[path = "hub/stamps.rs"]
mod stamps;
#[path = "hub/subscribers.rs"]
mod subscribers;
#[path = "hub/webhooks.rs"]
mod webhooks;

use std::collections::BTreeSet;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use report::{Figure, Row, Table};

/// A bench error: what failed, for the operator to read.
pub type BenchResult<T> = Result<T, String>;

/// The rows that exist, in table order.
const ROWS: [u32; 11] = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11];

/// What a run does, from `HUB_BENCH_*` variables (and `HUB_TEST_POSTGRES_URL`).
pub struct Settings {
    /// Seconds of load in each timed phase.
    seconds: f64,
    /// Seconds of untimed load before each closed-loop phase.
    warmup_seconds: f64,
    pub connections: usize,
    /// Events per second of the paced rows.
    pub rate: f64,
    pub roster: usize,
    pub roster_days: u32,
    pub reconcile_max_seconds: f64,
    /// DingTalk frames sent and not yet acknowledged, at most.
    pub stream_window: usize,
    /// No phase pre-builds more events than this (memory and build time).
    pub max_events: usize,
    postgres_url: Option<String>,
    rows: BTreeSet<u32>,
}

fn variable<T: std::str::FromStr>(name: &str, default: T) -> BenchResult<T> {
    match std::env::var(name) {
        Ok(text) if !text.trim().is_empty() => text
            .trim()
            .parse()
            .map_err(|_| format!("{name}={text:?} is not a valid value")),
        _ => Ok(default),
    }
}

impl Settings {
    fn from_env() -> BenchResult<Settings> {
        let rows = match std::env::var("HUB_BENCH_ROWS") {
            Ok(list) if !list.trim().is_empty() => list
                .split(',')
                .map(|row| {
                    row.trim()
                        .parse::<u32>()
                        .ok()
                        .filter(|row| ROWS.contains(row))
                        .ok_or_else(|| format!("HUB_BENCH_ROWS: {row:?} is not a row (1 to 11)"))
                })
                .collect::<BenchResult<_>>()?,
            _ => ROWS.into_iter().collect(),
        };
        let settings = Settings {
            seconds: variable("HUB_BENCH_SECONDS", 5.0)?,
            warmup_seconds: variable("HUB_BENCH_WARMUP_SECONDS", 8.0)?,
            connections: variable("HUB_BENCH_CONNECTIONS", 64)?,
            rate: variable("HUB_BENCH_RATE", 1_000.0)?,
            roster: variable("HUB_BENCH_ROSTER", 1_000)?,
            roster_days: variable("HUB_BENCH_ROSTER_DAYS", 7)?,
            reconcile_max_seconds: variable("HUB_BENCH_RECONCILE_MAX_SECONDS", 120.0)?,
            stream_window: variable("HUB_BENCH_STREAM_WINDOW", 128)?,
            max_events: variable("HUB_BENCH_MAX_EVENTS", 400_000)?,
            postgres_url: std::env::var(attendance_testkit::database::POSTGRES_URL_VAR)
                .ok()
                .filter(|url| !url.trim().is_empty()),
            rows,
        };
        let positive = [
            ("HUB_BENCH_SECONDS", settings.seconds),
            ("HUB_BENCH_RATE", settings.rate),
            (
                "HUB_BENCH_RECONCILE_MAX_SECONDS",
                settings.reconcile_max_seconds,
            ),
            ("HUB_BENCH_CONNECTIONS", settings.connections as f64),
            ("HUB_BENCH_ROSTER", settings.roster as f64),
            ("HUB_BENCH_ROSTER_DAYS", f64::from(settings.roster_days)),
            ("HUB_BENCH_MAX_EVENTS", settings.max_events as f64),
            ("HUB_BENCH_STREAM_WINDOW", settings.stream_window as f64),
        ];
        if let Some((name, _)) = positive.iter().find(|(_, v)| v.is_nan() || *v <= 0.0) {
            return Err(format!("{name} must be positive"));
        }
        if settings.warmup_seconds < 0.0 {
            return Err("HUB_BENCH_WARMUP_SECONDS must not be negative".into());
        }
        Ok(settings)
    }

    pub fn duration(&self) -> Duration {
        Duration::from_secs_f64(self.seconds)
    }

    pub fn warmup(&self) -> Duration {
        Duration::from_secs_f64(self.warmup_seconds)
    }

    /// Events for one paced phase.
    pub fn paced_events(&self) -> usize {
        ((self.rate * self.seconds) as usize).clamp(1, self.max_events)
    }

    fn describe(&self) -> String {
        format!(
            "settings: {} s per phase (HUB_BENCH_SECONDS), {} s warm-up, {} connections, paced rows at {}/s, \
             roster {} × {} days, PostgreSQL {}",
            self.seconds,
            self.warmup_seconds,
            self.connections,
            report::thousands(self.rate),
            self.roster,
            self.roster_days,
            if self.postgres_url.is_some() { "on" } else { "off (HUB_TEST_POSTGRES_URL unset)" }
        )
    }
}

/// A run in progress: its settings, the figures later rows compare with,
/// the table and the errors.
pub struct Bench {
    pub settings: Settings,
    /// Row 1: the no-work server's answers per second.
    pub http_ceiling: Option<f64>,
    /// Row 3: one hub on PostgreSQL, events per second.
    pub pg_single: Option<f64>,
    pub table: Table,
    errors: Vec<String>,
}

impl Bench {
    pub fn wants(&self, row: u32) -> bool {
        self.settings.rows.contains(&row)
    }

    /// Records a section's error as a row and keeps going with the next.
    fn settle(&mut self, id: &str, what: &str, result: BenchResult<()>) {
        if let Err(error) = result {
            eprintln!("bench error in {what}: {error}");
            self.table.push(
                Row::new(id, what, Figure::Text("ERROR".into()))
                    .note("see the errors below the table"),
            );
            self.errors.push(format!("{what}: {error}"));
        }
    }
}

fn main() -> ExitCode {
    if std::env::args().any(|arg| arg == ceiling::FLAG) {
        return ceiling::serve();
    }
    let settings = match Settings::from_env() {
        Ok(settings) => settings,
        Err(error) => {
            eprintln!("hub bench: {error}");
            return ExitCode::FAILURE;
        }
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    runtime.block_on(run(settings))
}

async fn run(settings: Settings) -> ExitCode {
    let started = Instant::now();
    let header = [
        report::machine(),
        format!(
            "date: {} UTC; hub {}",
            chrono::Utc::now().format("%Y-%m-%d %H:%M"),
            commit()
        ),
        settings.describe(),
    ];
    for line in &header {
        eprintln!("{line}");
    }
    let mut bench = Bench {
        settings,
        http_ceiling: None,
        pg_single: None,
        table: Table::default(),
        errors: Vec::new(),
    };

    // Rows 2, 3 and 5 compare with row 1; row 6 paces the no-work server too.
    let server = if [1, 2, 3, 5, 6].iter().any(|&row| bench.wants(row)) {
        ceiling::CeilingServer::start().await
    } else {
        Err("not needed by the rows chosen".into())
    };
    if [1, 2, 3, 5].iter().any(|&row| bench.wants(row)) {
        match &server {
            Ok(server) => {
                eprintln!("row 1: the no-work server");
                let result = webhooks::http_ceiling(&mut bench, server).await;
                bench.settle("1", "HTTP ceiling", result);
            }
            Err(error) => bench.settle("1", "HTTP ceiling", Err(error.clone())),
        }
    }
    if [2, 5, 6, 7].iter().any(|&row| bench.wants(row)) {
        eprintln!("rows 2, 5, 6, 7: one hub on SQLite");
        let result = match &server {
            Ok(server) => webhooks::sqlite(&mut bench, server).await,
            Err(_) => Err("no ceiling server to compare with".into()),
        };
        bench.settle("2", "SQLite webhook rows (2, 5, 6, 7)", result);
    }
    drop(server);
    if bench.wants(3) || bench.wants(4) {
        if bench.settings.postgres_url.is_some() {
            eprintln!("rows 3, 4: PostgreSQL, one hub then two replicas");
            let result = webhooks::postgres(&mut bench).await;
            bench.settle("3", "PostgreSQL rows (3, 4)", result);
        } else {
            for (id, what) in [
                ("3", "Feishu webhook ingest, PostgreSQL"),
                ("4", "2 replicas on one PostgreSQL database"),
            ] {
                bench.table.push(Row::new(
                    id,
                    what,
                    Figure::Text("skipped: HUB_TEST_POSTGRES_URL unset".into()),
                ));
            }
        }
    }
    if bench.wants(8) {
        eprintln!("row 8: webhooks during a reconciliation pass");
        let result = reconcile::run(&mut bench).await;
        bench.settle("8", "webhooks during a reconciliation pass", result);
    }
    if bench.wants(9) {
        eprintln!("row 9: DingTalk Stream");
        let result = dingtalk::run(&mut bench).await;
        bench.settle("9", "DingTalk Stream frames", result);
    }

    if bench.wants(10) {
        eprintln!("row 10: replay of a long log");
        let result = subscribers::replay(&mut bench).await;
        bench.settle("10", "replay of stored events", result);
    }
    if bench.wants(11) {
        eprintln!("row 11: live subscribers");
        let result = subscribers::live(&mut bench).await;
        bench.settle("11", "live subscribers", result);
    }

    println!();
    for line in &header {
        println!("{line}");
    }
    println!();
    print!("{}", bench.table.render());
    println!();
    println!(
        "hub/ceiling: 1 means as good as the ceiling; rates fall below it, latencies rise above it. Finished in {:.0} s.",
        started.elapsed().as_secs_f64()
    );
    if bench.errors.is_empty() {
        return ExitCode::SUCCESS;
    }
    println!();
    println!("bench errors:");
    for error in &bench.errors {
        println!("- {error}");
    }
    ExitCode::FAILURE
}

/// The commit the hub was built from, when git can say, and whether the
/// work tree had changes on top of it.
fn commit() -> String {
    let git = |args: &[&str]| {
        std::process::Command::new("git")
            .args(args)
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .output()
            .ok()
            .filter(|out| out.status.success())
            .map(|out| String::from_utf8_lossy(&out.stdout).trim().to_string())
    };
    match git(&["rev-parse", "--short", "HEAD"]) {
        Some(commit) => {
            let changed = git(&["status", "--porcelain", "--untracked-files=no"])
                .is_some_and(|status| !status.is_empty());
            format!(
                "commit {commit}{}",
                if changed {
                    " + uncommitted changes"
                } else {
                    ""
                }
            )
        }
        None => "commit unknown".into(),
    }
}
