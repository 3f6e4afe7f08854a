//! `DynamoTicketStore`: the [`TicketStore`] port on one DynamoDB table (see `schema.rs`).
//!
//! Creating a ticket, once per idempotency key and with gap-free numbers:
//! 1. claim the key: a conditional put of a *pending* idempotency record with a lease
//!    (a second delivery finds it and is told "duplicate" or "in progress");
//! 2. allocate the number: an atomic `ADD` on the service's counter for the year;
//! 3. one transaction: the ticket, its first event, its queue entries, and the
//!    idempotency record marked done (conditional on our claim still holding).
//!
//! A number is skipped only if a process dies between 2 and 3 and another takes over
//! the expired claim. Every transition is one transaction conditional on the version.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder;
use aws_sdk_dynamodb::types::{
    AttributeValue, Delete, Put, PutRequest, ReturnValue, ReturnValuesOnConditionCheckFailure, TransactWriteItem,
    Update, WriteRequest,
};
use jiff::{SignedDuration, Timestamp};
use loket_domain::Role;
use loket_domain::mail::compose::{MailKind, Outgoing};
use loket_domain::ports::{
    Claim, ClaimToken, Created, Opened, OutboxMail, Outcome, Page, Quarantined, QueueEntry, StoreError, SweepPage,
    TicketStore,
};
use loket_domain::sop::Catalog;
use loket_domain::ticket::{Event, Ticket, TicketNumber};
use loket_domain::workflow::{Applied, TransitionError};
use serde::{Deserialize, Serialize};
use serde_dynamo::aws_sdk_dynamodb_1::{from_item, to_item};

use super::schema::{BY_DUE, BY_MONTH, BY_OUTBOX, BY_QUEUE, BY_REQUESTER, PK, SK};

type Item = HashMap<String, AttributeValue>;

/// How long a claim on an idempotency key holds before another delivery may take over.
const CLAIM_LEASE: SignedDuration = SignedDuration::from_secs(60);
/// How long idempotency records are kept (then DynamoDB's TTL removes them).
const IDEMPOTENCY_TTL: SignedDuration = SignedDuration::from_hours(24 * 30);
/// The partition of the sparse due index.
const DUE_PARTITION: &str = "DUE";
/// The partition of the sparse outbox index.
const OUTBOX_PARTITION: &str = "OUTBOX";
/// How long the SES-id → ticket records are kept (replies to older mail still thread
/// by our own Message-ID in References).
const SENT_ID_TTL: SignedDuration = SignedDuration::from_hours(24 * 400);

#[derive(Debug, Serialize, Deserialize)]
struct TicketItem {
    pk: String,
    sk: String,
    entity: String,
    /// Top-level copy of `ticket.version` for condition expressions.
    version: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    gsi_requester_pk: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    gsi_requester_sk: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    gsi_due_pk: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    gsi_due_sk: Option<String>,
    gsi_month_pk: String,
    gsi_month_sk: String,
    ticket: Ticket,
}

#[derive(Debug, Serialize, Deserialize)]
struct EventItem {
    pk: String,
    sk: String,
    entity: String,
    event: Event,
}

#[derive(Debug, Serialize, Deserialize)]
struct QueueItem {
    pk: String,
    sk: String,
    entity: String,
    gsi_queue_pk: String,
    gsi_queue_sk: String,
    entry: QueueEntry,
}

#[derive(Debug, Serialize, Deserialize)]
struct IdempotencyItem {
    pk: String,
    sk: String,
    entity: String,
    state: String,
    owner: String,
    lease_until: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    outcome: Option<Outcome>,
    expires_at: i64,
}

#[derive(Debug, Serialize, Deserialize)]
struct OutboxItem {
    pk: String,
    sk: String,
    entity: String,
    number: TicketNumber,
    key: String,
    kind: MailKind,
    message_id: String,
    to: Vec<String>,
    subject: String,
    #[serde(with = "serde_bytes")]
    raw: Vec<u8>,
    status: String,
    created_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    ses_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    gsi_outbox_pk: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    gsi_outbox_sk: Option<String>,
}

/// Where a claim lives: alert claims under their ticket (`T#<number>` / `X#<scope>#<level>`,
/// so the console can list a ticket's escalations), the rest as idempotency records.
fn claim_location(key: &str) -> (String, String) {
    if let Some(rest) = key.strip_prefix("alert:")
        && let Some((number, tail)) = rest.split_once(':')
    {
        return (format!("T#{number}"), format!("X#{}", tail.replace(':', "#")));
    }
    (format!("I#{key}"), "I".to_string())
}

