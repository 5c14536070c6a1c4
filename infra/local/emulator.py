"""Runs one moto server on 127.0.0.1 with Step Functions execution switched on.

It serves every AWS API moto has on the one port; the local environment uses Step Functions,
DynamoDB and SQS (the webhook delivery queue and its dead-letter queue).

Prints `READY <port>` on stdout once it answers, then serves until SIGINT/SIGTERM or,
with --exit-on-eof, until its standard input closes (so a test run that dies takes it along).

Beside the AWS APIs it answers two paths of its own, for tests and benchmarks:
  GET    /_emulator/counts   calls per X-Amz-Target, per "Target executionArn" and per
                              "Target stateMachineArn" (the ARN a call names)
  DELETE /_emulator/counts   resets them
  POST   /_emulator/faults   {"target": "AWSStepFunctions.DescribeExecution" | "*",
                              "mode": "throttle" | "delay" | "unavailable",
                              "delayMs": 0, "times": N (omit: until cleared),
                              "match": "text" (only calls whose request body holds it)}
  DELETE /_emulator/faults   clears them
  GET    /_emulator/express  each Express execution ARN answered, and moto's execution behind it

and what moto lacks of Step Functions: StartSyncExecution and the checks AWS makes of a start
request's name and input, with AWS's error codes (sync_execution.py); Express executions under
`:express:` ARNs, their five-minute limit and their CloudWatch Logs records, delivered as a log
subscription delivers them to the URL given by --logs-to (express.py, express_logs.py).
"""

import argparse
import io
import json
import logging
import os
import signal
import sys
import threading
import time
import urllib.request

from moto.moto_server.threaded_moto_server import MotoRequestHandler
from moto.server import DomainDispatcherApplication, create_backend_app
from moto.stepfunctions.parser.asl.eval.program_state import ProgramStopped
from moto.stepfunctions.parser.backend import execution as execution_module
from moto.stepfunctions.parser.backend import execution_worker
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import state_task_service_sqs
from moto.stepfunctions.parser.asl.component.state.wait.wait_function.wait_function import WaitFunction
from moto.stepfunctions.responses import StepFunctionResponse
from werkzeug.serving import make_server

import callbacks
from express import ExpressExecutions
from express_logs import SubscriptionDelivery
from sync_execution import SyncExecutions, aws_error, refused_start

_moto_stop = execution_worker.ExecutionWorker.stop
_moto_stop_execution = StepFunctionResponse.stop_execution
# The error and cause of the StopExecution this thread is answering (moto's handler drops them).
_stop_reason = threading.local()


def _stop_execution_keeping_reason(self):
    _stop_reason.value = (self._get_param("error"), self._get_param("cause"))
    try:
        return _moto_stop_execution(self)
    finally:
        _stop_reason.value = None


StepFunctionResponse.stop_execution = _stop_execution_keeping_reason


def _no_redrive(self):
    """moto 5.2.5 has no RedriveExecution, and a redrive is not faked here: the call is refused as
    AWS refuses an operation it does not know (400 UnknownOperationException), at once, instead of
    moto's 500 that the SDK would retry. The service's answers to a redrive are tested against
    Step Functions' documented answers at the SDK layer (service/tests/redrive_sdk.rs)."""
    from moto.core.exceptions import JsonRESTError

    raise JsonRESTError(
        "UnknownOperationException",
        "RedriveExecution is not implemented by this emulator (moto 5.2.5); see infra/local/README.md",
    )


StepFunctionResponse.redrive_execution = _no_redrive

# The samples' `sqs:sendMessage.waitForTaskToken` tasks (purchase-approval.asl.json): moto's Step Functions
# sends them through a boto3 client of its own, to http://localhost:$MOTO_PORT. Here it is this
# server's loopback address, set by main() once the port is bound.
_own_endpoint = {}


