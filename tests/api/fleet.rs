//! The upstream budget across a fleet: several processes of the binary (as Lambda runs one
//! request per environment) sharing one table, with `DescribeExecution` counted at the emulator.

use std::collections::HashSet;
use std::time::Instant;

use serde_json::json;

use crate::emulators::shared;
use crate::helpers::{describe_count, emulator_counts, problem, quick_input, Service, TestApp};

/// Every process's base URL: the app's own and the fleet's.
fn addresses(app: &TestApp, fleet: &[Service]) -> Vec<String> {
    std::iter::once(app.service.address.clone())
        .chain(fleet.iter().map(|s| s.address.clone()))
        .collect()
}

/// Sends `per_process` concurrent GETs of `path` to each address; (status, body) of each.
async fn crowd(
    app: &TestApp,
    addresses: &[String],
    per_process: usize,
    path: &str,
) -> Vec<(u16, Vec<u8>)> {
    let mut tasks = tokio::task::JoinSet::new();
    for address in addresses {
        for _ in 0..per_process {
            let (http, url) = (app.http.clone(), format!("{address}{path}"));
            tasks.spawn(async move {
                let response = http.get(url).send().await.expect("request");
                let status = response.status().as_u16();
                (status, response.bytes().await.expect("body").to_vec())
            });
        }
    }
    tasks.join_all().await
}

#[tokio::test]
async fn six_processes_with_five_long_pollers_each_make_one_describe_per_second_in_all() {
    let app = TestApp::spawn().await;
    let fleet = app.fleet(5).await;
    let input = json!({"name": "Fleet", "echo": "slow", "delaySeconds": 8});
    let started = Instant::now();
    let arn = app.start(&app.machines.greeting, &input).await;

    let answers = crowd(
        &app,
        &addresses(&app, &fleet),
        5,
        &format!("/executions/{arn}?wait=25"),
    )
    .await;
    let elapsed = started.elapsed();
    assert_eq!(answers.len(), 30);
    for (status, body) in &answers {
        assert_eq!(*status, 200, "{}", String::from_utf8_lossy(body));
        assert_eq!(body, &answers[0].1, "every process answers the same bytes");
    }
    let calls = describe_count(&shared().endpoint(), &arn).await;
    let seconds = elapsed.as_secs_f64().ceil() as u64;
    println!("6 processes × 5 long-pollers over {elapsed:?}: {calls} DescribeExecution calls");
    assert!(
        calls <= seconds + 3,
        "{calls} DescribeExecution calls in {seconds} s across 6 processes"
    );
}

#[tokio::test]
async fn six_processes_with_twenty_first_readers_each_make_at_most_two_describes() {
    let app = TestApp::spawn().await;
    let fleet = app.fleet(5).await;
    let arn = app.finished(&quick_input("Crowd")).await;
    // The test's own DescribeExecution calls (waiting for the stop) are not the service's.
    let before = describe_count(&shared().endpoint(), &arn).await;

    let answers = crowd(
        &app,
        &addresses(&app, &fleet),
        20,
        &format!("/executions/{arn}"),
    )
    .await;
    assert_eq!(answers.len(), 120);
    for (status, body) in &answers {
        assert_eq!(*status, 200, "{}", String::from_utf8_lossy(body));
        assert_eq!(body, &answers[0].1, "all 120 answers are the same bytes");
    }
    let calls = describe_count(&shared().endpoint(), &arn).await - before;
    println!(
        "6 processes × 20 first readers of a stopped execution: {calls} DescribeExecution calls"
    );
    assert!(calls <= 2, "{calls} DescribeExecution calls");
    assert_eq!(
        app.stored_document(&arn).await.as_bytes(),
        &answers[0].1[..]
    );
}

#[tokio::test]
async fn unknown_names_cost_one_describe_each_per_minute_across_the_fleet() {
    let app = TestApp::spawn().await;
    let fleet = app.fleet(5).await;
    let addresses = addresses(&app, &fleet);
    let machine_prefix = app
        .machines
        .greeting
        .replace(":stateMachine:", ":execution:");
    let names: Vec<String> = (0..20)
        .map(|i| {
            format!(
                "{machine_prefix}:{}",
                crate::helpers::unique(&format!("ghost{i}"))
            )
        })
        .collect();

    // 200 reads: every name 10 times, spread over the 6 processes, 20 at a time.
    let mut statuses = HashSet::new();
    for round in 0..10 {
        let mut tasks = tokio::task::JoinSet::new();
        for (i, arn) in names.iter().enumerate() {
            let address = &addresses[(round + i) % addresses.len()];
            let (http, url) = (app.http.clone(), format!("{address}/executions/{arn}"));
            tasks.spawn(async move { http.get(url).send().await.expect("request") });
        }
        for response in tasks.join_all().await {
            statuses.insert(response.status().as_u16());
            problem(response, 404).await;
        }
    }
    let counts = emulator_counts(&shared().endpoint()).await;
    let calls: u64 = names
        .iter()
        .map(|arn| {
            counts
                .get(&format!("AWSStepFunctions.DescribeExecution {arn}"))
                .copied()
                .unwrap_or(0)
        })
        .sum();
    println!("200 reads of 20 unknown names across 6 processes: {calls} DescribeExecution calls");
    assert_eq!(statuses, HashSet::from([404]));
    assert!(calls <= 20, "{calls} DescribeExecution calls for 20 names");
}
