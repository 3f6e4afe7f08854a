//! The staff API (JSON over the HTTP API, behind its JWT authorizer).
//!
//! Who is asking comes only from the verified JWT claims the authorizer put in the
//! request context (`email`, and the groups claim holding the roles); never from a header
//! a client can set. Every action goes through the domain state machine (role, current
//! step, required inputs and documents, version) and is written with the mail it implies
//! in one transaction. Errors are JSON: an English `code` and a Bahasa Indonesia `message`.
//!
//! | method | path | what |
//! |---|---|---|
//! | GET | `/api/staff/me` | who I am, my roles |
//! | GET | `/api/staff/queue` | tickets whose current step is mine, soonest due first |
//! | GET | `/api/staff/tickets/{number}` | a ticket, its timeline, the actions I may take |
//! | POST | `/api/staff/tickets/{number}/actions` | `{"version": n, "action": {...}}` |
//! | POST | `/api/staff/tickets/{number}/documents` | upload a document (base64), get its reference |
//! | GET | `/api/staff/tickets/{number}/documents/{i}` | the i-th document and a link to it, valid five minutes |
//! | POST | `/api/staff/tickets` | enter a request that came by letter, WhatsApp or phone |
//! | GET | `/api/staff/reports/sla?year=Y[&month=M][&format=csv]` | the service-level report |
//! | GET, POST | `/keputusan/{number}?s&o&v&p&k` | a one-time decision link from a staff notice (public: the signature is the credential) |

use std::collections::BTreeMap;

use base64::Engine;
use jiff::{SignedDuration, Timestamp};
use lambda_http::http::{Method, StatusCode};
use lambda_http::request::RequestContext;
use lambda_http::{Body, Request, RequestExt, RequestPayloadExt, Response};
use loket_aws::web::{html_page, json_response};
use loket_domain::files::{safe_name, sniff};
use loket_domain::html::escape;
use loket_domain::mail::compose::{Composer, Links};
use loket_domain::mail::thread::{ThreadKeys, token_hash};
use loket_domain::ports::{
    Claim, Created, Mailer, RawMailStore, StoreError, TicketStore, create_and_send, send_recorded,
};
use loket_domain::ticket::{
    Actor, Channel, Document, Requester, StaffRef, Ticket, TicketNumber, staff_document_genuine, staff_document_key,
};
use loket_domain::workflow::{Action, NewTicket, TransitionError, Workflow};
use loket_domain::{Agency, Catalog, Role};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// Largest document accepted through the API (before base64).
pub const MAX_DOCUMENT_BYTES: usize = 4 * 1024 * 1024;

pub struct Deps<S, R, M> {
    pub store: S,
    pub files: R,
    pub mailer: M,
    pub catalog: Catalog,
    pub agency: Agency,
    pub keys: ThreadKeys,
    pub links: Links,
    /// Where the console signs people in: Cognito's hosted UI in AWS, the launcher's dev
    /// sign-in locally.
    pub sign_in: Option<SignIn>,
}

/// The identity provider's two endpoints for the console's sign-in (authorization code
/// with PKCE, run by the sign-in page's script).
#[derive(Debug, Clone)]
pub struct SignIn {
    /// `CONSOLE_LOGIN_URL`: the authorization endpoint with `client_id`, `response_type=code`,
    /// `scope` and `redirect_uri` (the script adds `state` and the code challenge).
    pub authorize: String,
    /// `CONSOLE_TOKEN_URL`: where the script trades the code (with its verifier) for the ID token.
    pub token: String,
}

impl SignIn {
    /// Both endpoints, when both are absolute http(s) URLs.
    pub fn new(authorize: &str, token: &str) -> Option<SignIn> {
        let web = |u: &str| u.starts_with("https://") || u.starts_with("http://");
        (web(authorize) && web(token)).then(|| SignIn { authorize: authorize.to_string(), token: token.to_string() })
    }

    /// `scheme://host[:port]` of the token endpoint, for the sign-in page's `connect-src`.
    pub fn token_origin(&self) -> &str {
        let after_scheme = self.token.find("://").map_or(0, |i| i + 3);
        let end = self.token[after_scheme..].find('/').map_or(self.token.len(), |i| after_scheme + i);
        &self.token[..end]
    }
}

/// The caller, from the verified JWT claims.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Staff {
    pub id: String,
    pub name: String,
    pub email: String,
    pub roles: Vec<Role>,
}

impl Staff {
    pub(crate) fn actor(&self) -> Actor {
        Actor::staff(&self.reference(), self.roles.clone())
    }

    fn reference(&self) -> StaffRef {
        StaffRef { id: self.id.clone(), name: self.name.clone(), email: self.email.clone() }
    }
}

