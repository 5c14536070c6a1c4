"""The API Gateway mapping templates, rendered by a Velocity engine, against Step Functions (moto).

Request templates must carry any JSON body as the execution input exactly; the
rendered StartExecution request is sent to the emulator as API Gateway would send
it, and the execution's input read back. Response templates are rendered for the
envelopes Step Functions answers with.
"""

from __future__ import annotations

import json
import uuid

import pytest

from apigw_vtl import context, escape_javascript, render, url_encode
from definition import load
from hostile_bodies import HOSTILE_BODIES

def expected_input(body: str) -> str:
    return body if body != "" else "{}"


@pytest.mark.parametrize("why,body", HOSTILE_BODIES, ids=[w for w, _ in HOSTILE_BODIES])
@pytest.mark.parametrize("template", ["start-request.vtl", "sync-request.vtl"])
def test_the_request_template_carries_the_body_exactly(template, why, body, emulator, machines):
    ctx = context()
    rendered = render(template, body, stage_variables=machines, ctx=ctx)
    request = rendered.json()  # the rendered request is JSON at all
    assert request["input"] == expected_input(body), why
    assert request["name"] == ctx["requestId"]
    machine = "standardStateMachineArn" if template == "start-request.vtl" else "expressStateMachineArn"
    assert request["stateMachineArn"] == machines[machine]

    # What API Gateway would send, sent as is. moto has no StartSyncExecution, and
    # its request shape is StartExecution's, so the sync request goes to StartExecution too.
    status, answer = emulator.call("StartExecution", rendered.body)
    assert status == 200, answer
    described = emulator.describe(json.loads(answer)["executionArn"])
    assert described["input"] == expected_input(body), why
    assert json.loads(described["input"]) == json.loads(expected_input(body))


def test_a_name_in_the_query_becomes_the_execution_name(emulator, machines):
    name = f"order-{uuid.uuid4()}"
    rendered = render(
        "start-request.vtl", '{"name": "x"}', stage_variables=machines, params={"querystring": {"name": name}}
    )
    status, answer = emulator.call("StartExecution", rendered.body)
    assert status == 200, answer
    assert json.loads(answer)["executionArn"].endswith(":" + name)


def test_a_hostile_name_still_renders_valid_json(machines):
    name = "it's \"odd\" \\ </x> é"
    rendered = render("start-request.vtl", "{}", stage_variables=machines, params={"querystring": {"name": name}})
    assert rendered.json()["name"] == name


def test_a_body_that_is_not_json_reaches_step_functions_unchanged_and_is_refused(emulator, machines):
    rendered = render("start-request.vtl", "{not json'", stage_variables=machines)
    assert rendered.json()["input"] == "{not json'"
    status, _ = emulator.call("StartExecution", rendered.body)
    assert status == 400


def test_a_started_execution_answers_202_with_its_status_url(emulator, machines):
    body = '{"name": "O\'Brien \\"Bob\\"", "echo": {"k": ["é", "</x>"]}, "delaySeconds": 0}'
    ctx = context()
    status, answer = emulator.call("StartExecution", render("start-request.vtl", body, stage_variables=machines).body)
    assert status == 200, answer

    rendered = render("start-response.vtl", answer, ctx=ctx)
    started = rendered.json()
    arn = json.loads(answer)["executionArn"]
    url = f"https://{ctx['domainName']}/{ctx['stage']}/executions/{arn}"
    assert rendered.status == 202
    assert rendered.headers == {"Location": url}
    assert started == {"executionArn": arn, "startDate": json.loads(answer)["startDate"], "statusUrl": url}

    final = emulator.wait_final(arn)
    assert final["status"] == "SUCCEEDED"
    assert json.loads(final["output"]) == {"greeting": "Hello, O'Brien \"Bob\"!", "echo": {"k": ["é", "</x>"]}}


def test_a_public_base_url_stage_variable_is_the_base_of_the_status_url():
    arn = "arn:aws:states:us-east-1:123456789012:execution:Greeting:x"
    answer = json.dumps({"executionArn": arn, "startDate": 1.7e9})
    rendered = render("start-response.vtl", answer, stage_variables={"publicBaseUrl": "http://127.0.0.1:3000"})
    assert rendered.json()["statusUrl"] == f"http://127.0.0.1:3000/executions/{arn}"
    assert rendered.headers["Location"] == rendered.json()["statusUrl"]


