"""StartSyncExecution for the emulator, which moto lacks: runs an EXPRESS machine to its end.

Built on the emulator's own StartExecution and DescribeExecution (called in-process on the WSGI
app), it answers in AWS's documented StartSyncExecution shape: an `:express:` execution ARN,
dates as epoch seconds, `input`/`output` as JSON texts, `error`/`cause` when it failed, and
`billingDetails`. Where it differs from AWS is written down in infra/local/README.md.
"""

from __future__ import annotations

import io
import json
import math
import time
import uuid

# An Express workflow runs at most five minutes; StartSyncExecution waits that long.
EXPRESS_LIMIT_SECONDS = 300
POLL_SECONDS = 0.02
# Step Functions' payload limit (input and output), counted in UTF-8 bytes.
MAX_PAYLOAD_BYTES = 262144
TOO_LARGE = (
    "1 validation error detected: Value at 'input' failed to satisfy constraint: "
    "Member must have length less than or equal to 262144"
)


def aws_error(code: str, message: str, status: str = "400 Bad Request") -> tuple[str, bytes]:
    return status, json.dumps({"__type": code, "message": message}).encode()


def refused_input(body: bytes) -> tuple[str, str] | None:
    """AWS's (code, message) for a start request whose input Step Functions refuses.

    moto takes inputs of any size and answers a non-JSON input without an error code.
    """
    try:
        payload = json.loads(body or b"{}")
    except ValueError:
        return None
    text = payload.get("input") if isinstance(payload, dict) else None
    if not isinstance(text, str):
        return None
    if len(text.encode("utf-8")) > MAX_PAYLOAD_BYTES:
        return "ValidationException", TOO_LARGE
    try:
        json.loads(text)
    except ValueError as error:
        return "InvalidExecutionInput", f"Invalid State Machine Execution Input: '{error}'"
    return None


class SyncExecutions:
    """Answers AWSStepFunctions.StartSyncExecution by driving the wrapped moto app."""

    def __init__(self, app):
        self.app = app

    def call(self, environ: dict, action: str, payload: dict) -> tuple[int, dict]:
        body = json.dumps(payload).encode()
        inner = dict(environ)
        inner.update(
            {
                "wsgi.input": io.BytesIO(body),
                "CONTENT_LENGTH": str(len(body)),
                "HTTP_X_AMZ_TARGET": f"AWSStepFunctions.{action}",
            }
        )
        status = []
        chunks = self.app(inner, lambda s, headers, exc_info=None: status.append(s))
        text = b"".join(chunks)
        return int(status[0].split()[0]), json.loads(text or b"{}")

    def __call__(self, environ: dict, body: bytes) -> tuple[str, bytes]:
        try:
            request = json.loads(body or b"{}")
        except ValueError:
            return aws_error("SerializationException", "Request body is not JSON")
        machine_arn = request.get("stateMachineArn", "")
        code, machine = self.call(environ, "DescribeStateMachine", {"stateMachineArn": machine_arn})
        if code != 200:
            return f"{code} Error", json.dumps(machine).encode()
        if machine.get("type") != "EXPRESS":
            return aws_error("StateMachineTypeNotSupported", "This operation is not supported by this type of state machine")
        name = request.get("name") or str(uuid.uuid4())
        start = {"stateMachineArn": machine_arn, "name": name, "input": request.get("input", "{}")}
        code, started = self.call(environ, "StartExecution", start)
        if code != 200:
            return f"{code} Error", json.dumps(started).encode()
        described = self.wait(environ, started["executionArn"])
        return "200 OK", json.dumps(self.answer(described, name)).encode()

    def wait(self, environ: dict, execution_arn: str) -> dict:
        deadline = time.monotonic() + EXPRESS_LIMIT_SECONDS
        while True:
            _, described = self.call(environ, "DescribeExecution", {"executionArn": execution_arn})
            if described.get("status") != "RUNNING":
                return described
            if time.monotonic() > deadline:
                self.call(environ, "StopExecution", {"executionArn": execution_arn})
                described.update(status="TIMED_OUT", stopDate=time.time(), error="States.Timeout",
                                 cause="The Express execution ran longer than five minutes.")
                return described
            time.sleep(POLL_SECONDS)

    @staticmethod
    def answer(described: dict, name: str) -> dict:
        machine_arn = described["stateMachineArn"]
        prefix, machine = machine_arn.split(":stateMachine:", 1)
        start, stop = described["startDate"], described.get("stopDate", time.time())
        answer = {
            "executionArn": f"{prefix}:express:{machine}:{name}:{uuid.uuid4()}",
            "stateMachineArn": machine_arn,
            "name": name,
            "startDate": start,
            "stopDate": stop,
            "status": described["status"],
            "input": described.get("input", "{}"),
            "inputDetails": {"included": True},
            "billingDetails": {
                "billedMemoryUsedInMB": 64,
                # Express bills its duration rounded up to the next 100 ms.
                "billedDurationInMilliseconds": max(100, math.ceil((stop - start) * 10) * 100),
            },
        }
        if described["status"] == "SUCCEEDED":
            answer["output"] = described.get("output", "null")
            answer["outputDetails"] = {"included": True}
        for key in ("error", "cause"):
            if described.get(key) is not None:
                answer[key] = described[key]
        return answer
