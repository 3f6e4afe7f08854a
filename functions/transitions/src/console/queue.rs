//! My queue: tickets whose current step belongs to one of my roles, soonest due first,
//! with a badge for on time / warning / overdue and the working time left.

use std::collections::BTreeMap;

use jiff::Timestamp;
use lambda_http::http::StatusCode;
use lambda_http::{Body, Response};
use loket_domain::html::escape;
use loket_domain::ports::TicketStore;

use super::session::Session;
use super::{page as frame, url};
use crate::{Deps, describe_left, sla_state};

pub(crate) fn badge(state: &str) -> &'static str {
    match state {
        "on_time" => "<span class=\"badge on_time\">Tepat waktu</span>",
        "warning" => "<span class=\"badge warning\">Hampir terlambat</span>",
        "overdue" => "<span class=\"badge overdue\">Terlambat</span>",
        _ => "<span class=\"badge waiting\">Menunggu pemohon</span>",
    }
}

pub async fn page<S: TicketStore, R, M>(deps: &Deps<S, R, M>, session: &Session, now: Timestamp) -> Response<Body> {
    let mut entries = BTreeMap::new();
    for role in &session.roles {
        match deps.store.queue(*role, 200, None).await {
            Ok(page) => {
                for entry in page.items {
                    entries.entry(entry.number.clone()).or_insert(entry);
                }
            }
            Err(e) => {
                tracing::error!(error = %e, "console queue");
                return frame(
                    deps,
                    Some(session),
                    StatusCode::SERVICE_UNAVAILABLE,
                    "Antrean saya",
                    "<p class=\"problem\">Antrean tidak dapat dimuat. Coba lagi sebentar lagi.</p>",
                );
            }
        }
    }
    let mut entries: Vec<_> = entries.into_values().collect();
    entries.sort_by_key(|e| (e.due_at.is_none(), e.due_at));
    let local = |t: Timestamp| deps.agency.calendar.stamp(t);
    let mut rows = String::new();
    for e in &entries {
        let step = deps.catalog.get(&e.procedure).and_then(|p| p.step(&e.step));
        let (state, left) = sla_state(&deps.agency, e.due_at, step.and_then(|s| s.limit.fixed_seconds()), now);
        let left_text = match left {
            Some(secs) if secs < 0 => format!("lewat {}", describe_left(&deps.agency, secs)),
            Some(secs) => format!("sisa {}", describe_left(&deps.agency, secs)),
            None => "jam berhenti".to_string(),
        };
        rows.push_str(&format!(
            "<tr data-state=\"{state}\"><td>{badge}</td><td><a href=\"{href}\">{number}</a></td><td>{subject}<br><small>{unit} · {requester}</small></td>\
             <td>{step}</td><td>{due}<br><small>{left}</small></td></tr>",
            badge = badge(state),
            href = escape(&url(deps, &format!("/tiket/{}", e.number))),
            number = escape(e.number.as_str()),
            subject = escape(&e.subject),
            unit = escape(&e.unit),
            requester = escape(&e.requester_name),
            step = escape(step.map_or(e.step.as_str(), |s| s.label.as_str())),
            due = escape(&e.due_at.map(|d| format!("{} {}", local(d), deps.agency.zone_label)).unwrap_or_default()),
            left = escape(&left_text),
        ));
    }
    let html = if entries.is_empty() {
        "<p>Tidak ada tiket yang menunggu Anda.</p>".to_string()
    } else {
        format!(
            "<p>{} tiket menunggu Anda, yang paling mendesak di atas.</p><table><thead><tr><th>Status</th><th>Nomor</th>\
             <th>Perihal</th><th>Langkah</th><th>Batas waktu</th></tr></thead><tbody>{rows}</tbody></table>",
            entries.len()
        )
    };
    let html = format!("{}{html}", super::quarantine::recent_notice(deps, session, now).await);
    frame(deps, Some(session), StatusCode::OK, "Antrean saya", &html)
}
