//! What an inbound message is: a person writing (a new request or a reply), an automatic
//! reply, a bounce, list or bulk mail, junk flagged by SES, or our own mail coming back.
//!
//! Pure: headers, structure and the SES receipt verdicts in, a class and the reason out.
//! The order of the checks matters: our own mail first (never answer ourselves), then SES
//! verdicts, bounces and other machine reports (which often also carry auto-reply or bulk
//! headers), automatic replies, list or bulk mail, and only then a person.
//!
//! This runs on every inbound message, so it stays cheap: headers are read in place, no
//! regular expressions, and message bodies are only looked at in bounded windows, and only
//! when the headers alone leave a doubt.

use mail_parser::{Address, Message, MessagePart, MimeHeaders};
use serde::{Deserialize, Serialize};

/// An SES receipt verdict (`PASS`, `FAIL`, `GRAY`, `PROCESSING_FAILED`, `DISABLED`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Pass,
    Fail,
    Gray,
    ProcessingFailed,
    Disabled,
}

impl Verdict {
    pub fn from_ses(status: &str) -> Option<Verdict> {
        match status.trim().to_ascii_uppercase().as_str() {
            "PASS" => Some(Verdict::Pass),
            "FAIL" => Some(Verdict::Fail),
            "GRAY" => Some(Verdict::Gray),
            "PROCESSING_FAILED" => Some(Verdict::ProcessingFailed),
            "DISABLED" => Some(Verdict::Disabled),
            _ => None,
        }
    }
}

/// The verdicts SES attached to the receipt (absent when not available, e.g. locally).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verdicts {
    pub spam: Option<Verdict>,
    pub virus: Option<Verdict>,
    pub spf: Option<Verdict>,
    pub dkim: Option<Verdict>,
    pub dmarc: Option<Verdict>,
}

impl Verdicts {
    /// `spf=pass dkim=pass dmarc=fail`, for the timeline (absent verdicts are left out).
    pub fn summary(&self) -> Option<String> {
        let name = |v: Verdict| match v {
            Verdict::Pass => "pass",
            Verdict::Fail => "fail",
            Verdict::Gray => "gray",
            Verdict::ProcessingFailed => "processing_failed",
            Verdict::Disabled => "disabled",
        };
        let parts: Vec<String> =
            [("spf", self.spf), ("dkim", self.dkim), ("dmarc", self.dmarc), ("spam", self.spam), ("virus", self.virus)]
                .into_iter()
                .filter_map(|(k, v)| v.map(|v| format!("{k}={}", name(v))))
                .collect();
        (!parts.is_empty()).then(|| parts.join(" "))
    }
}

/// Who "we" are, to recognise our own mail.
#[derive(Debug, Clone, Copy)]
pub struct Us<'a> {
    /// The agency's service address, e.g. `layanan@kominfo.example.go.id`.
    pub service_address: &'a str,
    /// The domain of our Message-IDs and plus addresses.
    pub mail_domain: &'a str,
}

/// The header every mail Loket sends carries (with the ticket number).
pub const LOOP_HEADER: &str = "X-Loket-Ticket";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "class", rename_all = "snake_case")]
pub enum MailClass {
    /// Written by a person; `reply` when its headers or subject say it answers a mail.
    Person { reply: bool },
    /// Out of office, vacation, autoresponder, read receipt, challenge-response.
    AutoReply,
    /// A delivery status notification or abuse report; `original` holds the
    /// Message-IDs (without angle brackets) of the mail it is about, when they can be found.
    /// `delayed`: the report only says the mail is late (the mail system is still trying
    /// and reports again if it gives up), so nothing has failed yet.
    Bounce {
        original: Vec<String>,
        #[serde(default)]
        delayed: bool,
    },
    /// Mailing lists, newsletters, notifications, bulk mail.
    ListOrBulk,
    /// SES said spam or virus.
    Junk,
    /// Our own mail come back.
    Loop,
}

impl MailClass {
    /// The class name used by the corpus manifest.
    pub fn label(&self) -> &'static str {
        match self {
            MailClass::Person { reply: false } => "new_request",
            MailClass::Person { reply: true } => "reply",
            MailClass::AutoReply => "auto_reply",
            MailClass::Bounce { .. } => "bounce",
            MailClass::ListOrBulk | MailClass::Junk => "list_or_bulk",
            MailClass::Loop => "loop",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Classification {
    pub class: MailClass,
    /// Why, in English, for the log and the timeline (e.g. "header Auto-Submitted: auto-replied").
    pub reason: String,
}

fn class(class: MailClass, reason: impl Into<String>) -> Classification {
    Classification { class, reason: reason.into() }
}

/// A header's raw value, trimmed, by case-insensitive name.
pub fn header_text(message: &Message<'_>, name: &str) -> Option<String> {
    header(message, name).map(str::to_string)
}

/// The lower-cased address of the first `From` mailbox.
pub fn from_address(message: &Message<'_>) -> Option<String> {
    message.from().and_then(|list| list.first()).and_then(|m| m.address()).map(|a| a.trim().to_ascii_lowercase())
}

/// Classifies a parsed message.
pub fn classify(message: &Message<'_>, verdicts: &Verdicts, us: &Us<'_>) -> Classification {
    let facts = Facts::of(message);
    own_mail(message, &facts, us)
        .or_else(|| ses_verdict(verdicts))
        .or_else(|| bounce_or_report(message, &facts))
        .or_else(|| auto_reply(message, &facts))
        .or_else(|| list_or_bulk(message, &facts))
        .unwrap_or_else(|| person(message, &facts))
}

/// What several checks look at, read once.
struct Facts<'m> {
    /// The first From address, lower-cased; empty when there is none.
    from: String,
    subject: &'m str,
    /// The bare Return-Path address: `Some("")` for the null reverse path `<>`.
    return_path: Option<&'m str>,
    /// Why the From mailbox is one software sends from, if it is.
    automated_from: Option<&'static str>,
}

impl<'m> Facts<'m> {
    fn of(message: &'m Message<'_>) -> Facts<'m> {
        let from = from_address(message).unwrap_or_default();
        let automated_from = automated_mailbox(&from);
        Facts {
            subject: message.subject().unwrap_or_default(),
            return_path: header(message, "Return-Path").map(bare_address),
            from,
            automated_from,
        }
    }
}

// ---------------------------------------------------------------------------------------
// 1. Our own mail and 2. SES verdicts.

fn own_mail(message: &Message<'_>, facts: &Facts<'_>, us: &Us<'_>) -> Option<Classification> {
    if header(message, LOOP_HEADER).is_some() {
        return Some(class(MailClass::Loop, format!("header {LOOP_HEADER}")));
    }
    let (our_local, our_domain) = split_address(us.service_address);
    let from = facts.from.as_str();
    let (local, domain) = split_address(from);
    // Our plus addresses (`layanan+TICKET.sig@…`) are ours too, but only at our own domain:
    // `layanan+x@elsewhere` is somebody else.
    let ours = !from.is_empty()
        && domain.eq_ignore_ascii_case(our_domain)
        && (local.eq_ignore_ascii_case(our_local)
            || starts_with_ci(local, our_local) && local.as_bytes().get(our_local.len()) == Some(&b'+'));
    ours.then(|| class(MailClass::Loop, "sent from our own address"))
}

