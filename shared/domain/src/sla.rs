//! The SLA check, pure: for an open ticket at an instant, which warnings and escalations
//! are due (of its current step and of the whole service), to which people, and what has
//! to be recorded as handled. Sending each alert once is the caller's job: every alert
//! has a stable claim key (ticket, step visit or service round, level).

use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};

use crate::agency::Agency;
use crate::escalation::{AlertLevel, AlertPlan};
use crate::roles::Role;
use crate::sop::Catalog;
use crate::ticket::{StaffRef, Ticket, TicketNumber};

/// What an alert is about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "scope", rename_all = "snake_case")]
pub enum Scope {
    /// A step visit (its deadline).
    Step { step: String, visit: u32 },
    /// The whole-service standard (e.g. 8 hours), per opening of the ticket.
    Service { round: u32 },
}

/// One warning or escalation that is due.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DueAlert {
    pub number: TicketNumber,
    pub scope: Scope,
    pub level: AlertLevel,
    /// The roles told at this level.
    pub roles: Vec<Role>,
    /// The people told at this level (from the staff directory).
    pub recipients: Vec<StaffRef>,
    /// Who was told at the lower levels already.
    pub told_before: Vec<String>,
    pub due: Timestamp,
    /// Working time past the deadline (zero for a warning).
    pub lateness: SignedDuration,
    /// The label of the step (or of the service) and who performs it.
    pub what: String,
    pub performers: Vec<Role>,
    pub unit: String,
    pub subject: String,
    /// Stable claim key: `alert:<number>:<scope>:<level>`.
    pub key: String,
}

/// The alerts due on one ticket and the levels to record as handled once sent.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TicketAlerts {
    pub alerts: Vec<DueAlert>,
    pub step_handled: Option<AlertLevel>,
    pub service_handled: Option<AlertLevel>,
}

fn people(agency: &Agency, roles: &[Role]) -> Vec<StaffRef> {
    let mut out: Vec<StaffRef> = roles.iter().flat_map(|r| agency.staff_with(*r)).collect();
    out.sort_by(|a, b| a.email.cmp(&b.email));
    out.dedup_by(|a, b| a.email == b.email);
    out
}

