//! Attachments from the requester: the upload form (a presigned S3 POST, no script) on
//! the result and status pages, and `GET /status/{number}/lampiran`, where S3 sends the
//! browser after storing the file.
//!
//! A checked file is copied to `attachments/requests/<number>/` (the version that was
//! checked, by its ETag) and the document is that copy: the upload form lets the browser
//! post to its key again for an hour, so the upload itself could be swapped afterwards.
//! Uploads never checked (the browser did not come back) expire after two days.
//!
//! Why presigned and not through the function: an HTTP API → Lambda request stops at
//! 6 MB (less after base64), and a letter scan or a phone photo may be 10 MB. The policy
//! fixes the key prefix (the ticket and a fresh random folder), the size (1 byte to
//! 10 MB; S3 refuses anything larger) and the expiry (one hour). The file becomes a
//! document of the ticket only after its first bytes show a PDF, JPEG or PNG; anything
//! else is deleted and the requester is told why.

use std::time::Duration;

use jiff::Timestamp;
use lambda_http::{Body, Response};
use loket_aws::web::{origin_of, see_other};
use loket_domain::Role;
use loket_domain::files::{safe_name, sniff};
use loket_domain::html::escape;
use loket_domain::mail::compose::Composer;
use loket_domain::ports::{Mailer, StoreError, TicketStore, send_recorded};
use loket_domain::ticket::{Actor, Document, TicketNumber};
use loket_domain::workflow::{Action, Workflow};

use crate::{Deps, authorised, busy, not_found};

/// Largest attachment (the policy's `content-length-range`).
pub const MAX_ATTACHMENT_BYTES: u64 = 10 * 1024 * 1024;
/// How long an upload form stays valid.
const UPLOAD_VALID_FOR: Duration = Duration::from_secs(3600);

/// The notices the status page shows after an upload (`?info=<code>`): fixed texts,
/// so nothing from the URL is ever shown.
pub fn notice(code: &str) -> Option<&'static str> {
    match code {
        "lampiran" => Some("Lampiran Anda telah tersimpan dan diteruskan kepada petugas."),
        "lampiran_ada" => Some("Lampiran ini sudah tersimpan sebelumnya."),
        "lampiran_tipe" => Some(
            "Lampiran ditolak: berkas harus berupa PDF, JPG, atau PNG (diperiksa dari isinya). Berkas tidak disimpan.",
        ),
        "lampiran_hilang" => Some("Lampiran tidak ditemukan. Unggah ulang berkas Anda."),
        "lampiran_tutup" => Some("Tiket sudah selesai; lampiran tidak dapat ditambahkan. Berkas tidak disimpan."),
        _ => None,
    }
}

fn prefix(number: &TicketNumber) -> String {
    format!("incoming/{number}/")
}

/// The upload form for a ticket, and the origin the page's CSP must allow it to post
/// to. Without randomness or credentials the section says uploads are unavailable.
pub async fn upload_section<S, M>(
    deps: &Deps<S, M>,
    number: &TicketNumber,
    token: &str,
    now: Timestamp,
) -> (String, Option<String>) {
    let heading = "<h2>Lampiran</h2>";
    let unavailable = || {
        (
            format!(
                "{heading}<p>Unggah lampiran sedang tidak tersedia. Coba lagi nanti atau balas email tanda terima dengan lampiran.</p>"
            ),
            None,
        )
    };
    let Ok(folder) = loket_aws::new_status_token() else { return unavailable() };
    let redirect =
        format!("{}/status/{number}/lampiran?t={}", deps.links.public_base.trim_end_matches('/'), urlencoding(token));
    let form = match deps
        .uploads
        .upload_form(&format!("{}{folder}/", prefix(number)), MAX_ATTACHMENT_BYTES, &redirect, now, UPLOAD_VALID_FOR)
        .await
    {
        Ok(form) => form,
        Err(e) => {
            tracing::error!(error = %e, "upload form");
            return unavailable();
        }
    };
    let hidden: String = form
        .fields
        .iter()
        .map(|(name, value)| format!("<input type=\"hidden\" name=\"{}\" value=\"{}\">", escape(name), escape(value)))
        .collect();
    let html = format!(
        "{heading}<form method=\"post\" action=\"{action}\" enctype=\"multipart/form-data\">{hidden}\
         <p><label for=\"file\">Berkas: surat permohonan (PDF) atau foto (JPG, PNG), paling besar 10 MB</label><br>\
         <input type=\"file\" id=\"file\" name=\"file\" required \
         accept=\".pdf,.jpg,.jpeg,.png,application/pdf,image/jpeg,image/png\"></p>\
         <p><button type=\"submit\">Unggah lampiran</button></p></form>",
        action = escape(&form.action),
    );
    (html, Some(origin_of(&form.action).to_string()))
}

