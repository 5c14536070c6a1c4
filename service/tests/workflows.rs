//! Router tests of `/workflows`: the configured machines by name, over in-memory fakes.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::{json, Value};
use sfn_results::adapters::{InMemoryExecutions, InMemoryStore};
use sfn_results::config::Config;
use sfn_results::App;
use sfn_results::{router, AppState, Ports};

mod support;

const ORDERS: &str = "arn:aws:states:us-east-1:123456789012:stateMachine:orders";
const QUOTE: &str = "arn:aws:states:us-east-1:123456789012:stateMachine:quote";

fn config(vars: &[(&str, &str)]) -> Result<Config, String> {
    Config::from_lookup(|name| {
        vars.iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| (*v).to_owned())
    })
    .map_err(|e| e.to_string())
}

fn fixture() -> (InMemoryExecutions, App) {
    let config = config(&[
        ("RESULTS_TABLE", "results"),
        ("ALLOWED_STATE_MACHINES", &format!("{QUOTE},{ORDERS}")),
        ("EXPRESS_STATE_MACHINES", QUOTE),
        ("CURSOR_SECRET", "a-secret-for-router-tests"),
    ])
    .expect("config");
    let executions = InMemoryExecutions::default();
    let ports = Ports {
        source: Arc::new(executions.clone()),
        starter: Arc::new(executions.clone()),
        control: Arc::new(executions.clone()),
        history: Arc::new(executions.clone()),
        callbacks: Arc::new(sfn_results::adapters::InMemoryTasks::default()),
        lister: Arc::new(executions.clone()),
        store: Arc::new(InMemoryStore::default()),
        links: Arc::new(sfn_results::adapters::InMemoryStore::default()),
    };
    (executions, router(AppState::new(&config, ports)))
}

async fn send(app: &App, method: &str, uri: &str, body: &str) -> (StatusCode, Value) {
    let request = Request::builder()
        .method(method)
        .uri(uri)
        .header("content-type", "application/json")
        .body(Body::from(body.to_owned()))
        .expect("request");
    let answer = support::call(app, request).await;
    (answer.status, answer.body)
}

#[tokio::test]
async fn get_workflows_lists_each_configured_machine_by_name_with_its_type_and_routes() {
    let (executions, app) = fixture();
    let (status, body) = send(&app, "GET", "/workflows", "").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        body,
        json!({"workflows": [
            {"name": "orders", "type": "STANDARD", "stateMachineArn": ORDERS, "links": {
                "self": "/workflows/orders", "start": "/workflows/orders/executions",
                "wait": "/workflows/orders/executions/wait", "executions": "/workflows/orders/executions"}},
            {"name": "quote", "type": "EXPRESS", "stateMachineArn": QUOTE, "links": {
                "self": "/workflows/quote", "start": "/workflows/quote/executions",
                "sync": "/workflows/quote/executions/sync", "executions": "/workflows/quote/executions"}},
        ]})
    );
    let (status, one) = send(&app, "GET", "/workflows/quote", "").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(one, body["workflows"][1]);
    assert_eq!(
        executions.calls() + executions.lists(),
        0,
        "configuration only"
    );
}

#[tokio::test]
async fn an_unknown_workflow_is_404_on_every_route_with_no_upstream_call() {
    let (executions, app) = fixture();
    for (method, uri) in [
        ("GET", "/workflows/nope"),
        ("GET", "/workflows/nope/executions"),
        ("POST", "/workflows/nope/executions/wait?wait=0"),
        ("GET", "/workflows/Orders"),
        ("GET", "/workflows/orders%3Ax/executions"),
    ] {
        let (status, problem) = send(&app, method, uri, "{}").await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{method} {uri}");
        assert_eq!(
            problem["type"], "urn:api-sfn:problem:workflow-not-found",
            "{method} {uri}"
        );
        assert!(
            problem["detail"]
                .as_str()
                .is_some_and(|d| d.contains("GET /workflows")),
            "{problem}"
        );
    }
    assert_eq!(
        executions.calls() + executions.lists() + executions.starts(),
        0
    );
}

