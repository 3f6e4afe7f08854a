//! Tickets, their timeline events and the people who act on them.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};

use crate::escalation::{AlertLevel, AlertPlan};
use crate::roles::Role;
use crate::sop::{EndKind, ProcedureId, StepId};

/// A ticket number people can read aloud: `<SERVICE>-<YEAR>-<6 digits>`, e.g. `JIP-2026-000123`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct TicketNumber(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid ticket number '{0}' (expected e.g. JIP-2026-000123)")]
pub struct InvalidTicketNumber(pub String);

impl TicketNumber {
    pub fn new(service: &str, year: i16, seq: u64) -> Result<TicketNumber, InvalidTicketNumber> {
        TicketNumber::from_str(&format!("{service}-{year:04}-{seq:06}"))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The service code, e.g. `JIP`.
    pub fn service(&self) -> &str {
        &self.0[..3]
    }

    pub fn year(&self) -> i16 {
        self.0[4..8].parse().unwrap_or_default()
    }

    /// Finds the first ticket number in free text (e.g. a subject tag `[#JIP-2026-000123]`).
    pub fn find_in(text: &str) -> Option<TicketNumber> {
        let bytes = text.as_bytes();
        (0..bytes.len()).find_map(|i| {
            let candidate = text.get(i..)?;
            let end = candidate.find(|c: char| !(c.is_ascii_alphanumeric() || c == '-')).unwrap_or(candidate.len());
            let word = &candidate[..end];
            let before_ok = i == 0 || !bytes[i - 1].is_ascii_alphanumeric();
            let cut = word.get(..15)?;
            let after_ok = word.len() == 15 || !word.as_bytes()[15].is_ascii_digit();
            (before_ok && after_ok).then(|| cut.parse().ok()).flatten()
        })
    }
}

impl FromStr for TicketNumber {
    type Err = InvalidTicketNumber;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let upper = s.trim().to_ascii_uppercase();
        let b = upper.as_bytes();
        let ok = b.len() == 15
            && b[..3].iter().all(u8::is_ascii_uppercase)
            && b[3] == b'-'
            && b[4..8].iter().all(u8::is_ascii_digit)
            && b[8] == b'-'
            && b[9..].iter().all(u8::is_ascii_digit);
        if ok { Ok(TicketNumber(upper)) } else { Err(InvalidTicketNumber(s.to_string())) }
    }
}

impl TryFrom<String> for TicketNumber {
    type Error = InvalidTicketNumber;

    fn try_from(value: String) -> Result<Self, Self::Error> {
        value.parse()
    }
}

impl From<TicketNumber> for String {
    fn from(value: TicketNumber) -> Self {
        value.0
    }
}

impl fmt::Display for TicketNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// How the request reached the agency.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    Email,
    Web,
    /// A letter, entered by staff.
    Letter,
    /// A WhatsApp message, entered by staff.
    Whatsapp,
    /// A phone call, entered by staff.
    Phone,
}

impl Channel {
    pub fn label(self) -> &'static str {
        match self {
            Channel::Email => "Email",
            Channel::Web => "Formulir web",
            Channel::Letter => "Surat",
            Channel::Whatsapp => "WhatsApp",
            Channel::Phone => "Telepon",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Requester {
    /// Lower-cased; `None` for a request entered by staff without an address.
    pub email: Option<String>,
    pub name: String,
    /// The requesting unit (OPD).
    pub unit: String,
    pub phone: Option<String>,
}

/// A staff member, as recorded on tickets and events.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StaffRef {
    pub id: String,
    pub name: String,
    pub email: String,
}

/// Whether `email` looks like an address mail can be sent to: one `@`, a local part, a
/// dotted domain, no spaces, at most 200 bytes. (Whether it exists, only a bounce tells.)
pub fn plausible_email(email: &str) -> bool {
    email.len() <= 200
        && email.matches('@').count() == 1
        && !email.contains(char::is_whitespace)
        && !email.contains(['<', '>', ',', ';', '"'])
        && email.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty()
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && !domain.contains("..")
        })
}

