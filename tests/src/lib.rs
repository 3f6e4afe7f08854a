//! Test harness: a local AWS endpoint for integration tests.
//!
//! With `AWS_ENDPOINT_URL` set, tests use that endpoint (MiniStack, LocalStack or moto
//! started by someone else). Otherwise the first test of a test binary starts MiniStack
//! from the project's venv (`make test` installs it into `.venv/ministack`) on a free
//! loopback port; a watchdog shell stops it as soon as the test process is gone. Each
//! test then creates its own table, so tests run in parallel on one endpoint.

pub mod browser;
pub mod meter;
pub mod stack;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_dynamodb::config::Credentials;

/// The region tests use (the agency's home region in AWS).
pub const REGION: &str = "ap-southeast-3";

static ENDPOINT: OnceLock<String> = OnceLock::new();

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn ministack_binary() -> PathBuf {
    std::env::var_os("LOKET_MINISTACK")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join(".venv/ministack/bin/ministack"))
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("a free loopback port")
}

fn ready(port: u16) -> bool {
    let Ok(mut stream) = TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), Duration::from_millis(200)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_millis(500)));
    if stream.write_all(b"GET /_ministack/ready HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").is_err() {
        return false;
    }
    let mut head = [0u8; 16];
    stream
        .read(&mut head)
        .map(|n| head[..n].starts_with(b"HTTP/1.1 200") || head[..n].starts_with(b"HTTP/1.0 200"))
        .unwrap_or(false)
}

/// Starts MiniStack on a free loopback port, stopped by a watchdog when this process ends.
fn start_ministack() -> String {
    let binary = ministack_binary();
    assert!(
        binary.exists(),
        "MiniStack is not installed at {}. Run `make test` (it installs it into .venv/ministack), \
         or set AWS_ENDPOINT_URL to a running LocalStack-compatible endpoint.",
        binary.display()
    );
    let port = free_port();
    let endpoint = format!("http://127.0.0.1:{port}");
    let state = std::env::temp_dir().join(format!("loket-ministack-{port}"));
    std::fs::create_dir_all(&state).expect("state dir");
    // The watchdog: runs MiniStack in the background and stops it once the test process
    // (its parent) has exited, however the tests ended.
    let script = format!(
        "\"$LOKET_MS_BIN\" >\"$LOKET_MS_LOG\" 2>&1 & child=$!; \
         trap 'kill $child 2>/dev/null; wait $child 2>/dev/null; rm -rf \"$STATE_DIR\"' EXIT; \
         while kill -0 {parent} 2>/dev/null && kill -0 $child 2>/dev/null; do sleep 1; done",
        parent = std::process::id()
    );
    // Not waited for on purpose: the watchdog outlives this process (it exits after it).
    #[allow(clippy::zombie_processes)]
    Command::new("sh")
        .arg("-c")
        .arg(script)
        .env("LOKET_MS_BIN", &binary)
        .env("LOKET_MS_LOG", state.join("ministack.log"))
        .env("BIND_HOST", "127.0.0.1")
        .env("GATEWAY_PORT", port.to_string())
        .env("AWS_ENDPOINT_URL", &endpoint)
        .env("IOT_MTLS_ENABLED", "0")
        .env("STATE_DIR", &state)
        .env("TMPDIR", &state)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the MiniStack watchdog");
    let started = Instant::now();
    while !ready(port) {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "MiniStack did not become ready on {endpoint} within 60 s; see {}",
            state.join("ministack.log").display()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    endpoint
}

/// The local AWS endpoint, started on first use.
pub fn endpoint() -> &'static str {
    ENDPOINT.get_or_init(|| match std::env::var("AWS_ENDPOINT_URL") {
        Ok(url) if !url.is_empty() => url,
        _ => start_ministack(),
    })
}

/// SDK configuration for the local endpoint (test credentials, fixed region).
pub async fn sdk_config() -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .endpoint_url(endpoint())
        .region(Region::new(REGION))
        .credentials_provider(Credentials::new("test", "test", None, None, "loket-tests"))
        .load()
        .await
}

static UNIQUE: AtomicU64 = AtomicU64::new(0);

