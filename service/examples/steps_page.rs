//! What one `GET /executions/{arn}/steps` page costs for a history of 25,000 events, the most
//! Step Functions keeps: the `GetExecutionHistory` calls it makes and the time it takes here,
//! with Step Functions answered at the SDK layer (`aws-smithy-mocks`) from pages of the history in
//! its wire form (JSON, 1,000 events each), so the real adapter parses every page. The network's
//! time per call is not in the figure: add one round trip per call.
//!
//!     cargo run --release --example steps_page -p sfn-results
//!
//! Prints the first page (a cold read: the whole history), the next page (kept in memory) and the
//! steps folded.

use std::sync::Arc;
use std::time::Instant;

use aws_sdk_sfn::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_sfn::Client;
use aws_smithy_mocks::{create_mock_http_client, mock, MockResponse, MockResponseInterceptor};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::http::StatusCode;
use aws_smithy_types::body::SdkBody;
use aws_smithy_types::retry::RetryConfig;
use axum::body::Body;
use axum::http::Request;
use serde_json::{json, Value};
use sfn_results::adapters::{InMemoryStore, StepFunctions};
use sfn_results::config::Config;
use sfn_results::{router, AppState, Ports};
use tower::ServiceExt;

const MACHINE: &str = "arn:aws:states:us-east-1:123456789012:stateMachine:Orders";
const ARN: &str = "arn:aws:states:us-east-1:123456789012:execution:Orders:big";
const EVENTS: usize = 25_000;
const PAGE: usize = 1000;

