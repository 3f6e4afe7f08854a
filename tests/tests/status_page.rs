//! The requester's status page against the local AWS endpoint: right token, wrong token
//! and unknown ticket (the same 404), escaping of hostile content, no internal notes,
//! CSRF on the form, a comment and a schedule confirmation.

use std::collections::BTreeMap;

use form_intake::{Deps, handle};
use jiff::Timestamp;
use loket_aws::{DynamoTicketStore, S3Uploads, SesMailer};
use loket_domain::mail::compose::Links;
use loket_domain::mail::thread::{ThreadKeys, token_hash};
use loket_domain::ports::{Created, TicketStore, create_once};
use loket_domain::ticket::{Actor, Channel, Document, EventKind, Requester, StaffRef};
use loket_domain::workflow::{Action, NewTicket};
use loket_domain::{Role, Ticket, Workflow};
use loket_tests::{Scratch, html_unescape, http_bytes, multipart, percent_decode, unique_name};
use serde_json::{Value, json};

type Pages = Deps<DynamoTicketStore, SesMailer>;

const TOKEN: &str = "0123456789abcdef0123456789abcdef";

async fn pages(agency: &str) -> Pages {
    let Scratch { config, dynamo, ses, table, bucket, catalog, agency, .. } =
        Scratch::new("loket-status", agency).await;
    Deps {
        uploads: S3Uploads::new(&config, bucket),
        store: DynamoTicketStore::new(dynamo, table, catalog.clone()),
        mailer: SesMailer::new(ses, agency.service_address.clone()),
        keys: ThreadKeys::new(b"status-page-test-secret-012345".to_vec()).expect("keys"),
        links: Links { public_base: "http://127.0.0.1:9".into(), console_base: "http://127.0.0.1:9".into() },
        catalog,
        agency,
    }
}

async fn open(pages: &Pages, procedure: &str, subject: &str) -> Ticket {
    let requester = Requester {
        email: Some("pic@dinkes.go.id".into()),
        name: "Sari".into(),
        unit: "Dinas <b>Kesehatan</b>".into(),
        phone: None,
    };
    let wf = Workflow::new(&pages.catalog, &pages.agency);
    let service = pages.catalog.get(procedure).expect("procedure").service.clone();
    let created = create_once(&pages.store, &unique_name("k"), &service, 2026, |number| {
        Ok((
            wf.open(NewTicket {
                number,
                procedure: procedure.into(),
                actor: Actor::requester(&requester),
                requester: requester.clone(),
                channel: Channel::Web,
                subject: subject.into(),
                description: String::new(),
                fields: BTreeMap::new(),
                documents: Vec::new(),
                token_hash: token_hash(TOKEN),
                related: Vec::new(),
                mail_in: None,
                at: Timestamp::now(),
            })?,
            Vec::new(),
        ))
    })
    .await
    .expect("create");
    match created {
        Created::New(a, _) => a.ticket,
        Created::Duplicate(n) => panic!("{n}"),
    }
}

fn request(method: &str, path: &str, query: &str, form: Option<String>) -> lambda_http::Request {
    let parameters: serde_json::Map<String, Value> =
        query.split('&').filter_map(|p| p.split_once('=')).map(|(k, v)| (k.to_string(), json!(v))).collect();
    let event = json!({
        "version": "2.0", "routeKey": "$default", "rawPath": path, "rawQueryString": query,
        "queryStringParameters": if parameters.is_empty() { Value::Null } else { Value::Object(parameters) },
        "headers": {"content-type": "application/x-www-form-urlencoded", "host": "api.local"},
        "requestContext": {"accountId": "0", "apiId": "api", "domainName": "api.local", "domainPrefix": "api",
            "http": {"method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1", "userAgent": "t"},
            "requestId": "r", "routeKey": "$default", "stage": "$default", "time": "x", "timeEpoch": 0},
        "body": form, "isBase64Encoded": false
    });
    lambda_http::request::from_str(&event.to_string()).expect("request")
}

