//! One-time callback links through the whole `Router` (`oneshot`), over the in-memory table and
//! waiting tasks (both keep the real rules: the table's in `conformance.rs`); two apps over one
//! table stand for two Lambda processes. Through the local gateway, on the emulator and in
//! Chromium: infra/local/tests/test_links.py and infra/browser/links.test.mjs.

use std::sync::Arc;

use axum::http::StatusCode;
use serde_json::Value;
use sfn_results::adapters::memory_tasks::TaskAnswer;
use sfn_results::adapters::{InMemoryExecutions, InMemoryStore, InMemoryTasks};
use sfn_results::config::Config;
use sfn_results::App;
use sfn_results::{router, AppState, Ports};

mod support;
use support::{send, Answer};

const MACHINE: &str = "arn:aws:states:us-east-1:123456789012:stateMachine:Orders";
const TOKEN: &str = "AQCEAAAAKgAAAAMAAAAAAAAAAf+token==";

fn app(store: &InMemoryStore, tasks: &InMemoryTasks, base: Option<&str>) -> App {
    let base = base.map(str::to_owned);
    let config = Config::from_lookup(|name| match name {
        "RESULTS_TABLE" => Some("results".into()),
        "ALLOWED_STATE_MACHINES" => Some(MACHINE.into()),
        "CURSOR_SECRET" => Some("a-secret-every-instance-shares".into()),
        "PUBLIC_BASE_URL" => base.clone(),
        _ => None,
    })
    .expect("config");
    let mut ports = Ports::in_memory(&InMemoryExecutions::default(), store);
    ports.callbacks = Arc::new(tasks.clone());
    router(AppState::new(&config, ports))
}

