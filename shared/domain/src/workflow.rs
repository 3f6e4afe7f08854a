//! The ticket state machine. Pure: given a ticket, an actor and an action, it returns the
//! new ticket, the event to record and the effects (mail to send), or a typed error.
//! Nothing here does I/O; the caller writes the result conditionally on the version.

use std::collections::BTreeMap;

use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};

use crate::agency::{Agency, StaffMember};
use crate::escalation::AlertPlan;
use crate::roles::Role;
use crate::sop::{Catalog, EndKind, Goto, ItemKind, Milestone, Procedure, Step, StepId, StepKind};
use crate::ticket::{
    Actor, ActorKind, Channel, CurrentStep, Document, Event, EventKind, Requester, ServiceClock, StaffRef, Status,
    StepRecord, Ticket, TicketNumber, WaitReason, Waiting, staff_document_prefix,
};

/// What an actor asks to do with a ticket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Action {
    /// Finish the current (non-decision) step.
    Complete {
        step: StepId,
        #[serde(default)]
        note: Option<String>,
        #[serde(default)]
        fields: BTreeMap<String, String>,
        #[serde(default)]
        documents: Vec<Document>,
    },
    /// Take the current step's decision.
    Decide {
        step: StepId,
        outcome: String,
        #[serde(default)]
        reason: Option<String>,
        #[serde(default)]
        note: Option<String>,
        #[serde(default)]
        fields: BTreeMap<String, String>,
        #[serde(default)]
        documents: Vec<Document>,
    },
    /// Triage: send the request to the procedure it belongs to.
    Route {
        step: StepId,
        procedure: String,
        #[serde(default)]
        note: Option<String>,
    },
    /// Assign (or reassign) the ticket to a staff member.
    Assign {
        to: StaffRef,
        #[serde(default)]
        note: Option<String>,
    },
    /// An internal note; the requester never sees it.
    Note { text: String },
    /// Ask the requester something; the step's clock stops until they answer.
    RequestInfo { question: String },
    /// Staff record the requester's answer that came another way (phone, WhatsApp, at the
    /// desk): the step's clock runs again, as when the requester answers by mail.
    AnswerReceived { answer: String },
    /// The step's performer takes a document the requester sent (by key) as one of the
    /// step's documents (`kind`, e.g. the letter as `surat_permohonan`).
    UseRequesterDocument { key: String, kind: String },
    /// The requester wrote (by mail or on the status page). `confirms` is set when the
    /// text confirms what a requester step waits for.
    RequesterReply {
        text: String,
        #[serde(default)]
        documents: Vec<Document>,
        #[serde(default)]
        confirms: bool,
        #[serde(default)]
        mail_in: Option<String>,
    },
    /// Reopen a closed ticket.
    Reopen { reason: String },
}

/// What the caller must do besides storing the new state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "effect", rename_all = "snake_case")]
pub enum Effect {
    /// Tell the requester about a milestone.
    NotifyRequester { milestone: Milestone },
    /// Tell the staff of these roles that work waits at a step.
    NotifyStaff { roles: Vec<Role>, step: StepId },
    /// Tell a staff member the ticket was assigned to them.
    NotifyAssignee { staff: StaffRef },
}

/// The result of a successful action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Applied {
    pub ticket: Ticket,
    pub event: Event,
    pub effects: Vec<Effect>,
}

/// Why an action was refused. `code()` is the machine code (English), `message()` the
/// text for people (Bahasa Indonesia).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransitionError {
    #[error("role not allowed for step {step}: needs one of {allowed:?}")]
    WrongRole { step: StepId, allowed: Vec<Role> },
    #[error("step {requested} is not the current step ({current:?})")]
    NotCurrentStep { requested: StepId, current: Option<StepId> },
    #[error("step {step} needs {label} ({item})")]
    MissingRequired { step: StepId, item: String, label: String, document: bool },
    #[error("unknown outcome '{outcome}' for step {step}; known: {known:?}")]
    UnknownOutcome { step: StepId, outcome: String, known: Vec<String> },
    #[error("step {step} is a decision: use decide")]
    DecisionRequired { step: StepId },
    #[error("step {step} is not a decision: use complete")]
    NotADecision { step: StepId },
    #[error("outcome {outcome} needs a reason")]
    ReasonRequired { outcome: String },
    #[error("stale version: expected {expected}, current {current}")]
    StaleVersion { expected: u64, current: u64 },
    #[error("ticket is closed")]
    Closed,
    #[error("ticket is not closed")]
    NotClosed,
    #[error("the reopen window of {days} days has passed")]
    ReopenWindowPassed { days: u32 },
    #[error("unknown procedure '{0}'")]
    UnknownProcedure(String),
    #[error("step {step} is not a triage step")]
    NotTriage { step: StepId },
    #[error("the text is empty")]
    EmptyText,
    #[error("the ticket's step {0} is not in its procedure")]
    Corrupt(String),
    #[error("'{0}' is not in the agency's staff directory")]
    UnknownStaff(String),
    #[error("document {key} was not uploaded to this ticket")]
    ForeignDocument { key: String },
    #[error("the ticket is not waiting for the requester's answer")]
    NotWaiting,
    #[error("'{item}' is not a field of this step")]
    UnknownField { item: String },
    #[error("{item} must be {expects}")]
    InvalidValue { item: String, label: String, expects: &'static str },
}

