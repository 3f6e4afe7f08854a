//! Every procedure of the catalog walked from the request to its end, each decision
//! branch included, through the state machine only (no I/O).

use std::collections::BTreeMap;

use jiff::{SignedDuration, Timestamp};
use loket_domain::sop::{EndKind, Goto, ItemKind, Milestone, Procedure, StepKind};
use loket_domain::ticket::{Actor, ActorKind, Channel, Document, Requester, StaffRef, Status, staff_document_prefix};
use loket_domain::workflow::{Action, Effect, NewTicket, TransitionError};
use loket_domain::{Agency, Catalog, Role, Ticket, TicketNumber, Workflow};

fn catalog() -> Catalog {
    Catalog::embedded().expect("embedded catalog loads")
}

/// Monday 23 Nov 2026, 09:00 WIB.
fn monday_morning() -> Timestamp {
    "2026-11-23T02:00:00Z".parse().expect("timestamp")
}

fn staff(role: Role) -> Actor {
    let person = StaffRef {
        id: format!("{role}-1"),
        name: format!("Petugas {}", role.label()),
        email: format!("{role}@example.go.id"),
    };
    Actor::staff(&person, vec![role])
}

fn requester() -> Requester {
    Requester {
        email: Some("pic@dinkes.example.go.id".into()),
        name: "Sari".into(),
        unit: "Dinas Kesehatan".into(),
        phone: None,
    }
}

fn document(number: &TicketNumber, kind: &str, at: Timestamp) -> Document {
    Document {
        kind: kind.into(),
        name: format!("{kind}.pdf"),
        content_type: "application/pdf".into(),
        size: 1234,
        key: format!("{}{kind}.pdf", staff_document_prefix(number)),
        uploaded_at: at,
        public: true,
    }
}

fn open(wf: &Workflow<'_>, procedure: &str, at: Timestamp) -> Ticket {
    open_with(wf, procedure, at, Vec::new())
}

/// Opens number 1 of the procedure's service, with the requester's documents.
fn open_with(wf: &Workflow<'_>, procedure: &str, at: Timestamp, documents: Vec<Document>) -> Ticket {
    let number = TicketNumber::new(&wf.catalog.get(procedure).expect("procedure").service, 2026, 1).expect("number");
    let applied = wf
        .open(NewTicket {
            number,
            procedure: procedure.into(),
            requester: requester(),
            channel: Channel::Email,
            subject: "Permohonan".into(),
            description: "Mohon dibantu".into(),
            fields: BTreeMap::new(),
            documents,
            token_hash: "hash".into(),
            actor: Actor::requester(&requester()),
            related: Vec::new(),
            mail_in: None,
            at,
        })
        .expect("opens");
    assert_eq!(applied.ticket.version, 1);
    assert_eq!(applied.event.seq, 1);
    assert!(applied.effects.contains(&Effect::NotifyRequester { milestone: Milestone::Received }));
    applied.ticket
}

/// Whatever a step needs to be completed: its required fields and documents.
fn inputs_for(procedure: &Procedure, step: &str, at: Timestamp) -> (BTreeMap<String, String>, Vec<Document>) {
    let step = procedure.step(step).expect("step");
    // The number `open` gives.
    let number = TicketNumber::new(&procedure.service, 2026, 1).expect("number");
    let mut fields = BTreeMap::new();
    let mut documents = Vec::new();
    for item in step.required_items() {
        let id = item.id.clone().expect("required items have ids");
        match item.kind {
            ItemKind::Document => documents.push(document(&number, &id, at)),
            ItemKind::Number => {
                fields.insert(id, "12".into());
            }
            ItemKind::DateTime => {
                fields.insert(id, "2026-11-25T09:00:00+07:00".into());
            }
            _ => {
                let value = format!("isi {id}");
                fields.insert(id, value);
            }
        }
    }
    (fields, documents)
}

