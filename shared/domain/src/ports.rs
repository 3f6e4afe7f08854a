//! Ports: the small traits the adapters implement (DynamoDB store, SES mailer, S3 raw
//! mail). Handlers are generic over them; tests use the real adapters on a local AWS
//! endpoint. No AWS types appear here.

use std::future::Future;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::roles::Role;
use crate::ticket::{Event, Ticket, TicketNumber};
use crate::workflow::{Applied, TransitionError};

/// The outcome of creating a ticket under an idempotency key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Created {
    /// A new ticket was written (with its first event).
    New(Box<Applied>),
    /// The key was seen before: the ticket it created.
    Duplicate(TicketNumber),
}

/// Why a store operation failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum StoreError {
    /// Someone else changed the ticket first; it holds the current state.
    #[error("conflict: the ticket is at version {}", .0.version)]
    Conflict(Box<Ticket>),
    /// Another delivery of the same request is being processed right now.
    #[error("a request with this idempotency key is in progress")]
    InProgress,
    #[error("ticket not found")]
    NotFound,
    /// The domain refused to build the ticket.
    #[error("rejected: {0}")]
    Rejected(TransitionError),
    /// Throttling, timeouts, 5xx after the SDK's retries: try again later.
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// A stored item does not read back as what we wrote.
    #[error("corrupt item: {0}")]
    Corrupt(String),
    #[error("store error: {0}")]
    Other(String),
}

impl StoreError {
    pub fn is_transient(&self) -> bool {
        matches!(self, StoreError::Unavailable(_) | StoreError::InProgress)
    }
}

/// One entry of a role's queue: a ticket whose current step that role performs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueueEntry {
    pub number: TicketNumber,
    pub role: Role,
    pub procedure: String,
    pub step: String,
    pub visit: u32,
    /// `None` while the step waits on the requester.
    pub due_at: Option<Timestamp>,
    pub subject: String,
    pub unit: String,
    pub requester_name: String,
    pub version: u64,
}

/// A page of results and the cursor of the next one.
#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// Opaque; pass it back to read the next page.
    pub next: Option<String>,
}

/// A page of the due sweep, with the number of index items it read.
#[derive(Debug, Clone, PartialEq)]
pub struct SweepPage {
    pub tickets: Vec<Ticket>,
    pub items_read: usize,
    pub next: Option<String>,
}

/// Where tickets live.
pub trait TicketStore {
    /// Creates a ticket once per idempotency key: `build` gets the allocated number and
    /// returns the opened ticket. A key seen before gives [`Created::Duplicate`].
    fn create<F>(
        &self,
        idempotency_key: &str,
        service: &str,
        year: i16,
        build: F,
    ) -> impl Future<Output = Result<Created, StoreError>> + Send
    where
        F: FnOnce(TicketNumber) -> Result<Applied, TransitionError> + Send;

    fn get(&self, number: &TicketNumber) -> impl Future<Output = Result<Ticket, StoreError>> + Send;

    /// The ticket's events, oldest first.
    fn timeline(&self, number: &TicketNumber) -> impl Future<Output = Result<Vec<Event>, StoreError>> + Send;

    /// Writes an applied action, conditional on the ticket still being at
    /// `expected_version`; a lost race gives [`StoreError::Conflict`].
    fn apply(&self, applied: &Applied, expected_version: u64) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// A role's queue, soonest due first (steps waiting on the requester last).
    fn queue(
        &self,
        role: Role,
        limit: i32,
        cursor: Option<&str>,
    ) -> impl Future<Output = Result<Page<QueueEntry>, StoreError>> + Send;

    /// A requester's tickets, newest first.
    fn by_requester(&self, email: &str, limit: i32) -> impl Future<Output = Result<Vec<Ticket>, StoreError>> + Send;

    /// Open tickets whose next SLA check is at or before `now`, soonest first.
    fn due(
        &self,
        now: Timestamp,
        limit: i32,
        cursor: Option<&str>,
    ) -> impl Future<Output = Result<SweepPage, StoreError>> + Send;
}
