"""Express executions on the emulator, as Step Functions runs them: moto runs every execution as a
STANDARD-style one, so this module gives an EXPRESS machine's executions what AWS gives them.

- StartExecution (and StartSyncExecution, sync_execution.py) on an EXPRESS machine answers the
  `:express:` ARN AWS answers (arn:aws:states:R:A:express:MACHINE:NAME:UUID). The execution runs
  in moto under `:execution:MACHINE:UUID`, so names are not unique, as on AWS; the mapping is kept
  (`GET /_emulator/express`).
- A watcher sees each run stop (moto's DescribeExecution every 20 ms, in process), stops it after
  Express's five minutes (TIMED_OUT, States.Timeout), and hands its log records to the machine's
  CloudWatch Logs destination (express_logs.py): ExecutionStarted, then ExecutionSucceeded,
  Failed, TimedOut or Aborted, filtered by the machine's loggingConfiguration level.
"""

from __future__ import annotations

import io
import json
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field

# An Express workflow runs at most five minutes.
EXPRESS_LIMIT_SECONDS = 300
POLL_SECONDS = 0.02
# "If escaped input or escaped output sent to CloudWatch Logs exceeds 248 KB, it will be truncated."
MAX_LOGGED_DATA_BYTES = 248 * 1024
STOPS = {"SUCCEEDED": "ExecutionSucceeded", "FAILED": "ExecutionFailed", "TIMED_OUT": "ExecutionTimedOut",
         "ABORTED": "ExecutionAborted"}
# Which execution records each logging level writes (Step Functions' log levels; state-level
# records are not written here: the stack's subscription filter passes execution records only).
LEVELS = {
    "ALL": {"ExecutionStarted", *STOPS.values()},
    "ERROR": {"ExecutionFailed", "ExecutionTimedOut", "ExecutionAborted"},
    "FATAL": {"ExecutionFailed", "ExecutionTimedOut", "ExecutionAborted"},
}


def aws_error(code: str, message: str, status: str = "400 Bad Request") -> tuple[str, bytes]:
    return status, json.dumps({"__type": code, "message": message}).encode()


def json_object(body: bytes) -> dict | None:
    """A request body that is a JSON object, else None (moto answers the rest)."""
    try:
        payload = json.loads(body or b"{}")
    except ValueError:
        return None
    return payload if isinstance(payload, dict) else None


class Moto:
    """Calls the wrapped moto WSGI app in process, as a client of its Step Functions API would."""

    def __init__(self, app):
        self.app = app

    def call(self, environ: dict, action: str, payload: dict) -> tuple[int, dict]:
        body = json.dumps(payload).encode()
        inner = {k: v for k, v in environ.items() if isinstance(v, str)}
        inner.update({
            "REQUEST_METHOD": "POST", "PATH_INFO": "/", "QUERY_STRING": "",
            "CONTENT_TYPE": "application/x-amz-json-1.0", "CONTENT_LENGTH": str(len(body)),
            "HTTP_X_AMZ_TARGET": f"AWSStepFunctions.{action}",
            "wsgi.input": io.BytesIO(body), "wsgi.errors": io.StringIO(), "wsgi.url_scheme": "http",
            "wsgi.version": (1, 0), "wsgi.multithread": True, "wsgi.multiprocess": False, "wsgi.run_once": False,
        })
        status = []
        chunks = self.app(inner, lambda s, headers, exc_info=None: status.append(s))
        text = b"".join(chunks)
        return int(status[0].split()[0]), json.loads(text or b"{}")


@dataclass
class Run:
    """One Express execution: its AWS face (`arn`) and the moto execution behind it."""

    arn: str
    moto_arn: str
    machine: dict
    name: str
    input: str
    start_date: float
    environ: dict
    deadline: float
    done: threading.Event = field(default_factory=threading.Event)
    final: dict | None = None


