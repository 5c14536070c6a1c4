//! The redrive route against Step Functions' documented answers to `RedriveExecution`, at the
//! SDK layer (`aws-smithy-mocks`): the local emulator has no `RedriveExecution`, and a redrive is
//! not faked there (see infra/local/README.md). The real adapter and the SDK's own parsing of
//! each answer's wire form are exercised; the table is in memory.

use std::sync::Arc;

use aws_sdk_sfn::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_sfn::operation::describe_execution::DescribeExecutionOutput;
use aws_sdk_sfn::operation::redrive_execution::RedriveExecutionOutput;
use aws_sdk_sfn::primitives::DateTime;
use aws_sdk_sfn::types::{ExecutionRedriveStatus, ExecutionStatus};
use aws_sdk_sfn::Client;
use aws_smithy_mocks::{create_mock_http_client, mock, MockResponseInterceptor, Rule, RuleMode};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::http::StatusCode as WireStatus;
use aws_smithy_types::body::SdkBody;
use aws_smithy_types::retry::RetryConfig;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::Value;
use sfn_results::adapters::{InMemoryStore, StepFunctions};
use sfn_results::config::Config;
use sfn_results::{router, AppState, Ports};

mod support;

const MACHINE: &str = "arn:aws:states:us-east-1:123456789012:stateMachine:Orders";
const ARN: &str = "arn:aws:states:us-east-1:123456789012:execution:Orders:o-1";

/// The failed execution as `DescribeExecution` gives it before the redrive.
fn described_failed() -> Rule {
    mock!(Client::describe_execution)
        .match_requests(|req| req.execution_arn() == Some(ARN))
        .then_output(|| {
            let now = DateTime::from_secs(time_now());
            DescribeExecutionOutput::builder()
                .execution_arn(ARN)
                .state_machine_arn(MACHINE)
                .name("o-1")
                .status(ExecutionStatus::Failed)
                .start_date(DateTime::from_secs(time_now() - 60))
                .stop_date(now)
                .error("States.TaskFailed")
                .cause("the payment service answered 500")
                .redrive_status(ExecutionRedriveStatus::Redrivable)
                .redrive_count(0)
                .build()
                .expect("output")
        })
}

fn time_now() -> i64 {
    i64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("clock")
            .as_secs(),
    )
    .expect("seconds")
}