/// Walks a ticket: at each step, the step's first role acts; at decisions, `choose`
/// picks the outcome. Returns the closed ticket and every milestone sent.
fn walk(procedure_id: &str, choose: &dyn Fn(&str) -> Option<&'static str>) -> (Ticket, Vec<Milestone>, Vec<String>) {
    let catalog = catalog();
    let agency = Agency::embedded("pangkalpinang", &catalog).expect("agency");
    let wf = Workflow::new(&catalog, &agency);
    let procedure = catalog.get(procedure_id).expect("procedure");
    let mut now = monday_morning();
    let mut ticket = open(&wf, procedure_id, now);
    let mut milestones = vec![Milestone::Received];
    for _ in 0..50 {
        let Some(step_id) = ticket.current_step().map(str::to_string) else { break };
        let step = procedure.step(&step_id).expect("current step in procedure");
        now += SignedDuration::from_mins(1);
        let (fields, documents) = inputs_for(procedure, &step_id, now);
        let (actor, action) = if step.kind == StepKind::Requester {
            let reply = Action::RequesterReply {
                text: "Setuju, jadwal cocok".into(),
                documents: Vec::new(),
                confirms: true,
                mail_in: None,
            };
            // Fields a requester step needs come from earlier steps.
            (Actor::requester(&ticket.requester), reply)
        } else {
            let actor = staff(step.roles.iter().copied().find(|r| r.is_staff()).expect("staff role"));
            let action = match choose(&step_id) {
                Some(outcome) => Action::Decide {
                    step: step_id.clone(),
                    outcome: outcome.into(),
                    reason: Some("Anggaran belum tersedia".into()),
                    note: None,
                    fields,
                    documents,
                },
                None => Action::Complete { step: step_id.clone(), note: Some("selesai".into()), fields, documents },
            };
            (actor, action)
        };
        let applied = wf
            .apply(&ticket, &actor, action, ticket.version, now)
            .unwrap_or_else(|e| panic!("{procedure_id} at {step_id}: {e}"));
        assert_eq!(applied.ticket.version, ticket.version + 1);
        assert_eq!(applied.event.seq, applied.ticket.version);
        for effect in &applied.effects {
            if let Effect::NotifyRequester { milestone } = effect {
                milestones.push(*milestone);
            }
        }
        ticket = applied.ticket;
    }
    // The history records every step visit, automatic notice steps included.
    let visited = ticket.history.iter().map(|r| r.step.clone()).collect();
    (ticket, milestones, visited)
}

fn all_steps(procedure: &str) -> Vec<String> {
    catalog().get(procedure).expect("procedure").steps.iter().map(|s| s.id.clone()).collect()
}

#[test]
fn intranet_city_approved_runs_all_twelve_steps() {
    let (ticket, milestones, visited) = walk("jaringan-intra-kota", &|s| (s == "keputusan-kadis").then_some("setuju"));
    assert_eq!(ticket.status, Status::Done);
    assert_eq!(visited, all_steps("jaringan-intra-kota"));
    assert_eq!(ticket.history.len(), 12);
    assert!(ticket.service_working_secs.is_some());
    assert!(ticket.document_of_kind("berita_acara").is_some());
    assert_eq!(milestones, vec![Milestone::Received, Milestone::Approved, Milestone::ScheduleSet, Milestone::Closed]);
}

#[test]
fn intranet_city_postponed_by_the_kadis() {
    let (ticket, milestones, visited) = walk("jaringan-intra-kota", &|s| (s == "keputusan-kadis").then_some("tunda"));
    assert_eq!(ticket.status, Status::Postponed);
    assert_eq!(ticket.end_reason.as_deref(), Some("Anggaran belum tersedia"));
    assert_eq!(visited, ["pengajuan", "penerimaan", "keputusan-kadis"]);
    assert_eq!(milestones.last(), Some(&Milestone::Postponed));
    assert!(ticket.current.is_none());
    assert_eq!(ticket.next_check(), None, "postponed tickets are never escalated");
}

#[test]
fn intranet_province_with_requester_confirmation_and_service_clock() {
    let (ticket, milestones, visited) =
        walk("jaringan-intra-provinsi", &|s| (s == "keputusan-kadis").then_some("setuju"));
    assert_eq!(ticket.status, Status::Done);
    assert_eq!(visited, all_steps("jaringan-intra-provinsi"));
    assert!(visited.contains(&"konfirmasi-jadwal".to_string()));
    assert!(milestones.contains(&Milestone::ScheduleSet));
    let confirm = ticket.history.iter().find(|r| r.step == "konfirmasi-jadwal").expect("confirmation recorded");
    assert_eq!(confirm.due_at, None, "a requester step has no deadline");
    assert_eq!(confirm.by, "Sari");
}

#[test]
fn intranet_province_postponed() {
    let (ticket, _, _) = walk("jaringan-intra-provinsi", &|s| (s == "keputusan-kadis").then_some("tunda"));
    assert_eq!(ticket.status, Status::Postponed);
}

#[test]
fn maintenance_approved_and_refused_by_the_kabid() {
    let (ticket, _, visited) =
        walk("pemeliharaan-perbaikan-jaringan", &|s| (s == "keputusan-kabid").then_some("setuju"));
    assert_eq!(ticket.status, Status::Done);
    assert_eq!(visited, all_steps("pemeliharaan-perbaikan-jaringan"));
    let (ticket, _, visited) =
        walk("pemeliharaan-perbaikan-jaringan", &|s| (s == "keputusan-kabid").then_some("tunda"));
    assert_eq!(ticket.status, Status::Postponed);
    assert_eq!(visited.last().map(String::as_str), Some("keputusan-kabid"));
}

