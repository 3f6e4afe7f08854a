//! The console's session: after the browser proves who it is with a token the HTTP API's
//! JWT authorizer verified (`POST /api/staff/session`, see [`open`]), the function sets an
//! `HttpOnly` cookie holding who that is, signed with the function's secret. Console pages
//! read only that cookie: no token ever reaches a page, and nothing a client sets is
//! trusted without the signature. Each session has its own CSRF value for forms.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jiff::Timestamp;
use lambda_http::http::{HeaderValue, StatusCode};
use lambda_http::{Body, Request, Response};
use loket_domain::Role;
use serde::{Deserialize, Serialize};

use crate::{Deps, Staff, error};

pub const COOKIE: &str = "loket_konsol";
/// A working day and a bit; then the person signs in again.
const LIFETIME_SECS: i64 = 10 * 3600;
const PURPOSE: &str = "console-session";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    pub id: String,
    pub name: String,
    pub email: String,
    pub roles: Vec<Role>,
    /// Expiry, Unix seconds.
    pub exp: i64,
    /// Random per sign-in (so two sessions of one person differ).
    pub nonce: String,
}

impl Session {
    pub fn staff(&self) -> Staff {
        Staff { id: self.id.clone(), name: self.name.clone(), email: self.email.clone(), roles: self.roles.clone() }
    }
}

fn secure(deps_console_base: &str) -> &'static str {
    if deps_console_base.starts_with("https://") { "; Secure" } else { "" }
}

/// `POST /api/staff/session` (behind the JWT authorizer): sets the session cookie.
pub fn open<S, R, M>(deps: &Deps<S, R, M>, staff: &Staff, now: Timestamp) -> Response<Body> {
    let Ok(nonce) = loket_aws::new_status_token() else {
        return error(StatusCode::SERVICE_UNAVAILABLE, "unavailable", "Coba lagi sebentar lagi.");
    };
    let session = Session {
        id: staff.id.clone(),
        name: staff.name.clone(),
        email: staff.email.clone(),
        roles: staff.roles.clone(),
        exp: now.as_second() + LIFETIME_SECS,
        nonce,
    };
    let Ok(json) = serde_json::to_vec(&session) else {
        return error(StatusCode::INTERNAL_SERVER_ERROR, "internal", "Terjadi kesalahan pada sistem.");
    };
    let payload = URL_SAFE_NO_PAD.encode(json);
    let sig = deps.keys.sign_for(PURPOSE, &payload);
    let cookie = format!(
        "{COOKIE}={payload}.{sig}; Path=/; HttpOnly; SameSite=Lax; Max-Age={LIFETIME_SECS}{}",
        secure(&deps.links.console_base)
    );
    let mut response = error(StatusCode::OK, "signed_in", "Berhasil masuk.");
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        response.headers_mut().insert("set-cookie", value);
    }
    tracing::info!(staff = %staff.email, "console session opened");
    response
}

/// The cookie that ends the session.
pub fn closing_cookie<S, R, M>(deps: &Deps<S, R, M>) -> String {
    format!("{COOKIE}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0{}", secure(&deps.links.console_base))
}

/// The session of a request: a valid signature, not expired, with at least one staff role.
pub fn of<S, R, M>(deps: &Deps<S, R, M>, request: &Request, now: Timestamp) -> Option<Session> {
    let value = request
        .headers()
        .get_all("cookie")
        .iter()
        .filter_map(|h| h.to_str().ok())
        .flat_map(|h| h.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value.to_string())?;
    let (payload, sig) = value.split_once('.')?;
    if !deps.keys.check_for(PURPOSE, payload, sig) {
        tracing::warn!("console cookie with a bad signature");
        return None;
    }
    let session: Session = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).ok()?).ok()?;
    (session.exp > now.as_second() && !session.roles.is_empty()).then_some(session)
}

/// The CSRF value of this session's forms.
pub fn csrf<S, R, M>(deps: &Deps<S, R, M>, session: &Session) -> String {
    deps.keys.sign_for("console-csrf", &format!("{}:{}", session.email, session.nonce))
}

pub fn check_csrf<S, R, M>(deps: &Deps<S, R, M>, session: &Session, value: &str) -> bool {
    deps.keys.check_for("console-csrf", &format!("{}:{}", session.email, session.nonce), value)
}