#[tokio::test]
async fn start_and_wait_runs_the_named_standard_workflow_and_refuses_an_express_one() {
    let (executions, app) = fixture();
    let (status, document) = send(
        &app,
        "POST",
        "/workflows/orders/executions/wait?wait=0&name=first",
        r#"{"items": [1]}"#,
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{document}");
    assert_eq!(
        document["executionArn"],
        "arn:aws:states:us-east-1:123456789012:execution:orders:first"
    );
    let second = support::send(
        &app,
        "POST",
        "/workflows/orders/executions/wait?wait=0&name=second",
        "",
    )
    .await;
    assert_eq!(
        second.headers["location"],
        "../../../executions/arn:aws:states:us-east-1:123456789012:execution:orders:second",
        "relative to the wait URL, it is the status URL"
    );
    assert_eq!(document["status"], "RUNNING");

    let (status, problem) = send(&app, "POST", "/workflows/quote/executions/wait", "{}").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        problem["type"],
        "urn:api-sfn:problem:workflow-type-not-supported"
    );
    assert!(
        problem["detail"]
            .as_str()
            .is_some_and(|d| d.contains("/executions/sync")),
        "{problem}"
    );
    let (status, problem) = send(&app, "POST", "/workflows/orders/executions/wait", "{").await;
    assert_eq!(
        (status, &problem["type"]),
        (
            StatusCode::BAD_REQUEST,
            &json!("urn:api-sfn:problem:invalid-input")
        )
    );
    assert_eq!(
        executions.starts(),
        2,
        "only the STANDARD workflow was started"
    );
}

#[tokio::test]
async fn a_workflows_list_is_the_ops_list_of_its_machine_with_links_back_to_the_results() {
    let (_, app) = fixture();
    for name in ["a", "b", "c"] {
        let (status, _) = send(
            &app,
            "POST",
            &format!("/workflows/orders/executions/wait?wait=0&name={name}"),
            "{}",
        )
        .await;
        assert_eq!(status, StatusCode::ACCEPTED);
    }
    let listed = support::send(&app, "GET", "/workflows/orders/executions?limit=2", "").await;
    assert_eq!(listed.status, StatusCode::OK);
    let link = listed.headers["link"].to_str().expect("text").to_owned();
    assert!(link.starts_with("<executions?limit=2&cursor="), "{link}");
    let page = listed.body;
    let items = page["executions"].as_array().expect("items");
    assert_eq!(items.len(), 2);
    // Relative to /workflows/orders/executions: back up to /executions/{arn}.
    assert!(
        items.iter().all(|i| i["statusUrl"]
            .as_str()
            .is_some_and(|u| u.starts_with("../../executions/arn:aws:states:"))),
        "{page}"
    );
    let cursor = link
        .trim_start_matches('<')
        .split('>')
        .next()
        .expect("link target");
    let (status, next) = send(&app, "GET", &format!("/workflows/orders/{cursor}"), "").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(next["executions"].as_array().map(Vec::len), Some(1));

    let (status, problem) = send(
        &app,
        "GET",
        &format!("/workflows/orders/executions?stateMachine={QUOTE}"),
        "",
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{problem}");
}

#[test]
fn two_allowed_machines_with_one_name_stop_the_service_at_start_with_one_line() {
    let other_account = "arn:aws:states:us-east-1:210987654321:stateMachine:orders";
    let err = config(&[
        ("RESULTS_TABLE", "results"),
        (
            "ALLOWED_STATE_MACHINES",
            &format!("{ORDERS},{other_account}"),
        ),
    ])
    .expect_err("a shared name");
    assert!(err.starts_with("ALLOWED_STATE_MACHINES: "), "{err}");
    assert!(err.contains(ORDERS) && err.contains(other_account), "{err}");
    assert!(!err.contains('\n'));
}

#[test]
fn a_star_reads_any_machine_but_names_no_workflow() {
    let any = config(&[
        ("RESULTS_TABLE", "results"),
        ("ALLOWED_STATE_MACHINES", "*"),
    ])
    .expect("config");
    assert!(any.workflows.is_empty());
}
