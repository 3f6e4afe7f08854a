//! A ticket in the console: who asked and for what, the procedure's steps as a progress
//! line (done with the decision taken, current, next), the actions the current step
//! allows my roles (with the fields and documents the step needs), and the timeline.

use std::collections::BTreeMap;

use jiff::Timestamp;
use lambda_http::http::StatusCode;
use lambda_http::{Body, Response};
use loket_domain::html::escape;
use loket_domain::ports::{Mailer, RawMailStore, TicketStore};
use loket_domain::sop::{ItemKind, Procedure, Step};
use loket_domain::ticket::{Channel, Document, Ticket, TicketNumber};
use loket_domain::workflow::{Action, Workflow};

use super::session::{self, Session};
use super::{Posted, page as frame, redirect, url};
use crate::{Deps, DocumentError, describe_left, open_document, perform, sla_state, store_document};

fn notice(code: &str) -> Option<&'static str> {
    match code {
        "ok" => Some("Tindakan tersimpan. Pemberitahuan telah dikirim kepada yang bersangkutan."),
        "baru" => Some("Permohonan tercatat sebagai tiket baru; tanda terima dikirim ke email pemohon (bila ada)."),
        _ => None,
    }
}

fn channel_label(channel: Channel) -> &'static str {
    match channel {
        Channel::Email => "Email",
        Channel::Web => "Formulir web",
        Channel::Letter => "Surat",
        Channel::Whatsapp => "WhatsApp",
        Channel::Phone => "Telepon",
    }
}

/// The progress line: every step of the procedure, in order.
fn progress(procedure: &Procedure, ticket: &Ticket) -> String {
    let mut html = String::from("<ol class=\"progress\" aria-label=\"Langkah prosedur\">");
    for step in &procedure.steps {
        let last = ticket.history.iter().rev().find(|r| r.step == step.id);
        let current = ticket.current_step() == Some(step.id.as_str());
        let (class, mark) = if current {
            ("current", "▶")
        } else if last.is_some() {
            ("done", "✓")
        } else if ticket.status.is_closed() {
            ("skipped", "–")
        } else {
            ("next", "○")
        };
        let outcome = last
            .and_then(|r| r.outcome.as_deref())
            .and_then(|o| step.outcomes.iter().find(|x| x.id == o))
            .map(|o| format!(" — {}", escape(&o.label)))
            .unwrap_or_default();
        html.push_str(&format!(
            "<li class=\"{class}\" data-step=\"{id}\"><span aria-hidden=\"true\">{mark}</span> {no}. {label}{outcome}</li>",
            id = escape(&step.id),
            no = step.no,
            label = escape(&step.label),
        ));
    }
    html.push_str("</ol>");
    html
}

fn items_fields(step: &Step, ticket: &Ticket) -> String {
    let mut html = String::new();
    for item in step.items() {
        let Some(id) = item.id.as_deref() else { continue };
        let required = if item.required { " (wajib)" } else { "" };
        if item.kind == ItemKind::Document {
            let have =
                ticket.document_of_kind(id).map(|d| format!(" — sudah ada: {}", escape(&d.name))).unwrap_or_default();
            html.push_str(&format!(
                "<p><label for=\"dok_{id}\">{label}{required}</label>{have}<br>\
                 <input type=\"file\" id=\"dok_{id}\" name=\"dok_{id}\" accept=\".pdf,.jpg,.jpeg,.png\"> <small>PDF, JPG atau PNG, paling besar 4 MB</small></p>",
                id = escape(id),
                label = escape(&item.label),
            ));
        } else {
            let kind = match item.kind {
                ItemKind::Number => "number",
                ItemKind::Date => "date",
                ItemKind::DateTime => "datetime-local",
                _ => "text",
            };
            html.push_str(&format!(
                "<p><label for=\"isian_{id}\">{label}{required}</label><br>\
                 <input type=\"{kind}\" id=\"isian_{id}\" name=\"isian_{id}\" value=\"{value}\" maxlength=\"500\"></p>",
                id = escape(id),
                label = escape(&item.label),
                value = escape(ticket.fields.get(id).map(String::as_str).unwrap_or_default()),
            ));
        }
    }
    html
}

