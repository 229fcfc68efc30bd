//! A secret from the configuration (an app secret, a token, an encryption
//! key): `Debug` never shows it, so printing a config or an app type is safe.

use serde::{Deserialize, Deserializer};

/// A string that never prints. `expose` is the one way to read it, so every
/// use of the value is visible in the code.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl From<String> for Secret {
    fn from(value: String) -> Secret {
        Secret(value)
    }
}

impl From<&str> for Secret {
    fn from(value: &str) -> Secret {
        Secret(value.to_owned())
    }
}

/// Compares the value, so tests read `assert_eq!(secret, "value")`.
impl PartialEq<str> for Secret {
    fn eq(&self, other: &str) -> bool {
        self.0 == other
    }
}

impl PartialEq<&str> for Secret {
    fn eq(&self, other: &&str) -> bool {
        self.0 == *other
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // An empty secret shows as empty: "not configured" is worth seeing.
        if self.0.is_empty() {
            f.write_str("\"\"")
        } else {
            f.write_str("**REDACTED**")
        }
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Secret, D::Error> {
        String::deserialize(deserializer).map(Secret)
    }
}

#[cfg(test)]
mod tests {
    use super::Secret;

    #[test]
    fn debug_never_shows_the_value() {
        let secret = Secret::new("s3cr3t");
        assert_eq!(format!("{secret:?}"), "**REDACTED**");
        assert_eq!(format!("{:?}", Some(&secret)), "Some(**REDACTED**)");
        assert_eq!(format!("{:?}", Secret::default()), "\"\"");
        assert_eq!(secret.expose(), "s3cr3t");
    }
}
