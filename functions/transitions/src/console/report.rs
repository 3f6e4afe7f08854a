//! The service-level report in the browser: per procedure and step, counts, median and
//! p90 working time and the share within the limit, drawn as SVG charts; whole-service
//! time against the standard; the same figures as CSV. For supervisors.

use jiff::Timestamp;
use lambda_http::http::{HeaderValue, StatusCode};
use lambda_http::{Body, Response};
use loket_domain::Role;
use loket_domain::calendar::MONTH_NAMES;
use loket_domain::html::escape;
use loket_domain::ports::TicketStore;

use super::session::Session;
use super::{page as frame, url};
use crate::Deps;

pub async fn page<S: TicketStore, R, M>(
    deps: &Deps<S, R, M>,
    session: &Session,
    year: Option<&str>,
    month: Option<&str>,
    csv: bool,
    now: Timestamp,
) -> Response<Body> {
    if !session
        .roles
        .iter()
        .any(|r| matches!(r, Role::Koordinator | Role::Kasi | Role::Kabid | Role::Kadis | Role::Admin))
    {
        return frame(
            deps,
            Some(session),
            StatusCode::FORBIDDEN,
            "Laporan",
            "<p class=\"problem\">Laporan hanya untuk Koordinator, Kepala Seksi, Kepala Bidang dan Kepala Dinas.</p>",
        );
    }
    let local = deps.agency.calendar.local(now);
    let year = year.and_then(|y| y.parse::<i16>().ok()).filter(|y| (2000..=2100).contains(y)).unwrap_or(local.year());
    let month = month.and_then(|m| m.parse::<i8>().ok()).filter(|m| (1..=12).contains(m));
    let months: Vec<i8> = month.map_or_else(|| (1..=12).collect(), |m| vec![m]);
    let mut tickets = Vec::new();
    for m in months {
        match deps.store.opened_in_month(year, m).await {
            Ok(mut t) => tickets.append(&mut t),
            Err(e) => {
                tracing::error!(error = %e, "console report");
                return frame(
                    deps,
                    Some(session),
                    StatusCode::SERVICE_UNAVAILABLE,
                    "Laporan",
                    "<p class=\"problem\">Laporan tidak dapat dimuat. Coba lagi sebentar lagi.</p>",
                );
            }
        }
    }
    let report = loket_domain::report::build(&tickets, &deps.catalog);
    if csv {
        let mut response = Response::new(Body::Text(loket_domain::report::to_csv(&report)));
        let headers = response.headers_mut();
        headers.insert("content-type", HeaderValue::from_static("text/csv; charset=utf-8"));
        headers.insert("cache-control", HeaderValue::from_static("no-store"));
        headers.insert("x-content-type-options", HeaderValue::from_static("nosniff"));
        headers.insert("content-disposition", HeaderValue::from_static("attachment; filename=\"laporan-layanan.csv\""));
        return response;
    }
    let period = match month {
        Some(m) => format!("{} {year}", MONTH_NAMES[usize::try_from(m - 1).unwrap_or(0)]),
        None => format!("Tahun {year}"),
    };
    let query = match month {
        Some(m) => format!("?tahun={year}&bulan={m}"),
        None => format!("?tahun={year}"),
    };
    let options: String = std::iter::once(("".to_string(), "Setahun".to_string()))
        .chain((1..=12).map(|m| (m.to_string(), MONTH_NAMES[m - 1].to_string())))
        .map(|(v, l)| {
            let chosen = month.map(|m| m.to_string()) == Some(v.clone()) || (v.is_empty() && month.is_none());
            format!("<option value=\"{v}\"{}>{l}</option>", if chosen { " selected" } else { "" })
        })
        .collect();
    let html = format!(
        "<form method=\"get\" action=\"{action}\"><p><label for=\"tahun\">Tahun</label> <input id=\"tahun\" name=\"tahun\" type=\"number\" value=\"{year}\" min=\"2000\" max=\"2100\"> \
         <label for=\"bulan\">Bulan</label> <select id=\"bulan\" name=\"bulan\">{options}</select> <button type=\"submit\">Tampilkan</button></p></form>\
         <p>{count} tiket dibuka pada periode ini.</p>{body}",
        action = escape(&url(deps, "/laporan")),
        count = tickets.len(),
        body = loket_domain::report_html::render_named(
            &report,
            &period,
            &url(deps, &format!("/laporan.csv{query}")),
            &|id| deps.catalog.get(id).map(|p| p.name.clone())
        ),
    );
    frame(deps, Some(session), StatusCode::OK, "Laporan", &html)
}