fn action_forms<S, R, M>(
    deps: &Deps<S, R, M>,
    session: &Session,
    procedure: &Procedure,
    ticket: &Ticket,
    allowed: &[&str],
) -> String {
    let action_url = escape(&url(deps, &format!("/tiket/{}", ticket.number)));
    let hidden = |aksi: &str, step: &str| {
        format!(
            "<input type=\"hidden\" name=\"csrf\" value=\"{}\"><input type=\"hidden\" name=\"versi\" value=\"{}\">\
             <input type=\"hidden\" name=\"aksi\" value=\"{}\"><input type=\"hidden\" name=\"langkah\" value=\"{}\">",
            escape(&session::csrf(deps, session)),
            ticket.version,
            escape(aksi),
            escape(step),
        )
    };
    let step = ticket.current_step().and_then(|s| procedure.step(s));
    let step_id = step.map_or("", |s| s.id.as_str());
    let note = "<p><label for=\"catatan-{a}\">Catatan (terlihat oleh pemohon pada riwayat)</label><br>\
                <textarea id=\"catatan-{a}\" name=\"catatan\" rows=\"2\" cols=\"40\" maxlength=\"5000\"></textarea></p>";
    let mut html = String::new();
    for action in allowed {
        let form = match (*action, step) {
            ("complete", Some(step)) => format!(
                "<fieldset><legend>Selesaikan langkah: {label}</legend>\
                 <form method=\"post\" action=\"{action_url}\" enctype=\"multipart/form-data\" data-aksi=\"complete\">{hidden}{fields}{note}\
                 <p><label for=\"lampiran\">Lampiran lain (opsional)</label><br><input type=\"file\" id=\"lampiran\" name=\"dok_lampiran\" accept=\".pdf,.jpg,.jpeg,.png\"></p>\
                 <p><button type=\"submit\">Selesaikan langkah</button></p></form></fieldset>",
                label = escape(&step.label),
                hidden = hidden("complete", &step.id),
                fields = items_fields(step, ticket),
                note = note.replace("{a}", "complete"),
            ),
            ("decide", Some(step)) => {
                let outcomes: String = step
                    .outcomes
                    .iter()
                    .map(|o| {
                        format!(
                            "<p><input type=\"radio\" id=\"keputusan-{id}\" name=\"keputusan\" value=\"{id}\" required> \
                             <label for=\"keputusan-{id}\">{label}{reason}</label></p>",
                            id = escape(&o.id),
                            label = escape(&o.label),
                            reason = if o.reason_required { " (dengan alasan)" } else { "" },
                        )
                    })
                    .collect();
                format!(
                    "<fieldset><legend>Keputusan: {label}</legend>\
                     <form method=\"post\" action=\"{action_url}\" enctype=\"multipart/form-data\" data-aksi=\"decide\">{hidden}{outcomes}\
                     <p><label for=\"alasan\">Alasan / pertimbangan</label><br><textarea id=\"alasan\" name=\"alasan\" rows=\"2\" cols=\"40\" maxlength=\"5000\"></textarea></p>\
                     {fields}{note}<p><button type=\"submit\">Simpan keputusan</button></p></form></fieldset>",
                    label = escape(&step.label),
                    hidden = hidden("decide", &step.id),
                    fields = items_fields(step, ticket),
                    note = note.replace("{a}", "decide"),
                )
            }
            ("route", Some(step)) => {
                let options: String = deps
                    .agency
                    .procedures(&deps.catalog)
                    .iter()
                    .map(|p| format!("<option value=\"{}\">{}</option>", escape(&p.id), escape(&p.name)))
                    .collect();
                format!(
                    "<fieldset><legend>Teruskan ke layanan</legend><form method=\"post\" action=\"{action_url}\" data-aksi=\"route\">{hidden}\
                     <p><label for=\"layanan\">Layanan</label><br><select id=\"layanan\" name=\"layanan\">{options}</select></p>{note}\
                     <p><button type=\"submit\">Teruskan</button></p></form></fieldset>",
                    hidden = hidden("route", &step.id),
                    note = note.replace("{a}", "route"),
                )
            }
            ("assign", _) => {
                let roles = step.map(|s| s.staff_roles()).unwrap_or_default();
                let mut people: Vec<_> = roles.iter().flat_map(|r| deps.agency.staff_with(*r)).collect();
                people.sort_by(|a, b| a.id.cmp(&b.id));
                people.dedup_by(|a, b| a.id == b.id);
                if people.is_empty() {
                    continue;
                }
                let options: String = people
                    .iter()
                    .map(|p| format!("<option value=\"{}\">{}</option>", escape(&p.id), escape(&p.name)))
                    .collect();
                format!(
                    "<fieldset><legend>Tugaskan kepada</legend><form method=\"post\" action=\"{action_url}\" data-aksi=\"assign\">{hidden}\
                     <p><label for=\"petugas\">Petugas</label><br><select id=\"petugas\" name=\"petugas\">{options}</select></p>\
                     <p><button type=\"submit\">Tugaskan</button></p></form></fieldset>",
                    hidden = hidden("assign", step_id),
                )
            }
            ("note", _) => format!(
                "<fieldset><legend>Catatan internal (tidak terlihat oleh pemohon)</legend><form method=\"post\" action=\"{action_url}\" data-aksi=\"note\">{hidden}\
                 <p><label for=\"teks\">Catatan</label><br><textarea id=\"teks\" name=\"teks\" rows=\"2\" cols=\"40\" maxlength=\"5000\" required></textarea></p>\
                 <p><button type=\"submit\">Simpan catatan</button></p></form></fieldset>",
                hidden = hidden("note", step_id),
            ),
            ("request_info", _) => format!(
                "<fieldset><legend>Minta keterangan dari pemohon (jam langkah berhenti)</legend><form method=\"post\" action=\"{action_url}\" data-aksi=\"request_info\">{hidden}\
                 <p><label for=\"pertanyaan\">Pertanyaan</label><br><textarea id=\"pertanyaan\" name=\"pertanyaan\" rows=\"2\" cols=\"40\" maxlength=\"5000\" required></textarea></p>\
                 <p><button type=\"submit\">Kirim pertanyaan</button></p></form></fieldset>",
                hidden = hidden("request_info", step_id),
            ),
            ("use_document", Some(step)) => {
                let files: String = ticket
                    .requester_documents()
                    .map(|d| format!("<option value=\"{}\">{}</option>", escape(&d.key), escape(&d.name)))
                    .collect();
                let kinds: String = step
                    .items()
                    .filter(|i| i.kind == ItemKind::Document)
                    .filter_map(|i| {
                        i.id.as_deref()
                            .map(|id| format!("<option value=\"{}\">{}</option>", escape(id), escape(&i.label)))
                    })
                    .collect();
                format!(
                    "<fieldset><legend>Pakai lampiran pemohon sebagai dokumen langkah ini</legend>\
                     <form method=\"post\" action=\"{action_url}\" data-aksi=\"use_document\">{hidden}\
                     <p><label for=\"dokumen\">Lampiran pemohon</label><br><select id=\"dokumen\" name=\"dokumen\">{files}</select></p>\
                     <p><label for=\"jenis\">Dipakai sebagai</label><br><select id=\"jenis\" name=\"jenis\">{kinds}</select></p>\
                     <p><button type=\"submit\">Pakai lampiran</button></p></form></fieldset>",
                    hidden = hidden("use_document", &step.id),
                )
            }
            ("answer_received", _) => format!(
                "<fieldset><legend>Jawaban pemohon diterima lewat telepon, WhatsApp, atau langsung (jam langkah berjalan lagi)</legend>\
                 <form method=\"post\" action=\"{action_url}\" data-aksi=\"answer_received\">{hidden}\
                 <p><label for=\"jawaban\">Jawaban pemohon</label><br><textarea id=\"jawaban\" name=\"jawaban\" rows=\"2\" cols=\"40\" maxlength=\"5000\" required></textarea></p>\
                 <p><button type=\"submit\">Catat jawaban</button></p></form></fieldset>",
                hidden = hidden("answer_received", step_id),
            ),
            ("reopen", _) => format!(
                "<fieldset><legend>Buka kembali tiket</legend><form method=\"post\" action=\"{action_url}\" data-aksi=\"reopen\">{hidden}\
                 <p><label for=\"alasan-buka\">Alasan</label><br><textarea id=\"alasan-buka\" name=\"alasan\" rows=\"2\" cols=\"40\" maxlength=\"5000\" required></textarea></p>\
                 <p><button type=\"submit\">Buka kembali</button></p></form></fieldset>",
                hidden = hidden("reopen", step_id),
            ),
            _ => continue,
        };
        html.push_str(&form);
    }
    html
}