#[test]
fn outage_both_variants_simple_and_complex() {
    for procedure in ["gangguan-internet-disposisi", "gangguan-internet-langsung"] {
        let (ticket, _, visited) = walk(procedure, &|s| (s == "penanganan").then_some("sederhana"));
        assert_eq!(ticket.status, Status::Done, "{procedure}");
        assert_eq!(visited, all_steps(procedure));
        let (ticket, milestones, visited) = walk(procedure, &|s| (s == "penanganan").then_some("program"));
        assert_eq!(ticket.status, Status::PlannedWork, "{procedure}");
        assert_eq!(visited.last().map(String::as_str), Some("penanganan"));
        assert_eq!(milestones.last(), Some(&Milestone::PlannedWork));
    }
}

#[test]
fn infrastructure_maintenance_runs_all_steps() {
    let (ticket, _, visited) = walk("pemeliharaan-infrastruktur", &|_| None);
    assert_eq!(ticket.status, Status::Done);
    assert_eq!(visited, all_steps("pemeliharaan-infrastruktur"));
}

#[test]
fn every_decision_branch_of_the_catalog_is_walked_above() {
    // If a procedure gains a decision, the walks above must cover it: list them here.
    let covered = [
        ("jaringan-intra-kota", "keputusan-kadis"),
        ("jaringan-intra-provinsi", "keputusan-kadis"),
        ("pemeliharaan-perbaikan-jaringan", "keputusan-kabid"),
        ("gangguan-internet-disposisi", "penanganan"),
        ("gangguan-internet-langsung", "penanganan"),
    ];
    for procedure in catalog().procedures() {
        for step in procedure.steps.iter().filter(|s| s.is_decision()) {
            assert!(
                covered.contains(&(procedure.id.as_str(), step.id.as_str())),
                "{} {} not walked",
                procedure.id,
                step.id
            );
            let ends: Vec<&Goto> = step.outcomes.iter().map(|o| &o.goto).collect();
            assert!(ends.iter().any(|g| matches!(g, Goto::Step(_))), "a decision that only ends");
            assert!(ends.iter().any(|g| matches!(g, Goto::End(EndKind::Postponed | EndKind::PlannedWork))));
        }
    }
}

// ---- refusals ------------------------------------------------------------------------

struct Fixture {
    catalog: Catalog,
    agency: Agency,
}

impl Fixture {
    fn new() -> Fixture {
        let catalog = catalog();
        let agency = Agency::embedded("pangkalpinang", &catalog).expect("agency");
        Fixture { catalog, agency }
    }

    fn wf(&self) -> Workflow<'_> {
        Workflow::new(&self.catalog, &self.agency)
    }
}

fn complete(step: &str) -> Action {
    Action::Complete { step: step.into(), note: None, fields: BTreeMap::new(), documents: Vec::new() }
}

#[test]
fn wrong_role_is_refused() {
    let fx = Fixture::new();
    let wf = fx.wf();
    let ticket = open(&wf, "jaringan-intra-kota", monday_morning());
    let err =
        wf.apply(&ticket, &staff(Role::Teknisi), complete("penerimaan"), 1, monday_morning()).expect_err("refused");
    assert_eq!(err.code(), "wrong_role");
    assert!(err.message().contains("Helpdesk"));
    // A requester cannot do staff work either.
    let err = wf
        .apply(&ticket, &Actor::requester(&requester()), complete("penerimaan"), 1, monday_morning())
        .expect_err("refused");
    assert_eq!(err.code(), "wrong_role");
}

#[test]
fn not_the_current_step_is_refused() {
    let fx = Fixture::new();
    let wf = fx.wf();
    let ticket = open(&wf, "jaringan-intra-kota", monday_morning());
    let err = wf.apply(&ticket, &staff(Role::Teknisi), complete("analisis"), 1, monday_morning()).expect_err("refused");
    assert!(
        matches!(err, TransitionError::NotCurrentStep { ref current, .. } if current.as_deref() == Some("penerimaan"))
    );
}

#[test]
fn stale_version_is_refused() {
    let fx = Fixture::new();
    let wf = fx.wf();
    let ticket = open(&wf, "jaringan-intra-kota", monday_morning());
    let err =
        wf.apply(&ticket, &staff(Role::Helpdesk), complete("penerimaan"), 7, monday_morning()).expect_err("refused");
    assert_eq!(err, TransitionError::StaleVersion { expected: 7, current: 1 });
}

fn advance_to(wf: &Workflow<'_>, procedure: &str, target: &str) -> Ticket {
    let procedure_def = wf.catalog.get(procedure).expect("procedure");
    let mut now = monday_morning();
    let mut ticket = open(wf, procedure, now);
    while ticket.current_step() != Some(target) {
        let step_id = ticket.current_step().expect("open").to_string();
        let step = procedure_def.step(&step_id).expect("step");
        now += SignedDuration::from_mins(1);
        let (fields, documents) = inputs_for(procedure_def, &step_id, now);
        let role = step.roles.iter().copied().find(|r| r.is_staff()).expect("staff");
        let action = if step.is_decision() {
            Action::Decide {
                step: step_id.clone(),
                outcome: step.outcomes[0].id.clone(),
                reason: None,
                note: None,
                fields,
                documents,
            }
        } else {
            Action::Complete { step: step_id.clone(), note: None, fields, documents }
        };
        ticket = wf.apply(&ticket, &staff(role), action, ticket.version, now).expect("advance").ticket;
    }
    ticket
}

