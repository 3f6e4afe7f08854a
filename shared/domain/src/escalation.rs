//! Escalation policy: when a step (or a whole service) runs late, who is told, and when.
//!
//! Pure: given a step's start, its limit, the calendar and the thresholds, [`AlertPlan`]
//! holds the instant of each alert level. The SLA sweep sends each level at most once per
//! step visit; that "once" is the store's business (a claim record), not this module's.

use std::collections::{BTreeMap, BTreeSet};

use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};

use crate::calendar::WorkingCalendar;
use crate::limit::TimeLimit;
use crate::roles::Role;

/// Alert levels, in the order they fire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertLevel {
    /// Before the limit, to the performer.
    Warning,
    /// At the limit, to the performer's supervisor (Kasi or Koordinator).
    Level1,
    /// Later, to the next level up (usually the Kabid).
    Level2,
    /// Later still, to the top (usually the Kadis).
    Level3,
}

impl AlertLevel {
    pub const ALL: [AlertLevel; 4] = [AlertLevel::Warning, AlertLevel::Level1, AlertLevel::Level2, AlertLevel::Level3];

    pub fn as_str(self) -> &'static str {
        match self {
            AlertLevel::Warning => "warning",
            AlertLevel::Level1 => "level1",
            AlertLevel::Level2 => "level2",
            AlertLevel::Level3 => "level3",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            AlertLevel::Warning => "Peringatan",
            AlertLevel::Level1 => "Eskalasi tingkat 1",
            AlertLevel::Level2 => "Eskalasi tingkat 2",
            AlertLevel::Level3 => "Eskalasi tingkat 3",
        }
    }
}

/// Lateness needed for a level: the larger of a share of the limit and a minimum.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Lateness {
    /// Percent of the step's limit (100 = as late again as the limit itself).
    pub percent_of_limit: u32,
    /// Working minutes, at least.
    pub min_minutes: u32,
}

/// When each level fires. Defaults: warning at 80 % of the limit; level 1 at the limit;
/// level 2 once the step is late by its own limit (at least 30 working minutes); level 3
/// once it is late by three times its limit (at least 2 working hours). Short limits
/// (2 minutes) therefore do not wake the Kadis a few minutes after a slip.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Thresholds {
    pub warning_percent: u32,
    pub level2: Lateness,
    pub level3: Lateness,
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds {
            warning_percent: 80,
            level2: Lateness { percent_of_limit: 100, min_minutes: 30 },
            level3: Lateness { percent_of_limit: 300, min_minutes: 120 },
        }
    }
}

/// Per-agency or per-procedure changes to the thresholds; absent fields keep the default.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ThresholdOverride {
    pub warning_percent: Option<u32>,
    pub level2: Option<Lateness>,
    pub level3: Option<Lateness>,
}

impl ThresholdOverride {
    pub fn validate(&self) -> Result<(), String> {
        if let Some(p) = self.warning_percent
            && !(1..100).contains(&p)
        {
            return Err(format!("warning_percent {p} must be between 1 and 99"));
        }
        Ok(())
    }

    pub fn apply(&self, base: Thresholds) -> Thresholds {
        Thresholds {
            warning_percent: self.warning_percent.unwrap_or(base.warning_percent),
            level2: self.level2.unwrap_or(base.level2),
            level3: self.level3.unwrap_or(base.level3),
        }
    }
}

/// Who supervises whom ("berjenjang"): technician → Kasi, helpdesk → Koordinator,
/// Kasi/Koordinator → Kabid, Kabid → Kadis.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Chain {
    supervisor: BTreeMap<Role, Role>,
}

impl Chain {
    pub fn new(supervisor: BTreeMap<Role, Role>) -> Result<Chain, String> {
        let chain = Chain { supervisor };
        for role in Role::ALL {
            // Walking up must end: no cycles.
            let mut seen = vec![role];
            let mut current = role;
            while let Some(&up) = chain.supervisor.get(&current) {
                if seen.contains(&up) {
                    return Err(format!("the chain loops at '{up}'"));
                }
                seen.push(up);
                current = up;
            }
        }
        Ok(chain)
    }

