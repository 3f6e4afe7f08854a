//! The staff API handler with requests shaped as the HTTP API delivers them (JWT claims
//! in the request context), against the local AWS endpoint: every procedure walked
//! through the API, the role guard, identity, stale versions, documents, double submits.

use std::collections::BTreeMap;

use base64::Engine;
use jiff::{SignedDuration, Timestamp};
use lambda_http::{Body, Response};
use loket_aws::{DynamoTicketStore, S3RawMailStore, SesMailer};
use loket_domain::Role;
use loket_domain::mail::compose::Links;
use loket_domain::mail::thread::ThreadKeys;
use loket_domain::ports::{Quarantined, RawMailStore, TicketStore};
use loket_domain::sop::{ItemKind, StepKind};
use loket_tests::{Scratch, sent_mail, unique_name};
use serde_json::{Value, json};
use transitions::{Deps, handle};

type Api = Deps<DynamoTicketStore, S3RawMailStore, SesMailer>;

async fn api(agency: &str) -> Api {
    let Scratch { dynamo, s3, ses, table, bucket, catalog, agency, .. } = Scratch::new("loket-staff", agency).await;
    Deps {
        store: DynamoTicketStore::new(dynamo, table, catalog.clone()),
        files: S3RawMailStore::new(s3, bucket),
        mailer: SesMailer::new(ses, agency.service_address.clone()),
        keys: ThreadKeys::new(b"staff-api-test-secret-0123456789".to_vec()).expect("keys"),
        links: Links { public_base: "http://127.0.0.1:9".into(), console_base: "http://127.0.0.1:9/staf".into() },
        sign_in: transitions::SignIn::new(
            "http://127.0.0.1:9/_local/login?client_id=loket-local&response_type=code",
            "http://127.0.0.1:9/_local/token",
        ),
        catalog,
        agency,
    }
}

/// An HTTP API (payload 2.0) request; `claims` as the JWT authorizer passes them.
fn request(method: &str, path_and_query: &str, claims: Option<Value>, body: Option<Value>) -> lambda_http::Request {
    let (path, query) = path_and_query.split_once('?').unwrap_or((path_and_query, ""));
    let parameters: serde_json::Map<String, Value> =
        query.split('&').filter_map(|p| p.split_once('=')).map(|(k, v)| (k.to_string(), json!(v))).collect();
    let mut context = json!({
        "accountId": "000000000000", "apiId": "api", "domainName": "api.local", "domainPrefix": "api",
        "http": {"method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1", "userAgent": "test"},
        "requestId": "r", "routeKey": "$default", "stage": "$default", "time": "23/Nov/2026:01:00:00 +0000", "timeEpoch": 0
    });
    if let Some(claims) = claims {
        context["authorizer"] = json!({"jwt": {"claims": claims, "scopes": null}});
    }
    let event = json!({
        "version": "2.0", "routeKey": "$default", "rawPath": path, "rawQueryString": query,
        "queryStringParameters": if parameters.is_empty() { Value::Null } else { Value::Object(parameters) },
        "headers": {"content-type": "application/json", "host": "api.local",
                    // A client-set header must never give roles.
                    "x-roles": "kadis", "x-user": "hendra@staf.example.go.id"},
        "requestContext": context,
        "body": body.map(|b| b.to_string()), "isBase64Encoded": false
    });
    lambda_http::request::from_str(&event.to_string()).expect("request")
}

fn claims(email: &str, roles: &[Role]) -> Value {
    let groups: Vec<&str> = roles.iter().map(|r| r.as_str()).collect();
    // API Gateway flattens array claims as "[a b]".
    json!({"sub": email, "email": email, "cognito:groups": format!("[{}]", groups.join(" "))})
}

/// The directory member holding a role.
fn member(api: &Api, role: Role) -> String {
    api.agency.staff.iter().find(|m| m.roles.contains(&role)).map(|m| m.email.clone()).expect("someone holds the role")
}

async fn call(api: &Api, method: &str, path: &str, who: Option<(&str, &[Role])>, body: Option<Value>) -> (u16, Value) {
    let response: Response<Body> =
        handle(api, request(method, path, who.map(|(e, r)| claims(e, r)), body), Timestamp::now()).await;
    let status = response.status().as_u16();
    let bytes: &[u8] = response.body().as_ref();
    (status, serde_json::from_slice(bytes).unwrap_or(Value::Null))
}

async fn enter(api: &Api, procedure: &str, requester: &str) -> String {
    let helpdesk = member(api, Role::Helpdesk);
    let body = json!({"key": unique_name("entry"), "procedure": procedure, "channel": "whatsapp", "name": "Sari",
                      "unit": "Dinas Kesehatan", "email": requester, "phone": "0812", "subject": "Permohonan", "description": "via WA"});
    let (status, value) =
        call(api, "POST", "/api/staff/tickets", Some((&helpdesk, &[Role::Helpdesk])), Some(body)).await;
    assert_eq!(status, 201, "{value}");
    assert!(value["status_link"].as_str().is_some_and(|l| l.contains("/status/")));
    value["number"].as_str().expect("number").to_string()
}

const PDF: &[u8] = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n";

/// Walks a ticket to its end through the API, each step by a directory member of its
/// role, choosing `outcome` at decisions. Returns the final ticket JSON.
async fn walk(api: &Api, number: &str, outcome: &dyn Fn(&str) -> &'static str) -> Value {
    let path = format!("/api/staff/tickets/{number}");
    for _ in 0..20 {
        let (status, view) = call(api, "GET", &path, Some((&member(api, Role::Admin), &[Role::Admin])), None).await;
        assert_eq!(status, 200, "{view}");
        let ticket = &view["ticket"];
        if ticket["status"] != "open" {
            return ticket.clone();
        }
        let procedure = api.catalog.get(ticket["procedure"].as_str().expect("procedure")).expect("known");
        let step = procedure.step(ticket["current"]["step"].as_str().expect("step")).expect("step");
        let version = ticket["version"].as_u64().expect("version");
        if step.kind == StepKind::Requester {
            // The helpdesk records the requester's confirmation given by phone.
            let who = member(api, Role::Helpdesk);
            let action = json!({"version": version, "action": {"action": "complete", "step": step.id, "note": "dikonfirmasi lewat telepon"}});
            let (status, v) =
                call(api, "POST", &format!("{path}/actions"), Some((&who, &[Role::Helpdesk])), Some(action)).await;
            assert_eq!(status, 200, "{v}");
            continue;
        }
        let role = step.roles.iter().copied().find(|r| r.is_staff()).expect("staff role");
        let who = member(api, role);
        let mut fields = serde_json::Map::new();
        let mut documents = Vec::new();
        for item in step.required_items() {
            let id = item.id.clone().expect("id");
            if item.kind == ItemKind::Document {
                let upload = json!({"kind": id, "name": format!("{id}.pdf"), "content_base64": base64::engine::general_purpose::STANDARD.encode(PDF)});
                let (status, doc) =
                    call(api, "POST", &format!("{path}/documents"), Some((&who, &[role])), Some(upload)).await;
                assert_eq!(status, 201, "{doc}");
                documents.push(doc);
            } else {
                fields.insert(id, json!(loket_tests::sample_value(item.kind)));
            }
        }
        let action = if step.is_decision() {
            json!({"action": "decide", "step": step.id, "outcome": outcome(&step.id), "reason": "Menunggu anggaran", "fields": fields, "documents": documents})
        } else {
            json!({"action": "complete", "step": step.id, "note": "selesai", "fields": fields, "documents": documents})
        };
        let (status, v) = call(
            api,
            "POST",
            &format!("{path}/actions"),
            Some((&who, &[role])),
            Some(json!({"version": version, "action": action})),
        )
        .await;
        assert_eq!(status, 200, "{} at {}: {v}", number, step.id);
    }
    panic!("{number} did not end");
}