def _sqs_client_for(region, service, state_credentials=None):
    import boto3
    from botocore.config import Config

    return boto3.client(service, region_name=region, endpoint_url=_own_endpoint["url"],
                        aws_access_key_id="test", aws_secret_access_key="test",
                        config=Config(retries={"total_max_attempts": 1}, connect_timeout=10, read_timeout=10))


state_task_service_sqs.boto_client_for = _sqs_client_for
callbacks.install()


def _stop_once_running(self, stop_date, error, cause):
    """moto builds an execution's environment in the execution's own thread, and its program
    takes a stop only once it runs: a StopExecution right after StartExecution could find no
    environment (500) or one whose program had not begun, and that stop was dropped, the
    execution running on (seen on a busy machine). Step Functions has no such window: wait, up to
    10 s, for a program that runs (or has ended). The stop carries the error and cause the
    request gave, which moto's handler replaces with empty strings."""
    error, cause = getattr(_stop_reason, "value", None) or (error, cause)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        env = getattr(self, "env", None)
        if env is not None and env.program_state() is not None:
            break
        time.sleep(0.01)
    return _moto_stop(self, stop_date, error, cause)


execution_worker.ExecutionWorker.stop = _stop_once_running


def _wait_until_over_or_stopped(self, env, wait_seconds):
    """moto's Wait state sleeps on an event that a stop sets and clears at once, so a stop that
    comes just before the sleep begins is missed and the execution waits on to the Wait's end (a
    60 s Wait outlived its StopExecution, once in 30 on a busy machine). Step Functions ends a
    waiting execution when it is stopped: wait in slices of 50 ms, reading the program's state
    between them."""
    end = time.monotonic() + wait_seconds
    while env.is_running():
        left = end - time.monotonic()
        if left <= 0:
            return
        env.program_state_event.wait(min(left, 0.05))


WaitFunction._wait_interval = _wait_until_over_or_stopped

_moto_reflect = execution_module.BaseExecutionWorkerCommunication._reflect_execution_status


def _reflect_with_stop_reason(self):
    """moto drops the error and cause a StopExecution was given; Step Functions keeps them on the
    ABORTED execution (DescribeExecution's `error` and `cause`)."""
    _moto_reflect(self)
    state = self.execution.exec_worker.env.program_state()
    if isinstance(state, ProgramStopped):
        self.execution.error = state.error
        self.execution.cause = state.cause


execution_module.BaseExecutionWorkerCommunication._reflect_execution_status = _reflect_with_stop_reason

FAULT_ANSWERS = {
    "throttle": ("400 Bad Request", "ThrottlingException", "Rate exceeded"),
    "unavailable": ("503 Service Unavailable", "ServiceUnavailable", "Service is unavailable"),
}


