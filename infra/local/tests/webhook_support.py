"""What the webhook tests share: registering endpoints through the local gateway (and deleting
them after a test: conftest's `hooks` fixture), starting and settling executions, and reading what
a receiver (infra/local/receiver.py, in a thread of the test process) got.

up.sh gets a retry schedule of seconds (conftest.SERVICE_ENV), and each stop is made known at once
by a `?wait=` read (reconcile would find it within a second).
"""

from __future__ import annotations

import contextlib
import json
import socket
import time
import urllib.parse
import uuid

import pytest
from receiver import Receiver, Script

from conftest import SERVICE_ENV


PROBLEM = "application/problem+json"
SCHEDULE = [int(s) for s in SERVICE_ENV["WEBHOOK_RETRY_SCHEDULE"].split(",")]
ACCOUNT_REGION = "us-east-1:123456789012"
GREETING = f"arn:aws:states:{ACCOUNT_REGION}:stateMachine:greeting"
REJECTED = f"arn:aws:states:{ACCOUNT_REGION}:stateMachine:rejected"
EXPRESS = f"arn:aws:states:{ACCOUNT_REGION}:stateMachine:hello"
# Long enough for the schedule above, its jitter and the worker's polling; never a speed claim.
PATIENCE = 30.0


def items(body) -> list[dict]:
    """A list answer, bare or under "items"."""
    return body["items"] if isinstance(body, dict) else body


def is_disabled(endpoint: dict) -> bool:
    return endpoint.get("disabled") is True or endpoint.get("enabled") is False or \
        endpoint.get("status") == "disabled"


class Hooks:
    """Registers endpoints for one test and deletes them after it, so no later stop reaches them."""

    def __init__(self, local):
        self.local = local
        self.ids: list[str] = []

    def register(self, url: str, **fields) -> dict:
        answer = self.local.post_json("/webhooks", json.dumps({"url": url, **fields}))
        assert answer.status == 201, answer.body
        endpoint = answer.json()
        self.ids.append(endpoint["id"])
        # Relative or absolute, it resolves to the endpoint's own URL.
        location = urllib.parse.urljoin(f"{self.local.api}/webhooks", answer.headers["location"])
        assert location == f"{self.local.api}/webhooks/{endpoint['id']}"
        assert endpoint["secret"].startswith("whsec_")
        return endpoint

    def endpoint(self, endpoint_id: str) -> dict:
        answer = self.local.request("GET", f"/webhooks/{endpoint_id}")
        assert answer.status == 200, answer.body
        return answer.json()

    def deliveries(self, endpoint_id: str) -> list[dict]:
        answer = self.local.request("GET", f"/webhooks/{endpoint_id}/deliveries")
        assert answer.status == 200, answer.body
        return items(answer.json())

    def delivery_of(self, endpoint_id: str, execution_arn: str, until=None, timeout: float = PATIENCE) -> dict:
        """The endpoint's delivery of this execution, once `until(delivery)` holds."""
        deadline = time.monotonic() + timeout
        while True:
            found = [d for d in self.deliveries(endpoint_id) if d["executionArn"] == execution_arn]
            if found and (until is None or until(found[0])):
                assert len(found) == 1, found
                return found[0]
            if time.monotonic() > deadline:
                pytest.fail(f"no such delivery of {execution_arn} to {endpoint_id}: {found}")
            time.sleep(0.2)

    def cleanup(self):
        for endpoint_id in self.ids:
            self.local.request("DELETE", f"/webhooks/{endpoint_id}")




@contextlib.contextmanager
def receiving(secrets, script: Script | None = None, port: int = 0):
    with Receiver(secrets, port, script) as receiver:
        yield receiver


def start(local, body: dict | None = None, machine: str = GREETING) -> str:
    """Starts an execution that stops at once (unless body says otherwise); its ARN."""
    name = f"hook-{uuid.uuid4().hex[:12]}"
    if machine == GREETING:
        payload = json.dumps(body if body is not None else {"name": "Ada", "echo": 1, "delaySeconds": 0})
        answer = local.post_json(f"/executions?name={name}", payload)
        assert answer.status == 202, answer.body
        return answer.json()["executionArn"]
    return local.sfn().start_execution(stateMachineArn=machine, name=name, input="{}")["executionArn"]


def settle(local, arn: str, base: str | None = None) -> dict:
    """Reads the execution until it stopped: the read stores it, and storing fans it out. As a
    client should, it comes back after a 503's Retry-After (the emulator can be slower than Step
    Functions' timeouts on a busy machine), a few times."""
    for _ in range(4):
        answer = local.request("GET", f"/executions/{arn}?wait=20", base=base)
        if answer.status != 503:
            break
        time.sleep(float(answer.headers.get("retry-after", "1")))
    assert answer.status == 200, answer.body
    return answer.json()


def of(receiver: Receiver, arn: str) -> list:
    return [r for r in receiver.snapshot() if r.payload and r.payload["data"]["executionArn"] == arn]


def wait_received(receiver: Receiver, arn: str, count: int = 1, timeout: float = PATIENCE) -> list:
    receiver.wait_for(lambda got: len([r for r in got if r.payload and r.payload["data"]["executionArn"] == arn])
                      >= count, timeout)
    return of(receiver, arn)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
