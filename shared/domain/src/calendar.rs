//! Working-time calendar of an agency: weekly office hours (normal and Ramadan), national
//! holidays and cuti bersama, all in the agency's time zone.
//!
//! Instants are `jiff::Timestamp` (UTC); the calendar turns them into the agency's civil
//! time to count working time. Every step's due instant comes from [`WorkingCalendar::add_working`];
//! lateness and service-level figures come from [`WorkingCalendar::working_between`].

use std::collections::BTreeMap;
use std::fmt;

use jiff::civil::{Date, DateTime, Time, Weekday};
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};

use crate::limit::TimeLimit;

const NANOS_PER_SECOND: i64 = 1_000_000_000;
const DAY_NANOS: i64 = 86_400 * NANOS_PER_SECOND;

/// The national holiday file (`../shared/calendar/id-holidays.toml`), embedded at build
/// time by `build.rs` (override with `LOKET_HOLIDAYS_FILE`).
pub const NATIONAL_HOLIDAYS_TOML: &str = include_str!(concat!(env!("OUT_DIR"), "/id-holidays.toml"));

/// The months in Bahasa Indonesia, January first.
pub const MONTH_NAMES: [&str; 12] = [
    "Januari",
    "Februari",
    "Maret",
    "April",
    "Mei",
    "Juni",
    "Juli",
    "Agustus",
    "September",
    "Oktober",
    "November",
    "Desember",
];

/// One opening interval of a working day, in nanoseconds since local midnight.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Opening {
    start: i64,
    end: i64,
}

impl Opening {
    /// Parses "07:30-12:00".
    pub fn parse(text: &str) -> Result<Opening, CalendarError> {
        let bad = || CalendarError::BadOpening(text.to_string());
        let (a, b) = text.split_once('-').ok_or_else(bad)?;
        let start = parse_clock(a.trim()).ok_or_else(bad)?;
        let end = parse_clock(b.trim()).ok_or_else(bad)?;
        if start >= end {
            return Err(bad());
        }
        Ok(Opening { start, end })
    }

    pub fn start(&self) -> Time {
        time_of_day(self.start)
    }

    pub fn end(&self) -> Time {
        time_of_day(self.end)
    }
}

impl fmt::Display for Opening {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (a, b) = (self.start(), self.end());
        write!(f, "{:02}:{:02}-{:02}:{:02}", a.hour(), a.minute(), b.hour(), b.minute())
    }
}

/// "HH:MM" → nanoseconds since midnight. "24:00" is allowed as an end.
fn parse_clock(text: &str) -> Option<i64> {
    let (h, m) = text.split_once(':')?;
    if h.len() != 2 || m.len() != 2 {
        return None;
    }
    let h: i64 = h.parse().ok()?;
    let m: i64 = m.parse().ok()?;
    if !(0..=24).contains(&h) || !(0..60).contains(&m) || (h == 24 && m != 0) {
        return None;
    }
    Some((h * 3600 + m * 60) * NANOS_PER_SECOND)
}

fn time_of_day(nanos: i64) -> Time {
    let nanos = nanos.clamp(0, DAY_NANOS - 1);
    let secs = nanos / NANOS_PER_SECOND;
    // In range by construction: hour < 24, minute < 60, second < 60.
    Time::new((secs / 3600) as i8, ((secs / 60) % 60) as i8, (secs % 60) as i8, (nanos % NANOS_PER_SECOND) as i32)
        .unwrap_or(Time::midnight())
}

fn nanos_of_day(t: Time) -> i64 {
    (i64::from(t.hour()) * 3600 + i64::from(t.minute()) * 60 + i64::from(t.second())) * NANOS_PER_SECOND
        + i64::from(t.subsec_nanosecond())
}

/// Office hours for each weekday, Monday first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WeeklyHours {
    days: [Vec<Opening>; 7],
}

/// The weekday keys used in profile files.
pub const WEEKDAY_KEYS: [&str; 7] = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"];

