//! An execution's steps, folded from its history (`GetExecutionHistory`): one entry per state
//! entered, with its retries folded in as attempts, and the states of each Map iteration and
//! Parallel branch grouped under the state that ran them.
//!
//! Events are linked by `previousEventId`, not by their order: iterations and branches run side by
//! side and their events interleave. Each event is read in the context of the event before it in
//! its own chain: which iterations it is within, and which step it belongs to.

use std::collections::HashMap;
use std::time::SystemTime;

use serde::Serialize;

use super::execution::rfc3339_millis;

/// One event of an execution's history, as much of it as the steps need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryEvent {
    pub id: i64,
    /// The event before this one in its chain; 0 when Step Functions gives none.
    pub previous: i64,
    /// Step Functions' event type, e.g. `TaskStateEntered`.
    pub kind: String,
    pub at: SystemTime,
    /// The state's name (entered and exited events) or the Map's (iteration events).
    pub name: Option<String>,
    /// The iteration's index (Map iteration events).
    pub index: Option<u32>,
    pub error: Option<String>,
    pub cause: Option<String>,
}

/// What a step ended as; `Running` while it has not.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum StepStatus {
    Running,
    Succeeded,
    Failed,
    TimedOut,
    Aborted,
}

/// The iteration or branch a step ran in: the Map or Parallel state, and which one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Within {
    pub state: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iteration: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub branch: Option<u32>,
}

/// One state entered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Step {
    pub name: String,
    /// The state's type as Step Functions names it: `Task`, `Map`, `Choice`, …
    #[serde(rename = "type")]
    pub kind: String,
    pub status: StepStatus,
    pub entered_at: String,
    pub exited_at: Option<String>,
    pub duration_ms: Option<u64>,
    /// The last failure seen in the step (a retried attempt's, when a later one succeeded).
    pub error: Option<String>,
    pub cause: Option<String>,
    /// Task attempts (retries included), or runs of a Map or Parallel retried as a whole; 1
    /// for the other states.
    pub attempts: u32,
    /// The iterations and branches the step ran in, outermost first; empty at the top level.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub within: Vec<Within>,
}

/// A step while the history is folded.
struct Open {
    step: Step,
    entered: SystemTime,
    /// Its place: the parent's place, then the iteration or branch, then the order of entry.
    key: Vec<u64>,
    /// The last attempt failed (and no later one succeeded).
    failing: bool,
    /// The branches of a Parallel state seen so far.
    branches: u32,
}

/// Where an event stands: the groups it is within (each with its parent step and its place) and
/// the step it belongs to.
#[derive(Clone, Default)]
struct Context {
    groups: Vec<(usize, Within, u64)>,
    current: Option<usize>,
}

/// Folds a whole history, in the order Step Functions gives it (ascending ids), into steps,
/// each iteration's and branch's right after the state that ran them.
pub fn fold(events: &[HistoryEvent]) -> Vec<Step> {
    let mut steps: Vec<Open> = Vec::new();
    let mut contexts: HashMap<i64, Context> = HashMap::with_capacity(events.len());
    let mut kinds: HashMap<i64, &str> = HashMap::with_capacity(events.len());
    for (seq, event) in events.iter().enumerate() {
        let before = contexts
            .get(&event.previous)
            .or_else(|| contexts.get(&(event.id - 1)))
            .cloned()
            .unwrap_or_default();
        let after = apply(&mut steps, before, event, seq as u64, &kinds);
        kinds.insert(event.id, event.kind.as_str());
        contexts.insert(event.id, after);
    }
    steps.sort_by(|a, b| a.key.cmp(&b.key));
    steps.into_iter().map(|open| open.step).collect()
}

