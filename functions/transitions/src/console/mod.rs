//! The staff console: server-rendered pages in Bahasa Indonesia on top of the staff API's
//! own functions (same state machine, same role checks, same errors).
//!
//! | method | path | page |
//! |---|---|---|
//! | GET | `/konsol` | my queue: tickets whose current step is mine, soonest due first |
//! | GET | `/konsol/masuk` | sign-in hop: the identity provider sends the browser here with a token |
//! | POST | `/konsol/keluar` | sign out |
//! | GET, POST | `/konsol/tiket/{number}` | a ticket: progress, timeline, the actions my roles may take |
//! | GET | `/konsol/tiket/{number}/dokumen/{i}` | open one of its documents (a short-lived S3 link) |
//! | GET | `/konsol/cari?q=` | search by ticket number, unit or requester email |
//! | GET, POST | `/konsol/baru[?karantina=day/id]` | enter a request that came by letter, WhatsApp, phone or mail |
//! | GET | `/konsol/karantina` | mail set aside in the last 14 days (Helpdesk, Koordinator, Admin) |
//! | GET | `/konsol/karantina/{day}/{id}` | open one quarantined message (a short-lived S3 link) |
//! | GET | `/konsol/laporan[.csv]?tahun=&bulan=` | service-level report with charts, or CSV |
//!
//! Sign-in (OAuth 2.0 authorization code with PKCE): a page without a session sends the
//! browser to `/konsol/masuk`, where a small script (the only script in Loket, served from
//! `/konsol/masuk.js`) keeps a fresh code verifier and state in the tab's session storage
//! and goes to the identity provider (Cognito's hosted UI in AWS, the launcher's dev login
//! locally; `CONSOLE_LOGIN_URL`) with the code challenge. Back at `/konsol/masuk?code=&state=`
//! it checks the state, trades the code and its verifier for the ID token at
//! `CONSOLE_TOKEN_URL`, and posts the token to `POST /api/staff/session` *through the HTTP
//! API's JWT authorizer*, which verifies it; the function answers with a signed `HttpOnly`
//! session cookie ([`session`]). No token ever appears in a URL. Every page checks that
//! cookie; every form carries the session's CSRF value; every value is escaped; the CSP
//! allows only our own script and stylesheet (and, on the sign-in page, requests to the
//! token endpoint).

pub mod session;

mod entry;
mod quarantine;
mod queue;
mod report;
mod search;
mod ticket;

use std::collections::BTreeMap;

use jiff::Timestamp;
use lambda_http::http::{HeaderValue, Method, StatusCode};
use lambda_http::{Body, Request, RequestExt, Response};
use loket_domain::html::escape;
use loket_domain::ports::{Mailer, RawMailStore, TicketStore};

use crate::Deps;
use session::Session;

const CSP: &str = "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; \
                   frame-ancestors 'none'; base-uri 'none'";

const CSS: &str = include_str!("console.css");
const SIGN_IN_JS: &str = include_str!("masuk.js");

/// An absolute console URL (the console may sit behind a path prefix).
pub(crate) fn url<S, R, M>(deps: &Deps<S, R, M>, path: &str) -> String {
    format!("{}/konsol{path}", deps.links.console_base.trim_end_matches('/'))
}