#[tokio::test]
async fn every_procedure_and_branch_through_the_api() {
    for (agency, procedure, decisions) in [
        ("pangkalpinang", "jaringan-intra-kota", vec![("keputusan-kadis", "setuju"), ("keputusan-kadis", "tunda")]),
        ("gorontalo", "jaringan-intra-provinsi", vec![("keputusan-kadis", "setuju"), ("keputusan-kadis", "tunda")]),
        (
            "pangkalpinang",
            "pemeliharaan-perbaikan-jaringan",
            vec![("keputusan-kabid", "setuju"), ("keputusan-kabid", "tunda")],
        ),
        ("pangkalpinang", "gangguan-internet-disposisi", vec![("penanganan", "sederhana"), ("penanganan", "program")]),
        ("gorontalo", "gangguan-internet-langsung", vec![("penanganan", "sederhana"), ("penanganan", "program")]),
        ("pangkalpinang", "pemeliharaan-infrastruktur", vec![("", "")]),
    ] {
        let api = api(agency).await;
        for (_, choice) in decisions {
            let requester = format!("{}@dinkes.go.id", unique_name("pic").to_lowercase());
            let number = enter(&api, procedure, &requester).await;
            let end = walk(&api, &number, &|_| choice).await;
            let expected = match choice {
                "tunda" => "postponed",
                "program" => "planned_work",
                _ => "done",
            };
            assert_eq!(end["status"], expected, "{procedure} {choice}");
            // The requester was told: the acknowledgement and the closing milestone.
            let to_requester: Vec<String> = sent_mail()
                .iter()
                .filter(|m| {
                    m["To"].as_array().is_some_and(|to| to.iter().any(|t| t.as_str() == Some(requester.as_str())))
                })
                .filter_map(|m| m["Subject"].as_str().map(str::to_string))
                .collect();
            assert!(to_requester.iter().any(|s| s.contains("Permohonan diterima")), "{to_requester:?}");
            let closing = match expected {
                "postponed" => "ditunda",
                "planned_work" => "program kegiatan",
                _ => "Tiket ditutup",
            };
            assert!(to_requester.iter().any(|s| s.contains(closing)), "{procedure} {choice}: {to_requester:?}");
        }
    }
}

#[tokio::test]
async fn identity_comes_only_from_verified_claims() {
    let api = api("pangkalpinang").await;
    // No authorizer claims: 401, whatever the headers say.
    let (status, body) = call(&api, "GET", "/api/staff/queue", None, None).await;
    assert_eq!(status, 401);
    assert_eq!(body["code"], "unauthorized");
    // A verified user without a staff group: 403.
    let (status, _) = call(&api, "GET", "/api/staff/me", Some(("someone@x.go.id", &[])), None).await;
    assert_eq!(status, 403);
    let (status, me) =
        call(&api, "GET", "/api/staff/me", Some(("BUDI@staf.example.go.id", &[Role::Teknisi])), None).await;
    assert_eq!(status, 200);
    assert_eq!((me["name"].as_str(), me["roles"].clone()), (Some("Budi Teknisi"), json!(["teknisi"])));
}

#[tokio::test]
async fn wrong_role_stale_version_missing_document_and_double_submit() {
    let api = api("pangkalpinang").await;
    let number = enter(&api, "jaringan-intra-kota", "pic@dinkes.go.id").await;
    let path = format!("/api/staff/tickets/{number}/actions");
    let teknisi = member(&api, Role::Teknisi);
    let helpdesk = member(&api, Role::Helpdesk);
    // The technician may not receive the request (the Helpdesk's step): 403.
    let action = json!({"version": 1, "action": {"action": "complete", "step": "penerimaan"}});
    let (status, body) = call(&api, "POST", &path, Some((&teknisi, &[Role::Teknisi])), Some(action.clone())).await;
    assert_eq!((status, body["code"].as_str()), (403, Some("wrong_role")));
    assert!(body["message"].as_str().is_some_and(|m| m.contains("Helpdesk")));
    // Two concurrent submits of the same action at version 1: exactly one applies.
    let (a, b) = tokio::join!(
        call(&api, "POST", &path, Some((&helpdesk, &[Role::Helpdesk])), Some(action.clone())),
        call(&api, "POST", &path, Some((&helpdesk, &[Role::Helpdesk])), Some(action.clone()))
    );
    let mut statuses = [a.0, b.0];
    statuses.sort();
    assert_eq!(statuses, [200, 409], "{a:?} {b:?}");
    // A stale version gets 409 with the current state.
    let (status, body) = call(&api, "POST", &path, Some((&helpdesk, &[Role::Helpdesk])), Some(action)).await;
    assert_eq!(status, 409);
    assert_eq!(body["current"]["version"], 2);
    // The queue of the Kadis now holds it, ordered and with its SLA state.
    let kadis = member(&api, Role::Kadis);
    let (status, queue) = call(&api, "GET", "/api/staff/queue", Some((&kadis, &[Role::Kadis])), None).await;
    assert_eq!(status, 200);
    assert_eq!(queue["items"][0]["number"], number.as_str());
    assert!(["on_time", "warning", "overdue"].contains(&queue["items"][0]["state"].as_str().unwrap_or_default()));
    // Documents are checked by content.
    let upload = json!({"kind": "berita_acara", "name": "ba.pdf", "content_base64": base64::engine::general_purpose::STANDARD.encode(b"MZ not a pdf")});
    let (status, body) = call(
        &api,
        "POST",
        &format!("/api/staff/tickets/{number}/documents"),
        Some((&teknisi, &[Role::Teknisi])),
        Some(upload),
    )
    .await;
    assert_eq!((status, body["code"].as_str()), (415, Some("document_type")));
    // Garbage in: a clear 400, not a crash.
    let (status, body) =
        call(&api, "POST", &path, Some((&helpdesk, &[Role::Helpdesk])), Some(json!({"version": "x"}))).await;
    assert_eq!((status, body["code"].as_str()), (400, Some("bad_request")));
}

