//! `GET /executions` on the real binary against the emulator: order, filters, pages, refusals
//! without upstream calls, coalescing counted at the emulator, and the EXPRESS machine's list.

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::events_world::EventsWorld;
use crate::helpers::{emulator_counts, header, problem, quick_input, TestApp};
use crate::lambda_runtime::event;

const LIST: &str = "AWSStepFunctions.ListExecutions";

async fn list(app: &TestApp, query: &str) -> reqwest::Response {
    app.http
        .get(app.url(&format!("/executions?{query}")))
        .send()
        .await
        .expect("request")
}

fn machine(arn: &str) -> String {
    format!("stateMachine={}", urlencode(arn))
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

async fn items(response: reqwest::Response) -> Vec<Value> {
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.expect("json");
    body["executions"].as_array().expect("executions").clone()
}

fn arns(items: &[Value]) -> Vec<String> {
    items
        .iter()
        .map(|i| i["executionArn"].as_str().expect("arn").to_owned())
        .collect()
}

async fn calls(endpoint: &str, target: &str) -> u64 {
    emulator_counts(endpoint)
        .await
        .get(target)
        .copied()
        .unwrap_or(0)
}

#[tokio::test]
async fn the_list_is_newest_first_and_filters_by_status() {
    let app = TestApp::spawn().await;
    let mut started = Vec::new();
    for i in 0..3 {
        started.push(app.finished(&quick_input(&format!("n{i}"))).await);
        // Distinct start dates, so "newest first" has one answer.
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let failed = app
        .start(&app.machines.rejected, &serde_json::json!({}))
        .await;
    app.until_stopped(&failed).await;

    let listed = items(list(&app, &machine(&app.machines.greeting)).await).await;
    started.reverse();
    assert_eq!(arns(&listed), started);
    for item in &listed {
        assert_eq!(item["status"], "SUCCEEDED");
        assert!(item["stopDate"].is_string());
        let url = item["statusUrl"].as_str().expect("statusUrl");
        let resolved = app.url(&format!("/{url}"));
        let doc: Value = app
            .http
            .get(resolved)
            .send()
            .await
            .expect("get")
            .json()
            .await
            .expect("json");
        assert_eq!(
            doc["executionArn"], item["executionArn"],
            "statusUrl leads to it"
        );
    }

    let failures = format!("{}&status=FAILED", machine(&app.machines.rejected));
    assert_eq!(arns(&items(list(&app, &failures).await).await), [failed]);
    let none = format!("{}&status=RUNNING", machine(&app.machines.rejected));
    assert!(items(list(&app, &none).await).await.is_empty());
}

#[tokio::test]
async fn pages_follow_the_link_and_a_tampered_cursor_is_refused_without_a_call() {
    let app = TestApp::spawn_split().await;
    let (sfn, _) = app.own_endpoints();
    let mut started = Vec::new();
    for i in 0..5 {
        started.push(app.finished(&quick_input(&format!("p{i}"))).await);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    started.reverse();
    let mut next = Some(format!(
        "/executions?{}&limit=2",
        machine(&app.machines.greeting)
    ));
    let (mut seen, mut pages, mut last_link) = (Vec::new(), 0, String::new());
    while let Some(path) = next.take() {
        let response = app.http.get(app.url(&path)).send().await.expect("page");
        let link = header(&response, "link");
        seen.extend(arns(&items(response).await));
        pages += 1;
        if let Some(target) = link.strip_prefix('<').and_then(|l| l.split_once('>')) {
            assert!(link.ends_with("rel=\"next\""), "{link}");
            assert!(target.0.starts_with("executions?"), "relative: {link}");
            next = Some(format!("/{}", target.0));
            last_link = target.0.to_owned();
        }
    }
    assert_eq!(seen, started, "every execution once, newest first");
    assert!(pages >= 3, "{pages} pages of 2 for 5");

    let before = calls(&sfn, LIST).await;
    let (head, cursor) = last_link.split_once("cursor=").expect("cursor");
    let mut tampered = cursor.to_owned().into_bytes();
    tampered[5] = if tampered[5] == b'A' { b'B' } else { b'A' };
    let tampered = format!(
        "/{head}cursor={}",
        String::from_utf8(tampered).expect("ascii")
    );
    let answer = app.http.get(app.url(&tampered)).send().await.expect("get");
    let body = problem(answer, 400).await;
    assert_eq!(body["type"], "urn:api-sfn:problem:invalid-cursor");
    assert_eq!(calls(&sfn, LIST).await, before, "no ListExecutions");
}

#[tokio::test]
async fn refused_lists_make_no_upstream_call() {
    let app = TestApp::spawn_split().await;
    let (sfn, ddb) = app.own_endpoints();
    let foreign = "arn:aws:states:us-east-1:123456789012:stateMachine:someone-else";
    let greeting = machine(&app.machines.greeting);
    let cases = [
        (machine(foreign), 403, "state-machine-not-allowed"),
        (format!("{greeting}&status=DONE"), 400, "invalid-query"),
        (format!("{greeting}&limit=0"), 400, "invalid-query"),
        (format!("{greeting}&limit=1001"), 400, "invalid-query"),
        ("limit=5".to_owned(), 400, "invalid-query"),
        (format!("{greeting}&cursor=abc.def"), 400, "invalid-cursor"),
    ];
    let before = (
        calls(&sfn, LIST).await,
        emulator_counts(&ddb).await.values().sum::<u64>(),
    );
    for (query, status, slug) in cases {
        let body = problem(list(&app, &query).await, status).await;
        assert_eq!(
            body["type"],
            format!("urn:api-sfn:problem:{slug}"),
            "{query}"
        );
    }
    let after = (
        calls(&sfn, LIST).await,
        emulator_counts(&ddb).await.values().sum::<u64>(),
    );
    assert_eq!(after, before);
}

#[tokio::test]
async fn fifty_identical_lists_within_a_second_make_one_list_executions_call() {
    let app = TestApp::spawn_split().await;
    let (sfn, _) = app.own_endpoints();
    app.finished(&quick_input("c")).await;
    let before = calls(&sfn, LIST).await;
    let query = format!("{}&limit=10", machine(&app.machines.greeting));
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..50 {
        let (http, url) = (app.http.clone(), app.url(&format!("/executions?{query}")));
        tasks.spawn(async move { items(http.get(url).send().await.expect("list")).await.len() });
    }
    let answers = tasks.join_all().await;
    let elapsed = started.elapsed();
    assert_eq!(answers, vec![1; 50]);
    // One call per second the 50 spanned: exactly one when they fit in a second, as they do.
    let made = calls(&sfn, LIST).await - before;
    println!("50 identical lists in {elapsed:?}: {made} ListExecutions");
    assert!(
        made >= 1 && made <= 1 + elapsed.as_secs(),
        "{made} calls in {elapsed:?}"
    );
}

#[tokio::test]
async fn a_throttled_list_answers_503_with_retry_after() {
    let app = TestApp::spawn_split().await;
    let (sfn, _) = app.own_endpoints();
    crate::helpers::inject(
        &app,
        &sfn,
        serde_json::json!({"target": LIST, "mode": "throttle"}),
    )
    .await;
    let answer = list(&app, &machine(&app.machines.greeting)).await;
    assert!(!header(&answer, "retry-after").is_empty());
    problem(answer, 503).await;
}

#[tokio::test]
async fn the_list_costs_about_one_list_executions_call() {
    let app = TestApp::spawn_split().await;
    let (endpoint, _) = app.own_endpoints();
    for i in 0..5 {
        app.start(&app.machines.greeting, &quick_input(&format!("l{i}")))
            .await;
    }
    // Distinct limits: each list is its own query, so none is coalesced with another.
    let mut via_service = Vec::new();
    let mut raw = Vec::new();
    for round in 0..60u16 {
        let limit = 100 + round;
        let t = Instant::now();
        let query = format!("{}&limit={limit}", machine(&app.machines.greeting));
        assert_eq!(items(list(&app, &query).await).await.len(), 5);
        via_service.push(t.elapsed());
        let t = Instant::now();
        app.sfn
            .list_executions()
            .state_machine_arn(&app.machines.greeting)
            .max_results(i32::from(limit))
            .send()
            .await
            .expect("list");
        raw.push(t.elapsed());
    }
    let p50 = |v: &mut Vec<Duration>| {
        v.sort();
        v[v.len() / 2]
    };
    println!(
        "GET /executions p50 {:?} vs raw ListExecutions p50 {:?} (60 each, emulator {endpoint})",
        p50(&mut via_service),
        p50(&mut raw)
    );
}

#[tokio::test]
async fn the_express_machine_lists_what_its_logs_recorded_and_never_asks_step_functions() {
    let mut world = EventsWorld::start(|_| {}).await;
    assert_eq!(world.invoke(event("logs/started.json")).await["stored"], 1);
    assert_eq!(world.invoke(event("logs/batch.json")).await["stored"], 4);
    let endpoint = world.emulator.endpoint();
    let before = emulator_counts(&endpoint).await;
    let url = |query: &str| {
        format!(
            "{}/executions?{}{query}",
            world.api.address,
            machine(&world.machines.express)
        )
    };
    let get = |u: String| {
        let http = world.http.clone();
        async move { http.get(u).send().await.expect("list") }
    };
    let listed = items(get(url("&include=result")).await).await;
    let names: Vec<&str> = listed
        .iter()
        .map(|i| i["name"].as_str().expect("name"))
        .collect();
    assert_eq!(
        names.first(),
        Some(&"express-bad"),
        "newest first: {names:?}"
    );
    assert!(names.contains(&"express-ok"), "{names:?}");
    let ok = listed
        .iter()
        .find(|i| i["name"] == "express-ok")
        .expect("ok");
    assert_eq!(ok["status"], "SUCCEEDED");
    assert_eq!(ok["startDate"], "2026-11-28T17:28:49.013Z");
    assert_eq!(ok["result"]["output"]["greeting"], "Hello, Ada!");
    let failed = items(get(url("&status=FAILED")).await).await;
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0]["name"], "express-bad");
    assert!(
        failed[0].get("result").is_none(),
        "only with include=result"
    );
    let after = emulator_counts(&endpoint).await;
    for target in [LIST, "AWSStepFunctions.DescribeExecution"] {
        assert_eq!(after.get(target), before.get(target), "{target}");
    }
}
