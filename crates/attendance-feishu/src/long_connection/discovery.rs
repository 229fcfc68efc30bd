//! Finding and dialling Feishu's long-connection gateway: endpoint discovery
//! (`POST {base_url}/callback/ws/endpoint`), then the WebSocket handshake,
//! and which of their failures are worth retrying (Go `getConnURL`,
//! `parseErr`).

use std::time::Duration;

use attendance_adapter_kit::connection::{self, DialError, OpenError, Socket};
use serde::Deserialize;
use tokio_tungstenite::tungstenite::http::{HeaderMap, StatusCode};

use super::{ConfigUpdate, LongConnectionApp};

/// The discovery path under the app's `base_url`.
pub const ENDPOINT_PATH: &str = "/callback/ws/endpoint";

/// Discovery must not hang: the Python SDK's request had no timeout and one
/// bot stayed deaf for days (pitfall 7). 15 s is the Node SDK's value.
pub(super) const DISCOVERY_TIMEOUT: Duration = Duration::from_secs(15);
/// The same bound for the WebSocket handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(15);

/// Discovery answered: go on.
const CODE_OK: i64 = 0;
/// Discovery: the server is busy; retry.
const CODE_SYSTEM_BUSY: i64 = 1;
/// Discovery: the server failed; retry.
const CODE_INTERNAL_ERROR: i64 = 1_000_040_343;
/// Handshake status: authentication failed (retryable, unless the auth error
/// code says the connection limit is reached).
const HANDSHAKE_AUTH_FAILED: i64 = 514;
/// Handshake status: this app is banned from connecting.
const HANDSHAKE_FORBIDDEN: i64 = 403;
/// Handshake auth error code: more than 50 connections for this app.
const AUTH_EXCEED_CONN_LIMIT: i64 = 1_000_040_350;

/// Response headers of a refused handshake. HTTP header names are
/// case-insensitive; Go writes `Handshake-Status`, Python and Node read
/// `handshake-status`.
pub const HEADER_HANDSHAKE_STATUS: &str = "handshake-status";
pub const HEADER_HANDSHAKE_MSG: &str = "handshake-msg";
pub const HEADER_HANDSHAKE_AUTH_ERR_CODE: &str = "handshake-autherrcode";

/// A discovered endpoint: the URL carries a one-time ticket and is never
/// logged.
pub(super) struct Endpoint {
    pub url: String,
    pub config: Option<ConfigUpdate>,
}

#[derive(Deserialize)]
struct EndpointResponse {
    code: i64,
    #[serde(default)]
    msg: String,
    #[serde(default)]
    data: Option<EndpointData>,
}

#[derive(Deserialize)]
struct EndpointData {
    #[serde(rename = "URL", default)]
    url: String,
    #[serde(rename = "ClientConfig", default)]
    client_config: Option<ConfigUpdate>,
}

/// `POST {base_url}/callback/ws/endpoint`.
pub(super) async fn discover(
    http: &reqwest::Client,
    app: &LongConnectionApp,
) -> Result<Endpoint, OpenError> {
    let url = format!("{}{ENDPOINT_PATH}", app.base_url.trim_end_matches('/'));
    let body = serde_json::json!({ "AppID": app.app_id, "AppSecret": app.app_secret.expose() });
    let response = http
        .post(&url)
        .header("locale", "zh")
        .json(&body)
        .send()
        .await
        .map_err(|error| {
            OpenError::Retryable(format!(
                "endpoint discovery failed: {}",
                without_url(&error)
            ))
        })?;
    let status = response.status();
    if status != reqwest::StatusCode::OK {
        return Err(OpenError::Retryable(format!(
            "endpoint discovery answered HTTP {status}"
        )));
    }
    let bytes = response.bytes().await.map_err(|error| {
        OpenError::Retryable(format!("endpoint discovery: {}", without_url(&error)))
    })?;
    classify_discovery(&bytes)
}

/// reqwest's errors name the URL; it holds no secret here, but the message
/// reads better without it.
fn without_url(error: &reqwest::Error) -> String {
    let mut text = error.to_string();
    if let Some(url) = error.url() {
        text = text.replace(&format!(" ({url})"), "");
    }
    text
}

