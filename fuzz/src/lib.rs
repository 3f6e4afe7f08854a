//! What the fuzz targets share: the real handlers over in-memory ports that always answer
//! (a claim is fresh, a ticket is created, a mail is sent), so a fuzzed input travels the
//! whole path (decode, classify or validate, build the ticket, compose the acknowledgement)
//! with no I/O. `run_*` are the targets' bodies.
//!
//! The form handlers also hold the S3 upload adapter (`Deps::uploads`). Here it has no
//! credentials, so the result page's upload section says uploads are unavailable, and an
//! HTTP client that panics, so any attempt to reach S3 (or anything else) is a crash.

use std::any::Any;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::pin;
use std::sync::Once;
use std::task::{Context, Poll, Waker};

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_smithy_runtime_api::client::http::http_client_fn;
use jiff::Timestamp;
use loket_aws::S3Uploads;
use loket_domain::mail::classify::{Verdict, Verdicts};
use loket_domain::mail::compose::{Links, Outgoing};
use loket_domain::mail::thread::ThreadKeys;
use loket_domain::ports::{
    Claim, ClaimToken, Created, IoError, Mailer, Opened, OutboxMail, Outcome, Page, Quarantined, QueueEntry, RawMail,
    RawMailStore, StoreError, SweepPage, TicketStore,
};
use loket_domain::ticket::{Document, Event, Ticket, TicketNumber};
use loket_domain::workflow::{Applied, TransitionError};
use loket_domain::{Agency, Catalog, Role};

/// Polls a future whose every await is ready at once (the ports here never wait).
pub fn block_on<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(value) = future.as_mut().poll(&mut cx) {
            return value;
        }
    }
}

/// A store that says yes: every claim fresh, every ticket new (its mail is checked for
/// the headers every sent mail must carry), nothing found.
pub struct YesStore;

impl TicketStore for YesStore {
    async fn claim(&self, key: &str, _now: Timestamp) -> Result<Claim, StoreError> {
        Ok(Claim::Fresh(ClaimToken { key: key.to_string(), owner: "fuzz".into() }))
    }
    async fn save_alert_progress(&self, _ticket: &Ticket) -> Result<bool, StoreError> {
        Ok(true)
    }
    async fn finish(&self, _claim: &ClaimToken, _outcome: &Outcome) -> Result<(), StoreError> {
        Ok(())
    }
    async fn create<F>(
        &self,
        _claim: &ClaimToken,
        service: &str,
        year: i16,
        _reason: &str,
        build: F,
    ) -> Result<Created, StoreError>
    where
        F: FnOnce(TicketNumber) -> Result<Opened, TransitionError> + Send,
    {
        let number = TicketNumber::new(service, year, 1).map_err(|e| StoreError::Other(e.to_string()))?;
        let (applied, mails) = build(number).map_err(StoreError::Rejected)?;
        for mail in &mails {
            check_mail(mail);
        }
        Ok(Created::New(Box::new(applied), mails))
    }
    async fn mark_sent(&self, _number: &TicketNumber, _key: &str, _ses_id: &str) -> Result<(), StoreError> {
        Ok(())
    }
    async fn mark_failed(&self, _number: &TicketNumber, _key: &str, _reason: &str) -> Result<bool, StoreError> {
        Ok(true)
    }
    async fn pending_mail(&self, _limit: i32) -> Result<Vec<OutboxMail>, StoreError> {
        Ok(Vec::new())
    }
    async fn ticket_of_ses_id(&self, _ses_id: &str) -> Result<Option<TicketNumber>, StoreError> {
        Ok(None)
    }
    async fn quarantine(&self, _record: &Quarantined) -> Result<(), StoreError> {
        Ok(())
    }
    async fn quarantined(&self, _day: &str) -> Result<Vec<Quarantined>, StoreError> {
        Ok(Vec::new())
    }
    async fn release_quarantined(&self, _day: &str, _id: &str, _number: &TicketNumber) -> Result<bool, StoreError> {
        Ok(true)
    }
    async fn count_sender(&self, _sender: &str, _now: Timestamp) -> Result<u64, StoreError> {
        Ok(1)
    }
    async fn get(&self, _number: &TicketNumber) -> Result<Ticket, StoreError> {
        Err(StoreError::NotFound)
    }
    async fn timeline(&self, _number: &TicketNumber) -> Result<Vec<Event>, StoreError> {
        Ok(Vec::new())
    }
    async fn apply(
        &self,
        _applied: &Applied,
        _expected_version: u64,
        outbox: &[Outgoing],
        _claim: Option<(&ClaimToken, &Outcome)>,
    ) -> Result<(), StoreError> {
        outbox.iter().for_each(check_mail);
        Ok(())
    }
    async fn queue(&self, _role: Role, _limit: i32, _cursor: Option<&str>) -> Result<Page<QueueEntry>, StoreError> {
        Ok(Page { items: Vec::new(), next: None })
    }
    async fn by_requester(&self, _email: &str, _limit: i32) -> Result<Vec<Ticket>, StoreError> {
        Ok(Vec::new())
    }
    async fn opened_in_month(&self, _year: i16, _month: i8) -> Result<Vec<Ticket>, StoreError> {
        Ok(Vec::new())
    }
    async fn due(&self, _now: Timestamp, _limit: i32, _cursor: Option<&str>) -> Result<SweepPage, StoreError> {
        Ok(SweepPage { tickets: Vec::new(), items_read: 0, next: None })
    }
}

