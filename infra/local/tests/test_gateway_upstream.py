"""The local gateway relays what its upstream answers, even when the upstream answers before it
has taken the whole request body and closes the connection (as sfn-results does for a body over
its limit, and hyper does for any request it refuses early).

No up.sh here: the gateway runs against a tiny upstream started by the test, which answers as
soon as it has read a request's head, never reads the body, and closes. A small receive buffer
on the upstream and a body of several MiB make sure the gateway cannot have handed the whole
body to its kernel before the upstream closes: however the timing falls, the gateway meets the
answer while it is still writing (a readable socket, or a write that fails with EPIPE/ECONNRESET).
"""

from __future__ import annotations

import http.client
import json
import socket
import subprocess
import sys
import threading
from contextlib import contextmanager

from conftest import ROOT

# Over any loopback send buffer the kernel grants (tcp_wmem's maximum is 4 MiB by default),
# under API Gateway's 10 MB request limit.
BODY_BYTES = 9 * 1024 * 1024
MACHINE = "arn:aws:states:us-east-1:123456789012:stateMachine:greeting"


class EarlyAnswerer:
    """Answers each request with `status` and `body` right after its head, then closes."""

    def __init__(self, status: int, body: bytes, content_type: str):
        self.answer = (
            f"HTTP/1.1 {status} Early\r\nContent-Type: {content_type}\r\nContent-Length: {len(body)}\r\n"
            "Connection: close\r\n\r\n"
        ).encode() + body
        self.listener = socket.socket()
        # Inherited by accepted sockets: the upstream's kernel buffers little of the body.
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(8)
        self.port = self.listener.getsockname()[1]
        self.heads: list[bytes] = []
        threading.Thread(target=self.serve, daemon=True).start()

    def serve(self) -> None:
        while True:
            try:
                connection, _ = self.listener.accept()
            except OSError:
                return
            with connection:
                head = b""
                while b"\r\n\r\n" not in head:
                    chunk = connection.recv(4096)
                    if not chunk:
                        break
                    head += chunk
                self.heads.append(head.split(b"\r\n\r\n", 1)[0])
                connection.sendall(self.answer)
            # Closed with the body unread: the kernel resets the connection.

    def close(self) -> None:
        self.listener.close()


@contextmanager
def gateway_before(upstream: EarlyAnswerer):
    """The local gateway with sfn-results and the emulator both at `upstream`."""
    process = subprocess.Popen(
        [sys.executable, str(ROOT / "infra/local/gateway.py"), "--listen", "127.0.0.1:0",
         "--service-port", str(upstream.port), "--emulator-port", str(upstream.port),
         "--stage-variable", f"standardStateMachineArn={MACHINE}"],
        stdout=subprocess.PIPE, text=True,
    )
    try:
        ready = process.stdout.readline().split()
        assert ready and ready[0] == "READY", ready
        yield int(ready[1])
    finally:
        process.terminate()
        process.wait(timeout=10)
        upstream.close()


def post(port: int, path: str, body: bytes) -> tuple[int, dict[str, str], bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        connection.request("POST", path, body, {"Content-Type": "application/json"})
        response = connection.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        connection.close()


def test_an_answer_the_service_gives_before_reading_the_body_is_relayed_as_it_came():
    problem = json.dumps({"type": "urn:api-sfn:problem:payload-too-large", "title": "Payload too large",
                          "status": 413, "detail": "The body is over 16384 bytes."}).encode()
    upstream = EarlyAnswerer(413, problem, "application/problem+json")
    with gateway_before(upstream) as port:
        for _ in range(3):  # a fresh upstream connection each time: the last one was closed
            status, headers, body = post(port, "/webhooks", b"x" * BODY_BYTES)
            assert status == 413, body
            assert headers["content-type"] == "application/problem+json"
            assert body == problem
    assert all(head.startswith(b"POST /webhooks HTTP/1.1") for head in upstream.heads)
    assert len(upstream.heads) == 3  # relayed, never retried


def test_an_answer_step_functions_gives_before_reading_the_body_is_mapped_by_the_templates():
    refusal = json.dumps({"__type": "ValidationException",
                          "message": "1 validation error detected: Value at 'input' failed to satisfy constraint: "
                                     "Member must have length less than or equal to 262144"}).encode()
    upstream = EarlyAnswerer(400, refusal, "application/x-amz-json-1.0")
    with gateway_before(upstream) as port:
        status, headers, body = post(port, "/executions", b'{"x": "' + b"a" * BODY_BYTES + b'"}')
    assert status == 413, body
    assert headers["content-type"] == "application/problem+json"
    assert json.loads(body)["type"] == "urn:api-sfn:problem:payload-too-large"
    assert upstream.heads and b"X-Amz-Target: AWSStepFunctions.StartExecution" in upstream.heads[0]
