//! `POST /executions/{arn}/stop`: the real binary over HTTP against the Step Functions emulator,
//! with every upstream call counted at the emulator.

use aws_sdk_sfn::types::ExecutionStatus;
use serde_json::{json, Value};

use crate::emulators::shared;
use crate::helpers::{describe_count, emulator_counts, header, problem, quick_input, TestApp};

/// `StopExecution` calls the shared emulator has answered for `arn`.
async fn stop_count(arn: &str) -> u64 {
    emulator_counts(&shared().endpoint())
        .await
        .get(&format!("AWSStepFunctions.StopExecution {arn}"))
        .copied()
        .unwrap_or(0)
}

fn slow_input(name: &str) -> Value {
    json!({"name": name, "echo": 1, "delaySeconds": 60})
}

#[tokio::test]
async fn a_running_execution_is_stopped_and_its_aborted_result_is_stored_before_the_answer() {
    let mut app = TestApp::spawn().await;
    let arn = app.start(&app.machines.greeting, &slow_input("Bo")).await;
    let response = app
        .post(
            &format!("/executions/{arn}/stop"),
            r#"{"error": "Operator", "cause": "stuck on the payment step"}"#,
        )
        .await;
    assert_eq!(response.status(), 200);
    assert_eq!(header(&response, "location"), format!("../{arn}"));
    assert_eq!(header(&response, "cache-control"), "no-store");
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["status"], "ABORTED");
    assert_eq!(body["executionArn"], arn.as_str());
    assert_eq!(body["error"], "Operator");
    assert_eq!(body["cause"], "stuck on the payment step");
    assert!(body["stopDate"].is_string());

    // Step Functions stopped it, with the reason given.
    let described = app
        .sfn
        .describe_execution()
        .execution_arn(&arn)
        .send()
        .await
        .expect("describe");
    assert_eq!(described.status, ExecutionStatus::Aborted);
    assert_eq!(described.error(), Some("Operator"));
    assert_eq!(stop_count(&arn).await, 1);

    // Stored before the answer, not eventually: the table holds it now.
    let stored = app.cached_document(&arn).await.expect("stored at once");
    assert_eq!(serde_json::from_str::<Value>(&stored).expect("json"), body);

    // A new instance (empty memory) answers it from the table, asking Step Functions nothing.
    app.restart().await;
    let reads = describe_count(&shared().endpoint(), &arn).await;
    let read = app.get_execution(&arn).await;
    assert_eq!(read.status(), 200);
    assert_eq!(read.json::<Value>().await.expect("json"), body);
    assert_eq!(describe_count(&shared().endpoint(), &arn).await, reads);
}

#[tokio::test]
async fn a_finished_execution_gets_409_with_its_result_and_no_stop_is_sent() {
    let app = TestApp::spawn().await;
    let arn = app.finished(&quick_input("Cy")).await;
    let refused = problem(app.post(&format!("/executions/{arn}/stop"), "").await, 409).await;
    assert_eq!(refused["type"], "urn:api-sfn:problem:execution-not-running");
    assert_eq!(refused["execution"]["status"], "SUCCEEDED");
    assert_eq!(refused["execution"]["output"]["greeting"], "Hello, Cy!");
    assert_eq!(stop_count(&arn).await, 0);
    assert_eq!(app.until_stopped(&arn).await, ExecutionStatus::Succeeded);
}

#[tokio::test]
async fn an_unknown_execution_gets_404_and_a_foreign_machine_403_with_no_call() {
    let app = TestApp::spawn().await;
    let unknown = app
        .machines
        .greeting
        .replace(":stateMachine:", ":execution:")
        + ":never-started";
    let missing = problem(
        app.post(&format!("/executions/{unknown}/stop"), "").await,
        404,
    )
    .await;
    assert_eq!(missing["type"], "urn:api-sfn:problem:execution-not-found");
    assert_eq!(stop_count(&unknown).await, 0);

    let foreign = "arn:aws:states:us-east-1:123456789012:execution:NotOurs:x-1";
    let refused = problem(
        app.post(&format!("/executions/{foreign}/stop"), "").await,
        403,
    )
    .await;
    assert_eq!(
        refused["type"],
        "urn:api-sfn:problem:state-machine-not-allowed"
    );
    let counts = emulator_counts(&shared().endpoint()).await;
    assert!(
        counts.keys().all(|key| !key.ends_with(foreign)),
        "an upstream call named {foreign}: {counts:?}"
    );
}
