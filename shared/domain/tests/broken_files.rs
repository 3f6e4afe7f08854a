//! Broken catalog and profile files are rejected with a message naming the file, the
//! step and the field.

use loket_domain::Agency;
use loket_domain::calendar::NationalCalendar;
use loket_domain::sop::{Catalog, CatalogError, Problem, Procedure};

const GOOD: &str = r#"
id = "uji"
version = 1
service = "UJI"
name = "Uji"
variant = "Uji"
summary = "Uji"
source = "test"

[[steps]]
no = 1
id = "masuk"
kind = "intake"
label = "Masuk"
roles = ["pemohon"]
limit = "5m"

[[steps]]
no = 2
id = "putus"
label = "Memutuskan"
roles = ["kadis"]
limit = "15m"

[[steps.outcomes]]
id = "setuju"
label = "Setuju"
goto = "kerja"

[[steps.outcomes]]
id = "tunda"
label = "Tunda"
end = "postponed"
reason_required = true

[[steps]]
no = 3
id = "kerja"
label = "Bekerja"
roles = ["teknisi"]
limit = "1d"
"#;

fn load(text: &str) -> Result<Procedure, CatalogError> {
    Procedure::from_toml("sops/uji.toml", text)
}

fn rejects(text: &str) -> CatalogError {
    load(text).expect_err("must be rejected")
}

#[test]
fn the_good_file_loads() {
    let p = load(GOOD).expect("loads");
    assert_eq!(p.steps.len(), 3);
    assert_eq!(p.reopen_to, "putus");
}

