//! Property tests: ARN parsing and path decoding never panic, no input reaches a 5xx, and reads
//! of allowed machines' executions earn exactly the status their upstream state calls for.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use axum::body::Body;
use axum::http::{Request, StatusCode};
use proptest::prelude::*;
use sfn_results::adapters::{InMemoryExecutions, InMemoryStore};
use sfn_results::config::Config;
use sfn_results::domain::{Execution, ExecutionArn, ExecutionStatus, StateMachineArn};
use sfn_results::{router, AppState, Ports};
use tower::ServiceExt;

fn partition() -> impl Strategy<Value = String> {
    prop::sample::select(vec!["aws", "aws-cn", "aws-us-gov", "aws-iso-b"]).prop_map(str::to_owned)
}

fn region() -> impl Strategy<Value = String> {
    "[a-z]{2}(-[a-z]{2,9}){1,2}-[0-9]{1,2}"
}

fn name() -> impl Strategy<Value = String> {
    "[A-Za-z0-9_\\-.!@()+=']{1,80}"
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn parsing_any_text_never_panics(s in "\\PC{0,300}") {
        let _ = ExecutionArn::parse(&s);
        let _ = StateMachineArn::parse(&s);
    }

    #[test]
    fn parsing_arn_shaped_text_never_panics(
        fields in prop::collection::vec("[a-zA-Z0-9:/*%\\-\\u{0}\\u{7f}\\u{e9}\\u{1F600} ]{0,20}", 0..10)
    ) {
        let _ = ExecutionArn::parse(&format!("arn:{}", fields.join(":")));
    }

    #[test]
    fn every_well_formed_execution_arn_parses_back_to_itself(
        partition in partition(), region in region(), account in "[0-9]{12}",
        machine in name(), execution in name(),
    ) {
        let text = format!("arn:{partition}:states:{region}:{account}:execution:{machine}:{execution}");
        let arn = ExecutionArn::parse(&text).expect("valid");
        prop_assert_eq!(arn.as_str(), text.as_str());
        prop_assert_eq!(arn.name(), execution.as_str());
        let expected = format!("arn:{partition}:states:{region}:{account}:stateMachine:{machine}");
        prop_assert_eq!(arn.state_machine().as_str(), expected.as_str());
    }
}

fn app() -> sfn_results::App {
    let config = Config::from_lookup(|name| match name {
        "RESULTS_TABLE" => Some("results".into()),
        "ALLOWED_STATE_MACHINES" => Some("*".into()),
        "START_STATE_MACHINE" => {
            Some("arn:aws:states:us-east-1:123456789012:stateMachine:Orders".into())
        }
        "MAX_WAIT_SECONDS" => Some("0".into()),
        _ => None,
    })
    .expect("config");
    let executions = InMemoryExecutions::default();
    let ports = Ports {
        source: Arc::new(executions.clone()),
        starter: Arc::new(executions.clone()),
        control: Arc::new(executions.clone()),
        history: Arc::new(executions.clone()),
        callbacks: Arc::new(sfn_results::adapters::InMemoryTasks::default()),
        lister: Arc::new(executions),
        store: Arc::new(InMemoryStore::default()),
        links: Arc::new(sfn_results::adapters::InMemoryStore::default()),
    };
    router(AppState::new(&config, ports))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 3000, ..ProptestConfig::default() })]

    /// Any bytes, percent-encoded into the path segment, answer a 4xx problem or a result —
    /// never a 5xx, never a panic.
    #[test]
    fn any_encoded_path_segment_gets_a_client_answer(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
        let segment: String = bytes.iter().map(|b| format!("%{b:02X}")).collect();
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
        let status = runtime.block_on(async {
            let request = Request::get(format!("/executions/{segment}?wait=0")).body(Body::empty()).expect("request");
            let response = app().oneshot(request).await.expect("infallible");
            (response.status(), response.headers().get("content-type").cloned())
        });
        prop_assert!(!status.0.is_server_error(), "{:?}", status);
        if status.0 != StatusCode::OK && status.0 != StatusCode::ACCEPTED {
            prop_assert_eq!(status.1.as_ref().and_then(|v| v.to_str().ok()), Some("application/problem+json"));
        }
    }

    /// Arbitrary start bodies and names are answered without a 5xx.
    #[test]
    fn any_start_request_gets_a_client_answer(body in "\\PC{0,200}", name in "\\PC{0,90}") {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
        let encoded: String = name.bytes().map(|b| format!("%{b:02X}")).collect();
        let status = runtime.block_on(async {
            let request = Request::post(format!("/executions/wait?name={encoded}")).body(Body::from(body)).expect("request");
            app().oneshot(request).await.expect("infallible").status()
        });
        prop_assert!(!status.is_server_error(), "{:?}", status);
    }
}

/// The machines the service below may read; the other two are refused.
const MACHINES: [&str; 4] = [
    "arn:aws:states:us-east-1:123456789012:stateMachine:Orders",
    "arn:aws:states:us-east-1:123456789012:stateMachine:Billing",
    "arn:aws:states:us-east-1:210987654321:stateMachine:Orders",
    "arn:aws:states:us-east-1:123456789012:stateMachine:Secret",
];

