//! The HTTP callback's body, query and reply, and the envelope of a
//! decrypted callback (protocol §3).

use serde::{Deserialize, Serialize};

use super::lenient::{opt_i64, opt_text};

/// The POST body of an HTTP callback.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallbackBody {
    pub encrypt: String,
}

/// The callback's query. DingTalk has used two spellings of the signature and
/// of the timestamp; the CRYPTO README takes `msg_signature`, else
/// `signature`, and `timeStamp`, else `timestamp`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallbackQuery {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub msg_signature: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature: Option<String>,
    #[serde(rename = "timeStamp", default, skip_serializing_if = "Option::is_none")]
    pub time_stamp: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nonce: Option<String>,
}

impl CallbackQuery {
    /// Reads the query from `(name, value)` pairs, already percent-decoded.
    /// The first occurrence of a name wins; later ones cannot help a forger,
    /// because whatever is picked must still produce the right signature.
    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        let mut query = CallbackQuery::default();
        for (name, value) in pairs {
            let slot = match name {
                "msg_signature" => &mut query.msg_signature,
                "signature" => &mut query.signature,
                "timeStamp" => &mut query.time_stamp,
                "timestamp" => &mut query.timestamp,
                "nonce" => &mut query.nonce,
                _ => continue,
            };
            if slot.is_none() {
                *slot = Some(value.to_owned());
            }
        }
        query
    }

    /// `msg_signature`, else `signature`.
    pub fn signature(&self) -> Option<&str> {
        self.msg_signature.as_deref().or(self.signature.as_deref())
    }

    /// `timeStamp`, else `timestamp`.
    pub fn timestamp(&self) -> Option<&str> {
        self.time_stamp.as_deref().or(self.timestamp.as_deref())
    }

    pub fn nonce(&self) -> Option<&str> {
        self.nonce.as_deref()
    }
}

/// The answer to every accepted callback: the word `success`, encrypted and
/// signed. The field names are exactly these; DingTalk's console reports
/// "HTTP请求结果校验返回字段值失败" when one is off.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SuccessReply {
    pub msg_signature: String,
    #[serde(rename = "timeStamp")]
    pub time_stamp: String,
    pub nonce: String,
    pub encrypt: String,
}

/// The envelope fields of a decrypted HTTP callback; the body's own fields
/// sit beside them at the top level.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct CallbackEnvelope {
    #[serde(rename = "EventType", default, deserialize_with = "opt_text")]
    pub event_type: Option<String>,
    /// Milliseconds since the epoch.
    #[serde(rename = "EventTime", default, deserialize_with = "opt_i64")]
    pub event_time: Option<i64>,
    #[serde(rename = "CorpId", default, deserialize_with = "opt_text")]
    pub corp_id: Option<String>,
    /// "Meaningless, used for idempotency" (protocol §2).
    #[serde(rename = "BizId", default, deserialize_with = "opt_text")]
    pub biz_id: Option<String>,
    #[serde(rename = "eventId", default, deserialize_with = "opt_text")]
    pub event_id: Option<String>,
}
