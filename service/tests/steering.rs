//! `POST /executions/{arn}/stop` through the whole `Router` (`oneshot`), over in-memory fakes of
//! the ports that count every upstream call.

use std::time::{Duration, SystemTime};

use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::Value;
use sfn_results::adapters::{InMemoryExecutions, InMemoryStore};
use sfn_results::config::Config;
use sfn_results::domain::{Execution, ExecutionArn, ExecutionStatus};
use sfn_results::App;
use sfn_results::{router, AppState, Ports};

mod support;
use support::{call, send, Answer};

const MACHINE: &str = "arn:aws:states:us-east-1:123456789012:stateMachine:Orders";
const PREFIX: &str = "arn:aws:states:us-east-1:123456789012:execution:Orders:";

struct Fixture {
    executions: InMemoryExecutions,
    store: InMemoryStore,
    app: App,
}

fn fixture() -> Fixture {
    let config = Config::from_lookup(|name| match name {
        "RESULTS_TABLE" => Some("results".into()),
        "ALLOWED_STATE_MACHINES" => Some(MACHINE.into()),
        _ => None,
    })
    .expect("config");
    let executions = InMemoryExecutions::default();
    let store = InMemoryStore::default();
    let ports = Ports::in_memory(&executions, &store);
    Fixture {
        app: router(AppState::new(&config, ports)),
        executions,
        store,
    }
}

fn arn(name: &str) -> String {
    format!("{PREFIX}{name}")
}

