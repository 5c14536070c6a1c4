//! A Lambda runtime API on loopback: hands events to the real binary and collects its answers.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::Router;
use serde_json::{json, Value};
use tokio::sync::{mpsc, Mutex};

use crate::emulators::repo_root;

#[derive(Clone)]
struct Queues {
    events: Arc<Mutex<mpsc::Receiver<(String, Value)>>>,
    responses: mpsc::Sender<(String, Value)>,
}

/// The runtime API the binary polls (`AWS_LAMBDA_RUNTIME_API`), one invocation at a time.
#[derive(Debug)]
pub struct LoopbackRuntime {
    pub address: String,
    events: mpsc::Sender<(String, Value)>,
    responses: mpsc::Receiver<(String, Value)>,
    invocations: u32,
}

impl LoopbackRuntime {
    pub async fn start() -> Self {
        let (events, event_rx) = mpsc::channel(8);
        let (response_tx, responses) = mpsc::channel(8);
        let queues = Queues {
            events: Arc::new(Mutex::new(event_rx)),
            responses: response_tx,
        };
        let runtime = Router::new()
            .route("/2018-06-01/runtime/invocation/next", get(next))
            .route("/2018-06-01/runtime/invocation/{id}/{kind}", post(respond))
            .with_state(queues);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let address = listener.local_addr().expect("address").to_string();
        tokio::spawn(async move { axum::serve(listener, runtime).await });
        Self {
            address,
            events,
            responses,
            invocations: 0,
        }
    }

    /// The variables Lambda sets for a function, pointing at this runtime API.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_LAMBDA_RUNTIME_API", self.address.clone()),
            ("AWS_LAMBDA_FUNCTION_NAME", "sfn-results".into()),
            ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST".into()),
            ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256".into()),
            // As the stack sets it; routing does not depend on it.
            ("AWS_LAMBDA_HTTP_IGNORE_STAGE_IN_PATH", "true".into()),
        ]
    }

    /// Delivers `event` and returns what the function posted as its response. The function
    /// posts it only once its handler has returned: anything it awaited is done by then.
    pub async fn invoke(&mut self, event: Value) -> Value {
        self.invocations += 1;
        let id = format!("req-{}", self.invocations);
        self.events
            .send((id.clone(), event))
            .await
            .expect("queue event");
        let (got, response) = tokio::time::timeout(Duration::from_secs(20), self.responses.recv())
            .await
            .expect("the function answers")
            .expect("response");
        assert_eq!(got, id);
        response
    }
}

async fn next(State(queues): State<Queues>) -> impl IntoResponse {
    let Some((id, event)) = queues.events.lock().await.recv().await else {
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
    State(queues): State<Queues>,
    Path((id, kind)): Path<(String, String)>,
    body: String,
) -> StatusCode {
    let value = if kind == "response" {
        serde_json::from_str(&body).unwrap_or(Value::String(body))
    } else {
        json!({"invocationError": body})
    };
    let _ = queues.responses.send((id, value)).await;
    StatusCode::ACCEPTED
}

/// An event from `infra/events/`.
pub fn event(file: &str) -> Value {
    let text =
        std::fs::read_to_string(repo_root().join("infra/events").join(file)).expect("event file");
    serde_json::from_str(&text).expect("event json")
}

/// A response header: REST API responses carry them in `multiValueHeaders`, HTTP API ones in
/// `headers`.
pub fn header(response: &Value, name: &str) -> Value {
    match &response["multiValueHeaders"][name][0] {
        Value::Null => response["headers"][name].clone(),
        value => value.clone(),
    }
}
