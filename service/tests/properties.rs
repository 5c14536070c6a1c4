//! Property tests: ARN parsing and path decoding never panic, and no input reaches a 5xx.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use proptest::prelude::*;
use sfn_results::adapters::{InMemoryExecutions, InMemoryStore};
use sfn_results::config::Config;
use sfn_results::domain::{ExecutionArn, StateMachineArn};
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

fn app() -> axum::Router {
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
        lister: Arc::new(executions),
        store: Arc::new(InMemoryStore::default()),
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
