//! The request form: `GET /` (the form), `POST /permohonan` (its submission) and
//! `POST /api/requests` (the same as JSON). Server-rendered, no script, works on a phone;
//! labels on every field, an error summary with a message per field (Bahasa Indonesia),
//! and what the person typed comes back on an error.
//!
//! Spam defence without a third-party captcha: a honeypot field people never see, a
//! signed time stamp (a form sent back within 3 seconds is a robot's), and rate limits per
//! source address (from the API Gateway request context, never a header) and per email.
//! A hidden idempotency key makes a double submit (double click, refresh, back) one ticket.

use std::collections::BTreeMap;

use jiff::{SignedDuration, Timestamp};
use lambda_http::http::StatusCode;
use lambda_http::request::RequestContext;
use lambda_http::{Body, Request, RequestExt, RequestPayloadExt, Response};
use loket_domain::html::escape;
use loket_domain::mail::compose::Composer;
use loket_domain::mail::thread::token_hash;
use loket_domain::ports::{Claim, Created, Mailer, StoreError, TicketStore, create_and_send};
use loket_domain::sop::ItemKind;
use loket_domain::ticket::{Actor, Channel, Requester, TicketNumber};
use loket_domain::workflow::{NewTicket, Workflow};
use serde::Deserialize;
use serde_json::json;

use loket_aws::web::{html_page as page, html_page_posting_to, json_response};

use crate::Deps;
use crate::attachments::upload_section;

/// A form sent back faster than this was not filled in by a person.
const MIN_FILL: SignedDuration = SignedDuration::from_secs(3);
/// A form older than this is stale (its idempotency key too).
const MAX_AGE: SignedDuration = SignedDuration::from_hours(24);
const OTHER: &str = "lainnya";

/// What was typed, as submitted.
#[derive(Debug, Default, Clone, Deserialize)]
pub struct Submission {
    #[serde(default)]
    pub layanan: String,
    #[serde(default)]
    pub unit: String,
    #[serde(default)]
    pub unit_lain: String,
    #[serde(default)]
    pub nama: String,
    #[serde(default)]
    pub email: String,
    #[serde(default)]
    pub telepon: String,
    #[serde(default)]
    pub lokasi: String,
    #[serde(default)]
    pub uraian: String,
    /// Per-service fields, `f_<id>` in the HTML form.
    #[serde(default)]
    pub fields: BTreeMap<String, String>,
    #[serde(default)]
    pub kunci: String,
    #[serde(default)]
    pub mulai: String,
    /// The honeypot: people never see it, so it stays empty.
    #[serde(default)]
    pub situs: String,
}

/// Field → message, for every problem found.
pub type Problems = BTreeMap<&'static str, String>;