impl TransitionError {
    pub fn code(&self) -> &'static str {
        match self {
            TransitionError::WrongRole { .. } => "wrong_role",
            TransitionError::NotCurrentStep { .. } => "not_current_step",
            TransitionError::MissingRequired { document: true, .. } => "missing_document",
            TransitionError::MissingRequired { .. } => "missing_input",
            TransitionError::UnknownOutcome { .. } => "unknown_outcome",
            TransitionError::DecisionRequired { .. } => "decision_required",
            TransitionError::NotADecision { .. } => "not_a_decision",
            TransitionError::ReasonRequired { .. } => "reason_required",
            TransitionError::StaleVersion { .. } => "stale_version",
            TransitionError::Closed => "ticket_closed",
            TransitionError::NotClosed => "ticket_open",
            TransitionError::ReopenWindowPassed { .. } => "reopen_window_passed",
            TransitionError::UnknownProcedure(_) => "unknown_procedure",
            TransitionError::NotTriage { .. } => "not_triage",
            TransitionError::EmptyText => "empty_text",
            TransitionError::Corrupt(_) => "corrupt_ticket",
            TransitionError::UnknownStaff(_) => "unknown_staff",
            TransitionError::ForeignDocument { .. } => "foreign_document",
            TransitionError::NotWaiting => "not_waiting",
            TransitionError::UnknownField { .. } => "unknown_field",
            TransitionError::InvalidValue { .. } => "invalid_input",
        }
    }

    /// The message for people, in Bahasa Indonesia.
    pub fn message(&self) -> String {
        match self {
            TransitionError::WrongRole { allowed, .. } => {
                let names: Vec<&str> = allowed.iter().map(|r| r.label()).collect();
                format!("Langkah ini hanya dapat dilakukan oleh {}.", names.join(" atau "))
            }
            TransitionError::NotCurrentStep { .. } => {
                "Tiket sudah berada di langkah lain. Muat ulang halaman untuk melihat keadaan terbaru.".into()
            }
            TransitionError::MissingRequired { label, document: true, .. } => {
                format!("Dokumen \"{label}\" wajib diunggah sebelum langkah ini diselesaikan.")
            }
            TransitionError::MissingRequired { label, .. } => format!("Isian \"{label}\" wajib diisi."),
            TransitionError::UnknownOutcome { known, .. } => {
                format!("Pilihan keputusan tidak dikenal. Pilihan yang tersedia: {}.", known.join(", "))
            }
            TransitionError::DecisionRequired { .. } => "Langkah ini memerlukan keputusan.".into(),
            TransitionError::NotADecision { .. } => "Langkah ini bukan langkah keputusan.".into(),
            TransitionError::ReasonRequired { .. } => "Alasan wajib diisi untuk keputusan ini.".into(),
            TransitionError::StaleVersion { .. } => {
                "Tiket telah diubah oleh orang lain. Muat ulang halaman lalu coba lagi.".into()
            }
            TransitionError::Closed => "Tiket sudah ditutup.".into(),
            TransitionError::NotClosed => "Tiket masih dalam proses.".into(),
            TransitionError::ReopenWindowPassed { days } => {
                format!("Tiket ditutup lebih dari {days} hari yang lalu dan tidak dapat dibuka kembali.")
            }
            TransitionError::UnknownProcedure(_) => "Layanan tidak dikenal.".into(),
            TransitionError::NotTriage { .. } => "Langkah ini bukan langkah pemilahan (triase).".into(),
            TransitionError::EmptyText => "Isi pesan tidak boleh kosong.".into(),
            TransitionError::Corrupt(_) => "Data tiket tidak sesuai dengan SOP-nya. Hubungi admin.".into(),
            TransitionError::UnknownStaff(_) => "Petugas tidak dikenal.".into(),
            TransitionError::ForeignDocument { .. } => {
                "Dokumen tidak ditemukan pada tiket ini. Unggah dokumen melalui tiket ini lalu coba lagi.".into()
            }
            TransitionError::NotWaiting => "Tiket tidak sedang menunggu keterangan dari pemohon.".into(),
            TransitionError::UnknownField { item } => format!("Isian \"{item}\" bukan isian langkah ini."),
            TransitionError::InvalidValue { label, expects, .. } => format!("Isian \"{label}\" harus {expects}."),
        }
    }
}