/// Percent-encodes a query value (tokens are hex, but never trust that here).
pub(crate) fn urlencoding(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn back_to_status<S, M>(deps: &Deps<S, M>, number: &TicketNumber, token: &str, info: &str) -> Response<Body> {
    see_other(&format!(
        "{}/status/{number}?t={}&info={info}",
        deps.links.public_base.trim_end_matches('/'),
        urlencoding(token)
    ))
}

/// `GET /status/{number}/lampiran?t=<token>&key=<key>` (S3's redirect after an upload).
pub async fn uploaded<S, M>(
    deps: &Deps<S, M>,
    number: &TicketNumber,
    token: &str,
    key: &str,
    now: Timestamp,
) -> Response<Body>
where
    S: TicketStore + Sync,
    M: Mailer + Sync,
{
    // A conflict means someone moved the ticket meanwhile: read it again and retry.
    for _ in 0..3 {
        if let Some(response) = register(deps, number, token, key, now).await {
            return response;
        }
    }
    busy()
}

/// One attempt; `None` on a version conflict.
async fn register<S, M>(
    deps: &Deps<S, M>,
    number: &TicketNumber,
    token: &str,
    key: &str,
    now: Timestamp,
) -> Option<Response<Body>>
where
    S: TicketStore + Sync,
    M: Mailer + Sync,
{
    let ticket = match authorised(deps, number, token).await {
        Ok(Some(t)) => t,
        Ok(None) => return Some(not_found()),
        Err(e) => {
            tracing::error!(error = %e, "upload: store");
            return Some(busy());
        }
    };
    // Only a key under this ticket's own prefix, in one random folder, with a name.
    let Some((folder, name)) = key.strip_prefix(&prefix(number)).and_then(|rest| rest.split_once('/')) else {
        return Some(not_found());
    };
    if folder.len() != 32 || !folder.chars().all(|c| c.is_ascii_hexdigit()) || name.is_empty() || name.contains('/') {
        return Some(not_found());
    }
    // Where a checked upload is kept: out of the upload form's reach.
    let kept = format!("attachments/requests/{number}/{folder}-{}", safe_name(name));
    if ticket.documents.iter().any(|d| d.key == key || d.key == kept) {
        return Some(back_to_status(deps, number, token, "lampiran_ada"));
    }
    let file = match deps.uploads.inspect(key).await {
        Ok(Some(file)) => file,
        Ok(None) => return Some(back_to_status(deps, number, token, "lampiran_hilang")),
        Err(e) => {
            tracing::error!(error = %e, "upload: inspect");
            return Some(busy());
        }
    };
    let refuse = |info: &'static str| async move {
        if let Err(e) = deps.uploads.discard(key).await {
            tracing::error!(error = %e, key, "upload: discard refused file");
        }
        Some(back_to_status(deps, number, token, info))
    };
    let Some(content_type) = sniff(&file.head).filter(|_| file.size <= MAX_ATTACHMENT_BYTES) else {
        tracing::info!(key, size = file.size, "upload refused: not a PDF, JPEG or PNG");
        return refuse("lampiran_tipe").await;
    };
    let display = safe_name(name);
    let document = Document {
        kind: "lampiran".into(),
        name: display.clone(),
        content_type: content_type.into(),
        size: file.size,
        key: kept.clone(),
        uploaded_at: now,
        public: true,
    };
    let action = Action::RequesterReply {
        text: format!("Lampiran dikirim: {display}"),
        documents: vec![document],
        confirms: false,
        mail_in: None,
    };
    let wf = Workflow::new(&deps.catalog, &deps.agency);
    let applied = match wf.apply(&ticket, &Actor::requester(&ticket.requester), action, ticket.version, now) {
        Ok(a) => a,
        Err(e) => {
            tracing::info!(code = e.code(), "upload refused by the workflow");
            return refuse("lampiran_tutup").await;
        }
    };
    // Copied once the ticket takes it (nothing is left behind for a closed ticket).
    match deps.uploads.keep(key, file.etag.as_deref(), &kept, content_type).await {
        Ok(true) => {}
        // Posted again (or removed) since it was checked: check it again.
        Ok(false) => return None,
        Err(e) => {
            tracing::error!(error = %e, "upload: keep");
            return Some(busy());
        }
    }
    let Some(procedure) = deps.catalog.get(&applied.ticket.procedure) else { return Some(not_found()) };
    let composer = Composer { agency: &deps.agency, keys: &deps.keys, links: &deps.links };
    let directory = |role: Role| deps.agency.staff_with(role);
    let mails = composer.mails_for(&applied, procedure, &directory, now);
    match deps.store.apply(&applied, ticket.version, &mails, None).await {
        Ok(()) => {
            send_recorded(&deps.store, &deps.mailer, number, &mails).await;
            // The copy is the document; the upload goes (or expires with the others).
            if let Err(e) = deps.uploads.discard(key).await {
                tracing::warn!(error = %e, key, "upload: remove the kept upload");
            }
            Some(back_to_status(deps, number, token, "lampiran"))
        }
        Err(StoreError::Conflict(_)) => None,
        Err(e) => {
            tracing::error!(error = %e, "upload: apply");
            Some(busy())
        }
    }
}
