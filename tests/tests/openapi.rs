//! The OpenAPI file of the public pages (`functions/form-intake/openapi.yaml`) against the
//! handler, both ways, on the local AWS endpoint:
//!
//! - what the handler answers is documented: for requests that give every documented
//!   status of `POST /api/requests` (and the pages' usual ones), the status is one the
//!   operation lists, the media type is one it lists, the required headers are there
//!   with documented values, and a JSON body validates against the documented schema;
//!   every status documented for the API was seen;
//! - what the file documents, the handler does: a request with every documented
//!   property is taken, every `required` property left out is refused naming it, every
//!   documented length limit holds to the character on both sides, every documented
//!   service and its fields are taken, and the examples fit their schemas.
//!
//! The file is read at test time, so a change to it or to the handler that makes them
//! disagree fails here.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use form_intake::{Deps, handle};
use jiff::Timestamp;
use jsonschema::{Draft, Validator};
use lambda_http::{Body, Response};
use loket_aws::{DynamoTicketStore, S3Uploads, SesMailer};
use loket_domain::Agency;
use loket_domain::mail::compose::Links;
use loket_domain::mail::thread::ThreadKeys;
use loket_domain::ports::{Claim, TicketStore};
use loket_domain::sop::ItemKind;
use loket_domain::ticket::TicketNumber;
use loket_tests::{Scratch, unique_name};
use serde_json::{Map, Value, json};

type Pages = Deps<DynamoTicketStore, SesMailer>;

const API: &str = "/api/requests";
const AGENCY: &str = "pangkalpinang";

// ---- the file ---------------------------------------------------------------------------

struct Spec(Value);

/// A JSON pointer segment.
fn seg(name: &str) -> String {
    name.replace('~', "~0").replace('/', "~1")
}

impl Spec {
    fn load() -> Spec {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../functions/form-intake/openapi.yaml");
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let spec: Value = serde_norway::from_str(&text).expect("openapi.yaml is YAML");
        assert!(spec["openapi"].as_str().is_some_and(|v| v.starts_with("3.1.")), "OpenAPI 3.1");
        Spec(spec)
    }

    fn at(&self, pointer: &str) -> &Value {
        self.0.pointer(pointer).unwrap_or_else(|| panic!("openapi.yaml has nothing at {pointer}"))
    }

    /// The pointer itself, or where its `$ref` leads (local references only).
    fn resolve(&self, pointer: &str) -> String {
        let mut pointer = pointer.to_string();
        while let Some(target) = self.at(&pointer).get("$ref").and_then(Value::as_str) {
            pointer = target.strip_prefix('#').unwrap_or_else(|| panic!("not a local $ref: {target}")).to_string();
        }
        pointer
    }

    /// A validator for the schema at `pointer`, its `$ref`s resolved within the file.
    fn validator(&self, pointer: &str) -> Validator {
        let mut root = self.0.clone();
        // A URI fragment: `{` and `}` of templated paths must be percent-encoded.
        let fragment: String = pointer
            .chars()
            .map(|c| match c {
                '{' => "%7B".to_string(),
                '}' => "%7D".to_string(),
                c => c.to_string(),
            })
            .collect();
        root["$ref"] = json!(format!("#{fragment}"));
        jsonschema::options()
            .with_draft(Draft::Draft202012)
            .should_validate_formats(true)
            .build(&root)
            .unwrap_or_else(|e| panic!("schema at {pointer}: {e}"))
    }

    fn errors(&self, pointer: &str, value: &Value) -> Vec<String> {
        self.validator(pointer).iter_errors(value).map(|e| format!("{} at {}", e, e.instance_path())).collect()
    }

    fn operation(&self, method: &str, path: &str) -> String {
        format!("/paths/{}/{method}", seg(path))
    }

    fn request_schema(&self) -> String {
        self.resolve(&format!("{}/requestBody/content/application~1json/schema", self.operation("post", API)))
    }

