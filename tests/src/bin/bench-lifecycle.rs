//! Benchmark for the cost model: what one ticket costs in each function, measured in
//! process against MiniStack with the ports wrapped in meters.
//!
//! - email intake: `n` new requests by mail (raw MIME in S3, an SES-shaped event),
//!   `email_intake::handle()` per message: handler time, store and S3 calls, DynamoDB
//!   request units, mails.
//! - transitions: `walk` of those tickets walked to their end through the staff API
//!   (`transitions::handle()`, a `GET` of the ticket then a `POST` of the action per step,
//!   as the console does; at a decision the branch that goes on): invocations, handler
//!   time, request units and mails per ticket, by kind.
//! - sla-check: the minute sweep with nothing due (what the schedule costs when idle).
//!
//! Prints one JSON line on stdout and a summary on stderr.
//!
//! Run: `make bench-lifecycle` (or `cargo run --release -p loket-tests --bin
//! bench-lifecycle -- [n] [walk]` with MiniStack installed).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Context;
use aws_lambda_events::event::ses::SimpleEmailEvent;
use base64::Engine;
use jiff::Timestamp;
use loket_aws::{DynamoTicketStore, S3RawMailStore, SesMailer};
use loket_domain::Role;
use loket_domain::mail::compose::Links;
use loket_domain::mail::thread::ThreadKeys;
use loket_domain::sop::{Goto, ItemKind, StepKind};
use loket_tests::meter::{Meter, MeteredMailer, MeteredRaw, MeteredStore, Snapshot, percentile};
use serde_json::{Value, json};

type Store = MeteredStore<DynamoTicketStore>;
type Mailer = MeteredMailer<SesMailer>;
type Raw = MeteredRaw<S3RawMailStore>;

const PDF: &[u8] = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n";

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn round(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

fn stats(samples: &mut [f64]) -> Value {
    samples.sort_by(f64::total_cmp);
    let mean = samples.iter().sum::<f64>() / samples.len().max(1) as f64;
    json!({"n": samples.len(), "p50": round(percentile(samples, 50.0)), "p99": round(percentile(samples, 99.0)),
           "mean": round(mean), "max": round(percentile(samples, 100.0))})
}

/// The corpus of real mail: how big a message is, on average.
fn corpus_mean_bytes() -> anyhow::Result<(usize, f64)> {
    let dir = std::env::var_os("LOKET_MAIL_CORPUS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/mail-corpus"));
    let manifest = std::fs::read_to_string(dir.join("manifest.tsv")).context("mail corpus manifest")?;
    let sizes: Vec<u64> = manifest
        .lines()
        .skip(1)
        .filter_map(|l| l.split('\t').next())
        .map(|p| std::fs::metadata(dir.join(p)).map(|m| m.len()))
        .collect::<Result<_, _>>()?;
    Ok((sizes.len(), sizes.iter().sum::<u64>() as f64 / sizes.len().max(1) as f64))
}

/// A new request by mail, as a unit's contact person writes it.
fn new_request(i: usize, service_address: &str) -> Vec<u8> {
    let (subject, body) = [
        (
            "Internet mati di ruang pelayanan",
            "Selamat pagi,\r\n\r\nInternet di ruang pelayanan kami mati sejak pukul 07.30. Modem menyala tetapi \
             lampu internet merah; 12 komputer loket tidak bisa membuka aplikasi. Mohon segera dicek.\r\n",
        ),
        (
            "Permohonan jaringan intranet gedung baru",
            "Dengan hormat,\r\n\r\nKami mengajukan permohonan sambungan jaringan intranet untuk gedung baru \
             (lantai 2, 25 pengguna) agar dapat mengakses aplikasi kepegawaian dan keuangan daerah.\r\n",
        ),
        (
            "Perbaikan jaringan: switch rusak",
            "Yth. Helpdesk,\r\n\r\nSwitch di ruang server rusak dan kabel LAN ruang arsip putus. Mohon perbaikan \
             jaringan secepatnya.\r\n",
        ),
    ][i % 3];
    format!(
        "From: Sari Wulandari <pic{i}@opd{}.pangkalpinangkota.go.id>\r\nTo: {service_address}\r\n\
         Subject: {subject}\r\nMessage-ID: <bench-{i}-{}@opd.example.go.id>\r\nDate: Mon, 23 Nov 2026 08:00:00 +0700\r\n\
         MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\nSari Wulandari\r\n\
         Dinas Kesehatan\r\nTelp. 0812-3456-7890\r\n",
        i % 37,
        std::process::id()
    )
    .into_bytes()
}