def test_the_status_url_percent_encodes_all_but_the_colons_of_the_arn():
    arn = "arn:aws:states:eu-west-1:123456789012:execution:Orders:été+1"
    answer = json.dumps({"executionArn": arn, "startDate": 1.700000000123e9})
    rendered = render("start-response.vtl", answer)
    expected = "executions/arn:aws:states:eu-west-1:123456789012:execution:Orders:%C3%A9t%C3%A9%2B1"
    assert rendered.json()["statusUrl"].endswith(expected)
    assert rendered.json()["startDate"] == 1.700000000123e9


@pytest.mark.parametrize(
    "output",
    ['{"greeting": "Hello, x!", "echo": [1, "\'\\"\\\\"]}', '"just a string"', "42", "null", "[]", '{"é": "😀"}'],
)
def test_a_succeeded_sync_execution_answers_its_output_as_json(output):
    envelope = {"executionArn": "arn:aws:states:us-east-1:123456789012:express:Express:a:b", "status": "SUCCEEDED",
                "output": output, "startDate": 1.7e9, "stopDate": 1.7e9}
    rendered = render("sync-response.vtl", json.dumps(envelope))
    assert rendered.status is None  # the integration response's own 200
    assert rendered.json() == json.loads(output)


def test_a_succeeded_sync_execution_from_the_emulator_answers_its_output(emulator, machines):
    body = '{"name": "Zoë \\"Z\\"", "echo": {"apostrophe": "\'"}}'
    status, answer = emulator.call("StartExecution", render("sync-request.vtl", body, stage_variables=machines).body)
    assert status == 200, answer
    described = emulator.wait_final(json.loads(answer)["executionArn"])
    assert described["status"] == "SUCCEEDED"
    rendered = render("sync-response.vtl", json.dumps(described))
    assert rendered.json() == {"greeting": 'Hello, Zoë "Z"!', "echo": {"apostrophe": "'"}}


def test_a_failed_sync_execution_answers_502_with_error_and_cause_intact(emulator, machines):
    status, answer = emulator.call(
        "StartExecution", json.dumps({"stateMachineArn": machines["rejected"], "name": str(uuid.uuid4()), "input": "{}"})
    )
    assert status == 200, answer
    described = emulator.wait_final(json.loads(answer)["executionArn"])
    assert described["status"] == "FAILED"
    rendered = render("sync-response.vtl", json.dumps(described))
    problem = rendered.json()
    assert rendered.status == 502
    assert rendered.headers["Content-Type"] == "application/problem+json"
    assert problem["type"] == "urn:api-sfn:problem:execution-failed"
    assert problem["status"] == 502
    assert problem["error"] == "Order.Rejected"
    assert problem["cause"] == "The \"order\" can't be processed:\nno stock"


@pytest.mark.parametrize(
    "cause",
    [
        'a "quoted" cause',
        "it's\nover\r\n\ttwo lines",
        "back\\slash \\' and \\\\\" </script>",
        'json inside: {"errorMessage": "x", "trace": ["a\\nb"]}',
        "non-ASCII é 日本 😀 \u2028",
        "\u0000\u001f control",
    ],
)
def test_a_failed_cause_survives_any_characters(cause):
    envelope = {"executionArn": "arn:aws:states:us-east-1:123456789012:express:Express:a:b",
                "status": "FAILED", "error": "States.TaskFailed 'x'", "cause": cause}
    problem = render("sync-response.vtl", json.dumps(envelope)).json()
    assert problem["cause"] == cause
    assert problem["error"] == "States.TaskFailed 'x'"


def test_a_timed_out_sync_execution_answers_504():
    envelope = {"executionArn": "arn:aws:states:us-east-1:123456789012:express:Express:a:b", "status": "TIMED_OUT",
                "startDate": 1.7e9, "stopDate": 1.7e9}
    rendered = render("sync-response.vtl", json.dumps(envelope))
    problem = rendered.json()
    assert rendered.status == 504
    assert rendered.headers["Content-Type"] == "application/problem+json"
    assert problem == {
        "type": "urn:api-sfn:problem:execution-timed-out",
        "title": "Execution timed out",
        "status": 504,
        "detail": "The workflow execution ended with status TIMED_OUT.",
        "executionArn": envelope["executionArn"],
        "error": None,
        "cause": None,
    }


