//! Serde readers for vendor JSON that bends its own tables: `null` for an
//! absent field, integers as strings. Both vendors' mirrors read through
//! these, so a quirk is tolerated the same way everywhere.

use serde::{Deserialize, Deserializer};
use serde_json::Value;

/// `null` reads as the type's default, so a field the vendor nulls out is
/// treated like one it left out.
pub fn nullable<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}

/// Strict integer text: ASCII digits with an optional leading minus, so
/// `"+3"`, `" 3"` and `"3.0"` are not integers.
pub fn parse_strict_i64(text: &str) -> Option<i64> {
    let digits = text.strip_prefix('-').unwrap_or(text);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

/// What a JSON value is, for error messages ("expected a string, found an
/// array").
pub fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_are_strict() {
        assert_eq!(parse_strict_i64("-3"), Some(-3));
        assert_eq!(parse_strict_i64("+3"), None);
        assert_eq!(parse_strict_i64(" 3"), None);
        assert_eq!(parse_strict_i64("3.0"), None);
        assert_eq!(parse_strict_i64(""), None);
        assert_eq!(parse_strict_i64("-"), None);
    }
}
