use std::time::{Duration, UNIX_EPOCH};

use super::*;

/// `(id, previous, type, name, index)`, one second apart; error and cause set afterwards.
fn events(rows: &[(i64, i64, &str, &str, Option<u32>)]) -> Vec<HistoryEvent> {
    rows.iter()
        .map(|&(id, previous, kind, name, index)| HistoryEvent {
            id,
            previous,
            kind: kind.to_owned(),
            at: UNIX_EPOCH + Duration::from_secs(1_800_000_000 + id.unsigned_abs()),
            name: (!name.is_empty()).then(|| name.to_owned()),
            index,
            error: None,
            cause: None,
        })
        .collect()
}

fn summary(steps: &[Step]) -> Vec<String> {
    steps
        .iter()
        .map(|s| {
            let within: Vec<String> = s
                .within
                .iter()
                .map(|w| match (w.iteration, w.branch) {
                    (Some(i), _) => format!("{}[{i}]", w.state),
                    (_, Some(b)) => format!("{}<{b}>", w.state),
                    _ => w.state.clone(),
                })
                .collect();
            let prefix = if within.is_empty() {
                String::new()
            } else {
                format!("{}/ ", within.join("/"))
            };
            format!("{prefix}{} {:?} x{}", s.name, s.status, s.attempts)
        })
        .collect()
}

/// The `orders` sample's history as the local emulator writes it: a Map of two items whose
/// second fails its iteration (a Fail state), the Map retried as a whole, and both priced on
/// the second run. (The retried Map's start follows the failed iteration's last event.)
#[test]
fn a_retried_map_folds_its_runs_into_attempts_and_groups_each_iteration() {
    let history = events(&[
        (1, 0, "ExecutionStarted", "", None),
        (2, 0, "ChoiceStateEntered", "CheckOrder", None),
        (3, 2, "ChoiceStateExited", "CheckOrder", None),
        (4, 3, "MapStateEntered", "PriceItems", None),
        (5, 4, "MapStateStarted", "", None),
        (6, 5, "MapIterationStarted", "PriceItems", Some(0)),
        (7, 5, "MapIterationStarted", "PriceItems", Some(1)),
        (8, 7, "ChoiceStateEntered", "Validate", None),
        (9, 6, "ChoiceStateEntered", "Validate", None),
        (10, 8, "ChoiceStateExited", "Validate", None),
        (11, 10, "ChoiceStateEntered", "CheckPricing", None),
        (12, 11, "ChoiceStateExited", "CheckPricing", None),
        (13, 12, "FailStateEntered", "PricingUnavailable", None),
        (14, 13, "MapIterationFailed", "PriceItems", Some(1)),
        (15, 9, "ChoiceStateExited", "Validate", None),
        (16, 15, "ChoiceStateEntered", "CheckPricing", None),
        (17, 16, "ChoiceStateExited", "CheckPricing", None),
        (18, 17, "PassStateEntered", "Price", None),
        (19, 18, "MapIterationSucceeded", "PriceItems", Some(0)),
        (20, 13, "MapStateStarted", "", None),
        (21, 20, "MapIterationStarted", "PriceItems", Some(0)),
        (22, 21, "ChoiceStateEntered", "Validate", None),
        (23, 22, "ChoiceStateExited", "Validate", None),
        (24, 23, "PassStateEntered", "Price", None),
        (25, 24, "PassStateExited", "Price", None),
        (26, 20, "MapIterationStarted", "PriceItems", Some(1)),
        (27, 25, "MapIterationSucceeded", "PriceItems", Some(0)),
        (28, 26, "ChoiceStateEntered", "Validate", None),
        (29, 28, "ChoiceStateExited", "Validate", None),
        (30, 29, "PassStateEntered", "Price", None),
        (31, 30, "PassStateExited", "Price", None),
        (32, 31, "MapIterationSucceeded", "PriceItems", Some(1)),
        (33, 32, "MapStateSucceeded", "", None),
        (34, 32, "MapStateExited", "PriceItems", None),
        (35, 34, "PassStateEntered", "Accepted", None),
        (36, 35, "PassStateExited", "Accepted", None),
        (37, 36, "ExecutionSucceeded", "", None),
    ]);
    let steps = fold(&history);
    assert_eq!(
        summary(&steps),
        [
            "CheckOrder Succeeded x1",
            "PriceItems Succeeded x2",
            // The first run: iteration 0 priced (the emulator writes no exit for its last
            // state: the iteration's success ends it), iteration 1 failed.
            "PriceItems[0]/ Validate Succeeded x1",
            "PriceItems[0]/ CheckPricing Succeeded x1",
            "PriceItems[0]/ Price Succeeded x1",
            "PriceItems[1]/ Validate Succeeded x1",
            "PriceItems[1]/ CheckPricing Succeeded x1",
            "PriceItems[1]/ PricingUnavailable Failed x1",
            // The second run, after the retry.
            "PriceItems[0]/ Validate Succeeded x1",
            "PriceItems[0]/ Price Succeeded x1",
            "PriceItems[1]/ Validate Succeeded x1",
            "PriceItems[1]/ Price Succeeded x1",
            "Accepted Succeeded x1",
        ]
    );
    let map = &steps[1];
    assert_eq!(map.kind, "Map");
    assert_eq!(map.entered_at, "2027-01-15T08:00:04.000Z");
    assert_eq!(map.exited_at.as_deref(), Some("2027-01-15T08:00:34.000Z"));
    assert_eq!(map.duration_ms, Some(30_000));
}

