//! Express results become readable: the EXPRESS machine's log subscription, delivered to the
//! real binary's `events` entry point, is the only source; `DescribeExecution` is never called.

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::events_world::EventsWorld;
use crate::helpers::{emulator_counts, header, problem};
use crate::lambda_runtime::event;

const PREFIX: &str = "arn:aws:states:us-east-1:123456789012:express:api-sfn-express";

fn express(name: &str, id: u8) -> String {
    format!("{PREFIX}:{name}:4f7a1c2e-0000-4000-8000-00000000000{id}")
}

async fn describes(world: &EventsWorld) -> u64 {
    emulator_counts(&world.emulator.endpoint())
        .await
        .get("AWSStepFunctions.DescribeExecution")
        .copied()
        .unwrap_or(0)
}

#[tokio::test]
async fn express_results_are_read_from_what_the_logs_delivered_and_nothing_else() {
    let mut world = EventsWorld::start(|_| {}).await;
    let before = describes(&world).await;

    let unknown = world.get(&express("express-ok", 1)).await;
    let body = problem(unknown, 404).await;
    assert_eq!(
        body["type"],
        "urn:api-sfn:problem:express-result-not-recorded"
    );

    assert_eq!(world.invoke(event("logs/started.json")).await["stored"], 1);
    let running = world.get(&express("express-running", 3)).await;
    assert_eq!(running.status(), 202);
    assert_eq!(header(&running, "cache-control"), "no-store");
    let doc: Value = running.json().await.expect("json");
    assert_eq!(doc["status"], "RUNNING");

    let answer = world.invoke(event("logs/batch.json")).await;
    assert_eq!(answer["stored"], 4, "{answer}");
    let ok = world.get(&express("express-ok", 1)).await;
    assert_eq!(ok.status(), 200);
    assert!(header(&ok, "cache-control").contains("immutable"));
    let doc: Value = ok.json().await.expect("json");
    assert_eq!(doc["status"], "SUCCEEDED");
    assert_eq!(doc["output"]["greeting"], "Hello, Ada!");
    assert_eq!(doc["startDate"], "2026-11-28T17:28:49.013Z");
    let bad: Value = world
        .get(&express("express-bad", 2))
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(bad["status"], "FAILED");
    assert_eq!(bad["cause"], "no stock");

    world.invoke(event("logs/truncated.json")).await;
    let big: Value = world
        .get(&express("express-big", 4))
        .await
        .json()
        .await
        .expect("json");
    assert!(big["output"].is_null());
    assert_eq!(big["outputTruncated"], true);

    let control = world.invoke(event("logs/control.json")).await;
    assert_eq!(control["stored"], 0, "{control}");
    assert_eq!(
        describes(&world).await - before,
        0,
        "never DescribeExecution"
    );
}

#[tokio::test]
async fn a_wait_on_an_express_execution_answers_when_its_stop_is_logged() {
    let mut world = EventsWorld::start(|_| {}).await;
    world.invoke(event("logs/started.json")).await;
    let url = format!(
        "{}/executions/{}?wait=10",
        world.api.address,
        express("express-ok", 1)
    );
    let waiter = tokio::spawn({
        let http = world.http.clone();
        async move { http.get(url).send().await.expect("request") }
    });
    tokio::time::sleep(Duration::from_millis(1500)).await;
    world.invoke(event("logs/batch.json")).await;
    let delivered = Instant::now();
    let response = waiter.await.expect("join");
    println!(
        "express waiter answered {:?} after the log batch",
        delivered.elapsed()
    );
    assert_eq!(response.status(), 200);

    let started = Instant::now();
    let none = world
        .http
        .get(format!(
            "{}/executions/{}?wait=2",
            world.api.address,
            express("never-logged", 9)
        ))
        .send()
        .await
        .expect("request");
    assert!(
        started.elapsed() >= Duration::from_secs(2),
        "it waited for the logs"
    );
    problem(none, 404).await;
}

#[tokio::test]
async fn an_express_start_with_no_stop_past_the_longest_run_is_unknown_in_the_list_as_in_get() {
    use aws_sdk_dynamodb::types::AttributeValue;
    let world = EventsWorld::start(|_| {}).await;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock");
    // Two open items as a logged start leaves them: one recorded now, one 7 minutes ago (an
    // Express execution runs 5 minutes at most; its stop was never logged).
    for (arn, ago) in [(express("open-now", 4), 0), (express("open-old", 5), 420)] {
        let at_ms = now.as_millis() as u64 - ago * 1000;
        let start =
            humantime::format_rfc3339_millis(std::time::UNIX_EPOCH + Duration::from_millis(at_ms))
                .to_string();
        let doc = serde_json::json!({"executionArn": arn, "status": "RUNNING", "startDate": start});
        world
            .ddb
            .put_item()
            .table_name(crate::events_world::TABLE)
            .item("executionArn", AttributeValue::S(arn.clone()))
            .item("readDocument", AttributeValue::S(doc.to_string()))
            .item("readStatus", AttributeValue::S("RUNNING".into()))
            .item("readStart", AttributeValue::N(at_ms.to_string()))
            .item("readAt", AttributeValue::N(at_ms.to_string()))
            .item(
                "expiresAt",
                AttributeValue::N((now.as_secs() + 3600).to_string()),
            )
            .item(
                "stateMachineArn",
                AttributeValue::S(world.machines.express.clone()),
            )
            .item("startDate", AttributeValue::S(start))
            .send()
            .await
            .expect("put");
    }
    let listed: Value = world
        .http
        .get(format!(
            "{}/executions?stateMachine={}",
            world.api.address,
            world.machines.express.replace(':', "%3A")
        ))
        .send()
        .await
        .expect("list")
        .json()
        .await
        .expect("json");
    let names: Vec<&str> = listed["executions"]
        .as_array()
        .unwrap_or_else(|| panic!("items: {listed}"))
        .iter()
        .filter_map(|item| item["name"].as_str())
        .collect();
    assert!(names.contains(&"open-now"), "{listed}");
    assert!(
        !names.contains(&"open-old"),
        "GET answers 404 for it: the list must not show it RUNNING: {listed}"
    );
    assert_eq!(world.get(&express("open-now", 4)).await.status(), 202);
    problem(world.get(&express("open-old", 5)).await, 404).await;
}
