//! Registering a Stream connection with DingTalk's gateway
//! (`connections/open`, one ticket per connection) and dialling it.

use std::time::Duration;

use attendance_adapter_kit::connection::{self, DialError, OpenError, Socket};
use serde::Deserialize;
use serde_json::Value;

use super::StreamApp;

/// The registration path under the app's `api_base_url`.
pub const OPEN_PATH: &str = "/v1.0/gateway/connections/open";

/// The `ua` sent at registration, in the documented `name-sdk-lang/version`
/// form, and the HTTP `User-Agent`.
pub const USER_AGENT: &str = concat!("attendance-hub-rust/v", env!("CARGO_PKG_VERSION"));

/// Registration must not hang: PY waits 10 s, GO 5 s.
const OPEN_TIMEOUT: Duration = Duration::from_secs(10);
/// The same bound for the TCP connect, TLS and WebSocket handshake (JAVA
/// allows 3 s; a slow network deserves more).
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// The client registration goes through.
pub(super) fn http_client() -> reqwest::Result<reqwest::Client> {
    reqwest::Client::builder()
        .timeout(OPEN_TIMEOUT)
        .user_agent(USER_AGENT)
        .build()
}

#[derive(Deserialize)]
struct OpenResponse {
    #[serde(default)]
    endpoint: String,
    #[serde(default)]
    ticket: String,
}

/// One attempt: register, then dial. DingTalk documents no refusal that
/// retrying cannot mend, so every failure is retryable.
pub(super) async fn connect(
    http: &reqwest::Client,
    app: &StreamApp,
    local_ip: &str,
) -> Result<Socket, OpenError> {
    let url = open_connection(http, app, local_ip)
        .await
        .map_err(OpenError::Retryable)?;
    dial(&url).await.map_err(OpenError::Retryable)
}

/// The body of `connections/open`: credentials, the one EVENT subscription
/// DingTalk supports (event types are chosen in the console), `ua` and
/// `localIp`.
fn open_request(app: &StreamApp, local_ip: &str) -> Value {
    serde_json::json!({
        "clientId": app.app.client_id,
        "clientSecret": app.app.client_secret.expose(),
        "subscriptions": [{"type": "EVENT", "topic": "*"}],
        "ua": USER_AGENT,
        "localIp": local_ip,
    })
}

/// `POST {api_base_url}/v1.0/gateway/connections/open`; the WebSocket URL
/// with its one-time ticket.
async fn open_connection(
    http: &reqwest::Client,
    app: &StreamApp,
    local_ip: &str,
) -> Result<reqwest::Url, String> {
    let url = format!("{}{OPEN_PATH}", app.api_base_url.trim_end_matches('/'));
    let response = http
        .post(&url)
        // Without it the gateway answers XML (NODE).
        .header(reqwest::header::ACCEPT, "application/json")
        .json(&open_request(app, local_ip))
        .send()
        .await
        .map_err(|error| format!("connections/open failed: {}", without_url(&error)))?;
    let status = response.status();
    let body = response
        .bytes()
        .await
        .map_err(|error| format!("connections/open: {}", without_url(&error)))?;
    if status != reqwest::StatusCode::OK {
        return Err(format!(
            "connections/open answered HTTP {status}: {}",
            excerpt(&body)
        ));
    }
    ws_url(&body)
}

/// The WebSocket URL from a `connections/open` answer: `endpoint` with the
/// ticket added to its query (percent-encoded, as PY does).
fn ws_url(body: &[u8]) -> Result<reqwest::Url, String> {
    let answer: OpenResponse = serde_json::from_slice(body).map_err(|error| {
        format!(
            "connections/open answered no JSON endpoint ({error}): {}",
            excerpt(body)
        )
    })?;
    // GO refuses an answer without either.
    if answer.endpoint.is_empty() || answer.ticket.is_empty() {
        return Err("connections/open answered no endpoint or no ticket".into());
    }
    let mut url = reqwest::Url::parse(&answer.endpoint).map_err(|error| {
        format!(
            "connections/open answered a bad endpoint {:?}: {error}",
            answer.endpoint
        )
    })?;
    if !matches!(url.scheme(), "ws" | "wss") {
        return Err(format!(
            "connections/open answered a {}:// endpoint, not ws:// or wss://",
            url.scheme()
        ));
    }
    url.query_pairs_mut().append_pair("ticket", &answer.ticket);
    Ok(url)
}

/// The start of an answer body, for error messages.
fn excerpt(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    match text.char_indices().nth(200) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_owned(),
    }
}

/// reqwest's errors name the URL; the message reads better without it.
fn without_url(error: &reqwest::Error) -> String {
    let mut text = error.to_string();
    if let Some(url) = error.url() {
        text = text.replace(&format!(" ({url})"), "");
    }
    text
}

async fn dial(url: &reqwest::Url) -> Result<Socket, String> {
    // The URL carries the ticket: it is never logged.
    let host = url.host_str().unwrap_or_default();
    connection::dial(url.as_str(), HANDSHAKE_TIMEOUT)
        .await
        .map_err(|error| match error {
            DialError::TimedOut(limit) => format!(
                "the WebSocket handshake with {host} took longer than {} s",
                limit.as_secs()
            ),
            DialError::Refused(response) => format!(
                "the WebSocket handshake with {host} was refused with HTTP {}",
                response.status()
            ),
            DialError::Failed(error) => {
                format!("the WebSocket handshake with {host} failed: {error}")
            }
        })
}

#[cfg(test)]
mod tests {
    use super::super::tests::app;
    use super::*;

    #[test]
    fn the_open_request_subscribes_to_every_event_and_names_the_client() {
        let body = open_request(&app(), "10.0.0.7");
        assert_eq!(body["clientId"], "dingclient");
        assert_eq!(body["clientSecret"], "s3cret-value");
        assert_eq!(
            body["subscriptions"],
            serde_json::json!([{"type": "EVENT", "topic": "*"}])
        );
        assert_eq!(body["localIp"], "10.0.0.7");
        let ua = body["ua"].as_str().unwrap();
        assert!(ua.starts_with("attendance-hub-rust/v"), "{ua}");
    }

    #[test]
    fn the_ticket_is_added_to_the_endpoint_query() {
        let url = ws_url(
            br#"{"endpoint":"wss://wss-open-connection.dingtalk.com:443/connect","ticket":"7724109a-ea43-4aa2-b803-87d82c5aaee6"}"#,
        )
        .unwrap();
        assert_eq!(
            url.as_str(),
            "wss://wss-open-connection.dingtalk.com/connect?ticket=7724109a-ea43-4aa2-b803-87d82c5aaee6"
        );
        let url =
            ws_url(br#"{"endpoint":"ws://127.0.0.1:9/connect?x=1","ticket":"a b+c"}"#).unwrap();
        assert_eq!(url.as_str(), "ws://127.0.0.1:9/connect?x=1&ticket=a+b%2Bc");
    }

    #[test]
    fn unusable_open_answers_are_errors() {
        for body in [
            &br#"{"endpoint":"","ticket":"t"}"#[..],
            br#"{"endpoint":"wss://h/connect"}"#,
            br#"{"endpoint":"https://h/connect","ticket":"t"}"#,
            br#"{"endpoint":"not a url","ticket":"t"}"#,
            b"<xml>endpoint</xml>",
        ] {
            assert!(ws_url(body).is_err(), "{}", String::from_utf8_lossy(body));
        }
        let long = "x".repeat(500);
        let error = ws_url(long.as_bytes()).unwrap_err();
        assert!(error.len() < 400, "{error}");
    }
}
