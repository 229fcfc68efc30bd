//! Configuration checks every vendor section needs: a problem names its key,
//! app names are URL path segments unique per vendor, zones are IANA names,
//! base URLs are http(s).

use std::collections::BTreeSet;

/// A configuration problem at `key` (e.g. `feishu[0].app_id`).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{key}: {problem}")]
pub struct ConfigProblem {
    pub key: String,
    pub problem: String,
}

pub fn problem(key: impl Into<String>, problem: impl Into<String>) -> ConfigProblem {
    ConfigProblem {
        key: key.into(),
        problem: problem.into(),
    }
}

/// App names are URL path segments and must be unique per vendor.
pub fn check_app_name<'a>(
    key: &str,
    name: &'a str,
    seen: &mut BTreeSet<&'a str>,
) -> Result<(), ConfigProblem> {
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Err(problem(
            key,
            format!(
                "{name:?} must be non-empty letters, digits, '-' or '_' (it is a URL path segment)"
            ),
        ));
    }
    if !seen.insert(name) {
        return Err(problem(key, format!("{name:?} is configured twice")));
    }
    Ok(())
}

pub fn check_time_zone(key: &str, zone: &str) -> Result<chrono_tz::Tz, ConfigProblem> {
    zone.parse::<chrono_tz::Tz>()
        .map_err(|_| problem(key, format!("{zone:?} is not an IANA time zone")))
}

pub fn check_http_url(key: &str, url: &str) -> Result<(), ConfigProblem> {
    if url.starts_with("http://") || url.starts_with("https://") {
        Ok(())
    } else {
        Err(problem(key, format!("{url:?} is not an http(s) URL")))
    }
}

pub fn check_positive(key: &str, value: u32) -> Result<(), ConfigProblem> {
    if value == 0 {
        Err(problem(key, "must be positive"))
    } else {
        Ok(())
    }
}