fn ses_verdict(verdicts: &Verdicts) -> Option<Classification> {
    if verdicts.virus == Some(Verdict::Fail) {
        return Some(class(MailClass::Junk, "SES virus verdict FAIL"));
    }
    if verdicts.spam == Some(Verdict::Fail) {
        return Some(class(MailClass::Junk, "SES spam verdict FAIL"));
    }
    None
}

// ---------------------------------------------------------------------------------------
// 3. Bounces and other machine reports.

/// Subject openings of delivery failure notices (English MTAs, Exchange, Indonesian
/// webmail). Anchored at the start so that "Fwd: Returned mail…" from a person is not one.
const BOUNCE_SUBJECTS: &[&str] = &[
    "undelivered mail",
    "undeliverable",
    "delivery status notification",
    "delivery failure",
    "delivery notification: delivery has failed",
    "failure notice",
    "mail delivery failed",
    "mail delivery failure",
    "message delivery failure",
    "returned mail",
    "non delivery report",
    "non-delivery report",
    "nondeliverable",
    "mail system error",
    "delayed mail",
    "warning: could not send message",
    "gagal terkirim",
    "pesan gagal terkirim",
    "email gagal terkirim",
    "pesan tidak terkirim",
    "tidak terkirim",
    "tidak dapat dikirim",
    "pengiriman gagal",
];

/// What a mail system writes when it returns a message, in the opening of its notice.
const DELIVERY_FAILURE_PHRASES: &[&str] = &[
    "could not be delivered",
    "couldn't be delivered",
    "was not delivered",
    "undeliverable",
    "delivery has failed",
    "delivery failed",
    "permanent error",
    "user unknown",
    "mailbox is full",
    "mailbox full",
    "returned to sender",
    "gagal terkirim",
    "tidak terkirim",
    "tidak dapat dikirim",
];

/// Local parts of the mail system itself (RFC 5321 postmaster, the sendmail tradition).
const MAIL_SYSTEM_LOCALS: &[&str] = &["mailer-daemon", "mailer_daemon", "mailerdaemon", "mail-daemon", "postmaster"];

/// The kinds of `multipart/report` (RFC 6522) and their machine-readable parts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Report {
    /// RFC 3464 delivery status notification.
    Delivery,
    /// RFC 5965 abuse feedback report (ARF).
    Feedback,
    /// RFC 8098 message disposition notification (read receipt).
    Disposition,
}

fn bounce_or_report(message: &Message<'_>, facts: &Facts<'_>) -> Option<Classification> {
    if let Some(report) = report_kind(message) {
        return Some(match report {
            Report::Disposition => class(MailClass::AutoReply, "read receipt (disposition-notification report)"),
            // Challenge-response systems (Boxbe) wrap their "please confirm" notice in a
            // delivery report; nothing bounced, a person (or a click) is expected.
            Report::Delivery if challenge_text(message) => {
                class(MailClass::AutoReply, "challenge-response notice dressed as a delivery report")
            }
            Report::Delivery => bounce(message, "delivery status report"),
            Report::Feedback => bounce(message, "abuse feedback report (ARF)"),
        });
    }
    if header(message, "X-Failed-Recipients").is_some() {
        return Some(bounce(message, "header X-Failed-Recipients"));
    }
    let (local, _) = split_address(&facts.from);
    if let Some(system) = MAIL_SYSTEM_LOCALS.iter().find(|s| local.eq_ignore_ascii_case(s)) {
        return Some(bounce(message, format!("from {system}")));
    }
    if let Some(path) = facts.return_path
        && MAIL_SYSTEM_LOCALS.iter().any(|s| split_address(path).0.eq_ignore_ascii_case(s))
    {
        return Some(bounce(message, "Return-Path of the mail system"));
    }
    // A null reverse path without any From mailbox: only the mail system itself writes
    // like that (an autoresponder still says who it answers for).
    if facts.return_path == Some("") && facts.from.is_empty() {
        return Some(bounce(message, "null Return-Path and no From mailbox"));
    }
    let head = facts.subject.trim_start();
    if let Some(opening) = BOUNCE_SUBJECTS.iter().find(|s| starts_with_ci(head, s)) {
        return Some(bounce(message, format!("bounce subject '{opening}'")));
    }
    // Non-standard notices (Japanese carriers, webmail) from a no-reply address that say
    // the message was not delivered and return it as an attachment.
    if facts.automated_from.is_some()
        && returns_a_message(message)
        && first_text_mentions(message, DELIVERY_FAILURE_PHRASES, 4096)
    {
        return Some(bounce(message, "automated notice returning an undelivered message"));
    }
    None
}

/// The report a message carries: by its `multipart/report` type, or by a machine-readable
/// report part anywhere at its top level (broken MTAs send a bare `message/delivery-status`
/// or put it in `multipart/mixed`). Reports inside an attached message do not count: that
/// is a person forwarding a bounce.
fn report_kind(message: &Message<'_>) -> Option<Report> {
    if let Some(ct) = message.content_type()
        && ct.ctype().eq_ignore_ascii_case("multipart")
        && ct.subtype().is_some_and(|s| s.eq_ignore_ascii_case("report"))
        && let Some(report) = ct.attribute("report-type").and_then(report_of_subtype)
    {
        return Some(report);
    }
    message.parts.iter().find_map(|part| {
        let ct = part.content_type()?;
        if !ct.ctype().eq_ignore_ascii_case("message") {
            return None;
        }
        report_of_subtype(ct.subtype()?)
    })
}

fn report_of_subtype(subtype: &str) -> Option<Report> {
    const KINDS: [(&str, Report); 5] = [
        ("delivery-status", Report::Delivery),
        ("global-delivery-status", Report::Delivery),
        ("feedback-report", Report::Feedback),
        ("disposition-notification", Report::Disposition),
        ("global-disposition-notification", Report::Disposition),
    ];
    KINDS.iter().find(|(name, _)| subtype.eq_ignore_ascii_case(name)).map(|(_, report)| *report)
}

fn bounce(message: &Message<'_>, reason: impl Into<String>) -> Classification {
    let delayed = delivery_delayed(message);
    let reason = reason.into();
    let reason = if delayed { format!("{reason}; delivery delayed, not failed") } else { reason };
    class(MailClass::Bounce { original: bounced_message_ids(message), delayed }, reason)
}

/// Subject openings of the usual delay warnings (sendmail, Postfix, Gmail, Exchange), for
/// reports without a machine-readable part.
const DELAY_SUBJECTS: &[&str] = &[
    "delayed mail",
    "warning: could not send message",
    "warning: message delayed",
    "delivery status notification (delay)",
    "delivery delayed",
    "message delayed",
    "pengiriman tertunda",
];

/// RFC 3464 actions that say nothing has failed: the mail is late, or a success report.
const NOT_FAILED_ACTIONS: &[&str] = &["delayed", "delivered", "relayed", "expanded"];

/// Whether a delivery report only says the mail is late. The `Action:` fields of its
/// delivery-status part decide (every recipient delayed, or delivered); without that
/// part, the subject of the well-known delay warnings does.
fn delivery_delayed(message: &Message<'_>) -> bool {
    let statuses = message.parts.iter().filter(|part| {
        part.content_type().is_some_and(|ct| {
            ct.ctype().eq_ignore_ascii_case("message")
                && ct.subtype().is_some_and(|s| report_of_subtype(s) == Some(Report::Delivery))
        })
    });
    let mut actions = Vec::new();
    for part in statuses {
        actions.extend(String::from_utf8_lossy(part.contents()).lines().filter_map(action_of));
    }
    if !actions.is_empty() {
        return actions.iter().all(|action| NOT_FAILED_ACTIONS.iter().any(|a| action.eq_ignore_ascii_case(a)));
    }
    let subject = message.subject().unwrap_or_default().trim_start();
    DELAY_SUBJECTS.iter().any(|s| starts_with_ci(subject, s))
}