async fn get(pages: &Pages, number: &str, token: &str) -> (u16, String) {
    let response =
        handle(pages, request("GET", &format!("/status/{number}"), &format!("t={token}"), None), Timestamp::now())
            .await;
    assert_eq!(response.headers()["referrer-policy"], "no-referrer");
    assert!(
        response.headers()["content-security-policy"].to_str().unwrap_or_default().starts_with("default-src 'none'")
    );
    (response.status().as_u16(), String::from_utf8_lossy(response.body().as_ref()).into_owned())
}

async fn post(pages: &Pages, number: &str, form: &str) -> (u16, String) {
    let response =
        handle(pages, request("POST", &format!("/status/{number}"), "", Some(form.to_string())), Timestamp::now())
            .await;
    (response.status().as_u16(), String::from_utf8_lossy(response.body().as_ref()).into_owned())
}

#[tokio::test]
async fn right_token_wrong_token_unknown_ticket() {
    let pages = pages("pangkalpinang").await;
    let hostile = "<script>alert(1)</script>\" onmouseover=\"x \u{202E}gpj.exe ".repeat(40);
    let ticket = open(&pages, "gangguan-internet-disposisi", &hostile).await;
    let number = ticket.number.to_string();
    // An internal note must not show.
    let wf = Workflow::new(&pages.catalog, &pages.agency);
    let kasi =
        Actor::staff(&StaffRef { id: "dedi".into(), name: "Dedi".into(), email: "dedi@x".into() }, vec![Role::Kasi]);
    let note = wf
        .apply(&ticket, &kasi, Action::Note { text: "RAHASIA internal".into() }, ticket.version, Timestamp::now())
        .expect("note");
    pages.store.apply(&note, ticket.version, &[], None).await.expect("store");

    let (status, html) = get(&pages, &number, TOKEN).await;
    assert_eq!(status, 200, "{html}");
    assert!(html.contains(&number));
    assert!(!html.contains("<script>") && html.contains("&lt;script&gt;"), "escaped");
    assert!(!html.contains("\" onmouseover") && !html.contains('\u{202E}'));
    assert!(!html.contains("RAHASIA"), "internal notes are hidden");
    assert!(html.contains("Disposisi pimpinan"), "the current step in plain words");
    assert!(html.contains("WIB"), "due in local time");

    let (wrong, wrong_html) = get(&pages, &number, "ffffffffffffffffffffffffffffffff").await;
    let (unknown, unknown_html) = get(&pages, "GJI-2026-999999", TOKEN).await;
    assert_eq!((wrong, unknown), (404, 404));
    assert_eq!(wrong_html, unknown_html, "no difference between a wrong token and an unknown ticket");
    let (short, _) = get(&pages, &number, "").await;
    assert_eq!(short, 404);
}

