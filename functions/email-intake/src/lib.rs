//! Email intake: an SES receipt event (the raw MIME already in S3) becomes exactly one
//! recorded outcome per message: a new ticket, an entry on a ticket's timeline,
//! quarantined, or dropped, each with its reason. The raw message stays in S3 in every
//! case; a second delivery of the same message (same SES id) is told the first outcome.
//!
//! The handler is thin: the domain classifies, threads and decides; this file reads the
//! event, calls the ports and sends the mail the store recorded.

use std::collections::BTreeMap;

use aws_lambda_events::event::ses::{SimpleEmailEvent, SimpleEmailReceipt};
use jiff::Timestamp;
use loket_domain::mail::classify::{Classification, MailClass, Us, Verdict, Verdicts, classify, from_address};
use loket_domain::mail::compose::{Composer, Links};
use loket_domain::mail::intake::{ThreadedBy, confirms, only_thanks, pick_procedure, reply_text, thread_candidates};
use loket_domain::mail::thread::{ThreadKeys, token_hash};
use loket_domain::ports::{
    Claim, ClaimToken, Created, IoError, Mailer, Outcome, Quarantined, RawMail, RawMailStore, StoreError, TicketStore,
    create_and_send, send_recorded,
};
use loket_domain::ticket::{
    Actor, ActorKind, Channel, Document, EventKind, Requester, Ticket, TicketNumber, staff_document_prefix,
};
use loket_domain::workflow::{Action, NewTicket, TransitionError};
use loket_domain::{Agency, Catalog, Workflow};
use mail_parser::{Message, MessageParser, MimeHeaders};

/// Limits that keep memory bounded whatever arrives.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Larger raw messages are quarantined without being read.
    pub max_message_bytes: u64,
    /// Larger attachments are not stored (recorded on the timeline instead).
    pub max_attachment_bytes: usize,
    /// Attachments kept per message.
    pub max_attachments: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits { max_message_bytes: 25 * 1024 * 1024, max_attachment_bytes: 10 * 1024 * 1024, max_attachments: 20 }
    }
}

/// Everything the handler needs, built once per cold start.
pub struct Deps<S, R, M> {
    pub store: S,
    pub raw: R,
    pub mailer: M,
    pub catalog: Catalog,
    pub agency: Agency,
    pub keys: ThreadKeys,
    pub links: Links,
    /// Where SES writes raw messages: `<prefix><SES message id>`.
    pub raw_prefix: String,
    pub limits: Limits,
}

#[derive(Debug, thiserror::Error)]
pub enum IntakeError {
    /// Try again later (Lambda retries the async invocation, then the DLQ keeps it).
    #[error("retryable: {0}")]
    Retryable(String),
}

impl From<StoreError> for IntakeError {
    fn from(e: StoreError) -> Self {
        IntakeError::Retryable(e.to_string())
    }
}

impl From<IoError> for IntakeError {
    fn from(e: IoError) -> Self {
        IntakeError::Retryable(e.to_string())
    }
}

/// Handles an SES receipt event: one outcome per record.
pub async fn handle<S, R, M>(deps: &Deps<S, R, M>, event: SimpleEmailEvent) -> Result<Vec<Outcome>, IntakeError>
where
    S: TicketStore + Sync,
    R: RawMailStore + Sync,
    M: Mailer + Sync,
{
    let mut outcomes = Vec::new();
    for record in event.records {
        let ses_id = record.ses.mail.message_id.clone().unwrap_or_default();
        if ses_id.is_empty() {
            tracing::error!("SES record without a message id; nothing to read");
            continue;
        }
        let verdicts = verdicts(&record.ses.receipt);
        let outcome = process(deps, &ses_id, &verdicts, Timestamp::now()).await?;
        tracing::info!(ses_id = %ses_id, outcome = %outcome.kind, number = ?outcome.number.as_ref().map(|n| n.to_string()), reason = %outcome.reason, "mail handled");
        outcomes.push(outcome);
    }
    Ok(outcomes)
}

fn verdicts(receipt: &SimpleEmailReceipt) -> Verdicts {
    let v = |status: &Option<String>| status.as_deref().and_then(Verdict::from_ses);
    Verdicts {
        spam: v(&receipt.spam_verdict.status),
        virus: v(&receipt.virus_verdict.status),
        spf: v(&receipt.spf_verdict.status),
        dkim: v(&receipt.dkim_verdict.status),
        dmarc: v(&receipt.dmarc_verdict.status),
    }
}

