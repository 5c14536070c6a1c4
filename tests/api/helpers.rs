//! A test's world (`TestApp`) and what tests assert with: problem bodies, headers, call counts.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use aws_sdk_sfn::types::ExecutionStatus;
use serde_json::Value;

use crate::emulators::{shared, Emulator};
pub use crate::service::{base_env, Service};
pub use crate::upstream::{
    create_machines, create_table, recreate_machines, sdk_config, unique, Machines,
};

/// A test's world: its machines and table in the emulators, and the binary pointed at them.
#[derive(Debug)]
pub struct TestApp {
    pub service: Service,
    pub http: reqwest::Client,
    pub sfn: aws_sdk_sfn::Client,
    pub ddb: aws_sdk_dynamodb::Client,
    pub table: String,
    pub machines: Machines,
    /// Own emulators (Step Functions, DynamoDB) when the test stops one of them.
    pub own: Option<(Emulator, Emulator)>,
}

impl TestApp {
    /// The binary against the shared emulator, allowed to read the test's own machines.
    pub async fn spawn() -> Self {
        Self::spawn_with(false, |_| {}).await
    }

    /// The binary against two emulators of its own, one per AWS service, so either can be stopped.
    pub async fn spawn_split() -> Self {
        Self::spawn_with(true, |_| {}).await
    }

    pub async fn spawn_with(
        split: bool,
        configure: impl FnOnce(&mut HashMap<String, String>),
    ) -> Self {
        let own = split.then(|| (Emulator::start(), Emulator::start()));
        let (sfn_endpoint, ddb_endpoint) = match &own {
            Some((sfn, ddb)) => (sfn.endpoint(), ddb.endpoint()),
            None => (shared().endpoint(), shared().endpoint()),
        };
        let sfn = aws_sdk_sfn::Client::new(&sdk_config(&sfn_endpoint).await);
        let ddb = aws_sdk_dynamodb::Client::new(&sdk_config(&ddb_endpoint).await);
        let prefix = unique("t");
        let machines = create_machines(&sfn, &prefix).await;
        let table = format!("{prefix}-results");
        create_table(&ddb, &table).await;
        let mut env = base_env(&sfn_endpoint, &ddb_endpoint);
        env.insert("RESULTS_TABLE".into(), table.clone());
        env.insert(
            "ALLOWED_STATE_MACHINES".into(),
            format!("{},{}", machines.greeting, machines.rejected),
        );
        configure(&mut env);
        let service = Service::start(&env).await;
        Self {
            service,
            http: reqwest::Client::new(),
            sfn,
            ddb,
            table,
            machines,
            own,
        }
    }

    /// The binary with both upstream endpoints on a closed port: any upstream call would fail.
    pub async fn spawn_without_upstreams() -> Self {
        Self::spawn_with(false, |env| {
            for variable in ["AWS_ENDPOINT_URL_SFN", "AWS_ENDPOINT_URL_DYNAMODB"] {
                env.insert(variable.into(), "http://127.0.0.1:9".into());
            }
        })
        .await
    }

    /// The binary with `POST /executions/wait` starting the greeting machine.
    pub async fn spawn_with_start_route(max_wait_seconds: Option<u64>) -> Self {
        Self::spawn_with(false, |env| {
            start_the_greeting_machine(env);
            if let Some(seconds) = max_wait_seconds {
                env.insert("MAX_WAIT_SECONDS".into(), seconds.to_string());
            }
        })
        .await
    }

    /// `n` more processes of the binary with the same configuration, sharing the table: a fleet
    /// of Lambda environments, each with its own memory.
    pub async fn fleet(&self, n: usize) -> Vec<Service> {
        let mut fleet = Vec::with_capacity(n);
        for _ in 0..n {
            fleet.push(self.service.restarted().await);
        }
        fleet
    }

    /// The own emulators' endpoints: (Step Functions, DynamoDB).
    pub fn own_endpoints(&self) -> (String, String) {
        let (sfn, ddb) = self.own.as_ref().expect("spawned with own emulators");
        (sfn.endpoint(), ddb.endpoint())
    }

    /// `POST path` with `body`.
    pub async fn post(&self, path: &str, body: impl Into<reqwest::Body>) -> reqwest::Response {
        self.http
            .post(self.url(path))
            .body(body)
            .send()
            .await
            .expect("request")
    }

    /// Replaces the running binary with a fresh one (empty memory), as a new Lambda instance.
    pub async fn restart(&mut self) {
        self.service = self.service.restarted().await;
    }

