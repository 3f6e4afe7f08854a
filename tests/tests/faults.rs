//! Faults between the functions and the store, S3 and SES, injected by wrappers of the
//! real adapters (MiniStack behind them) that follow a plan: throttling, 500s, timeouts
//! (the request never reached the service), and lost responses (the write happened, the
//! answer did not come back). What must hold:
//!
//! - nothing is lost: every mail becomes its ticket and every acknowledgement goes out;
//! - no ticket is created twice;
//! - a mail goes out twice only in the documented window (SES accepted it and the record
//!   of that did not stick), and never more often than that window was hit, counted here;
//! - the staff API answers a store fault with a clear 503 and leaves the ticket as it was;
//! - the SLA sweep still sends each alert once (plus that window).

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_lambda_events::event::ses::SimpleEmailEvent;
use jiff::{SignedDuration, Timestamp};
use lambda_http::{Body, Response};
use loket_aws::{DynamoTicketStore, S3RawMailStore, SesMailer};
use loket_domain::escalation::AlertLevel;
use loket_domain::mail::classify::Verdicts;
use loket_domain::mail::compose::{Links, MailKind, Outgoing};
use loket_domain::mail::thread::ThreadKeys;
use loket_domain::ports::{
    Claim, ClaimToken, Created, IoError, Mailer, Opened, OutboxMail, Outcome, Page, Quarantined, QueueEntry, RawMail,
    RawMailStore, StoreError, SweepPage, TicketStore,
};
use loket_domain::ticket::{Document, Event, Ticket, TicketNumber};
use loket_domain::workflow::{Applied, TransitionError};
use loket_domain::{Agency, Catalog, Role};
use loket_tests::{Scratch, ses_event, unique_name};
use serde_json::{Value, json};

/// What goes wrong with one call.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Fault {
    /// Throttled (after the SDK's own retries): nothing happened.
    Throttle,
    /// A 500 from the service: nothing happened.
    ServerError,
    /// The client gave up waiting before the service acted.
    Timeout,
    /// The service did it; the connection dropped before the answer came back.
    LostResponse,
}

impl Fault {
    const ALL: [Fault; 4] = [Fault::Throttle, Fault::ServerError, Fault::Timeout, Fault::LostResponse];

    fn message(self) -> String {
        match self {
            Fault::Throttle => "injected: ThrottlingException".into(),
            Fault::ServerError => "injected: 500 InternalServerError".into(),
            Fault::Timeout => "injected: operation timed out".into(),
            Fault::LostResponse => "injected: connection reset after the request was sent".into(),
        }
    }
}

/// The adapter call a fault applies to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Op {
    Claim,
    Finish,
    Create,
    Apply,
    MarkSent,
    MarkFailed,
    PendingMail,
    TicketOfSesId,
    Quarantine,
    CountSender,
    Get,
    Timeline,
    SaveAlertProgress,
    Read,
    Due,
    Fetch,
    Put,
    Send,
}

/// The plan and what happened under it.
#[derive(Default)]
struct Plan {
    /// The n-th call (from 1) of an operation gets this fault.
    script: BTreeMap<(Op, u32), Fault>,
    /// Each call of these operations fails with this chance (per mille), from a seeded generator.
    random: Option<(u32, BTreeSet<Op>)>,
    rng: u64,
    calls: BTreeMap<Op, u32>,
    injected: BTreeMap<(Op, Fault), u32>,
    /// Mail SES accepted, in order.
    accepted: Vec<Outgoing>,
    /// The documented window, per mail: SES accepted it and its record did not stick.
    /// Keyed by (recipient, ticket number) for alerts, by Message-ID prefix for ticket mail.
    window: BTreeMap<String, u32>,
    /// The due index lagging behind the table: `due` answers these earlier copies.
    lagging_due: Option<Vec<Ticket>>,
}

impl Plan {
    fn next_random(&mut self) -> u32 {
        // xorshift64*: deterministic for a seed, good enough to spread faults.
        let mut x = self.rng;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.rng = x;
        (x.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 33) as u32
    }
}

#[derive(Clone, Default)]
struct Faults(Arc<Mutex<Plan>>);

impl Faults {
    fn lock(&self) -> std::sync::MutexGuard<'_, Plan> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A fresh plan: these scripted faults, nothing random.
    fn script(&self, faults: &[(Op, u32, Fault)]) {
        let mut plan = self.lock();
        plan.script = faults.iter().map(|(op, n, f)| ((*op, *n), *f)).collect();
        plan.random = None;
        plan.calls.clear();
    }

    fn random(&self, seed: u64, per_mille: u32, ops: &[Op]) {
        let mut plan = self.lock();
        plan.script.clear();
        plan.rng = seed.max(1);
        plan.random = Some((per_mille, ops.iter().copied().collect()));
        plan.calls.clear();
    }

    fn off(&self) {
        self.script(&[]);
    }

