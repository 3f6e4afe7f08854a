//! Search by ticket number (goes straight to the ticket), requester email, or unit (a
//! part of its name, over the tickets opened in the last twelve months).

use jiff::Timestamp;
use lambda_http::http::StatusCode;
use lambda_http::{Body, Response};
use loket_domain::html::escape;
use loket_domain::ports::TicketStore;
use loket_domain::ticket::{Ticket, TicketNumber};

use super::session::Session;
use super::{page as frame, redirect, url};
use crate::Deps;

const MAX_RESULTS: usize = 100;

pub async fn page<S: TicketStore, R, M>(
    deps: &Deps<S, R, M>,
    session: &Session,
    query: &str,
    now: Timestamp,
) -> Response<Body> {
    let query = query.trim();
    let mut html = format!(
        "<form method=\"get\" action=\"{action}\" role=\"search\"><p><label for=\"q\">Nomor tiket, email pemohon, atau nama unit</label><br>\
         <input id=\"q\" name=\"q\" value=\"{value}\" maxlength=\"200\"> <button type=\"submit\">Cari</button></p></form>",
        action = escape(&url(deps, "/cari")),
        value = escape(query),
    );
    if query.is_empty() {
        return frame(deps, Some(session), StatusCode::OK, "Cari tiket", &html);
    }
    if let Ok(number) = query.to_ascii_uppercase().parse::<TicketNumber>() {
        return match deps.store.get(&number).await {
            Ok(_) => redirect(&url(deps, &format!("/tiket/{number}"))),
            Err(_) => {
                html.push_str(&format!("<p>Tiket {} tidak ditemukan.</p>", escape(number.as_str())));
                frame(deps, Some(session), StatusCode::OK, "Cari tiket", &html)
            }
        };
    }
    let found: Result<Vec<Ticket>, _> = if query.contains('@') {
        deps.store.by_requester(&query.to_ascii_lowercase(), MAX_RESULTS as i32).await
    } else {
        let needle = query.to_lowercase();
        let local = deps.agency.calendar.local(now);
        let (mut year, mut month) = (local.year(), local.month());
        let mut all = Vec::new();
        let mut failed = None;
        for _ in 0..12 {
            match deps.store.opened_in_month(year, month).await {
                Ok(tickets) => {
                    all.extend(tickets.into_iter().filter(|t| t.requester.unit.to_lowercase().contains(&needle)))
                }
                Err(e) => {
                    failed = Some(e);
                    break;
                }
            }
            (year, month) = if month == 1 { (year - 1, 12) } else { (year, month - 1) };
        }
        match failed {
            Some(e) => Err(e),
            None => Ok(all),
        }
    };
    let mut tickets = match found {
        Ok(t) => t,
        Err(e) => {
            tracing::error!(error = %e, "console search");
            html.push_str("<p class=\"problem\">Pencarian gagal. Coba lagi sebentar lagi.</p>");
            return frame(deps, Some(session), StatusCode::SERVICE_UNAVAILABLE, "Cari tiket", &html);
        }
    };
    tickets.sort_by_key(|t| std::cmp::Reverse(t.created_at));
    tickets.truncate(MAX_RESULTS);
    if tickets.is_empty() {
        html.push_str("<p>Tidak ada tiket yang cocok.</p>");
    } else {
        html.push_str(&format!(
            "<p>{} tiket.</p><table><thead><tr><th>Nomor</th><th>Perihal</th><th>Unit</th><th>Status</th><th>Dibuat</th></tr></thead><tbody>",
            tickets.len()
        ));
        for t in &tickets {
            html.push_str(&format!(
                "<tr><td><a href=\"{href}\">{number}</a></td><td>{subject}</td><td>{unit}</td><td>{status}</td><td>{at}</td></tr>",
                href = escape(&url(deps, &format!("/tiket/{}", t.number))),
                number = escape(t.number.as_str()),
                subject = escape(&t.subject),
                unit = escape(&t.requester.unit),
                status = escape(t.status.label()),
                at = escape(&deps.agency.calendar.local(t.created_at).strftime("%d-%m-%Y").to_string()),
            ));
        }
        html.push_str("</tbody></table>");
    }
    frame(deps, Some(session), StatusCode::OK, "Cari tiket", &html)
}
