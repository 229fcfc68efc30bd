//! One group commit, decided inside its transaction: delivery dedup, then,
//! under the log's append lock, every fact matched to what is stored (its
//! business key or any of its matching keys), ordered by the vendor's
//! version, completed from the stored revision, and classified as new,
//! unchanged, a correction or an enrichment. Each engine supplies the
//! statements ([`WriteTx`]); the decisions are made here, once, for both.

use std::collections::{HashMap, HashSet};

use async_trait::async_trait;
use attendance_proto::ingest::{Delivery, Fact, Receipt, Recognition};
use attendance_proto::v1::RevisionKind;
use sha2::{Digest, Sha256};

use crate::fact::{
    column_text, complete_from_previous, content_hash, decode_fact, encode_revision, matching_keys,
    payroll_hash, received_time, row_of, set_business_key, take_raw_json, version_of, FactRow,
    Identity,
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

/// The statements of one engine inside one write transaction.
#[async_trait]
pub(crate) trait WriteTx: Send {
    /// `n` fresh ids for `raw_documents`, ascending.
    async fn allocate_raw_ids(&mut self, n: usize) -> Result<Vec<i64>, StoreError>;
    /// Inserts the rows whose (vendor, event id) is new; returns those it inserted.
    async fn insert_deliveries(
        &mut self,
        rows: &[(&DeliveryRow, Option<i64>)],
    ) -> Result<HashSet<(i16, String)>, StoreError>;
    async fn insert_raws(&mut self, raws: &[(i64, i64, &str)]) -> Result<(), StoreError>;
    /// Serializes fact decisions and log appends across writers, so that
    /// sequence order is commit order. Held until commit.
    async fn lock_log(&mut self) -> Result<(), StoreError>;
    /// For each key found among the aliases: the business key of the fact it
    /// belongs to.
    async fn load_keys(&mut self, keys: &[Identity])
        -> Result<Vec<(Identity, String)>, StoreError>;
    async fn load_facts(&mut self, ids: &[Identity]) -> Result<Vec<StoredFact>, StoreError>;
    /// [`WriteTx::load_keys`] and [`WriteTx::load_facts`] of the same
    /// identities; an engine may read both in one statement.
    async fn load(
        &mut self,
        ids: &[Identity],
    ) -> Result<(Vec<(Identity, String)>, Vec<StoredFact>), StoreError> {
        let keys = self.load_keys(ids).await?;
        let facts = self.load_facts(ids).await?;
        Ok((keys, facts))
    }
    /// `n` fresh log sequence numbers, ascending.
    async fn allocate_seqs(&mut self, n: usize) -> Result<Vec<i64>, StoreError>;
    async fn append_log(&mut self, rows: &[LogRow]) -> Result<(), StoreError>;
    async fn upsert_facts(&mut self, rows: &[FactUpsert]) -> Result<(), StoreError>;
    /// Moves the version of facts a newer version confirmed unchanged.
    async fn update_versions(&mut self, rows: &[(Identity, i64)]) -> Result<(), StoreError>;
    /// Registers aliases: `.0.business_key` is another key of the fact stored
    /// under `.1`.
    async fn insert_keys(&mut self, rows: &[(Identity, String)]) -> Result<(), StoreError>;
    async fn touch_employees(&mut self, rows: &[EmployeeSeen]) -> Result<(), StoreError>;
    async fn count_superseded(&mut self, rows: &[(i16, String, i64)]) -> Result<(), StoreError>;
    /// Wakes other replicas' subscribers once the transaction commits.
    async fn notify(&mut self) -> Result<(), StoreError>;
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

/// Decides and writes one batch inside `tx`; one receipt per item, in order.
/// Nothing is committed here: the caller commits `tx`, and only then may any
/// receipt be answered.
pub(crate) async fn apply<T: WriteTx>(
    tx: &mut T,
    batch: &mut Batch,
) -> Result<Vec<Receipt>, StoreError> {
    let mut receipts = vec![Receipt::default(); batch.items.len()];
    let mut live = vec![true; batch.items.len()];

    // Delivery dedup. A second delivery of one id within the batch is a
    // duplicate of the first; rows go in key order, so two writers never
    // wait on each other's rows in opposite orders.
    let raw_ids = tx.allocate_raw_ids(batch.raws.len()).await?;
    let mut first_of: HashMap<(i16, &str), usize> = HashMap::new();
    let mut rows: Vec<(&DeliveryRow, Option<i64>)> = Vec::new();
    for (i, item) in batch.items.iter().enumerate() {
        let Some(row) = &item.delivery else { continue };
        if first_of.insert((row.vendor, &row.event_id), i).is_some() {
            live[i] = false;
            receipts[i].duplicate_delivery = true;
            continue;
        }
        rows.push((row, row.raw.map(|r| raw_ids[r])));
    }
    rows.sort_by(|a, b| (a.0.vendor, &a.0.event_id).cmp(&(b.0.vendor, &b.0.event_id)));
    let inserted = if rows.is_empty() {
        HashSet::new()
    } else {
        tx.insert_deliveries(&rows).await?
    };
    for (i, item) in batch.items.iter().enumerate() {
        if let Some(row) = &item.delivery {
            if live[i] && !inserted.contains(&(row.vendor, row.event_id.clone())) {
                live[i] = false;
                receipts[i].duplicate_delivery = true;
            }
        }
    }
    let mut raw_needed = vec![false; batch.raws.len()];
    for (i, item) in batch.items.iter().enumerate() {
        if let (true, Some(raw)) = (live[i], item.delivery.as_ref().and_then(|d| d.raw)) {
            raw_needed[raw] = true;
        }
    }

    let any_facts = batch
        .items
        .iter()
        .zip(&live)
        .any(|(item, live)| *live && !item.facts.is_empty());
    let mut appended_any = false;
    if any_facts {
        appended_any =
            decide_facts(tx, batch, &live, &raw_ids, &mut raw_needed, &mut receipts).await?;
    }

    let raws: Vec<(i64, i64, &str)> = batch
        .raws
        .iter()
        .enumerate()
        .filter(|(i, _)| raw_needed[*i])
        .map(|(i, (json, at))| (raw_ids[i], *at, json.as_str()))
        .collect();
    if !raws.is_empty() {
        tx.insert_raws(&raws).await?;
    }
    let superseded: Vec<(i16, String, i64)> = batch
        .items
        .iter()
        .zip(&receipts)
        .filter(|(_, r)| r.superseded > 0)
        .filter_map(|(item, r)| {
            let d = item.delivery.as_ref()?;
            Some((d.vendor, d.event_id.clone(), r.superseded as i64))
        })
        .collect();
    if !superseded.is_empty() {
        tx.count_superseded(&superseded).await?;
    }
    if appended_any {
        tx.notify().await?;
    }
    Ok(receipts)
}

/// The fact half of [`apply`]; returns whether anything was appended.
async fn decide_facts<T: WriteTx>(
    tx: &mut T,
    batch: &mut Batch,
    live: &[bool],
    raw_ids: &[i64],
    raw_needed: &mut [bool],
    receipts: &mut [Receipt],
) -> Result<bool, StoreError> {
    tx.lock_log().await?;

    // Everything the batch could meet, read once: the aliases its keys may
    // be (`fact_keys`), and the facts stored under any of its keys or under
    // what an alias points to.
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
    let (aliases, stored) = tx.load(&wanted).await?;
    let mut alias_of: HashMap<Identity, String> = aliases.into_iter().collect();
    let mut current: HashMap<Identity, Current> = HashMap::new();
    for stored in stored {
        current.insert(stored.identity.clone(), Current::from_stored(stored)?);
    }
    // A key that is an alias points at a fact stored under another key.
    let owners: Vec<Identity> = alias_of
        .iter()
        .map(|(id, owner)| id.with_key(owner))
        .filter(|owner| !seen.contains(owner))
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

    if !new_keys.is_empty() {
        tx.insert_keys(&new_keys).await?;
    }
    if !version_moves.is_empty() {
        let moves: Vec<(Identity, i64)> = version_moves.into_iter().collect();
        tx.update_versions(&moves).await?;
    }
    if appended.is_empty() {
        return Ok(false);
    }
    let seqs = tx.allocate_seqs(appended.len()).await?;
    let mut log = Vec::with_capacity(appended.len());
    let mut facts: HashMap<Identity, FactUpsert> = HashMap::new();
    for (entry, seq) in appended.into_iter().zip(seqs) {
        let raw_id = entry.raw.map(|r| raw_ids[r]);
        log.push(LogRow {
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
    tx.append_log(&log).await?;
    let mut facts: Vec<FactUpsert> = facts.into_values().collect();
    facts.sort_by(|a, b| a.identity.cmp(&b.identity));
    tx.upsert_facts(&facts).await?;
    if !employees.is_empty() {
        let mut rows: Vec<EmployeeSeen> = employees
            .into_iter()
            .map(|((vendor, app, tenant, employee_id), at_us)| EmployeeSeen {
                vendor,
                app,
                tenant,
                employee_id,
                at_us,
            })
            .collect();
        rows.sort_by(|a, b| {
            (a.vendor, &a.app, &a.tenant, &a.employee_id).cmp(&(
                b.vendor,
                &b.app,
                &b.tenant,
                &b.employee_id,
            ))
        });
        tx.touch_employees(&rows).await?;
    }
    Ok(true)
}

/// The matching keys a stored revision carries.
fn stored_matching_keys(kind: i16, body: &[u8]) -> Result<Vec<String>, StoreError> {
    Ok(matching_keys(&decode_fact(kind, body)?).to_vec())
}
