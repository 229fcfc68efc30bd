//! A lean HTTP/1.1 load generator in the manner of wrk: keep-alive
//! connections with one request in flight each, request bytes built before
//! the clock starts, and every latency kept so that percentiles are exact.
//! Two ways to drive: closed loop (as fast as answers come back) and paced
//! (open loop at a fixed rate, latency counted from the scheduled instant).

use std::net::SocketAddr;
use std::ops::Range;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Complete requests (request line, headers and body), shared by every
/// connection of a run.
pub type Requests = Arc<Vec<Vec<u8>>>;

/// Failures past this many are counted, not described.
const DESCRIBED_FAILURES: usize = 5;

/// One keep-alive connection.
struct Connection {
    stream: TcpStream,
    buffer: Vec<u8>,
}

impl Connection {
    async fn open(addr: SocketAddr) -> std::io::Result<Connection> {
        let stream = TcpStream::connect(addr).await?;
        // One small request per round trip: Nagle would only add delay.
        stream.set_nodelay(true)?;
        Ok(Connection {
            stream,
            buffer: Vec::with_capacity(4096),
        })
    }

    /// Sends one request and reads its answer; returns the status and the body.
    async fn exchange(&mut self, request: &[u8]) -> Result<(u16, &[u8]), String> {
        self.stream
            .write_all(request)
            .await
            .map_err(|e| format!("write: {e}"))?;
        self.buffer.clear();
        let mut scanned = 0;
        let head_end = loop {
            if let Some(at) = find_head_end(&self.buffer, scanned) {
                break at;
            }
            scanned = self.buffer.len().saturating_sub(3);
            self.fill().await?;
        };
        let (status, body_len) = parse_head(&self.buffer[..head_end])?;
        let total = head_end + body_len;
        while self.buffer.len() < total {
            self.fill().await?;
        }
        if self.buffer.len() > total {
            return Err("bytes after the answer with one request in flight".into());
        }
        Ok((status, &self.buffer[head_end..total]))
    }

    async fn fill(&mut self) -> Result<(), String> {
        if self.buffer.capacity() - self.buffer.len() < 1024 {
            self.buffer.reserve(4096);
        }
        match self.stream.read_buf(&mut self.buffer).await {
            Ok(0) => Err("the server closed the connection".into()),
            Ok(_) => Ok(()),
            Err(e) => Err(format!("read: {e}")),
        }
    }
}

/// The offset just past `\r\n\r\n`, searching from `from`.
fn find_head_end(buffer: &[u8], from: usize) -> Option<usize> {
    buffer[from..]
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|at| from + at + 4)
}

/// The status and `Content-Length` of an answer head.
fn parse_head(head: &[u8]) -> Result<(u16, usize), String> {
    let text = std::str::from_utf8(head).map_err(|_| "a head that is not UTF-8".to_string())?;
    let mut lines = text.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status = status_line
        .strip_prefix("HTTP/1.1 ")
        .and_then(|rest| rest.get(..3))
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| format!("status line {status_line:?}"))?;
    let mut length = None;
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        if name.eq_ignore_ascii_case("content-length") {
            length = value.trim().parse().ok();
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            return Err(format!(
                "transfer-encoding {} is not supported",
                value.trim()
            ));
        }
    }
    let length = length.ok_or_else(|| format!("no content-length in {text:?}"))?;
    Ok((status, length))
}

/// Failures of a run: the first few described, all counted.
#[derive(Default)]
pub struct Failures {
    pub count: usize,
    pub described: Vec<String>,
}

impl Failures {
    fn add(&mut self, what: String) {
        self.count += 1;
        if self.described.len() < DESCRIBED_FAILURES {
            self.described.push(what);
        }
    }

    fn merge(&mut self, other: Failures) {
        self.count += other.count;
        for what in other.described {
            if self.described.len() < DESCRIBED_FAILURES {
                self.described.push(what);
            }
        }
    }

    /// `Err` naming the failures, if there were any.
    pub fn check(&self, what: &str) -> Result<(), String> {
        if self.count == 0 {
            return Ok(());
        }
        Err(format!(
            "{what}: {} failed request(s), e.g. {}",
            self.count,
            self.described.join("; ")
        ))
    }
}

