//! Benchmarks of email intake, printed as `name value unit` lines:
//!
//! - `parse_classify`: mail-parser + the classifier over the whole real-mail corpus
//!   (`../shared/mail-corpus`), in memory, on one core: MB/s and messages/s.
//! - `startup`: the email-intake binary from exec to its first request for an event
//!   (`GET /runtime/invocation/next`) against a stub Runtime API on loopback, so no
//!   network time is counted: milliseconds, median of 20 starts.
//!
//! Run: `make bench-mail` (it also runs the Python baseline on the same files).

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use loket_domain::mail::classify::{Us, Verdicts, classify};
use mail_parser::MessageParser;

fn corpus() -> anyhow::Result<Vec<Vec<u8>>> {
    let dir = std::env::var_os("LOKET_MAIL_CORPUS")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/mail-corpus"));
    let manifest = std::fs::read_to_string(dir.join("manifest.tsv"))?;
    manifest
        .lines()
        .skip(1)
        .filter_map(|line| line.split('\t').next())
        .map(|path| std::fs::read(dir.join(path)).map_err(anyhow::Error::from))
        .collect()
}

fn parse_classify(messages: &[Vec<u8>]) -> anyhow::Result<()> {
    let us = Us { service_address: "layanan@kominfo.example.go.id", mail_domain: "kominfo.example.go.id" };
    let parser = MessageParser::default();
    let bytes: usize = messages.iter().map(Vec::len).sum();
    let mut rounds = 0u32;
    let mut classified = 0usize;
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(3) || rounds < 3 {
        for raw in messages {
            if let Some(message) = parser.parse(raw) {
                let c = classify(&message, &Verdicts::default(), &us);
                classified += usize::from(!c.reason.is_empty());
            }
        }
        rounds += 1;
    }
    let secs = started.elapsed().as_secs_f64();
    let mb_per_s = (bytes as f64 * f64::from(rounds)) / secs / 1_000_000.0;
    let msgs_per_s = (messages.len() as f64 * f64::from(rounds)) / secs;
    println!("parse_classify_mb_per_s {mb_per_s:.1}");
    println!("parse_classify_messages_per_s {msgs_per_s:.0}");
    println!("corpus_messages {} corpus_bytes {bytes} classified {classified}", messages.len());

    // The parser alone, to see what classification adds.
    let mut rounds = 0u32;
    let mut parsed = 0usize;
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(3) || rounds < 3 {
        for raw in messages {
            parsed += usize::from(parser.parse(raw).is_some());
        }
        rounds += 1;
    }
    let secs = started.elapsed().as_secs_f64();
    println!("parse_only_mb_per_s {:.1}", (bytes as f64 * f64::from(rounds)) / secs / 1_000_000.0);
    println!("parsed {parsed}");
    Ok(())
}

/// Time from exec to the first `GET /runtime/invocation/next`.
fn startup(binary: &Path) -> anyhow::Result<()> {
    let mut samples = Vec::new();
    for _ in 0..20 {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let api = listener.local_addr()?;
        let started = Instant::now();
        let mut child = Command::new(binary)
            .env("AWS_LAMBDA_RUNTIME_API", api.to_string())
            .env("AWS_LAMBDA_FUNCTION_NAME", "email-intake")
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env("AWS_REGION", "ap-southeast-3")
            .env("AWS_ACCESS_KEY_ID", "bench")
            .env("AWS_SECRET_ACCESS_KEY", "bench")
            .env("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
            .env("AGENCY_ID", "pangkalpinang")
            .env("TABLE_NAME", "bench")
            .env("MAIL_BUCKET", "bench")
            .env("THREAD_SECRET", "bench-thread-secret-0123456789")
            .env("PUBLIC_BASE_URL", "http://127.0.0.1:9")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?;
        let (mut stream, _) = listener.accept()?;
        let mut buf = [0u8; 256];
        let n = stream.read(&mut buf)?;
        let elapsed = started.elapsed();
        anyhow::ensure!(buf[..n].starts_with(b"GET /2018-06-01/runtime/invocation/next"), "unexpected first request");
        let _ = stream.write_all(b"HTTP/1.1 500 Internal Server Error\r\ncontent-length: 0\r\n\r\n");
        let _ = child.kill();
        let _ = child.wait();
        samples.push(elapsed.as_secs_f64() * 1000.0);
    }
    samples.sort_by(f64::total_cmp);
    println!("startup_ms_p50 {:.1}", samples[samples.len() / 2]);
    println!("startup_ms_max {:.1}", samples[samples.len() - 1]);
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let messages = corpus()?;
    parse_classify(&messages)?;
    if let Some(binary) = std::env::args().nth(1) {
        startup(Path::new(&binary))?;
    }
    Ok(())
}
