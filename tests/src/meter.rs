//! Meters for benchmarks: decorators of the ports (store, mailer, raw mail) that add up
//! the time spent in them and count their calls, and an SDK interceptor that estimates the
//! DynamoDB request units each call would bill on demand.
//!
//! Everything is counted in one shared [`Meter`]; a benchmark takes a [`Snapshot`] before
//! and after each request and subtracts. Handlers are run one at a time, so the
//! difference is that request's.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::config::interceptors::{
    AfterDeserializationInterceptorContextRef, BeforeTransmitInterceptorContextRef,
};
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_types::config_bag::{Storable, StoreReplace};
use jiff::Timestamp;
use loket_domain::Role;
use loket_domain::mail::compose::Outgoing;
use loket_domain::ports::{
    Claim, ClaimToken, Created, IoError, Mailer, Opened, OutboxMail, Outcome, Page, Quarantined, QueueEntry, RawMail,
    RawMailStore, StoreError, SweepPage, TicketStore,
};
use loket_domain::ticket::{Document, Event, Ticket, TicketNumber};
use loket_domain::workflow::{Applied, TransitionError};
use serde_json::Value;

/// Counters shared by the decorators and the interceptor.
#[derive(Debug, Default)]
pub struct Meter {
    store_nanos: AtomicU64,
    store_calls: AtomicU64,
    /// Time spent in `create`'s build closure (our code, run inside the store call).
    build_nanos: AtomicU64,
    mail_nanos: AtomicU64,
    mails: AtomicU64,
    mail_recipients: AtomicU64,
    mail_bytes: AtomicU64,
    raw_nanos: AtomicU64,
    raw_gets: AtomicU64,
    raw_get_bytes: AtomicU64,
    raw_puts: AtomicU64,
    raw_put_bytes: AtomicU64,
    dynamo_calls: AtomicU64,
    /// Request units × 2 (reads come in halves).
    read_half_units: AtomicU64,
    write_units: AtomicU64,
    operations: Mutex<BTreeMap<String, u64>>,
    mail_kinds: Mutex<BTreeMap<String, u64>>,
}

/// The counters at one moment; subtract two to get what happened between them.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub struct Snapshot {
    /// Time in store calls, excluding our code run inside them.
    pub store: Duration,
    pub store_calls: u64,
    pub mail: Duration,
    pub mails: u64,
    /// SES bills each recipient of a mail as one mail.
    pub mail_recipients: u64,
    pub mail_bytes: u64,
    pub raw: Duration,
    pub raw_gets: u64,
    pub raw_get_bytes: u64,
    pub raw_puts: u64,
    pub raw_put_bytes: u64,
    pub dynamo_calls: u64,
    /// DynamoDB read request units (on-demand billing), estimated from item sizes.
    pub read_units: f64,
    /// DynamoDB write request units (transactional writes count twice).
    pub write_units: f64,
}

impl std::ops::Sub for Snapshot {
    type Output = Snapshot;

    fn sub(self, o: Snapshot) -> Snapshot {
        Snapshot {
            store: self.store.saturating_sub(o.store),
            store_calls: self.store_calls - o.store_calls,
            mail: self.mail.saturating_sub(o.mail),
            mails: self.mails - o.mails,
            mail_recipients: self.mail_recipients - o.mail_recipients,
            mail_bytes: self.mail_bytes - o.mail_bytes,
            raw: self.raw.saturating_sub(o.raw),
            raw_gets: self.raw_gets - o.raw_gets,
            raw_get_bytes: self.raw_get_bytes - o.raw_get_bytes,
            raw_puts: self.raw_puts - o.raw_puts,
            raw_put_bytes: self.raw_put_bytes - o.raw_put_bytes,
            dynamo_calls: self.dynamo_calls - o.dynamo_calls,
            read_units: self.read_units - o.read_units,
            write_units: self.write_units - o.write_units,
        }
    }
}

fn add(counter: &AtomicU64, d: Duration) {
    counter.fetch_add(u64::try_from(d.as_nanos()).unwrap_or(u64::MAX), Ordering::Relaxed);
}

fn nanos(counter: &AtomicU64) -> Duration {
    Duration::from_nanos(counter.load(Ordering::Relaxed))
}

impl Meter {
    pub fn new() -> Arc<Meter> {
        Arc::new(Meter::default())
    }

