//! One configured Feishu app: its name, its id and the credentials that
//! authenticate what Feishu sends for it.

use attendance_adapter_kit::Secret;
use chrono_tz::Tz;

/// What translation needs to know of the app an event came to.
#[derive(Clone, Copy, Debug)]
pub struct Recipient<'a> {
    /// The configured app name: `Source.app`, and the queue of its pulls.
    pub app: &'a str,
    /// The app's `time_zone`: approval events give wall-clock times with no
    /// zone, in the zone of the tenant's attendance.
    pub zone: Tz,
    /// Whether the app pulls (it has an app_secret): only then does an
    /// event that cannot say enough queue a pull of the employee's day.
    pub pulls: bool,
}

/// One Feishu app the hub accepts pushes for, served at
/// `/webhooks/feishu/{name}`.
#[derive(Clone, Debug)]
pub struct FeishuApp {
    /// The configured name: the route segment and `Source.app`.
    pub name: String,
    /// Feishu's `cli_…` id, used when an envelope does not name its app.
    pub app_id: String,
    /// The Verification Token from the developer console.
    pub verification_token: Secret,
    /// The Encrypt Key from the developer console, if one is set there.
    pub encrypt_key: Option<Secret>,
    /// The configured `time_zone`: the zone of approval events' wall-clock
    /// times.
    pub time_zone: Tz,
    /// Whether the app pulls (has an app_secret), so its events may queue
    /// pulls.
    pub pulls: bool,
}

impl FeishuApp {
    /// What translation needs to know of this app.
    pub fn recipient(&self) -> Recipient<'_> {
        Recipient {
            app: &self.name,
            zone: self.time_zone,
            pulls: self.pulls,
        }
    }

    /// The key, if one is configured. An empty key would make signatures
    /// forgeable by anyone, so it counts as none.
    pub(crate) fn encrypt_key(&self) -> Option<&str> {
        self.encrypt_key
            .as_ref()
            .map(Secret::expose)
            .filter(|key| !key.is_empty())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_redacts_both_secrets() {
        let app = FeishuApp {
            name: "main".into(),
            app_id: "cli_1".into(),
            verification_token: "tok-secret".into(),
            encrypt_key: Some("key-secret".into()),
            time_zone: chrono_tz::Asia::Shanghai,
            pulls: false,
        };
        let shown = format!("{app:?}");
        assert!(!shown.contains("tok-secret"), "{shown}");
        assert!(!shown.contains("key-secret"), "{shown}");
        assert!(shown.contains("**REDACTED**"), "{shown}");
        assert!(shown.contains("cli_1"), "{shown}");
    }

    #[test]
    fn an_empty_encrypt_key_counts_as_none() {
        let app = FeishuApp {
            name: "main".into(),
            app_id: "cli_1".into(),
            verification_token: "t".into(),
            encrypt_key: Some(Secret::default()),
            time_zone: chrono_tz::Asia::Shanghai,
            pulls: false,
        };
        assert_eq!(app.encrypt_key(), None);
    }
}
