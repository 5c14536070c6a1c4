"""Step Functions' task callbacks (SendTaskSuccess, SendTaskFailure, SendTaskHeartbeat) as AWS
answers them, where moto 5.2.5 answers otherwise. Installed by emulator.py.

- A task that is over (timed out, answered, or its execution ended): AWS refuses the token with
  TaskTimedOut ("Provided task does not exist anymore"); moto takes a late answer with 200 and
  drops it, or answers InvalidToken once the execution ended.
- SendTaskSuccess's output must be JSON (AWS: InvalidOutput); moto takes any text and fails the
  execution when it parses it.
- SendTaskFailure keeps the cause (moto drops it).
- SendTaskHeartbeat on a waiting task without HeartbeatSeconds is taken (moto: InvalidToken).

A token no task ever had stays moto's InvalidToken (400): AWS answers a well-formed token it
does not know TaskDoesNotExist (404); infra/local/README.md says so.
"""

from __future__ import annotations

import json
import threading

from moto.core.exceptions import JsonRESTError
from moto.core.responses import EmptyResult
from moto.stepfunctions.parser.asl.component.state.exec.execute_state import ExecutionState
from moto.stepfunctions.responses import StepFunctionResponse

_lock = threading.Lock()
# Tokens of tasks that are over, and the open ones (token -> its callback endpoint).
_closed: set[str] = set()
_open: dict[str, object] = {}


def _task_token(env) -> str | None:
    return (env.states.context_object.context_object_data.get("Task") or {}).get("Token")


def _over() -> JsonRESTError:
    return JsonRESTError("TaskTimedOut", "Provided task does not exist anymore")


def install() -> None:
    moto_evaluate = ExecutionState._evaluate_with_timeout

    def evaluate_with_timeout(self, env, *args, **kwargs):
        """A callback task's token is open while its state runs and over once the state ends,
        however it ends: moto's wait for the answer can outlive a state timed out."""
        token = _task_token(env)
        endpoint = env.callback_pool_manager.get(token) if token else None
        if endpoint is not None:
            with _lock:
                _open[token] = endpoint
        try:
            return moto_evaluate(self, env, *args, **kwargs)
        finally:
            if endpoint is not None:
                with _lock:
                    _open.pop(token, None)
                    _closed.add(token)

    ExecutionState._evaluate_with_timeout = evaluate_with_timeout

    def refuse_if_over(token: str) -> None:
        with _lock:
            if token in _closed:
                raise _over()

    def send_task_success(self):
        token = self._get_param("taskToken")
        refuse_if_over(token)
        try:
            json.loads(self._get_param("output"))
        except (TypeError, ValueError):
            raise JsonRESTError("InvalidOutput", "Invalid Output: the output is not JSON") from None
        self.stepfunction_backend.send_task_success(token, self._get_param("output"))
        return EmptyResult()

    def send_task_failure(self):
        token = self._get_param("taskToken")
        refuse_if_over(token)
        self.stepfunction_backend.send_task_failure(token, error=self._get_param("error"),
                                                    cause=self._get_param("cause"))
        return EmptyResult()

    def send_task_heartbeat(self):
        token = self._get_param("taskToken")
        refuse_if_over(token)
        with _lock:
            endpoint = _open.get(token)
        if endpoint is not None:
            endpoint.notify_heartbeat()  # False for a task without HeartbeatSeconds: taken all the same
            return EmptyResult()
        self.stepfunction_backend.send_task_heartbeat(token)
        return EmptyResult()

    StepFunctionResponse.send_task_success = send_task_success
    StepFunctionResponse.send_task_failure = send_task_failure
    StepFunctionResponse.send_task_heartbeat = send_task_heartbeat
