//! Spawns the real `sfn-results` binary against emulators and talks to it over HTTP.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use aws_config::{BehaviorVersion, Region};
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
    TimeToLiveSpecification,
};
use aws_sdk_sfn::config::Credentials;
use aws_sdk_sfn::types::{ExecutionStatus, StateMachineType};
use serde_json::Value;

use crate::emulators::{repo_root, shared, Emulator};

pub const ACCOUNT: &str = "123456789012";
pub const REGION: &str = "us-east-1";

/// A name no other test in this run uses.
pub fn unique(prefix: &str) -> String {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    format!(
        "{prefix}-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::SeqCst)
    )
}

pub async fn sdk_config(endpoint: &str) -> aws_config::SdkConfig {
    let http = aws_smithy_http_client::Builder::new()
        .tls_provider(aws_smithy_http_client::tls::Provider::Rustls(
            aws_smithy_http_client::tls::rustls_provider::CryptoMode::Ring,
        ))
        .build_https();
    aws_config::defaults(BehaviorVersion::latest())
        .http_client(http)
        .region(Region::new(REGION))
        .endpoint_url(endpoint)
        .credentials_provider(Credentials::new("test", "test", None, None, "tests"))
        .load()
        .await
}

/// The sample state machines of `infra/state-machines`, created under this test's names.
#[derive(Debug, Clone)]
pub struct Machines {
    pub greeting: String,
    pub rejected: String,
    pub express: String,
}

pub async fn create_machines(sfn: &aws_sdk_sfn::Client, prefix: &str) -> Machines {
    let create = |file: &'static str, kind: StateMachineType| {
        let sfn = sfn.clone();
        let name = format!("{prefix}-{}", file.trim_end_matches(".asl.json"));
        async move {
            let definition =
                std::fs::read_to_string(repo_root().join("infra/state-machines").join(file))
                    .expect("read the state machine definition");
            sfn.create_state_machine()
                .name(name)
                .definition(definition)
                .role_arn(format!("arn:aws:iam::{ACCOUNT}:role/sfn-results-tests"))
                .r#type(kind)
                .send()
                .await
                .expect("create the state machine")
                .state_machine_arn
        }
    };
    Machines {
        greeting: create("greeting.asl.json", StateMachineType::Standard).await,
        rejected: create("rejected.asl.json", StateMachineType::Standard).await,
        express: create("express.asl.json", StateMachineType::Express).await,
    }
}

/// Creates the test's machines again under the same names (after an emulator restart).
pub async fn recreate_machines(sfn: &aws_sdk_sfn::Client, machines: &Machines) {
    let greeting = machines.greeting.rsplit(':').next().expect("name");
    let prefix = greeting.trim_end_matches("-greeting");
    let again = create_machines(sfn, prefix).await;
    assert_eq!(again.greeting, machines.greeting);
}

pub async fn create_table(ddb: &aws_sdk_dynamodb::Client, table: &str) {
    ddb.create_table()
        .table_name(table)
        .attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name("executionArn")
                .attribute_type(ScalarAttributeType::S)
                .build()
                .expect("attribute"),
        )
        .key_schema(
            KeySchemaElement::builder()
                .attribute_name("executionArn")
                .key_type(KeyType::Hash)
                .build()
                .expect("key"),
        )
        .billing_mode(BillingMode::PayPerRequest)
        .send()
        .await
        .expect("create the table");
    ddb.update_time_to_live()
        .table_name(table)
        .time_to_live_specification(
            TimeToLiveSpecification::builder()
                .attribute_name("expiresAt")
                .enabled(true)
                .build()
                .expect("ttl"),
        )
        .send()
        .await
        .expect("enable TTL");
}

/// The `sfn-results` binary built by this workspace.
pub fn binary() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    let dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target/<profile>/deps");
    let binary = dir.join("sfn-results");
    assert!(
        binary.exists(),
        "{} is missing: run `cargo test --workspace` (it builds the binary) or `cargo build -p sfn-results`",
        binary.display()
    );
    binary
}

