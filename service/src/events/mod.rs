//! The events door: Step Functions' status-change events, the EXPRESS machine's log
//! subscription and the reconcile schedule, mapped to domain calls as `http/` maps requests.
//! A poison event is logged with its reason and acknowledged; a store failure fails the
//! invocation, so Lambda retries it and, after the retries, its dead-letter queue keeps it.
//! `deliveries` is the delivery queue's door: webhook delivery messages become attempts.

pub mod deliveries;
pub mod logs;
pub mod status;

use serde::{Deserialize, Serialize};

use crate::config::AllowList;
use crate::domain::{
    IngestError, Ingested, ReconcileBudget, Results, SourceError, StateMachineArn,
};

/// What the events entry point needs.
#[derive(Debug, Clone)]
pub struct EventsApp {
    pub results: Results,
    pub allowed: AllowList,
    /// The STANDARD machines reconcile lists.
    pub reconcile_machines: Vec<StateMachineArn>,
    pub reconcile: ReconcileBudget,
}

/// What one invocation did (its answer to Lambda, and its log line).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Summary {
    pub stored: usize,
    pub unchanged: usize,
    /// Events of machines not allowed, statuses that are not stops, other log records.
    pub ignored: usize,
    pub poison: usize,
    /// Results reconcile stored.
    pub reconciled: usize,
}

impl Summary {
    fn count(&mut self, ingested: Ingested) {
        match ingested {
            Ingested::Stored => self.stored += 1,
            Ingested::Unchanged => self.unchanged += 1,
        }
    }
}

/// Just enough of any payload to tell which kind it is.
#[derive(Debug, Deserialize)]
struct Probe {
    #[serde(default)]
    awslogs: Option<serde::de::IgnoredAny>,
    #[serde(default, rename = "detail-type")]
    detail_type: Option<String>,
    #[serde(default)]
    source: Option<String>,
    #[serde(default)]
    action: Option<String>,
}

const STATUS_CHANGE: &str = "Step Functions Execution Status Change";

/// How old an outbox entry must be before the sweep takes it over: a fan-out under way takes
/// well under this.
const SWEEP_GRACE: std::time::Duration = std::time::Duration::from_secs(10);

impl EventsApp {
    /// Handles one invocation's payload.
    pub async fn handle(&self, payload: &str) -> Result<Summary, IngestError> {
        let mut summary = Summary::default();
        let probe = match serde_json::from_str::<Probe>(payload) {
            Ok(probe) => probe,
            Err(e) => {
                tracing::warn!(reason = %e, "poison event acknowledged: not a JSON object");
                summary.poison += 1;
                return Ok(summary);
            }
        };
        if probe.awslogs.is_some() {
            self.express_logs(payload, &mut summary).await?;
        } else if probe.detail_type.as_deref() == Some(STATUS_CHANGE)
            && probe.source.as_deref() == Some("aws.states")
        {
            self.status_change(payload, &mut summary).await?;
        } else if probe.action.as_deref() == Some("reconcile")
            || probe.detail_type.as_deref() == Some("Scheduled Event")
        {
            // The sweep first: a long reconcile never holds up a fan-out a dead process left.
            self.sweep().await;
            summary.reconciled = self.reconcile_all().await;
        } else {
            tracing::warn!(
                reason = "neither a status change, a log subscription nor a schedule",
                "poison event acknowledged"
            );
            summary.poison += 1;
        }
        for (outcome, n) in [
            ("stored", summary.stored),
            ("unchanged", summary.unchanged),
            ("ignored", summary.ignored),
            ("poison", summary.poison),
        ] {
            if n > 0 {
                metrics::counter!(crate::emf::EVENTS, "Outcome" => outcome).increment(n as u64);
            }
        }
        tracing::info!(
            stored = summary.stored,
            unchanged = summary.unchanged,
            ignored = summary.ignored,
            poison = summary.poison,
            reconciled = summary.reconciled,
            "events handled"
        );
        Ok(summary)
    }

    async fn status_change(&self, payload: &str, summary: &mut Summary) -> Result<(), IngestError> {
        match status::parse(payload) {
            Ok(stop) if !self.allowed.permits(&stop.execution.arn) => {
                tracing::debug!(execution_arn = %stop.execution.arn, "event of a machine not allowed: ignored");
                summary.ignored += 1;
            }
            Ok(stop) => {
                let arn = stop.execution.arn.clone();
                match self
                    .results
                    .record_stop(stop.execution, stop.output_included)
                    .await
                {
                    Ok(ingested) => summary.count(ingested),
                    // Step Functions does not know the execution the event names: no retry
                    // will change that.
                    Err(IngestError::Source(SourceError::NotFound)) => {
                        tracing::warn!(execution_arn = %arn, reason = "the execution does not exist", "poison event acknowledged");
                        summary.poison += 1;
                    }
                    Err(err) => return Err(err),
                }
            }
            Err(status::Skip::NotStopped(_)) => summary.ignored += 1,
            Err(status::Skip::Malformed(reason)) => {
                tracing::warn!(%reason, "poison event acknowledged");
                summary.poison += 1;
            }
        }
        Ok(())
    }

    async fn express_logs(&self, payload: &str, summary: &mut Summary) -> Result<(), IngestError> {
        let batch = match logs::parse(payload) {
            Ok(batch) => batch,
            Err(reason) => {
                tracing::warn!(%reason, "poison log subscription payload acknowledged");
                summary.poison += 1;
                return Ok(());
            }
        };
        summary.ignored += batch.other + usize::from(batch.control);
        for reason in &batch.poison {
            tracing::warn!(%reason, "poison log record acknowledged");
        }
        summary.poison += batch.poison.len();
        for change in batch.changes {
            let arn = match &change {
                logs::Change::Started { arn, .. } => arn,
                logs::Change::Stopped { execution, .. } => &execution.arn,
            };
            if !self.allowed.permits(arn) {
                summary.ignored += 1;
                continue;
            }
            let ingested = match change {
                logs::Change::Started { arn, at } => {
                    self.results.record_express_start(&arn, at).await?
                }
                logs::Change::Stopped { execution, start } => {
                    self.results.record_express_stop(*execution, start).await?
                }
            };
            summary.count(ingested);
        }
        Ok(())
    }

    /// Reconciles every machine of `RECONCILE_STATE_MACHINES`; a machine that fails is logged
    /// and tried at the next run.
    pub async fn reconcile_all(&self) -> usize {
        if self.reconcile_machines.is_empty() {
            tracing::warn!(
                "reconcile has no machines: set RECONCILE_STATE_MACHINES (ALLOWED_STATE_MACHINES is `*`)"
            );
        }
        let mut stored = 0;
        for machine in &self.reconcile_machines {
            stored += self.reconcile_one(machine).await;
        }
        stored
    }

    /// Finishes the webhook fan-outs a process left half done (it died, or its write was cut
    /// off, between storing and queueing); how many.
    pub async fn sweep(&self) -> usize {
        let swept = self.results.sweep_notifications(SWEEP_GRACE).await;
        if swept > 0 {
            tracing::info!(swept, "webhook fan-outs finished from the outbox");
        }
        swept
    }

    async fn reconcile_one(&self, machine: &StateMachineArn) -> usize {
        match self.results.reconcile(machine, self.reconcile).await {
            Ok(report) => report.stored,
            Err(err) => {
                tracing::warn!(state_machine = %machine, error = %err, source = ?std::error::Error::source(&err), "reconcile failed; the next run tries again");
                0
            }
        }
    }
}