#[cfg(test)]
mod email_tests {
    use super::plausible_email;

    #[test]
    fn plausible_addresses() {
        for good in ["sari@dinkes.pangkalpinangkota.go.id", "a.b+c@x.id"] {
            assert!(plausible_email(good), "{good}");
        }
        for bad in [
            "budi@",
            "@x.id",
            "a@b",
            "a@@b.id",
            "a b@c.id",
            "a@b..id",
            "a@.b.id",
            "a@b.id.",
            "<a@b.id>",
            "a@b.id, c@d.id",
        ] {
            assert!(!plausible_email(bad), "{bad}");
        }
    }
}

/// Where the files staff upload to a ticket are kept (S3 key prefix); the only documents
/// a staff action may cite.
pub fn staff_document_prefix(number: &TicketNumber) -> String {
    format!("attachments/tickets/{number}/")
}

/// The storage key of a document a staff member uploads to a ticket:
/// `<prefix><upload ms>-<nonce>-<tag>-<name>`. The nonce keeps two files of one name in one
/// post apart; the tag signs what the document claims (ticket, instant, kind, size, type,
/// name), so a client citing it can neither change its kind nor make one up.
#[allow(clippy::too_many_arguments)]
pub fn staff_document_key(
    keys: &crate::mail::thread::ThreadKeys,
    number: &TicketNumber,
    uploaded_at: Timestamp,
    nonce: &str,
    kind: &str,
    size: u64,
    content_type: &str,
    safe_name: &str,
) -> String {
    let ms = uploaded_at.as_millisecond();
    let tag = keys.tag_for("document", &document_claims(number, ms, nonce, kind, size, content_type, safe_name));
    format!("{}{ms}-{nonce}-{tag}-{safe_name}", staff_document_prefix(number))
}

/// Whether a document cited by a client is one uploaded to this ticket as it says
/// (see [`staff_document_key`]).
pub fn staff_document_genuine(keys: &crate::mail::thread::ThreadKeys, number: &TicketNumber, d: &Document) -> bool {
    let Some(rest) = d.key.strip_prefix(&staff_document_prefix(number)) else { return false };
    let mut parts = rest.splitn(4, '-');
    let (Some(ms), Some(nonce), Some(tag), Some(name)) = (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return false;
    };
    ms.parse::<i64>().is_ok_and(|ms| ms == d.uploaded_at.as_millisecond())
        && !name.contains('/')
        && keys.check_tag_for(
            "document",
            &document_claims(number, d.uploaded_at.as_millisecond(), nonce, &d.kind, d.size, &d.content_type, name),
            tag,
        )
}

fn document_claims(
    number: &TicketNumber,
    ms: i64,
    nonce: &str,
    kind: &str,
    size: u64,
    content_type: &str,
    name: &str,
) -> String {
    format!("{number}|{ms}|{nonce}|{kind}|{size}|{content_type}|{name}")
}

/// A file kept with a ticket (in the attachment store; only its key is here).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Document {
    /// The SOP item it satisfies (e.g. `berita_acara`), or `lampiran` for any attachment.
    pub kind: String,
    pub name: String,
    pub content_type: String,
    pub size: u64,
    /// Where the bytes are (an S3 key).
    pub key: String,
    pub uploaded_at: Timestamp,
    /// Whether the requester may see it on the status page.
    pub public: bool,
}

impl Document {
    /// Whether staff uploaded it to the ticket (else it came from the requester).
    pub fn is_staff_upload(&self, number: &TicketNumber) -> bool {
        self.key.starts_with(&staff_document_prefix(number))
    }
}

/// The ticket's lifecycle state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Open,
    Done,
    Postponed,
    PlannedWork,
}

impl Status {
    pub fn is_closed(self) -> bool {
        self != Status::Open
    }

    pub fn label(self) -> &'static str {
        match self {
            Status::Open => "Dalam proses",
            Status::Done => "Selesai",
            Status::Postponed => "Ditunda",
            Status::PlannedWork => "Masuk program kegiatan",
        }
    }
}

