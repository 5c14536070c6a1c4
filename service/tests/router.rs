//! Router tests: the whole `Router` called with `oneshot`, over in-memory fakes of the ports.

use std::time::{Duration, SystemTime};

use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::Value;
use sfn_results::adapters::{InMemoryExecutions, InMemoryStore};
use sfn_results::config::Config;
use sfn_results::domain::{Execution, ExecutionArn, ExecutionStatus, RedriveStatus, Results};
use sfn_results::App;
use sfn_results::{router, AppState, Ports};
use tower::ServiceExt;

const MACHINE: &str = "arn:aws:states:us-east-1:123456789012:stateMachine:Orders";

struct Fixture {
    executions: InMemoryExecutions,
    store: InMemoryStore,
    results: Results,
    app: App,
}

fn fixture() -> Fixture {
    fixture_with(true)
}

/// Without CORS (and without debug logging) hot hits are answered before routing.
fn fixture_with(cors: bool) -> Fixture {
    let config = Config::from_lookup(|name| match name {
        "RESULTS_TABLE" => Some("results".into()),
        "ALLOWED_STATE_MACHINES" => Some(MACHINE.into()),
        "CORS_ALLOWED_ORIGINS" => cors.then(|| "https://app.example.com".into()),
        "START_STATE_MACHINE" => Some(MACHINE.into()),
        _ => None,
    })
    .expect("config");
    let executions = InMemoryExecutions::default();
    let store = InMemoryStore::default();
    let ports = Ports::in_memory(&executions, &store);
    let state = AppState::new(&config, ports);
    Fixture {
        executions,
        store,
        results: state.results.clone(),
        app: router(state),
    }
}

fn execution(name: &str, status: ExecutionStatus) -> Execution {
    let arn = ExecutionArn::parse(&format!(
        "arn:aws:states:us-east-1:123456789012:execution:Orders:{name}"
    ))
    .expect("valid");
    let execution = Execution::builder(arn)
        .status(status)
        .started(SystemTime::now() - Duration::from_secs(5))
        .ran(Duration::from_secs(2));
    if status == ExecutionStatus::Succeeded {
        execution.output(r#"{"total": 3}"#).build()
    } else {
        execution.build()
    }
}

async fn get(app: &App, uri: &str) -> (StatusCode, axum::http::HeaderMap, Vec<u8>) {
    get_with(app, Request::get(uri).body(Body::empty()).expect("request")).await
}

async fn get_with(
    app: &App,
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
    assert_eq!(headers["cache-status"], "sfn-results; fwd=miss");
    let (_, headers, second) = get(&f.app, &path("o-1")).await;
    assert_eq!(headers["cache-status"], "sfn-results; hit; detail=memory");
    assert_eq!(first, second);
    assert_eq!(f.executions.calls(), 1);
    let doc: Value = serde_json::from_slice(&second).expect("json");
    assert_eq!(doc["output"]["total"], 3);
}

#[tokio::test]
async fn a_hot_hit_answered_before_routing_is_the_routed_answer() {
    for cors in [false, true] {
        let f = fixture_with(cors);
        f.executions
            .insert(execution("o-1", ExecutionStatus::Succeeded));
        let (_, miss, first) = get(&f.app, &path("o-1")).await;
        let (status, hit, second) = get(&f.app, &path("o-1")).await;
        assert_eq!(status, StatusCode::OK, "cors {cors}");
        assert_eq!(hit["cache-status"], "sfn-results; hit; detail=memory");
        assert_eq!(hit["x-content-type-options"], "nosniff");
        for name in ["etag", "cache-control", "content-type"] {
            assert_eq!(hit[name], miss[name], "{name}, cors {cors}");
        }
        assert_eq!(first, second);
        let conditional = Request::get(path("o-1"))
            .header("if-none-match", hit["etag"].clone())
            .body(Body::empty())
            .expect("request");
        let (status, headers, body) = get_with(&f.app, conditional).await;
        assert_eq!(status, StatusCode::NOT_MODIFIED, "cors {cors}");
        assert_eq!(headers["x-content-type-options"], "nosniff");
        assert!(body.is_empty());
        // Not hot hits: routed, and answered as before.
        let head = Request::head(path("o-1"))
            .body(Body::empty())
            .expect("request");
        let (status, headers, body) = get_with(&f.app, head).await;
        assert_eq!((status, body.len()), (StatusCode::OK, 0), "cors {cors}");
        assert_eq!(headers["etag"], hit["etag"]);
        let (status, headers, _) = get(&f.app, &format!("{}/more", path("o-1"))).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "cors {cors}");
        assert_eq!(headers["x-content-type-options"], "nosniff");
        let post = Request::post(path("o-1"))
            .body(Body::empty())
            .expect("request");
        let (status, _, _) = get_with(&f.app, post).await;
        assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED, "cors {cors}");
        assert_eq!(f.executions.calls(), 1, "cors {cors}");
    }
}

