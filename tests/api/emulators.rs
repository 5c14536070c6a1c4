//! Real AWS-API emulators (moto servers) started on free loopback ports for the tests.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::OnceLock;

/// The repository root (this crate lives in `tests/`).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
}

fn python() -> PathBuf {
    let python = std::env::var_os("EMULATOR_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join(".venv/bin/python"));
    assert!(
        python.exists(),
        "no emulator venv at {}: run infra/local/test.sh (or infra/local/venv.sh) first",
        python.display()
    );
    python
}

/// One moto server process; killed when dropped, and it exits by itself if this process dies.
#[derive(Debug)]
pub struct Emulator {
    child: Option<Child>,
    _stdin: Option<ChildStdin>,
    pub port: u16,
}

impl Emulator {
    pub fn start() -> Self {
        Self::start_on(0)
    }

    /// Starts on `port` (0: any free port) and waits until it answers.
    pub fn start_on(port: u16) -> Self {
        let script = repo_root().join("infra/local/emulator.py");
        let mut child = Command::new(python())
            .arg(script)
            .args(["--port", &port.to_string(), "--exit-on-eof"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start the emulator");
        let stdout = child.stdout.take().expect("piped stdout");
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("read the emulator's READY line");
        let port = line
            .trim()
            .strip_prefix("READY ")
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("emulator did not start: {line:?}"));
        let stdin = child.stdin.take();
        Self {
            child: Some(child),
            _stdin: stdin,
            port,
        }
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Kills the process: the service behind this endpoint is gone.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        self._stdin = None;
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        self.stop();
    }
}

/// One emulator shared by the tests that never stop it; each test uses its own names in it.
pub fn shared() -> &'static Emulator {
    static SHARED: OnceLock<Emulator> = OnceLock::new();
    SHARED.get_or_init(Emulator::start)
}