/// Roles from a groups claim: API Gateway passes arrays as `"[a b]"`; a JSON array or a
/// comma list is accepted too. Unknown names and `pemohon` are ignored.
pub fn parse_groups(claim: &str) -> Vec<Role> {
    let mut roles: Vec<Role> = claim
        .split(|c: char| c == '[' || c == ']' || c == ',' || c == '"' || c.is_whitespace())
        .filter(|s| !s.is_empty())
        .filter_map(|s| s.parse::<Role>().ok())
        .filter(|r| r.is_staff())
        .collect();
    roles.sort();
    roles.dedup();
    roles
}

/// The caller from the authorizer's claims; `None` without a verified identity.
pub fn staff_identity(request: &Request, agency: &Agency) -> Option<Staff> {
    let Some(RequestContext::ApiGatewayV2(context)) = request.request_context_ref() else { return None };
    let claims = &context.authorizer.as_ref()?.jwt.as_ref()?.claims;
    let email = claims.get("email").map(|e| e.trim().to_ascii_lowercase()).filter(|e| e.contains('@'))?;
    let groups = claims.get("cognito:groups").or_else(|| claims.get("groups")).map(String::as_str).unwrap_or_default();
    let roles = parse_groups(groups);
    let member = agency.staff_by_email(&email);
    Some(Staff {
        id: member.map(|m| m.id.clone()).or_else(|| claims.get("sub").cloned()).unwrap_or_else(|| email.clone()),
        name: member.map(|m| m.name.clone()).or_else(|| claims.get("name").cloned()).unwrap_or_else(|| email.clone()),
        email,
        roles,
    })
}

pub(crate) fn error(status: StatusCode, code: &str, message: &str) -> Response<Body> {
    json_response(status, &json!({"code": code, "message": message}))
}

fn transition_error(e: &TransitionError) -> Response<Body> {
    let status = match e {
        TransitionError::WrongRole { .. } => StatusCode::FORBIDDEN,
        TransitionError::StaleVersion { .. }
        | TransitionError::NotCurrentStep { .. }
        | TransitionError::Closed
        | TransitionError::NotClosed => StatusCode::CONFLICT,
        TransitionError::Corrupt(_) => StatusCode::INTERNAL_SERVER_ERROR,
        _ => StatusCode::UNPROCESSABLE_ENTITY,
    };
    error(status, e.code(), &e.message())
}

fn store_error(e: &StoreError) -> Response<Body> {
    match e {
        StoreError::NotFound => error(StatusCode::NOT_FOUND, "not_found", "Tiket tidak ditemukan."),
        StoreError::Conflict(current) => json_response(
            StatusCode::CONFLICT,
            &json!({"code": "stale_version", "message": "Tiket telah diubah oleh orang lain. Muat ulang lalu coba lagi.", "current": **current}),
        ),
        StoreError::InProgress => error(StatusCode::CONFLICT, "in_progress", "Permintaan yang sama sedang diproses."),
        StoreError::Unavailable(detail) => {
            tracing::warn!(error = %detail, "store unavailable");
            error(StatusCode::SERVICE_UNAVAILABLE, "unavailable", "Layanan sedang sibuk. Coba lagi sebentar lagi.")
        }
        other => {
            tracing::error!(error = %other, "store error");
            error(StatusCode::INTERNAL_SERVER_ERROR, "internal", "Terjadi kesalahan pada sistem. Coba lagi nanti.")
        }
    }
}

fn bad_request(message: &str) -> Response<Body> {
    error(StatusCode::BAD_REQUEST, "bad_request", message)
}

/// The JSON body, or `None` (answered with [`bad_json`]) when it does not parse.
fn body_json<T: for<'de> Deserialize<'de>>(request: &Request) -> Option<T> {
    let bytes: &[u8] = request.body().as_ref();
    serde_json::from_slice(bytes).map_err(|e| tracing::info!(error = %e, "invalid JSON body")).ok()
}

fn bad_json() -> Response<Body> {
    bad_request("Isi permintaan tidak dapat dibaca (JSON tidak valid).")
}

pub mod console;

