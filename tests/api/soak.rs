//! A bounded soak with a mixed workload: only earned statuses, no lost result, flat memory.
//! CI runs it for 15 s; `SOAK_SECONDS=60 cargo test --workspace soak -- --nocapture` is the
//! long run (`SOAK_CONNECTIONS` sets the concurrency, 50 by default).

use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::helpers::{quick_input, TestApp};

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A small deterministic generator (xorshift), so a failing run can be replayed from its seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

#[derive(Default)]
struct Tally {
    statuses: BTreeMap<(&'static str, u16), u64>,
    unexpected: Vec<String>,
    answered: HashSet<String>,
}

#[tokio::test]
async fn a_mixed_soak_answers_only_earned_statuses_and_loses_no_result() {
    let seconds = env_number("SOAK_SECONDS", 15);
    let connections = env_number("SOAK_CONNECTIONS", 50);
    let seed = env_number("SOAK_SEED", 0x5eed_1234_abcd);
    let app = Arc::new(TestApp::spawn_split().await);

    let mut hits = Vec::new();
    for i in 0..5 {
        let arn = app.finished(&quick_input(&format!("hit{i}"))).await;
        assert_eq!(app.get_execution(&arn).await.status(), 200);
        hits.push(arn);
    }
    let mut pool = Vec::new();
    for i in 0..(seconds * 10) {
        pool.push(
            app.start(&app.machines.greeting, &quick_input(&format!("miss{i}")))
                .await,
        );
    }
    for arn in &pool {
        app.until_stopped(arn).await;
    }
    let mut failed = Vec::new();
    for _ in 0..3 {
        let arn = app.start(&app.machines.rejected, &json!({})).await;
        app.until_stopped(&arn).await;
        failed.push(arn);
    }
    let mut running = Vec::new();
    for i in 0..10 {
        let delay = 1 + (i * seconds / 20);
        let input = json!({"name": format!("run{i}"), "echo": i, "delaySeconds": delay});
        running.push(app.start(&app.machines.greeting, &input).await);
    }
    let machine = app.machines.greeting.clone();
    let bad: Vec<(String, Vec<u16>)> = vec![
        ("not-an-arn".into(), vec![400]),
        (machine.clone(), vec![400]),
        (
            machine.replace(":stateMachine:", ":execution:") + ":a%2Fb",
            vec![400],
        ),
        (
            "arn:aws:states:us-east-1:123456789012:execution:Other:x".into(),
            vec![403],
        ),
        // An Express ARN nothing was logged for: from the table only, so a table read that
        // timed out (the emulator on a busy machine) earns a 503; checked against the log below.
        (
            machine.replace(":stateMachine:", ":express:") + ":r:1",
            vec![404, 503],
        ),
        (
            machine.replace(":stateMachine:", ":execution:") + ":never-started",
            vec![404],
        ),
    ];

    let pool = Arc::new(Mutex::new(pool));
    let tally = Arc::new(Mutex::new(Tally::default()));
    let started = Instant::now();
    let deadline = started + Duration::from_secs(seconds);
    let mut workers = tokio::task::JoinSet::new();
    for worker in 0..connections {
        let (app, pool, tally) = (Arc::clone(&app), Arc::clone(&pool), Arc::clone(&tally));
        let (hits, failed, running, bad) =
            (hits.clone(), failed.clone(), running.clone(), bad.clone());
        workers.spawn(async move {
            let mut rng = Rng(seed ^ (worker + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15));
            while Instant::now() < deadline {
                let roll = rng.next() % 100;
                let pick =
                    |list: &Vec<String>, r: u64| list[(r % list.len() as u64) as usize].clone();
                let (kind, path, allowed): (&str, String, Vec<u16>) = match roll {
                    0..40 => ("hit", pick(&hits, rng.next()), vec![200]),
                    40..55 => match pool.lock().expect("pool").pop() {
                        Some(arn) => ("miss", arn, vec![200]),
                        None => ("hit", pick(&hits, rng.next()), vec![200]),
                    },
                    55..70 => ("running", pick(&running, rng.next()), vec![200, 202]),
                    70..78 => (
                        "long-poll",
                        format!("{}?wait=2", pick(&running, rng.next())),
                        vec![200, 202],
                    ),
                    78..85 => ("failed", pick(&failed, rng.next()), vec![200]),
                    _ => {
                        let (path, statuses) =
                            bad[(rng.next() % bad.len() as u64) as usize].clone();
                        ("bad", path, statuses)
                    }
                };
                let response = app
                    .http
                    .get(app.url(&format!("/executions/{path}")))
                    .send()
                    .await;
                let status = response.as_ref().map(|r| r.status().as_u16()).unwrap_or(0);
                let mut tally = tally.lock().expect("tally");
                *tally.statuses.entry((kind, status)).or_default() += 1;
                if !allowed.contains(&status) {
                    tally.unexpected.push(format!("{kind} {path} -> {status}"));
                } else if status == 200 {
                    let arn = path.split('?').next().unwrap_or_default().to_owned();
                    tally.answered.insert(arn);
                }
            }
        });
    }
    tokio::time::sleep(Duration::from_secs(seconds / 4)).await;
    let warm_rss = app.service.rss_kib();
    workers.join_all().await;
    let end_rss = app.service.rss_kib();

    let tally = Arc::try_unwrap(tally)
        .ok()
        .expect("workers done")
        .into_inner()
        .expect("tally");
    let total: u64 = tally.statuses.values().sum();
    println!("soak: {seconds} s, {connections} connections, seed {seed:#x}: {total} requests");
    for ((kind, status), n) in &tally.statuses {
        println!("  {kind:>9} {status}: {n}");
    }
    println!("  resident memory: {warm_rss} KiB after warm-up, {end_rss} KiB at the end");
    let log = app.service.log_text();
    if tally.statuses.contains_key(&("bad", 503)) {
        assert!(
            log.contains("result store read failed"),
            "a 503 for an Express ARN with no store read failure in the log:\n{log}"
        );
    }
    if !tally.unexpected.is_empty() {
        let warnings: Vec<&str> = log
            .lines()
            .filter(|l| l.contains("WARN"))
            .take(20)
            .collect();
        panic!(
            "unexpected answers: {:?}\nthe service's warnings:\n{}",
            &tally.unexpected[..tally.unexpected.len().min(20)],
            warnings.join("\n")
        );
    }

    // No lost result: every execution answered 200 has one cache item whose document says what
    // Step Functions says.
    let mut checked = 0;
    for arn in &tally.answered {
        let stored: Value = serde_json::from_str(&app.stored_document(arn).await).expect("json");
        let described = app
            .sfn
            .describe_execution()
            .execution_arn(arn)
            .send()
            .await
            .expect("describe");
        assert_eq!(stored["executionArn"], arn.as_str());
        assert_eq!(stored["status"], described.status.as_str(), "{arn}");
        assert_eq!(stored["error"].as_str(), described.error());
        assert_eq!(stored["cause"].as_str(), described.cause());
        let output: Option<Value> = described
            .output()
            .map(|o| serde_json::from_str(o).expect("json"));
        assert_eq!(
            stored.get("output").cloned().filter(|o| !o.is_null()),
            output,
            "{arn}"
        );
        checked += 1;
    }
    let items = app
        .ddb
        .scan()
        .table_name(&app.table)
        // Items of running executions' shared reads and of 404s hold no result document.
        .filter_expression("attribute_exists(document)")
        .send()
        .await
        .expect("scan");
    assert_eq!(
        items.count as usize, checked,
        "exactly one item per stopped execution answered"
    );
    println!(
        "  results checked against Step Functions: {checked}, cache items: {}",
        items.count
    );
    assert!(
        end_rss <= warm_rss + warm_rss / 2 + 8 * 1024,
        "resident memory grew from {warm_rss} KiB to {end_rss} KiB"
    );
}
