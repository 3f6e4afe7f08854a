//! `infra/template.yaml` against the code: the table and its indexes equal the schema in
//! `loket_aws::dynamo::schema`, and every function names a workspace binary and sets
//! exactly the environment that binary reads.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The template as JSON, read with the SAM translator's YAML loader (which knows the
/// CloudFormation tags), from the pinned MiniStack venv that `make test` installs.
fn template() -> Value {
    let python = std::env::var_os("LOKET_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join(".venv/ministack/bin/python"));
    assert!(python.exists(), "{} is missing: run `make test` (it installs the venv)", python.display());
    let out = Command::new(&python)
        .arg("-c")
        .arg("import json, sys\nfrom samtranslator.yaml_helper import yaml_parse\nprint(json.dumps(yaml_parse(open(sys.argv[1]).read())))")
        .arg(root().join("infra/template.yaml"))
        .output()
        .expect("run python");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).expect("template JSON")
}

fn resources_of_type<'a>(template: &'a Value, kind: &str) -> Vec<(&'a String, &'a Value)> {
    template["Resources"].as_object().expect("resources").iter().filter(|(_, r)| r["Type"] == kind).collect()
}

/// Order-insensitive form of a list of objects, keyed by one field.
fn by_key(list: &Value, key: &str) -> BTreeMap<String, Value> {
    list.as_array().expect("list").iter().map(|v| (v[key].as_str().expect("key").to_string(), v.clone())).collect()
}

#[test]
fn the_table_is_the_schema() {
    let template = template();
    let tables = resources_of_type(&template, "AWS::DynamoDB::Table");
    assert_eq!(tables.len(), 1, "one table");
    let actual = &tables[0].1["Properties"];
    let expected = loket_aws::dynamo::schema::cloudformation_properties();
    assert_eq!(actual["BillingMode"], expected["BillingMode"]);
    assert_eq!(actual["KeySchema"], expected["KeySchema"]);
    assert_eq!(
        by_key(&actual["AttributeDefinitions"], "AttributeName"),
        by_key(&expected["AttributeDefinitions"], "AttributeName")
    );
    assert_eq!(
        by_key(&actual["GlobalSecondaryIndexes"], "IndexName"),
        by_key(&expected["GlobalSecondaryIndexes"], "IndexName")
    );
    assert_eq!(actual["TimeToLiveSpecification"], expected["TimeToLiveSpecification"]);
    assert_eq!(actual["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"], true);
    assert_eq!(actual["SSESpecification"]["SSEEnabled"], true);
}

/// Environment variable names a source file reads through `var("…")` / `var_or("…", …)`.
fn names_read(source: &str) -> BTreeSet<(String, bool)> {
    let mut out = BTreeSet::new();
    for (pattern, required) in [("var(\"", true), ("var_or(\"", false)] {
        let mut rest = source;
        while let Some(i) = rest.find(pattern) {
            let before = rest[..i].chars().next_back();
            rest = &rest[i + pattern.len()..];
            if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
                continue;
            }
            if let Some(end) = rest.find('"') {
                out.insert((rest[..end].to_string(), required));
            }
        }
    }
    out
}

/// The bodies of the `pub fn`s of `settings.rs`, by name.
fn settings_functions() -> BTreeMap<String, String> {
    let source = std::fs::read_to_string(root().join("shared/aws/src/settings.rs")).expect("settings.rs");
    let mut out = BTreeMap::new();
    let source = source.replace("\npub async fn ", "\npub fn ");
    let parts: Vec<&str> = source.split("\npub fn ").collect();
    for part in parts.iter().skip(1) {
        let name: String = part.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
        let body = part.split("\n}\n").next().unwrap_or(part);
        out.insert(name, body.to_string());
    }
    out
}

#[test]
fn every_function_is_a_workspace_binary_with_its_environment() {
    let template = template();
    let globals: BTreeSet<String> = template["Globals"]["Function"]["Environment"]["Variables"]
        .as_object()
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default();
    assert_eq!(template["Globals"]["Function"]["Runtime"], "provided.al2023");
    assert_eq!(template["Globals"]["Function"]["Handler"], "bootstrap");
    let settings = settings_functions();
    let functions = resources_of_type(&template, "AWS::Serverless::Function");
    assert!(!functions.is_empty());
    for (name, resource) in functions {
        assert_eq!(resource["Metadata"]["BuildMethod"], "rust-cargolambda", "{name}");
        let binary =
            resource["Metadata"]["BuildProperties"]["Binary"].as_str().unwrap_or_else(|| panic!("{name}: no Binary"));
        let main = root().join(format!("functions/{binary}/src/main.rs"));
        let source = std::fs::read_to_string(&main).unwrap_or_else(|e| panic!("{name}: {}: {e}", main.display()));
        let manifest =
            std::fs::read_to_string(root().join(format!("functions/{binary}/Cargo.toml"))).expect("Cargo.toml");
        assert!(
            manifest.contains(&format!("name = \"{binary}\"")),
            "{name}: functions/{binary} builds a binary named {binary}"
        );

        let mut read = names_read(&source);
        for (function, body) in &settings {
            if source.contains(&format!("settings::{function}(")) {
                read.extend(names_read(body));
            }
        }
        let own: BTreeSet<String> = resource["Properties"]["Environment"]["Variables"]
            .as_object()
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default();
        let set: BTreeSet<&String> = own.iter().chain(globals.iter()).collect();
        for (var, required) in &read {
            if *required {
                assert!(set.contains(var), "{name} reads {var} but the template does not set it");
            }
        }
        let read_names: BTreeSet<&String> = read.iter().map(|(n, _)| n).collect();
        for var in &own {
            assert!(read_names.contains(var), "{name} sets {var} but {binary} never reads it");
        }
    }
}

/// Every string under `value`.
fn strings_in(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::String(s) => out.push(s.clone()),
        Value::Array(items) => items.iter().for_each(|v| strings_in(v, out)),
        Value::Object(map) => map.values().for_each(|v| strings_in(v, out)),
        _ => {}
    }
}

fn sources_under(dir: &Path, out: &mut String) {
    for entry in std::fs::read_dir(dir).expect("source folder").flatten() {
        let path = entry.path();
        if path.is_dir() {
            sources_under(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push_str(&std::fs::read_to_string(&path).expect("source"));
        }
    }
}

#[test]
fn each_function_may_query_exactly_the_indexes_its_code_queries() {
    // The store methods that read an index (`shared/aws/src/dynamo/store.rs`).
    const QUERIES: [(&str, &str); 5] = [
        (".queue(", "by_queue"),
        (".by_requester(", "by_requester"),
        (".opened_in_month(", "by_month"),
        (".due(", "by_due"),
        (".pending_mail(", "by_outbox"),
    ];
    let template = template();
    for (name, resource) in resources_of_type(&template, "AWS::Serverless::Function") {
        let binary = resource["Metadata"]["BuildProperties"]["Binary"].as_str().expect("binary");
        let mut source = String::new();
        sources_under(&root().join(format!("functions/{binary}/src")), &mut source);
        let queried: BTreeSet<&str> =
            QUERIES.iter().filter(|(call, _)| source.contains(call)).map(|(_, index)| *index).collect();
        let mut strings = Vec::new();
        strings_in(&resource["Properties"]["Policies"], &mut strings);
        let granted: BTreeSet<&str> =
            strings.iter().filter_map(|s| s.split_once("/index/").map(|(_, index)| index)).collect();
        assert_eq!(granted, queried, "{name}: indexes granted (left) and queried by {binary} (right)");
    }
}