/// Who is told at a level: the performer for a warning (the assignee, if the step is
/// theirs); at level 1 the assignee's own supervisor when the directory names one;
/// otherwise the holders of the roles up the chain (posts nobody holds passed over). When
/// nobody is above the performers (the Kadis performs), level 1 tells the performers that
/// the limit has passed: a late step is never silent.
fn recipients(
    agency: &Agency,
    ticket: &Ticket,
    level: AlertLevel,
    performers: &[Role],
    step_scope: bool,
) -> (Vec<Role>, Vec<StaffRef>) {
    let staffed = |role: Role| agency.staff.iter().any(|m| m.roles.contains(&role));
    let mut roles = agency.chain.recipients(level, performers, staffed);
    if level == AlertLevel::Level1 && roles.is_empty() {
        roles = performers.to_vec();
    }
    // The assignee counts only while the current step is one their roles perform: an
    // assignment made at an earlier step says nothing about who holds this one.
    let assignee = ticket.assignee.as_ref().filter(|person| {
        step_scope
            && agency
                .staff_by_email(&person.email)
                .is_some_and(|member| member.roles.iter().any(|r| performers.contains(r)))
    });
    match (level, assignee) {
        (AlertLevel::Warning, Some(person)) => (roles, vec![person.clone()]),
        (AlertLevel::Level1, Some(person)) => {
            let supervisor = agency
                .staff_by_email(&person.email)
                .and_then(|m| m.supervisor.as_ref())
                .and_then(|id| agency.staff.iter().find(|m| &m.id == id));
            match supervisor {
                Some(s) => (s.roles.clone(), vec![s.as_ref()]),
                None => {
                    let p = people(agency, &roles);
                    (roles, p)
                }
            }
        }
        _ => {
            let p = people(agency, &roles);
            (roles, p)
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn alerts_of_plan(
    agency: &Agency,
    ticket: &Ticket,
    plan: &AlertPlan,
    handled: Option<AlertLevel>,
    scope: Scope,
    scope_key: String,
    what: String,
    performers: Vec<Role>,
    now: Timestamp,
) -> (Vec<DueAlert>, Option<AlertLevel>) {
    let levels = plan.due_levels(handled, now);
    let Some(highest) = levels.last().copied() else { return (Vec::new(), handled) };
    let step_scope = matches!(scope, Scope::Step { .. });
    let mut told: Vec<String> = Vec::new();
    // Those told at levels already handled in earlier sweeps.
    for level in AlertLevel::ALL.into_iter().filter(|l| Some(*l) <= handled) {
        let (_, people) = recipients(agency, ticket, level, &performers, step_scope);
        told.extend(people.into_iter().map(|p| p.name));
    }
    let mut out = Vec::new();
    for level in levels {
        let (roles, people) = recipients(agency, ticket, level, &performers, step_scope);
        let lateness = if level == AlertLevel::Warning {
            SignedDuration::ZERO
        } else {
            agency.calendar.working_between(plan.due, now)
        };
        out.push(DueAlert {
            number: ticket.number.clone(),
            scope: scope.clone(),
            level,
            roles,
            recipients: people.clone(),
            told_before: told.clone(),
            due: plan.due,
            lateness,
            what: what.clone(),
            performers: performers.clone(),
            unit: ticket.requester.unit.clone(),
            subject: ticket.subject.clone(),
            key: format!("alert:{}:{scope_key}:{}", ticket.number, level.as_str()),
        });
        told.extend(people.into_iter().map(|p| p.name));
    }
    (out, Some(highest))
}

/// The alerts due on a ticket at `now`. Closed tickets and steps waiting on the
/// requester have none (their clocks stand still).
pub fn due_alerts(ticket: &Ticket, catalog: &Catalog, agency: &Agency, now: Timestamp) -> TicketAlerts {
    let mut result = TicketAlerts {
        alerts: Vec::new(),
        step_handled: ticket.current.as_ref().and_then(|c| c.alerts_handled),
        service_handled: ticket.service_clock.as_ref().and_then(|s| s.alerts_handled),
    };
    if ticket.status.is_closed() {
        return result;
    }
    let procedure = catalog.get(&ticket.procedure);
    if let Some(current) = ticket.current.as_ref().filter(|c| c.waiting.is_none())
        && let Some(plan) = &current.plan
    {
        let step = procedure.and_then(|p| p.step(&current.step));
        let what = step.map_or_else(|| current.step.clone(), |s| format!("{}. {}", s.no, s.label));
        let performers = step.map(|s| s.staff_roles()).unwrap_or_default();
        let scope = Scope::Step { step: current.step.clone(), visit: current.visit };
        let (alerts, handled) = alerts_of_plan(
            agency,
            ticket,
            plan,
            current.alerts_handled,
            scope,
            format!("v{}", current.visit),
            what,
            performers,
            now,
        );
        result.alerts.extend(alerts);
        result.step_handled = handled;
    }
    if let Some(clock) = ticket.service_clock.as_ref().filter(|c| c.paused_since.is_none())
        && let Some(limit) = procedure.and_then(|p| p.service_limit.as_ref())
    {
        let what =
            format!("Standar waktu layanan {} ({})", limit.limit.label(), procedure.map_or("", |p| p.name.as_str()));
        let scope = Scope::Service { round: ticket.reopened };
        let (alerts, handled) = alerts_of_plan(
            agency,
            ticket,
            &clock.plan,
            clock.alerts_handled,
            scope,
            format!("s{}", ticket.reopened),
            what,
            vec![limit.owner],
            now,
        );
        result.alerts.extend(alerts);
        result.service_handled = handled;
    }
    result
}

/// The ticket with the handled levels recorded (its version unchanged: this is the
/// sweep's bookkeeping, not a step of the SOP).
pub fn record_handled(ticket: &Ticket, alerts: &TicketAlerts) -> Ticket {
    let mut ticket = ticket.clone();
    if let Some(current) = ticket.current.as_mut() {
        current.alerts_handled = alerts.step_handled;
    }
    if let Some(clock) = ticket.service_clock.as_mut() {
        clock.alerts_handled = alerts.service_handled;
    }
    ticket
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::ticket::{Actor, Channel, Requester};
    use crate::workflow::{Action, NewTicket, Workflow};

    struct Fx {
        catalog: Catalog,
        agency: Agency,
    }

    fn fx(agency: &str) -> Fx {
        let catalog = Catalog::embedded().expect("catalog");
        let agency = Agency::embedded(agency, &catalog).expect("agency");
        Fx { catalog, agency }
    }

    fn wib(s: &str) -> Timestamp {
        // Local WIB wall time "YYYY-MM-DDTHH:MM" -> instant.
        format!("{s}:00+07:00[Asia/Jakarta]").parse::<jiff::ZonedDateTime>().expect("time").timestamp()
    }

    fn open(fx: &Fx, procedure: &str, at: Timestamp) -> Ticket {
        let requester = Requester {
            email: Some("pic@opd.go.id".into()),
            name: "PIC".into(),
            unit: "Dinas Sosial".into(),
            phone: None,
        };
        Workflow::new(&fx.catalog, &fx.agency)
            .open(NewTicket {
                number: TicketNumber::new(&fx.catalog.get(procedure).expect("p").service, 2026, 7).expect("n"),
                procedure: procedure.into(),
                actor: Actor::requester(&requester),
                requester,
                channel: Channel::Web,
                subject: "Internet mati".into(),
                description: String::new(),
                fields: BTreeMap::new(),
                documents: Vec::new(),
                token_hash: String::new(),
                related: Vec::new(),
                mail_in: None,
                at,
            })
            .expect("open")
            .ticket
    }

    fn levels(a: &TicketAlerts) -> Vec<AlertLevel> {
        a.alerts.iter().map(|x| x.level).collect()
    }

    #[test]
    fn a_step_crossing_the_weekend_is_late_only_in_working_time() {
        let fx = fx("pangkalpinang");
        // Friday 27 Nov 2026 16:25: step 'disposisi' (Kadis/Kabid, 10 min) runs into Monday.
        let ticket = open(&fx, "gangguan-internet-disposisi", wib("2026-11-27T16:25"));
        assert!(
            due_alerts(&ticket, &fx.catalog, &fx.agency, wib("2026-11-28T12:00")).alerts.is_empty(),
            "Saturday: no time passed"
        );
        assert!(due_alerts(&ticket, &fx.catalog, &fx.agency, wib("2026-11-30T07:29")).alerts.is_empty());
        // 5 min on Friday + 5 min on Monday: due at 07:35, warning at 8 min (07:33).
        let warn = due_alerts(&ticket, &fx.catalog, &fx.agency, wib("2026-11-30T07:34"));
        assert_eq!(levels(&warn), vec![AlertLevel::Warning]);
        assert_eq!(warn.alerts[0].roles, vec![Role::Kabid, Role::Kadis]);
        let late = due_alerts(&ticket, &fx.catalog, &fx.agency, wib("2026-11-30T07:40"));
        assert_eq!(levels(&late), vec![AlertLevel::Level1]);
        assert_eq!(late.alerts[0].lateness, SignedDuration::from_mins(5));
        // The step is shared by the Kabid and the Kadis: nobody is above both, so level 1
        // tells them that the limit has passed (never silent).
        assert_eq!(late.alerts[0].roles, vec![Role::Kabid, Role::Kadis]);
        let told: Vec<&str> = late.alerts[0].recipients.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(told, ["Hendra Kepala Dinas", "Wati Kepala Bidang"]);
    }

    #[test]
    fn an_assignee_from_an_earlier_step_is_not_told_about_this_one() {
        let fx = fx("pangkalpinang");
        let mut ticket = open(&fx, "gangguan-internet-disposisi", wib("2026-11-23T08:00"));
        // Budi (a technician) was assigned, but the current step is the Kabid/Kadis disposisi.
        let budi = fx.agency.staff_by_email("budi@staf.example.go.id").expect("budi").as_ref();
        ticket.assignee = Some(budi.clone());
        let warn = due_alerts(&ticket, &fx.catalog, &fx.agency, wib("2026-11-23T08:09"));
        assert_eq!(levels(&warn), vec![AlertLevel::Warning]);
        assert!(!warn.alerts[0].recipients.contains(&budi), "{:?}", warn.alerts[0].recipients);
        assert!(warn.alerts[0].recipients.iter().any(|p| p.name == "Wati Kepala Bidang"));
        let late = due_alerts(&ticket, &fx.catalog, &fx.agency, wib("2026-11-23T08:11"));
        let told: Vec<&str> = late.alerts[0].recipients.iter().map(|p| p.name.as_str()).collect();
        assert!(!told.contains(&"Dedi Kepala Seksi Jaringan"), "not Budi's supervisor: {told:?}");
    }

    #[test]
    fn a_national_holiday_and_the_cuti_bersama_week_stop_the_clock() {
        let fx = fx("pangkalpinang");
        // Tuesday 17 Mar 2026 (Ramadan hours, closes 15:00), 14:55; 18-24 Mar are off.
        let ticket = open(&fx, "pemeliharaan-infrastruktur", wib("2026-03-17T14:55"));
        // 'disposisi' takes 15 min: 5 on Tuesday, 10 on Wednesday 25 Mar.
        for quiet in
            ["2026-03-18T10:00", "2026-03-19T10:00", "2026-03-20T10:00", "2026-03-23T10:00", "2026-03-24T15:00"]
        {
            assert!(due_alerts(&ticket, &fx.catalog, &fx.agency, wib(quiet)).alerts.is_empty(), "{quiet}");
        }
        let due = due_alerts(&ticket, &fx.catalog, &fx.agency, wib("2026-03-25T07:41"));
        assert_eq!(levels(&due), vec![AlertLevel::Level1]);
        assert_eq!(due.alerts[0].due, wib("2026-03-25T07:40"));
        // Independence Day.
        let ticket = open(&fx, "pemeliharaan-infrastruktur", wib("2026-08-14T16:25"));
        assert!(due_alerts(&ticket, &fx.catalog, &fx.agency, wib("2026-08-17T12:00")).alerts.is_empty());
        assert_eq!(
            levels(&due_alerts(&ticket, &fx.catalog, &fx.agency, wib("2026-08-18T07:41"))),
            vec![AlertLevel::Level1]
        );
    }

    #[test]
    fn waiting_on_the_requester_and_postponed_tickets_are_never_escalated() {
        let fx = fx("pangkalpinang");
        let start = wib("2026-11-23T08:00");
        let ticket = open(&fx, "gangguan-internet-disposisi", start);
        let wf = Workflow::new(&fx.catalog, &fx.agency);
        let staff = StaffRef { id: "rina".into(), name: "Rina".into(), email: "rina@staf.example.go.id".into() };
        let asked = wf
            .apply(
                &ticket,
                &Actor::staff(&staff, vec![Role::Helpdesk]),
                Action::RequestInfo { question: "Lokasi?".into() },
                1,
                start,
            )
            .expect("ask")
            .ticket;
        assert!(due_alerts(&asked, &fx.catalog, &fx.agency, wib("2026-11-25T08:00")).alerts.is_empty());
        let decide = |t: &Ticket| {
            let mut t = t.clone();
            t.status = crate::ticket::Status::Postponed;
            t.current = None;
            t
        };
        assert!(due_alerts(&decide(&ticket), &fx.catalog, &fx.agency, wib("2026-11-25T08:00")).alerts.is_empty());
    }

    #[test]
    fn levels_climb_the_chain_once_each_with_who_was_told() {
        let fx = fx("pangkalpinang");
        let start = wib("2026-11-23T08:00");
        let mut ticket = open(&fx, "gangguan-internet-disposisi", start);
        // Move to the technician's one-day step.
        let wf = Workflow::new(&fx.catalog, &fx.agency);
        for (role, step) in [(Role::Kabid, "disposisi"), (Role::Kasi, "perintah-kasi")] {
            let person = StaffRef { id: "x".into(), name: "X".into(), email: "x@x".into() };
            let action =
                Action::Complete { step: step.into(), note: None, fields: BTreeMap::new(), documents: Vec::new() };
            ticket = wf
                .apply(&ticket, &Actor::staff(&person, vec![role]), action, ticket.version, start)
                .expect("move")
                .ticket;
        }
        // Budi is assigned: the warning goes to him, level 1 to his supervisor Dedi (Kasi).
        let budi = fx.agency.staff_by_email("budi@staf.example.go.id").expect("budi").as_ref();
        ticket.assignee = Some(budi.clone());
        let at = |s: &str| due_alerts(&ticket, &fx.catalog, &fx.agency, wib(s));
        // Due Tuesday 08:00; 80 % of the 7.5-hour day is Monday 15:00.
        let warning = at("2026-11-23T14:59");
        assert!(warning.alerts.is_empty(), "before 80 % of a working day");
        let warning = at("2026-11-23T15:01");
        assert_eq!(levels(&warning), vec![AlertLevel::Warning]);
        assert_eq!(warning.alerts[0].recipients, vec![budi.clone()]);
        ticket = record_handled(&ticket, &warning);
        let l1 = due_alerts(&ticket, &fx.catalog, &fx.agency, wib("2026-11-24T08:05"));
        assert_eq!(levels(&l1), vec![AlertLevel::Level1]);
        assert_eq!(
            l1.alerts[0].recipients.iter().map(|p| p.name.as_str()).collect::<Vec<_>>(),
            ["Dedi Kepala Seksi Jaringan"]
        );
        assert_eq!(l1.alerts[0].told_before, ["Budi Teknisi"]);
        assert_eq!(l1.alerts[0].key, format!("alert:{}:v4:level1", ticket.number));
        ticket = record_handled(&ticket, &l1);
        assert!(
            due_alerts(&ticket, &fx.catalog, &fx.agency, wib("2026-11-24T08:06")).alerts.is_empty(),
            "once per level"
        );
        // Days later: level 2 (Kabid) and level 3 (Kadis) together.
        let both = due_alerts(&ticket, &fx.catalog, &fx.agency, wib("2026-11-30T08:00"));
        assert_eq!(levels(&both), vec![AlertLevel::Level2, AlertLevel::Level3]);
        assert_eq!(both.alerts[1].recipients[0].name, "Hendra Kepala Dinas");
        assert!(both.alerts[1].told_before.contains(&"Wati Kepala Bidang".to_string()));
    }

    #[test]
    fn the_whole_service_limit_is_checked_too() {
        let fx = fx("gorontalo");
        let start = "2026-11-23T00:00:00Z".parse::<Timestamp>().expect("t"); // 08:00 WITA
        let ticket = open(&fx, "jaringan-intra-provinsi", start);
        let later = "2026-11-24T02:00:00Z".parse::<Timestamp>().expect("t"); // next day 10:00 WITA
        let alerts = due_alerts(&ticket, &fx.catalog, &fx.agency, later);
        let service: Vec<&DueAlert> =
            alerts.alerts.iter().filter(|a| matches!(a.scope, Scope::Service { .. })).collect();
        assert!(!service.is_empty(), "8 working hours passed");
        assert!(service.iter().any(|a| a.level == AlertLevel::Level1 && a.roles == vec![Role::Kabid]));
    }
}