/// The value of an `Action:` field line of a delivery-status part.
fn action_of(line: &str) -> Option<String> {
    const NAME: &str = "action:";
    let line = line.trim_start();
    // The name matched as ASCII, so its end is a character boundary.
    starts_with_ci(line, NAME).then(|| line[NAME.len()..].trim().to_string())
}

/// Whether the message returns a message: an attached `message/rfc822` or its headers.
fn returns_a_message(message: &Message<'_>) -> bool {
    message.parts.iter().any(|part| part.message().is_some() || is_returned_headers(part))
}

/// A part holding the returned message's headers as text: `text/rfc822-headers` (RFC 6522),
/// or a `message/rfc822` that did not parse as a message.
fn is_returned_headers(part: &MessagePart<'_>) -> bool {
    part.content_type().is_some_and(|ct| {
        let subtype = ct.subtype().unwrap_or_default();
        (ct.ctype().eq_ignore_ascii_case("text") || ct.ctype().eq_ignore_ascii_case("message"))
            && (subtype.eq_ignore_ascii_case("rfc822-headers") || subtype.eq_ignore_ascii_case("rfc822"))
    })
}

/// The Message-IDs of the mail a bounce is about, so that the service can mark its own
/// notification as failed: the Message-ID of the returned message (attached, or its
/// headers), the bounce's own In-Reply-To/References (Exchange sets them), and failing
/// those, Message-ID lines of an original quoted inline (qmail, Exim).
fn bounced_message_ids(message: &Message<'_>) -> Vec<String> {
    // Returned headers are short; an inline copy sits right after the notice.
    const SCAN: usize = 32 * 1024;
    let mut ids = Vec::new();
    for part in &message.parts {
        if let Some(original) = part.message() {
            if let Some(id) = original.message_id() {
                push_id(&mut ids, id);
            }
        } else if let Some(id) = is_returned_headers(part)
            .then(|| part.text_contents())
            .flatten()
            .and_then(|text| first_message_id_line(prefix(text, SCAN)))
        {
            push_id(&mut ids, id);
        }
    }
    let replied = message.in_reply_to().as_text_list().into_iter().flatten();
    let referenced = message.references().as_text_list().into_iter().flatten();
    for id in replied.chain(referenced) {
        push_id(&mut ids, id);
    }
    if ids.is_empty() {
        let texts = message.text_body.iter().filter_map(|&i| message.parts.get(i as usize)?.text_contents());
        for id in texts.filter_map(|text| first_message_id_line(prefix(text, SCAN))) {
            push_id(&mut ids, id);
        }
    }
    ids
}

/// The value of the first `Message-ID:` line of `text`: in returned headers and in a
/// quoted copy, the original's own (later ones would come from its body).
fn first_message_id_line(text: &str) -> Option<&str> {
    const NAME: &str = "message-id:";
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        let line = line.trim_start();
        if !starts_with_ci(line, NAME) {
            continue;
        }
        // The name matched as ASCII, so its end is a character boundary.
        let value = line[NAME.len()..].trim();
        // A folded header continues on the next line.
        let value = if value.is_empty() { lines.next().unwrap_or_default().trim() } else { value };
        if value.contains('@') {
            return Some(value);
        }
    }
    None
}

/// Adds a Message-ID without its angle brackets (the form Loket stores), once.
fn push_id(ids: &mut Vec<String>, raw: &str) {
    let raw = raw.trim();
    let id = match raw.strip_prefix('<') {
        Some(rest) => rest.split('>').next().unwrap_or_default(),
        None => raw.split_whitespace().next().unwrap_or_default(),
    }
    .trim();
    if !id.is_empty() && !id.contains(char::is_whitespace) && !ids.iter().any(|known| known == id) {
        ids.push(id.to_string());
    }
}

// ---------------------------------------------------------------------------------------
// 4. Automatic replies.

/// Subject openings of out-of-office and autoresponder replies: what Outlook, Exchange,
/// Lotus Notes, Zimbra and webmail put in front of the original subject, and what people
/// type into their vacation responders, in Indonesian and the languages we see most.
/// Anchored at the start (after an optional `[`) because an IT service desk gets requests
/// like "Cara mengatur balasan otomatis di Outlook".
const OUT_OF_OFFICE_OPENINGS: &[&str] = &[
    "out of office",
    "out of the office",
    "automatic reply",
    "automatic response",
    "auto reply",
    "auto-reply",
    "autoreply",
    "auto response",
    "auto-response",
    "autoresponse",
    "auto:",
    "vacation",
    "balasan otomatis",
    "balasan automatis",
    "balas otomatis",
    "jawaban otomatis",
    "pesan otomatis",
    "sedang cuti",
    "di luar kantor",
    "sedang di luar kantor",
    "tidak di kantor",
    "sedang dinas luar",
    "abwesenheit",
    "urlaub",
    "automatische antwort",
    "automatisch antwoord",
    "automatyczna odpowied",
    "réponse automatique",
    "respuesta automática",
    "resposta automática",
];

/// Phrases that describe an automatic reply wherever they stand in the subject
/// (AOL's "Re: … (Automatic Response)", Notes' "… is out of the office").
const OUT_OF_OFFICE_PHRASES: &[&str] = &[
    "(automatic response)",
    "(automatic reply)",
    "(auto reply)",
    "(auto-reply)",
    "(autoreply)",
    "(out of office)",
    "(balasan otomatis)",
    "is out of the office",
    "is out of office",
];

/// Header name prefixes of challenge-response systems (Boxbe, Bluebottle).
const CHALLENGE_HEADERS: &[&str] = &["x-boxbe", "x-bluebottle"];

/// What challenge-response notices ask of the sender.
const CHALLENGE_PHRASES: &[&str] = &[
    "pre-approved",
    "guest list",
    "you are human",
    "you are a human",
    "have your address added",
    "add yourself to",
    "x-boxbe",
];

fn auto_reply(message: &Message<'_>, facts: &Facts<'_>) -> Option<Classification> {
    if let Some(auto) = header(message, "Auto-Submitted")
        && !auto.eq_ignore_ascii_case("no")
    {
        return Some(class(MailClass::AutoReply, format!("header Auto-Submitted: {auto}")));
    }
    for name in ["X-Autoreply", "X-Autorespond", "X-Autoresponder"] {
        if header(message, name).is_some() {
            return Some(class(MailClass::AutoReply, format!("header {name}")));
        }
    }
    if header(message, "Precedence").is_some_and(|p| p.eq_ignore_ascii_case("auto_reply")) {
        return Some(class(MailClass::AutoReply, "header Precedence: auto_reply"));
    }
    if let Some(name) = header_with_prefix(message, CHALLENGE_HEADERS) {
        return Some(class(MailClass::AutoReply, format!("challenge-response header {name}")));
    }
    // Exchange marks its own automatic mail with X-Auto-Response-Suppress; with it, an
    // out-of-office phrase anywhere in the subject is enough.
    let anywhere = header(message, "X-Auto-Response-Suppress").is_some();
    if let Some(phrase) = out_of_office_subject(facts.subject, anywhere) {
        return Some(class(MailClass::AutoReply, format!("out-of-office subject '{phrase}'")));
    }
    if facts.automated_from.is_some() && challenge_text(message) {
        return Some(class(MailClass::AutoReply, "challenge-response notice from an automated sender"));
    }
    // RFC 3834 §3.3: automatic responses go out with a null reverse path so that nothing
    // answers them. Persons and lists never send like that; bounces were sorted out above.
    if facts.return_path == Some("") {
        return Some(class(MailClass::AutoReply, "null Return-Path (automatic response)"));
    }
    None
}