def test_a_timed_out_execution_keeps_its_error_and_cause():
    envelope = {"executionArn": "a", "status": "TIMED_OUT", "error": "States.Timeout", "cause": "took \"too\" long"}
    problem = render("sync-response.vtl", json.dumps(envelope)).json()
    assert (problem["status"], problem["error"], problem["cause"]) == (504, "States.Timeout", 'took "too" long')


def test_an_aborted_sync_execution_answers_502():
    rendered = render("sync-response.vtl", json.dumps({"executionArn": "a", "status": "ABORTED"}))
    assert rendered.status == 502 and rendered.json()["type"] == "urn:api-sfn:problem:execution-failed"


@pytest.mark.parametrize(
    "error_type,status,slug,retry_after",
    [
        ("ThrottlingException", 429, "throttled", "1"),
        ("com.amazonaws.swf.base.model#KmsThrottlingException", 429, "throttled", "1"),
        ("ExecutionLimitExceeded", 503, "upstream-unavailable", "5"),
        ("ExecutionAlreadyExists", 409, "execution-exists", None),
        ("InvalidExecutionInput", 400, "invalid-input", None),
        ("InvalidName", 400, "invalid-execution-name", None),
        ("ValidationException", 400, "invalid-request", None),
        ("StateMachineDoesNotExist", 502, "upstream-error", None),
        ("StateMachineDeleting", 502, "upstream-error", None),
        ("InvalidArn", 502, "upstream-error", None),
        ("AccessDeniedException", 502, "upstream-error", None),
        ("", 502, "upstream-error", None),
    ],
)
def test_step_functions_client_errors_become_fitting_problems(error_type, status, slug, retry_after):
    message = "Invalid 'input': \"bad\" \\ </x>\nline"
    rendered = render("sfn-client-error.vtl", json.dumps({"__type": error_type, "message": message}))
    problem = rendered.json()
    assert rendered.status == status and problem["status"] == status
    assert problem["type"] == f"urn:api-sfn:problem:{slug}"
    assert rendered.headers.get("Retry-After") == retry_after
    assert rendered.headers["Content-Type"] == "application/problem+json"
    if status in (400, 409):
        assert problem["detail"] == message  # the caller can fix these: say what is wrong
    else:
        assert message not in problem["detail"]  # deployment or capacity problems stay in the logs


def test_an_input_over_the_size_limit_answers_413():
    body = {"__type": "ValidationException",
            "message": "1 validation error detected: Value at 'input' failed to satisfy constraint: "
                       "Member must have length less than or equal to 262144"}
    rendered = render("sfn-client-error.vtl", json.dumps(body))
    assert rendered.status == 413 and rendered.json()["type"] == "urn:api-sfn:problem:payload-too-large"


@pytest.mark.parametrize(
    "body",
    [
        # Step Functions' answers for a name over 80 characters and for a refused character.
        {"__type": "ValidationException",
         "message": f"1 validation error detected: Value '{'n' * 81}' at 'name' failed to satisfy constraint: "
                    "Member must have length less than or equal to 80"},
        {"__type": "ValidationException",
         "message": f"1 validation error detected: Value '{'262144' * 14}' at 'name' failed to satisfy "
                    "constraint: Member must have length less than or equal to 80"},
        {"__type": "com.amazonaws.swf.service.v2.model#InvalidName", "message": "Invalid Name: 'say \"hi\"'"},
    ],
    ids=["too long", "too long, holding 262144", "a refused character"],
)
def test_a_name_step_functions_refuses_answers_400_invalid_execution_name(body):
    rendered = render("sfn-client-error.vtl", json.dumps(body))
    problem = rendered.json()
    assert rendered.status == 400 and problem["type"] == "urn:api-sfn:problem:invalid-execution-name"
    assert problem["detail"] == body["message"]


