//! `GET /executions/{arn}/steps` through the whole `Router` (`oneshot`), over the in-memory
//! Step Functions, which pages histories by 1,000 events as `GetExecutionHistory` does and
//! counts every page read.

use std::time::{Duration, UNIX_EPOCH};

use axum::http::StatusCode;
use sfn_results::adapters::{InMemoryExecutions, InMemoryStore};
use sfn_results::config::Config;
use sfn_results::domain::HistoryEvent;
use sfn_results::{router, App, AppState, Ports};

mod support;
use support::{send, Answer};

const MACHINE: &str = "arn:aws:states:us-east-1:123456789012:stateMachine:Orders";
const PREFIX: &str = "arn:aws:states:us-east-1:123456789012:execution:Orders:";

fn app(executions: &InMemoryExecutions) -> App {
    let config = Config::from_lookup(|name| match name {
        "RESULTS_TABLE" => Some("results".into()),
        "ALLOWED_STATE_MACHINES" => Some(MACHINE.into()),
        _ => None,
    })
    .expect("config");
    let store = InMemoryStore::default();
    router(AppState::new(&config, Ports::in_memory(executions, &store)))
}

/// A Map of `items` iterations, each a Task that fails once and succeeds on its retry; 8 events
/// an iteration. `stopped`: the execution succeeded; otherwise it is still running.
fn map_history(items: u32, stopped: bool) -> Vec<HistoryEvent> {
    let mut events = Vec::new();
    let mut push =
        |previous: i64, kind: &str, name: Option<&str>, index: Option<u32>, error: Option<&str>| {
            let id = i64::try_from(events.len()).expect("id") + 1;
            events.push(HistoryEvent {
                id,
                previous,
                kind: kind.to_owned(),
                at: UNIX_EPOCH + Duration::from_millis(1_800_000_000_000 + id.unsigned_abs() * 10),
                name: name.map(str::to_owned),
                index,
                error: error.map(str::to_owned),
                cause: None,
            });
            id
        };
    let started = push(0, "ExecutionStarted", None, None, None);
    let entered = push(started, "MapStateEntered", Some("Items"), None, None);
    let map = push(entered, "MapStateStarted", None, None, None);
    let mut last = map;
    for i in 0..items {
        let it = push(map, "MapIterationStarted", Some("Items"), Some(i), None);
        let task = push(it, "TaskStateEntered", Some("Work"), None, None);
        let first = push(task, "TaskScheduled", None, None, None);
        let failed = push(first, "TaskFailed", None, None, Some("Busy"));
        let second = push(failed, "TaskScheduled", None, None, None);
        let done = push(second, "TaskSucceeded", None, None, None);
        let exited = push(done, "TaskStateExited", Some("Work"), None, None);
        last = push(
            exited,
            "MapIterationSucceeded",
            Some("Items"),
            Some(i),
            None,
        );
    }
    if stopped {
        let ok = push(last, "MapStateSucceeded", None, None, None);
        let exited = push(ok, "MapStateExited", Some("Items"), None, None);
        push(exited, "ExecutionSucceeded", None, None, None);
    }
    events
}

async fn get(app: &App, uri: &str) -> Answer {
    send(app, "GET", uri, "").await
}

