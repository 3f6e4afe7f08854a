//! Load through the local stack, as `make run` deploys it (MiniStack, the real template and
//! function binaries, SMTP playing SES inbound): N emails over SMTP and M concurrent web
//! form submissions (`POST /api/requests` through the emulator's HTTP API). Checks that
//! every mail and every accepted submission became exactly one ticket, that numbers run
//! without gaps or repeats per service, and that every ticket's acknowledgement went out;
//! then prints one JSON line with the figures.
//!
//! ```sh
//! cargo build -p email-intake -p form-intake -p sla-check -p transitions
//! cargo run -p loket-tests --bin load-local -- [--emails 1000] [--forms 200] [--binaries target/debug]
//! ./target/release/load-local 1000     # the same; the first bare number is --emails
//! ```
//!
//! Bounded: it gives up (exit 1) when the stack is not done within `--timeout` seconds.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Barrier, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, bail, ensure};
use loket_domain::ports::TicketStore;
use loket_tests::http;
use serde_json::{Value, json};

struct Args {
    emails: usize,
    forms: usize,
    connections: usize,
    binaries: PathBuf,
    timeout: Duration,
}

fn args() -> Result<Args> {
    let exe = std::env::current_exe().context("own path")?;
    let mut args = Args {
        emails: 1000,
        forms: 200,
        connections: 4,
        // The function binaries beside this one, else the debug build's.
        binaries: exe
            .parent()
            .filter(|dir| dir.join("email-intake").is_file())
            .map(Path::to_path_buf)
            .unwrap_or_else(|| root().join("target/debug")),
        timeout: Duration::from_secs(900),
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        if !flag.starts_with("--") {
            // `load-local 1000`: the number of emails.
            args.emails = flag.parse().with_context(|| format!("not a number of emails: {flag}"))?;
            continue;
        }
        let value = it.next().with_context(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--emails" => args.emails = value.parse()?,
            "--forms" => args.forms = value.parse()?,
            "--connections" => args.connections = value.parse::<usize>()?.max(1),
            "--binaries" => args.binaries = PathBuf::from(value),
            "--timeout" => args.timeout = Duration::from_secs(value.parse()?),
            other => bail!("unknown flag {other} (--emails N --forms N --connections N --binaries DIR --timeout S)"),
        }
    }
    Ok(args)
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn python() -> PathBuf {
    root().join(".venv/ministack/bin/python")
}

/// The launcher; stopped (with MiniStack) when dropped.
struct Launcher {
    child: Child,
    state: Value,
}

impl Drop for Launcher {
    fn drop(&mut self) {
        let _ = Command::new("kill").arg("-TERM").arg(self.child.id().to_string()).status();
        let _ = self.child.wait();
    }
}

fn start(binaries: &Path) -> Result<Launcher> {
    let dir = std::env::temp_dir().join(loket_tests::unique_name("loket-load"));
    std::fs::create_dir_all(&dir)?;
    let state_file = dir.join("stack.json");
    let child = Command::new(python())
        .current_dir(root())
        .args(["tools/local/loket_local.py", "up", "--port", "0", "--smtp-port", "0", "--web-port", "0", "--quiet"])
        .args(["--stack-name", "loket-load", "--exit-with-parent", "--binaries"])
        .arg(binaries)
        .arg("--state-file")
        .arg(&state_file)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .context("start the launcher (make test installs .venv/ministack)")?;
    let mut launcher = Launcher { child, state: Value::Null };
    let started = Instant::now();
    loop {
        if let Ok(text) = std::fs::read_to_string(&state_file)
            && let Ok(state) = serde_json::from_str::<Value>(&text)
        {
            launcher.state = state;
            return Ok(launcher);
        }
        ensure!(launcher.child.try_wait()?.is_none(), "the launcher stopped before it was ready");
        ensure!(started.elapsed() < Duration::from_secs(240), "the local stack was not ready within 240 s");
        std::thread::sleep(Duration::from_millis(250));
    }
}

fn epoch() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or_default()
}

fn expect_code(reader: &mut BufReader<TcpStream>, code: &str) -> Result<()> {
    loop {
        let mut line = String::new();
        reader.read_line(&mut line)?;
        ensure!(line.starts_with(code), "SMTP: expected {code}, got {line:?}");
        if line.as_bytes().get(3) != Some(&b'-') {
            return Ok(());
        }
    }
}

