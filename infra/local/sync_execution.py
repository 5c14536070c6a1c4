"""StartSyncExecution for the emulator, which moto lacks, and AWS's checks of a start request.

StartSyncExecution runs an EXPRESS machine to its end as an Express run of express.py (so it is
logged like any Express execution) and answers in AWS's documented shape: the run's `:express:`
ARN, dates as epoch seconds, `input`/`output` as JSON texts, `error`/`cause` when it failed, and
`billingDetails`. Where it differs from AWS is written down in infra/local/README.md.
"""

from __future__ import annotations

import json
import math

from express import ExpressExecutions, Run, aws_error, json_object

# Step Functions' payload limit (input and output), counted in UTF-8 bytes.
MAX_PAYLOAD_BYTES = 262144
TOO_LARGE = (
    "1 validation error detected: Value at 'input' failed to satisfy constraint: "
    "Member must have length less than or equal to 262144"
)


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
    payload = json_object(body)
    if payload is None:
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
    """Answers AWSStepFunctions.StartSyncExecution: an Express run (express.py) to its end."""

    def __init__(self, express: ExpressExecutions):
        self.express = express

    def __call__(self, environ: dict, body: bytes) -> tuple[str, bytes]:
        try:
            request = json.loads(body or b"{}")
        except ValueError:
            return aws_error("SerializationException", "Request body is not JSON")
        code, machine = self.express.machine(environ, request.get("stateMachineArn", ""))
        if code != 200:
            return f"{code} Error", json.dumps(machine).encode()
        if machine.get("type") != "EXPRESS":
            return aws_error("StateMachineTypeNotSupported", "This operation is not supported by this type of state machine")
        run = self.express.start(environ, request, machine)
        if isinstance(run, tuple):
            return run
        # The run stops by itself, or is stopped TIMED_OUT at Express's five minutes.
        run.done.wait()
        return "200 OK", json.dumps(self.answer(run)).encode()

    @staticmethod
    def answer(run: Run) -> dict:
        described = run.final
        start, stop = run.start_date, described["stopDate"]
        answer = {
            "executionArn": run.arn,
            "stateMachineArn": run.machine["stateMachineArn"],
            "name": run.name,
            "startDate": start,
            "stopDate": stop,
            "status": described["status"],
            "input": run.input,
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