    pub fn government_default() -> Chain {
        let supervisor = BTreeMap::from([
            (Role::Teknisi, Role::Kasi),
            (Role::Helpdesk, Role::Koordinator),
            (Role::Kasi, Role::Kabid),
            (Role::Koordinator, Role::Kabid),
            (Role::Kabid, Role::Kadis),
        ]);
        Chain { supervisor }
    }

    pub fn supervisor(&self, role: Role) -> Option<Role> {
        self.supervisor.get(&role).copied()
    }

    /// The roles told at a level, for a step performed by `performers`. Level 1 goes one
    /// role up the chain from each performer, level 2 two roles, level 3 three. A role
    /// among the performers is passed over, and so is a post nobody holds (`staffed` says
    /// whether anyone does), so an empty Kasi post does not swallow level 1; a role told at
    /// a lower level is not told again. Empty when nobody is above (the top performs).
    pub fn recipients(&self, level: AlertLevel, performers: &[Role], staffed: impl Fn(Role) -> bool) -> Vec<Role> {
        let depth = match level {
            AlertLevel::Warning => return performers.to_vec(),
            AlertLevel::Level1 => 1,
            AlertLevel::Level2 => 2,
            AlertLevel::Level3 => 3,
        };
        // Each performer's line of supervisors who are not performers and have someone.
        let lines: Vec<Vec<Role>> = performers
            .iter()
            .map(|&performer| {
                let mut line = Vec::new();
                let mut role = self.supervisor(performer);
                while let Some(up) = role {
                    if !performers.contains(&up) && !line.contains(&up) && staffed(up) {
                        line.push(up);
                    }
                    role = self.supervisor(up);
                }
                line
            })
            .collect();
        let at = |hop: usize| lines.iter().filter_map(move |line| line.get(hop).copied());
        let lower: BTreeSet<Role> = (0..depth - 1).flat_map(at).collect();
        let here: BTreeSet<Role> = at(depth - 1).filter(|r| !lower.contains(r)).collect();
        here.into_iter().collect()
    }
}

/// The instants at which each alert level of one step visit (or of a whole service) fires.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlertPlan {
    pub due: Timestamp,
    /// In level order.
    pub alerts: Vec<(AlertLevel, Timestamp)>,
}

impl AlertPlan {
    /// Plans the alerts of a step starting at `start` with `limit`.
    pub fn for_step(cal: &WorkingCalendar, start: Timestamp, limit: TimeLimit, thresholds: &Thresholds) -> AlertPlan {
        let due = cal.add_working(start, limit);
        AlertPlan::from_due(cal, start, due, thresholds)
    }

    /// Plans the alerts given the start and the due instant (e.g. a resumed step whose
    /// due instant moved by the time it waited on the requester).
    pub fn from_due(cal: &WorkingCalendar, start: Timestamp, due: Timestamp, thresholds: &Thresholds) -> AlertPlan {
        let working_limit = cal.working_between(start, due);
        let share = |percent: u32| {
            SignedDuration::from_nanos(
                i64::try_from(working_limit.as_nanos() * i128::from(percent) / 100).unwrap_or(i64::MAX),
            )
        };
        let late_by = |l: Lateness| share(l.percent_of_limit).max(SignedDuration::from_mins(i64::from(l.min_minutes)));
        let warning = cal.add_working_duration(start, share(thresholds.warning_percent));
        let level2 = cal.add_working_duration(due, late_by(thresholds.level2));
        let level3 = cal.add_working_duration(due, late_by(thresholds.level3)).max(level2);
        AlertPlan {
            due,
            alerts: vec![
                (AlertLevel::Warning, warning.min(due)),
                (AlertLevel::Level1, due),
                (AlertLevel::Level2, level2),
                (AlertLevel::Level3, level3),
            ],
        }
    }

