//! Step Functions adapter: `DescribeExecution`, `ListExecutions`, `StartExecution`,
//! `StopExecution` and `RedriveExecution` behind the domain's ports (`GetExecutionHistory` in
//! `sfn_history.rs`).

use std::time::SystemTime;

use async_trait::async_trait;
use aws_config::SdkConfig;
use aws_sdk_sfn::config::http::HttpResponse;
use aws_sdk_sfn::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_sfn::operation::describe_execution::DescribeExecutionError;
use aws_sdk_sfn::operation::get_execution_history::GetExecutionHistoryError;
use aws_sdk_sfn::operation::list_executions::ListExecutionsError;
use aws_sdk_sfn::operation::redrive_execution::RedriveExecutionError;
use aws_sdk_sfn::operation::start_execution::StartExecutionError;
use aws_sdk_sfn::operation::stop_execution::StopExecutionError;
use aws_sdk_sfn::primitives::DateTime;
use aws_sdk_sfn::types::{ExecutionRedriveStatus, ExecutionStatus as SfnStatus};
use aws_sdk_sfn::Client;

use super::aws::{timeouts, SFN_ATTEMPT_TIMEOUT, SFN_OPERATION_TIMEOUT};
use crate::domain::{
    Execution, ExecutionArn, ExecutionControl, ExecutionLister, ExecutionSource, ExecutionStarter,
    ExecutionStatus, Listed, Page, RedriveError, RedriveStatus, SourceError, StartError, Started,
    StateMachineArn, StopReason,
};

#[derive(Debug, Clone)]
pub struct StepFunctions {
    client: Client,
}

impl StepFunctions {
    pub fn new(sdk: &SdkConfig) -> Self {
        let config = aws_sdk_sfn::config::Builder::from(sdk)
            .timeout_config(timeouts(SFN_ATTEMPT_TIMEOUT, SFN_OPERATION_TIMEOUT))
            .build();
        Self {
            client: Client::from_conf(config),
        }
    }

    /// Over a client configured elsewhere: the tests' clients of Step Functions' documented
    /// answers (`aws-smithy-mocks`).
    pub fn with_client(client: Client) -> Self {
        Self { client }
    }

    pub fn client(&self) -> &Client {
        &self.client
    }
}

#[async_trait]
impl ExecutionSource for StepFunctions {
    async fn describe(&self, arn: &ExecutionArn) -> Result<Execution, SourceError> {
        let out = self
            .client
            .describe_execution()
            .execution_arn(arn.as_str())
            .send()
            .await
            .map_err(classify);
        count("DescribeExecution", source_outcome(out.as_ref().err()));
        let out = out?;
        let status = ExecutionStatus::parse(out.status().as_str()).ok_or_else(|| {
            SourceError::Failed(format!("unknown execution status {:?}", out.status()).into())
        })?;
        Ok(Execution {
            arn: arn.clone(),
            state_machine_arn: out.state_machine_arn().to_owned(),
            status,
            start_date: system_time(out.start_date()),
            stop_date: out.stop_date().map(system_time),
            output: out.output().map(str::to_owned),
            error: out.error().map(str::to_owned),
            cause: out.cause().map(str::to_owned),
            redrive_status: match out.redrive_status() {
                Some(ExecutionRedriveStatus::Redrivable) => RedriveStatus::Redrivable,
                Some(ExecutionRedriveStatus::NotRedrivable) => RedriveStatus::NotRedrivable,
                _ => RedriveStatus::Unknown,
            },
            redrive_count: out
                .redrive_count()
                .and_then(|n| u32::try_from(n).ok())
                .unwrap_or(0),
            output_truncated: false,
            input: out.input().map(str::to_owned),
        })
    }
}

#[async_trait]
impl ExecutionLister for StepFunctions {
    async fn list(
        &self,
        machine: &StateMachineArn,
        next: Option<&str>,
    ) -> Result<Page, SourceError> {
        self.list_page(machine, None, 100, next).await
    }