/// One SMTP session sending every message of `batch`; records when each was accepted.
fn smtp_batch(
    host: &str,
    port: u16,
    to: &str,
    batch: &[(String, String)],
    sent: &Mutex<BTreeMap<String, f64>>,
) -> Result<()> {
    let stream = TcpStream::connect((host, port))?;
    stream.set_read_timeout(Some(Duration::from_secs(60)))?;
    let mut writer = stream.try_clone()?;
    let mut reader = BufReader::new(stream);
    expect_code(&mut reader, "220")?;
    writer.write_all(b"EHLO load.test\r\n")?;
    expect_code(&mut reader, "250")?;
    for (from, message) in batch {
        for (command, code) in
            [(format!("MAIL FROM:<{from}>"), "250"), (format!("RCPT TO:<{to}>"), "250"), ("DATA".into(), "354")]
        {
            writer.write_all(format!("{command}\r\n").as_bytes())?;
            expect_code(&mut reader, code)?;
        }
        writer.write_all(message.as_bytes())?;
        writer.write_all(b"\r\n.\r\n")?;
        expect_code(&mut reader, "250")?;
        sent.lock().unwrap_or_else(|e| e.into_inner()).insert(from.clone(), epoch());
    }
    writer.write_all(b"QUIT\r\n")?;
    Ok(())
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

#[tokio::main]
async fn main() -> Result<()> {
    let args = args()?;
    let launcher = start(&args.binaries)?;
    let state = launcher.state.clone();
    let s = |path: &str| state.pointer(path).and_then(Value::as_str).map(str::to_string).context(path.to_string());
    let (host, to) = (s("/smtp/host")?, s("/smtp/address")?);
    let port = u16::try_from(state["smtp"]["port"].as_u64().context("smtp port")?)?;
    let api = state["http_apis"][0]["url"].as_str().context("an HTTP API")?.trim_end_matches('/').to_string();
    let run = loket_tests::unique_name("load").to_lowercase().replace('-', "");

    // 1. The emails: distinct senders (the per-sender hourly limit), two kinds of request.
    let messages: Vec<(String, String)> = (0..args.emails)
        .map(|i| {
            let from = format!("pic{i}.{run}@opd{}.example.go.id", i % 37);
            let subject = if i % 2 == 0 { "Internet mati di ruang pelayanan" } else { "Gangguan internet kantor" };
            let message = format!(
                "From: PIC {i} <{from}>\r\nTo: {to}\r\nSubject: {subject} ({i})\r\nMessage-ID: <load-{i}.{run}@opd.example.go.id>\r\n\
                 Content-Type: text/plain; charset=utf-8\r\n\r\nInternet mati sejak pagi di unit {i}. Mohon bantuan teknisi.\r\n"
            );
            (from, message)
        })
        .collect();
    let sent_at: Arc<Mutex<BTreeMap<String, f64>>> = Arc::default();
    let mail_started = Instant::now();
    let chunk = messages.len().div_ceil(args.connections).max(1);
    std::thread::scope(|scope| -> Result<()> {
        let handles: Vec<_> = messages
            .chunks(chunk)
            .map(|batch| {
                let (host, to, sent_at) = (&host, &to, &sent_at);
                scope.spawn(move || smtp_batch(host, port, to, batch, sent_at))
            })
            .collect();
        for h in handles {
            h.join().map_err(|_| anyhow::anyhow!("an SMTP thread panicked"))??;
        }
        Ok(())
    })?;
    let smtp_seconds = mail_started.elapsed().as_secs_f64();

    // 2. The form submissions, all at once (one thread each, released together).
    let barrier = Arc::new(Barrier::new(args.forms));
    let form_started = Instant::now();
    let results: Vec<(String, u16, String, usize)> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..args.forms)
            .map(|i| {
                let (barrier, api, run) = (barrier.clone(), &api, &run);
                scope.spawn(move || {
                    let email = format!("form{i}.{run}@opd.example.go.id");
                    let body = json!({"layanan": "gangguan-internet-disposisi", "unit": "Dinas Kesehatan", "nama": format!("PIC {i}"),
                                      "email": email, "uraian": format!("Internet mati di ruang {i} sejak pagi."),
                                      "kunci": format!("load{run}{i:06}")})
                    .to_string();
                    barrier.wait();
                    // A client of the JSON API retries a busy answer (429 when the
                    // function is at its reserved concurrency, 5xx) with the same
                    // idempotency key, so a retry never makes a second ticket.
                    let mut retries = 0;
                    loop {
                        let (status, answer) = http(
                            "POST",
                            &format!("{api}/api/requests"),
                            &[("Content-Type", "application/json")],
                            Some(&body),
                        );
                        if matches!(status, 429 | 500 | 502 | 503 | 409) && retries < 40 {
                            retries += 1;
                            let pause = 100 * u64::try_from(retries.min(10)).unwrap_or(10) + (i as u64 % 7) * 13;
                            std::thread::sleep(Duration::from_millis(pause));
                            continue;
                        }
                        break (email, status, answer, retries);
                    }
                })
            })
            .collect();
        handles.into_iter().filter_map(|h| h.join().ok()).collect()
    });
    let form_seconds = form_started.elapsed().as_secs_f64();
    let mut form_status: BTreeMap<u16, usize> = BTreeMap::new();
    for (_, status, _, _) in &results {
        *form_status.entry(*status).or_default() += 1;
    }
    // 201 created, or 200 "duplicate" when an earlier try went through but its answer
    // did not come back: either way one ticket.
    let created_forms: BTreeSet<String> =
        results.iter().filter(|(_, status, _, _)| matches!(status, 200 | 201)).map(|(e, _, _, _)| e.clone()).collect();
    let form_retries: usize = results.iter().map(|(_, _, _, r)| r).sum();
    let rate_limited = form_status.get(&429).copied().unwrap_or(0);
    ensure!(results.len() == args.forms, "every submission answered");
    ensure!(
        created_forms.len() == args.forms,
        "every submission became a ticket after retries: {form_status:?}: {:?}",
        results.iter().find(|(_, s, _, _)| !matches!(s, 200 | 201))
    );

    // 3. Wait for every ticket, then check each became one ticket with its number.
    let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(s("/endpoint")?)
        .region(aws_config::Region::new(s("/region")?))
        .credentials_provider(aws_sdk_dynamodb::config::Credentials::new("test", "test", None, None, "load"))
        .load()
        .await;
    let catalog = loket_domain::Catalog::embedded().context("catalog")?;
    let store = loket_aws::DynamoTicketStore::new(aws_sdk_dynamodb::Client::new(&config), s("/table_name")?, catalog);
    let expected = args.emails + created_forms.len();
    let today = jiff::Timestamp::now().to_zoned_datetime(jiff::tz::TimeZone::UTC);
    let deadline = Instant::now() + args.timeout;
    let tickets = loop {
        let tickets = store
            .opened_in_month(today.year(), today.month())
            .await
            .map_err(|e| anyhow::anyhow!("read tickets: {e}"))?;
        if tickets.len() >= expected {
            break tickets;
        }
        if Instant::now() >= deadline {
            let have: BTreeSet<&str> = tickets.iter().filter_map(|t| t.requester.email.as_deref()).collect();
            let sent = sent_at.lock().unwrap_or_else(|e| e.into_inner());
            let missing: Vec<&String> = sent.keys().filter(|from| !have.contains(from.as_str())).take(5).collect();
            anyhow::bail!(
                "{} of {expected} tickets after {:?}; no ticket for {missing:?}",
                tickets.len(),
                args.timeout
            );
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    };
    let all_tickets_seconds = mail_started.elapsed().as_secs_f64();
    let sent_at = sent_at.lock().unwrap_or_else(|e| e.into_inner()).clone();
    let mut by_requester: BTreeMap<String, Vec<&loket_domain::ticket::Ticket>> = BTreeMap::new();
    for t in &tickets {
        by_requester.entry(t.requester.email.clone().unwrap_or_default()).or_default().push(t);
    }
    let mut mail_to_ticket = Vec::new();
    for (from, at) in &sent_at {
        let found = by_requester.get(from).map(Vec::as_slice).unwrap_or_default();
        ensure!(found.len() == 1, "{from}: {} tickets", found.len());
        mail_to_ticket.push(found[0].created_at.as_millisecond() as f64 / 1000.0 - at);
    }
    for email in &created_forms {
        let found = by_requester.get(email).map(Vec::len).unwrap_or(0);
        ensure!(found == 1, "{email}: {found} tickets");
    }
    ensure!(tickets.len() == expected, "{} tickets for {expected} requests", tickets.len());
    let mut per_service: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for t in &tickets {
        per_service.entry(t.number.service().to_string()).or_default().push(t.number.as_str()[9..].to_string());
    }
    for (service, numbers) in &mut per_service {
        numbers.sort();
        let unique: BTreeSet<&String> = numbers.iter().collect();
        ensure!(unique.len() == numbers.len(), "{service}: a number given twice");
        let expected_numbers: Vec<String> = (1..=numbers.len()).map(|n| format!("{n:06}")).collect();
        ensure!(*numbers == expected_numbers, "{service}: numbers with a gap");
    }

    // 4. Every ticket's acknowledgement, from the emulator's sent mail.
    let number_of: BTreeMap<String, (String, f64)> = tickets
        .iter()
        .map(|t| {
            let email = t.requester.email.clone().unwrap_or_default();
            (format!("[#{}]", t.number), (email, t.created_at.as_millisecond() as f64 / 1000.0))
        })
        .collect();
    let acks = loop {
        let mut acks: BTreeMap<String, Vec<f64>> = BTreeMap::new();
        // The stack's own emulator (not the test harness's).
        for m in loket_tests::sent_mail_at(&s("/ses_messages_url")?) {
            let subject = m["Subject"].as_str().unwrap_or_default();
            if let Some(start) = subject.find("[#")
                && let Some(len) = subject[start..].find(']')
            {
                acks.entry(subject[start..start + len + 1].to_string())
                    .or_default()
                    .push(m["Timestamp"].as_f64().unwrap_or_default());
            }
        }
        if number_of.keys().all(|k| acks.contains_key(k)) {
            break acks;
        }
        ensure!(Instant::now() < deadline, "not every acknowledgement went out within {:?}", args.timeout);
        tokio::time::sleep(Duration::from_secs(1)).await;
    };
    let repeated = acks.values().filter(|v| v.len() > 1).count();
    let mut mail_to_ack = Vec::new();
    for (from, at) in &sent_at {
        let tag = by_requester.get(from).and_then(|t| t.first()).map(|t| format!("[#{}]", t.number));
        if let Some(first) = tag.and_then(|t| acks.get(&t)).and_then(|v| v.iter().copied().reduce(f64::min)) {
            mail_to_ack.push(first - at);
        }
    }
    mail_to_ticket.sort_by(f64::total_cmp);
    mail_to_ack.sort_by(f64::total_cmp);
    let figures = json!({
        "bench": "load-local",
        "emails": args.emails,
        "smtp_connections": args.connections,
        "emails_per_s": round3(args.emails as f64 / all_tickets_seconds),
        "smtp_accept_per_s": round3(args.emails as f64 / smtp_seconds),
        "mail_to_ticket_p50_s": round3(percentile(&mail_to_ticket, 50.0)),
        "mail_to_ticket_p99_s": round3(percentile(&mail_to_ticket, 99.0)),
        "mail_to_ack_p50_s": round3(percentile(&mail_to_ack, 50.0)),
        "mail_to_ack_p99_s": round3(percentile(&mail_to_ack, 99.0)),
        "forms": args.forms,
        "forms_created": created_forms.len(),
        "forms_rate_limited": rate_limited,
        "form_retries": form_retries,
        "forms_per_s": round3(args.forms as f64 / form_seconds),
        "tickets": tickets.len(),
        "duplicates": 0,
        "number_gaps": 0,
        "acks_repeated": repeated,
        "services": per_service.iter().map(|(k, v)| (k.clone(), v.len())).collect::<BTreeMap<_, _>>(),
        "seconds_total": round3(mail_started.elapsed().as_secs_f64()),
    });
    println!("{figures}");
    drop(launcher);
    Ok(())
}
