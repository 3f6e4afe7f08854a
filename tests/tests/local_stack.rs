//! End to end through the locally deployed stack, as `make run` runs it: the launcher
//! starts MiniStack, deploys `infra/template.yaml` with the real function binaries, and
//! plays SES inbound over SMTP. The test then acts as a real client: it sends a mail over
//! SMTP, sees the ticket and the acknowledgement, calls the staff API through the
//! emulator's HTTP API with and without a valid token, takes a step, waits for the
//! scheduled SLA check to run, and stops everything.

use std::process::{Command, Stdio};
use std::time::Duration;

use loket_domain::ports::TicketStore;
use loket_tests::http;
use loket_tests::stack::{Launcher, python, send_mail, start, start_for, token, wait_for};
use serde_json::{Value, json};

fn alive(pid: u64) -> bool {
    Command::new("kill").arg("-0").arg(pid.to_string()).stderr(Stdio::null()).status().is_ok_and(|s| s.success())
}

#[tokio::test(flavor = "multi_thread")]
async fn the_deployed_stack_end_to_end() {
    let launcher = start();
    let state = launcher.state.clone();
    let s =
        |path: &str| state.pointer(path).and_then(Value::as_str).unwrap_or_else(|| panic!("state {path}")).to_string();

    // 1. A real SMTP message to the service address.
    let requester = "sari@dinkes.pangkalpinangkota.go.id";
    let mail = format!(
        "From: Sari <{requester}>\nTo: {to}\nSubject: Internet mati di Dinas Kesehatan\nMessage-ID: <e2e-1@dinkes>\n\
         Content-Type: text/plain; charset=utf-8\n\nInternet mati sejak pagi di ruang pelayanan.\n",
        to = s("/smtp/address")
    );
    send_mail(&s("/smtp/host"), state["smtp"]["port"].as_u64().expect("port"), requester, &s("/smtp/address"), &mail);

    // 2. The ticket appears in DynamoDB (the deployed email-intake Lambda wrote it).
    let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(s("/endpoint"))
        .region(aws_config::Region::new(s("/region")))
        .credentials_provider(aws_sdk_dynamodb::config::Credentials::new("test", "test", None, None, "e2e"))
        .load()
        .await;
    let catalog = loket_domain::Catalog::embedded().expect("catalog");
    let store = loket_aws::DynamoTicketStore::new(aws_sdk_dynamodb::Client::new(&config), s("/table_name"), catalog);
    let mut ticket = None;
    for _ in 0..60 {
        if let Some(t) = store.by_requester(requester, 5).await.expect("lookup").into_iter().next() {
            ticket = Some(t);
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let ticket = ticket.expect("a ticket within 30 s");
    let number = ticket.number.to_string();
    assert!(number.starts_with("GJI-"), "{number}");

    // 3. The acknowledgement is in the outbox of sent mail, with the status link.
    let ack = wait_for("the acknowledgement", 30, || {
        let (status, body) = http("GET", &s("/outbox_json_url"), &[], None);
        let outbox: Value = serde_json::from_str(&body).ok()?;
        let messages = outbox["messages"].as_array()?.clone();
        (status == 200).then_some(())?;
        messages.into_iter().find(|m| m.to_string().contains(&format!("[#{number}]")))
    });
    let text = ack.to_string().replace("\\n", "\n");
    let start = text.find("http://").expect("a link in the acknowledgement");
    let link: String = text[start..].chars().take_while(|c| !c.is_whitespace() && *c != '"' && *c != '\\').collect();
    assert!(link.contains(&format!("/status/{number}?t=")), "{link}");

    // The status page, through the emulator's HTTP API (the web port proxies to it).
    let (status, page) = http("GET", &link, &[], None);
    assert_eq!(status, 200, "{page}");
    assert!(page.contains(&number) && page.contains("Disposisi pimpinan"), "{page}");
    let (status, _) = http("GET", &link.replace("?t=", "?t=0"), &[], None);
    assert_eq!(status, 404, "a wrong token");

    // 4. The staff API through the emulator's HTTP API: 401 without a token, 200 with one.
    let api = state["http_apis"][0]["url"].as_str().expect("an HTTP API").trim_end_matches('/').to_string();
    let (status, _) = http("GET", &format!("{api}/api/staff/me"), &[], None);
    assert_eq!(status, 401, "no token");
    let (status, _) = http("GET", &format!("{api}/api/staff/me"), &[("Authorization", "Bearer not.a.token")], None);
    assert_eq!(status, 401, "a bad token");
    let kabid = token(&launcher, "wati");
    let bearer = format!("Bearer {kabid}");
    let (status, me) = http("GET", &format!("{api}/api/staff/me"), &[("Authorization", &bearer)], None);
    assert_eq!(status, 200, "{me}");
    assert!(me.contains("Wati Kepala Bidang"), "{me}");
    let (status, queue) = http("GET", &format!("{api}/api/staff/queue"), &[("Authorization", &bearer)], None);
    assert_eq!(status, 200);
    assert!(queue.contains(&number), "{queue}");
    // The Kabid takes the disposition step; the Kasi's queue then holds the ticket.
    let action = json!({"version": ticket.version, "action": {"action": "complete", "step": "disposisi", "note": "Segera ditindaklanjuti"}}).to_string();
    let (status, body) = http(
        "POST",
        &format!("{api}/api/staff/tickets/{number}/actions"),
        &[("Authorization", &bearer), ("Content-Type", "application/json")],
        Some(&action),
    );
    assert_eq!(status, 200, "{body}");
    let kasi = format!("Bearer {}", token(&launcher, "dedi"));
    let (_, queue) = http("GET", &format!("{api}/api/staff/queue"), &[("Authorization", &kasi)], None);
    assert!(queue.contains(&number), "{queue}");

    // 5. The scheduled SLA check runs (every minute) as deployed.
    let group = s("/log_groups/SlaCheckFunction");
    wait_for("a scheduled SLA check", 150, || {
        let out = Command::new(python())
            .arg("-c")
            .arg(
                "import boto3,sys\nc=boto3.client('logs',endpoint_url=sys.argv[1],region_name=sys.argv[2],aws_access_key_id='test',aws_secret_access_key='test')\n\
                 try:\n print(len(c.describe_log_streams(logGroupName=sys.argv[3]).get('logStreams',[])))\nexcept Exception:\n print(0)",
            )
            .args([s("/endpoint"), s("/region"), group.clone()])
            .output()
            .ok()?;
        let streams: u32 = String::from_utf8_lossy(&out.stdout).trim().parse().ok()?;
        (streams > 0).then_some(())
    });

    // 6. Stop: everything goes away.
    let launcher_pid = state["launcher_pid"].as_u64().expect("pid");
    let ministack_pid = state["ministack_pid"].as_u64().expect("pid");
    drop(launcher);
    wait_for("the launcher and MiniStack to stop", 30, || {
        (!alive(launcher_pid) && !alive(ministack_pid)).then_some(())
    });
}

/// Staff of each role of the stack's agency, and a token for each.
struct Tokens {
    by_role: std::collections::BTreeMap<String, (String, String)>,
}

impl Tokens {
    fn new(launcher: &Launcher, agency: &loket_domain::Agency) -> Tokens {
        let mut by_role = std::collections::BTreeMap::new();
        for member in &agency.staff {
            for role in &member.roles {
                by_role
                    .entry(role.as_str().to_string())
                    .or_insert_with(|| (member.email.clone(), token(launcher, &member.id)));
            }
        }
        Tokens { by_role }
    }

    fn bearer(&self, role: loket_domain::Role) -> String {
        format!(
            "Bearer {}",
            self.by_role.get(role.as_str()).map(|(_, t)| t.as_str()).unwrap_or_else(|| panic!("nobody holds {role}"))
        )
    }
}

fn api_call(api: &str, method: &str, path: &str, bearer: &str, body: Option<Value>) -> (u16, Value) {
    let body = body.map(|b| b.to_string());
    let (status, text) = http(
        method,
        &format!("{api}{path}"),
        &[("Authorization", bearer), ("Content-Type", "application/json")],
        body.as_deref(),
    );
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// Walks one new ticket of `procedure` through the deployed staff API, choosing `choice`
/// at decisions; returns the end status.
fn walk_deployed(
    api: &str,
    tokens: &Tokens,
    catalog: &loket_domain::Catalog,
    procedure: &str,
    choice: &str,
    requester: &str,
) -> String {
    use base64::Engine;
    use loket_domain::Role;
    use loket_domain::sop::{ItemKind, StepKind};
    let entry = json!({"key": format!("e2e-{procedure}-{choice}-{requester}"), "procedure": procedure, "channel": "letter",
                       "name": "PIC", "unit": "Dinas Sosial", "email": requester, "subject": format!("Uji {procedure}")});
    let (status, created) = api_call(api, "POST", "/api/staff/tickets", &tokens.bearer(Role::Helpdesk), Some(entry));
    assert_eq!(status, 201, "{created}");
    let number = created["number"].as_str().expect("number").to_string();
    let definition = catalog.get(procedure).expect("procedure");
    for _ in 0..20 {
        let (status, view) =
            api_call(api, "GET", &format!("/api/staff/tickets/{number}"), &tokens.bearer(Role::Admin), None);
        assert_eq!(status, 200, "{view}");
        let ticket = &view["ticket"];
        if ticket["status"] != "open" {
            return ticket["status"].as_str().unwrap_or_default().to_string();
        }
        let step = definition.step(ticket["current"]["step"].as_str().expect("step")).expect("known step");
        let version = ticket["version"].as_u64().expect("version");
        let role = if step.kind == StepKind::Requester {
            Role::Helpdesk
        } else {
            step.roles.iter().copied().find(|r| r.is_staff()).expect("role")
        };
        let mut fields = serde_json::Map::new();
        let mut documents = Vec::new();
        for item in step.required_items() {
            let id = item.id.clone().expect("id");
            if item.kind == ItemKind::Document {
                let pdf = base64::engine::general_purpose::STANDARD.encode(b"%PDF-1.4\n%%EOF\n");
                let (status, doc) = api_call(
                    api,
                    "POST",
                    &format!("/api/staff/tickets/{number}/documents"),
                    &tokens.bearer(role),
                    Some(json!({"kind": id, "name": format!("{id}.pdf"), "content_base64": pdf})),
                );
                assert_eq!(status, 201, "{doc}");
                documents.push(doc);
            } else {
                fields.insert(id, json!(loket_tests::sample_value(item.kind)));
            }
        }
        let action = if step.is_decision() {
            json!({"action": "decide", "step": step.id, "outcome": choice, "reason": "Anggaran belum tersedia", "fields": fields, "documents": documents})
        } else {
            json!({"action": "complete", "step": step.id, "fields": fields, "documents": documents})
        };
        let (status, body) = api_call(
            api,
            "POST",
            &format!("/api/staff/tickets/{number}/actions"),
            &tokens.bearer(role),
            Some(json!({"version": version, "action": action})),
        );
        assert_eq!(status, 200, "{procedure} {number} {}: {body}", step.id);
    }
    panic!("{number} did not end");
}

#[tokio::test(flavor = "multi_thread")]
async fn every_procedure_through_the_deployed_staff_api() {
    let catalog = loket_domain::Catalog::embedded().expect("catalog");
    for agency_id in ["pangkalpinang", "gorontalo"] {
        let agency = loket_domain::Agency::embedded(agency_id, &catalog).expect("agency");
        let launcher = start_for(agency_id);
        let tokens = Tokens::new(&launcher, &agency);
        let api = launcher.state["http_apis"][0]["url"].as_str().expect("api").trim_end_matches('/').to_string();
        for procedure in agency.procedures(&catalog) {
            let choices: Vec<String> = match procedure.steps.iter().find(|s| s.is_decision()) {
                Some(step) => step.outcomes.iter().map(|o| o.id.clone()).collect(),
                None => vec!["-".to_string()],
            };
            for choice in choices {
                let requester = format!("{}-{choice}@opd.example.go.id", procedure.id);
                let end = walk_deployed(&api, &tokens, &catalog, &procedure.id, &choice, &requester);
                let expected = match choice.as_str() {
                    "tunda" => "postponed",
                    "program" => "planned_work",
                    _ => "done",
                };
                assert_eq!(end, expected, "{agency_id} {} {choice}", procedure.id);
                // The requester's mail in the emulator's sent mail: acknowledgement and ending.
                let (_, sent) = http("GET", launcher.state["outbox_json_url"].as_str().expect("outbox"), &[], None);
                let ending = match expected {
                    "postponed" => "Permohonan ditunda",
                    "planned_work" => "Dimasukkan dalam program kegiatan",
                    _ => "Tiket ditutup",
                };
                let outbox: Value = serde_json::from_str(&sent).unwrap_or(Value::Null);
                let mails = outbox["messages"].as_array().cloned().unwrap_or_default();
                let to_requester = mails
                    .iter()
                    .filter(|m| m.to_string().contains(&requester))
                    .map(|m| m.to_string())
                    .collect::<Vec<_>>()
                    .join("\n");
                assert!(to_requester.contains("Permohonan diterima"), "{agency_id} {}: {to_requester}", procedure.id);
                assert!(to_requester.contains(ending), "{agency_id} {} {choice}: {to_requester}", procedure.id);
            }
        }
    }
}
