//! Push, not poll: Step Functions' status-change events, delivered to the real binary's `events`
//! entry point, fill the table; the HTTP service answers them with no `DescribeExecution`.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::events_world::{status_change, EventsWorld};
use crate::helpers::{header, problem, quick_input, stored_document};
use crate::lambda_runtime::event;

#[tokio::test]
async fn an_event_from_a_real_execution_is_served_with_the_bytes_describe_gives_and_no_call() {
    let mut world = EventsWorld::start(|_| {}).await;
    let arn = world
        .finished(&world.machines.greeting.clone(), &quick_input("Eva"))
        .await;
    let stop = world.event_of(&arn).await;
    let before = world.describes(&arn).await;
    let answer = world.invoke(stop).await;
    assert_eq!(answer["stored"], 1, "{answer}");

    let hit = world.get(&arn).await;
    assert_eq!(hit.status(), 200);
    assert_eq!(header(&hit, "cache-status"), "sfn-results; hit");
    let from_event = hit.text().await.expect("body");
    assert_eq!(
        world.describes(&arn).await - before,
        0,
        "no DescribeExecution"
    );

    // The same execution read through DescribeExecution by an instance with nothing stored.
    world
        .ddb
        .delete_item()
        .table_name(crate::events_world::TABLE)
        .key(
            "executionArn",
            aws_sdk_dynamodb::types::AttributeValue::S(arn.clone()),
        )
        .send()
        .await
        .expect("delete");
    world.api = world.api.restarted().await;
    let miss = world.get(&arn).await;
    assert_eq!(header(&miss, "cache-status"), "sfn-results; fwd=miss");
    assert_eq!(
        miss.text().await.expect("body"),
        from_event,
        "byte for byte"
    );
}

#[tokio::test]
async fn the_fixtures_are_stored_once_in_order_and_poison_is_acknowledged() {
    let mut world = EventsWorld::start(|_| {}).await;
    let ok = "arn:aws:states:us-east-1:123456789012:execution:api-sfn-greeting:event-ok";
    let failed = "arn:aws:states:us-east-1:123456789012:execution:api-sfn-rejected:event-failed";

    assert_eq!(
        world.invoke(event("sfn/status-succeeded.json")).await["stored"],
        1
    );
    assert_eq!(
        world.invoke(event("sfn/status-succeeded.json")).await["unchanged"],
        1
    );
    let body: Value = world.get(ok).await.json().await.expect("json");
    assert_eq!(
        body["output"],
        json!({"greeting": "Hello, Event!", "echo": [1, 2]})
    );
    assert_eq!(body["stopDate"], "2026-11-28T17:28:51.043Z");

    world.invoke(event("sfn/status-failed.json")).await;
    let first: Value = world.get(failed).await.json().await.expect("json");
    assert_eq!(first["status"], "FAILED");
    world
        .invoke(event("sfn/status-redriven-succeeded.json"))
        .await;
    let late = world.invoke(event("sfn/status-failed.json")).await;
    assert_eq!(late["unchanged"], 1, "{late}");
    let stored = stored_document(&world.ddb, crate::events_world::TABLE, failed)
        .await
        .expect("stored");
    let stored: Value = serde_json::from_str(&stored).expect("json");
    assert_eq!(stored["status"], "SUCCEEDED", "the redriven run's result");

    for (file, kind) in [
        ("sfn/status-foreign-machine.json", "ignored"),
        ("sfn/status-running.json", "ignored"),
        ("sfn/status-malformed.json", "poison"),
    ] {
        let answer = world.invoke(event(file)).await;
        assert_eq!(answer[kind], 1, "{file}: {answer}");
    }
    assert_eq!(world.describes(ok).await + world.describes(failed).await, 0);
}

#[tokio::test]
async fn an_event_without_its_output_costs_one_describe() {
    let mut world = EventsWorld::start(|_| {}).await;
    let arn = world
        .finished(&world.machines.greeting.clone(), &quick_input("Big"))
        .await;
    let mut event = world.event_of(&arn).await;
    event["detail"]["output"] = Value::Null;
    event["detail"]["outputDetails"]["included"] = json!(false);
    let before = world.describes(&arn).await;
    assert_eq!(world.invoke(event).await["stored"], 1);
    assert_eq!(world.describes(&arn).await - before, 1);
    let body: Value = world.get(&arn).await.json().await.expect("json");
    assert_eq!(body["output"]["greeting"], "Hello, Big!");
}

#[tokio::test]
async fn a_store_failure_fails_the_invocation_so_lambda_retries_it() {
    let mut world = EventsWorld::start(|env| {
        env.insert(
            "AWS_ENDPOINT_URL_DYNAMODB".into(),
            "http://127.0.0.1:9".into(),
        );
    })
    .await;
    let answer = world.invoke(event("sfn/status-succeeded.json")).await;
    assert!(answer["invocationError"].is_string(), "{answer}");
}