/// Handles one request; client errors are responses, never `Err`.
pub async fn handle<S, R, M>(deps: &Deps<S, R, M>, request: Request, now: Timestamp) -> Response<Body>
where
    S: TicketStore + Sync,
    R: RawMailStore + Sync,
    M: Mailer + Sync,
{
    // One-time decision links are public routes: the signed link is the credential.
    if request.raw_http_path().trim_start_matches('/').starts_with("keputusan/") {
        return decision_link(deps, &request, now).await;
    }
    // The console's pages: a session cookie made from a verified token (see `console`).
    let path = request.raw_http_path().trim_start_matches('/').to_string();
    if path == "konsol" || path.starts_with("konsol/") {
        return console::handle(deps, &request, now).await;
    }
    let Some(staff) = staff_identity(&request, &deps.agency) else {
        return error(StatusCode::UNAUTHORIZED, "unauthorized", "Silakan masuk kembali.");
    };
    if staff.roles.is_empty() {
        return error(StatusCode::FORBIDDEN, "no_role", "Akun Anda belum memiliki peran petugas.");
    }
    let path = request.raw_http_path().trim_end_matches('/').to_string();
    let parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
    let method = request.method().clone();
    tracing::info!(staff = %staff.email, method = %method, path = %path, "staff request");
    match (method, parts.as_slice()) {
        (Method::GET, ["api", "staff", "me"]) => json_response(StatusCode::OK, &json!(staff)),
        (Method::POST, ["api", "staff", "session"]) => console::session::open(deps, &staff, now),
        (Method::GET, ["api", "staff", "queue"]) => queue(deps, &staff, now).await,
        (Method::GET, ["api", "staff", "reports", "sla"]) => sla_report(deps, &staff, &request, now).await,
        (Method::POST, ["api", "staff", "tickets"]) => enter(deps, &staff, &request, now).await,
        (Method::GET, ["api", "staff", "tickets", number]) => match number.parse::<TicketNumber>() {
            Ok(n) => show(deps, &staff, &n).await,
            Err(_) => error(StatusCode::NOT_FOUND, "not_found", "Tiket tidak ditemukan."),
        },
        (Method::POST, ["api", "staff", "tickets", number, "actions"]) => match number.parse::<TicketNumber>() {
            Ok(n) => act(deps, &staff, &n, &request, now).await,
            Err(_) => error(StatusCode::NOT_FOUND, "not_found", "Tiket tidak ditemukan."),
        },
        (Method::GET, ["api", "staff", "tickets", number, "documents", index]) => {
            match open_document(deps, &staff.id, number, index).await {
                Ok((document, url)) => json_response(
                    StatusCode::OK,
                    &json!({"document": document, "url": url, "expires_in_seconds": DOCUMENT_LINK_VALID_FOR.as_secs()}),
                ),
                Err(DocumentError::NotFound) => error(StatusCode::NOT_FOUND, "not_found", "Dokumen tidak ditemukan."),
                Err(DocumentError::Unavailable) => error(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "unavailable",
                    "Dokumen tidak dapat dibuka saat ini. Coba lagi sebentar lagi.",
                ),
            }
        }
        (Method::POST, ["api", "staff", "tickets", number, "documents"]) => match number.parse::<TicketNumber>() {
            Ok(n) => upload(deps, &n, &request, now).await,
            Err(_) => error(StatusCode::NOT_FOUND, "not_found", "Tiket tidak ditemukan."),
        },
        _ => error(StatusCode::NOT_FOUND, "no_route", "Alamat tidak dikenal."),
    }
}

/// On time, warning (less than a fifth of the step's time left), overdue.
pub(crate) fn sla_state(
    agency: &Agency,
    due: Option<Timestamp>,
    limit_secs: Option<i64>,
    now: Timestamp,
) -> (&'static str, Option<i64>) {
    let Some(due) = due else { return ("waiting", None) };
    if now >= due {
        return ("overdue", Some(-agency.calendar.working_between(due, now).as_secs()));
    }
    let left = agency.calendar.working_between(now, due).as_secs();
    let warning = limit_secs.map_or(left < 3600, |limit| left * 5 < limit);
    (if warning { "warning" } else { "on_time" }, Some(left))
}

async fn queue<S: TicketStore, R, M>(deps: &Deps<S, R, M>, staff: &Staff, now: Timestamp) -> Response<Body> {
    let mut entries = BTreeMap::new();
    for role in &staff.roles {
        match deps.store.queue(*role, 200, None).await {
            Ok(page) => {
                for entry in page.items {
                    entries.entry(entry.number.clone()).or_insert(entry);
                }
            }
            Err(e) => return store_error(&e),
        }
    }
    let mut items: Vec<Value> = entries
        .into_values()
        .map(|e| {
            let step = deps.catalog.get(&e.procedure).and_then(|p| p.step(&e.step));
            let (state, left) = sla_state(&deps.agency, e.due_at, step.and_then(|s| s.limit.fixed_seconds()), now);
            json!({
                "number": e.number, "procedure": e.procedure, "step": e.step,
                "step_label": step.map(|s| s.label.clone()), "due_at": e.due_at, "state": state,
                "working_secs_left": left, "subject": e.subject, "unit": e.unit,
                "requester": e.requester_name, "version": e.version,
            })
        })
        .collect();
    items.sort_by_key(|v| v["due_at"].as_str().map_or_else(|| "~".to_string(), str::to_string));
    json_response(StatusCode::OK, &json!({"items": items}))
}

