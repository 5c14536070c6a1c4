//! One upstream down, the other still serving: two emulator processes, one stopped for real.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::helpers::{clear_faults, describe_count, header, inject, problem, quick_input, TestApp};

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

/// Background load until `stop` is set: each round fetches the cached result and one execution
/// never fetched before; every (kind, status) seen is recorded.
fn load(
    app: &TestApp,
    cached: String,
    fresh: Arc<Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
) -> tokio::task::JoinSet<Vec<(&'static str, u16)>> {
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..8 {
        let (http, base) = (app.http.clone(), app.service.address.clone());
        let (cached, fresh, stop) = (cached.clone(), Arc::clone(&fresh), Arc::clone(&stop));
        tasks.spawn(async move {
            let mut seen = Vec::new();
            while !stop.load(Ordering::SeqCst) {
                let next = fresh.lock().expect("pool").pop();
                let round = [
                    Some(("cached", cached.clone())),
                    next.map(|arn| ("fresh", arn)),
                ];
                for (kind, arn) in round.into_iter().flatten() {
                    let response = http.get(format!("{base}/executions/{arn}")).send().await;
                    seen.push((kind, response.map(|r| r.status().as_u16()).unwrap_or(0)));
                }
                tokio::time::sleep(Duration::from_millis(25)).await;
            }
            seen
        });
    }
    tasks
}

#[tokio::test]
async fn step_functions_stopped_and_restarted_under_load_is_survived_without_a_restart() {
    let mut app = TestApp::spawn_split().await;
    let cached = app.finished(&quick_input("Sam")).await;
    assert_eq!(app.get_execution(&cached).await.status(), 200);
    app.stored_document(&cached).await;
    let mut pool = Vec::new();
    for i in 0..150 {
        pool.push(
            app.start(&app.machines.greeting, &quick_input(&format!("p{i}")))
                .await,
        );
    }
    for arn in &pool {
        app.until_stopped(arn).await;
    }
    let fresh = Arc::new(Mutex::new(pool));
    let stop = Arc::new(AtomicBool::new(false));
    let tasks = load(&app, cached.clone(), Arc::clone(&fresh), Arc::clone(&stop));

    let port = app.own.as_ref().expect("own").0.port;
    tokio::time::sleep(Duration::from_millis(300)).await;
    app.own.as_mut().expect("own").0.stop();
    tokio::time::sleep(Duration::from_secs(2)).await;
    // The emulator comes back on the same address, empty (moto keeps state in memory only).
    app.own.as_mut().expect("own").0 = crate::emulators::Emulator::start_on(port);
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.store(true, Ordering::SeqCst);
    let seen: Vec<(&str, u16)> = tasks.join_all().await.into_iter().flatten().collect();

    let statuses = |kind: &str| -> std::collections::BTreeSet<u16> {
        seen.iter()
            .filter(|(k, _)| *k == kind)
            .map(|(_, s)| *s)
            .collect()
    };
    println!(
        "cached: {:?}, fresh: {:?}, {} requests",
        statuses("cached"),
        statuses("fresh"),
        seen.len()
    );
    assert!(
        !fresh.lock().expect("pool").is_empty(),
        "the pool outlasted the run"
    );
    assert_eq!(
        statuses("cached"),
        [200].into(),
        "a cached result is served throughout"
    );
    assert!(statuses("fresh").contains(&200), "served before the outage");
    assert!(statuses("fresh").contains(&503), "the outage was seen");
    assert!(
        statuses("fresh")
            .iter()
            .all(|s| [200, 404, 503].contains(s)),
        "only earned statuses, never a 500: {:?}",
        statuses("fresh")
    );

    // Recovered by itself: the same service reads executions of the restarted emulator.
    let sfn = app.sfn.clone();
    crate::helpers::recreate_machines(&sfn, &app.machines).await;
    let again = app.finished(&quick_input("Uma")).await;
    let response = app.get_execution(&again).await;
    assert_eq!(response.status(), 200);
    assert_eq!(header(&response, "cache-status"), "sfn-results; fwd=miss");
}

#[tokio::test]
async fn dynamodb_stopped_and_restarted_is_survived_and_caching_resumes() {
    let mut app = TestApp::spawn_split().await;
    let during = app.finished(&quick_input("Vic")).await;
    let port = app.own.as_ref().expect("own").1.port;
    app.own.as_mut().expect("own").1.stop();

    let response = app.get_execution(&during).await;
    assert_eq!(
        response.status(),
        200,
        "served from Step Functions while DynamoDB is down"
    );

    app.own.as_mut().expect("own").1 = crate::emulators::Emulator::start_on(port);
    crate::helpers::create_table(&app.ddb, &app.table).await;
    let after = app.finished(&quick_input("Wes")).await;
    let response = app.get_execution(&after).await;
    assert_eq!(response.status(), 200);
    let body = response.text().await.expect("body");
    assert_eq!(
        app.stored_document(&after).await,
        body,
        "caching resumed by itself"
    );
}

#[tokio::test]
async fn a_slow_upstream_is_cut_off_by_timeouts_well_inside_the_gateway_limit() {
    let app = TestApp::spawn_split().await;
    let arn = app.finished(&quick_input("Xia")).await;
    let (sfn, ddb) = app.own_endpoints();

    // DynamoDB answers in 5 s: the read gives up and Step Functions answers instead.
    inject(
        &app,
        &ddb,
        json!({"target": "DynamoDB_20120810.GetItem", "mode": "delay", "delayMs": 5000}),
    )
    .await;
    let started = Instant::now();
    let response = app.get_execution(&arn).await;
    let slow_cache = started.elapsed();
    assert_eq!(response.status(), 200);
    clear_faults(&app, &ddb).await;

    // Step Functions answers in 8 s: attempts time out, then 503 with Retry-After.
    let other = app.finished(&quick_input("Yan")).await;
    inject(
        &app,
        &sfn,
        json!({"target": "AWSStepFunctions.DescribeExecution", "mode": "delay", "delayMs": 8000}),
    )
    .await;
    let started = Instant::now();
    let response = app.get_execution(&other).await;
    let slow_sfn = started.elapsed();
    assert!(header(&response, "retry-after").parse::<u64>().is_ok());
    problem(response, 503).await;
    println!("slow DynamoDB answered in {slow_cache:?}; slow Step Functions in {slow_sfn:?}");
    assert!(slow_cache < Duration::from_secs(10) && slow_sfn < Duration::from_secs(15));

    clear_faults(&app, &sfn).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(
        app.get_execution(&other).await.status(),
        200,
        "recovers when the upstream does"
    );
}

#[tokio::test]
async fn throttling_gets_bounded_retries_then_503_and_recovers() {
    let app = TestApp::spawn_split().await;
    let arn = app.finished(&quick_input("Zed")).await;
    let (sfn, _) = app.own_endpoints();
    inject(
        &app,
        &sfn,
        json!({"target": "AWSStepFunctions.DescribeExecution", "mode": "throttle"}),
    )
    .await;
    let before = describe_count(&sfn, &arn).await;
    let response = app.get_execution(&arn).await;
    assert!(header(&response, "retry-after")
        .parse::<u64>()
        .is_ok_and(|s| s > 0));
    let body = problem(response, 503).await;
    assert_eq!(body["type"], "urn:api-sfn:problem:upstream-unavailable");
    let attempts = describe_count(&sfn, &arn).await - before;
    assert_eq!(
        attempts, 3,
        "the SDK's standard mode: 3 attempts, then give up"
    );

    clear_faults(&app, &sfn).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let response = app.get_execution(&arn).await;
    assert_eq!(response.status(), 200, "recovers without a restart");
}
