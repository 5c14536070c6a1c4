//! The events door over in-memory fakes: the fixtures of `infra/events/` (AWS's shapes) through
//! `EventsApp::handle`, then read back as a `GET` would.

use std::time::{Duration, SystemTime};

use serde_json::Value;
use sfn_results::adapters::{InMemoryExecutions, InMemoryStore};
use sfn_results::config::Config;
use sfn_results::domain::{Execution, ExecutionArn, ExecutionStatus, RedriveStatus};
use sfn_results::events::{EventsApp, Summary};
use sfn_results::{AppState, Ports};

const GREETING: &str = "arn:aws:states:us-east-1:123456789012:stateMachine:api-sfn-greeting";
const REJECTED: &str = "arn:aws:states:us-east-1:123456789012:stateMachine:api-sfn-rejected";
const EXPRESS: &str = "arn:aws:states:us-east-1:123456789012:stateMachine:api-sfn-express";

struct Fixture {
    executions: InMemoryExecutions,
    store: InMemoryStore,
    events: EventsApp,
}

fn fixture() -> Fixture {
    let config = Config::from_lookup(|name| match name {
        "RESULTS_TABLE" => Some("results".into()),
        "ALLOWED_STATE_MACHINES" => Some(format!("{GREETING},{REJECTED},{EXPRESS}")),
        _ => None,
    })
    .expect("config");
    let executions = InMemoryExecutions::default();
    let store = InMemoryStore::default();
    let ports = Ports::in_memory(&executions, &store);
    let state = AppState::new(&config, ports);
    let events = EventsApp {
        results: state.results.clone(),
        allowed: config.allowed_state_machines.clone(),
        reconcile_machines: config.reconcile_machines.clone(),
        reconcile: Default::default(),
    };
    Fixture {
        executions,
        store,
        events,
    }
}

fn fixture_text(path: &str) -> String {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../infra/events");
    std::fs::read_to_string(root.join(path)).expect("fixture")
}

async fn deliver(f: &Fixture, path: &str) -> Summary {
    f.events.handle(&fixture_text(path)).await.expect("handled")
}

fn stored(f: &Fixture, arn: &str) -> Option<Value> {
    f.store
        .item(arn)
        .map(|item| serde_json::from_slice(&item.document).expect("json"))
}

fn ms(ms: u64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_millis(ms)
}

const EVENT_OK: &str = "arn:aws:states:us-east-1:123456789012:execution:api-sfn-greeting:event-ok";