/// `GET /konsol/tiket/{number}`, also the answer to a refused action (`problem`).
/// `GET /konsol/tiket/{number}/dokumen/{index}`: the document, through a short-lived
/// link (see [`open_document`]).
pub async fn document<S: TicketStore, R: RawMailStore, M>(
    deps: &Deps<S, R, M>,
    session: &Session,
    number: &str,
    index: &str,
) -> Response<Body> {
    match open_document(deps, &session.id, number, index).await {
        Ok((_, link)) => redirect(&link),
        Err(DocumentError::NotFound) => {
            frame(deps, Some(session), StatusCode::NOT_FOUND, "Dokumen tidak ditemukan", "<p>Periksa tautannya.</p>")
        }
        Err(DocumentError::Unavailable) => frame(
            deps,
            Some(session),
            StatusCode::SERVICE_UNAVAILABLE,
            "Coba lagi",
            "<p class=\"problem\">Dokumen tidak dapat dibuka saat ini. Coba lagi sebentar lagi.</p>",
        ),
    }
}

pub async fn page<S: TicketStore, R, M>(
    deps: &Deps<S, R, M>,
    session: &Session,
    number: &str,
    info: Option<&str>,
    problem: Option<&str>,
    status: StatusCode,
) -> Response<Body> {
    let now = Timestamp::now();
    let not_found =
        || frame(deps, Some(session), StatusCode::NOT_FOUND, "Tiket tidak ditemukan", "<p>Periksa nomor tiket.</p>");
    let Ok(number) = number.parse::<TicketNumber>() else { return not_found() };
    let (ticket, timeline) = match (deps.store.get(&number).await, deps.store.timeline(&number).await) {
        (Ok(t), Ok(e)) => (t, e),
        (Err(loket_domain::ports::StoreError::NotFound), _) => return not_found(),
        (Err(e), _) | (_, Err(e)) => {
            tracing::error!(error = %e, "console ticket");
            return frame(
                deps,
                Some(session),
                StatusCode::SERVICE_UNAVAILABLE,
                "Coba lagi",
                "<p class=\"problem\">Tiket tidak dapat dimuat. Coba lagi sebentar lagi.</p>",
            );
        }
    };
    let Some(procedure) = deps.catalog.get(&ticket.procedure) else { return not_found() };
    let local = |t: Timestamp| deps.agency.calendar.stamp(t);
    let mut html = String::new();
    if let Some(text) = info.and_then(notice) {
        html.push_str(&format!("<p class=\"notice\" role=\"status\">{}</p>", escape(text)));
    }
    if let Some(text) = problem {
        html.push_str(&format!("<p class=\"problem\" role=\"alert\">{}</p>", escape(text)));
    }
    let step = ticket.current_step().and_then(|s| procedure.step(s));
    let state_line = match step {
        Some(step) => {
            let (state, left) = sla_state(&deps.agency, ticket.due_at(), step.limit.fixed_seconds(), now);
            let roles: Vec<&str> = step.staff_roles().iter().map(|r| r.label()).collect();
            format!(
                "{badge} {label} <small>({roles}; batas {limit}{due}{left})</small>",
                badge = super::queue::badge(state),
                label = escape(&step.label),
                roles = escape(&roles.join(" / ")),
                limit = escape(&step.limit.label()),
                due = ticket
                    .due_at()
                    .map(|d| format!(", {} {}", escape(&local(d)), escape(&deps.agency.zone_label)))
                    .unwrap_or_default(),
                left = left
                    .map(|s| {
                        if s < 0 {
                            format!(", lewat {}", escape(&describe_left(&deps.agency, s)))
                        } else {
                            format!(", sisa {}", escape(&describe_left(&deps.agency, s)))
                        }
                    })
                    .unwrap_or_default(),
            )
        }
        None => format!("<span class=\"badge closed\">{}</span>", escape(ticket.status.label())),
    };
    let fields: String =
        ticket.fields.iter().map(|(k, v)| format!("<dt>{}</dt><dd>{}</dd>", escape(k), escape(v))).collect();
    html.push_str(&format!(
        "<dl class=\"facts\"><dt>Nomor</dt><dd id=\"nomor\">{number}</dd><dt>Layanan</dt><dd>{service}</dd>\
         <dt>Status</dt><dd>{status_label}</dd><dt>Langkah saat ini</dt><dd id=\"langkah\">{state_line}</dd>\
         <dt>Pemohon</dt><dd>{name} &lt;{email}&gt; {phone}</dd><dt>Unit</dt><dd>{unit}</dd><dt>Saluran</dt><dd>{channel}</dd>\
         <dt>Perihal</dt><dd>{subject}</dd><dt>Uraian</dt><dd>{description}</dd>{fields}{end}</dl>",
        number = escape(ticket.number.as_str()),
        service = escape(&procedure.name),
        status_label = escape(ticket.status.label()),
        name = escape(&ticket.requester.name),
        email = escape(ticket.requester.email.as_deref().unwrap_or("-")),
        phone = escape(ticket.requester.phone.as_deref().unwrap_or_default()),
        unit = escape(&ticket.requester.unit),
        channel = channel_label(ticket.channel),
        subject = escape(&ticket.subject),
        description = escape(&ticket.description).replace('\n', "<br>"),
        end = ticket.end_reason.as_deref().map(|r| format!("<dt>Keterangan</dt><dd>{}</dd>", escape(r))).unwrap_or_default(),
    ));
    html.push_str("<h2>Langkah prosedur</h2>");
    html.push_str(&progress(procedure, &ticket));
    let wf = Workflow::new(&deps.catalog, &deps.agency);
    let allowed = wf.allowed_actions(&ticket, &session.roles);
    if allowed.is_empty() {
        html.push_str("<p>Tidak ada tindakan untuk peran Anda pada langkah ini.</p>");
    } else {
        html.push_str("<h2>Tindakan</h2>");
        html.push_str(&action_forms(deps, session, procedure, &ticket, &allowed));
    }
    if !ticket.documents.is_empty() {
        html.push_str("<h2>Dokumen</h2><ul>");
        for (i, d) in ticket.documents.iter().enumerate() {
            html.push_str(&format!(
                "<li><a href=\"{href}\">{name}</a> <small>({kind}, {kb} KB, {at}{public})</small></li>",
                href = escape(&url(deps, &format!("/tiket/{}/dokumen/{i}", ticket.number))),
                name = escape(&d.name),
                kind = escape(&d.kind),
                kb = d.size.div_ceil(1024),
                at = escape(&local(d.uploaded_at)),
                public = if d.public { "" } else { ", internal" },
            ));
        }
        html.push_str("</ul>");
    }
    html.push_str("<h2>Riwayat</h2><ol class=\"timeline\">");
    let step_label = |id: &Option<String>| {
        id.as_deref().and_then(|s| procedure.step(s)).map(|s| s.label.clone()).unwrap_or_default()
    };
    for event in &timeline {
        let moved = match (&event.from_step, &event.to_step) {
            (Some(_), Some(_)) | (None, Some(_)) if event.from_step != event.to_step => {
                format!(" → {}", escape(&step_label(&event.to_step)))
            }
            _ => String::new(),
        };
        let documents: Vec<String> = event.documents.iter().map(|d| escape(&d.name)).collect();
        html.push_str(&format!(
            "<li{class}><time>{at}</time> <strong>{kind}</strong> oleh {who}{moved}{outcome}{note}{docs}{auth}</li>",
            class = if event.internal { " class=\"internal\"" } else { "" },
            at = escape(&format!("{} {}", local(event.at), deps.agency.zone_label)),
            kind = escape(event.kind.label()),
            who = escape(&event.actor.name),
            outcome = event.outcome.as_deref().map(|o| format!(" ({})", escape(o))).unwrap_or_default(),
            note =
                event.note.as_deref().map(|n| format!("<br>{}", escape(n).replace('\n', "<br>"))).unwrap_or_default(),
            docs = if documents.is_empty() { String::new() } else { format!("<br>Dokumen: {}", documents.join(", ")) },
            auth = event.mail_auth.as_deref().map(|a| format!(" <small>[{}]</small>", escape(a))).unwrap_or_default(),
        ));
    }
    html.push_str("</ol>");
    frame(deps, Some(session), status, &format!("Tiket {}", ticket.number), &html)
}