/// Processes one stored message under its SES id.
pub async fn process<S, R, M>(
    deps: &Deps<S, R, M>,
    ses_id: &str,
    verdicts: &Verdicts,
    now: Timestamp,
) -> Result<Outcome, IntakeError>
where
    S: TicketStore + Sync,
    R: RawMailStore + Sync,
    M: Mailer + Sync,
{
    let claim = match deps.store.claim(&format!("mail:{ses_id}"), now).await? {
        Claim::Fresh(claim) => claim,
        Claim::Done(outcome) => return Ok(outcome),
        Claim::InProgress => return Err(IntakeError::Retryable(format!("message {ses_id} is being processed"))),
    };
    let raw_key = format!("{}{ses_id}", deps.raw_prefix);
    let raw = match deps.raw.fetch(&raw_key, deps.limits.max_message_bytes).await? {
        RawMail::Found(raw) => raw,
        RawMail::TooLarge(size) => {
            let reason =
                format!("message of {size} bytes exceeds the limit of {} bytes", deps.limits.max_message_bytes);
            return set_aside(deps, &claim, ses_id, &raw_key, "", "", &reason, now).await;
        }
        RawMail::Missing => {
            return set_aside(deps, &claim, ses_id, &raw_key, "", "", "raw message not found in the mail bucket", now)
                .await;
        }
    };
    let Some(message) = parse_mail(&raw) else {
        return set_aside(deps, &claim, ses_id, &raw_key, "", "", "not a parseable MIME message", now).await;
    };
    let from = from_address(&message).unwrap_or_default();
    let subject = clip(message.subject().unwrap_or_default().trim(), MAX_SUBJECT_CHARS);
    let us = Us { service_address: &deps.agency.service_address, mail_domain: &deps.agency.mail_domain };
    let Classification { class, reason } = classify(&message, verdicts, &us);
    let label = class.label();
    let why = |text: &str| format!("{label}: {text}");

    match class {
        MailClass::Loop => {
            tracing::warn!(ses_id, reason = %reason, "our own mail came back; dropped");
            finish(deps, &claim, Outcome::new("dropped", None, why(&reason))).await
        }
        MailClass::Junk | MailClass::ListOrBulk => {
            set_aside(deps, &claim, ses_id, &raw_key, &from, &subject, &why(&reason), now).await
        }
        // A delay warning: the mail system is still trying and reports again if it gives
        // up, so our mail has not failed and the ticket is not told; the raw stays in S3.
        MailClass::Bounce { delayed: true, .. } => {
            tracing::info!(ses_id, reason = %reason, "delivery delay warning; nothing failed yet");
            finish(deps, &claim, Outcome::new("dropped", None, why(&reason))).await
        }
        MailClass::Bounce { original, delayed: false } => {
            match bounce(deps, &claim, &message, &original, &why(&reason), now).await? {
                Some(outcome) => Ok(outcome),
                // Only the subject said so, and no mail system sent it: a person may have
                // written about their own failed mail. Kept for staff, not dropped.
                None if reason.starts_with("bounce subject") => {
                    let reason = format!("{}; not about a mail we sent", why(&reason));
                    set_aside(deps, &claim, ses_id, &raw_key, &from, &subject, &reason, now).await
                }
                None => {
                    let reason = format!("{}; not about a mail we sent", why(&reason));
                    finish(deps, &claim, Outcome::new("dropped", None, reason)).await
                }
            }
        }
        MailClass::Person { .. } => {
            person(deps, &claim, &message, verdicts, &from, &subject, &raw_key, &why(&reason), now).await
        }
        MailClass::AutoReply => match thread(deps, &message, &from).await? {
            Some((ticket, _)) => {
                let wf = Workflow::new(&deps.catalog, &deps.agency);
                let note = format!("Balasan otomatis dari {from}: {subject}");
                let applied = wf.record(
                    &ticket,
                    EventKind::AutoReply,
                    &mail_actor(&from, &message),
                    Some(note),
                    message_id(&message),
                    now,
                );
                let outcome = Outcome::new("appended", Some(ticket.number.clone()), why(&reason));
                deps.store.apply(&applied, ticket.version, &[], Some((&claim, &outcome))).await?;
                Ok(outcome)
            }
            None => {
                finish(deps, &claim, Outcome::new("dropped", None, why(&format!("{reason}; not on a ticket")))).await
            }
        },
    }
}