    /// Checks one answer of the handler against the operation; its status and JSON body.
    fn check(&self, method: &str, path: &str, response: &Response<Body>) -> (u16, Value) {
        let status = response.status().as_u16();
        let body = String::from_utf8_lossy(response.body().as_ref()).into_owned();
        let responses = format!("{}/responses", self.operation(method, path));
        let Some(_) = self.at(&responses).get(status.to_string()) else {
            panic!("{method} {path} answered {status}, which openapi.yaml does not list: {body}");
        };
        let documented = self.resolve(&format!("{responses}/{status}"));
        let what = format!("{method} {path} {status}");
        // Headers the file says are always there, with the documented values.
        if let Some(headers) = self.at(&documented).get("headers").and_then(Value::as_object) {
            for name in headers.keys() {
                let header = self.resolve(&format!("{documented}/headers/{}", seg(name)));
                if self.at(&header)["required"] != json!(true) {
                    continue;
                }
                let value = response.headers().get(name.as_str()).unwrap_or_else(|| panic!("{what}: no {name}"));
                let value = json!(value.to_str().expect("header text"));
                let errors = self.errors(&format!("{header}/schema"), &value);
                assert!(errors.is_empty(), "{what}: header {name} {value}: {errors:?}");
            }
        }
        let content_type = response.headers().get("content-type").map(|v| v.to_str().expect("content type"));
        let Some(content) = self.at(&documented).get("content").and_then(Value::as_object) else {
            assert!(content_type.is_none() && body.is_empty(), "{what}: documented without a body: {body}");
            return (status, Value::Null);
        };
        let content_type = content_type.unwrap_or_else(|| panic!("{what}: no content-type"));
        let essence = content_type.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
        assert!(content.contains_key(&essence), "{what}: {content_type} is not documented");
        if essence == "text/html" {
            assert!(body.starts_with("<!doctype html>"), "{what}: {body}");
            return (status, Value::Null);
        }
        let json: Value = serde_json::from_str(&body).unwrap_or_else(|e| panic!("{what}: not JSON ({e}): {body}"));
        let errors = self.errors(&format!("{documented}/content/{}/schema", seg(&essence)), &json);
        assert!(errors.is_empty(), "{what}: the body does not fit the documented schema: {errors:?}\n{json}");
        (status, json)
    }
}

// ---- the handler ------------------------------------------------------------------------

/// The pages against the local endpoint; without a table the store fails on every call.
async fn pages(with_table: bool) -> Pages {
    let Scratch { config, dynamo, ses, table, bucket, catalog, agency, .. } = if with_table {
        Scratch::new("loket-openapi", AGENCY).await
    } else {
        Scratch::without_table("loket-openapi", AGENCY).await
    };
    Deps {
        uploads: S3Uploads::new(&config, bucket),
        store: DynamoTicketStore::new(dynamo, table, catalog.clone()),
        mailer: SesMailer::new(ses, agency.service_address.clone()),
        keys: ThreadKeys::new(b"openapi-test-secret-0123456789".to_vec()).expect("keys"),
        links: Links { public_base: "http://127.0.0.1:9".into(), console_base: "http://127.0.0.1:9".into() },
        catalog,
        agency,
    }
}

fn request(
    method: &str,
    path: &str,
    query: &str,
    content_type: &str,
    body: Option<String>,
    ip: &str,
) -> lambda_http::Request {
    let parameters: Map<String, Value> =
        query.split('&').filter_map(|p| p.split_once('=')).map(|(k, v)| (k.to_string(), json!(v))).collect();
    let event = json!({
        "version": "2.0", "routeKey": "$default", "rawPath": path, "rawQueryString": query,
        "queryStringParameters": if parameters.is_empty() { Value::Null } else { Value::Object(parameters) },
        "headers": {"content-type": content_type, "host": "api.local"},
        "requestContext": {"accountId": "0", "apiId": "api", "domainName": "api.local", "domainPrefix": "api",
            "http": {"method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": ip, "userAgent": "t"},
            "requestId": "r", "routeKey": "$default", "stage": "$default", "time": "x", "timeEpoch": 0},
        "body": body, "isBase64Encoded": false
    });
    lambda_http::request::from_str(&event.to_string()).expect("request")
}

/// `POST /api/requests` with a raw body from `ip`, checked against the file.
async fn post_raw(spec: &Spec, pages: &Pages, body: &str, ip: &str) -> (u16, Value) {
    let response =
        handle(pages, request("POST", API, "", "application/json", Some(body.to_string()), ip), Timestamp::now()).await;
    spec.check("post", API, &response)
}

/// The same with a JSON body, which must fit the request schema when `valid`, and must
/// not fit it otherwise: the file and the handler agree on what is a good request.
async fn post(spec: &Spec, pages: &Pages, body: &Value, valid: bool, ip: &str) -> (u16, Value) {
    let errors = spec.errors(&spec.request_schema(), body);
    assert_eq!(errors.is_empty(), valid, "the request schema on {body}: {errors:?}");
    post_raw(spec, pages, &body.to_string(), ip).await
}

