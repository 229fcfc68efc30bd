//! Lenient field readers: DingTalk's samples disagree with its tables
//! (numbers as strings and back, `null` for empty lists), so every mirror
//! reads its fields through these.

use serde::{Deserialize, Deserializer};
use serde_json::Value;

pub(crate) use attendance_adapter_kit::lenient::{kind_of, nullable};

/// A scalar as text: ids arrive as numbers in one sample and strings in the
/// next (`record_id`, `groupId`, `planId`).
pub(super) fn scalar_text(value: Value) -> Result<Option<String>, String> {
    match value {
        Value::Null => Ok(None),
        Value::String(s) => Ok(Some(s)),
        Value::Number(n) => Ok(Some(n.to_string())),
        Value::Bool(b) => Ok(Some(b.to_string())),
        other => Err(format!("expected a string, found {}", kind_of(&other))),
    }
}

pub(super) fn text<'de, D: Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    Ok(opt_text(deserializer)?.unwrap_or_default())
}

pub(super) fn opt_text<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<String>, D::Error> {
    scalar_text(Value::deserialize(deserializer)?).map_err(serde::de::Error::custom)
}

/// An integer, or a string of ASCII digits with an optional leading minus.
pub(super) fn opt_i64<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<i64>, D::Error> {
    match Value::deserialize(deserializer)? {
        Value::Null => Ok(None),
        Value::Number(n) => n
            .as_i64()
            .map(Some)
            .ok_or_else(|| serde::de::Error::custom(format_args!("{n} is not an integer"))),
        Value::String(s) if s.is_empty() => Ok(None),
        Value::String(s) => parse_i64(&s)
            .map(Some)
            .ok_or_else(|| serde::de::Error::custom(format_args!("{s:?} is not an integer"))),
        other => Err(serde::de::Error::custom(format_args!(
            "expected an integer, found {}",
            kind_of(&other)
        ))),
    }
}

/// Strict integer text: `"+3"`, `" 3"` and `"3.0"` are not integers.
pub(crate) fn parse_i64(text: &str) -> Option<i64> {
    attendance_adapter_kit::lenient::parse_strict_i64(text)
}

/// A number, or a string holding one (`"15.0"`, `"30.286036"`).
pub(super) fn opt_f64<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<f64>, D::Error> {
    match Value::deserialize(deserializer)? {
        Value::Null => Ok(None),
        Value::Number(n) => Ok(n.as_f64()),
        Value::String(s) if s.trim().is_empty() => Ok(None),
        Value::String(s) => s
            .trim()
            .parse::<f64>()
            .ok()
            .filter(|f| f.is_finite())
            .map(Some)
            .ok_or_else(|| serde::de::Error::custom(format_args!("{s:?} is not a number"))),
        other => Err(serde::de::Error::custom(format_args!(
            "expected a number, found {}",
            kind_of(&other)
        ))),
    }
}

/// A boolean, or `"true"` / `"false"`.
pub(super) fn opt_bool<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<bool>, D::Error> {
    match Value::deserialize(deserializer)? {
        Value::Null => Ok(None),
        Value::Bool(b) => Ok(Some(b)),
        Value::String(s) if s == "true" => Ok(Some(true)),
        Value::String(s) if s == "false" => Ok(Some(false)),
        other => Err(serde::de::Error::custom(format_args!(
            "expected a boolean, found {other}"
        ))),
    }
}

/// One string or a list of them; empty strings are dropped.
pub(super) fn string_or_list<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Vec<String>, D::Error> {
    match Value::deserialize(deserializer)? {
        Value::Null => Ok(Vec::new()),
        Value::String(s) if s.is_empty() => Ok(Vec::new()),
        Value::String(s) => Ok(vec![s]),
        Value::Array(items) => items
            .into_iter()
            .map(|item| match item {
                Value::String(s) => Ok(s),
                other => Err(serde::de::Error::custom(format_args!(
                    "expected a string, found {}",
                    kind_of(&other)
                ))),
            })
            .filter(|item| !matches!(item, Ok(s) if s.is_empty()))
            .collect(),
        other => Err(serde::de::Error::custom(format_args!(
            "expected a string or a list, found {}",
            kind_of(&other)
        ))),
    }
}

/// JSON carried as text: a string is kept verbatim, any other value is kept
/// as its JSON text, `null` as empty.
pub(super) fn json_text<'de, D: Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    Ok(match Value::deserialize(deserializer)? {
        Value::Null => String::new(),
        Value::String(s) => s,
        other => other.to_string(),
    })
}