fn apply(
    steps: &mut Vec<Open>,
    mut ctx: Context,
    event: &HistoryEvent,
    seq: u64,
    kinds: &HashMap<i64, &str>,
) -> Context {
    let kind = event.kind.as_str();
    if let Some(state_type) = kind.strip_suffix("StateEntered") {
        // The first state of a Parallel branch follows the Parallel's start.
        if kinds.get(&event.previous) == Some(&"ParallelStateStarted") {
            if let Some(parallel) = ctx.current {
                let open = &mut steps[parallel];
                let branch = open.branches;
                open.branches += 1;
                let within = Within {
                    state: open.step.name.clone(),
                    iteration: None,
                    branch: Some(branch),
                };
                let place = place(open.step.attempts, branch);
                ctx.groups.push((parallel, within, place));
            }
        }
        let mut key = ctx
            .groups
            .last()
            .map(|(parent, _, place)| {
                let mut key = steps[*parent].key.clone();
                key.push(*place);
                key
            })
            .unwrap_or_default();
        key.push(seq);
        steps.push(Open {
            step: Step {
                name: event.name.clone().unwrap_or_default(),
                kind: state_type.to_owned(),
                status: StepStatus::Running,
                entered_at: rfc3339_millis(event.at),
                exited_at: None,
                duration_ms: None,
                error: None,
                cause: None,
                attempts: 0,
                within: ctx.groups.iter().map(|(_, w, _)| w.clone()).collect(),
            },
            entered: event.at,
            key,
            failing: false,
            branches: 0,
        });
        ctx.current = Some(steps.len() - 1);
        return ctx;
    }
    if kind.ends_with("StateExited") {
        if let Some(i) = owner(steps, &ctx, event.name.as_deref()) {
            let status = if steps[i].failing {
                StepStatus::Failed
            } else {
                StepStatus::Succeeded
            };
            end(&mut steps[i], status, event.at);
            // Leaving the state leaves the iterations and branches it ran.
            ctx.groups.truncate(depth_of(steps, i));
            ctx.current = Some(i);
        }
        return ctx;
    }
    match kind {
        "MapStateStarted" | "ParallelStateStarted" => {
            let state_type = if kind == "MapStateStarted" {
                "Map"
            } else {
                "Parallel"
            };
            if let Some(i) = enclosing(steps, &ctx, state_type) {
                steps[i].step.attempts += 1;
                steps[i].failing = false;
                steps[i].branches = 0;
                ctx.groups.truncate(depth_of(steps, i));
                ctx.current = Some(i);
            }
        }
        "MapIterationStarted" => {
            if let Some(i) = enclosing(steps, &ctx, "Map") {
                ctx.groups.truncate(depth_of(steps, i));
                let index = event.index.unwrap_or(0);
                let within = Within {
                    state: steps[i].step.name.clone(),
                    iteration: Some(index),
                    branch: None,
                };
                ctx.groups
                    .push((i, within, place(steps[i].step.attempts, index)));
                ctx.current = None;
            }
        }
        "MapIterationSucceeded" | "MapIterationFailed" | "MapIterationAborted" => {
            // The iteration's end ends its last state, if no exit did.
            if let Some(i) = ctx.current.filter(|&i| steps[i].step.exited_at.is_none()) {
                let status = match kind {
                    "MapIterationSucceeded" if !steps[i].failing => StepStatus::Succeeded,
                    "MapIterationAborted" => StepStatus::Aborted,
                    _ => StepStatus::Failed,
                };
                end(&mut steps[i], status, event.at);
            }
        }
        "MapStateFailed" | "ParallelStateFailed" => {
            let state_type = if kind == "MapStateFailed" {
                "Map"
            } else {
                "Parallel"
            };
            if let Some(i) = enclosing(steps, &ctx, state_type) {
                steps[i].failing = true;
                ctx.groups.truncate(depth_of(steps, i));
                ctx.current = Some(i);
            }
        }
        "TaskScheduled" | "LambdaFunctionScheduled" | "ActivityScheduled" => {
            if let Some(i) = ctx.current {
                steps[i].step.attempts += 1;
                steps[i].failing = false;
            }
        }
        "TaskSucceeded" | "LambdaFunctionSucceeded" | "ActivitySucceeded" => {
            if let Some(i) = ctx.current {
                steps[i].failing = false;
            }
        }
        "ExecutionSucceeded" => {
            for open in steps
                .iter_mut()
                .filter(|o| o.step.status == StepStatus::Running)
            {
                end(open, StepStatus::Succeeded, event.at);
            }
        }
        "ExecutionFailed" | "ExecutionTimedOut" | "ExecutionAborted" => {
            let status = match kind {
                "ExecutionFailed" => StepStatus::Failed,
                "ExecutionTimedOut" => StepStatus::TimedOut,
                _ => StepStatus::Aborted,
            };
            // The state that failed the execution (a Fail state, say) carries its error.
            if let Some(i) = ctx.current.filter(|&i| steps[i].step.exited_at.is_none()) {
                if steps[i].step.error.is_none() {
                    steps[i].step.error.clone_from(&event.error);
                    steps[i].step.cause.clone_from(&event.cause);
                }
            }
            for open in steps
                .iter_mut()
                .filter(|o| o.step.status == StepStatus::Running)
            {
                open.step.status = status;
                open.step.attempts = open.step.attempts.max(1);
            }
        }
        _ if event.error.is_some() || event.cause.is_some() => {
            // A failed or timed out attempt (TaskFailed, LambdaFunctionTimedOut, …).
            if let Some(i) = ctx.current {
                steps[i].step.error.clone_from(&event.error);
                steps[i].step.cause.clone_from(&event.cause);
                steps[i].failing = true;
            }
        }
        _ => {}
    }
    ctx
}

/// Ends a step at `at`.
fn end(open: &mut Open, status: StepStatus, at: SystemTime) {
    open.step.status = status;
    open.step.exited_at = Some(rfc3339_millis(at));
    open.step.duration_ms = at
        .duration_since(open.entered)
        .ok()
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
    open.step.attempts = open.step.attempts.max(1);
}

/// Where an iteration or branch goes among its state's: by the run of the state (a retried Map
/// runs its iterations again), then by its index.
fn place(attempt: u32, index: u32) -> u64 {
    (u64::from(attempt) << 32) | u64::from(index)
}

/// How many groups the step at `i` is within.
fn depth_of(steps: &[Open], i: usize) -> usize {
    steps[i].step.within.len()
}

/// The step an exit names: the current one, or a state whose iterations the event is within.
fn owner(steps: &[Open], ctx: &Context, name: Option<&str>) -> Option<usize> {
    let named = |i: &usize| name.is_none_or(|n| steps[*i].step.name == n);
    ctx.current.filter(named).or_else(|| {
        ctx.groups
            .iter()
            .rev()
            .map(|(parent, _, _)| *parent)
            .find(named)
    })
}

/// The innermost Map or Parallel state (`state_type`) the event is in or within.
fn enclosing(steps: &[Open], ctx: &Context, state_type: &str) -> Option<usize> {
    let of_type = |i: &usize| steps[*i].step.kind == state_type;
    ctx.current.filter(of_type).or_else(|| {
        ctx.groups
            .iter()
            .rev()
            .map(|(parent, _, _)| *parent)
            .find(of_type)
    })
}

#[cfg(test)]
#[path = "steps_tests.rs"]
mod tests;