fn check_answer(index: usize, status: u16, body: &[u8]) -> Result<(), String> {
    if status == 200 {
        return Ok(());
    }
    let excerpt = String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned();
    Err(format!("request {index} answered {status}: {excerpt}"))
}

/// Latencies in microseconds, sorted.
pub struct Latencies(Vec<u32>);

impl Latencies {
    pub fn new(mut micros: Vec<u32>) -> Latencies {
        micros.sort_unstable();
        Latencies(micros)
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn samples(&self) -> &[u32] {
        &self.0
    }

    /// Nearest-rank percentile in milliseconds (`NaN` without samples).
    pub fn percentile_ms(&self, percent: f64) -> f64 {
        if self.0.is_empty() {
            return f64::NAN;
        }
        let rank = ((percent / 100.0) * self.0.len() as f64).ceil() as usize;
        let index = rank.clamp(1, self.0.len()) - 1;
        f64::from(self.0[index]) / 1000.0
    }

    /// `p50 1.23 ms, p99 4.56 ms`.
    pub fn summary(&self) -> String {
        format!(
            "p50 {:.2} ms, p99 {:.2} ms",
            self.percentile_ms(50.0),
            self.percentile_ms(99.0)
        )
    }
}

pub fn micros(duration: Duration) -> u32 {
    duration.as_micros().min(u128::from(u32::MAX)) as u32
}

/// What a closed-loop run did.
pub struct ClosedOutcome {
    /// Requests answered 200.
    pub completed: usize,
    /// Where the run stopped in its range: with no failure, every request
    /// from the range's start up to `taken` was answered 200.
    pub taken: usize,
    pub elapsed: Duration,
    pub latencies: Latencies,
    pub failures: Failures,
}

impl ClosedOutcome {
    pub fn per_second(&self) -> f64 {
        self.completed as f64 / self.elapsed.as_secs_f64()
    }
}

/// Sends `requests[range]` in order over `connections` connections, each
/// taking the next request as soon as its answer is in, until `duration`
/// has passed or (unless `cycle`) every request was taken. With `cycle` the
/// range is sent again from its start (duplicates).
pub async fn closed_loop(
    addr: SocketAddr,
    requests: &Requests,
    range: Range<usize>,
    connections: usize,
    duration: Duration,
    cycle: bool,
) -> ClosedOutcome {
    let (first, end) = (range.start, range.end.min(requests.len()));
    let next = Arc::new(AtomicUsize::new(first));
    let started = Instant::now();
    let deadline = started + duration;
    let mut workers = Vec::with_capacity(connections);
    for _ in 0..connections {
        let (requests, next) = (requests.clone(), next.clone());
        workers.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut failures = Failures::default();
            let mut connection = match Connection::open(addr).await {
                Ok(connection) => connection,
                Err(e) => {
                    failures.add(format!("connect: {e}"));
                    return (latencies, failures);
                }
            };
            while Instant::now() < deadline && first < end {
                let taken = next.fetch_add(1, Ordering::Relaxed);
                let index = match (taken < end, cycle) {
                    (true, _) => taken,
                    (false, true) => first + (taken - first) % (end - first),
                    (false, false) => break,
                };
                let sent = Instant::now();
                match connection.exchange(&requests[index]).await {
                    Ok((status, body)) => match check_answer(index, status, body) {
                        Ok(()) => latencies.push(micros(sent.elapsed())),
                        Err(e) => failures.add(e),
                    },
                    Err(e) => {
                        // The connection is unusable after a broken exchange.
                        failures.add(format!("request {index}: {e}"));
                        break;
                    }
                }
            }
            (latencies, failures)
        }));
    }
    let mut all = Vec::new();
    let mut failures = Failures::default();
    for worker in workers {
        match worker.await {
            Ok((latencies, failed)) => {
                all.extend(latencies);
                failures.merge(failed);
            }
            Err(e) => failures.add(format!("a connection task failed: {e}")),
        }
    }
    let elapsed = started.elapsed();
    let taken = next.load(Ordering::Relaxed);
    ClosedOutcome {
        completed: all.len(),
        taken: if cycle { end } else { taken.min(end) },
        elapsed,
        latencies: Latencies::new(all),
        failures,
    }
}

