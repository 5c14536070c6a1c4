//! Results pushed by Step Functions' own events, stored before anyone asks: Standard executions'
//! status changes, Express executions' log records, and the reconcile that catches what events
//! missed. Events come at least once and out of order: a result replaces a stored one only when
//! its rank (`redriveCount`, `stopDate`) is greater.

use std::time::SystemTime;

use super::arn::ExecutionArn;
use super::budget::wall_clock;
use super::execution::{Execution, ExecutionStatus, RedriveStatus, UNKNOWN_START};
use super::ports::{PutOutcome, SharedRead, SourceError, StoreError, StoredResult};
use super::retrieval::Results;

/// What an event changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ingested {
    /// The result (or, for an Express start, the open execution) is in the table now.
    Stored,
    /// The table already held this result or a newer one: a duplicate or an older event.
    Unchanged,
}

/// Why an event could not be stored; the invocation fails so that Lambda retries it.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error("the result store failed")]
    Store(#[source] StoreError),
    #[error("Step Functions could not be read")]
    Source(#[source] SourceError),
    #[error("DescribeExecution does not show the execution stopped yet")]
    NotStoppedYet,
}

impl Results {
    /// Stores a Standard execution's stop as its event told it. An event whose output was left
    /// out (over 248 KB escaped) costs exactly one `DescribeExecution`.
    #[tracing::instrument(skip_all, fields(execution_arn = %execution.arn))]
    pub async fn record_stop(
        &self,
        execution: Execution,
        output_included: bool,
    ) -> Result<Ingested, IngestError> {
        let execution = if output_included {
            execution
        } else {
            let described = self
                .source
                .describe(&execution.arn)
                .await
                .map_err(IngestError::Source)?;
            // DescribeExecution is eventually consistent: fail, and the retry sees the stop.
            if !described.status.is_stopped() || described.rank() < execution.rank() {
                return Err(IngestError::NotStoppedYet);
            }
            described
        };
        self.store_result(&execution).await
    }

    /// Records an Express execution's start: a `GET` answers `202` until its stop arrives. A
    /// start that arrives after its stop (log records come in any order) fills in the stored
    /// result's start date.
    pub async fn record_express_start(
        &self,
        arn: &ExecutionArn,
        start: SystemTime,
    ) -> Result<Ingested, IngestError> {
        let stored = self
            .table
            .state(arn)
            .await
            .map_err(IngestError::Store)?
            .result;
        if let Some(stored) = stored {
            return self.fill_in_start(arn, stored, start).await;
        }
        let execution = Execution {
            arn: arn.clone(),
            state_machine_arn: arn.state_machine().as_str().to_owned(),
            status: ExecutionStatus::Running,
            start_date: start,
            stop_date: None,
            output: None,
            error: None,
            cause: None,
            redrive_status: RedriveStatus::NotRedrivable,
            redrive_count: 0,
            output_truncated: false,
            input: None,
        };
        // Read "now": the open item lasts an Express execution's longest run from when its
        // start was recorded, however late the log arrived.
        let read = SharedRead {
            document: execution.document(),
            status: ExecutionStatus::Running,
            start_date: start,
            read_at: wall_clock(),
        };
        let recorded = self
            .table
            .record_read(arn, &read)
            .await
            .map_err(IngestError::Store)?;
        if recorded {
            return Ok(Ingested::Stored);
        }
        // The stop was stored between the read above and this write: fill its start in.
        match self
            .table
            .state(arn)
            .await
            .map_err(IngestError::Store)?
            .result
        {
            Some(stored) => self.fill_in_start(arn, stored, start).await,
            None => Ok(Ingested::Unchanged),
        }
    }

    /// Puts `start` into a stored Express result whose start was not known when it was stored
    /// (`"startDate":null`); a result that has its start already is left as it is.
    async fn fill_in_start(
        &self,
        arn: &ExecutionArn,
        stored: StoredResult,
        start: SystemTime,
    ) -> Result<Ingested, IngestError> {
        const UNKNOWN: &[u8] = b"\"startDate\":null";
        let Some(at) = stored
            .document
            .windows(UNKNOWN.len())
            .position(|w| w == UNKNOWN)
        else {
            return Ok(Ingested::Unchanged);
        };
        let mut document = Vec::with_capacity(stored.document.len() + 24);
        document.extend_from_slice(&stored.document[..at]);
        document.extend_from_slice(
            format!(
                "\"startDate\":\"{}\"",
                super::execution::rfc3339_millis(start)
            )
            .as_bytes(),
        );
        document.extend_from_slice(&stored.document[at + UNKNOWN.len()..]);
        let result = StoredResult {
            document: document.into(),
            ..stored.clone()
        };
        if self
            .table
            .replace_result(arn, &stored, &result)
            .await
            .map_err(IngestError::Store)?
        {
            self.keeper.hot().insert(arn, result);
            Ok(Ingested::Stored)
        } else {
            // Another writer changed it first (this same start, delivered twice): nothing to do.
            Ok(Ingested::Unchanged)
        }
    }

    /// Stores an Express execution's stop. Its start date comes from the start recorded before
    /// (or `start`, when the same batch held it); an Express execution is never redriven.
    pub async fn record_express_stop(
        &self,
        mut execution: Execution,
        start: Option<SystemTime>,
    ) -> Result<Ingested, IngestError> {
        execution.start_date = match start {
            Some(start) => start,
            None => self
                .table
                .state(&execution.arn)
                .await
                .map_err(IngestError::Store)?
                .read
                .map_or(UNKNOWN_START, |read| read.start_date),
        };
        execution.redrive_status = RedriveStatus::NotRedrivable;
        self.store_result(&execution).await
    }

    /// Writes a stopped execution's result unless the table holds it or a newer one.
    pub(super) async fn store_result(
        &self,
        execution: &Execution,
    ) -> Result<Ingested, IngestError> {
        let now = wall_clock();
        let Some(item) = self.keeper.item(execution, now) else {
            return Ok(Ingested::Unchanged);
        };
        match self
            .keeper
            .persist(&execution.arn, &item)
            .await
            .map_err(IngestError::Store)?
        {
            PutOutcome::Written => {
                self.keeper.hot().insert(&execution.arn, item);
                if let Some(lag) = execution
                    .stop_date
                    .and_then(|stop| now.duration_since(stop).ok())
                {
                    metrics::histogram!(super::metrics::EVENT_LAG)
                        .record(lag.as_secs_f64() * 1000.0);
                }
                Ok(Ingested::Stored)
            }
            PutOutcome::AlreadyPresent => Ok(Ingested::Unchanged),
        }
    }
}
