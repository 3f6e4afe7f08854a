//! HTTP responses shared by the functions behind the HTTP API: server-rendered pages with
//! the security headers every page needs, and JSON bodies.

use lambda_http::http::{HeaderValue, StatusCode};
use lambda_http::{Body, Response};
use loket_domain::html::escape;

/// A page: `content` is HTML the caller built from escaped values; the title is escaped
/// here. No script, a strict Content-Security-Policy, no referrer (status links carry a
/// token), never cached.
pub fn html_page(status: StatusCode, title: &str, content: &str) -> Response<Body> {
    page_with_csp(status, title, content, &csp("'self'"))
}

/// The pages' stylesheet, inline and allowed by its hash (no other style, no script).
const CSS: &str = include_str!("public.css");

fn style_source() -> &'static str {
    static HASH: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    HASH.get_or_init(|| {
        use base64::Engine;
        use sha2::Digest;
        format!("'sha256-{}'", base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(CSS)))
    })
}

fn csp(form_action: &str) -> String {
    format!(
        "default-src 'none'; style-src {}; form-action {form_action}; frame-ancestors 'none'; base-uri 'none'",
        style_source()
    )
}

/// [`html_page`] whose forms may also post to `origin` (the attachment bucket's presigned
/// upload form). `origin` is `scheme://host[:port]`; anything else is ignored.
pub fn html_page_posting_to(status: StatusCode, title: &str, content: &str, origin: &str) -> Response<Body> {
    let valid = (origin.starts_with("https://") || origin.starts_with("http://"))
        && origin.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, ':' | '/' | '.' | '-'))
        && origin.matches('/').count() == 2;
    if !valid {
        return html_page(status, title, content);
    }
    page_with_csp(status, title, content, &csp(&format!("'self' {origin}")))
}

/// `scheme://host[:port]` of a URL.
pub fn origin_of(url: &str) -> &str {
    let after_scheme = url.find("://").map_or(0, |i| i + 3);
    let end = url[after_scheme..].find('/').map_or(url.len(), |i| after_scheme + i);
    &url[..end]
}

fn page_with_csp(status: StatusCode, title: &str, content: &str, csp: &str) -> Response<Body> {
    let html = format!(
        "<!doctype html><html lang=\"id\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>{title}</title><style>{CSS}</style></head>\
         <body><main><h1>{title}</h1>{content}</main></body></html>",
        title = escape(title)
    );
    let mut response = Response::new(Body::Text(html));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    for (name, value) in [
        ("content-type", "text/html; charset=utf-8"),
        ("x-content-type-options", "nosniff"),
        ("referrer-policy", "no-referrer"),
        ("cache-control", "no-store"),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
    if let Ok(value) = HeaderValue::from_str(csp) {
        headers.insert("content-security-policy", value);
    }
    response
}

/// A `303 See Other` to `location`, never cached, sending no referrer (our URLs may carry
/// a status token).
pub fn see_other(location: &str) -> Response<Body> {
    let mut response = Response::new(Body::Empty);
    *response.status_mut() = StatusCode::SEE_OTHER;
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(location) {
        headers.insert("location", value);
    }
    headers.insert("cache-control", HeaderValue::from_static("no-store"));
    headers.insert("referrer-policy", HeaderValue::from_static("no-referrer"));
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_and_the_form_action_they_allow() {
        assert_eq!(origin_of("http://127.0.0.1:4566/bucket"), "http://127.0.0.1:4566");
        assert_eq!(
            origin_of("https://b.s3.ap-southeast-3.amazonaws.com/"),
            "https://b.s3.ap-southeast-3.amazonaws.com"
        );
        let csp = |origin: &str| {
            html_page_posting_to(StatusCode::OK, "t", "", origin).headers()["content-security-policy"]
                .to_str()
                .map(str::to_string)
                .unwrap_or_default()
        };
        assert!(csp("http://127.0.0.1:4566").contains("form-action 'self' http://127.0.0.1:4566;"));
        assert!(csp("http://127.0.0.1:4566").contains("style-src 'sha256-"));
        assert!(!csp("http://127.0.0.1:4566").contains("unsafe"));
        assert!(csp("https://x.example; script-src *").contains("form-action 'self';"));
        assert!(csp("javascript:alert(1)").contains("form-action 'self';"));
    }
}