    pub fn at(&self, level: AlertLevel) -> Option<Timestamp> {
        self.alerts.iter().find(|(l, _)| *l == level).map(|(_, t)| *t)
    }

    /// The levels that should go out now, given the highest one already handled. A warning
    /// is skipped once the limit itself has passed (level 1 says more).
    pub fn due_levels(&self, handled: Option<AlertLevel>, now: Timestamp) -> Vec<AlertLevel> {
        // A step finished at its due instant is on time (`StepRecord::within_limit`), so the
        // escalations fire only once the instant has passed; the warning at its instant.
        let reached_at = |l: AlertLevel, t: Timestamp| if l == AlertLevel::Warning { t <= now } else { t < now };
        let reached: Vec<AlertLevel> =
            self.alerts.iter().filter(|(l, t)| reached_at(*l, *t) && Some(*l) > handled).map(|(l, _)| *l).collect();
        let past_limit = reached.iter().any(|l| *l >= AlertLevel::Level1);
        reached.into_iter().filter(|l| !(past_limit && *l == AlertLevel::Warning)).collect()
    }

    /// When the sweep must look again, given the highest level handled; `None` once the
    /// last level is out.
    pub fn next_check(&self, handled: Option<AlertLevel>) -> Option<Timestamp> {
        self.alerts.iter().find(|(l, _)| Some(*l) > handled).map(|(_, t)| *t)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::date;

    fn cal() -> WorkingCalendar {
        WorkingCalendar::indonesia_default("Asia/Jakarta").expect("calendar")
    }

    fn wib(cal: &WorkingCalendar, h: i8, m: i8) -> Timestamp {
        cal.time_zone().to_ambiguous_timestamp(date(2026, 11, 23).at(h, m, 0, 0)).compatible().expect("valid")
    }

    #[test]
    fn levels_fire_in_order_with_defaults() {
        let cal = cal();
        let start = wib(&cal, 8, 0);
        let plan = AlertPlan::for_step(&cal, start, TimeLimit::Minutes(60), &Thresholds::default());
        assert_eq!(plan.due, wib(&cal, 9, 0));
        assert_eq!(plan.at(AlertLevel::Warning), Some(wib(&cal, 8, 48)));
        assert_eq!(plan.at(AlertLevel::Level1), Some(wib(&cal, 9, 0)));
        assert_eq!(plan.at(AlertLevel::Level2), Some(wib(&cal, 10, 0)));
        // 3 × 60 min late = 3 h of working time: 09:00 → 12:00, the start of the break.
        assert_eq!(plan.at(AlertLevel::Level3), Some(wib(&cal, 12, 0)));
    }

    #[test]
    fn short_limits_use_the_minimum_lateness() {
        let cal = cal();
        let start = wib(&cal, 8, 0);
        let plan = AlertPlan::for_step(&cal, start, TimeLimit::Minutes(2), &Thresholds::default());
        assert_eq!(plan.at(AlertLevel::Level2), Some(wib(&cal, 8, 32)));
        assert_eq!(plan.at(AlertLevel::Level3), Some(wib(&cal, 10, 2)));
    }

    #[test]
    fn each_level_once_and_no_stale_warning() {
        let cal = cal();
        let plan = AlertPlan::for_step(&cal, wib(&cal, 8, 0), TimeLimit::Minutes(60), &Thresholds::default());
        assert!(plan.due_levels(None, wib(&cal, 8, 40)).is_empty());
        assert_eq!(plan.due_levels(None, wib(&cal, 8, 50)), vec![AlertLevel::Warning]);
        assert!(plan.due_levels(Some(AlertLevel::Warning), wib(&cal, 8, 55)).is_empty());
        // A sweep that missed the warning and the limit: level 1 and 2 together, no warning.
        assert_eq!(plan.due_levels(None, wib(&cal, 10, 5)), vec![AlertLevel::Level1, AlertLevel::Level2]);
        assert_eq!(plan.next_check(Some(AlertLevel::Level2)), plan.at(AlertLevel::Level3));
        assert_eq!(plan.next_check(Some(AlertLevel::Level3)), None);
    }

    #[test]
    fn a_step_is_late_only_once_its_due_instant_has_passed() {
        let cal = cal();
        let plan = AlertPlan::for_step(&cal, wib(&cal, 8, 0), TimeLimit::Minutes(60), &Thresholds::default());
        let due = plan.due;
        assert_eq!(plan.due_levels(Some(AlertLevel::Warning), due), Vec::<AlertLevel>::new());
        let just_after = due + SignedDuration::from_nanos(1);
        assert_eq!(plan.due_levels(Some(AlertLevel::Warning), just_after), vec![AlertLevel::Level1]);
    }

    #[test]
    fn chain_goes_up_from_the_performer() {
        let chain = Chain::government_default();
        let all = |_: Role| true;
        assert_eq!(chain.recipients(AlertLevel::Level1, &[Role::Teknisi], all), vec![Role::Kasi]);
        assert_eq!(chain.recipients(AlertLevel::Level2, &[Role::Teknisi], all), vec![Role::Kabid]);
        assert_eq!(chain.recipients(AlertLevel::Level3, &[Role::Teknisi], all), vec![Role::Kadis]);
        assert_eq!(chain.recipients(AlertLevel::Level1, &[Role::Helpdesk], all), vec![Role::Koordinator]);
        assert_eq!(chain.recipients(AlertLevel::Level1, &[Role::Kabid], all), vec![Role::Kadis]);
        assert!(chain.recipients(AlertLevel::Level2, &[Role::Kabid], all).is_empty());
        assert!(chain.recipients(AlertLevel::Level1, &[Role::Kadis], all).is_empty());
        assert_eq!(
            chain.recipients(AlertLevel::Level1, &[Role::Teknisi, Role::Helpdesk], all),
            vec![Role::Koordinator, Role::Kasi]
        );
        assert_eq!(chain.recipients(AlertLevel::Level2, &[Role::Teknisi, Role::Helpdesk], all), vec![Role::Kabid]);
        assert_eq!(chain.recipients(AlertLevel::Level3, &[Role::Teknisi, Role::Helpdesk], all), vec![Role::Kadis]);
        // A step shared by Kadis and Kabid escalates to nobody above them.
        assert!(chain.recipients(AlertLevel::Level1, &[Role::Kadis, Role::Kabid], all).is_empty());
    }

    #[test]
    fn a_role_told_at_a_lower_level_is_not_told_again() {
        // Performed by the technician and the Kasi together: the Kabid first, then the
        // Kadis, each once (the Kadis used to be told at level 2 and again at level 3).
        let chain = Chain::government_default();
        let both = [Role::Teknisi, Role::Kasi];
        let all = |_: Role| true;
        assert_eq!(chain.recipients(AlertLevel::Level1, &both, all), vec![Role::Kabid]);
        assert_eq!(chain.recipients(AlertLevel::Level2, &both, all), vec![Role::Kadis]);
        assert!(chain.recipients(AlertLevel::Level3, &both, all).is_empty());
    }

    #[test]
    fn a_post_nobody_holds_is_passed_over() {
        let chain = Chain::government_default();
        let no_kasi = |r: Role| r != Role::Kasi;
        assert_eq!(chain.recipients(AlertLevel::Level1, &[Role::Teknisi], no_kasi), vec![Role::Kabid]);
        assert_eq!(chain.recipients(AlertLevel::Level2, &[Role::Teknisi], no_kasi), vec![Role::Kadis]);
        assert!(chain.recipients(AlertLevel::Level3, &[Role::Teknisi], no_kasi).is_empty());
    }

    #[test]
    fn chain_rejects_loops() {
        let looped = BTreeMap::from([(Role::Kasi, Role::Kabid), (Role::Kabid, Role::Kasi)]);
        assert!(Chain::new(looped).is_err());
    }
}
