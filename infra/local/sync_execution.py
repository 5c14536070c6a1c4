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


# Step Functions' names: 1 to 80 characters, none of these (its API reference, CreateStateMachine
# and StartExecution), no whitespace and no control characters (U+0000-001F, U+007F-009F).
MAX_NAME_CHARACTERS = 80
NAME_FORBIDDEN = set('<>{}[]?*"#%\\^|~`$&,;:/')
# Unicode's White_Space characters (what the service's own check, Rust's char::is_whitespace,
# refuses), and the byte order mark, which the service refuses too.
WHITESPACE = set("\t\n\v\f\r \x85\xa0\u1680\u2028\u2029\u202f\u205f\u3000\ufeff") | {
    chr(c) for c in range(0x2000, 0x200B)
}


def refused_name(name: str) -> tuple[str, str] | None:
    """AWS's (code, message) for an execution name Step Functions refuses."""
    if not 1 <= len(name) <= MAX_NAME_CHARACTERS:
        bound = "less than or equal to 80" if name else "greater than or equal to 1"
        return ("ValidationException", f"1 validation error detected: Value '{name}' at 'name' failed to satisfy "
                                        f"constraint: Member must have length {bound}")
    if any(c in NAME_FORBIDDEN or c in WHITESPACE or ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F for c in name):
        return "InvalidName", f"Invalid Name: '{name}'"
    return None


def refused_start(body: bytes) -> tuple[str, str] | None:
    """AWS's (code, message) for a start request Step Functions refuses for its name or input.

    moto's executing backend takes names of any length and character, inputs of any size, and
    answers a non-JSON input without an error code.
    """
    try:
        payload = json.loads(body or b"{}")
    except ValueError:
        return None
    if not isinstance(payload, dict):
        return None
    name = payload.get("name")
    if isinstance(name, str) and len(name) > MAX_NAME_CHARACTERS:
        return refused_name(name)  # the length is checked with the request's shape, first
    text = payload.get("input")
    if isinstance(text, str) and len(text.encode("utf-8")) > MAX_PAYLOAD_BYTES:
        return "ValidationException", TOO_LARGE
    if isinstance(name, str) and refused_name(name) is not None:
        return refused_name(name)
    if not isinstance(text, str):
        return None
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
