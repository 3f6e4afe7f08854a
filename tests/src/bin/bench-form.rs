//! Benchmark: the web form's `POST /permohonan`, form-intake's `handle()` called in
//! process against MiniStack on loopback, each a valid new request (its own idempotency
//! key, source address and email, a signed fill-time stamp older than the minimum).
//! The store and the mailer are wrapped in timing decorators, so the figures split the
//! handler's time into the store (DynamoDB), the mailer (SES) and our own code.
//!
//! Prints one JSON line of figures on stdout and a summary on stderr.
//!
//! Run: `make bench-form` (or `cargo run --release -p loket-tests --bin bench-form -- [n]`
//! with MiniStack installed; `AWS_ENDPOINT_URL` picks another endpoint).

use std::time::{Duration, Instant};

use anyhow::Context;
use form_intake::{Deps, handle};
use jiff::{SignedDuration, Timestamp};
use loket_aws::{DynamoTicketStore, S3Uploads, SesMailer};
use loket_domain::mail::compose::Links;
use loket_domain::mail::thread::ThreadKeys;
use loket_tests::meter::{Meter, MeteredMailer, MeteredStore, Snapshot, percentile};
use serde_json::{Value, json};

type Pages = Deps<MeteredStore<DynamoTicketStore>, MeteredMailer<SesMailer>>;

const WARM_UP: usize = 20;

/// `application/x-www-form-urlencoded`, as a browser sends it.
fn encode(pairs: &[(String, String)]) -> String {
    let enc = |v: &str| -> String {
        v.bytes()
            .map(|b| match b {
                b' ' => "+".to_string(),
                b if b.is_ascii_alphanumeric() || b"-_.*".contains(&b) => (b as char).to_string(),
                b => format!("%{b:02X}"),
            })
            .collect()
    };
    pairs.iter().map(|(k, v)| format!("{}={}", enc(k), enc(v))).collect::<Vec<_>>().join("&")
}

/// An HTTP API (payload 2.0) event for `POST /permohonan` from `source_ip`.
fn request(body: String, source_ip: &str) -> anyhow::Result<lambda_http::Request> {
    let event = json!({
        "version": "2.0", "routeKey": "$default", "rawPath": "/permohonan", "rawQueryString": "",
        "headers": {"content-type": "application/x-www-form-urlencoded", "host": "api.local",
                    "user-agent": "Mozilla/5.0 (Linux; Android 14) Mobile"},
        "requestContext": {"accountId": "0", "apiId": "api", "domainName": "api.local", "domainPrefix": "api",
            "http": {"method": "POST", "path": "/permohonan", "protocol": "HTTP/1.1", "sourceIp": source_ip,
                     "userAgent": "Mozilla/5.0"},
            "requestId": "r", "routeKey": "$default", "stage": "$default", "time": "x", "timeEpoch": 0},
        "body": body, "isBase64Encoded": false
    });
    lambda_http::request::from_str(&event.to_string()).context("request event")
}