/// A request to open a ticket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewTicket {
    pub number: TicketNumber,
    pub procedure: String,
    pub requester: Requester,
    pub channel: Channel,
    pub subject: String,
    pub description: String,
    pub fields: BTreeMap<String, String>,
    pub documents: Vec<Document>,
    pub token_hash: String,
    /// Who recorded it: the requester (mail, web) or a staff member (letter, WhatsApp).
    pub actor: Actor,
    pub related: Vec<TicketNumber>,
    pub mail_in: Option<String>,
    pub at: Timestamp,
}

/// The state machine over an agency's catalog and calendar.
#[derive(Debug, Clone, Copy)]
pub struct Workflow<'a> {
    pub catalog: &'a Catalog,
    pub agency: &'a Agency,
}

/// Roles that may act on any open ticket besides the step's own: the front desk and
/// the supervisors (notes, assignments, asking the requester).
const DISPATCHERS: [Role; 6] = [Role::Helpdesk, Role::Koordinator, Role::Kasi, Role::Kabid, Role::Kadis, Role::Admin];
/// Roles that may reopen a closed ticket.
const REOPENERS: [Role; 3] = [Role::Helpdesk, Role::Koordinator, Role::Admin];

/// The state being built by one action.
struct Draft<'w> {
    wf: Workflow<'w>,
    ticket: Ticket,
    effects: Vec<Effect>,
    now: Timestamp,
}

