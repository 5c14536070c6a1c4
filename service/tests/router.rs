//! Router tests: the whole `Router` called with `oneshot`, over in-memory fakes of the ports.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::Router;
use serde_json::Value;
use sfn_results::adapters::{InMemoryExecutions, InMemoryStore};
use sfn_results::config::Config;
use sfn_results::domain::{Execution, ExecutionArn, ExecutionStatus, RedriveStatus};
use sfn_results::{router, AppState};
use tower::ServiceExt;

const MACHINE: &str = "arn:aws:states:us-east-1:123456789012:stateMachine:Orders";

struct Fixture {
    executions: InMemoryExecutions,
    store: InMemoryStore,
    app: Router,
}

fn fixture() -> Fixture {
    let config = Config::from_lookup(|name| match name {
        "RESULTS_TABLE" => Some("results".into()),
        "ALLOWED_STATE_MACHINES" => Some(MACHINE.into()),
        "CORS_ALLOWED_ORIGINS" => Some("https://app.example.com".into()),
        _ => None,
    })
    .expect("config");
    let executions = InMemoryExecutions::default();
    let store = InMemoryStore::default();
    let state = AppState::new(
        &config,
        Arc::new(executions.clone()),
        Arc::new(store.clone()),
    );
    Fixture {
        executions,
        store,
        app: router(state),
    }
}

fn execution(name: &str, status: ExecutionStatus) -> Execution {
    let start = SystemTime::now() - Duration::from_secs(5);
    Execution {
        arn: ExecutionArn::parse(&format!(
            "arn:aws:states:us-east-1:123456789012:execution:Orders:{name}"
        ))
        .expect("valid"),
        state_machine_arn: MACHINE.into(),
        status,
        start_date: start,
        stop_date: status
            .is_stopped()
            .then_some(start + Duration::from_secs(2)),
        output: (status == ExecutionStatus::Succeeded).then(|| r#"{"total": 3}"#.to_owned()),
        error: None,
        cause: None,
        redrive_status: RedriveStatus::Unknown,
    }
}

async fn get(app: &Router, uri: &str) -> (StatusCode, axum::http::HeaderMap, Vec<u8>) {
    get_with(app, Request::get(uri).body(Body::empty()).expect("request")).await
}

async fn get_with(
    app: &Router,
    request: Request<Body>,
) -> (StatusCode, axum::http::HeaderMap, Vec<u8>) {
    let response = app.clone().oneshot(request).await.expect("infallible");
    let status = response.status();
    let headers = response.headers().clone();
    let body = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .expect("body");
    (status, headers, body.to_vec())
}

fn path(name: &str) -> String {
    format!("/executions/arn:aws:states:us-east-1:123456789012:execution:Orders:{name}")
}

#[tokio::test]
async fn a_cached_result_is_served_without_asking_step_functions_again() {
    let f = fixture();
    f.executions
        .insert(execution("o-1", ExecutionStatus::Succeeded));
    let (status, headers, first) = get(&f.app, &path("o-1")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers["cache-status"], "sfn-results; fwd=miss; stored");
    let (_, headers, second) = get(&f.app, &path("o-1")).await;
    assert_eq!(headers["cache-status"], "sfn-results; hit");
    assert_eq!(first, second);
    assert_eq!(f.executions.calls(), 1);
    let doc: Value = serde_json::from_slice(&second).expect("json");
    assert_eq!(doc["output"]["total"], 3);
}

#[tokio::test]
async fn a_store_failure_does_not_fail_a_request_step_functions_can_answer() {
    let f = fixture();
    f.executions
        .insert(execution("o-2", ExecutionStatus::Succeeded));
    f.store.set_failing(true);
    let (status, headers, _) = get(&f.app, &path("o-2")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers["cache-status"], "sfn-results; fwd=miss");
}

#[tokio::test]
async fn a_throttled_step_functions_answers_503_unless_the_result_is_cached() {
    let f = fixture();
    f.executions
        .insert(execution("o-3", ExecutionStatus::Succeeded));
    f.executions
        .insert(execution("o-4", ExecutionStatus::Succeeded));
    get(&f.app, &path("o-3")).await;
    f.executions.set_throttled(true);
    let (status, _, _) = get(&f.app, &path("o-3")).await;
    assert_eq!(status, StatusCode::OK);
    let (status, headers, body) = get(&f.app, &path("o-4")).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(headers["retry-after"], "2");
    assert_eq!(headers["content-type"], "application/problem+json");
    let problem: Value = serde_json::from_slice(&body).expect("json");
    assert_eq!(problem["type"], "urn:api-sfn:problem:upstream-unavailable");
    assert!(!problem["detail"]
        .as_str()
        .unwrap_or_default()
        .contains("in-memory"));
}

#[tokio::test]
async fn a_running_execution_is_202_and_never_stored() {
    let f = fixture();
    f.executions
        .insert(execution("o-5", ExecutionStatus::Running));
    let (status, headers, _) = get(&f.app, &path("o-5")).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    assert_eq!(headers["retry-after"], "1");
    assert_eq!(headers["cache-control"], "no-store");
    assert!(f.store.item(&path("o-5")["/executions/".len()..]).is_none());
}

#[tokio::test]
async fn a_redrivable_failure_is_stored_briefly_and_not_immutable() {
    let f = fixture();
    f.executions
        .insert(execution("o-6", ExecutionStatus::Failed));
    let (status, headers, _) = get(&f.app, &path("o-6")).await;
    assert_eq!(status, StatusCode::OK);
    let cache_control = headers["cache-control"].to_str().expect("ascii");
    assert!(
        cache_control.starts_with("private, max-age="),
        "{cache_control}"
    );
    let item = f
        .store
        .item(&path("o-6")["/executions/".len()..])
        .expect("stored");
    assert!(!item.is_final);
    assert!(item.expires_at.is_some());
}

#[tokio::test]
async fn a_not_redrivable_failure_is_final() {
    let f = fixture();
    let mut failed = execution("o-7", ExecutionStatus::TimedOut);
    failed.redrive_status = RedriveStatus::NotRedrivable;
    f.executions.insert(failed);
    let (_, headers, _) = get(&f.app, &path("o-7")).await;
    assert!(headers["cache-control"]
        .to_str()
        .expect("ascii")
        .contains("immutable"));
}

#[tokio::test]
async fn cors_headers_go_only_to_allowed_origins() {
    let f = fixture();
    let allowed = Request::get("/healthz")
        .header("origin", "https://app.example.com")
        .body(Body::empty())
        .expect("request");
    let (_, headers, _) = get_with(&f.app, allowed).await;
    assert_eq!(
        headers["access-control-allow-origin"],
        "https://app.example.com"
    );
    let foreign = Request::get("/healthz")
        .header("origin", "https://evil.example")
        .body(Body::empty())
        .expect("request");
    let (_, headers, _) = get_with(&f.app, foreign).await;
    assert!(headers.get("access-control-allow-origin").is_none());
}

#[tokio::test]
async fn a_foreign_state_machine_is_refused_without_an_upstream_call() {
    let f = fixture();
    let (status, _, _) = get(
        &f.app,
        "/executions/arn:aws:states:us-east-1:123456789012:execution:Payroll:p-1",
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(f.executions.calls(), 0);
}
