//! `GET /executions/{executionArn}` as a client sees it.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::helpers::{header, problem, quick_input, TestApp};

#[tokio::test]
async fn a_running_execution_answers_202_then_200_with_the_computed_output() {
    let app = TestApp::spawn().await;
    let input = json!({"name": "Ada", "echo": {"order": 42}, "delaySeconds": 3});
    let arn = app.start(&app.machines.greeting, &input).await;

    let running = app.get_execution(&arn).await;
    assert_eq!(running.status(), 202);
    assert_eq!(header(&running, "cache-control"), "no-store");
    assert!(header(&running, "retry-after")
        .parse::<u64>()
        .is_ok_and(|s| s >= 1));
    assert_eq!(header(&running, "location"), format!("./{arn}"));
    assert!(header(&running, "cache-status").contains("fwd=miss"));
    let body: Value = running.json().await.expect("json");
    assert_eq!(body["status"], "RUNNING");
    assert_eq!(body["executionArn"], arn.as_str());
    assert!(
        body.get("output").is_none(),
        "no output while running: {body}"
    );

    let started = Instant::now();
    let done = loop {
        let response = app.get_execution(&arn).await;
        if response.status() != 202 {
            break response;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "never finished"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    assert_eq!(done.status(), 200);
    assert_eq!(header(&done, "content-type"), "application/json");
    assert!(header(&done, "cache-control").contains("immutable"));
    assert!(header(&done, "etag").starts_with('"'));
    let body: Value = done.json().await.expect("json");
    assert_eq!(body["status"], "SUCCEEDED");
    assert_eq!(
        body["output"],
        json!({"greeting": "Hello, Ada!", "echo": {"order": 42}})
    );
    assert_eq!(body["stateMachineArn"], app.machines.greeting.as_str());
    assert!(body["name"].is_string() && arn.ends_with(body["name"].as_str().unwrap_or("?")));
    assert!(body["startDate"].as_str().is_some_and(|d| d.ends_with('Z')));
    assert!(body["stopDate"].as_str().is_some_and(|d| d.ends_with('Z')));
    assert!(body["error"].is_null() && body["cause"].is_null());
}

#[tokio::test]
async fn a_failed_execution_answers_200_with_its_error_and_cause() {
    let app = TestApp::spawn().await;
    let arn = app.start(&app.machines.rejected, &json!({})).await;
    app.until_stopped(&arn).await;

    let response = app.get_execution(&arn).await;
    assert_eq!(response.status(), 200);
    // Still redrivable for 14 days: cached briefly, never immutable.
    let cache_control = header(&response, "cache-control");
    assert!(
        cache_control.starts_with("private, max-age="),
        "{cache_control}"
    );
    assert!(!cache_control.contains("immutable"));
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["status"], "FAILED");
    assert_eq!(body["error"], "Order.Rejected");
    assert_eq!(body["cause"], "The \"order\" can't be processed:\nno stock");
    assert!(body["output"].is_null());
}

#[tokio::test]
async fn an_aborted_execution_answers_200_with_status_aborted() {
    let app = TestApp::spawn().await;
    let input = json!({"name": "Bo", "echo": 1, "delaySeconds": 60});
    let arn = app.start(&app.machines.greeting, &input).await;
    app.sfn
        .stop_execution()
        .execution_arn(&arn)
        .send()
        .await
        .expect("stop");
    // DescribeExecution is eventually consistent, and the emulator marks the stop from the
    // execution's own thread: this is about reading an aborted execution, so read it once Step
    // Functions says it stopped (a read before that is RUNNING and 202, rightly).
    app.until_stopped(&arn).await;

    let response = app.get_execution(&arn).await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["status"], "ABORTED");
    assert!(body["stopDate"].is_string());
}

#[tokio::test]
async fn an_unknown_execution_answers_404() {
    let app = TestApp::spawn().await;
    let arn = app
        .machines
        .greeting
        .replace(":stateMachine:", ":execution:")
        + ":never-started";
    let body = problem(app.get_execution(&arn).await, 404).await;
    assert_eq!(body["type"], "urn:api-sfn:problem:execution-not-found");
}

#[tokio::test]
async fn a_percent_encoded_arn_answers_like_the_raw_one() {
    let app = TestApp::spawn().await;
    let arn = app.finished(&quick_input("Cy")).await;
    let raw = app.get_execution(&arn).await;
    let raw_tag = header(&raw, "etag");
    let raw_body = raw.text().await.expect("body");
    let encoded = app.get_execution(&arn.replace(':', "%3A")).await;
    assert_eq!(encoded.status(), 200);
    assert_eq!(header(&encoded, "etag"), raw_tag);
    assert_eq!(encoded.text().await.expect("body"), raw_body);
}

#[tokio::test]
async fn if_none_match_with_the_current_etag_answers_304() {
    let app = TestApp::spawn().await;
    let arn = app.finished(&quick_input("Di")).await;
    let first = app.get_execution(&arn).await;
    let tag = header(&first, "etag");
    let again = app
        .http
        .get(app.url(&format!("/executions/{arn}")))
        .header("if-none-match", &tag)
        .send()
        .await
        .expect("request");
    assert_eq!(again.status(), 304);
    assert_eq!(header(&again, "etag"), tag);
    assert!(again.text().await.expect("body").is_empty());
}

/// Client errors are decided before any upstream call: this binary's Step Functions and
/// DynamoDB endpoints are a closed port, so a call would have ended in a 503.
#[tokio::test]
async fn client_errors_answer_at_once_without_an_upstream_call() {
    let app = TestApp::spawn_without_upstreams().await;
    let machine = &app.machines.greeting;
    let execution = |name: &str| machine.replace(":stateMachine:", ":execution:") + ":" + name;
    let foreign = execution("x").replace(":123456789012:", ":210987654321:");
    let express = app.machines.express.replace(":stateMachine:", ":express:") + ":run:0a1b2c";
    let long_name = execution(&"n".repeat(240));
    let cases: Vec<(String, u16, &str)> = vec![
        ("not-an-arn".into(), 400, "invalid-execution-arn"),
        (machine.clone(), 400, "invalid-execution-arn"),
        (
            machine.replace(":stateMachine:", ":activity:"),
            400,
            "invalid-execution-arn",
        ),
        (execution("a%2Fb"), 400, "invalid-execution-arn"),
        (execution("a/b"), 400, "invalid-execution-arn"),
        (execution("a%253Ab"), 400, "invalid-execution-arn"),
        (long_name, 400, "invalid-execution-arn"),
        (foreign, 403, "state-machine-not-allowed"),
        (
            "arn:aws:states:us-east-1:123456789012:execution:Other:x".into(),
            403,
            "state-machine-not-allowed",
        ),
        // Not in ALLOWED_STATE_MACHINES here; allowed, it is read from the table only.
        (express, 403, "state-machine-not-allowed"),
    ];
    for (path_arn, status, kind) in cases {
        let body = problem(app.get_execution(&path_arn).await, status).await;
        assert_eq!(
            body["type"],
            format!("urn:api-sfn:problem:{kind}"),
            "{path_arn}"
        );
    }
    let bad_wait = app
        .http
        .get(app.url(&format!("/executions/{}?wait=soon", execution("x"))))
        .send()
        .await
        .expect("request");
    problem(bad_wait, 400).await;
}
