//! Signed webhooks end to end: the real binary with its delivery worker, the emulator's SQS and
//! DynamoDB, and a receiver on loopback that verifies every request with the Standard Webhooks
//! reference implementation (the `standardwebhooks` crate), never with our own signing code.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::Router;
use serde_json::{json, Value};

use crate::emulators::shared;
use crate::helpers::{header, problem, quick_input, sdk_config, unique, TestApp};

/// What the receiver saw: each request's webhook-id, payload and whether it verified.
#[derive(Debug, Clone)]
struct Seen {
    id: String,
    body: Value,
    verified: bool,
}

#[derive(Clone)]
struct Receiver {
    secret: Arc<Mutex<String>>,
    answers: Arc<Mutex<VecDeque<u16>>>,
    seen: Arc<Mutex<Vec<Seen>>>,
}

async fn receive(State(r): State<Receiver>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let secret = r.secret.lock().expect("secret").clone();
    let verified = standardwebhooks::Webhook::new(&secret)
        .and_then(|hook| hook.verify(&body, &headers))
        .is_ok();
    let id = headers
        .get("webhook-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let body = serde_json::from_slice(&body).unwrap_or(Value::Null);
    r.seen
        .lock()
        .expect("seen")
        .push(Seen { id, body, verified });
    let status = r
        .answers
        .lock()
        .expect("answers")
        .pop_front()
        .unwrap_or(200);
    StatusCode::from_u16(status).unwrap_or(StatusCode::OK)
}

impl Receiver {
    /// Listens on loopback; answers `answers` in turn, then 200.
    async fn start(answers: &[u16]) -> (Self, String) {
        let receiver = Self {
            secret: Arc::default(),
            answers: Arc::new(Mutex::new(answers.iter().copied().collect())),
            seen: Arc::default(),
        };
        let app = Router::new()
            .route("/hook", post(receive))
            .with_state(receiver.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url = format!(
            "http://127.0.0.1:{}/hook",
            listener.local_addr().expect("addr").port()
        );
        tokio::spawn(async move { axum::serve(listener, app).await });
        (receiver, url)
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().expect("seen").clone()
    }

    async fn until(&self, count: usize) -> Vec<Seen> {
        let started = Instant::now();
        while self.seen().len() < count {
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "{:?}",
                self.seen()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        self.seen()
    }
}

/// The queue and table a test's binary delivers through, on the shared emulator.
async fn webhook_env(env: &mut HashMap<String, String>, sqs_endpoint: Option<&str>) {
    let endpoint = shared().endpoint();
    let sdk = sdk_config(&endpoint).await;
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let queue = sqs
        .create_queue()
        .queue_name(unique("deliveries"))
        .send()
        .await
        .expect("queue")
        .queue_url
        .expect("url");
    let table = unique("webhooks");
    crate::upstream::create_webhooks_table(&aws_sdk_dynamodb::Client::new(&sdk), &table).await;
    for (k, v) in [
        ("WEBHOOKS_TABLE", table),
        ("DELIVERY_QUEUE_URL", queue),
        (
            "AWS_ENDPOINT_URL_SQS",
            sqs_endpoint.unwrap_or(&endpoint).to_owned(),
        ),
        ("WEBHOOK_ALLOW_LOOPBACK", "true".into()),
        ("WEBHOOK_RETRY_SCHEDULE", "1,1".into()),
    ] {
        env.insert(k.into(), v);
    }
}

async fn spawn(sqs_endpoint: Option<String>) -> TestApp {
    let mut extra = HashMap::new();
    webhook_env(&mut extra, sqs_endpoint.as_deref()).await;
    TestApp::spawn_with(false, move |env| env.extend(extra)).await
}

async fn register(app: &TestApp, body: Value) -> reqwest::Response {
    app.http
        .post(app.url("/webhooks"))
        .json(&body)
        .send()
        .await
        .expect("request")
}

#[tokio::test]
async fn bad_registrations_are_refused_and_change_nothing() {
    let app = spawn(None).await;
    let cases = [
        (json!({"url": "http://hooks.example.com/x"}), 400),
        (json!({"url": "https://user:pw@hooks.example.com/x"}), 400),
        (json!({"url": "https://10.1.2.3/x"}), 400),
        (json!({"url": "https://169.254.169.254/x"}), 400),
        (
            json!({"url": "https://hooks.example.com/x", "statuses": ["DONE"]}),
            400,
        ),
        (
            json!({"url": "https://hooks.example.com/x", "stateMachines": ["arn:aws:states:us-east-1:123456789012:stateMachine:Other"]}),
            422,
        ),
        (
            json!({"url": "https://hooks.example.com/x", "workflows": ["not-configured"]}),
            422,
        ),
        (
            json!({"url": "https://hooks.example.com/x", "workflows": []}),
            400,
        ),
        (
            json!({"url": "https://hooks.example.com/x", "extra": 1}),
            400,
        ),
    ];
    for (body, status) in cases {
        problem(register(&app, body.clone()).await, status).await;
    }
    let big = json!({"url": "https://hooks.example.com/x", "description": "x".repeat(20_000)});
    problem(register(&app, big).await, 413).await;
    let none = app
        .http
        .get(app.url("/webhooks"))
        .send()
        .await
        .expect("list");
    assert_eq!(
        none.json::<Value>().await.expect("json")["items"],
        json!([])
    );
    for path in ["/webhooks/wh_nope", "/webhooks/wh_nope/deliveries"] {
        problem(app.http.get(app.url(path)).send().await.expect("get"), 404).await;
    }
}

#[tokio::test]
async fn a_stop_is_delivered_signed_once_and_retried_with_the_same_id() {
    let app = spawn(None).await;
    let (receiver, url) = Receiver::start(&[500, 500]).await;
    let created = register(&app, json!({"url": url, "statuses": ["SUCCEEDED"]})).await;
    assert_eq!(created.status(), 201);
    let location = header(&created, "location");
    let created: Value = created.json().await.expect("json");
    let secret = created["secret"].as_str().expect("secret").to_owned();
    assert!(secret.starts_with("whsec_"));
    *receiver.secret.lock().expect("secret") = secret.clone();
    let id = created["id"].as_str().expect("id").to_owned();
    assert_eq!(location, format!("webhooks/{id}"));

    let arn = app.finished(&quick_input("Hook")).await;
    assert_eq!(
        app.get_execution(&arn).await.status(),
        200,
        "stored on a GET miss"
    );
    let stored = Instant::now();
    receiver.until(1).await;
    println!(
        "stored by a GET miss → first attempt received: {:?}",
        stored.elapsed()
    );
    let seen = receiver.until(3).await;
    assert!(seen.iter().all(|s| s.verified), "{seen:?}");
    assert!(
        seen.iter().all(|s| s.id == seen[0].id),
        "one webhook-id for every attempt"
    );
    assert_eq!(seen[0].body["type"], "execution.succeeded");
    assert_eq!(seen[0].body["data"]["executionArn"], arn.as_str());
    assert!(
        seen[0].body["data"].get("output").is_none(),
        "a thin payload"
    );
    let status_url = seen[0].body["data"]["statusUrl"]
        .as_str()
        .expect("statusUrl");
    assert!(
        status_url.ends_with(&format!("/executions/{arn}")),
        "{status_url}"
    );

    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(receiver.seen().len(), 3, "delivered once, never again");
    let listed: Value = app
        .http
        .get(app.url(&format!("/webhooks/{id}/deliveries")))
        .send()
        .await
        .expect("deliveries")
        .json()
        .await
        .expect("json");
    let delivery = &listed["items"][0];
    assert_eq!(delivery["status"], "delivered");
    assert_eq!(delivery["attempts"], 3);
    assert_eq!(delivery["id"], seen[0].id.as_str());
    let shown = app
        .http
        .get(app.url(&format!("/webhooks/{id}")))
        .send()
        .await
        .expect("get");
    assert!(
        !shown.text().await.expect("body").contains(&secret),
        "never the secret again"
    );
    assert!(
        !app.service.log_text().contains(&secret),
        "never in the logs"
    );
}

#[tokio::test]
async fn a_result_stored_by_a_process_that_could_not_queue_is_delivered_after_restart() {
    // The first process stores the result but cannot reach the queue: its fan-out stays in
    // the outbox, as if it had died between the two.
    let mut app = spawn(Some("http://127.0.0.1:9".into())).await;
    let (receiver, url) = Receiver::start(&[]).await;
    let created: Value = register(&app, json!({"url": url}))
        .await
        .json()
        .await
        .expect("json");
    *receiver.secret.lock().expect("secret") = created["secret"].as_str().expect("secret").into();
    let arn = app.finished(&quick_input("Crash")).await;
    assert_eq!(app.get_execution(&arn).await.status(), 200);
    app.stored_document(&arn).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(receiver.seen().is_empty());

    // A new process with the queue back: its sweep finds the outbox entry.
    let mut env = app.service.env().clone();
    env.insert("AWS_ENDPOINT_URL_SQS".into(), shared().endpoint());
    env.insert("RECONCILE_SECONDS".into(), "1".into());
    app.service = crate::helpers::Service::start(&env).await;
    let seen = receiver.until(1).await;
    assert!(seen[0].verified);
    assert_eq!(seen[0].body["data"]["executionArn"], arn.as_str());
}

#[tokio::test]
async fn a_rotation_racing_a_delete_never_brings_the_endpoint_back() {
    use sfn_results::domain::webhooks::WebhookStore;
    // Deterministically, at the store: a rotation read the endpoint, a DELETE came between.
    let endpoint = shared().endpoint();
    let sdk = sdk_config(&endpoint).await;
    let table = unique("webhooks-race");
    crate::upstream::create_webhooks_table(&aws_sdk_dynamodb::Client::new(&sdk), &table).await;
    let store = sfn_results::adapters::WebhooksTable::new(&sdk, &table);
    let mut registered: sfn_results::domain::webhooks::Endpoint = serde_json::from_value(json!({
        "id": "wh_race", "url": "https://hooks.example.com/x", "stateMachines": null,
        "statuses": ["SUCCEEDED"], "createdAtMs": 1, "secrets": [],
    }))
    .expect("endpoint");
    assert!(store.create_endpoint(&registered).await.expect("create"));
    let read = store
        .endpoint("wh_race")
        .await
        .expect("read")
        .expect("there");
    assert!(store.delete_endpoint("wh_race").await.expect("delete"));
    registered.disabled = true;
    assert!(
        !store
            .replace_endpoint(&sfn_results::domain::webhooks::Endpoint {
                disabled: true,
                ..read
            })
            .await
            .expect("replace"),
        "a write over a deleted endpoint is refused"
    );
    assert!(store.endpoint("wh_race").await.expect("read").is_none());

    // Through two service processes sharing the table, as two Lambda environments would.
    let mut extra = HashMap::new();
    webhook_env(&mut extra, None).await;
    let (one, two) = {
        let (a, b) = (extra.clone(), extra.clone());
        tokio::join!(
            TestApp::spawn_with(false, move |env| env.extend(a)),
            TestApp::spawn_with(false, move |env| env.extend(b))
        )
    };
    for round in 0..20 {
        let created: Value = register(&one, json!({"url": "https://hooks.example.com/x"}))
            .await
            .json()
            .await
            .expect("json");
        let id = created["id"].as_str().expect("id").to_owned();
        let (deleted, rotated) = tokio::join!(
            one.http.delete(one.url(&format!("/webhooks/{id}"))).send(),
            two.http
                .post(two.url(&format!("/webhooks/{id}/secret")))
                .send()
        );
        let (deleted, rotated) = (deleted.expect("delete"), rotated.expect("rotate"));
        assert_eq!(deleted.status(), 204, "round {round}");
        assert!(
            [200, 404].contains(&rotated.status().as_u16()),
            "round {round}: {}",
            rotated.status()
        );
        for app in [&one, &two] {
            let after = app
                .http
                .get(app.url(&format!("/webhooks/{id}")))
                .send()
                .await
                .expect("get");
            assert_eq!(
                after.status(),
                404,
                "round {round}: the deleted endpoint came back"
            );
        }
    }
}

#[tokio::test]
async fn a_429_with_retry_after_as_an_http_date_is_retried_no_sooner_than_that_date() {
    use axum::response::IntoResponse;
    // The receiver answers the first attempt 429 with Retry-After 4 s ahead as an HTTP-date
    // (the schedule alone would retry after 1 s), then 200.
    let arrivals: Arc<Mutex<Vec<std::time::SystemTime>>> = Arc::default();
    let app_state = arrivals.clone();
    let receiver = Router::new().route(
        "/hook",
        post(move || {
            let arrivals = app_state.clone();
            async move {
                let now = std::time::SystemTime::now();
                let mut seen = arrivals.lock().expect("arrivals");
                seen.push(now);
                if seen.len() == 1 {
                    let at = httpdate::fmt_http_date(now + Duration::from_secs(4));
                    (StatusCode::TOO_MANY_REQUESTS, [("retry-after", at)]).into_response()
                } else {
                    StatusCode::OK.into_response()
                }
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!(
        "http://127.0.0.1:{}/hook",
        listener.local_addr().expect("addr").port()
    );
    tokio::spawn(async move { axum::serve(listener, receiver).await });

    let app = spawn(None).await;
    assert_eq!(register(&app, json!({"url": url})).await.status(), 201);
    let arn = app.finished(&quick_input("Later")).await;
    assert_eq!(app.get_execution(&arn).await.status(), 200);
    let started = Instant::now();
    while arrivals.lock().expect("arrivals").len() < 2 {
        assert!(started.elapsed() < Duration::from_secs(60), "no retry");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let seen = arrivals.lock().expect("arrivals").clone();
    let gap = seen[1].duration_since(seen[0]).expect("in order");
    println!("429 with an HTTP-date 4 s ahead: retried after {gap:?}");
    // The date has whole seconds: at least 3 s of the 4 remain, whatever the machine's load.
    assert!(gap >= Duration::from_secs(3), "retried after {gap:?}");
}

#[tokio::test]
async fn an_endpoint_registered_for_a_workflow_by_name_gets_only_that_workflows_stops() {
    let app = spawn(None).await;
    let (receiver, url) = Receiver::start(&[]).await;
    let rejected = app
        .machines
        .rejected
        .rsplit(':')
        .next()
        .expect("name")
        .to_owned();
    let created = register(&app, json!({"url": url, "workflows": [rejected]})).await;
    assert_eq!(created.status(), 201);
    let created: Value = created.json().await.expect("json");
    assert_eq!(created["workflows"], json!([rejected]));
    assert_eq!(created["stateMachines"], Value::Null);
    *receiver.secret.lock().expect("secret") =
        created["secret"].as_str().expect("secret").to_owned();
    let id = created["id"].as_str().expect("id").to_owned();

    // The other workflow's stop is stored (and fanned out, to nobody) first.
    let greeting = app.finished(&quick_input("NotForThisEndpoint")).await;
    assert_eq!(app.get_execution(&greeting).await.status(), 200);
    app.stored_document(&greeting).await;
    let failed = app.start(&app.machines.rejected, &json!({})).await;
    app.until_stopped(&failed).await;
    assert_eq!(app.get_execution(&failed).await.status(), 200);

    let seen = receiver.until(1).await;
    assert!(seen[0].verified);
    assert_eq!(seen[0].body["type"], "execution.failed");
    assert_eq!(seen[0].body["data"]["executionArn"], failed.as_str());
    let deliveries = app.get_json(&format!("/webhooks/{id}/deliveries")).await;
    let arns: Vec<&str> = deliveries["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|d| d["executionArn"].as_str())
        .collect();
    assert_eq!(arns, [failed.as_str()], "only the named workflow's stop");
}

#[tokio::test]
async fn the_webhooks_table_keeps_every_conditional_rule_its_in_memory_fake_keeps() {
    // The same suite as the fake's unit test (`sfn_results::adapters::webhooks_conformance`).
    let endpoint = shared().endpoint();
    let sdk = sdk_config(&endpoint).await;
    let table = unique("webhooks-conformance");
    crate::upstream::create_webhooks_table(&aws_sdk_dynamodb::Client::new(&sdk), &table).await;
    let store = sfn_results::adapters::WebhooksTable::new(&sdk, &table);
    sfn_results::adapters::webhooks_conformance::run(&store).await;
}