/// A name no other test in this run uses, e.g. for a table.
/// A value of the kind a step's field takes, for tests that walk procedures.
pub fn sample_value(kind: loket_domain::sop::ItemKind) -> &'static str {
    use loket_domain::sop::ItemKind;
    match kind {
        ItemKind::Number => "12",
        ItemKind::Date => "2026-12-01",
        ItemKind::DateTime => "2026-12-01T09:00",
        ItemKind::Text | ItemKind::Document => "Gedung A, lantai 2",
    }
}

/// The fields of `step` among `values` (a walk offers every field; a step takes its own).
pub fn step_fields(
    step: &loket_domain::sop::Step,
    values: &[(&str, &str)],
) -> std::collections::BTreeMap<String, String> {
    values.iter().filter(|(k, _)| step.item(k).is_some()).map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

pub fn unique_name(prefix: &str) -> String {
    let n = UNIQUE.fetch_add(1, Ordering::Relaxed);
    let nanos =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or(0);
    format!("{prefix}-{}-{n}-{nanos}", std::process::id())
}

/// `GET` a path of the local endpoint and return the body (for MiniStack's admin API,
/// e.g. `/_ministack/ses/messages`).
pub fn get_admin(path: &str) -> String {
    let endpoint = endpoint();
    let authority = endpoint.trim_start_matches("http://").trim_end_matches('/');
    let mut stream = TcpStream::connect(authority).expect("connect to the local endpoint");
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    let request = format!("GET {path} HTTP/1.0\r\nHost: {authority}\r\n\r\n");
    stream.write_all(request.as_bytes()).expect("send request");
    let mut response = Vec::new();
    let _ = stream.read_to_end(&mut response);
    let text = String::from_utf8_lossy(&response).into_owned();
    text.split_once("\r\n\r\n").map(|(_, body)| body.to_string()).unwrap_or_default()
}

/// The mail SES accepted so far, as MiniStack reports it (a flat list of messages).
pub fn sent_mail() -> Vec<serde_json::Value> {
    parse_sent_mail(&get_admin("/_ministack/ses/messages"))
}

/// The mail SES accepted on another emulator (e.g. the local stack's, whose state file
/// gives its `ses_messages_url`).
pub fn sent_mail_at(ses_messages_url: &str) -> Vec<serde_json::Value> {
    parse_sent_mail(&http("GET", ses_messages_url, &[], None).1)
}

fn parse_sent_mail(body: &str) -> Vec<serde_json::Value> {
    let value: serde_json::Value = serde_json::from_str(body).unwrap_or(serde_json::Value::Null);
    fn collect(v: &serde_json::Value, out: &mut Vec<serde_json::Value>) {
        match v {
            serde_json::Value::Array(items) => items.iter().for_each(|i| collect(i, out)),
            serde_json::Value::Object(map) if map.contains_key("MessageId") => out.push(v.clone()),
            serde_json::Value::Object(map) => map.values().for_each(|i| collect(i, out)),
            _ => {}
        }
    }
    let mut out = Vec::new();
    collect(&value, &mut out);
    out
}

/// An SES receipt event of the real shape for a message stored at `<prefix><ses_id>`:
/// headers as SES lists them, `commonHeaders` (without `to` when the message has none,
/// as SES sometimes sends), and the receipt verdicts (`spam=FAIL` and the like; the rest
/// PASS).
pub fn ses_event(ses_id: &str, raw: &[u8], recipients: &[&str], verdicts: &str) -> serde_json::Value {
    use serde_json::json;
    let message = mail_parser::MessageParser::default().parse(raw);
    let headers: Vec<serde_json::Value> = message
        .as_ref()
        .map(|m| m.headers_raw().map(|(n, v)| json!({"name": n, "value": v.trim()})).collect())
        .unwrap_or_default();
    let from: Vec<String> = message
        .as_ref()
        .and_then(|m| m.from())
        .map(|a| a.iter().filter_map(|m| m.address().map(str::to_string)).collect())
        .unwrap_or_default();
    let mut common = json!({
        "from": from,
        "messageId": message.as_ref().and_then(|m| m.message_id()).unwrap_or_default(),
        "subject": message.as_ref().and_then(|m| m.subject()).unwrap_or_default(),
    });
    if let Some(to) = message.as_ref().and_then(|m| m.to()) {
        common["to"] = json!(to.iter().filter_map(|m| m.address().map(str::to_string)).collect::<Vec<_>>());
    }
    let verdict = |name: &str| {
        let status = verdicts
            .split([',', ' '])
            .find_map(|p| p.split_once('=').filter(|(k, _)| *k == name).map(|(_, v)| v.to_string()))
            .unwrap_or_else(|| "PASS".into());
        json!({"status": status})
    };
    json!({"Records": [{
        "eventSource": "aws:ses",
        "eventVersion": "1.0",
        "ses": {
            "mail": {
                "timestamp": "2026-11-23T02:00:00.000Z",
                "source": from.first().cloned().unwrap_or_default(),
                "messageId": ses_id,
                "destination": recipients,
                "headersTruncated": false,
                "headers": headers,
                "commonHeaders": common,
            },
            "receipt": {
                "timestamp": "2026-11-23T02:00:00.000Z",
                "processingTimeMillis": 120,
                "recipients": recipients,
                "spamVerdict": verdict("spam"),
                "virusVerdict": verdict("virus"),
                "spfVerdict": verdict("spf"),
                "dkimVerdict": verdict("dkim"),
                "dmarcVerdict": verdict("dmarc"),
                "action": {"type": "Lambda", "functionArn": "arn:aws:lambda:ap-southeast-3:000000000000:function:email-intake", "invocationType": "Event"}
            }
        }
    }]})
}

/// A minimal HTTP/1.0 client for loopback tests: `(status, body)`.
pub fn http(method: &str, url: &str, headers: &[(&str, &str)], body: Option<&str>) -> (u16, String) {
    let rest = url.strip_prefix("http://").expect("an http:// URL");
    let (authority, path) = rest.split_once('/').map_or((rest, "/".to_string()), |(a, p)| (a, format!("/{p}")));
    let mut stream = TcpStream::connect(authority).unwrap_or_else(|e| panic!("connect {authority}: {e}"));
    let _ = stream.set_read_timeout(Some(Duration::from_secs(30)));
    let mut request = format!("{method} {path} HTTP/1.0\r\nHost: {authority}\r\n");
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    if let Some(body) = body {
        request.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    request.push_str("\r\n");
    if let Some(body) = body {
        request.push_str(body);
    }
    stream.write_all(request.as_bytes()).expect("send");
    let mut response = Vec::new();
    let _ = stream.read_to_end(&mut response);
    let text = String::from_utf8_lossy(&response).into_owned();
    let status = text.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default();
    (status, body)
}

/// A response read by [`http_bytes`]: status, headers (lower-case names), body.
pub struct RawResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl RawResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }
}