/// The running binary; killed when dropped. Its log lines are kept for assertions.
#[derive(Debug)]
pub struct Service {
    child: Child,
    env: HashMap<String, String>,
    pub logs: Arc<Mutex<Vec<String>>>,
    pub address: String,
}

impl Service {
    /// Starts the binary with `env` on a port it picks itself and waits for `/healthz`.
    pub async fn start(env: &HashMap<String, String>) -> Self {
        let mut child = Command::new(binary())
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .envs(env)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start sfn-results");
        let logs = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = mpsc::channel();
        let stdout = child.stdout.take().expect("piped stdout");
        let sink = Arc::clone(&logs);
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Ok(entry) = serde_json::from_str::<Value>(&line) {
                    if let Some(address) = entry["fields"]["address"].as_str() {
                        let _ = tx.send(address.to_owned());
                    }
                }
                sink.lock().expect("log lock").push(line);
            }
        });
        let address = rx
            .recv_timeout(Duration::from_secs(20))
            .expect("sfn-results logs the address it listens on");
        let service = Self {
            child,
            env: env.clone(),
            logs,
            address: format!("http://{address}"),
        };
        let client = reqwest::Client::new();
        let started = Instant::now();
        loop {
            let health = client
                .get(format!("{}/healthz", service.address))
                .send()
                .await;
            if matches!(&health, Ok(r) if r.status() == 200) {
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "no /healthz answer"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        service
    }

    /// Starts the binary under a Lambda runtime API (`AWS_LAMBDA_RUNTIME_API` in `env`).
    pub fn start_lambda(env: &HashMap<String, String>) -> Self {
        let mut child = Command::new(binary())
            .env_clear()
            .envs(env)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start sfn-results");
        let logs = Arc::new(Mutex::new(Vec::new()));
        let stdout = child.stdout.take().expect("piped stdout");
        let sink = Arc::clone(&logs);
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                sink.lock().expect("log lock").push(line);
            }
        });
        Self {
            child,
            env: env.clone(),
            logs,
            address: String::new(),
        }
    }

    /// Resident memory of the process, in KiB.
    pub fn rss_kib(&self) -> u64 {
        std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .unwrap_or_default()
            .lines()
            .find_map(|line| line.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0)
    }

    pub fn log_text(&self) -> String {
        self.logs.lock().expect("log lock").join("\n")
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Environment every run of the binary gets: loopback only, no instance metadata.
pub fn base_env(sfn_endpoint: &str, ddb_endpoint: &str) -> HashMap<String, String> {
    [
        ("AWS_REGION", REGION),
        ("AWS_ACCESS_KEY_ID", "test"),
        ("AWS_SECRET_ACCESS_KEY", "test"),
        ("AWS_EC2_METADATA_DISABLED", "true"),
        ("AWS_ENDPOINT_URL_SFN", sfn_endpoint),
        ("AWS_ENDPOINT_URL_DYNAMODB", ddb_endpoint),
        ("AWS_LAMBDA_LOG_FORMAT", "json"),
        ("LISTEN_ADDR", "127.0.0.1:0"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}

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
            let greeting = env["ALLOWED_STATE_MACHINES"]
                .split(',')
                .next()
                .unwrap_or_default()
                .to_owned();
            env.insert("START_STATE_MACHINE".into(), greeting);
            if let Some(seconds) = max_wait_seconds {
                env.insert("MAX_WAIT_SECONDS".into(), seconds.to_string());
            }
        })
        .await
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
        let env = self.service.env.clone();
        self.service = Service::start(&env).await;
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
                started.elapsed() < Duration::from_secs(5),
                "{arn} was never stored"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The cache item's `document` attribute, if the table holds one for `arn`.
    pub async fn cached_document(&self, arn: &str) -> Option<String> {
        let item = self
            .ddb
            .get_item()
            .table_name(&self.table)
            .key(
                "executionArn",
                aws_sdk_dynamodb::types::AttributeValue::S(arn.to_owned()),
            )
            .consistent_read(true)
            .send()
            .await
            .expect("get item")
            .item?;
        item.get("document")?.as_s().ok().cloned()
    }
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
