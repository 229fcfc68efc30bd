//! The v1.0 workflow API (on `api_base_url`): the ids of a template's
//! approval instances created in a period (`processes/instanceIds/query`)
//! and one instance (`processInstances`). Approvals protocol §2.4, §2.5.
//!
//! A v1.0 call takes the token in the `x-acs-dingtalk-access-token` header
//! and reports errors as an HTTP status with `{code, message}`: 401 is the
//! token (refreshed once), 429 or a `Throttling` code the rate and any 5xx
//! (`systemError`) a transient failure, all retried with backoff; any other
//! code (`invalidMaxResults`, `processInstanceNotExist`, ...) is a refusal,
//! never retried.

use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use super::{v1_answer, ApiError, Attempt, DingTalkApi, HttpError, RATE_LIMITED, SYSTEM_BUSY};

/// One approval instance (`GET`, `?processInstanceId=`).
pub const PROCESS_INSTANCE_PATH: &str = "/v1.0/workflow/processInstances";
/// A template's instance ids by creation time (`POST`).
pub const INSTANCE_IDS_PATH: &str = "/v1.0/workflow/processes/instanceIds/query";
/// `maxResults` is at most 20.
pub const MAX_INSTANCE_IDS_PER_PAGE: usize = 20;
/// `endTime − startTime` is at most 120 days ...
pub const MAX_INSTANCE_LIST_DAYS: i64 = 120;
/// ... and `startTime` at most 365 days ago (5 years only with OA 高级版).
pub const MAX_INSTANCE_LIST_AGE_DAYS: i64 = 365;
/// `userIds` (originators) holds at most 10.
pub const MAX_ORIGINATORS_PER_CALL: usize = 10;
/// One paging loop yields at most 10 000 ids; past them the list is cut.
pub const MAX_INSTANCE_IDS_PER_LOOP: usize = 10_000;

/// What to list: one template's instances created in `[from, to]`, by every
/// originator (`originators` empty) or by at most 10.
#[derive(Clone, Copy, Debug)]
pub struct InstanceIdQuery<'a> {
    pub process_code: &'a str,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub originators: &'a [String],
}

/// The ids one query listed, every page; `cut` when DingTalk's 10 000-id
/// bound stopped the loop before the last page.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct InstanceIds {
    pub ids: Vec<String>,
    pub cut: bool,
}

impl InstanceIdQuery<'_> {
    /// DingTalk's limits, checked before anything is sent (a call it would
    /// refuse costs a metered request for nothing).
    pub fn check(&self, now: DateTime<Utc>) -> Result<(), ApiError> {
        if self.process_code.is_empty() {
            return Err(ApiError::Request("a process code is required".into()));
        }
        if self.to < self.from
            || self.to - self.from > chrono::Duration::days(MAX_INSTANCE_LIST_DAYS)
        {
            return Err(ApiError::Request(format!(
                "instanceIds/query covers at most {MAX_INSTANCE_LIST_DAYS} days: {} .. {}",
                self.from, self.to
            )));
        }
        if now - self.from > chrono::Duration::days(MAX_INSTANCE_LIST_AGE_DAYS) {
            return Err(ApiError::Request(format!(
                "instanceIds/query starts at most {MAX_INSTANCE_LIST_AGE_DAYS} days ago: {}",
                self.from
            )));
        }
        if self.originators.len() > MAX_ORIGINATORS_PER_CALL {
            return Err(ApiError::Request(format!(
                "instanceIds/query takes at most {MAX_ORIGINATORS_PER_CALL} originators, not {}",
                self.originators.len()
            )));
        }
        Ok(())
    }
}

impl DingTalkApi {
    /// One authorized v1.0 call: paced, metered, the token refreshed once,
    /// rate and 5xx answers retried with backoff. Answers the `result`.
    async fn v1_call(
        &self,
        method: reqwest::Method,
        path: &str,
        query: &[(&str, &str)],
        body: Option<&Value>,
    ) -> Result<Value, ApiError> {
        let url = &format!("{}{path}", self.config.api_base_url);
        let attempt = move |token: String| {
            let method = method.clone();
            async move {
                let response = self
                    .core
                    .send(path, || {
                        let mut request = self
                            .http
                            .request(method.clone(), url)
                            .query(query)
                            .header("x-acs-dingtalk-access-token", &token);
                        if let Some(body) = body {
                            request = request.json(body);
                        }
                        request.send()
                    })
                    .await?;
                let (status, answer) = v1_answer(path, response).await?;
                let code = answer["code"].as_str().unwrap_or_default();
                match status {
                    200 => match answer.get("result") {
                        Some(result @ Value::Object(_)) => Ok(Attempt::Done(result.clone())),
                        _ => Err(HttpError::decode(path, "no result object in the answer").into()),
                    },
                    401 => Ok(Attempt::TokenRefused { token }),
                    429 => Ok(Attempt::Retry {
                        kind: RATE_LIMITED,
                        wait: None,
                    }),
                    _ if code.contains("Throttling") => Ok(Attempt::Retry {
                        kind: RATE_LIMITED,
                        wait: None,
                    }),
                    500..=599 => Ok(Attempt::Retry {
                        kind: SYSTEM_BUSY,
                        wait: None,
                    }),
                    _ if !code.is_empty() => Err(ApiError::Refused {
                        path: path.into(),
                        status,
                        code: code.into(),
                        msg: answer["message"].as_str().unwrap_or_default().into(),
                    }),
                    _ => Err(HttpError::status(path, status).into()),
                }
            }
        };
        self.core
            .authorized(path, || self.fetch_token(), attempt)
            .await
    }

