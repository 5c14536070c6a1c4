//! A builder of `Execution`s for tests and fakes: say what matters, the rest is empty or unknown.

use std::time::{Duration, SystemTime};

use super::{Execution, ExecutionArn, ExecutionStatus, RedriveStatus};

/// Builds an `Execution`: RUNNING, started now, nothing else known, until told otherwise.
#[derive(Debug, Clone)]
pub struct ExecutionBuilder(Execution);

impl Execution {
    /// An execution of `arn`'s state machine, to be filled in.
    pub fn builder(arn: ExecutionArn) -> ExecutionBuilder {
        ExecutionBuilder(Execution {
            state_machine_arn: arn.state_machine().as_str().to_owned(),
            arn,
            status: ExecutionStatus::Running,
            start_date: SystemTime::now(),
            stop_date: None,
            output: None,
            error: None,
            cause: None,
            redrive_status: RedriveStatus::Unknown,
            redrive_count: 0,
            output_truncated: false,
            input: None,
        })
    }
}

impl ExecutionBuilder {
    pub fn status(mut self, status: ExecutionStatus) -> Self {
        self.0.status = status;
        self
    }

    pub fn started(mut self, at: SystemTime) -> Self {
        self.0.start_date = at;
        self
    }

    pub fn stopped(mut self, at: SystemTime) -> Self {
        self.0.stop_date = Some(at);
        self
    }

    /// Stopped `duration` after its start, when its status is a stop.
    pub fn ran(mut self, duration: Duration) -> Self {
        self.0.stop_date = self
            .0
            .status
            .is_stopped()
            .then_some(self.0.start_date + duration);
        self
    }

    pub fn output(mut self, output: impl Into<String>) -> Self {
        self.0.output = Some(output.into());
        self
    }

    pub fn error(mut self, error: impl Into<String>) -> Self {
        self.0.error = Some(error.into());
        self
    }

    pub fn redrive_status(mut self, redrive_status: RedriveStatus) -> Self {
        self.0.redrive_status = redrive_status;
        self
    }

    pub fn input(mut self, input: impl Into<String>) -> Self {
        self.0.input = Some(input.into());
        self
    }

    pub fn build(self) -> Execution {
        self.0
    }
}
