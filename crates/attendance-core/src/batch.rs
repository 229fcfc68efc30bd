//! One group commit, decided inside its transaction: delivery dedup, then,
//! under the log's append lock, every fact matched to what is stored (its
//! business key or any of its matching keys), ordered by the vendor's
//! version, completed from the stored revision, and classified as new,
//! unchanged, a correction or an enrichment. Each engine supplies the
//! statements ([`WriteTx`]); the decisions are made here, once, for both.

use std::collections::{HashMap, HashSet};

use async_trait::async_trait;
use attendance_proto::ingest::{Delivery, Fact, Job, Receipt, Recognition};
use attendance_proto::v1::RevisionKind;
use sha2::{Digest, Sha256};

use crate::fact::{
    amends_only, column_text, complete_from_previous, content_hash, decode_fact, encode_revision,
    matching_keys, payroll_hash, received_time, row_of, set_business_key, take_raw_json,
    version_of, FactRow, Identity,
};
use crate::StoreError;

/// A delivery's row in `deliveries`, the durable dedup of vendor event ids.
pub(crate) struct DeliveryRow {
    pub vendor: i16,
    pub event_id: String,
    pub app: String,
    pub tenant: String,
    pub channel: i16,
    pub event_type: String,
    pub recognition: &'static str,
    pub problem: String,
    pub received_at_us: i64,
    /// Index into [`Batch::raws`].
    pub raw: Option<usize>,
}

/// One fact of a delivery, ready to be decided on.
pub(crate) struct PendingFact {
    pub fact: Fact,
    pub identity: Identity,
    /// Every key the fact may be stored under: its business key first.
    pub keys: Vec<String>,
    pub version: Option<i64>,
    pub received_at_us: i64,
    pub raw: Option<usize>,
}

/// One delivery of a batch.
pub(crate) struct Pending {
    /// `None` for pulls, which business keys alone deduplicate.
    pub delivery: Option<DeliveryRow>,
    pub facts: Vec<PendingFact>,
    /// Queued only when the delivery is new.
    pub jobs: Vec<Job>,
}

