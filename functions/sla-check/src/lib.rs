//! The SLA check, run every minute: reads the open steps whose next alert is due (the
//! sparse due index, never a scan), and sends each warning or escalation once per step
//! visit, level and recipient; one mail per recipient per sweep (a digest when several
//! steps are late). It also sends outbox mail that an earlier function left pending.
//!
//! Once, and never lost (the order matters):
//! 0. read each ticket with an alert due again, consistently (the index may lag behind);
//! 1. claim `alert:<ticket>:<visit>:<level>:<recipient>` (conditional put, 60 s lease);
//!    a concurrent or retried sweep finds it claimed or done and skips it;
//! 2. send the mail;
//! 3. record the SES message id on the claim (done) right after the send;
//! 4. record the handled level on the ticket (no new version) once all its claims are done.
//!
//! A crash before 2 leaves a pending claim: it expires and the next sweep takes it again,
//! so nothing is lost. A crash between 2 and 3 (SES accepted the mail, the record did not
//! stick) is the one window where a mail goes out twice: SES has no idempotency key, so
//! the next sweep cannot know. The window is one DynamoDB write long. A crash between 3
//! and 4 repeats nothing: the next sweep finds the claims done and only records.

use std::collections::{BTreeMap, BTreeSet};

use jiff::{SignedDuration, Timestamp};
use loket_domain::Role;
use loket_domain::calendar::CalendarGap;
use loket_domain::mail::compose::{Composer, Links};
use loket_domain::mail::thread::ThreadKeys;
use loket_domain::ports::{Claim, ClaimToken, IoError, Mailer, OutboxMail, Outcome, StoreError, TicketStore};
use loket_domain::sla::{DueAlert, TicketAlerts, due_alerts, record_handled};
use loket_domain::ticket::{StaffRef, Ticket};
use loket_domain::{Agency, Catalog};

/// Tickets looked at per sweep at most (the rest wait a minute).
const MAX_TICKETS_PER_SWEEP: usize = 2_000;
/// Outbox mail is resent only when older than this (its own function may still be sending).
const OUTBOX_GRACE: SignedDuration = SignedDuration::from_secs(60);

pub struct Deps<S, M> {
    pub store: S,
    pub mailer: M,
    pub catalog: Catalog,
    pub agency: Agency,
    pub keys: ThreadKeys,
    pub links: Links,
}

#[derive(Debug, thiserror::Error)]
pub enum SweepError {
    #[error("store: {0}")]
    Store(#[from] StoreError),
}

/// What one sweep did.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct SweepReport {
    pub tickets: usize,
    /// Items read from the due index.
    pub items_read: usize,
    /// Tickets with an alert due, read again from the table before anything is sent.
    pub rechecked: usize,
    /// Store calls that failed (what depended on each waits for the next sweep).
    pub store_failures: usize,
    pub alerts: usize,
    pub mails_sent: usize,
    pub mail_failures: usize,
    /// Mails sent whose record failed (each may repeat once).
    pub record_failures: usize,
    pub already_done: usize,
    pub in_progress: usize,
    pub tickets_recorded: usize,
    pub outbox_resent: usize,
    /// Mails to the admins about gaps in the working-time calendar (once a day at most).
    pub calendar_notices: usize,
}

struct Pending<'a> {
    alert: &'a DueAlert,
    recipient: StaffRef,
    claim_key: String,
}

/// A staff id as it stands in a claim key: letters, digits and `-`.
pub fn claim_id(staff_id: &str) -> String {
    staff_id.chars().filter(|c| c.is_ascii_alphanumeric() || *c == '-').collect()
}

/// The claim of one alert for one recipient: `alert:<ticket>:<scope>:<level>:<staff id>`.
fn alert_claim_key(alert: &DueAlert, recipient: &StaffRef) -> String {
    format!("{}:{}", alert.key, claim_id(&recipient.id))
}

