//! Ports: the small traits the adapters implement (DynamoDB store, SES mailer, S3 raw
//! mail). Handlers are generic over them; tests use the real adapters on a local AWS
//! endpoint. No AWS types appear here.

use std::future::Future;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::mail::compose::Outgoing;
use crate::roles::Role;
use crate::ticket::{Document, Event, Ticket, TicketNumber};
use crate::workflow::{Applied, TransitionError};

/// What became of a request (a mail, a form submission) recorded under its idempotency
/// key: a second delivery is told the same.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Outcome {
    /// `new_ticket`, `appended`, `quarantined`, `dropped`.
    pub kind: String,
    pub number: Option<TicketNumber>,
    pub reason: String,
}

impl Outcome {
    pub fn new(kind: &str, number: Option<TicketNumber>, reason: impl Into<String>) -> Outcome {
        Outcome { kind: kind.to_string(), number, reason: reason.into() }
    }
}

/// A claim on an idempotency key, held while the request is processed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimToken {
    pub key: String,
    pub owner: String,
}

/// The result of claiming an idempotency key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// Ours to process; finish it with the outcome.
    Fresh(ClaimToken),
    /// Processed before: what became of it.
    Done(Outcome),
    /// Another delivery is processing it right now (its lease has not expired).
    InProgress,
}

/// A mail written to the outbox with the change that implies it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxMail {
    pub number: TicketNumber,
    pub mail: Outgoing,
}

/// A message set aside, with why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Quarantined {
    pub id: String,
    pub at: jiff::Timestamp,
    pub reason: String,
    pub raw_key: String,
    pub from: String,
    pub subject: String,
    /// The ticket staff made from it, if they did (absent from the item until then).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub released_as: Option<TicketNumber>,
}

impl Quarantined {
    /// The day it is filed under (UTC), as `quarantined` takes it.
    pub fn day(&self) -> String {
        self.at.strftime("%Y-%m-%d").to_string()
    }
}

/// The outcome of creating a ticket under an idempotency key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Created {
    /// A new ticket was written, with its first event and the mail recorded with it
    /// (pending in the outbox until sent).
    New(Box<Applied>, Vec<Outgoing>),
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

/// What `create` builds once the number is known: the opened ticket and its mail.
pub type Opened = (Applied, Vec<Outgoing>);

/// Where tickets live.
pub trait TicketStore {
    /// Claims an idempotency key (inbound SES id, form key, or an alert's
    /// `alert:<number>:<scope>:<level>`) for processing. A claim not finished within its
    /// lease (60 s after `now`) may be taken again.
    fn claim(&self, key: &str, now: Timestamp) -> impl Future<Output = Result<Claim, StoreError>> + Send;

    /// Records the SLA sweep's handled alert levels on a ticket, without a new version,
    /// if the ticket is still at its version; `false` if it moved meanwhile.
    fn save_alert_progress(&self, ticket: &Ticket) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Records the outcome of a claim that wrote no ticket (quarantined, dropped).
    fn finish(&self, claim: &ClaimToken, outcome: &Outcome) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Creates a ticket under a claim: `build` gets the allocated number and returns the
    /// opened ticket and its mail; the ticket, its first event, its queue entries, the
    /// mail (pending in the outbox) and the claim's outcome are one transaction.
    fn create<F>(
        &self,
        claim: &ClaimToken,
        service: &str,
        year: i16,
        reason: &str,
        build: F,
    ) -> impl Future<Output = Result<Created, StoreError>> + Send
    where
        F: FnOnce(TicketNumber) -> Result<Opened, TransitionError> + Send;

