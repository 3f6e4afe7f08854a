//! The SLA sweep against the local AWS endpoint: one digest per recipient, each alert
//! once under concurrent sweeps, and the two crash windows (before and after sending).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

use jiff::{SignedDuration, Timestamp};
use loket_aws::{DynamoTicketStore, SesMailer};
use loket_domain::escalation::AlertLevel;
use loket_domain::mail::compose::{Composer, Links, Outgoing};
use loket_domain::mail::thread::ThreadKeys;
use loket_domain::ports::{Created, IoError, Mailer, TicketStore, create_once};
use loket_domain::ticket::{Actor, Channel, Requester, Ticket};
use loket_domain::workflow::NewTicket;
use loket_tests::Scratch;
use sla_check::{Deps, sweep};

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Mode {
    Normal,
    /// The process dies after claiming, before SES is called.
    FailBeforeSend,
    /// SES accepts the mail, then the process dies before recording it.
    FailAfterSend,
    /// SES refuses the mail for good (e.g. an address it cannot take).
    Reject,
}

/// The real SES mailer, with a switch to simulate crashes and a log of what SES took.
#[derive(Clone)]
struct Faulty {
    inner: SesMailer,
    mode: Arc<Mutex<Mode>>,
    accepted: Arc<Mutex<Vec<Outgoing>>>,
}

impl Faulty {
    fn set(&self, mode: Mode) {
        *self.mode.lock().expect("lock") = mode;
    }

    fn accepted(&self) -> Vec<Outgoing> {
        self.accepted.lock().expect("lock").clone()
    }
}

impl Mailer for Faulty {
    async fn send(&self, mail: &Outgoing) -> Result<String, IoError> {
        let mode = *self.mode.lock().expect("lock");
        if mode == Mode::FailBeforeSend {
            return Err(IoError::Unavailable("simulated crash before sending".into()));
        }
        if mode == Mode::Reject {
            return Err(IoError::Rejected("send: InvalidParameterValue: Missing final '@domain'".into()));
        }
        let id = self.inner.send(mail).await?;
        self.accepted.lock().expect("lock").push(mail.clone());
        if mode == Mode::FailAfterSend {
            return Err(IoError::Unavailable("simulated crash after SES accepted the mail".into()));
        }
        Ok(id)
    }
}

struct Env {
    deps: Deps<DynamoTicketStore, Faulty>,
    mailer: Faulty,
}

async fn env() -> Env {
    let Scratch { dynamo, ses, table, catalog, agency, .. } = Scratch::new("loket-sla", "pangkalpinang").await;
    let mailer = Faulty {
        inner: SesMailer::new(ses, agency.service_address.clone()),
        mode: Arc::new(Mutex::new(Mode::Normal)),
        accepted: Arc::new(Mutex::new(Vec::new())),
    };
    let deps = Deps {
        store: DynamoTicketStore::new(dynamo, table, catalog.clone()),
        mailer: mailer.clone(),
        keys: ThreadKeys::new(b"sla-test-secret-0123456789".to_vec()).expect("keys"),
        links: Links { public_base: "http://127.0.0.1:9".into(), console_base: "http://127.0.0.1:9/staf".into() },
        catalog,
        agency,
    };
    Env { deps, mailer }
}

/// Monday 23 Nov 2026, 08:00 WIB.
fn monday_8() -> Timestamp {
    "2026-11-23T01:00:00Z".parse().expect("instant")
}

async fn open(env: &Env, key: &str, at: Timestamp, with_ack: bool) -> Ticket {
    let requester = Requester {
        email: Some("pic@dinsos.go.id".into()),
        name: "PIC".into(),
        unit: "Dinas Sosial".into(),
        phone: None,
    };
    let wf = loket_domain::Workflow::new(&env.deps.catalog, &env.deps.agency);
    let composer = Composer { agency: &env.deps.agency, keys: &env.deps.keys, links: &env.deps.links };
    let procedure = env.deps.catalog.get("gangguan-internet-disposisi").expect("procedure");
    let created = create_once(&env.deps.store, key, "GJI", 2026, |number| {
        let applied = wf.open(NewTicket {
            number,
            procedure: procedure.id.clone(),
            actor: Actor::requester(&requester),
            requester: requester.clone(),
            channel: Channel::Web,
            subject: format!("Internet mati {key}"),
            description: String::new(),
            fields: BTreeMap::new(),
            documents: Vec::new(),
            token_hash: String::new(),
            related: Vec::new(),
            mail_in: None,
            at,
        })?;
        let mails = if with_ack {
            composer.acknowledgement(&applied.ticket, procedure, "token", at).into_iter().collect()
        } else {
            Vec::new()
        };
        Ok((applied, mails))
    })
    .await
    .expect("create");
    match created {
        Created::New(applied, _) => applied.ticket,
        Created::Duplicate(n) => panic!("duplicate {n}"),
    }
}

