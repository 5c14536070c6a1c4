//! `POST /executions/{arn}/redrive` through the whole `Router` (`oneshot`), over in-memory fakes
//! of the ports that count every upstream call; two apps over one table stand for two Lambda
//! processes. Step Functions' own answers to the call are in `redrive_sdk.rs`.

use std::time::{Duration, SystemTime};

use axum::http::StatusCode;
use serde_json::Value;
use sfn_results::adapters::{InMemoryExecutions, InMemoryStore};
use sfn_results::config::Config;
use sfn_results::domain::{Execution, ExecutionArn, ExecutionStatus};
use sfn_results::App;
use sfn_results::{router, AppState, Ports};

mod support;
use support::{send, Answer};

const MACHINE: &str = "arn:aws:states:us-east-1:123456789012:stateMachine:Orders";
const PREFIX: &str = "arn:aws:states:us-east-1:123456789012:execution:Orders:";

fn app(executions: &InMemoryExecutions, store: &InMemoryStore) -> App {
    let config = Config::from_lookup(|name| match name {
        "RESULTS_TABLE" => Some("results".into()),
        "ALLOWED_STATE_MACHINES" => Some(MACHINE.into()),
        _ => None,
    })
    .expect("config");
    router(AppState::new(&config, Ports::in_memory(executions, store)))
}

fn arn(name: &str) -> String {
    format!("{PREFIX}{name}")
}

/// An execution that failed a moment ago: Step Functions may redrive it.
fn failed(name: &str) -> Execution {
    Execution::builder(ExecutionArn::parse(&arn(name)).expect("valid"))
        .status(ExecutionStatus::Failed)
        .started(SystemTime::now() - Duration::from_secs(5))
        .ran(Duration::from_secs(2))
        .error("States.TaskFailed")
        .build()
}

async fn redrive(app: &App, name: &str) -> Answer {
    send(
        app,
        "POST",
        &format!("/executions/{}/redrive", arn(name)),
        "",
    )
    .await
}

async fn get(app: &App, name: &str) -> Answer {
    send(app, "GET", &format!("/executions/{}", arn(name)), "").await
}

