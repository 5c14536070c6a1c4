//! The DynamoDB cache as a client sees it: hits, stored items, big outputs, a crowd of first fetches.

use serde_json::{json, Value};

use crate::helpers::{header, quick_input, TestApp};

#[tokio::test]
async fn the_second_fetch_is_a_cache_hit_with_the_same_bytes_and_the_item_is_in_dynamodb() {
    let mut app = TestApp::spawn_with(false, |env| {
        env.insert(
            "RUST_LOG".into(),
            "info,sfn_results=debug,tower_http=debug".into(),
        );
    })
    .await;
    let arn = app.finished(&quick_input("Eve")).await;

    let miss = app.get_execution(&arn).await;
    assert_eq!(miss.status(), 200);
    assert_eq!(header(&miss, "cache-status"), "sfn-results; fwd=miss");
    let miss_tag = header(&miss, "etag");
    let miss_body = miss.text().await.expect("body");

    let memory = app.get_execution(&arn).await;
    assert_eq!(memory.status(), 200);
    assert_eq!(
        header(&memory, "cache-status"),
        "sfn-results; hit; detail=memory"
    );
    assert_eq!(header(&memory, "etag"), miss_tag);
    assert_eq!(memory.text().await.expect("body"), miss_body);
    assert_eq!(app.stored_document(&arn).await, miss_body);

    // Even at debug level the service logs requests with their ARN, never the output.
    let logs = app.service.log_text();
    assert!(
        logs.contains(&format!("\"execution_arn\":\"{arn}\"")),
        "{logs}"
    );
    assert!(
        !logs.contains("Hello, Eve!") && !logs.contains("\"order\""),
        "{logs}"
    );

    // A new instance has nothing in memory: the answer comes from DynamoDB.
    app.restart().await;
    let hit = app.get_execution(&arn).await;
    assert_eq!(hit.status(), 200);
    assert_eq!(header(&hit, "cache-status"), "sfn-results; hit");
    assert_eq!(header(&hit, "etag"), miss_tag);
    assert!(header(&hit, "cache-control").contains("immutable"));
    assert_eq!(hit.text().await.expect("body"), miss_body);
}

#[tokio::test]
async fn a_running_execution_is_never_cached() {
    let app = TestApp::spawn().await;
    let input = json!({"name": "Fay", "echo": 0, "delaySeconds": 30});
    let arn = app.start(&app.machines.greeting, &input).await;
    assert_eq!(app.get_execution(&arn).await.status(), 202);
    assert_eq!(app.get_execution(&arn).await.status(), 202);
    assert_eq!(app.cached_document(&arn).await, None);
}

#[tokio::test]
async fn a_250_kib_output_round_trips_byte_for_byte_through_the_cache() {
    let mut app = TestApp::spawn().await;
    // Escape-heavy text whose JSON form is 250 KiB, the size Step Functions' limit leaves room for.
    let (mut big, mut json_len) = (String::new(), 2);
    for c in "quote\" backslash\\ slash/ tab\t text ".chars().cycle() {
        if json_len >= 250 * 1024 {
            break;
        }
        json_len += if matches!(c, '"' | '\\' | '\t') { 2 } else { 1 };
        big.push(c);
    }
    assert_eq!(serde_json::to_string(&big).expect("json").len(), json_len);
    let input = json!({"name": "Gus", "echo": {"blob": big}, "delaySeconds": 0});
    let arn = app.finished(&input).await;

    let miss = app.get_execution(&arn).await;
    assert_eq!(miss.status(), 200);
    let miss_body = miss.bytes().await.expect("body");
    assert!(
        miss_body.len() > 250 * 1024,
        "output is {} bytes",
        miss_body.len()
    );
    app.stored_document(&arn).await;
    app.restart().await;
    let hit = app.get_execution(&arn).await;
    assert_eq!(header(&hit, "cache-status"), "sfn-results; hit");
    let hit_body = hit.bytes().await.expect("body");
    assert_eq!(hit_body, miss_body, "cache hit answers the same bytes");

    let doc: Value = serde_json::from_slice(&hit_body).expect("json");
    assert_eq!(doc["output"]["echo"]["blob"].as_str(), Some(big.as_str()));
    let described = app
        .sfn
        .describe_execution()
        .execution_arn(&arn)
        .send()
        .await
        .expect("describe");
    let upstream: Value = serde_json::from_str(described.output().expect("output")).expect("json");
    assert_eq!(doc["output"], upstream);
}

