//! The webhook outbox as a deliverer sees it: claim due messages under a lease, then record
//! what each attempt did. Every backend keeps the outbox in the same transactions as the audit
//! records whose events it holds; this is the other end, where `behalf serve` (or `behalf
//! webhooks deliver`) drains it. Two deliverers never hold one message: a claim leases rows to
//! its owner until a deadline, and a lease whose owner process is gone (on this host) is taken
//! back.

use crate::StoreError;

/// One message claimed for delivery.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutboxRow {
    pub id: i64,
    pub msg_id: String,
    pub endpoint: String,
    pub body: String,
    pub attempts: i64,
}

/// What one attempt did, to record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OutboxUpdate {
    /// Not attempted: the lease ends, the message waits for the next pass.
    Release { id: i64 },
    /// Delivered (2xx): done; the endpoint is up again.
    Delivered {
        id: i64,
        endpoint: String,
        attempts: i64,
        code: i64,
        at: i64,
    },
    /// 410 Gone: the endpoint is disabled until `behalf webhooks enable`.
    Gone {
        id: i64,
        endpoint: String,
        attempts: i64,
        at: i64,
        reason: String,
    },
    /// Failed; tried again at `next_at`, or given up (`failed`). `endpoint_down`: the endpoint
    /// itself is unreachable or overloaded, so its other messages wait until `next_at` too.
    Retry {
        id: i64,
        endpoint: String,
        give_up: bool,
        attempts: i64,
        next_at: i64,
        code: Option<i64>,
        error: String,
        at: i64,
        endpoint_down: bool,
    },
}

/// A claim: whose, until when, and how many at most.
pub struct Claim<'a> {
    /// The endpoints that can be delivered to now.
    pub endpoints: &'a [String],
    pub owner: &'a str,
    /// Whether a lease's owner is known to be gone (a process of this host that exited).
    pub gone: &'a dyn Fn(&str) -> bool,
    pub now: i64,
    /// The lease's end for a claim of `n` rows.
    pub lease_until: &'a dyn Fn(usize) -> i64,
    pub limit: usize,
}

pub trait Outbox {
    /// Takes back leases of owners that are gone, then leases up to `claim.limit` due messages
    /// of `claim.endpoints` (oldest first; none of an endpoint that is disabled or backing off)
    /// to `claim.owner`, in one transaction.
    fn claim_outbox(&mut self, claim: &Claim<'_>) -> Result<Vec<OutboxRow>, StoreError>;
    /// Records the attempts of one claim, in one transaction.
    fn record_outbox(&mut self, updates: &[OutboxUpdate]) -> Result<(), StoreError>;
}