impl WeeklyHours {
    /// Builds weekly hours from "HH:MM-HH:MM" lists keyed by English weekday name
    /// (`monday` … `sunday`); a missing day is closed.
    pub fn from_map(map: &BTreeMap<String, Vec<String>>) -> Result<WeeklyHours, CalendarError> {
        for key in map.keys() {
            if !WEEKDAY_KEYS.contains(&key.as_str()) {
                return Err(CalendarError::UnknownWeekday(key.clone()));
            }
        }
        let mut days: [Vec<Opening>; 7] = Default::default();
        for (i, key) in WEEKDAY_KEYS.iter().enumerate() {
            let Some(list) = map.get(*key) else { continue };
            let mut openings = list.iter().map(|s| Opening::parse(s)).collect::<Result<Vec<_>, _>>()?;
            openings.sort_by_key(|o| o.start);
            if openings.windows(2).any(|w| w[0].end > w[1].start) {
                return Err(CalendarError::OverlappingOpenings((*key).to_string()));
            }
            days[i] = openings;
        }
        let hours = WeeklyHours { days };
        if hours.days.iter().all(Vec::is_empty) {
            return Err(CalendarError::NoWorkingTime);
        }
        Ok(hours)
    }

    fn from_static(spec: [&[&str]; 7]) -> WeeklyHours {
        let mut map = BTreeMap::new();
        for (key, list) in WEEKDAY_KEYS.iter().zip(spec) {
            if !list.is_empty() {
                map.insert((*key).to_string(), list.iter().map(|s| (*s).to_string()).collect());
            }
        }
        // The built-in defaults are valid by construction (checked by a unit test).
        WeeklyHours::from_map(&map).unwrap_or_else(|_| WeeklyHours { days: Default::default() })
    }

    /// Normal government office hours (Keppres 68/1995 clock times, kept by Perpres
    /// 21/2023): Mon-Thu 07:30-16:00 with a 12:00-13:00 break, Fri 07:30-16:30 with an
    /// 11:30-13:00 break; 37.5 hours a week.
    pub fn government_default() -> WeeklyHours {
        let mon_thu: &[&str] = &["07:30-12:00", "13:00-16:00"];
        WeeklyHours::from_static([mon_thu, mon_thu, mon_thu, mon_thu, &["07:30-11:30", "13:00-16:30"], &[], &[]])
    }

    /// Ramadan hours: Mon-Thu 08:00-15:00 with a 12:00-12:30 break, Fri 08:00-15:30 with an
    /// 11:30-12:30 break; 32.5 hours a week.
    pub fn ramadan_default() -> WeeklyHours {
        let mon_thu: &[&str] = &["08:00-12:00", "12:30-15:00"];
        WeeklyHours::from_static([mon_thu, mon_thu, mon_thu, mon_thu, &["08:00-11:30", "12:30-15:30"], &[], &[]])
    }

    pub fn openings(&self, weekday: Weekday) -> &[Opening] {
        &self.days[weekday.to_monday_zero_offset() as usize]
    }

    /// Working time in a week.
    pub fn weekly_total(&self) -> SignedDuration {
        let nanos: i64 = self.days.iter().flatten().map(|o| o.end - o.start).sum();
        SignedDuration::from_nanos(nanos)
    }
}

/// Why a date is not a working day.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HolidayKind {
    /// Hari libur nasional.
    LiburNasional,
    /// Cuti bersama (a day off for ASN, so for Pemda offices).
    CutiBersama,
    /// A regional holiday or office closure from the agency's own profile.
    LiburDaerah,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Holiday {
    pub date: Date,
    pub kind: HolidayKind,
    pub name: String,
    #[serde(default)]
    pub provisional: bool,
}

/// Something the calendar data lacks for a year (see [`WorkingCalendar::gaps`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum CalendarGap {
    /// No national holidays or cuti bersama: every weekday counts as a working day.
    NoHolidays { year: i16 },
    /// Some dates are provisional (not yet checked against the decree).
    Provisional { year: i16 },
    /// No Ramadan period: the shortened Ramadan hours are not applied.
    NoRamadan { year: i16 },
}

impl CalendarGap {
    /// A stable key, e.g. `2027-no-ramadan`.
    pub fn key(&self) -> String {
        match self {
            CalendarGap::NoHolidays { year } => format!("{year}-no-holidays"),
            CalendarGap::Provisional { year } => format!("{year}-provisional"),
            CalendarGap::NoRamadan { year } => format!("{year}-no-ramadan"),
        }
    }