def test_the_emulators_execution_already_exists_answers_409(emulator, machines):
    name = str(uuid.uuid4())
    first = render("start-request.vtl", '{"a": 1}', stage_variables=machines, params={"querystring": {"name": name}})
    second = render("start-request.vtl", '{"a": 2}', stage_variables=machines, params={"querystring": {"name": name}})
    assert emulator.call("StartExecution", first.body)[0] == 200
    status, answer = emulator.call("StartExecution", second.body)
    assert status == 400
    rendered = render("sfn-client-error.vtl", answer)
    assert rendered.status == 409 and rendered.json()["type"] == "urn:api-sfn:problem:execution-exists"


def test_step_functions_server_errors_answer_503_with_retry_after():
    rendered = render("sfn-server-error.vtl", '{"__type": "InternalFailure", "message": "secret internals"}')
    assert rendered.status == 503 and rendered.headers["Retry-After"] == "1"
    assert rendered.json()["type"] == "urn:api-sfn:problem:upstream-unavailable"
    assert "secret" not in rendered.body


def test_escape_javascript_matches_commons_lang():
    assert escape_javascript("a'b\"c\\d/e") == "a\\'b\\\"c\\\\d\\/e"
    assert escape_javascript("\u0000\u0008\u000b\n\u007f\u00e9\U0001F600") == "\\u0000\\b\\u000B\\n\u007f\\u00E9\\uD83D\\uDE00"


def test_url_encode_matches_java_url_encoder():
    assert url_encode("a b~*:é/+") == "a+b%7E*%3A%C3%A9%2F%2B"


# The workflow routes: build.py's templates for POST /workflows/{workflow}/executions[/sync], the
# machine named by the path (workflow-machine.vtl in place of the alias's stage variable).
PREFIX = "arn:aws:states:us-east-1:123456789012:stateMachine:"
WORKFLOW_ROUTES = {"start": "/workflows/{workflow}/executions", "sync": "/workflows/{workflow}/executions/sync"}


def workflow_template(route: str) -> str:
    integration = load()["paths"][WORKFLOW_ROUTES[route]]["post"]["x-amazon-apigateway-integration"]
    return integration["requestTemplates"]["application/json"]


def render_workflow(route: str, workflow: str, body: str = "{}", **params):
    stage = {"workflowArnPrefix": PREFIX, "standardStateMachineArn": "unused", "expressStateMachineArn": "unused"}
    return render(workflow_template(route), body, stage_variables=stage,
                  params={"path": {"workflow": workflow}, **params})


def not_found(answer: str, workflow: str):
    rendered = render("sfn-client-error.vtl", answer, params={"path": {"workflow": workflow}})
    return rendered, rendered.json()


@pytest.mark.parametrize("route", sorted(WORKFLOW_ROUTES))
def test_a_workflow_route_starts_the_machine_its_path_names_with_the_body_exactly(route, emulator, machines):
    ctx = context()
    body = '{"name": "O\'Brien", "echo": ["é", "</x>"], "delaySeconds": 0}'
    rendered = render(workflow_template(route), body, ctx=ctx,
                      stage_variables={"workflowArnPrefix": PREFIX}, params={"path": {"workflow": "Greeting"}})
    request = rendered.json()
    assert request == {"stateMachineArn": machines["standardStateMachineArn"], "name": ctx["requestId"],
                       "input": body}
    # StartSyncExecution takes StartExecution's request shape; moto has only the latter.
    status, answer = emulator.call("StartExecution", rendered.body)
    assert status == 200, answer
    final = emulator.wait_final(json.loads(answer)["executionArn"])
    assert final["status"] == "SUCCEEDED" and final["input"] == body


def test_a_workflow_start_takes_the_name_from_the_query(emulator, machines):
    name = f"wf-{uuid.uuid4()}"
    rendered = render_workflow("start", "Greeting", '{"delaySeconds": 0}', querystring={"name": name})
    status, answer = emulator.call("StartExecution", rendered.body)
    assert status == 200, answer
    assert json.loads(answer)["executionArn"] == f"{PREFIX.replace(':stateMachine:', ':execution:')}Greeting:{name}"


@pytest.mark.parametrize("workflow", ["Greeting:1", "Greeting:live", "a/b", "../Greeting", "n" * 81, "",
                                      "say \"hi\"", "é"])