#[tokio::test]
async fn a_stopped_executions_steps_are_paged_by_cursor_and_kept_after_one_read() {
    let executions = InMemoryExecutions::default();
    let app = app(&executions);
    let arn = format!("{PREFIX}o-1");
    executions.set_history(&arn, map_history(3, true));
    let first = get(&app, &format!("/executions/{arn}/steps?limit=2")).await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.body);
    assert_eq!(executions.history_calls(), 1);
    let steps = first.body["steps"].as_array().expect("steps");
    assert_eq!(steps.len(), 2);
    assert_eq!(steps[0]["name"], "Items");
    assert_eq!(steps[0]["type"], "Map");
    assert_eq!(steps[0]["status"], "SUCCEEDED");
    assert_eq!(steps[1]["name"], "Work");
    assert_eq!(steps[1]["attempts"], 2, "the retry is folded into the step");
    assert_eq!(steps[1]["error"], "Busy");
    assert_eq!(
        steps[1]["within"],
        serde_json::json!([{"state": "Items", "iteration": 0}])
    );
    assert_eq!(steps[1]["durationMs"], 50);
    assert_eq!(first.headers["cache-control"], "private, max-age=60");
    let cursor = first.body["nextCursor"].as_str().expect("a next page");
    let link = first.headers["link"].to_str().expect("link");
    assert!(
        link.starts_with("<steps?limit=2&cursor=") && link.ends_with(">; rel=\"next\""),
        "{link}"
    );
    // The rest, from memory: no more history read.
    let cursor = percent_encoding::utf8_percent_encode(cursor, percent_encoding::NON_ALPHANUMERIC);
    let second = get(
        &app,
        &format!("/executions/{arn}/steps?limit=2&cursor={cursor}"),
    )
    .await;
    assert_eq!(second.status, StatusCode::OK, "{}", second.body);
    let rest = second.body["steps"].as_array().expect("steps");
    assert_eq!(rest.len(), 2);
    assert_eq!(rest[0]["within"][0]["iteration"], 1);
    assert_eq!(rest[1]["within"][0]["iteration"], 2);
    assert!(second.body.get("nextCursor").is_none());
    assert!(!second.headers.contains_key("link"));
    assert_eq!(second.headers["cache-status"], "sfn-results; hit");
    assert_eq!(executions.history_calls(), 1);
    // A cursor altered, or sent for another execution, is refused before any read.
    let other = format!("{PREFIX}o-2");
    executions.set_history(&other, map_history(1, true));
    for uri in [
        format!("/executions/{arn}/steps?cursor=x{cursor}"),
        format!("/executions/{other}/steps?limit=2&cursor={cursor}"),
    ] {
        let refused = get(&app, &uri).await;
        assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{uri}");
        assert_eq!(refused.body["type"], "urn:api-sfn:problem:invalid-cursor");
    }
    assert_eq!(executions.history_calls(), 1);
}

#[tokio::test]
async fn a_running_executions_whole_history_is_read_for_each_page() {
    let executions = InMemoryExecutions::default();
    let app = app(&executions);
    let arn = format!("{PREFIX}big");
    // 2,500 events (312 iterations): three pages of history.
    let history = map_history(312, false);
    assert_eq!(history.len(), 3 + 312 * 8);
    executions.set_history(&arn, history);
    let page = get(&app, &format!("/executions/{arn}/steps")).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert_eq!(page.body["steps"].as_array().expect("steps").len(), 100);
    assert_eq!(page.body["steps"][0]["status"], "RUNNING");
    assert_eq!(page.headers["cache-control"], "no-store");
    assert_eq!(executions.history_calls(), 3);
    get(&app, &format!("/executions/{arn}/steps")).await;
    assert_eq!(
        executions.history_calls(),
        6,
        "a running execution's steps are not kept"
    );
}

#[tokio::test]
async fn express_foreign_unknown_and_bad_queries_are_refused() {
    let executions = InMemoryExecutions::default();
    let app = app(&executions);
    let express = "arn:aws:states:us-east-1:123456789012:express:Orders:o-1:2f1c0e4e-9d8a-4b8e-8f57-0d1f4b5e6a7b";
    let foreign = "arn:aws:states:us-east-1:123456789012:execution:Payroll:o-1";
    let cases = [
        (
            format!("/executions/{express}/steps"),
            404,
            "express-history-not-kept",
        ),
        (
            format!("/executions/{foreign}/steps"),
            403,
            "state-machine-not-allowed",
        ),
        (
            format!("/executions/{PREFIX}o-1/steps?limit=0"),
            400,
            "invalid-query",
        ),
        (
            format!("/executions/{PREFIX}o-1/steps?limit=1001"),
            400,
            "invalid-query",
        ),
        (
            format!("/executions/{PREFIX}o-1/steps?wait=5"),
            400,
            "invalid-query",
        ),
    ];
    for (uri, status, kind) in cases {
        let answer = get(&app, &uri).await;
        assert_eq!(answer.status.as_u16(), status, "{uri}: {}", answer.body);
        assert_eq!(
            answer.body["type"],
            format!("urn:api-sfn:problem:{kind}"),
            "{uri}"
        );
    }
    assert_eq!(executions.history_calls(), 0, "refused with no call");
    let unknown = get(&app, &format!("/executions/{PREFIX}nobody/steps")).await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    assert_eq!(
        unknown.body["type"],
        "urn:api-sfn:problem:execution-not-found"
    );
}