/// Like [`http`], with a binary body, and the response headers kept.
pub fn http_bytes(method: &str, url: &str, headers: &[(&str, &str)], body: &[u8]) -> RawResponse {
    let rest = url.strip_prefix("http://").expect("an http:// URL");
    let (authority, path) = rest.split_once('/').map_or((rest, "/".to_string()), |(a, p)| (a, format!("/{p}")));
    let mut stream = TcpStream::connect(authority).unwrap_or_else(|e| panic!("connect {authority}: {e}"));
    let _ = stream.set_read_timeout(Some(Duration::from_secs(60)));
    let mut request = format!("{method} {path} HTTP/1.0\r\nHost: {authority}\r\nContent-Length: {}\r\n", body.len());
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    let mut bytes = request.into_bytes();
    bytes.extend_from_slice(body);
    // A server may answer (e.g. 400 too large) before reading everything: keep the answer.
    let _ = stream.write_all(&bytes);
    let mut response = Vec::new();
    let _ = stream.read_to_end(&mut response);
    let split = response.windows(4).position(|w| w == b"\r\n\r\n").unwrap_or(response.len());
    let head = String::from_utf8_lossy(&response[..split]).into_owned();
    let status = head.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    let headers = head
        .lines()
        .skip(1)
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    RawResponse { status, headers, body: response.get(split + 4..).unwrap_or_default().to_vec() }
}