async fn finish<S: TicketStore, R, M>(
    deps: &Deps<S, R, M>,
    claim: &ClaimToken,
    outcome: Outcome,
) -> Result<Outcome, IntakeError> {
    deps.store.finish(claim, &outcome).await?;
    Ok(outcome)
}

#[allow(clippy::too_many_arguments)]
async fn set_aside<S: TicketStore, R, M>(
    deps: &Deps<S, R, M>,
    claim: &ClaimToken,
    ses_id: &str,
    raw_key: &str,
    from: &str,
    subject: &str,
    reason: &str,
    now: Timestamp,
) -> Result<Outcome, IntakeError> {
    let record = Quarantined {
        id: ses_id.to_string(),
        at: now,
        reason: reason.to_string(),
        raw_key: raw_key.to_string(),
        from: from.to_string(),
        subject: subject.chars().take(300).collect(),
        released_as: None,
    };
    deps.store.quarantine(&record).await?;
    finish(deps, claim, Outcome::new("quarantined", None, reason)).await
}

/// Bounds on what is copied from a message onto a ticket (DynamoDB items hold 400 KB;
/// the full message stays in S3).
const MAX_SUBJECT_CHARS: usize = 250;
const MAX_NAME_CHARS: usize = 120;
const MAX_BODY_CHARS: usize = 20_000;

/// Parses raw MIME; `None` if it is not a message. A panic inside the parser counts as
/// not a message too, so the mail is set aside rather than failing the invocation with its
/// claim held (mail-parser 0.11 has a `debug_assert!` that some broken multipart bodies
/// reach: debug builds panic there, see fuzz/regressions/email_intake/).
pub fn parse_mail(raw: &[u8]) -> Option<Message<'_>> {
    std::panic::catch_unwind(|| MessageParser::default().parse(raw)).unwrap_or_else(|_| {
        tracing::warn!(bytes = raw.len(), "the MIME parser panicked; treated as not parseable");
        None
    })
}

fn clip(text: &str, max_chars: usize) -> String {
    match text.char_indices().nth(max_chars) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_string(),
    }
}

fn message_id(message: &Message<'_>) -> Option<String> {
    message.message_id().map(|id| format!("<{}>", clip(id, 250)))
}

fn mail_actor(from: &str, message: &Message<'_>) -> Actor {
    let name = message
        .from()
        .and_then(|a| a.first())
        .and_then(|m| m.name())
        .map(|n| clip(n, MAX_NAME_CHARS))
        .unwrap_or_else(|| from.to_string());
    Actor { kind: ActorKind::Requester, id: from.to_string(), name, roles: vec![loket_domain::Role::Pemohon] }
}

/// The ticket a message belongs to, and by what: a signed plus address, one of our
/// Message-IDs (or an SES id of a mail we sent), or a subject tag from the ticket's own
/// requester.
async fn thread<S: TicketStore, R, M>(
    deps: &Deps<S, R, M>,
    message: &Message<'_>,
    from: &str,
) -> Result<Option<(Ticket, ThreadedBy)>, IntakeError> {
    let (mut candidates, foreign) = thread_candidates(message, &deps.keys, &deps.agency);
    if candidates.iter().all(|(_, by)| *by == ThreadedBy::SubjectTag) {
        for id in foreign.iter().take(20) {
            if let Some(number) = deps.store.ticket_of_ses_id(id).await? {
                candidates.insert(0, (number, ThreadedBy::MessageId));
                break;
            }
        }
    }
    for (number, by) in candidates {
        let ticket = match deps.store.get(&number).await {
            Ok(t) => t,
            Err(StoreError::NotFound) => continue,
            Err(e) => return Err(e.into()),
        };
        if by == ThreadedBy::SubjectTag && ticket.requester.email.as_deref() != Some(from) {
            continue;
        }
        return Ok(Some((ticket, by)));
    }
    Ok(None)
}

