//! Delivers DingTalk HTTP callbacks to a hub the way DingTalk does (protocol
//! notes §3): the event JSON sealed with the app's `aes_key` for an owner
//! key, posted as `{"encrypt": …}` to
//! `/webhooks/dingtalk/{name}?msg_signature=…&timestamp=…&nonce=…`, and the
//! encrypted `success` answer opened again.

use std::time::{SystemTime, UNIX_EPOCH};

use attendance_dingtalk::crypto;

/// What the hub answered.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub body: String,
}

impl Answer {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or(serde_json::Value::Null)
    }
}

/// One sealed callback: the body and the query that signs it.
#[derive(Clone, Debug)]
pub struct Sealed {
    pub encrypt: String,
    pub timestamp: String,
    pub nonce: String,
    pub signature: String,
}

impl Sealed {
    /// `{"encrypt": …}`.
    pub fn body(&self) -> String {
        serde_json::json!({ "encrypt": self.encrypt }).to_string()
    }
}

/// Posts to `POST {http}/webhooks/dingtalk/{app}`.
pub struct DingTalkCallbackSender {
    client: reqwest::Client,
    url: String,
    token: String,
    aes_key: String,
    owner: String,
}

fn alphanumeric(n: usize) -> String {
    const CHARS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    (0..n)
        .map(|_| CHARS[rand::random::<usize>() % CHARS.len()] as char)
        .collect()
}

impl DingTalkCallbackSender {
    /// `owner` is the owner key the plaintext carries: the app's client id
    /// for console subscriptions, the corp id for `register_call_back` ones.
    pub fn new(http_base: &str, app: &str, token: &str, aes_key: &str, owner: &str) -> Self {
        DingTalkCallbackSender {
            client: reqwest::Client::new(),
            url: format!("{http_base}/webhooks/dingtalk/{app}"),
            token: token.to_owned(),
            aes_key: aes_key.to_owned(),
            owner: owner.to_owned(),
        }
    }

    /// Encrypts `json` for the owner (a fresh random prefix) and signs it
    /// with a fresh timestamp (milliseconds) and nonce.
    pub fn seal(&self, json: &str) -> Sealed {
        let random: [u8; 16] = alphanumeric(16)
            .into_bytes()
            .try_into()
            .expect("16 ASCII characters");
        let encrypt = crypto::encrypt(&self.aes_key, json, &self.owner, &random)
            .expect("the sender's aes_key is valid");
        let timestamp = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis())
            .unwrap_or_default()
            .to_string();
        let nonce = alphanumeric(12);
        let signature = crypto::signature(&self.token, &timestamp, &nonce, &encrypt);
        Sealed {
            encrypt,
            timestamp,
            nonce,
            signature,
        }
    }

    /// Seals and posts `json`, as DingTalk would.
    pub async fn post(&self, json: &str) -> Answer {
        let sealed = self.seal(json);
        self.post_sealed(&sealed).await
    }

    /// Posts a sealed callback with the query DingTalk sends today.
    pub async fn post_sealed(&self, sealed: &Sealed) -> Answer {
        self.post_raw(
            sealed.body().into_bytes(),
            &[
                ("msg_signature", &sealed.signature),
                ("timestamp", &sealed.timestamp),
                ("nonce", &sealed.nonce),
            ],
        )
        .await
    }

    pub async fn post_raw(&self, body: Vec<u8>, query: &[(&str, &str)]) -> Answer {
        let response = self
            .client
            .post(&self.url)
            .query(query)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .expect("the hub answers HTTP");
        Answer {
            status: response.status().as_u16(),
            body: response.text().await.unwrap_or_default(),
        }
    }

    /// Checks an answer the way DingTalk does (its `msg_signature` over
    /// token, `timeStamp`, `nonce` and `encrypt`), then opens it: the
    /// message and the owner key it was sealed for.
    pub fn open_reply(&self, answer: &Answer) -> Result<(String, String), String> {
        let reply = answer.json();
        let field = |name: &str| {
            reply[name]
                .as_str()
                .map(str::to_owned)
                .ok_or_else(|| format!("the answer has no {name}: {}", answer.body))
        };
        let (signature, timestamp, nonce, encrypt) = (
            field("msg_signature")?,
            field("timeStamp")?,
            field("nonce")?,
            field("encrypt")?,
        );
        if crypto::signature(&self.token, &timestamp, &nonce, &encrypt) != signature {
            return Err(format!(
                "the answer's signature does not match: {}",
                answer.body
            ));
        }
        crypto::decrypt(&self.aes_key, &encrypt).map_err(|error| error.to_string())
    }
}