/// What a paced run did.
pub struct PacedOutcome {
    /// The instant request 0 was scheduled for; request `i` was scheduled
    /// `i × interval` later.
    pub started: Instant,
    pub interval: Duration,
    /// `(request index, latency from its scheduled instant in µs)` of every
    /// request answered 200.
    pub samples: Vec<(usize, u32)>,
    pub failures: Failures,
}

impl PacedOutcome {
    pub fn scheduled(&self, index: usize) -> Instant {
        self.started + self.interval * index as u32
    }

    pub fn latencies(&self) -> Latencies {
        Latencies::new(self.samples.iter().map(|(_, l)| *l).collect())
    }

    /// When the last request answered was due.
    pub fn last_scheduled(&self) -> Option<Instant> {
        self.samples
            .iter()
            .map(|(i, _)| *i)
            .max()
            .map(|i| self.scheduled(i))
    }

    /// The latencies of the requests scheduled within `[from, to)`.
    pub fn latencies_between(&self, from: Instant, to: Instant) -> Latencies {
        Latencies::new(
            self.samples
                .iter()
                .filter(|(i, _)| (from..to).contains(&self.scheduled(*i)))
                .map(|(_, l)| *l)
                .collect(),
        )
    }
}

/// The instant after which a paced run schedules nothing more; set it
/// while the run goes on.
pub type Until = Arc<OnceLock<Instant>>;

/// Sends `requests` in order at `rate` per second over up to `connections`
/// connections (open loop: request `i` is due at `start + i / rate` whether
/// or not earlier answers are in), until every request was sent or the next
/// one is due after `until`. A request that waits for a free connection is
/// late, and its latency, counted from when it was due, says so: no
/// coordinated omission, also at the end of a run.
pub async fn paced(
    addr: SocketAddr,
    requests: &Requests,
    connections: usize,
    rate: f64,
    until: Option<Until>,
) -> PacedOutcome {
    let interval = Duration::from_secs_f64(1.0 / rate);
    let next = Arc::new(AtomicUsize::new(0));
    let count = requests.len();
    // Every connection is open before the first request is due.
    let mut opened = Vec::with_capacity(connections);
    let mut failures = Failures::default();
    for _ in 0..connections {
        match Connection::open(addr).await {
            Ok(connection) => opened.push(connection),
            Err(e) => failures.add(format!("connect: {e}")),
        }
    }
    let started = Instant::now() + Duration::from_millis(20);
    let mut workers = Vec::with_capacity(connections);
    for mut connection in opened {
        let (requests, next, until) = (requests.clone(), next.clone(), until.clone());
        workers.push(tokio::spawn(async move {
            let mut samples = Vec::new();
            let mut failures = Failures::default();
            let past_end = |due: Instant| {
                until
                    .as_ref()
                    .and_then(|u| u.get())
                    .is_some_and(|end| due >= *end)
            };
            loop {
                let index = next.fetch_add(1, Ordering::Relaxed);
                if index >= count {
                    break;
                }
                let due = started + interval * index as u32;
                if past_end(due) {
                    break;
                }
                tokio::time::sleep_until(due.into()).await;
                // The end may have been set while this request waited.
                if past_end(due) {
                    break;
                }
                match connection.exchange(&requests[index]).await {
                    Ok((status, body)) => match check_answer(index, status, body) {
                        Ok(()) => samples.push((index, micros(due.elapsed()))),
                        Err(e) => failures.add(e),
                    },
                    Err(e) => {
                        failures.add(format!("request {index}: {e}"));
                        break;
                    }
                }
            }
            (samples, failures)
        }));
    }
    let mut samples = Vec::new();
    for worker in workers {
        match worker.await {
            Ok((mine, failed)) => {
                samples.extend(mine);
                failures.merge(failed);
            }
            Err(e) => failures.add(format!("a connection task failed: {e}")),
        }
    }
    PacedOutcome {
        started,
        interval,
        samples,
        failures,
    }
}
