//! The failures of an HTTP exchange with any vendor: the request never got
//! an answer, the answer was an HTTP error page, or its body did not read.
//! Vendors wrap these in their own error next to what their codes mean.

use std::fmt::Display;

use serde::de::DeserializeOwned;

/// Why an exchange failed before the vendor's own answer could be read.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error("request to {path} failed: {reason}")]
    Transport { path: String, reason: String },
    #[error("{path} answered HTTP {status}")]
    Status { path: String, status: u16 },
    #[error("{path} answered something unreadable: {reason}")]
    Decode { path: String, reason: String },
}

impl HttpError {
    pub fn transport(path: &str, error: impl Display) -> HttpError {
        HttpError::Transport {
            path: path.into(),
            reason: error.to_string(),
        }
    }

    pub fn status(path: &str, status: u16) -> HttpError {
        HttpError::Status {
            path: path.into(),
            status,
        }
    }

    pub fn decode(path: &str, reason: impl Display) -> HttpError {
        HttpError::Decode {
            path: path.into(),
            reason: reason.to_string(),
        }
    }
}

/// A JSON answer `body`. A body that does not parse is an error page when
/// the HTTP status was not 200 (the status says more than the body), and
/// unreadable when it was.
pub fn read_json<T: DeserializeOwned>(path: &str, status: u16, body: &str) -> Result<T, HttpError> {
    serde_json::from_str(body).map_err(|e| {
        if status == 200 {
            HttpError::decode(path, e)
        } else {
            HttpError::status(path, status)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unreadable_bodies_are_named_by_their_status() {
        let read = |status, body| read_json::<serde_json::Value>("/p", status, body);
        assert_eq!(read(200, r#"{"code":0}"#).unwrap()["code"], 0);
        assert_eq!(
            read(400, r#"{"code":1}"#).unwrap()["code"],
            1,
            "a readable error answer is the vendor's to judge"
        );
        assert_eq!(
            read(502, "<html>").unwrap_err().to_string(),
            "/p answered HTTP 502"
        );
        let unreadable = read(200, "<html>").unwrap_err().to_string();
        assert!(
            unreadable.starts_with("/p answered something unreadable: "),
            "{unreadable}"
        );
        assert_eq!(
            HttpError::transport("/p", "connection refused").to_string(),
            "request to /p failed: connection refused"
        );
    }
}
