"""infra/local/receiver.py as a user runs it: READY, one JSON line per request, the scripted answers.

Requests are signed here with the Standard Webhooks package itself, so a receiver that reads
the headers wrongly, or verifies what it should not, fails these.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from datetime import datetime, timezone

from standardwebhooks.webhooks import Webhook

from conftest import ROOT


def new_secret() -> str:
    return "whsec_" + base64.b64encode(os.urandom(32)).decode()


def post(port: int, webhook_id: str, body: str, signature: str, timestamp: datetime) -> tuple[int, dict]:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/hooks", body.encode(), method="POST",
        headers={"content-type": "application/json", "webhook-id": webhook_id,
                 "webhook-timestamp": str(int(timestamp.timestamp())), "webhook-signature": signature})
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status, dict(answer.headers)
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers)


def test_the_receiver_verifies_with_each_secret_and_answers_its_script():
    old, new, stranger = new_secret(), new_secret(), new_secret()
    process = subprocess.Popen(
        [sys.executable, str(ROOT / "infra/local/receiver.py"), "--port", "0", "--secret", old, "--secret", new,
         "--answers", "500,429", "--retry-after", "7"],
        stdout=subprocess.PIPE, text=True)
    try:
        ready = process.stdout.readline().split()
        assert ready[0] == "READY"
        port = int(ready[1])
        body = json.dumps({"type": "execution.failed", "timestamp": "2026-11-28T17:18:10.030Z",
                           "data": {"executionArn": "arn:aws:states:us-east-1:123456789012:execution:m:n",
                                    "status": "FAILED"}})
        now = datetime.now(tz=timezone.utc)
        both = f"{Webhook(old).sign('msg_1', now, body)} {Webhook(new).sign('msg_1', now, body)}"
        answers = [post(port, "msg_1", body, both, now) for _ in range(3)]
        answers.append(post(port, "msg_2", body, Webhook(stranger).sign("msg_2", now, body), now))
        answers.append(post(port, "msg_3", body + " ", Webhook(new).sign("msg_3", now, body), now))
        stale = datetime.fromtimestamp(time.time() - 600, tz=timezone.utc)
        answers.append(post(port, "msg_4", body, Webhook(new).sign("msg_4", stale, body), stale))
        lines = [json.loads(process.stdout.readline()) for _ in answers]
    finally:
        process.terminate()
        process.wait(timeout=10)
    assert [status for status, _ in answers] == [500, 429, 200, 200, 200, 200]
    assert answers[1][1].get("Retry-After") == "7" and "Retry-After" not in answers[0][1]
    first = lines[0]
    assert first["webhook-id"] == "msg_1" and first["type"] == "execution.failed"
    assert first["executionArn"].endswith(":execution:m:n") and first["status"] == "FAILED"
    assert [(x["verified"], x["secret"], x["secrets"], x["seen"]) for x in lines[:3]] == \
        [(True, 0, [0, 1], n) for n in (1, 2, 3)]
    assert [x["answered"] for x in lines] == [500, 429, 200, 200, 200, 200]
    # Another endpoint's secret, a body changed after signing, a timestamp 10 minutes old.
    assert [(x["verified"], x["secret"]) for x in lines[3:]] == [(False, None)] * 3