/// What every mail we compose must be, whatever the input: parseable, with our
/// threading headers, and a header block that a fuzzed name or subject cannot extend.
fn check_mail(mail: &Outgoing) {
    let parsed = mail_parser::MessageParser::default().parse(&mail.raw).expect("composed mail parses");
    assert!(parsed.header("X-Loket-Ticket").is_some(), "X-Loket-Ticket on every mail");
    let head_end = mail.raw.windows(4).position(|w| w == b"\r\n\r\n").expect("a header block");
    let head = String::from_utf8_lossy(&mail.raw[..head_end]);
    for line in head.split("\r\n") {
        assert!(!line.contains('\n') && !line.contains('\r'), "a bare line break in a header: {line:?}");
    }
    assert_eq!(head.matches("\r\nX-Loket-Ticket:").count(), 1, "one X-Loket-Ticket header");
}

/// Raw mail from the fuzz input.
pub struct Bytes(pub Vec<u8>);

impl RawMailStore for Bytes {
    async fn fetch(&self, _key: &str, max_bytes: u64) -> Result<RawMail, IoError> {
        if self.0.len() as u64 > max_bytes {
            return Ok(RawMail::TooLarge(self.0.len() as u64));
        }
        Ok(RawMail::Found(self.0.clone()))
    }
    async fn put(&self, _key: &str, _bytes: Vec<u8>, _content_type: &str) -> Result<(), IoError> {
        Ok(())
    }
    async fn link(&self, document: &Document, _valid_for: std::time::Duration) -> Result<String, IoError> {
        Ok(format!("memory:{}", document.key))
    }
}

/// A mailer that accepts every mail.
pub struct YesMailer;

impl Mailer for YesMailer {
    async fn send(&self, mail: &Outgoing) -> Result<String, IoError> {
        check_mail(mail);
        Ok("fuzz-ses-id".into())
    }
}

fn catalog_and_agency() -> (Catalog, Agency) {
    let catalog = Catalog::embedded().expect("catalog");
    let agency = Agency::embedded("pangkalpinang", &catalog).expect("agency");
    (catalog, agency)
}

fn keys() -> ThreadKeys {
    ThreadKeys::new(b"fuzz-thread-secret-0123456789".to_vec()).expect("keys")
}

fn links() -> Links {
    Links {
        public_base: "https://layanan.example.go.id".into(),
        console_base: "https://layanan.example.go.id/staf".into(),
    }
}

/// A fixed instant: Monday 23 Nov 2026, 09:00 WIB.
pub fn now() -> Timestamp {
    "2026-11-23T02:00:00Z".parse().expect("instant")
}

pub type EmailDeps = email_intake::Deps<YesStore, Bytes, YesMailer>;
pub type FormDeps = form_intake::Deps<YesStore, YesMailer>;

/// Email deps (catalog, agency, keys) built once; the raw message is per input.
pub fn email_deps() -> EmailDeps {
    let (catalog, agency) = catalog_and_agency();
    email_intake::Deps {
        store: YesStore,
        raw: Bytes(Vec::new()),
        mailer: YesMailer,
        catalog,
        agency,
        keys: keys(),
        links: links(),
        raw_prefix: "raw/".into(),
        limits: email_intake::Limits::default(),
    }
}

/// The S3 upload adapter with no I/O: no credentials provider (signing an upload form
/// fails at once, before any request) and an HTTP client that panics if a request is
/// ever about to be sent. The endpoint is a placeholder that is never contacted.
pub fn no_io_uploads() -> S3Uploads {
    let config = SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::from_static("ap-southeast-3"))
        .endpoint_url("http://s3.fuzz.invalid")
        .http_client(http_client_fn(|_, _| panic!("a fuzz target tried to send an HTTP request")))
        .build();
    assert!(config.credentials_provider().is_none(), "no credentials: upload forms are never signed");
    S3Uploads::new(&config, "fuzz-uploads")
}

