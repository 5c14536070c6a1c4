//! The webhook endpoints API: register, list, read, delete, rotate the secret, list deliveries
//! and send one again. Answers 404 when `WEBHOOKS_TABLE` is not set. Secrets are shown once, at
//! creation and rotation, and never logged.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

use super::problem::ApiError;
use super::{counted, AppState};
use crate::domain::budget::wall_clock;
use crate::domain::webhooks::{
    Delivery, Endpoint, EndpointError, Notifier, Secret, WebhookUrl, CONFLICT_RETRIES,
    ROTATION_OVERLAP, STOPPED,
};
use crate::domain::{StateMachineArn, StoreError};

/// A registration is a few hundred bytes; anything much larger is not one.
const MAX_BODY: usize = 16 * 1024;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/webhooks", counted("/webhooks", post(create).get(list)))
        .route(
            "/webhooks/{id}",
            counted("/webhooks/{id}", get(read).delete(remove)),
        )
        .route(
            "/webhooks/{id}/secret",
            counted("/webhooks/{id}/secret", post(rotate)),
        )
        .route(
            "/webhooks/{id}/deliveries",
            counted("/webhooks/{id}/deliveries", get(deliveries)),
        )
        .route(
            "/webhooks/{id}/deliveries/{delivery_id}/retry",
            counted(
                "/webhooks/{id}/deliveries/{delivery_id}/retry",
                post(resend),
            ),
        )
        .layer(DefaultBodyLimit::max(MAX_BODY))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Registration {
    url: String,
    #[serde(default)]
    state_machines: Option<Vec<String>>,
    #[serde(default)]
    workflows: Option<Vec<String>>,
    #[serde(default)]
    statuses: Option<Vec<String>>,
    #[serde(default)]
    description: Option<String>,
}

fn notifier(state: &AppState) -> Result<&Notifier, ApiError> {
    state.results.notifier().ok_or(ApiError::RouteNotFound)
}

fn store_failed(err: impl std::error::Error + Send + Sync + 'static) -> ApiError {
    ApiError::Unavailable(Box::new(err))
}

/// An endpoint as answered: never its secrets.
fn view(endpoint: &Endpoint) -> Value {
    json!({
        "id": endpoint.id,
        "url": endpoint.url,
        "stateMachines": endpoint.state_machines,
        "workflows": endpoint.workflows.as_deref().unwrap_or_default(),
        "statuses": endpoint.statuses,
        "description": endpoint.description,
        "createdAt": crate::domain::execution::rfc3339_millis(
            std::time::UNIX_EPOCH + std::time::Duration::from_millis(endpoint.created_at_ms)
        ),
        "disabled": endpoint.disabled,
    })
}

fn delivery_view(delivery: &Delivery) -> Value {
    json!({
        "id": delivery.id,
        "executionArn": delivery.execution_arn,
        "executionStatus": delivery.execution_status,
        "status": delivery.state,
        "attempts": delivery.attempts,
        "lastStatusCode": delivery.last_status_code,
        "lastError": delivery.last_error,
        "nextAttemptAt": delivery.next_attempt_at,
        "deliveredAt": delivery.delivered_at,
    })
}

fn no_store(status: StatusCode, body: Value) -> Response {
    (
        status,
        [(header::CACHE_CONTROL, HeaderValue::from_static("no-store"))],
        Json(body),
    )
        .into_response()
}

async fn create(
    State(state): State<AppState>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let notifier = notifier(&state)?;
    let body = body.map_err(ApiError::from)?;
    let registration: Registration = serde_json::from_slice(&body).map_err(|e| {
        ApiError::InvalidInput(format!("the body is not a webhook registration: {e}"))
    })?;
    let endpoint = endpoint_of(&state, registration)?;
    let created = notifier
        .store
        .create_endpoint(&endpoint)
        .await
        .map_err(store_failed)?;
    if !created {
        return Err(store_failed(StoreError(
            "a new endpoint's random id was taken".into(),
        )));
    }
    tracing::info!(webhook = %endpoint.id, "webhook registered");
    let mut answer = view(&endpoint);
    answer["secret"] = json!(endpoint.secrets[0].secret);
    let mut response = no_store(StatusCode::CREATED, answer);
    if let Ok(location) = HeaderValue::from_str(&format!("webhooks/{}", endpoint.id)) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    Ok(response)
}