/// What one group commit writes: deliveries, and raw JSON stored once.
#[derive(Default)]
pub(crate) struct Batch {
    pub items: Vec<Pending>,
    /// Raw vendor JSON, each text once; deliveries and facts point here.
    pub raws: Vec<(String, i64)>,
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl Batch {
    /// Adds a delivery: its raw JSON is moved out (once per distinct text)
    /// and its facts are keyed.
    pub fn push(&mut self, mut delivery: Delivery, now_us: i64) {
        let event_id =
            if delivery.event_id.is_empty() && delivery.recognition != Recognition::Translated {
                // Raw events must be kept even without an id; their content names them.
                format!(
                    "sha256:{}",
                    hex(&Sha256::digest(delivery.raw_json.as_bytes()))
                )
            } else {
                std::mem::take(&mut delivery.event_id)
            };
        let delivery_raw = (!delivery.raw_json.is_empty()).then(|| {
            self.raws.push((column_text(&delivery.raw_json), now_us));
            self.raws.len() - 1
        });
        let row = (!event_id.is_empty()).then(|| {
            let (recognition, problem) = match &delivery.recognition {
                Recognition::Translated => ("translated", String::new()),
                Recognition::Unknown => ("unknown", String::new()),
                Recognition::Untranslatable(reason) => ("untranslatable", reason.clone()),
            };
            DeliveryRow {
                vendor: delivery.vendor as i16,
                event_id: column_text(&event_id),
                app: column_text(&delivery.app),
                tenant: column_text(&delivery.tenant),
                channel: delivery.channel as i16,
                event_type: column_text(&delivery.event_type),
                recognition,
                problem: column_text(&problem),
                received_at_us: now_us,
                raw: delivery_raw,
            }
        });
        let mut facts = Vec::with_capacity(delivery.facts.len());
        let mut own_raws: HashMap<String, usize> = HashMap::new();
        for mut fact in delivery.facts {
            let raw_json = column_text(&take_raw_json(&mut fact));
            let raw = if raw_json.is_empty() {
                None
            } else if delivery_raw.is_some_and(|i| self.raws[i].0 == raw_json) {
                delivery_raw
            } else if let Some(&i) = own_raws.get(&raw_json) {
                Some(i)
            } else {
                self.raws.push((raw_json.clone(), now_us));
                own_raws.insert(raw_json, self.raws.len() - 1);
                Some(self.raws.len() - 1)
            };
            let row = row_of(&fact);
            let mut keys = vec![row.business_key.clone()];
            for key in matching_keys(&fact).iter().map(|k| column_text(k)) {
                if !key.is_empty() && !keys.contains(&key) {
                    keys.push(key);
                }
            }
            facts.push(PendingFact {
                identity: row.identity(),
                keys,
                version: version_of(&fact),
                received_at_us: received_time(&fact).unwrap_or(now_us),
                raw,
                fact,
            });
        }
        self.items.push(Pending {
            delivery: row,
            facts,
            jobs: std::mem::take(&mut delivery.jobs)
                .into_iter()
                .map(|job| Job {
                    queue: column_text(&job.queue),
                    key: column_text(&job.key),
                    payload: column_text(&job.payload),
                })
                .collect(),
        });
    }
}

/// The current revision of a stored fact, as the batch needs it.
pub(crate) struct StoredFact {
    pub identity: Identity,
    pub revision: i64,
    pub content_hash: Vec<u8>,
    /// `None` for rows written before payroll fingerprints existed.
    pub payroll_hash: Option<Vec<u8>>,
    pub version: Option<i64>,
    pub body: Vec<u8>,
}

/// A log entry to append.
pub(crate) struct LogRow {
    pub seq: i64,
    pub kind: i16,
    pub vendor: i16,
    pub app: String,
    pub tenant: String,
    pub employee_id: String,
    pub business_key: String,
    pub revision: i64,
    pub revision_kind: i16,
    pub occurred_at_us: i64,
    pub received_at_us: i64,
    pub raw_id: Option<i64>,
    pub body: Vec<u8>,
}

/// A `facts` row to insert or replace.
pub(crate) struct FactUpsert {
    pub identity: Identity,
    pub revision: i64,
    pub content_hash: Vec<u8>,
    pub payroll_hash: Vec<u8>,
    pub version: Option<i64>,
    pub log_seq: i64,
    pub employee_id: String,
    pub sort_key: String,
    pub start_at_us: i64,
    pub end_at_us: i64,
    pub work_date: String,
    pub raw_id: Option<i64>,
    pub body: Vec<u8>,
}

/// An employee seen in a committed fact.
#[derive(Clone, PartialEq, Eq, Hash)]
pub(crate) struct EmployeeSeen {
    pub vendor: i16,
    pub app: String,
    pub tenant: String,
    pub employee_id: String,
    pub at_us: i64,
}

/// What a batch reads before it decides: which of its deliveries are new,
/// and what their facts may meet.
#[derive(Default)]
pub(crate) struct Opened {
    /// The ids of [`Batch::raws`], in order.
    pub raw_ids: Vec<i64>,
    /// (vendor, event id) of the deliveries inserted, i.e. not duplicates.
    pub inserted: HashSet<(i16, String)>,
    /// Aliases found: another key of a fact, and the key it is stored under.
    pub aliases: Vec<(Identity, String)>,
    pub facts: Vec<StoredFact>,
}

/// Everything a batch writes once it has decided, in one go.
#[derive(Default)]
pub(crate) struct Writes<'a> {
    /// (id, received µs, JSON) of the raw documents to store.
    pub raws: Vec<(i64, i64, &'a str)>,
    pub log: Vec<LogRow>,
    /// The current revision of every identity the batch changed.
    pub facts: Vec<FactUpsert>,
    /// Facts a newer version confirmed unchanged: their version moves.
    pub versions: Vec<(Identity, i64)>,
    /// Aliases: `.0.business_key` is another key of the fact stored under `.1`.
    pub keys: Vec<(Identity, String)>,
    pub employees: Vec<EmployeeSeen>,
    /// (vendor, event id, facts superseded) per delivery.
    pub superseded: Vec<(i16, String, i64)>,
    /// Jobs of the new deliveries, due from `jobs_due_us`.
    pub jobs: Vec<&'a Job>,
    pub jobs_due_us: i64,
}

impl Writes<'_> {
    /// Whether subscribers (on every replica) have something to read.
    pub fn appends(&self) -> bool {
        !self.log.is_empty()
    }
}