/// Code handling of a discovery answer (Go `getConnURL`).
fn classify_discovery(body: &[u8]) -> Result<Endpoint, OpenError> {
    let response: EndpointResponse = serde_json::from_slice(body).map_err(|error| {
        OpenError::Retryable(format!(
            "endpoint discovery answered no JSON envelope: {error}"
        ))
    })?;
    match response.code {
        CODE_OK => {}
        CODE_SYSTEM_BUSY => {
            return Err(OpenError::Retryable(format!(
                "endpoint discovery: system busy (code {CODE_SYSTEM_BUSY})"
            )))
        }
        CODE_INTERNAL_ERROR => {
            return Err(OpenError::Retryable(format!(
                "endpoint discovery: internal error (code {CODE_INTERNAL_ERROR}): {}",
                response.msg
            )))
        }
        code => {
            return Err(OpenError::Fatal(format!(
                "endpoint discovery refused (code {code}): {}",
                response.msg
            )))
        }
    }
    match response.data {
        Some(data) if !data.url.is_empty() => Ok(Endpoint {
            url: data.url,
            config: data.client_config,
        }),
        _ => Err(OpenError::Retryable(
            "endpoint discovery returned no URL".into(),
        )),
    }
}

/// The `service_id` (for every frame) and `device_id` (for logs) in the
/// endpoint URL's query. The URL itself carries a ticket and is not logged.
pub(super) fn parse_endpoint_url(url: &str) -> Result<(i32, String), OpenError> {
    let parsed = reqwest::Url::parse(url).map_err(|error| {
        OpenError::Retryable(format!("endpoint discovery returned a bad URL: {error}"))
    })?;
    if !matches!(parsed.scheme(), "ws" | "wss") {
        return Err(OpenError::Retryable(format!(
            "endpoint discovery returned a {}:// URL, not ws:// or wss://",
            parsed.scheme()
        )));
    }
    let query = |name: &str| {
        parsed
            .query_pairs()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.into_owned())
    };
    // Go parses it with ParseInt and sends 0 when that fails.
    let service_id = query("service_id")
        .and_then(|value| value.parse().ok())
        .unwrap_or(0);
    Ok((service_id, query("device_id").unwrap_or_default()))
}

pub(super) async fn dial(url: &str) -> Result<Socket, OpenError> {
    match connection::dial(url, HANDSHAKE_TIMEOUT).await {
        Ok(socket) => Ok(socket),
        Err(DialError::Refused(response)) => {
            Err(handshake_refused(response.status(), response.headers()))
        }
        Err(error) => Err(OpenError::Retryable(error.to_string())),
    }
}