/// Checks a submission; an empty map means it can become a ticket.
pub fn validate<S, M>(deps: &Deps<S, M>, s: &Submission) -> Problems {
    let mut problems = Problems::new();
    let service_known = s.layanan == OTHER || deps.agency.procedures.contains(&s.layanan);
    if !service_known {
        problems.insert("layanan", "Pilih jenis layanan.".into());
    }
    let unit = unit_of(s);
    if unit.is_empty() {
        problems.insert("unit", "Pilih unit (OPD) Anda, atau tulis namanya pada isian unit lainnya.".into());
    } else if unit.chars().count() > 150 {
        problems.insert("unit", "Nama unit paling panjang 150 karakter.".into());
    }
    let name = s.nama.trim();
    if name.is_empty() {
        problems.insert("nama", "Nama kontak wajib diisi.".into());
    } else if name.chars().count() > 120 {
        problems.insert("nama", "Nama paling panjang 120 karakter.".into());
    }
    let email = s.email.trim();
    let valid_email = loket_domain::ticket::plausible_email(email);
    if email.is_empty() {
        problems.insert("email", "Alamat email wajib diisi; tanda terima dan kabar tiket dikirim ke sana.".into());
    } else if !valid_email {
        problems.insert("email", "Alamat email tidak valid (contoh: nama@dinas.go.id).".into());
    }
    let phone = s.telepon.trim();
    if !phone.is_empty() && (phone.len() > 30 || !phone.chars().all(|c| c.is_ascii_digit() || " +-()".contains(c))) {
        problems.insert("telepon", "Nomor telepon hanya berisi angka, spasi, +, - atau tanda kurung.".into());
    }
    if s.lokasi.trim().chars().count() > 200 {
        problems.insert("lokasi", "Lokasi paling panjang 200 karakter.".into());
    }
    let description = s.uraian.trim().chars().count();
    if description < 10 {
        problems.insert("uraian", "Uraikan permohonan Anda (paling sedikit 10 karakter).".into());
    } else if description > 5_000 {
        problems.insert("uraian", "Uraian paling panjang 5.000 karakter.".into());
    }
    if let Some(procedure) = deps.catalog.get(&s.layanan) {
        // Only the service's own fields: anything else could pre-fill what a staff step
        // must enter, or swell the ticket.
        if let Some(unknown) = s.fields.keys().find(|k| !procedure.fields.iter().any(|f| f.id.as_deref() == Some(k))) {
            let shown: String = unknown.chars().take(40).collect();
            problems.insert("fields", format!("Isian \"{shown}\" tidak dikenal untuk layanan ini."));
        }
        for field in &procedure.fields {
            let Some(id) = field.id.as_deref() else { continue };
            let value = s.fields.get(id).map(|v| v.trim()).unwrap_or_default();
            // Numbers are checked; "since when" is the requester's own words (documented as
            // not checked: the form sends datetime-local, a mail or an API client may not).
            if field.kind == ItemKind::Number && !value.is_empty() && !field.kind.accepts(value) {
                problems.insert("fields", format!("{} harus {}.", field.label, field.kind.expects()));
            }
            if value.chars().count() > 500 {
                problems.insert("fields", format!("{} paling panjang 500 karakter.", field.label));
            }
        }
    }
    problems
}

fn unit_of(s: &Submission) -> String {
    let chosen = s.unit.trim();
    if chosen.is_empty() || chosen == OTHER { s.unit_lain.trim().to_string() } else { chosen.to_string() }
}

/// The source address API Gateway saw (not a header the client set).
fn source_ip(request: &Request) -> String {
    match request.request_context_ref() {
        Some(RequestContext::ApiGatewayV2(c)) => c.http.source_ip.clone().unwrap_or_default(),
        _ => String::new(),
    }
}

/// The path prefix of the public pages (e.g. an API stage), from the configured base URL.
fn base_path<S, M>(deps: &Deps<S, M>) -> String {
    let url = deps.links.public_base.trim_end_matches('/');
    url.split_once("://").and_then(|(_, rest)| rest.find('/').map(|i| rest[i..].to_string())).unwrap_or_default()
}

fn selected(flag: bool) -> &'static str {
    if flag { " selected" } else { "" }
}