    fn decide(&self, op: Op) -> Option<Fault> {
        let mut plan = self.lock();
        let n = {
            let calls = plan.calls.entry(op).or_default();
            *calls += 1;
            *calls
        };
        let fault = match plan.script.get(&(op, n)).copied() {
            Some(f) => Some(f),
            None => match plan.random.clone() {
                Some((per_mille, ops)) if ops.contains(&op) => {
                    let roll = plan.next_random() % 1000;
                    let which = plan.next_random() as usize % Fault::ALL.len();
                    (roll < per_mille).then_some(Fault::ALL[which])
                }
                _ => None,
            },
        };
        if let Some(f) = fault {
            *plan.injected.entry((op, f)).or_default() += 1;
        }
        fault
    }

    fn window_hit(&self, key: String) {
        *self.lock().window.entry(key).or_default() += 1;
    }

    fn window(&self, key: &str) -> u32 {
        self.lock().window.get(key).copied().unwrap_or(0)
    }

    fn window_total(&self) -> u32 {
        self.lock().window.values().sum()
    }

    fn accepted(&self) -> Vec<Outgoing> {
        self.lock().accepted.clone()
    }

    fn injected_total(&self) -> u32 {
        self.lock().injected.values().sum()
    }

    fn injected_summary(&self) -> String {
        let plan = self.lock();
        let mut by_fault: BTreeMap<Fault, u32> = BTreeMap::new();
        for ((_, f), n) in &plan.injected {
            *by_fault.entry(*f).or_default() += n;
        }
        format!("{by_fault:?}")
    }
}

