//! Router tests of `GET /executions` and `GET /`: the whole `Router` over in-memory fakes.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode};
use serde_json::Value;
use sfn_results::adapters::{InMemoryExecutions, InMemoryStore};
use sfn_results::config::Config;
use sfn_results::domain::{Execution, ExecutionArn, ExecutionStatus, RedriveStatus};
use sfn_results::App;
use sfn_results::{router, AppState, Ports};
use tower::ServiceExt;

const MACHINE: &str = "arn:aws:states:us-east-1:123456789012:stateMachine:Orders";
const OTHER: &str = "arn:aws:states:us-east-1:123456789012:stateMachine:Other";

fn fixture() -> (InMemoryExecutions, App) {
    let config = Config::from_lookup(|name| match name {
        "RESULTS_TABLE" => Some("results".into()),
        "ALLOWED_STATE_MACHINES" => Some(MACHINE.into()),
        "CURSOR_SECRET" => Some("a-secret-for-router-tests".into()),
        _ => None,
    })
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

/// `n` executions started a second apart, the last one newest; every third one running.
fn seed(executions: &InMemoryExecutions, n: u64) {
    let origin = SystemTime::now() - Duration::from_secs(600);
    for i in 0..n {
        let status = match i % 3 {
            0 => ExecutionStatus::Running,
            1 => ExecutionStatus::Succeeded,
            _ => ExecutionStatus::Failed,
        };
        let start = origin + Duration::from_secs(i);
        let arn = ExecutionArn::parse(&format!(
            "{}:run-{i}",
            MACHINE.replace("stateMachine", "execution")
        ))
        .expect("valid");
        let execution = Execution::builder(arn)
            .status(status)
            .started(start)
            .ran(Duration::from_millis(1500))
            .redrive_status(RedriveStatus::NotRedrivable);
        executions.insert(
            match status {
                ExecutionStatus::Succeeded => execution.output(r#"{"n": 1}"#),
                ExecutionStatus::Failed => execution.error("Boom"),
                _ => execution,
            }
            .build(),
        );
    }
}

async fn get(app: &App, uri: &str) -> (StatusCode, HeaderMap, Vec<u8>) {
    let request = Request::get(uri).body(Body::empty()).expect("request");
    let response = app.clone().oneshot(request).await.expect("response");
    let (parts, body) = response.into_parts();
    let bytes = axum::body::to_bytes(body, usize::MAX).await.expect("body");
    (parts.status, parts.headers, bytes.to_vec())
}

fn list(query: &str) -> String {
    format!("/executions?stateMachine={MACHINE}{query}")
}

fn names(body: &[u8]) -> Vec<String> {
    let body: Value = serde_json::from_slice(body).expect("json");
    body["executions"]
        .as_array()
        .expect("executions")
        .iter()
        .map(|e| e["name"].as_str().expect("name").to_owned())
        .collect()
}

/// The `Link: <…>; rel="next"` target, resolved against `/executions`.
fn next(headers: &HeaderMap) -> Option<String> {
    let link = headers.get("link")?.to_str().ok()?;
    let target = link.strip_prefix('<')?.split_once('>')?.0;
    assert!(link.ends_with("rel=\"next\""), "{link}");
    Some(format!("/{target}"))
}

#[tokio::test]
async fn the_list_is_newest_first_with_each_items_fields() {
    let (executions, app) = fixture();
    seed(&executions, 3);
    let (status, headers, body) = get(&app, &list("")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers["cache-control"], "no-store");
    assert_eq!(names(&body), ["run-2", "run-1", "run-0"]);
    let body: Value = serde_json::from_slice(&body).expect("json");
    let first = &body["executions"][1];
    assert_eq!(first["status"], "SUCCEEDED");
    assert!(first["executionArn"]
        .as_str()
        .expect("arn")
        .ends_with(":run-1"));
    assert!(first["startDate"].as_str().expect("start").ends_with('Z'));
    assert!(first["stopDate"].is_string());
    assert!(
        body["executions"][2]["stopDate"].is_null(),
        "run-0 is running"
    );
    let url = first["statusUrl"].as_str().expect("url");
    assert!(url.starts_with("executions/arn:aws:states:"), "{url}");
    assert!(first.get("result").is_none(), "only with include=result");
    assert!(headers.get("link").is_none(), "one page");
}

#[tokio::test]
async fn the_status_filter_keeps_only_that_status() {
    let (executions, app) = fixture();
    seed(&executions, 6);
    let (_, _, body) = get(&app, &list("&status=FAILED")).await;
    assert_eq!(names(&body), ["run-5", "run-2"]);
}

#[tokio::test]
async fn a_cursor_walks_every_page_once_and_a_tampered_one_is_refused() {
    let (executions, app) = fixture();
    seed(&executions, 5);
    let mut uri = list("&limit=2");
    let mut seen = Vec::new();
    let mut pages = 0;
    loop {
        let (status, headers, body) = get(&app, &uri).await;
        assert_eq!(status, StatusCode::OK, "{uri}");
        seen.extend(names(&body));
        pages += 1;
        match next(&headers) {
            Some(link) => uri = link,
            None => break,
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(seen, ["run-4", "run-3", "run-2", "run-1", "run-0"]);

    let (_, headers, _) = get(&app, &list("&limit=2")).await;
    let link = next(&headers).expect("a next page");
    let calls = executions.lists();
    let (cursor_at, _) = link.split_once("cursor=").expect("cursor");
    let tampered = format!("{cursor_at}cursor=eyJwIjp7Im0iOiJ4In19.AAAA");
    let (status, headers, body) = get(&app, &tampered).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(headers["content-type"], "application/problem+json");
    let body: Value = serde_json::from_slice(&body).expect("json");
    assert_eq!(body["type"], "urn:api-sfn:problem:invalid-cursor");
    let elsewhere = link.replace("limit=2", "limit=2&status=RUNNING");
    let (status, _, _) = get(&app, &elsewhere).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "a cursor of another query");
    assert_eq!(executions.lists(), calls, "no upstream call");
}

#[tokio::test]
async fn bad_queries_are_refused_without_an_upstream_call() {
    let (executions, app) = fixture();
    seed(&executions, 2);
    let cases = [
        (format!("/executions?stateMachine={OTHER}"), 403),
        (list("&status=DONE"), 400),
        (list("&limit=0"), 400),
        (list("&limit=1001"), 400),
        (list("&limit=ten"), 400),
        (list("&include=input"), 400),
        ("/executions".to_owned(), 400),
        ("/executions?stateMachine=Orders".to_owned(), 400),
        (list("&status=running"), 400),
        (list("&limit=1&limit=2"), 400),
        (list(&format!("&cursor={}", "A".repeat(10_000))), 400),
        (list("&cursor=%E2%9C%93.%E2%9C%93"), 400),
        (
            format!("/executions?stateMachine={MACHINE}{}", "x".repeat(300)),
            400,
        ),
    ];
    for (uri, want) in cases {
        let (status, headers, _) = get(&app, &uri).await;
        assert_eq!(status.as_u16(), want, "{uri}");
        assert_eq!(headers["content-type"], "application/problem+json", "{uri}");
    }
    assert_eq!(executions.lists(), 0);
    let (status, _, body) = get(&app, &list("&limit=1000")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(names(&body).len(), 2);
}

#[tokio::test]
async fn fifty_identical_lists_at_once_share_one_upstream_call() {
    let (executions, app) = fixture();
    seed(&executions, 3);
    let uri = list("&status=RUNNING");
    let lists = (0..50).map(|_| get(&app, &uri));
    for (status, _, body) in futures_util::future::join_all(lists).await {
        assert_eq!(status, StatusCode::OK);
        assert_eq!(names(&body), ["run-0"]);
    }
    assert_eq!(executions.lists(), 1);
}

#[tokio::test]
async fn a_throttled_list_answers_503_with_retry_after() {
    let (executions, app) = fixture();
    executions.set_throttled(true);
    let (status, headers, _) = get(&app, &list("")).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(headers.contains_key("retry-after"));
}

#[tokio::test]
async fn include_result_embeds_only_results_already_stored() {
    let (executions, app) = fixture();
    seed(&executions, 3);
    let arn = format!("{}:run-1", MACHINE.replace("stateMachine", "execution"));
    let (status, _, _) = get(&app, &format!("/executions/{arn}")).await;
    assert_eq!(status, StatusCode::OK);
    let describes = executions.calls();
    let (_, _, body) = get(&app, &list("&include=result&limit=3")).await;
    let body: Value = serde_json::from_slice(&body).expect("json");
    let items = body["executions"].as_array().expect("items");
    assert_eq!(items[1]["result"]["output"], serde_json::json!({"n": 1}));
    assert!(items[0].get("result").is_none(), "running: nothing stored");
    assert!(items[2].get("result").is_none(), "never read: not stored");
    assert_eq!(executions.calls(), describes, "no DescribeExecution");
}

#[tokio::test]
async fn the_status_page_is_self_contained_html_under_a_strict_policy() {
    let (_, app) = fixture();
    let (status, headers, body) = get(&app, "/").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers["content-type"], "text/html; charset=utf-8");
    let csp = headers["content-security-policy"].to_str().expect("csp");
    assert!(
        csp.starts_with("default-src 'none'; script-src 'sha256-"),
        "{csp}"
    );
    assert!(
        !csp.contains("unsafe-inline") && !csp.contains("http"),
        "{csp}"
    );
    let html = String::from_utf8(body).expect("utf-8");
    assert!(html.contains(MACHINE));
    assert!(!html.contains("{{"), "every placeholder filled");
    assert!(!html.contains("src=\"http") && !html.contains("href=\"http"));
    assert!(html.len() < 60 * 1024, "{} bytes", html.len());
}
