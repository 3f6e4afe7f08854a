//! Time limits of SOP steps ("mutu baku: waktu"), always counted in working time.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A step's time limit. Minutes and hours are working minutes and hours; a working day
/// means "by the same point of the working day, that many working days later".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TimeLimit {
    Minutes(u32),
    Hours(u32),
    WorkingDays(u32),
}

impl TimeLimit {
    /// The limit in working seconds, for limits that are a fixed amount of working
    /// time. Working days have no fixed length (Ramadan days are shorter): `None`.
    pub fn fixed_seconds(self) -> Option<i64> {
        match self {
            TimeLimit::Minutes(m) => Some(i64::from(m) * 60),
            TimeLimit::Hours(h) => Some(i64::from(h) * 3600),
            TimeLimit::WorkingDays(_) => None,
        }
    }

    /// Indonesian wording, e.g. "15 menit", "1 jam", "1 hari kerja".
    pub fn label(self) -> String {
        match self {
            TimeLimit::Minutes(m) => format!("{m} menit"),
            TimeLimit::Hours(h) => format!("{h} jam"),
            TimeLimit::WorkingDays(d) => format!("{d} hari kerja"),
        }
    }
}

impl fmt::Display for TimeLimit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TimeLimit::Minutes(m) => write!(f, "{m}m"),
            TimeLimit::Hours(h) => write!(f, "{h}h"),
            TimeLimit::WorkingDays(d) => write!(f, "{d}d"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid time limit '{0}': write a positive whole number and a unit, e.g. \"15m\", \"1h\", \"1d\" (or \"15 menit\", \"1 jam\", \"1 hari\")"
)]
pub struct InvalidTimeLimit(pub String);

impl FromStr for TimeLimit {
    type Err = InvalidTimeLimit;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || InvalidTimeLimit(s.to_string());
        let text = s.trim().to_ascii_lowercase();
        let split = text.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
        let (digits, unit) = text.split_at(split);
        let n: u32 = digits.parse().map_err(|_| bad())?;
        if n == 0 {
            return Err(bad());
        }
        match unit.trim() {
            "m" | "min" | "menit" => Ok(TimeLimit::Minutes(n)),
            "h" | "j" | "jam" => Ok(TimeLimit::Hours(n)),
            "d" | "hari" | "hari kerja" => Ok(TimeLimit::WorkingDays(n)),
            _ => Err(bad()),
        }
    }
}

impl Serialize for TimeLimit {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for TimeLimit {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_short_and_indonesian_forms() {
        assert_eq!("15m".parse(), Ok(TimeLimit::Minutes(15)));
        assert_eq!("15 menit".parse(), Ok(TimeLimit::Minutes(15)));
        assert_eq!("1h".parse(), Ok(TimeLimit::Hours(1)));
        assert_eq!("2 jam".parse(), Ok(TimeLimit::Hours(2)));
        assert_eq!("1d".parse(), Ok(TimeLimit::WorkingDays(1)));
        assert_eq!("1 hari".parse(), Ok(TimeLimit::WorkingDays(1)));
    }

    #[test]
    fn rejects_nonsense() {
        for bad in ["", "m", "0m", "-5m", "5", "5 weeks", "1.5h"] {
            assert!(bad.parse::<TimeLimit>().is_err(), "{bad} should fail");
        }
    }

    #[test]
    fn round_trips_through_display() {
        for limit in [TimeLimit::Minutes(5), TimeLimit::Hours(8), TimeLimit::WorkingDays(1)] {
            assert_eq!(limit.to_string().parse(), Ok(limit));
        }
    }
}
