//! SOP procedures as data: one TOML file per procedure variant (see `sops/`), parsed and
//! validated into [`Procedure`]. A broken file is rejected with a [`CatalogError`] that
//! names the file, the step and the field.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::escalation::ThresholdOverride;
use crate::limit::TimeLimit;
use crate::roles::Role;

/// A procedure variant id, e.g. `jaringan-intra-kota`.
pub type ProcedureId = String;
/// A step id, unique within its procedure, e.g. `keputusan-kadis`.
pub type StepId = String;

/// How a step is performed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepKind {
    /// The request arriving (by mail, web form or staff entry) completes this step.
    Intake,
    /// Staff work, optionally with a decision (outcomes).
    Work,
    /// Helpdesk picks the procedure of a request that could not be classified.
    Triage,
    /// Waits on the requester (e.g. confirming a schedule); the clock does not run.
    Requester,
    /// The system tells the requester (e.g. that the ticket is closed) and moves on.
    Notice,
}

/// Where a ticket goes when a step or an outcome is done.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Goto {
    Step(StepId),
    End(EndKind),
}

/// The end states of a ticket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EndKind {
    /// Closed: the work is done and the requester is told.
    Done,
    /// Postponed by a decision, with a reason.
    Postponed,
    /// Too complex to fix on the spot: moved into the programme of planned work.
    PlannedWork,
}

impl EndKind {
    pub fn label(self) -> &'static str {
        match self {
            EndKind::Done => "Selesai",
            EndKind::Postponed => "Ditunda",
            EndKind::PlannedWork => "Masuk program kegiatan",
        }
    }

    fn parse(text: &str) -> Option<EndKind> {
        match text {
            "done" | "selesai" => Some(EndKind::Done),
            "postponed" | "ditunda" => Some(EndKind::Postponed),
            "planned_work" | "program" => Some(EndKind::PlannedWork),
            _ => None,
        }
    }
}

/// What the requester is told about, by email and on the status page.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Milestone {
    /// The request is recorded (the acknowledgement).
    Received,
    /// The request was approved.
    Approved,
    /// A schedule (e.g. the installation date) was set.
    ScheduleSet,
    /// Staff need something from the requester.
    InfoRequested,
    Postponed,
    PlannedWork,
    Closed,
    Reopened,
}

impl Milestone {
    fn parse(text: &str) -> Option<Milestone> {
        match text {
            "received" => Some(Milestone::Received),
            "approved" => Some(Milestone::Approved),
            "schedule_set" => Some(Milestone::ScheduleSet),
            "info_requested" => Some(Milestone::InfoRequested),
            "postponed" => Some(Milestone::Postponed),
            "planned_work" => Some(Milestone::PlannedWork),
            "closed" => Some(Milestone::Closed),
            "reopened" => Some(Milestone::Reopened),
            _ => None,
        }
    }
}

/// The kind of value an input, output or request field holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ItemKind {
    Text,
    Number,
    Date,
    DateTime,
    Document,
}

impl ItemKind {
    /// Whether a (trimmed, non-empty) value fits the kind: a whole number, a date
    /// (`2026-12-01`), a date and time (`2026-12-01T09:00`, as a browser's datetime-local
    /// sends it, or with an offset); text and documents take anything.
    pub fn accepts(self, value: &str) -> bool {
        let value = value.trim();
        match self {
            ItemKind::Number => value.parse::<u32>().is_ok(),
            ItemKind::Date => value.parse::<jiff::civil::Date>().is_ok(),
            ItemKind::DateTime => {
                value.parse::<jiff::civil::DateTime>().is_ok() || value.parse::<jiff::Timestamp>().is_ok()
            }
            ItemKind::Text | ItemKind::Document => true,
        }
    }

    /// What a value of the kind must look like, for people.
    pub fn expects(self) -> &'static str {
        match self {
            ItemKind::Number => "berupa angka",
            ItemKind::Date => "berupa tanggal (misalnya 2026-12-01)",
            ItemKind::DateTime => "berupa tanggal dan jam (misalnya 2026-12-01 09:00)",
            ItemKind::Text | ItemKind::Document => "diisi",
        }
    }

    fn parse(text: &str) -> Option<ItemKind> {
        match text {
            "text" => Some(ItemKind::Text),
            "number" => Some(ItemKind::Number),
            "date" => Some(ItemKind::Date),
            "datetime" => Some(ItemKind::DateTime),
            "document" => Some(ItemKind::Document),
            _ => None,
        }
    }
}

