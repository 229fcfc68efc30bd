//! The first connection to PostgreSQL at startup: bounded in time, and when
//! it fails, one error that says where (host and port) and why (refused, name
//! not resolved, authentication failed, no answer), and never the password.

use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgConnection};
use sqlx::Connection;

use crate::StoreError;

/// How long the first connection may take. A host that never answers would
/// otherwise hold startup for the system's TCP timeout (minutes) before the
/// operator learns anything; a reachable server answers in milliseconds.
pub(crate) const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Parses `url` and opens one connection within [`CONNECT_TIMEOUT`].
pub(crate) async fn first_connection(
    url: &str,
) -> Result<(PgConnectOptions, PgConnection), StoreError> {
    let options: PgConnectOptions = url
        .parse()
        .map_err(|error| unreachable(url, None, &error))?;
    match tokio::time::timeout(CONNECT_TIMEOUT, PgConnection::connect_with(&options)).await {
        Ok(Ok(connection)) => Ok((options, connection)),
        Ok(Err(error)) => Err(unreachable(url, Some(&options), &error)),
        Err(_) => Err(StoreError::Unreachable {
            host: options.get_host().to_owned(),
            port: options.get_port(),
            cause: format!("no answer within {} s", CONNECT_TIMEOUT.as_secs()),
        }),
    }
}

/// The error of a connection that failed, for `url` (parsed into `options`
/// when it could be).
pub(crate) fn unreachable(
    url: &str,
    options: Option<&PgConnectOptions>,
    error: &sqlx::Error,
) -> StoreError {
    let (host, port) = match options {
        Some(options) => (options.get_host().to_owned(), options.get_port()),
        None => ("(unparsable URL)".to_owned(), 0),
    };
    StoreError::Unreachable {
        host,
        port,
        cause: without_password(&cause(error), url),
    }
}

/// What went wrong, in the words an operator acts on.
fn cause(error: &sqlx::Error) -> String {
    match error {
        sqlx::Error::Io(io) => match io.kind() {
            std::io::ErrorKind::ConnectionRefused => {
                "connection refused (is the server running and listening there?)".into()
            }
            std::io::ErrorKind::TimedOut => "timed out".into(),
            std::io::ErrorKind::UnexpectedEof => {
                format!("the server ended the handshake; is it PostgreSQL? ({io})")
            }
            // getaddrinfo's failures come back as uncategorized I/O errors.
            _ if is_name_failure(&io.to_string()) => format!("name not resolved ({io})"),
            _ => io.to_string(),
        },
        sqlx::Error::Database(database) => {
            let message = database.message();
            match database.code().as_deref() {
                // invalid_password, invalid_authorization_specification
                Some("28P01" | "28000") => format!("authentication failed: {message}"),
                // invalid_catalog_name
                Some("3D000") => format!("no such database: {message}"),
                _ => message.to_owned(),
            }
        }
        sqlx::Error::Tls(tls) => format!("TLS failed: {tls}"),
        sqlx::Error::Configuration(configuration) => format!("invalid URL: {configuration}"),
        other => other.to_string(),
    }
}

fn is_name_failure(message: &str) -> bool {
    [
        "failed to lookup address",
        "Name or service not known",
        "No address associated with hostname",
        "Temporary failure in name resolution",
        "nodename nor servname",
    ]
    .iter()
    .any(|sign| message.contains(sign))
}

/// `text` with the URL's password, should any error ever quote it, taken out.
fn without_password(text: &str, url: &str) -> String {
    let Some(password) = password(url).filter(|password| password.len() >= 3) else {
        return text.to_owned();
    };
    text.replace(password, "**REDACTED**")
}

/// The password of a `scheme://user:password@host` URL, as written.
fn password(url: &str) -> Option<&str> {
    let rest = &url[url.find("://")? + 3..];
    let userinfo = &rest[..rest.rfind('@')?];
    Some(userinfo.split_once(':')?.1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn io(kind: std::io::ErrorKind, message: &str) -> sqlx::Error {
        sqlx::Error::Io(std::io::Error::new(kind, message.to_owned()))
    }

    #[test]
    fn the_cause_is_named_in_an_operators_words() {
        let refused = cause(&io(std::io::ErrorKind::ConnectionRefused, "os error 111"));
        assert!(refused.starts_with("connection refused"), "{refused}");
        let name = cause(&io(
            std::io::ErrorKind::Other,
            "failed to lookup address information: Name or service not known",
        ));
        assert!(name.starts_with("name not resolved"), "{name}");
    }

    #[test]
    fn the_password_never_appears() {
        let url = "postgres://hub:pa:ss@db:5432/hub";
        assert_eq!(password(url), Some("pa:ss"));
        assert_eq!(password("postgres://hub@db/hub"), None);
        assert_eq!(
            without_password("auth for pa:ss failed", url),
            "auth for **REDACTED** failed"
        );
        let options: PgConnectOptions = url.parse().unwrap();
        let error = unreachable(url, Some(&options), &io(std::io::ErrorKind::Other, "pa:ss"));
        let text = error.to_string();
        assert!(
            text.contains("db:5432") && !text.contains("pa:ss"),
            "{text}"
        );
    }
}