/// One read of an execution under one of `MACHINES`, and what the fakes hold for it.
#[derive(Debug, Clone)]
struct Case {
    machine: usize,
    name: String,
    /// `None`: Step Functions does not know the execution.
    upstream: Option<ExecutionStatus>,
    throttled: bool,
    store_failing: bool,
    /// 0: raw colons, 1: `%3A`, 2: every byte percent-encoded.
    encoding: u8,
}

fn status() -> impl Strategy<Value = ExecutionStatus> {
    prop::sample::select(vec![
        ExecutionStatus::Running,
        ExecutionStatus::PendingRedrive,
        ExecutionStatus::Succeeded,
        ExecutionStatus::Failed,
        ExecutionStatus::TimedOut,
        ExecutionStatus::Aborted,
    ])
}

fn case() -> impl Strategy<Value = Case> {
    (
        // Allowed machines three times in four.
        prop_oneof![3 => Just(0usize), 3 => Just(1usize), 1 => Just(2usize), 1 => Just(3usize)],
        name(),
        prop::option::weighted(0.7, status()),
        prop::bool::weighted(0.2),
        prop::bool::weighted(0.3),
        0u8..3,
    )
        .prop_map(
            |(machine, name, upstream, throttled, store_failing, encoding)| Case {
                machine,
                name,
                upstream,
                throttled,
                store_failing,
                encoding,
            },
        )
}

impl Case {
    fn arn(&self) -> String {
        format!(
            "{}:{}",
            MACHINES[self.machine].replace(":stateMachine:", ":execution:"),
            self.name
        )
    }

    fn path(&self) -> String {
        let arn = self.arn();
        let segment = match self.encoding {
            0 => arn,
            1 => arn.replace(':', "%3A"),
            _ => arn.bytes().map(|b| format!("%{b:02X}")).collect(),
        };
        format!("/executions/{segment}")
    }

    /// What a client must see: decided by the allow-list first, then by Step Functions.
    fn earned(&self) -> StatusCode {
        if self.machine >= 2 {
            return StatusCode::FORBIDDEN;
        }
        if self.throttled {
            return StatusCode::SERVICE_UNAVAILABLE;
        }
        match self.upstream {
            None => StatusCode::NOT_FOUND,
            Some(status) if status.is_stopped() => StatusCode::OK,
            Some(_) => StatusCode::ACCEPTED,
        }
    }

    /// The service with fakes holding this case's upstream state.
    fn app(&self) -> sfn_results::App {
        let config = Config::from_lookup(|name| match name {
            "RESULTS_TABLE" => Some("results".into()),
            "ALLOWED_STATE_MACHINES" => Some(format!("{},{}", MACHINES[0], MACHINES[1])),
            _ => None,
        })
        .expect("config");
        let executions = InMemoryExecutions::default();
        if let Some(status) = self.upstream {
            let start = SystemTime::now() - Duration::from_secs(5);
            let arn = ExecutionArn::parse(&self.arn()).expect("a well-formed ARN");
            let execution = Execution::builder(arn)
                .status(status)
                .started(start)
                .ran(Duration::from_secs(1));
            executions.insert(
                match status {
                    ExecutionStatus::Succeeded => execution.output(r#"{"ok":true}"#),
                    ExecutionStatus::Failed => execution.error("States.TaskFailed"),
                    _ => execution,
                }
                .build(),
            );
        }
        executions.set_throttled(self.throttled);
        let store = InMemoryStore::default();
        store.set_failing(self.store_failing);
        let ports = Ports {
            source: Arc::new(executions.clone()),
            starter: Arc::new(executions.clone()),
            control: Arc::new(executions.clone()),
            history: Arc::new(executions.clone()),
            callbacks: Arc::new(sfn_results::adapters::InMemoryTasks::default()),
            lister: Arc::new(executions),
            store: Arc::new(store),
            links: Arc::new(sfn_results::adapters::InMemoryStore::default()),
        };
        router(AppState::new(&config, ports))
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 3000, ..ProptestConfig::default() })]

    /// Executions of allowed machines (present, absent, throttled, with the store failing) and of
    /// foreign ones, in any encoding: each answer is the one its case earns, never a 500 or 502.
    #[test]
    fn reads_earn_exactly_the_status_of_their_upstream_state(case in case()) {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
        let (status, content_type, body) = runtime.block_on(async {
            let request = Request::get(case.path()).body(Body::empty()).expect("request");
            let response = case.app().oneshot(request).await.expect("infallible");
            let status = response.status();
            let content_type = response.headers().get("content-type").cloned();
            let body = axum::body::to_bytes(response.into_body(), usize::MAX).await.expect("body");
            (status, content_type, body)
        });
        prop_assert_eq!(status, case.earned(), "{}", String::from_utf8_lossy(&body));
        let content_type = content_type.as_ref().and_then(|v| v.to_str().ok());
        if status.is_success() {
            let document: serde_json::Value = serde_json::from_slice(&body).expect("a result document");
            let arn = case.arn();
            prop_assert_eq!(document["executionArn"].as_str(), Some(arn.as_str()));
        } else {
            prop_assert_eq!(content_type, Some("application/problem+json"));
        }
    }
}