impl<'w> Workflow<'w> {
    pub fn new(catalog: &'w Catalog, agency: &'w Agency) -> Workflow<'w> {
        Workflow { catalog, agency }
    }

    fn procedure(&self, id: &str) -> Result<&'w Procedure, TransitionError> {
        self.catalog.get(id).ok_or_else(|| TransitionError::UnknownProcedure(id.to_string()))
    }

    /// Opens a ticket: the intake step is done by the request itself, and the ticket
    /// moves to the step after it.
    pub fn open(&self, new: NewTicket) -> Result<Applied, TransitionError> {
        let procedure = self.procedure(&new.procedure)?;
        let intake = procedure.intake();
        let mut fields = new.fields;
        fields.retain(|_, v| !v.trim().is_empty());
        let ticket = Ticket {
            number: new.number,
            agency: self.agency.id.clone(),
            procedure: procedure.id.clone(),
            procedure_version: procedure.version,
            subject: new.subject,
            description: new.description,
            fields,
            requester: new.requester,
            channel: new.channel,
            status: Status::Open,
            end_reason: None,
            current: None,
            service_clock: None,
            assignee: None,
            documents: new.documents.clone(),
            history: vec![StepRecord {
                step: intake.id.clone(),
                visit: 1,
                started_at: new.at,
                ended_at: new.at,
                due_at: None,
                working_secs: 0,
                by: new.actor.name.clone(),
                outcome: None,
                procedure: Some(new.procedure.clone()),
            }],
            visits: 1,
            version: 0,
            created_at: new.at,
            updated_at: new.at,
            closed_at: None,
            service_working_secs: None,
            reopened: 0,
            reopened_at: None,
            related: new.related,
            token_hash: new.token_hash,
        };
        let mut draft = Draft {
            wf: *self,
            ticket,
            effects: vec![Effect::NotifyRequester { milestone: Milestone::Received }],
            now: new.at,
        };
        draft.start_service_clock(procedure);
        draft.go(procedure, &intake.next)?;
        let event = draft.event(
            EventKind::Opened,
            &new.actor,
            Some(intake.id.clone()),
            None,
            None,
            new.documents,
            false,
            new.mail_in,
        );
        Ok(draft.finish(event))
    }

    /// Applies an action at the version the actor saw.
    pub fn apply(
        &self,
        ticket: &Ticket,
        actor: &Actor,
        action: Action,
        expected_version: u64,
        now: Timestamp,
    ) -> Result<Applied, TransitionError> {
        if expected_version != ticket.version {
            return Err(TransitionError::StaleVersion { expected: expected_version, current: ticket.version });
        }
        let procedure = self.procedure(&ticket.procedure)?;
        let mut draft = Draft { wf: *self, ticket: ticket.clone(), effects: Vec::new(), now };
        let from = ticket.current_step().map(str::to_string);

        match action {
            Action::Note { text } => {
                let text = non_empty(text)?;
                require_staff(actor, &dispatchers_and_performers(procedure, ticket))?;
                let event = draft.event(EventKind::Note, actor, from.clone(), Some(text), None, Vec::new(), true, None);
                Ok(draft.finish(event))
            }
            Action::Reopen { reason } => {
                let reason = non_empty(reason)?;
                if !ticket.status.is_closed() {
                    return Err(TransitionError::NotClosed);
                }
                match actor.kind {
                    ActorKind::Requester | ActorKind::System => {
                        let days = self.agency.reopen_window_days;
                        let closed = ticket.closed_at.unwrap_or(ticket.updated_at);
                        if now.duration_since(closed) > SignedDuration::from_hours(24 * i64::from(days)) {
                            return Err(TransitionError::ReopenWindowPassed { days });
                        }
                    }
                    ActorKind::Staff => require_staff(actor, &REOPENERS)?,
                }
                draft.ticket.status = Status::Open;
                draft.ticket.end_reason = None;
                draft.ticket.closed_at = None;
                // service_working_secs keeps the closed rounds' time: closing again adds this round's.
                draft.ticket.reopened += 1;
                draft.ticket.reopened_at = Some(now);
                draft.start_service_clock(procedure);
                draft.effects.push(Effect::NotifyRequester { milestone: Milestone::Reopened });
                draft.go(procedure, &Goto::Step(procedure.reopen_to.clone()))?;
                let internal = actor.kind == ActorKind::Staff;
                let event =
                    draft.event(EventKind::Reopened, actor, None, Some(reason), None, Vec::new(), internal, None);
                Ok(draft.finish(event))
            }
            _ if ticket.status.is_closed() => Err(TransitionError::Closed),
            Action::Complete { step, note, fields, documents } => {
                let current = draft.current_step(procedure, &step)?;
                require_performer(actor, current)?;
                if current.is_decision() {
                    return Err(TransitionError::DecisionRequired { step });
                }
                draft.take_inputs(actor, current, fields, &documents)?;
                draft.check_required(current)?;
                let milestone = current.milestone;
                draft.finish_step(current, actor, None);
                if let Some(m) = milestone {
                    draft.effects.push(Effect::NotifyRequester { milestone: m });
                }
                let kind =
                    if current.kind == StepKind::Requester { EventKind::Confirmed } else { EventKind::Completed };
                draft.go(procedure, &current.next)?;
                let event = draft.event(kind, actor, from, note, None, documents, false, None);
                Ok(draft.finish(event))
            }
            Action::Decide { step, outcome, reason, note, fields, documents } => {
                let current = draft.current_step(procedure, &step)?;
                require_performer(actor, current)?;
                if !current.is_decision() {
                    return Err(TransitionError::NotADecision { step });
                }
                let chosen = current.outcome(&outcome).ok_or_else(|| TransitionError::UnknownOutcome {
                    step: step.clone(),
                    outcome: outcome.clone(),
                    known: current.outcomes.iter().map(|o| o.id.clone()).collect(),
                })?;
                let reason = reason.map(|r| r.trim().to_string()).filter(|r| !r.is_empty());
                if chosen.reason_required && reason.is_none() {
                    return Err(TransitionError::ReasonRequired { outcome: chosen.id.clone() });
                }
                draft.take_inputs(actor, current, fields, &documents)?;
                draft.check_required(current)?;
                draft.finish_step(current, actor, Some(chosen.id.clone()));
                if let Some(m) = chosen.milestone.or(current.milestone) {
                    draft.effects.push(Effect::NotifyRequester { milestone: m });
                }
                if let Goto::End(_) = chosen.goto {
                    draft.ticket.end_reason = reason.clone().or_else(|| note.clone());
                }
                draft.go(procedure, &chosen.goto)?;
                let text = match (&reason, &note) {
                    (Some(r), Some(n)) => Some(format!("{r}\n\n{n}")),
                    (r, n) => r.clone().or_else(|| n.clone()),
                };
                let event =
                    draft.event(EventKind::Decided, actor, from, text, Some(chosen.id.clone()), documents, false, None);
                Ok(draft.finish(event))
            }
            Action::Route { step, procedure: target_id, note } => {
                let current = draft.current_step(procedure, &step)?;
                require_performer(actor, current)?;
                if current.kind != StepKind::Triage {
                    return Err(TransitionError::NotTriage { step });
                }
                if !self.agency.procedures.contains(&target_id) {
                    return Err(TransitionError::UnknownProcedure(target_id));
                }
                let target = self.procedure(&target_id)?;
                draft.finish_step(current, actor, Some(target.id.clone()));
                draft.ticket.procedure = target.id.clone();
                draft.ticket.procedure_version = target.version;
                draft.start_service_clock(target);
                draft.go(target, &target.intake().next)?;
                let event =
                    draft.event(EventKind::Routed, actor, from, note, Some(target.id.clone()), Vec::new(), true, None);
                Ok(draft.finish(event))
            }
            Action::Assign { to, note } => {
                require_staff(actor, &dispatchers_and_performers(procedure, ticket))?;
                // Only people in the directory, as the directory has them: a client's name
                // or address for an id is never mailed.
                let to = self
                    .agency
                    .staff
                    .iter()
                    .find(|m| m.id == to.id)
                    .map(StaffMember::as_ref)
                    .ok_or_else(|| TransitionError::UnknownStaff(to.id.clone()))?;
                draft.ticket.assignee = Some(to.clone());
                draft.effects.push(Effect::NotifyAssignee { staff: to.clone() });
                let text = match note {
                    Some(n) if !n.trim().is_empty() => format!("Ditugaskan kepada {}. {}", to.name, n.trim()),
                    _ => format!("Ditugaskan kepada {}.", to.name),
                };
                let event =
                    draft.event(EventKind::Assigned, actor, from.clone(), Some(text), None, Vec::new(), true, None);
                Ok(draft.finish(event))
            }
            Action::RequestInfo { question } => {
                let question = non_empty(question)?;
                require_staff(actor, &dispatchers_and_performers(procedure, ticket))?;
                let Some(current) = draft.ticket.current.as_mut() else { return Err(TransitionError::Closed) };
                if current.waiting.is_none() {
                    current.waiting =
                        Some(Waiting { since: now, reason: WaitReason::InfoRequested { question: question.clone() } });
                }
                draft.pause_service_clock();
                draft.effects.push(Effect::NotifyRequester { milestone: Milestone::InfoRequested });
                let event = draft.event(
                    EventKind::InfoRequested,
                    actor,
                    from.clone(),
                    Some(question),
                    None,
                    Vec::new(),
                    false,
                    None,
                );
                Ok(draft.finish(event))
            }
            Action::UseRequesterDocument { key, kind } => {
                let current = draft.step_now(procedure)?;
                require_performer(actor, current)?;
                let item = current
                    .item(&kind)
                    .filter(|i| i.kind == ItemKind::Document)
                    .ok_or_else(|| TransitionError::UnknownField { item: kind.chars().take(60).collect() })?;
                let number = draft.ticket.number.clone();
                let document = draft
                    .ticket
                    .documents
                    .iter_mut()
                    .find(|d| d.key == key && !d.is_staff_upload(&number))
                    .ok_or_else(|| TransitionError::ForeignDocument { key: key.clone() })?;
                document.kind = kind;
                let text = format!("Lampiran pemohon \"{}\" dipakai sebagai {}.", document.name, item.label);
                let event =
                    draft.event(EventKind::Note, actor, from.clone(), Some(text), None, Vec::new(), false, None);
                Ok(draft.finish(event))
            }
            Action::AnswerReceived { answer } => {
                let answer = non_empty(answer)?;
                require_staff(actor, &dispatchers_and_performers(procedure, ticket))?;
                let current = draft.step_now(procedure)?;
                if !draft.ticket.is_waiting_for_answer() {
                    return Err(TransitionError::NotWaiting);
                }
                draft.resume();
                draft.effects.push(Effect::NotifyStaff { roles: current.staff_roles(), step: current.id.clone() });
                let text = format!("Jawaban pemohon diterima oleh petugas: {answer}");
                let event =
                    draft.event(EventKind::Resumed, actor, from.clone(), Some(text), None, Vec::new(), true, None);
                Ok(draft.finish(event))
            }
            Action::RequesterReply { text, documents, confirms, mail_in } => {
                if text.trim().is_empty() && documents.is_empty() {
                    return Err(TransitionError::EmptyText);
                }
                let note = Some(text.trim().to_string()).filter(|t| !t.is_empty());
                let current = draft.step_now(procedure)?;
                let step_id = current.id.clone();
                draft.ticket.documents.extend(documents.iter().cloned());
                let waiting = draft.ticket.current.as_ref().and_then(|c| c.waiting.clone());
                let kind = match waiting.map(|w| w.reason) {
                    Some(WaitReason::RequesterStep) if confirms => {
                        draft.check_required(current)?;
                        draft.finish_step(current, actor, None);
                        if let Some(m) = current.milestone {
                            draft.effects.push(Effect::NotifyRequester { milestone: m });
                        }
                        draft.go(procedure, &current.next)?;
                        EventKind::Confirmed
                    }
                    Some(WaitReason::InfoRequested { .. }) => {
                        draft.resume();
                        draft.effects.push(Effect::NotifyStaff { roles: current.staff_roles(), step: step_id.clone() });
                        EventKind::Resumed
                    }
                    _ => {
                        draft.effects.push(Effect::NotifyStaff { roles: current.staff_roles(), step: step_id.clone() });
                        EventKind::Comment
                    }
                };
                let event = draft.event(kind, actor, from.clone(), note, None, documents, false, mail_in);
                Ok(draft.finish(event))
            }
        }
    }

    /// Records an event that changes no state (an auto-reply on the thread, a bounce,
    /// an escalation mail), at the version the caller saw.
    pub fn record(
        &self,
        ticket: &Ticket,
        kind: EventKind,
        actor: &Actor,
        note: Option<String>,
        mail_in: Option<String>,
        now: Timestamp,
    ) -> Applied {
        let mut draft = Draft { wf: *self, ticket: ticket.clone(), effects: Vec::new(), now };
        let from = ticket.current_step().map(str::to_string);
        let event = draft.event(kind, actor, from, note, None, Vec::new(), true, mail_in);
        draft.finish(event)
    }

    /// The actions the given roles may take on the ticket now (for the console's buttons).
    pub fn allowed_actions(&self, ticket: &Ticket, roles: &[Role]) -> Vec<&'static str> {
        let Some(procedure) = self.catalog.get(&ticket.procedure) else { return Vec::new() };
        let mut out = Vec::new();
        if ticket.status.is_closed() {
            if roles.iter().any(|r| REOPENERS.contains(r)) {
                out.push("reopen");
            }
            return out;
        }
        if let Some(step) = ticket.current_step().and_then(|s| procedure.step(s))
            && step.allows(roles)
        {
            match step.kind {
                // Route to a procedure, or answer directly and close.
                StepKind::Triage => out.extend(["route", "complete"]),
                _ if step.is_decision() => out.push("decide"),
                _ => out.push("complete"),
            }
            let takes_documents = step.items().any(|i| i.kind == ItemKind::Document);
            if takes_documents && ticket.requester_documents().next().is_some() {
                out.push("use_document");
            }
        }
        if roles.iter().any(|r| dispatchers_and_performers(procedure, ticket).contains(r)) {
            out.extend(["assign", "note"]);
            if ticket.is_waiting_for_answer() {
                out.push("answer_received");
            } else if !ticket.is_waiting_on_requester() {
                out.push("request_info");
            }
        }
        out
    }
}