fn per_recipient(mails: &[Outgoing]) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for m in mails {
        for to in &m.to {
            *out.entry(to.clone()).or_default() += 1;
        }
    }
    out
}

#[tokio::test]
async fn one_digest_per_recipient_and_once_under_concurrent_sweeps() {
    let env = env().await;
    let mut numbers = Vec::new();
    for i in 0..3 {
        numbers.push(open(&env, &format!("late-{i}"), monday_8(), false).await.number);
    }
    // 'disposisi' (Kadis or Kabid) takes 10 minutes; the warning is due at 8 minutes.
    let now = monday_8() + SignedDuration::from_secs(8 * 60 + 30);
    let (a, b) = tokio::join!(sweep(&env.deps, now), sweep(&env.deps, now));
    let (a, b) = (a.expect("sweep a"), b.expect("sweep b"));
    assert_eq!(a.items_read, 3);
    let mails = env.mailer.accepted();
    // The performers are the Kabid (Wati) and the Kadis (Hendra): one digest each.
    assert_eq!(
        per_recipient(&mails),
        BTreeMap::from([("hendra@staf.example.go.id".to_string(), 1), ("wati@staf.example.go.id".to_string(), 1)])
    );
    for mail in &mails {
        assert!(mail.subject.contains("3 langkah"), "a digest of three: {}", mail.subject);
        let body = String::from_utf8_lossy(&mail.raw);
        for n in &numbers {
            assert!(body.contains(n.as_str()));
        }
    }
    assert_eq!(a.mails_sent + b.mails_sent, 2);
    // When the two sweeps split the recipients, each saw the other's claims in progress
    // and left the ticket for the next sweep to record: it finds every claim done, sends
    // nothing and records the level.
    let settle = sweep(&env.deps, now + SignedDuration::from_secs(5)).await.expect("sweep");
    assert_eq!(settle.mails_sent, 0);
    assert_eq!(env.mailer.accepted().len(), 2);
    for n in &numbers {
        let t = env.deps.store.get(n).await.expect("ticket");
        assert_eq!(t.current.as_ref().and_then(|c| c.alerts_handled), Some(AlertLevel::Warning));
    }
    // Recorded: the tickets leave the due index until the deadline.
    let again = sweep(&env.deps, now + SignedDuration::from_secs(10)).await.expect("sweep");
    assert_eq!((again.items_read, again.mails_sent), (0, 0));
    // Past the deadline, level 1: the step is the Kabid's and Kadis's and nobody is above
    // them, so they are told the limit has passed, one digest each, and it is recorded.
    let later = sweep(&env.deps, monday_8() + SignedDuration::from_mins(11)).await.expect("sweep");
    assert_eq!((later.mails_sent, later.rechecked, later.tickets_recorded), (2, 3, 3));
    let accepted = env.mailer.accepted();
    assert!(accepted[2..].iter().all(|m| String::from_utf8_lossy(&m.raw).contains("Eskalasi tingkat 1")));
    assert_eq!(sweep(&env.deps, monday_8() + SignedDuration::from_mins(12)).await.expect("sweep").mails_sent, 0);
}

#[tokio::test]
async fn a_crash_before_sending_loses_nothing() {
    let env = env().await;
    open(&env, "crash-before", monday_8(), false).await;
    let now = monday_8() + SignedDuration::from_secs(8 * 60 + 10);
    env.mailer.set(Mode::FailBeforeSend);
    let first = sweep(&env.deps, now).await.expect("sweep");
    assert_eq!(first.mail_failures, 2);
    assert!(env.mailer.accepted().is_empty());
    // Within the lease, another sweep leaves the claims alone.
    env.mailer.set(Mode::Normal);
    let second = sweep(&env.deps, now + SignedDuration::from_secs(20)).await.expect("sweep");
    assert_eq!((second.in_progress, second.mails_sent), (2, 0));
    // After the lease, the claims are taken again and each mail goes out exactly once.
    let third = sweep(&env.deps, now + SignedDuration::from_secs(65)).await.expect("sweep");
    assert_eq!(third.mails_sent, 2);
    assert_eq!(per_recipient(&env.mailer.accepted()).values().copied().collect::<Vec<_>>(), vec![1, 1]);
    assert_eq!(sweep(&env.deps, now + SignedDuration::from_secs(90)).await.expect("sweep").mails_sent, 0);
}