#[tokio::test]
async fn after_a_redrive_no_instance_serves_the_failure_even_while_reads_lag() {
    let (executions, store) = (InMemoryExecutions::default(), InMemoryStore::default());
    let (one, other) = (app(&executions, &store), app(&executions, &store));
    executions.insert(failed("o-1"));
    // The other instance has the failure in its memory and the table has it, cached briefly.
    let before = get(&other, "o-1").await;
    assert_eq!(before.status, StatusCode::OK);
    assert_eq!(before.body["status"], "FAILED");
    // Step Functions takes the redrive, but its reads go on saying FAILED for a while.
    executions.set_reads_lag(true);
    let redriven = redrive(&one, "o-1").await;
    assert_eq!(redriven.status, StatusCode::ACCEPTED);
    assert_eq!(redriven.body["status"], "RUNNING");
    assert_eq!(redriven.body["error"], Value::Null);
    assert_eq!(redriven.body["stopDate"], Value::Null);
    assert_eq!(redriven.body["startDate"], before.body["startDate"]);
    assert_eq!(redriven.headers["location"], format!("../{}", arn("o-1")));
    assert_eq!(redriven.headers["cache-control"], "no-store");
    assert_eq!(executions.redrives(), 1);
    for instance in [&other, &one] {
        let read = get(instance, "o-1").await;
        assert_eq!(read.status, StatusCode::ACCEPTED, "{}", read.body);
        assert_eq!(read.body["status"], "RUNNING");
    }
    // The redriven run ends: every instance answers its result, stored over the mark.
    executions.update(&arn("o-1"), |e| {
        e.status = ExecutionStatus::Succeeded;
        e.redrive_count = 1;
        e.stop_date = Some(SystemTime::now());
        e.output = Some(r#"{"paid": true}"#.into());
        e.error = None;
        e.cause = None;
    });
    // (A read shared within the tick may still say RUNNING: the wait sees it through.)
    let done = send(
        &other,
        "GET",
        &format!("/executions/{}?wait=10", arn("o-1")),
        "",
    )
    .await;
    assert_eq!(done.status, StatusCode::OK);
    assert_eq!(done.body["status"], "SUCCEEDED");
    assert_eq!(done.body["output"]["paid"], true);
    let stored = store.item(&arn("o-1")).expect("stored");
    assert_eq!(stored.status, ExecutionStatus::Succeeded);
    assert_eq!(get(&one, "o-1").await.body, done.body);
}

#[tokio::test]
async fn a_waiter_on_the_status_url_sees_the_redriven_run_through_to_its_end() {
    let (executions, store) = (InMemoryExecutions::default(), InMemoryStore::default());
    let app = app(&executions, &store);
    executions.insert(failed("o-2"));
    assert_eq!(get(&app, "o-2").await.body["status"], "FAILED");
    assert_eq!(redrive(&app, "o-2").await.status, StatusCode::ACCEPTED);
    let reads = executions.calls();
    let waiter = {
        let app = app.clone();
        tokio::spawn(async move {
            send(
                &app,
                "GET",
                &format!("/executions/{}?wait=20", arn("o-2")),
                "",
            )
            .await
        })
    };
    // The waiter has read the running run at least once before it ends.
    while executions.calls() == reads && !waiter.is_finished() {
        tokio::task::yield_now().await;
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    executions.update(&arn("o-2"), |e| {
        e.status = ExecutionStatus::Succeeded;
        e.stop_date = Some(SystemTime::now());
        e.output = Some("{}".into());
    });
    let waited = waiter.await.expect("waiter");
    assert_eq!(waited.status, StatusCode::OK, "{}", waited.body);
    assert_eq!(waited.body["status"], "SUCCEEDED");
}

#[tokio::test]
async fn a_redrive_step_functions_refuses_is_409_with_its_reason_and_the_execution() {
    let (executions, store) = (InMemoryExecutions::default(), InMemoryStore::default());
    let app = app(&executions, &store);
    let succeeded = Execution::builder(ExecutionArn::parse(&arn("done")).expect("valid"))
        .status(ExecutionStatus::Succeeded)
        .started(SystemTime::now() - Duration::from_secs(5))
        .ran(Duration::from_secs(1))
        .output("{}")
        .build();
    executions.insert(succeeded);
    let refused = redrive(&app, "done").await;
    assert_eq!(refused.status, StatusCode::CONFLICT);
    assert_eq!(
        refused.body["type"],
        "urn:api-sfn:problem:execution-not-redrivable"
    );
    let detail = refused.body["detail"].as_str().expect("detail");
    assert!(
        detail.contains("with status SUCCEEDED cannot be redriven"),
        "{detail}"
    );
    assert_eq!(refused.body["execution"]["status"], "SUCCEEDED");
    assert_eq!(refused.headers["location"], format!("../{}", arn("done")));
    assert_eq!(executions.redrives(), 1);
    // Nothing changed: the result is served as it was.
    assert_eq!(get(&app, "done").await.body["status"], "SUCCEEDED");
}

#[tokio::test]
async fn express_foreign_unknown_and_bad_requests_change_nothing() {
    let (executions, store) = (InMemoryExecutions::default(), InMemoryStore::default());
    let app = app(&executions, &store);
    executions.insert(failed("o-3"));
    let express = "arn:aws:states:us-east-1:123456789012:express:Orders:o-3:2f1c0e4e-9d8a-4b8e-8f57-0d1f4b5e6a7b";
    let foreign = "arn:aws:states:us-east-1:123456789012:execution:Payroll:o-3";
    let cases = [
        (
            format!("/executions/{express}/redrive"),
            "",
            400,
            "execution-type-not-supported",
        ),
        (
            format!("/executions/{foreign}/redrive"),
            "",
            403,
            "state-machine-not-allowed",
        ),
        (
            format!("/executions/{}/redrive", arn("nobody")),
            "",
            404,
            "execution-not-found",
        ),
        (
            format!("/executions/{}/redrive", arn("o-3")),
            r#"{"from": "Pay"}"#,
            400,
            "invalid-input",
        ),
        (
            format!("/executions/{}/redrive", arn("o-3")),
            "[]",
            400,
            "invalid-input",
        ),
    ];
    for (uri, body, status, kind) in cases {
        let answer = send(&app, "POST", &uri, body).await;
        assert_eq!(answer.status.as_u16(), status, "{uri}: {}", answer.body);
        assert_eq!(answer.body["type"], format!("urn:api-sfn:problem:{kind}"));
    }
    // Only the unknown execution was read; nothing was redriven.
    assert_eq!(executions.calls(), 1);
    assert_eq!(executions.redrives(), 0);
    assert_eq!(get(&app, "o-3").await.body["status"], "FAILED");
}