#[test]
fn the_berita_acara_is_required_before_the_handover_step_closes() {
    let fx = Fixture::new();
    let wf = fx.wf();
    let ticket = advance_to(&wf, "jaringan-intra-kota", "berita-acara");
    let at = ticket.current.as_ref().expect("current").started_at + SignedDuration::from_mins(2);
    let err =
        wf.apply(&ticket, &staff(Role::Teknisi), complete("berita-acara"), ticket.version, at).expect_err("refused");
    assert_eq!(err.code(), "missing_document");
    assert!(err.message().contains("Berita Acara"));
    let with = |uploaded_at| Action::Complete {
        step: "berita-acara".into(),
        note: None,
        fields: BTreeMap::new(),
        documents: vec![document(&ticket.number, "berita_acara", uploaded_at)],
    };
    // One uploaded before this visit of the step (an earlier round's) does not sign this one.
    let before = ticket.current.as_ref().expect("current").started_at - SignedDuration::from_secs(1);
    let err = wf.apply(&ticket, &staff(Role::Teknisi), with(before), ticket.version, at).expect_err("an old one");
    assert_eq!(err.code(), "missing_document");
    let applied = wf.apply(&ticket, &staff(Role::Teknisi), with(at), ticket.version, at).expect("with the document");
    assert_eq!(applied.ticket.current_step(), Some("laporan"));
}

#[test]
fn staff_may_cite_only_documents_uploaded_to_the_ticket() {
    let fx = Fixture::new();
    let wf = fx.wf();
    let ticket = advance_to(&wf, "jaringan-intra-kota", "berita-acara");
    let other = TicketNumber::new("JIP", 2026, 50).expect("number");
    let mut requester_upload = document(&ticket.number, "berita_acara", monday_morning());
    requester_upload.key = format!("uploads/{}/0123/ktp.jpg", ticket.number);
    let mut climbing = document(&ticket.number, "berita_acara", monday_morning());
    climbing.key = format!("{}../../uploads/x.pdf", staff_document_prefix(&ticket.number));
    for foreign in [document(&other, "berita_acara", monday_morning()), requester_upload, climbing] {
        let key = foreign.key.clone();
        let action = Action::Complete {
            step: "berita-acara".into(),
            note: None,
            fields: BTreeMap::new(),
            documents: vec![foreign],
        };
        let err =
            wf.apply(&ticket, &staff(Role::Teknisi), action, ticket.version, monday_morning()).expect_err("refused");
        assert_eq!(err.code(), "foreign_document", "{key}");
        assert!(err.message().contains("tiket ini"));
    }
    // The same document cited twice is kept once.
    let at = ticket.current.as_ref().expect("current").started_at;
    let own = document(&ticket.number, "berita_acara", at);
    let action = Action::Complete {
        step: "berita-acara".into(),
        note: None,
        fields: BTreeMap::new(),
        documents: vec![own.clone(), own],
    };
    let applied = wf.apply(&ticket, &staff(Role::Teknisi), action, ticket.version, at).expect("own");
    assert_eq!(applied.ticket.documents.iter().filter(|d| d.kind == "berita_acara").count(), 1);
}

#[test]
fn a_required_input_value_is_checked() {
    let fx = Fixture::new();
    let wf = fx.wf();
    let ticket = advance_to(&wf, "jaringan-intra-kota", "analisis");
    let err = wf
        .apply(&ticket, &staff(Role::Teknisi), complete("analisis"), ticket.version, monday_morning())
        .expect_err("refused");
    assert_eq!(err.code(), "missing_input");
    // Values of the step's kind only, and only the step's own fields.
    let with = |pairs: &[(&str, &str)]| Action::Complete {
        step: "analisis".into(),
        note: None,
        fields: pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
        documents: Vec::new(),
    };
    let good =
        [("lokasi", "Gedung A"), ("jumlah_pengguna", "12"), ("aplikasi", "SIMPEG"), ("daftar_perangkat", "router")];
    let at = ticket.current.as_ref().expect("current").started_at;
    let mut not_a_number = good;
    not_a_number[1] = ("jumlah_pengguna", "dua belas");
    let err = wf.apply(&ticket, &staff(Role::Teknisi), with(&not_a_number), ticket.version, at).expect_err("number");
    assert_eq!(err.code(), "invalid_input");
    assert!(err.message().contains("Jumlah pengguna") && err.message().contains("angka"), "{}", err.message());
    let mut early = good.to_vec();
    early.push(("jadwal_pemasangan", "2026-12-01T09:00"));
    let err = wf.apply(&ticket, &staff(Role::Teknisi), with(&early), ticket.version, at).expect_err("a later step's");
    assert_eq!(err.code(), "unknown_field");
    wf.apply(&ticket, &staff(Role::Teknisi), with(&good), ticket.version, at).expect("good values");
    assert!(ItemKind::DateTime.accepts("2026-12-01T09:00") && ItemKind::DateTime.accepts("2026-11-25T09:00:00+07:00"));
    assert!(!ItemKind::DateTime.accepts("besok pagi") && !ItemKind::Date.accepts("31-12-2026"));
}

