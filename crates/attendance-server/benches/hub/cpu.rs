//! Where the CPU went during a phase, in cores: the server under load (a hub
//! or the no-work server), this bench process (the load generator and the
//! fakes), PostgreSQL, and the rest of the machine (someone else's build);
//! and how many bytes the server and PostgreSQL had written to storage.
//! Read from /proc, so it costs nothing while the phase runs.

use std::time::Instant;

/// `/proc` times are in clock ticks of `USER_HZ`, 100 on Linux.
const TICKS_PER_SECOND: f64 = 100.0;

fn stat_fields(pid: &str) -> Option<(String, u64)> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let (head, rest) = text.rsplit_once(')')?;
    let name = head.split_once('(')?.1.to_string();
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // After the name: state is field 3, utime 14 and stime 15.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some((name, utime + stime))
}

fn process_ticks(pid: u32) -> u64 {
    stat_fields(&pid.to_string()).map_or(0, |(_, ticks)| ticks)
}

/// `write_bytes` of `/proc/{pid}/io`: what the process caused to be
/// written to storage (the page cache's writeback included).
fn written_bytes(pid: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/io"))
        .ok()
        .and_then(|io| {
            io.lines()
                .find_map(|line| line.strip_prefix("write_bytes:"))
                .and_then(|v| v.trim().parse().ok())
        })
        .unwrap_or(0)
}

/// Clock ticks and bytes written of every PostgreSQL process.
fn postgres_usage() -> (u64, u64) {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return (0, 0);
    };
    entries
        .flatten()
        .filter_map(|entry| {
            let name = entry.file_name().into_string().ok()?;
            name.bytes().all(|b| b.is_ascii_digit()).then_some(name)
        })
        .filter_map(|pid| {
            let (name, ticks) = stat_fields(&pid)?;
            (name == "postgres").then(|| (ticks, written_bytes(&pid)))
        })
        .fold((0, 0), |(t, w), (ticks, written)| (t + ticks, w + written))
}

/// Busy ticks of the whole machine (all cores).
fn machine_ticks() -> u64 {
    let text = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let first = text.lines().next().unwrap_or_default();
    let values: Vec<u64> = first
        .split_whitespace()
        .skip(1)
        .filter_map(|v| v.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal: all but idle and iowait.
    [0, 1, 2, 5, 6, 7]
        .iter()
        .filter_map(|&i| values.get(i))
        .sum()
}

#[derive(Clone, Copy)]
struct Snapshot {
    at: Instant,
    server: u64,
    bench: u64,
    postgres: u64,
    machine: u64,
    server_written: u64,
    postgres_written: u64,
}

/// Watches one phase; [`CpuWatch::finish`] tells the cores each part used.
pub struct CpuWatch {
    label: &'static str,
    pids: Vec<u32>,
    start: Snapshot,
}

impl CpuWatch {
    /// `label` names the processes `pids` (e.g. "hub", "server").
    pub fn start(label: &'static str, pids: &[u32]) -> CpuWatch {
        let pids = pids.to_vec();
        let start = snapshot(&pids);
        CpuWatch { label, pids, start }
    }

    pub fn finish(self) -> CpuUse {
        let end = snapshot(&self.pids);
        let seconds = end.at.duration_since(self.start.at).as_secs_f64().max(1e-3);
        let cores =
            |from: u64, to: u64| to.saturating_sub(from) as f64 / TICKS_PER_SECOND / seconds;
        let server = cores(self.start.server, end.server);
        let bench = cores(self.start.bench, end.bench);
        let postgres = cores(self.start.postgres, end.postgres);
        let machine = cores(self.start.machine, end.machine);
        let rate = |from: u64, to: u64| to.saturating_sub(from) as f64 / seconds;
        CpuUse {
            server_writes: rate(self.start.server_written, end.server_written),
            postgres_writes: rate(self.start.postgres_written, end.postgres_written),
            label: self.label,
            server,
            bench,
            postgres,
            other: (machine - server - bench - postgres).max(0.0),
        }
    }
}

fn snapshot(pids: &[u32]) -> Snapshot {
    let (postgres, postgres_written) = postgres_usage();
    let server_written: u64 = pids.iter().map(|pid| written_bytes(&pid.to_string())).sum();
    Snapshot {
        at: Instant::now(),
        server: pids.iter().map(|&pid| process_ticks(pid)).sum(),
        bench: process_ticks(std::process::id()),
        postgres,
        machine: machine_ticks(),
        server_written,
        postgres_written,
    }
}

/// Cores used on average during a phase.
pub struct CpuUse {
    label: &'static str,
    pub server: f64,
    pub bench: f64,
    pub postgres: f64,
    pub other: f64,
    /// Bytes per second the server wrote to storage.
    pub server_writes: f64,
    /// Bytes per second PostgreSQL's processes wrote (checkpoints of earlier
    /// work included: attribution to a phase is rough).
    pub postgres_writes: f64,
}

impl std::fmt::Display for CpuUse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "cores: {} {:.2}, bench {:.2}",
            self.label, self.server, self.bench
        )?;
        if self.postgres >= 0.005 {
            write!(f, ", postgres {:.2}", self.postgres)?;
        }
        write!(f, ", other {:.2}", self.other)?;
        let mut writes = Vec::new();
        if self.server_writes >= 1e5 {
            writes.push(format!(
                "{} {} MB/s",
                self.label,
                megabytes(self.server_writes)
            ));
        }
        if self.postgres_writes >= 1e5 {
            writes.push(format!("postgres {} MB/s", megabytes(self.postgres_writes)));
        }
        if !writes.is_empty() {
            write!(f, "; storage writes: {}", writes.join(", "))?;
        }
        Ok(())
    }
}

/// Megabytes with a decimal below 10, where rounding would hide them.
fn megabytes(bytes: f64) -> String {
    let mb = bytes / 1e6;
    if mb < 10.0 {
        format!("{mb:.1}")
    } else {
        format!("{mb:.0}")
    }
}
