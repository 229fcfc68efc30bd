//! Approval instances read together (pure): each instance's approval, as
//! [`approval_from_instance`] reads it, then what the instances say of one
//! another. DingTalk never changes an approved instance: revoking it (撤销,
//! `bizAction` `REVOKE`) or modifying it (`MODIFY`) starts a new instance
//! linked to it by `mainProcessInstanceId` / `attachedProcessInstanceIds`
//! (approvals protocol §2.5, pitfall 8). So:
//!
//! - a `REVOKE` instance that completed agreed withdraws the approved
//!   instance it names (`status_original` `…; revoked by <id>`);
//! - a `MODIFY` instance that completed agreed supersedes it the same way
//!   (`…; modified by <id>`), and is itself the approval as it now stands;
//! - a `REVOKE` instance is never an approval of its own, whatever its
//!   state: it is kept, under its own id as its events are, WITHDRAWN with
//!   `status_original` `REVOKE <status>/<result>`, so payroll never counts
//!   its period twice and a push that stated it approved is corrected.
//!
//! A link counts in either direction (the documentation does not say which
//! side lists which), but never from an instance to one created after it.

use std::collections::BTreeMap;

use attendance_proto::v1::{Approval, ApprovalKind, ApprovalStatus};
use chrono::{DateTime, NaiveDateTime, Utc};
use serde_json::Value;

use super::{approval_from_instance, InstanceHint, PullSource};

/// One instance as `processInstances` answered it, with what is known of
/// its kind (the event's, or the listed template's process code).
#[derive(Clone, Debug)]
pub struct ReadInstance {
    pub hint: InstanceHint,
    /// The answer's `result` object.
    pub value: Value,
}

/// What an instance says it did to another (`bizAction`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BizAction {
    /// `NONE` or absent: an approval request of its own.
    None,
    /// Made by modifying an earlier instance.
    Modify,
    /// Made to revoke an earlier, approved instance.
    Revoke,
}

pub fn biz_action(instance: &Value) -> BizAction {
    match instance["bizAction"]
        .as_str()
        .unwrap_or_default()
        .to_ascii_uppercase()
        .as_str()
    {
        "MODIFY" => BizAction::Modify,
        "REVOKE" => BizAction::Revoke,
        _ => BizAction::None,
    }
}

/// The other instances `instance` (whose id is `id`) names: its main
/// instance and its attached ones.
pub fn linked_ids(id: &str, instance: &Value) -> Vec<String> {
    let main = instance["mainProcessInstanceId"].as_str().into_iter();
    let attached = instance["attachedProcessInstanceIds"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str);
    let mut ids: Vec<String> = main
        .chain(attached)
        .map(str::trim)
        .filter(|other| !other.is_empty() && *other != id)
        .map(str::to_owned)
        .collect();
    ids.sort();
    ids.dedup();
    ids
}

/// `createTime` (`2022-08-31T11:52Z`, minute precision, or with seconds).
fn created(instance: &Value) -> Option<DateTime<Utc>> {
    let text = instance["createTime"].as_str()?.trim();
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .ok()
        .or_else(|| {
            NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%MZ")
                .ok()
                .map(|t| t.and_utc())
        })
}

/// The approvals `instances` (by id) describe, revocations and
/// modifications applied, in id order. An instance with no known kind (not
/// stated, not configured, no leave suite) borrows the kind of an instance
/// it is linked to: a revocation of a leave is about that leave.
pub fn approvals_from_instances(
    pull: &PullSource,
    process_kinds: &BTreeMap<String, ApprovalKind>,
    instances: &BTreeMap<String, ReadInstance>,
) -> Vec<Approval> {
    let links: BTreeMap<&str, Vec<String>> = instances
        .iter()
        .map(|(id, read)| (id.as_str(), linked_ids(id, &read.value)))
        .collect();
    let related = |a: &str, b: &str| {
        links.get(a).is_some_and(|l| l.iter().any(|x| x == b))
            || links.get(b).is_some_and(|l| l.iter().any(|x| x == a))
    };
    let mut approvals: BTreeMap<&str, Approval> = instances
        .iter()
        .filter_map(|(id, read)| {
            let approval = approval_from_instance(pull, &read.hint, process_kinds, &read.value)?;
            Some((id.as_str(), approval))
        })
        .collect();
    for (id, read) in instances {
        if approvals.contains_key(id.as_str()) {
            continue;
        }
        let borrowed = approvals
            .iter()
            .find(|(other, _)| related(id, other))
            .and_then(|(_, linked)| {
                Some(InstanceHint {
                    kind: ApprovalKind::try_from(linked.kind).ok()?,
                    kind_original: linked.kind_original.clone(),
                    ..read.hint.clone()
                })
            });
        let approval = borrowed
            .and_then(|hint| approval_from_instance(pull, &hint, process_kinds, &read.value));
        if let Some(approval) = approval {
            approvals.insert(id.as_str(), approval);
        }
    }
    let approved = |approval: &Approval| approval.status == ApprovalStatus::Approved as i32;
    // Each change an agreed REVOKE or MODIFY makes to an earlier instance.
    let mut changes: Vec<(String, String)> = Vec::new();
    for (id, read) in instances {
        let action = biz_action(&read.value);
        if action == BizAction::None || !approvals.get(id.as_str()).is_some_and(approved) {
            continue;
        }
        let verb = match action {
            BizAction::Revoke => "revoked",
            _ => "modified",
        };
        for target in instances
            .keys()
            .filter(|other| *other != id && related(id, other))
        {
            let later = match (created(&instances[target].value), created(&read.value)) {
                (Some(target), Some(this)) => target > this,
                _ => false,
            };
            if later || biz_action(&instances[target].value) == BizAction::Revoke {
                continue;
            }
            changes.push((target.clone(), format!("{verb} by {id}")));
        }
    }
    for (target, why) in changes {
        if let Some(approval) = approvals.get_mut(target.as_str()).filter(|a| approved(a)) {
            approval.status = ApprovalStatus::Withdrawn as i32;
            approval.status_original = format!("{}; {why}", approval.status_original);
        }
    }
    for (id, read) in instances {
        if biz_action(&read.value) != BizAction::Revoke {
            continue;
        }
        if let Some(approval) = approvals.get_mut(id.as_str()) {
            approval.status = ApprovalStatus::Withdrawn as i32;
            approval.status_original = format!("REVOKE {}", approval.status_original);
        }
    }
    approvals.into_values().collect()
}