#[tokio::test]
async fn sixty_four_concurrent_first_fetches_all_answer_200_with_equal_bodies() {
    let app = TestApp::spawn().await;
    let arn = app.finished(&quick_input("Hal")).await;
    let url = app.url(&format!("/executions/{arn}"));
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..64 {
        let (http, url) = (app.http.clone(), url.clone());
        tasks.spawn(async move {
            let response = http.get(url).send().await.expect("request");
            (
                response.status().as_u16(),
                response.text().await.expect("body"),
            )
        });
    }
    let answers = tasks.join_all().await;
    assert_eq!(answers.len(), 64);
    let first = &answers[0].1;
    for (status, body) in &answers {
        assert_eq!(*status, 200);
        assert_eq!(body, first);
    }
    assert_eq!(
        Some(app.stored_document(&arn).await.as_str()),
        Some(first.as_str())
    );
}

/// The table item's `storedAt` (epoch seconds), if a result is stored for `arn`.
async fn stored_at(app: &TestApp, arn: &str) -> Option<u64> {
    let item = crate::helpers::results_item(&app.ddb, &app.table, arn).await?;
    item.get("storedAt")?.as_n().ok()?.parse().ok()
}

/// A FAILED execution (redrivable, so provisional) with a one-second provisional lifetime.
async fn provisional_failure(split: bool) -> (TestApp, String) {
    let app = TestApp::spawn_with(split, |env| {
        env.insert("REDRIVABLE_RESULT_TTL_SECONDS".into(), "1".into());
    })
    .await;
    let arn = app.start(&app.machines.rejected, &json!({})).await;
    app.until_stopped(&arn).await;
    let first = app.get_execution(&arn).await;
    assert_eq!(first.status(), 200);
    assert_eq!(header(&first, "cache-status"), "sfn-results; fwd=miss");
    assert!(header(&first, "cache-control").starts_with("private, max-age="));
    app.stored_document(&arn).await;
    (app, arn)
}

#[tokio::test]
async fn an_expired_provisional_failure_is_described_again_and_replaced_in_the_table() {
    let (app, arn) = provisional_failure(false).await;
    let endpoint = crate::emulators::shared().endpoint();
    let first_stored = stored_at(&app, &arn).await.expect("stored");
    let before = crate::helpers::describe_count(&endpoint, &arn).await;
    // Past its expiry (whole seconds in the table) the item no longer answers.
    tokio::time::sleep(std::time::Duration::from_millis(2200)).await;
    let again = app.get_execution(&arn).await;
    assert_eq!(again.status(), 200);
    assert_eq!(header(&again, "cache-status"), "sfn-results; fwd=miss");
    let body: Value = again.json().await.expect("json");
    assert_eq!(body["status"], "FAILED");
    assert_eq!(
        crate::helpers::describe_count(&endpoint, &arn).await - before,
        1,
        "asked Step Functions once more"
    );
    // The conditional put replaced the expired item rather than keeping it.
    let started = std::time::Instant::now();
    while stored_at(&app, &arn).await == Some(first_stored) {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(30),
            "the expired item was never replaced"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(stored_at(&app, &arn).await > Some(first_stored));
}

#[tokio::test]
async fn an_expired_item_is_served_stale_while_step_functions_is_down() {
    let (mut app, arn) = provisional_failure(true).await;
    tokio::time::sleep(std::time::Duration::from_millis(2200)).await;
    app.own.as_mut().expect("own emulators").0.stop();
    app.restart().await;
    let stale = app.get_execution(&arn).await;
    assert_eq!(stale.status(), 200);
    assert_eq!(
        header(&stale, "cache-status"),
        "sfn-results; hit; detail=stale"
    );
    let body: Value = stale.json().await.expect("json");
    assert_eq!(body["status"], "FAILED");
    assert_eq!(body["executionArn"], arn.as_str());
}