    /// `GET /v1.0/workflow/processInstances?processInstanceId=`: one approval
    /// instance (originator, status and result, links to the instances it
    /// modified or revoked, form values). Answers the `result` object.
    pub async fn process_instance(&self, instance_id: &str) -> Result<Value, ApiError> {
        self.v1_call(
            reqwest::Method::GET,
            PROCESS_INSTANCE_PATH,
            &[("processInstanceId", instance_id)],
            None,
        )
        .await
    }

    /// `POST /v1.0/workflow/processes/instanceIds/query`: the ids of every
    /// instance of one template created in the query's period, in every
    /// status, every page (`nextToken` goes out a number and comes back a
    /// string; a non-empty one means more), up to DingTalk's 10 000 per loop.
    pub async fn instance_ids(&self, query: InstanceIdQuery<'_>) -> Result<InstanceIds, ApiError> {
        query.check(Utc::now())?;
        let path = INSTANCE_IDS_PATH;
        let mut listed = InstanceIds::default();
        let mut next_token: i64 = 0;
        loop {
            let mut body = json!({
                "processCode": query.process_code,
                "startTime": query.from.timestamp_millis(),
                "endTime": query.to.timestamp_millis(),
                "nextToken": next_token,
                "maxResults": MAX_INSTANCE_IDS_PER_PAGE,
            });
            if !query.originators.is_empty() {
                body["userIds"] = json!(query.originators);
            }
            let result = self
                .v1_call(reqwest::Method::POST, path, &[], Some(&body))
                .await?;
            let page = match &result["list"] {
                Value::Null => Vec::new(),
                Value::Array(ids) => ids
                    .iter()
                    .filter_map(|id| match id {
                        Value::String(id) => Some(id.clone()),
                        Value::Number(id) => Some(id.to_string()),
                        _ => None,
                    })
                    .collect(),
                _ => return Err(HttpError::decode(path, "result.list is not a list").into()),
            };
            listed.ids.extend(page);
            let token = match &result["nextToken"] {
                Value::String(token) => token.trim().to_owned(),
                Value::Number(token) => token.to_string(),
                _ => String::new(),
            };
            if token.is_empty() {
                return Ok(listed);
            }
            if listed.ids.len() >= MAX_INSTANCE_IDS_PER_LOOP {
                listed.cut = true;
                return Ok(listed);
            }
            let Ok(token) = token.parse::<i64>() else {
                return Err(HttpError::decode(path, "nextToken is not a number").into());
            };
            // A token that does not move would page forever.
            if token <= next_token {
                return Err(HttpError::decode(path, "nextToken did not advance").into());
            }
            next_token = token;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listing_queries_respect_the_documented_limits() {
        let now = Utc::now();
        let users: Vec<String> = (0..10).map(|i| format!("u{i}")).collect();
        let query =
            |from_days_ago: i64, days: i64, originators: &'static [String]| InstanceIdQuery {
                process_code: "PROC-1",
                from: now - chrono::Duration::days(from_days_ago),
                to: now - chrono::Duration::days(from_days_ago) + chrono::Duration::days(days),
                originators,
            };
        assert!(query(30, 120, &[]).check(now).is_ok());
        assert!(
            query(200, 121, &[]).check(now).is_err(),
            "span over 120 days"
        );
        assert!(
            query(366, 1, &[]).check(now).is_err(),
            "start over 365 days ago"
        );
        assert!(query(10, -1, &[]).check(now).is_err(), "end before start");
        let ten: &'static [String] = Box::leak(users.into_boxed_slice());
        assert!(query(10, 1, ten).check(now).is_ok());
        let eleven: &'static [String] = Box::leak(
            (0..11)
                .map(|i| format!("u{i}"))
                .collect::<Vec<_>>()
                .into_boxed_slice(),
        );
        assert!(query(10, 1, eleven).check(now).is_err(), "11 originators");
        let no_code = InstanceIdQuery {
            process_code: "",
            ..query(10, 1, &[])
        };
        assert!(no_code.check(now).is_err());
    }
}
