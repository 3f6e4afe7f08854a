//! HTTP responses shared by the functions behind the HTTP API: server-rendered pages with
//! the security headers every page needs, and JSON bodies.

use lambda_http::http::{HeaderValue, StatusCode};
use lambda_http::{Body, Response};
use loket_domain::html::escape;

/// A page: `content` is HTML the caller built from escaped values; the title is escaped
/// here. No script, a strict Content-Security-Policy, no referrer (status links carry a
/// token), never cached.
pub fn html_page(status: StatusCode, title: &str, content: &str) -> Response<Body> {
    let html = format!(
        "<!doctype html><html lang=\"id\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>{title}</title></head>\
         <body><main><h1>{title}</h1>{content}</main></body></html>",
        title = escape(title)
    );
    let mut response = Response::new(Body::Text(html));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    for (name, value) in [
        ("content-type", "text/html; charset=utf-8"),
        ("content-security-policy", "default-src 'none'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"),
        ("x-content-type-options", "nosniff"),
        ("referrer-policy", "no-referrer"),
        ("cache-control", "no-store"),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
    response
}

/// A JSON body, never cached.
pub fn json_response(status: StatusCode, body: &serde_json::Value) -> Response<Body> {
    let mut response = Response::new(Body::Text(body.to_string()));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert("content-type", HeaderValue::from_static("application/json; charset=utf-8"));
    headers.insert("cache-control", HeaderValue::from_static("no-store"));
    headers.insert("x-content-type-options", HeaderValue::from_static("nosniff"));
    response
}
