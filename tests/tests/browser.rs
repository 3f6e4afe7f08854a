//! In a real browser (headless Chromium through chromedriver), against the locally
//! deployed stack as `make run` serves it:
//!
//! 1. the requester fills the web form, submits it, reads the ticket number, attaches a
//!    PDF (posted straight to S3 under the signed policy), opens the status page and
//!    writes a comment.
//!
//! 2. staff in the console: a request for service A (intranet) arrives by email with a
//!    hostile subject; the Helpdesk signs in (the dev sign-in standing in for Cognito),
//!    finds it in the queue and takes it through every step of the procedure, signing in
//!    as whoever holds each step (the Kadis approves), filling what each step requires and
//!    uploading the Berita Acara and the report as PDFs, until it is closed; then the
//!    Kadis opens the service-level report.
//!
//! Screenshots of every page are kept in `target/browser-artifacts/browser/`.

use std::time::Duration;

use fantoccini::Locator;
use loket_domain::ports::TicketStore;
use loket_domain::sop::StepKind;
use loket_domain::{Agency, Catalog};
use loket_tests::browser::Browser;
use loket_tests::stack::{send_mail, start};
use serde_json::{Value, json};

/// A small but real PDF (one empty page).
const PDF: &[u8] = b"%PDF-1.4\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n\
2 0 obj << /Type /Pages /Kids [3 0 R] /Count 1 >> endobj\n\
3 0 obj << /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] >> endobj\n\
trailer << /Root 1 0 R >>\n%%EOF\n";