/// Runs `call` as the fault plan says: not at all (throttle, 500, timeout) or for real
/// with the answer lost. `on_lost` runs when the call happened but its answer is lost.
async fn guarded<T, E, Fut>(
    faults: &Faults,
    op: Op,
    error: impl Fn(String) -> E,
    call: impl FnOnce() -> Fut,
    on_miss: impl FnOnce(bool),
) -> Result<T, E>
where
    Fut: Future<Output = Result<T, E>>,
{
    match faults.decide(op) {
        None => call().await,
        Some(f @ Fault::LostResponse) => {
            let happened = call().await.is_ok();
            on_miss(happened);
            Err(error(f.message()))
        }
        Some(f) => {
            if f == Fault::Timeout {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            on_miss(false);
            Err(error(f.message()))
        }
    }
}

/// The message-id prefix that names one mail of one ticket (`loket.<number>.<key>.`).
fn mail_identity(number: &TicketNumber, key: &str) -> String {
    format!("loket.{number}.{key}.")
}

fn identity_of(mail: &Outgoing) -> String {
    let local = mail.message_id.split('@').next().unwrap_or_default();
    local.rsplit_once('.').map(|(head, _)| format!("{head}.")).unwrap_or_default()
}

/// The decoded text of a mail (subject and body), whatever transfer encoding it has.
fn text_of(mail: &Outgoing) -> String {
    let parsed = mail_parser::MessageParser::default().parse(&mail.raw);
    let body = parsed.as_ref().and_then(|m| m.body_text(0)).map(|b| b.to_string()).unwrap_or_default();
    format!("{}\n{body}", mail.subject)
}

/// The DynamoDB store behind a fault plan.
#[derive(Clone)]
struct FaultyStore {
    inner: DynamoTicketStore,
    faults: Faults,
    /// Staff id → email, to name the recipient of an alert claim.
    staff: BTreeMap<String, String>,
}

impl FaultyStore {
    async fn run<T, Fut>(&self, op: Op, call: impl FnOnce() -> Fut) -> Result<T, StoreError>
    where
        Fut: Future<Output = Result<T, StoreError>>,
    {
        guarded(&self.faults, op, StoreError::Unavailable, call, |_| {}).await
    }
}

impl TicketStore for FaultyStore {
    async fn claim(&self, key: &str, now: Timestamp) -> Result<Claim, StoreError> {
        self.run(Op::Claim, || self.inner.claim(key, now)).await
    }
    async fn save_alert_progress(&self, ticket: &Ticket) -> Result<bool, StoreError> {
        self.run(Op::SaveAlertProgress, || self.inner.save_alert_progress(ticket)).await
    }
    async fn finish(&self, claim: &ClaimToken, outcome: &Outcome) -> Result<(), StoreError> {
        // An alert claim is finished right after SES took the mail: a finish that does not
        // stick is the documented window (the claim expires and the mail is sent again).
        let window = claim.key.strip_prefix("alert:").and_then(|rest| {
            let mut parts = rest.split(':');
            let number = parts.next()?.to_string();
            let recipient = parts.next_back()?;
            Some(format!("{}|{number}", self.staff.get(recipient)?))
        });
        let faults = self.faults.clone();
        guarded(
            &self.faults,
            Op::Finish,
            StoreError::Unavailable,
            || self.inner.finish(claim, outcome),
            |happened| {
                if let (false, Some(key)) = (happened, window) {
                    faults.window_hit(key);
                }
            },
        )
        .await
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
        self.run(Op::Create, || self.inner.create(claim, service, year, reason, build)).await
    }
    async fn mark_sent(&self, number: &TicketNumber, key: &str, ses_id: &str) -> Result<(), StoreError> {
        // Called after SES accepted the mail: a record that does not stick is the window.
        let faults = self.faults.clone();
        let identity = mail_identity(number, key);
        guarded(
            &self.faults,
            Op::MarkSent,
            StoreError::Unavailable,
            || self.inner.mark_sent(number, key, ses_id),
            |happened| {
                if !happened {
                    faults.window_hit(identity);
                }
            },
        )
        .await
    }
    async fn mark_failed(&self, number: &TicketNumber, key: &str, reason: &str) -> Result<bool, StoreError> {
        self.run(Op::MarkFailed, || self.inner.mark_failed(number, key, reason)).await
    }
    async fn pending_mail(&self, limit: i32) -> Result<Vec<OutboxMail>, StoreError> {
        self.run(Op::PendingMail, || self.inner.pending_mail(limit)).await
    }
    async fn ticket_of_ses_id(&self, ses_id: &str) -> Result<Option<TicketNumber>, StoreError> {
        self.run(Op::TicketOfSesId, || self.inner.ticket_of_ses_id(ses_id)).await
    }
    async fn quarantine(&self, record: &Quarantined) -> Result<(), StoreError> {
        self.run(Op::Quarantine, || self.inner.quarantine(record)).await
    }
    async fn quarantined(&self, day: &str) -> Result<Vec<Quarantined>, StoreError> {
        self.inner.quarantined(day).await
    }
    async fn release_quarantined(&self, day: &str, id: &str, number: &TicketNumber) -> Result<bool, StoreError> {
        self.inner.release_quarantined(day, id, number).await
    }
    async fn count_sender(&self, sender: &str, now: Timestamp) -> Result<u64, StoreError> {
        self.run(Op::CountSender, || self.inner.count_sender(sender, now)).await
    }
    async fn get(&self, number: &TicketNumber) -> Result<Ticket, StoreError> {
        self.run(Op::Get, || self.inner.get(number)).await
    }
    async fn timeline(&self, number: &TicketNumber) -> Result<Vec<Event>, StoreError> {
        self.run(Op::Timeline, || self.inner.timeline(number)).await
    }
    async fn apply(
        &self,
        applied: &Applied,
        expected_version: u64,
        outbox: &[Outgoing],
        claim: Option<(&ClaimToken, &Outcome)>,
    ) -> Result<(), StoreError> {
        self.run(Op::Apply, || self.inner.apply(applied, expected_version, outbox, claim)).await
    }
    async fn queue(&self, role: Role, limit: i32, cursor: Option<&str>) -> Result<Page<QueueEntry>, StoreError> {
        self.run(Op::Read, || self.inner.queue(role, limit, cursor)).await
    }
    async fn by_requester(&self, email: &str, limit: i32) -> Result<Vec<Ticket>, StoreError> {
        self.run(Op::Read, || self.inner.by_requester(email, limit)).await
    }
    async fn opened_in_month(&self, year: i16, month: i8) -> Result<Vec<Ticket>, StoreError> {
        self.run(Op::Read, || self.inner.opened_in_month(year, month)).await
    }
    async fn due(&self, now: Timestamp, limit: i32, cursor: Option<&str>) -> Result<SweepPage, StoreError> {
        if let Some(tickets) = self.faults.lock().lagging_due.clone() {
            return Ok(SweepPage { items_read: tickets.len(), tickets, next: None });
        }
        self.run(Op::Due, || self.inner.due(now, limit, cursor)).await
    }
}

/// S3 behind the plan.
#[derive(Clone)]
struct FaultyRaw {
    inner: S3RawMailStore,
    faults: Faults,
}

impl RawMailStore for FaultyRaw {
    async fn fetch(&self, key: &str, max_bytes: u64) -> Result<RawMail, IoError> {
        guarded(&self.faults, Op::Fetch, IoError::Unavailable, || self.inner.fetch(key, max_bytes), |_| {}).await
    }
    async fn put(&self, key: &str, bytes: Vec<u8>, content_type: &str) -> Result<(), IoError> {
        guarded(&self.faults, Op::Put, IoError::Unavailable, || self.inner.put(key, bytes, content_type), |_| {}).await
    }
    async fn link(&self, document: &Document, valid_for: std::time::Duration) -> Result<String, IoError> {
        self.inner.link(document, valid_for).await
    }
}

/// SES behind the plan; keeps what SES accepted.
#[derive(Clone)]
struct FaultyMailer {
    inner: SesMailer,
    faults: Faults,
    numbers: Arc<Mutex<Vec<TicketNumber>>>,
}

impl Mailer for FaultyMailer {
    async fn send(&self, mail: &Outgoing) -> Result<String, IoError> {
        let faults = self.faults.clone();
        let send = || async {
            let id = self.inner.send(mail).await?;
            self.faults.lock().accepted.push(mail.clone());
            Ok(id)
        };
        // SES accepted a mail whose answer was lost: nobody can record it, so the same
        // window as a failed record.
        let keys: Vec<String> = if mail.kind == MailKind::Escalation {
            let body = text_of(mail);
            let numbers = self.numbers.lock().unwrap_or_else(|e| e.into_inner()).clone();
            numbers
                .iter()
                .filter(|n| body.contains(n.as_str()))
                .flat_map(|n| mail.to.iter().map(move |to| format!("{to}|{n}")))
                .collect()
        } else {
            vec![identity_of(mail)]
        };
        guarded(&self.faults, Op::Send, IoError::Unavailable, send, |happened| {
            if happened {
                keys.into_iter().for_each(|k| faults.window_hit(k));
            }
        })
        .await
    }
}

struct Env {
    faults: Faults,
    store: FaultyStore,
    raw: FaultyRaw,
    mailer: FaultyMailer,
    s3: aws_sdk_s3::Client,
    bucket: String,
    catalog: Catalog,
    agency: Agency,
    keys: ThreadKeys,
    links: Links,
}

async fn env() -> Env {
    let Scratch { dynamo, s3, ses, table, bucket, catalog, agency, .. } =
        Scratch::new("loket-faults", "pangkalpinang").await;
    let faults = Faults::default();
    let staff = agency.staff.iter().map(|m| (sla_check::claim_id(&m.id), m.email.clone())).collect();
    Env {
        store: FaultyStore {
            inner: DynamoTicketStore::new(dynamo, table, catalog.clone()),
            faults: faults.clone(),
            staff,
        },
        raw: FaultyRaw { inner: S3RawMailStore::new(s3.clone(), &bucket), faults: faults.clone() },
        mailer: FaultyMailer {
            inner: SesMailer::new(ses, agency.service_address.clone()),
            faults: faults.clone(),
            numbers: Arc::default(),
        },
        faults,
        s3,
        bucket,
        catalog,
        agency,
        keys: ThreadKeys::new(b"faults-test-secret-0123456789".to_vec()).expect("keys"),
        links: Links { public_base: "http://127.0.0.1:9".into(), console_base: "http://127.0.0.1:9/staf".into() },
    }
}

impl Env {
    fn intake(&self) -> email_intake::Deps<FaultyStore, FaultyRaw, FaultyMailer> {
        email_intake::Deps {
            store: self.store.clone(),
            raw: self.raw.clone(),
            mailer: self.mailer.clone(),
            catalog: self.catalog.clone(),
            agency: self.agency.clone(),
            keys: self.keys.clone(),
            links: self.links.clone(),
            raw_prefix: "raw/".into(),
            limits: email_intake::Limits::default(),
        }
    }

    /// A 'gangguan-internet-disposisi' request of Monday 08:00 (its first step, the Kabid's
    /// or Kadis's 'disposisi', takes 10 minutes), stored without faults.
    async fn open_late_ticket(&self, email: &str, subject: &str) -> Ticket {
        let wf = loket_domain::Workflow::new(&self.catalog, &self.agency);
        let requester = loket_domain::ticket::Requester {
            email: Some(email.into()),
            name: "PIC".into(),
            unit: "Dinas Sosial".into(),
            phone: None,
        };
        let created = loket_domain::ports::create_once(&self.store.inner, &unique_name("sla"), "GJI", 2026, |number| {
            let applied = wf.open(loket_domain::workflow::NewTicket {
                number,
                procedure: "gangguan-internet-disposisi".into(),
                actor: loket_domain::ticket::Actor::requester(&requester),
                requester: requester.clone(),
                channel: loket_domain::ticket::Channel::Web,
                subject: subject.into(),
                description: String::new(),
                fields: BTreeMap::new(),
                documents: Vec::new(),
                token_hash: String::new(),
                related: Vec::new(),
                mail_in: None,
                at: monday_8(),
            })?;
            Ok((applied, Vec::new()))
        })
        .await
        .expect("create");
        let Created::New(applied, _) = created else { panic!("duplicate") };
        applied.ticket
    }

    fn sla(&self) -> sla_check::Deps<FaultyStore, FaultyMailer> {
        sla_check::Deps {
            store: self.store.clone(),
            mailer: self.mailer.clone(),
            catalog: self.catalog.clone(),
            agency: self.agency.clone(),
            keys: self.keys.clone(),
            links: self.links.clone(),
        }
    }

    fn staff_api(&self) -> transitions::Deps<FaultyStore, FaultyRaw, FaultyMailer> {
        transitions::Deps {
            store: self.store.clone(),
            files: self.raw.clone(),
            mailer: self.mailer.clone(),
            catalog: self.catalog.clone(),
            agency: self.agency.clone(),
            keys: self.keys.clone(),
            links: self.links.clone(),
            sign_in: None,
        }
    }

    /// Puts a mail where SES puts it and returns its SES id and receipt verdicts.
    async fn store_mail(&self, requester: &str, subject: &str) -> (String, Verdicts) {
        let ses_id = unique_name("ses");
        let raw = format!(
            "From: Pemohon <{requester}>\r\nTo: {to}\r\nSubject: {subject}\r\nMessage-ID: <{ses_id}@opd.example.go.id>\r\n\
             Date: Mon, 23 Nov 2026 08:00:00 +0700\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n\
             Selamat pagi, internet mati sejak pukul 07.30 di ruang pelayanan. Mohon bantuan.\r\n",
            to = self.agency.service_address
        );
        self.s3
            .put_object()
            .bucket(&self.bucket)
            .key(format!("raw/{ses_id}"))
            .body(raw.as_bytes().to_vec().into())
            .send()
            .await
            .expect("put raw");
        let event: SimpleEmailEvent =
            serde_json::from_value(ses_event(&ses_id, raw.as_bytes(), &[self.agency.service_address.as_str()], ""))
                .expect("event");
        let receipt = &event.records[0].ses.receipt;
        let v = |s: &Option<String>| s.as_deref().and_then(loket_domain::mail::classify::Verdict::from_ses);
        let verdicts = Verdicts {
            spam: v(&receipt.spam_verdict.status),
            virus: v(&receipt.virus_verdict.status),
            spf: v(&receipt.spf_verdict.status),
            dkim: v(&receipt.dkim_verdict.status),
            dmarc: v(&receipt.dmarc_verdict.status),
        };
        (ses_id, verdicts)
    }

    /// Delivers a stored mail the way Lambda's asynchronous invocation does: on an error,
    /// invoke again later (here the clock moves past the claim's 60 s lease each time).
    /// Returns the outcome and the attempts it took.
    async fn deliver_until_done(&self, ses_id: &str, verdicts: &Verdicts, start: Timestamp) -> (Outcome, u32) {
        let deps = self.intake();
        let mut now = start;
        for attempt in 1..=40 {
            match email_intake::process(&deps, ses_id, verdicts, now).await {
                Ok(outcome) => return (outcome, attempt),
                Err(_) => now += SignedDuration::from_secs(61),
            }
        }
        panic!("{ses_id} not processed in 40 attempts");
    }

    /// Minute sweeps (their outbox resend) until nothing is pending, faults as planned.
    async fn sweep_until_sent(&self, from: Timestamp) -> u32 {
        let deps = self.sla();
        for i in 0..60 {
            let at = from + SignedDuration::from_mins(i64::from(i));
            let _ = sla_check::sweep(&deps, at).await;
            let pending = loop {
                // Read what is left without faults.
                if let Ok(p) = self.store.inner.pending_mail(50).await {
                    break p;
                }
            };
            if pending.is_empty() {
                return i + 1;
            }
        }
        panic!("outbox mail still pending after 60 sweeps");
    }
}

/// Monday 23 Nov 2026, 08:00 WIB.
fn monday_8() -> Timestamp {
    "2026-11-23T01:00:00Z".parse().expect("instant")
}

fn acks_of(accepted: &[Outgoing], number: &TicketNumber) -> usize {
    accepted
        .iter()
        .filter(|m| m.kind == MailKind::Acknowledgement && m.message_id.starts_with(&format!("loket.{number}.")))
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn email_intake_retried_after_a_failure_at_each_point_gives_one_ticket_and_one_ack() {
    let env = env().await;
    // (where, which call, what) and how many times the acknowledgement may go out.
    let cases: Vec<(Op, u32, Fault, usize)> = vec![
        (Op::Claim, 1, Fault::Throttle, 1),
        (Op::Claim, 1, Fault::LostResponse, 1),
        (Op::Fetch, 1, Fault::ServerError, 1),
        (Op::Fetch, 1, Fault::Timeout, 1),
        (Op::CountSender, 1, Fault::ServerError, 1),
        (Op::Create, 1, Fault::Throttle, 1),
        (Op::Create, 1, Fault::Timeout, 1),
        (Op::Create, 1, Fault::LostResponse, 1),
        (Op::Send, 1, Fault::Throttle, 1),
        (Op::Send, 1, Fault::Timeout, 1),
        // The window: SES took the mail and nobody could record it.
        (Op::Send, 1, Fault::LostResponse, 2),
        (Op::MarkSent, 1, Fault::ServerError, 2),
        (Op::MarkSent, 1, Fault::LostResponse, 1),
    ];
    let mut report = Vec::new();
    for (i, (op, n, fault, acks)) in cases.into_iter().enumerate() {
        let requester = format!("{}@dinkes.pangkalpinangkota.go.id", unique_name(&format!("case{i}")).to_lowercase());
        let (ses_id, verdicts) = env.store_mail(&requester, "Internet mati di ruang pelayanan").await;
        env.faults.script(&[(op, n, fault)]);
        let start = monday_8();
        let (outcome, attempts) = env.deliver_until_done(&ses_id, &verdicts, start).await;
        assert_eq!(outcome.kind, "new_ticket", "{op:?} {fault:?}: {outcome:?}");
        let number = outcome.number.clone().expect("number");
        // A second delivery of the same message (SES retries) is told the same.
        let (again, _) = env.deliver_until_done(&ses_id, &verdicts, start + SignedDuration::from_mins(5)).await;
        assert_eq!(again, outcome, "{op:?} {fault:?}: same outcome on redelivery");
        env.faults.off();
        let sweeps = env.sweep_until_sent(start + SignedDuration::from_mins(5)).await;
        let tickets = env.store.inner.by_requester(&requester, 10).await.expect("tickets");
        assert_eq!(tickets.len(), 1, "{op:?} {fault:?}: one ticket");
        assert_eq!(tickets[0].number, number);
        let sent = acks_of(&env.faults.accepted(), &number);
        let window = env.faults.window(&mail_identity(&number, "ack")) as usize;
        assert!(sent >= 1, "{op:?} {fault:?}: the acknowledgement went out");
        assert_eq!(sent, acks, "{op:?} {fault:?}: acknowledgements sent (window hits: {window})");
        assert!(sent <= 1 + window, "{op:?} {fault:?}: a repeat only in the window");
        report.push(format!("{op:?}#{n} {fault:?}: {attempts} attempt(s), {sweeps} sweep(s), {sent} ack(s)"));
    }
    println!("{}", report.join("\n"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn email_intake_under_random_faults_loses_nothing_and_repeats_only_in_the_window() {
    let env = env().await;
    let all = [
        Op::Claim,
        Op::Finish,
        Op::Create,
        Op::Apply,
        Op::MarkSent,
        Op::PendingMail,
        Op::TicketOfSesId,
        Op::Quarantine,
        Op::CountSender,
        Op::Get,
        Op::Due,
        Op::SaveAlertProgress,
        Op::Fetch,
        Op::Put,
        Op::Send,
    ];
    let mut mails = Vec::new();
    for i in 0..40 {
        let requester = format!("{}@opd.pangkalpinangkota.go.id", unique_name(&format!("rnd{i}")).to_lowercase());
        let (ses_id, verdicts) = env.store_mail(&requester, &format!("Internet mati {i}")).await;
        mails.push((requester, ses_id, verdicts));
    }
    // One in five calls fails, of every kind; deliveries and sweeps run under the plan.
    env.faults.random(0x10c3_7a11, 200, &all);
    let mut attempts = 0;
    let mut numbers = BTreeMap::new();
    for (requester, ses_id, verdicts) in &mails {
        let (outcome, tries) = env.deliver_until_done(ses_id, verdicts, monday_8()).await;
        attempts += tries;
        assert_eq!(outcome.kind, "new_ticket", "{outcome:?}");
        numbers.insert(requester.clone(), outcome.number.expect("number"));
    }
    let sweeps = env.sweep_until_sent(monday_8() + SignedDuration::from_mins(45)).await;
    env.faults.off();
    let accepted = env.faults.accepted();
    let mut repeats = 0;
    let distinct: BTreeSet<&TicketNumber> = numbers.values().collect();
    assert_eq!(distinct.len(), mails.len(), "no two mails share a ticket");
    for (requester, number) in &numbers {
        let tickets = env.store.inner.by_requester(requester, 10).await.expect("tickets");
        assert_eq!(tickets.iter().map(|t| &t.number).collect::<Vec<_>>(), vec![number], "one ticket per mail");
        let sent = acks_of(&accepted, number);
        let window = env.faults.window(&mail_identity(number, "ack")) as usize;
        assert!(sent >= 1, "{number}: the acknowledgement was lost");
        assert!(sent <= 1 + window, "{number}: {sent} acknowledgements, window hit {window} times");
        repeats += sent - 1;
    }
    println!(
        "random faults: {} injected {}, {} deliveries for {} mails, {sweeps} sweeps; {} tickets, \
         acknowledgements repeated {repeats} times, documented window hit {} times",
        env.faults.injected_total(),
        env.faults.injected_summary(),
        attempts,
        mails.len(),
        distinct.len(),
        env.faults.window_total()
    );
    assert!(env.faults.injected_total() > 20, "faults were injected");
}

/// An HTTP API (payload 2.0) request with the JWT authorizer's claims.
fn staff_request(method: &str, path: &str, who: &str, roles: &[Role], body: Option<Value>) -> lambda_http::Request {
    let groups: Vec<&str> = roles.iter().map(|r| r.as_str()).collect();
    let claims = json!({"sub": who, "email": who, "cognito:groups": format!("[{}]", groups.join(" "))});
    let event = json!({
        "version": "2.0", "routeKey": "$default", "rawPath": path, "rawQueryString": "",
        "headers": {"content-type": "application/json", "host": "api.local"},
        "requestContext": {
            "accountId": "000000000000", "apiId": "api", "domainName": "api.local", "domainPrefix": "api",
            "http": {"method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1", "userAgent": "test"},
            "requestId": "r", "routeKey": "$default", "stage": "$default", "time": "23/Nov/2026:01:00:00 +0000",
            "timeEpoch": 0, "authorizer": {"jwt": {"claims": claims, "scopes": null}}
        },
        "body": body.map(|b| b.to_string()), "isBase64Encoded": false
    });
    lambda_http::request::from_str(&event.to_string()).expect("request")
}

async fn call(
    deps: &transitions::Deps<FaultyStore, FaultyRaw, FaultyMailer>,
    method: &str,
    path: &str,
    who: (&str, &[Role]),
    body: Option<Value>,
) -> (u16, Value) {
    let response: Response<Body> =
        transitions::handle(deps, staff_request(method, path, who.0, who.1, body), Timestamp::now()).await;
    let bytes: &[u8] = response.body().as_ref();
    (response.status().as_u16(), serde_json::from_slice(bytes).unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_transition_api_under_a_store_fault_answers_503_and_changes_nothing() {
    let env = env().await;
    let api = env.staff_api();
    let member = |role: Role| env.agency.staff.iter().find(|m| m.roles.contains(&role)).expect("member").email.clone();
    let (helpdesk, kabid) = (member(Role::Helpdesk), member(Role::Kabid));
    let entry = json!({"key": unique_name("entry"), "procedure": "gangguan-internet-disposisi", "channel": "phone",
                       "name": "Sari", "unit": "Dinas Kesehatan", "email": "sari@dinkes.go.id", "subject": "Internet mati"});
    let (status, created) = call(&api, "POST", "/api/staff/tickets", (&helpdesk, &[Role::Helpdesk]), Some(entry)).await;
    assert_eq!(status, 201, "{created}");
    let number: TicketNumber = created["number"].as_str().expect("number").parse().expect("a number");
    let path = format!("/api/staff/tickets/{number}/actions");
    let before = env.store.inner.get(&number).await.expect("ticket");
    let timeline = env.store.inner.timeline(&number).await.expect("timeline").len();
    let action =
        json!({"version": before.version, "action": {"action": "complete", "step": "disposisi", "note": "Segera"}});

    for (op, fault) in [
        (Op::Apply, Fault::Throttle),
        (Op::Apply, Fault::ServerError),
        (Op::Apply, Fault::Timeout),
        (Op::Get, Fault::Throttle),
        (Op::Get, Fault::Timeout),
    ] {
        env.faults.script(&[(op, 1, fault)]);
        let (status, body) = call(&api, "POST", &path, (&kabid, &[Role::Kabid]), Some(action.clone())).await;
        assert_eq!(status, 503, "{op:?} {fault:?}: {body}");
        assert_eq!(body["code"], "unavailable", "{op:?} {fault:?}: a clear code: {body}");
        assert!(body["message"].as_str().is_some_and(|m| m.contains("Coba lagi")), "{body}");
        env.faults.off();
        let after = env.store.inner.get(&number).await.expect("ticket");
        assert_eq!(after, before, "{op:?} {fault:?}: the ticket is unchanged");
        assert_eq!(env.store.inner.timeline(&number).await.expect("timeline").len(), timeline);
    }

    // The write happened but its answer was lost: the caller sees 503 and retries with the
    // same version; the retry is refused as stale (409, with the current ticket), and the
    // step was taken exactly once.
    env.faults.script(&[(Op::Apply, 1, Fault::LostResponse)]);
    let (status, _) = call(&api, "POST", &path, (&kabid, &[Role::Kabid]), Some(action.clone())).await;
    assert_eq!(status, 503);
    env.faults.off();
    let (status, body) = call(&api, "POST", &path, (&kabid, &[Role::Kabid]), Some(action.clone())).await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["code"], "stale_version");
    assert_eq!(body["current"]["version"], json!(before.version + 1), "{body}");
    let after = env.store.inner.get(&number).await.expect("ticket");
    assert_eq!(after.version, before.version + 1);
    assert_ne!(after.current_step(), before.current_step());
    assert_eq!(env.store.inner.timeline(&number).await.expect("timeline").len(), timeline + 1, "taken once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sla_sweep_under_faults_still_alerts_each_step_once() {
    let env = env().await;
    let mut numbers = Vec::new();
    for i in 0..4 {
        numbers.push(env.open_late_ticket(&format!("pic{i}@dinsos.go.id"), &format!("Internet mati {i}")).await.number);
    }
    env.mailer.numbers.lock().expect("lock").extend(numbers.iter().cloned());
    // 'disposisi' (Kabid, Kadis) takes 10 minutes: the warning at 8, the deadline at 10
    // (nobody is above them, so level 1 tells them the limit has passed). A sweep every
    // 10 s of simulated time from 8:07 to 8:20, with one call in five failing.
    env.faults.random(
        0x05ee_d51a,
        200,
        &[Op::Due, Op::Claim, Op::Finish, Op::SaveAlertProgress, Op::PendingMail, Op::MarkSent, Op::Send],
    );
    let mut failed_sweeps = 0;
    let mut sweeps = 0;
    let deps = env.sla();
    let mut at = monday_8() + SignedDuration::from_mins(7);
    while at < monday_8() + SignedDuration::from_mins(20) {
        sweeps += 1;
        if sla_check::sweep(&deps, at).await.is_err() {
            failed_sweeps += 1;
        }
        at += SignedDuration::from_secs(10);
    }
    env.faults.off();
    // Settle: after the last lease, one clean sweep finds every claim done.
    for _ in 0..3 {
        at += SignedDuration::from_secs(61);
        sla_check::sweep(&deps, at).await.expect("a clean sweep");
    }
    let accepted = env.faults.accepted();
    let recipients = ["hendra@staf.example.go.id", "wati@staf.example.go.id"];
    let mut repeats = 0;
    let mut superseded = 0;
    for number in &numbers {
        let ticket = env.store.inner.get(number).await.expect("ticket");
        let handled = ticket.current.as_ref().and_then(|c| c.alerts_handled);
        assert!(handled >= Some(AlertLevel::Level1), "{number}: the warning and the deadline handled: {handled:?}");
        for to in recipients {
            let told = |level: AlertLevel| {
                accepted
                    .iter()
                    .filter(|m| m.kind == MailKind::Escalation && m.to.iter().any(|t| t == to))
                    .map(|m| text_of(m).matches(&format!("{} — {number}", level.label())).count())
                    .sum::<usize>()
            };
            let (warnings, late) = (told(AlertLevel::Warning), told(AlertLevel::Level1));
            let window = env.faults.window(&format!("{to}|{number}")) as usize;
            assert!(late >= 1, "{number}: the deadline passed and {to} was not told");
            // By design a warning that could not go out before the limit passed is not
            // sent late: level 1 replaces it. Any other missing warning is lost.
            if warnings == 0 {
                superseded += 1;
            }
            let got = warnings + late;
            let expected = if warnings == 0 { 1 } else { 2 };
            assert!(got <= expected + window, "{number} to {to}: {got} alerts, window hit {window} times");
            repeats += got - expected;
        }
    }
    println!(
        "sla sweep under faults: {sweeps} sweeps ({failed_sweeps} failed), {} faults injected {}; \
         {} alert mails for {} (ticket, recipient) pairs, {repeats} repeats, documented window hit {} times, \
         {superseded} warnings replaced by level 1 (no sweep got through before the limit)",
        env.faults.injected_total(),
        env.faults.injected_summary(),
        accepted.iter().filter(|m| m.kind == MailKind::Escalation).count(),
        numbers.len() * recipients.len(),
        env.faults.window_total()
    );
    assert!(env.faults.injected_total() > 10);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_step_finished_while_the_due_index_lags_is_not_escalated() {
    let env = env().await;
    let wf = loket_domain::Workflow::new(&env.catalog, &env.agency);
    let ticket = env.open_late_ticket("pic@dinsos.go.id", "Internet mati").await;
    // 'disposisi' (10 minutes) is late at 8:11; what the index holds a moment before the
    // Kabid finishes the step is the copy a lagging index still answers after it.
    let late = monday_8() + SignedDuration::from_mins(11);
    let before = env.store.inner.due(late, 200, None).await.expect("due").tickets;
    assert_eq!(before.len(), 1);
    let wati = env.agency.staff_by_email("wati@staf.example.go.id").expect("wati").as_ref();
    let complete = loket_domain::workflow::Action::Complete {
        step: "disposisi".into(),
        note: None,
        fields: BTreeMap::new(),
        documents: Vec::new(),
    };
    let actor = loket_domain::ticket::Actor::staff(&wati, vec![Role::Kabid]);
    let done = wf.apply(&ticket, &actor, complete, ticket.version, late).expect("complete");
    env.store.inner.apply(&done, ticket.version, &[], None).await.expect("stored");
    env.faults.lock().lagging_due = Some(before);

    let report = sla_check::sweep(&env.sla(), late).await.expect("sweep");
    assert_eq!((report.items_read, report.rechecked, report.alerts, report.mails_sent), (1, 1, 0, 0), "{report:?}");
    assert!(env.faults.accepted().is_empty(), "no alert about a finished step");
}