fn out_of_office_subject(subject: &str, anywhere: bool) -> Option<&'static str> {
    let head = subject.trim_start().trim_start_matches('[').trim_start();
    let bytes = subject.as_bytes();
    OUT_OF_OFFICE_OPENINGS
        .iter()
        .find(|o| starts_with_ci(head, o))
        .or_else(|| OUT_OF_OFFICE_PHRASES.iter().find(|p| contains_ci(bytes, p.as_bytes())))
        .or_else(
            || if anywhere { OUT_OF_OFFICE_OPENINGS.iter().find(|o| contains_ci(bytes, o.as_bytes())) } else { None },
        )
        .copied()
}

/// Whether the machine-readable report or the opening of the notice asks the sender to
/// prove they are a person or to get on an allowed list.
fn challenge_text(message: &Message<'_>) -> bool {
    let in_report = message.parts.iter().any(|part| {
        let is_status = part.content_type().is_some_and(|ct| {
            ct.ctype().eq_ignore_ascii_case("message")
                && ct.subtype().and_then(report_of_subtype) == Some(Report::Delivery)
        });
        is_status && mentions_any(prefix_bytes(part.contents(), 4096), CHALLENGE_PHRASES)
    });
    in_report || first_text_mentions(message, CHALLENGE_PHRASES, 4096)
}

// ---------------------------------------------------------------------------------------
// 5. Lists and bulk mail.

/// `X-Mailer` values of mass mailers and of the scripting libraries that notification
/// scripts use; a person's mail client is none of these.
const BULK_MAILERS: &[&str] = &[
    "mime::lite",
    "gfimailer",
    "html mailer",
    "phplist",
    "mailchimp",
    "sendblaster",
    "mass mail",
    "bulk",
    "newsletter",
    "campaign",
    "mailpoet",
    "acymailing",
    "interspire",
    "mailwizz",
    "listserv",
    "mailman",
    "majordomo",
    "sympa",
];

/// Header name prefixes that only email service providers' bulk and application mail carry.
/// Mailgun's outbound headers only: its inbound routing stamps `X-Mailgun-Incoming` on
/// whatever it receives, persons' mail included.
const BULK_HEADERS: &[&str] = &[
    "x-campaign",
    "x-mailgun-sid",
    "x-mailgun-variables",
    "x-mailgun-tag",
    "x-mc-user",
    "x-mandrill-user",
    "x-sg-eid",
    "x-csa-complaints",
];

/// Headers that SES and other providers add to everything they relay, personal mail
/// included: a hint, not proof.
const PROVIDER_HEADERS: &[&str] = &["feedback-id", "x-ses-outgoing"];

/// Role mailboxes that marketing is sent from; people also write from them, so a hint.
const ROLE_LOCALS: &[&str] = &["info", "marketing", "promo", "promotion", "promotions", "sales", "offers"];

/// This many mailboxes openly in To suggest a broadcast: a person writes to the desk and
/// copies others in Cc, a broadcast lists everyone in To.
const SEVERAL_RECIPIENTS: usize = 3;

/// Where newsletters say how to unsubscribe: the top ("having trouble viewing…") and
/// the footer.
const UNSUBSCRIBE_PHRASES: &[&str] = &["unsubscribe", "berhenti berlangganan", "opt-out", "opt out"];

fn list_or_bulk(message: &Message<'_>, facts: &Facts<'_>) -> Option<Classification> {
    if let Some(name) = list_header(message) {
        return Some(class(MailClass::ListOrBulk, format!("header {name}")));
    }
    if let Some(p) = header(message, "Precedence")
        && ["bulk", "list", "junk"].iter().any(|b| p.eq_ignore_ascii_case(b))
    {
        return Some(class(MailClass::ListOrBulk, format!("header Precedence: {p}")));
    }
    // Lists and bulk senders route bounces and replies to their own machinery.
    for name in ["Return-Path", "Sender", "Errors-To"] {
        if let Some(address) = header(message, name).map(bare_address)
            && list_server_mailbox(address)
        {
            return Some(class(MailClass::ListOrBulk, format!("{name} at a list or bounce handler")));
        }
    }
    if let Some(why) = facts.automated_from {
        return Some(class(MailClass::ListOrBulk, format!("automated sender ({why})")));
    }
    if let Some(why) = facts.return_path.and_then(automated_mailbox) {
        return Some(class(MailClass::ListOrBulk, format!("automated Return-Path ({why})")));
    }
    if let Some(name) = header_with_prefix(message, BULK_HEADERS) {
        return Some(class(MailClass::ListOrBulk, format!("mass-mailer header {name}")));
    }
    if let Some(mailer) = header(message, "X-Mailer")
        && let Some(tool) = BULK_MAILERS.iter().find(|t| contains_ci(mailer.as_bytes(), t.as_bytes()))
    {
        return Some(class(MailClass::ListOrBulk, format!("X-Mailer of a bulk or scripting tool ({tool})")));
    }
    broadcast(message, facts).map(|(sent, looks)| class(MailClass::ListOrBulk, format!("broadcast: {sent}, {looks}")))
}

