"""Webhook endpoints' own rules through up.sh's gateway: a host that resolves to a refused
address is never connected to, a bad registration is refused and changes nothing, unknown ids are
404, and no GET ever answers a secret.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import tempfile
import threading
import time
import uuid
from pathlib import Path

import pytest
from webhook_support import (
    ACCOUNT_REGION,
    GREETING,
    PATIENCE,
    PROBLEM,
    REJECTED,
    free_port,
    items,
    receiving,
    settle,
    start,
    wait_received,
)

from conftest import ROOT


# ---------------------------------------------------------------- refused addresses


@pytest.fixture(scope="module")
def strict(local):
    """A second sfn-results on the same emulator as deployed: loopback endpoints not allowed.

    Its own results table, webhooks table and queue, so it alone fans out what it reads.
    """
    bootstrap = subprocess.run(
        [str(ROOT / ".venv/bin/python"), str(ROOT / "infra/local/bootstrap.py"), "--endpoint", local.emulator,
         "--table", "strict-results", "--webhooks-table", "strict-webhooks", "--queue", "strict-deliveries"],
        capture_output=True, text=True, check=True)
    made = dict(line.split("=", 1) for line in bootstrap.stdout.split())
    port = free_port()
    env = dict(os.environ, RESULTS_TABLE=made["RESULTS_TABLE"], ALLOWED_STATE_MACHINES=f"{GREETING},{REJECTED}",
               WEBHOOKS_TABLE=made["WEBHOOKS_TABLE"], DELIVERY_QUEUE_URL=made["DELIVERY_QUEUE_URL"],
               PUBLIC_BASE_URL=f"http://127.0.0.1:{port}", WEBHOOK_RETRY_SCHEDULE="1", RECONCILE_SECONDS="0",
               AWS_ENDPOINT_URL_SFN=local.emulator, AWS_ENDPOINT_URL_DYNAMODB=local.emulator,
               AWS_ENDPOINT_URL_SQS=local.emulator, LISTEN_ADDR=f"127.0.0.1:{port}")
    env.pop("WEBHOOK_ALLOW_LOOPBACK", None)
    log = tempfile.NamedTemporaryFile("w+", prefix="strict-", suffix=".log", delete=False)
    process = subprocess.Popen([str(ROOT / "target/debug/sfn-results")], env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while not (_up(base) and local.request("GET", "/healthz", base=base, timeout=2).status == 200):
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"the strict sfn-results did not start:\n{Path(log.name).read_text()}")
            time.sleep(0.1)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=10)
        os.unlink(log.name)


def _up(base: str) -> bool:
    with contextlib.suppress(OSError):
        with socket.create_connection(("127.0.0.1", int(base.rsplit(":", 1)[1])), timeout=1):
            return True
    return False


class Listener:
    """Accepts and counts connections on an address: proves none was made."""

    def __init__(self, host: str):
        self.sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
        self.sock.bind((host, 0))
        self.sock.listen(8)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.connections = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        while not self.stop.is_set():
            with contextlib.suppress(OSError):
                conn, _ = self.sock.accept()
                self.connections += 1
                conn.close()

    def close(self):
        self.stop.set()
        self.thread.join()
        self.sock.close()


def test_a_host_that_resolves_to_a_refused_address_is_never_connected_to(local, strict):
    """The machine's own hostname resolves (in /etc/hosts) to its loopback or private address."""
    host = socket.gethostname()
    address = socket.getaddrinfo(host, None, socket.AF_INET)[0][4][0]
    listener = Listener(address)
    try:
        answer = local.post_json("/webhooks", json.dumps({"url": f"https://{host}:{listener.port}/x"}),
                                 base=strict)
        if answer.status == 400:
            # Refused at registration already, the name resolved there: fine, and nothing stored.
            assert answer.headers["content-type"] == PROBLEM
            assert address in answer.json()["detail"] or host in answer.json()["detail"]
        else:
            assert answer.status == 201, answer.body
            endpoint = answer.json()
            arn = start(local)
            settle(local, arn, base=strict)
            deadline = time.monotonic() + PATIENCE
            while True:
                listed = local.request("GET", f"/webhooks/{endpoint['id']}/deliveries", base=strict).json()
                found = [d for d in items(listed) if d["executionArn"] == arn]
                if found and found[0]["status"] in ("dead", "failed"):
                    break
                assert time.monotonic() < deadline, found
                time.sleep(0.2)
            delivery = found[0]
            print(f"{host} -> {address}: {delivery['lastError']}")
            assert address in delivery["lastError"], delivery
            assert delivery["lastStatusCode"] is None
            local.request("DELETE", f"/webhooks/{endpoint['id']}", base=strict)
        assert listener.connections == 0, "a connection reached the refused address"
    finally:
        listener.close()


