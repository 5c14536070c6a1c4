//! The Lambda path: API Gateway events from `infra/events/` (REST proxy and HTTP API), delivered
//! to the real binary by a Lambda runtime API on loopback, answered through `lambda_http`.

use std::collections::HashMap;
use std::time::Duration;

use serde_json::{json, Value};

use crate::emulators::Emulator;
use crate::helpers::{
    base_env, create_machines, create_table, sdk_config, stored_document, Machines, Service,
};
use crate::lambda_runtime::{event, header, LoopbackRuntime};

/// The execution the sample GET events name.
const EXECUTION_NAME: &str = "lambda-event-sample";
const TABLE: &str = "api-sfn-results";

/// An emulator of its own (the events hold fixed names), the machines and table, and the
/// binary under a loopback runtime API.
struct LambdaWorld {
    emulator: Emulator,
    service: Service,
    sfn: aws_sdk_sfn::Client,
    ddb: aws_sdk_dynamodb::Client,
    runtime: LoopbackRuntime,
    machines: Machines,
}

impl LambdaWorld {
    async fn start(configure: impl FnOnce(&mut HashMap<String, String>, &Machines)) -> Self {
        let emulator = Emulator::start();
        let sdk = sdk_config(&emulator.endpoint()).await;
        let sfn = aws_sdk_sfn::Client::new(&sdk);
        let ddb = aws_sdk_dynamodb::Client::new(&sdk);
        let machines = create_machines(&sfn, "api-sfn").await;
        create_table(&ddb, TABLE).await;
        let runtime = LoopbackRuntime::start().await;
        let mut env = base_env(&emulator.endpoint(), &emulator.endpoint());
        for (k, v) in runtime.env() {
            env.insert(k.into(), v);
        }
        env.insert("RESULTS_TABLE".into(), TABLE.into());
        env.insert("ALLOWED_STATE_MACHINES".into(), machines.greeting.clone());
        configure(&mut env, &machines);
        let service = Service::start_lambda(&env);
        Self {
            emulator,
            service,
            sfn,
            ddb,
            runtime,
            machines,
        }
    }

    /// Makes every `PutItem` take 300 ms at the emulator, so a write the function did not wait
    /// for is still missing when its answer arrives, however fast the machine.
    async fn slow_writes(&self) {
        reqwest::Client::new()
            .post(format!("{}/_emulator/faults", self.emulator.endpoint()))
            .json(&json!({"target": "DynamoDB_20120810.PutItem", "mode": "delay", "delayMs": 300}))
            .send()
            .await
            .expect("inject delay")
            .error_for_status()
            .expect("delay accepted");
    }