/// The first RFC 2369/2919 list header.
fn list_header(message: &Message<'_>) -> Option<&'static str> {
    let headers = [
        ("List-Id", message.list_id()),
        ("List-Unsubscribe", message.list_unsubscribe()),
        ("List-Post", message.list_post()),
        ("List-Help", message.list_help()),
        ("List-Subscribe", message.list_subscribe()),
        ("List-Owner", message.list_owner()),
        ("List-Archive", message.list_archive()),
    ];
    headers.iter().find(|(_, value)| !value.is_empty()).map(|(name, _)| *name)
}

/// Bulk mail without list headers, from weak signs that are each common in a person's
/// mail: it takes one about how it was sent and one about what it is. The body is only
/// read when the first is there and the headers did not settle the second.
fn broadcast(message: &Message<'_>, facts: &Facts<'_>) -> Option<(&'static str, &'static str)> {
    let sent = if mailbox_count(message.to()) >= SEVERAL_RECIPIENTS {
        "several mailboxes in To"
    } else if header_with_prefix(message, PROVIDER_HEADERS).is_some() {
        "sending-provider header"
    } else {
        return None;
    };
    let (local, _) = split_address(&facts.from);
    let looks = if local.split(['-', '_', '.', '+']).any(|t| ROLE_LOCALS.iter().any(|r| t.eq_ignore_ascii_case(r))) {
        "role mailbox sender"
    } else if tagged_subject(facts.subject) {
        "[tag] subject"
    } else if unsubscribe_text(message) {
        "unsubscribe text"
    } else {
        return None;
    };
    Some((sent, looks))
}

/// A subject that opens with a `[tag]`, as list and tracker notifications do; not our own
/// `[#ticket]` tag (a requester's reply) nor an old-style `[Fwd: …]` forward.
fn tagged_subject(subject: &str) -> bool {
    subject.trim_start().strip_prefix('[').is_some_and(|rest| {
        !rest.starts_with('#') && !starts_with_ci(rest, "fwd") && !starts_with_ci(rest, "fw:") && rest.contains(']')
    })
}

fn unsubscribe_text(message: &Message<'_>) -> bool {
    let parts = message.text_body.first().into_iter().chain(message.html_body.first());
    parts.filter_map(|&i| message.parts.get(i as usize)).any(|part| {
        let text = part.contents();
        mentions_any(prefix_bytes(text, 2048), UNSUBSCRIBE_PHRASES)
            || mentions_any(suffix_bytes(text, 4096), UNSUBSCRIBE_PHRASES)
    })
}

fn mailbox_count(address: Option<&Address<'_>>) -> usize {
    match address {
        Some(Address::List(list)) => list.iter().filter(|a| a.address().is_some()).count(),
        Some(Address::Group(groups)) => {
            groups.iter().map(|g| g.addresses.iter().filter(|a| a.address().is_some()).count()).sum()
        }
        None => 0,
    }
}

/// Mailboxes of list servers and bounce processors (VERP): `owner-x@`, `x-request@`,
/// `bounces+…@`, `LISTSERV@`, or hosts like `lists.…` and `bounce.…`.
fn list_server_mailbox(address: &str) -> bool {
    const SERVERS: [&str; 5] = ["listserv", "majordomo", "mailman", "sympa", "ezmlm"];
    const HOSTS: [&str; 3] = ["list", "lists", "listserv"];
    let (local, domain) = split_address(address);
    let first_label = domain.split('.').next().unwrap_or_default();
    starts_with_ci(local, "owner-")
        || ends_with_ci(local, "-owner")
        || ends_with_ci(local, "-request")
        || contains_ci(local.as_bytes(), b"bounce")
        || SERVERS.iter().any(|s| local.eq_ignore_ascii_case(s))
        || HOSTS.iter().any(|h| first_label.eq_ignore_ascii_case(h))
        || domain.split('.').any(|label| starts_with_ci(label, "bounce"))
}

/// Why a mailbox is one that software sends from and nobody reads, if it is.
fn automated_mailbox(address: &str) -> Option<&'static str> {
    // Compared with separators removed: no-reply, no_reply, do.not.reply, gmail-noreply.
    const NO_REPLY: [&str; 3] = ["noreply", "donotreply", "donotrespond"];
    const TOKENS: [&str; 17] = [
        "news",
        "enews",
        "newsletter",
        "newsletters",
        "notification",
        "notifications",
        "notify",
        "notifier",
        "announce",
        "announcement",
        "announcements",
        "alerts",
        "mailer",
        "bounce",
        "bounces",
        "anonymous",
        "nobody",
    ];
    // Web server and system accounts: mail from scripts and cron jobs.
    const SYSTEM: [&str; 5] = ["www-data", "apache", "nginx", "daemon", "root"];
    let (local, _) = split_address(address);
    if local.is_empty() {
        return None;
    }
    let mut squeezed = [0u8; 64];
    let mut len = 0;
    for (slot, b) in squeezed.iter_mut().zip(local.bytes().filter(|b| !matches!(b, b'-' | b'_' | b'.'))) {
        *slot = b;
        len += 1;
    }
    let squeezed = &squeezed[..len];
    if let Some(n) = NO_REPLY.iter().find(|n| contains_ci(squeezed, n.as_bytes())) {
        return Some(n);
    }
    if let Some(t) = local.split(['-', '_', '.', '+']).find_map(|t| TOKENS.iter().find(|k| t.eq_ignore_ascii_case(k))) {
        return Some(t);
    }
    SYSTEM.iter().find(|s| local.eq_ignore_ascii_case(s)).copied()
}

// ---------------------------------------------------------------------------------------
// 6. A person.

fn person(message: &Message<'_>, facts: &Facts<'_>) -> Classification {
    let replying = !message.in_reply_to().is_empty() || !message.references().is_empty();
    let head = facts.subject.trim_start();
    let re_subject = ["re:", "re :", "aw:", "balas:", "bls:"].iter().any(|p| starts_with_ci(head, p));
    let reason = if replying {
        "a person, replying (In-Reply-To/References)"
    } else if re_subject {
        "a person, replying (Re: subject)"
    } else {
        "a person"
    };
    class(MailClass::Person { reply: replying || re_subject }, reason)
}

// ---------------------------------------------------------------------------------------
// Small helpers: headers read in place, ASCII case-insensitive matching.

/// The first header called `name` (any case), trimmed, without copying. Searches by name
/// and decodes only the match: `Message::headers_raw` checks every value it passes.
fn header<'m>(message: &'m Message<'_>, name: &str) -> Option<&'m str> {
    message.headers().iter().filter(|h| h.name.as_str().eq_ignore_ascii_case(name)).find_map(|h| {
        let raw = message.raw_message.get(h.offset_start as usize..h.offset_end as usize)?;
        std::str::from_utf8(raw).ok().map(str::trim)
    })
}

/// The name of the first header whose name starts with one of `prefixes` (lower case).
fn header_with_prefix<'m>(message: &'m Message<'_>, prefixes: &[&str]) -> Option<&'m str> {
    message.headers().iter().map(|h| h.name.as_str()).find(|n| prefixes.iter().any(|p| starts_with_ci(n, p)))
}

/// The bare address in a raw header value: `Name <a@b>`, `<a@b>` or `a@b`; empty for `<>`.
fn bare_address(raw: &str) -> &str {
    let raw = raw.trim();
    match (raw.rfind('<'), raw.rfind('>')) {
        (Some(start), Some(end)) if start < end => raw[start + 1..end].trim(),
        _ => raw,
    }
}

/// Local part and domain; the domain is empty when there is no `@`.
fn split_address(address: &str) -> (&str, &str) {
    address.rsplit_once('@').unwrap_or((address, ""))
}

/// Whether the first text part (or, for HTML-only mail, the HTML) mentions one of
/// `phrases` in its first `window` bytes.
fn first_text_mentions(message: &Message<'_>, phrases: &[&str], window: usize) -> bool {
    let first = message.text_body.first().or_else(|| message.html_body.first());
    first
        .and_then(|&i| message.parts.get(i as usize))
        .is_some_and(|part| mentions_any(prefix_bytes(part.contents(), window), phrases))
}

fn mentions_any(haystack: &[u8], phrases: &[&str]) -> bool {
    phrases.iter().any(|p| contains_ci(haystack, p.as_bytes()))
}

/// ASCII case-insensitive substring test; `needle` is lower case.
fn contains_ci(haystack: &[u8], needle: &[u8]) -> bool {
    needle.is_empty() || haystack.windows(needle.len()).any(|w| w.eq_ignore_ascii_case(needle))
}

fn starts_with_ci(text: &str, prefix: &str) -> bool {
    text.as_bytes().get(..prefix.len()).is_some_and(|head| head.eq_ignore_ascii_case(prefix.as_bytes()))
}

fn ends_with_ci(text: &str, suffix: &str) -> bool {
    let bytes = text.as_bytes();
    bytes.len() >= suffix.len() && bytes[bytes.len() - suffix.len()..].eq_ignore_ascii_case(suffix.as_bytes())
}

fn prefix_bytes(bytes: &[u8], len: usize) -> &[u8] {
    &bytes[..bytes.len().min(len)]
}

fn suffix_bytes(bytes: &[u8], len: usize) -> &[u8] {
    &bytes[bytes.len().saturating_sub(len)..]
}

