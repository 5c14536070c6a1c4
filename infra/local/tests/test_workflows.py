"""Workflows by name, through the local gateway: every /workflows route for a STANDARD and an
EXPRESS workflow, names that are not workflows (404 with no Step Functions call), the older routes
as aliases of the samples, and the workflows a WORKFLOW_DIRS folder adds (conftest's session
serves tests/workflows/ beside infra/state-machines/).
"""

from __future__ import annotations

import contextlib
import json
import uuid

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from test_local_api import assert_problem

PREFIX = "arn:aws:states:us-east-1:123456789012:stateMachine:"
EXECUTION = "arn:aws:states:us-east-1:123456789012:execution:"
EXPRESS_EXECUTION = "arn:aws:states:us-east-1:123456789012:express:"
GATEWAY = "api-gateway; fwd=bypass"
# The samples of infra/state-machines/ and the two of tests/workflows/.
WORKFLOWS = {"greeting": "STANDARD", "hello": "EXPRESS", "orders": "STANDARD", "purchase-approval": "STANDARD",
             "rejected": "STANDARD",
             "count": "EXPRESS", "echo": "STANDARD"}
ORDER = {"items": [{"sku": "A-1", "quantity": 2, "unitPrice": 9.5}, {"sku": "B-2", "quantity": 1, "unitPrice": 3}]}
STARTS = ("AWSStepFunctions.StartExecution", "AWSStepFunctions.StartSyncExecution")


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def start(local, workflow: str, body: dict, name: str | None = None) -> dict:
    name = name or unique("wf")
    started = local.post_json(f"/workflows/{workflow}/executions?name={name}", json.dumps(body))
    assert started.status == 202, started.body
    answer = started.json()
    assert answer["statusUrl"] == started.headers["location"] == f"{local.api}/executions/{answer['executionArn']}"
    assert started.headers["cache-status"] == GATEWAY  # API Gateway -> StartExecution, no function
    return answer


def result(local, status_url: str) -> dict:
    """The result document once the execution stopped (the wait is only a cap against a hang)."""
    answer = local.request("GET", status_url + "?wait=20")
    assert answer.status == 200, answer.body
    return answer.json()


def listed(local, workflow: str) -> list[str]:
    answer = local.request("GET", f"/workflows/{workflow}/executions?limit=1000")
    assert answer.status == 200, answer.body
    return [item["executionArn"] for item in answer.json()["executions"]]


@contextlib.contextmanager
def no_step_functions_call(local, name: str):
    """Asserts that nothing reached the emulator's Step Functions API for `name`: no call naming its
    machine or an execution of it, and no start at all (only requests start executions)."""
    counts = lambda: local.request("GET", "/_emulator/counts", base=local.emulator).json()  # noqa: E731
    before = counts()
    yield
    after = counts()
    naming = {key: n - before.get(key, 0) for key, n in after.items()
              if f":stateMachine:{name}" in key or f":{name}:" in key}
    assert not {k: n for k, n in naming.items() if n}, naming
    assert [after.get(k, 0) for k in STARTS] == [before.get(k, 0) for k in STARTS]


def test_get_workflows_lists_each_workflow_with_its_type_and_routes(local):
    answer = local.request("GET", "/workflows")
    assert answer.status == 200 and answer.headers["content-type"] == "application/json"
    workflows = {w["name"]: w for w in answer.json()["workflows"]}
    assert {name: w["type"] for name, w in workflows.items()} == WORKFLOWS
    for name, workflow in workflows.items():
        assert workflow["stateMachineArn"] == PREFIX + name
        links = workflow["links"]
        assert links["self"] == f"/workflows/{name}"
        assert links["start"] == links["executions"] == f"/workflows/{name}/executions"
        assert ("sync" in links, "wait" in links) == ((True, False) if WORKFLOWS[name] == "EXPRESS" else (False, True))
        one = local.request("GET", f"/workflows/{name}")
        assert one.status == 200 and one.json() == workflow