/// The part of an SES Message-ID before the `@` (SES's domains vary by region).
fn ses_local_id(id: &str) -> &str {
    let id = id.trim().trim_start_matches('<').trim_end_matches('>');
    id.split('@').next().unwrap_or(id)
}

fn ticket_pk(number: &TicketNumber) -> String {
    format!("T#{number}")
}

/// UTC, second resolution, fixed width: sorts as text in time order.
fn sort_time(at: Timestamp) -> String {
    at.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

/// The DynamoDB ticket store.
#[derive(Debug, Clone)]
pub struct DynamoTicketStore {
    client: Client,
    table: String,
    catalog: Catalog,
    /// The agency's zone: the month a ticket is counted in (`by_month`) is its local month.
    zone: jiff::tz::TimeZone,
}

static OWNER_SEQ: AtomicU64 = AtomicU64::new(0);

/// A token that tells this claim apart from any other process's.
fn owner_token() -> String {
    let seq = OWNER_SEQ.fetch_add(1, Ordering::Relaxed);
    format!("{}-{}-{seq}", std::process::id(), Timestamp::now().as_nanosecond())
}

type HttpResponse = aws_sdk_dynamodb::config::http::HttpResponse;

/// Maps an SDK error: throttling, timeouts and 5xx (after the SDK's own retries) are
/// `Unavailable`; the rest is `Other`, with the operation named for the log.
fn sdk_error<E>(operation: &str, err: SdkError<E, HttpResponse>) -> StoreError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    const TRANSIENT: [&str; 6] = [
        "ProvisionedThroughputExceededException",
        "RequestLimitExceeded",
        "ThrottlingException",
        "InternalServerError",
        "ServiceUnavailable",
        "TransactionInProgressException",
    ];
    match &err {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            StoreError::Unavailable(format!("{operation}: {err}"))
        }
        SdkError::ServiceError(service) => {
            let code = service.err().code().unwrap_or("unknown");
            let message = service.err().message().unwrap_or_default();
            if TRANSIENT.contains(&code) || service.raw().status().is_server_error() {
                StoreError::Unavailable(format!("{operation}: {code}: {message}"))
            } else {
                StoreError::Other(format!("{operation}: {code}: {message}"))
            }
        }
        _ => StoreError::Other(format!("{operation}: {err}")),
    }
}

/// Whether a service error has this code.
fn is_code<E: ProvideErrorMetadata>(err: &SdkError<E, HttpResponse>, code: &str) -> bool {
    matches!(err, SdkError::ServiceError(service) if service.err().code() == Some(code))
}

fn to_dynamo<T: Serialize>(value: &T) -> Result<Item, StoreError> {
    to_item(value).map_err(|e| StoreError::Corrupt(format!("serialize: {e}")))
}

fn from_dynamo<'a, T: Deserialize<'a>>(item: Item) -> Result<T, StoreError> {
    from_item(item).map_err(|e| StoreError::Corrupt(format!("deserialize: {e}")))
}

/// Cursors are the JSON of a LastEvaluatedKey (all our key attributes are strings).
fn encode_cursor(key: Option<&Item>) -> Option<String> {
    let key = key?;
    let map: BTreeMap<&str, &str> =
        key.iter().filter_map(|(k, v)| v.as_s().ok().map(|v| (k.as_str(), v.as_str()))).collect();
    serde_json::to_string(&map).ok()
}

fn decode_cursor(cursor: Option<&str>) -> Result<Option<Item>, StoreError> {
    let Some(cursor) = cursor else { return Ok(None) };
    let map: BTreeMap<String, String> =
        serde_json::from_str(cursor).map_err(|_| StoreError::Other("invalid page cursor".into()))?;
    Ok(Some(map.into_iter().map(|(k, v)| (k, s(v))).collect()))
}

impl DynamoTicketStore {
    /// `catalog` tells which roles perform each step (for the queue entries).
    pub fn new(client: Client, table: impl Into<String>, catalog: Catalog) -> DynamoTicketStore {
        DynamoTicketStore { client, table: table.into(), catalog, zone: jiff::tz::TimeZone::UTC }
    }