/// The form, with what was typed and the problems found.
pub fn render<S, M>(
    deps: &Deps<S, M>,
    s: &Submission,
    problems: &Problems,
    key: &str,
    now: Timestamp,
) -> Response<Body> {
    let base = base_path(deps);
    let mut html = String::new();
    if !problems.is_empty() {
        html.push_str("<div role=\"alert\" aria-labelledby=\"ringkasan\"><h2 id=\"ringkasan\">Periksa kembali isian berikut</h2><ul>");
        for (field, message) in problems {
            html.push_str(&format!("<li><a href=\"#{field}\">{}</a></li>", escape(message)));
        }
        html.push_str("</ul></div>");
    }
    let error = |field: &str| {
        problems
            .get(field)
            .map(|m| format!("<br><strong id=\"{field}-galat\">{}</strong>", escape(m)))
            .unwrap_or_default()
    };
    let described = |field: &str| {
        if problems.contains_key(field) {
            format!(" aria-invalid=\"true\" aria-describedby=\"{field}-galat\"")
        } else {
            String::new()
        }
    };
    html.push_str(&format!("<form method=\"post\" action=\"{}/permohonan\">", escape(&base)));
    html.push_str(&format!(
        "<input type=\"hidden\" name=\"kunci\" value=\"{}\"><input type=\"hidden\" name=\"mulai\" value=\"{}\">",
        escape(key),
        escape(&deps.keys.form_stamp(now))
    ));
    // The honeypot: hidden from people (and screen readers), filled in by robots.
    html.push_str("<div hidden aria-hidden=\"true\"><label for=\"situs\">Situs web</label><input id=\"situs\" name=\"situs\" tabindex=\"-1\" autocomplete=\"off\"></div>");

    html.push_str(&format!(
        "<p><label for=\"layanan\">Jenis layanan</label>{}<br><select id=\"layanan\" name=\"layanan\" required{}>",
        error("layanan"),
        described("layanan")
    ));
    html.push_str("<option value=\"\">-- pilih --</option>");
    for procedure in deps.agency.procedures(&deps.catalog) {
        let standard = procedure
            .service_limit
            .as_ref()
            .map(|l| format!(" (standar {} kerja)", l.limit.label()))
            .unwrap_or_default();
        html.push_str(&format!(
            "<option value=\"{id}\"{sel}>{name}{standard}</option>",
            id = escape(&procedure.id),
            sel = selected(s.layanan == procedure.id),
            name = escape(&procedure.name),
            standard = escape(&standard),
        ));
    }
    html.push_str(&format!(
        "<option value=\"{OTHER}\"{}>Lainnya / belum tahu</option></select></p>",
        selected(s.layanan == OTHER)
    ));
    html.push_str("<ul>");
    for procedure in deps.agency.procedures(&deps.catalog) {
        html.push_str(&format!(
            "<li><strong>{}</strong>: {}</li>",
            escape(&procedure.name),
            escape(&procedure.summary)
        ));
    }
    html.push_str("</ul>");

    html.push_str(&format!(
        "<p><label for=\"unit\">Unit (OPD)</label>{}<br><select id=\"unit\" name=\"unit\"{}>",
        error("unit"),
        described("unit")
    ));
    html.push_str("<option value=\"\">-- pilih --</option>");
    for unit in &deps.agency.units {
        html.push_str(&format!("<option{}>{}</option>", selected(s.unit == *unit), escape(unit)));
    }
    html.push_str(&format!("<option value=\"{OTHER}\"{}>Unit lain</option></select></p>", selected(s.unit == OTHER)));
    let text_field = |id: &'static str, label: &str, value: &str, kind: &str, extra: &str| {
        format!(
            "<p><label for=\"{id}\">{label}</label>{err}<br><input id=\"{id}\" name=\"{id}\" type=\"{kind}\" value=\"{value}\"{extra}{desc}></p>",
            label = escape(label),
            err = error(id),
            value = escape(value),
            desc = described(id),
        )
    };
    html.push_str(&text_field(
        "unit_lain",
        "Unit lainnya (jika tidak ada pada daftar)",
        &s.unit_lain,
        "text",
        " maxlength=\"150\"",
    ));
    html.push_str(&text_field(
        "nama",
        "Nama kontak",
        &s.nama,
        "text",
        " required maxlength=\"120\" autocomplete=\"name\"",
    ));
    html.push_str(&text_field(
        "email",
        "Email",
        &s.email,
        "email",
        " required maxlength=\"200\" autocomplete=\"email\"",
    ));
    html.push_str(&text_field(
        "telepon",
        "Telepon / WhatsApp",
        &s.telepon,
        "tel",
        " maxlength=\"30\" autocomplete=\"tel\"",
    ));
    html.push_str(&text_field("lokasi", "Lokasi (gedung, ruang, alamat)", &s.lokasi, "text", " maxlength=\"200\""));
    html.push_str(&format!(
        "<p><label for=\"uraian\">Uraian permohonan</label>{}<br><textarea id=\"uraian\" name=\"uraian\" rows=\"6\" cols=\"40\" required maxlength=\"5000\"{}>{}</textarea></p>",
        error("uraian"),
        described("uraian"),
        escape(&s.uraian)
    ));
    if problems.contains_key("fields") {
        html.push_str(&error("fields"));
    }
    for procedure in deps.agency.procedures(&deps.catalog) {
        if procedure.fields.is_empty() {
            continue;
        }
        html.push_str(&format!("<fieldset><legend>Khusus {}</legend>", escape(&procedure.name)));
        for field in &procedure.fields {
            let Some(id) = field.id.as_deref() else { continue };
            let kind = match field.kind {
                ItemKind::Number => "number",
                ItemKind::DateTime => "datetime-local",
                ItemKind::Date => "date",
                _ => "text",
            };
            let name = format!("f_{}_{}", procedure.id, id);
            let value =
                if s.layanan == procedure.id { s.fields.get(id).cloned().unwrap_or_default() } else { String::new() };
            html.push_str(&format!(
                "<p><label for=\"{name}\">{label}</label><br><input id=\"{name}\" name=\"{name}\" type=\"{kind}\" value=\"{value}\"></p>",
                name = escape(&name),
                label = escape(&field.label),
                value = escape(&value),
            ));
        }
        html.push_str("</fieldset>");
    }
    html.push_str("<p><button type=\"submit\">Kirim permohonan</button></p></form>");
    let status = if problems.is_empty() { StatusCode::OK } else { StatusCode::UNPROCESSABLE_ENTITY };
    page(status, &format!("Permohonan layanan {}", deps.agency.short_name), &html)
}