fn text(form: &BTreeMap<String, String>, name: &str) -> Option<String> {
    form.get(name).map(|v| v.trim().to_string()).filter(|v| !v.is_empty())
}

/// `POST /konsol/tiket/{number}`: one action, through the staff API's own path.
pub async fn post<S, R, M>(
    deps: &Deps<S, R, M>,
    session: &Session,
    number: &str,
    form: Posted,
    now: Timestamp,
) -> Response<Body>
where
    S: TicketStore + Sync,
    R: RawMailStore + Sync,
    M: Mailer + Sync,
{
    let Ok(ticket_number) = number.parse::<TicketNumber>() else {
        return page(deps, session, number, None, None, StatusCode::NOT_FOUND).await;
    };
    let f = &form.fields;
    let Some(version) = f.get("versi").and_then(|v| v.parse::<u64>().ok()) else {
        return page(deps, session, number, None, Some("Formulir tidak lengkap."), StatusCode::BAD_REQUEST).await;
    };
    let step = text(f, "langkah").unwrap_or_default();
    // Files are kept only for an action this person may take on this version of the
    // ticket (the action itself checks again): a refused post leaves no stray upload.
    if !form.files.is_empty() {
        let refused = match deps.store.get(&ticket_number).await {
            Ok(ticket) => {
                let aksi = f.get("aksi").map(String::as_str).unwrap_or_default();
                let wf = Workflow::new(&deps.catalog, &deps.agency);
                if ticket.version != version {
                    Some((
                        StatusCode::CONFLICT,
                        "Tiket telah diubah oleh orang lain. Muat ulang halaman lalu coba lagi.",
                    ))
                } else if !wf.allowed_actions(&ticket, &session.roles).contains(&aksi) {
                    Some((StatusCode::FORBIDDEN, "Tindakan ini tidak tersedia untuk peran Anda pada langkah ini."))
                } else {
                    None
                }
            }
            Err(_) => Some((StatusCode::SERVICE_UNAVAILABLE, "Tiket tidak dapat dibaca saat ini. Coba lagi.")),
        };
        if let Some((status, message)) = refused {
            return page(deps, session, number, None, Some(message), status).await;
        }
    }
    let mut documents: Vec<Document> = Vec::new();
    for file in form.files {
        let kind = file.field.strip_prefix("dok_").unwrap_or("lampiran").to_string();
        match store_document(deps, &ticket_number, &kind, &file.name, file.bytes, true, now).await {
            Ok(document) => documents.push(document),
            Err(response) => {
                let (status, message) = status_and_message(&response);
                return page(deps, session, number, None, Some(&message), status).await;
            }
        }
    }
    let values: BTreeMap<String, String> = f
        .iter()
        .filter_map(|(k, v)| k.strip_prefix("isian_").map(|id| (id.to_string(), v.trim().to_string())))
        .filter(|(_, v)| !v.is_empty())
        .collect();
    let action = match f.get("aksi").map(String::as_str) {
        Some("complete") => Action::Complete { step, note: text(f, "catatan"), fields: values, documents },
        Some("decide") => Action::Decide {
            step,
            outcome: text(f, "keputusan").unwrap_or_default(),
            reason: text(f, "alasan"),
            note: text(f, "catatan"),
            fields: values,
            documents,
        },
        Some("route") => {
            Action::Route { step, procedure: text(f, "layanan").unwrap_or_default(), note: text(f, "catatan") }
        }
        Some("assign") => {
            let who = text(f, "petugas").unwrap_or_default();
            let Some(member) = deps.agency.staff.iter().find(|m| m.id == who) else {
                return page(
                    deps,
                    session,
                    number,
                    None,
                    Some("Petugas tidak dikenal."),
                    StatusCode::UNPROCESSABLE_ENTITY,
                )
                .await;
            };
            Action::Assign { to: member.as_ref(), note: text(f, "catatan") }
        }
        Some("note") => Action::Note { text: text(f, "teks").unwrap_or_default() },
        Some("request_info") => Action::RequestInfo { question: text(f, "pertanyaan").unwrap_or_default() },
        Some("answer_received") => Action::AnswerReceived { answer: text(f, "jawaban").unwrap_or_default() },
        Some("use_document") => Action::UseRequesterDocument {
            key: text(f, "dokumen").unwrap_or_default(),
            kind: text(f, "jenis").unwrap_or_default(),
        },
        Some("reopen") => Action::Reopen { reason: text(f, "alasan").unwrap_or_default() },
        _ => return page(deps, session, number, None, Some("Tindakan tidak dikenal."), StatusCode::BAD_REQUEST).await,
    };
    let response = perform(deps, &session.staff(), &ticket_number, version, action, now).await;
    if response.status() == StatusCode::OK {
        return redirect(&url(deps, &format!("/tiket/{ticket_number}?info=ok")));
    }
    let (status, message) = status_and_message(&response);
    page(deps, session, number, None, Some(&message), status).await
}

/// The status and the Bahasa Indonesia `message` of one of the API's JSON answers.
pub(crate) fn status_and_message(response: &Response<Body>) -> (StatusCode, String) {
    let message = serde_json::from_slice::<serde_json::Value>(response.body().as_ref())
        .ok()
        .and_then(|v| v["message"].as_str().map(str::to_string))
        .unwrap_or_else(|| "Tindakan tidak dapat disimpan.".to_string());
    (response.status(), message)
}
