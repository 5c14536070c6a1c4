"""The local environment for these tests: infra/local/up.sh itself, on free loopback ports.

One session starts up.sh with LISTEN_ADDR=127.0.0.1:0 (the README's command 1, as a user runs
it) and WORKFLOW_DIRS naming tests/workflows/ (two workflows beside the samples), reads the
addresses from what it prints, and stops it with SIGTERM at the end (up.sh stops
what it started). Tests talk HTTP to the API it serves, and boto3 to the emulator only to read
back what reached Step Functions.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import boto3
import pytest

ROOT = Path(__file__).resolve().parents[3]
for shared in ("infra/api", "infra/checks", "infra/local"):
    sys.path.insert(0, str(ROOT / shared))
os.environ.update(AWS_EC2_METADATA_DISABLED="true", AWS_REGION="us-east-1", AWS_DEFAULT_REGION="us-east-1",
                  AWS_ACCESS_KEY_ID="test", AWS_SECRET_ACCESS_KEY="test")
# A cold cargo build is part of up.sh on a fresh clone.
START_TIMEOUT = float(os.environ.get("LOCAL_API_START_TIMEOUT", "900"))
# What up.sh passes on to sfn-results for the webhook tests: a retry schedule of seconds rather
# than hours, and a reconcile every second so stops are learned (and fanned out) quickly.
# Either can be set from outside; the other tests do not depend on them.
SERVICE_ENV = {
    "WEBHOOK_RETRY_SCHEDULE": os.environ.get("WEBHOOK_RETRY_SCHEDULE", "1,1,1"),
    "RECONCILE_SECONDS": os.environ.get("RECONCILE_SECONDS", "1"),
}
# A folder of workflows as a team brings its own: up.sh serves them beside infra/state-machines/.
WORKFLOW_DIR = ROOT / "infra/local/tests/workflows"


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: waits out a timeout (about 30 s); deselect with -m 'not slow'")


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self):
        return json.loads(self.body)


@dataclass
class Local:
    api: str
    service: str
    emulator: str
    runtime: str
    banner: str
    log: str = ""

    def log_lines(self, *needles: str, limit: int = 40) -> str:
        """The last lines of up.sh's log (the service's included) holding any of `needles`."""
        lines = [line for line in Path(self.log).read_text(errors="replace").splitlines()
                 if any(n in line for n in needles)] if self.log else []
        return "\n".join(lines[-limit:])

    def request(self, method: str, path: str, body: bytes | str | None = None, headers: dict | None = None,
                base: str | None = None, timeout: float = 60) -> Response:
        data = body.encode("utf-8") if isinstance(body, str) else body
        url = path if path.startswith("http") else (base or self.api) + path
        request = urllib.request.Request(url, data=data, method=method, headers=headers or {})
        try:
            with urllib.request.urlopen(request, timeout=timeout) as answer:
                return Response(answer.status, {k.lower(): v for k, v in answer.headers.items()}, answer.read())
        except urllib.error.HTTPError as error:
            return Response(error.code, {k.lower(): v for k, v in error.headers.items()}, error.read())

    def post_json(self, path: str, body: bytes | str, **kwargs) -> Response:
        return self.request("POST", path, body, {"Content-Type": "application/json"}, **kwargs)

    def sfn(self):
        return boto3.client("stepfunctions", endpoint_url=self.emulator)


@pytest.fixture(scope="session")
def local():
    log = tempfile.NamedTemporaryFile("w+", prefix="up-", suffix=".log", delete=False)
    env = dict(os.environ, LISTEN_ADDR="127.0.0.1:0", WORKFLOW_DIRS=str(WORKFLOW_DIR), **SERVICE_ENV)
    # A session of its own: whatever up.sh started goes with it at the end, even if up.sh is killed.
    process = subprocess.Popen([str(ROOT / "infra/local/up.sh")], stdout=log, stderr=subprocess.STDOUT, env=env,
                               start_new_session=True)
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            text = Path(log.name).read_text()
            if "Ctrl-C stops everything" in text:
                break
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"up.sh did not come up:\n{text}")
            time.sleep(0.2)
        found = {k: re.search(rf"^  {k} +(http://\S+)", text, re.M).group(1)
                 for k in ("api", "service", "emulator", "runtime")}
        yield Local(found["api"], found["service"], found["emulator"], found["runtime"], text, log.name)
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        os.unlink(log.name)


@pytest.fixture
def hooks(local):
    """Webhook endpoints registered for one test and deleted after it (webhook_support.Hooks)."""
    from webhook_support import Hooks

    registered = Hooks(local)
    try:
        yield registered
    finally:
        registered.cleanup()