#[tokio::test]
async fn a_comment_needs_the_csrf_field_and_a_confirmation_moves_the_step() {
    let pages = pages("gorontalo").await;
    let mut ticket = open(&pages, "jaringan-intra-provinsi", "Jaringan intra ruang rapat").await;
    let number = ticket.number.to_string();
    let csrf = pages.keys.csrf(&ticket.number, &ticket.token_hash);
    // Without the right CSRF field: refused, nothing written.
    let (status, _) = post(&pages, &number, &format!("t={TOKEN}&csrf=forged&pesan=halo")).await;
    assert_eq!(status, 403);
    // With the wrong token: the same 404 as ever.
    let (status, _) =
        post(&pages, &number, &format!("t=ffffffffffffffffffffffffffffffff&csrf={csrf}&pesan=halo")).await;
    assert_eq!(status, 404);
    let (status, html) = post(&pages, &number, &format!("t={TOKEN}&csrf={csrf}&pesan=Lokasi+di+lantai+2")).await;
    assert_eq!(status, 200, "{html}");
    assert!(html.contains("Pesan Anda telah diterima"));
    let timeline = pages.store.timeline(&ticket.number).await.expect("timeline");
    assert_eq!(timeline.last().and_then(|e| e.note.as_deref()), Some("Lokasi di lantai 2"));

    // Staff take the ticket to the schedule confirmation; the requester confirms on the page.
    ticket = pages.store.get(&ticket.number).await.expect("ticket");
    let wf = Workflow::new(&pages.catalog, &pages.agency);
    let procedure = pages.catalog.get("jaringan-intra-provinsi").expect("procedure");
    while ticket.current_step() != Some("konfirmasi-jadwal") {
        let step = procedure.step(ticket.current_step().expect("open")).expect("step");
        let role = step.roles.iter().copied().find(|r| r.is_staff()).expect("role");
        let person = StaffRef { id: "s".into(), name: "S".into(), email: "s@x".into() };
        let fields: BTreeMap<String, String> = loket_tests::step_fields(
            step,
            &[
                ("lokasi", "Gedung A"),
                ("jumlah_pengguna", "12"),
                ("aplikasi", "SIMPEG"),
                ("daftar_perangkat", "1 switch"),
                ("jadwal_pemasangan", "2026-12-01T09:00"),
            ],
        );
        let documents = vec![loket_domain::ticket::Document {
            kind: "surat_permohonan".into(),
            name: "s.pdf".into(),
            content_type: "application/pdf".into(),
            size: 1,
            key: format!("{}s.pdf", loket_domain::ticket::staff_document_prefix(&ticket.number)),
            uploaded_at: Timestamp::now(),
            public: true,
        }];
        let action = if step.is_decision() {
            Action::Decide {
                step: step.id.clone(),
                outcome: "setuju".into(),
                reason: None,
                note: None,
                fields,
                documents,
            }
        } else {
            Action::Complete { step: step.id.clone(), note: None, fields, documents }
        };
        let applied = wf
            .apply(&ticket, &Actor::staff(&person, vec![role]), action, ticket.version, Timestamp::now())
            .expect("advance");
        pages.store.apply(&applied, ticket.version, &[], None).await.expect("store");
        ticket = applied.ticket;
    }
    let (_, html) = get(&pages, &number, TOKEN).await;
    assert!(html.contains("menunggu tanggapan Anda") && html.contains("name=\"konfirmasi\""), "{html}");
    let (status, _) = post(&pages, &number, &format!("t={TOKEN}&csrf={csrf}&pesan=&konfirmasi=1")).await;
    assert_eq!(status, 200);
    let moved = pages.store.get(&ticket.number).await.expect("ticket");
    assert_eq!(moved.current_step(), Some("pemasangan"));
}

// ---- the request form -----------------------------------------------------------------

fn form_body(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| {
            let enc: String = v
                .bytes()
                .map(|b| {
                    if b.is_ascii_alphanumeric() || b"-_.".contains(&b) {
                        (b as char).to_string()
                    } else {
                        format!("%{b:02X}")
                    }
                })
                .collect();
            format!("{k}={enc}")
        })
        .collect::<Vec<_>>()
        .join("&")
}

async fn submit(pages: &Pages, pairs: &[(&str, &str)]) -> (u16, String) {
    let response = handle(pages, request("POST", "/permohonan", "", Some(form_body(pairs))), Timestamp::now()).await;
    (response.status().as_u16(), String::from_utf8_lossy(response.body().as_ref()).into_owned())
}

fn good<'a>(stamp: &'a str, key: &'a str, email: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("kunci", key),
        ("mulai", stamp),
        ("situs", ""),
        ("layanan", "gangguan-internet-disposisi"),
        ("unit", "Dinas Kesehatan"),
        ("nama", "Sari Wulandari"),
        ("email", email),
        ("telepon", "+62 812-3456"),
        ("lokasi", "Gedung A lantai 2"),
        ("uraian", "Internet mati sejak pagi di ruang pelayanan."),
        ("f_gangguan-internet-disposisi_dampak", "10 komputer loket"),
    ]
}

#[tokio::test]
async fn the_form_page_and_a_message_per_field() {
    let pages = pages("pangkalpinang").await;
    let response = handle(&pages, request("GET", "/", "", None), Timestamp::now()).await;
    assert_eq!(response.status().as_u16(), 200);
    let html = String::from_utf8_lossy(response.body().as_ref()).into_owned();
    for part in [
        "name=\"kunci\"",
        "name=\"mulai\"",
        "name=\"situs\"",
        "Penanganan Gangguan Jaringan Internet",
        "Dinas Kesehatan",
        "<label for=\"email\">",
    ] {
        assert!(html.contains(part), "{part}");
    }
    let stamp = pages.keys.form_stamp(Timestamp::now() - jiff::SignedDuration::from_secs(30));
    let (status, html) = submit(
        &pages,
        &[("kunci", "0123456789abcdef0123"), ("mulai", &stamp), ("nama", "<b>Sari</b>"), ("email", "bukan-email")],
    )
    .await;
    assert_eq!(status, 422);
    for message in ["Pilih jenis layanan.", "Pilih unit (OPD)", "Alamat email tidak valid", "Uraikan permohonan Anda"] {
        assert!(html.contains(message), "{message}");
    }
    assert!(html.contains("role=\"alert\"") && html.contains("aria-invalid=\"true\""));
    assert!(html.contains("value=\"&lt;b&gt;Sari&lt;/b&gt;\""), "what was typed comes back, escaped");
}

