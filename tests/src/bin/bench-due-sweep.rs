//! Benchmark: the SLA due sweep at 100,000 open tickets of which 50 are late.
//! Reports the index items the sweep reads (target: under 100) and its wall time.
//!
//! Run: `make bench-sweep` (or `cargo run --release -p loket-tests --bin bench-due-sweep
//! -- [open] [late]` with MiniStack installed; `AWS_ENDPOINT_URL` picks another endpoint).

use std::collections::BTreeMap;
use std::time::Instant;

use jiff::{SignedDuration, Timestamp};
use loket_aws::DynamoTicketStore;
use loket_aws::dynamo::schema;
use loket_domain::ports::TicketStore;
use loket_domain::ticket::{Actor, Channel, Requester};
use loket_domain::workflow::NewTicket;
use loket_domain::{Agency, Catalog, TicketNumber, Workflow};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let open: u64 = args.next().map(|a| a.parse()).transpose()?.unwrap_or(100_000);
    let late: u64 = args.next().map(|a| a.parse()).transpose()?.unwrap_or(50);
    let config = loket_tests::sdk_config().await;
    let client = aws_sdk_dynamodb::Client::new(&config);
    let table = loket_tests::unique_name("loket-bench-sweep");
    schema::create_table(&client, &table).await?;
    let catalog = Catalog::embedded()?;
    let agency = Agency::embedded("pangkalpinang", &catalog)?;
    let store = DynamoTicketStore::new(client, &table, catalog.clone());
    let wf = Workflow::new(&catalog, &agency);

    let now = Timestamp::now();
    let requester =
        Requester { email: Some("pic@opd.go.id".into()), name: "PIC".into(), unit: "Dinas".into(), phone: None };
    let load = Instant::now();
    let mut batch = Vec::new();
    for i in 1..=open {
        // Late tickets were opened ten days ago; the rest start a month from now, so
        // none of their alerts is due.
        let at = if i <= late { now - SignedDuration::from_hours(240) } else { now + SignedDuration::from_hours(720) };
        let applied = wf.open(NewTicket {
            number: TicketNumber::new("GJI", 2026, i)?,
            procedure: "gangguan-internet-disposisi".into(),
            actor: Actor::requester(&requester),
            requester: requester.clone(),
            channel: Channel::Web,
            subject: "Internet mati".into(),
            description: "Koneksi internet di ruang pelayanan terputus sejak pagi.".into(),
            fields: BTreeMap::new(),
            documents: Vec::new(),
            token_hash: "x".into(),
            related: Vec::new(),
            mail_in: None,
            at,
        })?;
        batch.push(applied);
        if batch.len() == 2_000 {
            store.import(&batch).await?;
            batch.clear();
        }
    }
    store.import(&batch).await?;
    eprintln!("loaded {open} open tickets in {:.1} s", load.elapsed().as_secs_f64());

    let mut samples = Vec::new();
    let mut read = 0;
    let mut found = 0;
    for _ in 0..20 {
        let started = Instant::now();
        let (mut items_read, mut tickets, mut cursor) = (0, 0, None);
        loop {
            let page = store.due(now, 500, cursor.as_deref()).await?;
            items_read += page.items_read;
            tickets += page.tickets.len();
            match page.next {
                Some(next) => cursor = Some(next),
                None => break,
            }
        }
        samples.push(started.elapsed().as_secs_f64() * 1000.0);
        read = items_read;
        found = tickets;
    }
    samples.sort_by(f64::total_cmp);
    println!(
        "due_query open={open} late={late} items_read={read} due_found={found} p50_ms={:.1} max_ms={:.1}",
        samples[samples.len() / 2],
        samples[samples.len() - 1]
    );
    anyhow::ensure!(found as u64 == late, "the query found {found} late tickets, expected {late}");

    // The whole SLA sweep (claims, digests, recording), with a mailer that accepts
    // without sending: wall time excluding mail.
    let deps = sla_check::Deps {
        store: store.clone(),
        mailer: NullMailer,
        keys: loket_domain::mail::thread::ThreadKeys::new(b"bench-thread-secret-0123456789".to_vec())
            .ok_or_else(|| anyhow::anyhow!("keys"))?,
        links: loket_domain::mail::compose::Links {
            public_base: "http://127.0.0.1:9".into(),
            console_base: "http://127.0.0.1:9".into(),
        },
        catalog: catalog.clone(),
        agency: agency.clone(),
    };
    let started = Instant::now();
    let report = sla_check::sweep(&deps, now).await?;
    let first_ms = started.elapsed().as_secs_f64() * 1000.0;
    let started = Instant::now();
    let second = sla_check::sweep(&deps, now).await?;
    let second_ms = started.elapsed().as_secs_f64() * 1000.0;
    println!(
        "sla_sweep open={open} late={late} items_read={} rechecked={} alerts={} mails={} ms={first_ms:.1} next_sweep_items_read={} next_sweep_ms={second_ms:.1}",
        report.items_read, report.rechecked, report.alerts, report.mails_sent, second.items_read
    );
    anyhow::ensure!(report.items_read < 100, "the sweep read {} items", report.items_read);
    Ok(())
}

/// Accepts every mail without sending it.
struct NullMailer;

impl loket_domain::ports::Mailer for NullMailer {
    async fn send(
        &self,
        _mail: &loket_domain::mail::compose::Outgoing,
    ) -> Result<String, loket_domain::ports::IoError> {
        Ok("null".into())
    }
}