#[tokio::test]
async fn twenty_waiters_answer_within_half_a_second_of_the_event() {
    let mut world = EventsWorld::start(|_| {}).await;
    let long = json!({"name": "Wait", "echo": 0, "delaySeconds": 60});
    let arn = world.started(&world.machines.greeting.clone(), &long).await;
    let url = format!("{}/executions/{arn}?wait=20", world.api.address);
    // With the events' refresh (30 s) the 20 waiters' only read of Step Functions is the first.
    let mut waiters = tokio::task::JoinSet::new();
    for _ in 0..20 {
        let (http, url) = (world.http.clone(), url.clone());
        waiters.spawn(async move {
            let response = http.get(url).send().await.expect("request");
            let answered = Instant::now();
            (
                response.status().as_u16(),
                response.text().await.expect("body"),
                answered,
            )
        });
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    // Step Functions says it stopped (here the emulator's execution still runs, so only the
    // event can tell the waiters).
    let mut stop = world.event_of(&arn).await;
    stop["detail"]["status"] = json!("SUCCEEDED");
    stop["detail"]["stopDate"] = json!(stop["detail"]["startDate"].as_u64().expect("ms") + 2_500);
    stop["detail"]["output"] = json!(r#"{"pushed":true}"#);
    assert_eq!(world.invoke(stop).await["stored"], 1);
    let delivered = Instant::now();
    let mut slowest = Duration::ZERO;
    let answers = waiters.join_all().await;
    assert_eq!(
        world.describes(&arn).await,
        2,
        "the first read, and the test's own for the event: events told the rest"
    );
    for (status, body, answered) in answers {
        assert_eq!(status, 200, "{body}");
        let body: Value = serde_json::from_str(&body).expect("json");
        assert_eq!(body["output"]["pushed"], true);
        slowest = slowest.max(answered.saturating_duration_since(delivered));
    }
    println!("20 waiters: the slowest answered {slowest:?} after the event was stored");
    assert!(slowest < Duration::from_millis(1500), "{slowest:?}");
}

#[tokio::test]
async fn one_reconcile_run_stores_every_missed_result_with_one_describe_each_at_most() {
    let mut world = EventsWorld::start(|_| {}).await;
    let greeting = world.machines.greeting.clone();
    let mut missed = Vec::new();
    for i in 0..5 {
        missed.push(
            world
                .finished(&greeting, &quick_input(&format!("R{i}")))
                .await,
        );
    }
    let cached = world.finished(&greeting, &quick_input("Cached")).await;
    assert_eq!(world.get(&cached).await.status(), 200);
    // The GET stores its result after answering: wait for the item, however busy the machine.
    let asked = Instant::now();
    while stored_document(&world.ddb, crate::events_world::TABLE, &cached)
        .await
        .is_none()
    {
        assert!(asked.elapsed() < Duration::from_secs(30), "never stored");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut before = 0;
    for arn in missed.iter().chain([&cached]) {
        before += world.describes(arn).await;
    }

    let run = world.invoke(json!({"action": "reconcile"})).await;
    assert_eq!(run["reconciled"], 5, "{run}");
    let mut after = 0;
    for arn in missed.iter().chain([&cached]) {
        after += world.describes(arn).await;
        assert!(
            stored_document(&world.ddb, crate::events_world::TABLE, arn)
                .await
                .is_some(),
            "{arn} stored"
        );
    }
    println!(
        "reconcile: 5 missed executions, {} DescribeExecution calls",
        after - before
    );
    assert!(after - before <= 5);

    let again = world.invoke(json!({"action": "reconcile"})).await;
    assert_eq!(again["reconciled"], 0, "{again}");
    let mut last = 0;
    for arn in missed.iter().chain([&cached]) {
        last += world.describes(arn).await;
    }
    assert_eq!(last, after, "the second run finds nothing missing");
    problem(
        world
            .get(&format!(
                "{}:nope",
                greeting.replace(":stateMachine:", ":execution:")
            ))
            .await,
        404,
    )
    .await;
}

#[tokio::test]
async fn a_hundred_status_events_are_handled_by_one_process() {
    let mut world = EventsWorld::start(|_| {}).await;
    let arn_of = |i: usize| {
        format!("arn:aws:states:us-east-1:123456789012:execution:api-sfn-greeting:bulk-{i}")
    };
    let mut batch = Vec::new();
    for i in 0..100 {
        let mut one = event("sfn/status-succeeded.json");
        one["detail"]["executionArn"] = json!(arn_of(i));
        one["detail"]["name"] = json!(format!("bulk-{i}"));
        batch.push(status_change(one["detail"].clone()));
    }
    let started = Instant::now();
    for one in batch {
        assert_eq!(world.invoke(one).await["stored"], 1);
    }
    let took = started.elapsed();
    println!(
        "100 status events through one events process: {took:?} ({:.0} events/s)",
        100.0 / took.as_secs_f64()
    );
    let body: Value = world.get(&arn_of(99)).await.json().await.expect("json");
    assert_eq!(body["name"], "bulk-99");
}
