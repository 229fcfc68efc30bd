//! The approval API's instance read (`GET /open-apis/approval/v4/instances/
//! :instance_code`, approvals.md §1.3): who submitted an approval and its
//! form, the one source that names the employee and span of
//! a revert whose approval was never pushed. A lenient mirror: every field
//! optional, numbers may come as text.

use attendance_adapter_kit::api::HttpError;
use serde::Deserialize;
use serde_json::Value;

use super::{ApiError, FeishuApi};
use crate::wire::text;

/// The `data` of an instance read, as far as the hub reads it: the
/// submitter and the form (the status is the revert's to state).
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
pub struct ApprovalInstance {
    /// The submitter, as `user_id_type` asks (`user_id`, the employee id
    /// of the attendance API).
    #[serde(default, deserialize_with = "text")]
    pub user_id: String,
    #[serde(default, deserialize_with = "text")]
    pub open_id: String,
    /// The form's widgets, as a JSON text.
    #[serde(default, deserialize_with = "text")]
    pub form: String,
    /// The `data` as Feishu sent it, for the fact's raw JSON.
    #[serde(skip)]
    pub raw: Value,
}

impl FeishuApi {
    /// One approval instance by its code, the submitter named by user id.
    pub async fn get_approval_instance(
        &self,
        instance_code: &str,
    ) -> Result<ApprovalInstance, ApiError> {
        let path = format!("/open-apis/approval/v4/instances/{instance_code}");
        let raw: Value = self
            .call(
                reqwest::Method::GET,
                &path,
                &[("user_id_type", "user_id".into())],
                None,
            )
            .await?;
        let mut instance =
            ApprovalInstance::deserialize(&raw).map_err(|error| HttpError::Decode {
                path: path.clone(),
                reason: error.to_string(),
            })?;
        instance.raw = raw;
        Ok(instance)
    }
}
