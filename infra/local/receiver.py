"""A webhook receiver for the local environment: verifies each delivery and prints it.

Listens on 127.0.0.1 (port 0 picks a free one), prints `READY <port>`, then one JSON line per
request it gets:

    {"webhook-id": "msg_…", "type": "execution.succeeded", "executionArn": "…", "status": "SUCCEEDED",
     "verified": true, "secret": 0, "secrets": [0], "answered": 200, "seen": 1, "timestamp": 1795886290}

Signatures are checked with the Standard Webhooks package (`standardwebhooks`, the reference
implementation), against every secret given (`--secret` more than once during a rotation):
`secret` is the index of the first that verified (null: none did), `secrets` all that did.
`seen` counts the requests with this webhook-id so far (retries share the id).

For tests and demos it answers a scripted sequence, one entry per request, then 200:
  --answers 500,500,200      statuses in order
  --answers 429,200 --retry-after 3   Retry-After on 429 and 503 answers
  --answers hang,200 --hang 20        `hang` holds the request 20 s, then answers 200

    .venv/bin/python infra/local/receiver.py --port 8899 --secret whsec_…
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from standardwebhooks.webhooks import Webhook, WebhookVerificationError


@dataclass
class Received:
    """One request as the receiver saw it."""

    webhook_id: str | None
    timestamp: str | None
    signature: str | None
    body: bytes
    path: str
    at: float
    verified_by: list[int]
    answered: int
    seen: int
    payload: dict | None = None

    @property
    def verified(self) -> bool:
        return bool(self.verified_by)

    def line(self) -> dict:
        data = (self.payload or {}).get("data") or {}
        return {
            "webhook-id": self.webhook_id,
            "type": (self.payload or {}).get("type"),
            "executionArn": data.get("executionArn"),
            "status": data.get("status"),
            "verified": self.verified,
            "secret": self.verified_by[0] if self.verified_by else None,
            "secrets": self.verified_by,
            "answered": self.answered,
            "seen": self.seen,
            "timestamp": int(self.timestamp) if (self.timestamp or "").isdigit() else self.timestamp,
        }


def verify(secrets: list[str], body: bytes, headers: dict[str, str]) -> list[int]:
    """Indexes of the secrets whose signature the headers carry, checked by `standardwebhooks`."""
    matched = []
    for index, secret in enumerate(secrets):
        try:
            Webhook(secret).verify(body, headers)
        except (WebhookVerificationError, ValueError):
            continue
        matched.append(index)
    return matched


@dataclass
class Script:
    """What to answer: `answers` in order (a status or "hang"), then `then`."""

    answers: list[str] = field(default_factory=list)
    then: int = 200
    retry_after: int | None = None
    hang_seconds: float = 30.0


class Receiver:
    """The server, usable in-process (tests) as well as from the command line."""

    def __init__(self, secrets: list[str], port: int = 0, script: Script | None = None,
                 echo: bool = False):
        self.secrets = list(secrets)
        self.script = script or Script()
        self.echo = echo
        self.lock = threading.Lock()
        self.received: list[Received] = []
        self.arrived = threading.Condition(self.lock)
        self.server = ThreadingHTTPServer(("127.0.0.1", port), self._handler())
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> "Receiver":
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def __enter__(self) -> "Receiver":
        return self.start()

    def __exit__(self, *_) -> None:
        self.stop()

    def set_secrets(self, secrets: list[str]) -> None:
        with self.lock:
            self.secrets = list(secrets)

    def snapshot(self) -> list[Received]:
        with self.lock:
            return list(self.received)

    def wait_for(self, predicate, timeout: float) -> list[Received]:
        """Waits until predicate(received so far) holds or timeout passes; returns what arrived."""
        deadline = time.monotonic() + timeout
        with self.arrived:
            while not predicate(self.received):
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self.arrived.wait(min(left, 0.5))
            return list(self.received)

    def _next_answer(self) -> str:
        with self.lock:
            if self.script.answers:
                return self.script.answers.pop(0)
            return str(self.script.then)

    def _record(self, handler: BaseHTTPRequestHandler, body: bytes, answered: int) -> Received:
        headers = {k.lower(): v for k, v in handler.headers.items()}
        with self.lock:
            secrets = list(self.secrets)
        verified_by = verify(secrets, body, headers)
        try:
            payload = json.loads(body)
        except ValueError:
            payload = None
        with self.arrived:
            webhook_id = headers.get("webhook-id")
            seen = 1 + sum(1 for r in self.received if r.webhook_id == webhook_id)
            item = Received(webhook_id, headers.get("webhook-timestamp"), headers.get("webhook-signature"),
                            body, handler.path, time.time(), verified_by, answered, seen,
                            payload if isinstance(payload, dict) else None)
            self.received.append(item)
            self.arrived.notify_all()
        if self.echo:
            print(json.dumps(item.line()), flush=True)
        return item

    def _handler(self):
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):  # noqa: N802 (http.server's naming)
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                answer = receiver._next_answer()
                if answer == "hang":
                    receiver._record(self, body, 0)
                    time.sleep(receiver.script.hang_seconds)
                    status = 200
                else:
                    status = int(answer)
                    receiver._record(self, body, status)
                reply = b'{"ok": true}' if 200 <= status < 300 else b'{"ok": false}'
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(reply)))
                    if status in (429, 503) and receiver.script.retry_after is not None:
                        self.send_header("Retry-After", str(receiver.script.retry_after))
                    self.end_headers()
                    self.wfile.write(reply)
                except OSError:
                    pass  # the sender gave up (a hang past its timeout)

            def log_message(self, *_):
                pass

        return Handler


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1; 0 picks a free one")
    parser.add_argument("--secret", action="append", required=True,
                        help="whsec_… as POST /webhooks answered it; repeat during a rotation")
    parser.add_argument("--answers", default="", help="comma-separated statuses (or `hang`), in order")
    parser.add_argument("--then", type=int, default=200, help="status once the answers are used up")
    parser.add_argument("--retry-after", type=int, help="seconds, sent with 429 and 503 answers")
    parser.add_argument("--hang", type=float, default=30.0, help="seconds a `hang` answer holds the request")
    args = parser.parse_args()
    answers = [a.strip() for a in args.answers.split(",") if a.strip()]
    for answer in answers:
        if answer != "hang" and not (answer.isdigit() and 100 <= int(answer) <= 599):
            parser.error(f"--answers: {answer!r} is neither a status nor `hang`")
    script = Script(answers, args.then, args.retry_after, args.hang)
    receiver = Receiver(args.secret, args.port, script, echo=True)
    print(f"READY {receiver.port}", flush=True)
    try:
        receiver.server.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