def test_a_standard_workflow_starts_with_202_and_its_status_url_answers_its_result(local):
    answer = start(local, "orders", ORDER, name="orders-start-1")
    assert answer["executionArn"] == f"{EXECUTION}orders:orders-start-1"
    document = result(local, answer["statusUrl"])
    assert document["stateMachineArn"] == PREFIX + "orders" and document["status"] == "SUCCEEDED"
    assert document["output"]["status"] == "ACCEPTED" and document["output"]["lineCount"] == 2
    described = local.sfn().describe_execution(executionArn=answer["executionArn"])
    assert json.loads(described["input"]) == ORDER


def test_an_express_workflow_starts_with_202_its_express_arn_whose_result_becomes_readable(local):
    answer = start(local, "hello", {"name": "Eve", "echo": [1, "é"]}, name="hello-start-1")
    assert answer["executionArn"].startswith(f"{EXPRESS_EXECUTION}hello:hello-start-1:")
    document = result(local, answer["statusUrl"])
    assert document["status"] == "SUCCEEDED" and document["stateMachineArn"] == PREFIX + "hello"
    assert document["output"] == {"greeting": "Hello, Eve!", "echo": [1, "é"]}


def test_sync_runs_an_express_workflow_and_answers_200_with_its_output(local):
    answer = local.post_json("/workflows/hello/executions/sync", '{"name": "Zoë", "echo": {"k": "it\'s"}}')
    assert answer.status == 200, answer.body
    assert answer.headers["cache-status"] == GATEWAY
    assert answer.json() == {"greeting": "Hello, Zoë!", "echo": {"k": "it's"}}


def test_sync_on_a_standard_workflow_answers_400_workflow_type_not_supported(local):
    name = unique("sync-standard")
    answer = local.post_json(f"/workflows/orders/executions/sync?name={name}", json.dumps(ORDER))
    problem = assert_problem(answer, 400, "workflow-type-not-supported")
    assert answer.headers["cache-status"] == GATEWAY
    assert problem["detail"].startswith('"orders" is a STANDARD workflow')
    executions = local.sfn().list_executions(stateMachineArn=PREFIX + "orders")["executions"]
    assert name not in [e["name"] for e in executions]


def test_wait_on_a_standard_workflow_answers_200_with_its_result(local):
    answer = local.post_json("/workflows/greeting/executions/wait?wait=20", '{"name": "Ada", "echo": 1, "delaySeconds": 1}')
    assert answer.status == 200, answer.body
    document = answer.json()
    assert document["executionArn"].startswith(f"{EXECUTION}greeting:")
    assert document["output"] == {"greeting": "Hello, Ada!", "echo": 1}


def test_wait_on_an_express_workflow_answers_400_workflow_type_not_supported(local):
    with no_step_functions_call(local, "hello"):
        assert_problem(local.post_json("/workflows/hello/executions/wait", "{}"), 400, "workflow-type-not-supported")


@pytest.mark.parametrize("workflow", ["orders", "hello"])
def test_a_workflows_executions_list_the_started_one_and_only_its_own(local, workflow):
    body = ORDER if workflow == "orders" else {"name": "Ida", "echo": 2}
    answer = start(local, workflow, body)
    result(local, answer["statusUrl"])  # an EXPRESS run is listed once its log reached the table
    arns = listed(local, workflow)
    assert answer["executionArn"] in arns
    kind = EXECUTION if workflow == "orders" else EXPRESS_EXECUTION
    assert all(arn.startswith(f"{kind}{workflow}:") for arn in arns), arns


ROUTES = [("GET", "/workflows/{}"), ("GET", "/workflows/{}/executions"), ("POST", "/workflows/{}/executions"),
          ("POST", "/workflows/{}/executions/sync"), ("POST", "/workflows/{}/executions/wait")]


@pytest.mark.parametrize("method,route", ROUTES, ids=[f"{m} {r}" for m, r in ROUTES])
@pytest.mark.parametrize("workflow", ["nope", "greeting:1", "Greeting", "a" * 81])
def test_a_name_that_is_no_workflow_answers_404_on_every_route_without_calling_step_functions(
        local, method, route, workflow):
    with no_step_functions_call(local, workflow):
        answer = local.request(method, route.format(workflow), "{}", {"Content-Type": "application/json"})
    problem = assert_problem(answer, 404, "workflow-not-found")
    assert problem["title"] == "Workflow not found"
    assert problem["detail"] == f"No workflow named {json.dumps(workflow)} is configured in this deployment; " \
                                "GET /workflows lists them."


