"""A Lambda runtime API on 127.0.0.1 for one function, and Lambda's asynchronous Invoke in front.

The local environment runs sfn-results' `events` entry point as Lambda runs it: the binary with
`_HANDLER=events` and `AWS_LAMBDA_RUNTIME_API` pointing here polls for invocations and posts
each one's result. The log subscription (express_logs.py) invokes it asynchronously, as
CloudWatch Logs invokes the deployed function.

  POST /2015-03-31/functions/{name}/invocations     Invoke with X-Amz-Invocation-Type: Event: 202,
                                                   queued (other invocation types: 400)
  GET  /2018-06-01/runtime/invocation/next          the function's long poll: the next event
  POST /2018-06-01/runtime/invocation/{id}/response the invocation succeeded
  POST /2018-06-01/runtime/invocation/{id}/error    it failed: retried, as Lambda retries an
                                                   asynchronous invocation (twice by default,
                                                   after --retry-delays), then dead-lettered
  POST /2018-06-01/runtime/init/error               the function could not start (printed)
  GET  /_runtime/invocations                        every invocation and what became of it

An invocation also fails when the function takes longer than --timeout, or asks for the next
event while it holds one (its process was restarted). A dead-lettered invocation is printed as a
`DEAD <id> <reason>` line and kept in the list: nothing is dropped silently.

Prints `READY <port>` once it listens.
"""

from __future__ import annotations

import argparse
import heapq
import itertools
import json
import re
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

INVOKE = re.compile(r"^/2015-03-31/functions/([^/]+)/invocations$")
RESULT = re.compile(r"^/2018-06-01/runtime/invocation/([^/]+)/(response|error)$")
KEPT = 500  # finished invocations listed by /_runtime/invocations


@dataclass
class Invocation:
    id: str
    event: bytes
    state: str = "queued"  # queued, running, succeeded, dead
    attempts: int = 0
    errors: list[str] = field(default_factory=list)
    deadline: float = 0.0


