"""Fixtures for the mapping-template checks: a moto server on a free 127.0.0.1 port."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# The Velocity renderer and the definition reader are shared with the local gateway.
sys.path.insert(0, str(ROOT / "infra" / "api"))
MACHINES = ROOT / "infra" / "state-machines"
REGION = os.environ.setdefault("AWS_REGION", "us-east-1")
os.environ.setdefault("AWS_DEFAULT_REGION", REGION)
os.environ.setdefault("AWS_ACCESS_KEY_ID", "test")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "test")
os.environ.setdefault("AWS_EC2_METADATA_DISABLED", "true")
ROLE = "arn:aws:iam::123456789012:role/api-sfn-checks"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Emulator:
    """A Step Functions endpoint (moto) that takes raw JSON 1.0 requests."""

    def __init__(self, url: str):
        self.url = url

    def call(self, action: str, body: str | bytes) -> tuple[int, str]:
        data = body.encode("utf-8") if isinstance(body, str) else body
        request = urllib.request.Request(
            self.url + "/",
            data=data,
            method="POST",
            headers={
                "Content-Type": "application/x-amz-json-1.0",
                "X-Amz-Target": f"AWSStepFunctions.{action}",
                # moto reads the region and service from the credential scope; it checks no signature.
                "Authorization": f"AWS4-HMAC-SHA256 Credential=test/20260101/{REGION}/states/aws4_request, "
                "SignedHeaders=host, Signature=0",
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status, response.read().decode("utf-8")
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode("utf-8")

    def json(self, action: str, payload: dict) -> dict:
        status, text = self.call(action, json.dumps(payload))
        assert status == 200, f"{action} answered {status}: {text}"
        return json.loads(text)

    def create_machine(self, name: str, definition: Path, kind: str) -> str:
        answer = self.json(
            "CreateStateMachine",
            {"name": name, "definition": definition.read_text(encoding="utf-8"), "roleArn": ROLE, "type": kind},
        )
        return answer["stateMachineArn"]

    def describe(self, execution_arn: str) -> dict:
        return self.json("DescribeExecution", {"executionArn": execution_arn})

    def wait_final(self, execution_arn: str, timeout: float = 20.0) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            described = self.describe(execution_arn)
            if described["status"] != "RUNNING" or time.monotonic() > deadline:
                return described
            time.sleep(0.1)


@pytest.fixture(scope="session")
def emulator():
    port = _free_port()
    server = ROOT / ".venv-checks" / "bin" / "moto_server"
    command = [str(server) if server.exists() else sys.executable, "-H", "127.0.0.1", "-p", str(port)]
    if not server.exists():
        command[1:1] = ["-m", "moto.server"]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(url + "/moto-api/", timeout=2):
                    break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("moto server did not start") from None
                time.sleep(0.2)
        # Make moto run the definitions (see EMULATORS.md); before creating any machine.
        switch = urllib.request.Request(
            url + "/moto-api/config",
            data=json.dumps({"stepfunctions": {"execute_state_machine": True}}).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        urllib.request.urlopen(switch, timeout=10).close()
        yield Emulator(url)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="session")
def machines(emulator):
    return {
        "standardStateMachineArn": emulator.create_machine("Greeting", MACHINES / "greeting.asl.json", "STANDARD"),
        "expressStateMachineArn": emulator.create_machine("Express", MACHINES / "hello.express.asl.json", "EXPRESS"),
        "rejected": emulator.create_machine("Rejected", MACHINES / "rejected.asl.json", "STANDARD"),
    }
