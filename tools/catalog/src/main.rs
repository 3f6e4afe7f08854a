//! `loket-catalog`: loads the embedded SOP catalog and agency profiles, validates them and
//! prints what was loaded. `loket-catalog check FILE...` validates files that are not
//! embedded yet (a new SOP variant or agency profile) with the same rules.

use std::process::ExitCode;

use loket_domain::calendar::NationalCalendar;
use loket_domain::sop::{Catalog, StepKind};
use loket_domain::{Agency, Procedure};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        None | Some("show") => show(),
        Some("check") if args.len() > 1 => check(&args[1..]),
        _ => Err(anyhow::anyhow!("usage: loket-catalog [show] | loket-catalog check FILE...")),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn show() -> anyhow::Result<()> {
    let catalog = Catalog::embedded()?;
    let national = NationalCalendar::embedded()?;
    println!("SOP catalog: {} procedure variants", catalog.len());
    for p in catalog.procedures() {
        print_procedure(p);
    }
    let provisional = national.holidays.iter().filter(|h| h.provisional).count();
    println!(
        "\nNational calendar: {} holidays and cuti bersama ({} provisional), {} Ramadan period(s)",
        national.holidays.len(),
        provisional,
        national.ramadan.len()
    );
    for id in Agency::embedded_ids() {
        let agency = Agency::embedded(id, &catalog)?;
        println!("\nAgency '{}': {} ({}, {})", agency.id, agency.name, agency.time_zone, agency.zone_label);
        println!("  requests to {} ; {} units", agency.service_address, agency.units.len());
        for p in agency.procedures(&catalog) {
            println!("  - {} [{}] {}", p.id, p.service, p.variant);
        }
    }
    println!("\nAll files are valid.");
    Ok(())
}

fn print_procedure(p: &Procedure) {
    let limit = p.service_limit.as_ref().map(|s| format!(", whole service {}", s.limit.label())).unwrap_or_default();
    println!("\n{} [{}] v{}: {} ({}){limit}", p.id, p.service, p.version, p.name, p.variant);
    for s in &p.steps {
        let roles: Vec<&str> = s.roles.iter().map(|r| r.as_str()).collect();
        let kind = match s.kind {
            StepKind::Intake => " (intake)",
            StepKind::Requester => " (waits on requester)",
            StepKind::Notice => " (automatic notice)",
            StepKind::Triage => " (triage)",
            StepKind::Work if s.is_decision() => " (decision)",
            StepKind::Work => "",
        };
        println!("  {:>2}. {:<26} {:<22} {:>14}{kind}", s.no, s.id, roles.join("+"), s.limit.label());
        for o in &s.outcomes {
            println!("        {} -> {:?}", o.keyword, o.goto);
        }
    }
}

fn check(files: &[String]) -> anyhow::Result<()> {
    let mut catalog_files: Vec<(String, String)> = loket_domain::embedded::SOP_FILES
        .iter()
        .map(|(name, text)| ((*name).to_string(), (*text).to_string()))
        .collect();
    let mut profiles = Vec::new();
    for path in files {
        let text = std::fs::read_to_string(path).map_err(|e| anyhow::anyhow!("{path}: {e}"))?;
        if text.contains("[[steps]]") {
            catalog_files.retain(|(name, _)| !name.ends_with(&format!("/{}", file_name(path))));
            catalog_files.push((path.clone(), text));
        } else {
            profiles.push((path.clone(), text));
        }
    }
    let catalog = Catalog::from_files(catalog_files.iter().map(|(n, t)| (n.as_str(), t.as_str())))?;
    let national = NationalCalendar::embedded()?;
    for (path, text) in &profiles {
        let agency = Agency::from_toml(path, text, &catalog, &national)?;
        println!("{path}: agency '{}' is valid", agency.id);
    }
    for path in files.iter().filter(|p| !profiles.iter().any(|(q, _)| q == *p)) {
        println!("{path}: procedure file is valid");
    }
    Ok(())
}

fn file_name(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}
