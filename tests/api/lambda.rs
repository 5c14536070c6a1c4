//! The Lambda path: API Gateway REST proxy events from `infra/events/`, delivered to the real
//! binary by a Lambda runtime API on loopback, answered through the real `lambda_http` adapter.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::Router;
use serde_json::{json, Value};
use tokio::sync::{mpsc, Mutex};

use crate::emulators::{repo_root, Emulator};
use crate::helpers::{base_env, create_machines, create_table, sdk_config, Service};

/// The execution the sample events name.
const EXECUTION_NAME: &str = "lambda-event-sample";

#[derive(Clone)]
struct RuntimeApi {
    events: Arc<Mutex<mpsc::Receiver<(String, Value)>>>,
    responses: mpsc::Sender<(String, Value)>,
}

async fn next(State(api): State<RuntimeApi>) -> impl IntoResponse {
    let Some((id, event)) = api.events.lock().await.recv().await else {
        return StatusCode::GONE.into_response();
    };
    let mut headers = HeaderMap::new();
    let deadline = std::time::SystemTime::now() + Duration::from_secs(30);
    let deadline_ms = deadline
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis();
    for (name, value) in [
        ("lambda-runtime-aws-request-id", id),
        ("lambda-runtime-deadline-ms", deadline_ms.to_string()),
        (
            "lambda-runtime-invoked-function-arn",
            "arn:aws:lambda:us-east-1:123456789012:function:sfn-results".to_owned(),
        ),
        (
            "lambda-runtime-trace-id",
            "Root=1-5759e988-bd862e3fe1be46a994272793".to_owned(),
        ),
    ] {
        headers.insert(name, HeaderValue::from_str(&value).expect("header"));
    }
    (headers, axum::Json(event)).into_response()
}

async fn respond(
    State(api): State<RuntimeApi>,
    Path((id, kind)): Path<(String, String)>,
    body: String,
) -> StatusCode {
    let value = if kind == "response" {
        serde_json::from_str(&body).unwrap_or(Value::String(body))
    } else {
        json!({"invocationError": body})
    };
    let _ = api.responses.send((id, value)).await;
    StatusCode::ACCEPTED
}

/// A response header; REST API responses carry them in `multiValueHeaders`.
fn header(response: &Value, name: &str) -> Value {
    response["multiValueHeaders"][name][0].clone()
}

fn event(file: &str) -> Value {
    let text =
        std::fs::read_to_string(repo_root().join("infra/events").join(file)).expect("event file");
    serde_json::from_str(&text).expect("event json")
}

#[tokio::test]
async fn rest_api_proxy_events_are_answered_through_lambda_http() {
    // Fixed names (the events' ARN), so this test has an emulator of its own.
    let emulator = Emulator::start();
    let sdk = sdk_config(&emulator.endpoint()).await;
    let sfn = aws_sdk_sfn::Client::new(&sdk);
    let ddb = aws_sdk_dynamodb::Client::new(&sdk);
    let machines = create_machines(&sfn, "api-sfn").await;
    create_table(&ddb, "api-sfn-results").await;
    let arn = sfn
        .start_execution()
        .state_machine_arn(&machines.greeting)
        .name(EXECUTION_NAME)
        .input(json!({"name": "Lambda", "echo": [1, 2], "delaySeconds": 0}).to_string())
        .send()
        .await
        .expect("start")
        .execution_arn;
    while sfn
        .describe_execution()
        .execution_arn(&arn)
        .send()
        .await
        .expect("describe")
        .status
        == aws_sdk_sfn::types::ExecutionStatus::Running
    {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let (event_tx, event_rx) = mpsc::channel(8);
    let (response_tx, mut response_rx) = mpsc::channel(8);
    let api = RuntimeApi {
        events: Arc::new(Mutex::new(event_rx)),
        responses: response_tx,
    };
    let runtime = Router::new()
        .route("/2018-06-01/runtime/invocation/next", get(next))
        .route("/2018-06-01/runtime/invocation/{id}/{kind}", post(respond))
        .with_state(api);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let runtime_address = listener.local_addr().expect("address");
    tokio::spawn(async move { axum::serve(listener, runtime).await });

    let mut env: HashMap<String, String> = base_env(&emulator.endpoint(), &emulator.endpoint());
    for (k, v) in [
        ("AWS_LAMBDA_RUNTIME_API", runtime_address.to_string()),
        ("AWS_LAMBDA_FUNCTION_NAME", "sfn-results".into()),
        ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST".into()),
        ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256".into()),
        ("AWS_LAMBDA_HTTP_IGNORE_STAGE_IN_PATH", "true".into()),
        ("RESULTS_TABLE", "api-sfn-results".into()),
        ("ALLOWED_STATE_MACHINES", machines.greeting.clone()),
    ] {
        env.insert(k.into(), v);
    }
    let _service = Service::start_lambda(&env);

    let mut invoke = async |file: &str| -> Value {
        let id = format!("req-{file}");
        event_tx
            .send((id.clone(), event(file)))
            .await
            .expect("queue event");
        let (got, response) = tokio::time::timeout(Duration::from_secs(15), response_rx.recv())
            .await
            .expect("the function answers")
            .expect("response");
        assert_eq!(got, id);
        response
    };

    let raw = invoke("get-execution.json").await;
    assert_eq!(raw["statusCode"], 200, "{raw}");
    let body: Value = serde_json::from_str(raw["body"].as_str().expect("text body")).expect("json");
    assert_eq!(body["executionArn"], arn.as_str());
    assert_eq!(
        body["output"],
        json!({"greeting": "Hello, Lambda!", "echo": [1, 2]})
    );
    let etag = header(&raw, "etag");
    assert!(etag.as_str().is_some_and(|t| t.starts_with('"')), "{raw}");
    assert_eq!(header(&raw, "cache-status"), "sfn-results; fwd=miss");

    let encoded = invoke("get-execution-encoded.json").await;
    assert_eq!(encoded["statusCode"], 200, "{encoded}");
    assert_eq!(encoded["body"], raw["body"]);
    assert_eq!(header(&encoded, "etag"), etag);
    assert_eq!(
        header(&encoded, "cache-status"),
        "sfn-results; hit; detail=memory"
    );

    let staged = invoke("get-execution-stage-in-path.json").await;
    assert_eq!(staged["statusCode"], 200, "{staged}");
    assert_eq!(staged["body"], raw["body"]);

    let unknown = invoke("get-execution-unknown.json").await;
    assert_eq!(unknown["statusCode"], 404, "{unknown}");
    assert_eq!(header(&unknown, "content-type"), "application/problem+json");

    let health = invoke("healthz.json").await;
    assert_eq!(health["statusCode"], 200, "{health}");
    assert_eq!(health["body"], r#"{"status":"ok"}"#);
}