/// The first store failure of a sweep, and how many there were. A failed call skips only
/// what depends on it (an alert pair, a ticket's record, one outbox mail), so a store that
/// fails now and then cannot stall the rest; the sweep still ends in an error (and the
/// function's error alarm) once it has done what it could.
#[derive(Default)]
struct Failures {
    first: Option<StoreError>,
    count: usize,
}

impl Failures {
    fn keep(&mut self, what: &str, e: StoreError) {
        tracing::warn!(error = %e, "{what} failed; left for the next sweep");
        self.count += 1;
        self.first.get_or_insert(e);
    }
}

pub async fn sweep<S, M>(deps: &Deps<S, M>, now: Timestamp) -> Result<SweepReport, SweepError>
where
    S: TicketStore + Sync,
    M: Mailer + Sync,
{
    let mut report = SweepReport::default();
    let mut failures = Failures::default();
    let mut tickets: Vec<Ticket> = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let page = match deps.store.due(now, 200, cursor.as_deref()).await {
            Ok(page) => page,
            Err(e) => {
                failures.keep("due query", e);
                break;
            }
        };
        report.items_read += page.items_read;
        tickets.extend(page.tickets);
        match page.next {
            Some(next) if tickets.len() < MAX_TICKETS_PER_SWEEP => cursor = Some(next),
            _ => break,
        }
    }
    report.tickets = tickets.len();

    // The index is read eventually consistently, so a step finished a moment ago can still
    // look late there: each ticket with an alert due is read again (a consistent read) and
    // judged on that copy, so a finished step is never escalated.
    let mut per_ticket: Vec<(Ticket, TicketAlerts)> = Vec::with_capacity(tickets.len());
    for seen in tickets {
        let alerts = due_alerts(&seen, &deps.catalog, &deps.agency, now);
        if alerts.alerts.is_empty() {
            per_ticket.push((seen, alerts));
            continue;
        }
        let fresh = match deps.store.get(&seen.number).await {
            Ok(fresh) => fresh,
            Err(StoreError::NotFound) => continue,
            // Its alerts wait for the next sweep; the rest of this one goes on.
            Err(e) => {
                failures.keep("reading a late ticket again", e);
                continue;
            }
        };
        report.rechecked += 1;
        let alerts = due_alerts(&fresh, &deps.catalog, &deps.agency, now);
        per_ticket.push((fresh, alerts));
    }
    // Every (alert, recipient) pair, grouped by recipient.
    let mut by_recipient: BTreeMap<String, Vec<Pending<'_>>> = BTreeMap::new();
    for (_, alerts) in &per_ticket {
        for alert in &alerts.alerts {
            report.alerts += 1;
            if alert.recipients.is_empty() {
                tracing::warn!(ticket = %alert.number, level = alert.level.as_str(), "nobody holds the roles to tell at this level");
            }
            for recipient in &alert.recipients {
                by_recipient.entry(recipient.email.clone()).or_default().push(Pending {
                    alert,
                    recipient: recipient.clone(),
                    claim_key: alert_claim_key(alert, recipient),
                });
            }
        }
    }

    let composer = Composer { agency: &deps.agency, keys: &deps.keys, links: &deps.links };
    // Claims that are done (by us now, or earlier), by key.
    let mut done: BTreeSet<String> = BTreeSet::new();
    for (email, pending) in &by_recipient {
        let mut mine: Vec<(&Pending<'_>, ClaimToken)> = Vec::new();
        for p in pending {
            match deps.store.claim(&p.claim_key, now).await {
                Ok(Claim::Fresh(token)) => mine.push((p, token)),
                Ok(Claim::Done(_)) => {
                    report.already_done += 1;
                    done.insert(p.claim_key.clone());
                }
                Ok(Claim::InProgress) => report.in_progress += 1,
                Err(e) => failures.keep("alert claim", e),
            }
        }
        let Some((first, _)) = mine.first() else { continue };
        let alerts: Vec<&DueAlert> = mine.iter().map(|(p, _)| p.alert).collect();
        let Some(mail) = composer.alert_mail(&first.recipient, &alerts, now) else { continue };
        match deps.mailer.send(&mail).await {
            Ok(ses_id) => {
                report.mails_sent += 1;
                for (p, token) in &mine {
                    let outcome = Outcome::new(
                        "sent",
                        Some(p.alert.number.clone()),
                        format!("{} to {email}, SES id {ses_id}", p.alert.level.as_str()),
                    );
                    match deps.store.finish(token, &outcome).await {
                        Ok(()) => {
                            done.insert(p.claim_key.clone());
                        }
                        Err(e) => {
                            report.record_failures += 1;
                            tracing::error!(key = %p.claim_key, error = %e, "sent but not recorded: the claim expires and the mail may repeat once");
                        }
                    }
                }
            }
            Err(e) => {
                report.mail_failures += 1;
                tracing::error!(recipient = %email, error = %e, "alert mail not sent; its claims expire and the next sweep retries");
            }
        }
    }

    // Record the handled levels of tickets whose every pair is done.
    for (ticket, alerts) in &per_ticket {
        let all_done = alerts.alerts.iter().all(|a| a.recipients.iter().all(|r| done.contains(&alert_claim_key(a, r))));
        if !all_done {
            continue;
        }
        match deps.store.save_alert_progress(&record_handled(ticket, alerts)).await {
            Ok(true) => report.tickets_recorded += 1,
            Ok(false) => {}
            Err(e) => failures.keep("recording the handled levels", e),
        }
    }

    report.outbox_resent = resend_outbox(deps, now, &mut failures).await;
    report.calendar_notices = calendar_notices(deps, now, &mut failures).await;
    report.store_failures = failures.count;
    match failures.first {
        None => {
            tracing::info!(report = ?report, "sla sweep done");
            Ok(report)
        }
        Some(e) => {
            tracing::error!(report = ?report, "sla sweep done with store failures");
            Err(e.into())
        }
    }
}

