//! Test harness: a local AWS endpoint for integration tests.
//!
//! With `AWS_ENDPOINT_URL` set, tests use that endpoint (MiniStack, LocalStack or moto
//! started by someone else). Otherwise the first test of a test binary starts MiniStack
//! from the project's venv (`make test` installs it into `.venv/ministack`) on a free
//! loopback port; a watchdog shell stops it as soon as the test process is gone. Each
//! test then creates its own table, so tests run in parallel on one endpoint.

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

fn free_port() -> u16 {
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
    let body = get_admin("/_ministack/ses/messages");
    let value: serde_json::Value = serde_json::from_str(&body).unwrap_or(serde_json::Value::Null);
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