/// A Map whose iterations each run a Task that fails once and succeeds on its retry (8 events an
/// iteration), cut at 25,000 events, ending in the execution's success.
fn history() -> Vec<Value> {
    let mut events: Vec<Value> = Vec::with_capacity(EVENTS);
    let mut push = |previous: usize, kind: &str, details: Option<(&str, Value)>| {
        let id = events.len() + 1;
        let mut event = json!({
            "id": id, "previousEventId": previous, "type": kind,
            "timestamp": 1_800_000_000.0 + id as f64 / 100.0,
        });
        if let Some((name, value)) = details {
            event[name] = value;
        }
        events.push(event);
        id
    };
    let task = json!({"resourceType": "lambda", "resource": "invoke", "region": "us-east-1"});
    let started = push(
        0,
        "ExecutionStarted",
        Some(("executionStartedEventDetails", json!({"roleArn": "r"}))),
    );
    let entered = push(
        started,
        "MapStateEntered",
        Some(("stateEnteredEventDetails", json!({"name": "Items"}))),
    );
    let map = push(
        entered,
        "MapStateStarted",
        Some(("mapStateStartedEventDetails", json!({"length": 3124}))),
    );
    let mut last = map;
    // 3 events before the iterations, 8 each, and 5 after: 3,124 iterations make 25,000.
    for index in 0..(EVENTS - 8) / 8 {
        let it = push(
            map,
            "MapIterationStarted",
            Some((
                "mapIterationStartedEventDetails",
                json!({"name": "Items", "index": index}),
            )),
        );
        let work = push(
            it,
            "TaskStateEntered",
            Some(("stateEnteredEventDetails", json!({"name": "Work"}))),
        );
        let first = push(
            work,
            "TaskScheduled",
            Some(("taskScheduledEventDetails", task.clone())),
        );
        let mut failed = task.clone();
        failed["error"] = json!("Busy");
        failed["cause"] = json!("the pricing service answered 503");
        let fail = push(
            first,
            "TaskFailed",
            Some(("taskFailedEventDetails", failed)),
        );
        let second = push(
            fail,
            "TaskScheduled",
            Some(("taskScheduledEventDetails", task.clone())),
        );
        let done = push(
            second,
            "TaskSucceeded",
            Some(("taskSucceededEventDetails", task.clone())),
        );
        let exited = push(
            done,
            "TaskStateExited",
            Some(("stateExitedEventDetails", json!({"name": "Work"}))),
        );
        last = push(
            exited,
            "MapIterationSucceeded",
            Some((
                "mapIterationSucceededEventDetails",
                json!({"name": "Items", "index": index}),
            )),
        );
    }
    let ok = push(last, "MapStateSucceeded", None);
    let exited = push(
        ok,
        "MapStateExited",
        Some(("stateExitedEventDetails", json!({"name": "Items"}))),
    );
    let total = push(
        exited,
        "PassStateEntered",
        Some(("stateEnteredEventDetails", json!({"name": "Total"}))),
    );
    let total = push(
        total,
        "PassStateExited",
        Some(("stateExitedEventDetails", json!({"name": "Total"}))),
    );
    push(
        total,
        "ExecutionSucceeded",
        Some(("executionSucceededEventDetails", json!({}))),
    );
    assert_eq!(events.len(), EVENTS);
    events
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let events = Arc::new(history());
    let pages: Arc<Vec<String>> = Arc::new(
        events
            .chunks(PAGE)
            .enumerate()
            .map(|(i, chunk)| {
                let mut page = json!({"events": chunk});
                if (i + 1) * PAGE < events.len() {
                    page["nextToken"] = json!((i + 1).to_string());
                }
                page.to_string()
            })
            .collect(),
    );
    let served = pages.clone();
    let rule = mock!(Client::get_execution_history).then_compute_response(move |input| {
        let page = input
            .next_token()
            .and_then(|t| t.parse::<usize>().ok())
            .unwrap_or(0);
        MockResponse::Http(HttpResponse::new(
            StatusCode::try_from(200).expect("status"),
            SdkBody::from(served[page].clone()),
        ))
    });
    let client = Client::from_conf(
        aws_sdk_sfn::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .credentials_provider(Credentials::new("test", "test", None, None, "bench"))
            .retry_config(RetryConfig::disabled())
            .http_client(create_mock_http_client())
            .interceptor(MockResponseInterceptor::new().with_rule(&rule))
            .build(),
    );
    let sfn = Arc::new(StepFunctions::with_client(client));
    let ports = Ports {
        source: sfn.clone(),
        starter: sfn.clone(),
        control: sfn.clone(),
        history: sfn.clone(),
        callbacks: sfn.clone(),
        lister: sfn,
        store: Arc::new(InMemoryStore::default()),
        links: Arc::new(sfn_results::adapters::InMemoryStore::default()),
    };
    let config = Config::from_lookup(|name| match name {
        "RESULTS_TABLE" => Some("results".into()),
        "ALLOWED_STATE_MACHINES" => Some(MACHINE.into()),
        _ => None,
    })
    .expect("config");
    let app = router(AppState::new(&config, ports));
    let get = |uri: String| {
        let app = app.clone();
        async move {
            let started = Instant::now();
            let response = app
                .oneshot(Request::get(uri).body(Body::empty()).expect("request"))
                .await
                .expect("infallible");
            let status = response.status();
            let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
                .await
                .expect("body");
            let elapsed = started.elapsed();
            assert!(
                status.is_success(),
                "{status}: {}",
                String::from_utf8_lossy(&bytes)
            );
            (
                serde_json::from_slice::<Value>(&bytes).expect("json"),
                elapsed,
                bytes.len(),
            )
        }
    };
    println!(
        "history: {} events in {} pages of GetExecutionHistory",
        events.len(),
        pages.len()
    );
    let (first, cold, size) = get(format!("/executions/{ARN}/steps")).await;
    let cold_calls = rule.num_calls();
    println!(
        "first page (100 steps, {size} bytes): {cold_calls} GetExecutionHistory calls, {:.1} ms",
        cold.as_secs_f64() * 1000.0
    );
    let cursor = first["nextCursor"].as_str().expect("next");
    let cursor = percent_encoding::utf8_percent_encode(cursor, percent_encoding::NON_ALPHANUMERIC);
    let (_, warm, _) = get(format!("/executions/{ARN}/steps?cursor={cursor}")).await;
    println!(
        "next page (kept in memory): {} more calls, {:.3} ms",
        rule.num_calls() - cold_calls,
        warm.as_secs_f64() * 1000.0
    );
    let mut steps = 0;
    let mut uri = format!("/executions/{ARN}/steps?limit=1000");
    loop {
        let (page, _, _) = get(uri).await;
        steps += page["steps"].as_array().map_or(0, Vec::len);
        match page["nextCursor"].as_str() {
            Some(next) => {
                let next =
                    percent_encoding::utf8_percent_encode(next, percent_encoding::NON_ALPHANUMERIC);
                uri = format!("/executions/{ARN}/steps?limit=1000&cursor={next}");
            }
            None => break,
        }
    }
    println!(
        "steps folded: {steps} (every page after the first from memory: {} calls in all)",
        rule.num_calls()
    );
}