/// The `i`th submission: services, units and texts vary as real requests do.
fn submission(pages: &Pages, i: usize, stamp: &str, run: &str) -> Vec<(String, String)> {
    let procedures = pages.agency.procedures(&pages.catalog);
    let procedure = procedures[i % procedures.len()];
    let unit = pages.agency.units[i % pages.agency.units.len()].clone();
    let descriptions = [
        "Internet di ruang pelayanan mati sejak pagi. Lampu indikator modem merah, komputer loket tidak bisa membuka \
         aplikasi pelayanan. Antrean warga sudah panjang; mohon segera dicek.",
        "Mohon dibuatkan sambungan jaringan intranet untuk gedung baru kami di lantai 2 (ruang rapat dan ruang \
         staf), sekitar 25 pengguna yang perlu mengakses aplikasi kepegawaian dan keuangan daerah.",
        "Kabel jaringan di ruang arsip putus tergigit tikus dan switch di ruang server sering mati sendiri. Mohon \
         perbaikan dan pengecekan perangkat jaringan.",
    ];
    let mut pairs = vec![
        ("kunci".to_string(), format!("{run}{i:08}")),
        ("mulai".into(), stamp.into()),
        ("situs".into(), String::new()),
        ("layanan".into(), procedure.id.clone()),
        ("unit".into(), unit),
        ("unit_lain".into(), String::new()),
        ("nama".into(), format!("Sari Wulandari {i}")),
        ("email".into(), format!("pic{i}.{run}@opd{}.pangkalpinangkota.go.id", i % 37)),
        ("telepon".into(), format!("+62 812-{:04}-{:04}", i % 10_000, (i * 7) % 10_000)),
        ("lokasi".into(), format!("Gedung {} lantai {}", ["A", "B", "C"][i % 3], 1 + i % 4)),
        ("uraian".into(), descriptions[i % descriptions.len()].into()),
    ];
    for field in &procedure.fields {
        if let Some(id) = field.id.as_deref() {
            let value = match field.kind {
                loket_domain::sop::ItemKind::Number => "25".to_string(),
                loket_domain::sop::ItemKind::DateTime => "2026-11-23T08:00".to_string(),
                loket_domain::sop::ItemKind::Date => "2026-11-30".to_string(),
                _ => "10 komputer loket pelayanan".to_string(),
            };
            pairs.push((format!("f_{}_{id}", procedure.id), value));
        }
    }
    pairs
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn summary(samples: &mut [f64]) -> Value {
    samples.sort_by(f64::total_cmp);
    let mean = samples.iter().sum::<f64>() / samples.len().max(1) as f64;
    json!({
        "p50": round(percentile(samples, 50.0)),
        "p90": round(percentile(samples, 90.0)),
        "p99": round(percentile(samples, 99.0)),
        "max": round(percentile(samples, 100.0)),
        "mean": round(mean),
    })
}

fn round(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let n: usize = std::env::args().nth(1).map(|a| a.parse()).transpose()?.unwrap_or(300);
    let meter = Meter::new();
    // The bucket is the one the public pages' attachments go to (as in the tests).
    let loket_tests::Scratch { config, table, bucket, catalog, agency, ses, .. } =
        loket_tests::Scratch::new("loket-bench-form", "pangkalpinang").await;
    let dynamo = aws_sdk_dynamodb::Client::from_conf(
        aws_sdk_dynamodb::config::Builder::from(&config).interceptor(meter.dynamo_interceptor()).build(),
    );
    let pages: Pages = Deps {
        store: MeteredStore { inner: DynamoTicketStore::new(dynamo, &table, catalog.clone()), meter: meter.clone() },
        mailer: MeteredMailer { inner: SesMailer::new(ses, agency.service_address.clone()), meter: meter.clone() },
        keys: ThreadKeys::new(b"bench-form-thread-secret-0123456789".to_vec())
            .ok_or_else(|| anyhow::anyhow!("thread keys"))?,
        links: Links { public_base: "http://127.0.0.1:9".into(), console_base: "http://127.0.0.1:9/staf".into() },
        uploads: S3Uploads::new(&config, &bucket),
        catalog,
        agency,
    };
    // The form was served a minute ago: past the minimum fill time, well within its age.
    let stamp = pages.keys.form_stamp(Timestamp::now() - SignedDuration::from_secs(60));
    let run = format!("{:08x}", std::process::id());

    let (mut total, mut store, mut mail, mut own) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut sums = Snapshot::default();
    let mut per_request_bytes = 0usize;
    for i in 0..WARM_UP + n {
        let body = encode(&submission(&pages, i, &stamp, &run));
        per_request_bytes = per_request_bytes.max(body.len());
        let source_ip = format!("10.{}.{}.{}", (i / 65_536) % 256, (i / 256) % 256, i % 256);
        let request = request(body, &source_ip)?;
        let before = meter.snapshot();
        let started = Instant::now();
        let response = handle(&pages, request, Timestamp::now()).await;
        let elapsed = started.elapsed();
        let spent = meter.snapshot() - before;
        let html = String::from_utf8_lossy(response.body().as_ref()).into_owned();
        anyhow::ensure!(
            response.status().as_u16() == 200 && html.contains("Nomor tiket Anda"),
            "submission {i} was not accepted ({}): {html}",
            response.status()
        );
        anyhow::ensure!(spent.mails == 1, "submission {i} sent {} mails", spent.mails);
        if i < WARM_UP {
            continue;
        }
        total.push(ms(elapsed));
        store.push(ms(spent.store));
        mail.push(ms(spent.mail));
        own.push(ms(elapsed.saturating_sub(spent.store + spent.mail)));
        sums.store += spent.store;
        sums.mail += spent.mail;
        sums.store_calls += spent.store_calls;
        sums.dynamo_calls += spent.dynamo_calls;
        sums.read_units += spent.read_units;
        sums.write_units += spent.write_units;
        sums.mail_bytes += spent.mail_bytes;
    }
    let wall: f64 = total.iter().sum();
    let share = |d: Duration| round(ms(d) / wall * 100.0);
    let own_ms: f64 = own.iter().sum();
    let per = |x: f64| round(x / n as f64);
    let figures = json!({
        "bench": "form_post",
        "n": n,
        "warm_up": WARM_UP,
        "handler_ms": summary(&mut total),
        "store_ms": summary(&mut store),
        "mail_ms": summary(&mut mail),
        "own_ms": summary(&mut own),
        "share_percent": {"store": share(sums.store), "mail": share(sums.mail), "own": round(own_ms / wall * 100.0)},
        "per_request": {
            "store_calls": per(sums.store_calls as f64),
            "dynamo_calls": per(sums.dynamo_calls as f64),
            "read_units": per(sums.read_units),
            "write_units": per(sums.write_units),
            "mails": 1,
            "mail_bytes": per(sums.mail_bytes as f64),
            "form_bytes_max": per_request_bytes,
        },
        "dynamo_operations": meter.operations(),
        "endpoint": "MiniStack on loopback",
    });
    println!("{figures}");
    eprintln!(
        "form POST, {n} valid submissions after {WARM_UP} warm-up: handler p50 {} ms, p99 {} ms; \
         of the time: store {}%, mailer {}%, our code {}% (p50 {} ms, p99 {} ms); \
         per request {} DynamoDB calls, {} RRU, {} WRU",
        figures["handler_ms"]["p50"],
        figures["handler_ms"]["p99"],
        figures["share_percent"]["store"],
        figures["share_percent"]["mail"],
        figures["share_percent"]["own"],
        figures["own_ms"]["p50"],
        figures["own_ms"]["p99"],
        figures["per_request"]["dynamo_calls"],
        figures["per_request"]["read_units"],
        figures["per_request"]["write_units"],
    );
    Ok(())
}