class ExpressExecutions:
    def __init__(self, app, logs):
        self.moto = Moto(app)
        self.logs = logs
        self.lock = threading.Lock()
        self.running: dict[str, Run] = {}
        self.known: dict[str, str] = {}  # express ARN -> moto's execution ARN
        self.wake = threading.Event()
        threading.Thread(target=self.watch, name="express-watcher", daemon=True).start()

    def machine(self, environ: dict, machine_arn: str) -> tuple[int, dict]:
        return self.moto.call(environ, "DescribeStateMachine", {"stateMachineArn": machine_arn})

    def start_if_express(self, environ: dict, body: bytes) -> tuple[str, bytes] | None:
        """AWS's StartExecution answer when the machine is EXPRESS; None leaves the call to moto."""
        request = json_object(body)
        if request is None:
            return None
        code, machine = self.machine(environ, request.get("stateMachineArn", ""))
        if code != 200 or machine.get("type") != "EXPRESS":
            return None
        answer = self.start(environ, request, machine)
        if isinstance(answer, tuple):
            return answer
        return "200 OK", json.dumps({"executionArn": answer.arn, "startDate": answer.start_date}).encode()

    def start(self, environ: dict, request: dict, machine: dict) -> Run | tuple[str, bytes]:
        """Starts an execution of the EXPRESS `machine`: the run, or moto's refusal."""
        name = request.get("name") or str(uuid.uuid4())
        run_id = str(uuid.uuid4())
        code, started = self.moto.call(environ, "StartExecution", {
            "stateMachineArn": machine["stateMachineArn"], "name": run_id, "input": request.get("input", "{}"),
        })
        if code != 200:
            return f"{code} Error", json.dumps(started).encode()
        prefix, machine_name = machine["stateMachineArn"].split(":stateMachine:", 1)
        run = Run(arn=f"{prefix}:express:{machine_name}:{name}:{run_id}", moto_arn=started["executionArn"],
                  machine=machine, name=name, input=request.get("input", "{}"), start_date=started["startDate"],
                  environ={k: v for k, v in environ.items() if isinstance(v, str)},
                  deadline=time.monotonic() + EXPRESS_LIMIT_SECONDS)
        with self.lock:
            self.known[run.arn] = run.moto_arn
            self.running[run.arn] = run
        self.log(run, "ExecutionStarted", run.start_date, {"input": run.input, "roleArn": machine.get("roleArn")})
        self.wake.set()
        return run

    def mapping(self) -> dict[str, str]:
        with self.lock:
            return dict(self.known)

    def watch(self) -> None:
        while True:
            with self.lock:
                runs = list(self.running.values())
            if not runs:
                self.wake.wait()
                self.wake.clear()
                continue
            for run in runs:
                try:
                    self.check(run)
                except Exception as error:  # noqa: BLE001 (one run's trouble must not stop the others)
                    print(f"express watcher: {run.arn}: {error!r}", file=sys.stderr, flush=True)
            time.sleep(POLL_SECONDS)

    def check(self, run: Run) -> None:
        _, described = self.moto.call(run.environ, "DescribeExecution", {"executionArn": run.moto_arn})
        if described.get("status") == "RUNNING":
            if time.monotonic() < run.deadline:
                return
            self.moto.call(run.environ, "StopExecution", {"executionArn": run.moto_arn})
            described.update(status="TIMED_OUT", error="States.Timeout",
                             cause="The Express execution ran longer than five minutes.")
        described.setdefault("stopDate", time.time())  # moto gives none for TIMED_OUT
        run.final = described
        with self.lock:
            self.running.pop(run.arn, None)
        status = described.get("status")
        if status == "SUCCEEDED":
            details = {"output": described.get("output", "null")}
        else:
            details = {k: described[k] for k in ("error", "cause") if described.get(k) is not None}
        self.log(run, STOPS.get(status, "ExecutionFailed"), described["stopDate"], details)
        run.done.set()

    def log(self, run: Run, kind: str, at: float, details: dict) -> None:
        config = run.machine.get("loggingConfiguration") or {}
        if kind not in LEVELS.get(config.get("level", "OFF"), ()):
            return
        for key in ("input", "output"):
            if key not in details:
                continue
            if not config.get("includeExecutionData"):
                del details[key]
                continue
            details[key], truncated = truncate(details[key])
            details[f"{key}Details"] = {"truncated": truncated}
        self.logs.record(run.machine["stateMachineArn"], config, {
            # A stop's record follows its start's; moto's history ids are not carried over.
            "id": "1" if kind == "ExecutionStarted" else "2",
            "type": kind,
            "details": details,
            "previous_event_id": "0" if kind == "ExecutionStarted" else "1",
            "event_timestamp": str(round(at * 1000)),
            "execution_arn": run.arn,
            "redrive_count": "0",
        })


def truncate(text: str) -> tuple[str, bool]:
    """Step Functions cuts an input or output whose escaped form is over 248 KB in its logs."""
    def size(n: int) -> int:
        return len(json.dumps(text[:n], ensure_ascii=False).encode("utf-8")) - 2
    if size(len(text)) <= MAX_LOGGED_DATA_BYTES:
        return text, False
    low, high = 0, len(text)  # the longest prefix that fits
    while low < high:
        middle = (low + high + 1) // 2
        low, high = (middle, high) if size(middle) <= MAX_LOGGED_DATA_BYTES else (low, middle - 1)
    return text[:low], True