fn key() -> String {
    unique_name("kunci")
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .chain("0123456789abcdef".chars())
        .take(40)
        .collect()
}

fn email(prefix: &str) -> String {
    format!("{}@dinkes.go.id", unique_name(prefix).to_lowercase())
}

/// A request that uses every property the file documents.
fn full(email: &str) -> Value {
    json!({
        "kunci": key(),
        "layanan": "gangguan-internet-disposisi",
        "unit": "lainnya",
        "unit_lain": "Kelurahan Bukit Besar",
        "nama": "Sari Wulandari",
        "email": email,
        "telepon": "+62 (812) 3456-7890",
        "lokasi": "Gedung A lantai 2",
        "uraian": "Internet mati sejak pagi di ruang pelayanan.\nSemua loket terdampak.",
        "fields": {"sejak": "2026-05-04T07:45", "dampak": "10 komputer loket"},
    })
}

fn without(body: &Value, names: &[&str]) -> Value {
    let mut body = body.clone();
    for name in names {
        body.as_object_mut().expect("object").remove(*name);
    }
    body
}

fn with(body: &Value, name: &str, value: Value) -> Value {
    let mut body = body.clone();
    body[name] = value;
    body
}

fn problems(body: &Value) -> BTreeSet<String> {
    body["fields"].as_object().map(|f| f.keys().cloned().collect()).unwrap_or_default()
}

/// Where the handler reports a problem with a property.
fn reported_as(property: &str) -> &str {
    if property == "unit_lain" { "unit" } else { property }
}

// ---- the tests --------------------------------------------------------------------------