#[tokio::test]
async fn a_hot_hit_carries_every_header_of_the_routed_answer_but_date_and_cache_status() {
    let f = fixture_with(false);
    f.executions
        .insert(execution("o-9", ExecutionStatus::Succeeded));
    get(&f.app, &path("o-9")).await;
    let without = |mut headers: axum::http::HeaderMap| {
        headers.remove("date");
        headers.remove("cache-status");
        headers
    };
    // The raw ARN is a hot hit, answered before routing; percent-encoded, the same ARN is routed
    // through every layer, and answered from the same memory.
    let (status, hot, hot_body) = get(&f.app, &path("o-9")).await;
    let encoded = path("o-9").replacen("arn:aws", "arn%3Aaws", 1);
    let (routed_status, routed, routed_body) = get(&f.app, &encoded).await;
    assert_eq!((status, routed_status), (StatusCode::OK, StatusCode::OK));
    assert_eq!(without(hot.clone()), without(routed.clone()));
    assert_eq!(hot_body, routed_body);
    for (name, value) in [
        ("x-content-type-options", "nosniff"),
        ("cache-status", "sfn-results; hit; detail=memory"),
    ] {
        assert_eq!(hot[name], value);
        assert_eq!(routed[name], value);
    }
    assert_eq!(f.executions.calls(), 1);
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
    f.results.flush_writes().await;
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
    f.results.flush_writes().await;
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

#[tokio::test]
async fn five_hundred_concurrent_first_fetches_make_one_describe_and_cached_fetches_none() {
    let f = fixture();
    f.executions
        .insert(execution("o-8", ExecutionStatus::Succeeded));
    f.executions.set_delay(Duration::from_millis(50));
    let uri = path("o-8");
    let fetches = (0..500).map(|_| get(&f.app, &uri));
    let answers = futures_util::future::join_all(fetches).await;
    assert!(answers
        .iter()
        .all(|(status, _, body)| *status == StatusCode::OK && *body == answers[0].2));
    assert_eq!(f.executions.calls(), 1);
    for _ in 0..1000 {
        get(&f.app, &path("o-8")).await;
    }
    assert_eq!(f.executions.calls(), 1);
}

#[tokio::test(start_paused = true)]
async fn waiters_share_one_describe_per_second_and_see_completion_within_a_second() {
    let f = fixture();
    f.executions
        .insert(execution("o-9", ExecutionStatus::Running));
    let waiters = (0..50).map(|_| {
        let app = f.app.clone();
        tokio::spawn(async move { get(&app, &format!("{}?wait=20", path("o-9"))).await })
    });
    let waiters: Vec<_> = waiters.collect();
    tokio::time::sleep(Duration::from_millis(5_500)).await;
    let arn = &path("o-9")["/executions/".len()..];
    f.executions.update(arn, |e| {
        e.status = ExecutionStatus::Succeeded;
        e.stop_date = Some(SystemTime::now());
        e.output = Some("{}".into());
    });
    let finished_at = tokio::time::Instant::now();
    for waiter in waiters {
        let (status, headers, _) = waiter.await.expect("join");
        assert_eq!(status, StatusCode::OK);
        assert_eq!(headers["preference-applied"], "wait=20");
    }
    assert!(
        finished_at.elapsed() <= Duration::from_secs(1),
        "{:?}",
        finished_at.elapsed()
    );
    // One read when they arrive, then one per tick for about six ticks.
    let calls = f.executions.calls();
    assert!(
        (6..=8).contains(&calls),
        "{calls} DescribeExecution calls for 50 waiters over ~6 s"
    );
}

#[tokio::test(start_paused = true)]
async fn start_and_wait_answers_202_with_location_when_the_execution_outlasts_the_wait() {
    let f = fixture();
    let request = Request::post("/executions/wait?wait=2&name=slow-1")
        .body(Body::from(r#"{"n": 1}"#))
        .expect("request");
    let (status, headers, body) = get_with(&f.app, request).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    assert_eq!(
        headers["location"],
        "./arn:aws:states:us-east-1:123456789012:execution:Orders:slow-1"
    );
    let doc: Value = serde_json::from_slice(&body).expect("json");
    assert_eq!(doc["status"], "RUNNING");
}

#[tokio::test]
async fn start_and_wait_refuses_bad_input_and_a_reused_name_with_other_input() {
    let f = fixture();
    let post =
        |uri: &str, body: &'static str| Request::post(uri).body(Body::from(body)).expect("request");
    let (status, _, _) = get_with(&f.app, post("/executions/wait?wait=0", "{not json")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _, _) = get_with(&f.app, post("/executions/wait?wait=0&name=a%20b", "{}")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _, _) = get_with(
        &f.app,
        post("/executions/wait?wait=0&name=n-1", r#"{"a":1}"#),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let (status, _, _) = get_with(
        &f.app,
        post("/executions/wait?wait=0&name=n-1", r#"{ "a": 1 }"#),
    )
    .await;
    assert_eq!(
        status,
        StatusCode::ACCEPTED,
        "same name, same input: an idempotent retry"
    );
    let (status, _, body) = get_with(
        &f.app,
        post("/executions/wait?wait=0&name=n-1", r#"{"a":2}"#),
    )
    .await;
    assert_eq!(
        status,
        StatusCode::CONFLICT,
        "{}",
        String::from_utf8_lossy(&body)
    );
    let big = Request::post("/executions/wait?wait=0")
        .body(Body::from(vec![b' '; 256 * 1024 + 1]))
        .expect("request");
    let (status, headers, _) = get_with(&f.app, big).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(headers["content-type"], "application/problem+json");
}

#[tokio::test]
async fn a_zero_wait_behind_another_instances_lease_answers_once_the_lease_is_over() {
    use sfn_results::domain::ReadCoordination;
    let f = fixture();
    let uri = path("o-lease");
    let arn = ExecutionArn::parse(&uri["/executions/".len()..]).expect("arn");
    // Another instance is reading it (and, say, died doing so).
    f.store
        .hold_lease(&arn, SystemTime::now() + Duration::from_millis(1200))
        .await
        .expect("lease");
    let (status, _, body) = get(&f.app, &format!("{uri}?wait=0")).await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "{}",
        String::from_utf8_lossy(&body)
    );
    assert_eq!(f.executions.calls(), 1, "asked once the lease was over");
}