/// An HTTP API (payload 2.0) request with the JWT authorizer's claims.
fn staff_request(
    method: &str,
    path: &str,
    email: &str,
    role: Role,
    body: Option<Value>,
) -> anyhow::Result<lambda_http::Request> {
    let event = json!({
        "version": "2.0", "routeKey": "$default", "rawPath": path, "rawQueryString": "",
        "headers": {"content-type": "application/json", "host": "api.local"},
        "requestContext": {"accountId": "000000000000", "apiId": "api", "domainName": "api.local", "domainPrefix": "api",
            "http": {"method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1", "userAgent": "bench"},
            "requestId": "r", "routeKey": "$default", "stage": "$default", "time": "23/Nov/2026:01:00:00 +0000", "timeEpoch": 0,
            "authorizer": {"jwt": {"claims": {"sub": email, "email": email, "cognito:groups": format!("[{}]", role.as_str())}, "scopes": null}}},
        "body": body.map(|b| b.to_string()), "isBase64Encoded": false
    });
    lambda_http::request::from_str(&event.to_string()).context("request event")
}

struct Calls {
    meter: std::sync::Arc<Meter>,
    durations: Vec<f64>,
    spent: Snapshot,
}

impl Calls {
    fn new(meter: &std::sync::Arc<Meter>) -> Calls {
        Calls { meter: meter.clone(), durations: Vec::new(), spent: Snapshot::default() }
    }

    async fn time<T>(&mut self, f: impl std::future::Future<Output = T>) -> T {
        let before = self.meter.snapshot();
        let started = Instant::now();
        let out = f.await;
        self.durations.push(ms(started.elapsed()));
        let d = self.meter.snapshot() - before;
        let s = &mut self.spent;
        s.store += d.store;
        s.mail += d.mail;
        s.raw += d.raw;
        s.mails += d.mails;
        s.mail_recipients += d.mail_recipients;
        s.mail_bytes += d.mail_bytes;
        s.raw_gets += d.raw_gets;
        s.raw_get_bytes += d.raw_get_bytes;
        s.raw_puts += d.raw_puts;
        s.raw_put_bytes += d.raw_put_bytes;
        s.dynamo_calls += d.dynamo_calls;
        s.read_units += d.read_units;
        s.write_units += d.write_units;
        out
    }