#[tokio::test]
async fn every_answer_of_the_json_api_is_documented() {
    let spec = Spec::load();
    let pages = pages(true).await;
    let mut seen = BTreeSet::new();
    let ip = "192.0.2.10";

    // Good, with every documented property.
    let person = email("semua");
    let good = full(&person);
    let documented = spec.at(&format!("{}/properties", spec.request_schema())).as_object().expect("properties");
    for name in documented.keys() {
        assert!(good.get(name).is_some(), "the full request leaves out the documented property {name}");
    }
    let (status, created) = post(&spec, &pages, &good, true, ip).await;
    assert_eq!(status, 201, "{created}");
    seen.insert(status);
    let number: TicketNumber = created["number"].as_str().expect("number").parse().expect("a ticket number");
    let ticket = pages.store.get(&number).await.expect("the ticket");
    assert_eq!(ticket.requester.unit, "Kelurahan Bukit Besar");
    assert_eq!(ticket.requester.phone.as_deref(), Some("+62 (812) 3456-7890"));
    assert_eq!(ticket.requester.email.as_deref(), Some(person.as_str()));
    for (field, value) in
        [("lokasi", "Gedung A lantai 2"), ("sejak", "2026-05-04T07:45"), ("dampak", "10 komputer loket")]
    {
        assert_eq!(ticket.fields.get(field).map(String::as_str), Some(value), "{field}");
    }

    // The same again: the same ticket.
    let (status, duplicate) = post(&spec, &pages, &good, true, ip).await;
    assert_eq!((status, &duplicate["number"]), (200, &created["number"]));
    seen.insert(status);

    // Several fields wrong at once: one message each.
    let wrong = json!({
        "kunci": key(), "layanan": "jaringan-intra-kota", "nama": "   ", "email": "sari@@dinkes",
        "telepon": "0812 abc", "lokasi": "x".repeat(201), "uraian": "pendek", "fields": {"jumlah_pengguna": "banyak"},
    });
    let (status, invalid) = post(&spec, &pages, &wrong, false, ip).await;
    assert_eq!(status, 422);
    seen.insert(status);
    let expected: BTreeSet<String> =
        ["unit", "nama", "email", "telepon", "lokasi", "uraian", "fields"].map(String::from).into();
    assert_eq!(problems(&invalid), expected, "{invalid}");
    let (status, invalid) = post(&spec, &pages, &with(&good, "layanan", json!("tidak-ada")), false, ip).await;
    assert_eq!((status, problems(&invalid)), (422, ["layanan".to_string()].into()));

    // Not JSON, not an object (an array too), a wrong type: 400 bad_request.
    for raw in ["{not json", "", "null", "\"text\"", "[]", "[\"a\", \"b\"]", &with(&good, "nama", json!(5)).to_string()]
    {
        let (status, refused) = post_raw(&spec, &pages, raw, ip).await;
        assert_eq!((status, refused["code"].as_str()), (400, Some("bad_request")), "{raw}");
        seen.insert(status);
    }
    let (status, _) = post(&spec, &pages, &with(&good, "fields", json!({"dampak": 10})), false, ip).await;
    assert_eq!(status, 400);
    // A field the service does not have (here one a staff step fills) is refused, not stored.
    // (The schema takes any field id; which ones a service has is the handler's check.)
    let (status, refused) =
        post(&spec, &pages, &with(&good, "fields", json!({"hasil_speedtest": "100 Mbps"})), true, ip).await;
    assert_eq!((status, problems(&refused)), (422, ["fields".to_string()].into()), "{refused}");
    assert!(refused["fields"]["fields"].as_str().is_some_and(|m| m.contains("hasil_speedtest")), "{refused}");

    // A bad key: 400 bad_key.
    for bad in ["pendek", "0123456789abcdef-0123", &"a".repeat(65)] {
        let (status, refused) = post(&spec, &pages, &with(&good, "kunci", json!(bad)), false, ip).await;
        assert_eq!((status, refused["code"].as_str()), (400, Some("bad_key")), "{bad}");
    }

    // Another call with this key is still running: 409.
    let busy_key = key();
    assert!(matches!(pages.store.claim(&format!("form:{busy_key}"), Timestamp::now()).await, Ok(Claim::Fresh(_))));
    let (status, refused) =
        post(&spec, &pages, &with(&full(&email("sibuk")), "kunci", json!(busy_key)), true, ip).await;
    assert_eq!((status, refused["code"].as_str()), (409, Some("in_progress")));
    seen.insert(status);

    // Over the per-email limit, changing nothing but the key: 429.
    let limit = usize::try_from(pages.agency.max_new_tickets_per_sender_per_hour).expect("limit");
    let many = full(&email("banyak"));
    for i in 0..limit {
        let (status, body) = post(&spec, &pages, &with(&many, "kunci", json!(key())), true, "192.0.2.11").await;
        assert_eq!(status, 201, "{i}: {body}");
    }
    let (status, refused) = post(&spec, &pages, &with(&many, "kunci", json!(key())), true, "192.0.2.11").await;
    assert_eq!((status, refused["code"].as_str()), (429, Some("rate_limited")));
    seen.insert(status);

    // The store cannot be reached: 503.
    let broken = self::pages(false).await;
    let (status, refused) = post(&spec, &broken, &full(&email("putus")), true, ip).await;
    assert_eq!((status, refused["code"].as_str()), (503, Some("unavailable")));
    seen.insert(status);

    let listed: BTreeSet<u16> = spec
        .at(&format!("{}/responses", spec.operation("post", API)))
        .as_object()
        .expect("responses")
        .keys()
        .map(|s| s.parse().expect("a status code"))
        .collect();
    assert_eq!(seen, listed, "every documented status, and no other, was answered");
}