#[tokio::test]
async fn the_berita_acara_is_required_through_the_api() {
    let api = api("pangkalpinang").await;
    let number = enter(&api, "jaringan-intra-kota", "pic2@dinkes.go.id").await;
    // Walk to the handover step, then try to complete it without the document.
    let path = format!("/api/staff/tickets/{number}");
    loop {
        let (_, view) = call(&api, "GET", &path, Some((&member(&api, Role::Admin), &[Role::Admin])), None).await;
        let step = view["ticket"]["current"]["step"].as_str().expect("open").to_string();
        let version = view["ticket"]["version"].as_u64().expect("version");
        let procedure = api.catalog.get("jaringan-intra-kota").expect("p");
        let def = procedure.step(&step).expect("step");
        let role = def.roles.iter().copied().find(|r| r.is_staff()).expect("role");
        if step == "berita-acara" {
            let action = json!({"version": version, "action": {"action": "complete", "step": step}});
            let (status, body) =
                call(&api, "POST", &format!("{path}/actions"), Some((&member(&api, role), &[role])), Some(action))
                    .await;
            assert_eq!((status, body["code"].as_str()), (422, Some("missing_document")), "{body}");
            assert!(body["message"].as_str().is_some_and(|m| m.contains("Berita Acara")));
            // With it, the step completes, and the document opens through a short-lived link.
            let who = (member(&api, role), [role]);
            let upload = json!({"kind": "berita_acara", "name": "Berita Acara.pdf", "content_base64": base64::engine::general_purpose::STANDARD.encode(PDF)});
            let (status, document) =
                call(&api, "POST", &format!("{path}/documents"), Some((&who.0, &who.1)), Some(upload)).await;
            assert_eq!(status, 201, "{document}");
            // An upload relabelled as the Berita Acara, or a reference made up, is refused:
            // the key signs what the upload was.
            let lampiran = json!({"kind": "lampiran", "name": "foto.pdf", "content_base64": base64::engine::general_purpose::STANDARD.encode(PDF)});
            let (_, mut relabelled) =
                call(&api, "POST", &format!("{path}/documents"), Some((&who.0, &who.1)), Some(lampiran)).await;
            relabelled["kind"] = json!("berita_acara");
            let mut made_up = document.clone();
            made_up["key"] = json!(format!("attachments/tickets/{number}/1-00000000-0000-ba.pdf"));
            for forged in [relabelled, made_up] {
                let action =
                    json!({"version": version, "action": {"action": "complete", "step": step, "documents": [forged]}});
                let (status, body) =
                    call(&api, "POST", &format!("{path}/actions"), Some((&who.0, &who.1)), Some(action)).await;
                assert_eq!((status, body["code"].as_str()), (422, Some("unknown_document")), "{body}");
            }
            let action =
                json!({"version": version, "action": {"action": "complete", "step": step, "documents": [document]}});
            let (status, body) =
                call(&api, "POST", &format!("{path}/actions"), Some((&who.0, &who.1)), Some(action)).await;
            assert_eq!(status, 200, "{body}");
            let supervisor = member(&api, Role::Kabid);
            let (status, opened) =
                call(&api, "GET", &format!("{path}/documents/0"), Some((&supervisor, &[Role::Kabid])), None).await;
            assert_eq!(status, 200, "{opened}");
            assert_eq!(opened["document"]["name"], "Berita Acara.pdf");
            assert_eq!(opened["expires_in_seconds"], 300);
            let file = loket_tests::http_bytes("GET", opened["url"].as_str().expect("url"), &[], b"");
            assert_eq!((file.status, file.body.as_slice()), (200, PDF));
            let disposition = file.header("content-disposition").unwrap_or_default();
            assert!(disposition.contains("filename*=UTF-8''Berita%20Acara%2Epdf"), "{disposition}");
            let (status, body) =
                call(&api, "GET", &format!("{path}/documents/1"), Some((&supervisor, &[Role::Kabid])), None).await;
            assert_eq!((status, body["code"].as_str()), (404, Some("not_found")), "{body}");
            let (status, _) = call(&api, "GET", &format!("{path}/documents/0"), None, None).await;
            assert_eq!(status, 401);
            break;
        }
        let mut fields = BTreeMap::new();
        for item in def.required_items() {
            fields.insert(item.id.clone().expect("id"), loket_tests::sample_value(item.kind).to_string());
        }
        let action = if def.is_decision() {
            json!({"version": version, "action": {"action": "decide", "step": step, "outcome": "setuju", "fields": fields}})
        } else {
            json!({"version": version, "action": {"action": "complete", "step": step, "fields": fields}})
        };
        let (status, body) =
            call(&api, "POST", &format!("{path}/actions"), Some((&member(&api, role), &[role])), Some(action)).await;
        assert_eq!(status, 200, "{body}");
    }
    let _ = SignedDuration::ZERO;
}

#[tokio::test]
async fn the_service_level_report_as_json_and_csv() {
    let api = api("gorontalo").await;
    for i in 0..2 {
        let number = enter(&api, "jaringan-intra-provinsi", &format!("pic{i}@dinkes.go.id")).await;
        let end = walk(&api, &number, &|_| "setuju").await;
        assert_eq!(end["status"], "done");
    }
    let year = jiff::Timestamp::now().strftime("%Y").to_string();
    let path = format!("/api/staff/reports/sla?year={year}");
    let teknisi = member(&api, Role::Teknisi);
    let (status, _) = call(&api, "GET", &path, Some((&teknisi, &[Role::Teknisi])), None).await;
    assert_eq!(status, 403, "technicians do not see reports");
    let kabid = member(&api, Role::Kabid);
    let (status, body) = call(&api, "GET", &path, Some((&kabid, &[Role::Kabid])), None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["tickets"], 2);
    let steps = body["report"]["steps"].as_array().expect("steps");
    let analysis = steps
        .iter()
        .find(|s| s["procedure"] == "jaringan-intra-provinsi" && s["step"] == "analisis")
        .expect("analysis row");
    assert_eq!(analysis["count"], 2);
    let service = &body["report"]["services"][0];
    assert_eq!(
        (service["procedure"].as_str(), service["standard_secs"].as_i64(), service["count"].as_i64()),
        (Some("jaringan-intra-provinsi"), Some(8 * 3600), Some(2))
    );
    // CSV for the yearly evaluation.
    let response = handle(
        &api,
        request("GET", &format!("{path}&format=csv"), Some(claims(&kabid, &[Role::Kabid])), None),
        Timestamp::now(),
    )
    .await;
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(response.headers()["content-type"], "text/csv; charset=utf-8");
    let csv = String::from_utf8_lossy(response.body().as_ref()).into_owned();
    assert!(
        csv.starts_with("jenis,prosedur,no,langkah,batas_waktu,jumlah,median_menit,p90_menit,persen_tepat_waktu\n"),
        "{csv}"
    );
    assert!(csv.contains("layanan,jaringan-intra-provinsi,,Pemanfaatan Jaringan Intra Pemerintah,8 jam,2,"), "{csv}");
}