async fn bounce<S, R, M>(
    deps: &Deps<S, R, M>,
    claim: &ClaimToken,
    message: &Message<'_>,
    original: &[String],
    reason: &str,
    now: Timestamp,
) -> Result<Option<Outcome>, IntakeError>
where
    S: TicketStore + Sync,
{
    let mut ids: Vec<String> = original.to_vec();
    ids.extend(message.in_reply_to().as_text_list().into_iter().flatten().map(|s| s.to_string()));
    ids.extend(message.references().as_text_list().into_iter().flatten().map(|s| s.to_string()));
    for id in ids {
        let Some(number) = deps.keys.ticket_of_message_id(&deps.agency.mail_domain, &id) else { continue };
        // Our ids are loket.<number>.<key>.<sig>@domain.
        let local = id.trim_matches(['<', '>']).split('@').next().unwrap_or_default().to_string();
        let key = local
            .strip_prefix(&format!("loket.{number}."))
            .and_then(|r| r.rsplit_once('.'))
            .map(|(k, _)| k.to_string());
        let ticket = match deps.store.get(&number).await {
            Ok(ticket) => ticket,
            Err(StoreError::NotFound) => continue,
            // A store fault is retried: the bounce must reach its ticket.
            Err(e) => return Err(e.into()),
        };
        if let Some(key) = &key {
            deps.store.mark_failed(&number, key, reason).await?;
        }
        let wf = Workflow::new(&deps.catalog, &deps.agency);
        let note = format!("Email dari Loket tidak terkirim ({reason}).");
        let applied =
            wf.record(&ticket, EventKind::DeliveryFailed, &Actor::system(), Some(note), message_id(message), now);
        let outcome = Outcome::new("appended", Some(number), reason.to_string());
        deps.store.apply(&applied, ticket.version, &[], Some((claim, &outcome))).await?;
        return Ok(Some(outcome));
    }
    Ok(None)
}

/// Attachments worth keeping, stored under `prefix` (the message's own for a requester,
/// the ticket's staff documents for a staff member); `public` if the requester may see
/// them. Also what was not kept, and why.
async fn store_attachments<S, R: RawMailStore, M>(
    deps: &Deps<S, R, M>,
    message: &Message<'_>,
    prefix: &str,
    public: bool,
    now: Timestamp,
) -> Result<Attached, IntakeError> {
    let mut documents = Vec::new();
    let mut skipped = Vec::new();
    for (i, part) in message.attachments().enumerate() {
        let name = clip(part.attachment_name().unwrap_or("lampiran"), MAX_NAME_CHARS);
        if i >= deps.limits.max_attachments {
            skipped.push(format!("{name}: lebih dari {} lampiran", deps.limits.max_attachments));
            continue;
        }
        let bytes = part.contents();
        if bytes.len() > deps.limits.max_attachment_bytes {
            skipped.push(format!(
                "{name}: {} bytes melebihi batas {} bytes",
                bytes.len(),
                deps.limits.max_attachment_bytes
            ));
            continue;
        }
        let content_type = part
            .content_type()
            .map(|ct| format!("{}/{}", ct.ctype(), ct.subtype().unwrap_or("octet-stream")))
            .unwrap_or_else(|| "application/octet-stream".into());
        let safe: String = name
            .chars()
            .map(|c| if c.is_alphanumeric() || matches!(c, '.' | '-' | '_') { c } else { '_' })
            .take(80)
            .collect();
        let key = format!("{prefix}{i}-{safe}");
        deps.raw.put(&key, bytes.to_vec(), &content_type).await?;
        documents.push(Document {
            kind: "lampiran".into(),
            name,
            content_type,
            size: bytes.len() as u64,
            key,
            uploaded_at: now,
            public,
        });
    }
    Ok(Attached { documents, skipped })
}