    /// Starts the execution the GET events name and waits until it has stopped.
    async fn finished_sample(&self) -> String {
        let arn = self
            .sfn
            .start_execution()
            .state_machine_arn(&self.machines.greeting)
            .name(EXECUTION_NAME)
            .input(json!({"name": "Lambda", "echo": [1, 2], "delaySeconds": 0}).to_string())
            .send()
            .await
            .expect("start")
            .execution_arn;
        while self
            .sfn
            .describe_execution()
            .execution_arn(&arn)
            .send()
            .await
            .expect("describe")
            .status
            == aws_sdk_sfn::types::ExecutionStatus::Running
        {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        arn
    }

    /// The table's `document` for `arn` right now: one consistent read, no waiting.
    async fn stored_now(&self, arn: &str) -> Option<String> {
        stored_document(&self.ddb, TABLE, arn).await
    }
}

fn body(response: &Value) -> Value {
    serde_json::from_str(response["body"].as_str().expect("text body")).expect("json body")
}

#[tokio::test]
async fn every_event_shape_reaches_its_route_and_the_write_lands_before_the_answer() {
    let mut world = LambdaWorld::start(|_, _| {}).await;
    let arn = world.finished_sample().await;
    world.slow_writes().await;

    let raw = world.runtime.invoke(event("get-execution.json")).await;
    assert_eq!(raw["statusCode"], 200, "{raw}");
    // Lambda freezes the process once it has answered: the result must already be in the table.
    let stored = world.stored_now(&arn).await;
    assert_eq!(
        stored.as_deref(),
        raw["body"].as_str(),
        "stored before the answer"
    );
    let document = body(&raw);
    assert_eq!(document["executionArn"], arn.as_str());
    assert_eq!(
        document["output"],
        json!({"greeting": "Hello, Lambda!", "echo": [1, 2]})
    );
    let etag = header(&raw, "etag");
    assert!(etag.as_str().is_some_and(|t| t.starts_with('"')), "{raw}");
    assert_eq!(header(&raw, "cache-status"), "sfn-results; fwd=miss");

    // Each shape API Gateway sends for the same resource gets the same document.
    for file in [
        "get-execution-encoded.json",
        "get-execution-stage-in-path.json",
        "get-execution-custom-domain.json",
        "get-execution-stage-named-executions.json",
        "get-execution-http-api.json",
    ] {
        let answer = world.runtime.invoke(event(file)).await;
        assert_eq!(answer["statusCode"], 200, "{file}: {answer}");
        assert_eq!(answer["body"], raw["body"], "{file}");
        assert_eq!(header(&answer, "etag"), etag, "{file}");
        // Their queries (`?wait=` on these two) survive the path rewrite.
        if file.contains("custom-domain") || file.contains("http-api") {
            assert!(
                header(&answer, "preference-applied").is_string(),
                "{file}: {answer}"
            );
        }
    }

    let unknown = world
        .runtime
        .invoke(event("get-execution-unknown.json"))
        .await;
    assert_eq!(unknown["statusCode"], 404, "{unknown}");
    assert_eq!(header(&unknown, "content-type"), "application/problem+json");
    assert_eq!(
        body(&unknown)["type"],
        "urn:api-sfn:problem:execution-not-found"
    );

    let proxied = world
        .runtime
        .invoke(event("proxy-unknown-route.json"))
        .await;
    assert_eq!(proxied["statusCode"], 404, "{proxied}");
    assert_eq!(body(&proxied)["type"], "urn:api-sfn:problem:not-found");

    for file in ["healthz.json", "healthz-stage-named-healthz.json"] {
        let health = world.runtime.invoke(event(file)).await;
        assert_eq!(health["statusCode"], 200, "{file}: {health}");
        assert_eq!(health["body"], r#"{"status":"ok"}"#);
    }
}

#[tokio::test]
async fn post_events_start_and_wait_with_plain_and_base64_bodies_and_keep_them_out_of_the_logs() {
    let mut world = LambdaWorld::start(|env, machines| {
        env.insert("START_STATE_MACHINE".into(), machines.greeting.clone());
        // The runtime logs whole events at trace; the cap must keep bodies out all the same.
        env.insert("RUST_LOG".into(), "trace".into());
    })
    .await;
    world.slow_writes().await;
    let cases = [
        (
            "start-and-wait.json",
            "lambda-wait-sample",
            json!({"greeting": "Hello, Posted!", "echo": {"via": "lambda"}}),
        ),
        (
            "start-and-wait-base64.json",
            "lambda-wait-base64",
            json!({"greeting": "Hello, Encoded!", "echo": ["b", 64]}),
        ),
    ];
    for (file, name, output) in cases {
        let answer = world.runtime.invoke(event(file)).await;
        assert_eq!(answer["statusCode"], 200, "{file}: {answer}");
        let document = body(&answer);
        assert_eq!(document["name"], name, "{file}");
        assert_eq!(document["status"], "SUCCEEDED", "{file}");
        assert_eq!(document["output"], output, "{file}");
        let arn = document["executionArn"].as_str().expect("arn").to_owned();
        let stored = world.stored_now(&arn).await;
        assert_eq!(stored.as_deref(), answer["body"].as_str(), "{file}");
    }
    let logs = world.service.log_text();
    assert!(
        logs.contains(r#""level":"TRACE""#) || logs.contains(r#""level":"DEBUG""#),
        "the function logged at trace or debug: {logs}"
    );
    for secret in ["Posted", "Encoded", "\"via\""] {
        assert!(!logs.contains(secret), "{secret} in the logs");
    }
}

/// The sample GET event, for another execution of the greeting machine, with these headers.
fn get_event(arn: &str, headers: &[(&str, &str)]) -> Value {
    let mut event = event("get-execution.json");
    event["path"] = json!(format!("/executions/{arn}"));
    event["pathParameters"]["executionArn"] = json!(arn);
    for (name, value) in headers {
        event["headers"][*name] = json!(value);
        event["multiValueHeaders"][*name] = json!([value]);
    }
    event
}

#[tokio::test]
async fn behind_api_gateway_a_large_result_leaves_uncompressed_with_a_weak_etag_when_the_gateway_may_compress_it(
) {
    let mut world = LambdaWorld::start(|_, _| {}).await;
    let large = json!({"name": "Big", "echo": "compressible ".repeat(400), "delaySeconds": 0});
    let arn = world
        .sfn
        .start_execution()
        .state_machine_arn(&world.machines.greeting)
        .name("lambda-large")
        .input(large.to_string())
        .send()
        .await
        .expect("start")
        .execution_arn;
    let identity = loop {
        let answer = world.runtime.invoke(get_event(&arn, &[])).await;
        if answer["statusCode"] == 200 {
            break answer;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let strong = header(&identity, "etag");
    assert!(
        strong.as_str().is_some_and(|t| t.starts_with('"')),
        "{identity}"
    );
    assert!(identity["body"].as_str().expect("text").len() > 1024);
    assert_eq!(header(&identity, "vary"), "accept-encoding");

    // API Gateway gzips this one after it leaves: the function sends it as it is, tagged weak.
    let accepts = [("Accept-Encoding", "gzip, deflate, br")];
    let gzippable = world.runtime.invoke(get_event(&arn, &accepts)).await;
    assert_eq!(gzippable["statusCode"], 200, "{gzippable}");
    assert_eq!(gzippable["body"], identity["body"]);
    assert!(
        header(&gzippable, "content-encoding").is_null(),
        "{gzippable}"
    );
    let weak = header(&gzippable, "etag");
    assert_eq!(
        weak.as_str(),
        strong.as_str().map(|t| format!("W/{t}")).as_deref()
    );
    // Weak comparison: either tag names the content the client holds, in any encoding.
    for held in [&weak, &strong] {
        let held = held.as_str().expect("tag");
        for headers in [&accepts[..], &[]] {
            let mut headers = headers.to_vec();
            headers.push(("If-None-Match", held));
            let answer = world.runtime.invoke(get_event(&arn, &headers)).await;
            assert_eq!(answer["statusCode"], 304, "{held} {headers:?}: {answer}");
        }
    }
    // A client that accepts only br (which the gateway does not offer) gets the strong tag.
    let br_only = world
        .runtime
        .invoke(get_event(&arn, &[("Accept-Encoding", "br")]))
        .await;
    assert_eq!(header(&br_only, "etag"), strong);
}