#[tokio::test]
async fn spam_defences_and_a_good_submission_made_once() {
    let pages = pages("pangkalpinang").await;
    let email = format!("{}@dinkes.go.id", unique_name("sari").to_lowercase());
    let old = pages.keys.form_stamp(Timestamp::now() - jiff::SignedDuration::from_secs(30));
    let fresh = pages.keys.form_stamp(Timestamp::now());
    // The honeypot.
    let mut robot = good(&old, "robotrobotrobot0001", &email);
    robot.retain(|(k, _)| *k != "situs");
    robot.push(("situs", "http://spam.example"));
    let (status, _) = submit(&pages, &robot).await;
    assert_eq!(status, 400);
    // Too fast to be a person.
    let (status, html) = submit(&pages, &good(&fresh, "fastfastfastfast0001", &email)).await;
    assert_eq!(status, 422);
    assert!(html.contains("terlalu cepat"));
    // A forged stamp.
    let (status, _) = submit(&pages, &good("1700000000.abcdef012345", "forgedforged000001", &email)).await;
    assert_eq!(status, 422);
    assert!(pages.store.by_requester(&email, 10).await.expect("lookup").is_empty(), "nothing created so far");
    // A good one, then the same again (double click, refresh): one ticket.
    let (status, html) = submit(&pages, &good(&old, "goodgoodgoodgood0001", &email)).await;
    assert_eq!(status, 200, "{html}");
    assert!(html.contains("Nomor tiket Anda") && html.contains("/status/GJI-2026-"), "{html}");
    let (status, again) = submit(&pages, &good(&old, "goodgoodgoodgood0001", &email)).await;
    assert_eq!(status, 200);
    assert!(again.contains("sudah kami terima"));
    let tickets = pages.store.by_requester(&email, 10).await.expect("lookup");
    assert_eq!(tickets.len(), 1);
    let ticket = &tickets[0];
    assert_eq!(ticket.channel, Channel::Web);
    assert_eq!(ticket.fields.get("dampak").map(String::as_str), Some("10 komputer loket"));
    assert_eq!(ticket.fields.get("lokasi").map(String::as_str), Some("Gedung A lantai 2"));
    let acks = loket_tests::sent_mail()
        .into_iter()
        .filter(|m| m.to_string().contains(&email) && m.to_string().contains("Permohonan diterima"))
        .count();
    assert_eq!(acks, 1, "the same acknowledgement as email intake");
}

#[tokio::test]
async fn the_per_email_rate_limit() {
    let pages = pages("pangkalpinang").await;
    let email = format!("{}@dinkes.go.id", unique_name("banyak").to_lowercase());
    let old = pages.keys.form_stamp(Timestamp::now() - jiff::SignedDuration::from_secs(30));
    let limit = pages.agency.max_new_tickets_per_sender_per_hour as usize;
    for i in 0..limit {
        let key = format!("ratelimitkey{i:08}");
        let (status, html) = submit(&pages, &good(&old, &key, &email)).await;
        assert_eq!(status, 200, "{i}: {html}");
    }
    let (status, html) = submit(&pages, &good(&old, "ratelimitkeyover01", &email)).await;
    assert_eq!(status, 429, "{html}");
}

