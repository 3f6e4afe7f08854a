//! The roles that perform SOP steps (the "Pelaksana" columns of the seeds).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Who performs a step. `Pemohon` is the requester (external); the others are staff
/// roles, which are also the Cognito groups of the staff directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// The requesting unit (OPD) or its contact person.
    Pemohon,
    /// Front desk: records requests, opens and closes tickets.
    Helpdesk,
    /// Coordinator of the helpdesk and technical teams.
    Koordinator,
    /// Technical team / network technician / IT staff.
    Teknisi,
    /// Section head (Kepala Seksi) over the technicians.
    Kasi,
    /// Division head (Kepala Bidang).
    Kabid,
    /// Head of the agency (Kepala Dinas).
    Kadis,
    /// Operates Loket itself (staff directory, catalog); not a step performer.
    Admin,
}

impl Role {
    pub const ALL: [Role; 8] = [
        Role::Pemohon,
        Role::Helpdesk,
        Role::Koordinator,
        Role::Teknisi,
        Role::Kasi,
        Role::Kabid,
        Role::Kadis,
        Role::Admin,
    ];

    /// The staff roles (every role but the requester).
    pub const STAFF: [Role; 7] =
        [Role::Helpdesk, Role::Koordinator, Role::Teknisi, Role::Kasi, Role::Kabid, Role::Kadis, Role::Admin];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Pemohon => "pemohon",
            Role::Helpdesk => "helpdesk",
            Role::Koordinator => "koordinator",
            Role::Teknisi => "teknisi",
            Role::Kasi => "kasi",
            Role::Kabid => "kabid",
            Role::Kadis => "kadis",
            Role::Admin => "admin",
        }
    }

    /// The Indonesian label shown to people.
    pub fn label(self) -> &'static str {
        match self {
            Role::Pemohon => "Pemohon",
            Role::Helpdesk => "Helpdesk",
            Role::Koordinator => "Koordinator Layanan",
            Role::Teknisi => "Tim Teknis",
            Role::Kasi => "Kepala Seksi",
            Role::Kabid => "Kepala Bidang",
            Role::Kadis => "Kepala Dinas",
            Role::Admin => "Admin Loket",
        }
    }

    pub fn is_staff(self) -> bool {
        self != Role::Pemohon
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown role '{0}' (known: pemohon, helpdesk, koordinator, teknisi, kasi, kabid, kadis, admin)")]
pub struct UnknownRole(pub String);

impl FromStr for Role {
    type Err = UnknownRole;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let wanted = s.trim().to_ascii_lowercase();
        Role::ALL.into_iter().find(|r| r.as_str() == wanted).ok_or_else(|| UnknownRole(s.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_role_and_rejects_others() {
        for role in Role::ALL {
            assert_eq!(role.as_str().parse::<Role>(), Ok(role));
            assert_eq!(role.as_str().to_uppercase().parse::<Role>(), Ok(role));
        }
        assert!("lurah".parse::<Role>().is_err());
    }
}
