//! One configured DingTalk app: its name, its client id and the credentials
//! for Stream, the open APIs and HTTP callbacks.

use std::collections::BTreeMap;

use attendance_adapter_kit::Secret;
use attendance_proto::v1::ApprovalKind;
use chrono_tz::Tz;

use crate::crypto;
use crate::error::CallbackError;

/// What translating this app's events needs of its configuration: the zone
/// its work dates are civil dates in, and the kinds of its custom approval
/// forms.
#[derive(Clone, Debug, PartialEq)]
pub struct TranslationSettings {
    /// The zone of the tenant's attendance calendar (`time_zone`, by default
    /// `Asia/Shanghai`): work dates of pushes and pulls alike.
    pub time_zone: Tz,
    /// `processCode` → kind, for approval forms DingTalk gives no listed
    /// `bizCategoryId` (custom leave forms, ...): `process_kinds`.
    pub process_kinds: BTreeMap<String, ApprovalKind>,
}

impl Default for TranslationSettings {
    fn default() -> Self {
        TranslationSettings {
            time_zone: chrono_tz::Asia::Shanghai,
            process_kinds: BTreeMap::new(),
        }
    }
}

/// One DingTalk app (企业内部应用) the hub takes events for, by HTTP callback
/// at `/webhooks/dingtalk/{name}` and/or over Stream. Its secrets are
/// [`Secret`]s, so `Debug` shows none of them.
#[derive(Clone, Debug)]
pub struct DingTalkApp {
    /// The configured name: the route segment and `Source.app`.
    pub name: String,
    /// The ClientID (formerly AppKey; the SuiteKey for third-party apps):
    /// `Source.app_id`, the Stream credential and an accepted owner key.
    pub client_id: String,
    /// The ClientSecret, for Stream and the API; unused by callbacks.
    pub client_secret: Secret,
    /// The callback `token` from the console; empty for a Stream-only app.
    pub callback_token: Secret,
    /// The callback `aes_key` (43 characters); empty for a Stream-only app.
    pub callback_aes_key: Secret,
    /// The corp id, when callbacks were registered with `register_call_back`
    /// (their owner key is the corp id), and the tenant of last resort.
    pub corp_id: Option<String>,
    /// The zone and process-code kinds translation reads.
    pub translation: TranslationSettings,
}

impl DingTalkApp {
    /// Whether HTTP callbacks are configured for this app at all.
    pub fn accepts_callbacks(&self) -> bool {
        !self.callback_token.is_empty() && !self.callback_aes_key.is_empty()
    }

    /// Checks the callback settings at startup rather than on the first push.
    pub fn validate_callback_config(&self) -> Result<(), CallbackError> {
        if self.callback_token.is_empty() {
            return Err(CallbackError::Misconfigured("callback_token is empty"));
        }
        crypto::derive_key(self.callback_aes_key.expose())
            .map(|_| ())
            .map_err(|_| {
                CallbackError::Misconfigured("callback_aes_key is not 43 base64 characters")
            })
    }
}