#[tokio::test]
async fn what_the_file_documents_the_handler_takes() {
    let spec = Spec::load();
    let pages = pages(true).await;
    let schema = spec.request_schema();
    let ip = "192.0.2.20";
    let good = full(&email("batas"));

    // Every required property, left out: refused, naming it (the key is checked last,
    // on its own: 400 bad_key).
    let required: Vec<&str> =
        spec.at(&format!("{schema}/required")).as_array().expect("required").iter().filter_map(Value::as_str).collect();
    assert!(required.contains(&"kunci") && required.contains(&"email"), "{required:?}");
    for name in &required {
        let (status, refused) = post(&spec, &pages, &without(&good, &[name]), false, ip).await;
        if *name == "kunci" {
            assert_eq!((status, refused["code"].as_str()), (400, Some("bad_key")));
        } else {
            assert_eq!(status, 422, "{name}: {refused}");
            assert!(problems(&refused).contains(reported_as(name)), "{name}: {refused}");
        }
    }
    // A unit is needed, from the list or as free text.
    let (status, refused) = post(&spec, &pages, &without(&good, &["unit", "unit_lain"]), false, ip).await;
    assert_eq!((status, problems(&refused)), (422, ["unit".to_string()].into()));
    let (status, refused) = post(&spec, &pages, &without(&good, &["unit_lain"]), false, ip).await;
    assert_eq!((status, problems(&refused)), (422, ["unit".to_string()].into()), "`lainnya` without a name");
    let (status, _) =
        post(&spec, &pages, &with(&without(&good, &["unit_lain"]), "unit", json!("Dinas Sosial")), true, ip).await;
    assert_eq!(status, 201);

    // Every documented length, to the character: at the limit taken, one past refused.
    let properties = spec.at(&format!("{schema}/properties")).as_object().expect("properties");
    let text = |name: &str, n: usize| -> String {
        match name {
            "email" => format!("{}@dinkes.go.id", "a".repeat(n.saturating_sub(13))),
            "telepon" => "1".repeat(n),
            "kunci" => "K".repeat(n),
            _ => "x".repeat(n),
        }
    };
    let limits = |keyword: &str| -> Vec<(String, usize)> {
        properties
            .iter()
            .filter_map(|(name, p)| Some((name.clone(), usize::try_from(p.get(keyword)?.as_u64()?).ok()?)))
            .collect()
    };
    let (longest, shortest) = (limits("maxLength"), limits("minLength"));
    assert!(longest.len() >= 7 && !shortest.is_empty(), "{longest:?} {shortest:?}");
    for (bounds, past) in [(&longest, 1_isize), (&shortest, -1)] {
        let mut at_limit = with(&good, "kunci", json!(key()));
        for (name, n) in bounds.iter().filter(|(name, _)| name != "kunci") {
            at_limit[name] = json!(text(name, *n));
        }
        let (status, body) = post(&spec, &pages, &at_limit, true, ip).await;
        assert_eq!(status, 201, "every property at its documented limit: {body}");
        for (name, n) in bounds.iter() {
            let Some(n) = n.checked_add_signed(past) else { continue };
            let (status, body) = post(&spec, &pages, &with(&good, name, json!(text(name, n))), false, ip).await;
            if name == "kunci" {
                assert_eq!((status, body["code"].as_str()), (400, Some("bad_key")), "{name} at {n}");
            } else {
                assert_eq!(status, 422, "{name} at {n}: {body}");
                assert!(problems(&body).contains(reported_as(name)), "{name} at {n}: {body}");
            }
        }
    }

    // Every documented service: the agencies' procedures and `lainnya`, no other.
    let services: BTreeSet<String> = spec
        .at(&format!("{schema}/properties/layanan/enum"))
        .as_array()
        .expect("enum")
        .iter()
        .filter_map(|v| v.as_str().map(String::from))
        .collect();
    let mut offered: BTreeSet<String> = ["lainnya".to_string()].into();
    for id in Agency::embedded_ids() {
        offered.extend(Agency::embedded(id, &pages.catalog).expect("agency").procedures);
    }
    assert_eq!(services, offered, "layanan: the procedures the agencies offer, and lainnya");

    // Each service of this agency with its own fields, as documented; a number that is not one.
    let documented_fields = spec.at(&format!("{schema}/properties/fields/properties")).as_object().expect("fields");
    let mut each: Vec<(String, BTreeMap<String, String>)> = vec![("lainnya".into(), BTreeMap::new())];
    for procedure in pages.agency.procedures(&pages.catalog) {
        let mut fields = BTreeMap::new();
        for field in &procedure.fields {
            let Some(id) = field.id.as_deref() else { continue };
            assert!(documented_fields.contains_key(id), "{}: field {id} is not documented", procedure.id);
            let value = if field.kind == ItemKind::Number { "25" } else { "Aplikasi SIMPEG, ruang 2" };
            fields.insert(id.to_string(), value.to_string());
            if field.kind == ItemKind::Number {
                let mut bad = with(&good, "layanan", json!(procedure.id));
                bad["fields"] = json!({id: "dua puluh"});
                let (status, body) = post(&spec, &pages, &bad, false, ip).await;
                assert_eq!((status, problems(&body)), (422, ["fields".to_string()].into()), "{}", procedure.id);
            }
        }
        each.push((procedure.id.clone(), fields));
    }
    for (service, fields) in each {
        let mut body = with(&good, "kunci", json!(key()));
        body["layanan"] = json!(service);
        body["fields"] = json!(fields);
        let (status, created) = post(&spec, &pages, &body, true, ip).await;
        assert_eq!(status, 201, "{service}: {created}");
        let number: TicketNumber = created["number"].as_str().expect("number").parse().expect("number");
        let ticket = pages.store.get(&number).await.expect("ticket");
        for (id, value) in &fields {
            assert_eq!(ticket.fields.get(id), Some(value), "{service}: {id}");
        }
    }
}