fn page_request(method: &str, path: &str, query: &str, form: Option<&str>) -> lambda_http::Request {
    let parameters: serde_json::Map<String, Value> =
        query.split('&').filter_map(|p| p.split_once('=')).map(|(k, v)| (k.to_string(), json!(v))).collect();
    let event = json!({
        "version": "2.0", "routeKey": "$default", "rawPath": path, "rawQueryString": query,
        "queryStringParameters": Value::Object(parameters),
        "headers": {"content-type": "application/x-www-form-urlencoded", "host": "api.local"},
        "requestContext": {"accountId": "0", "apiId": "api", "domainName": "api.local", "domainPrefix": "api",
            "http": {"method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1", "userAgent": "t"},
            "requestId": "r", "routeKey": "$default", "stage": "$default", "time": "x", "timeEpoch": 0},
        "body": form, "isBase64Encoded": false
    });
    lambda_http::request::from_str(&event.to_string()).expect("request")
}

async fn page(api: &Api, method: &str, link: &str, form: Option<&str>) -> (u16, String) {
    let rest = link.split_once("/keputusan/").map(|(_, r)| r).expect("a decision link");
    let (number, query) = rest.split_once('?').expect("query");
    let response =
        handle(api, page_request(method, &format!("/keputusan/{number}"), query, form), Timestamp::now()).await;
    assert!(response.headers()["content-security-policy"].to_str().unwrap_or_default().contains("default-src 'none'"));
    (response.status().as_u16(), String::from_utf8_lossy(response.body().as_ref()).into_owned())
}