    /// Counts tickets in the months of `zone` (the agency's), as the reports and the
    /// ticket numbers' years do; without it, months are UTC months.
    pub fn in_zone(mut self, zone: jiff::tz::TimeZone) -> DynamoTicketStore {
        self.zone = zone;
        self
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    fn ticket_item(&self, ticket: &Ticket) -> Result<Item, StoreError> {
        let next_check = ticket.next_check();
        let item = TicketItem {
            pk: ticket_pk(&ticket.number),
            sk: "META".into(),
            entity: "ticket".into(),
            version: ticket.version,
            gsi_requester_pk: ticket.requester.email.as_ref().map(|e| format!("R#{}", e.to_lowercase())),
            gsi_requester_sk: ticket
                .requester
                .email
                .as_ref()
                .map(|_| format!("{}#{}", sort_time(ticket.created_at), ticket.number)),
            gsi_due_pk: next_check.map(|_| DUE_PARTITION.to_string()),
            gsi_due_sk: next_check.map(|at| format!("{}#{}", sort_time(at), ticket.number)),
            gsi_month_pk: format!("M#{}", ticket.created_at.to_zoned_datetime(self.zone.clone()).strftime("%Y-%m")),
            gsi_month_sk: format!("{}#{}", sort_time(ticket.created_at), ticket.number),
            ticket: ticket.clone(),
        };
        to_dynamo(&item)
    }

    fn event_item(&self, number: &TicketNumber, event: &Event) -> Result<Item, StoreError> {
        to_dynamo(&EventItem {
            pk: ticket_pk(number),
            sk: format!("E#{:010}", event.seq),
            entity: "event".into(),
            event: event.clone(),
        })
    }

    /// One queue entry per staff role of the ticket's current step.
    fn queue_entries(&self, ticket: &Ticket) -> Vec<QueueEntry> {
        let Some(current) = ticket.current.as_ref() else { return Vec::new() };
        let Some(step) = self.catalog.get(&ticket.procedure).and_then(|p| p.step(&current.step)) else {
            return Vec::new();
        };
        step.staff_roles()
            .into_iter()
            .map(|role| QueueEntry {
                number: ticket.number.clone(),
                role,
                procedure: ticket.procedure.clone(),
                step: current.step.clone(),
                visit: current.visit,
                due_at: current.due_at(),
                subject: ticket.subject.clone(),
                unit: ticket.requester.unit.clone(),
                requester_name: ticket.requester.name.clone(),
                version: ticket.version,
            })
            .collect()
    }

    fn queue_item(&self, entry: &QueueEntry) -> Result<Item, StoreError> {
        // Steps waiting on the requester sort after everything with a deadline.
        let due = entry.due_at.map_or_else(|| "~".to_string(), sort_time);
        to_dynamo(&QueueItem {
            pk: ticket_pk(&entry.number),
            sk: format!("Q#{}", entry.role),
            entity: "queue".into(),
            gsi_queue_pk: format!("Q#{}", entry.role),
            gsi_queue_sk: format!("{due}#{}", entry.number),
            entry: entry.clone(),
        })
    }

    fn put(&self, item: Item, condition: Option<&str>) -> Result<TransactWriteItem, StoreError> {
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(item))
            .set_condition_expression(condition.map(str::to_string));
        Ok(TransactWriteItem::builder()
            .put(put.build().map_err(|e| StoreError::Other(format!("build put: {e}")))?)
            .build())
    }

    fn delete(&self, pk: String, sk: String) -> Result<TransactWriteItem, StoreError> {
        let delete = Delete::builder().table_name(&self.table).key(PK, s(pk)).key(SK, s(sk));
        Ok(TransactWriteItem::builder()
            .delete(delete.build().map_err(|e| StoreError::Other(format!("build delete: {e}")))?)
            .build())
    }

    fn outbox_item(&self, number: &TicketNumber, mail: &Outgoing, now: Timestamp) -> Result<Item, StoreError> {
        let created = sort_time(now);
        to_dynamo(&OutboxItem {
            pk: ticket_pk(number),
            sk: format!("M#{}", mail.key),
            entity: "mail".into(),
            number: number.clone(),
            key: mail.key.clone(),
            kind: mail.kind,
            message_id: mail.message_id.clone(),
            to: mail.to.clone(),
            subject: mail.subject.clone(),
            raw: mail.raw.clone(),
            status: "pending".into(),
            gsi_outbox_pk: Some(OUTBOX_PARTITION.into()),
            gsi_outbox_sk: Some(format!("{created}#{number}#{}", mail.key)),
            created_at: created,
            ses_id: None,
            reason: None,
        })
    }

