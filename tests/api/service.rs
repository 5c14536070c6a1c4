//! The real `sfn-results` binary as a child process: started, watched, restarted, killed.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::upstream::REGION;

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
    /// A fresh process with the same environment (an empty memory, like a new Lambda instance).
    pub async fn restarted(&self) -> Self {
        Self::start(&self.env).await
    }

    /// Spawns the binary with exactly `env`; a thread keeps its log lines and sends the address
    /// it reports listening on.
    fn spawn(env: &HashMap<String, String>) -> (Self, mpsc::Receiver<String>) {
        let mut child = Command::new(binary())
            .env_clear()
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
        let service = Self {
            child,
            env: env.clone(),
            logs,
            address: String::new(),
        };
        (service, rx)
    }

    /// Starts the binary with `env` on a port it picks itself and waits for `/healthz`.
    pub async fn start(env: &HashMap<String, String>) -> Self {
        let (mut service, address) = Self::spawn(env);
        let address = address
            .recv_timeout(Duration::from_secs(20))
            .expect("sfn-results logs the address it listens on");
        service.address = format!("http://{address}");
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
                started.elapsed() < Duration::from_secs(60),
                "no /healthz answer"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        service
    }

    /// Starts the binary under a Lambda runtime API (`AWS_LAMBDA_RUNTIME_API` in `env`).
    pub fn start_lambda(env: &HashMap<String, String>) -> Self {
        Self::spawn(env).0
    }

    /// The environment it was started with.
    pub fn env(&self) -> &HashMap<String, String> {
        &self.env
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

    /// Sends SIGTERM, as a process manager stopping the server does.
    pub fn terminate(&self) {
        let sent = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(sent.success(), "kill -TERM {}", self.child.id());
    }

    /// How the process ended, if it did within `within`.
    pub fn exit_within(&mut self, within: Duration) -> Option<std::process::ExitStatus> {
        let started = Instant::now();
        while started.elapsed() < within {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
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
        // Reconcile would store results no test asked for and spend calls tests count; the
        // tests of reconcile turn it on.
        ("RECONCILE_SECONDS", "0"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}