/// A Step Functions error on the wire (awsJson 1.0): its status and `__type`.
fn wire_error(status: u16, kind: &'static str, message: &'static str) -> HttpResponse {
    let body = format!(r#"{{"__type":"com.amazonaws.states#{kind}","message":"{message}"}}"#);
    HttpResponse::new(
        WireStatus::try_from(status).expect("status"),
        SdkBody::from(body),
    )
}

/// The service's app over the real Step Functions adapter, whose client answers by `rules`.
fn app(rules: &[&Rule]) -> sfn_results::App {
    let mut interceptor = MockResponseInterceptor::new().rule_mode(RuleMode::MatchAny);
    for rule in rules {
        interceptor = interceptor.with_rule(rule);
    }
    let client = Client::from_conf(
        aws_sdk_sfn::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .credentials_provider(Credentials::new("test", "test", None, None, "test"))
            .retry_config(RetryConfig::disabled())
            .http_client(create_mock_http_client())
            .interceptor(interceptor)
            .build(),
    );
    let sfn = Arc::new(StepFunctions::with_client(client));
    let store = InMemoryStore::default();
    let ports = Ports {
        source: sfn.clone(),
        starter: sfn.clone(),
        control: sfn.clone(),
        history: sfn.clone(),
        callbacks: sfn.clone(),
        lister: sfn,
        store: Arc::new(store),
        links: Arc::new(sfn_results::adapters::InMemoryStore::default()),
    };
    let config = Config::from_lookup(|name| match name {
        "RESULTS_TABLE" => Some("results".into()),
        "ALLOWED_STATE_MACHINES" => Some(MACHINE.into()),
        _ => None,
    })
    .expect("config");
    router(AppState::new(&config, ports))
}

async fn redrive(app: &sfn_results::App, arn: &str) -> (StatusCode, Value, axum::http::HeaderMap) {
    let request = Request::post(format!("/executions/{arn}/redrive"))
        .body(Body::empty())
        .expect("request");
    let answer = support::call(app, request).await;
    (answer.status, answer.body, answer.headers)
}

#[tokio::test]
async fn a_redrive_step_functions_takes_is_202_with_the_running_run() {
    let describe = described_failed();
    let redriven = mock!(Client::redrive_execution)
        .match_requests(|req| req.execution_arn() == Some(ARN))
        .then_output(|| {
            RedriveExecutionOutput::builder()
                .redrive_date(DateTime::from_secs(time_now()))
                .build()
                .expect("output")
        });
    let app = app(&[&describe, &redriven]);
    let (status, body, headers) = redrive(&app, ARN).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    assert_eq!(body["status"], "RUNNING");
    assert_eq!(body["executionArn"], ARN);
    assert_eq!(body["error"], Value::Null);
    assert_eq!(headers["location"], format!("../{ARN}"));
    assert_eq!(redriven.num_calls(), 1);
}

#[tokio::test]
async fn step_functions_refusals_map_to_problems_with_its_reason() {
    // (status on the wire, error type, message) → (status answered, problem type)
    let cases: [(u16, &'static str, &'static str, u16, &str); 5] = [
        (
            400,
            "ExecutionNotRedrivable",
            "Execution is not redrivable because it has no failed states",
            409,
            "execution-not-redrivable",
        ),
        (
            400,
            "ExecutionDoesNotExist",
            "Execution does not exist",
            404,
            "execution-not-found",
        ),
        (
            400,
            "ExecutionLimitExceeded",
            "The maximum number of running executions has been reached",
            503,
            "upstream-unavailable",
        ),
        (
            400,
            "ThrottlingException",
            "Rate exceeded",
            503,
            "upstream-unavailable",
        ),
        (
            400,
            "ValidationException",
            "1 validation error detected",
            502,
            "upstream-error",
        ),
    ];
    for (wire, kind, message, status, problem) in cases {
        let describe = described_failed();
        let refused = mock!(Client::redrive_execution)
            .then_http_response(move || wire_error(wire, kind, message));
        let app = app(&[&describe, &refused]);
        let (answered, body, headers) = redrive(&app, ARN).await;
        assert_eq!(answered.as_u16(), status, "{kind}: {body}");
        assert_eq!(
            body["type"],
            format!("urn:api-sfn:problem:{problem}"),
            "{kind}"
        );
        assert_eq!(refused.num_calls(), 1, "{kind}");
        if status == 409 {
            let detail = body["detail"].as_str().expect("detail");
            assert!(detail.contains(message), "{detail}");
            assert_eq!(body["execution"]["status"], "FAILED");
            assert_eq!(body["execution"]["error"], "States.TaskFailed");
        }
        if status == 503 {
            assert!(headers.contains_key("retry-after"), "{kind}");
        }
    }
}

#[tokio::test]
async fn an_unknown_execution_is_never_redriven_and_others_are_refused_with_no_call() {
    let unknown = mock!(Client::describe_execution).then_http_response(|| {
        wire_error(400, "ExecutionDoesNotExist", "Execution does not exist")
    });
    let redriven = mock!(Client::redrive_execution).then_output(|| {
        RedriveExecutionOutput::builder()
            .redrive_date(DateTime::from_secs(time_now()))
            .build()
            .expect("output")
    });
    let app = app(&[&unknown, &redriven]);
    let (status, body, _) = redrive(&app, ARN).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    let express = "arn:aws:states:us-east-1:123456789012:express:Orders:o-1:2f1c0e4e-9d8a-4b8e-8f57-0d1f4b5e6a7b";
    let foreign = "arn:aws:states:us-east-1:123456789012:execution:Payroll:o-1";
    assert_eq!(redrive(&app, express).await.0, StatusCode::BAD_REQUEST);
    assert_eq!(redrive(&app, foreign).await.0, StatusCode::FORBIDDEN);
    assert_eq!(unknown.num_calls(), 1);
    assert_eq!(redriven.num_calls(), 0);
}