#[allow(clippy::too_many_arguments)]
async fn person<S, R, M>(
    deps: &Deps<S, R, M>,
    claim: &ClaimToken,
    message: &Message<'_>,
    verdicts: &Verdicts,
    from: &str,
    subject: &str,
    raw_key: &str,
    reason: &str,
    now: Timestamp,
) -> Result<Outcome, IntakeError>
where
    S: TicketStore + Sync,
    R: RawMailStore + Sync,
    M: Mailer + Sync,
{
    let ses_id = claim.key.trim_start_matches("mail:").to_string();
    if from.is_empty() || !from.contains('@') {
        return set_aside(
            deps,
            claim,
            &ses_id,
            raw_key,
            from,
            subject,
            &format!("{reason}; no usable From address"),
            now,
        )
        .await;
    }
    let body = message.body_text(0).map(|b| b.to_string()).unwrap_or_default();
    let wf = Workflow::new(&deps.catalog, &deps.agency);
    let composer = Composer { agency: &deps.agency, keys: &deps.keys, links: &deps.links };
    let no_staff = |_: loket_domain::Role| Vec::new();

    let threaded = thread(deps, message, from).await?;
    let mut related = Vec::new();
    if let Some((ticket, by)) = threaded {
        // A subject tag alone is a number anyone can guess, and a From line can be forged:
        // such a mail may add a comment, but confirms a step or reopens a ticket only when
        // the sender's domain vouches for it (DMARC pass). A reply to our Reply-To or to
        // one of our Message-IDs answers a mail we sent.
        let vouched = by != ThreadedBy::SubjectTag || verdicts.dmarc == Some(Verdict::Pass);
        let procedure = deps
            .catalog
            .get(&ticket.procedure)
            .ok_or_else(|| IntakeError::Retryable(format!("unknown procedure {}", ticket.procedure)))?;
        let text = clip(&reply_text(&body), MAX_BODY_CHARS);
        let staff_member = deps.agency.staff_by_email(from);
        // A staff member's attachments are the ticket's internal documents; a requester's
        // are theirs to see.
        let (prefix, public) = match staff_member {
            Some(_) => (format!("{}mail-{ses_id}-", staff_document_prefix(&ticket.number)), false),
            None => (format!("attachments/mail/{ses_id}/"), true),
        };
        let attached = store_attachments(deps, message, &prefix, public, now).await?;
        let text_with_notes = format!("{text}{}", attached.not_kept());
        let actor = mail_actor(from, message);
        let from_requester = ticket.requester.email.as_deref().is_some_and(|e| e.eq_ignore_ascii_case(from));
        if let Some(member) = staff_member {
            if !ticket.status.is_closed() {
                return staff_reply(deps, claim, message, verdicts, member, &ticket, &body, &attached, reason, now)
                    .await;
            }
            // Staff mail on a closed ticket is an internal note: staff reopen in the console,
            // with a reason, not by replying.
            let staff = Actor::staff(&member.as_ref(), member.roles.clone());
            let why = format!("{reason}; staff note on a closed ticket");
            let text = if text_with_notes.trim().is_empty() { "(tanpa isi)".to_string() } else { text_with_notes };
            let kind = (EventKind::Note, &staff);
            return record_only(deps, claim, message, verdicts, &ticket, kind, text, &attached.documents, &why, now)
                .await;
        }
        if ticket.status.is_closed() && only_thanks(&text) {
            // "Terima kasih" to the closing mail: kept on the ticket, which stays closed.
            let why = format!("{reason}; thanks on a closed ticket, not reopened");
            let kind = (EventKind::Comment, &actor);
            return record_only(deps, claim, message, verdicts, &ticket, kind, text, &attached.documents, &why, now)
                .await;
        }
        let action = if !ticket.status.is_closed() {
            Some(Action::RequesterReply {
                text: if text_with_notes.trim().is_empty() { subject.to_string() } else { text_with_notes },
                documents: attached.documents,
                confirms: from_requester && vouched && confirms(&text),
                mail_in: message_id(message),
            })
        } else if from_requester && vouched {
            Some(Action::Reopen { reason: if text.is_empty() { subject.to_string() } else { text.clone() } })
        } else {
            // Someone else (a colleague in copy) writing on a closed ticket: a new request
            // that links the old one, not a reopened ticket.
            None
        };
        let Some(action) = action else {
            related.push(ticket.number.clone());
            return new_request(deps, claim, message, verdicts, from, subject, &body, related, reason, now).await;
        };
        match wf.apply(&ticket, &actor, action, ticket.version, now) {
            Ok(mut applied) => {
                applied.event.mail_auth = verdicts.summary();
                let mails = composer.mails_for(&applied, procedure, &no_staff, now);
                let outcome = Outcome::new("appended", Some(ticket.number.clone()), reason.to_string());
                match deps.store.apply(&applied, ticket.version, &mails, Some((claim, &outcome))).await {
                    Ok(()) => {
                        send_recorded(&deps.store, &deps.mailer, &ticket.number, &mails).await;
                        return Ok(outcome);
                    }
                    Err(StoreError::Conflict(_)) => {
                        return Err(IntakeError::Retryable(format!("ticket {} changed meanwhile", ticket.number)));
                    }
                    Err(e) => return Err(e.into()),
                }
            }
            // A late reply to a closed ticket starts a new one that links the old.
            Err(TransitionError::ReopenWindowPassed { .. }) => related.push(ticket.number.clone()),
            Err(e) => tracing::warn!(ticket = %ticket.number, error = %e, "reply not applied; opening a new ticket"),
        }
    }
    new_request(deps, claim, message, verdicts, from, subject, &body, related, reason, now).await
}