    async fn list_page(
        &self,
        machine: &StateMachineArn,
        status: Option<ExecutionStatus>,
        limit: u16,
        next: Option<&str>,
    ) -> Result<Page, SourceError> {
        let out = self
            .client
            .list_executions()
            .state_machine_arn(machine.as_str())
            .set_status_filter(status.map(|s| SfnStatus::from(s.as_str())))
            .set_next_token(next.map(str::to_owned))
            .max_results(i32::from(limit))
            .send()
            .await;
        count(
            "ListExecutions",
            match &out {
                Ok(_) => "ok",
                Err(err) if is_throttling(err.code()) => "throttled",
                Err(_) => "failed",
            },
        );
        let out = match out {
            Ok(out) => out,
            // EXPRESS machines are allowed so their logged results can be read, but Step
            // Functions lists no Express executions: there is nothing to reconcile.
            Err(err)
                if matches!(
                    err.as_service_error(),
                    Some(ListExecutionsError::StateMachineTypeNotSupported(_))
                ) =>
            {
                return Ok(Page::default());
            }
            Err(err) => {
                return Err(match err.as_service_error() {
                    Some(e) if is_throttling(e.code()) => SourceError::Throttled(Box::new(err)),
                    _ if is_transient(&err) => SourceError::Unavailable(Box::new(err)),
                    _ => SourceError::Failed(Box::new(err)),
                })
            }
        };
        let executions = out
            .executions()
            .iter()
            .filter_map(|item| {
                Some(Listed {
                    arn: ExecutionArn::parse(item.execution_arn()).ok()?,
                    status: ExecutionStatus::parse(item.status().as_str())?,
                    start_date: system_time(item.start_date()),
                    stop_date: item.stop_date().map(system_time),
                })
            })
            .collect();
        Ok(Page {
            executions,
            next: out.next_token().map(str::to_owned),
        })
    }
}

#[async_trait]
impl ExecutionStarter for StepFunctions {
    async fn start(
        &self,
        machine: &StateMachineArn,
        name: &str,
        input: &str,
    ) -> Result<Started, StartError> {
        let out = self
            .client
            .start_execution()
            .state_machine_arn(machine.as_str())
            .name(name)
            .input(input)
            .send()
            .await
            .map_err(|err| match err.as_service_error() {
                Some(StartExecutionError::ExecutionAlreadyExists(_)) => StartError::AlreadyExists,
                Some(StartExecutionError::InvalidExecutionInput(e)) => {
                    StartError::InvalidInput(e.message().unwrap_or("invalid input").to_owned())
                }
                Some(e) if is_throttling(e.code()) => StartError::Throttled(Box::new(err)),
                _ if is_transient(&err) => StartError::Unavailable(Box::new(err)),
                _ => StartError::Failed(Box::new(err)),
            });
        count(
            "StartExecution",
            match &out {
                Ok(_) => "ok",
                Err(StartError::Throttled(_)) => "throttled",
                Err(_) => "failed",
            },
        );
        let out = out?;
        let arn =
            ExecutionArn::parse(&out.execution_arn).map_err(|e| StartError::Failed(Box::new(e)))?;
        Ok(Started {
            arn,
            start_date: system_time(&out.start_date),
        })
    }
}

#[async_trait]
impl ExecutionControl for StepFunctions {
    async fn stop(
        &self,
        arn: &ExecutionArn,
        reason: &StopReason,
    ) -> Result<SystemTime, SourceError> {
        let out = self
            .client
            .stop_execution()
            .execution_arn(arn.as_str())
            .set_error(reason.error.clone())
            .set_cause(reason.cause.clone())
            .send()
            .await
            .map_err(|err| match err.as_service_error() {
                Some(StopExecutionError::ExecutionDoesNotExist(_)) => SourceError::NotFound,
                Some(e) if is_throttling(e.code()) => SourceError::Throttled(Box::new(err)),
                _ if is_transient(&err) => SourceError::Unavailable(Box::new(err)),
                _ => SourceError::Failed(Box::new(err)),
            });
        count("StopExecution", source_outcome(out.as_ref().err()));
        Ok(system_time(out?.stop_date()))
    }