/// The approve and reject paths (`/callbacks/{link}`) of a new pair for `TOKEN`.
async fn links(app: &App, extra: &str) -> (String, String) {
    let made = send(
        app,
        "POST",
        "/callbacks/links",
        &format!(r#"{{"taskToken": "{TOKEN}"{extra}}}"#),
    )
    .await;
    assert_eq!(made.status, StatusCode::CREATED, "{}", made.text);
    let body = made.body;
    let path = |name: &str| format!("/callbacks/{}", body[name].as_str().expect("url"));
    (path("approveUrl"), path("rejectUrl"))
}

fn is_page(answer: &Answer) -> bool {
    answer.headers["content-type"] == "text/html; charset=utf-8"
        && answer.headers["cache-control"] == "no-store"
        && answer.headers["referrer-policy"] == "no-referrer"
}

#[tokio::test]
async fn a_link_is_shown_without_effect_and_answers_once_for_the_pair() {
    let (store, tasks) = (InMemoryStore::default(), InMemoryTasks::default());
    tasks.wait_for(TOKEN);
    let app = app(&store, &tasks, None);
    let (approve, reject) = links(&app, r#", "summary": "Buy <b>3</b> laptops?""#).await;
    assert!(
        !approve.contains(TOKEN) && !approve.contains("AQCE"),
        "the token stays in the table"
    );

    // Mail scanners fetch links: GET shows the question, escaped, and sends nothing.
    for _ in 0..3 {
        let shown = send(&app, "GET", &approve, "").await;
        assert_eq!(shown.status, StatusCode::OK);
        assert!(is_page(&shown));
        assert!(
            shown.text.contains("Buy &lt;b&gt;3&lt;/b&gt; laptops?"),
            "{}",
            shown.text
        );
        assert!(shown
            .text
            .contains(r#"<form method="post"><button type="submit">Approve</button>"#));
    }
    assert_eq!(tasks.calls(), 0);

    let sent = send(&app, "POST", &approve, "").await;
    assert_eq!(sent.status, StatusCode::OK, "{}", sent.text);
    assert!(sent.text.contains("<h1>Approved</h1>"));
    let Some(TaskAnswer::Success(output)) = tasks.answer(TOKEN) else {
        panic!("no success sent")
    };
    let output: Value = serde_json::from_str(&output).expect("json output");
    assert_eq!(
        (output["approved"].clone(), output["via"].clone()),
        (Value::Bool(true), "link".into())
    );

    // Either link of the pair is now used: a page that says so, 410, and no second callback.
    for (method, link) in [("POST", &approve), ("POST", &reject), ("GET", &reject)] {
        let again = send(&app, method, link, "").await;
        assert_eq!(again.status, StatusCode::GONE, "{method} {link}");
        assert!(
            is_page(&again) && again.text.contains("Already answered"),
            "{}",
            again.text
        );
        assert!(again.text.contains("approved already"));
    }
    assert_eq!(tasks.calls(), 1);
}

#[tokio::test]
async fn a_reject_link_fails_the_task_and_another_instance_honours_the_links() {
    let (store, tasks) = (InMemoryStore::default(), InMemoryTasks::default());
    tasks.wait_for(TOKEN);
    let (one, two) = (
        app(&store, &tasks, Some("https://api.example.com/prod")),
        app(&store, &tasks, None),
    );
    let made = send(
        &one,
        "POST",
        "/callbacks/links",
        &format!(r#"{{"taskToken": "{TOKEN}", "expiresIn": 600}}"#),
    )
    .await;
    let body = made.body;
    let reject = body["rejectUrl"].as_str().expect("url");
    assert!(
        reject.starts_with("https://api.example.com/prod/callbacks/"),
        "{reject}"
    );
    assert!(body["expiresAt"].as_str().is_some_and(|t| t.ends_with('Z')));
    let path = reject.trim_start_matches("https://api.example.com/prod");
    let sent = send(&two, "POST", path, "").await;
    assert_eq!(sent.status, StatusCode::OK, "{}", sent.text);
    assert_eq!(
        tasks.answer(TOKEN),
        Some(TaskAnswer::Failure(
            "Rejected".into(),
            "Rejected through a one-time link".into()
        ))
    );
}

#[tokio::test]
async fn an_altered_link_is_400_and_an_expired_or_timed_out_one_410_with_nothing_sent() {
    let (store, tasks) = (InMemoryStore::default(), InMemoryTasks::default());
    tasks.wait_for(TOKEN);
    let app = app(&store, &tasks, None);
    let (approve, reject) = links(&app, "").await;
    // Another decision under the same tag, a changed id, or not a link at all.
    let swapped = approve.replacen(".a.", ".r.", 1);
    let mut changed = approve.clone().into_bytes();
    changed["/callbacks/".len()] ^= 1;
    for link in [
        swapped,
        String::from_utf8(changed).expect("ascii"),
        "/callbacks/nonsense".into(),
    ] {
        for method in ["GET", "POST"] {
            let refused = send(&app, method, &link, "").await;
            assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{method} {link}");
            assert!(is_page(&refused) && refused.text.contains("This link is not valid"));
        }
    }
    // Step Functions no longer waits: the task timed out. The claim stands (one answer a pair).
    tasks.time_out(TOKEN);
    let late = send(&app, "POST", &reject, "").await;
    assert_eq!(late.status, StatusCode::GONE);
    assert!(late.text.contains("No longer waiting"), "{}", late.text);
    assert_eq!(
        send(&app, "POST", &approve, "").await.status,
        StatusCode::GONE
    );
    assert!(tasks.answer(TOKEN).is_none());
}

#[tokio::test]
async fn a_callback_step_functions_cannot_take_for_now_leaves_the_link_usable() {
    let (store, tasks) = (InMemoryStore::default(), InMemoryTasks::default());
    tasks.wait_for(TOKEN);
    let app = app(&store, &tasks, None);
    let (approve, _) = links(&app, "").await;
    tasks.set_unavailable(true);
    let failed = send(&app, "POST", &approve, "").await;
    assert_eq!(failed.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(failed.headers["retry-after"], "5");
    assert!(failed.text.contains("the link still works"));
    tasks.set_unavailable(false);
    assert_eq!(
        send(&app, "POST", &approve, "").await.status,
        StatusCode::OK
    );
    assert!(matches!(tasks.answer(TOKEN), Some(TaskAnswer::Success(_))));
}

#[tokio::test]
async fn bad_link_requests_are_400_and_store_nothing() {
    let (store, tasks) = (InMemoryStore::default(), InMemoryTasks::default());
    let app = app(&store, &tasks, None);
    let long_token = "t".repeat(2049);
    let long_summary = "s".repeat(1001);
    for body in [
        String::new(),
        "[]".into(),
        r#"{"taskToken": ""}"#.into(),
        format!(r#"{{"taskToken": "{long_token}"}}"#),
        r#"{"taskToken": "t", "expiresIn": 59}"#.into(),
        r#"{"taskToken": "t", "expiresIn": 604801}"#.into(),
        format!(r#"{{"taskToken": "t", "summary": "{long_summary}"}}"#),
        r#"{"taskToken": "t", "other": 1}"#.into(),
    ] {
        let refused = send(&app, "POST", "/callbacks/links", &body).await;
        assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(refused.body["type"], "urn:api-sfn:problem:invalid-input");
    }
    // The gateway's own routes never reach a link here.
    let routed = send(&app, "POST", "/callbacks/success", "{}").await;
    assert_eq!(routed.status, StatusCode::NOT_FOUND);
}