/// The identities a batch's facts may be stored under, given which of its
/// deliveries are new (`None`: all of them, for an engine that reads before
/// it knows).
pub(crate) type Wanted<'a> =
    dyn Fn(Option<&HashSet<(i16, String)>>) -> Vec<Identity> + Send + Sync + 'a;

/// The statements of one engine for one batch, in three phases; each engine
/// makes each phase as few round trips as it can.
#[async_trait]
pub(crate) trait WriteTx: Send {
    /// Begins the transaction, takes ids for the batch's `raw_count` raw
    /// documents, inserts the deliveries whose (vendor, event id) is new
    /// (each row's raw document is an index into those ids), and reads the
    /// aliases and stored facts of the identities `wanted` names. Fact decisions are serialized across writers from here
    /// to the commit (PostgreSQL takes its append lock after the inserts, so
    /// duplicates never wait for it, and only when a new delivery has facts).
    async fn open(
        &mut self,
        deliveries: &[&DeliveryRow],
        raw_count: usize,
        wanted: &Wanted<'_>,
    ) -> Result<Opened, StoreError>;
    /// Facts stored under `ids`, for aliases that point outside what `open` read.
    async fn load_facts(&mut self, ids: &[Identity]) -> Result<Vec<StoredFact>, StoreError>;
    /// `n` fresh log sequence numbers, ascending, taken after `open`.
    async fn allocate_seqs(&mut self, n: usize) -> Result<Vec<i64>, StoreError>;
    /// Writes everything and commits (waking other replicas' subscribers
    /// when the log grew).
    async fn finish(&mut self, writes: &Writes<'_>) -> Result<(), StoreError>;
}

/// The state of one identity while a batch is decided.
struct Current {
    revision: i64,
    content_hash: Vec<u8>,
    payroll_hash: Vec<u8>,
    version: Option<i64>,
    body: Vec<u8>,
}

impl Current {
    fn from_stored(stored: StoredFact) -> Result<Current, StoreError> {
        // Rows written before payroll fingerprints (and before fingerprints
        // left the app out) are fingerprinted again, so an upgrade makes no
        // spurious revision.
        let (content_hash, payroll_hash) = match stored.payroll_hash {
            Some(payroll) => (stored.content_hash, payroll),
            None => {
                let fact = decode_fact(stored.identity.kind, &stored.body)?;
                (content_hash(&fact), payroll_hash(&fact))
            }
        };
        Ok(Current {
            revision: stored.revision,
            content_hash,
            payroll_hash,
            version: stored.version,
            body: stored.body,
        })
    }
}

/// A reconciliation pass that applied differences to a day signals it again,
/// even though the signal itself says nothing new.
fn resignals(fact: &Fact) -> bool {
    matches!(fact, Fact::DayReconciled(d) if d.differences_applied > 0)
}

/// The identities the facts of the live items may be stored under: every
/// key of every fact.
fn wanted_identities(batch: &Batch, live: &[bool]) -> Vec<Identity> {
    let mut wanted: Vec<Identity> = Vec::new();
    let mut seen: HashSet<Identity> = HashSet::new();
    for (item, _) in batch.items.iter().zip(live).filter(|(_, l)| **l) {
        for pending in &item.facts {
            for key in &pending.keys {
                let id = pending.identity.with_key(key);
                if seen.insert(id.clone()) {
                    wanted.push(id);
                }
            }
        }
    }
    wanted
}

/// Which items are live: not a repeat of an earlier item's delivery id, and
/// (once known) not a duplicate of a stored delivery.
fn live_items(batch: &Batch, inserted: Option<&HashSet<(i16, String)>>) -> Vec<bool> {
    let mut first_of: HashSet<(i16, &str)> = HashSet::new();
    batch
        .items
        .iter()
        .map(|item| match &item.delivery {
            None => true,
            Some(row) => {
                first_of.insert((row.vendor, &row.event_id))
                    && inserted.is_none_or(|new| new.contains(&(row.vendor, row.event_id.clone())))
            }
        })
        .collect()
}

/// Decides and writes one batch through `tx`, and commits it; one receipt
/// per item, in order. Only after this returned may any receipt be
/// answered.
pub(crate) async fn apply<T: WriteTx>(
    tx: &mut T,
    batch: &mut Batch,
) -> Result<Vec<Receipt>, StoreError> {
    // Delivery dedup; rows go in key order, so two writers never wait on
    // each other's rows in opposite orders.
    let unique = live_items(batch, None);
    let mut rows: Vec<&DeliveryRow> = batch
        .items
        .iter()
        .zip(&unique)
        .filter(|(_, unique)| **unique)
        .filter_map(|(item, _)| item.delivery.as_ref())
        .collect();
    rows.sort_by(|a, b| (a.vendor, &a.event_id).cmp(&(b.vendor, &b.event_id)));
    let mut opened = {
        let view: &Batch = batch;
        let wanted = move |inserted: Option<&HashSet<(i16, String)>>| {
            wanted_identities(view, &live_items(view, inserted))
        };
        tx.open(&rows, view.raws.len(), &wanted).await?
    };
    let raw_ids = std::mem::take(&mut opened.raw_ids);
    let live = live_items(batch, Some(&opened.inserted));
    let mut receipts: Vec<Receipt> = live
        .iter()
        .zip(&batch.items)
        .map(|(live, item)| Receipt {
            duplicate_delivery: !live && item.delivery.is_some(),
            ..Receipt::default()
        })
        .collect();
    let mut raw_needed = vec![false; batch.raws.len()];
    for (item, _) in batch.items.iter().zip(&live).filter(|(_, l)| **l) {
        if let Some(raw) = item.delivery.as_ref().and_then(|d| d.raw) {
            raw_needed[raw] = true;
        }
    }
    let mut writes = Writes::default();
    if batch
        .items
        .iter()
        .zip(&live)
        .any(|(item, live)| *live && !item.facts.is_empty())
    {
        decide_facts(
            tx,
            batch,
            &live,
            opened,
            &raw_ids,
            &mut raw_needed,
            &mut receipts,
            &mut writes,
        )
        .await?;
    }
    writes.raws = batch
        .raws
        .iter()
        .enumerate()
        .filter(|(i, _)| raw_needed[*i])
        .map(|(i, (json, at))| (raw_ids[i], *at, json.as_str()))
        .collect();
    writes.jobs = batch
        .items
        .iter()
        .zip(&live)
        .filter(|(_, live)| **live)
        .flat_map(|(item, _)| &item.jobs)
        .collect();
    writes.jobs_due_us = crate::time::now_micros();
    writes.superseded = batch
        .items
        .iter()
        .zip(&receipts)
        .filter(|(_, r)| r.superseded > 0)
        .filter_map(|(item, r)| {
            let d = item.delivery.as_ref()?;
            Some((d.vendor, d.event_id.clone(), r.superseded as i64))
        })
        .collect();
    tx.finish(&writes).await?;
    Ok(receipts)
}

/// The fact half of [`apply`]: every fact of a live item, in batch order,
/// matched, ordered, completed and classified into `writes`.
#[allow(clippy::too_many_arguments)]
async fn decide_facts<T: WriteTx>(
    tx: &mut T,
    batch: &mut Batch,
    live: &[bool],
    opened: Opened,
    raw_ids: &[i64],
    raw_needed: &mut [bool],
    receipts: &mut [Receipt],
    writes: &mut Writes<'_>,
) -> Result<(), StoreError> {
    let mut alias_of: HashMap<Identity, String> = opened.aliases.into_iter().collect();
    let mut current: HashMap<Identity, Current> = HashMap::new();
    for stored in opened.facts {
        current.insert(stored.identity.clone(), Current::from_stored(stored)?);
    }
    // A key that is an alias points at a fact stored under another key.
    let owners: Vec<Identity> = alias_of
        .iter()
        .map(|(id, owner)| id.with_key(owner))
        .filter(|owner| !current.contains_key(owner))
        .collect::<HashSet<_>>()
        .into_iter()
        .collect();
    if !owners.is_empty() {
        for stored in tx.load_facts(&owners).await? {
            current.insert(stored.identity.clone(), Current::from_stored(stored)?);
        }
    }

    // In batch order, so a later delivery sees what an earlier one decided.
    struct Appended {
        identity: Identity,
        row: FactRow,
        revision: i64,
        revision_kind: RevisionKind,
        content_hash: Vec<u8>,
        payroll_hash: Vec<u8>,
        version: Option<i64>,
        received_at_us: i64,
        raw: Option<usize>,
        body: Vec<u8>,
    }
    let mut appended: Vec<Appended> = Vec::new();
    let mut new_keys: Vec<(Identity, String)> = Vec::new();
    let mut version_moves: HashMap<Identity, i64> = HashMap::new();
    let mut employees: HashMap<(i16, String, String, String), i64> = HashMap::new();
    for (index, item) in batch.items.iter_mut().enumerate() {
        if !live[index] {
            continue;
        }
        let delivery_app = item.delivery.as_ref().map(|d| d.app.clone());
        for pending in item.facts.drain(..) {
            let PendingFact {
                mut fact,
                identity,
                keys,
                version,
                received_at_us,
                raw,
            } = pending;
            // The key stored first wins: a push and a pull of one punch, in
            // one batch or two, become one fact. Its other keys become
            // aliases of that key, so whatever arrives next under any of
            // them meets it too.
            let owner = keys
                .iter()
                .find_map(|k| {
                    let id = identity.with_key(k);
                    alias_of
                        .get(&id)
                        .cloned()
                        .or_else(|| current.contains_key(&id).then(|| k.clone()))
                })
                .unwrap_or_else(|| identity.business_key.clone());
            let canonical = identity.with_key(&owner);
            if !current.contains_key(&canonical) && amends_only(&fact) {
                // Nothing to amend: payroll never sees an approval without
                // its employee. The delivery keeps it raw.
                receipts[index].set_aside += 1;
                continue;
            }
            if owner != identity.business_key {
                set_business_key(&mut fact, &owner);
            }
            for key in keys.iter().filter(|k| **k != owner) {
                let id = identity.with_key(key);
                if !alias_of.contains_key(&id) {
                    alias_of.insert(id.clone(), owner.clone());
                    new_keys.push((id, owner.clone()));
                }
            }
            let stored = current.get(&canonical);
            if let (Some(stored), Some(version)) = (stored, version) {
                if stored.version.is_some_and(|v| version < v) {
                    // Vendor order, not arrival order: an older version is
                    // kept raw with its delivery and counted, never applied.
                    receipts[index].superseded += 1;
                    continue;
                }
            }
            let mut all_keys = keys.clone();
            if let Some(stored) = stored {
                complete_from_previous(&mut fact, &stored.body)?;
                for key in stored_matching_keys(canonical.kind, &stored.body)? {
                    if !all_keys.contains(&key) {
                        all_keys.push(key);
                    }
                }
            }
            let content = content_hash(&fact);
            let payroll = payroll_hash(&fact);
            let revision_kind = match stored {
                Some(stored) if stored.content_hash == content && !resignals(&fact) => {
                    receipts[index].unchanged += 1;
                    if let Some(version) = version {
                        if stored.version.is_none_or(|v| version > v) {
                            version_moves.insert(canonical.clone(), version);
                            if let Some(c) = current.get_mut(&canonical) {
                                c.version = Some(version);
                            }
                        }
                    }
                    continue;
                }
                None => RevisionKind::First,
                Some(stored) if stored.payroll_hash != payroll => RevisionKind::Correction,
                Some(_) => RevisionKind::Enrichment,
            };
            let revision = stored.map_or(1, |s| s.revision + 1);
            let version = match (version, stored.and_then(|s| s.version)) {
                (Some(new), Some(old)) => Some(new.max(old)),
                (new, old) => new.or(old),
            };
            let body = encode_revision(&mut fact, revision, revision_kind, &all_keys);
            let row = row_of(&fact);
            if !row.employee_id.is_empty() {
                let app = if row.app.is_empty() {
                    delivery_app.clone().unwrap_or_default()
                } else {
                    row.app.clone()
                };
                employees.insert(
                    (
                        row.vendor as i16,
                        app,
                        row.tenant.clone(),
                        row.employee_id.clone(),
                    ),
                    received_at_us,
                );
            }
            current.insert(
                canonical.clone(),
                Current {
                    revision,
                    content_hash: content.clone(),
                    payroll_hash: payroll.clone(),
                    version,
                    body: body.clone(),
                },
            );
            version_moves.remove(&canonical);
            if let Some(raw) = raw {
                raw_needed[raw] = true;
            }
            receipts[index].appended += 1;
            appended.push(Appended {
                identity: canonical,
                row,
                revision,
                revision_kind,
                content_hash: content,
                payroll_hash: payroll,
                version,
                received_at_us,
                raw,
                body,
            });
        }
    }

    writes.keys = new_keys;
    writes.versions = version_moves.into_iter().collect();
    if appended.is_empty() {
        return Ok(());
    }
    let seqs = tx.allocate_seqs(appended.len()).await?;
    let mut facts: HashMap<Identity, FactUpsert> = HashMap::new();
    for (entry, seq) in appended.into_iter().zip(seqs) {
        let raw_id = entry.raw.map(|r| raw_ids[r]);
        writes.log.push(LogRow {
            seq,
            kind: entry.row.kind as i16,
            vendor: entry.row.vendor as i16,
            app: entry.row.app.clone(),
            tenant: entry.row.tenant.clone(),
            employee_id: entry.row.employee_id.clone(),
            business_key: entry.row.business_key.clone(),
            revision: entry.revision,
            revision_kind: entry.revision_kind as i16,
            occurred_at_us: entry.row.occurred_at_us,
            received_at_us: entry.received_at_us,
            raw_id,
            body: entry.body.clone(),
        });
        // The last revision of an identity in the batch is its current one.
        facts.insert(
            entry.identity.clone(),
            FactUpsert {
                identity: entry.identity,
                revision: entry.revision,
                content_hash: entry.content_hash,
                payroll_hash: entry.payroll_hash,
                version: entry.version,
                log_seq: seq,
                employee_id: entry.row.employee_id,
                sort_key: entry.row.sort_key,
                start_at_us: entry.row.start_at_us,
                end_at_us: entry.row.end_at_us,
                work_date: entry.row.work_date,
                raw_id,
                body: entry.body,
            },
        );
    }
    writes.facts = facts.into_values().collect();
    writes.facts.sort_by(|a, b| a.identity.cmp(&b.identity));
    writes.employees = employees
        .into_iter()
        .map(|((vendor, app, tenant, employee_id), at_us)| EmployeeSeen {
            vendor,
            app,
            tenant,
            employee_id,
            at_us,
        })
        .collect();
    writes.employees.sort_by(|a, b| {
        (a.vendor, &a.app, &a.tenant, &a.employee_id).cmp(&(
            b.vendor,
            &b.app,
            &b.tenant,
            &b.employee_id,
        ))
    });
    Ok(())
}

/// The matching keys a stored revision carries.
fn stored_matching_keys(kind: i16, body: &[u8]) -> Result<Vec<String>, StoreError> {
    Ok(matching_keys(&decode_fact(kind, body)?).to_vec())
}