#[allow(clippy::too_many_arguments)]
async fn new_request<S, R, M>(
    deps: &Deps<S, R, M>,
    claim: &ClaimToken,
    message: &Message<'_>,
    verdicts: &Verdicts,
    from: &str,
    subject: &str,
    body: &str,
    related: Vec<TicketNumber>,
    reason: &str,
    now: Timestamp,
) -> Result<Outcome, IntakeError>
where
    S: TicketStore + Sync,
    R: RawMailStore + Sync,
    M: Mailer + Sync,
{
    let ses_id = claim.key.trim_start_matches("mail:").to_string();
    let count = deps.store.count_sender(from, now).await?;
    if count > u64::from(deps.agency.max_new_tickets_per_sender_per_hour) {
        let why =
            format!("{reason}; sender over {} new tickets this hour", deps.agency.max_new_tickets_per_sender_per_hour);
        return set_aside(deps, claim, &ses_id, &format!("{}{ses_id}", deps.raw_prefix), from, subject, &why, now)
            .await;
    }
    let procedure = pick_procedure(&deps.agency, &deps.catalog, subject, body)
        .or_else(|| deps.catalog.get(&deps.agency.triage))
        .ok_or_else(|| IntakeError::Retryable("the agency has no triage procedure".into()))?;
    let attached = store_attachments(deps, message, &format!("attachments/mail/{ses_id}/"), true, now).await?;
    let description = format!("{}{}", clip(body.trim(), MAX_BODY_CHARS), attached.not_kept());
    let documents = attached.documents;
    let name = message
        .from()
        .and_then(|a| a.first())
        .and_then(|m| m.name())
        .map(|n| clip(n, MAX_NAME_CHARS))
        .unwrap_or_else(|| from.to_string());
    let reply_to = message.reply_to().and_then(|a| a.first()).and_then(|m| m.address()).map(|a| a.to_ascii_lowercase());
    let email = reply_to.filter(|a| a.contains('@')).unwrap_or_else(|| from.to_string());
    let requester = Requester { email: Some(email), name, unit: String::new(), phone: None };
    let token = loket_aws_token()?;
    let wf = Workflow::new(&deps.catalog, &deps.agency);
    let composer = Composer { agency: &deps.agency, keys: &deps.keys, links: &deps.links };
    let subject_line = if subject.is_empty() { "(tanpa judul)".to_string() } else { subject.to_string() };
    let year = deps.agency.calendar.local(now).year();
    let service = procedure.service.clone();
    let created = create_and_send(&deps.store, &deps.mailer, claim, &service, year, reason, |number| {
        let mut applied = wf.open(NewTicket {
            number,
            procedure: procedure.id.clone(),
            actor: Actor::requester(&requester),
            requester: requester.clone(),
            channel: Channel::Email,
            subject: subject_line.clone(),
            description: description.clone(),
            fields: BTreeMap::new(),
            documents: documents.clone(),
            token_hash: token_hash(&token),
            related: related.clone(),
            mail_in: message_id(message),
            at: now,
        })?;
        applied.event.mail_auth = verdicts.summary();
        let ack = composer.acknowledgement(&applied.ticket, procedure, &token, now);
        Ok((applied, ack.into_iter().collect()))
    })
    .await?;
    match created {
        Created::New(applied, _) => {
            let ticket = &applied.ticket;
            Ok(Outcome::new("new_ticket", Some(ticket.number.clone()), reason.to_string()))
        }
        Created::Duplicate(number) => Ok(Outcome::new("new_ticket", Some(number), reason.to_string())),
    }
}