def test_a_machine_that_exists_but_is_no_workflow_is_refused_as_iam_refuses_it(local):
    """The gateway's role may start the configured workflows only: an existing machine outside
    them is never started, and its name answers 404 like any unknown one."""
    name = unique("payroll")
    definition = json.dumps({"StartAt": "Done", "States": {"Done": {"Type": "Succeed"}}})
    local.sfn().create_state_machine(name=name, definition=definition, roleArn="arn:aws:iam::123456789012:role/x")
    for method, route in ROUTES:
        with no_step_functions_call(local, name):
            answer = local.request(method, route.format(name), "{}", {"Content-Type": "application/json"})
        assert_problem(answer, 404, "workflow-not-found")
    assert local.sfn().list_executions(stateMachineArn=PREFIX + name)["executions"] == []


def test_the_older_routes_are_aliases_of_the_first_standard_and_express_samples(local):
    started = local.post_json("/executions?name=alias-standard-1", '{"name": "A", "echo": 1, "delaySeconds": 0}')
    assert started.status == 202 and started.json()["executionArn"] == f"{EXECUTION}greeting:alias-standard-1"
    express = local.post_json("/executions/express?name=alias-express-1", '{"name": "B", "echo": 2}')
    assert express.status == 202
    assert express.json()["executionArn"].startswith(f"{EXPRESS_EXECUTION}hello:alias-express-1:")
    sync = local.post_json("/executions/sync", '{"name": "C", "echo": 3}')
    assert sync.status == 200 and sync.json() == {"greeting": "Hello, C!", "echo": 3}
    waited = local.post_json("/executions/wait?wait=20", '{"name": "D", "echo": 4, "delaySeconds": 0}')
    assert waited.status == 200 and waited.json()["stateMachineArn"] == PREFIX + "greeting"
    assert "aliases     POST /executions, /executions/wait -> greeting; POST /executions/sync, " \
           "/executions/express -> hello" in local.banner


def test_a_workflow_dirs_folder_adds_its_workflows_named_by_file(local):
    """tests/workflows/ holds echo.asl.json (STANDARD) and count.express.asl.json (EXPRESS)."""
    waited = local.post_json("/workflows/echo/executions/wait?wait=20", '{"from": "a team"}')
    assert waited.status == 200 and waited.json()["output"] == {"echo": {"from": "a team"}}
    counted = local.post_json("/workflows/count/executions/sync", '{"items": [1, 2, 3]}')
    assert counted.status == 200 and counted.json() == {"count": 3}
    # The EXPRESS one logs as the stack has an EXPRESS workflow log (its results reach the table).
    logging = local.sfn().describe_state_machine(stateMachineArn=PREFIX + "count")["loggingConfiguration"]
    assert logging["level"] == "ALL" and logging["includeExecutionData"] is True
    group = logging["destinations"][0]["cloudWatchLogsLogGroup"]["logGroupArn"]
    assert group.endswith(":log-group:/aws/vendedlogs/states/count:*")
    for name, kind in (("echo", "STANDARD"), ("count", "EXPRESS")):
        assert f"    {name} ({kind})   {PREFIX}{name}" in local.banner
        assert f"POST {local.api}/workflows/{name}/executions " in local.banner


def test_the_emulators_start_sync_execution_refuses_as_step_functions_does(local):
    """What the gateway's sync route maps: StateMachineTypeNotSupported for a STANDARD machine,
    StateMachineDoesNotExist for an unknown one, InvalidArn for a malformed ARN."""
    # StartSyncExecution's endpoint is sync-states.*: no host prefix in front of the emulator.
    client = boto3.client("stepfunctions", endpoint_url=local.emulator, config=Config(inject_host_prefix=False))
    for arn, code in ((PREFIX + "orders", "StateMachineTypeNotSupported"),
                      (PREFIX + "nope", "StateMachineDoesNotExist"), ("not-an-arn", "InvalidArn")):
        with pytest.raises(ClientError) as refused:
            client.start_sync_execution(stateMachineArn=arn, name=unique("sync"), input="{}")
        assert refused.value.response["Error"]["Code"] == code
        assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