#[test]
fn unknown_outcome_and_missing_reason_are_refused() {
    let fx = Fixture::new();
    let wf = fx.wf();
    let ticket = advance_to(&wf, "jaringan-intra-kota", "keputusan-kadis");
    let decide = |outcome: &str, reason: Option<&str>| Action::Decide {
        step: "keputusan-kadis".into(),
        outcome: outcome.into(),
        reason: reason.map(str::to_string),
        note: None,
        fields: BTreeMap::new(),
        documents: Vec::new(),
    };
    let err = wf
        .apply(&ticket, &staff(Role::Kadis), decide("mungkin", None), ticket.version, monday_morning())
        .expect_err("refused");
    assert!(matches!(err, TransitionError::UnknownOutcome { ref known, .. } if known == &["setuju", "tunda"]));
    let err = wf
        .apply(&ticket, &staff(Role::Kadis), decide("tunda", Some("  ")), ticket.version, monday_morning())
        .expect_err("refused");
    assert_eq!(err.code(), "reason_required");
    let err = wf
        .apply(&ticket, &staff(Role::Kadis), complete("keputusan-kadis"), ticket.version, monday_morning())
        .expect_err("refused");
    assert_eq!(err.code(), "decision_required");
    // Email keywords work as outcome names.
    let applied = wf
        .apply(&ticket, &staff(Role::Kadis), decide("SETUJU", None), ticket.version, monday_morning())
        .expect("keyword");
    assert_eq!(applied.ticket.current_step(), Some("analisis"));
}

#[test]
fn a_closed_ticket_refuses_work_and_reopens_within_the_window() {
    let fx = Fixture::new();
    let wf = fx.wf();
    let ticket = advance_to(&wf, "jaringan-intra-kota", "keputusan-kadis");
    let decide = Action::Decide {
        step: "keputusan-kadis".into(),
        outcome: "tunda".into(),
        reason: Some("Menunggu anggaran".into()),
        note: None,
        fields: BTreeMap::new(),
        documents: Vec::new(),
    };
    let closed =
        wf.apply(&ticket, &staff(Role::Kadis), decide, ticket.version, monday_morning()).expect("postpone").ticket;
    let err = wf
        .apply(&closed, &staff(Role::Teknisi), complete("analisis"), closed.version, monday_morning())
        .expect_err("refused");
    assert_eq!(err, TransitionError::Closed);

    let reply = Actor::requester(&closed.requester);
    let later = monday_morning() + SignedDuration::from_hours(24 * 30);
    let err = wf
        .apply(&closed, &reply, Action::Reopen { reason: "Masih perlu".into() }, closed.version, later)
        .expect_err("refused");
    assert_eq!(err, TransitionError::ReopenWindowPassed { days: 14 });

    let soon = monday_morning() + SignedDuration::from_hours(48);
    let reopened = wf
        .apply(&closed, &reply, Action::Reopen { reason: "Masih perlu".into() }, closed.version, soon)
        .expect("reopen");
    assert_eq!(reopened.ticket.status, Status::Open);
    assert_eq!(reopened.ticket.current_step(), Some("penerimaan"));
    assert_eq!(reopened.ticket.reopened, 1);
    assert!(reopened.effects.contains(&Effect::NotifyRequester { milestone: Milestone::Reopened }));
    // Staff outside the front desk may not reopen.
    let err = wf
        .apply(&closed, &staff(Role::Teknisi), Action::Reopen { reason: "x".into() }, closed.version, soon)
        .expect_err("refused");
    assert_eq!(err.code(), "wrong_role");
}