/// A `multipart/form-data` body: the fields in order, then the file as `file` (as S3's
/// POST upload wants it). Returns the content type (with its boundary) and the body.
pub fn multipart(fields: &[(String, String)], file_name: &str, file: &[u8]) -> (String, Vec<u8>) {
    let fields: Vec<(&str, &str)> = fields.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
    multipart_files(&fields, &[("file", file_name, file)])
}

/// A `multipart/form-data` body: the fields in order, then each file as
/// `(field, file name, bytes)`. Returns the content type (with its boundary) and the body.
pub fn multipart_files(fields: &[(&str, &str)], files: &[(&str, &str, &[u8])]) -> (String, Vec<u8>) {
    let boundary = "----loket-test-boundary-7MA4YWxkTrZu0gW";
    let mut body = Vec::new();
    for (name, value) in fields {
        body.extend_from_slice(
            format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n").as_bytes(),
        );
    }
    for (name, file_name, bytes) in files {
        body.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"; filename=\"{file_name}\"\r\n\
                 Content-Type: application/octet-stream\r\n\r\n"
            )
            .as_bytes(),
        );
        body.extend_from_slice(bytes);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

/// Undoes `loket_domain::html::escape` for reading values back out of a page.
pub fn html_unescape(text: &str) -> String {
    text.replace("&quot;", "\"")
        .replace("&#x27;", "'")
        .replace("&#39;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// Percent-decodes a query value.
pub fn percent_decode(value: &str) -> String {
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => match u8::from_str_radix(&value[i + 1..i + 3], 16) {
                Ok(b) => {
                    out.push(b);
                    i += 3;
                    continue;
                }
                Err(_) => out.push(b'%'),
            },
            b'+' => out.push(b' '),
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// What a handler's dependencies are made of, fresh on the local endpoint: a table, a
/// bucket, the embedded catalog and an agency whose service address SES may send from.
/// Test setup: it panics when the endpoint refuses.
pub struct Scratch {
    pub config: SdkConfig,
    pub dynamo: aws_sdk_dynamodb::Client,
    pub s3: aws_sdk_s3::Client,
    pub ses: aws_sdk_ses::Client,
    pub table: String,
    pub bucket: String,
    pub catalog: loket_domain::Catalog,
    pub agency: loket_domain::Agency,
}

impl Scratch {
    /// Names start with `prefix`; `agency_id` is one of the embedded agency profiles.
    pub async fn new(prefix: &str, agency_id: &str) -> Self {
        Self::make(prefix, agency_id, true).await
    }

    /// The same without creating the table: every store call then fails.
    pub async fn without_table(prefix: &str, agency_id: &str) -> Self {
        Self::make(prefix, agency_id, false).await
    }

    async fn make(prefix: &str, agency_id: &str, with_table: bool) -> Self {
        let config = sdk_config().await;
        let dynamo = aws_sdk_dynamodb::Client::new(&config);
        let table = unique_name(prefix);
        if with_table {
            loket_aws::dynamo::schema::create_table(&dynamo, &table).await.expect("create table");
        }
        let bucket = create_bucket(&config, prefix).await;
        let catalog = loket_domain::Catalog::embedded().expect("catalog");
        let agency = loket_domain::Agency::embedded(agency_id, &catalog).expect("agency");
        let ses = aws_sdk_ses::Client::new(&config);
        ses.verify_email_identity().email_address(&agency.service_address).send().await.expect("verify sender");
        let s3 = aws_sdk_s3::Client::new(&config);
        Scratch { config, dynamo, s3, ses, table, bucket, catalog, agency }
    }
}

/// A fresh bucket in the tests' region (S3 wants the location constraint outside us-east-1).
pub async fn create_bucket(config: &SdkConfig, prefix: &str) -> String {
    let bucket = unique_name(prefix).to_lowercase();
    aws_sdk_s3::Client::new(config)
        .create_bucket()
        .bucket(&bucket)
        .create_bucket_configuration(
            aws_sdk_s3::types::CreateBucketConfiguration::builder()
                .location_constraint(aws_sdk_s3::types::BucketLocationConstraint::from(REGION))
                .build(),
        )
        .send()
        .await
        .expect("create bucket");
    bucket
}
