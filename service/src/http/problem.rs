//! The HTTP layer's one error type: every failure becomes an RFC 9457 problem+json answer.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use super::headers::{cache_status, status_location, status_location_from_action, CACHE_STATUS};
use std::sync::Arc;

use crate::domain::ports::BoxError;
use crate::domain::{
    ArnError, ExecutionArn, ListError, RetrievalError, SourceError, StartError, StartFailure,
};

/// Seconds a client should wait before retrying after a 503.
const UNAVAILABLE_RETRY_AFTER: u64 = 2;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("invalid execution ARN: {0}")]
    InvalidArn(#[source] ArnError),
    #[error("the execution's state machine is not in ALLOWED_STATE_MACHINES")]
    StateMachineNotAllowed,
    #[error("no execution has this ARN")]
    ExecutionNotFound,
    #[error("no result of this Express execution was recorded")]
    ExpressNotRecorded,
    #[error("Step Functions keeps no history of Express executions")]
    ExpressHistoryNotKept,
    #[error("no webhook or delivery has this id")]
    WebhookNotFound,
    #[error("unprocessable: {0}")]
    Unprocessable(String),
    #[error("no such route")]
    RouteNotFound,
    #[error("no workflow is named {0:?}")]
    WorkflowNotFound(String),
    #[error("the {kind} workflow {name:?} cannot be run this way")]
    WorkflowTypeNotSupported {
        name: String,
        kind: &'static str,
        hint: &'static str,
    },
    #[error("method not allowed")]
    MethodNotAllowed,
    #[error("invalid wait: {0}")]
    InvalidWait(String),
    #[error("invalid list query: {0}")]
    InvalidQuery(String),
    #[error("invalid cursor: {0}")]
    InvalidCursor(String),
    #[error("request body too large")]
    PayloadTooLarge,
    #[error("invalid execution name: {0}")]
    InvalidName(#[source] ArnError),
    #[error("invalid input: {0}")]
    InvalidInput(String),
    #[error("an execution with this name exists with another input")]
    Conflict,
    #[error("Step Functions is unavailable and nothing is cached")]
    Unavailable(#[source] BoxError),
    #[error("Step Functions refused the request")]
    Upstream(#[source] BoxError),
    /// `StartExecution` did not answer in time: the execution may be running.
    #[error("the start of {0} was not confirmed")]
    StartUnconfirmed(ExecutionArn, #[source] BoxError),
    /// The name is taken and the execution holding it could not be read.
    #[error("{0} exists and could not be read")]
    ExistingUnreadable(ExecutionArn, #[source] BoxError),
    /// A stop of an execution that is not running: its result document goes with the problem.
    #[error("{0} is not running")]
    ExecutionNotRunning(ExecutionArn, bytes::Bytes),
    /// A redrive Step Functions refused: its reason, and the result document as it stands.
    #[error("{} cannot be redriven: {}", .0.execution, .0.reason)]
    ExecutionNotRedrivable(Box<Refusal>),
    #[error("Step Functions cannot act this way on an Express execution")]
    ExecutionTypeNotSupported,
    /// A browser page of another origin asked to stop or redrive (CSRF).
    #[error("a cross-site request was refused")]
    CrossSite,
}

/// What Step Functions refused to do to an execution, and why, with the execution as it stands.
#[derive(Debug)]
pub struct Refusal {
    pub execution: ExecutionArn,
    pub reason: String,
    pub document: bytes::Bytes,
}

impl ApiError {
    pub fn status_code(&self) -> StatusCode {
        match self {
            Self::InvalidArn(_)
            | Self::InvalidWait(_)
            | Self::InvalidName(_)
            | Self::InvalidInput(_)
            | Self::InvalidQuery(_)
            | Self::InvalidCursor(_)
            | Self::WorkflowTypeNotSupported { .. }
            | Self::ExecutionTypeNotSupported => StatusCode::BAD_REQUEST,
            Self::Conflict | Self::ExecutionNotRunning(..) | Self::ExecutionNotRedrivable(..) => {
                StatusCode::CONFLICT
            }
            Self::StateMachineNotAllowed | Self::CrossSite => StatusCode::FORBIDDEN,
            Self::Unprocessable(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::ExecutionNotFound
            | Self::ExpressNotRecorded
            | Self::ExpressHistoryNotKept
            | Self::WebhookNotFound
            | Self::WorkflowNotFound(_)
            | Self::RouteNotFound => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::Unavailable(_) | Self::StartUnconfirmed(..) | Self::ExistingUnreadable(..) => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            Self::Upstream(_) => StatusCode::BAD_GATEWAY,
        }
    }

    fn slug(&self) -> &'static str {
        match self {
            Self::InvalidArn(_) => "invalid-execution-arn",
            Self::StateMachineNotAllowed => "state-machine-not-allowed",
            Self::ExecutionNotFound => "execution-not-found",
            Self::ExpressNotRecorded => "express-result-not-recorded",
            Self::ExpressHistoryNotKept => "express-history-not-kept",
            Self::WebhookNotFound => "webhook-not-found",
            Self::Unprocessable(_) => "state-machine-not-allowed",
            Self::RouteNotFound => "not-found",
            Self::WorkflowNotFound(_) => "workflow-not-found",
            Self::WorkflowTypeNotSupported { .. } => "workflow-type-not-supported",
            Self::MethodNotAllowed => "method-not-allowed",
            Self::InvalidWait(_) => "invalid-wait",
            Self::PayloadTooLarge => "payload-too-large",
            Self::InvalidQuery(_) => "invalid-query",
            Self::InvalidCursor(_) => "invalid-cursor",
            Self::InvalidName(_) => "invalid-execution-name",
            Self::InvalidInput(_) => "invalid-input",
            Self::Conflict => "execution-exists",
            Self::Unavailable(_) => "upstream-unavailable",
            Self::Upstream(_) => "upstream-error",
            Self::StartUnconfirmed(..) => "start-unconfirmed",
            Self::ExistingUnreadable(..) => "execution-unreadable",
            Self::ExecutionNotRunning(..) => "execution-not-running",
            Self::ExecutionNotRedrivable(..) => "execution-not-redrivable",
            Self::ExecutionTypeNotSupported => "execution-type-not-supported",
            Self::CrossSite => "cross-site-request",
        }
    }

    fn execution(&self) -> Option<&ExecutionArn> {
        match self {
            Self::StartUnconfirmed(arn, _)
            | Self::ExistingUnreadable(arn, _)
            | Self::ExecutionNotRunning(arn, _) => Some(arn),
            Self::ExecutionNotRedrivable(refusal) => Some(&refusal.execution),
            _ => None,
        }
    }

    fn title(&self) -> &'static str {
        match self {
            Self::InvalidArn(_) => "Invalid execution ARN",
            Self::StateMachineNotAllowed => "State machine not allowed",
            Self::ExecutionNotFound => "Execution not found",
            Self::ExpressNotRecorded => "Express result not recorded",
            Self::ExpressHistoryNotKept => "Express history not kept",
            Self::WebhookNotFound => "Webhook not found",
            Self::Unprocessable(_) => "State machine not allowed",
            Self::RouteNotFound => "Not found",
            Self::WorkflowNotFound(_) => "Workflow not found",
            Self::WorkflowTypeNotSupported { .. } => "Workflow type not supported",
            Self::MethodNotAllowed => "Method not allowed",
            Self::InvalidWait(_) => "Invalid wait",
            Self::PayloadTooLarge => "Payload too large",
            Self::InvalidQuery(_) => "Invalid query",
            Self::InvalidCursor(_) => "Invalid cursor",
            Self::InvalidName(_) => "Invalid execution name",
            Self::InvalidInput(_) => "Invalid input",
            Self::Conflict => "Execution exists",
            Self::Unavailable(_) => "Step Functions unavailable",
            Self::Upstream(_) => "Step Functions error",
            Self::StartUnconfirmed(..) => "Start not confirmed",
            Self::ExistingUnreadable(..) => "Execution could not be read",
            Self::ExecutionNotRunning(..) => "Execution not running",
            Self::ExecutionNotRedrivable(..) => "Execution not redrivable",
            Self::ExecutionTypeNotSupported => "Execution type not supported",
            Self::CrossSite => "Cross-site request refused",
        }
    }

    /// What the client is told; 5xx details stay in the logs.
    fn detail(&self) -> String {
        match self {
            Self::InvalidArn(e) => e.to_string(),
            Self::StateMachineNotAllowed => {
                "This service does not serve executions of that state machine.".into()
            }
            Self::ExecutionNotFound => {
                "Step Functions has no execution with this ARN (executions are kept 90 days after they stop; a new one can take a moment to appear).".into()
            }
            Self::ExpressHistoryNotKept => "Step Functions keeps no history of Express executions (GetExecutionHistory does not serve them), so they have no steps here; their results are at GET /executions/{executionArn}, from the state machine's log.".into(),
            Self::ExpressNotRecorded => "Step Functions keeps no record of Express executions that DescribeExecution could read; their results exist here only once the state machine's log subscription has delivered them (usually within seconds of the stop), and are kept for the table's retention.".into(),
            Self::RouteNotFound => "No route matches this path.".into(),
            Self::WorkflowNotFound(name) => format!(
                "No workflow named {name:?} is configured in this deployment; GET /workflows lists them."
            ),
            Self::WorkflowTypeNotSupported { name, kind, hint } => {
                format!("{name:?} is an {kind} workflow: {hint}")
            }
            Self::WebhookNotFound => "No webhook endpoint (or delivery of it) has this id.".into(),
            Self::Unprocessable(why) => why.clone(),
            Self::MethodNotAllowed => "This route does not accept this method.".into(),
            Self::InvalidWait(why)
            | Self::InvalidInput(why)
            | Self::InvalidQuery(why)
            | Self::InvalidCursor(why) => why.clone(),
            Self::InvalidName(e) => e.to_string(),
            Self::Conflict => "An execution with this name was started with another input; names are unique per state machine for 90 days.".into(),
            Self::PayloadTooLarge => "The request body is larger than Step Functions accepts (256 KiB).".into(),
            Self::Unavailable(_) => {
                "Step Functions could not answer and no result is cached; retry after the time given in Retry-After.".into()
            }
            Self::Upstream(_) => "Step Functions refused the request.".into(),
            Self::StartUnconfirmed(..) => "Step Functions did not confirm the start in time: the execution named in executionArn may be running. Read its status URL (Location) before starting again; a retry with the same name and input is safe.".into(),
            Self::ExistingUnreadable(..) => "An execution with this name exists, and Step Functions could not be asked whether its input matches; read its status URL (Location), or retry after the time given in Retry-After.".into(),
            Self::ExecutionNotRunning(..) => "The execution has stopped already, so it cannot be stopped; its result is in execution.".into(),
            Self::ExecutionNotRedrivable(refusal) if refusal.reason.is_empty() => "Step Functions will not redrive this execution; its result is in execution.".into(),
            Self::ExecutionNotRedrivable(refusal) => format!("Step Functions will not redrive this execution ({}); its result is in execution.", refusal.reason.trim_end_matches('.')),
            Self::CrossSite => "A page of another site sent this request: stop and redrive take requests from the status page's own origin, from CORS_ALLOWED_ORIGINS, or from clients that are not browsers.".into(),
            Self::ExecutionTypeNotSupported => "This is an Express execution: Step Functions cannot stop, redrive or list the steps of one; it runs to its end or its timeout (at most 5 minutes).".into(),
        }
    }
}

impl From<axum::extract::rejection::BytesRejection> for ApiError {
    /// A body over the route's limit, or one that could not be read.
    fn from(rejection: axum::extract::rejection::BytesRejection) -> Self {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            Self::PayloadTooLarge
        } else {
            Self::InvalidInput("the request body could not be read".into())
        }
    }
}

impl From<ArnError> for ApiError {
    fn from(e: ArnError) -> Self {
        Self::InvalidArn(e)
    }
}

impl From<Arc<RetrievalError>> for ApiError {
    fn from(e: Arc<RetrievalError>) -> Self {
        match *e {
            RetrievalError::NotFound => Self::ExecutionNotFound,
            RetrievalError::ExpressNotRecorded => Self::ExpressNotRecorded,
            RetrievalError::Unavailable(_) => Self::Unavailable(Box::new(e)),
            RetrievalError::Failed(_) | RetrievalError::Crashed(_) => Self::Upstream(Box::new(e)),
        }
    }
}

impl From<crate::domain::StepsFailure> for ApiError {
    fn from(e: crate::domain::StepsFailure) -> Self {
        use crate::domain::StepsFailure;
        match e {
            StepsFailure::Express => Self::ExpressHistoryNotKept,
            StepsFailure::NotFound => Self::ExecutionNotFound,
            StepsFailure::Cursor(e) => Self::InvalidCursor(e.to_string()),
            StepsFailure::CursorMismatch => Self::InvalidCursor(
                "the cursor belongs to another execution's steps; send it with the URL it came with".into(),
            ),
            e @ StepsFailure::Unavailable(_) => Self::Unavailable(Box::new(e)),
            e @ StepsFailure::Failed(_) => Self::Upstream(Box::new(e)),
        }
    }
}

impl From<ListError> for ApiError {
    fn from(e: ListError) -> Self {
        match e {
            ListError::Cursor(e) => Self::InvalidCursor(e.to_string()),
            ListError::CursorMismatch => Self::InvalidCursor(
                "the cursor belongs to another stateMachine or status; send it with the query it came with".into(),
            ),
            ListError::Source(ref source) => match **source {
                SourceError::Throttled(_) | SourceError::Unavailable(_) => {
                    Self::Unavailable(Box::new(e))
                }
                _ => Self::Upstream(Box::new(e)),
            },
            ListError::Store(_) => Self::Unavailable(Box::new(e)),
        }
    }
}

impl From<StartFailure> for ApiError {
    fn from(e: StartFailure) -> Self {
        match e {
            StartFailure::InvalidName(e) => Self::InvalidName(e),
            StartFailure::Conflict | StartFailure::Start(StartError::AlreadyExists) => {
                Self::Conflict
            }
            StartFailure::Start(StartError::InvalidInput(why)) => Self::InvalidInput(why),
            StartFailure::Start(e @ (StartError::Throttled(_) | StartError::Unavailable(_))) => {
                Self::Unavailable(Box::new(e))
            }
            StartFailure::Start(e @ StartError::Failed(_)) => Self::Upstream(Box::new(e)),
            StartFailure::Uncertain(arn, e) => Self::StartUnconfirmed(arn, Box::new(e)),
            StartFailure::ExistingUnreadable(arn, e) => match *e {
                RetrievalError::NotFound => Self::Unavailable(Box::new(e)),
                _ => Self::ExistingUnreadable(arn, Box::new(e)),
            },
        }
    }
}

#[derive(Serialize)]
struct Problem<'a> {
    #[serde(rename = "type")]
    kind: String,
    title: &'a str,
    status: u16,
    detail: String,
    /// The execution a failed start-and-wait may have started, so a client never loses it.
    #[serde(rename = "executionArn", skip_serializing_if = "Option::is_none")]
    execution_arn: Option<&'a str>,
    /// The execution's result document, when the problem is about what it is now.
    #[serde(skip_serializing_if = "Option::is_none")]
    execution: Option<&'a serde_json::value::RawValue>,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status_code();
        if status.is_server_error() {
            tracing::error!(error = %self, source = ?std::error::Error::source(&self), "answering {status}");
        }
        let body = Problem {
            kind: format!("urn:api-sfn:problem:{}", self.slug()),
            title: self.title(),
            status: status.as_u16(),
            detail: self.detail(),
            execution_arn: self.execution().map(ExecutionArn::as_str),
            execution: match &self {
                Self::ExecutionNotRunning(_, document) => serde_json::from_slice(document).ok(),
                Self::ExecutionNotRedrivable(refusal) => {
                    serde_json::from_slice(&refusal.document).ok()
                }
                _ => None,
            },
        };
        let looked_up = matches!(
            self,
            Self::ExecutionNotFound
                | Self::ExpressNotRecorded
                | Self::Unavailable(_)
                | Self::Upstream(_)
                | Self::Conflict
                | Self::StartUnconfirmed(..)
                | Self::ExistingUnreadable(..)
                | Self::ExecutionNotRunning(..)
                | Self::ExecutionNotRedrivable(..)
        );
        let mut response = (
            status,
            [
                (
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/problem+json"),
                ),
                (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
            ],
            serde_json::to_vec(&body).unwrap_or_default(),
        )
            .into_response();
        let headers = response.headers_mut();
        headers.insert(
            CACHE_STATUS,
            cache_status(if looked_up { "fwd=miss" } else { "fwd=bypass" }),
        );
        if status == StatusCode::SERVICE_UNAVAILABLE {
            headers.insert(
                header::RETRY_AFTER,
                HeaderValue::from(UNAVAILABLE_RETRY_AFTER),
            );
        }
        // The answer to an action (`…/{arn}/stop`) points back to the status URL beside it.
        let acted_on = match &self {
            Self::ExecutionNotRunning(arn, _) => Some(arn),
            Self::ExecutionNotRedrivable(refusal) => Some(&refusal.execution),
            _ => None,
        };
        if let Some(arn) = acted_on {
            headers.insert(header::LOCATION, status_location_from_action(arn));
        } else if let Some(arn) = self.execution() {
            headers.insert(header::LOCATION, status_location(arn));
        }
        response
    }
}
