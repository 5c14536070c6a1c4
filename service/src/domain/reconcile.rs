//! Reconcile: Step Functions' events are best effort, so a scheduled run lists each allowed
//! STANDARD machine's executions newest first, down to the watermark the last run left, and
//! stores every stopped result the table is missing, within a budget of upstream calls.

use std::time::SystemTime;

use super::arn::StateMachineArn;
use super::ingest::{IngestError, Ingested};
use super::retrieval::Results;

/// What one run may spend per machine: `ListExecutions` pages (bucket 200, refill 5/s) and
/// `DescribeExecution` calls (bucket 300, refill 15/s in the largest regions).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReconcileBudget {
    pub pages: usize,
    pub describes: usize,
}

impl Default for ReconcileBudget {
    fn default() -> Self {
        Self {
            pages: 10,
            describes: 50,
        }
    }
}

/// What a run did for one machine.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Reconciled {
    pub pages: usize,
    pub listed: usize,
    /// Stopped executions the table did not hold.
    pub missing: usize,
    pub describes: usize,
    pub stored: usize,
}

fn earliest(a: Option<SystemTime>, b: SystemTime) -> Option<SystemTime> {
    Some(a.map_or(b, |a| a.min(b)))
}

impl Results {
    /// Stores what the events missed for `machine` and moves its watermark: executions that
    /// started before it are all stopped and stored, so the next run lists only what is newer.
    #[tracing::instrument(skip(self), fields(state_machine = %machine))]
    pub async fn reconcile(
        &self,
        machine: &StateMachineArn,
        budget: ReconcileBudget,
    ) -> Result<Reconciled, IngestError> {
        let watermark = self
            .store
            .watermark(machine)
            .await
            .map_err(IngestError::Store)?;
        let mut report = Reconciled::default();
        let (mut next, mut reached_end) = (None::<String>, false);
        // The oldest start that the next run must see again (running, or not yet described).
        let mut revisit: Option<SystemTime> = None;
        let (mut newest, mut oldest) = (None::<SystemTime>, None::<SystemTime>);
        'pages: while report.pages < budget.pages {
            let page = self
                .lister
                .list(machine, next.as_deref())
                .await
                .map_err(IngestError::Source)?;
            report.pages += 1;
            for listed in page.executions {
                if watermark.is_some_and(|mark| listed.start_date < mark) {
                    reached_end = true;
                    break 'pages;
                }
                report.listed += 1;
                newest = newest.max(Some(listed.start_date));
                oldest = earliest(oldest, listed.start_date);
                if !listed.status.is_stopped() {
                    revisit = earliest(revisit, listed.start_date);
                    continue;
                }
                let state = self
                    .store
                    .state(&listed.arn)
                    .await
                    .map_err(IngestError::Store)?;
                if state
                    .result
                    .is_some_and(|result| result.is_live(super::budget::wall_clock()))
                {
                    continue;
                }
                report.missing += 1;
                if report.describes >= budget.describes {
                    revisit = earliest(revisit, listed.start_date);
                    continue;
                }
                report.describes += 1;
                let execution = match self.source.describe(&listed.arn).await {
                    Ok(execution) => execution,
                    Err(err) => {
                        tracing::warn!(execution_arn = %listed.arn, error = %err, "reconcile: DescribeExecution failed; next run tries again");
                        revisit = earliest(revisit, listed.start_date);
                        continue;
                    }
                };
                if self.store_result(&execution).await? == Ingested::Stored {
                    report.stored += 1;
                }
            }
            next = page.next;
            if next.is_none() {
                reached_end = true;
                break;
            }
        }
        let mark = if reached_end {
            revisit.or(newest).or(watermark)
        } else {
            // Out of pages before the old watermark: what lies between is not handled yet, so
            // the mark stays (a first run starts from the oldest it saw).
            watermark.or(oldest)
        };
        if let Some(mark) = mark.filter(|mark| Some(*mark) != watermark) {
            self.store
                .set_watermark(machine, mark)
                .await
                .map_err(IngestError::Store)?;
        }
        tracing::info!(
            pages = report.pages,
            listed = report.listed,
            missing = report.missing,
            describes = report.describes,
            stored = report.stored,
            "reconciled"
        );
        Ok(report)
    }
}