#[test]
fn unknown_role() {
    let err = rejects(&GOOD.replace(r#"roles = ["kadis"]"#, r#"roles = ["lurah"]"#));
    assert_eq!(err.problem, Problem::UnknownRole("lurah".into()));
    assert_eq!(
        err.to_string(),
        "sops/uji.toml: step 'putus': field 'roles': unknown role 'lurah' (known: pemohon, helpdesk, koordinator, teknisi, kasi, kabid, kadis, admin)"
    );
}

#[test]
fn outcome_that_leads_nowhere() {
    let err = rejects(&GOOD.replace(r#"goto = "kerja""#, r#"goto = "entah""#));
    assert_eq!(err.step.as_deref(), Some("putus"));
    assert_eq!(err.field, "outcomes[0].goto");
    assert_eq!(err.problem, Problem::LeadsNowhere("entah".into()));
    let err = rejects(&GOOD.replace(r#"end = "postponed""#, r#"end = "lenyap""#));
    assert_eq!(err.field, "outcomes[1].goto");
    let err = rejects(&GOOD.replace("goto = \"kerja\"\n", ""));
    assert_eq!(err.field, "outcomes[0].goto");
    assert!(err.to_string().contains("leads nowhere"), "{err}");
}

#[test]
fn unreachable_step() {
    // Both outcomes end: step 'kerja' can never be reached.
    let err = rejects(&GOOD.replace(r#"goto = "kerja""#, r#"end = "done""#));
    assert_eq!(err.step.as_deref(), Some("kerja"));
    assert_eq!(err.problem, Problem::Unreachable);
    assert_eq!(
        err.to_string(),
        "sops/uji.toml: step 'kerja': field 'id': the step cannot be reached from the first step"
    );
}

#[test]
fn missing_time_limit() {
    let err = rejects(&GOOD.replace("limit = \"1d\"\n", ""));
    assert_eq!((err.step.as_deref(), err.field.as_str()), (Some("kerja"), "limit"));
    assert_eq!(err.problem, Problem::MissingTimeLimit);
    let err = rejects(&GOOD.replace(r#"limit = "1d""#, r#"limit = "sebentar""#));
    assert!(matches!(err.problem, Problem::InvalidValue(_)));
}

#[test]
fn duplicate_ids() {
    let err = rejects(&GOOD.replace(r#"id = "kerja""#, r#"id = "putus""#));
    assert_eq!(err.problem, Problem::DuplicateId("putus".into()));
    assert_eq!(err.field, "id");
    let err = rejects(&GOOD.replace(r#"id = "tunda""#, r#"id = "setuju""#));
    assert_eq!(err.field, "outcomes[1].id");
    let twice = Catalog::from_files([("sops/a.toml", GOOD), ("sops/b.toml", GOOD)]).expect_err("duplicate procedure");
    assert_eq!(twice.file, "sops/b.toml");
    assert_eq!(twice.problem, Problem::DuplicateId("uji".into()));
}

#[test]
fn other_mistakes() {
    let err = rejects("id = \"uji\"\nversion = [");
    assert!(matches!(err.problem, Problem::Parse(_)), "{err}");
    let err = rejects(&GOOD.replace("kind = \"intake\"\n", ""));
    assert_eq!((err.step.as_deref(), err.field.as_str()), (Some("masuk"), "kind"));
    let err = rejects(&GOOD.replace(r#"service = "UJI""#, r#"service = "uji1""#));
    assert_eq!(err.field, "service");
    let err = rejects(&GOOD.replace(r#"label = "Bekerja""#, "label = \"Bekerja\"\ncolour = \"red\""));
    assert!(matches!(err.problem, Problem::Parse(_)), "unknown fields are refused: {err}");
    let err = rejects(&GOOD.replace(r#"roles = ["teknisi"]"#, r#"roles = ["pemohon"]"#));
    assert_eq!((err.step.as_deref(), err.field.as_str()), (Some("kerja"), "roles"));
}

// ---- agency profiles ---------------------------------------------------------------

const PROFILE: &str = r#"
id = "uji"
name = "Dinas Uji"
short_name = "Diskominfo Uji"
region = "Kota Uji"
time_zone = "Asia/Jayapura"
mail_domain = "kominfo.uji.go.id"
service_address = "layanan@kominfo.uji.go.id"
sender_name = "Layanan Uji"
procedures = ["jaringan-intra-kota", "gangguan-internet-disposisi"]
triage = "triase"

[hours]
monday = ["08:00-12:00", "13:00-16:00"]

[escalation.chain]
teknisi = "kasi"
kasi = "kabid"
"#;

fn profile(text: &str) -> Result<Agency, CatalogError> {
    let catalog = Catalog::embedded().expect("catalog");
    let national = NationalCalendar::embedded().expect("calendar");
    Agency::from_toml("agencies/uji.toml", text, &catalog, &national)
}

#[test]
fn the_good_profile_loads_in_wit() {
    let agency = profile(PROFILE).expect("loads");
    assert_eq!(agency.zone_label, "WIT");
    assert_eq!(agency.reopen_window_days, 14);
}

#[test]
fn every_embedded_profile_loads() {
    let catalog = Catalog::embedded().expect("catalog");
    let ids = Agency::embedded_ids();
    assert!(ids.len() >= 2);
    for id in ids {
        let agency = Agency::embedded(id, &catalog).unwrap_or_else(|e| panic!("{e}"));
        assert!(!agency.units.is_empty(), "{id} lists its units");
    }
}

#[test]
fn profile_mistakes_name_the_field() {
    let cases = [
        (PROFILE.replace("Asia/Jayapura", "Europe/Paris"), "time_zone"),
        (PROFILE.replace(r#""gangguan-internet-disposisi""#, r#""gangguan-entah""#), "procedures[1]"),
        (PROFILE.replace(r#""gangguan-internet-disposisi""#, r#""jaringan-intra-provinsi""#), "procedures[1]"),
        (PROFILE.replace(r#"triage = "triase""#, r#"triage = "jaringan-intra-kota""#), "triage"),
        (PROFILE.replace("08:00-12:00", "12:00-08:00"), "hours"),
        (PROFILE.replace(r#"kasi = "kabid""#, r#"kasi = "bupati""#), "escalation.chain.kasi"),
        (PROFILE.replace("layanan@kominfo.uji.go.id", "layanan@gmail.com"), "service_address"),
    ];
    for (text, field) in cases {
        let err = profile(&text).expect_err(field);
        assert_eq!(err.field, field, "{err}");
        assert_eq!(err.file, "agencies/uji.toml");
        assert!(err.to_string().starts_with("agencies/uji.toml: field '"), "{err}");
    }
    let looped = PROFILE.replace(r#"kasi = "kabid""#, "kasi = \"kabid\"\nkabid = \"kasi\"");
    assert_eq!(profile(&looped).expect_err("loop").field, "escalation.chain");
}