#[tokio::test]
async fn a_one_time_decision_link() {
    let api = api("pangkalpinang").await;
    // A hostile subject must come out escaped.
    let helpdesk = member(&api, Role::Helpdesk);
    let body = json!({"key": unique_name("entry"), "procedure": "jaringan-intra-kota", "channel": "letter", "name": "PIC",
                      "unit": "Dinas \"Sosial\"", "subject": "<script>alert(1)</script>"});
    let (_, created) = call(&api, "POST", "/api/staff/tickets", Some((&helpdesk, &[Role::Helpdesk])), Some(body)).await;
    let number = created["number"].as_str().expect("number").to_string();
    let action = json!({"version": 1, "action": {"action": "complete", "step": "penerimaan"}});
    let (status, _) = call(
        &api,
        "POST",
        &format!("/api/staff/tickets/{number}/actions"),
        Some((&helpdesk, &[Role::Helpdesk])),
        Some(action),
    )
    .await;
    assert_eq!(status, 200);
    let ticket = api.store.get(&number.parse().expect("number")).await.expect("ticket");
    let composer = loket_domain::mail::compose::Composer { agency: &api.agency, keys: &api.keys, links: &api.links };
    let link = composer.decision_link(&ticket, "keputusan-kadis", "tunda", "hendra");

    let (status, html) = page(&api, "GET", &link, None).await;
    assert_eq!(status, 200, "{html}");
    assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;") && !html.contains("<script>"), "{html}");
    assert!(html.contains("Dinas &quot;Sosial&quot;"));
    assert!(html.contains("Hendra Kepala Dinas") && html.contains("required"));
    // A tampered link (another outcome with the same signature) is not accepted.
    let (status, _) = page(&api, "GET", &link.replace("o=tunda", "o=setuju"), None).await;
    assert_eq!(status, 404);
    // A note meanwhile (any event changes the ticket's version) leaves the link valid: it
    // is bound to this visit of the step.
    let note = json!({"version": ticket.version, "action": {"action": "note", "text": "Sudah ditelepon."}});
    let (status, body) = call(
        &api,
        "POST",
        &format!("/api/staff/tickets/{number}/actions"),
        Some((&helpdesk, &[Role::Helpdesk])),
        Some(note),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    // The POST decides, as the person the link was sent to.
    let (status, html) = page(&api, "POST", &link, Some("alasan=Anggaran+belum+ada")).await;
    assert_eq!(status, 200, "{html}");
    let decided = api.store.get(&number.parse().expect("number")).await.expect("ticket");
    assert_eq!(decided.status, loket_domain::ticket::Status::Postponed);
    assert_eq!(decided.end_reason.as_deref(), Some("Anggaran belum ada"));
    let last = api.store.timeline(&decided.number).await.expect("timeline").pop().expect("event");
    assert_eq!(last.actor.name, "Hendra Kepala Dinas");
    // Once only.
    let (status, _) = page(&api, "POST", &link, Some("alasan=lagi")).await;
    assert_eq!(status, 409);
}

// ---- the staff console (server-rendered pages on the same function) ----------------------

/// A console request as the HTTP API delivers it: no authorizer claims (the console's
/// routes have none), the session cookie, a form body.
fn console_request(
    method: &str,
    path_and_query: &str,
    cookie: Option<&str>,
    body: Option<(String, Vec<u8>)>,
) -> lambda_http::Request {
    let (path, query) = path_and_query.split_once('?').unwrap_or((path_and_query, ""));
    let parameters: serde_json::Map<String, Value> =
        query.split('&').filter_map(|p| p.split_once('=')).map(|(k, v)| (k.to_string(), json!(v))).collect();
    let mut headers = json!({"host": "api.local", "x-roles": "kadis"});
    if let Some((content_type, _)) = &body {
        headers["content-type"] = json!(content_type);
    }
    let event = json!({
        "version": "2.0", "routeKey": "$default", "rawPath": path, "rawQueryString": query,
        "queryStringParameters": if parameters.is_empty() { Value::Null } else { Value::Object(parameters) },
        "cookies": cookie.map(|c| vec![c.to_string()]),
        "headers": headers,
        "requestContext": {"accountId": "000000000000", "apiId": "api", "domainName": "api.local", "domainPrefix": "api",
            "http": {"method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1", "userAgent": "test"},
            "requestId": "r", "routeKey": "$default", "stage": "$default", "time": "23/Nov/2026:01:00:00 +0000", "timeEpoch": 0},
        "body": body.as_ref().map(|(_, b)| base64::engine::general_purpose::STANDARD.encode(b)),
        "isBase64Encoded": true
    });
    lambda_http::request::from_str(&event.to_string()).expect("request")
}

struct Page {
    status: u16,
    location: String,
    csp: String,
    set_cookie: String,
    html: String,
}

async fn console(api: &Api, method: &str, path: &str, cookie: Option<&str>, body: Option<(String, Vec<u8>)>) -> Page {
    let response = handle(api, console_request(method, path, cookie, body), Timestamp::now()).await;
    let header =
        |name: &str| response.headers().get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
    Page {
        status: response.status().as_u16(),
        location: header("location"),
        csp: header("content-security-policy"),
        set_cookie: header("set-cookie"),
        html: String::from_utf8_lossy(response.body().as_ref()).into_owned(),
    }
}

/// Signs in as the authorizer would let `email` in: the session cookie (`name=value`).
async fn sign_in(api: &Api, email: &str, roles: &[Role]) -> String {
    let response =
        handle(api, request("POST", "/api/staff/session", Some(claims(email, roles)), None), Timestamp::now()).await;
    assert_eq!(response.status().as_u16(), 200);
    let cookie = response.headers()["set-cookie"].to_str().expect("cookie").to_string();
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"), "{cookie}");
    cookie.split(';').next().expect("name=value").to_string()
}

fn csrf_of(html: &str) -> String {
    let at = html.find("name=\"csrf\" value=\"").expect("a csrf field") + 19;
    html[at..at + html[at..].find('"').expect("end")].to_string()
}

fn form_encode(pairs: &[(&str, &str)]) -> (String, Vec<u8>) {
    let body: String = pairs
        .iter()
        .map(|(k, v)| {
            let enc: String = v
                .bytes()
                .map(|b| if b.is_ascii_alphanumeric() { (b as char).to_string() } else { format!("%{b:02X}") })
                .collect();
            format!("{k}={enc}")
        })
        .collect::<Vec<_>>()
        .join("&");
    ("application/x-www-form-urlencoded".to_string(), body.into_bytes())
}

fn assert_escaped(page: &Page, what: &str) {
    assert!(!page.html.contains("<script>alert"), "{what}: raw script\n{}", page.html);
    assert!(!page.html.contains("<img src=x"), "{what}: raw img\n{}", page.html);
    assert!(!page.html.contains('\u{202E}'), "{what}: raw RTL override");
    assert!(page.csp.starts_with("default-src 'none'") && !page.csp.contains("unsafe"), "{what}: {}", page.csp);
}

#[tokio::test]
async fn console_sessions_csrf_roles_and_escaping() {
    let api = api("pangkalpinang").await;
    let helpdesk = member(&api, Role::Helpdesk);
    let kadis = member(&api, Role::Kadis);
    let teknisi = member(&api, Role::Teknisi);

    // Without a session, or with a forged one: off to the sign-in page.
    let page = console(&api, "GET", "/konsol", None, None).await;
    assert_eq!((page.status, page.location.as_str()), (303, "http://127.0.0.1:9/staf/konsol/masuk"), "{}", page.html);
    // The sign-in page: its script, the identity provider's two endpoints, and a CSP that
    // lets the script reach only ourselves and the token endpoint.
    let hop = console(&api, "GET", "/konsol/masuk", None, None).await;
    assert_eq!(hop.status, 200);
    assert!(hop.html.contains("data-token=\"http://127.0.0.1:9/_local/token\""), "{}", hop.html);
    assert!(
        hop.html
            .contains("data-login=\"http://127.0.0.1:9/_local/login?client_id=loket-local&amp;response_type=code\"")
    );
    assert!(hop.html.contains("/konsol/masuk.js\"></script>"));
    let csp = &hop.csp;
    assert!(csp.contains("script-src 'self'") && csp.contains("connect-src 'self' http://127.0.0.1:9;"), "{csp}");
    let cookie = sign_in(&api, &helpdesk, &[Role::Helpdesk]).await;
    let (name, value) = cookie.split_once('=').expect("cookie");
    let (payload, sig) = value.split_once('.').expect("signed");
    let forged = format!("{name}={payload}.{}", "0".repeat(sig.len()));
    assert_eq!(console(&api, "GET", "/konsol", Some(&forged), None).await.status, 303);
    assert_eq!(call(&api, "POST", "/api/staff/session", None, None).await.0, 401, "no verified token, no session");

    // A request with hostile content, entered through the console itself.
    let page = console(&api, "GET", "/konsol/baru", Some(&cookie), None).await;
    let csrf = csrf_of(&page.html);
    let hostile_unit = "\"><img src=x onerror=alert(1)> Dinas \u{202E}Kesehatan";
    let page = console(
        &api,
        "POST",
        "/konsol/baru",
        Some(&cookie),
        Some(form_encode(&[
            ("csrf", &csrf),
            ("kunci", &unique_name("consolekey")),
            ("saluran", "letter"),
            ("layanan", "jaringan-intra-kota"),
            ("nama", "<script>alert('nama')</script>"),
            ("unit", hostile_unit),
            ("email", "hostile@dinkes.go.id"),
            ("perihal", "<script>alert('x')</script> jaringan"),
            ("uraian", "Surat nomor 5/2026\n<img src=x onerror=alert(2)>"),
        ])),
    )
    .await;
    assert_eq!(page.status, 303, "{}", page.html);
    assert!(page.location.contains("/konsol/tiket/JIP-") && page.location.ends_with("?info=baru"), "{}", page.location);
    let number = page.location.rsplit('/').next().expect("number").split('?').next().expect("number").to_string();

    // Every page escapes it.
    let queue = console(&api, "GET", "/konsol", Some(&cookie), None).await;
    assert_eq!(queue.status, 200);
    assert!(queue.html.contains(&number) && queue.html.contains("&lt;script&gt;"), "{}", queue.html);
    assert_escaped(&queue, "queue");
    let ticket = console(&api, "GET", &format!("/konsol/tiket/{number}"), Some(&cookie), None).await;
    assert_escaped(&ticket, "ticket");
    assert!(ticket.html.contains("data-aksi=\"complete\""), "the helpdesk may receive it");
    let search = console(&api, "GET", "/konsol/cari?q=Dinas", Some(&cookie), None).await;
    assert!(search.html.contains(&number), "{}", search.html);
    assert_escaped(&search, "search");
    let by_email = console(&api, "GET", "/konsol/cari?q=hostile%40dinkes.go.id", Some(&cookie), None).await;
    assert!(by_email.html.contains(&number), "{}", by_email.html);
    let by_number =
        console(&api, "GET", &format!("/konsol/cari?q={}", number.to_lowercase()), Some(&cookie), None).await;
    assert_eq!(by_number.status, 303);

    // CSRF: a form without the session's value is refused; another session's value too.
    let csrf = csrf_of(&ticket.html);
    let step = [("versi", "1"), ("aksi", "complete"), ("langkah", "penerimaan")];
    let path = format!("/konsol/tiket/{number}");
    let page = console(&api, "POST", &path, Some(&cookie), Some(form_encode(&step))).await;
    assert_eq!(page.status, 403);
    let other = sign_in(&api, &helpdesk, &[Role::Helpdesk]).await;
    let with = |csrf: &str| {
        let mut pairs = vec![("csrf", csrf.to_string())];
        pairs.extend(step.iter().map(|(k, v)| (*k, v.to_string())));
        pairs
    };
    let pairs: Vec<(&str, String)> = with(&csrf);
    let borrowed: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (*k, v.as_str())).collect();
    assert_eq!(console(&api, "POST", &path, Some(&other), Some(form_encode(&borrowed))).await.status, 403);

    // The technician may not take the Helpdesk's step: the state machine's message.
    let tech = sign_in(&api, &teknisi, &[Role::Teknisi]).await;
    let tech_page = console(&api, "GET", &path, Some(&tech), None).await;
    assert!(!tech_page.html.contains("data-aksi=\"complete\""), "no button for a step that is not mine");
    let tech_csrf = csrf_of(&tech_page.html);
    let pairs = with(&tech_csrf);
    let borrowed: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let refused = console(&api, "POST", &path, Some(&tech), Some(form_encode(&borrowed))).await;
    assert_eq!(refused.status, 403, "{}", refused.html);
    assert!(refused.html.contains("Helpdesk"), "{}", refused.html);

    // The Helpdesk receives it; the Kadis approves (multipart, as the page posts it).
    let pairs = with(&csrf);
    let borrowed: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let done = console(&api, "POST", &path, Some(&cookie), Some(form_encode(&borrowed))).await;
    assert_eq!(done.status, 303, "{}", done.html);
    let boss = sign_in(&api, &kadis, &[Role::Kadis]).await;
    let boss_page = console(&api, "GET", &path, Some(&boss), None).await;
    assert!(boss_page.html.contains("data-aksi=\"decide\""));
    let boss_csrf = csrf_of(&boss_page.html);
    let decided = console(
        &api,
        "POST",
        &path,
        Some(&boss),
        Some(loket_tests::multipart_files(
            &[
                ("csrf", &boss_csrf),
                ("versi", "2"),
                ("aksi", "decide"),
                ("langkah", "keputusan-kadis"),
                ("keputusan", "setuju"),
                ("alasan", ""),
            ],
            &[],
        )),
    )
    .await;
    assert_eq!(decided.status, 303, "{}", decided.html);
    let ticket = api.store.get(&number.parse().expect("number")).await.expect("ticket");
    assert_eq!(ticket.current_step(), Some("analisis"));

    // A document that is not a PDF/JPG/PNG is refused with the reason; nothing moves.
    let tech_page = console(&api, "GET", &path, Some(&tech), None).await;
    let tech_csrf = csrf_of(&tech_page.html);
    let refused = console(
        &api,
        "POST",
        &path,
        Some(&tech),
        Some(loket_tests::multipart_files(
            &[("csrf", &tech_csrf), ("versi", "3"), ("aksi", "complete"), ("langkah", "analisis")],
            &[("dok_lampiran", "virus.pdf", b"MZ\x90\x00 not a pdf")],
        )),
    )
    .await;
    assert_eq!(refused.status, 415, "{}", refused.html);
    assert!(refused.html.contains("PDF, JPG, atau PNG"));
    // Missing required fields: the step's own message.
    let missing = console(
        &api,
        "POST",
        &path,
        Some(&tech),
        Some(loket_tests::multipart_files(
            &[("csrf", &tech_csrf), ("versi", "3"), ("aksi", "complete"), ("langkah", "analisis")],
            &[],
        )),
    )
    .await;
    assert_eq!(missing.status, 422, "{}", missing.html);
    // A post with a file that cannot be taken (a stale version; a role the step is not
    // for) is refused before the file is kept.
    for (who, csrf, versi, status) in [(&tech, &tech_csrf, "2", 409), (&boss, &boss_csrf, "3", 403)] {
        let refused = console(
            &api,
            "POST",
            &path,
            Some(who),
            Some(loket_tests::multipart_files(
                &[("csrf", csrf), ("versi", versi), ("aksi", "complete"), ("langkah", "analisis")],
                &[("dok_lampiran", "denah.pdf", PDF)],
            )),
        )
        .await;
        assert_eq!(refused.status, status, "{}", refused.html);
    }
    let unchanged = api.store.get(&number.parse().expect("number")).await.expect("ticket");
    assert!(unchanged.documents.is_empty() && unchanged.version == 3);
    // The technician asks the requester; the answer comes by phone and the Helpdesk's
    // colleague at the step records it: the clock runs again.
    let asked = console(
        &api,
        "POST",
        &path,
        Some(&tech),
        Some(loket_tests::multipart_files(
            &[("csrf", &tech_csrf), ("versi", "3"), ("aksi", "request_info"), ("pertanyaan", "Lantai berapa?")],
            &[],
        )),
    )
    .await;
    assert_eq!(asked.status, 303, "{}", asked.html);
    let waiting = console(&api, "GET", &path, Some(&tech), None).await;
    assert!(waiting.html.contains("data-aksi=\"answer_received\""), "{}", waiting.html);
    let answered = console(
        &api,
        "POST",
        &path,
        Some(&tech),
        Some(loket_tests::multipart_files(
            &[
                ("csrf", &tech_csrf),
                ("versi", "4"),
                ("aksi", "answer_received"),
                ("jawaban", "Lantai 2, lewat telepon"),
            ],
            &[],
        )),
    )
    .await;
    assert_eq!(answered.status, 303, "{}", answered.html);
    let resumed = api.store.get(&number.parse().expect("number")).await.expect("ticket");
    assert!(!resumed.is_waiting_on_requester());
    // With the fields and a real PDF it moves on.
    let moved = console(
        &api,
        "POST",
        &path,
        Some(&tech),
        Some(loket_tests::multipart_files(
            &[
                ("csrf", &tech_csrf),
                ("versi", "5"),
                ("aksi", "complete"),
                ("langkah", "analisis"),
                ("isian_lokasi", "Gedung A"),
                ("isian_jumlah_pengguna", "12"),
                ("isian_aplikasi", "SIMPEG"),
                ("isian_daftar_perangkat", "router, switch"),
            ],
            // Two files of one name in one post (phone photos all called image.jpg): both kept.
            &[("dok_lampiran", "denah.pdf", PDF), ("dok_lampiran", "denah.pdf", b"%PDF-1.4\n% the second one\n")],
        )),
    )
    .await;
    assert_eq!(moved.status, 303, "{}", moved.html);
    let ticket = api.store.get(&number.parse().expect("number")).await.expect("ticket");
    assert_eq!(ticket.current_step(), Some("persiapan"));
    let denah: Vec<&loket_domain::ticket::Document> =
        ticket.documents.iter().filter(|d| d.name == "denah.pdf").collect();
    assert_eq!(denah.len(), 2, "{:?}", ticket.documents);
    assert!(denah[0].key != denah[1].key && denah.iter().all(|d| d.content_type == "application/pdf"));

    // The ticket page links each document; the link is a short-lived presigned S3 GET,
    // for signed-in staff only, that shows the PDF in place under its own name.
    let index = ticket.documents.iter().position(|d| d.name == "denah.pdf").expect("denah");
    let document_path = format!("/konsol/tiket/{number}/dokumen/{index}");
    let shown = console(&api, "GET", &path, Some(&tech), None).await;
    assert!(shown.html.contains(&format!("{document_path}\">denah.pdf</a>")), "{}", shown.html);
    let opened = console(&api, "GET", &document_path, Some(&cookie), None).await;
    assert_eq!(opened.status, 303, "{}", opened.html);
    assert!(opened.location.contains("X-Amz-Signature=") && opened.location.contains("X-Amz-Expires=300"));
    let file = loket_tests::http_bytes("GET", &opened.location, &[], b"");
    assert_eq!(file.status, 200, "{}", String::from_utf8_lossy(&file.body));
    assert_eq!(file.body, PDF);
    assert_eq!(file.header("content-type"), Some("application/pdf"));
    let disposition = file.header("content-disposition").unwrap_or_default();
    assert!(disposition.starts_with("inline;") && disposition.contains("denah.pdf"), "{disposition}");
    // Without a session: the sign-in page; past the end of the list: not found.
    let anonymous = console(&api, "GET", &document_path, None, None).await;
    assert_eq!(anonymous.status, 303);
    assert!(anonymous.location.ends_with("/konsol/masuk"), "{}", anonymous.location);
    let past = console(&api, "GET", &format!("/konsol/tiket/{number}/dokumen/99"), Some(&tech), None).await;
    assert_eq!(past.status, 404);
    let bogus = console(&api, "GET", &format!("/konsol/tiket/{number}/dokumen/x"), Some(&tech), None).await;
    assert_eq!(bogus.status, 404);

    // Reports: for supervisors; charts and CSV.
    assert_eq!(console(&api, "GET", "/konsol/laporan", Some(&cookie), None).await.status, 403);
    let report = console(&api, "GET", "/konsol/laporan", Some(&boss), None).await;
    assert_eq!(report.status, 200);
    assert!(report.html.contains("<svg") && report.html.contains("Unduh CSV"), "{}", report.html);
    assert_escaped(&report, "report");
    let csv = handle(&api, console_request("GET", "/konsol/laporan.csv", Some(&boss), None), Timestamp::now()).await;
    assert_eq!(csv.headers()["content-type"], "text/csv; charset=utf-8");

    // Signing out clears the cookie.
    let out = console(&api, "POST", "/konsol/keluar", Some(&cookie), Some(form_encode(&[("csrf", &csrf)]))).await;
    assert_eq!(out.status, 200);
    assert!(out.set_cookie.contains("Max-Age=0"), "{}", out.set_cookie);
}