    fn figures(&mut self, per: f64) -> Value {
        let wall: f64 = self.durations.iter().sum();
        let s = self.spent;
        json!({
            "handler_ms": stats(&mut self.durations),
            "share_percent": {"store": round(ms(s.store) / wall * 100.0), "mail": round(ms(s.mail) / wall * 100.0),
                              "s3": round(ms(s.raw) / wall * 100.0)},
            "per_unit": {"dynamo_calls": round(s.dynamo_calls as f64 / per), "read_units": round(s.read_units / per),
                         "write_units": round(s.write_units / per), "mails": round(s.mails as f64 / per),
                         "mail_recipients": round(s.mail_recipients as f64 / per),
                         "mail_bytes": round(s.mail_bytes as f64 / per), "s3_gets": round(s.raw_gets as f64 / per),
                         "s3_get_bytes": round(s.raw_get_bytes as f64 / per), "s3_puts": round(s.raw_puts as f64 / per),
                         "s3_put_bytes": round(s.raw_put_bytes as f64 / per)},
        })
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let n: usize = args.next().map(|a| a.parse()).transpose()?.unwrap_or(150);
    let walk: usize = args.next().map(|a| a.parse()).transpose()?.unwrap_or(30).min(n);
    let meter = Meter::new();
    let loket_tests::Scratch { config, s3, ses, table, bucket, catalog, agency, .. } =
        loket_tests::Scratch::new("loket-bench-life", "pangkalpinang").await;
    let dynamo = aws_sdk_dynamodb::Client::from_conf(
        aws_sdk_dynamodb::config::Builder::from(&config).interceptor(meter.dynamo_interceptor()).build(),
    );
    let keys = ThreadKeys::new(b"bench-lifecycle-secret-0123456789".to_vec()).ok_or_else(|| anyhow::anyhow!("keys"))?;
    let links = Links { public_base: "http://127.0.0.1:9".into(), console_base: "http://127.0.0.1:9/staf".into() };
    let store = || MeteredStore {
        inner: DynamoTicketStore::new(dynamo.clone(), &table, catalog.clone()),
        meter: meter.clone(),
    };
    let mailer =
        || MeteredMailer { inner: SesMailer::new(ses.clone(), agency.service_address.clone()), meter: meter.clone() };
    let raw = || MeteredRaw { inner: S3RawMailStore::new(s3.clone(), &bucket), meter: meter.clone() };
    let intake: email_intake::Deps<Store, Raw, Mailer> = email_intake::Deps {
        store: store(),
        raw: raw(),
        mailer: mailer(),
        catalog: catalog.clone(),
        agency: agency.clone(),
        keys: keys.clone(),
        links: links.clone(),
        raw_prefix: "raw/".into(),
        limits: email_intake::Limits::default(),
    };
    let api: transitions::Deps<Store, Raw, Mailer> = transitions::Deps {
        store: store(),
        files: raw(),
        mailer: mailer(),
        catalog: catalog.clone(),
        agency: agency.clone(),
        keys: keys.clone(),
        links: links.clone(),
        sign_in: None,
    };
    let sla: sla_check::Deps<Store, Mailer> =
        sla_check::Deps { store: store(), mailer: mailer(), catalog, agency: agency.clone(), keys, links };

    // Email intake: one new request per message.
    let mut email = Calls::new(&meter);
    let mut numbers = Vec::new();
    let mut raw_bytes = 0usize;
    for i in 0..n {
        let message = new_request(i, &agency.service_address);
        raw_bytes += message.len();
        let ses_id = loket_tests::unique_name("ses");
        s3.put_object().bucket(&bucket).key(format!("raw/{ses_id}")).body(message.clone().into()).send().await?;
        let event: SimpleEmailEvent =
            serde_json::from_value(loket_tests::ses_event(&ses_id, &message, &[agency.service_address.as_str()], ""))?;
        let outcomes = email.time(email_intake::handle(&intake, event)).await?;
        let outcome = outcomes.first().context("an outcome")?;
        anyhow::ensure!(outcome.kind == "new_ticket", "message {i}: {outcome:?}");
        numbers.push(outcome.number.clone().context("a number")?.to_string());
    }
    let email_figures = email.figures(n as f64);

    // Transitions: each ticket walked to its end, as staff do it.
    let member = |role: Role| {
        api.agency
            .staff
            .iter()
            .find(|m| m.roles.contains(&role))
            .map(|m| m.email.clone())
            .context("a member of the role")
    };
    let admin = member(Role::Admin)?;
    let mut staff = Calls::new(&meter);
    let mut actions = 0usize;
    let mut procedures: BTreeMap<String, usize> = BTreeMap::new();
    let mails_before = meter.mail_kinds();
    for number in numbers.iter().take(walk) {
        let path = format!("/api/staff/tickets/{number}");
        let mut ended = false;
        for _ in 0..30 {
            let response = staff
                .time(transitions::handle(
                    &api,
                    staff_request("GET", &path, &admin, Role::Admin, None)?,
                    Timestamp::now(),
                ))
                .await;
            let view: Value = serde_json::from_slice(response.body().as_ref())?;
            let ticket = &view["ticket"];
            if ticket["status"] != "open" {
                *procedures.entry(ticket["procedure"].as_str().unwrap_or_default().to_string()).or_default() += 1;
                ended = true;
                break;
            }
            let procedure = api.catalog.get(ticket["procedure"].as_str().unwrap_or_default()).context("procedure")?;
            let step = procedure.step(ticket["current"]["step"].as_str().unwrap_or_default()).context("step")?;
            let version = ticket["version"].as_u64().context("version")?;
            let role = if step.kind == StepKind::Requester {
                Role::Helpdesk
            } else {
                step.roles.iter().copied().find(|r| r.is_staff()).context("a staff role")?
            };
            let who = member(role)?;
            let mut fields = serde_json::Map::new();
            let mut documents = Vec::new();
            if step.kind != StepKind::Requester {
                for item in step.required_items() {
                    let id = item.id.clone().unwrap_or_default();
                    if item.kind == ItemKind::Document {
                        let upload = json!({"kind": id, "name": format!("{id}.pdf"),
                                            "content_base64": base64::engine::general_purpose::STANDARD.encode(PDF)});
                        let request = staff_request("POST", &format!("{path}/documents"), &who, role, Some(upload))?;
                        let response = staff.time(transitions::handle(&api, request, Timestamp::now())).await;
                        anyhow::ensure!(response.status().as_u16() == 201, "{number}: upload refused");
                        documents.push(serde_json::from_slice::<Value>(response.body().as_ref())?);
                    } else {
                        fields.insert(id, json!(loket_tests::sample_value(item.kind)));
                    }
                }
            }
            let action = if step.is_decision() {
                let outcome = step
                    .outcomes
                    .iter()
                    .find(|o| matches!(o.goto, Goto::Step(_)))
                    .or(step.outcomes.first())
                    .context("an outcome")?;
                json!({"action": "decide", "step": step.id, "outcome": outcome.id, "reason": "Sesuai anggaran",
                       "fields": fields, "documents": documents})
            } else {
                json!({"action": "complete", "step": step.id, "note": "selesai", "fields": fields, "documents": documents})
            };
            let request = staff_request(
                "POST",
                &format!("{path}/actions"),
                &who,
                role,
                Some(json!({"version": version, "action": action})),
            )?;
            let response = staff.time(transitions::handle(&api, request, Timestamp::now())).await;
            anyhow::ensure!(
                response.status().as_u16() == 200,
                "{number} at {}: {}",
                step.id,
                String::from_utf8_lossy(response.body().as_ref())
            );
            actions += 1;
        }
        anyhow::ensure!(ended, "{number} did not end");
    }
    let invocations = staff.durations.len();
    let staff_figures = staff.figures(walk as f64);
    let mut mails_per_ticket: BTreeMap<String, f64> = BTreeMap::new();
    for (kind, count) in meter.mail_kinds() {
        // Sent at intake (per message) plus sent while walked (per walked ticket).
        let at_intake = mails_before.get(&kind).copied().unwrap_or(0);
        let per_ticket = at_intake as f64 / n as f64 + (count - at_intake) as f64 / walk as f64;
        mails_per_ticket.insert(kind, round(per_ticket));
    }

    // The minute schedule with nothing due: what every idle minute costs.
    let mut idle = Calls::new(&meter);
    for _ in 0..20 {
        let report = idle.time(sla_check::sweep(&sla, Timestamp::now())).await?;
        anyhow::ensure!(report.alerts == 0, "an idle sweep raised {} alerts", report.alerts);
    }
    let idle_figures = idle.figures(20.0);
    let (corpus_messages, corpus_mean) = corpus_mean_bytes()?;

    let figures = json!({
        "bench": "lifecycle",
        "email_intake": {"messages": n, "mean_message_bytes": round(raw_bytes as f64 / n as f64), "per_message": email_figures},
        "transitions": {"tickets": walk, "actions_per_ticket": round(actions as f64 / walk as f64),
                         "invocations_per_ticket": round(invocations as f64 / walk as f64), "procedures": procedures,
                         "per_ticket": staff_figures},
        "mails_per_ticket": mails_per_ticket,
        "sla_idle_sweep": idle_figures,
        "corpus": {"messages": corpus_messages, "mean_bytes": round(corpus_mean)},
        "dynamo_operations": meter.operations(),
        "endpoint": "MiniStack on loopback",
    });
    println!("{figures}");
    eprintln!(
        "email intake: {n} messages, handler p50 {} ms; transitions: {walk} tickets walked, {} invocations each, \
         handler p50 {} ms; mails per ticket {}; idle SLA sweep p50 {} ms, {} RRU",
        figures["email_intake"]["per_message"]["handler_ms"]["p50"],
        figures["transitions"]["invocations_per_ticket"],
        figures["transitions"]["per_ticket"]["handler_ms"]["p50"],
        figures["mails_per_ticket"],
        figures["sla_idle_sweep"]["handler_ms"]["p50"],
        figures["sla_idle_sweep"]["per_unit"]["read_units"],
    );
    Ok(())
}