#[test]
fn task_retries_are_attempts_of_one_step_with_the_last_failure() {
    let mut history = events(&[
        (1, 0, "ExecutionStarted", "", None),
        (2, 1, "TaskStateEntered", "Charge", None),
        (3, 2, "TaskScheduled", "", None),
        (4, 3, "TaskStarted", "", None),
        (5, 4, "TaskFailed", "", None),
        (6, 5, "TaskScheduled", "", None),
        (7, 6, "TaskStarted", "", None),
        (8, 7, "TaskFailed", "", None),
        (9, 8, "TaskScheduled", "", None),
        (10, 9, "TaskStarted", "", None),
        (11, 10, "TaskSucceeded", "", None),
        (12, 11, "TaskStateExited", "Charge", None),
        (13, 12, "TaskStateEntered", "Ship", None),
        (14, 13, "TaskScheduled", "", None),
        (15, 14, "TaskFailed", "", None),
        (16, 15, "ExecutionFailed", "", None),
    ]);
    history[4].error = Some("Bank.Busy".into());
    history[7].error = Some("Bank.Timeout".into());
    history[7].cause = Some("no answer in 10 s".into());
    history[14].error = Some("Carrier.Down".into());
    history[15].error = Some("Carrier.Down".into());
    let steps = fold(&history);
    assert_eq!(summary(&steps), ["Charge Succeeded x3", "Ship Failed x1"]);
    assert_eq!(steps[0].error.as_deref(), Some("Bank.Timeout"));
    assert_eq!(steps[0].cause.as_deref(), Some("no answer in 10 s"));
    assert_eq!(steps[1].error.as_deref(), Some("Carrier.Down"));
    assert_eq!(steps[1].exited_at, None);
}

#[test]
fn parallel_branches_are_grouped_even_when_their_events_interleave() {
    let history = events(&[
        (1, 0, "ExecutionStarted", "", None),
        (2, 1, "ParallelStateEntered", "Both", None),
        (3, 2, "ParallelStateStarted", "", None),
        (4, 3, "PassStateEntered", "Left", None),
        (5, 3, "WaitStateEntered", "Right", None),
        (6, 4, "PassStateExited", "Left", None),
        (7, 6, "PassStateEntered", "LeftAgain", None),
        (8, 5, "WaitStateExited", "Right", None),
        (9, 7, "PassStateExited", "LeftAgain", None),
        (10, 9, "ParallelStateSucceeded", "", None),
        (11, 10, "ParallelStateExited", "Both", None),
        (12, 11, "SucceedStateEntered", "Done", None),
        (13, 12, "SucceedStateExited", "Done", None),
        (14, 13, "ExecutionSucceeded", "", None),
    ]);
    assert_eq!(
        summary(&fold(&history)),
        [
            "Both Succeeded x1",
            "Both<0>/ Left Succeeded x1",
            "Both<0>/ LeftAgain Succeeded x1",
            "Both<1>/ Right Succeeded x1",
            "Done Succeeded x1",
        ]
    );
}

#[test]
fn an_aborted_execution_leaves_no_step_running() {
    let history = events(&[
        (1, 0, "ExecutionStarted", "", None),
        (2, 1, "WaitStateEntered", "Hold", None),
        (3, 2, "ExecutionAborted", "", None),
    ]);
    assert_eq!(summary(&fold(&history)), ["Hold Aborted x1"]);
}