/// An input (kelengkapan) or output of a step, or a field of the request form.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Item {
    /// Key of the value on the ticket (field or document kind); `None` for
    /// descriptive items such as "Komputer, ATK".
    pub id: Option<String>,
    pub label: String,
    pub kind: ItemKind,
    /// Must be present on the ticket before the step can be completed.
    pub required: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Outcome {
    pub id: String,
    pub label: String,
    /// The word a decision-maker may reply with by email, e.g. `SETUJU`.
    pub keyword: String,
    pub goto: Goto,
    pub reason_required: bool,
    pub milestone: Option<Milestone>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Step {
    pub no: u32,
    pub id: StepId,
    pub label: String,
    /// Plain words for the requester's status page.
    pub public_label: String,
    pub kind: StepKind,
    pub roles: Vec<Role>,
    /// Staff roles that may record a requester step on the requester's behalf
    /// (e.g. a confirmation given by phone).
    pub on_behalf: Vec<Role>,
    pub limit: TimeLimit,
    pub inputs: Vec<Item>,
    pub output: Option<Item>,
    /// Where the step leads when it has no outcomes.
    pub next: Goto,
    /// A decision's outcomes; empty for plain steps.
    pub outcomes: Vec<Outcome>,
    /// What the requester is told when the step is completed.
    pub milestone: Option<Milestone>,
}

impl Step {
    pub fn is_decision(&self) -> bool {
        !self.outcomes.is_empty()
    }

    pub fn outcome(&self, id: &str) -> Option<&Outcome> {
        let wanted = id.trim().to_lowercase();
        self.outcomes.iter().find(|o| o.id == wanted || o.keyword.eq_ignore_ascii_case(id.trim()))
    }

    /// Whether a staff member with these roles may act on the step.
    pub fn allows(&self, roles: &[Role]) -> bool {
        roles.iter().any(|r| self.roles.contains(r) || (self.kind == StepKind::Requester && self.on_behalf.contains(r)))
    }

    /// The staff roles that perform the step (whose queue it is in).
    pub fn staff_roles(&self) -> Vec<Role> {
        let mut roles: Vec<Role> = self.roles.iter().copied().filter(|r| r.is_staff()).collect();
        if self.kind == StepKind::Requester {
            roles.extend(self.on_behalf.iter().copied());
        }
        roles.sort();
        roles.dedup();
        roles
    }

    /// Every input and the output.
    pub fn items(&self) -> impl Iterator<Item = &Item> {
        self.inputs.iter().chain(self.output.iter())
    }

    /// The input or output with this id.
    pub fn item(&self, id: &str) -> Option<&Item> {
        self.items().find(|i| i.id.as_deref() == Some(id))
    }

    /// Every required input and output: what must be on the ticket to complete the step.
    pub fn required_items(&self) -> impl Iterator<Item = &Item> {
        self.items().filter(|i| i.required && i.id.is_some())
    }
}

/// The whole-service time standard (e.g. 8 hours for the province's intranet service).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceLimit {
    pub limit: TimeLimit,
    /// Who answers for the whole service; escalation starts above this role.
    pub owner: Role,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Procedure {
    pub id: ProcedureId,
    pub version: u32,
    /// Three capital letters used in ticket numbers, e.g. `JIP`.
    pub service: String,
    pub name: String,
    pub variant: String,
    pub summary: String,
    pub source: String,
    /// Words (Indonesian and English) that point a mail or form text at this service.
    pub keywords: Vec<String>,
    pub service_limit: Option<ServiceLimit>,
    /// Where a reopened ticket restarts.
    pub reopen_to: StepId,
    /// Extra request fields for this service (e.g. number of users).
    pub fields: Vec<Item>,
    pub escalation: Option<ThresholdOverride>,
    pub steps: Vec<Step>,
}

impl Procedure {
    pub fn step(&self, id: &str) -> Option<&Step> {
        self.steps.iter().find(|s| s.id == id)
    }

    /// The intake step (always the first).
    pub fn intake(&self) -> &Step {
        &self.steps[0]
    }

    pub fn is_triage(&self) -> bool {
        self.steps.iter().any(|s| s.kind == StepKind::Triage)
    }

    /// Steps in order, with the decision outcomes: the map a progress line is drawn from.
    pub fn step_index(&self, id: &str) -> Option<usize> {
        self.steps.iter().position(|s| s.id == id)
    }
}

/// What is wrong in a catalog or profile file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// The file is not valid TOML or does not have the expected shape.
    Parse(String),
    UnknownRole(String),
    /// A decision outcome or `next` points at no step and no end state.
    LeadsNowhere(String),
    Unreachable,
    MissingTimeLimit,
    DuplicateId(String),
    InvalidValue(String),
    Missing,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::Parse(msg) => write!(f, "cannot be read: {msg}"),
            Problem::UnknownRole(role) => write!(
                f,
                "unknown role '{role}' (known: pemohon, helpdesk, koordinator, teknisi, kasi, kabid, kadis, admin)"
            ),
            Problem::LeadsNowhere(target) => {
                write!(
                    f,
                    "leads nowhere: '{target}' is neither a step of this procedure nor an end state (done, postponed, planned_work)"
                )
            }
            Problem::Unreachable => write!(f, "the step cannot be reached from the first step"),
            Problem::MissingTimeLimit => write!(f, "missing time limit (e.g. limit = \"15m\")"),
            Problem::DuplicateId(id) => write!(f, "duplicate id '{id}'"),
            Problem::InvalidValue(msg) => write!(f, "invalid value: {msg}"),
            Problem::Missing => write!(f, "missing"),
        }
    }
}