    async fn redrive(&self, arn: &ExecutionArn) -> Result<SystemTime, RedriveError> {
        let out = self
            .client
            .redrive_execution()
            .execution_arn(arn.as_str())
            .send()
            .await
            .map_err(|err| match err.as_service_error() {
                Some(RedriveExecutionError::ExecutionNotRedrivable(e)) => {
                    RedriveError::NotRedrivable(e.message().unwrap_or("").to_owned())
                }
                Some(RedriveExecutionError::ExecutionDoesNotExist(_)) => {
                    RedriveError::Source(SourceError::NotFound)
                }
                // The account's open executions are at their quota: worth trying again later.
                Some(RedriveExecutionError::ExecutionLimitExceeded(_)) => {
                    RedriveError::Source(SourceError::Throttled(Box::new(err)))
                }
                Some(e) if is_throttling(e.code()) => {
                    RedriveError::Source(SourceError::Throttled(Box::new(err)))
                }
                _ if is_transient(&err) => {
                    RedriveError::Source(SourceError::Unavailable(Box::new(err)))
                }
                _ => RedriveError::Source(SourceError::Failed(Box::new(err))),
            });
        let outcome = match &out {
            Ok(_) => "ok",
            Err(RedriveError::NotRedrivable(_)) => "not-redrivable",
            Err(RedriveError::Source(e)) => source_outcome(Some(e)),
        };
        count("RedriveExecution", outcome);
        Ok(system_time(out?.redrive_date()))
    }
}

/// Step Functions' dates are epoch milliseconds, sent as float seconds (`1795886931.043`), which
/// parse a hair below the millisecond (`.042999…`): round to the nearest one, so a document built
/// from `DescribeExecution` says what one built from the execution's event says.
pub(super) fn system_time(t: &DateTime) -> SystemTime {
    let nanos = t.as_nanos();
    let millis = (nanos + 500_000).div_euclid(1_000_000);
    u64::try_from(millis)
        .ok()
        .and_then(crate::domain::execution::from_epoch_millis)
        .unwrap_or(SystemTime::UNIX_EPOCH)
}

/// Counts one Step Functions call by its outcome.
pub(super) fn count(operation: &'static str, outcome: &'static str) {
    metrics::counter!(
        crate::emf::UPSTREAM_CALLS,
        "Operation" => operation,
        "Outcome" => outcome,
    )
    .increment(1);
}

pub(super) fn source_outcome(err: Option<&SourceError>) -> &'static str {
    match err {
        None => "ok",
        Some(SourceError::Throttled(_)) => "throttled",
        Some(SourceError::NotFound) => "not-found",
        Some(_) => "failed",
    }
}

/// Maps the SDK's error to the port's kinds by variant and error code, keeping it as the source.
pub(crate) fn classify(err: SdkError<DescribeExecutionError, HttpResponse>) -> SourceError {
    match &err {
        SdkError::ServiceError(service) => match service.err() {
            DescribeExecutionError::ExecutionDoesNotExist(_) => SourceError::NotFound,
            e if is_throttling(e.code()) => SourceError::Throttled(Box::new(err)),
            _ if is_transient(&err) => SourceError::Unavailable(Box::new(err)),
            _ => SourceError::Failed(Box::new(err)),
        },
        _ if is_transient(&err) => SourceError::Unavailable(Box::new(err)),
        _ => SourceError::Failed(Box::new(err)),
    }
}

/// As `classify`, for `GetExecutionHistory`.
pub(super) fn classify_history(
    err: SdkError<GetExecutionHistoryError, HttpResponse>,
) -> SourceError {
    match err.as_service_error() {
        Some(GetExecutionHistoryError::ExecutionDoesNotExist(_)) => SourceError::NotFound,
        Some(e) if is_throttling(e.code()) => SourceError::Throttled(Box::new(err)),
        _ if is_transient(&err) => SourceError::Unavailable(Box::new(err)),
        _ => SourceError::Failed(Box::new(err)),
    }
}

pub(crate) fn is_throttling(code: Option<&str>) -> bool {
    matches!(
        code,
        Some(
            "ThrottlingException"
                | "Throttling"
                | "TooManyRequestsException"
                | "RequestLimitExceeded"
                | "ProvisionedThroughputExceededException"
        )
    )
}

/// Timeouts, connection failures, unreadable responses and 5xx answers: worth a retry later.
pub(super) fn is_transient<E>(err: &SdkError<E, HttpResponse>) -> bool {
    match err {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            true
        }
        SdkError::ServiceError(_) => err
            .raw_response()
            .is_some_and(|raw| raw.status().is_server_error()),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn float_second_dates_round_to_the_nearest_millisecond() {
        let t = DateTime::from_secs_f64(1_795_886_931.043);
        let ms = system_time(&t)
            .duration_since(SystemTime::UNIX_EPOCH)
            .expect("after the epoch")
            .as_millis();
        assert_eq!(ms, 1_795_886_931_043);
    }
}