impl From<EndKind> for Status {
    fn from(end: EndKind) -> Self {
        match end {
            EndKind::Done => Status::Done,
            EndKind::Postponed => Status::Postponed,
            EndKind::PlannedWork => Status::PlannedWork,
        }
    }
}

/// Why the clock of the current step is stopped.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum WaitReason {
    /// The step itself is the requester's (e.g. confirming the schedule).
    RequesterStep,
    /// Staff asked the requester something.
    InfoRequested { question: String },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Waiting {
    pub since: Timestamp,
    #[serde(flatten)]
    pub reason: WaitReason,
}

/// The step a ticket is at.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CurrentStep {
    pub step: StepId,
    /// Counts every step entry of the ticket: identifies this visit (escalation claims).
    pub visit: u32,
    pub started_at: Timestamp,
    /// When the step is due and when each alert fires; `None` for requester steps.
    pub plan: Option<AlertPlan>,
    /// Set while the clock is stopped, waiting on the requester.
    pub waiting: Option<Waiting>,
    /// Working time spent waiting on the requester in this visit, in seconds.
    pub waited_secs: i64,
    /// The highest alert level already handled for this visit.
    pub alerts_handled: Option<AlertLevel>,
}

impl CurrentStep {
    pub fn due_at(&self) -> Option<Timestamp> {
        if self.waiting.is_some() { None } else { self.plan.as_ref().map(|p| p.due) }
    }
}

/// The whole-service clock (e.g. 8 working hours for the province's intranet service).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceClock {
    pub started_at: Timestamp,
    pub plan: AlertPlan,
    pub paused_since: Option<Timestamp>,
    pub waited_secs: i64,
    pub alerts_handled: Option<AlertLevel>,
}

/// A finished step visit: the record the progress line and the service-level report use.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepRecord {
    pub step: StepId,
    pub visit: u32,
    pub started_at: Timestamp,
    pub ended_at: Timestamp,
    pub due_at: Option<Timestamp>,
    /// Working time spent on the step, less time waiting on the requester, in seconds.
    pub working_secs: i64,
    pub by: String,
    pub outcome: Option<String>,
    /// The procedure the step belongs to (a triage ticket's first steps are triage's,
    /// whatever procedure it was routed to); absent in records written before it was kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub procedure: Option<ProcedureId>,
}

