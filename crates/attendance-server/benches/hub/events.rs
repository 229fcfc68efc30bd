//! Distinct Feishu punch events (`attendance.user_flow.created_v1`),
//! encrypted and signed as Feishu sends them, built into complete HTTP
//! requests before any timed phase: the sender's cryptography is the
//! sender's cost, not the hub's.

use std::ops::Range;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{SystemTime, UNIX_EPOCH};

use attendance_feishu::verify;
use attendance_testkit::feishu::encrypted_body;
use serde_json::json;

use crate::load::Requests;

/// The app's route name: events go to `POST /webhooks/feishu/bench`.
pub const APP: &str = "bench";
pub const APP_ID: &str = "cli_benchmark0000001";
pub const APP_SECRET: &str = "bench-app-secret";
pub const VERIFICATION_TOKEN: &str = "bench-verification-token-00000001";
pub const ENCRYPT_KEY: &str = "bench-encrypt-key-0001";
pub const TENANT: &str = "benchtenant00001";
pub const EVENT_TYPE: &str = "attendance.user_flow.created_v1";
/// Record ids are this plus the event's serial: numeric, as Feishu's are.
const RECORD_BASE: u64 = 7_200_000_000_000_000_000;
/// Pushed punches are one second apart from 2024-04-01T00:00:00Z on, away
/// from the week the reconciliation row pulls.
const CHECK_TIME_BASE: i64 = 1_711_929_600;
/// Sized so that a body is about 1.2 KiB once encrypted, like a real punch
/// with a location, a Wi-Fi and a photo.
const PHOTO: &str = "https://s3-imfile.feishucdn.com/static-resource/v1/v2_bench_attendance_photo_000000000000000000000000000000000000000000000000000000000000000000000000000000000~?image_size=noop&cut_type=&quality=&format=png&sticker_format=.webp";

/// Every event of a run gets the next serial: distinct event ids, record ids
/// and punch instants across pools, so no two pools ever collide in a hub.
static NEXT_SERIAL: AtomicU64 = AtomicU64::new(0);

/// The employees events are spread over: `{prefix}{n % count:04}`.
#[derive(Clone, Copy)]
pub struct Employees {
    pub prefix: &'static str,
    pub count: usize,
}

impl Employees {
    pub fn id(&self, n: u64) -> String {
        format!("{}{:04}", self.prefix, n % self.count as u64)
    }
}

/// Requests for consecutive serials; clones share the bytes.
#[derive(Clone)]
pub struct EventPool {
    pub requests: Requests,
    first_serial: u64,
    /// Mean encrypted body size in bytes.
    pub body_bytes: usize,
}

impl EventPool {
    pub fn len(&self) -> usize {
        self.requests.len()
    }

    /// The serials of the first `n` events.
    pub fn serials(&self, n: usize) -> Range<u64> {
        self.first_serial..self.first_serial + n as u64
    }

    /// The position in this pool of the event whose punch has `record_id`.
    pub fn index_of(&self, record_id: &str) -> Option<usize> {
        let serial = serial_of(record_id)?;
        let index = serial.checked_sub(self.first_serial)?;
        (index < self.len() as u64).then_some(index as usize)
    }
}

/// The serial of a punch this bench pushed, from its record id.
pub fn serial_of(record_id: &str) -> Option<u64> {
    record_id.parse::<u64>().ok()?.checked_sub(RECORD_BASE)
}

/// A per-process prefix of event ids: a rerun on a kept database would not
/// collide with this one.
fn run_salt() -> u64 {
    static SALT: OnceLock<u64> = OnceLock::new();
    *SALT.get_or_init(rand::random)
}

fn event_json(serial: u64, employees: &Employees, now_ms: u128) -> String {
    let employee = employees.id(serial);
    json!({
        "schema": "2.0",
        "header": {
            "event_id": format!("{:016x}{serial:016x}", run_salt()),
            "token": VERIFICATION_TOKEN,
            "create_time": now_ms.to_string(),
            "event_type": EVENT_TYPE,
            "tenant_key": TENANT,
            "app_id": APP_ID,
        },
        "event": {
            "bssid": "b0:b8:67:62:18:73",
            "check_time": (CHECK_TIME_BASE + serial as i64).to_string(),
            "comment": "",
            "employee_id": employee,
            "employee_no": format!("NO-{employee}"),
            "is_field": false,
            "is_wifi": true,
            "latitude": 30.29245030908851,
            "location_name": "浙江省杭州市余杭区五常街道木桥头西溪八方城",
            "longitude": 120.04004357074373,
            "photo_urls": [PHOTO],
            "record_id": (RECORD_BASE + serial).to_string(),
            "ssid": "ByteDance Inc",
            "type": 0,
            "risk_result": 0,
        }
    })
    .to_string()
}

fn request(serial: u64, employees: &Employees, now_ms: u128, timestamp: &str) -> Vec<u8> {
    let body = encrypted_body(ENCRYPT_KEY, &event_json(serial, employees, now_ms));
    let nonce = format!("{serial:016x}");
    let signature = verify::signature(timestamp, &nonce, ENCRYPT_KEY, body.as_bytes());
    let mut request = format!(
        "POST /webhooks/feishu/{APP} HTTP/1.1\r\n\
         host: 127.0.0.1\r\n\
         content-type: application/json\r\n\
         content-length: {}\r\n\
         x-lark-request-timestamp: {timestamp}\r\n\
         x-lark-request-nonce: {nonce}\r\n\
         x-lark-signature: {signature}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    request.extend_from_slice(body.as_bytes());
    request
}

/// Builds `count` distinct events on every core (before the clock starts,
/// so the cores are free).
pub fn build(count: usize, employees: Employees) -> EventPool {
    let first_serial = NEXT_SERIAL.fetch_add(count as u64, Ordering::Relaxed);
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let (now_ms, timestamp) = (now.as_millis(), now.as_secs().to_string());
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let per_thread = count.div_ceil(threads).max(1);
    let requests: Vec<Vec<u8>> = std::thread::scope(|scope| {
        let parts: Vec<_> = (0..count)
            .step_by(per_thread)
            .map(|start| {
                let end = (start + per_thread).min(count);
                let timestamp = &timestamp;
                scope.spawn(move || {
                    (start..end)
                        .map(|i| request(first_serial + i as u64, &employees, now_ms, timestamp))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        parts
            .into_iter()
            .flat_map(|part| part.join().expect("building events does not panic"))
            .collect()
    });
    let body_bytes = requests
        .iter()
        .map(|r| r.len() - head_len(r))
        .sum::<usize>()
        .checked_div(requests.len())
        .unwrap_or_default();
    EventPool {
        requests: Arc::new(requests),
        first_serial,
        body_bytes,
    }
}

fn head_len(request: &[u8]) -> usize {
    request
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map_or(0, |at| at + 4)
}
