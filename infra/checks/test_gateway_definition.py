"""infra/api/gateway.openapi.json: in step with infra/openapi.json and the templates, valid, complete."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path

import pytest
from openapi_spec_validator import validate

from apigw_vtl import context, render
from definition import operations, resolve

ROOT = Path(__file__).resolve().parents[2]
SERVED = json.loads((ROOT / "infra" / "openapi.json").read_text(encoding="utf-8"))
GATEWAY = json.loads((ROOT / "infra" / "api" / "gateway.openapi.json").read_text(encoding="utf-8"))
TEMPLATES = ROOT / "infra" / "api" / "templates"


def resolve_intrinsics(node, condition: bool = True):
    """The definition as CloudFormation would deploy it, with sample values; `condition` is both the
    origin's and the browser user pool's."""
    values = {"AWS::Partition": "aws", "AWS::Region": "eu-west-1", "AuthType": "AWS_IAM"}
    return resolve(node, values, {"HasAllowedOrigin": condition, "HasBrowserUserPool": condition,
                                  "HasBrowserControl": condition})


def test_the_gateway_definition_is_generated_from_the_current_sources():
    result = subprocess.run(
        [sys.executable, str(ROOT / "infra" / "api" / "build.py"), "--check"], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr


def test_the_served_document_is_valid_openapi_3_1():
    assert SERVED["openapi"].startswith("3.1")
    validate(SERVED)


@pytest.mark.parametrize("with_origin", [True, False])
def test_the_gateway_definition_is_valid_openapi_3_0_once_intrinsics_resolve(with_origin):
    doc = resolve_intrinsics(copy.deepcopy(GATEWAY), with_origin)
    assert doc["openapi"].startswith("3.0")
    validate(doc)


def test_every_route_of_the_served_document_is_on_the_gateway_with_the_same_responses():
    for path, item in SERVED["paths"].items():
        for method, operation in item.items():
            gateway = GATEWAY["paths"][path][method]
            assert gateway["operationId"] == operation["operationId"]
            assert set(gateway["responses"]) == set(operation["responses"]), f"{method} {path}"
            assert "x-amazon-apigateway-integration" in gateway, f"{method} {path}"
    assert GATEWAY["components"]["schemas"].keys() == SERVED["components"]["schemas"].keys()


def test_the_start_routes_call_step_functions_and_the_rest_reach_the_function():
    kinds = {(p, m): o["x-amazon-apigateway-integration"] for p, m, o in operations(GATEWAY) if m != "options"}
    start, sync = kinds.pop(("/executions", "post")), kinds.pop(("/executions/sync", "post"))
    express = kinds.pop(("/executions/express", "post"))
    workflow_start = kinds.pop(("/workflows/{workflow}/executions", "post"))
    workflow_sync = kinds.pop(("/workflows/{workflow}/executions/sync", "post"))
    assert start["uri"]["Fn::Sub"].endswith(":states:action/StartExecution")
    assert express["uri"]["Fn::Sub"].endswith(":states:action/StartExecution")
    assert workflow_start["uri"]["Fn::Sub"].endswith(":states:action/StartExecution")
    assert sync["uri"]["Fn::Sub"].endswith(":states:action/StartSyncExecution")
    assert workflow_sync["uri"]["Fn::Sub"].endswith(":states:action/StartSyncExecution")
    # The express start is POST /executions' template on the EXPRESS machine's stage variable.
    express_template = express["requestTemplates"]["application/json"]
    assert "$stageVariables.expressStateMachineArn" in express_template
    assert express_template.replace("expressStateMachineArn", "standardStateMachineArn") == (
        start["requestTemplates"]["application/json"]
    )
    # The workflow routes are the alias routes' templates with the machine named by the path.
    fragment = (TEMPLATES / "workflow-machine.vtl").read_text(encoding="utf-8")
    for alias, workflow, variable in ((start, workflow_start, "standardStateMachineArn"),
                                      (sync, workflow_sync, "expressStateMachineArn")):
        line = f"#set($stateMachineArn = $stageVariables.{variable})\n"
        assert alias["requestTemplates"]["application/json"].replace(line, fragment) == (
            workflow["requestTemplates"]["application/json"]
        )
        assert workflow["responses"] == alias["responses"]
    for integration in (start, express, sync, workflow_start, workflow_sync):
        assert integration["type"] == "aws"
        assert integration["credentials"] == {"Fn::GetAtt": ["ApiStartRole", "Arn"]}
        assert integration["passthroughBehavior"] == "never"
        assert "${AWS::Region}" in integration["uri"]["Fn::Sub"]  # no region written in
    # The callbacks: straight to SendTask*, their bodies checked by the gateway first.
    validators = GATEWAY["x-amazon-apigateway-request-validators"]
    for kind in ("Success", "Failure", "Heartbeat"):
        operation = next(o for p, m, o in operations(GATEWAY) if (p, m) == (f"/callbacks/{kind.lower()}", "post"))
        callback = kinds.pop((f"/callbacks/{kind.lower()}", "post"))
        assert callback["uri"]["Fn::Sub"].endswith(f":states:action/SendTask{kind}")
        assert callback["type"] == "aws" and callback["passthroughBehavior"] == "never"
        assert callback["credentials"] == {"Fn::GetAtt": ["ApiStartRole", "Arn"]}
        assert callback["responses"]["default"]["statusCode"] == "204"
        assert validators[operation["x-amazon-apigateway-request-validator"]]["validateRequestBody"] is True
    for (path, method), integration in kinds.items():
        assert integration["type"] == "aws_proxy", f"{method} {path}"
        # The function by its stack-given name (a reference would make a cycle, see build.py).
        assert integration["uri"]["Fn::Sub"].endswith(":function:${AWS::StackName}-results/invocations")


def test_the_definition_carries_the_template_files_unchanged():
    used = set()
    for _, _, operation in operations(GATEWAY):
        integration = operation["x-amazon-apigateway-integration"]
        texts = list(integration.get("requestTemplates", {}).values())
        texts += [t for r in integration.get("responses", {}).values() for t in r.get("responseTemplates", {}).values()]
        for text in texts:
            for file in TEMPLATES.glob("*.vtl"):
                if file.read_text(encoding="utf-8") == text:
                    used.add(file.name)
                # A fragment build.py puts in place of a template's line that names the machine.
                if file.name == "workflow-machine.vtl" and file.read_text(encoding="utf-8") in text:
                    used.add(file.name)
    assert used == {f.name for f in TEMPLATES.glob("*.vtl")}


BROWSER_READS = {("/executions/{executionArn}/steps", "get"),
                 ("/executions", "get"), ("/executions/{executionArn}", "get"), ("/workflows", "get"),
                 ("/workflows/{workflow}", "get"), ("/workflows/{workflow}/executions", "get")}
# The status page's stop and redrive: with the user pool and AllowControl, its users' token too.
CONTROL = {("/executions/{executionArn}/stop", "post"), ("/executions/{executionArn}/redrive", "post")}


def test_every_route_uses_the_auth_parameter_and_preflights_need_none():
    for path, method, operation in operations(GATEWAY):
        if (path, method) in BROWSER_READS | CONTROL or (path, method) == ("/", "get"):
            continue
        # A callback link's page and answer: the signed one-time link is the credential.
        open_route = method == "options" or path == "/callbacks/{link}"
        expected = {"type": "NONE"} if open_route else {"type": {"Ref": "AuthType"}}
        assert operation["x-amazon-apigateway-auth"] == expected, f"{method} {path}"
    for path in SERVED["paths"]:
        assert "options" in GATEWAY["paths"][path]


def test_every_answer_gets_cors_headers_when_an_origin_is_configured():
    doc = resolve_intrinsics(copy.deepcopy(GATEWAY), True)
    bare = resolve_intrinsics(copy.deepcopy(GATEWAY), False)
    for path, _method, operation in operations(doc):
        integration = operation["x-amazon-apigateway-integration"]
        if integration["type"] == "aws_proxy":
            continue  # the function answers CORS itself (CORS_ALLOWED_ORIGINS)
        for response in integration["responses"].values():
            assert "method.response.header.Access-Control-Allow-Origin" in response["responseParameters"], path
    for kind, response in doc["x-amazon-apigateway-gateway-responses"].items():
        assert "gatewayresponse.header.Access-Control-Allow-Origin" in response["responseParameters"], kind
    for kind, response in bare["x-amazon-apigateway-gateway-responses"].items():
        assert "gatewayresponse.header.Access-Control-Allow-Origin" not in response["responseParameters"], kind


@pytest.mark.parametrize("kind", sorted(GATEWAY["x-amazon-apigateway-gateway-responses"]))
def test_gateway_answers_are_problem_documents(kind):
    response = GATEWAY["x-amazon-apigateway-gateway-responses"][kind]
    # API Gateway gives the message as a quoted JSON string.
    message = json.dumps('Missing "Authentication" Token \' \\ é')
    ctx = context(error={"messageString": message, "responseType": kind})
    problem = render(response["responseTemplates"]["application/json"], ctx=ctx).json()
    assert problem["status"] == int(response["statusCode"])
    assert problem["type"].startswith("urn:api-sfn:problem:")
    assert problem["detail"] == json.loads(message)
    assert set(problem) == {"type", "title", "status", "detail"} and problem["title"]


@pytest.mark.parametrize("with_origin", [True, False])
@pytest.mark.parametrize("kind", sorted(GATEWAY["x-amazon-apigateway-gateway-responses"]))
def test_gateway_answers_carry_the_headers_of_every_answer(kind, with_origin):
    response = resolve_intrinsics(GATEWAY, with_origin)["x-amazon-apigateway-gateway-responses"][kind]
    headers = {
        name.removeprefix("gatewayresponse.header."): value.strip("'")
        for name, value in response["responseParameters"].items()
    }
    assert headers["Content-Type"] == "application/problem+json"
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Cache-Status"] == "api-gateway; fwd=bypass"
    if response["statusCode"] == "429":
        assert int(headers["Retry-After"]) >= 1
    else:
        assert "Retry-After" not in headers


def test_the_gateway_answers_the_issue_names_are_defined():
    responses = GATEWAY["x-amazon-apigateway-gateway-responses"]
    expected = {"DEFAULT_4XX": "400", "DEFAULT_5XX": "500", "THROTTLED": "429", "INTEGRATION_TIMEOUT": "504",
                "ACCESS_DENIED": "403", "MISSING_AUTHENTICATION_TOKEN": "403"}
    assert {kind: responses[kind]["statusCode"] for kind in expected} == expected


@pytest.mark.parametrize("route", [("/executions", "post"), ("/executions/sync", "post"),
                                   ("/workflows/{workflow}/executions", "post"),
                                   ("/workflows/{workflow}/executions/sync", "post")])
def test_step_functions_answers_carry_nosniff_and_cache_status(route):
    operation = resolve_intrinsics(GATEWAY, False)["paths"][route[0]][route[1]]
    for pattern, response in operation["x-amazon-apigateway-integration"]["responses"].items():
        parameters = response["responseParameters"]
        assert parameters["method.response.header.X-Content-Type-Options"] == "'nosniff'", pattern
        assert parameters["method.response.header.Cache-Status"] == "'api-gateway; fwd=bypass'", pattern
        declared = operation["responses"][response["statusCode"]]["headers"]
        assert {"X-Content-Type-Options", "Cache-Status"} <= set(declared), pattern


def test_the_preflight_mock_renders_its_status():
    for path in SERVED["paths"]:
        mock = GATEWAY["paths"][path]["options"]["x-amazon-apigateway-integration"]
        assert json.loads(render(mock["requestTemplates"]["application/json"]).body) == {"statusCode": 204}


@pytest.mark.parametrize("pool", [True, False])
def test_the_browser_option_lets_cognito_users_read_and_with_allow_control_steer_and_nothing_else(pool):
    doc = resolve_intrinsics(copy.deepcopy(GATEWAY), pool)
    for path, method, operation in operations(doc):
        auth = operation.get("x-amazon-apigateway-auth")
        if (path, method) in BROWSER_READS | CONTROL:
            if pool:
                assert auth is None and operation["security"] == [{"BrowserUsers": []}], f"{method} {path}"
            else:
                assert auth == {"type": "AWS_IAM"} and "security" not in operation, f"{method} {path}"
        elif (path, method) == ("/", "get"):
            assert auth == {"type": "NONE" if pool else "AWS_IAM"}, "the page is static HTML"
        elif path == "/callbacks/{link}":
            assert auth == {"type": "NONE"}, f"{method} {path}: the link is the credential"
        elif method != "options":
            assert auth == {"type": "AWS_IAM"} and "security" not in operation, f"{method} {path}"
    schemes = doc["components"].get("securitySchemes", {})
    assert ("BrowserUsers" in schemes) == pool
    # A user pool without AllowControl: the pool's users read; stop and redrive stay AuthType's.
    values = {"AWS::Partition": "aws", "AWS::Region": "eu-west-1", "AuthType": "AWS_IAM"}
    reads_only = resolve(copy.deepcopy(GATEWAY), values, {"HasAllowedOrigin": True, "HasBrowserUserPool": True,
                                                         "HasBrowserControl": False})
    for path, method, operation in operations(reads_only):
        if (path, method) in CONTROL:
            assert operation["x-amazon-apigateway-auth"] == {"type": "AWS_IAM"} and "security" not in operation
    if pool:
        assert schemes["BrowserUsers"]["x-amazon-apigateway-authorizer"]["providerARNs"] == ["BrowserUserPoolArn"]