fn execution(name: &str, status: ExecutionStatus) -> Execution {
    let started = SystemTime::now() - Duration::from_secs(5);
    let execution = Execution::builder(ExecutionArn::parse(&arn(name)).expect("valid"))
        .status(status)
        .started(started);
    match status {
        ExecutionStatus::Running => execution.build(),
        ExecutionStatus::Succeeded => execution
            .ran(Duration::from_secs(2))
            .output(r#"{"total": 3}"#)
            .build(),
        _ => execution.ran(Duration::from_secs(2)).build(),
    }
}

async fn stop(app: &App, name: &str, body: &str) -> Answer {
    stop_arn(app, &arn(name), body).await
}

async fn stop_arn(app: &App, arn: &str, body: &str) -> Answer {
    let request = Request::post(format!("/executions/{arn}/stop"))
        .header("content-type", "application/json")
        .body(Body::from(body.to_owned()))
        .expect("request");
    call(app, request).await
}

async fn get(app: &App, name: &str) -> Answer {
    let request = Request::get(format!("/executions/{}", arn(name)))
        .body(Body::empty())
        .expect("request");
    call(app, request).await
}

#[tokio::test]
async fn a_stop_answers_the_aborted_result_and_every_read_after_it_serves_that() {
    let f = fixture();
    f.executions
        .insert(execution("o-1", ExecutionStatus::Running));
    let stopped = stop(
        &f.app,
        "o-1",
        r#"{"error": "Operator", "cause": "stuck on payment"}"#,
    )
    .await;
    assert_eq!(stopped.status, StatusCode::OK);
    assert_eq!(stopped.body["status"], "ABORTED");
    assert_eq!(stopped.body["executionArn"], arn("o-1"));
    assert_eq!(stopped.body["error"], "Operator");
    assert_eq!(stopped.body["cause"], "stuck on payment");
    assert!(stopped.body["stopDate"].is_string());
    assert_eq!(stopped.headers["cache-control"], "no-store");
    assert_eq!(stopped.headers["location"], format!("../{}", arn("o-1")));
    assert_eq!(f.executions.stops(), 1);
    // Stored at once: another instance reads it from the table.
    let item = f.store.item(&arn("o-1")).expect("stored");
    assert_eq!(item.status, ExecutionStatus::Aborted);
    let reads = f.executions.calls();
    let read = get(&f.app, "o-1").await;
    assert_eq!(read.status, StatusCode::OK);
    assert_eq!(read.body, stopped.body);
    assert_eq!(f.executions.calls(), reads, "the read asked Step Functions");
}

#[tokio::test]
async fn a_stop_whose_read_still_says_running_answers_what_the_stop_recorded() {
    let f = fixture();
    f.executions
        .insert(execution("o-1", ExecutionStatus::Running));
    f.executions.set_reads_lag(true);
    let stopped = stop(&f.app, "o-1", r#"{"error": "Operator"}"#).await;
    assert_eq!(stopped.status, StatusCode::OK);
    assert_eq!(stopped.body["status"], "ABORTED");
    assert_eq!(stopped.body["error"], "Operator");
    assert_eq!(stopped.body["cause"], Value::Null);
    assert!(stopped.body["stopDate"].is_string());
    assert_eq!(
        f.store.item(&arn("o-1")).map(|item| item.status),
        Some(ExecutionStatus::Aborted)
    );
}

#[tokio::test]
async fn a_stopped_execution_gets_409_with_its_result_and_is_not_stopped() {
    let f = fixture();
    f.executions
        .insert(execution("o-1", ExecutionStatus::Succeeded));
    let refused = stop(&f.app, "o-1", "").await;
    assert_eq!(refused.status, StatusCode::CONFLICT);
    assert_eq!(refused.headers["content-type"], "application/problem+json");
    assert_eq!(
        refused.body["type"],
        "urn:api-sfn:problem:execution-not-running"
    );
    assert_eq!(refused.body["executionArn"], arn("o-1"));
    assert_eq!(refused.body["execution"]["status"], "SUCCEEDED");
    assert_eq!(refused.body["execution"]["output"]["total"], 3);
    assert_eq!(refused.headers["location"], format!("../{}", arn("o-1")));
    assert_eq!(f.executions.stops(), 0);
    // What it found is stored, as any read stores it: the next refusal asks nobody.
    let calls = f.executions.calls();
    let again = stop(&f.app, "o-1", "").await;
    assert_eq!(again.status, StatusCode::CONFLICT);
    assert_eq!(again.body["execution"], refused.body["execution"]);
    assert_eq!(f.executions.calls(), calls);
    assert_eq!(f.executions.stops(), 0);
}

#[tokio::test]
async fn a_stored_final_result_refuses_the_stop_with_no_upstream_call() {
    let f = fixture();
    f.executions
        .insert(execution("o-1", ExecutionStatus::Succeeded));
    assert_eq!(get(&f.app, "o-1").await.status, StatusCode::OK);
    let calls = f.executions.calls();
    let refused = stop(&f.app, "o-1", "{}").await;
    assert_eq!(refused.status, StatusCode::CONFLICT);
    assert_eq!(f.executions.calls(), calls);
    assert_eq!(f.executions.stops(), 0);
}

#[tokio::test]
async fn an_express_execution_gets_a_clear_400_with_no_upstream_call() {
    let f = fixture();
    let express = "arn:aws:states:us-east-1:123456789012:express:Orders:o-1:5f1c3a52-6f0e-4b6a-9f53-2f0d8b0c7e11";
    let refused = stop_arn(&f.app, express, "").await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        refused.body["type"],
        "urn:api-sfn:problem:execution-type-not-supported"
    );
    assert!(refused.body["detail"]
        .as_str()
        .is_some_and(|d| d.contains("Express")));
    assert_eq!((f.executions.calls(), f.executions.stops()), (0, 0));
}

#[tokio::test]
async fn a_machine_outside_the_allow_list_gets_403_with_no_upstream_call() {
    let f = fixture();
    let foreign = "arn:aws:states:us-east-1:123456789012:execution:Payroll:p-1";
    let refused = stop_arn(&f.app, foreign, "").await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert_eq!(
        refused.body["type"],
        "urn:api-sfn:problem:state-machine-not-allowed"
    );
    assert_eq!((f.executions.calls(), f.executions.stops()), (0, 0));
}

#[tokio::test]
async fn an_unknown_execution_gets_404_and_nothing_is_stopped() {
    let f = fixture();
    let missing = stop(&f.app, "nobody", "").await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert_eq!(
        missing.body["type"],
        "urn:api-sfn:problem:execution-not-found"
    );
    assert_eq!(f.executions.stops(), 0);
}

#[tokio::test]
async fn a_bad_body_gets_400_and_changes_nothing() {
    let f = fixture();
    f.executions
        .insert(execution("o-1", ExecutionStatus::Running));
    let long_error = format!(r#"{{"error": "{}"}}"#, "e".repeat(257));
    for body in [r#"{"reason": "x"}"#, "[1]", "stop it", long_error.as_str()] {
        let refused = stop(&f.app, "o-1", body).await;
        assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(refused.body["type"], "urn:api-sfn:problem:invalid-input");
    }
    assert_eq!((f.executions.calls(), f.executions.stops()), (0, 0));
    assert_eq!(get(&f.app, "o-1").await.body["status"], "RUNNING");
}

#[tokio::test]
async fn step_functions_throttling_a_stop_answers_503_with_retry_after() {
    let f = fixture();
    f.executions
        .insert(execution("o-1", ExecutionStatus::Running));
    f.executions.set_throttled(true);
    let refused = stop(&f.app, "o-1", "").await;
    assert_eq!(refused.status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(refused.headers.contains_key("retry-after"));
    assert_eq!(f.store.item(&arn("o-1")), None);
}

#[tokio::test]
async fn other_actions_are_404_and_a_post_on_the_result_is_405() {
    let f = fixture();
    let other = send(
        &f.app,
        "POST",
        &format!("/executions/{}/pause", arn("o-1")),
        "",
    )
    .await;
    assert_eq!(other.status, StatusCode::NOT_FOUND);
    let on_result = send(&f.app, "POST", &format!("/executions/{}", arn("o-1")), "").await;
    assert_eq!(on_result.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!((f.executions.calls(), f.executions.stops()), (0, 0));
}

/// A stop sent with these browser headers (`Origin`, `Sec-Fetch-Site`) and `Host`.
async fn stop_from(app: &App, name: &str, headers: &[(&str, &str)]) -> Answer {
    let mut request =
        Request::post(format!("/executions/{}/stop", arn(name))).header("host", "api.example.com");
    for (header, value) in headers {
        request = request.header(*header, *value);
    }
    call(app, request.body(Body::empty()).expect("request")).await
}

#[tokio::test]
async fn a_page_of_another_site_cannot_stop_an_execution_but_the_status_page_and_clients_can() {
    let f = fixture();
    for name in ["csrf-1", "csrf-2", "csrf-3"] {
        f.executions
            .insert(execution(name, ExecutionStatus::Running));
    }
    // Cross-site by Fetch Metadata, same-site (another port or subdomain), or an Origin that is
    // not this host (a browser without Fetch Metadata; an opaque "null" origin).
    for headers in [
        vec![
            ("origin", "https://evil.example"),
            ("sec-fetch-site", "cross-site"),
        ],
        vec![
            ("origin", "https://other.example.com"),
            ("sec-fetch-site", "same-site"),
        ],
        vec![("origin", "https://evil.example")],
        vec![("origin", "null")],
    ] {
        let refused = stop_from(&f.app, "csrf-1", &headers).await;
        assert_eq!(refused.status, StatusCode::FORBIDDEN, "{headers:?}");
        assert_eq!(
            refused.body["type"],
            "urn:api-sfn:problem:cross-site-request"
        );
    }
    assert_eq!((f.executions.calls(), f.executions.stops()), (0, 0));
    // The status page itself (same origin), and a client that is not a browser (no headers).
    let page = [
        ("origin", "https://api.example.com"),
        ("sec-fetch-site", "same-origin"),
    ];
    assert_eq!(
        stop_from(&f.app, "csrf-2", &page).await.status,
        StatusCode::OK
    );
    assert_eq!(
        stop_from(&f.app, "csrf-3", &[]).await.status,
        StatusCode::OK
    );
    assert_eq!(f.executions.stops(), 2);
}
