//! One upstream down, the other still serving: two emulator processes, one stopped for real.

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::helpers::{header, problem, quick_input, TestApp};

#[tokio::test]
async fn with_step_functions_stopped_cached_results_are_served_and_uncached_ones_answer_503() {
    let mut app = TestApp::spawn_split().await;
    let cached = app.finished(&quick_input("Ivy")).await;
    let uncached = app.finished(&quick_input("Jon")).await;
    let before = app.get_execution(&cached).await;
    assert_eq!(before.status(), 200);
    let before_body = before.text().await.expect("body");
    assert_eq!(app.stored_document(&cached).await, before_body);

    app.own.as_mut().expect("own emulators").0.stop();
    // A new instance, so the cached result must come from DynamoDB, not memory.
    app.restart().await;

    let hit = app.get_execution(&cached).await;
    assert_eq!(hit.status(), 200);
    assert_eq!(header(&hit, "cache-status"), "sfn-results; hit");
    assert_eq!(hit.text().await.expect("body"), before_body);

    let started = Instant::now();
    let down = app.get_execution(&uncached).await;
    let elapsed = started.elapsed();
    assert!(header(&down, "retry-after")
        .parse::<u64>()
        .is_ok_and(|s| s > 0));
    let body = problem(down, 503).await;
    assert_eq!(body["type"], "urn:api-sfn:problem:upstream-unavailable");
    let detail = body["detail"].as_str().unwrap_or_default();
    assert!(
        !detail.contains("127.0.0.1") && !detail.contains("dispatch"),
        "{detail}"
    );
    println!("503 after {elapsed:?}");
    assert!(elapsed < Duration::from_secs(10), "503 took {elapsed:?}");
}

#[tokio::test]
async fn with_dynamodb_stopped_results_are_still_served_from_step_functions() {
    let mut app = TestApp::spawn_split().await;
    let arn = app.finished(&quick_input("Kim")).await;

    app.own.as_mut().expect("own emulators").1.stop();

    let response = app.get_execution(&arn).await;
    assert_eq!(response.status(), 200);
    assert_eq!(header(&response, "cache-status"), "sfn-results; fwd=miss");
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["status"], "SUCCEEDED");
    assert_eq!(body["output"]["greeting"], "Hello, Kim!");
}
