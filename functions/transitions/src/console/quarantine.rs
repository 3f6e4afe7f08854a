//! Mail set aside (quarantine): what came in and did not become a ticket or a reply
//! (junk, mailing lists, a sender over the hourly limit, an unreadable or oversized
//! message, a bounce-like subject from a person). The Helpdesk, the Koordinator and the
//! Admin see the last fourteen days, open the raw message, and make a ticket from one
//! that was set aside wrongly (the entry form comes filled in from the mail).

use std::collections::BTreeMap;

use jiff::{SignedDuration, Timestamp};
use lambda_http::http::StatusCode;
use lambda_http::{Body, Response};
use loket_domain::Role;
use loket_domain::html::escape;
use loket_domain::mail::classify::from_address;
use loket_domain::ports::{Quarantined, RawMailStore, TicketStore};
use loket_domain::ticket::{Document, TicketNumber};
use mail_parser::MessageParser;

use super::session::Session;
use super::{page as frame, redirect, url};
use crate::{DOCUMENT_LINK_VALID_FOR, Deps};

/// How far back the page looks.
const DAYS: i64 = 14;
/// The largest raw message read to fill in the entry form.
const MAX_RAW_BYTES: u64 = 10 * 1024 * 1024;

/// Who may see quarantined mail: those who take requests in.
pub fn allowed(session: &Session) -> bool {
    session.roles.iter().any(|r| matches!(r, Role::Helpdesk | Role::Koordinator | Role::Admin))
}

fn refused<S, R, M>(deps: &Deps<S, R, M>, session: &Session) -> Response<Body> {
    frame(
        deps,
        Some(session),
        StatusCode::FORBIDDEN,
        "Email dikarantina",
        "<p class=\"problem\">Halaman ini hanya untuk Helpdesk, Koordinator, dan Admin.</p>",
    )
}

fn unavailable<S, R, M>(deps: &Deps<S, R, M>, session: &Session) -> Response<Body> {
    frame(
        deps,
        Some(session),
        StatusCode::SERVICE_UNAVAILABLE,
        "Coba lagi",
        "<p class=\"problem\">Data karantina tidak dapat dibaca saat ini. Coba lagi sebentar lagi.</p>",
    )
}

fn not_found<S, R, M>(deps: &Deps<S, R, M>, session: &Session) -> Response<Body> {
    frame(deps, Some(session), StatusCode::NOT_FOUND, "Email tidak ditemukan", "<p>Periksa tautannya.</p>")
}

/// A day as the store files it (`YYYY-MM-DD`), checked before it reaches a key.
fn valid_day(day: &str) -> bool {
    day.len() == 10 && day.parse::<jiff::civil::Date>().is_ok()
}

/// One quarantined message, by its day and id.
async fn find<S: TicketStore, R, M>(
    deps: &Deps<S, R, M>,
    day: &str,
    id: &str,
) -> Result<Option<Quarantined>, loket_domain::ports::StoreError> {
    if !valid_day(day) {
        return Ok(None);
    }
    Ok(deps.store.quarantined(day).await?.into_iter().find(|q| q.id == id))
}

/// The messages quarantined on the UTC day of `now` and the `back` days before it, newest
/// first (the store files them by day).
async fn set_aside_since<S: TicketStore, R, M>(
    deps: &Deps<S, R, M>,
    now: Timestamp,
    back: i64,
) -> Result<Vec<Quarantined>, loket_domain::ports::StoreError> {
    let mut all = Vec::new();
    for days in 0..=back {
        let day = (now - SignedDuration::from_hours(24 * days)).strftime("%Y-%m-%d").to_string();
        all.extend(deps.store.quarantined(&day).await?);
    }
    all.sort_by_key(|q| std::cmp::Reverse(q.at));
    Ok(all)
}

/// A line over the queue of those who see quarantine when mail was set aside today or
/// yesterday and no ticket was made from it, so that a wrongly set aside request is not
/// left unseen. Empty otherwise (or when the store cannot say).
pub async fn recent_notice<S: TicketStore, R, M>(deps: &Deps<S, R, M>, session: &Session, now: Timestamp) -> String {
    if !allowed(session) {
        return String::new();
    }
    let waiting = match set_aside_since(deps, now, 1).await {
        Ok(records) => records.iter().filter(|q| q.released_as.is_none()).count(),
        Err(e) => {
            tracing::warn!(error = %e, "read quarantine for the queue");
            return String::new();
        }
    };
    if waiting == 0 {
        return String::new();
    }
    format!(
        "<p class=\"notice\" role=\"status\">{waiting} email dikarantina sejak kemarin. \
         <a href=\"{}\">Periksa karantina</a>: bila ada permohonan di antaranya, jadikan tiket.</p>",
        escape(&url(deps, "/karantina"))
    )
}