def test_a_name_that_is_not_a_machine_name_never_becomes_part_of_the_arn(workflow, emulator):
    for route in WORKFLOW_ROUTES:
        assert render_workflow(route, workflow).json()["stateMachineArn"] == PREFIX
    status, answer = emulator.call("StartExecution", render_workflow("start", workflow).body)
    assert status == 400 and json.loads(answer)["__type"].endswith("InvalidArn"), answer
    if workflow:
        rendered, problem = not_found(answer, workflow)
        assert rendered.status == 404 and problem["type"] == "urn:api-sfn:problem:workflow-not-found"


def test_a_workflow_step_functions_does_not_know_answers_404_naming_it(emulator):
    status, answer = emulator.call("StartExecution", render_workflow("start", "NoSuchFlow").body)
    assert status == 400 and "StateMachineDoesNotExist" in json.loads(answer)["__type"], answer
    rendered, problem = not_found(answer, "NoSuchFlow")
    assert rendered.status == 404
    assert rendered.headers["Content-Type"] == "application/problem+json"
    assert problem == {
        "type": "urn:api-sfn:problem:workflow-not-found",
        "title": "Workflow not found",
        "status": 404,
        "detail": 'No workflow named "NoSuchFlow" is configured in this deployment; GET /workflows lists them.',
    }


# What Step Functions answers when IAM refuses the gateway's role (the stack lets it start the
# configured workflows only): the role and the machine ARN are in the message, never in the answer.
ACCESS_DENIED = {
    "__type": "com.amazon.coral.service#AccessDeniedException",
    "Message": "User: arn:aws:sts::123456789012:assumed-role/api-sfn-ApiStartRole-X1/BackplaneAssumeRoleSession "
               "is not authorized to perform: states:StartExecution on resource: "
               f"{PREFIX}payroll because no identity-based policy allows the states:StartExecution action",
}


@pytest.mark.parametrize("workflow", ["payroll", 'it\'s "odd" </x> é'])
def test_a_workflow_iam_refuses_answers_404_and_nothing_internal(workflow):
    rendered, problem = not_found(json.dumps(ACCESS_DENIED), workflow)
    assert rendered.status == 404 and problem["status"] == 404
    assert problem["type"] == "urn:api-sfn:problem:workflow-not-found"
    assert problem["detail"] == f'No workflow named "{workflow}" is configured in this deployment; GET /workflows lists them.'
    assert "ApiStartRole" not in rendered.body and "123456789012" not in rendered.body


def test_a_standard_workflow_on_the_sync_route_answers_400_workflow_type_not_supported():
    answer = json.dumps({"__type": "StateMachineTypeNotSupported",
                         "message": "This operation is not supported by this type of state machine"})
    rendered = render("sfn-client-error.vtl", answer, params={"path": {"workflow": "orders"}})
    problem = rendered.json()
    assert rendered.status == 400 and problem["status"] == 400
    assert problem["type"] == "urn:api-sfn:problem:workflow-type-not-supported"
    assert problem["title"] == "Workflow type not supported"
    assert problem["detail"].startswith('"orders" is a STANDARD workflow')
    assert "POST /workflows/orders/executions" in problem["detail"]


@pytest.mark.parametrize("error_type", ["com.amazon.coral.service#AccessDeniedException", "StateMachineDoesNotExist",
                                        "InvalidArn", "StateMachineTypeNotSupported"])
def test_on_the_alias_routes_a_refused_machine_stays_a_deployment_fault(error_type):
    """POST /executions[/sync|/express] name their machine by stage variable: no path, no 404."""
    rendered = render("sfn-client-error.vtl", json.dumps({"__type": error_type, "message": "internal detail"}))
    assert rendered.status == 502 and rendered.json()["type"] == "urn:api-sfn:problem:upstream-error"
    assert "internal detail" not in rendered.body


@pytest.mark.parametrize("error_type,status,slug", [("ThrottlingException", 429, "throttled"),
                                                    ("ExecutionAlreadyExists", 409, "execution-exists"),
                                                    ("InvalidExecutionInput", 400, "invalid-input")])
def test_on_a_workflow_route_other_errors_map_as_on_the_alias_routes(error_type, status, slug):
    answer = json.dumps({"__type": error_type, "message": "m"})
    rendered = render("sfn-client-error.vtl", answer, params={"path": {"workflow": "orders"}})
    assert rendered.status == status and rendered.json()["type"] == f"urn:api-sfn:problem:{slug}"