#[test]
fn the_examples_fit_their_schemas() {
    let spec = Spec::load();
    let mut checked = 0;
    for (path, item) in spec.at("/paths").as_object().expect("paths") {
        for (method, operation) in item.as_object().expect("path item") {
            if method == "parameters" {
                continue;
            }
            let at = spec.operation(method, path);
            let mut media = Vec::new();
            if operation.get("requestBody").is_some() {
                media.push(format!("{at}/requestBody"));
            }
            for status in operation["responses"].as_object().expect("responses").keys() {
                media.push(spec.resolve(&format!("{at}/responses/{status}")));
            }
            for owner in media {
                let Some(content) = spec.at(&owner).get("content").and_then(Value::as_object) else { continue };
                for (media_type, object) in content {
                    let schema = format!("{owner}/content/{}/schema", seg(media_type));
                    let examples = object.get("examples").and_then(Value::as_object);
                    if media_type == "application/json" {
                        assert!(examples.is_some_and(|e| !e.is_empty()), "{owner}: a JSON body without an example");
                    }
                    for (name, example) in examples.into_iter().flatten() {
                        let errors = spec.errors(&schema, &example["value"]);
                        assert!(errors.is_empty(), "{owner} example {name}: {errors:?}");
                        checked += 1;
                    }
                }
            }
        }
    }
    assert!(checked >= 9, "{checked} examples");
}

#[tokio::test]
async fn the_pages_answer_as_documented() {
    let spec = Spec::load();
    let pages = pages(true).await;
    let ip = "192.0.2.30";
    let html = "application/x-www-form-urlencoded";
    let call = |method: &str, path: &str, query: &str, body: Option<&str>| {
        request(method, path, query, html, body.map(String::from), ip)
    };
    let response = handle(&pages, call("GET", "/", "", None), Timestamp::now()).await;
    assert_eq!(spec.check("get", "/", &response).0, 200);
    let response = handle(&pages, call("POST", "/permohonan", "", Some("nama=Sari")), Timestamp::now()).await;
    assert_eq!(spec.check("post", "/permohonan", &response).0, 422);
    let response =
        handle(&pages, call("POST", "/permohonan", "", Some("situs=http%3A%2F%2Fspam")), Timestamp::now()).await;
    assert_eq!(spec.check("post", "/permohonan", &response).0, 400);

    // A ticket made through the API; its status page, its form, the return from an upload.
    let (status, created) = post(&spec, &pages, &full(&email("halaman")), true, ip).await;
    assert_eq!(status, 201);
    let url = created["status_url"].as_str().expect("status_url");
    let (path, query) =
        url.strip_prefix(pages.links.public_base.as_str()).expect("under the base").split_once('?').expect("query");
    let number = created["number"].as_str().expect("number");
    let status_path = "/status/{number}";
    let response = handle(&pages, call("GET", path, query, None), Timestamp::now()).await;
    assert_eq!(spec.check("get", status_path, &response).0, 200);
    let csp = response.headers()["content-security-policy"].to_str().expect("csp");
    assert!(csp.contains("form-action 'self' http"), "the upload form's origin is allowed: {csp}");
    let unknown = format!("/status/GNG-2026-999999?{query}");
    let (unknown_path, unknown_query) = unknown.split_once('?').expect("query");
    let response = handle(&pages, call("GET", unknown_path, unknown_query, None), Timestamp::now()).await;
    assert_eq!(spec.check("get", status_path, &response).0, 404);
    let token = query.strip_prefix("t=").expect("t");
    let form = format!("t={token}&csrf=palsu&pesan=halo");
    let response = handle(&pages, call("POST", path, "", Some(&form)), Timestamp::now()).await;
    assert_eq!(spec.check("post", status_path, &response).0, 403);
    let response = handle(&pages, call("POST", unknown_path, "", Some(&form)), Timestamp::now()).await;
    assert_eq!(spec.check("post", status_path, &response).0, 404);

    let upload_path = "/status/{number}/lampiran";
    let missing = format!("{query}&key=incoming/{number}/{}/hilang.pdf", "b".repeat(32));
    let response = handle(&pages, call("GET", &format!("{path}/lampiran"), &missing, None), Timestamp::now()).await;
    assert_eq!(spec.check("get", upload_path, &response).0, 303);
    let elsewhere = format!("{query}&key=incoming/GNG-2026-999999/{}/x.pdf", "b".repeat(32));
    let response = handle(&pages, call("GET", &format!("{path}/lampiran"), &elsewhere, None), Timestamp::now()).await;
    assert_eq!(spec.check("get", upload_path, &response).0, 404);
}