#[tokio::test]
async fn console_report_shows_service_a_against_its_eight_hour_standard() {
    let api = api("gorontalo").await;
    let number = enter(&api, "jaringan-intra-provinsi", "pic@diskes.gorontaloprov.go.id").await;
    let end = walk(&api, &number, &|_| "setuju").await;
    assert_eq!(end["status"], "done");
    let kadis = sign_in(&api, &member(&api, Role::Kadis), &[Role::Kadis]).await;
    let report = console(&api, "GET", "/konsol/laporan", Some(&kadis), None).await;
    assert_eq!(report.status, 200);
    assert!(
        report.html.contains("Waktu layanan keseluruhan") && report.html.contains("Standar 8 jam"),
        "{}",
        report.html
    );
    assert!(report.html.contains("Pemanfaatan Jaringan Intra Pemerintah"), "{}", report.html);
    assert_escaped(&report, "report");
}

#[tokio::test]
async fn console_quarantine_lists_opens_and_releases_set_aside_mail() {
    let api = api("pangkalpinang").await;
    let helpdesk = sign_in(&api, &member(&api, Role::Helpdesk), &[Role::Helpdesk]).await;
    let teknisi = sign_in(&api, &member(&api, Role::Teknisi), &[Role::Teknisi]).await;
    let id = unique_name("quarantined").to_lowercase();
    let raw_key = format!("raw/{id}");
    let raw = "From: Sari Dewi <sari@dinkes.pangkalpinangkota.go.id>\r\nTo: layanan@kominfo.pangkalpinangkota.go.id\r\n\
               Subject: Undeliverable: laporan ke BKN <script>alert(1)</script>\r\nMessage-ID: <q-1@dinkes>\r\n\
               Content-Type: text/plain\r\n\r\nEmail kami ke BKN gagal terkirim sejak pagi. Mohon dicek.\r\n";
    api.files.put(&raw_key, raw.as_bytes().to_vec(), "message/rfc822").await.expect("raw mail");
    let record = Quarantined {
        id: id.clone(),
        at: Timestamp::now(),
        reason: "bounce: bounce subject 'undeliverable'; not about a mail we sent".into(),
        raw_key,
        from: "sari@dinkes.pangkalpinangkota.go.id".into(),
        subject: "Undeliverable: laporan ke BKN <script>alert(1)</script> \u{202E}".into(),
        released_as: None,
    };
    api.store.quarantine(&record).await.expect("quarantine");
    let day = record.day();

    // Over the Helpdesk's queue, a line says mail was set aside; not over a technician's.
    let queue = console(&api, "GET", "/konsol", Some(&helpdesk), None).await;
    assert!(queue.html.contains("1 email dikarantina sejak kemarin."), "{}", queue.html);
    let queue = console(&api, "GET", "/konsol", Some(&teknisi), None).await;
    assert!(!queue.html.contains("dikarantina"), "{}", queue.html);

    // The list: for the Helpdesk, escaped; not for a technician (no link, 403).
    let list = console(&api, "GET", "/konsol/karantina", Some(&helpdesk), None).await;
    assert_eq!(list.status, 200, "{}", list.html);
    assert_escaped(&list, "quarantine list");
    assert!(list.html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"), "{}", list.html);
    assert!(list.html.contains(&format!("/konsol/karantina/{day}/{id}\">Lihat email</a>")), "{}", list.html);
    assert!(list.html.contains(">Karantina</a>"));
    let refused = console(&api, "GET", "/konsol/karantina", Some(&teknisi), None).await;
    assert_eq!(refused.status, 403);
    assert!(!refused.html.contains(">Karantina</a>"));
    let raw_path = format!("/konsol/karantina/{day}/{id}");
    assert_eq!(console(&api, "GET", &raw_path, Some(&teknisi), None).await.status, 403);

    // The raw message, through a short-lived link, as a download.
    let opened = console(&api, "GET", &raw_path, Some(&helpdesk), None).await;
    assert_eq!(opened.status, 303, "{}", opened.html);
    let file = loket_tests::http_bytes("GET", &opened.location, &[], b"");
    assert_eq!((file.status, file.body.as_slice()), (200, raw.as_bytes()));
    assert!(file.header("content-disposition").unwrap_or_default().starts_with("attachment;"));
    for missing in [format!("/konsol/karantina/{day}/nope"), format!("/konsol/karantina/2026-13-45/{id}")] {
        assert_eq!(console(&api, "GET", &missing, Some(&helpdesk), None).await.status, 404, "{missing}");
    }

    // A ticket from it: the entry form comes filled in from the mail.
    let form = console(&api, "GET", &format!("/konsol/baru?karantina={day}/{id}"), Some(&helpdesk), None).await;
    assert_eq!(form.status, 200, "{}", form.html);
    assert_escaped(&form, "entry from quarantine");
    for expected in [
        "value=\"Sari Dewi\"",
        "value=\"sari@dinkes.pangkalpinangkota.go.id\"",
        "gagal terkirim sejak pagi",
        "<option value=\"email\" selected>",
        &format!("name=\"karantina\" value=\"{day}/{id}\""),
    ] {
        assert!(form.html.contains(expected), "{expected}\n{}", form.html);
    }
    let created = console(
        &api,
        "POST",
        "/konsol/baru",
        Some(&helpdesk),
        Some(form_encode(&[
            ("csrf", &csrf_of(&form.html)),
            ("kunci", &unique_name("fromquarantine")),
            ("karantina", &format!("{day}/{id}")),
            ("saluran", "email"),
            ("layanan", "gangguan-internet-disposisi"),
            ("nama", "Sari Dewi"),
            ("unit", "Dinas Kesehatan"),
            ("email", "sari@dinkes.pangkalpinangkota.go.id"),
            ("perihal", "Email ke BKN gagal terkirim"),
            ("uraian", "Email kami ke BKN gagal terkirim sejak pagi."),
        ])),
    )
    .await;
    assert_eq!(created.status, 303, "{}", created.html);
    let number = created.location.split("/tiket/").nth(1).and_then(|r| r.split('?').next()).expect("number");
    let ticket = api.store.get(&number.parse().expect("number")).await.expect("ticket");
    assert_eq!(ticket.channel, loket_domain::ticket::Channel::Email);
    let list = console(&api, "GET", "/konsol/karantina", Some(&helpdesk), None).await;
    assert!(
        list.html.contains(&format!("Sudah menjadi tiket <a href=\"http://127.0.0.1:9/staf/konsol/tiket/{number}\">")),
        "{}",
        list.html
    );
    // Made once: the form is not filled again from it, and the record keeps the first ticket.
    let again = console(&api, "GET", &format!("/konsol/baru?karantina={day}/{id}"), Some(&helpdesk), None).await;
    assert!(again.html.contains(&format!("Email ini sudah dijadikan tiket {number}.")), "{}", again.html);
    assert!(!again.html.contains("gagal terkirim sejak pagi"));
    let other: loket_domain::TicketNumber = "GJI-2026-999999".parse().expect("number");
    assert!(!api.store.release_quarantined(&day, &id, &other).await.expect("release"));
    let kept = api.store.quarantined(&day).await.expect("quarantine");
    let record = kept.iter().find(|q| q.id == id).expect("record");
    assert_eq!(record.released_as.as_ref().map(|n| n.as_str()), Some(number));
    let queue = console(&api, "GET", "/konsol", Some(&helpdesk), None).await;
    assert!(!queue.html.contains("dikarantina sejak kemarin"), "made a ticket: no longer waiting");
}

#[tokio::test]
async fn the_koordinator_takes_the_requesters_letter_as_the_steps_document() {
    let api = api("gorontalo").await;
    let wf = loket_domain::Workflow::new(&api.catalog, &api.agency);
    let requester = loket_domain::ticket::Requester {
        email: Some("pic@diskes.gorontaloprov.go.id".into()),
        name: "PIC".into(),
        unit: "Dinas Kesehatan".into(),
        phone: None,
    };
    let now = Timestamp::now();
    let created = loket_domain::ports::create_once(&api.store, &unique_name("letter"), "JIP", 2026, |number| {
        let letter = loket_domain::ticket::Document {
            kind: "lampiran".into(),
            name: "surat-permohonan.pdf".into(),
            content_type: "application/pdf".into(),
            size: PDF.len() as u64,
            key: format!("attachments/requests/{number}/0-surat-permohonan.pdf"),
            uploaded_at: now,
            public: true,
        };
        let applied = wf.open(loket_domain::workflow::NewTicket {
            number,
            procedure: "jaringan-intra-provinsi".into(),
            actor: loket_domain::ticket::Actor::requester(&requester),
            requester: requester.clone(),
            channel: loket_domain::ticket::Channel::Web,
            subject: "Permohonan jaringan intra".into(),
            description: String::new(),
            fields: BTreeMap::new(),
            documents: vec![letter],
            token_hash: String::new(),
            related: Vec::new(),
            mail_in: None,
            at: now,
        })?;
        Ok((applied, Vec::new()))
    })
    .await
    .expect("create");
    let loket_domain::ports::Created::New(applied, _) = created else { panic!("duplicate") };
    let number = applied.ticket.number.clone();
    let key = applied.ticket.documents[0].key.clone();
    let path = format!("/konsol/tiket/{number}");

    let koordinator = sign_in(&api, &member(&api, Role::Koordinator), &[Role::Koordinator]).await;
    let shown = console(&api, "GET", &path, Some(&koordinator), None).await;
    assert!(shown.html.contains("data-aksi=\"use_document\""), "{}", shown.html);
    assert!(shown.html.contains("<option value=\"surat_permohonan\">Surat permohonan</option>"), "{}", shown.html);
    let csrf = csrf_of(&shown.html);
    let version = applied.ticket.version.to_string();
    let taken = console(
        &api,
        "POST",
        &path,
        Some(&koordinator),
        Some(form_encode(&[
            ("csrf", &csrf),
            ("versi", &version),
            ("aksi", "use_document"),
            ("langkah", "pemeriksaan-kelengkapan"),
            ("dokumen", &key),
            ("jenis", "surat_permohonan"),
        ])),
    )
    .await;
    assert_eq!(taken.status, 303, "{}", taken.html);
    let ticket = api.store.get(&number).await.expect("ticket");
    assert_eq!(ticket.document_of_kind("surat_permohonan").map(|d| d.key.as_str()), Some(key.as_str()));
    // Now the step completes without an upload.
    let csrf = csrf_of(&console(&api, "GET", &path, Some(&koordinator), None).await.html);
    let version = ticket.version.to_string();
    let done = console(
        &api,
        "POST",
        &path,
        Some(&koordinator),
        Some(form_encode(&[
            ("csrf", &csrf),
            ("versi", &version),
            ("aksi", "complete"),
            ("langkah", "pemeriksaan-kelengkapan"),
        ])),
    )
    .await;
    assert_eq!(done.status, 303, "{}", done.html);
    let moved = api.store.get(&number).await.expect("ticket");
    assert_eq!(moved.current_step(), Some("keputusan-kadis"));
}