/// A reply from a registered staff member. On a decision step it is taken as the decision
/// only when every condition holds: the sender holds the step's role; SES's DKIM or SPF
/// verdict passed; the reply carries the decision code of this ticket, step and version;
/// and its first word is one of the step's keywords. Otherwise it is kept as an internal
/// note, and the sender is told why.
#[allow(clippy::too_many_arguments)]
async fn staff_reply<S, R, M>(
    deps: &Deps<S, R, M>,
    claim: &ClaimToken,
    message: &Message<'_>,
    verdicts: &Verdicts,
    member: &loket_domain::agency::StaffMember,
    ticket: &Ticket,
    body: &str,
    attached: &Attached,
    reason: &str,
    now: Timestamp,
) -> Result<Outcome, IntakeError>
where
    S: TicketStore + Sync,
    M: Mailer + Sync,
{
    let wf = Workflow::new(&deps.catalog, &deps.agency);
    let composer = Composer { agency: &deps.agency, keys: &deps.keys, links: &deps.links };
    let actor = Actor::staff(&member.as_ref(), member.roles.clone());
    let text = clip(&reply_text(body), MAX_BODY_CHARS);
    let documents = attached.documents.as_slice();
    let procedure = deps
        .catalog
        .get(&ticket.procedure)
        .ok_or_else(|| IntakeError::Retryable(format!("unknown procedure {}", ticket.procedure)))?;
    let step = ticket.current_step().and_then(|s| procedure.step(s));

    let decision = step.filter(|s| s.is_decision()).map(|step| {
        let first_line = text.lines().find(|l| !l.trim().is_empty()).unwrap_or_default().trim();
        let (word, rest) = first_line.split_once(char::is_whitespace).unwrap_or((first_line, ""));
        let word = word.trim_matches(|c: char| !c.is_alphanumeric());
        let outcome = step.outcome(word);
        let why = if outcome.is_none() {
            let words: Vec<&str> = step.outcomes.iter().map(|o| o.keyword.as_str()).collect();
            Some(format!("kata keputusan tidak dikenali; tulis salah satu dari {} di baris pertama", words.join(", ")))
        } else if !step.allows(&member.roles) {
            Some("Anda tidak memegang peran untuk langkah ini".to_string())
        } else if verdicts.dkim != Some(Verdict::Pass) && verdicts.spf != Some(Verdict::Pass) {
            Some("email tidak lolos pemeriksaan keaslian (DKIM/SPF)".to_string())
        } else if verdicts.dmarc == Some(Verdict::Fail) {
            // DKIM or SPF passed for some domain, but not for the one in From: (the sender's
            // domain publishes DMARC and this mail fails it). Without a DMARC policy (GRAY),
            // the DKIM/SPF pass above is what there is.
            Some("email tidak lolos pemeriksaan DMARC domain pengirim".to_string())
        } else {
            match deps.keys.find_decision_code(body, &ticket.number, &step.id) {
                None => Some("kode keputusan tidak ditemukan atau tidak sah".to_string()),
                Some(v) if v != ticket.current_visit() => Some(
                    "langkah ini sudah diputuskan atau tiket telah berpindah langkah sejak email itu dikirim; \
                     buka tiket untuk melihatnya"
                        .to_string(),
                ),
                Some(_) => None,
            }
        };
        (step, outcome, rest.trim().to_string(), why)
    });

    if let Some((step, Some(outcome), rest, None)) = &decision {
        let action = Action::Decide {
            step: step.id.clone(),
            outcome: outcome.id.clone(),
            reason: Some(rest.clone()).filter(|r| !r.is_empty()),
            note: Some("Diputuskan melalui balasan email.".into()),
            fields: BTreeMap::new(),
            documents: documents.to_vec(),
        };
        match wf.apply(ticket, &actor, action, ticket.version, now) {
            Ok(mut applied) => {
                applied.event.mail_in = message_id(message);
                applied.event.mail_auth = verdicts.summary();
                let directory = |role: loket_domain::Role| deps.agency.staff_with(role);
                let mails = composer.mails_for(&applied, procedure, &directory, now);
                let outcome =
                    Outcome::new("appended", Some(ticket.number.clone()), format!("{reason}; decision by email"));
                deps.store.apply(&applied, ticket.version, &mails, Some((claim, &outcome))).await?;
                send_recorded(&deps.store, &deps.mailer, &ticket.number, &mails).await;
                return Ok(outcome);
            }
            Err(e) => {
                let why = e.message();
                return refuse(deps, claim, message, verdicts, member, ticket, &text, documents, &why, reason, now)
                    .await;
            }
        }
    }
    match decision {
        Some((_, _, _, Some(why))) => {
            refuse(deps, claim, message, verdicts, member, ticket, &text, documents, &why, reason, now).await
        }
        _ => {
            // Not a decision step: the staff member's mail is an internal note.
            let text = format!("{text}{}", attached.not_kept());
            let why = format!("{reason}; staff note by email");
            let kind = (EventKind::Note, &actor);
            record_only(deps, claim, message, verdicts, ticket, kind, text, documents, &why, now).await
        }
    }
}

/// A mail's attachments: those stored, and those not stored (why).
struct Attached {
    documents: Vec<Document>,
    skipped: Vec<String>,
}

