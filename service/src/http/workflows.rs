//! `/workflows`: the configured state machines by name, and the service's routes of each
//! (start-and-wait, the ops list). The start routes themselves are API Gateway's.

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use serde::Serialize;
use tokio::time::Instant;

use super::list::{list_of, Scope};
use super::problem::ApiError;
use super::start::{start_and_wait_on, StartQuery, MAX_INPUT_BYTES};
use super::{counted, AppState};
use crate::domain::{Workflow, WorkflowType};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/workflows", counted("/workflows", get(list)))
        .route(
            "/workflows/{workflow}",
            counted("/workflows/{workflow}", get(one)),
        )
        .route(
            "/workflows/{workflow}/executions",
            counted("/workflows/{workflow}/executions", get(executions)),
        )
        .route(
            "/workflows/{workflow}/executions/wait",
            counted(
                "/workflows/{workflow}/executions/wait",
                post(start_and_wait),
            ),
        )
        .layer(DefaultBodyLimit::max(MAX_INPUT_BYTES))
}

/// A name as one path segment: what Step Functions allows in names beyond these is encoded.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// The paths of a workflow's routes, from the API's base URL (after any stage).
#[derive(Serialize)]
struct Links {
    #[serde(rename = "self")]
    this: String,
    start: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    sync: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    wait: Option<String>,
    executions: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct View<'a> {
    name: &'a str,
    #[serde(rename = "type")]
    kind: WorkflowType,
    state_machine_arn: &'a str,
    links: Links,
}

fn view(workflow: &Workflow) -> View<'_> {
    let this = format!(
        "/workflows/{}",
        utf8_percent_encode(workflow.name(), SEGMENT)
    );
    let express = workflow.kind == WorkflowType::Express;
    View {
        name: workflow.name(),
        kind: workflow.kind,
        state_machine_arn: workflow.machine.as_str(),
        links: Links {
            start: format!("{this}/executions"),
            sync: express.then(|| format!("{this}/executions/sync")),
            wait: (!express).then(|| format!("{this}/executions/wait")),
            executions: format!("{this}/executions"),
            this,
        },
    }
}

/// Configuration answers: no upstream call, and no need to cache it anywhere but the client.
fn answer(body: impl Serialize) -> Response {
    (
        [(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"))],
        Json(body),
    )
        .into_response()
}

/// The workflow a path names, or `404 workflow-not-found` before any upstream call.
fn named(
    state: &AppState,
    name: Result<Path<String>, axum::extract::rejection::PathRejection>,
) -> Result<&Workflow, ApiError> {
    let Path(name) = name.map_err(|_| ApiError::WorkflowNotFound(String::new()))?;
    state
        .workflows
        .get(&name)
        .ok_or(ApiError::WorkflowNotFound(name))
}

async fn list(State(state): State<AppState>) -> Response {
    #[derive(Serialize)]
    struct Body<'a> {
        workflows: Vec<View<'a>>,
    }
    answer(Body {
        workflows: state.workflows.iter().map(view).collect(),
    })
}

async fn one(
    State(state): State<AppState>,
    name: Result<Path<String>, axum::extract::rejection::PathRejection>,
) -> Result<Response, ApiError> {
    Ok(answer(view(named(&state, name)?)))
}

async fn executions(
    State(state): State<AppState>,
    name: Result<Path<String>, axum::extract::rejection::PathRejection>,
    uri: Uri,
) -> Result<Response, ApiError> {
    let workflow = named(&state, name)?;
    list_of(&state, &uri, Scope::Workflow(&workflow.machine)).await
}

async fn start_and_wait(
    State(state): State<AppState>,
    name: Result<Path<String>, axum::extract::rejection::PathRejection>,
    query: Result<Query<StartQuery>, QueryRejection>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let entry = Instant::now();
    let workflow = named(&state, name)?;
    if workflow.kind == WorkflowType::Express {
        return Err(ApiError::WorkflowTypeNotSupported {
            name: workflow.name().to_owned(),
            kind: "EXPRESS",
            hint: "Step Functions describes no Express execution, so none can be waited on here; run it with POST /workflows/{workflow}/executions/sync.",
        });
    }
    let mut response = start_and_wait_on(&state, &workflow.machine, entry, query, &headers, body)
        .await
        .unwrap_or_else(IntoResponse::into_response);
    // `./{arn}` (on a 202, or a 503 whose start was not confirmed) is relative to
    // `/executions/wait`; from `/workflows/{workflow}/executions/wait` the status URL is three
    // levels up, and stays relative so it holds behind a stage prefix.
    let relocated = response
        .headers()
        .get(header::LOCATION)
        .and_then(|l| l.to_str().ok())
        .and_then(|l| l.strip_prefix("./"))
        .and_then(|arn| HeaderValue::from_str(&format!("../../../executions/{arn}")).ok());
    if let Some(location) = relocated {
        response.headers_mut().insert(header::LOCATION, location);
    }
    Ok(response)
}