/// The list, newest first.
pub async fn page<S: TicketStore, R, M>(deps: &Deps<S, R, M>, session: &Session, now: Timestamp) -> Response<Body> {
    if !allowed(session) {
        return refused(deps, session);
    }
    let all = match set_aside_since(deps, now, DAYS).await {
        Ok(all) => all,
        Err(e) => {
            tracing::error!(error = %e, "read quarantine");
            return unavailable(deps, session);
        }
    };
    let mut html = format!(
        "<p>Email yang masuk ke alamat layanan tetapi tidak dijadikan tiket dalam {DAYS} hari terakhir \
         (spam, milis, pengirim melewati batas per jam, email tak terbaca, atau tampak seperti laporan \
         gagal kirim). Buka emailnya; bila seharusnya menjadi permohonan, jadikan tiket.</p>"
    );
    if all.is_empty() {
        html.push_str("<p>Tidak ada email yang dikarantina.</p>");
    } else {
        html.push_str(
            "<table><thead><tr><th scope=\"col\">Waktu</th><th scope=\"col\">Pengirim</th><th scope=\"col\">Perihal</th>\
             <th scope=\"col\">Alasan (sistem)</th><th scope=\"col\">Tindakan</th></tr></thead><tbody>",
        );
        for q in &all {
            let base = format!("/karantina/{}/{}", q.day(), q.id);
            let action = match &q.released_as {
                Some(number) => format!(
                    "Sudah menjadi tiket <a href=\"{}\">{}</a>",
                    escape(&url(deps, &format!("/tiket/{number}"))),
                    escape(number.as_str())
                ),
                None => format!(
                    "<a href=\"{}\">Jadikan tiket</a>",
                    escape(&url(deps, &format!("/baru?karantina={}/{}", q.day(), q.id)))
                ),
            };
            html.push_str(&format!(
                "<tr><td>{at}</td><td>{from}</td><td>{subject}</td><td><code>{reason}</code></td>\
                 <td><a href=\"{raw}\">Lihat email</a> · {action}</td></tr>",
                at = escape(&deps.agency.calendar.stamp(q.at)),
                from = escape(if q.from.is_empty() { "-" } else { &q.from }),
                subject = escape(if q.subject.is_empty() { "(tanpa perihal)" } else { &q.subject }),
                reason = escape(&q.reason),
                raw = escape(&url(deps, &base)),
            ));
        }
        html.push_str("</tbody></table>");
    }
    frame(deps, Some(session), StatusCode::OK, "Email dikarantina", &html)
}

/// Opens the raw message (a short-lived S3 link; it downloads as an `.eml` file).
pub async fn raw<S: TicketStore, R: RawMailStore, M>(
    deps: &Deps<S, R, M>,
    session: &Session,
    day: &str,
    id: &str,
) -> Response<Body> {
    if !allowed(session) {
        return refused(deps, session);
    }
    let record = match find(deps, day, id).await {
        Ok(Some(record)) => record,
        Ok(None) => return not_found(deps, session),
        Err(e) => {
            tracing::error!(error = %e, "read quarantine");
            return unavailable(deps, session);
        }
    };
    let document = Document {
        kind: "email".into(),
        name: format!("{}.eml", record.id.chars().filter(char::is_ascii_alphanumeric).collect::<String>()),
        content_type: "message/rfc822".into(),
        size: 0,
        key: record.raw_key.clone(),
        uploaded_at: record.at,
        public: false,
    };
    match deps.files.link(&document, DOCUMENT_LINK_VALID_FOR).await {
        Ok(link) => {
            tracing::info!(staff = %session.id, id = %record.id, "quarantined mail opened");
            redirect(&link)
        }
        Err(e) => {
            tracing::error!(error = %e, "quarantined mail link");
            unavailable(deps, session)
        }
    }
}

/// What the entry form gets from a quarantined message.
pub enum FromQuarantine {
    /// Sender, subject, text and channel, to fill the form with.
    Values(BTreeMap<String, String>),
    /// A ticket was made from it already.
    Released(TicketNumber),
    /// No such message (or it cannot be read now).
    Missing,
}

/// The entry form's values for a quarantined message (`day/id`).
pub async fn entry_values<S: TicketStore, R: RawMailStore, M>(deps: &Deps<S, R, M>, reference: &str) -> FromQuarantine {
    let Some((day, id)) = reference.split_once('/') else { return FromQuarantine::Missing };
    let record = match find(deps, day, id).await {
        Ok(Some(record)) => record,
        _ => return FromQuarantine::Missing,
    };
    if let Some(number) = record.released_as {
        return FromQuarantine::Released(number);
    }
    let mut values = BTreeMap::from([
        ("saluran".to_string(), "email".to_string()),
        ("karantina".to_string(), format!("{day}/{id}")),
        ("email".to_string(), record.from.clone()),
        ("perihal".to_string(), record.subject.chars().take(250).collect()),
    ]);
    if let Ok(loket_domain::ports::RawMail::Found(raw)) = deps.files.fetch(&record.raw_key, MAX_RAW_BYTES).await
        && let Some(message) = MessageParser::default().parse(&raw)
    {
        if let Some(name) = message.from().and_then(|a| a.first()).and_then(|a| a.name()) {
            values.insert("nama".into(), name.chars().take(120).collect());
        }
        if let Some(from) = from_address(&message) {
            values.insert("email".into(), from);
        }
        let text = message.body_text(0).map(|t| t.to_string()).unwrap_or_default();
        values.insert("uraian".into(), text.chars().take(20_000).collect());
    }
    FromQuarantine::Values(values)
}
