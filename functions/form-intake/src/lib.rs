//! The requester's pages (public, behind the HTTP API without an authorizer):
//!
//! - `GET /status/{number}?t=<token>`: where the ticket is, in plain words: the current
//!   step, which role has it, when it is due in the agency's local time, the history
//!   without internal notes, the documents the requester may see; a form to write to the
//!   staff, or to confirm what a step waits for.
//! - `POST /status/{number}`: that form (`t`, `csrf`, `pesan`, optional `konfirmasi`).
//! - `GET /`, `POST /permohonan`, `POST /api/requests`: the request form (see [`form`]).
//! - Attachments (request letter, photos; PDF/JPG/PNG up to 10 MB): the result page and
//!   the status page carry a form that posts the file straight to S3 under a signed
//!   policy (see `loket_aws::uploads` for why), and S3 sends the browser back to
//!   `GET /status/{number}/lampiran`, which checks the file by its content and adds it to
//!   the ticket, or deletes it and says why.
//! - `GET /status/{number}/dokumen/{i}?t=<token>`: opens a document the requester may see
//!   (a short-lived presigned S3 link; the bucket stays private).
//!
//! The token is compared with its stored hash in constant time; a wrong token and an
//! unknown ticket get the same 404, so numbers cannot be probed. Every value is escaped;
//! the pages have no script, a strict Content-Security-Policy and `no-referrer` (the token
//! is in the URL).

pub mod attachments;
pub mod form;

use jiff::Timestamp;
use lambda_http::http::{Method, StatusCode};
use lambda_http::{Body, Request, RequestExt, RequestPayloadExt, Response};
use loket_aws::S3Uploads;
use loket_aws::web::{html_page as page, html_page_posting_to, see_other};
use loket_domain::html::escape;
use loket_domain::mail::compose::{Composer, Links};
use loket_domain::mail::intake::confirms;
use loket_domain::mail::thread::{ThreadKeys, token_hash, token_matches};
use loket_domain::ports::{Mailer, StoreError, TicketStore, send_recorded};
use loket_domain::ticket::{Actor, Ticket, TicketNumber, WaitReason};
use loket_domain::workflow::{Action, Workflow};
use loket_domain::{Agency, Catalog, Role};
use serde::Deserialize;

pub struct Deps<S, M> {
    pub store: S,
    pub mailer: M,
    pub catalog: Catalog,
    pub agency: Agency,
    pub keys: ThreadKeys,
    pub links: Links,
    pub uploads: S3Uploads,
}

const MAX_MESSAGE_CHARS: usize = 5_000;

pub(crate) fn not_found() -> Response<Body> {
    page(
        StatusCode::NOT_FOUND,
        "Tiket tidak ditemukan",
        "<p>Tiket tidak ditemukan atau tautan tidak lengkap. Gunakan tautan pada email tanda terima tiket Anda.</p>",
    )
}

pub async fn handle<S, M>(deps: &Deps<S, M>, request: Request, now: Timestamp) -> Response<Body>
where
    S: TicketStore + Sync,
    M: Mailer + Sync,
{
    let path = request.raw_http_path().trim_matches('/').to_string();
    match (request.method().clone(), path.as_str()) {
        (Method::GET, "") => return form::show(deps, now),
        (Method::POST, "permohonan") => return form::post_form(deps, &request, now).await,
        (Method::POST, "api/requests") => return form::post_json(deps, &request, now).await,
        _ => {}
    }
    let Some(rest) = path.strip_prefix("status/") else { return not_found() };
    let (number, sub) = rest.split_once('/').unwrap_or((rest, ""));
    let Ok(number) = number.parse::<TicketNumber>() else { return not_found() };
    let query = request.query_string_parameters();
    let token = query.first("t").unwrap_or_default().to_string();
    match (request.method().clone(), sub) {
        (Method::GET, "lampiran") => {
            return attachments::uploaded(deps, &number, &token, query.first("key").unwrap_or_default(), now).await;
        }
        (Method::GET, sub) if sub.starts_with("dokumen/") => {
            return document(deps, &number, &token, &sub["dokumen/".len()..]).await;
        }
        (_, "") => {}
        _ => return not_found(),
    }
    match *request.method() {
        Method::GET => {
            let notice = query.first("info").and_then(attachments::notice);
            status_page(deps, &number, &token, notice, now).await
        }
        Method::POST => post(deps, &number, &request, now).await,
        _ => not_found(),
    }
}

/// How long a document link stays valid (the status page makes a fresh one each time).
const DOCUMENT_LINK_VALID_FOR: std::time::Duration = std::time::Duration::from_secs(300);