class Instrumented:
    """WSGI middleware: counts AWS calls and injects faults in AWS's own error shapes."""

    def __init__(self, app, logs_to: str | None = None):
        self.app = app
        self.express = ExpressExecutions(app, SubscriptionDelivery(logs_to))
        self.sync = SyncExecutions(self.express)
        self.lock = threading.Lock()
        self.counts = {}
        self.faults = []

    def __call__(self, environ, start_response):
        path = environ.get("PATH_INFO", "")
        if path.startswith("/_emulator/"):
            return self.control(path, environ, start_response)
        target = environ.get("HTTP_X_AMZ_TARGET")
        if target:
            length = int(environ.get("CONTENT_LENGTH") or 0)
            body = environ["wsgi.input"].read(length) if length else b""
            environ["wsgi.input"] = io.BytesIO(body)
            arn = None
            try:
                payload = json.loads(body or b"{}")
                arn = payload.get("executionArn") or payload.get("stateMachineArn")
            except (ValueError, AttributeError):
                pass
            fault = self.take_fault(target, arn, body)
            if fault is not None:
                if fault.get("delayMs"):
                    time.sleep(fault["delayMs"] / 1000)
                answer = FAULT_ANSWERS.get(fault.get("mode"))
                if answer is not None:
                    status, code, message = answer
                    return self.respond(start_response, *aws_error(code, message, status))
        if target in ("AWSStepFunctions.StartExecution", "AWSStepFunctions.StartSyncExecution"):
            body = environ["wsgi.input"].getvalue()
            refused = refused_start(body)
            if refused is not None:
                return self.respond(start_response, *aws_error(*refused))
            if target == "AWSStepFunctions.StartSyncExecution":
                return self.respond(start_response, *self.sync(environ, body))
            express = self.express.start_if_express(environ, body)
            if express is not None:
                return self.respond(start_response, *express)
        return self.app(environ, start_response)

    @staticmethod
    def respond(start_response, status, payload):
        headers = [("Content-Type", "application/x-amz-json-1.0"), ("Content-Length", str(len(payload)))]
        if not status.startswith("200"):
            headers.append(("x-amzn-ErrorType", json.loads(payload).get("__type", "")))
        start_response(status, headers)
        return [payload]

    def take_fault(self, target, arn, body):
        with self.lock:
            self.counts[target] = self.counts.get(target, 0) + 1
            if arn:
                key = f"{target} {arn}"
                self.counts[key] = self.counts.get(key, 0) + 1
            for fault in self.faults:
                matches = fault.get("match") is None or fault["match"].encode() in body
                if fault.get("target", "*") in ("*", target) and matches and fault.get("times", 1) != 0:
                    if "times" in fault:
                        fault["times"] -= 1
                    return dict(fault)
        return None

    def control(self, path, environ, start_response):
        method = environ.get("REQUEST_METHOD")
        with self.lock:
            if path == "/_emulator/counts" and method == "GET":
                payload = dict(self.counts)
            elif path == "/_emulator/counts" and method == "DELETE":
                self.counts.clear()
                payload = {}
            elif path == "/_emulator/faults" and method == "POST":
                length = int(environ.get("CONTENT_LENGTH") or 0)
                self.faults.append(json.loads(environ["wsgi.input"].read(length)))
                payload = {"faults": self.faults}
            elif path == "/_emulator/faults" and method == "DELETE":
                self.faults.clear()
                payload = {}
            elif path == "/_emulator/express" and method == "GET":
                payload = self.express.mapping()
            else:
                start_response("404 Not Found", [("Content-Type", "text/plain")])
                return [b"unknown emulator control path"]
        body = json.dumps(payload).encode()
        start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
        return [body]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--exit-on-eof", action="store_true")
    parser.add_argument("--logs-to", metavar="URL",
                        help="Lambda Invoke URL of the function subscribed to the Express machines' logs")
    args = parser.parse_args()

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    if not os.environ.get("EMULATOR_VERBOSE"):
        # moto logs every failed execution (our samples fail on purpose) with a traceback.
        logging.getLogger("moto").setLevel(logging.CRITICAL)
    app = Instrumented(DomainDispatcherApplication(create_backend_app), args.logs_to)
    server = make_server("127.0.0.1", args.port, app, threaded=True, request_handler=MotoRequestHandler)
    port = server.server_port
    _own_endpoint["url"] = f"http://127.0.0.1:{port}"
    threading.Thread(target=server.serve_forever, daemon=True).start()
    # Must be set before any state machine is created; there is no environment variable for it.
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/moto-api/config",
        data=json.dumps({"stepfunctions": {"execute_state_machine": True}}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    urllib.request.urlopen(request, timeout=10).read()
    print(f"READY {port}", flush=True)

    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    if args.exit_on_eof:
        threading.Thread(target=lambda: (sys.stdin.read(), stop.set()), daemon=True).start()
    stop.wait()
    server.shutdown()
    # moto runs each execution in a thread of its own that the interpreter would wait for at
    # exit (a Wait state of minutes, a task token never answered): leave at once instead.
    sys.stdout.flush()
    os._exit(0)


if __name__ == "__main__":
    sys.exit(main())