/// The dispatchers plus the roles of the current step.
fn dispatchers_and_performers(procedure: &Procedure, ticket: &Ticket) -> Vec<Role> {
    let mut roles = DISPATCHERS.to_vec();
    if let Some(step) = ticket.current_step().and_then(|s| procedure.step(s)) {
        roles.extend(step.staff_roles());
    }
    roles
}

fn non_empty(text: String) -> Result<String, TransitionError> {
    let trimmed = text.trim();
    if trimmed.is_empty() { Err(TransitionError::EmptyText) } else { Ok(trimmed.to_string()) }
}

fn require_staff(actor: &Actor, roles: &[Role]) -> Result<(), TransitionError> {
    if actor.kind == ActorKind::Staff && actor.has_any(roles) {
        Ok(())
    } else {
        Err(TransitionError::WrongRole { step: String::new(), allowed: roles.to_vec() })
    }
}

fn require_performer(actor: &Actor, step: &Step) -> Result<(), TransitionError> {
    let ok = match actor.kind {
        ActorKind::Staff => step.allows(&actor.roles),
        ActorKind::Requester => step.kind == StepKind::Requester,
        ActorKind::System => false,
    };
    if ok {
        Ok(())
    } else {
        let mut allowed = step.roles.clone();
        if step.kind == StepKind::Requester {
            allowed.extend(step.on_behalf.iter().copied());
        }
        Err(TransitionError::WrongRole { step: step.id.clone(), allowed })
    }
}