/// `GET /status/{number}/dokumen/{index}?t=<token>`: a document the requester may see,
/// through a short-lived link (a presigned S3 GET). Internal documents, a wrong token and
/// an unknown ticket or index all get the same 404.
async fn document<S: TicketStore, M>(
    deps: &Deps<S, M>,
    number: &TicketNumber,
    token: &str,
    index: &str,
) -> Response<Body> {
    let ticket = match authorised(deps, number, token).await {
        Ok(Some(t)) => t,
        Ok(None) => return not_found(),
        Err(e) => {
            tracing::error!(error = %e, "status document: store");
            return busy();
        }
    };
    let Some(document) = index.parse::<usize>().ok().and_then(|i| ticket.documents.get(i)).filter(|d| d.public) else {
        return not_found();
    };
    match deps.uploads.link(document, DOCUMENT_LINK_VALID_FOR).await {
        Ok(link) => see_other(&link),
        Err(e) => {
            tracing::error!(error = %e, key = %document.key, "status document: link");
            busy()
        }
    }
}

/// The ticket, if the token is its status token; `None` for every other case alike.
pub(crate) async fn authorised<S: TicketStore, M>(
    deps: &Deps<S, M>,
    number: &TicketNumber,
    token: &str,
) -> Result<Option<Ticket>, StoreError> {
    if token.len() < 32 || token.len() > 128 {
        return Ok(None);
    }
    match deps.store.get(number).await {
        Ok(ticket) if token_matches(token, &ticket.token_hash) => Ok(Some(ticket)),
        Ok(_) | Err(StoreError::NotFound) => Ok(None),
        Err(e) => Err(e),
    }
}

pub(crate) fn busy() -> Response<Body> {
    page(StatusCode::SERVICE_UNAVAILABLE, "Coba lagi", "<p>Layanan sedang sibuk. Coba lagi sebentar lagi.</p>")
}

async fn status_page<S: TicketStore, M>(
    deps: &Deps<S, M>,
    number: &TicketNumber,
    token: &str,
    notice: Option<&str>,
    now: Timestamp,
) -> Response<Body> {
    let ticket = match authorised(deps, number, token).await {
        Ok(Some(t)) => t,
        Ok(None) => return not_found(),
        Err(e) => {
            tracing::error!(error = %e, "status page: store");
            return busy();
        }
    };
    let timeline = match deps.store.timeline(number).await {
        Ok(t) => t,
        Err(e) => {
            tracing::error!(error = %e, "status page: timeline");
            return busy();
        }
    };
    let procedure = deps.catalog.get(&ticket.procedure);
    let step = ticket.current_step().and_then(|s| procedure.and_then(|p| p.step(s)));
    let local = |t: Timestamp| deps.agency.calendar.stamp(t);
    let mut html = String::new();
    if let Some(notice) = notice {
        html.push_str(&format!("<p role=\"status\"><strong>{}</strong></p>", escape(notice)));
    }
    html.push_str(&format!(
        "<dl><dt>Nomor tiket</dt><dd>{number}</dd><dt>Layanan</dt><dd>{service}</dd><dt>Perihal</dt><dd>{subject}</dd>\
         <dt>Status</dt><dd>{status}</dd>",
        number = escape(ticket.number.as_str()),
        service = escape(procedure.map_or("", |p| p.name.as_str())),
        subject = escape(&ticket.subject),
        status = escape(ticket.status.label()),
    ));
    let waiting_on_you = ticket.is_waiting_on_requester();
    if let Some(step) = step {
        let roles: Vec<&str> = step.staff_roles().iter().map(|r| r.label()).collect();
        let holder = if waiting_on_you { "Anda (pemohon)".to_string() } else { roles.join(" / ") };
        let due = match ticket.due_at() {
            Some(due) => format!("{} {}", local(due), deps.agency.zone_label),
            None => "menunggu tanggapan Anda".to_string(),
        };
        html.push_str(&format!(
            "<dt>Langkah saat ini</dt><dd>{label}</dd><dt>Ditangani oleh</dt><dd>{holder}</dd><dt>Target selesai</dt><dd>{due}</dd>",
            label = escape(&step.public_label),
            holder = escape(&holder),
            due = escape(&due),
        ));
    }
    if let Some(reason) = &ticket.end_reason {
        html.push_str(&format!("<dt>Keterangan</dt><dd>{}</dd>", escape(reason)));
    }
    html.push_str("</dl>");
    if let Some(question) = ticket.current.as_ref().and_then(|c| c.waiting.as_ref()).and_then(|w| match &w.reason {
        WaitReason::InfoRequested { question } => Some(question.clone()),
        WaitReason::RequesterStep => None,
    }) {
        html.push_str(&format!("<p><strong>Pertanyaan petugas:</strong> {}</p>", escape(&question)));
    }

    html.push_str("<h2>Riwayat</h2><ol>");
    for event in timeline.iter().filter(|e| !e.internal) {
        let label =
            event.to_step.as_deref().and_then(|s| procedure.and_then(|p| p.step(s))).map(|s| s.public_label.as_str());
        html.push_str(&format!(
            "<li><time>{at} {zone}</time> {kind}{step}{note}</li>",
            at = escape(&local(event.at)),
            zone = escape(&deps.agency.zone_label),
            kind = escape(event.kind.label()),
            step = label.map(|l| format!(" &mdash; {}", escape(l))).unwrap_or_default(),
            note = event.note.as_deref().map(|n| format!("<br>{}", escape(n))).unwrap_or_default(),
        ));
    }
    html.push_str("</ol>");
    let base = deps.links.public_base.trim_end_matches('/');
    let documents: Vec<String> = ticket
        .documents
        .iter()
        .enumerate()
        .filter(|(_, d)| d.public)
        .map(|(i, d)| {
            format!(
                "<li><a href=\"{href}\">{name}</a> ({kb} KB)</li>",
                href = escape(&format!(
                    "{base}/status/{}/dokumen/{i}?t={}",
                    ticket.number,
                    attachments::urlencoding(token)
                )),
                name = escape(&d.name),
                kb = d.size.div_ceil(1024),
            )
        })
        .collect();
    if !documents.is_empty() {
        html.push_str(&format!("<h2>Dokumen</h2><ul>{}</ul>", documents.concat()));
    }
    let mut upload_origin = None;
    if !ticket.status.is_closed() {
        let (form, origin) = attachments::upload_section(deps, &ticket.number, token, now).await;
        html.push_str(&form);
        upload_origin = origin;
        let csrf = deps.keys.csrf(&ticket.number, &ticket.token_hash);
        let confirm = if waiting_on_you
            && ticket
                .current
                .as_ref()
                .is_some_and(|c| matches!(c.waiting.as_ref().map(|w| &w.reason), Some(WaitReason::RequesterStep)))
        {
            "<p><button type=\"submit\" name=\"konfirmasi\" value=\"1\">Konfirmasi (setuju)</button></p>"
        } else {
            ""
        };
        html.push_str(&format!(
            "<h2>Kirim pesan kepada petugas</h2><form method=\"post\" action=\"\">\
             <input type=\"hidden\" name=\"t\" value=\"{token}\"><input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
             <p><label for=\"pesan\">Pesan</label><br><textarea id=\"pesan\" name=\"pesan\" rows=\"4\" cols=\"40\" maxlength=\"{max}\"></textarea></p>\
             {confirm}<p><button type=\"submit\">Kirim pesan</button></p></form>",
            token = escape(token),
            csrf = escape(&csrf),
            max = MAX_MESSAGE_CHARS,
        ));
    }
    let title = format!("Status tiket {}", ticket.number);
    match upload_origin {
        Some(origin) => html_page_posting_to(StatusCode::OK, &title, &html, &origin),
        None => page(StatusCode::OK, &title, &html),
    }
}

