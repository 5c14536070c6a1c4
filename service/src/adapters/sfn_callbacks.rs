//! `SendTaskSuccess` and `SendTaskFailure` behind the `TaskCallbacks` port (the links' answers;
//! clients answer tasks through the gateway's `/callbacks/*` routes, which need no function).

use async_trait::async_trait;
use aws_sdk_sfn::config::http::HttpResponse;
use aws_sdk_sfn::error::{ProvideErrorMetadata, SdkError};

use super::sfn::{count, is_throttling, is_transient, StepFunctions};
use crate::domain::{CallbackError, TaskCallbacks};

/// Step Functions' refusals by error code (the same for both calls).
fn classify<E: ProvideErrorMetadata>(err: SdkError<E, HttpResponse>) -> CallbackError
where
    SdkError<E, HttpResponse>: std::error::Error + Send + Sync + 'static,
{
    match err.as_service_error().and_then(ProvideErrorMetadata::code) {
        Some("TaskTimedOut") => CallbackError::TaskOver,
        Some("TaskDoesNotExist") => CallbackError::TaskNotFound,
        Some("InvalidToken") => CallbackError::InvalidToken,
        code if is_throttling(code) => CallbackError::Throttled(Box::new(err)),
        _ if is_transient(&err) => CallbackError::Unavailable(Box::new(err)),
        _ => CallbackError::Failed(Box::new(err)),
    }
}

fn outcome(result: &Result<(), CallbackError>) -> &'static str {
    match result {
        Ok(()) => "ok",
        Err(CallbackError::Throttled(_)) => "throttled",
        Err(CallbackError::TaskOver) => "task-over",
        Err(CallbackError::TaskNotFound | CallbackError::InvalidToken) => "not-found",
        Err(_) => "failed",
    }
}

#[async_trait]
impl TaskCallbacks for StepFunctions {
    async fn succeed(&self, token: &str, output: &str) -> Result<(), CallbackError> {
        let sent = self
            .client()
            .send_task_success()
            .task_token(token)
            .output(output)
            .send()
            .await
            .map(|_| ())
            .map_err(classify);
        count("SendTaskSuccess", outcome(&sent));
        sent
    }

    async fn fail(&self, token: &str, error: &str, cause: &str) -> Result<(), CallbackError> {
        let sent = self
            .client()
            .send_task_failure()
            .task_token(token)
            .error(error)
            .cause(cause)
            .send()
            .await
            .map(|_| ())
            .map_err(classify);
        count("SendTaskFailure", outcome(&sent));
        sent
    }
}
