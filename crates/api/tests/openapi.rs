//! The OpenAPI document: generated from the handlers, committed as `schema/openapi.json`, and
//! naming every route SPEC-2 lists with the answers it gives.

use std::path::PathBuf;

use serde_json::Value;

fn committed_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../schema/openapi.json")
}

fn document_text() -> String {
    let mut text = runbook_api::openapi()
        .to_pretty_json()
        .expect("the document serializes");
    text.push('\n');
    text
}

#[test]
fn committed_openapi_is_current() {
    let path = committed_path();
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    if committed != document_text() {
        if std::env::var_os("RUNBOOK_UPDATE_SCHEMA").is_some() {
            std::fs::write(&path, document_text()).expect("write the document");
        } else {
            panic!(
                "{} is out of date: run this test with RUNBOOK_UPDATE_SCHEMA=1 \
                 (`RUNBOOK_UPDATE_SCHEMA=1 cargo test -p runbook-api --test openapi`)",
                path.display()
            );
        }
    }
}

#[test]
fn every_route_of_the_spec_is_documented_with_its_answers() {
    let document: Value = serde_json::from_str(&document_text()).expect("JSON");
    assert!(
        document["openapi"]
            .as_str()
            .unwrap_or_default()
            .starts_with("3."),
        "{}",
        document["openapi"]
    );
    let expected = [
        ("get", "/api/v1/runs", &["200", "400", "401"][..]),
        (
            "post",
            "/api/v1/runs",
            &[
                "200", "202", "400", "401", "403", "404", "409", "413", "422", "429",
            ],
        ),
        ("get", "/api/v1/runs/{id}", &["200", "401", "404"]),
        ("get", "/api/v1/runs/{id}/events", &["200", "401", "404"]),
        (
            "post",
            "/api/v1/runs/{id}/cancel",
            &["200", "401", "403", "404", "409"],
        ),
        ("get", "/api/v1/approvals", &["200", "401"]),
        (
            "post",
            "/api/v1/approvals/{run_id}/{step_id}",
            &["200", "400", "401", "403", "404", "409"],
        ),
        ("get", "/api/v1/playbooks", &["200", "401"]),
        ("get", "/api/v1/schedules", &["200", "401"]),
        ("get", "/api/v1/audit", &["200", "401", "403"]),
        ("get", "/api/v1/openapi.json", &["200", "401"]),
        (
            "post",
            "/hooks/{path}",
            &["200", "202", "400", "401", "404", "413", "422", "429"],
        ),
    ];
    let paths = document["paths"].as_object().expect("paths");
    let mut documented = 0;
    for item in paths.values() {
        documented += item.as_object().map_or(0, |methods| methods.len());
    }
    assert_eq!(
        documented,
        expected.len(),
        "{:?}",
        paths.keys().collect::<Vec<_>>()
    );
    for (method, path, statuses) in expected {
        let operation = &document["paths"][path][method];
        assert!(operation.is_object(), "{method} {path} is not documented");
        for status in statuses {
            assert!(
                operation["responses"][status].is_object(),
                "{method} {path} does not document {status}"
            );
        }
        // OpenAPI requires a description on every response.
        for (status, response) in operation["responses"].as_object().expect("responses") {
            assert!(
                response["description"]
                    .as_str()
                    .is_some_and(|text| !text.is_empty()),
                "{method} {path} {status} has no description"
            );
        }
        // Every API route takes a token; a hook takes its trigger's signature instead.
        let secured = operation["security"][0]["token"].is_array();
        assert_eq!(secured, !path.starts_with("/hooks/"), "{method} {path}");
    }
    assert_eq!(
        document["components"]["securitySchemes"]["token"]["scheme"],
        "bearer"
    );
}
