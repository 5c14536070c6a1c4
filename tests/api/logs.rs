//! Logs never carry an execution's input or output, whatever level is asked for.

use serde_json::json;

use crate::helpers::{header, start_the_greeting_machine, unique, TestApp};

#[tokio::test]
async fn trace_logs_never_carry_execution_input_or_output() {
    let app = TestApp::spawn_with(false, |env| {
        start_the_greeting_machine(env);
        env.insert("RUST_LOG".into(), "trace".into());
        // The SDK's own switch to print bodies it marks sensitive: the cap must hold anyway.
        env.insert("LOG_SENSITIVE_BODIES".into(), "true".into());
    })
    .await;
    let read_marker = unique("ReadMarker");
    let started_marker = unique("StartMarker");

    // A result fetched twice: from Step Functions (and written to the table), then from memory.
    let arn = app
        .finished(&json!({"name": read_marker, "echo": [read_marker], "delaySeconds": 0}))
        .await;
    for _ in 0..2 {
        let response = app.get_execution(&arn).await;
        assert_eq!(response.status(), 200);
        let body = response.text().await.expect("body");
        assert!(body.contains(&read_marker), "the output holds the marker");
    }
    app.stored_document(&arn).await;

    // A start-and-wait with the marker in the request body and, through the machine, the output.
    let response = app
        .post(
            &format!("/executions/wait?wait=10&name={}", unique("logged")),
            json!({"name": started_marker, "echo": {"m": started_marker}, "delaySeconds": 0})
                .to_string(),
        )
        .await;
    assert_eq!(response.status(), 200, "{}", header(&response, "location"));
    let body = response.text().await.expect("body");
    assert!(
        body.contains(&started_marker),
        "the output holds the marker"
    );

    let logs = app.service.log_text();
    assert!(
        logs.contains(r#""level":"TRACE""#) || logs.contains(r#""level":"DEBUG""#),
        "the service logged below info, so the markers had their chance: {logs}"
    );
    for marker in [&read_marker, &started_marker] {
        let leaked: Vec<&str> = logs
            .lines()
            .filter(|l| l.contains(marker.as_str()))
            .collect();
        assert!(leaked.is_empty(), "{marker} logged: {leaked:#?}");
    }
}