# ---------------------------------------------------------------- registrations


BAD_REGISTRATIONS = [
    ("not https", 400, {"url": "http://example.com/hook"}),
    ("userinfo", 400, {"url": "https://user:pass@example.com/hook"}),
    ("private IP literal", 400, {"url": "https://10.0.0.7/hook"}),
    ("link-local metadata literal", 400, {"url": "https://169.254.169.254/latest"}),
    ("IPv6 unique-local literal", 400, {"url": "https://[fd00::1]/hook"}),
    ("unknown state machine", 422, {"url": "https://example.com/hook",
                                    "stateMachines": [f"arn:aws:states:{ACCOUNT_REGION}:stateMachine:nope"]}),
    ("unknown status", 400, {"url": "https://example.com/hook", "statuses": ["RUNNING"]}),
    ("no url", 400, {"description": "nothing to call"}),
]


def endpoint_ids(local) -> list[str]:
    answer = local.request("GET", "/webhooks")
    assert answer.status == 200, answer.body
    return sorted(e["id"] for e in items(answer.json()))


@pytest.mark.parametrize("why,status,body", BAD_REGISTRATIONS, ids=[w for w, _, _ in BAD_REGISTRATIONS])
def test_a_bad_registration_is_refused_and_changes_nothing(local, why, status, body):
    before = endpoint_ids(local)
    answer = local.post_json("/webhooks", json.dumps(body))
    assert answer.status == status, (why, answer.body)
    assert answer.headers["content-type"] == PROBLEM
    assert "secret" not in answer.json()
    assert endpoint_ids(local) == before


def test_an_oversize_or_malformed_registration_is_refused_and_changes_nothing(local):
    before = endpoint_ids(local)
    huge = json.dumps({"url": "https://example.com/hook", "description": "x" * (1024 * 1024)})
    assert local.post_json("/webhooks", huge).status == 413
    assert local.post_json("/webhooks", "{not json").status == 400
    assert endpoint_ids(local) == before


def test_unknown_ids_answer_404_and_change_nothing(local, hooks):
    before = endpoint_ids(local)
    unknown = "wh_" + uuid.uuid4().hex
    for method, path in (("GET", f"/webhooks/{unknown}"), ("DELETE", f"/webhooks/{unknown}"),
                         ("POST", f"/webhooks/{unknown}/secret"), ("GET", f"/webhooks/{unknown}/deliveries"),
                         ("POST", f"/webhooks/{unknown}/deliveries/msg_nope/retry")):
        answer = local.request(method, path)
        assert answer.status == 404, (method, path, answer.body)
        assert answer.headers["content-type"] == PROBLEM
    with receiving([]) as receiver:
        endpoint = hooks.register(receiver.url)
        answer = local.request("POST", f"/webhooks/{endpoint['id']}/deliveries/msg_{uuid.uuid4().hex}/retry")
        assert answer.status == 404, answer.body
    assert endpoint_ids(local) == sorted(before + [endpoint["id"]])


def test_secrets_never_appear_in_what_get_answers(local, hooks):
    with receiving([]) as receiver:
        one = hooks.register(receiver.url + "/1", description="one")
        two = hooks.register(receiver.url + "/2", stateMachines=[GREETING], statuses=["SUCCEEDED", "FAILED"])
        rotated = local.request("POST", f"/webhooks/{two['id']}/secret").json()["secret"]
        receiver.set_secrets([one["secret"], two["secret"], rotated])
        arn = start(local)
        settle(local, arn)
        wait_received(receiver, arn, 2)
        secrets = [one["secret"], two["secret"], rotated]
        bodies = [local.request("GET", "/webhooks").body]
        for endpoint in (one, two):
            bodies.append(local.request("GET", f"/webhooks/{endpoint['id']}").body)
            bodies.append(local.request("GET", f"/webhooks/{endpoint['id']}/deliveries").body)
            listed = hooks.endpoint(endpoint["id"])
            assert listed["url"] == endpoint["url"] and "secret" not in listed and "secrets" not in listed
        for body in bodies:
            for secret in secrets:
                assert secret.encode() not in body and secret.removeprefix("whsec_").encode() not in body
