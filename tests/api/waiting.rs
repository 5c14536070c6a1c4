//! Wait, don't poll: coalesced reads, long-polls and start-and-wait, with upstream calls
//! counted at the emulator.

use std::collections::HashMap;

use serde_json::{json, Value};

use crate::helpers::{emulator_counts, header, problem, quick_input, TestApp};

fn count(counts: &HashMap<String, u64>, key: &str) -> u64 {
    counts.get(key).copied().unwrap_or(0)
}

#[tokio::test]
async fn five_hundred_concurrent_first_fetches_make_one_describe_and_one_cache_write() {
    let app = TestApp::spawn_split().await;
    let arn = app.finished(&quick_input("Lea")).await;
    let (sfn, ddb) = app.own_endpoints();
    let describe = format!("AWSStepFunctions.DescribeExecution {arn}");
    let before = count(&emulator_counts(&sfn).await, &describe);

    let url = app.url(&format!("/executions/{arn}"));
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..500 {
        let (http, url) = (app.http.clone(), url.clone());
        tasks.spawn(async move {
            let response = http.get(url).send().await.expect("request");
            (
                response.status().as_u16(),
                response.bytes().await.expect("body"),
            )
        });
    }
    let answers = tasks.join_all().await;
    assert!(answers
        .iter()
        .all(|(status, body)| *status == 200 && *body == answers[0].1));

    let sfn_counts = emulator_counts(&sfn).await;
    let ddb_counts = emulator_counts(&ddb).await;
    assert_eq!(
        count(&sfn_counts, &describe) - before,
        1,
        "one DescribeExecution"
    );
    assert_eq!(
        count(&ddb_counts, "DynamoDB_20120810.GetItem"),
        1,
        "one cache read"
    );
    assert_eq!(
        count(&ddb_counts, "DynamoDB_20120810.PutItem"),
        1,
        "one cache write"
    );

    for _ in 0..1000 {
        let response = app.get_execution(&arn).await;
        assert_eq!(response.status(), 200);
    }
    let sfn_after = emulator_counts(&sfn).await;
    let ddb_after = emulator_counts(&ddb).await;
    assert_eq!(
        count(&sfn_after, &describe) - before,
        1,
        "cached fetches make no DescribeExecution"
    );
    assert_eq!(
        count(&ddb_after, "DynamoDB_20120810.GetItem"),
        1,
        "hot results need no DynamoDB"
    );
}

#[tokio::test]
async fn long_polls_answer_when_the_execution_stops_at_one_describe_per_second() {
    let app = TestApp::spawn().await;
    let endpoint = crate::emulators::shared().endpoint();
    let input = json!({"name": "Max", "echo": "slow", "delaySeconds": 4});
    let arn = app.start(&app.machines.greeting, &input).await;
    let describe = format!("AWSStepFunctions.DescribeExecution {arn}");
    let started = tokio::time::Instant::now();

    let url = app.url(&format!("/executions/{arn}"));
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..40 {
        let (http, url) = (app.http.clone(), url.clone());
        tasks.spawn(async move {
            // Half ask with the query, half with RFC 7240's header.
            let request = if i % 2 == 0 {
                http.get(format!("{url}?wait=20"))
            } else {
                http.get(url).header("prefer", "respond-async, wait=20")
            };
            let response = request.send().await.expect("request");
            let applied = header(&response, "preference-applied");
            (
                response.status().as_u16(),
                applied,
                response.json::<Value>().await.expect("json"),
            )
        });
    }
    for (status, applied, body) in tasks.join_all().await {
        assert_eq!(status, 200);
        assert_eq!(applied, "wait=20");
        assert_eq!(body["status"], "SUCCEEDED");
        assert_eq!(body["output"]["echo"], "slow");
    }
    let seconds = started.elapsed().as_secs() + 1;
    let calls = count(&emulator_counts(&endpoint).await, &describe);
    println!("40 waiters over {seconds} s: {calls} DescribeExecution calls");
    assert!(
        calls <= seconds + 1,
        "{calls} DescribeExecution calls in {seconds} s"
    );
}