    /// What it means and what to do, in Bahasa Indonesia, for the admin.
    pub fn describe(&self) -> String {
        match self {
            CalendarGap::NoHolidays { year } => format!(
                "Data hari libur nasional dan cuti bersama tahun {year} belum ada: setiap hari kerja \
                 (Senin–Jumat) tahun {year} dihitung sebagai hari kerja, termasuk hari libur. Tambahkan \
                 tanggalnya dari SKB tiga menteri ke berkas kalender, lalu pasang ulang Loket."
            ),
            CalendarGap::Provisional { year } => format!(
                "Sebagian tanggal libur tahun {year} masih sementara (belum dicocokkan dengan naskah \
                 keputusannya). Periksa tanggal-tanggal itu dan tandai sebagai pasti di berkas kalender."
            ),
            CalendarGap::NoRamadan { year } => format!(
                "Periode Ramadan tahun {year} belum diisi: jam kerja Ramadan yang lebih pendek belum \
                 berlaku, sehingga batas waktu dihitung dengan jam kerja biasa. Isi tanggalnya setelah \
                 sidang isbat, lalu pasang ulang Loket."
            ),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RamadanPeriod {
    pub first_day: Date,
    pub last_day: Date,
}

/// The national holiday file's shape; other tables in it (`decree`, …) are ignored.
#[derive(Debug, Deserialize)]
struct HolidayFile {
    holidays: Vec<Holiday>,
    #[serde(default)]
    ramadan: Vec<RamadanPeriod>,
}

/// National holidays, cuti bersama and Ramadan periods parsed from a holiday file.
#[derive(Debug, Clone)]
pub struct NationalCalendar {
    pub holidays: Vec<Holiday>,
    pub ramadan: Vec<RamadanPeriod>,
}

impl NationalCalendar {
    pub fn parse(toml_text: &str) -> Result<NationalCalendar, CalendarError> {
        let file: HolidayFile =
            toml::from_str(toml_text).map_err(|e| CalendarError::BadHolidayFile(e.message().to_string()))?;
        for period in &file.ramadan {
            if period.first_day > period.last_day {
                return Err(CalendarError::BadHolidayFile(format!(
                    "ramadan period {} .. {} ends before it starts",
                    period.first_day, period.last_day
                )));
            }
        }
        Ok(NationalCalendar { holidays: file.holidays, ramadan: file.ramadan })
    }

    /// The embedded national calendar.
    pub fn embedded() -> Result<NationalCalendar, CalendarError> {
        NationalCalendar::parse(NATIONAL_HOLIDAYS_TOML)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CalendarError {
    #[error("invalid opening '{0}': write \"HH:MM-HH:MM\" with the start before the end")]
    BadOpening(String),
    #[error("openings of {0} overlap")]
    OverlappingOpenings(String),
    #[error("unknown weekday '{0}' (use monday … sunday)")]
    UnknownWeekday(String),
    #[error("the office hours have no working time at all")]
    NoWorkingTime,
    #[error("unknown time zone '{0}' (use Asia/Jakarta for WIB, Asia/Makassar for WITA, Asia/Jayapura for WIT)")]
    UnknownTimeZone(String),
    #[error("holiday file: {0}")]
    BadHolidayFile(String),
}

/// An agency's working-time calendar.
#[derive(Debug, Clone)]
pub struct WorkingCalendar {
    tz: TimeZone,
    normal: WeeklyHours,
    ramadan: WeeklyHours,
    ramadan_periods: Vec<RamadanPeriod>,
    /// Sorted by date, one entry per date.
    holidays: Vec<Holiday>,
}

impl WorkingCalendar {
    pub fn new(
        tz: TimeZone,
        normal: WeeklyHours,
        ramadan: WeeklyHours,
        ramadan_periods: Vec<RamadanPeriod>,
        mut holidays: Vec<Holiday>,
    ) -> WorkingCalendar {
        holidays.sort_by_key(|h| h.date);
        holidays.dedup_by_key(|h| h.date);
        WorkingCalendar { tz, normal, ramadan, ramadan_periods, holidays }
    }

    /// A WIB calendar with the government default hours and the embedded national
    /// holidays; handy for tests and benchmarks.
    pub fn indonesia_default(zone: &str) -> Result<WorkingCalendar, CalendarError> {
        let tz = TimeZone::get(zone).map_err(|_| CalendarError::UnknownTimeZone(zone.to_string()))?;
        let national = NationalCalendar::embedded()?;
        Ok(WorkingCalendar::new(
            tz,
            WeeklyHours::government_default(),
            WeeklyHours::ramadan_default(),
            national.ramadan,
            national.holidays,
        ))
    }

    pub fn time_zone(&self) -> &TimeZone {
        &self.tz
    }

    /// The agency-local civil date and time of an instant.
    pub fn local(&self, at: Timestamp) -> DateTime {
        self.tz.to_datetime(at)
    }

    /// `at` in local time as pages show it: `23-11-2026 09.30` (no zone label).
    pub fn stamp(&self, at: Timestamp) -> String {
        self.local(at).strftime("%d-%m-%Y %H.%M").to_string()
    }

    pub fn holiday(&self, date: Date) -> Option<&Holiday> {
        self.holidays.binary_search_by_key(&date, |h| h.date).ok().map(|i| &self.holidays[i])
    }

    pub fn holidays(&self) -> &[Holiday] {
        &self.holidays
    }

    pub fn is_ramadan(&self, date: Date) -> bool {
        self.ramadan_periods.iter().any(|p| p.first_day <= date && date <= p.last_day)
    }

    /// What the calendar data lacks for `year`: without national holidays every weekday
    /// of the year counts as working, without a Ramadan period the shortened hours are not
    /// applied, and provisional dates are not yet checked against the decree. An agency's
    /// own regional holidays do not make a year covered.
    pub fn gaps(&self, year: i16) -> Vec<CalendarGap> {
        let national: Vec<&Holiday> =
            self.holidays.iter().filter(|h| h.date.year() == year && h.kind != HolidayKind::LiburDaerah).collect();
        let mut gaps = Vec::new();
        if national.is_empty() {
            gaps.push(CalendarGap::NoHolidays { year });
        } else if national.iter().any(|h| h.provisional) {
            gaps.push(CalendarGap::Provisional { year });
        }
        if !self.ramadan_periods.iter().any(|p| p.first_day.year() == year || p.last_day.year() == year) {
            gaps.push(CalendarGap::NoRamadan { year });
        }
        gaps
    }

    /// The openings of a date: empty on weekends, holidays and cuti bersama.
    pub fn openings(&self, date: Date) -> &[Opening] {
        if self.holiday(date).is_some() {
            return &[];
        }
        let week = if self.is_ramadan(date) { &self.ramadan } else { &self.normal };
        week.openings(date.weekday())
    }

    pub fn is_working_day(&self, date: Date) -> bool {
        !self.openings(date).is_empty()
    }

    /// Whether the instant is inside office hours (an opening's end counts as inside,
    /// so that a step may be due exactly at closing time).
    pub fn is_working_instant(&self, at: Timestamp) -> bool {
        let (date, pos) = self.position(at);
        self.openings(date).iter().any(|o| o.start <= pos && pos <= o.end)
    }

    fn position(&self, at: Timestamp) -> (Date, i64) {
        let dt = self.tz.to_datetime(at);
        (dt.date(), nanos_of_day(dt.time()))
    }

    fn instant(&self, date: Date, nanos: i64) -> Timestamp {
        let dt = date.to_datetime(time_of_day(nanos));
        // Indonesian zones have no DST; for other zones `compatible` picks the usual
        // instant for gaps and folds.
        self.tz.to_ambiguous_timestamp(dt).compatible().unwrap_or(Timestamp::MAX)
    }

    fn next_day(date: Date) -> Date {
        date.tomorrow().unwrap_or(Date::MAX)
    }

    /// The due instant of a step that starts at `start` with the given limit.
    pub fn add_working(&self, start: Timestamp, limit: TimeLimit) -> Timestamp {
        match limit.fixed_seconds() {
            Some(secs) => self.add_working_duration(start, SignedDuration::from_secs(secs)),
            None => match limit {
                TimeLimit::WorkingDays(days) => self.add_working_days(start, days),
                // Minutes and hours always have a fixed length.
                TimeLimit::Minutes(_) | TimeLimit::Hours(_) => start,
            },
        }
    }

    /// The earliest instant by which `amount` of working time has passed since `start`.
    /// A zero or negative amount gives `start` back.
    pub fn add_working_duration(&self, start: Timestamp, amount: SignedDuration) -> Timestamp {
        let mut remaining = i64::try_from(amount.as_nanos()).unwrap_or(i64::MAX);
        if remaining <= 0 {
            return start;
        }
        let (mut date, mut pos) = self.position(start);
        loop {
            for opening in self.openings(date) {
                if opening.end <= pos {
                    continue;
                }
                let from = opening.start.max(pos);
                let available = opening.end - from;
                if remaining <= available {
                    return self.instant(date, from + remaining);
                }
                remaining -= available;
            }
            if date == Date::MAX {
                return Timestamp::MAX;
            }
            date = Self::next_day(date);
            pos = 0;
        }
    }

    /// "n working days": the same point of the working day, n working days later. A
    /// start outside office hours counts from the next opening; a start at the very
    /// beginning of a working day is due at the close of the (n-1)-th next working day
    /// (the earliest instant with n full working days behind it). Shorter days (Ramadan)
    /// clamp to their close.
    pub fn add_working_days(&self, start: Timestamp, days: u32) -> Timestamp {
        if days == 0 {
            return start;
        }
        let (date, pos) = self.next_working_position(start);
        let elapsed: i64 = self.openings(date).iter().map(|o| (pos.min(o.end) - o.start).max(0)).sum();
        let target_offset = if elapsed == 0 { days - 1 } else { days };
        let mut target = date;
        let mut moved = 0;
        while moved < target_offset {
            if target == Date::MAX {
                return Timestamp::MAX;
            }
            target = Self::next_day(target);
            if self.is_working_day(target) {
                moved += 1;
            }
        }
        let openings = self.openings(target);
        let total: i64 = openings.iter().map(|o| o.end - o.start).sum();
        let wanted = if elapsed == 0 { total } else { elapsed.min(total) };
        let mut left = wanted;
        for opening in openings {
            let length = opening.end - opening.start;
            if left <= length {
                return self.instant(target, opening.start + left);
            }
            left -= length;
        }
        // Unreachable: `wanted` never exceeds the day's total.
        self.instant(target, openings.last().map_or(0, |o| o.end))
    }

    /// The first working position at or after `at` (date and nanoseconds of day).
    fn next_working_position(&self, at: Timestamp) -> (Date, i64) {
        let (mut date, mut pos) = self.position(at);
        loop {
            if let Some(opening) = self.openings(date).iter().find(|o| pos < o.end) {
                return (date, pos.max(opening.start));
            }
            if date == Date::MAX {
                return (date, pos);
            }
            date = Self::next_day(date);
            pos = 0;
        }
    }

    /// The first working instant at or after `at`.
    pub fn next_working_instant(&self, at: Timestamp) -> Timestamp {
        let (date, pos) = self.next_working_position(at);
        let (here, here_pos) = self.position(at);
        if (date, pos) == (here, here_pos) { at } else { self.instant(date, pos) }
    }

    /// Working time in `[from, to)`; zero when `to` is not after `from`.
    pub fn working_between(&self, from: Timestamp, to: Timestamp) -> SignedDuration {
        if to <= from {
            return SignedDuration::ZERO;
        }
        let (first, first_pos) = self.position(from);
        let (last, last_pos) = self.position(to);
        let mut total: i64 = 0;
        let mut date = first;
        loop {
            let lo = if date == first { first_pos } else { 0 };
            let hi = if date == last { last_pos } else { DAY_NANOS };
            for opening in self.openings(date) {
                let overlap = opening.end.min(hi) - opening.start.max(lo);
                if overlap > 0 {
                    total = total.saturating_add(overlap);
                }
            }
            if date >= last {
                break;
            }
            date = Self::next_day(date);
        }
        SignedDuration::from_nanos(total)
    }
}

/// "1 jam 30 menit", "2 hari kerja 3 jam"… for a working duration, with the agency's
/// normal day length as the size of a day (7.5 hours by default).
pub fn describe_working(duration: SignedDuration, day: SignedDuration) -> String {
    let total_minutes = duration.as_secs().max(0) / 60;
    let day_minutes = (day.as_secs() / 60).max(1);
    let days = total_minutes / day_minutes;
    let rest = total_minutes % day_minutes;
    let (hours, minutes) = (rest / 60, rest % 60);
    let mut parts = Vec::new();
    if days > 0 {
        parts.push(format!("{days} hari kerja"));
    }
    if hours > 0 {
        parts.push(format!("{hours} jam"));
    }
    if minutes > 0 || parts.is_empty() {
        parts.push(format!("{minutes} menit"));
    }
    parts.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::date;
    use proptest::prelude::*;

    fn wib() -> WorkingCalendar {
        WorkingCalendar::indonesia_default("Asia/Jakarta").expect("embedded calendar")
    }

    /// A WIB wall-clock instant.
    fn at(cal: &WorkingCalendar, y: i16, mo: i8, d: i8, h: i8, mi: i8) -> Timestamp {
        cal.instant(date(y, mo, d), (i64::from(h) * 3600 + i64::from(mi) * 60) * NANOS_PER_SECOND)
    }

    fn local_string(cal: &WorkingCalendar, t: Timestamp) -> String {
        cal.local(t).strftime("%Y-%m-%d %H:%M").to_string()
    }

    #[test]
    fn defaults_are_valid_and_37_5_hours() {
        assert_eq!(WeeklyHours::government_default().weekly_total(), SignedDuration::from_mins(37 * 60 + 30));
        assert_eq!(WeeklyHours::ramadan_default().weekly_total(), SignedDuration::from_mins(32 * 60 + 30));
    }

    #[test]
    fn gaps_name_what_the_data_lacks_per_year() {
        let holiday = |y: i16, kind: HolidayKind, provisional: bool| Holiday {
            date: date(y, 8, 17),
            kind,
            name: "x".into(),
            provisional,
        };
        let cal = WorkingCalendar::new(
            TimeZone::get("Asia/Jakarta").expect("zone"),
            WeeklyHours::government_default(),
            WeeklyHours::ramadan_default(),
            vec![RamadanPeriod { first_day: date(2026, 2, 19), last_day: date(2026, 3, 20) }],
            vec![
                holiday(2026, HolidayKind::LiburNasional, false),
                holiday(2027, HolidayKind::LiburNasional, true),
                // A regional holiday alone does not cover a year.
                holiday(2028, HolidayKind::LiburDaerah, false),
            ],
        );
        assert_eq!(cal.gaps(2026), vec![]);
        assert_eq!(
            cal.gaps(2027),
            vec![CalendarGap::Provisional { year: 2027 }, CalendarGap::NoRamadan { year: 2027 }]
        );
        assert_eq!(cal.gaps(2028), vec![CalendarGap::NoHolidays { year: 2028 }, CalendarGap::NoRamadan { year: 2028 }]);
        assert_eq!(CalendarGap::NoRamadan { year: 2027 }.key(), "2027-no-ramadan");
        assert!(CalendarGap::NoHolidays { year: 2028 }.describe().contains("tahun 2028"));
    }

    #[test]
    fn embedded_holidays_are_2026_and_2027() {
        let national = NationalCalendar::embedded().expect("parse");
        assert!(national.holidays.iter().any(|h| h.date == date(2026, 8, 17)));
        assert!(national.holidays.iter().any(|h| h.date == date(2027, 12, 25)));
        let cuti_2026 =
            national.holidays.iter().filter(|h| h.date.year() == 2026 && h.kind == HolidayKind::CutiBersama).count();
        assert_eq!(cuti_2026, 8);
    }

    #[test]
    fn minutes_within_a_morning() {
        let cal = wib();
        let due = cal.add_working(at(&cal, 2026, 11, 23, 9, 0), TimeLimit::Minutes(15));
        assert_eq!(local_string(&cal, due), "2026-11-23 09:15");
    }

    #[test]
    fn lunch_break_does_not_count() {
        let cal = wib();
        let due = cal.add_working(at(&cal, 2026, 11, 23, 11, 50), TimeLimit::Minutes(30));
        assert_eq!(local_string(&cal, due), "2026-11-23 13:20");
    }

    #[test]
    fn friday_break_is_longer() {
        let cal = wib();
        let due = cal.add_working(at(&cal, 2026, 11, 27, 11, 20), TimeLimit::Minutes(30));
        assert_eq!(local_string(&cal, due), "2026-11-27 13:20");
    }

    #[test]
    fn crosses_the_weekend() {
        let cal = wib();
        // Friday closes at 16:30: half an hour on Friday, half an hour on Monday.
        let due = cal.add_working(at(&cal, 2026, 11, 27, 16, 0), TimeLimit::Hours(1));
        assert_eq!(local_string(&cal, due), "2026-11-30 08:00");
    }

    #[test]
    fn start_at_night_counts_from_the_next_opening() {
        let cal = wib();
        let due = cal.add_working(at(&cal, 2026, 11, 23, 22, 0), TimeLimit::Minutes(10));
        assert_eq!(local_string(&cal, due), "2026-11-24 07:40");
    }

    #[test]
    fn independence_day_is_skipped() {
        let cal = wib();
        // Friday 14 Aug 2026 15:00 + 3 h: 1.5 h on Friday, Monday 17 Aug is a holiday.
        let due = cal.add_working(at(&cal, 2026, 8, 14, 15, 0), TimeLimit::Hours(3));
        assert_eq!(local_string(&cal, due), "2026-08-18 09:00");
    }

    #[test]
    fn one_working_day_over_the_idul_fitri_week() {
        let cal = wib();
        // Tuesday 17 Mar 2026 is a Ramadan day (08:00-12:00, 12:30-15:00); 18-24 Mar are
        // cuti bersama, Nyepi, Idulfitri and the weekend. 14:00 is 5.5 working hours
        // into the day; on Wednesday 25 Mar (normal hours) that is 14:00 again.
        let due = cal.add_working(at(&cal, 2026, 3, 17, 14, 0), TimeLimit::WorkingDays(1));
        assert_eq!(local_string(&cal, due), "2026-03-25 14:00");
    }

    #[test]
    fn one_working_day_from_the_opening_is_the_close() {
        let cal = wib();
        let due = cal.add_working(at(&cal, 2026, 11, 23, 6, 0), TimeLimit::WorkingDays(1));
        assert_eq!(local_string(&cal, due), "2026-11-23 16:00");
        let due = cal.add_working(at(&cal, 2026, 11, 23, 16, 0), TimeLimit::WorkingDays(1));
        assert_eq!(local_string(&cal, due), "2026-11-24 16:00");
    }

    #[test]
    fn working_day_clamps_to_a_shorter_ramadan_day() {
        let cal = wib();
        // Wednesday 18 Feb 2026 15:30 is 7 h into a normal day; Thursday 19 Feb is the
        // first day of Ramadan with 6.5 h: due at its close.
        let due = cal.add_working(at(&cal, 2026, 2, 18, 15, 30), TimeLimit::WorkingDays(1));
        assert_eq!(local_string(&cal, due), "2026-02-19 15:00");
    }

    #[test]
    fn other_zones_use_their_own_clock() {
        let wita = WorkingCalendar::indonesia_default("Asia/Makassar").expect("wita");
        let wit = WorkingCalendar::indonesia_default("Asia/Jayapura").expect("wit");
        // 07:30 WITA is 06:30 WIT: the Jayapura office is already open for an hour.
        let start = at(&wita, 2026, 11, 23, 7, 30);
        assert_eq!(wita.working_between(start, start + SignedDuration::from_hours(1)), SignedDuration::from_hours(1));
        let due = wit.add_working(start, TimeLimit::Minutes(10));
        assert_eq!(local_string(&wit, due), "2026-11-23 08:40");
        assert!(WorkingCalendar::indonesia_default("Mars/Olympus").is_err());
    }

    #[test]
    fn working_between_counts_only_office_hours() {
        let cal = wib();
        let from = at(&cal, 2026, 11, 20, 16, 0); // Friday
        let to = at(&cal, 2026, 11, 23, 8, 30); // Monday
        assert_eq!(cal.working_between(from, to), SignedDuration::from_mins(90));
        assert_eq!(cal.working_between(to, from), SignedDuration::ZERO);
        // A whole normal week.
        let mon = at(&cal, 2026, 11, 23, 0, 0);
        assert_eq!(cal.working_between(mon, mon + SignedDuration::from_hours(24 * 7)), SignedDuration::from_mins(2250));
    }

    #[test]
    fn describes_durations_in_indonesian() {
        let day = SignedDuration::from_mins(450);
        assert_eq!(describe_working(SignedDuration::from_mins(0), day), "0 menit");
        assert_eq!(describe_working(SignedDuration::from_mins(95), day), "1 jam 35 menit");
        assert_eq!(describe_working(SignedDuration::from_mins(450 + 60), day), "1 hari kerja 1 jam");
    }

    #[test]
    fn rejects_bad_hours() {
        let mut map = BTreeMap::new();
        map.insert("monday".to_string(), vec!["08:00-12:00".to_string(), "11:00-13:00".to_string()]);
        assert_eq!(WeeklyHours::from_map(&map), Err(CalendarError::OverlappingOpenings("monday".into())));
        map.insert("monday".to_string(), vec!["16:00-08:00".to_string()]);
        assert!(matches!(WeeklyHours::from_map(&map), Err(CalendarError::BadOpening(_))));
        let mut map = BTreeMap::new();
        map.insert("senin".to_string(), vec!["08:00-12:00".to_string()]);
        assert_eq!(WeeklyHours::from_map(&map), Err(CalendarError::UnknownWeekday("senin".into())));
        assert_eq!(WeeklyHours::from_map(&BTreeMap::new()), Err(CalendarError::NoWorkingTime));
    }

    fn instant_strategy() -> impl Strategy<Value = Timestamp> {
        // 2026-01-01 .. 2027-12-31, second resolution.
        (1_767_225_600_i64..1_830_211_200_i64).prop_map(|s| Timestamp::from_second(s).unwrap_or(Timestamp::UNIX_EPOCH))
    }

    fn limit_strategy() -> impl Strategy<Value = TimeLimit> {
        prop_oneof![
            (1u32..600).prop_map(TimeLimit::Minutes),
            (1u32..40).prop_map(TimeLimit::Hours),
            (1u32..10).prop_map(TimeLimit::WorkingDays),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn adding_then_measuring_gives_the_duration_back(start in instant_strategy(), minutes in 1i64..20_000) {
            let cal = wib();
            let amount = SignedDuration::from_mins(minutes);
            let due = cal.add_working_duration(start, amount);
            prop_assert_eq!(cal.working_between(start, due), amount);
        }

        #[test]
        fn nothing_is_due_outside_working_time(start in instant_strategy(), limit in limit_strategy()) {
            let cal = wib();
            let due = cal.add_working(start, limit);
            prop_assert!(cal.is_working_instant(due), "due {} is outside office hours", local_string(&cal, due));
            prop_assert!(due > start);
        }

        #[test]
        fn due_is_monotonic_in_start(a in instant_strategy(), b in instant_strategy(), limit in limit_strategy()) {
            let cal = wib();
            let (early, late) = if a <= b { (a, b) } else { (b, a) };
            prop_assert!(cal.add_working(early, limit) <= cal.add_working(late, limit));
        }

        #[test]
        fn due_is_monotonic_in_duration(start in instant_strategy(), x in 1u32..3000, y in 1u32..3000, dx in 1u32..8, dy in 1u32..8) {
            let cal = wib();
            let (small, big) = if x <= y { (x, y) } else { (y, x) };
            prop_assert!(cal.add_working(start, TimeLimit::Minutes(small)) <= cal.add_working(start, TimeLimit::Minutes(big)));
            let (small, big) = if dx <= dy { (dx, dy) } else { (dy, dx) };
            prop_assert!(cal.add_working(start, TimeLimit::WorkingDays(small)) <= cal.add_working(start, TimeLimit::WorkingDays(big)));
        }

        #[test]
        fn a_working_day_is_at_least_the_shortest_day(start in instant_strategy()) {
            let cal = wib();
            let due = cal.add_working(start, TimeLimit::WorkingDays(1));
            let worked = cal.working_between(start, due);
            prop_assert!(worked >= SignedDuration::from_mins(390), "only {worked:?}");
            prop_assert!(worked <= SignedDuration::from_mins(450), "as much as {worked:?}");
        }
    }
}