    /// The transaction item that records a claim's outcome, conditional on our claim.
    fn claim_done(&self, claim: &ClaimToken, outcome: &Outcome) -> Result<TransactWriteItem, StoreError> {
        let (pk, sk) = claim_location(&claim.key);
        let update = Update::builder()
            .table_name(&self.table)
            .key(PK, s(pk))
            .key(SK, s(sk))
            .update_expression("SET #state = :done, outcome = :outcome")
            .condition_expression("#state = :pending AND #owner = :owner")
            .expression_attribute_names("#state", "state")
            .expression_attribute_names("#owner", "owner")
            .expression_attribute_values(":done", s("done"))
            .expression_attribute_values(":pending", s("pending"))
            .expression_attribute_values(":owner", s(claim.owner.clone()))
            .expression_attribute_values(
                ":outcome",
                serde_dynamo::aws_sdk_dynamodb_1::to_attribute_value(outcome)
                    .map_err(|e| StoreError::Corrupt(format!("serialize outcome: {e}")))?,
            )
            .build()
            .map_err(|e| StoreError::Other(format!("build update: {e}")))?;
        Ok(TransactWriteItem::builder().update(update).build())
    }

    /// Step 2 of create: the next number of the service for the year.
    async fn allocate(&self, service: &str, year: i16) -> Result<u64, StoreError> {
        let out = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(PK, s(format!("C#{service}#{year}")))
            .key(SK, s("C"))
            .update_expression("ADD n :one SET entity = :entity")
            .expression_attribute_values(":one", AttributeValue::N("1".into()))
            .expression_attribute_values(":entity", s("counter"))
            .return_values(ReturnValue::UpdatedNew)
            .send()
            .await
            .map_err(|e| sdk_error("allocate number", e))?;
        out.attributes
            .and_then(|a| a.get("n").and_then(|n| n.as_n().ok()).and_then(|n| n.parse().ok()))
            .ok_or_else(|| StoreError::Corrupt("counter without n".into()))
    }

    /// Imports tickets that exist elsewhere (migration from the old registers, load
    /// tests): each ticket with its opening event and queue entries, in batches of 25,
    /// retrying what DynamoDB leaves unprocessed. Counters are raised to the highest
    /// imported number per service and year so new numbers continue after them.
    pub async fn import(&self, opened: &[Applied]) -> Result<(), StoreError> {
        let mut requests = Vec::new();
        let mut highest: BTreeMap<(String, i16), u64> = BTreeMap::new();
        for applied in opened {
            let ticket = &applied.ticket;
            requests.push(self.ticket_item(ticket)?);
            requests.push(self.event_item(&ticket.number, &applied.event)?);
            for entry in self.queue_entries(ticket) {
                requests.push(self.queue_item(&entry)?);
            }
            let seq: u64 = ticket.number.as_str()[9..].parse().unwrap_or(0);
            let key = (ticket.number.service().to_string(), ticket.number.year());
            let top = highest.entry(key).or_insert(0);
            *top = (*top).max(seq);
        }
        for chunk in requests.chunks(25) {
            let mut pending: Vec<WriteRequest> = chunk
                .iter()
                .map(|item| {
                    PutRequest::builder()
                        .set_item(Some(item.clone()))
                        .build()
                        .map(|put| WriteRequest::builder().put_request(put).build())
                        .map_err(|e| StoreError::Other(format!("build put: {e}")))
                })
                .collect::<Result<_, _>>()?;
            for attempt in 0..8u32 {
                let out = self
                    .client
                    .batch_write_item()
                    .request_items(&self.table, pending)
                    .send()
                    .await
                    .map_err(|e| sdk_error("import batch", e))?;
                pending = out.unprocessed_items.and_then(|mut m| m.remove(&self.table)).unwrap_or_default();
                if pending.is_empty() {
                    break;
                }
                // Back off before retrying what was left unprocessed.
                tokio::time::sleep(std::time::Duration::from_millis(25u64 << attempt.min(6))).await;
            }
            if !pending.is_empty() {
                return Err(StoreError::Unavailable(format!("{} items left unprocessed", pending.len())));
            }
        }
        for ((service, year), top) in highest {
            let raised = self
                .client
                .update_item()
                .table_name(&self.table)
                .key(PK, s(format!("C#{service}#{year}")))
                .key(SK, s("C"))
                .update_expression("SET n = :top, entity = :entity")
                .condition_expression("attribute_not_exists(n) OR n < :top")
                .expression_attribute_values(":top", AttributeValue::N(top.to_string()))
                .expression_attribute_values(":entity", s("counter"))
                .send()
                .await;
            match raised {
                Ok(_) => {}
                Err(err) if is_code(&err, "ConditionalCheckFailedException") => {}
                Err(err) => return Err(sdk_error("raise counter", err)),
            }
        }
        Ok(())
    }

