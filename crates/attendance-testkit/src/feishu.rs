//! Delivers Feishu events to a hub over HTTP the way Feishu does: plain, or
//! encrypted with the app's encrypt key and signed over the raw body.

use attendance_feishu::{crypto, verify};

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

/// Posts to `POST {http}/webhooks/feishu/{app}`.
pub struct FeishuWebhookSender {
    client: reqwest::Client,
    url: String,
    encrypt_key: Option<String>,
}

impl FeishuWebhookSender {
    pub fn new(http_base: &str, app: &str, encrypt_key: Option<&str>) -> Self {
        FeishuWebhookSender {
            client: reqwest::Client::new(),
            url: format!("{http_base}/webhooks/feishu/{app}"),
            encrypt_key: encrypt_key.map(str::to_string),
        }
    }

    /// Sends the JSON as it is, unsigned.
    pub async fn post_plain(&self, json: &str) -> Answer {
        self.post_raw(json.as_bytes().to_vec(), &[]).await
    }

    /// Encrypts the JSON into `{"encrypt": …}` and signs the body.
    pub async fn post_encrypted(&self, json: &str) -> Answer {
        let key = self
            .encrypt_key
            .as_deref()
            .expect("sender built with an encrypt key");
        let body = encrypted_body(key, json);
        self.post_signed(body.into_bytes()).await
    }

    /// Signs the given raw body with this app's key, as Feishu does.
    pub async fn post_signed(&self, body: Vec<u8>) -> Answer {
        let key = self
            .encrypt_key
            .as_deref()
            .expect("sender built with an encrypt key");
        let timestamp = "1700000000";
        let nonce: String = format!("{:016x}", rand::random::<u64>());
        let signature = verify::signature(timestamp, &nonce, key, &body);
        self.post_raw(
            body,
            &[
                ("X-Lark-Request-Timestamp", timestamp),
                ("X-Lark-Request-Nonce", &nonce),
                ("X-Lark-Signature", &signature),
            ],
        )
        .await
    }

    pub async fn post_raw(&self, body: Vec<u8>, headers: &[(&str, &str)]) -> Answer {
        self.try_post_raw(body, headers)
            .await
            .expect("the hub answers HTTP")
    }

    /// Sends the JSON as it is; an `Err` when the hub did not answer (it died).
    pub async fn try_post_plain(&self, json: &str) -> Result<Answer, reqwest::Error> {
        self.try_post_raw(json.as_bytes().to_vec(), &[]).await
    }

    async fn try_post_raw(
        &self,
        body: Vec<u8>,
        headers: &[(&str, &str)],
    ) -> Result<Answer, reqwest::Error> {
        let mut request = self
            .client
            .post(&self.url)
            .header("content-type", "application/json")
            .body(body);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let response = request.send().await?;
        Ok(Answer {
            status: response.status().as_u16(),
            body: response.text().await?,
        })
    }
}

/// `{"encrypt": base64(iv | AES-256-CBC(json))}` with a random IV.
pub fn encrypted_body(encrypt_key: &str, json: &str) -> String {
    let iv: [u8; 16] = rand::random();
    let encrypt = crypto::encrypt(encrypt_key, json.as_bytes(), iv);
    serde_json::json!({ "encrypt": encrypt }).to_string()
}
