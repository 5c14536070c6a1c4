//! Metrics and logs as CloudWatch reads them: the Embedded Metric Format lines the real binary
//! prints, checked against the EMF specification, and the Lambda request id on every log line.

use std::collections::HashMap;
use std::time::Duration;

use serde_json::{json, Value};

use crate::events_world::EventsWorld;
use crate::helpers::{quick_input, Service, TestApp};
use crate::lambda_runtime::event;

/// The units CloudWatch accepts (`MetricDatum.Unit`).
const UNITS: &[&str] = &[
    "Seconds",
    "Microseconds",
    "Milliseconds",
    "Bytes",
    "Kilobytes",
    "Megabytes",
    "Gigabytes",
    "Terabytes",
    "Bits",
    "Kilobits",
    "Megabits",
    "Gigabits",
    "Terabits",
    "Percent",
    "Count",
    "Bytes/Second",
    "Kilobytes/Second",
    "Megabytes/Second",
    "Gigabytes/Second",
    "Terabytes/Second",
    "Bits/Second",
    "Kilobits/Second",
    "Megabits/Second",
    "Gigabits/Second",
    "Terabits/Second",
    "Count/Second",
    "None",
];

/// The EMF documents in `service`'s output, each checked against the specification: the `_aws`
/// envelope with a millisecond timestamp, one or more directives each naming a namespace, at most
/// 30 dimensions per set all present as strings, at most 100 metrics with valid units, each with
/// a numeric value (or at most 100 values).
fn emf_documents(service: &Service) -> Vec<Value> {
    let mut documents = Vec::new();
    for line in service.log_text().lines() {
        let Ok(doc) = serde_json::from_str::<Value>(line) else {
            continue;
        };
        let Some(aws) = doc.get("_aws") else { continue };
        assert!(
            aws["Timestamp"]
                .as_u64()
                .is_some_and(|t| t > 1_600_000_000_000),
            "{line}"
        );
        let directives = aws["CloudWatchMetrics"]
            .as_array()
            .expect("CloudWatchMetrics");
        assert!(!directives.is_empty(), "{line}");
        for directive in directives {
            assert!(
                directive["Namespace"]
                    .as_str()
                    .is_some_and(|n| !n.is_empty()),
                "{line}"
            );
            for set in directive["Dimensions"].as_array().expect("Dimensions") {
                let set = set.as_array().expect("a dimension set");
                assert!(set.len() <= 30, "{line}");
                for key in set {
                    let key = key.as_str().expect("dimension name");
                    assert!(
                        doc[key].is_string(),
                        "dimension {key} has a string value: {line}"
                    );
                }
            }
            let metrics = directive["Metrics"].as_array().expect("Metrics");
            assert!(!metrics.is_empty() && metrics.len() <= 100, "{line}");
            for metric in metrics {
                let name = metric["Name"].as_str().expect("Name");
                if let Some(unit) = metric.get("Unit") {
                    assert!(UNITS.contains(&unit.as_str().expect("unit")), "{line}");
                }
                match &doc[name] {
                    Value::Number(_) => {}
                    Value::Array(values) => {
                        assert!(
                            values.len() <= 100 && values.iter().all(Value::is_number),
                            "{line}"
                        )
                    }
                    other => panic!("{name} has no numeric value ({other}): {line}"),
                }
            }
        }
        documents.push(doc);
    }
    documents
}