impl Draft<'_> {
    /// The current step, for actions that name none.
    fn step_now<'p>(&self, procedure: &'p Procedure) -> Result<&'p Step, TransitionError> {
        let id = self.ticket.current_step().ok_or(TransitionError::Closed)?;
        procedure.step(id).ok_or_else(|| TransitionError::Corrupt(id.to_string()))
    }

    fn current_step<'p>(&self, procedure: &'p Procedure, requested: &str) -> Result<&'p Step, TransitionError> {
        let current = self.ticket.current_step();
        if current != Some(requested) {
            return Err(TransitionError::NotCurrentStep {
                requested: requested.to_string(),
                current: current.map(str::to_string),
            });
        }
        procedure.step(requested).ok_or_else(|| TransitionError::Corrupt(requested.to_string()))
    }

    /// Adds a step's fields and documents. Staff may cite only documents uploaded to this
    /// ticket (`staff_document_prefix`): a key from a client is never trusted to point at
    /// another ticket's files or a requester's upload.
    /// Fields are the step's own items only (a later step's output cannot be filled
    /// early), each a value of its kind (a number, a date, a date and time).
    fn take_inputs(
        &mut self,
        actor: &Actor,
        step: &Step,
        fields: BTreeMap<String, String>,
        documents: &[Document],
    ) -> Result<(), TransitionError> {
        if actor.kind == ActorKind::Staff {
            let prefix = staff_document_prefix(&self.ticket.number);
            if let Some(foreign) = documents.iter().find(|d| !d.key.starts_with(&prefix) || d.key.contains("..")) {
                return Err(TransitionError::ForeignDocument { key: foreign.key.clone() });
            }
        }
        for (k, v) in &fields {
            let Some(item) = step.item(k) else {
                return Err(TransitionError::UnknownField { item: k.chars().take(60).collect() });
            };
            if !v.trim().is_empty() && !item.kind.accepts(v) {
                return Err(TransitionError::InvalidValue {
                    item: k.clone(),
                    label: item.label.clone(),
                    expects: item.kind.expects(),
                });
            }
        }
        for (k, v) in fields {
            let v = v.trim().to_string();
            if !v.is_empty() {
                self.ticket.fields.insert(k, v);
            }
        }
        for document in documents {
            if !self.ticket.documents.iter().any(|d| d.key == document.key) {
                self.ticket.documents.push(document.clone());
            }
        }
        Ok(())
    }

    /// Every required item of the step is there; a required document must have been
    /// uploaded during this visit of the step (a Berita Acara of an earlier round, before
    /// the ticket was reopened, does not sign this one).
    fn check_required(&self, step: &Step) -> Result<(), TransitionError> {
        let since = self.ticket.current.as_ref().map(|c| c.started_at);
        for item in step.required_items() {
            let Some(id) = item.id.as_deref() else { continue };
            let document = item.kind == ItemKind::Document;
            let present = if document {
                // A requester's document (taken as this one by the step's performer) counts
                // whenever it came; a staff upload only from this visit.
                self.ticket.documents.iter().any(|d| {
                    d.kind == id
                        && (!d.is_staff_upload(&self.ticket.number) || since.is_none_or(|since| d.uploaded_at >= since))
                })
            } else {
                self.ticket.fields.get(id).is_some_and(|v| !v.trim().is_empty())
            };
            if !present {
                return Err(TransitionError::MissingRequired {
                    step: step.id.clone(),
                    item: id.to_string(),
                    label: item.label.clone(),
                    document,
                });
            }
        }
        Ok(())
    }

    /// Starts the whole-service clock: at the request, or at the reopening.
    fn start_service_clock(&mut self, procedure: &Procedure) {
        let started_at = if self.ticket.reopened > 0 { self.now } else { self.ticket.created_at };
        self.ticket.service_clock = procedure.service_limit.as_ref().map(|sl| ServiceClock {
            started_at,
            plan: AlertPlan::for_step(
                &self.wf.agency.calendar,
                started_at,
                sl.limit,
                &self.wf.agency.thresholds_for(procedure),
            ),
            paused_since: None,
            waited_secs: 0,
            alerts_handled: None,
        });
    }

    fn pause_service_clock(&mut self) {
        if let Some(clock) = self.ticket.service_clock.as_mut()
            && clock.paused_since.is_none()
        {
            clock.paused_since = Some(self.now);
        }
    }

    fn resume_service_clock(&mut self) {
        let cal = &self.wf.agency.calendar;
        if let Some(clock) = self.ticket.service_clock.as_mut()
            && let Some(since) = clock.paused_since.take()
        {
            clock.waited_secs += cal.working_between(since, self.now).as_secs();
            clock.plan = shift_plan(cal, &clock.plan, since, self.now);
        }
    }

    /// The requester answered: restart the current step's clock where it stopped.
    fn resume(&mut self) {
        let cal = &self.wf.agency.calendar;
        let now = self.now;
        if let Some(current) = self.ticket.current.as_mut()
            && let Some(waiting) = current.waiting.take()
        {
            current.waited_secs += cal.working_between(waiting.since, now).as_secs();
            current.plan = current.plan.as_ref().map(|p| shift_plan(cal, p, waiting.since, now));
        }
        self.resume_service_clock();
    }

    /// Closes the current step visit into the history.
    fn finish_step(&mut self, step: &Step, actor: &Actor, outcome: Option<String>) {
        let cal = &self.wf.agency.calendar;
        if let Some(current) = self.ticket.current.take() {
            let mut waited = current.waited_secs;
            let mut plan = current.plan.clone();
            if let Some(w) = &current.waiting {
                // Finished while still waiting on the requester (the answer came by phone):
                // the wait does not count against the limit either.
                waited += cal.working_between(w.since, self.now).as_secs();
                plan = plan.map(|p| shift_plan(cal, &p, w.since, self.now));
            }
            let worked = cal.working_between(current.started_at, self.now).as_secs() - waited;
            let due_at = if step.kind == StepKind::Requester { None } else { plan.as_ref().map(|p| p.due) };
            self.ticket.history.push(StepRecord {
                step: current.step,
                visit: current.visit,
                started_at: current.started_at,
                ended_at: self.now,
                due_at,
                working_secs: worked.max(0),
                by: actor.name.clone(),
                outcome,
                procedure: Some(self.ticket.procedure.clone()),
            });
        }
        self.resume_service_clock();
    }

    /// Moves to a step or an end state; notice steps pass by themselves.
    fn go(&mut self, procedure: &Procedure, goto: &Goto) -> Result<(), TransitionError> {
        let mut goto = goto.clone();
        // Bounded: validation rejects self-loops, and notice chains are short.
        for _ in 0..=procedure.steps.len() {
            match goto {
                Goto::End(end) => {
                    self.close(end);
                    return Ok(());
                }
                Goto::Step(id) => {
                    let step = procedure.step(&id).ok_or_else(|| TransitionError::Corrupt(id.clone()))?;
                    self.ticket.visits += 1;
                    let visit = self.ticket.visits;
                    if step.kind == StepKind::Notice {
                        self.ticket.history.push(StepRecord {
                            step: step.id.clone(),
                            visit,
                            started_at: self.now,
                            ended_at: self.now,
                            due_at: None,
                            working_secs: 0,
                            by: "Loket".into(),
                            outcome: None,
                            procedure: Some(procedure.id.clone()),
                        });
                        self.effects
                            .push(Effect::NotifyRequester { milestone: step.milestone.unwrap_or(Milestone::Closed) });
                        goto = step.next.clone();
                        continue;
                    }
                    let waiting_on_requester = step.kind == StepKind::Requester;
                    let plan = (!waiting_on_requester).then(|| {
                        AlertPlan::for_step(
                            &self.wf.agency.calendar,
                            self.now,
                            step.limit,
                            &self.wf.agency.thresholds_for(procedure),
                        )
                    });
                    self.ticket.current = Some(CurrentStep {
                        step: step.id.clone(),
                        visit,
                        started_at: self.now,
                        plan,
                        waiting: waiting_on_requester
                            .then_some(Waiting { since: self.now, reason: WaitReason::RequesterStep }),
                        waited_secs: 0,
                        alerts_handled: None,
                    });
                    if waiting_on_requester {
                        self.pause_service_clock();
                        if !self.effects.iter().any(
                            |e| matches!(e, Effect::NotifyRequester { milestone } if *milestone != Milestone::Received),
                        ) {
                            self.effects.push(Effect::NotifyRequester { milestone: Milestone::InfoRequested });
                        }
                    }
                    let roles = step.staff_roles();
                    if !roles.is_empty() {
                        self.effects.push(Effect::NotifyStaff { roles, step: step.id.clone() });
                    }
                    return Ok(());
                }
            }
        }
        Err(TransitionError::Corrupt(procedure.id.clone()))
    }

    fn close(&mut self, end: EndKind) {
        let cal = &self.wf.agency.calendar;
        self.ticket.current = None;
        self.ticket.status = end.into();
        self.ticket.closed_at = Some(self.now);
        let waited = self.ticket.service_clock.as_ref().map_or(0, |c| {
            c.waited_secs + c.paused_since.map_or(0, |since| cal.working_between(since, self.now).as_secs())
        });
        let round_start = self.ticket.reopened_at.unwrap_or(self.ticket.created_at);
        let start = self.ticket.service_clock.as_ref().map_or(round_start, |c| c.started_at);
        let this_round = (cal.working_between(start, self.now).as_secs() - waited).max(0);
        let earlier_rounds = if self.ticket.reopened > 0 { self.ticket.service_working_secs.unwrap_or(0) } else { 0 };
        self.ticket.service_working_secs = Some(earlier_rounds + this_round);
        let milestone = match end {
            EndKind::Done => Milestone::Closed,
            EndKind::Postponed => Milestone::Postponed,
            EndKind::PlannedWork => Milestone::PlannedWork,
        };
        self.effects.push(Effect::NotifyRequester { milestone });
    }

    #[allow(clippy::too_many_arguments)]
    fn event(
        &mut self,
        kind: EventKind,
        actor: &Actor,
        from_step: Option<StepId>,
        note: Option<String>,
        outcome: Option<String>,
        documents: Vec<Document>,
        internal: bool,
        mail_in: Option<String>,
    ) -> Event {
        self.ticket.version += 1;
        self.ticket.updated_at = self.now;
        Event {
            seq: self.ticket.version,
            at: self.now,
            kind,
            actor: actor.clone(),
            from_step,
            to_step: self.ticket.current_step().map(str::to_string),
            outcome,
            note,
            documents,
            internal,
            mail_in,
            mail_auth: None,
            status: self.ticket.status,
        }
    }

    fn finish(mut self, event: Event) -> Applied {
        // One mail per milestone and per notified step, in the order they arose.
        let mut seen = Vec::new();
        self.effects.retain(|e| {
            if seen.contains(e) {
                false
            } else {
                seen.push(e.clone());
                true
            }
        });
        // A closing milestone makes the intermediate "work waits" mails pointless only
        // for steps the ticket already left.
        let current = self.ticket.current_step().map(str::to_string);
        self.effects.retain(|e| match e {
            Effect::NotifyStaff { step, .. } => Some(step) == current.as_ref(),
            _ => true,
        });
        Applied { ticket: self.ticket, event, effects: self.effects }
    }
}

/// Moves every alert that had not fired when the clock stopped by the working time the
/// clock stood still.
fn shift_plan(
    cal: &crate::calendar::WorkingCalendar,
    plan: &AlertPlan,
    since: Timestamp,
    resumed: Timestamp,
) -> AlertPlan {
    let shift =
        |t: Timestamp| if t <= since { t } else { cal.add_working_duration(resumed, cal.working_between(since, t)) };
    AlertPlan { due: shift(plan.due), alerts: plan.alerts.iter().map(|(l, t)| (*l, shift(*t))).collect() }
}