    /// Marks an outbox mail sent, with the id SES gave it.
    fn mark_sent(
        &self,
        number: &TicketNumber,
        key: &str,
        ses_id: &str,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Marks an outbox mail failed (a bounce), with the reason; false if there is no such mail.
    fn mark_failed(
        &self,
        number: &TicketNumber,
        key: &str,
        reason: &str,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Outbox mail still pending, oldest first.
    fn pending_mail(&self, limit: i32) -> impl Future<Output = Result<Vec<OutboxMail>, StoreError>> + Send;

    /// The ticket of a mail we sent, by the Message-ID SES gave it.
    fn ticket_of_ses_id(&self, ses_id: &str) -> impl Future<Output = Result<Option<TicketNumber>, StoreError>> + Send;

    /// Keeps a record of a quarantined message (its raw bytes stay in the mail bucket).
    fn quarantine(&self, record: &Quarantined) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// The messages quarantined on one UTC day (`YYYY-MM-DD`, `Quarantined::day`).
    fn quarantined(&self, day: &str) -> impl Future<Output = Result<Vec<Quarantined>, StoreError>> + Send;

    /// Records that staff made ticket `number` from a quarantined message; `false` if
    /// there is no such message or a ticket was made from it already.
    fn release_quarantined(
        &self,
        day: &str,
        id: &str,
        number: &TicketNumber,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Counts one more new ticket from a sender in the current hour; returns the count.
    fn count_sender(&self, sender: &str, now: Timestamp) -> impl Future<Output = Result<u64, StoreError>> + Send;

    fn get(&self, number: &TicketNumber) -> impl Future<Output = Result<Ticket, StoreError>> + Send;

    /// The ticket's events, oldest first.
    fn timeline(&self, number: &TicketNumber) -> impl Future<Output = Result<Vec<Event>, StoreError>> + Send;

    /// Writes an applied action and the mail it implies, conditional on the ticket still
    /// being at `expected_version` (a lost race gives [`StoreError::Conflict`]); with a
    /// claim, its outcome is recorded in the same transaction.
    fn apply(
        &self,
        applied: &Applied,
        expected_version: u64,
        outbox: &[Outgoing],
        claim: Option<(&ClaimToken, &Outcome)>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// A role's queue, soonest due first (steps waiting on the requester last).
    fn queue(
        &self,
        role: Role,
        limit: i32,
        cursor: Option<&str>,
    ) -> impl Future<Output = Result<Page<QueueEntry>, StoreError>> + Send;

    /// A requester's tickets, newest first.
    fn by_requester(&self, email: &str, limit: i32) -> impl Future<Output = Result<Vec<Ticket>, StoreError>> + Send;

    /// Every ticket opened in a month (UTC), for service-level reports.
    fn opened_in_month(&self, year: i16, month: i8) -> impl Future<Output = Result<Vec<Ticket>, StoreError>> + Send;

    /// Open tickets whose next SLA check is at or before `now`, soonest first.
    fn due(
        &self,
        now: Timestamp,
        limit: i32,
        cursor: Option<&str>,
    ) -> impl Future<Output = Result<SweepPage, StoreError>> + Send;
}

/// Claims `key` and creates the ticket once: a key seen before gives
/// [`Created::Duplicate`], one being processed elsewhere [`StoreError::InProgress`].
pub async fn create_once<S, F>(store: &S, key: &str, service: &str, year: i16, build: F) -> Result<Created, StoreError>
where
    S: TicketStore,
    F: FnOnce(TicketNumber) -> Result<Opened, TransitionError> + Send,
{
    match store.claim(key, jiff::Timestamp::now()).await? {
        Claim::Fresh(claim) => store.create(&claim, service, year, "ticket created", build).await,
        Claim::Done(Outcome { number: Some(number), .. }) => Ok(Created::Duplicate(number)),
        Claim::Done(outcome) => {
            Err(StoreError::Other(format!("key already used: {} ({})", outcome.kind, outcome.reason)))
        }
        Claim::InProgress => Err(StoreError::InProgress),
    }
}

/// What reading a raw message found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RawMail {
    Found(Vec<u8>),
    /// Larger than the limit: not read (its size).
    TooLarge(u64),
    Missing,
}

/// Why a blob or mail operation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IoError {
    /// Throttling, timeouts, 5xx: try again later.
    #[error("unavailable: {0}")]
    Unavailable(String),
    /// Refused for good (e.g. SES MessageRejected: unverified sender).
    #[error("rejected: {0}")]
    Rejected(String),
}

/// Raw mail and attachments (S3).
pub trait RawMailStore {
    /// Reads a raw message if it is at most `max_bytes` (checked before reading).
    fn fetch(&self, key: &str, max_bytes: u64) -> impl Future<Output = Result<RawMail, IoError>> + Send;

    /// Stores an attachment.
    fn put(&self, key: &str, bytes: Vec<u8>, content_type: &str) -> impl Future<Output = Result<(), IoError>> + Send;

    /// A URL, valid for `valid_for`, at which a browser opens `document` (S3: a presigned
    /// GET). The caller has checked that the person may see it.
    fn link(
        &self,
        document: &Document,
        valid_for: std::time::Duration,
    ) -> impl Future<Output = Result<String, IoError>> + Send;
}

/// Sends composed mail (SES `SendRawEmail`); returns the provider's message id.
pub trait Mailer {
    fn send(&self, mail: &Outgoing) -> impl Future<Output = Result<String, IoError>> + Send;
}

/// Sends mail the store recorded (pending in the outbox) and records each provider id.
/// A failed send leaves the mail pending for the minute sweep; a send whose record fails
/// is the one window where a mail may go out twice (SES has no idempotency key).
pub async fn send_recorded<S: TicketStore, M: Mailer>(
    store: &S,
    mailer: &M,
    number: &TicketNumber,
    mails: &[Outgoing],
) {
    for mail in mails {
        match mailer.send(mail).await {
            Ok(provider_id) => {
                if let Err(e) = store.mark_sent(number, &mail.key, &provider_id).await {
                    tracing::error!(ticket = %number, key = %mail.key, error = %e, "mail sent but not recorded");
                }
            }
            Err(IoError::Rejected(why)) => {
                // Refused for good (an address SES cannot take): kept as failed, out of the
                // outbox, so the minute sweep does not try it forever.
                tracing::error!(ticket = %number, key = %mail.key, error = %why, "mail refused; marked failed");
                if let Err(e) = store.mark_failed(number, &mail.key, &why).await {
                    tracing::error!(ticket = %number, key = %mail.key, error = %e, "refused mail not recorded");
                }
            }
            Err(e) => {
                tracing::error!(ticket = %number, key = %mail.key, error = %e, "mail not sent; left pending in the outbox")
            }
        }
    }
}

/// Creates a ticket under a claim, then sends the mail written with it (the
/// acknowledgement). A duplicate sends nothing: its mail went out the first time.
pub async fn create_and_send<S, M, F>(
    store: &S,
    mailer: &M,
    claim: &ClaimToken,
    service: &str,
    year: i16,
    reason: &str,
    build: F,
) -> Result<Created, StoreError>
where
    S: TicketStore,
    M: Mailer,
    F: FnOnce(TicketNumber) -> Result<Opened, TransitionError> + Send,
{
    let created = store.create(claim, service, year, reason, build).await?;
    if let Created::New(applied, mails) = &created {
        send_recorded(store, mailer, &applied.ticket.number, mails).await;
    }
    Ok(created)
}