/// Reads the urlencoded form into a submission (per-service fields of the chosen service).
fn from_form(raw: &BTreeMap<String, String>) -> Submission {
    let get = |k: &str| raw.get(k).cloned().unwrap_or_default();
    let layanan = get("layanan");
    let prefix = format!("f_{layanan}_");
    let fields =
        raw.iter().filter_map(|(k, v)| k.strip_prefix(&prefix).map(|id| (id.to_string(), v.clone()))).collect();
    Submission {
        layanan,
        unit: get("unit"),
        unit_lain: get("unit_lain"),
        nama: get("nama"),
        email: get("email"),
        telepon: get("telepon"),
        lokasi: get("lokasi"),
        uraian: get("uraian"),
        fields,
        kunci: get("kunci"),
        mulai: get("mulai"),
        situs: get("situs"),
    }
}

/// What became of a submission.
pub enum SubmitOutcome {
    Created { number: String, status_link: String, token: String },
    Duplicate { number: String },
    Refused { status: StatusCode, code: &'static str, message: String },
    Invalid(Problems),
}

/// Turns a valid submission into a ticket once per key, with its acknowledgement.
pub async fn submit<S, M>(deps: &Deps<S, M>, s: &Submission, source_ip: &str, now: Timestamp) -> SubmitOutcome
where
    S: TicketStore + Sync,
    M: Mailer + Sync,
{
    let problems = validate(deps, s);
    if !problems.is_empty() {
        return SubmitOutcome::Invalid(problems);
    }
    let key = s.kunci.trim();
    if key.len() < 16 || key.len() > 64 || !key.chars().all(|c| c.is_ascii_alphanumeric()) {
        return SubmitOutcome::Refused {
            status: StatusCode::BAD_REQUEST,
            code: "bad_key",
            message: "Formulir tidak lengkap. Muat ulang halaman lalu kirim lagi.".into(),
        };
    }
    let busy = || SubmitOutcome::Refused {
        status: StatusCode::SERVICE_UNAVAILABLE,
        code: "unavailable",
        message: "Layanan sedang sibuk. Coba lagi sebentar lagi.".into(),
    };
    let email = s.email.trim().to_ascii_lowercase();
    for (who, limit) in [
        (format!("ip:{source_ip}"), u64::from(deps.agency.max_web_requests_per_address_per_hour)),
        (email.clone(), u64::from(deps.agency.max_new_tickets_per_sender_per_hour)),
    ] {
        match deps.store.count_sender(&who, now).await {
            Ok(n) if n > limit => {
                return SubmitOutcome::Refused {
                    status: StatusCode::TOO_MANY_REQUESTS,
                    code: "rate_limited",
                    message: "Terlalu banyak permohonan dalam satu jam. Coba lagi nanti atau hubungi Helpdesk.".into(),
                };
            }
            Ok(_) => {}
            Err(e) => {
                tracing::error!(error = %e, "rate count");
                return busy();
            }
        }
    }
    let claim = match deps.store.claim(&format!("form:{key}"), now).await {
        Ok(Claim::Fresh(c)) => c,
        Ok(Claim::Done(outcome)) => {
            return SubmitOutcome::Duplicate { number: outcome.number.map(|n| n.to_string()).unwrap_or_default() };
        }
        Ok(Claim::InProgress) => {
            return SubmitOutcome::Refused {
                status: StatusCode::CONFLICT,
                code: "in_progress",
                message: "Permohonan Anda sedang diproses. Tunggu sebentar lalu muat ulang.".into(),
            };
        }
        Err(e) => {
            tracing::error!(error = %e, "claim");
            return busy();
        }
    };
    let procedure_id = if s.layanan == OTHER { deps.agency.triage.clone() } else { s.layanan.clone() };
    let Some(procedure) = deps.catalog.get(&procedure_id) else { return busy() };
    let token = match loket_aws::new_status_token() {
        Ok(t) => t,
        Err(e) => {
            tracing::error!(error = %e, "no randomness");
            return busy();
        }
    };
    let requester = Requester {
        email: Some(email),
        name: s.nama.trim().to_string(),
        unit: unit_of(s),
        phone: Some(s.telepon.trim().to_string()).filter(|p| !p.is_empty()),
    };
    let mut fields: BTreeMap<String, String> =
        s.fields.iter().map(|(k, v)| (k.clone(), v.trim().to_string())).collect();
    if !s.lokasi.trim().is_empty() {
        fields.insert("lokasi".into(), s.lokasi.trim().to_string());
    }
    let subject: String = s.uraian.trim().lines().next().unwrap_or_default().chars().take(80).collect();
    let wf = Workflow::new(&deps.catalog, &deps.agency);
    let composer = Composer { agency: &deps.agency, keys: &deps.keys, links: &deps.links };
    let year = deps.agency.calendar.local(now).year();
    let created = create_and_send(&deps.store, &deps.mailer, &claim, &procedure.service, year, "web form", |number| {
        let applied = wf.open(NewTicket {
            number,
            procedure: procedure.id.clone(),
            actor: Actor::requester(&requester),
            requester: requester.clone(),
            channel: Channel::Web,
            subject: subject.clone(),
            description: s.uraian.trim().to_string(),
            fields: fields.clone(),
            documents: Vec::new(),
            token_hash: token_hash(&token),
            related: Vec::new(),
            mail_in: None,
            at: now,
        })?;
        let ack = composer.acknowledgement(&applied.ticket, procedure, &token, now);
        Ok((applied, ack.into_iter().collect()))
    })
    .await;
    match created {
        Ok(Created::New(applied, _)) => {
            let ticket = &applied.ticket;
            SubmitOutcome::Created {
                number: ticket.number.to_string(),
                status_link: composer.status_link(ticket, &token),
                token: token.clone(),
            }
        }
        Ok(Created::Duplicate(n)) => SubmitOutcome::Duplicate { number: n.to_string() },
        Err(StoreError::InProgress) => SubmitOutcome::Refused {
            status: StatusCode::CONFLICT,
            code: "in_progress",
            message: "Permohonan Anda sedang diproses. Tunggu sebentar lalu muat ulang.".into(),
        },
        Err(e) => {
            tracing::error!(error = %e, "create");
            busy()
        }
    }
}

/// `GET /`: a fresh form.
pub fn show<S, M>(deps: &Deps<S, M>, now: Timestamp) -> Response<Body> {
    match loket_aws::new_status_token() {
        Ok(key) => render(deps, &Submission::default(), &Problems::new(), &key, now),
        Err(_) => {
            page(StatusCode::SERVICE_UNAVAILABLE, "Coba lagi", "<p>Layanan sedang sibuk. Coba lagi sebentar lagi.</p>")
        }
    }
}

/// `POST /permohonan`: the HTML form's submission.
pub async fn post_form<S, M>(deps: &Deps<S, M>, request: &Request, now: Timestamp) -> Response<Body>
where
    S: TicketStore + Sync,
    M: Mailer + Sync,
{
    let raw: BTreeMap<String, String> = request.payload().ok().flatten().unwrap_or_default();
    let s = from_form(&raw);
    let key = if s.kunci.is_empty() { loket_aws::new_status_token().unwrap_or_default() } else { s.kunci.clone() };
    if !s.situs.trim().is_empty() {
        tracing::info!("honeypot filled; not a person");
        return page(
            StatusCode::BAD_REQUEST,
            "Permohonan tidak dapat diproses",
            "<p>Permohonan tidak dapat diproses. Bila Anda bukan robot, hubungi Helpdesk.</p>",
        );
    }
    match deps.keys.check_form_stamp(&s.mulai) {
        None => {
            let mut problems = Problems::new();
            problems
                .insert("layanan", "Formulir tidak lengkap atau kedaluwarsa. Periksa isian lalu kirim lagi.".into());
            return render(deps, &s, &problems, &key, now);
        }
        Some(served) if now.duration_since(served) < MIN_FILL => {
            let mut problems = Problems::new();
            problems.insert("layanan", "Formulir dikirim terlalu cepat. Periksa kembali isian lalu kirim lagi.".into());
            return render(deps, &s, &problems, &key, now);
        }
        Some(served) if now.duration_since(served) > MAX_AGE => {
            let mut problems = Problems::new();
            problems.insert("layanan", "Formulir sudah kedaluwarsa. Periksa isian lalu kirim lagi.".into());
            return render(deps, &s, &problems, &loket_aws::new_status_token().unwrap_or_default(), now);
        }
        Some(_) => {}
    }
    match submit(deps, &s, &source_ip(request), now).await {
        SubmitOutcome::Created { number, status_link, token } => {
            let html = format!(
                "<p>Nomor tiket Anda: <strong id=\"nomor-tiket\">{}</strong></p><p>Pantau perkembangannya di <a href=\"{link}\">halaman status tiket</a>. \
                 Tautan yang sama juga kami kirim ke email Anda; simpan tautan itu, karena hanya untuk Anda.</p>",
                escape(&number),
                link = escape(&status_link)
            );
            let Ok(ticket_number) = number.parse::<TicketNumber>() else {
                return page(StatusCode::OK, "Permohonan diterima", &html);
            };
            let (upload, origin) = upload_section(deps, &ticket_number, &token, now).await;
            let html = format!("{html}<p>Ada surat permohonan atau foto? Lampirkan di sini.</p>{upload}");
            match origin {
                Some(origin) => html_page_posting_to(StatusCode::OK, "Permohonan diterima", &html, &origin),
                None => page(StatusCode::OK, "Permohonan diterima", &html),
            }
        }
        SubmitOutcome::Duplicate { number } => page(
            StatusCode::OK,
            "Permohonan sudah diterima",
            &format!(
                "<p>Permohonan ini sudah kami terima dengan nomor tiket <strong>{}</strong>. Tautan status ada pada email tanda terima.</p>",
                escape(&number)
            ),
        ),
        SubmitOutcome::Invalid(problems) => render(deps, &s, &problems, &key, now),
        SubmitOutcome::Refused { status, message, .. } => {
            page(status, "Permohonan belum dapat diproses", &format!("<p>{}</p>", escape(&message)))
        }
    }
}

/// `POST /api/requests`: the same as JSON (no honeypot or fill time; rate limits apply).
pub async fn post_json<S, M>(deps: &Deps<S, M>, request: &Request, now: Timestamp) -> Response<Body>
where
    S: TicketStore + Sync,
    M: Mailer + Sync,
{
    let bytes: &[u8] = request.body().as_ref();
    // An object only: serde would read an array as the struct's fields in order.
    let object = serde_json::from_slice::<serde_json::Value>(bytes).is_ok_and(|v| v.is_object());
    let Some(s) = serde_json::from_slice::<Submission>(bytes).ok().filter(|_| object) else {
        return json_response(
            StatusCode::BAD_REQUEST,
            &json!({"code": "bad_request", "message": "Isi permintaan tidak dapat dibaca (JSON tidak valid)."}),
        );
    };
    match submit(deps, &s, &source_ip(request), now).await {
        SubmitOutcome::Created { number, status_link, .. } => json_response(
            StatusCode::CREATED,
            &json!({"number": number, "status_url": status_link, "duplicate": false}),
        ),
        SubmitOutcome::Duplicate { number } => {
            json_response(StatusCode::OK, &json!({"number": number, "duplicate": true}))
        }
        SubmitOutcome::Invalid(problems) => json_response(
            StatusCode::UNPROCESSABLE_ENTITY,
            &json!({"code": "invalid", "message": "Periksa kembali isian yang ditandai.", "fields": problems}),
        ),
        SubmitOutcome::Refused { status, code, message } => {
            json_response(status, &json!({"code": code, "message": message}))
        }
    }
}
