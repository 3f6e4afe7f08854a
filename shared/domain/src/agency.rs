//! The agency profile: one data file per agency (see `agencies/`) with its name, time
//! zone, office hours, regional holidays, mail addresses, the SOP variants it runs, its
//! units (OPD) and its escalation chain. It is validated against the catalog on load.

use std::collections::{BTreeMap, BTreeSet};

use jiff::SignedDuration;
use jiff::civil::Date;
use jiff::tz::TimeZone;
use serde::Deserialize;

use crate::calendar::{Holiday, HolidayKind, NationalCalendar, WeeklyHours, WorkingCalendar};
use crate::escalation::{Chain, ThresholdOverride, Thresholds};
use crate::roles::Role;
use crate::sop::{Catalog, CatalogError, Problem, Procedure};
use crate::ticket::StaffRef;

/// A validated agency profile.
#[derive(Debug, Clone)]
pub struct Agency {
    pub id: String,
    pub name: String,
    pub short_name: String,
    pub region: String,
    /// IANA zone: Asia/Jakarta (WIB), Asia/Makassar (WITA) or Asia/Jayapura (WIT).
    pub time_zone: String,
    /// The zone's Indonesian abbreviation: WIB, WITA or WIT.
    pub zone_label: String,
    /// The domain of the service address (and of our Message-IDs).
    pub mail_domain: String,
    /// Where requests come in, and the sender of everything Loket sends.
    pub service_address: String,
    pub sender_name: String,
    /// Procedure variant ids, one per service.
    pub procedures: Vec<String>,
    /// The triage procedure for requests no keyword matches.
    pub triage: String,
    pub units: Vec<String>,
    /// The staff directory: who holds which roles, and who supervises whom.
    pub staff: Vec<StaffMember>,
    /// A requester's reply reopens a closed ticket within this many days.
    pub reopen_window_days: u32,
    /// New tickets per sender address per hour before further mail is quarantined.
    pub max_new_tickets_per_sender_per_hour: u32,
    /// New web-form requests per source IP address per hour. Generous by default: a
    /// government network puts many units behind one public address.
    pub max_web_requests_per_address_per_hour: u32,
    pub calendar: WorkingCalendar,
    pub chain: Chain,
    pub thresholds: Thresholds,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAgency {
    id: String,
    name: String,
    short_name: String,
    region: String,
    time_zone: String,
    mail_domain: String,
    service_address: String,
    sender_name: String,
    procedures: Vec<String>,
    triage: String,
    #[serde(default)]
    units: Vec<String>,
    reopen_window_days: Option<u32>,
    max_new_tickets_per_sender_per_hour: Option<u32>,
    max_web_requests_per_address_per_hour: Option<u32>,
    hours: Option<BTreeMap<String, Vec<String>>>,
    ramadan_hours: Option<BTreeMap<String, Vec<String>>>,
    #[serde(default)]
    holidays: Vec<RawHoliday>,
    escalation: Option<RawEscalation>,
    #[serde(default)]
    staff: Vec<RawStaff>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStaff {
    id: String,
    name: String,
    email: String,
    roles: Vec<String>,
    supervisor: Option<String>,
}

/// A member of staff (agency data): name, email, roles, supervisor.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StaffMember {
    pub id: String,
    pub name: String,
    pub email: String,
    pub roles: Vec<Role>,
    #[serde(default)]
    pub supervisor: Option<String>,
}

impl StaffMember {
    pub fn as_ref(&self) -> StaffRef {
        StaffRef { id: self.id.clone(), name: self.name.clone(), email: self.email.clone() }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHoliday {
    date: Date,
    name: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEscalation {
    #[serde(flatten)]
    thresholds: ThresholdOverride,
    chain: Option<BTreeMap<String, String>>,
}

impl Agency {
    /// Parses and validates a profile against the catalog and the national calendar.
    pub fn from_toml(
        file: &str,
        text: &str,
        catalog: &Catalog,
        national: &NationalCalendar,
    ) -> Result<Agency, CatalogError> {
        let err = |field: &str, problem: Problem| CatalogError {
            file: file.to_string(),
            step: None,
            field: field.to_string(),
            problem,
        };
        let invalid = |field: &str, msg: String| err(field, Problem::InvalidValue(msg));
        let raw: RawAgency = toml::from_str(text).map_err(|e| err("", Problem::Parse(e.message().to_string())))?;

        let zone_label = match raw.time_zone.as_str() {
            "Asia/Jakarta" | "Asia/Pontianak" => "WIB",
            "Asia/Makassar" => "WITA",
            "Asia/Jayapura" => "WIT",
            other => {
                return Err(invalid(
                    "time_zone",
                    format!(
                        "'{other}' is not an Indonesian zone (Asia/Jakarta = WIB, Asia/Makassar = WITA, Asia/Jayapura = WIT)"
                    ),
                ));
            }
        };
        let tz = TimeZone::get(&raw.time_zone).map_err(|e| invalid("time_zone", e.to_string()))?;
        let address = &raw.service_address;
        let Some((local, domain)) = address.split_once('@') else {
            return Err(invalid("service_address", format!("'{address}' is not an email address")));
        };
        if local.is_empty() || local.contains('+') || !domain.eq_ignore_ascii_case(&raw.mail_domain) {
            return Err(invalid(
                "service_address",
                format!("'{address}' must be a plain address at the mail domain {}", raw.mail_domain),
            ));
        }

        let mut services = BTreeSet::new();
        for (i, id) in raw.procedures.iter().enumerate() {
            let field = format!("procedures[{i}]");
            let procedure = catalog.get(id).ok_or_else(|| err(&field, Problem::LeadsNowhere(id.clone())))?;
            if procedure.is_triage() {
                return Err(invalid(&field, format!("'{id}' is a triage procedure: name it in `triage`")));
            }
            if !services.insert(procedure.service.clone()) {
                return Err(err(&field, Problem::DuplicateId(procedure.service.clone())));
            }
        }
        if raw.procedures.is_empty() {
            return Err(err("procedures", Problem::Missing));
        }
        match catalog.get(&raw.triage) {
            Some(p) if p.is_triage() => {}
            Some(_) => return Err(invalid("triage", format!("'{}' has no triage step", raw.triage))),
            None => return Err(err("triage", Problem::LeadsNowhere(raw.triage.clone()))),
        }

        let normal = match &raw.hours {
            Some(map) => WeeklyHours::from_map(map).map_err(|e| invalid("hours", e.to_string()))?,
            None => WeeklyHours::government_default(),
        };
        let ramadan = match &raw.ramadan_hours {
            Some(map) => WeeklyHours::from_map(map).map_err(|e| invalid("ramadan_hours", e.to_string()))?,
            None => WeeklyHours::ramadan_default(),
        };
        let mut holidays = national.holidays.clone();
        holidays.extend(raw.holidays.iter().map(|h| Holiday {
            date: h.date,
            kind: HolidayKind::LiburDaerah,
            name: h.name.clone(),
            provisional: false,
        }));
        let calendar = WorkingCalendar::new(tz, normal, ramadan, national.ramadan.clone(), holidays);

        let (thresholds, chain) = match &raw.escalation {
            None => (Thresholds::default(), Chain::government_default()),
            Some(esc) => {
                esc.thresholds.validate().map_err(|m| invalid("escalation", m))?;
                let chain = match &esc.chain {
                    None => Chain::government_default(),
                    Some(map) => {
                        let mut supervisor = BTreeMap::new();
                        for (from, to) in map {
                            let field = format!("escalation.chain.{from}");
                            let from: Role =
                                from.parse().map_err(|_| err(&field, Problem::UnknownRole(from.clone())))?;
                            let to: Role = to.parse().map_err(|_| err(&field, Problem::UnknownRole(to.clone())))?;
                            if !from.is_staff() || !to.is_staff() {
                                return Err(invalid(&field, "the chain links staff roles only".into()));
                            }
                            supervisor.insert(from, to);
                        }
                        Chain::new(supervisor).map_err(|m| invalid("escalation.chain", m))?
                    }
                };
                (esc.thresholds.apply(Thresholds::default()), chain)
            }
        };

        let mut staff = Vec::new();
        let mut ids = BTreeSet::new();
        let mut emails = BTreeSet::new();
        for (i, member) in raw.staff.iter().enumerate() {
            let field = |f: &str| format!("staff[{i}].{f}");
            if !ids.insert(member.id.clone()) {
                return Err(err(&field("id"), Problem::DuplicateId(member.id.clone())));
            }
            let email = member.email.trim().to_ascii_lowercase();
            if !email.contains('@') || !emails.insert(email.clone()) {
                return Err(invalid(&field("email"), format!("'{}' is not a unique email address", member.email)));
            }
            let roles = member
                .roles
                .iter()
                .map(|r| r.parse::<Role>().map_err(|_| err(&field("roles"), Problem::UnknownRole(r.clone()))))
                .collect::<Result<Vec<_>, _>>()?;
            if roles.is_empty() || roles.contains(&Role::Pemohon) {
                return Err(invalid(&field("roles"), "staff hold one or more staff roles".into()));
            }
            staff.push(StaffMember {
                id: member.id.clone(),
                name: member.name.clone(),
                email,
                roles,
                supervisor: member.supervisor.clone(),
            });
        }
        for (i, member) in staff.iter().enumerate() {
            if let Some(sup) = &member.supervisor
                && !ids.contains(sup)
            {
                return Err(err(&format!("staff[{i}].supervisor"), Problem::LeadsNowhere(sup.clone())));
            }
        }

        let units: BTreeSet<&String> = raw.units.iter().collect();
        if units.len() != raw.units.len() {
            return Err(invalid("units", "a unit is listed twice".into()));
        }

        Ok(Agency {
            id: raw.id,
            name: raw.name,
            short_name: raw.short_name,
            region: raw.region,
            time_zone: raw.time_zone,
            zone_label: zone_label.to_string(),
            mail_domain: raw.mail_domain.to_ascii_lowercase(),
            service_address: raw.service_address.to_ascii_lowercase(),
            sender_name: raw.sender_name,
            procedures: raw.procedures,
            triage: raw.triage,
            units: raw.units,
            staff,
            reopen_window_days: raw.reopen_window_days.unwrap_or(14),
            max_new_tickets_per_sender_per_hour: raw.max_new_tickets_per_sender_per_hour.unwrap_or(20),
            max_web_requests_per_address_per_hour: raw.max_web_requests_per_address_per_hour.unwrap_or(300),
            calendar,
            chain,
            thresholds,
        })
    }

    /// Loads an embedded profile by id (`agencies/<id>.toml`).
    pub fn embedded(id: &str, catalog: &Catalog) -> Result<Agency, CatalogError> {
        let national = NationalCalendar::embedded().map_err(|e| CatalogError {
            file: "id-holidays.toml".into(),
            step: None,
            field: "holidays".into(),
            problem: Problem::Parse(e.to_string()),
        })?;
        let (file, text) = crate::embedded::AGENCY_FILES
            .iter()
            .find(|(name, _)| name.strip_suffix(".toml").and_then(|n| n.rsplit('/').next()) == Some(id))
            .ok_or_else(|| CatalogError {
                file: format!("agencies/{id}.toml"),
                step: None,
                field: "id".into(),
                problem: Problem::LeadsNowhere(id.to_string()),
            })?;
        Agency::from_toml(file, text, catalog, &national)
    }

    /// Ids of the embedded profiles.
    pub fn embedded_ids() -> Vec<&'static str> {
        crate::embedded::AGENCY_FILES
            .iter()
            .filter_map(|(name, _)| name.strip_suffix(".toml").and_then(|n| n.rsplit('/').next()))
            .collect()
    }

    /// The agency's procedures, in profile order.
    pub fn procedures<'c>(&self, catalog: &'c Catalog) -> Vec<&'c Procedure> {
        self.procedures.iter().filter_map(|id| catalog.get(id)).collect()
    }

    /// Thresholds for a procedure: the agency's, changed by the procedure's own.
    pub fn thresholds_for(&self, procedure: &Procedure) -> Thresholds {
        procedure.escalation.map_or(self.thresholds, |o| o.apply(self.thresholds))
    }

    /// The staff holding a role.
    pub fn staff_with(&self, role: Role) -> Vec<StaffRef> {
        self.staff.iter().filter(|m| m.roles.contains(&role)).map(StaffMember::as_ref).collect()
    }

    /// A staff member by registered email address (case-insensitive).
    pub fn staff_by_email(&self, email: &str) -> Option<&StaffMember> {
        let email = email.trim().to_ascii_lowercase();
        self.staff.iter().find(|m| m.email == email)
    }

    /// The length of a normal working day, to describe durations in days.
    pub fn working_day(&self) -> SignedDuration {
        SignedDuration::from_mins(450)
    }
}
