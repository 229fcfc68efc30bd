//! Approvals in a reconciliation pass: every instance of every template the
//! app maps in `process_kinds`, listed by creation time
//! (`instanceIds/query`) from `approval_lookback_days` before the pass's
//! first day to the pass's start, then read one by one
//! (`processInstances`), with the instances they revoke or modify, and
//! resolved together ([`approvals_from_instances`]).
//!
//! A pass is cut into spans of 7 days, but the listing runs once per pass
//! (the first span lists far enough back for every later one) and is kept
//! for the pass's later spans, so no instance is read twice in a pass. A
//! pass over the whole tenant lists every originator at once; a targeted
//! pass lists its employees, 10 to a call.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

use attendance_adapter_kit::reconcile::{local_midnight, Pulled, Window};
use attendance_proto::ingest::Fact;
use attendance_proto::v1::{Approval, ApprovalKind};
use attendance_proto::Timestamp;
use chrono::{DateTime, Duration, NaiveDate, Utc};
use chrono_tz::Tz;
use futures::StreamExt;

use crate::api::{
    ApiError, DingTalkApi, InstanceIdQuery, MAX_INSTANCE_LIST_AGE_DAYS, MAX_INSTANCE_LIST_DAYS,
    MAX_ORIGINATORS_PER_CALL,
};
use crate::pull::{approvals_from_instances, linked_ids, InstanceHint, PullSource, ReadInstance};

/// Instances read at once (the app's pacer still bounds the rate).
const READS_IN_FLIGHT: usize = 8;
/// Listing starts this much after DingTalk's 365-day bound, so a request
/// sent a moment later is still inside it.
const AGE_MARGIN: Duration = Duration::hours(1);
/// Passes whose listing is kept (one pass of an app runs at a time).
const PASSES_KEPT: usize = 2;

/// One pass's approvals of one tenant.
#[derive(Debug)]
pub struct PassApprovals {
    key: PassKey,
    /// Instances created from here on were listed.
    listed_from: DateTime<Utc>,
    /// Every approval the listed instances (and those they link) describe.
    pub approvals: Vec<Approval>,
    /// False when some listing or instance could not be read: the pass
    /// then covered not every approval of its employees.
    pub complete: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct PassKey {
    tenant: String,
    received: (i64, i32),
    whole_tenant: bool,
    employees: Vec<String>,
}

/// An app's approval side of reconciliation.
pub struct ApprovalPuller {
    api: Arc<DingTalkApi>,
    zone: Tz,
    /// The templates listed, and the kind of each.
    process_kinds: BTreeMap<String, ApprovalKind>,
    lookback_days: u32,
    passes: Mutex<Vec<Arc<PassApprovals>>>,
}

impl ApprovalPuller {
    pub fn new(
        api: Arc<DingTalkApi>,
        zone: Tz,
        process_kinds: BTreeMap<String, ApprovalKind>,
        lookback_days: u32,
    ) -> ApprovalPuller {
        ApprovalPuller {
            api,
            zone,
            process_kinds,
            lookback_days,
            passes: Mutex::new(Vec::new()),
        }
    }

    /// Adds to `pulled` the approvals of `employees` whose period touches
    /// `span`, in each day of `span` it touches.
    pub async fn pull_span(
        &self,
        pull: &PullSource,
        employees: &[String],
        span: Window,
        whole_tenant: bool,
        pulled: &mut Pulled,
    ) -> Result<(), ApiError> {
        if self.process_kinds.is_empty() || employees.is_empty() {
            return Ok(());
        }
        let found = self.for_span(pull, employees, span, whole_tenant).await?;
        if !found.complete {
            pulled.complete = false;
        }
        bucket(&found.approvals, employees, span, pull, pulled);
        Ok(())
    }

    async fn for_span(
        &self,
        pull: &PullSource,
        employees: &[String],
        span: Window,
        whole_tenant: bool,
    ) -> Result<Arc<PassApprovals>, ApiError> {
        let span_start = instant(local_midnight(self.zone, span.first));
        let needed_from = span_start - Duration::days(i64::from(self.lookback_days));
        let key = PassKey {
            tenant: pull.tenant.clone(),
            received: (pull.received_time.seconds, pull.received_time.nanos),
            whole_tenant,
            employees: employees.to_vec(),
        };
        let cached = self
            .passes
            .lock()
            .expect("pass cache lock")
            .iter()
            .find(|p| p.key == key && p.listed_from <= needed_from)
            .cloned();
        if let Some(cached) = cached {
            return Ok(cached);
        }
        let found = Arc::new(
            self.list_and_read(pull, key, needed_from, span_start)
                .await?,
        );
        let mut passes = self.passes.lock().expect("pass cache lock");
        passes.retain(|p| p.key.received == found.key.received);
        passes.push(found.clone());
        while passes.len() > PASSES_KEPT {
            passes.remove(0);
        }
        Ok(found)
    }