    pub fn snapshot(&self) -> Snapshot {
        let load = |c: &AtomicU64| c.load(Ordering::Relaxed);
        Snapshot {
            store: nanos(&self.store_nanos).saturating_sub(nanos(&self.build_nanos)),
            store_calls: load(&self.store_calls),
            mail: nanos(&self.mail_nanos),
            mails: load(&self.mails),
            mail_recipients: load(&self.mail_recipients),
            mail_bytes: load(&self.mail_bytes),
            raw: nanos(&self.raw_nanos),
            raw_gets: load(&self.raw_gets),
            raw_get_bytes: load(&self.raw_get_bytes),
            raw_puts: load(&self.raw_puts),
            raw_put_bytes: load(&self.raw_put_bytes),
            dynamo_calls: load(&self.dynamo_calls),
            read_units: load(&self.read_half_units) as f64 / 2.0,
            write_units: load(&self.write_units) as f64,
        }
    }

    /// DynamoDB operations seen so far, by name.
    pub fn operations(&self) -> BTreeMap<String, u64> {
        self.operations.lock().map(|m| m.clone()).unwrap_or_default()
    }

    /// Mails sent so far, by kind (acknowledgement, milestone, staff notice, ...).
    pub fn mail_kinds(&self) -> BTreeMap<String, u64> {
        self.mail_kinds.lock().map(|m| m.clone()).unwrap_or_default()
    }

    /// An interceptor for the DynamoDB client that counts into this meter.
    pub fn dynamo_interceptor(self: &Arc<Self>) -> DynamoUnits {
        DynamoUnits { meter: Arc::clone(self) }
    }
}

/// Times an async call into `counter`.
async fn timed<T>(counter: &AtomicU64, f: impl std::future::Future<Output = T>) -> T {
    let started = Instant::now();
    let out = f.await;
    add(counter, started.elapsed());
    out
}

/// A [`TicketStore`] that times every call of the store it wraps.
pub struct MeteredStore<S> {
    pub inner: S,
    pub meter: Arc<Meter>,
}

impl<S: TicketStore + Sync> MeteredStore<S> {
    async fn time<T>(&self, f: impl std::future::Future<Output = T>) -> T {
        self.meter.store_calls.fetch_add(1, Ordering::Relaxed);
        timed(&self.meter.store_nanos, f).await
    }
}

impl<S: TicketStore + Sync> TicketStore for MeteredStore<S> {
    async fn claim(&self, key: &str, now: Timestamp) -> Result<Claim, StoreError> {
        self.time(self.inner.claim(key, now)).await
    }

    async fn save_alert_progress(&self, ticket: &Ticket) -> Result<bool, StoreError> {
        self.time(self.inner.save_alert_progress(ticket)).await
    }

    async fn finish(&self, claim: &ClaimToken, outcome: &Outcome) -> Result<(), StoreError> {
        self.time(self.inner.finish(claim, outcome)).await
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
        let meter = Arc::clone(&self.meter);
        let build = move |number| {
            let started = Instant::now();
            let opened = build(number);
            add(&meter.build_nanos, started.elapsed());
            opened
        };
        self.time(self.inner.create(claim, service, year, reason, build)).await
    }

    async fn mark_sent(&self, number: &TicketNumber, key: &str, ses_id: &str) -> Result<(), StoreError> {
        self.time(self.inner.mark_sent(number, key, ses_id)).await
    }

    async fn mark_failed(&self, number: &TicketNumber, key: &str, reason: &str) -> Result<bool, StoreError> {
        self.time(self.inner.mark_failed(number, key, reason)).await
    }

    async fn pending_mail(&self, limit: i32) -> Result<Vec<OutboxMail>, StoreError> {
        self.time(self.inner.pending_mail(limit)).await
    }

    async fn ticket_of_ses_id(&self, ses_id: &str) -> Result<Option<TicketNumber>, StoreError> {
        self.time(self.inner.ticket_of_ses_id(ses_id)).await
    }

    async fn quarantine(&self, record: &Quarantined) -> Result<(), StoreError> {
        self.time(self.inner.quarantine(record)).await
    }

    async fn quarantined(&self, day: &str) -> Result<Vec<Quarantined>, StoreError> {
        self.time(self.inner.quarantined(day)).await
    }

    async fn release_quarantined(&self, day: &str, id: &str, number: &TicketNumber) -> Result<bool, StoreError> {
        self.time(self.inner.release_quarantined(day, id, number)).await
    }

    async fn count_sender(&self, sender: &str, now: Timestamp) -> Result<u64, StoreError> {
        self.time(self.inner.count_sender(sender, now)).await
    }

    async fn get(&self, number: &TicketNumber) -> Result<Ticket, StoreError> {
        self.time(self.inner.get(number)).await
    }

    async fn timeline(&self, number: &TicketNumber) -> Result<Vec<Event>, StoreError> {
        self.time(self.inner.timeline(number)).await
    }