#[test]
fn asking_the_requester_stops_the_clock_until_they_answer() {
    let fx = Fixture::new();
    let wf = fx.wf();
    let ticket = advance_to(&wf, "jaringan-intra-kota", "analisis");
    let due_before = ticket.due_at().expect("due");
    let asked = wf
        .apply(
            &ticket,
            &staff(Role::Teknisi),
            Action::RequestInfo { question: "Berapa jumlah pengguna?".into() },
            ticket.version,
            monday_morning(),
        )
        .expect("ask");
    assert!(asked.ticket.is_waiting_on_requester());
    assert_eq!(asked.ticket.next_check(), None, "no escalation while waiting on the requester");
    assert!(asked.effects.contains(&Effect::NotifyRequester { milestone: Milestone::InfoRequested }));
    // The requester answers two working hours later: the deadline moves by two hours.
    let answer_at = monday_morning() + SignedDuration::from_hours(2);
    let reply = Action::RequesterReply {
        text: "25 orang".into(),
        documents: Vec::new(),
        confirms: false,
        mail_in: Some("<a@b>".into()),
    };
    let resumed = wf
        .apply(&asked.ticket, &Actor::requester(&ticket.requester), reply, asked.ticket.version, answer_at)
        .expect("resume");
    assert!(!resumed.ticket.is_waiting_on_requester());
    assert_eq!(resumed.event.mail_in.as_deref(), Some("<a@b>"));
    let due_after = resumed.ticket.due_at().expect("due again");
    assert_eq!(fx.agency.calendar.working_between(due_before, due_after), SignedDuration::from_hours(2));
}

#[test]
fn triage_routes_to_a_procedure_and_keeps_the_number() {
    let fx = Fixture::new();
    let wf = fx.wf();
    let ticket = open(&wf, "triase", monday_morning());
    assert_eq!(ticket.current_step(), Some("triase"));
    let route = Action::Route { step: "triase".into(), procedure: "gangguan-internet-disposisi".into(), note: None };
    let routed = wf.apply(&ticket, &staff(Role::Helpdesk), route, 1, monday_morning()).expect("route");
    assert_eq!(routed.ticket.procedure, "gangguan-internet-disposisi");
    assert_eq!(routed.ticket.current_step(), Some("disposisi"));
    assert_eq!(routed.ticket.number, ticket.number);
    // A procedure the agency does not run is refused.
    let route = Action::Route { step: "triase".into(), procedure: "jaringan-intra-provinsi".into(), note: None };
    let err = wf.apply(&ticket, &staff(Role::Helpdesk), route, 1, monday_morning()).expect_err("refused");
    assert_eq!(err.code(), "unknown_procedure");
}

#[test]
fn notes_are_internal_and_assignments_notify() {
    let fx = Fixture::new();
    let wf = fx.wf();
    let ticket = open(&wf, "gangguan-internet-disposisi", monday_morning());
    let note = wf
        .apply(&ticket, &staff(Role::Kasi), Action::Note { text: "cek ONT".into() }, 1, monday_morning())
        .expect("note");
    assert!(note.event.internal);
    assert_eq!(note.ticket.current_step(), ticket.current_step());
    // The directory's name and address count, not the client's.
    let claimed = StaffRef { id: "budi".into(), name: "Budi".into(), email: "someone@elsewhere.example".into() };
    let assigned = wf
        .apply(&note.ticket, &staff(Role::Kasi), Action::Assign { to: claimed, note: None }, 2, monday_morning())
        .expect("assign");
    let tech = StaffRef { id: "budi".into(), name: "Budi Teknisi".into(), email: "budi@staf.example.go.id".into() };
    assert_eq!(assigned.ticket.assignee.as_ref(), Some(&tech));
    assert!(assigned.effects.contains(&Effect::NotifyAssignee { staff: tech }));
    let stranger = StaffRef { id: "mallory".into(), name: "M".into(), email: "m@elsewhere.example".into() };
    let err = wf
        .apply(&note.ticket, &staff(Role::Kasi), Action::Assign { to: stranger, note: None }, 2, monday_morning())
        .expect_err("not in the directory");
    assert_eq!(err.code(), "unknown_staff");
    let err = wf
        .apply(&ticket, &Actor::requester(&requester()), Action::Note { text: "hi".into() }, 1, monday_morning())
        .expect_err("refused");
    assert_eq!(err.code(), "wrong_role");
    assert_eq!(Actor::system().kind, ActorKind::System);
}

#[test]
fn allowed_actions_follow_the_step_and_roles() {
    let fx = Fixture::new();
    let wf = fx.wf();
    let ticket = advance_to(&wf, "jaringan-intra-kota", "keputusan-kadis");
    assert_eq!(wf.allowed_actions(&ticket, &[Role::Kadis]), ["decide", "assign", "note", "request_info"]);
    assert!(!wf.allowed_actions(&ticket, &[Role::Teknisi]).contains(&"decide"));
}