fn with_headers(mut response: Response<Body>, content_type: &'static str, csp: &'static str) -> Response<Body> {
    let headers = response.headers_mut();
    for (name, value) in [
        ("content-type", content_type),
        ("content-security-policy", csp),
        ("x-content-type-options", "nosniff"),
        ("referrer-policy", "no-referrer"),
        ("cache-control", "no-store"),
        ("x-frame-options", "DENY"),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
    response
}

/// A console page: `content` is HTML built from escaped values.
pub(crate) fn page<S, R, M>(
    deps: &Deps<S, R, M>,
    session: Option<&Session>,
    status: StatusCode,
    title: &str,
    content: &str,
) -> Response<Body> {
    let nav = match session {
        Some(s) => {
            let roles: Vec<&str> = s.roles.iter().map(|r| r.label()).collect();
            format!(
                "<nav><a href=\"{queue}\">Antrean saya</a> <a href=\"{search}\">Cari</a> <a href=\"{new}\">Permohonan baru</a> \
                 <a href=\"{report}\">Laporan</a>{quarantine} <span class=\"who\">{name} ({roles})</span> \
                 <form method=\"post\" action=\"{out}\" class=\"inline\"><input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
                 <button type=\"submit\">Keluar</button></form></nav>",
                queue = escape(&url(deps, "")),
                search = escape(&url(deps, "/cari")),
                new = escape(&url(deps, "/baru")),
                report = escape(&url(deps, "/laporan")),
                quarantine = if quarantine::allowed(s) {
                    format!(" <a href=\"{}\">Karantina</a>", escape(&url(deps, "/karantina")))
                } else {
                    String::new()
                },
                out = escape(&url(deps, "/keluar")),
                name = escape(&s.name),
                roles = escape(&roles.join(", ")),
                csrf = escape(&session::csrf(deps, s)),
            )
        }
        None => String::new(),
    };
    let html = format!(
        "<!doctype html><html lang=\"id\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>{title} · Loket</title>\
         <link rel=\"stylesheet\" href=\"{css}\"></head><body><header><strong>Loket</strong> · {agency}{nav}</header>\
         <main><h1>{title}</h1>{content}</main></body></html>",
        title = escape(title),
        css = escape(&url(deps, "/gaya.css")),
        agency = escape(&deps.agency.name),
    );
    let mut response = Response::new(Body::Text(html));
    *response.status_mut() = status;
    with_headers(response, "text/html; charset=utf-8", CSP)
}

pub(crate) use loket_aws::web::see_other as redirect;

/// The sign-in page's CSP: our own script, and requests to ourselves and the token endpoint.
fn sign_in_csp(token_origin: &str) -> String {
    format!(
        "default-src 'none'; style-src 'self'; script-src 'self'; connect-src 'self' {token_origin}; \
         form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    )
}

fn sign_in_needed<S, R, M>(deps: &Deps<S, R, M>) -> Response<Body> {
    match &deps.sign_in {
        Some(_) => redirect(&url(deps, "/masuk")),
        None => page(
            deps,
            None,
            StatusCode::UNAUTHORIZED,
            "Silakan masuk",
            "<p>Halaman masuk belum dikonfigurasi (CONSOLE_LOGIN_URL, CONSOLE_TOKEN_URL). Hubungi admin Loket.</p>",
        ),
    }
}

/// The fields of a posted form, urlencoded or multipart, and its files.
pub(crate) struct Posted {
    pub fields: BTreeMap<String, String>,
    pub files: Vec<PostedFile>,
}

pub(crate) struct PostedFile {
    pub field: String,
    pub name: String,
    pub bytes: Vec<u8>,
}

/// Reads a form body; `None` if it cannot be read.
pub(crate) async fn posted(request: &Request) -> Option<Posted> {
    let content_type = request.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default();
    if content_type.starts_with("multipart/form-data") {
        let boundary = multer::parse_boundary(content_type).ok()?;
        let body = bytes::Bytes::copy_from_slice(request.body().as_ref());
        let stream = futures_util::stream::once(async move { Ok::<_, std::convert::Infallible>(body) });
        let mut multipart = multer::Multipart::new(stream, boundary);
        let mut out = Posted { fields: BTreeMap::new(), files: Vec::new() };
        while let Some(field) = multipart.next_field().await.ok()? {
            let name = field.name().unwrap_or_default().to_string();
            let file_name = field.file_name().map(str::to_string);
            let data = field.bytes().await.ok()?;
            match file_name {
                Some(file_name) if !data.is_empty() => {
                    out.files.push(PostedFile { field: name, name: file_name, bytes: data.to_vec() })
                }
                Some(_) => {}
                None => {
                    out.fields.insert(name, String::from_utf8_lossy(&data).into_owned());
                }
            }
        }
        Some(out)
    } else {
        let body: &[u8] = request.body().as_ref();
        let fields: BTreeMap<String, String> = form_urlencoded_pairs(body);
        Some(Posted { fields, files: Vec::new() })
    }
}

fn form_urlencoded_pairs(body: &[u8]) -> BTreeMap<String, String> {
    serde_urlencoded::from_bytes::<Vec<(String, String)>>(body).unwrap_or_default().into_iter().collect()
}

/// Handles `/konsol...`.
pub async fn handle<S, R, M>(deps: &Deps<S, R, M>, request: &Request, now: Timestamp) -> Response<Body>
where
    S: TicketStore + Sync,
    R: RawMailStore + Sync,
    M: Mailer + Sync,
{
    let path = request.raw_http_path().trim_matches('/').to_string();
    let rest = path.strip_prefix("konsol").unwrap_or_default().trim_start_matches('/').to_string();
    let method = request.method().clone();
    // What works without a session.
    match (&method, rest.as_str()) {
        (&Method::GET, "gaya.css") => {
            return with_headers(Response::new(Body::Text(CSS.into())), "text/css; charset=utf-8", CSP);
        }
        (&Method::GET, "masuk.js") => {
            return with_headers(Response::new(Body::Text(SIGN_IN_JS.into())), "text/javascript; charset=utf-8", CSP);
        }
        (&Method::GET, "masuk") => {
            let Some(sign_in) = &deps.sign_in else {
                return sign_in_needed(deps);
            };
            let html = format!(
                "<div id=\"masuk\" data-session=\"{session}\" data-next=\"{next}\" data-login=\"{login}\" \
                 data-token=\"{token}\" data-here=\"{here}\">\
                 <p id=\"status\" role=\"status\">Sedang masuk…</p></div>\
                 <noscript><p>Untuk masuk, aktifkan JavaScript pada halaman ini (hanya halaman masuk yang memakainya).</p></noscript>\
                 <script src=\"{js}\"></script>",
                session = escape(&format!("{}/api/staff/session", deps.links.console_base.trim_end_matches('/'))),
                next = escape(&url(deps, "")),
                login = escape(&sign_in.authorize),
                token = escape(&sign_in.token),
                here = escape(&url(deps, "/masuk")),
                js = escape(&url(deps, "/masuk.js")),
            );
            let mut response = page(deps, None, StatusCode::OK, "Masuk", &html);
            if let Ok(csp) = HeaderValue::from_str(&sign_in_csp(sign_in.token_origin())) {
                response.headers_mut().insert("content-security-policy", csp);
            }
            return response;
        }
        _ => {}
    }
    let Some(session) = session::of(deps, request, now) else {
        return sign_in_needed(deps);
    };
    let form = if method == Method::POST {
        let Some(form) = posted(request).await else {
            return page(
                deps,
                Some(&session),
                StatusCode::BAD_REQUEST,
                "Formulir tidak terbaca",
                "<p>Kirim ulang formulir.</p>",
            );
        };
        if !session::check_csrf(deps, &session, form.fields.get("csrf").map(String::as_str).unwrap_or_default()) {
            return page(
                deps,
                Some(&session),
                StatusCode::FORBIDDEN,
                "Formulir kedaluwarsa",
                "<p>Formulir ini tidak berlaku lagi. Muat ulang halaman lalu kirim lagi.</p>",
            );
        }
        Some(form)
    } else {
        None
    };
    let query = request.query_string_parameters();
    let parts: Vec<&str> = rest.split('/').filter(|p| !p.is_empty()).collect();
    match (method, parts.as_slice(), form) {
        (Method::GET, [], None) => queue::page(deps, &session, now).await,
        (Method::POST, ["keluar"], Some(_)) => {
            let mut response = page(
                deps,
                None,
                StatusCode::OK,
                "Anda telah keluar",
                &format!("<p><a href=\"{}\">Masuk lagi</a></p>", escape(&url(deps, ""))),
            );
            if let Ok(value) = HeaderValue::from_str(&session::closing_cookie(deps)) {
                response.headers_mut().insert("set-cookie", value);
            }
            response
        }
        (Method::GET, ["tiket", number], None) => {
            ticket::page(deps, &session, number, query.first("info"), None, StatusCode::OK).await
        }
        (Method::POST, ["tiket", number], Some(form)) => ticket::post(deps, &session, number, form, now).await,
        (Method::GET, ["tiket", number, "dokumen", index], None) => {
            ticket::document(deps, &session, number, index).await
        }
        (Method::GET, ["cari"], None) => search::page(deps, &session, query.first("q").unwrap_or_default(), now).await,
        (Method::GET, ["baru"], None) => match query.first("karantina") {
            Some(reference) if quarantine::allowed(&session) => match quarantine::entry_values(deps, reference).await {
                quarantine::FromQuarantine::Values(values) => entry::page(deps, &session, &values, None),
                quarantine::FromQuarantine::Released(number) => {
                    let problem = format!("Email ini sudah dijadikan tiket {number}.");
                    entry::page(deps, &session, &BTreeMap::new(), Some(&problem))
                }
                quarantine::FromQuarantine::Missing => {
                    entry::page(deps, &session, &BTreeMap::new(), Some("Email karantina tidak ditemukan."))
                }
            },
            _ => entry::page(deps, &session, &BTreeMap::new(), None),
        },
        (Method::GET, ["karantina"], None) => quarantine::page(deps, &session, now).await,
        (Method::GET, ["karantina", day, id], None) => quarantine::raw(deps, &session, day, id).await,
        (Method::POST, ["baru"], Some(form)) => entry::post(deps, &session, form, now).await,
        (Method::GET, ["laporan"], None) => {
            report::page(deps, &session, query.first("tahun"), query.first("bulan"), false, now).await
        }
        (Method::GET, ["laporan.csv"], None) => {
            report::page(deps, &session, query.first("tahun"), query.first("bulan"), true, now).await
        }
        _ => page(deps, Some(&session), StatusCode::NOT_FOUND, "Halaman tidak ada", "<p>Alamat tidak dikenal.</p>"),
    }
}
