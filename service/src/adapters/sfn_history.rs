//! `GetExecutionHistory` behind the `ExecutionHistory` port: each event reduced to what the steps
//! are folded from (its links, type, time, state name, iteration index, error and cause).

use async_trait::async_trait;
use aws_sdk_sfn::types::HistoryEvent as SfnEvent;

use super::sfn::{classify_history, count, source_outcome, system_time, StepFunctions};
use crate::domain::{ExecutionArn, ExecutionHistory, HistoryEvent, HistoryPage, SourceError};

/// Step Functions' largest page.
const PAGE: i32 = 1000;

#[async_trait]
impl ExecutionHistory for StepFunctions {
    async fn history(
        &self,
        arn: &ExecutionArn,
        next: Option<&str>,
    ) -> Result<HistoryPage, SourceError> {
        let out = self
            .client()
            .get_execution_history()
            .execution_arn(arn.as_str())
            .max_results(PAGE)
            // Only the steps are answered: inputs and outputs are not read.
            .include_execution_data(false)
            .set_next_token(next.map(str::to_owned))
            .send()
            .await
            .map_err(classify_history);
        count("GetExecutionHistory", source_outcome(out.as_ref().err()));
        let out = out?;
        Ok(HistoryPage {
            events: out.events().iter().map(event).collect(),
            next: out.next_token().map(str::to_owned),
        })
    }
}

fn event(e: &SfnEvent) -> HistoryEvent {
    let (error, cause) = failure(e);
    let iteration = [
        e.map_iteration_started_event_details(),
        e.map_iteration_succeeded_event_details(),
        e.map_iteration_failed_event_details(),
        e.map_iteration_aborted_event_details(),
    ]
    .into_iter()
    .flatten()
    .next();
    let name = e
        .state_entered_event_details()
        .map(|d| d.name().to_owned())
        .or_else(|| e.state_exited_event_details().map(|d| d.name().to_owned()))
        .or_else(|| iteration.and_then(|d| d.name().map(str::to_owned)));
    let index = iteration.and_then(|d| u32::try_from(d.index()).ok());
    HistoryEvent {
        id: e.id(),
        previous: e.previous_event_id(),
        kind: e.r#type().as_str().to_owned(),
        at: system_time(e.timestamp()),
        name,
        index,
        error,
        cause,
    }
}

/// The error and cause an event carries, whichever kind of failure it records.
fn failure(e: &SfnEvent) -> (Option<String>, Option<String>) {
    macro_rules! first {
        ($($details:ident),+ $(,)?) => {
            $(if let Some(d) = e.$details() {
                return (d.error().map(str::to_owned), d.cause().map(str::to_owned));
            })+
        };
    }
    first!(
        task_failed_event_details,
        task_timed_out_event_details,
        task_start_failed_event_details,
        task_submit_failed_event_details,
        activity_failed_event_details,
        activity_timed_out_event_details,
        activity_schedule_failed_event_details,
        lambda_function_failed_event_details,
        lambda_function_timed_out_event_details,
        lambda_function_start_failed_event_details,
        lambda_function_schedule_failed_event_details,
        execution_failed_event_details,
        execution_timed_out_event_details,
        execution_aborted_event_details,
        map_run_failed_event_details,
        evaluation_failed_event_details,
    );
    (None, None)
}