/// Once a day, in the sweep of 07:00 local time (before the office opens): tells the
/// admins what the working-time calendar lacks: this year's national holidays,
/// provisional dates or Ramadan period, and from November next year's holidays. Every
/// deadline is counted with it, so a gap is never silent: each gap is logged as an error
/// and mailed to each admin once (under a claim; again a month later while it lasts).
/// Returns the mails sent.
async fn calendar_notices<S, M>(deps: &Deps<S, M>, now: Timestamp, failures: &mut Failures) -> usize
where
    S: TicketStore + Sync,
    M: Mailer + Sync,
{
    let calendar = &deps.agency.calendar;
    let local = calendar.local(now);
    if (local.hour(), local.minute()) != (7, 0) {
        return 0;
    }
    let mut gaps = calendar.gaps(local.year());
    if local.month() >= 11 {
        let next = calendar.gaps(local.year() + 1);
        gaps.extend(next.into_iter().filter(|g| matches!(g, CalendarGap::NoHolidays { .. })));
    }
    for gap in &gaps {
        tracing::error!(gap = %gap.key(), "the working-time calendar is incomplete");
    }
    if gaps.is_empty() {
        return 0;
    }
    let admins = deps.agency.staff_with(Role::Admin);
    if admins.is_empty() {
        tracing::error!("nobody holds the admin role to be told about the calendar");
    }
    let composer = Composer { agency: &deps.agency, keys: &deps.keys, links: &deps.links };
    let mut sent = 0;
    for admin in admins {
        let id = claim_id(&admin.id);
        let mut fresh = Vec::new();
        for gap in &gaps {
            match deps.store.claim(&format!("calendar:{}:{id}", gap.key()), now).await {
                Ok(Claim::Fresh(token)) => fresh.push((*gap, token)),
                Ok(_) => {}
                Err(e) => failures.keep("calendar notice claim", e),
            }
        }
        if fresh.is_empty() {
            continue;
        }
        let told: Vec<CalendarGap> = fresh.iter().map(|(gap, _)| *gap).collect();
        let mail = composer.calendar_notice(&admin, &told, now);
        match deps.mailer.send(&mail).await {
            Ok(ses_id) => {
                sent += 1;
                for (gap, token) in &fresh {
                    let outcome =
                        Outcome::new("sent", None, format!("{} to {}, SES id {ses_id}", gap.key(), admin.email));
                    if let Err(e) = deps.store.finish(token, &outcome).await {
                        tracing::error!(gap = %gap.key(), error = %e, "calendar notice sent but not recorded; it may repeat once");
                    }
                }
            }
            // The claims' leases run out; tomorrow's check tries again.
            Err(e) => tracing::error!(recipient = %admin.email, error = %e, "calendar notice not sent"),
        }
    }
    sent
}