    async fn list_and_read(
        &self,
        pull: &PullSource,
        key: PassKey,
        needed_from: DateTime<Utc>,
        span_start: DateTime<Utc>,
    ) -> Result<PassApprovals, ApiError> {
        let now = instant(pull.received_time.seconds);
        let earliest = now - Duration::days(MAX_INSTANCE_LIST_AGE_DAYS) + AGE_MARGIN;
        let mut complete = true;
        if span_start < earliest {
            tracing::warn!(app = %pull.app, %span_start, "approvals created before DingTalk's 365-day listing bound cannot be listed; the days are not covered");
            complete = false;
        }
        let from = needed_from.max(earliest);
        let batches: Vec<&[String]> = if key.whole_tenant {
            vec![&[][..]]
        } else {
            key.employees.chunks(MAX_ORIGINATORS_PER_CALL).collect()
        };
        // id → the template it was listed under.
        let mut listed: BTreeMap<String, String> = BTreeMap::new();
        for code in self.process_kinds.keys() {
            let mut chunk_from = from;
            while chunk_from < now {
                let chunk_to = (chunk_from + Duration::days(MAX_INSTANCE_LIST_DAYS)).min(now);
                for originators in &batches {
                    let query = InstanceIdQuery {
                        process_code: code,
                        from: chunk_from,
                        to: chunk_to,
                        originators,
                    };
                    match self.api.instance_ids(query).await {
                        Ok(ids) => {
                            if ids.cut {
                                tracing::warn!(app = %pull.app, process_code = %code, "over 10 000 instances in 120 days: the rest are not listed");
                                complete = false;
                            }
                            for id in ids.ids {
                                listed.entry(id).or_insert_with(|| code.clone());
                            }
                        }
                        Err(refused @ (ApiError::Refused { .. } | ApiError::Request(_))) => {
                            tracing::warn!(app = %pull.app, process_code = %code, error = %refused, "approval instances not listed; the pass covers not every approval");
                            complete = false;
                        }
                        Err(error) => return Err(error),
                    }
                }
                chunk_from = chunk_to;
            }
        }
        let hints = listed.into_iter().map(|(id, process_code)| InstanceHint {
            instance_id: id,
            process_code,
            ..InstanceHint::default()
        });
        let read = read_instances(&self.api, hints).await?;
        if !read.complete {
            complete = false;
        }
        let approvals = approvals_from_instances(pull, &self.process_kinds, &read.instances);
        tracing::info!(app = %pull.app, tenant = %pull.tenant, instances = read.instances.len(), approvals = approvals.len(), complete, "approval instances listed and read");
        Ok(PassApprovals {
            key,
            listed_from: needed_from,
            approvals,
            complete,
        })
    }
}

/// Instances read, and whether every one that was asked for (or linked) read.
pub struct ReadSet {
    pub instances: BTreeMap<String, ReadInstance>,
    pub complete: bool,
}

/// Reads every instance of `hints`, then every instance they link to that
/// is not among them (one hop: the instance a revocation names, or the
/// revocations an instance lists), under the hint of the one that named it.
/// An instance DingTalk refuses to show (`processInstanceNotExist`, ...) is
/// left out and the set is incomplete; a transient failure past its retries
/// fails the whole read.
pub(crate) async fn read_instances(
    api: &DingTalkApi,
    hints: impl IntoIterator<Item = InstanceHint>,
) -> Result<ReadSet, ApiError> {
    let mut set = ReadSet {
        instances: BTreeMap::new(),
        complete: true,
    };
    let mut wanted: Vec<InstanceHint> = hints.into_iter().collect();
    for _hop in 0..2 {
        let reads: Vec<_> = futures::stream::iter(wanted.into_iter().map(|hint| async move {
            let answer = api.process_instance(&hint.instance_id).await;
            (hint, answer)
        }))
        .buffer_unordered(READS_IN_FLIGHT)
        .collect()
        .await;
        for (hint, answer) in reads {
            match answer {
                Ok(value) => {
                    set.instances
                        .insert(hint.instance_id.clone(), ReadInstance { hint, value });
                }
                Err(refused @ ApiError::Refused { .. }) => {
                    tracing::warn!(instance = %hint.instance_id, error = %refused, "approval instance not readable");
                    set.complete = false;
                }
                Err(error) => return Err(error),
            }
        }
        let mut next: BTreeMap<String, InstanceHint> = BTreeMap::new();
        for (id, read) in &set.instances {
            for linked in linked_ids(id, &read.value) {
                if !set.instances.contains_key(&linked) {
                    next.entry(linked.clone()).or_insert_with(|| InstanceHint {
                        instance_id: linked,
                        ..read.hint.clone()
                    });
                }
            }
        }
        wanted = next.into_values().collect();
        if wanted.is_empty() {
            break;
        }
    }
    Ok(set)
}

fn instant(seconds: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(seconds, 0).unwrap_or_default()
}

/// The work days an approval's period touches: from its start's date to the
/// date of the last instant before its end (a leave ending at midnight
/// ends the day before).
fn days_of(approval: &Approval, pull: &PullSource) -> Option<(NaiveDate, NaiveDate)> {
    let start = approval.start_time?;
    let first = pull.local_date(&start)?;
    let last = match approval.end_time {
        Some(end) if end.seconds > start.seconds => pull.local_date(&Timestamp {
            seconds: end.seconds - 1,
            nanos: 0,
        })?,
        _ => first,
    };
    Some((first, last))
}

/// Puts each approval of `employees` into every day of `span` its period
/// touches, so the day's fingerprint covers it. An approval whose period
/// did not read touches no day.
pub fn bucket(
    approvals: &[Approval],
    employees: &[String],
    span: Window,
    pull: &PullSource,
    pulled: &mut Pulled,
) {
    let employees: BTreeSet<&str> = employees.iter().map(String::as_str).collect();
    for approval in approvals {
        if !employees.contains(approval.employee_id.as_str()) {
            continue;
        }
        let Some((first, last)) = days_of(approval, pull) else {
            tracing::debug!(instance = %approval.instance_id, "approval without a readable period: no day");
            continue;
        };
        let mut day = first.max(span.first);
        while day <= last.min(span.last) {
            if let Some(facts) = pulled.days.get_mut(&day) {
                facts.push(Fact::Approval(approval.clone()));
            }
            let Some(next) = day.succ_opt() else { break };
            day = next;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pull() -> PullSource {
        PullSource {
            app: "a".into(),
            app_id: "k".into(),
            tenant: "corp".into(),
            zone: chrono_tz::Asia::Shanghai,
            received_time: Timestamp::default(),
        }
    }

    fn day(d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(2024, 3, d).unwrap()
    }

    fn at(pull: &PullSource, text: &str) -> Option<Timestamp> {
        pull.approval_time(text, crate::pull::SpanEdge::Start)
    }

    #[test]
    fn an_approval_lands_in_every_day_of_the_span_it_touches_and_no_other() {
        let pull = pull();
        let leave = Approval {
            employee_id: "u1".into(),
            instance_id: "i1".into(),
            start_time: at(&pull, "2024-03-03 09:00"),
            // Ends at midnight: the 6th is not touched.
            end_time: at(&pull, "2024-03-06 00:00"),
            ..Approval::default()
        };
        let other = Approval {
            employee_id: "someone-else".into(),
            ..leave.clone()
        };
        let no_period = Approval {
            employee_id: "u1".into(),
            ..Approval::default()
        };
        let span = Window {
            first: day(4),
            last: day(10),
        };
        let mut pulled = Pulled::empty(span);
        bucket(
            &[leave, other, no_period],
            &["u1".to_owned()],
            span,
            &pull,
            &mut pulled,
        );
        let filled: Vec<NaiveDate> = pulled
            .days
            .iter()
            .filter(|(_, facts)| !facts.is_empty())
            .map(|(d, facts)| {
                assert_eq!(facts.len(), 1);
                *d
            })
            .collect();
        assert_eq!(filled, vec![day(4), day(5)]);
    }

    #[test]
    fn a_point_in_time_approval_touches_its_day() {
        let pull = pull();
        let correction = Approval {
            employee_id: "u1".into(),
            start_time: at(&pull, "2024-03-05 09:00"),
            ..Approval::default()
        };
        assert_eq!(days_of(&correction, &pull), Some((day(5), day(5))));
    }
}