/// A non-101 handshake answer (Go `parseErr`): the `Handshake-Status` header
/// decides, not the HTTP status.
fn handshake_refused(status: StatusCode, headers: &HeaderMap) -> OpenError {
    let text = |name: &str| {
        headers
            .get(name)
            .and_then(|value| value.to_str().ok())
            .map(str::trim)
    };
    let number = |name: &str| text(name).and_then(|value| value.parse::<i64>().ok());
    let message = text(HEADER_HANDSHAKE_MSG).unwrap_or("");
    match number(HEADER_HANDSHAKE_STATUS) {
        Some(HANDSHAKE_AUTH_FAILED) => {
            let auth = number(HEADER_HANDSHAKE_AUTH_ERR_CODE);
            if auth == Some(AUTH_EXCEED_CONN_LIMIT) {
                OpenError::Fatal(format!(
                    "the handshake was refused: this app has too many connections (status {HANDSHAKE_AUTH_FAILED}, autherrcode {AUTH_EXCEED_CONN_LIMIT}): {message}"
                ))
            } else {
                OpenError::Retryable(format!(
                    "the handshake failed authentication (status {HANDSHAKE_AUTH_FAILED}, autherrcode {}): {message}",
                    auth.map_or_else(|| "none".to_owned(), |code| code.to_string())
                ))
            }
        }
        Some(HANDSHAKE_FORBIDDEN) => OpenError::Fatal(format!(
            "the handshake was refused: forbidden (status {HANDSHAKE_FORBIDDEN}): {message}"
        )),
        Some(code) => {
            OpenError::Retryable(format!("the handshake failed (status {code}): {message}"))
        }
        None => OpenError::Retryable(format!("the handshake failed with HTTP {status}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio_tungstenite::tungstenite::http::HeaderValue;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, HeaderValue::from_static(value));
        }
        map
    }

    fn is_fatal(error: &OpenError) -> bool {
        matches!(error, OpenError::Fatal(_))
    }

    #[test]
    fn discovery_codes_decide_between_retry_and_giving_up() {
        let ok = br#"{"code":0,"msg":"ok","data":{"URL":"wss://h/ws?device_id=d&service_id=7","ClientConfig":{"ReconnectCount":-1,"ReconnectInterval":120,"ReconnectNonce":30,"PingInterval":120}}}"#;
        let endpoint = classify_discovery(ok).unwrap();
        assert_eq!(endpoint.url, "wss://h/ws?device_id=d&service_id=7");
        assert_eq!(endpoint.config.unwrap().ping_interval, Some(120));

        for retryable in [
            &br#"{"code":1,"msg":"busy"}"#[..],
            br#"{"code":1000040343,"msg":"internal"}"#,
            br#"{"code":0,"msg":"ok","data":{"URL":""}}"#,
            br#"{"code":0,"msg":"ok","data":null}"#,
            b"<html>gateway</html>",
        ] {
            let error = classify_discovery(retryable).err().unwrap();
            assert!(!is_fatal(&error), "{error}");
        }
        for fatal in [
            &br#"{"code":10003,"msg":"invalid app secret"}"#[..],
            br#"{"code":1000040344,"msg":"no credential"}"#,
            br#"{"code":403,"msg":"x","data":{}}"#,
        ] {
            let error = classify_discovery(fatal).err().unwrap();
            assert!(is_fatal(&error), "{error}");
        }
        let refused = classify_discovery(br#"{"code":10003,"msg":"invalid app secret"}"#)
            .err()
            .unwrap();
        assert!(refused.to_string().contains("10003"), "{refused}");
        assert!(
            refused.to_string().contains("invalid app secret"),
            "{refused}"
        );
    }

    #[test]
    fn handshake_headers_decide_between_retry_and_giving_up() {
        let limit = handshake_refused(
            StatusCode::OK,
            &headers(&[
                ("Handshake-Status", "514"),
                ("Handshake-Msg", "exceed"),
                ("Handshake-Autherrcode", "1000040350"),
            ]),
        );
        assert!(is_fatal(&limit), "{limit}");
        assert!(limit.to_string().contains("1000040350"));

        let auth = handshake_refused(
            StatusCode::OK,
            &headers(&[
                ("handshake-status", "514"),
                ("handshake-autherrcode", "1000040351"),
            ]),
        );
        assert!(!is_fatal(&auth), "{auth}");

        let forbidden = handshake_refused(
            StatusCode::FORBIDDEN,
            &headers(&[("Handshake-Status", "403"), ("Handshake-Msg", "banned")]),
        );
        assert!(is_fatal(&forbidden), "{forbidden}");
        assert!(forbidden.to_string().contains("banned"));

        let other = handshake_refused(StatusCode::OK, &headers(&[("Handshake-Status", "500")]));
        assert!(!is_fatal(&other));
        // Without the header, as in Go, only the header counts: a proxy's 403
        // is no verdict from Feishu.
        let bare = handshake_refused(StatusCode::FORBIDDEN, &HeaderMap::new());
        assert!(!is_fatal(&bare), "{bare}");
    }

    #[test]
    fn the_endpoint_url_gives_the_service_and_device_ids() {
        assert_eq!(
            parse_endpoint_url("wss://msg-frontier.feishu.cn/ws/v2?fpid=493&aid=552564&device_id=dev1&access_key=k&service_id=33554678&ticket=t").unwrap(),
            (33_554_678, "dev1".to_owned())
        );
        assert_eq!(
            parse_endpoint_url("ws://127.0.0.1:1/ws").unwrap(),
            (0, String::new())
        );
        assert_eq!(
            parse_endpoint_url("ws://h/ws?service_id=notanumber")
                .unwrap()
                .0,
            0
        );
        assert!(parse_endpoint_url("https://h/ws").is_err());
        assert!(parse_endpoint_url("not a url").is_err());
    }

    // The test stands in for Feishu's gateway: only a listening socket shows
    // what `dial` sends first.
    #[allow(clippy::disallowed_methods)]
    #[tokio::test]
    async fn a_wss_url_is_dialled_with_tls() {
        use tokio::io::AsyncReadExt;
        // A server that reads the first TLS record header, then hangs up.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut header = [0u8; 5];
            socket.read_exact(&mut header).await.unwrap();
            header
        });
        let result = dial(&format!("wss://127.0.0.1:{port}/ws")).await;
        assert!(matches!(result, Err(OpenError::Retryable(_))));
        let header = server.await.unwrap();
        assert_eq!(
            header[0], 0x16,
            "the client opened with a TLS handshake record"
        );
    }
}