#[tokio::test]
async fn a_stop_with_its_output_is_stored_byte_for_byte_as_describe_would_build_it_without_a_call()
{
    let f = fixture();
    let summary = deliver(&f, "sfn/status-succeeded.json").await;
    assert_eq!(summary.stored, 1);
    assert_eq!(f.executions.calls(), 0, "no DescribeExecution");
    let described = Execution::builder(ExecutionArn::parse(EVENT_OK).expect("arn"))
        .status(ExecutionStatus::Succeeded)
        .started(ms(1_795_886_929_013))
        .stopped(ms(1_795_886_931_043))
        .output(r#"{"greeting":"Hello, Event!","echo":[1,2]}"#)
        .redrive_status(RedriveStatus::NotRedrivable)
        .build();
    assert_eq!(described.state_machine_arn, GREETING);
    let item = f.store.item(EVENT_OK).expect("stored");
    assert_eq!(item.document, described.document());
    assert!(item.is_final);

    let again = deliver(&f, "sfn/status-succeeded.json").await;
    assert_eq!(
        (again.stored, again.unchanged),
        (0, 1),
        "a duplicate changes nothing"
    );
}

#[tokio::test]
async fn a_redriven_result_replaces_the_failure_and_an_older_event_changes_nothing() {
    let f = fixture();
    let arn = "arn:aws:states:us-east-1:123456789012:execution:api-sfn-rejected:event-failed";
    assert_eq!(deliver(&f, "sfn/status-failed.json").await.stored, 1);
    let failed = stored(&f, arn).expect("stored");
    assert_eq!(failed["status"], "FAILED");
    assert_eq!(failed["error"], "Order.Rejected");
    assert_eq!(
        failed["cause"],
        "The \"order\" can't be processed:\nno stock"
    );
    assert!(
        !f.store.item(arn).expect("item").is_final,
        "redrivable: provisional"
    );

    assert_eq!(
        deliver(&f, "sfn/status-redriven-succeeded.json")
            .await
            .stored,
        1
    );
    assert_eq!(stored(&f, arn).expect("stored")["status"], "SUCCEEDED");
    let late = deliver(&f, "sfn/status-failed.json").await;
    assert_eq!((late.stored, late.unchanged), (0, 1));
    assert_eq!(stored(&f, arn).expect("stored")["output"]["redriven"], true);
}

#[tokio::test]
async fn an_output_left_out_of_the_event_costs_exactly_one_describe() {
    let f = fixture();
    let arn = "arn:aws:states:us-east-1:123456789012:execution:api-sfn-greeting:event-big";
    f.executions.insert(
        Execution::builder(ExecutionArn::parse(arn).expect("arn"))
            .status(ExecutionStatus::Succeeded)
            .started(ms(1_795_886_929_013))
            .stopped(ms(1_795_886_931_043))
            .output(r#"{"big":true}"#)
            .redrive_status(RedriveStatus::NotRedrivable)
            .build(),
    );
    assert_eq!(
        deliver(&f, "sfn/status-output-omitted.json").await.stored,
        1
    );
    assert_eq!(f.executions.calls(), 1);
    assert_eq!(stored(&f, arn).expect("stored")["output"]["big"], true);
}

#[tokio::test]
async fn foreign_machines_running_statuses_and_malformed_events_are_acknowledged_not_stored() {
    let f = fixture();
    assert_eq!(
        deliver(&f, "sfn/status-foreign-machine.json").await.ignored,
        1
    );
    assert_eq!(deliver(&f, "sfn/status-running.json").await.ignored, 1);
    assert_eq!(deliver(&f, "sfn/status-malformed.json").await.poison, 1);
    let garbage = f.events.handle("{not json").await.expect("acknowledged");
    assert_eq!(garbage.poison, 1);
    let other = f
        .events
        .handle(r#"{"source":"aws.ec2","detail-type":"EC2 Instance State-change Notification","detail":{}}"#)
        .await
        .expect("acknowledged");
    assert_eq!(other.poison, 1);
    assert_eq!(f.executions.calls(), 0);
}

#[tokio::test]
async fn a_store_failure_fails_the_invocation_so_lambda_retries_it() {
    let f = fixture();
    f.store.set_failing(true);
    assert!(f
        .events
        .handle(&fixture_text("sfn/status-succeeded.json"))
        .await
        .is_err());
}

const EXPRESS_OK: &str = "arn:aws:states:us-east-1:123456789012:express:api-sfn-express:express-ok:4f7a1c2e-0000-4000-8000-000000000001";

#[tokio::test]
async fn express_logs_record_starts_and_stops_under_the_express_arn() {
    let f = fixture();
    let summary = deliver(&f, "logs/batch.json").await;
    assert_eq!(summary.stored, 4, "two starts, two stops: {summary:?}");
    assert_eq!(summary.ignored, 2, "the state transitions");
    let ok = stored(&f, EXPRESS_OK).expect("stored");
    assert_eq!(ok["status"], "SUCCEEDED");
    assert_eq!(ok["output"]["greeting"], "Hello, Ada!");
    assert_eq!(ok["startDate"], "2026-11-28T17:28:49.013Z");
    assert_eq!(ok["stopDate"], "2026-11-28T17:28:49.043Z");
    assert_eq!(ok["name"], "express-ok");
    assert_eq!(ok["stateMachineArn"], EXPRESS);
    let bad = stored(
        &f,
        "arn:aws:states:us-east-1:123456789012:express:api-sfn-express:express-bad:4f7a1c2e-0000-4000-8000-000000000002",
    )
    .expect("stored");
    assert_eq!(bad["status"], "FAILED");
    assert_eq!(bad["error"], "Order.Rejected");
}

#[tokio::test]
async fn a_truncated_express_output_is_stored_as_null_and_flagged_never_as_cut_json() {
    let f = fixture();
    deliver(&f, "logs/truncated.json").await;
    let big = stored(
        &f,
        "arn:aws:states:us-east-1:123456789012:express:api-sfn-express:express-big:4f7a1c2e-0000-4000-8000-000000000004",
    )
    .expect("stored");
    assert_eq!(big["status"], "SUCCEEDED");
    assert!(big["output"].is_null());
    assert_eq!(big["outputTruncated"], true);
}

#[tokio::test]
async fn a_control_message_is_acknowledged_and_changes_nothing() {
    let f = fixture();
    let summary = deliver(&f, "logs/control.json").await;
    assert_eq!((summary.stored, summary.poison), (0, 0));
}

const LATE_START: &str = "arn:aws:states:us-east-1:123456789012:express:api-sfn-express:late-start:4f7a1c2e-0000-4000-8000-00000000000a";

/// A log subscription payload (gzip, base64) of the given Step Functions log records.
fn logs_payload(records: &[Value]) -> String {
    use base64::Engine;
    use std::io::Write;
    let data = serde_json::json!({
        "messageType": "DATA_MESSAGE",
        "owner": "123456789012",
        "logGroup": "/aws/vendedlogs/states/api-sfn-express",
        "logStream": "states/api-sfn-express/1",
        "subscriptionFilters": ["api-sfn-express-results"],
        "logEvents": records.iter().enumerate().map(|(i, r)| serde_json::json!({
            "id": format!("{i}"),
            "timestamp": r.get("event_timestamp").and_then(Value::as_str).and_then(|t| t.parse::<i64>().ok()).unwrap_or(0),
            "message": r.to_string(),
        })).collect::<Vec<_>>(),
    });
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(data.to_string().as_bytes()).expect("gzip");
    let bytes = gz.finish().expect("gzip");
    serde_json::json!({"awslogs": {"data": base64::engine::general_purpose::STANDARD.encode(bytes)}})
        .to_string()
}

fn record(kind: &str, arn: &str, at_ms: &str) -> Value {
    serde_json::json!({
        "id": "1", "type": kind, "previous_event_id": "0", "event_timestamp": at_ms,
        "execution_arn": arn, "redrive_count": "0",
        "details": {"output": "{\"ok\":true}", "outputDetails": {"truncated": false}},
    })
}

#[tokio::test]
async fn an_express_stop_logged_before_its_start_gets_the_start_date_when_the_start_arrives() {
    let f = fixture();
    let stop = f
        .events
        .handle(&logs_payload(&[record(
            "ExecutionSucceeded",
            LATE_START,
            "1795886931043",
        )]))
        .await
        .expect("handled");
    assert_eq!(stop.stored, 1);
    assert_eq!(
        stored(&f, LATE_START).expect("stored")["startDate"],
        Value::Null
    );

    let start = f
        .events
        .handle(&logs_payload(&[record(
            "ExecutionStarted",
            LATE_START,
            "1795886929013",
        )]))
        .await
        .expect("handled");
    assert_eq!((start.stored, start.unchanged), (1, 0), "{start:?}");
    let document = stored(&f, LATE_START).expect("stored");
    assert_eq!(document["startDate"], "2026-11-28T17:28:49.013Z");
    assert_eq!(document["status"], "SUCCEEDED");
    assert_eq!(document["output"], serde_json::json!({"ok": true}));

    // The same document, byte for byte, as when both records came in one batch.
    let g = fixture();
    g.events
        .handle(&logs_payload(&[
            record("ExecutionStarted", LATE_START, "1795886929013"),
            record("ExecutionSucceeded", LATE_START, "1795886931043"),
        ]))
        .await
        .expect("handled");
    assert_eq!(
        f.store.item(LATE_START).expect("item").document,
        g.store.item(LATE_START).expect("item").document
    );

    let again = f
        .events
        .handle(&logs_payload(&[record(
            "ExecutionStarted",
            LATE_START,
            "1795886929013",
        )]))
        .await
        .expect("handled");
    assert_eq!(
        (again.stored, again.unchanged),
        (0, 1),
        "a duplicate start changes nothing"
    );
}

#[tokio::test]
async fn dates_past_the_year_9999_are_poison_acknowledged_not_a_panic() {
    let f = fixture();
    for (field, value) in [
        ("startDate", serde_json::json!(253_402_300_800_000_u64)),
        ("stopDate", serde_json::json!(u64::MAX)),
    ] {
        let mut event: Value =
            serde_json::from_str(&fixture_text("sfn/status-succeeded.json")).expect("json");
        event["detail"][field] = value;
        let summary = f
            .events
            .handle(&event.to_string())
            .await
            .expect("acknowledged");
        assert_eq!(
            (summary.stored, summary.poison),
            (0, 1),
            "{field}: {summary:?}"
        );
    }
    let summary = f
        .events
        .handle(&logs_payload(&[record(
            "ExecutionSucceeded",
            LATE_START,
            "18446744073709551615",
        )]))
        .await
        .expect("acknowledged");
    assert_eq!((summary.stored, summary.poison), (0, 1), "{summary:?}");
}

mod any_event {
    use super::*;
    use proptest::prelude::*;

    /// JSON values as outside senders may put them where a date, a count or a text belongs.
    fn value() -> impl Strategy<Value = Value> {
        prop_oneof![
            any::<u64>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            any::<f64>()
                .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
            prop::sample::select(vec![
                253_402_300_799_999_u64,
                253_402_300_800_000,
                u64::MAX,
                0,
                1_795_886_929_013,
            ])
            .prop_map(Value::from),
            ".{0,12}".prop_map(Value::from),
            "[0-9]{1,22}".prop_map(Value::from),
            Just(Value::Null),
            Just(serde_json::json!({"included": true})),
            Just(serde_json::json!([1, 2])),
            prop::sample::select(vec![
                "SUCCEEDED",
                "FAILED",
                "RUNNING",
                "REDRIVABLE",
                "TIMED_OUT"
            ])
            .prop_map(Value::from),
        ]
    }

    fn status_field() -> impl Strategy<Value = &'static str> {
        prop::sample::select(vec![
            "startDate",
            "stopDate",
            "status",
            "output",
            "outputDetails",
            "redriveCount",
            "redriveStatus",
            "error",
            "cause",
            "executionArn",
            "stateMachineArn",
        ])
    }

    fn log_field() -> impl Strategy<Value = &'static str> {
        prop::sample::select(vec![
            "event_timestamp",
            "type",
            "execution_arn",
            "details",
            "redrive_count",
            "id",
        ])
    }

    fn fixture_name() -> impl Strategy<Value = &'static str> {
        prop::sample::select(vec![
            "sfn/status-succeeded.json",
            "sfn/status-failed.json",
            "sfn/status-output-omitted.json",
            "sfn/status-redriven-succeeded.json",
            "sfn/status-running.json",
        ])
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 600, ..ProptestConfig::default() })]

        /// Any change to a status change event is stored or acknowledged (never a panic, never
        /// an error that makes Lambda retry it) while the table works.
        #[test]
        fn any_status_change_is_stored_or_acknowledged(
            name in fixture_name(),
            changes in prop::collection::vec((status_field(), value()), 1..4),
        ) {
            let mut event: Value = serde_json::from_str(&fixture_text(name)).expect("json");
            for (field, value) in changes {
                event["detail"][field] = value;
            }
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
            let f = fixture();
            let handled = runtime.block_on(f.events.handle(&event.to_string()));
            prop_assert!(handled.is_ok(), "{event}: {handled:?}");
        }

        /// The same for Express log records.
        #[test]
        fn any_log_record_is_stored_or_acknowledged(
            kinds in prop::collection::vec(prop::sample::select(vec!["ExecutionStarted", "ExecutionSucceeded", "ExecutionFailed", "ExecutionAborted", "TaskStateEntered"]), 1..4),
            changes in prop::collection::vec((log_field(), value()), 0..4),
        ) {
            let mut records: Vec<Value> = kinds.iter().map(|k| record(k, LATE_START, "1795886929013")).collect();
            for (i, (field, value)) in changes.into_iter().enumerate() {
                let n = records.len();
                records[i % n][field] = value;
            }
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
            let f = fixture();
            let handled = runtime.block_on(f.events.handle(&logs_payload(&records)));
            prop_assert!(handled.is_ok(), "{records:?}: {handled:?}");
        }
    }
}