/// Staff are mailed when work reaches them, not about a step they carry on with themselves.
#[test]
fn no_staff_notice_about_a_step_the_actor_carries_on_with() {
    use loket_domain::mail::compose::{Composer, Links, MailKind};
    use loket_domain::mail::thread::ThreadKeys;
    let catalog = catalog();
    let agency = Agency::embedded("pangkalpinang", &catalog).expect("agency");
    let wf = Workflow::new(&catalog, &agency);
    let keys = ThreadKeys::new(b"walk-procedures-secret-0123".to_vec()).expect("keys");
    let links = Links { public_base: "https://layanan.example".into(), console_base: "https://layanan.example".into() };
    let composer = Composer { agency: &agency, keys: &keys, links: &links };
    let procedure = catalog.get("jaringan-intra-kota").expect("service A");
    let at = monday_morning();
    let mut ticket = open(&wf, "jaringan-intra-kota", at);
    let mut notices = Vec::new();
    for (step, role, outcome) in [
        ("penerimaan", Role::Helpdesk, None),
        ("keputusan-kadis", Role::Kadis, Some("setuju")),
        ("analisis", Role::Teknisi, None),
        ("persiapan", Role::Teknisi, None),
    ] {
        let (fields, documents) = inputs_for(procedure, step, at);
        let action = match outcome {
            Some(outcome) => Action::Decide {
                step: step.into(),
                outcome: outcome.into(),
                reason: None,
                note: None,
                fields,
                documents,
            },
            None => Action::Complete { step: step.into(), note: None, fields, documents },
        };
        let applied = wf.apply(&ticket, &staff(role), action, ticket.version, at).expect("applies");
        let mails = composer.mails_for(&applied, procedure, &|r| agency.staff_with(r), at);
        notices.push(mails.iter().filter(|m| m.kind == MailKind::StaffNotice).count());
        ticket = applied.ticket;
    }
    // Helpdesk -> Kadis, Kadis -> technicians: mailed. Technician -> technician: not.
    // Technician -> Helpdesk (informing the requester of the schedule): mailed.
    assert!(notices[0] > 0 && notices[1] > 0, "{notices:?}");
    assert_eq!(notices[2], 0, "the technician carries on with the preparation");
    assert!(notices[3] > 0, "{notices:?}");
}

#[test]
fn a_step_finished_while_waiting_on_the_requester_is_judged_without_the_wait() {
    // 'analisis' takes 30 minutes: 20 of work, a question to the requester, the answer by
    // phone, and the step completed 40 minutes after the question: on time (20 of 30).
    let fx = Fixture::new();
    let wf = fx.wf();
    let procedure = wf.catalog.get("jaringan-intra-kota").expect("procedure");
    let ticket = advance_to(&wf, "jaringan-intra-kota", "analisis");
    let start = ticket.current.as_ref().expect("current").started_at;
    let asked = wf
        .apply(
            &ticket,
            &staff(Role::Teknisi),
            Action::RequestInfo { question: "Berapa pengguna?".into() },
            ticket.version,
            start + SignedDuration::from_mins(20),
        )
        .expect("ask")
        .ticket;
    assert!(asked.current.as_ref().expect("current").waiting.is_some());
    let done_at = start + SignedDuration::from_mins(60);
    let (fields, documents) = inputs_for(procedure, "analisis", done_at);
    let action = Action::Complete { step: "analisis".into(), note: None, fields, documents };
    let done = wf.apply(&asked, &staff(Role::Teknisi), action, asked.version, done_at).expect("complete").ticket;
    let record = done.history.iter().rfind(|r| r.step == "analisis").expect("recorded");
    assert_eq!(record.working_secs, 20 * 60);
    assert_eq!(record.within_limit(), Some(true), "{record:?}");
}

#[test]
fn a_reopened_ticket_adds_each_rounds_service_time() {
    let fx = Fixture::new();
    let wf = fx.wf();
    let cal = &fx.agency.calendar;
    let postpone = || Action::Decide {
        step: "keputusan-kadis".into(),
        outcome: "tunda".into(),
        reason: Some("Menunggu anggaran".into()),
        note: None,
        fields: BTreeMap::new(),
        documents: Vec::new(),
    };
    let ticket = advance_to(&wf, "jaringan-intra-kota", "keputusan-kadis");
    let first_close = monday_morning() + SignedDuration::from_hours(2);
    let closed = wf.apply(&ticket, &staff(Role::Kadis), postpone(), ticket.version, first_close).expect("close").ticket;
    let round1 = cal.working_between(closed.created_at, first_close).as_secs();
    assert_eq!(closed.service_working_secs, Some(round1));

    let reopen_at = monday_morning() + SignedDuration::from_hours(48);
    let reply = Actor::requester(&closed.requester);
    let reopened = wf
        .apply(&closed, &reply, Action::Reopen { reason: "Masih perlu".into() }, closed.version, reopen_at)
        .expect("reopen")
        .ticket;
    let received = wf
        .apply(
            &reopened,
            &staff(Role::Helpdesk),
            complete("penerimaan"),
            reopened.version,
            reopen_at + SignedDuration::from_mins(1),
        )
        .expect("received")
        .ticket;
    let second_close = reopen_at + SignedDuration::from_mins(30);
    let again =
        wf.apply(&received, &staff(Role::Kadis), postpone(), received.version, second_close).expect("again").ticket;
    let round2 = cal.working_between(reopen_at, second_close).as_secs();
    assert!(round1 > 0 && round2 > 0);
    assert_eq!(again.service_working_secs, Some(round1 + round2), "both rounds");
}