/// Sends outbox mail left pending by a function that stopped between its write and its
/// send (never lost: the write and the mail were one transaction). Each resend runs under
/// a claim, so two sweeps at once send it once; a mail SES refuses for good is marked
/// failed (kept, out of the outbox) instead of being tried every minute.
async fn resend_outbox<S, M>(deps: &Deps<S, M>, now: Timestamp, failures: &mut Failures) -> usize
where
    S: TicketStore + Sync,
    M: Mailer + Sync,
{
    let pending = match deps.store.pending_mail(50).await {
        Ok(pending) => pending,
        Err(e) => {
            failures.keep("reading the outbox", e);
            return 0;
        }
    };
    let mut sent = 0;
    for pending in pending {
        if pending.mail.raw.is_empty() {
            continue;
        }
        // Mail written within the last minute may still be on its way.
        if pending_is_recent(&pending.mail.raw, now) {
            continue;
        }
        match resend_one(deps, &pending, now).await {
            Ok(true) => sent += 1,
            Ok(false) => {}
            Err(e) => failures.keep("resending outbox mail", e),
        }
    }
    sent
}

/// One pending outbox mail, under its claim; whether it was sent now.
async fn resend_one<S, M>(deps: &Deps<S, M>, pending: &OutboxMail, now: Timestamp) -> Result<bool, StoreError>
where
    S: TicketStore + Sync,
    M: Mailer + Sync,
{
    let (number, key) = (&pending.number, &pending.mail.key);
    let token = match deps.store.claim(&format!("resend:{number}:{key}"), now).await? {
        Claim::Fresh(token) => token,
        Claim::InProgress => return Ok(false),
        // Sent by an earlier sweep whose record did not stick: record it, never resend.
        Claim::Done(outcome) => {
            if outcome.kind == "sent" {
                deps.store.mark_sent(number, key, &outcome.reason).await?;
            }
            return Ok(false);
        }
    };
    match deps.mailer.send(&pending.mail).await {
        Ok(ses_id) => {
            let recorded = deps.store.mark_sent(number, key, &ses_id).await;
            // The claim says it went out whatever became of that record, so a later
            // sweep records it instead of sending it again.
            deps.store.finish(&token, &Outcome::new("sent", Some(number.clone()), ses_id)).await?;
            recorded?;
            Ok(true)
        }
        Err(IoError::Rejected(why)) => {
            tracing::error!(ticket = %number, key = %key, error = %why, "outbox mail refused by SES; marked failed");
            deps.store.mark_failed(number, key, &why).await?;
            deps.store.finish(&token, &Outcome::new("failed", Some(number.clone()), why)).await?;
            Ok(false)
        }
        // The claim's lease runs out; a later sweep tries again.
        Err(e) => {
            tracing::error!(ticket = %number, key = %key, error = %e, "outbox mail still not sent");
            Ok(false)
        }
    }
}

/// Whether the mail's own Date header is within the grace period.
fn pending_is_recent(raw: &[u8], now: Timestamp) -> bool {
    let head = String::from_utf8_lossy(&raw[..raw.len().min(4096)]);
    head.lines()
        .find_map(|l| l.strip_prefix("Date:"))
        .and_then(|d| jiff::fmt::rfc2822::parse(d.trim()).ok())
        .is_some_and(|sent| now.duration_since(sent.timestamp()) < OUTBOX_GRACE)
}