    /// Every item of a query, following its pages.
    async fn query_all(&self, query: QueryFluentBuilder, what: &str) -> Result<Vec<Item>, StoreError> {
        let mut items = Vec::new();
        let mut start: Option<Item> = None;
        loop {
            let out =
                query.clone().set_exclusive_start_key(start.take()).send().await.map_err(|e| sdk_error(what, e))?;
            items.extend(out.items.unwrap_or_default());
            match out.last_evaluated_key {
                Some(key) if !key.is_empty() => start = Some(key),
                _ => return Ok(items),
            }
        }
    }

    async fn current(&self, number: &TicketNumber) -> Result<Ticket, StoreError> {
        self.get(number).await
    }
}

impl TicketStore for DynamoTicketStore {
    async fn claim(&self, key: &str, now: Timestamp) -> Result<Claim, StoreError> {
        let owner = owner_token();
        let (pk, sk) = claim_location(key);
        let record = IdempotencyItem {
            pk: pk.clone(),
            sk: sk.clone(),
            entity: "idempotency".into(),
            state: "pending".into(),
            owner: owner.clone(),
            lease_until: (now + CLAIM_LEASE).as_second(),
            outcome: None,
            expires_at: (now + IDEMPOTENCY_TTL).as_second(),
        };
        let put = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(to_dynamo(&record)?))
            .condition_expression("attribute_not_exists(pk) OR (#state = :pending AND lease_until < :now)")
            .expression_attribute_names("#state", "state")
            .expression_attribute_values(":pending", s("pending"))
            .expression_attribute_values(":now", AttributeValue::N(now.as_second().to_string()))
            .send()
            .await;
        match put {
            Ok(_) => Ok(Claim::Fresh(ClaimToken { key: key.to_string(), owner })),
            Err(err) if is_code(&err, "ConditionalCheckFailedException") => {
                let existing = self
                    .client
                    .get_item()
                    .table_name(&self.table)
                    .key(PK, s(pk))
                    .key(SK, s(sk))
                    .consistent_read(true)
                    .send()
                    .await
                    .map_err(|e| sdk_error("get idempotency", e))?;
                let record: Option<IdempotencyItem> = existing.item.map(from_dynamo).transpose()?;
                match record {
                    Some(IdempotencyItem { state, outcome: Some(outcome), .. }) if state == "done" => {
                        Ok(Claim::Done(outcome))
                    }
                    _ => Ok(Claim::InProgress),
                }
            }
            Err(err) => Err(sdk_error("claim idempotency key", err)),
        }
    }

    async fn save_alert_progress(&self, ticket: &Ticket) -> Result<bool, StoreError> {
        let put = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(self.ticket_item(ticket)?))
            .condition_expression("version = :version")
            .expression_attribute_values(":version", AttributeValue::N(ticket.version.to_string()))
            .send()
            .await;
        match put {
            Ok(_) => Ok(true),
            Err(err) if is_code(&err, "ConditionalCheckFailedException") => Ok(false),
            Err(err) => Err(sdk_error("save alert progress", err)),
        }
    }

    async fn finish(&self, claim: &ClaimToken, outcome: &Outcome) -> Result<(), StoreError> {
        let write = self.claim_done(claim, outcome)?;
        match self.client.transact_write_items().transact_items(write).send().await {
            Ok(_) => Ok(()),
            Err(err) if is_code(&err, "TransactionCanceledException") => Err(StoreError::InProgress),
            Err(err) => Err(sdk_error("finish claim", err)),
        }
    }

    async fn create<F>(
        &self,
        claim: &ClaimToken,
        service: &str,
        year: i16,
        reason: &str,
        build: F,
    ) -> Result<Created, StoreError>
    where
        F: FnOnce(TicketNumber) -> Result<Opened, TransitionError> + Send,
    {
        let seq = self.allocate(service, year).await?;
        let number = TicketNumber::new(service, year, seq).map_err(|e| StoreError::Other(e.to_string()))?;
        let (applied, mails) = build(number.clone()).map_err(StoreError::Rejected)?;
        let now = applied.ticket.created_at;

        let mut writes = vec![
            self.put(self.ticket_item(&applied.ticket)?, Some("attribute_not_exists(pk)"))?,
            self.put(self.event_item(&number, &applied.event)?, Some("attribute_not_exists(pk)"))?,
        ];
        for entry in self.queue_entries(&applied.ticket) {
            writes.push(self.put(self.queue_item(&entry)?, None)?);
        }
        for mail in &mails {
            writes.push(self.put(self.outbox_item(&number, mail, now)?, Some("attribute_not_exists(pk)"))?);
        }
        let outcome = Outcome::new("new_ticket", Some(number.clone()), reason);
        writes.push(self.claim_done(claim, &outcome)?);

        match self.client.transact_write_items().set_transact_items(Some(writes)).send().await {
            Ok(_) => Ok(Created::New(Box::new(applied), mails)),
            Err(err) if is_code(&err, "TransactionCanceledException") => {
                // Our claim was taken over (we were slower than its lease): the other
                // delivery owns the key now, and this number is skipped.
                tracing::warn!(key = %claim.key, number = %number, "claim lost before the ticket was written; number skipped");
                Err(StoreError::InProgress)
            }
            Err(err) => Err(sdk_error("create ticket", err)),
        }
    }

    async fn mark_sent(&self, number: &TicketNumber, key: &str, ses_id: &str) -> Result<(), StoreError> {
        let sent = Update::builder()
            .table_name(&self.table)
            .key(PK, s(ticket_pk(number)))
            .key(SK, s(format!("M#{key}")))
            .update_expression("SET #status = :sent, ses_id = :id REMOVE gsi_outbox_pk, gsi_outbox_sk")
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":sent", s("sent"))
            .expression_attribute_values(":id", s(ses_id))
            .build()
            .map_err(|e| StoreError::Other(format!("build update: {e}")))?;
        let mut lookup = HashMap::new();
        lookup.insert(PK.to_string(), s(format!("S#{}", ses_local_id(ses_id))));
        lookup.insert(SK.to_string(), s("S"));
        lookup.insert("entity".to_string(), s("sent_id"));
        lookup.insert("number".to_string(), s(number.to_string()));
        lookup.insert("key".to_string(), s(key));
        lookup.insert(
            "expires_at".to_string(),
            AttributeValue::N((Timestamp::now() + SENT_ID_TTL).as_second().to_string()),
        );
        let writes = vec![TransactWriteItem::builder().update(sent).build(), self.put(lookup, None)?];
        self.client
            .transact_write_items()
            .set_transact_items(Some(writes))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| sdk_error("mark mail sent", e))
    }

    async fn mark_failed(&self, number: &TicketNumber, key: &str, reason: &str) -> Result<bool, StoreError> {
        let out = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(PK, s(ticket_pk(number)))
            .key(SK, s(format!("M#{key}")))
            .update_expression("SET #status = :failed, reason = :reason REMOVE gsi_outbox_pk, gsi_outbox_sk")
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":failed", s("failed"))
            .expression_attribute_values(":reason", s(reason))
            .send()
            .await;
        match out {
            Ok(_) => Ok(true),
            Err(err) if is_code(&err, "ConditionalCheckFailedException") => Ok(false),
            Err(err) => Err(sdk_error("mark mail failed", err)),
        }
    }

    async fn pending_mail(&self, limit: i32) -> Result<Vec<OutboxMail>, StoreError> {
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(BY_OUTBOX.name)
            .key_condition_expression("gsi_outbox_pk = :pk")
            .expression_attribute_values(":pk", s(OUTBOX_PARTITION))
            .limit(limit.max(1))
            .send()
            .await
            .map_err(|e| sdk_error("query outbox", e))?;
        out.items
            .unwrap_or_default()
            .into_iter()
            .map(|item| {
                from_dynamo::<OutboxItem>(item).map(|o| OutboxMail {
                    number: o.number,
                    mail: Outgoing {
                        key: o.key,
                        kind: o.kind,
                        message_id: o.message_id,
                        to: o.to,
                        subject: o.subject,
                        raw: o.raw,
                    },
                })
            })
            .collect()
    }

    async fn ticket_of_ses_id(&self, ses_id: &str) -> Result<Option<TicketNumber>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key(PK, s(format!("S#{}", ses_local_id(ses_id))))
            .key(SK, s("S"))
            .send()
            .await
            .map_err(|e| sdk_error("get sent id", e))?;
        Ok(out.item.and_then(|i| i.get("number").and_then(|n| n.as_s().ok()).and_then(|n| n.parse().ok())))
    }

    async fn quarantine(&self, record: &Quarantined) -> Result<(), StoreError> {
        let mut item = to_dynamo(record)?;
        item.insert(PK.to_string(), s(format!("Q#{}", record.day())));
        item.insert(SK.to_string(), s(record.id.clone()));
        item.insert("entity".to_string(), s("quarantine"));
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| sdk_error("quarantine", e))
    }

    async fn quarantined(&self, day: &str) -> Result<Vec<Quarantined>, StoreError> {
        let query = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk")
            .expression_attribute_values(":pk", s(format!("Q#{day}")));
        self.query_all(query, "query quarantine").await?.into_iter().map(from_dynamo::<Quarantined>).collect()
    }

    async fn release_quarantined(&self, day: &str, id: &str, number: &TicketNumber) -> Result<bool, StoreError> {
        let out = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(PK, s(format!("Q#{day}")))
            .key(SK, s(id))
            .update_expression("SET released_as = :number")
            .condition_expression(
                "attribute_exists(pk) AND (attribute_not_exists(released_as) OR attribute_type(released_as, :null))",
            )
            .expression_attribute_values(":number", s(number.as_str()))
            .expression_attribute_values(":null", s("NULL"))
            .send()
            .await;
        match out {
            Ok(_) => Ok(true),
            Err(err) if is_code(&err, "ConditionalCheckFailedException") => Ok(false),
            Err(err) => Err(sdk_error("release quarantined", err)),
        }
    }

    async fn count_sender(&self, sender: &str, now: Timestamp) -> Result<u64, StoreError> {
        let out = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(PK, s(format!("L#{}#{}", sender.to_lowercase(), now.strftime("%Y-%m-%dT%H"))))
            .key(SK, s("L"))
            .update_expression("ADD n :one SET entity = :entity, expires_at = :ttl")
            .expression_attribute_values(":one", AttributeValue::N("1".into()))
            .expression_attribute_values(":entity", s("sender_rate"))
            .expression_attribute_values(
                ":ttl",
                AttributeValue::N((now + SignedDuration::from_hours(48)).as_second().to_string()),
            )
            .return_values(ReturnValue::UpdatedNew)
            .send()
            .await
            .map_err(|e| sdk_error("count sender", e))?;
        out.attributes
            .and_then(|a| a.get("n").and_then(|n| n.as_n().ok()).and_then(|n| n.parse().ok()))
            .ok_or_else(|| StoreError::Corrupt("rate counter without n".into()))
    }

    async fn get(&self, number: &TicketNumber) -> Result<Ticket, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key(PK, s(ticket_pk(number)))
            .key(SK, s("META"))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| sdk_error("get ticket", e))?;
        let item = out.item.ok_or(StoreError::NotFound)?;
        Ok(from_dynamo::<TicketItem>(item)?.ticket)
    }

    async fn timeline(&self, number: &TicketNumber) -> Result<Vec<Event>, StoreError> {
        let query = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk AND begins_with(sk, :e)")
            .expression_attribute_values(":pk", s(ticket_pk(number)))
            .expression_attribute_values(":e", s("E#"))
            .consistent_read(true);
        self.query_all(query, "query timeline")
            .await?
            .into_iter()
            .map(|item| from_dynamo::<EventItem>(item).map(|e| e.event))
            .collect()
    }

    async fn apply(
        &self,
        applied: &Applied,
        expected_version: u64,
        outbox: &[Outgoing],
        claim: Option<(&ClaimToken, &Outcome)>,
    ) -> Result<(), StoreError> {
        let ticket = &applied.ticket;
        let number = &ticket.number;
        let put_ticket = Put::builder()
            .table_name(&self.table)
            .set_item(Some(self.ticket_item(ticket)?))
            .condition_expression("version = :expected")
            .expression_attribute_values(":expected", AttributeValue::N(expected_version.to_string()))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .build()
            .map_err(|e| StoreError::Other(format!("build put: {e}")))?;
        let mut writes = vec![
            TransactWriteItem::builder().put(put_ticket).build(),
            self.put(self.event_item(number, &applied.event)?, Some("attribute_not_exists(pk)"))?,
        ];
        // Queue entries: put the new step's roles, delete the roles that left.
        let new_entries = self.queue_entries(ticket);
        let new_roles: HashSet<Role> = new_entries.iter().map(|e| e.role).collect();
        // The entries to remove are those of the step the event left (every staff role
        // when that step is not in the ticket's procedure, as after triage routing).
        let previous: Vec<Role> = match applied.event.from_step.as_deref() {
            None => Vec::new(),
            Some(step) => self
                .catalog
                .get(&ticket.procedure)
                .and_then(|p| p.step(step))
                .map_or_else(|| Role::STAFF.to_vec(), |s| s.staff_roles()),
        };
        for role in previous {
            if !new_roles.contains(&role) {
                writes.push(self.delete(ticket_pk(number), format!("Q#{role}"))?);
            }
        }
        for entry in &new_entries {
            writes.push(self.put(self.queue_item(entry)?, None)?);
        }
        for mail in outbox {
            writes
                .push(self.put(self.outbox_item(number, mail, ticket.updated_at)?, Some("attribute_not_exists(pk)"))?);
        }
        if let Some((token, outcome)) = claim {
            writes.push(self.claim_done(token, outcome)?);
        }
        match self.client.transact_write_items().set_transact_items(Some(writes)).send().await {
            Ok(_) => Ok(()),
            Err(err) if is_code(&err, "TransactionCanceledException") => {
                let old = match &err {
                    SdkError::ServiceError(service) => match service.err() {
                        aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError::TransactionCanceledException(c) => c
                            .cancellation_reasons()
                            .first()
                            .filter(|r| r.code() == Some("ConditionalCheckFailed"))
                            .and_then(|r| r.item().cloned()),
                        _ => None,
                    },
                    _ => None,
                };
                let current = match old {
                    Some(item) if !item.is_empty() => from_dynamo::<TicketItem>(item)?.ticket,
                    _ => self.current(number).await?,
                };
                if current.version == expected_version {
                    // Cancelled for another reason (a concurrent transaction): transient.
                    Err(StoreError::Unavailable("transaction conflict, try again".into()))
                } else {
                    Err(StoreError::Conflict(Box::new(current)))
                }
            }
            Err(err) => Err(sdk_error("apply transition", err)),
        }
    }

    async fn queue(&self, role: Role, limit: i32, cursor: Option<&str>) -> Result<Page<QueueEntry>, StoreError> {
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(BY_QUEUE.name)
            .key_condition_expression("gsi_queue_pk = :pk")
            .expression_attribute_values(":pk", s(format!("Q#{role}")))
            .limit(limit.max(1))
            .set_exclusive_start_key(decode_cursor(cursor)?)
            .send()
            .await
            .map_err(|e| sdk_error("query queue", e))?;
        let items = out
            .items
            .unwrap_or_default()
            .into_iter()
            .map(|item| from_dynamo::<QueueItem>(item).map(|q| q.entry))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Page { items, next: encode_cursor(out.last_evaluated_key.as_ref()) })
    }

    async fn by_requester(&self, email: &str, limit: i32) -> Result<Vec<Ticket>, StoreError> {
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(BY_REQUESTER.name)
            .key_condition_expression("gsi_requester_pk = :pk")
            .expression_attribute_values(":pk", s(format!("R#{}", email.trim().to_lowercase())))
            .scan_index_forward(false)
            .limit(limit.max(1))
            .send()
            .await
            .map_err(|e| sdk_error("query requester", e))?;
        out.items
            .unwrap_or_default()
            .into_iter()
            .map(|item| from_dynamo::<TicketItem>(item).map(|t| t.ticket))
            .collect()
    }

    async fn opened_in_month(&self, year: i16, month: i8) -> Result<Vec<Ticket>, StoreError> {
        let query = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(BY_MONTH.name)
            .key_condition_expression("gsi_month_pk = :pk")
            .expression_attribute_values(":pk", s(format!("M#{year:04}-{month:02}")));
        self.query_all(query, "query month")
            .await?
            .into_iter()
            .map(|item| from_dynamo::<TicketItem>(item).map(|t| t.ticket))
            .collect()
    }

    async fn due(&self, now: Timestamp, limit: i32, cursor: Option<&str>) -> Result<SweepPage, StoreError> {
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(BY_DUE.name)
            .key_condition_expression("gsi_due_pk = :pk AND gsi_due_sk <= :upper")
            .expression_attribute_values(":pk", s(DUE_PARTITION))
            // '~' sorts after every ticket number character.
            .expression_attribute_values(":upper", s(format!("{}#~", sort_time(now))))
            .limit(limit.max(1))
            .set_exclusive_start_key(decode_cursor(cursor)?)
            .send()
            .await
            .map_err(|e| sdk_error("query due", e))?;
        let items = out.items.unwrap_or_default();
        let items_read = items.len();
        let tickets = items
            .into_iter()
            .map(|item| from_dynamo::<TicketItem>(item).map(|t| t.ticket))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(SweepPage { tickets, items_read, next: encode_cursor(out.last_evaluated_key.as_ref()) })
    }
}
