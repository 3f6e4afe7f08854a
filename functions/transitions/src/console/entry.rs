//! Enter a request that came by letter, WhatsApp or phone (Helpdesk, Koordinator).

use std::collections::BTreeMap;

use jiff::Timestamp;
use lambda_http::http::StatusCode;
use lambda_http::{Body, Response};
use loket_domain::html::escape;
use loket_domain::ports::{Mailer, TicketStore};
use loket_domain::ticket::Channel;

use super::session::{self, Session};
use super::ticket::status_and_message;
use super::{Posted, page as frame, redirect, url};
use crate::{Deps, EnterRequest, enter_request};

pub fn page<S, R, M>(
    deps: &Deps<S, R, M>,
    session: &Session,
    values: &BTreeMap<String, String>,
    problem: Option<&str>,
) -> Response<Body> {
    let value = |k: &str| escape(values.get(k).map(String::as_str).unwrap_or_default());
    let key = values.get("kunci").cloned().or_else(|| loket_aws::new_status_token().ok()).unwrap_or_default();
    let services: String = deps
        .agency
        .procedures(&deps.catalog)
        .iter()
        .map(|p| p.id.as_str())
        .chain(std::iter::once(deps.agency.triage.as_str()))
        .filter_map(|id| deps.catalog.get(id))
        .map(|p| {
            let chosen = values.get("layanan").is_some_and(|v| *v == p.id);
            format!(
                "<option value=\"{}\"{}>{}</option>",
                escape(&p.id),
                if chosen { " selected" } else { "" },
                escape(&p.name)
            )
        })
        .collect();
    let channels: String = [("letter", "Surat"), ("whatsapp", "WhatsApp"), ("phone", "Telepon"), ("email", "Email")]
        .iter()
        .map(|(v, l)| {
            let chosen = values.get("saluran").is_some_and(|x| x == v);
            format!("<option value=\"{v}\"{}>{l}</option>", if chosen { " selected" } else { "" })
        })
        .collect();
    let field = |id: &str, label: &str, kind: &str, extra: &str| {
        format!(
            "<p><label for=\"{id}\">{label}</label><br><input type=\"{kind}\" id=\"{id}\" name=\"{id}\" value=\"{v}\"{extra}></p>",
            v = value(id)
        )
    };
    let html = format!(
        "{problem}<form method=\"post\" action=\"{action}\"><input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
         <input type=\"hidden\" name=\"kunci\" value=\"{key}\">{quarantined}\
         <p><label for=\"saluran\">Masuk melalui</label><br><select id=\"saluran\" name=\"saluran\">{channels}</select></p>\
         <p><label for=\"layanan\">Layanan</label><br><select id=\"layanan\" name=\"layanan\">{services}</select></p>\
         {name}{unit}{email}{phone}{subject}\
         <p><label for=\"uraian\">Uraian (isi surat / pesan)</label><br><textarea id=\"uraian\" name=\"uraian\" rows=\"5\" cols=\"50\" maxlength=\"20000\">{description}</textarea></p>\
         <p><button type=\"submit\">Catat permohonan</button></p></form>",
        problem = problem.map(|p| format!("<p class=\"problem\" role=\"alert\">{}</p>", escape(p))).unwrap_or_default(),
        action = escape(&url(deps, "/baru")),
        csrf = escape(&session::csrf(deps, session)),
        key = escape(&key),
        quarantined = values
            .get("karantina")
            .map(|r| format!("<input type=\"hidden\" name=\"karantina\" value=\"{}\">", escape(r)))
            .unwrap_or_default(),
        name = field("nama", "Nama pemohon", "text", " required maxlength=\"120\""),
        unit = field("unit", "Unit (OPD)", "text", " required maxlength=\"150\""),
        email = field("email", "Email pemohon (untuk tanda terima dan kabar tiket)", "email", " maxlength=\"200\""),
        phone = field("telepon", "Telepon / WhatsApp", "tel", " maxlength=\"30\""),
        subject = field("perihal", "Perihal", "text", " required maxlength=\"250\""),
        description = value("uraian"),
    );
    frame(deps, Some(session), StatusCode::OK, "Catat permohonan (surat, WhatsApp, telepon)", &html)
}

pub async fn post<S, R, M>(deps: &Deps<S, R, M>, session: &Session, form: Posted, now: Timestamp) -> Response<Body>
where
    S: TicketStore + Sync,
    M: Mailer + Sync,
{
    let f = form.fields;
    let get = |k: &str| f.get(k).map(|v| v.trim().to_string()).unwrap_or_default();
    let channel = match get("saluran").as_str() {
        "letter" => Channel::Letter,
        "whatsapp" => Channel::Whatsapp,
        "email" => Channel::Email,
        _ => Channel::Phone,
    };
    let body = EnterRequest {
        key: get("kunci"),
        procedure: get("layanan"),
        channel,
        name: get("nama"),
        unit: get("unit"),
        email: Some(get("email")).filter(|e| !e.is_empty()),
        phone: Some(get("telepon")).filter(|p| !p.is_empty()),
        subject: get("perihal"),
        description: get("uraian"),
        fields: BTreeMap::new(),
    };
    let response = enter_request(deps, &session.staff(), body, now).await;
    if response.status().is_success() {
        let number = serde_json::from_slice::<serde_json::Value>(response.body().as_ref())
            .ok()
            .and_then(|v| v["number"].as_str().map(str::to_string));
        if let Some(number) = number {
            // Made from a quarantined mail: the list says which ticket it became.
            if let Some((day, id)) = f.get("karantina").and_then(|r| r.split_once('/'))
                && let Ok(number) = number.parse::<loket_domain::ticket::TicketNumber>()
            {
                match deps.store.release_quarantined(day, id, &number).await {
                    Ok(true) => {}
                    Ok(false) => tracing::warn!(day, id, %number, "quarantined mail was released before"),
                    Err(e) => tracing::warn!(error = %e, "quarantined mail not marked as released"),
                }
            }
            return redirect(&url(deps, &format!("/tiket/{number}?info=baru")));
        }
    }
    let (status, mut message) = status_and_message(&response);
    if let Ok(v) = serde_json::from_slice::<serde_json::Value>(response.body().as_ref())
        && let Some(fields) = v["fields"].as_object()
    {
        let details: Vec<String> = fields.values().filter_map(|m| m.as_str().map(str::to_string)).collect();
        message = format!("{message} {}", details.join(" "));
    }
    let mut again = page(deps, session, &f, Some(&message));
    *again.status_mut() = status;
    again
}