#[test]
fn staff_record_an_answer_that_came_by_phone_and_the_clock_runs_again() {
    let fx = Fixture::new();
    let wf = fx.wf();
    let ticket = advance_to(&wf, "jaringan-intra-kota", "analisis");
    let start = ticket.current.as_ref().expect("current").started_at;
    let due_before = ticket.due_at().expect("due");
    // Nothing to record while nobody was asked.
    let answer = || Action::AnswerReceived { answer: "25 orang, lewat telepon".into() };
    let err = wf.apply(&ticket, &staff(Role::Helpdesk), answer(), ticket.version, start).expect_err("not asked");
    assert_eq!(err.code(), "not_waiting");
    let ask = Action::RequestInfo { question: "Berapa jumlah pengguna?".into() };
    let asked = wf.apply(&ticket, &staff(Role::Teknisi), ask, ticket.version, start).expect("ask").ticket;
    assert_eq!(wf.allowed_actions(&asked, &[Role::Helpdesk]), vec!["assign", "note", "answer_received"]);
    // The answer came by phone an hour later; the Helpdesk records it.
    let at = start + SignedDuration::from_hours(1);
    let resumed = wf.apply(&asked, &staff(Role::Helpdesk), answer(), asked.version, at).expect("recorded");
    assert!(!resumed.ticket.is_waiting_on_requester());
    assert!(resumed.event.internal && resumed.event.note.as_deref().is_some_and(|n| n.contains("lewat telepon")));
    assert!(resumed.effects.iter().any(|e| matches!(e, Effect::NotifyStaff { .. })), "the step's holders are told");
    let due_after = resumed.ticket.due_at().expect("due again");
    assert_eq!(fx.agency.calendar.working_between(due_before, due_after), SignedDuration::from_hours(1));
    let by_technician = wf.apply(&asked, &staff(Role::Teknisi), answer(), asked.version, at);
    assert!(by_technician.is_ok(), "the step's own technician may record it too");
}

#[test]
fn the_requesters_own_letter_can_be_taken_as_the_steps_document() {
    let catalog = catalog();
    let agency = Agency::embedded("gorontalo", &catalog).expect("agency");
    let wf = Workflow::new(&catalog, &agency);
    let at = monday_morning();
    let number = TicketNumber::new("JIP", 2026, 1).expect("number");
    let letter = Document {
        kind: "lampiran".into(),
        name: "surat-permohonan.pdf".into(),
        content_type: "application/pdf".into(),
        size: 2048,
        key: format!("attachments/requests/{number}/0-surat-permohonan.pdf"),
        uploaded_at: at,
        public: true,
    };
    let ticket = open_with(&wf, "jaringan-intra-provinsi", at, vec![letter.clone()]);
    assert_eq!(ticket.current_step(), Some("pemeriksaan-kelengkapan"));
    let later = at + SignedDuration::from_mins(1);
    assert!(wf.allowed_actions(&ticket, &[Role::Koordinator]).contains(&"use_document"));
    let take = |key: &str, kind: &str| Action::UseRequesterDocument { key: key.into(), kind: kind.into() };
    // Only the step's performer, only the step's documents, only a requester's file.
    let err = wf.apply(&ticket, &staff(Role::Teknisi), take(&letter.key, "surat_permohonan"), 1, later);
    assert_eq!(err.expect_err("role").code(), "wrong_role");
    let err = wf.apply(&ticket, &staff(Role::Koordinator), take(&letter.key, "berita_acara"), 1, later);
    assert_eq!(err.expect_err("kind").code(), "unknown_field");
    let staff_file = format!("{}x.pdf", staff_document_prefix(&number));
    let err = wf.apply(&ticket, &staff(Role::Koordinator), take(&staff_file, "surat_permohonan"), 1, later);
    assert_eq!(err.expect_err("not the requester's").code(), "foreign_document");
    // Taken as the letter, it satisfies the step (uploaded before this visit, and that is fine).
    let taken = wf
        .apply(&ticket, &staff(Role::Koordinator), take(&letter.key, "surat_permohonan"), 1, later)
        .expect("taken")
        .ticket;
    assert_eq!(taken.document_of_kind("surat_permohonan").map(|d| d.key.as_str()), Some(letter.key.as_str()));
    let done = wf.apply(
        &taken,
        &staff(Role::Koordinator),
        complete("pemeriksaan-kelengkapan"),
        taken.version,
        later + SignedDuration::from_mins(1),
    );
    assert!(done.is_ok(), "{:?}", done.err());
}