fn ticket_view(deps_catalog: &Catalog, wf: &Workflow<'_>, ticket: &Ticket, staff: &Staff) -> Value {
    let procedure = deps_catalog.get(&ticket.procedure);
    let steps: Vec<Value> = procedure
        .map(|p| {
            p.steps
                .iter()
                .map(|s| {
                    let done = ticket.history.iter().any(|r| r.step == s.id);
                    let current = ticket.current_step() == Some(s.id.as_str());
                    json!({
                        "no": s.no, "id": s.id, "label": s.label, "roles": s.roles, "limit": s.limit.label(),
                        "state": if current { "current" } else if done { "done" } else { "next" },
                        "outcomes": s.outcomes.iter().map(|o| json!({"id": o.id, "label": o.label, "reason_required": o.reason_required})).collect::<Vec<_>>(),
                        "required": s.required_items().map(|i| json!({"id": i.id, "label": i.label, "kind": i.kind})).collect::<Vec<_>>(),
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    json!({"ticket": ticket, "steps": steps, "allowed_actions": wf.allowed_actions(ticket, &staff.roles)})
}

async fn show<S: TicketStore, R, M>(deps: &Deps<S, R, M>, staff: &Staff, number: &TicketNumber) -> Response<Body> {
    let ticket = match deps.store.get(number).await {
        Ok(t) => t,
        Err(e) => return store_error(&e),
    };
    let timeline = match deps.store.timeline(number).await {
        Ok(t) => t,
        Err(e) => return store_error(&e),
    };
    let wf = Workflow::new(&deps.catalog, &deps.agency);
    let mut view = ticket_view(&deps.catalog, &wf, &ticket, staff);
    view["timeline"] = json!(timeline);
    json_response(StatusCode::OK, &view)
}

#[derive(Debug, Deserialize)]
pub(crate) struct ActRequest {
    version: u64,
    action: Action,
}

async fn act<S, R, M>(
    deps: &Deps<S, R, M>,
    staff: &Staff,
    number: &TicketNumber,
    request: &Request,
    now: Timestamp,
) -> Response<Body>
where
    S: TicketStore + Sync,
    M: Mailer + Sync,
{
    let Some(body) = body_json::<ActRequest>(request) else { return bad_json() };
    perform(deps, staff, number, body.version, body.action, now).await
}

/// Applies one staff action at `version`: the JSON answer of the API (the console reads
/// its status and `message`).
pub(crate) async fn perform<S, R, M>(
    deps: &Deps<S, R, M>,
    staff: &Staff,
    number: &TicketNumber,
    version: u64,
    action: Action,
    now: Timestamp,
) -> Response<Body>
where
    S: TicketStore + Sync,
    M: Mailer + Sync,
{
    let body = ActRequest { version, action };
    // Requester-only actions are not for staff.
    if matches!(body.action, Action::RequesterReply { .. }) {
        return error(StatusCode::FORBIDDEN, "wrong_role", "Tindakan ini hanya untuk pemohon.");
    }
    let ticket = match deps.store.get(number).await {
        Ok(t) => t,
        Err(e) => return store_error(&e),
    };
    // A document new to the ticket must be one uploaded to it, as it says (its key signs
    // its kind, size, type and instant): a client cannot make one up or relabel one.
    let cited = match &body.action {
        Action::Complete { documents, .. } | Action::Decide { documents, .. } => documents.as_slice(),
        _ => &[],
    };
    if let Some(unknown) = cited
        .iter()
        .filter(|d| !ticket.documents.iter().any(|known| known == *d))
        .find(|d| !staff_document_genuine(&deps.keys, number, d))
    {
        tracing::warn!(ticket = %number, key = %unknown.key, "cited document is not one uploaded to the ticket as stated");
        return error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "unknown_document",
            "Dokumen tidak dikenali untuk tiket ini. Unggah dokumennya lagi lewat tiket ini.",
        );
    }
    let wf = Workflow::new(&deps.catalog, &deps.agency);
    let applied = match wf.apply(&ticket, &staff.actor(), body.action, body.version, now) {
        Ok(a) => a,
        Err(TransitionError::StaleVersion { .. }) => return store_error(&StoreError::Conflict(Box::new(ticket))),
        Err(e) => return transition_error(&e),
    };
    let Some(procedure) = deps.catalog.get(&applied.ticket.procedure) else {
        return error(StatusCode::INTERNAL_SERVER_ERROR, "internal", "Prosedur tiket tidak dikenal.");
    };
    let composer = Composer { agency: &deps.agency, keys: &deps.keys, links: &deps.links };
    let directory = |role: Role| deps.agency.staff_with(role);
    let mails = composer.mails_for(&applied, procedure, &directory, now);
    if let Err(e) = deps.store.apply(&applied, body.version, &mails, None).await {
        return store_error(&e);
    }
    send_recorded(&deps.store, &deps.mailer, &applied.ticket.number, &mails).await;
    let mut view = ticket_view(&deps.catalog, &wf, &applied.ticket, staff);
    view["event"] = json!(applied.event);
    json_response(StatusCode::OK, &view)
}

#[derive(Debug, Deserialize)]
struct UploadRequest {
    kind: String,
    name: String,
    content_base64: String,
    #[serde(default = "default_public")]
    public: bool,
}

fn default_public() -> bool {
    true
}

async fn upload<S: TicketStore, R: RawMailStore, M>(
    deps: &Deps<S, R, M>,
    number: &TicketNumber,
    request: &Request,
    now: Timestamp,
) -> Response<Body> {
    let Some(body) = body_json::<UploadRequest>(request) else { return bad_json() };
    if let Err(e) = deps.store.get(number).await {
        return store_error(&e);
    }
    let Ok(bytes) = base64::engine::general_purpose::STANDARD.decode(body.content_base64.trim()) else {
        return bad_request("Isi dokumen tidak dapat dibaca (base64 tidak valid).");
    };
    match store_document(deps, number, &body.kind, &body.name, bytes, body.public, now).await {
        Ok(document) => json_response(StatusCode::CREATED, &json!(document)),
        Err(response) => response,
    }
}

/// How long a document link stays valid: long enough to open it, short enough that a
/// forwarded or logged link is soon useless.
pub(crate) const DOCUMENT_LINK_VALID_FOR: std::time::Duration = std::time::Duration::from_secs(300);

/// Why a document cannot be opened.
pub(crate) enum DocumentError {
    /// No such ticket, or no document at that place.
    NotFound,
    /// The store or the link failed; try again.
    Unavailable,
}

/// The document at `index` in a ticket's list and a short-lived link to it (a presigned
/// S3 GET: the bucket stays private and a 10 MB scan never passes through a Lambda).
/// Any staff member may open any ticket's documents, as they may open the ticket; each
/// opening is logged with who opened what.
pub(crate) async fn open_document<S: TicketStore, R: RawMailStore, M>(
    deps: &Deps<S, R, M>,
    staff_id: &str,
    number: &str,
    index: &str,
) -> Result<(Document, String), DocumentError> {
    let (Ok(number), Ok(index)) = (number.parse::<TicketNumber>(), index.parse::<usize>()) else {
        return Err(DocumentError::NotFound);
    };
    let ticket = match deps.store.get(&number).await {
        Ok(t) => t,
        Err(StoreError::NotFound) => return Err(DocumentError::NotFound),
        Err(e) => {
            tracing::error!(error = %e, "open document: store");
            return Err(DocumentError::Unavailable);
        }
    };
    let Some(document) = ticket.documents.into_iter().nth(index) else { return Err(DocumentError::NotFound) };
    match deps.files.link(&document, DOCUMENT_LINK_VALID_FOR).await {
        Ok(link) => {
            tracing::info!(staff = staff_id, ticket = %number, key = %document.key, "document opened");
            Ok((document, link))
        }
        Err(e) => {
            tracing::error!(error = %e, key = %document.key, "open document: link");
            Err(DocumentError::Unavailable)
        }
    }
}

/// Checks a document by its content and keeps it; the reference to pass with an action.
pub(crate) async fn store_document<S, R: RawMailStore, M>(
    deps: &Deps<S, R, M>,
    number: &TicketNumber,
    kind: &str,
    name: &str,
    bytes: Vec<u8>,
    public: bool,
    now: Timestamp,
) -> Result<Document, Response<Body>> {
    let body = UploadRequest { kind: kind.to_string(), name: name.to_string(), content_base64: String::new(), public };
    if bytes.is_empty() || bytes.len() > MAX_DOCUMENT_BYTES {
        return Err(error(StatusCode::PAYLOAD_TOO_LARGE, "document_too_large", "Ukuran dokumen paling besar 4 MB."));
    }
    let Some(content_type) = sniff(&bytes) else {
        return Err(error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "document_type",
            "Dokumen harus berupa PDF, JPG, atau PNG.",
        ));
    };
    let kind: String = body.kind.chars().filter(|c| c.is_ascii_alphanumeric() || *c == '_').take(48).collect();
    let safe_name = safe_name(&body.name);
    let size = bytes.len() as u64;
    let Ok(nonce) = loket_aws::new_nonce() else {
        return Err(error(StatusCode::SERVICE_UNAVAILABLE, "unavailable", "Dokumen gagal disimpan. Coba lagi."));
    };
    let key = staff_document_key(&deps.keys, number, now, &nonce, &kind, size, content_type, &safe_name);
    if let Err(e) = deps.files.put(&key, bytes, content_type).await {
        tracing::error!(error = %e, "document upload failed");
        return Err(error(StatusCode::SERVICE_UNAVAILABLE, "unavailable", "Dokumen gagal disimpan. Coba lagi."));
    }
    let document = Document {
        kind,
        name: body.name.chars().take(120).collect(),
        content_type: content_type.into(),
        size,
        key,
        uploaded_at: now,
        public: body.public,
    };
    Ok(document)
}

#[derive(Debug, Deserialize)]
pub(crate) struct EnterRequest {
    /// Client-made idempotency key (a double submit creates one ticket).
    pub key: String,
    pub procedure: String,
    pub channel: Channel,
    pub name: String,
    pub unit: String,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub phone: Option<String>,
    pub subject: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub fields: BTreeMap<String, String>,
}

async fn enter<S, R, M>(deps: &Deps<S, R, M>, staff: &Staff, request: &Request, now: Timestamp) -> Response<Body>
where
    S: TicketStore + Sync,
    M: Mailer + Sync,
{
    let Some(body) = body_json::<EnterRequest>(request) else { return bad_json() };
    enter_request(deps, staff, body, now).await
}

/// Opens a ticket for a request that came by letter, WhatsApp or phone: the JSON answer
/// of the API.
pub(crate) async fn enter_request<S, R, M>(
    deps: &Deps<S, R, M>,
    staff: &Staff,
    body: EnterRequest,
    now: Timestamp,
) -> Response<Body>
where
    S: TicketStore + Sync,
    M: Mailer + Sync,
{
    if !staff.roles.iter().any(|r| matches!(r, Role::Helpdesk | Role::Koordinator | Role::Admin)) {
        return error(
            StatusCode::FORBIDDEN,
            "wrong_role",
            "Hanya Helpdesk atau Koordinator yang dapat mencatat permohonan.",
        );
    }
    // Mail normally arrives by itself; staff enter one that did not (forwarded to them,
    // or set aside in quarantine). The web form is the requester's own.
    if body.channel == Channel::Web {
        return bad_request("Saluran harus surat, WhatsApp, telepon, atau email.");
    }
    let mut problems = Vec::new();
    if body.key.trim().len() < 8 {
        problems.push(("key", "Kunci permintaan tidak valid."));
    }
    if body.name.trim().is_empty() {
        problems.push(("name", "Nama pemohon wajib diisi."));
    }
    if body.unit.trim().is_empty() {
        problems.push(("unit", "Unit (OPD) wajib diisi."));
    }
    if body.subject.trim().is_empty() {
        problems.push(("subject", "Perihal wajib diisi."));
    }
    let email = body.email.as_deref().map(|e| e.trim().to_ascii_lowercase()).filter(|e| !e.is_empty());
    if email.as_deref().is_some_and(|e| !loket_domain::ticket::plausible_email(e)) {
        problems.push(("email", "Alamat email tidak valid."));
    }
    if !deps.agency.procedures.contains(&body.procedure) && body.procedure != deps.agency.triage {
        problems.push(("procedure", "Layanan tidak dikenal."));
    }
    if !problems.is_empty() {
        let fields: BTreeMap<&str, &str> = problems.into_iter().collect();
        return json_response(
            StatusCode::UNPROCESSABLE_ENTITY,
            &json!({"code": "invalid", "message": "Periksa kembali isian yang ditandai.", "fields": fields}),
        );
    }
    let Some(procedure) = deps.catalog.get(&body.procedure) else { return bad_request("Layanan tidak dikenal.") };
    let claim = match deps.store.claim(&format!("staff:{}", body.key.trim()), now).await {
        Ok(Claim::Fresh(c)) => c,
        Ok(Claim::Done(outcome)) => {
            return json_response(StatusCode::OK, &json!({"number": outcome.number, "duplicate": true}));
        }
        Ok(Claim::InProgress) => return store_error(&StoreError::InProgress),
        Err(e) => return store_error(&e),
    };
    let token = match loket_aws::new_status_token() {
        Ok(t) => t,
        Err(e) => {
            tracing::error!(error = %e, "no randomness");
            return error(StatusCode::SERVICE_UNAVAILABLE, "unavailable", "Coba lagi sebentar lagi.");
        }
    };
    let requester = Requester {
        email,
        name: body.name.trim().to_string(),
        unit: body.unit.trim().to_string(),
        phone: body.phone.clone(),
    };
    let wf = Workflow::new(&deps.catalog, &deps.agency);
    let composer = Composer { agency: &deps.agency, keys: &deps.keys, links: &deps.links };
    let year = deps.agency.calendar.local(now).year();
    let created =
        create_and_send(&deps.store, &deps.mailer, &claim, &procedure.service, year, "entered by staff", |number| {
            let applied = wf.open(NewTicket {
                number,
                procedure: procedure.id.clone(),
                actor: staff.actor(),
                requester: requester.clone(),
                channel: body.channel,
                subject: body.subject.trim().chars().take(250).collect(),
                description: body.description.chars().take(20_000).collect(),
                fields: body.fields.clone(),
                documents: Vec::new(),
                token_hash: token_hash(&token),
                related: Vec::new(),
                mail_in: None,
                at: now,
            })?;
            let ack = composer.acknowledgement(&applied.ticket, procedure, &token, now);
            Ok((applied, ack.into_iter().collect()))
        })
        .await;
    match created {
        Ok(Created::New(applied, _)) => {
            let ticket = &applied.ticket;
            json_response(
                StatusCode::CREATED,
                &json!({"number": ticket.number, "status_link": composer.status_link(ticket, &token), "duplicate": false}),
            )
        }
        Ok(Created::Duplicate(number)) => json_response(StatusCode::OK, &json!({"number": number, "duplicate": true})),
        Err(e) => store_error(&e),
    }
}

/// The service-level report over tickets opened in a year (or one month of it): JSON, or
/// CSV with `format=csv`. For supervisors (Koordinator, Kasi, Kabid, Kadis, admin).
async fn sla_report<S: TicketStore, R, M>(
    deps: &Deps<S, R, M>,
    staff: &Staff,
    request: &Request,
    now: Timestamp,
) -> Response<Body> {
    if !staff
        .roles
        .iter()
        .any(|r| matches!(r, Role::Koordinator | Role::Kasi | Role::Kabid | Role::Kadis | Role::Admin))
    {
        return error(
            StatusCode::FORBIDDEN,
            "wrong_role",
            "Laporan hanya untuk Koordinator, Kepala Seksi, Kepala Bidang dan Kepala Dinas.",
        );
    }
    let query = request.query_string_parameters();
    let this_year = deps.agency.calendar.local(now).year();
    let Ok(year) = query.first("year").map_or(Ok(this_year), str::parse::<i16>) else {
        return bad_request("Tahun tidak valid.");
    };
    let months: Vec<i8> = match query.first("month").map(str::parse::<i8>) {
        None => (1..=12).collect(),
        Some(Ok(m)) if (1..=12).contains(&m) => vec![m],
        Some(_) => return bad_request("Bulan tidak valid."),
    };
    if !(2000..=2100).contains(&year) {
        return bad_request("Tahun tidak valid.");
    }
    let mut tickets = Vec::new();
    for month in months {
        match deps.store.opened_in_month(year, month).await {
            Ok(mut t) => tickets.append(&mut t),
            Err(e) => return store_error(&e),
        }
    }
    let report = loket_domain::report::build(&tickets, &deps.catalog);
    if query.first("format") == Some("csv") {
        let mut response = Response::new(Body::Text(loket_domain::report::to_csv(&report)));
        let headers = response.headers_mut();
        headers.insert("content-type", lambda_http::http::HeaderValue::from_static("text/csv; charset=utf-8"));
        headers.insert("cache-control", lambda_http::http::HeaderValue::from_static("no-store"));
        headers.insert(
            "content-disposition",
            lambda_http::http::HeaderValue::from_static("attachment; filename=\"laporan-layanan.csv\""),
        );
        return response;
    }
    json_response(StatusCode::OK, &json!({"year": year, "tickets": tickets.len(), "report": report}))
}

#[derive(Debug, Deserialize)]
struct DecisionForm {
    #[serde(default)]
    alasan: String,
}

/// `GET` shows what the link decides and asks to confirm (and for a reason where the
/// outcome needs one); `POST` takes the decision as the staff member the link was sent
/// to. The link is bound to the ticket's version, so it works once.
async fn decision_link<S, R, M>(deps: &Deps<S, R, M>, request: &Request, now: Timestamp) -> Response<Body>
where
    S: TicketStore + Sync,
    M: Mailer + Sync,
{
    let invalid = || {
        html_page(
            StatusCode::NOT_FOUND,
            "Tautan tidak berlaku",
            "<p>Tautan keputusan ini tidak dikenal atau sudah tidak berlaku. Buka tiket melalui konsol petugas.</p>",
        )
    };
    let query = request.query_string_parameters();
    let number = request.raw_http_path().trim_matches('/').trim_start_matches("keputusan/").parse::<TicketNumber>();
    let (Ok(number), Some(step_id), Some(outcome_id), Some(visit), Some(staff_id), Some(sig)) = (
        number,
        query.first("s"),
        query.first("o"),
        query.first("v").and_then(|v| v.parse::<u64>().ok()),
        query.first("p"),
        query.first("k"),
    ) else {
        return invalid();
    };
    if !deps.keys.check_decision_link(&number, step_id, visit, outcome_id, staff_id, sig) {
        return invalid();
    }
    let Some(member) = deps.agency.staff.iter().find(|m| m.id == staff_id) else { return invalid() };
    let ticket = match deps.store.get(&number).await {
        Ok(t) => t,
        Err(StoreError::NotFound) => return invalid(),
        Err(e) => {
            tracing::error!(error = %e, "decision link: store");
            return html_page(
                StatusCode::SERVICE_UNAVAILABLE,
                "Coba lagi",
                "<p>Layanan sedang sibuk. Coba lagi sebentar lagi.</p>",
            );
        }
    };
    let step = deps.catalog.get(&ticket.procedure).and_then(|p| p.step(step_id));
    let (Some(step), Some(outcome)) = (step, step.and_then(|s| s.outcome(outcome_id))) else { return invalid() };
    // Valid for the step visit it was sent for: a note or an auto-reply meanwhile leaves it
    // alone; the decision (by anyone, by any way) ends it.
    if ticket.current_visit() != visit || ticket.current_step() != Some(step_id) {
        return html_page(
            StatusCode::CONFLICT,
            "Tautan sudah dipakai",
            "<p>Langkah ini sudah diputuskan atau tiket telah berpindah langkah sejak tautan ini dikirim, sehingga tautan tidak berlaku lagi. Buka tiket melalui konsol petugas.</p>",
        );
    }
    let version = ticket.version;
    let summary = format!(
        "<p>Tiket <strong>{number}</strong>: {subject} ({unit})</p><p>Langkah: {no}. {label}</p><p>Keputusan: <strong>{decision}</strong>, oleh {name}</p>",
        number = escape(number.as_str()),
        subject = escape(&ticket.subject),
        unit = escape(&ticket.requester.unit),
        no = step.no,
        label = escape(&step.label),
        decision = escape(&outcome.label),
        name = escape(&member.name),
    );
    if request.method() == Method::GET {
        let reason = if outcome.reason_required {
            "<p><label for=\"alasan\">Alasan (wajib)</label><br><textarea id=\"alasan\" name=\"alasan\" rows=\"4\" cols=\"40\" required></textarea></p>"
        } else {
            "<p><label for=\"alasan\">Catatan (boleh kosong)</label><br><textarea id=\"alasan\" name=\"alasan\" rows=\"3\" cols=\"40\"></textarea></p>"
        };
        // An empty action posts back to this same URL, with its signed query.
        let form = format!(
            "{summary}<form method=\"post\" action=\"\">{reason}<p><button type=\"submit\">Kirim keputusan</button></p></form>"
        );
        return html_page(StatusCode::OK, "Konfirmasi keputusan", &form);
    }
    if request.method() != Method::POST {
        return invalid();
    }
    let reason = match request.payload::<DecisionForm>() {
        Ok(Some(form)) => form.alasan.trim().chars().take(2000).collect::<String>(),
        _ => String::new(),
    };
    let actor = Actor::staff(&member.as_ref(), member.roles.clone());
    let action = Action::Decide {
        step: step.id.clone(),
        outcome: outcome.id.clone(),
        reason: Some(reason).filter(|r| !r.is_empty()),
        note: Some("Diputuskan melalui tautan keputusan.".into()),
        fields: BTreeMap::new(),
        documents: Vec::new(),
    };
    let wf = Workflow::new(&deps.catalog, &deps.agency);
    let applied = match wf.apply(&ticket, &actor, action, version, now) {
        Ok(a) => a,
        Err(e) => {
            return html_page(
                StatusCode::UNPROCESSABLE_ENTITY,
                "Keputusan belum dapat dicatat",
                &format!("{summary}<p>{}</p>", escape(&e.message())),
            );
        }
    };
    let Some(procedure) = deps.catalog.get(&applied.ticket.procedure) else { return invalid() };
    let composer = Composer { agency: &deps.agency, keys: &deps.keys, links: &deps.links };
    let directory = |role: Role| deps.agency.staff_with(role);
    let mails = composer.mails_for(&applied, procedure, &directory, now);
    match deps.store.apply(&applied, version, &mails, None).await {
        Ok(()) => {
            send_recorded(&deps.store, &deps.mailer, &applied.ticket.number, &mails).await;
            html_page(
                StatusCode::OK,
                "Keputusan dicatat",
                &format!("{summary}<p>Terima kasih. Keputusan Anda telah dicatat pada tiket.</p>"),
            )
        }
        Err(StoreError::Conflict(_)) => html_page(
            StatusCode::CONFLICT,
            "Tautan sudah dipakai",
            "<p>Tiket telah berubah; tautan tidak berlaku lagi.</p>",
        ),
        Err(e) => {
            tracing::error!(error = %e, "decision link: apply");
            html_page(
                StatusCode::SERVICE_UNAVAILABLE,
                "Coba lagi",
                "<p>Keputusan gagal disimpan. Coba lagi sebentar lagi.</p>",
            )
        }
    }
}

/// Working time left as words, for people.
pub fn describe_left(agency: &Agency, secs: i64) -> String {
    loket_domain::calendar::describe_working(SignedDuration::from_secs(secs.abs()), agency.working_day())
}