impl Attached {
    /// The line a ticket's text gets about attachments that were not kept.
    fn not_kept(&self) -> String {
        if self.skipped.is_empty() {
            String::new()
        } else {
            format!("\n\n[Lampiran tidak disimpan: {}]", self.skipped.join("; "))
        }
    }
}

/// Adds a mail's attachments to an event recorded without the workflow (a note, a
/// comment): on the event, and among the ticket's documents.
fn attach(applied: &mut loket_domain::workflow::Applied, documents: &[Document]) {
    applied.event.documents.extend(documents.iter().cloned());
    applied.ticket.documents.extend(documents.iter().cloned());
}

/// Records a mail on a ticket as one event without moving it (a staff note or a
/// requester's thanks on a closed ticket). A requester's comment is shown to them.
#[allow(clippy::too_many_arguments)]
async fn record_only<S, R, M>(
    deps: &Deps<S, R, M>,
    claim: &ClaimToken,
    message: &Message<'_>,
    verdicts: &Verdicts,
    ticket: &Ticket,
    (kind, actor): (EventKind, &Actor),
    text: String,
    documents: &[Document],
    reason: &str,
    now: Timestamp,
) -> Result<Outcome, IntakeError>
where
    S: TicketStore + Sync,
{
    let wf = Workflow::new(&deps.catalog, &deps.agency);
    let mut applied = wf.record(ticket, kind, actor, Some(text), message_id(message), now);
    attach(&mut applied, documents);
    applied.event.internal = kind == EventKind::Note;
    applied.event.mail_auth = verdicts.summary();
    let outcome = Outcome::new("appended", Some(ticket.number.clone()), reason.to_string());
    match deps.store.apply(&applied, ticket.version, &[], Some((claim, &outcome))).await {
        Ok(()) => Ok(outcome),
        Err(StoreError::Conflict(_)) => {
            Err(IntakeError::Retryable(format!("ticket {} changed meanwhile", ticket.number)))
        }
        Err(e) => Err(e.into()),
    }
}

#[allow(clippy::too_many_arguments)]
async fn refuse<S, R, M>(
    deps: &Deps<S, R, M>,
    claim: &ClaimToken,
    message: &Message<'_>,
    verdicts: &Verdicts,
    member: &loket_domain::agency::StaffMember,
    ticket: &Ticket,
    text: &str,
    documents: &[Document],
    why: &str,
    reason: &str,
    now: Timestamp,
) -> Result<Outcome, IntakeError>
where
    S: TicketStore + Sync,
    M: Mailer + Sync,
{
    let wf = Workflow::new(&deps.catalog, &deps.agency);
    let composer = Composer { agency: &deps.agency, keys: &deps.keys, links: &deps.links };
    let actor = Actor::staff(&member.as_ref(), member.roles.clone());
    let note = format!("Balasan email tidak diproses sebagai keputusan: {why}.\n\n{text}");
    let mut applied = wf.record(ticket, EventKind::Note, &actor, Some(note), message_id(message), now);
    attach(&mut applied, documents);
    applied.event.mail_auth = verdicts.summary();
    let mail = composer.refusal(&applied.ticket, &member.as_ref(), why, applied.event.seq, now);
    let outcome = Outcome::new("appended", Some(ticket.number.clone()), format!("{reason}; decision refused: {why}"));
    deps.store.apply(&applied, ticket.version, std::slice::from_ref(&mail), Some((claim, &outcome))).await?;
    send_recorded(&deps.store, &deps.mailer, &ticket.number, &[mail]).await;
    Ok(outcome)
}

fn loket_aws_token() -> Result<String, IntakeError> {
    loket_aws::new_status_token().map_err(|e| IntakeError::Retryable(format!("no randomness: {e}")))
}

#[cfg(test)]
mod tests {
    use super::parse_mail;

    /// Inputs the fuzzer (fuzz/, target `email_intake`) crashed on, replayed through the
    /// parser. A fuzz input's first byte holds the SES verdict flags; the rest is the mail.
    #[test]
    fn fuzz_regressions_parse_without_panicking() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/regressions/email_intake");
        let mut replayed = 0;
        for entry in std::fs::read_dir(&dir).expect("fuzz/regressions/email_intake") {
            let path = entry.expect("an entry").path();
            let input = std::fs::read(&path).expect("a kept input");
            let raw = input.get(1..).unwrap_or_default();
            let _ = parse_mail(raw);
            replayed += 1;
        }
        assert!(replayed > 0, "no inputs in {}", dir.display());
    }
}