#[tokio::test]
async fn the_json_api() {
    let pages = pages("pangkalpinang").await;
    let email = format!("{}@dinkes.go.id", unique_name("api").to_lowercase());
    let call = |body: String| {
        let event = json!({
            "version": "2.0", "routeKey": "$default", "rawPath": "/api/requests", "rawQueryString": "",
            "headers": {"content-type": "application/json", "host": "api.local"},
            "requestContext": {"accountId": "0", "apiId": "api", "domainName": "api.local", "domainPrefix": "api",
                "http": {"method": "POST", "path": "/api/requests", "protocol": "HTTP/1.1", "sourceIp": "127.0.0.9", "userAgent": "t"},
                "requestId": "r", "routeKey": "$default", "stage": "$default", "time": "x", "timeEpoch": 0},
            "body": body, "isBase64Encoded": false
        });
        lambda_http::request::from_str(&event.to_string()).expect("request")
    };
    let good = json!({"kunci": "apikeyapikeyapikey01", "layanan": "pemeliharaan-infrastruktur", "unit": "Dinas Sosial", "nama": "Budi",
                      "email": email, "uraian": "Rak server di ruang data perlu dirapikan.", "fields": {"perangkat": "rak 42U"}});
    let response = handle(&pages, call(good.to_string()), Timestamp::now()).await;
    assert_eq!(response.status().as_u16(), 201);
    let body: Value = serde_json::from_slice(response.body().as_ref()).expect("json");
    assert!(body["number"].as_str().is_some_and(|n| n.starts_with("PIJ-")), "{body}");
    assert!(body["status_url"].as_str().is_some_and(|u| u.contains("/status/")));
    let response = handle(&pages, call(good.to_string()), Timestamp::now()).await;
    assert_eq!(response.status().as_u16(), 200, "a duplicate");
    let response =
        handle(&pages, call(json!({"kunci": "apikeyapikeyapikey02", "email": "x"}).to_string()), Timestamp::now())
            .await;
    assert_eq!(response.status().as_u16(), 422);
    let body: Value = serde_json::from_slice(response.body().as_ref()).expect("json");
    assert_eq!(body["code"], "invalid");
    assert!(body["fields"]["email"].as_str().is_some_and(|m| m.contains("tidak valid")));
    let response = handle(&pages, call("{not json".into()), Timestamp::now()).await;
    assert_eq!(response.status().as_u16(), 400);
}

// ---- attachments ------------------------------------------------------------------------

/// The upload form on a page: its action and hidden fields, in order.
fn upload_form(html: &str) -> (String, Vec<(String, String)>) {
    let start = html.find("enctype=\"multipart/form-data\"").expect("an upload form");
    let form_start = html[..start].rfind("<form").expect("form tag");
    let form = &html[form_start..form_start + html[form_start..].find("</form>").expect("form end")];
    let attr = |tag: &str, name: &str| -> Option<String> {
        let at = tag.find(&format!("{name}=\""))? + name.len() + 2;
        Some(html_unescape(&tag[at..at + tag[at..].find('"')?]))
    };
    let action = attr(form, "action").expect("action");
    let fields = form
        .split("<input ")
        .skip(1)
        .filter(|tag| tag.starts_with("type=\"hidden\""))
        .map(|tag| (attr(tag, "name").expect("name"), attr(tag, "value").expect("value")))
        .collect();
    (action, fields)
}

/// Posts a file the way the browser does; S3's answer.
fn upload(html: &str, name: &str, bytes: &[u8]) -> loket_tests::RawResponse {
    let (action, fields) = upload_form(html);
    let (content_type, body) = multipart(&fields, name, bytes);
    http_bytes("POST", &action, &[("Content-Type", &content_type)], &body)
}

/// The key S3 put in its redirect back to us.
fn redirected_key(response: &loket_tests::RawResponse) -> String {
    let location = response.header("location").unwrap_or_else(|| panic!("no redirect: {}", response.status));
    let query = location.split_once('?').map(|(_, q)| q).unwrap_or_default();
    let key = query.split('&').find_map(|p| p.strip_prefix("key=")).expect("key in redirect");
    percent_decode(key)
}

async fn come_back(pages: &Pages, number: &str, token: &str, key: &str) -> (u16, String) {
    let query = format!("t={token}&key={key}");
    let response =
        handle(pages, request("GET", &format!("/status/{number}/lampiran"), &query, None), Timestamp::now()).await;
    let location = response.headers().get("location").and_then(|l| l.to_str().ok()).unwrap_or_default().to_string();
    (response.status().as_u16(), location)
}