impl StepRecord {
    pub fn within_limit(&self) -> Option<bool> {
        self.due_at.map(|due| self.ended_at <= due)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ticket {
    pub number: TicketNumber,
    pub agency: String,
    pub procedure: ProcedureId,
    pub procedure_version: u32,
    pub subject: String,
    pub description: String,
    /// Request details (location, number of users, …) and step outputs (schedule, …).
    pub fields: BTreeMap<String, String>,
    pub requester: Requester,
    pub channel: Channel,
    pub status: Status,
    /// The reason of a postponement, or the note of planned work.
    pub end_reason: Option<String>,
    pub current: Option<CurrentStep>,
    pub service_clock: Option<ServiceClock>,
    pub assignee: Option<StaffRef>,
    pub documents: Vec<Document>,
    pub history: Vec<StepRecord>,
    pub visits: u32,
    /// Bumped by every event; the store writes conditionally on it.
    pub version: u64,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub closed_at: Option<Timestamp>,
    /// Working time from the request to closing, less waiting on the requester; a reopened
    /// ticket adds each round's time (kept while it is open again, added to when it closes).
    pub service_working_secs: Option<i64>,
    pub reopened: u32,
    /// When the ticket was last reopened (the start of its current round).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reopened_at: Option<Timestamp>,
    /// Related tickets (e.g. the closed one a late reply referred to).
    pub related: Vec<TicketNumber>,
    /// Hash of the requester's status token (the token itself is never stored).
    pub token_hash: String,
}

impl Ticket {
    pub fn current_step(&self) -> Option<&str> {
        self.current.as_ref().map(|c| c.step.as_str())
    }

    pub fn due_at(&self) -> Option<Timestamp> {
        self.current.as_ref().and_then(CurrentStep::due_at)
    }

    pub fn is_waiting_on_requester(&self) -> bool {
        self.current.as_ref().is_some_and(|c| c.waiting.is_some())
    }

    /// Waiting for the requester's answer to a question (not for a requester step).
    pub fn is_waiting_for_answer(&self) -> bool {
        self.current
            .as_ref()
            .and_then(|c| c.waiting.as_ref())
            .is_some_and(|w| matches!(w.reason, WaitReason::InfoRequested { .. }))
    }

    /// The visit of the current step (0 when closed), which decision codes and links are
    /// bound to.
    pub fn current_visit(&self) -> u64 {
        self.current.as_ref().map_or(0, |c| u64::from(c.visit))
    }

    /// The files the requester sent (not staff uploads).
    pub fn requester_documents(&self) -> impl Iterator<Item = &Document> {
        self.documents.iter().filter(|d| !d.is_staff_upload(&self.number))
    }

    /// When the SLA sweep must next look at the ticket: the earliest pending alert of
    /// the current step or of the whole service. `None` when closed or waiting.
    pub fn next_check(&self) -> Option<Timestamp> {
        if self.status.is_closed() {
            return None;
        }
        let step = self
            .current
            .as_ref()
            .filter(|c| c.waiting.is_none())
            .and_then(|c| c.plan.as_ref().and_then(|p| p.next_check(c.alerts_handled)));
        let service = self
            .service_clock
            .as_ref()
            .filter(|s| s.paused_since.is_none())
            .and_then(|s| s.plan.next_check(s.alerts_handled));
        match (step, service) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    pub fn document_of_kind(&self, kind: &str) -> Option<&Document> {
        self.documents.iter().rev().find(|d| d.kind == kind)
    }
}

/// Who did something.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ActorKind {
    Staff,
    Requester,
    System,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Actor {
    pub kind: ActorKind,
    /// Staff id, the requester's address, or `system`.
    pub id: String,
    pub name: String,
    pub roles: Vec<Role>,
}

impl Actor {
    pub fn system() -> Actor {
        Actor { kind: ActorKind::System, id: "system".into(), name: "Loket".into(), roles: Vec::new() }
    }

    pub fn requester(requester: &Requester) -> Actor {
        Actor {
            kind: ActorKind::Requester,
            id: requester.email.clone().unwrap_or_default(),
            name: requester.name.clone(),
            roles: vec![Role::Pemohon],
        }
    }

    pub fn staff(staff: &StaffRef, roles: Vec<Role>) -> Actor {
        Actor { kind: ActorKind::Staff, id: staff.id.clone(), name: staff.name.clone(), roles }
    }

    pub fn has_any(&self, roles: &[Role]) -> bool {
        self.roles.iter().any(|r| roles.contains(r))
    }
}

/// What an event records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    Opened,
    Completed,
    Decided,
    Routed,
    Assigned,
    Note,
    /// The requester wrote (mail reply or status page).
    Comment,
    /// The requester confirmed what a requester step waited for.
    Confirmed,
    InfoRequested,
    Resumed,
    Reopened,
    /// An automatic reply (out of office…) arrived on the ticket's thread.
    AutoReply,
    /// A mail we sent bounced.
    DeliveryFailed,
    /// Escalation or warning mail went out.
    Escalated,
}

impl EventKind {
    pub fn label(self) -> &'static str {
        match self {
            EventKind::Opened => "Permohonan diterima",
            EventKind::Completed => "Langkah selesai",
            EventKind::Decided => "Keputusan",
            EventKind::Routed => "Diteruskan ke layanan",
            EventKind::Assigned => "Penugasan",
            EventKind::Note => "Catatan internal",
            EventKind::Comment => "Pesan pemohon",
            EventKind::Confirmed => "Konfirmasi pemohon",
            EventKind::InfoRequested => "Permintaan informasi",
            EventKind::Resumed => "Dilanjutkan",
            EventKind::Reopened => "Dibuka kembali",
            EventKind::AutoReply => "Balasan otomatis",
            EventKind::DeliveryFailed => "Email gagal terkirim",
            EventKind::Escalated => "Eskalasi",
        }
    }
}

/// One entry of a ticket's timeline: append-only, never rewritten.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    /// The ticket version this event produced (1 for the opening event).
    pub seq: u64,
    pub at: Timestamp,
    pub kind: EventKind,
    pub actor: Actor,
    pub from_step: Option<StepId>,
    pub to_step: Option<StepId>,
    pub outcome: Option<String>,
    pub note: Option<String>,
    pub documents: Vec<Document>,
    /// Internal events are hidden from the requester.
    pub internal: bool,
    /// Message-ID of the mail that caused this event, if any.
    pub mail_in: Option<String>,
    /// What SES said about that mail's authenticity, e.g. `spf=pass dkim=pass dmarc=fail`.
    #[serde(default)]
    pub mail_auth: Option<String>,
    /// Status after the event.
    pub status: Status,
}