/// The EMF documents once `ready` holds for them: metrics are flushed on a period (locally) or
/// after the answer (under Lambda), so a test waits for the flush that carries what it did, not
/// for a fixed time. After 30 s they are returned as they are, for the asserts to show.
async fn emf_when(service: &Service, ready: impl Fn(&[Value]) -> bool) -> Vec<Value> {
    let started = std::time::Instant::now();
    loop {
        let documents = emf_documents(service);
        if ready(&documents) || started.elapsed() > Duration::from_secs(30) {
            return documents;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Sums `metric` over the documents whose dimensions include `with`.
fn total(documents: &[Value], metric: &str, with: &[(&str, &str)]) -> f64 {
    documents
        .iter()
        .filter(|doc| with.iter().all(|(k, v)| doc[*k] == *v))
        .filter_map(|doc| match &doc[metric] {
            Value::Number(n) => n.as_f64(),
            Value::Array(values) => Some(values.iter().filter_map(Value::as_f64).sum()),
            _ => None,
        })
        .sum()
}

#[tokio::test]
async fn the_local_server_writes_valid_emf_for_requests_answers_and_upstream_calls() {
    let app = TestApp::spawn_with(false, |env| {
        env.insert("METRICS_FLUSH_SECONDS".into(), "1".into());
    })
    .await;
    let arn = app.finished(&quick_input("Metric")).await;
    assert_eq!(app.get_execution(&arn).await.status(), 200);
    assert_eq!(app.get_execution(&arn).await.status(), 200);
    let unknown = app
        .http
        .get(app.url("/nowhere"))
        .send()
        .await
        .expect("request");
    assert_eq!(unknown.status(), 404);

    let route = [
        ("Route", "/executions/{*execution_arn}"),
        ("StatusClass", "2xx"),
    ];
    let documents = emf_when(&app.service, |documents| {
        total(documents, "Requests", &route) >= 2.0
            && total(
                documents,
                "Requests",
                &[("Route", "unmatched"), ("StatusClass", "4xx")],
            ) >= 1.0
            && total(documents, "Answers", &[("Origin", "memory")]) >= 1.0
    })
    .await;
    assert_eq!(total(&documents, "Requests", &route), 2.0, "{documents:?}");
    assert_eq!(
        total(
            &documents,
            "Requests",
            &[("Route", "unmatched"), ("StatusClass", "4xx")]
        ),
        1.0
    );
    assert_eq!(
        total(&documents, "Answers", &[("Origin", "step-functions")]),
        1.0
    );
    assert_eq!(total(&documents, "Answers", &[("Origin", "memory")]), 1.0);
    let describes = [("Operation", "DescribeExecution"), ("Outcome", "ok")];
    assert_eq!(total(&documents, "UpstreamCalls", &describes), 1.0);
    assert!(documents.iter().all(|d| d["EntryPoint"] == "http"));
    // The ARN never becomes a dimension (it would be a metric per execution).
    assert!(!app
        .service
        .log_text()
        .lines()
        .any(|l| l.contains("_aws") && l.contains(&arn)));
}

#[tokio::test]
async fn each_lambda_invocation_writes_its_metrics_and_logs_carry_the_request_id() {
    let mut world = EventsWorld::start(|_| {}).await;
    let answer = world.invoke(event("sfn/status-succeeded.json")).await;
    assert_eq!(answer["stored"], 1, "{answer}");
    world.invoke(json!({"neither": "kind"})).await;

    let documents = emf_when(&world.events_fn, |documents| {
        total(documents, "Events", &[("Outcome", "stored")]) >= 1.0
            && total(documents, "Events", &[("Outcome", "poison")]) >= 1.0
    })
    .await;
    assert_eq!(
        total(&documents, "Events", &[("Outcome", "stored")]),
        1.0,
        "{documents:?}"
    );
    assert_eq!(total(&documents, "Events", &[("Outcome", "poison")]), 1.0);
    assert!(documents
        .iter()
        .any(|d| d["EventLag"].is_number() || d["EventLag"].is_array()));
    assert!(documents.iter().all(|d| d["EntryPoint"] == "events"));

    // Every log line written while an invocation ran names it and its trace.
    let handled: Vec<HashMap<String, Value>> = world
        .events_fn
        .log_text()
        .lines()
        .filter(|l| l.contains("events handled"))
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    assert_eq!(handled.len(), 2);
    for line in handled {
        let span = serde_json::to_string(&line).expect("json");
        assert!(span.contains("\"requestId\":\"req-"), "{span}");
        assert!(span.contains("\"xrayTraceId\":\"Root=1-"), "{span}");
    }
}
