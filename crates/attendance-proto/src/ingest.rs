//! The hand-off between a vendor adapter and the store: one verified delivery
//! and the facts translated from it. Adapters produce it; the core commits it.

use async_trait::async_trait;

use crate::v1::{Approval, Channel, DayReconciled, Punch, ShiftResult, Vendor};

/// One translated fact, keyed by its `business_key` within (vendor, tenant).
#[derive(Clone, Debug, PartialEq)]
pub enum Fact {
    Punch(Punch),
    ShiftResult(ShiftResult),
    Approval(Approval),
    DayReconciled(DayReconciled),
}

/// What the vendor's event type turned out to be.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Recognition {
    /// A type the adapter translates; `facts` holds the result (possibly none).
    Translated,
    /// A type the adapter does not know: stored raw and reported, never retried.
    Unknown,
    /// A known type whose payload could not be translated: stored raw with the
    /// reason and reported, so that nothing the vendor sent is lost.
    Untranslatable(String),
}

/// One verified vendor delivery, ready to be committed.
#[derive(Clone, Debug, PartialEq)]
pub struct Delivery {
    pub vendor: Vendor,
    /// The configured app name.
    pub app: String,
    /// The vendor's tenant (Feishu tenant_key, DingTalk corpId); may be empty.
    pub tenant: String,
    pub channel: Channel,
    /// The vendor's delivery id; a second delivery with the same id is a
    /// duplicate. Empty for pulls, which rely on business-key dedup alone.
    pub event_id: String,
    pub event_type: String,
    /// The decrypted vendor JSON, kept verbatim.
    pub raw_json: String,
    pub recognition: Recognition,
    pub facts: Vec<Fact>,
    /// Follow-up work the delivery calls for (a day to pull), committed with
    /// it when the delivery is new: a restart loses none of it.
    pub jobs: Vec<Job>,
}

/// Work queued for an adapter's background worker, durable in the store:
/// deduplicated on (`queue`, `key`) while it waits, taken by whichever
/// replica asks, and taken again if its taker dies before finishing it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Job {
    /// Whose work it is, e.g. `dingtalk/acme`.
    pub queue: String,
    /// What it is, e.g. `day/corp/user/2021-01-14`: a second job with the
    /// same key while one waits adds nothing.
    pub key: String,
    /// What the worker needs to do it, in the adapter's own encoding.
    pub payload: String,
}

/// What a commit did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Receipt {
    /// The event id was seen before: nothing new was stored.
    pub duplicate_delivery: bool,
    /// Log entries appended (new facts and new revisions).
    pub appended: usize,
    /// Facts identical to the stored revision, so no new entry.
    pub unchanged: usize,
    /// Facts older (by the vendor's version) than the stored revision: kept
    /// raw with the delivery and counted, never applied.
    pub superseded: usize,
    /// Approvals that name no employee (a Feishu revert) and meet no stored
    /// approval: set aside, kept raw with their delivery, never a fact of
    /// their own. What they amend arrives later under their key, or the
    /// adapter's follow-up job resolves them from the vendor.
    pub set_aside: usize,
}

impl Receipt {
    /// Adds another commit's counts, for a delivery committed in parts.
    pub fn add(&mut self, other: Receipt) {
        self.duplicate_delivery |= other.duplicate_delivery;
        self.appended += other.appended;
        self.unchanged += other.unchanged;
        self.superseded += other.superseded;
        self.set_aside += other.set_aside;
    }
}

/// Why a commit failed; the adapter answers so that the vendor redelivers.
#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    /// Nothing of the delivery was committed; trying again later may work.
    #[error("the store could not commit the delivery: {0}")]
    Unavailable(String),
}

/// Where adapters hand deliveries. `Ok` means durably committed: only then may
/// the adapter acknowledge the vendor.
#[async_trait]
pub trait DeliverySink: Send + Sync + 'static {
    async fn commit(&self, delivery: Delivery) -> Result<Receipt, SinkError>;
}