/// Checks a registration; nothing is stored unless all of it is valid.
fn endpoint_of(state: &AppState, registration: Registration) -> Result<Endpoint, ApiError> {
    let invalid = |e: EndpointError| ApiError::InvalidInput(e.to_string());
    let url =
        WebhookUrl::parse(&registration.url, state.webhook_allow_loopback).map_err(invalid)?;
    let statuses = match registration.statuses {
        None => STOPPED.iter().map(|s| s.as_str().to_owned()).collect(),
        Some(statuses) if statuses.is_empty() => {
            return Err(ApiError::InvalidInput("statuses: name at least one".into()))
        }
        Some(statuses) => {
            for status in &statuses {
                if !STOPPED.iter().any(|s| s.as_str() == status) {
                    return Err(invalid(EndpointError::Status(status.clone())));
                }
            }
            statuses
        }
    };
    let state_machines = match registration.state_machines {
        None => None,
        Some(machines) => {
            for machine in &machines {
                let allowed = StateMachineArn::parse(machine)
                    .is_ok_and(|arn| state.allowed.permits_machine(&arn));
                if !allowed {
                    return Err(ApiError::Unprocessable(
                        EndpointError::StateMachine(machine.clone()).to_string(),
                    ));
                }
            }
            Some(machines)
        }
    };
    let workflows = match registration.workflows {
        None => None,
        Some(names) if names.is_empty() => {
            return Err(ApiError::InvalidInput(
                "workflows: name at least one, or leave it out for every workflow".into(),
            ))
        }
        Some(names) => {
            if let Some(unknown) = names.iter().find(|n| state.workflows.get(n).is_none()) {
                return Err(ApiError::Unprocessable(
                    EndpointError::Workflow(unknown.clone()).to_string(),
                ));
            }
            Some(names)
        }
    };
    if registration
        .description
        .as_ref()
        .is_some_and(|d| d.chars().count() > 256)
    {
        return Err(invalid(EndpointError::Description));
    }
    // The system clock, as Step Functions dates stops: an endpoint gets the stops after this.
    let created = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    Ok(Endpoint {
        id: format!("wh_{}", uuid::Uuid::new_v4().simple()),
        url,
        state_machines,
        workflows,
        statuses,
        description: registration.description,
        created_at_ms: u64::try_from(created.as_millis()).unwrap_or(u64::MAX),
        disabled: false,
        secrets: vec![Secret::generate()],
        version: 0,
    })
}

async fn list(State(state): State<AppState>) -> Result<Response, ApiError> {
    let endpoints = notifier(&state)?
        .store
        .endpoints()
        .await
        .map_err(store_failed)?;
    let items: Vec<Value> = endpoints.iter().map(view).collect();
    Ok(no_store(StatusCode::OK, json!({ "items": items })))
}

async fn found(state: &AppState, id: &str) -> Result<Endpoint, ApiError> {
    notifier(state)?
        .store
        .endpoint(id)
        .await
        .map_err(store_failed)?
        .ok_or(ApiError::WebhookNotFound)
}

async fn read(State(state): State<AppState>, Path(id): Path<String>) -> Result<Response, ApiError> {
    let endpoint = found(&state, &id).await?;
    Ok(no_store(StatusCode::OK, view(&endpoint)))
}

async fn remove(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let deleted = notifier(&state)?
        .store
        .delete_endpoint(&id)
        .await
        .map_err(store_failed)?;
    if !deleted {
        return Err(ApiError::WebhookNotFound);
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn rotate(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    // Read, change, write only if the endpoint is still as read: a DELETE (or another rotation)
    // in between makes the write fail, and the endpoint is read again (or is gone: 404).
    for _ in 0..CONFLICT_RETRIES {
        let mut endpoint = found(&state, &id).await?;
        let now = wall_clock();
        let until = now + ROTATION_OVERLAP;
        let until_ms = u64::try_from(
            until
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap_or_default()
                .as_millis(),
        )
        .unwrap_or(u64::MAX);
        // The current secret keeps signing beside the new one for the overlap; older ones end.
        endpoint.secrets.retain(|s| s.signs_at(now));
        for secret in &mut endpoint.secrets {
            secret.expires_at_ms = Some(secret.expires_at_ms.unwrap_or(until_ms).min(until_ms));
        }
        let fresh = Secret::generate();
        endpoint.secrets.insert(0, fresh.clone());
        let replaced = notifier(&state)?
            .store
            .replace_endpoint(&endpoint)
            .await
            .map_err(store_failed)?;
        if replaced {
            tracing::info!(webhook = %endpoint.id, "webhook secret rotated");
            return Ok(no_store(StatusCode::OK, json!({ "secret": fresh.secret })));
        }
    }
    Err(store_failed(StoreError(
        "the endpoint kept changing during the rotation".into(),
    )))
}

async fn deliveries(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    found(&state, &id).await?;
    let deliveries = notifier(&state)?
        .store
        .deliveries(&id, 100)
        .await
        .map_err(store_failed)?;
    let items: Vec<Value> = deliveries.iter().map(delivery_view).collect();
    Ok(no_store(StatusCode::OK, json!({ "items": items })))
}

async fn resend(
    State(state): State<AppState>,
    Path((id, delivery_id)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    found(&state, &id).await?;
    let delivery = notifier(&state)?
        .fanout()
        .resend(&id, &delivery_id)
        .await
        .map_err(store_failed)?
        .ok_or(ApiError::WebhookNotFound)?;
    Ok(no_store(StatusCode::ACCEPTED, delivery_view(&delivery)))
}