    /// `GET path`, answered 200 with JSON: the body.
    pub async fn get_json(&self, path: &str) -> Value {
        let response = self.http.get(self.url(path)).send().await.expect("request");
        assert_eq!(response.status(), 200, "GET {path}");
        response.json().await.expect("json")
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.service.address)
    }

    /// `GET /executions/{arn}` with the ARN as given (raw colons).
    pub async fn get_execution(&self, arn: &str) -> reqwest::Response {
        self.http
            .get(self.url(&format!("/executions/{arn}")))
            .send()
            .await
            .expect("request")
    }

    /// Starts an execution of `machine` (always named: moto needs it) and returns its ARN.
    pub async fn start(&self, machine: &str, input: &Value) -> String {
        self.sfn
            .start_execution()
            .state_machine_arn(machine)
            .name(unique("run"))
            .input(input.to_string())
            .send()
            .await
            .expect("start execution")
            .execution_arn
    }

    /// Waits until Step Functions reports the execution stopped.
    pub async fn until_stopped(&self, arn: &str) -> ExecutionStatus {
        let started = Instant::now();
        loop {
            let out = self
                .sfn
                .describe_execution()
                .execution_arn(arn)
                .send()
                .await
                .expect("describe");
            if out.status != ExecutionStatus::Running {
                return out.status;
            }
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "execution never stopped"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Starts a quick execution of the greeting machine and waits for it to succeed.
    pub async fn finished(&self, input: &Value) -> String {
        let arn = self.start(&self.machines.greeting, input).await;
        assert_eq!(self.until_stopped(&arn).await, ExecutionStatus::Succeeded);
        arn
    }

    /// The cache item's document once the service's background write has landed (5 s at most).
    pub async fn stored_document(&self, arn: &str) -> String {
        let started = Instant::now();
        loop {
            if let Some(document) = self.cached_document(arn).await {
                return document;
            }
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "{arn} was never stored"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The cache item's `document` attribute, if the table holds one for `arn`.
    pub async fn cached_document(&self, arn: &str) -> Option<String> {
        stored_document(&self.ddb, &self.table, arn).await
    }
}

/// Injects a fault in an emulator: `mode` is `throttle`, `delay` or `unavailable`.
pub async fn inject(app: &TestApp, endpoint: &str, fault: serde_json::Value) {
    app.http
        .post(format!("{endpoint}/_emulator/faults"))
        .json(&fault)
        .send()
        .await
        .expect("inject fault")
        .error_for_status()
        .expect("fault accepted");
}

pub async fn clear_faults(app: &TestApp, endpoint: &str) {
    app.http
        .delete(format!("{endpoint}/_emulator/faults"))
        .send()
        .await
        .expect("clear faults");
}

/// The `document` attribute of `table`'s item for `arn`, by one consistent read.
pub async fn stored_document(
    ddb: &aws_sdk_dynamodb::Client,
    table: &str,
    arn: &str,
) -> Option<String> {
    results_item(ddb, table, arn)
        .await?
        .get("document")?
        .as_s()
        .ok()
        .cloned()
}

/// `table`'s item for `arn`, by one consistent read.
pub async fn results_item(
    ddb: &aws_sdk_dynamodb::Client,
    table: &str,
    arn: &str,
) -> Option<HashMap<String, aws_sdk_dynamodb::types::AttributeValue>> {
    ddb.get_item()
        .table_name(table)
        .key(
            "executionArn",
            aws_sdk_dynamodb::types::AttributeValue::S(arn.to_owned()),
        )
        .consistent_read(true)
        .send()
        .await
        .expect("get item")
        .item
}

/// Sets `START_STATE_MACHINE` to the greeting machine, the first allowed one.
pub fn start_the_greeting_machine(env: &mut HashMap<String, String>) {
    let greeting = env["ALLOWED_STATE_MACHINES"]
        .split(',')
        .next()
        .unwrap_or_default()
        .to_owned();
    env.insert("START_STATE_MACHINE".into(), greeting);
}

/// Calls an emulator has answered, per `X-Amz-Target` and per "target executionArn".
pub async fn emulator_counts(endpoint: &str) -> HashMap<String, u64> {
    reqwest::get(format!("{endpoint}/_emulator/counts"))
        .await
        .expect("counts")
        .json()
        .await
        .expect("json")
}

/// `DescribeExecution` calls an emulator has answered for `arn`.
pub async fn describe_count(endpoint: &str, arn: &str) -> u64 {
    emulator_counts(endpoint)
        .await
        .get(&format!("AWSStepFunctions.DescribeExecution {arn}"))
        .copied()
        .unwrap_or(0)
}

/// Header value as text ("" when absent).
pub fn header(response: &reqwest::Response, name: &str) -> String {
    response
        .headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

/// Asserts an RFC 9457 problem answer and returns its body.
pub async fn problem(response: reqwest::Response, status: u16) -> Value {
    assert_eq!(response.status().as_u16(), status, "status");
    assert_eq!(
        header(&response, "content-type"),
        "application/problem+json"
    );
    assert!(
        !header(&response, "cache-status").is_empty(),
        "Cache-Status on every answer"
    );
    let body: Value = response.json().await.expect("problem body");
    assert_eq!(body["status"], status);
    for field in ["type", "title", "detail"] {
        assert!(body[field].is_string(), "problem has {field}: {body}");
    }
    body
}

/// Input for the greeting machine that finishes quickly.
pub fn quick_input(name: &str) -> Value {
    serde_json::json!({"name": name, "echo": {"order": 7, "items": ["a", "b"]}, "delaySeconds": 0})
}
