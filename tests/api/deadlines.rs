//! Waits inside API Gateway's 29 s and through upstream trouble: every upstream slowed, Step
//! Functions throttled mid-wait, an execution not visible yet; measured at the client.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::helpers::{clear_faults, header, inject, start_the_greeting_machine, TestApp};

/// Every call to either emulator answers just under the service's per-attempt timeouts
/// (Step Functions 2 s, DynamoDB 0.8 s): nothing times out, everything is slow.
async fn slow_everything(app: &TestApp) {
    let (sfn, ddb) = app.own_endpoints();
    inject(
        app,
        &sfn,
        json!({"target": "*", "mode": "delay", "delayMs": 1900}),
    )
    .await;
    inject(
        app,
        &ddb,
        json!({"target": "*", "mode": "delay", "delayMs": 750}),
    )
    .await;
}

#[tokio::test]
async fn both_wait_routes_answer_within_27_s_with_every_upstream_slowed() {
    let app = TestApp::spawn_with(true, start_the_greeting_machine).await;
    let long = json!({"name": "Slow", "echo": 0, "delaySeconds": 120});
    let running = app.start(&app.machines.greeting, &long).await;
    slow_everything(&app).await;

    let get = async {
        let started = Instant::now();
        let response = app
            .http
            .get(app.url(&format!("/executions/{running}?wait=25")))
            .send()
            .await
            .expect("request");
        (started.elapsed(), response)
    };
    let post = async {
        let started = Instant::now();
        let response = app
            .http
            .post(app.url("/executions/wait?wait=25"))
            .body(long.to_string())
            .send()
            .await
            .expect("request");
        (started.elapsed(), response)
    };
    let ((get_took, get), (post_took, post)) = tokio::join!(get, post);
    println!("slow upstreams: GET ?wait=25 answered in {get_took:?}, POST /executions/wait?wait=25 in {post_took:?}");
    assert_eq!(get.status(), 202);
    assert_eq!(
        post.status(),
        202,
        "a started execution is answered, never hidden"
    );
    let location = header(&post, "location");
    assert!(location.starts_with("./arn:aws:states:"), "{location}");
    let body: Value = post.json().await.expect("json");
    assert_eq!(body["status"], "RUNNING");
    assert!(location.ends_with(body["name"].as_str().expect("name")));
    assert!(get_took < Duration::from_secs(27), "GET took {get_took:?}");
    assert!(
        post_took < Duration::from_secs(27),
        "POST took {post_took:?}"
    );
}

/// A wait of `wait` s on an execution running `runs` s; 2 s in, every `DescribeExecution` is
/// throttled until cleared. The app, the execution, the Step Functions endpoint, the waiter.
async fn throttled_mid_wait(
    runs: u64,
    wait: u64,
) -> (
    TestApp,
    String,
    String,
    tokio::task::JoinHandle<reqwest::Response>,
) {
    let app = TestApp::spawn_split().await;
    let (sfn, _) = app.own_endpoints();
    let input = json!({"name": "Tia", "echo": 0, "delaySeconds": runs});
    let arn = app.start(&app.machines.greeting, &input).await;
    let url = app.url(&format!("/executions/{arn}?wait={wait}"));
    let waiter = tokio::spawn({
        let http = app.http.clone();
        async move { http.get(url).send().await.expect("request") }
    });
    tokio::time::sleep(Duration::from_secs(2)).await;
    inject(
        &app,
        &sfn,
        json!({"target": "AWSStepFunctions.DescribeExecution", "mode": "throttle"}),
    )
    .await;
    (app, arn, sfn, waiter)
}

#[tokio::test]
async fn a_long_poll_rides_out_throttling_and_answers_the_result() {
    let (app, _arn, sfn, waiter) = throttled_mid_wait(6, 15).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    clear_faults(&app, &sfn).await;
    let response = waiter.await.expect("join");
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["status"], "SUCCEEDED");
}

#[tokio::test]
async fn a_long_poll_throttled_to_its_deadline_answers_what_it_last_knew() {
    let (_app, arn, _, waiter) = throttled_mid_wait(60, 6).await;
    let response = waiter.await.expect("join");
    assert_eq!(response.status(), 202, "never 503 once a read succeeded");
    assert!(header(&response, "retry-after").parse::<u64>().is_ok());
    assert_eq!(header(&response, "preference-applied"), "wait=6");
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["executionArn"], arn.as_str());
    assert_eq!(body["status"], "RUNNING");
}

#[tokio::test]
async fn start_and_wait_with_describe_throttled_answers_202_naming_the_execution() {
    let app = TestApp::spawn_with(true, start_the_greeting_machine).await;
    let (sfn, _) = app.own_endpoints();
    inject(
        &app,
        &sfn,
        json!({"target": "AWSStepFunctions.DescribeExecution", "mode": "throttle"}),
    )
    .await;
    let response = app
        .post(
            "/executions/wait?wait=3&name=throttled-1",
            r#"{"name": "Vi"}"#,
        )
        .await;
    assert_eq!(response.status(), 202);
    let location = header(&response, "location");
    assert!(location.ends_with(":throttled-1"), "{location}");
    let body: Value = response.json().await.expect("json");
    assert!(body["executionArn"]
        .as_str()
        .is_some_and(|arn| arn.ends_with(":throttled-1")));
    assert_eq!(body["status"], "RUNNING");
}

#[tokio::test]
async fn a_wait_on_an_execution_not_visible_yet_answers_its_result_not_404() {
    let app = TestApp::spawn().await;
    let name = crate::helpers::unique("late");
    let arn = format!(
        "{}:{name}",
        app.machines
            .greeting
            .replace(":stateMachine:", ":execution:")
    );
    let url = app.url(&format!("/executions/{arn}?wait=10"));
    let waiter = tokio::spawn({
        let http = app.http.clone();
        async move { http.get(url).send().await.expect("request") }
    });
    // The start lands after the wait began: to the service the name is unknown at first.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    app.sfn
        .start_execution()
        .state_machine_arn(&app.machines.greeting)
        .name(&name)
        .input(json!({"name": "Late", "echo": 1, "delaySeconds": 0}).to_string())
        .send()
        .await
        .expect("start");
    let response = waiter.await.expect("join");
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["output"]["greeting"], "Hello, Late!");
}