class Runtime:
    def __init__(self, function: str, retry_delays: list[float], timeout: float):
        self.function = function
        self.arn = f"arn:aws:lambda:us-east-1:123456789012:function:{function}"
        self.retry_delays = retry_delays
        self.timeout = timeout
        self.changed = threading.Condition()
        self.due: list[tuple[float, int, Invocation]] = []  # (when, order, invocation)
        self.order = itertools.count()
        self.running: Invocation | None = None
        self.all: dict[str, Invocation] = {}
        threading.Thread(target=self.watch_deadlines, daemon=True).start()

    def invoke(self, event: bytes) -> Invocation:
        invocation = Invocation(str(uuid.uuid4()), event)
        with self.changed:
            self.all[invocation.id] = invocation
            while len(self.all) > KEPT and self.forget_one():
                pass
            heapq.heappush(self.due, (time.monotonic(), next(self.order), invocation))
            self.changed.notify_all()
        return invocation

    def forget_one(self) -> bool:
        for key, old in self.all.items():
            if old.state in ("succeeded", "dead"):
                del self.all[key]
                return True
        return False

    def next(self) -> Invocation:
        with self.changed:
            if self.running is not None:
                # The function asks again without having answered: its process died mid-invocation.
                self.failed(self.running, "Runtime.ExitError: the function asked for the next event without answering")
            while True:
                now = time.monotonic()
                if self.due and self.due[0][0] <= now:
                    _, _, invocation = heapq.heappop(self.due)
                    invocation.state, invocation.attempts = "running", invocation.attempts + 1
                    invocation.deadline = now + self.timeout
                    self.running = invocation
                    return invocation
                self.changed.wait(self.due[0][0] - now if self.due else None)

    def finish(self, invocation_id: str, kind: str, body: bytes) -> bool:
        with self.changed:
            invocation = self.running
            if invocation is None or invocation.id != invocation_id:
                return False  # not the invocation under way (timed out meanwhile): ignored
            if kind == "response":
                invocation.state = "succeeded"
                self.running = None
            else:
                self.failed(invocation, body.decode("utf-8", errors="replace")[:2000])
            self.changed.notify_all()
            return True

    def failed(self, invocation: Invocation, reason: str) -> None:
        """Lambda's retries of an asynchronous invocation: again after each delay, then the DLQ."""
        self.running = None
        invocation.errors.append(reason)
        if invocation.attempts <= len(self.retry_delays):
            invocation.state = "queued"
            when = time.monotonic() + self.retry_delays[invocation.attempts - 1]
            heapq.heappush(self.due, (when, next(self.order), invocation))
            print(f"RETRY {invocation.id} attempt {invocation.attempts} failed: {reason}", file=sys.stderr, flush=True)
        else:
            invocation.state = "dead"
            print(f"DEAD {invocation.id} after {invocation.attempts} attempts: {reason}", file=sys.stderr, flush=True)
        self.changed.notify_all()

    def watch_deadlines(self) -> None:
        while True:
            time.sleep(0.5)
            with self.changed:
                running = self.running
                if running is not None and time.monotonic() > running.deadline:
                    self.failed(running, f"Task timed out after {self.timeout:.0f} seconds")

    def report(self) -> dict:
        with self.changed:
            return {"function": self.function, "invocations": [
                {"id": i.id, "state": i.state, "attempts": i.attempts, "errors": list(i.errors),
                 "event": json.loads(i.event)} for i in self.all.values()]}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    runtime: Runtime

    def do_GET(self) -> None:  # noqa: N802 (the stdlib's name)
        if self.path == "/2018-06-01/runtime/invocation/next":
            invocation = self.runtime.next()
            self.answer(200, invocation.event, {
                "Lambda-Runtime-Aws-Request-Id": invocation.id,
                "Lambda-Runtime-Deadline-Ms": str(int((time.time() + self.runtime.timeout) * 1000)),
                "Lambda-Runtime-Invoked-Function-Arn": self.runtime.arn,
                "Lambda-Runtime-Trace-Id": f"Root=1-{int(time.time()):08x}-{uuid.uuid4().hex[:24]};Sampled=0",
            })
        elif self.path == "/_runtime/invocations":
            self.answer(200, json.dumps(self.runtime.report()).encode())
        else:
            self.answer(404, b'{"message": "no such path"}')

    def do_POST(self) -> None:  # noqa: N802
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        invoke, result = INVOKE.match(self.path), RESULT.match(self.path)
        if invoke:
            if invoke.group(1) not in (self.runtime.function, self.runtime.arn):
                self.answer(404, json.dumps({"Type": "User", "message": f"Function not found: {invoke.group(1)}"})
                            .encode(), {"X-Amzn-ErrorType": "ResourceNotFoundException"})
            elif (self.headers.get("X-Amz-Invocation-Type") or "RequestResponse") != "Event":
                self.answer(400, b'{"message": "only asynchronous invocations (X-Amz-Invocation-Type: Event)"}')
            else:
                invocation = self.runtime.invoke(body)
                self.answer(202, b"", {"X-Amzn-RequestId": invocation.id})
        elif result:
            known = self.runtime.finish(result.group(1), result.group(2), body)
            self.answer(202 if known else 400, b'{"status": "OK"}' if known else b'{"errorType": "InvalidRequestID"}')
        elif self.path == "/2018-06-01/runtime/init/error":
            print(f"INIT ERROR {body.decode('utf-8', errors='replace')}", file=sys.stderr, flush=True)
            self.answer(202, b'{"status": "OK"}')
        else:
            self.answer(404, b'{"message": "no such path"}')

    def answer(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args) -> None:  # noqa: A002
        pass


class Server(ThreadingHTTPServer):
    daemon_threads = True


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, default=0, help="0 picks a free one")
    parser.add_argument("--function", default="api-sfn-events", help="the function's name")
    parser.add_argument("--retry-delays", default="1,2",
                        help="seconds before each retry of a failed invocation (Lambda: 60,120; default 1,2)")
    parser.add_argument("--timeout", type=float, default=60, help="the function's timeout, seconds (as the stack)")
    args = parser.parse_args()
    delays = [float(s) for s in args.retry_delays.split(",") if s.strip()]
    Handler.runtime = Runtime(args.function, delays, args.timeout)
    server = Server(("127.0.0.1", args.port), Handler)
    print(f"READY {server.server_address[1]}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
