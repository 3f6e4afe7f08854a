//! The service-level report the service standard asks for (evaluated at least yearly):
//! per procedure and step, how many visits, the median and p90 working time, and the
//! share finished within the step's limit; per procedure with a whole-service standard
//! (the province's 8 hours), the same for the whole service. Pure: tickets in, figures out.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::sop::{Catalog, StepKind};
use crate::ticket::{Status, Ticket};

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StepFigures {
    pub procedure: String,
    pub step: String,
    pub no: u32,
    pub label: String,
    pub limit: String,
    pub count: usize,
    pub median_working_secs: i64,
    pub p90_working_secs: i64,
    /// Share of visits finished by their deadline (0..=1); `None` when no visit had one.
    pub within_limit: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ServiceFigures {
    pub procedure: String,
    pub name: String,
    pub standard: String,
    pub standard_secs: i64,
    pub count: usize,
    pub median_working_secs: i64,
    pub p90_working_secs: i64,
    pub within_standard: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SlaReport {
    pub steps: Vec<StepFigures>,
    pub services: Vec<ServiceFigures>,
}

/// Nearest-rank percentile of sorted values.
fn percentile(sorted: &[i64], p: usize) -> i64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = (p * sorted.len()).div_ceil(100).max(1);
    sorted[rank.min(sorted.len()) - 1]
}

fn share(hits: usize, of: usize) -> Option<f64> {
    (of > 0).then(|| hits as f64 / of as f64)
}

/// Builds the report over the given tickets (typically those closed in a period).
pub fn build(tickets: &[Ticket], catalog: &Catalog) -> SlaReport {
    // (procedure, step) -> (working seconds, within-limit flags)
    let mut steps: BTreeMap<(String, usize), (Vec<i64>, Vec<bool>)> = BTreeMap::new();
    let mut services: BTreeMap<String, Vec<i64>> = BTreeMap::new();
    for ticket in tickets {
        let Some(procedure) = catalog.get(&ticket.procedure) else { continue };
        for record in &ticket.history {
            // Each step under the procedure it belongs to: a routed ticket's triage steps are
            // triage's, even where an id matches one of the new procedure's.
            let Some(owner) = record.procedure.as_ref().map_or(Some(procedure), |id| catalog.get(id)) else {
                continue;
            };
            let Some(index) = owner.step_index(&record.step) else { continue };
            // The requester's own steps (confirming a schedule) are not staff work.
            if matches!(owner.steps[index].kind, StepKind::Intake | StepKind::Notice | StepKind::Requester) {
                continue;
            }
            let entry = steps.entry((owner.id.clone(), index)).or_default();
            entry.0.push(record.working_secs);
            if let Some(ok) = record.within_limit() {
                entry.1.push(ok);
            }
        }
        if ticket.status == Status::Done
            && procedure.service_limit.is_some()
            && let Some(secs) = ticket.service_working_secs
        {
            services.entry(procedure.id.clone()).or_default().push(secs);
        }
    }
    let steps = steps
        .into_iter()
        .filter_map(|((procedure_id, index), (mut secs, flags))| {
            let step = catalog.get(&procedure_id)?.steps.get(index)?;
            secs.sort_unstable();
            Some(StepFigures {
                procedure: procedure_id,
                step: step.id.clone(),
                no: step.no,
                label: step.label.clone(),
                limit: step.limit.label(),
                count: secs.len(),
                median_working_secs: percentile(&secs, 50),
                p90_working_secs: percentile(&secs, 90),
                within_limit: share(flags.iter().filter(|ok| **ok).count(), flags.len()),
            })
        })
        .collect();
    let services = services
        .into_iter()
        .filter_map(|(procedure_id, mut secs)| {
            let procedure = catalog.get(&procedure_id)?;
            let limit = procedure.service_limit.as_ref()?;
            // Whole-service standards are hours (the seeds' 8 hours); days have no fixed length.
            let standard_secs = limit.limit.fixed_seconds()?;
            secs.sort_unstable();
            let within = secs.iter().filter(|s| **s <= standard_secs).count();
            Some(ServiceFigures {
                procedure: procedure_id,
                name: procedure.name.clone(),
                standard: limit.limit.label(),
                standard_secs,
                count: secs.len(),
                median_working_secs: percentile(&secs, 50),
                p90_working_secs: percentile(&secs, 90),
                within_standard: share(within, secs.len()),
            })
        })
        .collect();
    SlaReport { steps, services }
}

fn csv_field(text: &str) -> String {
    if text.contains([',', '"', '\n', '\r']) || text.starts_with(['=', '+', '-', '@']) {
        // Quoted; a leading formula character is neutralised for spreadsheets.
        let safe = if text.starts_with(['=', '+', '-', '@']) { format!("'{text}") } else { text.to_string() };
        format!("\"{}\"", safe.replace('"', "\"\""))
    } else {
        text.to_string()
    }
}

fn pct(value: Option<f64>) -> String {
    value.map_or_else(String::new, |v| format!("{:.1}", v * 100.0))
}

/// The report as CSV (one table: step rows, then whole-service rows), minutes as numbers.
pub fn to_csv(report: &SlaReport) -> String {
    let mut out =
        String::from("jenis,prosedur,no,langkah,batas_waktu,jumlah,median_menit,p90_menit,persen_tepat_waktu\n");
    for s in &report.steps {
        out.push_str(&format!(
            "langkah,{},{},{},{},{},{:.1},{:.1},{}\n",
            csv_field(&s.procedure),
            s.no,
            csv_field(&s.label),
            csv_field(&s.limit),
            s.count,
            s.median_working_secs as f64 / 60.0,
            s.p90_working_secs as f64 / 60.0,
            pct(s.within_limit)
        ));
    }
    for s in &report.services {
        out.push_str(&format!(
            "layanan,{},,{},{},{},{:.1},{:.1},{}\n",
            csv_field(&s.procedure),
            csv_field(&s.name),
            csv_field(&s.standard),
            s.count,
            s.median_working_secs as f64 / 60.0,
            s.p90_working_secs as f64 / 60.0,
            pct(s.within_standard)
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use jiff::{SignedDuration, Timestamp};

    use super::*;
    use crate::Role;
    use crate::agency::Agency;
    use crate::ticket::{Actor, Channel, Requester, StaffRef, TicketNumber};
    use crate::workflow::{Action, NewTicket, Workflow};

    #[test]
    fn percentiles_by_nearest_rank() {
        let v: Vec<i64> = (1..=10).collect();
        assert_eq!(percentile(&v, 50), 5);
        assert_eq!(percentile(&v, 90), 9);
        assert_eq!(percentile(&[7], 90), 7);
        assert_eq!(percentile(&[], 50), 0);
    }

    /// A request (by WhatsApp, from a unit whose name would upset a spreadsheet) opened at `at`.
    fn opened(wf: &Workflow<'_>, procedure: &str, number: TicketNumber, at: Timestamp) -> Ticket {
        let requester = Requester { email: None, name: "PIC, \"Dinas\"".into(), unit: "=Dinas".into(), phone: None };
        wf.open(NewTicket {
            number,
            procedure: procedure.into(),
            actor: Actor::requester(&requester),
            requester,
            channel: Channel::Whatsapp,
            subject: "x".into(),
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

    #[test]
    fn figures_from_walked_tickets_and_csv() {
        let catalog = Catalog::embedded().expect("catalog");
        let agency = Agency::embedded("gorontalo", &catalog).expect("agency");
        let wf = Workflow::new(&catalog, &agency);
        let procedure = catalog.get("gangguan-internet-langsung").expect("procedure");
        let start: Timestamp = "2026-11-23T00:00:00Z".parse().expect("t"); // 08:00 WITA
        let mut tickets = Vec::new();
        for (i, minutes) in [5i64, 15, 25].iter().enumerate() {
            let mut t = opened(&wf, &procedure.id, TicketNumber::new("GJI", 2026, i as u64 + 1).expect("n"), start);
            // The Kasi takes `minutes` over the 10-minute step 'laporan-kasi'.
            let kasi =
                Actor::staff(&StaffRef { id: "k".into(), name: "K".into(), email: "k@x".into() }, vec![Role::Kasi]);
            let done = Action::Complete {
                step: "laporan-kasi".into(),
                note: None,
                fields: BTreeMap::new(),
                documents: Vec::new(),
            };
            t = wf.apply(&t, &kasi, done, t.version, start + SignedDuration::from_mins(*minutes)).expect("step").ticket;
            tickets.push(t);
        }
        let report = build(&tickets, &catalog);
        let step = report.steps.iter().find(|s| s.step == "laporan-kasi").expect("figures");
        assert_eq!(step.count, 3);
        assert_eq!(step.median_working_secs, 15 * 60);
        assert_eq!(step.p90_working_secs, 25 * 60);
        assert_eq!(step.within_limit, Some(1.0 / 3.0));
        let csv = to_csv(&report);
        assert!(csv.starts_with("jenis,prosedur,no,langkah"));
        assert!(csv.contains("langkah,gangguan-internet-langsung,2,"), "{csv}");
        assert!(csv.contains(",3,15.0,25.0,33.3\n"), "{csv}");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("=SUM(A1)"), "\"'=SUM(A1)\"");
        assert_eq!(csv_field("say \"hi\"\n"), "\"say \"\"hi\"\"\n\"");
    }

    #[test]
    fn a_routed_tickets_triage_steps_count_as_triage() {
        let catalog = Catalog::embedded().expect("catalog");
        let agency = Agency::embedded("pangkalpinang", &catalog).expect("agency");
        let wf = Workflow::new(&catalog, &agency);
        let start: Timestamp = "2026-11-23T01:00:00Z".parse().expect("t"); // 08:00 WIB
        let ticket = opened(&wf, "triase", TicketNumber::new("UMM", 2026, 1).expect("n"), start);
        let helpdesk =
            Actor::staff(&StaffRef { id: "h".into(), name: "H".into(), email: "h@x".into() }, vec![Role::Helpdesk]);
        let route = Action::Route { step: "triase".into(), procedure: "jaringan-intra-kota".into(), note: None };
        let routed =
            wf.apply(&ticket, &helpdesk, route, ticket.version, start + SignedDuration::from_mins(10)).expect("route");
        let report = build(&[routed.ticket], &catalog);
        let triage = report.steps.iter().find(|s| s.step == "triase").expect("the triage step");
        assert_eq!((triage.procedure.as_str(), triage.count, triage.median_working_secs), ("triase", 1, 600));
        // Triage's intake ('penerimaan') is not the intranet procedure's step 2 of that id.
        assert!(report.steps.iter().all(|s| s.procedure != "jaringan-intra-kota"), "{:?}", report.steps);
    }
}