/// The first `len` bytes of `text`, cut back to a character boundary.
fn prefix(text: &str, len: usize) -> &str {
    let mut end = text.len().min(len);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

#[cfg(test)]
mod tests {
    use super::*;
    use mail_parser::MessageParser;

    const US: Us<'static> =
        Us { service_address: "layanan@kominfo.example.go.id", mail_domain: "kominfo.example.go.id" };

    /// A message from `headers` (one per line) and `body`.
    fn mail(headers: &[&str], body: &str) -> String {
        format!("{}\r\n\r\n{body}", headers.join("\r\n"))
    }

    /// A person's plain message to the service desk, with `extra` headers and `subject`.
    fn from_person(extra: &[&str], subject: &str) -> String {
        let subject = format!("Subject: {subject}");
        let mut headers = vec![
            "From: Budi Santoso <budi@pemda.example.go.id>",
            "To: layanan@kominfo.example.go.id",
            "Message-ID: <p.1@pemda.example.go.id>",
            "Date: Mon, 2 Mar 2026 09:00:00 +0700",
            &subject,
        ];
        headers.extend_from_slice(extra);
        mail(&headers, "Mohon bantuan, akun email saya terkunci.\r\n")
    }

    fn classify_with(raw: &str, verdicts: &Verdicts) -> Classification {
        let message = MessageParser::default().parse(raw.as_bytes()).expect("the test message parses");
        classify(&message, verdicts, &US)
    }

    fn classify_raw(raw: &str) -> Classification {
        classify_with(raw, &Verdicts::default())
    }

    fn label(raw: &str) -> &'static str {
        classify_raw(raw).class.label()
    }

    fn original(raw: &str) -> Vec<String> {
        match classify_raw(raw).class {
            MailClass::Bounce { original, .. } => original,
            other => panic!("not a bounce: {other:?}"),
        }
    }

    /// A DSN (RFC 3464) for a mail of ours whose Message-ID is `<m.1@kominfo.example.go.id>`,
    /// the original returned as `returned_type`.
    fn dsn(returned_type: &str) -> String {
        let content_type = format!("Content-Type: {returned_type}");
        [
            "From: Mail Delivery System <MAILER-DAEMON@mx.pemda.example.go.id>",
            "To: layanan@kominfo.example.go.id",
            "Subject: Undelivered Mail Returned to Sender",
            "MIME-Version: 1.0",
            "Content-Type: multipart/report; report-type=delivery-status; boundary=\"b1\"",
            "",
            "--b1",
            "Content-Type: text/plain",
            "",
            "This is the mail system. Your message could not be delivered.",
            "",
            "--b1",
            "Content-Type: message/delivery-status",
            "",
            "Reporting-MTA: dns; mx.pemda.example.go.id",
            "",
            "Final-Recipient: rfc822; budi@pemda.example.go.id",
            "Action: failed",
            "Status: 5.1.1",
            "",
            "--b1",
            &content_type,
            "",
            "From: Layanan <layanan@kominfo.example.go.id>",
            "To: budi@pemda.example.go.id",
            "Subject: [#JIP-2026-000123] Permohonan diterima",
            "Message-ID: <m.1@kominfo.example.go.id>",
            "X-Loket-Ticket: JIP-2026-000123",
            "",
            "Terima kasih.",
            "",
            "--b1--",
            "",
        ]
        .join("\r\n")
    }

    #[test]
    fn our_own_mail_is_a_loop() {
        assert_eq!(classify_raw(&from_person(&["X-Loket-Ticket: JIP-2026-000123"], "Hi")).class, MailClass::Loop);
        let ours = |from: &str| mail(&[&format!("From: {from}"), "To: budi@pemda.example.go.id", "Subject: x"], "x");
        assert_eq!(label(&ours("Layanan <layanan@kominfo.example.go.id>")), "loop");
        assert_eq!(label(&ours("layanan+JIP-2026-000123.abc@kominfo.example.go.id")), "loop");
        // The same local part elsewhere is somebody else, and so is a longer one.
        assert_eq!(label(&ours("layanan+x@elsewhere.example.com")), "new_request");
        assert_eq!(label(&ours("layanan.publik@kominfo.example.go.id")), "new_request");
    }

    #[test]
    fn ses_spam_or_virus_fail_is_junk() {
        let raw = from_person(&[], "Hadiah untuk Anda");
        let spam = Verdicts { spam: Some(Verdict::Fail), ..Verdicts::default() };
        let virus = Verdicts { virus: Some(Verdict::Fail), ..Verdicts::default() };
        assert_eq!(classify_with(&raw, &spam).class, MailClass::Junk);
        assert_eq!(classify_with(&raw, &virus).class, MailClass::Junk);
        assert_eq!(classify_with(&raw, &spam).class.label(), "list_or_bulk");
        let pass = Verdicts { spam: Some(Verdict::Pass), virus: Some(Verdict::Pass), ..Verdicts::default() };
        assert_eq!(classify_with(&raw, &pass).class.label(), "new_request");
    }

    #[test]
    fn a_bounce_names_the_message_id_of_the_attached_original() {
        let c = classify_raw(&dsn("message/rfc822"));
        assert_eq!(c.reason, "delivery status report");
        // Our mail inside the bounce carries our loop header; only the bounce's own count.
        assert_eq!(original(&dsn("message/rfc822")), ["m.1@kominfo.example.go.id"]);
    }

    fn delayed(raw: &str) -> bool {
        match classify_raw(raw).class {
            MailClass::Bounce { delayed, .. } => delayed,
            other => panic!("not a bounce: {other:?}"),
        }
    }

    #[test]
    fn a_delay_warning_is_a_bounce_that_has_not_failed() {
        assert!(!delayed(&dsn("message/rfc822")), "Action: failed");
        let with_actions = |actions: &[&str]| {
            let fields: Vec<String> = actions.iter().map(|a| format!("Action: {a}")).collect();
            dsn("message/rfc822").replace("Action: failed", &fields.join("\r\nFinal-Recipient: rfc822; b@x.go.id\r\n"))
        };
        let late = with_actions(&["delayed"]);
        assert!(delayed(&late));
        assert!(classify_raw(&late).reason.ends_with("delivery delayed, not failed"));
        // Its Message-ID is still found, for the record.
        assert_eq!(original(&late), ["m.1@kominfo.example.go.id"]);
        assert!(delayed(&with_actions(&["DELAYED", "delivered"])));
        // One recipient failed: a bounce, whatever the others say.
        assert!(!delayed(&with_actions(&["delayed", "failed"])));
        assert!(!delayed(&with_actions(&["bogus"])));
        // Without a delivery-status part, the subject of the known warnings decides; a
        // machine-readable "failed" wins over a delay subject.
        let warning = |subject: &str| {
            mail(
                &[
                    &format!("Subject: {subject}"),
                    "From: MAILER-DAEMON@mx.example.net",
                    "To: layanan@kominfo.example.go.id",
                ],
                "This is a warning message only. YOU DO NOT NEED TO RESEND YOUR MESSAGE.",
            )
        };
        assert!(delayed(&warning("Warning: could not send message for past 4 hours")));
        assert!(delayed(&warning("Delivery Status Notification (Delay)")));
        assert!(!delayed(&warning("Delivery Status Notification (Failure)")));
        assert!(!delayed(&dsn("message/rfc822").replace("Undelivered Mail Returned to Sender", "Delayed Mail")));
    }

    #[test]
    fn a_bounce_names_the_message_id_of_returned_headers() {
        assert!(original(&dsn("text/rfc822-headers")).contains(&"m.1@kominfo.example.go.id".to_string()));
    }

    #[test]
    fn a_bare_delivery_status_is_a_bounce() {
        let raw = mail(
            &["Content-Type: message/delivery-status", "MIME-Version: 1.0"],
            "Reporting-MTA: dns; mx.example.net\r\n\r\nFinal-Recipient: rfc822; a@example.net\r\nAction: failed\r\n",
        );
        assert_eq!(label(&raw), "bounce");
    }

    #[test]
    fn x_failed_recipients_is_a_bounce_about_its_in_reply_to() {
        let raw = mail(
            &[
                "From: Mail Delivery Subsystem <mail-relay@example.net>",
                "To: layanan@kominfo.example.go.id",
                "Subject: Notice",
                "X-Failed-Recipients: budi@pemda.example.go.id",
                "In-Reply-To: <m.1@kominfo.example.go.id>",
            ],
            "Your message could not be delivered.\r\n",
        );
        assert_eq!(original(&raw), ["m.1@kominfo.example.go.id"]);
    }

    #[test]
    fn a_null_sender_without_a_from_mailbox_is_a_bounce() {
        // Exim's "not a valid user" answer: auto-replied, but from the mail system itself.
        let raw = mail(
            &[
                "Return-Path: <>",
                "From: <>",
                "To: layanan@kominfo.example.go.id",
                "Auto-Submitted: auto-replied",
                "In-Reply-To: <m.1@kominfo.example.go.id>",
            ],
            "You sent mail to a@b.example. That's not a valid user here.\r\n",
        );
        assert_eq!(original(&raw), ["m.1@kominfo.example.go.id"]);
    }

    #[test]
    fn the_mail_system_as_sender_is_a_bounce_and_an_inline_copy_names_the_original() {
        let raw = mail(
            &[
                "From: MAILER-DAEMON@mx.pemda.example.go.id",
                "To: layanan@kominfo.example.go.id",
                "Subject: failure notice",
            ],
            "Sorry, I couldn't deliver your message.\r\n\r\n--- Below this line is a copy of the message.\r\n\r\n\
             From: layanan@kominfo.example.go.id\r\nMessage-ID: <m.1@kominfo.example.go.id>\r\n\r\nIsi pesan\r\n\
             Message-ID: <quoted@elsewhere.example>\r\n",
        );
        assert_eq!(original(&raw), ["m.1@kominfo.example.go.id"]);
        let postmaster = mail(&["From: postmaster@pemda.example.go.id", "Subject: Pemberitahuan"], "x");
        assert_eq!(label(&postmaster), "bounce");
    }

    #[test]
    fn bounce_subjects_in_english_and_indonesian() {
        let notice = |subject: &str| {
            mail(&["From: Sistem Surel <sistem@mail.pemda.example.go.id>", &format!("Subject: {subject}")], "x")
        };
        for subject in [
            "Undelivered Mail Returned to Sender",
            "Delivery Status Notification (Failure)",
            "failure notice",
            "Mail delivery failed: returning message to sender",
            "Returned mail: see transcript for details",
            "Undeliverable: Permohonan akun",
            "Gagal terkirim: Permohonan akun",
            "Pesan tidak terkirim",
        ] {
            assert_eq!(label(&notice(subject)), "bounce", "{subject}");
        }
        // A person forwarding a bounce is a person.
        assert_eq!(label(&from_person(&[], "Fwd: Returned mail: see transcript for details")), "new_request");
    }

    #[test]
    fn a_no_reply_notice_returning_the_message_is_a_bounce() {
        let raw = |from: &str, text: &str| {
            [
                &format!("From: {from}"),
                "To: layanan@kominfo.example.go.id",
                "Subject: Pemberitahuan",
                "MIME-Version: 1.0",
                "Content-Type: multipart/mixed; boundary=\"b2\"",
                "",
                "--b2",
                "Content-Type: text/plain",
                "",
                text,
                "",
                "--b2",
                "Content-Type: message/rfc822",
                "",
                "From: layanan@kominfo.example.go.id",
                "Message-ID: <m.1@kominfo.example.go.id>",
                "Subject: Permohonan diterima",
                "",
                "Terima kasih.",
                "--b2--",
                "",
            ]
            .join("\r\n")
        };
        let notice = raw("no-reply@mail.operator.example.co.id", "Pesan Anda tidak dapat dikirim: kotak surat penuh.");
        assert_eq!(original(&notice), ["m.1@kominfo.example.go.id"]);
        // A person attaching a mail is a person, whatever the text says.
        let person = raw("budi@pemda.example.go.id", "Email ini tidak dapat dikirim ke atasan saya, mohon dicek.");
        assert_eq!(label(&person), "new_request");
    }

    #[test]
    fn an_abuse_feedback_report_is_a_bounce() {
        let raw = [
            "From: feedback@arf.example.net",
            "Subject: Email Feedback Report",
            "MIME-Version: 1.0",
            "Content-Type: multipart/report; report-type=feedback-report; boundary=\"b3\"",
            "",
            "--b3",
            "Content-Type: text/plain",
            "",
            "This is an abuse report.",
            "--b3",
            "Content-Type: message/feedback-report",
            "",
            "Feedback-Type: abuse",
            "--b3--",
            "",
        ]
        .join("\r\n");
        assert_eq!(classify_raw(&raw).reason, "abuse feedback report (ARF)");
    }

    #[test]
    fn a_read_receipt_is_an_auto_reply() {
        let raw = [
            "From: Budi <budi@pemda.example.go.id>",
            "Subject: Dibaca: Permohonan diterima",
            "MIME-Version: 1.0",
            "Content-Type: multipart/report; report-type=disposition-notification; boundary=\"b4\"",
            "",
            "--b4",
            "Content-Type: text/plain",
            "",
            "Pesan Anda telah dibaca.",
            "--b4",
            "Content-Type: message/disposition-notification",
            "",
            "Final-Recipient: rfc822; budi@pemda.example.go.id",
            "Disposition: manual-action/MDN-sent-manually; displayed",
            "--b4--",
            "",
        ]
        .join("\r\n");
        assert_eq!(label(&raw), "auto_reply");
    }

    #[test]
    fn a_challenge_response_dressed_as_a_delivery_report_is_an_auto_reply() {
        let raw = dsn("message/rfc822")
            .replace("Your message could not be delivered.", "Please add yourself to my Guest List.")
            .replace("Status: 5.1.1", "Status: 4.7.0\r\nDiagnostic-Code: X-Boxbe-Notice; Sender not pre-approved");
        assert_eq!(label(&raw), "auto_reply");
    }

    #[test]
    fn challenge_response_headers_and_notices_are_auto_replies() {
        assert_eq!(label(&from_person(&["X-Bluebottle-Request: <1234>"], "RE: Permohonan")), "auto_reply");
        let notice = mail(
            &["From: noreply@verify.example.com", "To: layanan@kominfo.example.go.id", "Subject: Verification"],
            "Before your message is delivered, please confirm you are human: https://verify.example.com/x\r\n",
        );
        assert_eq!(label(&notice), "auto_reply");
    }

    #[test]
    fn auto_reply_headers() {
        assert_eq!(label(&from_person(&["Auto-Submitted: auto-replied"], "Permohonan")), "auto_reply");
        assert_eq!(label(&from_person(&["Auto-Submitted: auto-generated"], "Permohonan")), "auto_reply");
        assert_eq!(label(&from_person(&["Auto-Submitted: no"], "Permohonan")), "new_request");
        assert_eq!(label(&from_person(&["X-Autoreply: yes"], "Permohonan")), "auto_reply");
        assert_eq!(label(&from_person(&["X-Autorespond: yes"], "Permohonan")), "auto_reply");
        assert_eq!(label(&from_person(&["Precedence: auto_reply"], "Permohonan")), "auto_reply");
        // Old vacation programs mark their replies as bulk; the subject still tells.
        assert_eq!(label(&from_person(&["Precedence: junk"], "[Automatyczna odpowiedź] test")), "auto_reply");
    }

    #[test]
    fn out_of_office_subjects_in_indonesian() {
        for subject in [
            "Balasan Otomatis: Permohonan reset kata sandi",
            "[Balasan otomatis] Permohonan reset kata sandi",
            "Sedang Cuti",
            "Sedang cuti sampai 10 Maret",
            "Di Luar Kantor",
            "Sedang di luar kantor: Permohonan",
            "Sedang Dinas Luar Kota",
            "Re: Undangan rapat (Balasan Otomatis)",
        ] {
            assert_eq!(label(&from_person(&[], subject)), "auto_reply", "{subject}");
        }
    }

    #[test]
    fn out_of_office_subjects_in_other_languages() {
        for subject in [
            "Out of Office: Permohonan",
            "Automatic reply: Permohonan",
            "Auto-Reply: Permohonan",
            "Autoreply: Permohonan",
            "AUTO: Budi is out of the office (returning 05/01/2026)",
            "Re: blah (Automatic Response)",
            "Vacation reply",
            "Abwesenheitsnotiz: Antrag",
            "Urlaub bis Montag",
        ] {
            assert_eq!(label(&from_person(&[], subject)), "auto_reply", "{subject}");
        }
    }

    #[test]
    fn out_of_office_words_inside_a_request_stay_a_request() {
        // An IT service desk is asked about exactly these things.
        for subject in [
            "Cara mengatur balasan otomatis di Outlook",
            "Tidak bisa akses email di luar kantor",
            "Setting auto reply tidak berfungsi",
        ] {
            assert_eq!(label(&from_person(&[], subject)), "new_request", "{subject}");
        }
    }

    #[test]
    fn x_auto_response_suppress_lets_the_phrase_stand_anywhere() {
        let subject = "Permohonan akun - sedang cuti";
        assert_eq!(label(&from_person(&[], subject)), "new_request");
        assert_eq!(label(&from_person(&["X-Auto-Response-Suppress: All"], subject)), "auto_reply");
    }

    #[test]
    fn a_null_return_path_from_a_person_is_an_auto_reply() {
        let raw = from_person(&["Return-Path: <>", "Precedence: bulk"], "Terima kasih atas email Anda");
        assert_eq!(classify_raw(&raw).reason, "null Return-Path (automatic response)");
    }

    #[test]
    fn list_headers_and_precedence_are_list_or_bulk() {
        for header in [
            "List-Id: <pengumuman.kominfo.example.go.id>",
            "List-Unsubscribe: <mailto:leave@lists.example.go.id>",
            "List-Post: <mailto:diskusi@lists.example.go.id>",
            "Precedence: bulk",
            "Precedence: list",
            "Precedence: junk",
        ] {
            assert_eq!(label(&from_person(&[header], "Info")), "list_or_bulk", "{header}");
        }
    }

    #[test]
    fn list_servers_and_bounce_handlers_in_the_envelope_are_list_or_bulk() {
        for header in [
            "Return-Path: <bounces+12345-abc=kominfo.example.go.id@mailer.example.com>",
            "Return-Path: 101BN3c3@bounce.example.net",
            "Return-Path: owner-diskusi-l@list.example.org",
            "Sender: Diskusi <DISKUSI-L@LISTSERV.EXAMPLE.ORG>",
            "Sender: diskusi-request@example.org",
            "Errors-To: diskusi-owner@example.org",
        ] {
            assert_eq!(label(&from_person(&[header], "Info")), "list_or_bulk", "{header}");
        }
    }

    #[test]
    fn automated_senders_are_list_or_bulk() {
        for from in [
            "noreply@sistem.example.go.id",
            "no-reply@sistem.example.go.id",
            "do_not_reply@bank.example.co.id",
            "gmail-noreply@google.com",
            "newsletter@toko.example.com",
            "News@insideapple.example.com",
            "announcements@vendor.example.com",
            "notifications@github.example.com",
            "anonymous@web.example.com",
        ] {
            let raw = mail(&[&format!("From: {from}"), "To: layanan@kominfo.example.go.id", "Subject: Info"], "x");
            assert_eq!(label(&raw), "list_or_bulk", "{from}");
        }
        // A web script's mail: the From is a person's, the envelope the web server's.
        assert_eq!(label(&from_person(&["Return-Path: <www-data@web.example.go.id>"], "Commit 214")), "list_or_bulk");
    }

    #[test]
    fn mass_mailer_headers_are_list_or_bulk() {
        assert_eq!(label(&from_person(&["X-Campaign-Id: 2026-03"], "Promo")), "list_or_bulk");
        assert_eq!(label(&from_person(&["X-Mailer: MIME::Lite 3.020"], "Promo")), "list_or_bulk");
        assert_eq!(label(&from_person(&["X-Mailer: Microsoft Outlook 16.0"], "Permohonan")), "new_request");
        // Mailgun's inbound routing marks what it receives; that says nothing of the sender.
        assert_eq!(label(&from_person(&["X-Mailgun-Incoming: Yes"], "Permohonan")), "new_request");
    }

    #[test]
    fn a_broadcast_takes_several_mailboxes_in_to_and_a_bulk_look() {
        let to_many = "To: layanan@kominfo.example.go.id, a@pemda.example.go.id, b@dinas.example.go.id";
        let raw = |from: &str, subject: &str, body: &str| {
            mail(&[&format!("From: {from}"), to_many, &format!("Subject: {subject}")], body)
        };
        assert_eq!(label(&raw("info@kursus.example.com", "Kursus September", "x")), "list_or_bulk");
        assert_eq!(label(&raw("l@leads.example.com", "[Online Lead] Lead #1", "x")), "list_or_bulk");
        let newsletter = "Promo bulan ini.\r\nUntuk berhenti berlangganan klik di sini.";
        assert_eq!(label(&raw("budi@toko.example.com", "Promo", newsletter)), "list_or_bulk");
        // Each sign alone is an ordinary person's mail.
        assert_eq!(label(&raw("budi@pemda.example.go.id", "Rapat koordinasi", "x")), "new_request");
        assert_eq!(label(&raw("budi@pemda.example.go.id", "[#JIP-2026-000123] Tambahan", "x")), "new_request");
        let info_alone = mail(
            &["From: info@dinas.example.go.id", "To: layanan@kominfo.example.go.id", "Subject: [PENTING] Server mati"],
            "x",
        );
        assert_eq!(label(&info_alone), "new_request");
    }

    #[test]
    fn persons_write_new_requests_and_replies() {
        assert_eq!(
            classify_raw(&from_person(&[], "Permohonan reset kata sandi")).class,
            MailClass::Person { reply: false }
        );
        assert_eq!(label(&from_person(&["In-Reply-To: <m.1@kominfo.example.go.id>"], "Tambahan")), "reply");
        assert_eq!(label(&from_person(&[], "Re: [#JIP-2026-000123] Permohonan diterima")), "reply");
        assert_eq!(label(&from_person(&[], "Balas: Permohonan diterima")), "reply");
    }
}
