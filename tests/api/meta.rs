//! `/healthz`, `/openapi.json`, unknown routes: what a client or a dashboard sees.

use std::process::Command;

use serde_json::Value;

use crate::emulators::repo_root;
use crate::helpers::{header, problem, TestApp};

#[tokio::test]
async fn healthz_answers_ok_without_touching_any_upstream() {
    let app = TestApp::spawn_without_upstreams().await;
    let response = app
        .http
        .get(app.url("/healthz"))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 200);
    assert_eq!(header(&response, "x-content-type-options"), "nosniff");
    assert!(!header(&response, "cache-status").is_empty());
    let body: Value = response.json().await.expect("json");
    assert_eq!(body, serde_json::json!({"status": "ok"}));
}

#[tokio::test]
async fn the_openapi_document_is_valid_openapi_3_1_and_describes_every_route() {
    let app = TestApp::spawn().await;
    let response = app
        .http
        .get(app.url("/openapi.json"))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 200);
    let text = response.text().await.expect("body");
    let doc: Value = serde_json::from_str(&text).expect("json");
    assert!(doc["openapi"]
        .as_str()
        .is_some_and(|v| v.starts_with("3.1")));
    for (path, method) in [
        ("/executions", "post"),
        ("/executions/sync", "post"),
        ("/executions/wait", "post"),
        ("/executions/{executionArn}", "get"),
        ("/healthz", "get"),
        ("/openapi.json", "get"),
        ("/webhooks", "post"),
        ("/webhooks", "get"),
        ("/webhooks/{id}", "get"),
        ("/webhooks/{id}", "delete"),
        ("/webhooks/{id}/secret", "post"),
        ("/webhooks/{id}/deliveries", "get"),
        ("/webhooks/{id}/deliveries/{deliveryId}/retry", "post"),
        ("/workflows", "get"),
        ("/workflows/{workflow}", "get"),
        ("/workflows/{workflow}/executions", "post"),
        ("/workflows/{workflow}/executions", "get"),
        ("/workflows/{workflow}/executions/sync", "post"),
        ("/workflows/{workflow}/executions/wait", "post"),
    ] {
        assert!(
            doc["paths"][path][method].is_object(),
            "{method} {path} is described"
        );
    }
    let file = std::env::temp_dir().join(format!("openapi-{}.json", std::process::id()));
    std::fs::write(&file, &text).expect("write");
    let python = repo_root().join(".venv/bin/python");
    let validated = Command::new(python)
        .args(["-m", "openapi_spec_validator"])
        .arg(&file)
        .output()
        .expect("run openapi-spec-validator");
    let _ = std::fs::remove_file(&file);
    assert!(
        validated.status.success(),
        "openapi-spec-validator: {}{}",
        String::from_utf8_lossy(&validated.stdout),
        String::from_utf8_lossy(&validated.stderr)
    );
}

#[tokio::test]
async fn unknown_routes_and_methods_answer_problem_json() {
    let app = TestApp::spawn().await;
    let missing = app
        .http
        .get(app.url("/nope"))
        .send()
        .await
        .expect("request");
    problem(missing, 404).await;
    let wrong = app
        .http
        .delete(app.url("/healthz"))
        .send()
        .await
        .expect("request");
    problem(wrong, 405).await;
}

/// Every answer carries `nosniff` and a `Cache-Status`, whether the result route goes through the
/// shared layers (CORS configured) or not (it sets them itself): hits, misses, client errors,
/// its 405, unknown routes.
#[tokio::test]
async fn every_answer_carries_nosniff_and_cache_status_with_and_without_cors() {
    for cors in [false, true] {
        let app = TestApp::spawn_with(false, |env| {
            if cors {
                env.insert(
                    "CORS_ALLOWED_ORIGINS".into(),
                    "https://ops.example.com".into(),
                );
            }
        })
        .await;
        let arn = app
            .finished(&serde_json::json!({"name": "Hdr", "echo": [1], "delaySeconds": 0}))
            .await;
        let requests = [
            ("GET", format!("/executions/{arn}")),
            ("GET", format!("/executions/{arn}")),
            ("GET", "/executions/not-an-arn".to_owned()),
            ("POST", format!("/executions/{arn}")),
            ("GET", "/no-such-route".to_owned()),
        ];
        let mut statuses = Vec::new();
        for (method, path) in &requests {
            let response = app
                .http
                .request(method.parse().expect("method"), app.url(path))
                .send()
                .await
                .expect("request");
            statuses.push(response.status().as_u16());
            assert_eq!(
                header(&response, "x-content-type-options"),
                "nosniff",
                "{method} {path} (cors {cors})"
            );
            assert!(
                header(&response, "cache-status").starts_with("sfn-results;"),
                "{method} {path} (cors {cors})"
            );
        }
        assert_eq!(statuses, [200, 200, 400, 405, 404], "cors {cors}");
    }
}