#[tokio::test]
async fn a_crash_after_sending_repeats_each_mail_at_most_once() {
    let env = env().await;
    open(&env, "crash-after", monday_8(), false).await;
    let now = monday_8() + SignedDuration::from_secs(8 * 60 + 10);
    env.mailer.set(Mode::FailAfterSend);
    sweep(&env.deps, now).await.expect("sweep");
    env.mailer.set(Mode::Normal);
    sweep(&env.deps, now + SignedDuration::from_secs(65)).await.expect("sweep");
    sweep(&env.deps, now + SignedDuration::from_secs(90)).await.expect("sweep");
    // The documented window: SES took the mail, the record did not stick, so the next
    // sweep sent it again, once. Nothing more.
    let counts = per_recipient(&env.mailer.accepted());
    assert_eq!(counts.values().copied().collect::<Vec<_>>(), vec![2, 2], "{counts:?}");
}

#[tokio::test]
async fn outbox_mail_left_pending_is_sent_by_the_sweep() {
    let env = env().await;
    let created_at = Timestamp::now() - SignedDuration::from_mins(5);
    let ticket = open(&env, "pending-ack", created_at, true).await;
    let pending = env.deps.store.pending_mail(50).await.expect("outbox");
    assert!(pending.iter().any(|p| p.number == ticket.number), "the acknowledgement waits in the outbox");
    let report = sweep(&env.deps, Timestamp::now()).await.expect("sweep");
    assert_eq!(report.outbox_resent, 1);
    assert!(env.deps.store.pending_mail(50).await.expect("outbox").iter().all(|p| p.number != ticket.number));
    let subjects: BTreeSet<String> = env.mailer.accepted().into_iter().map(|m| m.subject).collect();
    assert!(subjects.iter().any(|s| s.contains(ticket.number.as_str())));
}

#[tokio::test]
async fn outbox_mail_ses_refuses_is_marked_failed_and_not_retried() {
    let env = env().await;
    let ticket = open(&env, "refused-ack", Timestamp::now() - SignedDuration::from_mins(5), true).await;
    env.mailer.set(Mode::Reject);
    let report = sweep(&env.deps, Timestamp::now()).await.expect("sweep");
    assert_eq!(report.outbox_resent, 0);
    // Out of the outbox (it no longer takes a place among the oldest pending), kept as failed.
    assert!(env.deps.store.pending_mail(50).await.expect("outbox").iter().all(|p| p.number != ticket.number));
    env.mailer.set(Mode::Normal);
    sweep(&env.deps, Timestamp::now() + SignedDuration::from_secs(120)).await.expect("sweep");
    assert!(env.mailer.accepted().iter().all(|m| !m.subject.contains(ticket.number.as_str())));
}

#[tokio::test]
async fn two_sweeps_at_once_resend_a_pending_mail_once() {
    let env = env().await;
    let ticket = open(&env, "raced-ack", Timestamp::now() - SignedDuration::from_mins(5), true).await;
    let now = Timestamp::now();
    let (a, b) = tokio::join!(sweep(&env.deps, now), sweep(&env.deps, now));
    assert_eq!(a.expect("sweep").outbox_resent + b.expect("sweep").outbox_resent, 1);
    let sent = env.mailer.accepted().iter().filter(|m| m.subject.contains(ticket.number.as_str())).count();
    assert_eq!(sent, 1);
}

#[tokio::test]
async fn the_admin_is_told_once_what_the_calendar_lacks() {
    use loket_domain::calendar::{WeeklyHours, WorkingCalendar};
    let mut env = env().await;
    // A calendar without any holidays or Ramadan period (as when the data ran out).
    env.deps.agency.calendar = WorkingCalendar::new(
        jiff::tz::TimeZone::get("Asia/Jakarta").expect("zone"),
        WeeklyHours::government_default(),
        WeeklyHours::ramadan_default(),
        Vec::new(),
        Vec::new(),
    );
    // Monday 4 Jan 2027: 06:59 WIB is not the daily check; 07:00 is.
    let at = |hm: &str| {
        format!("2027-01-04T{hm}:00+07:00[Asia/Jakarta]").parse::<jiff::ZonedDateTime>().expect("t").timestamp()
    };
    assert_eq!(sweep(&env.deps, at("06:59")).await.expect("sweep").calendar_notices, 0);
    let report = sweep(&env.deps, at("07:00")).await.expect("sweep");
    assert_eq!(report.calendar_notices, 1, "{report:?}");
    let mails = env.mailer.accepted();
    assert_eq!(per_recipient(&mails), BTreeMap::from([("admin@staf.example.go.id".to_string(), 1)]));
    let text = String::from_utf8_lossy(&mails[0].raw).to_string();
    assert!(text.contains("tahun 2027 belum ada"), "{text}");
    assert!(text.contains("Periode Ramadan tahun 2027"), "{text}");
    // Told once: the next day's check sends nothing.
    let next_day = at("07:00") + SignedDuration::from_hours(24);
    assert_eq!(sweep(&env.deps, next_day).await.expect("sweep").calendar_notices, 0);
    assert_eq!(env.mailer.accepted().len(), 1);
}