#[derive(Debug, Deserialize)]
struct StatusForm {
    #[serde(default)]
    t: String,
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    pesan: String,
    #[serde(default)]
    konfirmasi: Option<String>,
}

async fn post<S, M>(deps: &Deps<S, M>, number: &TicketNumber, request: &Request, now: Timestamp) -> Response<Body>
where
    S: TicketStore + Sync,
    M: Mailer + Sync,
{
    let Ok(Some(form)) = request.payload::<StatusForm>() else { return not_found() };
    let ticket = match authorised(deps, number, &form.t).await {
        Ok(Some(t)) => t,
        Ok(None) => return not_found(),
        Err(e) => {
            tracing::error!(error = %e, "status post: store");
            return busy();
        }
    };
    if !deps.keys.check_csrf(number, &token_hash(&form.t), &form.csrf) {
        return page(
            StatusCode::FORBIDDEN,
            "Formulir kedaluwarsa",
            "<p>Formulir ini tidak berlaku. Muat ulang halaman status lalu kirim lagi.</p>",
        );
    }
    let text: String = form.pesan.trim().chars().take(MAX_MESSAGE_CHARS).collect();
    let confirming = form.konfirmasi.as_deref() == Some("1");
    if text.is_empty() && !confirming {
        return status_page(deps, number, &form.t, Some("Pesan tidak boleh kosong."), now).await;
    }
    let text = if text.is_empty() { "Setuju.".to_string() } else { text };
    let action =
        Action::RequesterReply { confirms: confirming || confirms(&text), text, documents: Vec::new(), mail_in: None };
    let wf = Workflow::new(&deps.catalog, &deps.agency);
    let applied = match wf.apply(&ticket, &Actor::requester(&ticket.requester), action, ticket.version, now) {
        Ok(a) => a,
        Err(e) => return status_page(deps, number, &form.t, Some(&e.message()), now).await,
    };
    let Some(procedure) = deps.catalog.get(&applied.ticket.procedure) else { return not_found() };
    let composer = Composer { agency: &deps.agency, keys: &deps.keys, links: &deps.links };
    let directory = |role: Role| deps.agency.staff_with(role);
    let mails = composer.mails_for(&applied, procedure, &directory, now);
    match deps.store.apply(&applied, ticket.version, &mails, None).await {
        Ok(()) => {
            send_recorded(&deps.store, &deps.mailer, number, &mails).await;
            status_page(deps, number, &form.t, Some("Pesan Anda telah diterima."), now).await
        }
        Err(StoreError::Conflict(_)) => {
            status_page(
                deps,
                number,
                &form.t,
                Some("Tiket baru saja berubah. Periksa keadaan terbaru lalu kirim lagi."),
                now,
            )
            .await
        }
        Err(e) => {
            tracing::error!(error = %e, "status post: apply");
            busy()
        }
    }
}