#[tokio::test]
async fn a_wait_shorter_than_the_execution_answers_202_and_a_capped_wait_says_so() {
    let app = TestApp::spawn_with(false, |env| {
        env.insert("MAX_WAIT_SECONDS".into(), "1".into());
    })
    .await;
    let input = json!({"name": "Ned", "echo": 0, "delaySeconds": 30});
    let arn = app.start(&app.machines.greeting, &input).await;
    let response = app
        .http
        .get(app.url(&format!("/executions/{arn}?wait=99999")))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 202);
    assert_eq!(header(&response, "preference-applied"), "wait=1");
    assert!(header(&response, "retry-after").parse::<u64>().is_ok());
}

#[tokio::test]
async fn start_and_wait_answers_the_result_when_quick_and_a_handle_when_not() {
    let app = TestApp::spawn_with_start_route(None).await;
    let quick = app
        .post(
            "/executions/wait?wait=10",
            r#"{"name": "Oz", "echo": {"it's": "quoted \"here\""}, "delaySeconds": 1}"#,
        )
        .await;
    assert_eq!(quick.status(), 200);
    let body: Value = quick.json().await.expect("json");
    assert_eq!(body["status"], "SUCCEEDED");
    assert_eq!(body["output"]["echo"]["it's"], "quoted \"here\"");

    let slow_body = json!({"name": "Pia", "echo": 1, "delaySeconds": 30}).to_string();
    let slow = app
        .http
        .post(app.url("/executions/wait?name=order-17"))
        .header("prefer", "wait=1")
        .body(slow_body.clone())
        .send()
        .await
        .expect("request");
    assert_eq!(slow.status(), 202);
    let location = header(&slow, "location");
    assert!(
        location.starts_with("./arn:aws:states:") && location.ends_with(":order-17"),
        "{location}"
    );
    let status_url = app.url(&format!("/executions/{}", &location[2..]));
    assert_eq!(
        app.http
            .get(status_url)
            .send()
            .await
            .expect("request")
            .status(),
        202
    );

    let retry = app
        .post("/executions/wait?name=order-17&wait=0", slow_body)
        .await;
    assert_eq!(
        retry.status(),
        202,
        "same name and input: the same execution"
    );
    assert_eq!(header(&retry, "location"), location);

    let conflict = app
        .post(
            "/executions/wait?name=order-17&wait=0",
            r#"{"name": "Other"}"#,
        )
        .await;
    problem(conflict, 409).await;

    let not_json = app.post("/executions/wait", "{oops").await;
    problem(not_json, 400).await;
}

#[tokio::test]
async fn start_and_wait_is_404_when_no_start_machine_is_configured() {
    let app = TestApp::spawn().await;
    let response = app.post("/executions/wait", "{}").await;
    problem(response, 404).await;
}

#[tokio::test]
async fn on_sigterm_a_waiting_request_is_answered_then_the_server_exits() {
    let mut app = TestApp::spawn().await;
    let input = json!({"name": "Sig", "echo": "slow", "delaySeconds": 30});
    let arn = app.start(&app.machines.greeting, &input).await;
    let url = app.url(&format!("/executions/{arn}?wait=2"));
    let waiting = tokio::spawn(app.http.get(url).send());
    // SIGTERM once the request is being served (its first read reached Step Functions), not
    // after a fixed time a busy machine may outlast before the request even arrives.
    let started = std::time::Instant::now();
    while crate::helpers::describe_count(&crate::emulators::shared().endpoint(), &arn).await == 0 {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(30),
            "the request never reached the service"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    app.service.terminate();

    let answer = waiting
        .await
        .expect("task")
        .expect("the waiting request is answered");
    assert_eq!(answer.status(), 202);
    assert_eq!(header(&answer, "preference-applied"), "wait=2");
    let status = app
        .service
        .exit_within(std::time::Duration::from_secs(5))
        .expect("the server exits once its requests are answered");
    assert!(status.success(), "{status}");
    let after = reqwest::Client::new().get(app.url("/healthz")).send().await;
    assert!(after.is_err(), "no new connection is accepted: {after:?}");
}
