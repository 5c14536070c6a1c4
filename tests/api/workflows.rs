//! `/workflows` on the real binary: the allowed machines by name, their start-and-wait and list
//! routes against the emulator, and unknown names refused with no upstream call.

use serde_json::{json, Value};

use crate::helpers::{header, problem, quick_input, TestApp};

fn name_of(arn: &str) -> &str {
    arn.rsplit(':').next().expect("a machine name")
}

#[tokio::test]
async fn a_named_standard_workflow_starts_waits_and_lists_its_runs() {
    let app = TestApp::spawn().await;
    let greeting = name_of(&app.machines.greeting).to_owned();
    let listed = app.get_json("/workflows").await;
    let names: Vec<&str> = listed["workflows"]
        .as_array()
        .expect("workflows")
        .iter()
        .filter_map(|w| w["name"].as_str())
        .collect();
    let mut expected = vec![greeting.as_str(), name_of(&app.machines.rejected)];
    expected.sort_unstable();
    assert_eq!(names, expected);

    let started = app
        .post(
            &format!("/workflows/{greeting}/executions/wait?wait=20&name=by-name"),
            quick_input("Named").to_string(),
        )
        .await;
    assert_eq!(started.status(), 200);
    let location = header(&started, "location");
    let document: Value = started.json().await.expect("json");
    assert_eq!(document["status"], "SUCCEEDED");
    assert_eq!(
        document["executionArn"],
        app.machines
            .greeting
            .replace(":stateMachine:", ":execution:")
            + ":by-name"
    );
    // A 200 carries the result itself; only an answer still running names its status URL.
    assert!(location.is_empty(), "{location}");

    let page = app
        .get_json(&format!("/workflows/{greeting}/executions"))
        .await;
    assert_eq!(
        page["executions"][0]["executionArn"],
        document["executionArn"]
    );
    assert_eq!(page["executions"][0]["status"], "SUCCEEDED");
}

#[tokio::test]
async fn workflows_answer_from_configuration_and_unknown_names_cost_no_upstream_call() {
    // Both upstreams on a closed port: any call would turn the answer into a 5xx.
    let app = TestApp::spawn_without_upstreams().await;
    let greeting = name_of(&app.machines.greeting).to_owned();
    let one = app.get_json(&format!("/workflows/{greeting}")).await;
    assert_eq!(
        one,
        json!({"name": greeting, "type": "STANDARD", "stateMachineArn": app.machines.greeting,
               "links": {"self": format!("/workflows/{greeting}"),
                         "start": format!("/workflows/{greeting}/executions"),
                         "wait": format!("/workflows/{greeting}/executions/wait"),
                         "executions": format!("/workflows/{greeting}/executions")}})
    );
    for (method, path) in [
        (reqwest::Method::GET, "/workflows/not-configured"),
        (reqwest::Method::GET, "/workflows/not-configured/executions"),
        (
            reqwest::Method::POST,
            "/workflows/not-configured/executions/wait",
        ),
    ] {
        let response = app
            .http
            .request(method.clone(), app.url(path))
            .body("{}")
            .send()
            .await
            .expect("request");
        let body = problem(response, 404).await;
        assert_eq!(
            body["type"], "urn:api-sfn:problem:workflow-not-found",
            "{method} {path}"
        );
    }
}