    async fn apply(
        &self,
        applied: &Applied,
        expected_version: u64,
        outbox: &[Outgoing],
        claim: Option<(&ClaimToken, &Outcome)>,
    ) -> Result<(), StoreError> {
        self.time(self.inner.apply(applied, expected_version, outbox, claim)).await
    }

    async fn queue(&self, role: Role, limit: i32, cursor: Option<&str>) -> Result<Page<QueueEntry>, StoreError> {
        self.time(self.inner.queue(role, limit, cursor)).await
    }

    async fn by_requester(&self, email: &str, limit: i32) -> Result<Vec<Ticket>, StoreError> {
        self.time(self.inner.by_requester(email, limit)).await
    }

    async fn opened_in_month(&self, year: i16, month: i8) -> Result<Vec<Ticket>, StoreError> {
        self.time(self.inner.opened_in_month(year, month)).await
    }

    async fn due(&self, now: Timestamp, limit: i32, cursor: Option<&str>) -> Result<SweepPage, StoreError> {
        self.time(self.inner.due(now, limit, cursor)).await
    }
}

/// A [`Mailer`] that times and counts every send of the mailer it wraps.
pub struct MeteredMailer<M> {
    pub inner: M,
    pub meter: Arc<Meter>,
}

impl<M: Mailer + Sync> Mailer for MeteredMailer<M> {
    async fn send(&self, mail: &Outgoing) -> Result<String, IoError> {
        self.meter.mails.fetch_add(1, Ordering::Relaxed);
        self.meter.mail_recipients.fetch_add(mail.to.len() as u64, Ordering::Relaxed);
        self.meter.mail_bytes.fetch_add(mail.raw.len() as u64, Ordering::Relaxed);
        if let Ok(mut kinds) = self.meter.mail_kinds.lock() {
            *kinds.entry(format!("{:?}", mail.kind)).or_default() += 1;
        }
        timed(&self.meter.mail_nanos, self.inner.send(mail)).await
    }
}

/// A [`RawMailStore`] (S3) that times and counts the store it wraps.
pub struct MeteredRaw<R> {
    pub inner: R,
    pub meter: Arc<Meter>,
}

impl<R: RawMailStore + Sync> RawMailStore for MeteredRaw<R> {
    async fn fetch(&self, key: &str, max_bytes: u64) -> Result<RawMail, IoError> {
        self.meter.raw_gets.fetch_add(1, Ordering::Relaxed);
        let found = timed(&self.meter.raw_nanos, self.inner.fetch(key, max_bytes)).await;
        if let Ok(RawMail::Found(bytes)) = &found {
            self.meter.raw_get_bytes.fetch_add(bytes.len() as u64, Ordering::Relaxed);
        }
        found
    }

    async fn put(&self, key: &str, bytes: Vec<u8>, content_type: &str) -> Result<(), IoError> {
        self.meter.raw_puts.fetch_add(1, Ordering::Relaxed);
        self.meter.raw_put_bytes.fetch_add(bytes.len() as u64, Ordering::Relaxed);
        timed(&self.meter.raw_nanos, self.inner.put(key, bytes, content_type)).await
    }

    async fn link(&self, document: &Document, valid_for: std::time::Duration) -> Result<String, IoError> {
        self.inner.link(document, valid_for).await
    }
}

/// Whether a read was strongly consistent (it bills a full unit per 4 KB, not half).
#[derive(Debug, Clone, Copy)]
struct Consistent(bool);

impl Storable for Consistent {
    type Storer = StoreReplace<Self>;
}

/// Estimates on-demand request units from the JSON of each DynamoDB call: writes at
/// 1 unit per KB of item (2 in a transaction), reads at 1 unit per 4 KB read (half when
/// eventually consistent). Item sizes follow DynamoDB's rule (attribute names plus
/// values); an `UpdateItem` is sized by its key and new values, a lower bound.
#[derive(Debug)]
pub struct DynamoUnits {
    meter: Arc<Meter>,
}

/// DynamoDB's size of an attribute value in DynamoDB JSON.
fn value_size(v: &Value) -> usize {
    let Some((kind, inner)) = v.as_object().and_then(|o| o.iter().next()) else { return 0 };
    match (kind.as_str(), inner) {
        ("S", Value::String(s)) => s.len(),
        ("N", Value::String(n)) => n.len().div_ceil(2) + 1,
        ("B", Value::String(b)) => b.len() * 3 / 4,
        ("BOOL" | "NULL", _) => 1,
        ("SS" | "NS" | "BS", Value::Array(items)) => items.iter().filter_map(Value::as_str).map(str::len).sum(),
        ("L", Value::Array(items)) => 3 + items.iter().map(|i| 1 + value_size(i)).sum::<usize>(),
        ("M", Value::Object(_)) => 3 + item_size(inner),
        _ => 0,
    }
}