#[tokio::test(flavor = "multi_thread")]
async fn requester_and_staff_in_the_browser() {
    let launcher = start();
    let state = launcher.state.clone();
    let public = state["public_base_url"].as_str().expect("public base URL").trim_end_matches('/').to_string();
    let mut browser = Browser::start("browser").await;

    // ---- the requester: the form -------------------------------------------------------
    browser.goto(&format!("{public}/")).await;
    let form = wait_for_text(&browser, &["Jenis layanan"]).await;
    assert!(form.contains("Jenis layanan"), "{form}");
    browser.select("#layanan", "jaringan-intra-kota").await;
    browser.select("#unit", "lainnya").await;
    browser.fill("#unit_lain", "Dinas Perpustakaan <Arsip>").await;
    browser.fill("#nama", "Rina Marlina").await;
    browser.fill("#email", "rina@perpustakaan.pangkalpinangkota.go.id").await;
    browser.fill("#telepon", "+62 812 7000 1234").await;
    browser.fill("#lokasi", "Gedung Perpustakaan, lantai 1").await;
    browser.fill("#uraian", "Mohon sambungan jaringan intra untuk ruang layanan perpustakaan digital.").await;
    browser.fill("#f_jaringan-intra-kota_jumlah_pengguna", "12").await;
    browser.fill("#f_jaringan-intra-kota_aplikasi", "SIMPEG, e-Office").await;
    browser.shot("form-filled").await;
    // A person takes more than the 3 s minimum fill time.
    tokio::time::sleep(Duration::from_secs(3)).await;
    browser.click("form[action] button[type=submit]").await;

    // ---- the result page: the number, the upload -------------------------------------
    let number = browser.text("#nomor-tiket").await;
    assert!(number.starts_with("JIP-"), "{number}");
    browser.shot("submitted").await;
    let pdf = std::env::temp_dir().join(loket_tests::unique_name("surat-permohonan")).with_extension("pdf");
    std::fs::write(&pdf, PDF).expect("pdf");
    let file = browser.client.find(fantoccini::Locator::Css("input[type=file]")).await.expect("file input");
    file.send_keys(&pdf.display().to_string()).await.expect("choose file");
    browser.click("form[enctype='multipart/form-data'] button[type=submit]").await;

    // S3 stored it and sent the browser back; the status page shows the document.
    let page = wait_for_text(&browser, &["Lampiran Anda telah tersimpan", "Lampiran ditolak"]).await;
    assert!(page.contains("Lampiran Anda telah tersimpan"), "{page}");
    assert!(page.contains(&number) && page.contains("surat-permohonan"), "{page}");
    let status_url = browser.url().await;
    assert!(status_url.contains(&format!("/status/{number}?t=")), "{status_url}");
    browser.shot("status-with-attachment").await;

    // ---- a comment from the status page --------------------------------------------------
    browser.fill("#pesan", "Kontak di lokasi: Pak Joko (0812 7000 5678), setiap hari kerja.").await;
    browser.click("form:not([enctype]) button[type=submit]").await;
    let page = wait_for_text(&browser, &["Pesan Anda telah diterima"]).await;
    assert!(page.contains("Pesan Anda telah diterima"), "{page}");
    assert!(page.contains("Pak Joko"), "the comment is in the history: {page}");
    browser.shot("status-comment").await;

    // ---- staff: a request by email, through every step in the console ---------------------
    let s =
        |path: &str| state.pointer(path).and_then(Value::as_str).unwrap_or_else(|| panic!("state {path}")).to_string();
    let requester = "tono@dishub.pangkalpinangkota.go.id";
    let hostile = "<script>alert('x')</script> \u{202E}gnp.exe";
    let mail = format!(
        "From: Tono <{requester}>\nTo: {to}\nSubject: Permohonan jaringan intranet {hostile}\nMessage-ID: <browser-1@dishub>\n\
         Content-Type: text/plain; charset=utf-8\n\nMohon pemasangan jaringan intra pemerintah untuk kantor Dinas Perhubungan.\n\
         <img src=x onerror=alert(1)>\n",
        to = s("/smtp/address")
    );
    send_mail(&s("/smtp/host"), state["smtp"]["port"].as_u64().expect("port"), requester, &s("/smtp/address"), &mail);
    let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(s("/endpoint"))
        .region(aws_config::Region::new(s("/region")))
        .credentials_provider(aws_sdk_dynamodb::config::Credentials::new("test", "test", None, None, "e2e"))
        .load()
        .await;
    let catalog = Catalog::embedded().expect("catalog");
    let agency = Agency::embedded("pangkalpinang", &catalog).expect("agency");
    let store =
        loket_aws::DynamoTicketStore::new(aws_sdk_dynamodb::Client::new(&config), s("/table_name"), catalog.clone());
    let mut ticket = None;
    for _ in 0..60 {
        if let Some(t) = store.by_requester(requester, 5).await.expect("lookup").into_iter().next() {
            ticket = Some(t);
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let ticket = ticket.expect("the mail became a ticket within 30 s");
    assert_eq!(ticket.procedure, "jaringan-intra-kota", "classified as service A");
    let number = ticket.number.to_string();

    // The Helpdesk signs in through the sign-in page and finds the ticket in the queue.
    browser.goto(&format!("{public}/konsol")).await;
    sign_in(&browser, "rina").await;
    let queue = browser.source().await;
    assert!(queue.contains("Antrean saya") && queue.contains(&number), "{queue}");
    assert!(!queue.contains("<script>alert"), "hostile subject escaped in the queue");
    browser.shot("console-queue-helpdesk").await;
    browser.click(&format!("a[href$='/konsol/tiket/{number}']")).await;
    let page = browser.source().await;
    assert!(page.contains("&lt;script&gt;alert") && !page.contains("<script>alert"), "escaped on the ticket page");
    assert!(!page.contains("<img src=x"), "escaped description");
    browser.shot("console-ticket").await;

    // Through every step, as whoever holds it.
    let who_for = |role| agency.staff_with(role).first().map(|m| m.id.clone()).expect("someone holds the role");
    let mut signed_in = "rina".to_string();
    let procedure = catalog.get("jaringan-intra-kota").expect("service A");
    for _ in 0..20 {
        let current = store.get(&ticket.number).await.expect("ticket");
        if current.status.is_closed() {
            break;
        }
        let step = procedure.step(current.current_step().expect("a step")).expect("known step");
        let role = if step.kind == StepKind::Requester { step.on_behalf[0] } else { step.roles[0] };
        let person = who_for(role);
        if person != signed_in {
            browser.goto(&format!("{public}/konsol/masuk")).await;
            sign_in(&browser, &person).await;
            signed_in = person;
        }
        browser.goto(&format!("{public}/konsol/tiket/{number}")).await;
        let aksi = if step.is_decision() { "decide" } else { "complete" };
        let form = browser
            .client
            .find(Locator::Css(&format!("form[data-aksi={aksi}]")))
            .await
            .unwrap_or_else(|e| panic!("{signed_in} sees no {aksi} form at {}: {e}", step.id));
        if step.is_decision() {
            form.find(Locator::Css("input[value=setuju]")).await.expect("approve").click().await.expect("click");
            browser.fill("#alasan", "Sesuai rencana jaringan tahun ini.").await;
        }
        for input in form.find_all(Locator::Css("input[name^=isian_]")).await.expect("fields") {
            let kind = input.attr("type").await.expect("type").unwrap_or_default();
            let value = match kind.as_str() {
                "number" => "12",
                "datetime-local" => "2026-12-01T09:00",
                "date" => "2026-12-01",
                _ => "Gedung Dishub lt. 2; router 1, switch 2",
            };
            browser
                .client
                .execute("arguments[0].value = arguments[1];", vec![json!(input), json!(value)])
                .await
                .expect("set");
        }
        let mut chosen = Vec::new();
        for file in form.find_all(Locator::Css("input[type=file][name^=dok_]")).await.expect("files") {
            let name = file.attr("name").await.expect("name").unwrap_or_default();
            if name == "dok_lampiran" {
                continue;
            }
            let path = std::env::temp_dir().join(format!("{}-{name}.pdf", loket_tests::unique_name("doc")));
            std::fs::write(&path, PDF).expect("pdf");
            file.send_keys(&path.display().to_string()).await.expect("choose file");
            chosen.push(path);
        }
        if step.id == "berita-acara" {
            browser.shot("console-berita-acara").await;
        }
        form.find(Locator::Css("button[type=submit]")).await.expect("submit").click().await.expect("submit");
        let after = wait_for_text(&browser, &["Tindakan tersimpan", "class=\"problem\""]).await;
        for path in chosen.drain(..) {
            let _ = std::fs::remove_file(path);
        }
        if !after.contains("Tindakan tersimpan") {
            browser.shot("failed-step").await;
            panic!("{} at {}: {after}", signed_in, step.id);
        }
        if step.id == "keputusan-kadis" {
            browser.shot("console-kadis-approved").await;
        }
    }
    let closed = store.get(&ticket.number).await.expect("ticket");
    assert_eq!(closed.status.label(), "Selesai", "{closed:?}");
    assert!(closed.document_of_kind("berita_acara").is_some(), "the Berita Acara is on the ticket");
    browser.goto(&format!("{public}/konsol/tiket/{number}")).await;
    browser.shot("console-closed").await;

    // The Kadis opens the report: service A's whole-service time against its standard.
    browser.goto(&format!("{public}/konsol/masuk")).await;
    sign_in(&browser, &who_for(loket_domain::Role::Kadis)).await;
    browser.goto(&format!("{public}/konsol/laporan")).await;
    let report = browser.source().await;
    assert!(report.contains("<svg") && report.contains("Pemanfaatan Jaringan Intra Pemerintah"), "{report}");
    assert!(report.contains("Unduh CSV"));
    browser.shot("console-report").await;

    let _ = std::fs::remove_file(&pdf);
    browser.close();
}

/// Waits until the page holds one of `texts` (a form post answered by a redirect may
/// still be loading when the click returns); the page source.
async fn wait_for_text(browser: &Browser, texts: &[&str]) -> String {
    let mut source = String::new();
    for _ in 0..100 {
        source = browser.source().await;
        if texts.iter().any(|t| source.contains(t)) {
            return source;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    source
}

/// Signs in as `person` from the sign-in hop: its script sends the browser to the (dev)
/// identity provider with a PKCE challenge; the person is picked there; back at the hop the
/// script trades the code for the token and the token for the session, then opens the queue.
async fn sign_in(browser: &Browser, person: &str) {
    for _ in 0..100 {
        let url = browser.url().await;
        if url.contains("/_local/login?") && url.contains("code_challenge=") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let url = browser.url().await;
    assert!(url.contains("/_local/login?") && url.contains("code_challenge_method=S256"), "sent to sign in: {url}");
    browser.click(&format!("a[href^='/_local/login/{person}?']")).await;
    wait_for_url(browser, "/konsol").await;
    assert!(!browser.url().await.contains("code="), "the code leaves the address bar");
}

/// Waits until the browser is at a URL ending in `suffix` (the sign-in hop runs a script).
async fn wait_for_url(browser: &Browser, suffix: &str) {
    for _ in 0..100 {
        if browser.url().await.trim_end_matches('/').ends_with(suffix) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("not at {suffix}: {} — {}", browser.url().await, browser.source().await);
}