#[tokio::test]
async fn attachments_good_too_big_wrong_type() {
    let pages = pages("pangkalpinang").await;
    let ticket = open(&pages, "gangguan-internet-disposisi", "Internet mati").await;
    let number = ticket.number.to_string();
    let response =
        handle(&pages, request("GET", &format!("/status/{number}"), &format!("t={TOKEN}"), None), Timestamp::now())
            .await;
    let csp = response.headers()["content-security-policy"].to_str().expect("csp").to_string();
    let html = String::from_utf8_lossy(response.body().as_ref()).into_owned();
    let (action, _) = upload_form(&html);
    assert!(csp.contains(&format!("form-action 'self' {}", loket_aws::web::origin_of(&action))), "{csp}");

    // A PDF: S3 takes it and sends the browser back; it becomes a document of the ticket.
    let pdf = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n";
    let stored = upload(&html, "surat permohonan.pdf", pdf);
    assert_eq!(stored.status, 303, "{}", String::from_utf8_lossy(&stored.body));
    let key = redirected_key(&stored);
    assert!(key.starts_with(&format!("incoming/{number}/")) && key.ends_with("/surat permohonan.pdf"), "{key}");
    let encoded: String = key.replace(' ', "%20");
    let (status, location) = come_back(&pages, &number, TOKEN, &encoded).await;
    assert_eq!(status, 303);
    assert!(location.ends_with(&format!("/status/{number}?t={TOKEN}&info=lampiran")), "{location}");
    let after = pages.store.get(&ticket.number).await.expect("ticket");
    assert_eq!(after.documents.len(), 1);
    let document = &after.documents[0];
    assert_eq!((document.kind.as_str(), document.content_type.as_str()), ("lampiran", "application/pdf"));
    assert_eq!((document.name.as_str(), document.size), ("surat_permohonan.pdf", pdf.len() as u64));
    // The document is a copy out of the upload form's reach; the upload itself is gone.
    assert!(document.key.starts_with(&format!("attachments/requests/{number}/")), "{}", document.key);
    assert!(pages.uploads.inspect(&key).await.expect("inspect").is_none(), "the upload was removed");
    // Posting to the same key again (the policy allows it for an hour) swaps nothing.
    assert_eq!(upload(&html, "surat permohonan.pdf", b"MZ\x90\x00 swapped").status, 303);
    let (status, page) = get(&pages, &number, &format!("{TOKEN}&info=lampiran")).await;
    assert_eq!(status, 200);
    assert!(page.contains("Lampiran Anda telah tersimpan") && page.contains("surat_permohonan.pdf"), "{page}");
    // The same redirect again (a refresh) adds nothing.
    let (_, location) = come_back(&pages, &number, TOKEN, &encoded).await;
    assert!(location.ends_with("info=lampiran_ada"), "{location}");
    assert_eq!(pages.store.get(&ticket.number).await.expect("ticket").documents.len(), 1);

    // The status page links the document; the link is a short-lived presigned S3 GET.
    let link = format!("/status/{number}/dokumen/0?t={TOKEN}");
    assert!(page.contains(&format!("{link}\">surat_permohonan.pdf</a>")), "{page}");
    let open_document = |index: &str, token: &str| {
        let path = format!("/status/{number}/dokumen/{index}");
        handle(&pages, request("GET", &path, &format!("t={token}"), None), Timestamp::now())
    };
    let opened = open_document("0", TOKEN).await;
    assert_eq!(opened.status(), 303);
    assert_eq!(opened.headers()["referrer-policy"], "no-referrer");
    let location = opened.headers()["location"].to_str().expect("location").to_string();
    assert!(location.contains("X-Amz-Signature=") && location.contains("X-Amz-Expires=300"), "{location}");
    let file = http_bytes("GET", &location, &[], b"");
    assert_eq!(file.status, 200, "{}", String::from_utf8_lossy(&file.body));
    assert_eq!(file.body, pdf);
    assert_eq!(file.header("content-type"), Some("application/pdf"));
    // A document the staff keep internal is neither listed nor opened; nor is anything
    // with a wrong token or past the end of the list.
    let wf = Workflow::new(&pages.catalog, &pages.agency);
    let mut applied =
        wf.record(&after, EventKind::Note, &Actor::system(), Some("BA internal".into()), None, Timestamp::now());
    applied.ticket.documents.push(Document {
        kind: "berita_acara".into(),
        name: "rahasia.pdf".into(),
        content_type: "application/pdf".into(),
        size: pdf.len() as u64,
        key: key.clone(),
        uploaded_at: Timestamp::now(),
        public: false,
    });
    pages.store.apply(&applied, after.version, &[], None).await.expect("internal document");
    let (_, page) = get(&pages, &number, TOKEN).await;
    assert!(!page.contains("rahasia.pdf") && !page.contains("/dokumen/1"), "{page}");
    assert_eq!(open_document("1", TOKEN).await.status(), 404);
    assert_eq!(open_document("0", &TOKEN.replace('0', "1")).await.status(), 404);
    assert_eq!(open_document("7", TOKEN).await.status(), 404);
    assert_eq!(open_document("x", TOKEN).await.status(), 404);

    // An executable named .pdf: refused by its content and deleted.
    let bad = upload(&html, "surat.pdf", b"MZ\x90\x00\x03 this is not a PDF");
    assert_eq!(bad.status, 303);
    let bad_key = redirected_key(&bad);
    assert!(pages.uploads.inspect(&bad_key).await.expect("inspect").is_some());
    let (_, location) = come_back(&pages, &number, TOKEN, &bad_key).await;
    assert!(location.ends_with("info=lampiran_tipe"), "{location}");
    assert!(pages.uploads.inspect(&bad_key).await.expect("inspect").is_none(), "refused file deleted");
    assert_eq!(
        pages.store.get(&ticket.number).await.expect("ticket").documents.len(),
        2,
        "the upload and the internal document"
    );
    let (_, page) = get(&pages, &number, &format!("{TOKEN}&info=lampiran_tipe")).await;
    assert!(page.contains("harus berupa PDF, JPG, atau PNG"));

    // More than 10 MB: S3 refuses it under the signed policy; nothing is stored.
    let mut big = b"%PDF-1.4\n".to_vec();
    big.resize(10 * 1024 * 1024 + 1, b'x');
    let refused = upload(&html, "besar.pdf", &big);
    assert_eq!(refused.status, 400, "{}", String::from_utf8_lossy(&refused.body));
    assert!(String::from_utf8_lossy(&refused.body).contains("EntityTooLarge"));
    // Exactly 10 MB is fine.
    big.truncate(10 * 1024 * 1024);
    assert_eq!(upload(&html, "pas.pdf", &big).status, 303);

    // A key outside this ticket, a wrong token, a missing file.
    let other = format!("incoming/GNG-2026-99999/{}/x.pdf", "a".repeat(32));
    assert_eq!(come_back(&pages, &number, TOKEN, &other).await.0, 404);
    assert_eq!(come_back(&pages, &number, &TOKEN.replace('0', "1"), &encoded).await.0, 404);
    let missing = format!("incoming/{number}/{}/hilang.pdf", "b".repeat(32));
    let (_, location) = come_back(&pages, &number, TOKEN, &missing).await;
    assert!(location.ends_with("info=lampiran_hilang"), "{location}");

    // A policy is for its own ticket: the key prefix is signed.
    let (action, mut fields) = upload_form(&html);
    for (name, value) in &mut fields {
        if name == "key" {
            *value = "incoming/GNG-2026-99999/x/${filename}".into();
        }
    }
    let (content_type, body) = multipart(&fields, "x.pdf", pdf);
    assert_eq!(http_bytes("POST", &action, &[("Content-Type", &content_type)], &body).status, 403);
}

#[tokio::test]
async fn the_result_page_offers_the_upload() {
    let pages = pages("pangkalpinang").await;
    let stamp = pages.keys.form_stamp(Timestamp::now() - jiff::SignedDuration::from_secs(10));
    let (status, html) = submit(&pages, &good(&stamp, "resultpageupload0001", "upload@dinkes.go.id")).await;
    assert_eq!(status, 200, "{html}");
    assert!(html.contains("id=\"nomor-tiket\""));
    let stored = upload(&html, "foto.png", b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR");
    assert_eq!(stored.status, 303);
}