/// DynamoDB's size of an item (a map of attribute name to value).
fn item_size(item: &Value) -> usize {
    item.as_object().map_or(0, |m| m.iter().map(|(k, v)| k.len() + value_size(v) + 1).sum())
}

fn write_units(bytes: usize) -> u64 {
    bytes.div_ceil(1024).max(1) as u64
}

/// Write units of one write request (`Put`, `Update`, `Delete`, `ConditionCheck`).
fn write_request_units(request: &Value) -> u64 {
    if let Some(item) = request.get("Item") {
        return write_units(item_size(item));
    }
    let key = request.get("Key").map_or(0, item_size);
    let values = request.get("ExpressionAttributeValues").map_or(0, item_size);
    write_units(key + values)
}

impl Intercept for DynamoUnits {
    fn name(&self) -> &'static str {
        "DynamoUnits"
    }

    fn read_before_transmit(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let operation = cfg.load::<Metadata>().map(|m| m.name().to_string()).unwrap_or_default();
        let body: Value =
            context.request().body().bytes().and_then(|b| serde_json::from_slice(b).ok()).unwrap_or(Value::Null);
        let writes = match operation.as_str() {
            "PutItem" | "UpdateItem" | "DeleteItem" => write_request_units(&body),
            "TransactWriteItems" => body["TransactItems"]
                .as_array()
                .map(|items| {
                    items
                        .iter()
                        .filter_map(|i| i.as_object().and_then(|o| o.values().next()))
                        .map(|r| 2 * write_request_units(r))
                        .sum()
                })
                .unwrap_or(0),
            "BatchWriteItem" => body["RequestItems"]
                .as_object()
                .map(|tables| {
                    tables
                        .values()
                        .filter_map(Value::as_array)
                        .flatten()
                        .filter_map(|r| r.get("PutRequest").or_else(|| r.get("DeleteRequest")))
                        .map(write_request_units)
                        .sum()
                })
                .unwrap_or(0),
            _ => 0,
        };
        self.meter.write_units.fetch_add(writes, Ordering::Relaxed);
        self.meter.dynamo_calls.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut ops) = self.meter.operations.lock() {
            *ops.entry(operation).or_default() += 1;
        }
        cfg.interceptor_state().store_put(Consistent(body["ConsistentRead"].as_bool().unwrap_or(false)));
        Ok(())
    }

    fn read_after_deserialization(
        &self,
        context: &AfterDeserializationInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let operation = cfg.load::<Metadata>().map(|m| m.name().to_string()).unwrap_or_default();
        let consistent = cfg.load::<Consistent>().is_some_and(|c| c.0);
        let body: Value =
            context.response().body().bytes().and_then(|b| serde_json::from_slice(b).ok()).unwrap_or(Value::Null);
        // Half units: one 4 KB block costs 1 half eventually consistent, 2 strongly.
        let per_block = if consistent { 2 } else { 1 };
        let blocks = |bytes: usize| bytes.div_ceil(4096).max(1) as u64;
        let halves = match operation.as_str() {
            "GetItem" => per_block * blocks(body.get("Item").map_or(0, item_size)),
            "Query" | "Scan" => {
                let bytes = body["Items"].as_array().map_or(0, |items| items.iter().map(item_size).sum());
                per_block * blocks(bytes)
            }
            "TransactGetItems" => body["Responses"]
                .as_array()
                .map_or(0, |items| items.iter().map(|i| 4 * blocks(i.get("Item").map_or(0, item_size))).sum()),
            "BatchGetItem" => body["Responses"].as_object().map_or(0, |tables| {
                tables.values().filter_map(Value::as_array).flatten().map(|i| per_block * blocks(item_size(i))).sum()
            }),
            _ => 0,
        };
        self.meter.read_half_units.fetch_add(halves, Ordering::Relaxed);
        Ok(())
    }
}

/// Percentile (0..=100) of sorted samples, nearest rank.
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn item_sizes_follow_dynamodb() {
        let item = json!({"pk": {"S": "T#GJI-2026-000001"}, "n": {"N": "12345"}, "ok": {"BOOL": true}});
        assert_eq!(item_size(&item), (2 + 17 + 1) + (1 + 4 + 1) + (2 + 1 + 1));
        assert_eq!(write_request_units(&json!({"Item": item})), 1);
        let big = json!({"Item": {"d": {"S": "x".repeat(3000)}}});
        assert_eq!(write_request_units(&big), 3);
    }

    #[test]
    fn percentiles() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&v, 50.0), 50.0);
        assert_eq!(percentile(&v, 99.0), 99.0);
        assert_eq!(percentile(&v, 100.0), 100.0);
    }
}