/// A rejected catalog or profile file: which file, which step, which field, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct CatalogError {
    pub file: String,
    pub step: Option<String>,
    pub field: String,
    pub problem: Problem,
}

impl fmt::Display for CatalogError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file)?;
        if let Some(step) = &self.step {
            write!(f, ": step '{step}'")?;
        }
        write!(f, ": field '{}': {}", self.field, self.problem)
    }
}

// ---- the file format -------------------------------------------------------------------

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawProcedure {
    id: String,
    version: u32,
    service: String,
    name: String,
    variant: String,
    summary: String,
    source: String,
    #[serde(default)]
    keywords: Vec<String>,
    service_limit: Option<RawServiceLimit>,
    reopen_to: Option<String>,
    #[serde(default)]
    fields: Vec<RawItem>,
    escalation: Option<ThresholdOverride>,
    #[serde(default)]
    steps: Vec<RawStep>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawServiceLimit {
    limit: Option<String>,
    owner: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStep {
    no: u32,
    id: String,
    label: String,
    public_label: Option<String>,
    kind: Option<String>,
    #[serde(default)]
    roles: Vec<String>,
    #[serde(default)]
    on_behalf: Vec<String>,
    limit: Option<String>,
    #[serde(default)]
    inputs: Vec<RawItem>,
    output: Option<RawItem>,
    next: Option<String>,
    end: Option<String>,
    #[serde(default)]
    outcomes: Vec<RawOutcome>,
    milestone: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawItem {
    id: Option<String>,
    label: String,
    kind: Option<String>,
    #[serde(default)]
    required: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawOutcome {
    id: String,
    label: String,
    keyword: Option<String>,
    goto: Option<String>,
    end: Option<String>,
    #[serde(default)]
    reason_required: bool,
    milestone: Option<String>,
}

struct Checker<'a> {
    file: &'a str,
}

impl Checker<'_> {
    fn err(&self, step: Option<&str>, field: impl Into<String>, problem: Problem) -> CatalogError {
        CatalogError { file: self.file.to_string(), step: step.map(str::to_string), field: field.into(), problem }
    }

    fn role(&self, step: Option<&str>, field: &str, text: &str) -> Result<Role, CatalogError> {
        text.parse().map_err(|_| self.err(step, field, Problem::UnknownRole(text.to_string())))
    }

    fn limit(&self, step: Option<&str>, field: &str, text: Option<&str>) -> Result<TimeLimit, CatalogError> {
        let text = text.ok_or_else(|| self.err(step, field, Problem::MissingTimeLimit))?;
        text.parse()
            .map_err(|e: crate::limit::InvalidTimeLimit| self.err(step, field, Problem::InvalidValue(e.to_string())))
    }

    fn milestone(
        &self,
        step: Option<&str>,
        field: &str,
        text: Option<&str>,
    ) -> Result<Option<Milestone>, CatalogError> {
        text.map(|t| {
            Milestone::parse(t).ok_or_else(|| {
                self.err(step, field, Problem::InvalidValue(format!("unknown milestone '{t}' (received, approved, schedule_set, info_requested, postponed, planned_work, closed, reopened)")))
            })
        })
        .transpose()
    }

    fn item(&self, step: Option<&str>, field: &str, raw: &RawItem) -> Result<Item, CatalogError> {
        let kind = match raw.kind.as_deref() {
            None => ItemKind::Text,
            Some(k) => ItemKind::parse(k).ok_or_else(|| {
                self.err(
                    step,
                    format!("{field}.kind"),
                    Problem::InvalidValue(format!("unknown kind '{k}' (text, number, date, datetime, document)")),
                )
            })?,
        };
        if raw.required && raw.id.is_none() {
            return Err(self.err(
                step,
                format!("{field}.id"),
                Problem::InvalidValue("a required item needs an id".into()),
            ));
        }
        if let Some(id) = &raw.id {
            check_slug(id).map_err(|m| self.err(step, format!("{field}.id"), Problem::InvalidValue(m)))?;
        }
        Ok(Item { id: raw.id.clone(), label: raw.label.clone(), kind, required: raw.required })
    }

    /// `goto`/`next` (a step id) or `end` (an end state): exactly one.
    fn target(
        &self,
        step: &str,
        field: &str,
        goto: Option<&str>,
        end: Option<&str>,
        ids: &BTreeSet<&str>,
    ) -> Result<Option<Goto>, CatalogError> {
        match (goto, end) {
            (Some(_), Some(_)) => Err(self.err(
                Some(step),
                field,
                Problem::InvalidValue("give either a step to go to or an end state, not both".into()),
            )),
            (Some(id), None) if ids.contains(id) => Ok(Some(Goto::Step(id.to_string()))),
            (Some(id), None) => Err(self.err(Some(step), field, Problem::LeadsNowhere(id.to_string()))),
            (None, Some(end)) => EndKind::parse(end)
                .map(|e| Some(Goto::End(e)))
                .ok_or_else(|| self.err(Some(step), field, Problem::LeadsNowhere(end.to_string()))),
            (None, None) => Ok(None),
        }
    }
}

fn check_slug(id: &str) -> Result<(), String> {
    let ok = !id.is_empty()
        && id.len() <= 48
        && id.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
    if ok { Ok(()) } else { Err(format!("'{id}' must be 1-48 characters of a-z, 0-9, '-' or '_'")) }
}

impl Procedure {
    /// Parses and validates one procedure file; `file` names it in errors.
    pub fn from_toml(file: &str, text: &str) -> Result<Procedure, CatalogError> {
        let check = Checker { file };
        let raw: RawProcedure = toml::from_str(text).map_err(|e| {
            let field = e.span().map(|s| line_of(text, s.start)).unwrap_or_default();
            check.err(None, field, Problem::Parse(e.message().to_string()))
        })?;
        check_slug(&raw.id).map_err(|m| check.err(None, "id", Problem::InvalidValue(m)))?;
        if raw.service.len() != 3 || !raw.service.chars().all(|c| c.is_ascii_uppercase()) {
            return Err(check.err(
                None,
                "service",
                Problem::InvalidValue(format!("'{}' must be three capital letters, e.g. JIP", raw.service)),
            ));
        }
        if raw.steps.is_empty() {
            return Err(check.err(None, "steps", Problem::Missing));
        }

        let mut ids = BTreeSet::new();
        let mut numbers = BTreeSet::new();
        for s in &raw.steps {
            check_slug(&s.id).map_err(|m| check.err(Some(&s.id), "id", Problem::InvalidValue(m)))?;
            if !ids.insert(s.id.as_str()) {
                return Err(check.err(Some(&s.id), "id", Problem::DuplicateId(s.id.clone())));
            }
            if !numbers.insert(s.no) {
                return Err(check.err(Some(&s.id), "no", Problem::DuplicateId(s.no.to_string())));
            }
        }

        let mut steps = Vec::with_capacity(raw.steps.len());
        for (index, s) in raw.steps.iter().enumerate() {
            let step = Some(s.id.as_str());
            let kind = match s.kind.as_deref().unwrap_or("work") {
                "intake" => StepKind::Intake,
                "work" => StepKind::Work,
                "triage" => StepKind::Triage,
                "requester" => StepKind::Requester,
                "notice" => StepKind::Notice,
                other => {
                    return Err(check.err(
                        step,
                        "kind",
                        Problem::InvalidValue(format!(
                            "unknown kind '{other}' (intake, work, triage, requester, notice)"
                        )),
                    ));
                }
            };
            if (index == 0) != (kind == StepKind::Intake) {
                let msg = if index == 0 {
                    "the first step must be the intake (kind = \"intake\")"
                } else {
                    "only the first step may be the intake"
                };
                return Err(check.err(step, "kind", Problem::InvalidValue(msg.into())));
            }
            let roles = s.roles.iter().map(|r| check.role(step, "roles", r)).collect::<Result<Vec<_>, _>>()?;
            let on_behalf =
                s.on_behalf.iter().map(|r| check.role(step, "on_behalf", r)).collect::<Result<Vec<_>, _>>()?;
            if roles.is_empty() {
                return Err(check.err(step, "roles", Problem::Missing));
            }
            let has_staff = roles.iter().any(|r| r.is_staff());
            match kind {
                StepKind::Work | StepKind::Triage if !has_staff => {
                    return Err(check.err(
                        step,
                        "roles",
                        Problem::InvalidValue("a staff step needs at least one staff role".into()),
                    ));
                }
                StepKind::Requester if !roles.contains(&Role::Pemohon) => {
                    return Err(check.err(
                        step,
                        "roles",
                        Problem::InvalidValue("a requester step is performed by 'pemohon'".into()),
                    ));
                }
                _ => {}
            }
            if on_behalf.iter().any(|r| !r.is_staff()) {
                return Err(check.err(
                    step,
                    "on_behalf",
                    Problem::InvalidValue("only staff roles act on the requester's behalf".into()),
                ));
            }
            let limit = check.limit(step, "limit", s.limit.as_deref())?;
            let inputs = s
                .inputs
                .iter()
                .enumerate()
                .map(|(i, item)| check.item(step, &format!("inputs[{i}]"), item))
                .collect::<Result<Vec<_>, _>>()?;
            let output = s.output.as_ref().map(|o| check.item(step, "output", o)).transpose()?;

            let mut outcome_ids = BTreeSet::new();
            let mut keywords = BTreeSet::new();
            let mut outcomes = Vec::new();
            for (i, o) in s.outcomes.iter().enumerate() {
                let field = format!("outcomes[{i}]");
                check_slug(&o.id).map_err(|m| check.err(step, format!("{field}.id"), Problem::InvalidValue(m)))?;
                if !outcome_ids.insert(o.id.as_str()) {
                    return Err(check.err(step, format!("{field}.id"), Problem::DuplicateId(o.id.clone())));
                }
                let keyword = o.keyword.clone().unwrap_or_else(|| o.id.to_uppercase());
                if !keywords.insert(keyword.clone()) {
                    return Err(check.err(step, format!("{field}.keyword"), Problem::DuplicateId(keyword)));
                }
                let goto = check
                    .target(&s.id, &format!("{field}.goto"), o.goto.as_deref(), o.end.as_deref(), &ids)?
                    .ok_or_else(|| check.err(step, format!("{field}.goto"), Problem::LeadsNowhere(String::new())))?;
                let milestone = check.milestone(step, &format!("{field}.milestone"), o.milestone.as_deref())?;
                outcomes.push(Outcome {
                    id: o.id.clone(),
                    label: o.label.clone(),
                    keyword,
                    goto,
                    reason_required: o.reason_required,
                    milestone,
                });
            }
            if !outcomes.is_empty() && (s.next.is_some() || s.end.is_some()) {
                return Err(check.err(
                    step,
                    "next",
                    Problem::InvalidValue("a decision step leads on through its outcomes, not `next`".into()),
                ));
            }
            if !outcomes.is_empty() && kind != StepKind::Work {
                return Err(check.err(
                    step,
                    "outcomes",
                    Problem::InvalidValue("only work steps take decisions".into()),
                ));
            }
            let next = match check.target(&s.id, "next", s.next.as_deref(), s.end.as_deref(), &ids)? {
                Some(goto) => goto,
                None => match raw.steps.get(index + 1) {
                    Some(following) => Goto::Step(following.id.clone()),
                    None => Goto::End(EndKind::Done),
                },
            };
            if Goto::Step(s.id.clone()) == next {
                return Err(check.err(step, "next", Problem::InvalidValue("a step cannot lead to itself".into())));
            }
            let milestone = check.milestone(step, "milestone", s.milestone.as_deref())?;
            steps.push(Step {
                no: s.no,
                id: s.id.clone(),
                public_label: s.public_label.clone().unwrap_or_else(|| s.label.clone()),
                label: s.label.clone(),
                kind,
                roles,
                on_behalf,
                limit,
                inputs,
                output,
                next,
                outcomes,
                milestone,
            });
        }

        // Every step must be reachable from the first one.
        let mut seen = BTreeSet::new();
        let mut queue = VecDeque::from([steps[0].id.clone()]);
        while let Some(id) = queue.pop_front() {
            if !seen.insert(id.clone()) {
                continue;
            }
            if let Some(step) = steps.iter().find(|s| s.id == id) {
                let targets = if step.is_decision() {
                    step.outcomes.iter().map(|o| &o.goto).collect::<Vec<_>>()
                } else {
                    vec![&step.next]
                };
                for goto in targets {
                    if let Goto::Step(next) = goto {
                        queue.push_back(next.clone());
                    }
                }
            }
        }
        if let Some(lost) = steps.iter().find(|s| !seen.contains(&s.id)) {
            return Err(check.err(Some(&lost.id), "id", Problem::Unreachable));
        }

        let service_limit = match &raw.service_limit {
            None => None,
            Some(sl) => {
                let limit = check.limit(None, "service_limit.limit", sl.limit.as_deref())?;
                let owner_text =
                    sl.owner.as_deref().ok_or_else(|| check.err(None, "service_limit.owner", Problem::Missing))?;
                let owner = check.role(None, "service_limit.owner", owner_text)?;
                Some(ServiceLimit { limit, owner })
            }
        };
        let reopen_to = match &raw.reopen_to {
            Some(id) if ids.contains(id.as_str()) => id.clone(),
            Some(id) => return Err(check.err(None, "reopen_to", Problem::LeadsNowhere(id.clone()))),
            None => match &steps[0].next {
                Goto::Step(id) => id.clone(),
                Goto::End(_) => steps[0].id.clone(),
            },
        };
        let fields = raw
            .fields
            .iter()
            .enumerate()
            .map(|(i, f)| check.item(None, &format!("fields[{i}]"), f))
            .collect::<Result<Vec<_>, _>>()?;
        let mut field_ids = BTreeSet::new();
        for (i, f) in fields.iter().enumerate() {
            let Some(id) = &f.id else {
                return Err(check.err(None, format!("fields[{i}].id"), Problem::Missing));
            };
            if !field_ids.insert(id.clone()) {
                return Err(check.err(None, format!("fields[{i}].id"), Problem::DuplicateId(id.clone())));
            }
        }
        if let Some(esc) = &raw.escalation {
            esc.validate().map_err(|m| check.err(None, "escalation", Problem::InvalidValue(m)))?;
        }

        Ok(Procedure {
            id: raw.id,
            version: raw.version,
            service: raw.service,
            name: raw.name,
            variant: raw.variant,
            summary: raw.summary,
            source: raw.source,
            keywords: raw.keywords.iter().map(|k| k.to_lowercase()).collect(),
            service_limit,
            reopen_to,
            fields,
            escalation: raw.escalation,
            steps,
        })
    }
}

/// "line N" for a byte offset, to point at a TOML syntax error.
fn line_of(text: &str, offset: usize) -> String {
    let line = text.get(..offset).map_or(0, |t| t.matches('\n').count()) + 1;
    format!("line {line}")
}

/// All procedure variants, by id.
#[derive(Debug, Clone)]
pub struct Catalog {
    procedures: BTreeMap<ProcedureId, Procedure>,
}

impl Catalog {
    /// Loads procedure files given as (file name, contents); ids must be unique.
    pub fn from_files<'a>(files: impl IntoIterator<Item = (&'a str, &'a str)>) -> Result<Catalog, CatalogError> {
        let mut procedures = BTreeMap::new();
        for (name, text) in files {
            let procedure = Procedure::from_toml(name, text)?;
            if procedures.contains_key(&procedure.id) {
                return Err(CatalogError {
                    file: name.to_string(),
                    step: None,
                    field: "id".into(),
                    problem: Problem::DuplicateId(procedure.id),
                });
            }
            procedures.insert(procedure.id.clone(), procedure);
        }
        Ok(Catalog { procedures })
    }

    /// The catalog embedded at build time from `shared/domain/sops/*.toml`.
    pub fn embedded() -> Result<Catalog, CatalogError> {
        Catalog::from_files(crate::embedded::SOP_FILES.iter().copied())
    }

    pub fn get(&self, id: &str) -> Option<&Procedure> {
        self.procedures.get(id)
    }

    pub fn procedures(&self) -> impl Iterator<Item = &Procedure> {
        self.procedures.values()
    }

    pub fn len(&self) -> usize {
        self.procedures.len()
    }

    pub fn is_empty(&self) -> bool {
        self.procedures.is_empty()
    }
}