/// Duration helper for records: whole seconds of a working duration.
pub fn secs(d: SignedDuration) -> i64 {
    d.as_secs()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_staff_documents_key_proves_what_it_claims() {
        let keys = crate::mail::thread::ThreadKeys::new(b"document-test-secret-0123456789".to_vec()).expect("keys");
        let number = TicketNumber::new("JIP", 2026, 7).expect("n");
        let at = Timestamp::from_second(1_800_000_000).expect("t");
        let key =
            staff_document_key(&keys, &number, at, "0a1b2c3d", "berita_acara", 2048, "application/pdf", "ba-1.pdf");
        assert!(key.starts_with("attachments/tickets/JIP-2026-000007/1800000000000-0a1b2c3d-"), "{key}");
        let genuine = Document {
            kind: "berita_acara".into(),
            name: "ba-1.pdf".into(),
            content_type: "application/pdf".into(),
            size: 2048,
            key,
            uploaded_at: at,
            public: true,
        };
        assert!(staff_document_genuine(&keys, &number, &genuine));
        let changed = |f: &dyn Fn(&mut Document)| {
            let mut d = genuine.clone();
            f(&mut d);
            staff_document_genuine(&keys, &number, &d)
        };
        assert!(!changed(&|d| d.kind = "laporan_pemasangan".into()), "another kind");
        assert!(!changed(&|d| d.size = 1), "another size");
        assert!(!changed(&|d| d.uploaded_at = at + SignedDuration::from_secs(1)), "another instant");
        assert!(!changed(&|d| d.key = "attachments/tickets/JIP-2026-000007/x".into()), "made up");
        assert!(!changed(&|d| d.key = d.key.replace("ba-1.pdf", "ba-2.pdf")), "another name");
        let other = TicketNumber::new("JIP", 2026, 8).expect("n");
        assert!(!staff_document_genuine(&keys, &other, &genuine), "another ticket");
    }

    #[test]
    fn ticket_numbers_parse_and_print() {
        let n = TicketNumber::new("JIP", 2026, 123).expect("valid");
        assert_eq!(n.as_str(), "JIP-2026-000123");
        assert_eq!(n.service(), "JIP");
        assert_eq!(n.year(), 2026);
        assert_eq!("jip-2026-000123".parse::<TicketNumber>(), Ok(n.clone()));
        for bad in ["JIP-2026-12", "JI-2026-000123", "JIP_2026_000123", "", "JIP-2026-0001234"] {
            assert!(bad.parse::<TicketNumber>().is_err(), "{bad}");
        }
        assert!(TicketNumber::new("JIP", 2026, 1_000_000).is_err());
    }

    #[test]
    fn finds_numbers_in_subjects() {
        let found = TicketNumber::find_in("Re: [#GJI-2026-000042] Internet mati").map(|n| n.to_string());
        assert_eq!(found.as_deref(), Some("GJI-2026-000042"));
        assert_eq!(TicketNumber::find_in("no number here"), None);
        assert_eq!(TicketNumber::find_in("XGJI-2026-0000421"), None);
    }
}