pub fn form_deps() -> FormDeps {
    let (catalog, agency) = catalog_and_agency();
    form_intake::Deps {
        store: YesStore,
        mailer: YesMailer,
        catalog,
        agency,
        keys: keys(),
        links: links(),
        uploads: no_io_uploads(),
    }
}

/// Raw bytes → parse → classify → thread → the intake outcome (and the ticket and
/// acknowledgement it builds). The first byte picks the SES verdicts.
pub fn run_email(deps: &mut EmailDeps, data: &[u8]) {
    let (flags, raw) = data.split_first().map_or((0, data), |(f, rest)| (*f, rest));
    let verdict = |bit: u8| Some(if flags & (1 << bit) != 0 { Verdict::Fail } else { Verdict::Pass });
    let verdicts =
        Verdicts { spam: verdict(0), virus: verdict(1), spf: verdict(2), dkim: verdict(3), dmarc: verdict(4) };
    deps.raw = Bytes(raw.to_vec());
    let_parser_panics_unwind();
    let run = std::panic::catch_unwind(AssertUnwindSafe(|| {
        block_on(email_intake::process(deps, "fuzz-ses-id", &verdicts, now()))
    }));
    let outcome = match run {
        Ok(result) => result.expect("the yes-saying ports never fail, so neither does intake"),
        Err(payload) => panic!("a panic of the MIME parser escaped intake: {}", panic_text(payload.as_ref())),
    };
    assert!(
        matches!(outcome.kind.as_str(), "new_ticket" | "appended" | "quarantined" | "dropped"),
        "an outcome of a known kind: {outcome:?}"
    );
    assert_eq!(outcome.kind == "new_ticket", outcome.number.is_some(), "a new ticket has its number: {outcome:?}");
}

/// libFuzzer's panic hook aborts at once on every panic, even one the code under test
/// catches. email-intake catches panics of the MIME parser (`email_intake::parse_mail`
/// sets such a mail aside), so a panic raised inside mail-parser is let unwind; one that
/// is not caught there reaches `run_email`, which panics again, and that aborts. Every
/// other panic aborts as before.
fn let_parser_panics_unwind() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let abort = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !info.location().is_some_and(|at| at.file().contains("mail-parser-")) {
                abort(info);
            }
        }));
    });
}

fn panic_text(payload: &(dyn Any + Send)) -> &str {
    payload
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| payload.downcast_ref::<&str>().copied())
        .unwrap_or("(no message)")
}

fn request(content_type: &str, path: &str, body: &[u8]) -> lambda_http::Request {
    lambda_http::http::Request::builder()
        .method("POST")
        .uri(format!("https://layanan.example.go.id{path}"))
        .header("content-type", content_type)
        .body(lambda_http::Body::from(body.to_vec()))
        .expect("request")
}

/// An urlencoded body of `POST /permohonan` → the page the person gets. The first byte
/// chooses whether a valid time stamp is appended (so validation is reached), or the
/// body's own is used.
pub fn run_form_urlencoded(deps: &FormDeps, data: &[u8]) {
    let (flags, body) = data.split_first().map_or((0, data), |(f, rest)| (*f, rest));
    let mut body = body.to_vec();
    if flags & 1 == 0 {
        let stamp = deps.keys.form_stamp(now() - jiff::SignedDuration::from_secs(60));
        body.extend_from_slice(format!("&mulai={stamp}").as_bytes());
    }
    let request = request("application/x-www-form-urlencoded", "/permohonan", &body);
    let response = block_on(form_intake::form::post_form(deps, &request, now()));
    let status = response.status().as_u16();
    assert!(matches!(status, 200 | 400 | 409 | 422 | 429 | 503), "status {status}");
    // Without credentials no upload form is signed: an accepted request's page says
    // uploads are unavailable (and nothing was sent to S3 to find that out).
    let page = String::from_utf8_lossy(response.body().as_ref());
    assert!(!page.contains("x-amz-signature"), "an upload form signed without credentials");
    if page.contains("id=\"nomor-tiket\"") {
        assert!(page.contains("Unggah lampiran sedang tidak tersedia"), "the upload section of an accepted request");
    }
}

/// A JSON body of `POST /api/requests` → the JSON answer.
pub fn run_form_json(deps: &FormDeps, data: &[u8]) {
    let request = request("application/json", "/api/requests", data);
    let response = block_on(form_intake::form::post_json(deps, &request, now()));
    let status = response.status().as_u16();
    assert!(matches!(status, 200 | 201 | 400 | 409 | 422 | 429 | 503), "status {status}");
    let body: &[u8] = response.body().as_ref();
    assert!(std::str::from_utf8(body).is_ok_and(|b| b.starts_with('{')), "a JSON answer");
}
