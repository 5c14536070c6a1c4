"""The whole API on one port, through the local gateway: start, fetch, wait, sync, and bad input.

Every request goes over HTTP to what infra/local/up.sh serves; what reached Step Functions is
read back from the emulator.
"""

from __future__ import annotations

import contextlib
import json
import socket
import subprocess
import sys
import uuid

import pytest
from hostile_bodies import HOSTILE_BODIES

from conftest import ROOT

PROBLEM = "application/problem+json"


def assert_problem(response, status: int, slug: str):
    assert response.status == status, response.body
    assert response.headers["content-type"] == PROBLEM
    problem = response.json()
    assert problem["type"] == f"urn:api-sfn:problem:{slug}" and problem["status"] == status
    assert problem["title"] and problem["detail"]
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["cache-status"]
    return problem


def test_a_start_answers_202_whose_status_url_answers_202_then_200_after_a_wait(local):
    started = local.post_json("/executions", '{"name": "Ada", "echo": [1, "é"], "delaySeconds": 1}')
    assert started.status == 202
    body = started.json()
    assert body["statusUrl"] == started.headers["location"]
    assert body["statusUrl"] == f"{local.api}/executions/{body['executionArn']}"
    assert started.headers["cache-status"] == "api-gateway; fwd=bypass"

    running = local.request("GET", body["statusUrl"])
    assert running.status == 202 and running.json()["status"] == "RUNNING"
    assert running.headers["retry-after"]

    done = local.request("GET", body["statusUrl"] + "?wait=10")
    assert done.status == 200
    document = done.json()
    assert document["executionArn"] == body["executionArn"] and document["status"] == "SUCCEEDED"
    assert document["output"] == {"greeting": "Hello, Ada!", "echo": [1, "é"]}


@pytest.mark.parametrize("why,body", HOSTILE_BODIES, ids=[w for w, _ in HOSTILE_BODIES])
def test_a_hostile_body_reaches_the_execution_input_exactly(local, why, body):
    started = local.post_json("/executions", body)
    assert started.status == 202, started.body
    described = local.sfn().describe_execution(executionArn=started.json()["executionArn"])
    assert described["input"] == (body or "{}"), why


def test_an_express_start_answers_202_with_its_status_url_and_the_input_reaches_the_express_machine(local):
    body = '{"name": "Eve", "quote": "it\'s \\"here\\""}'
    started = local.post_json("/executions/express?name=express-async-1", body)
    assert started.status == 202, started.body
    answer = started.json()
    assert answer["statusUrl"] == started.headers["location"]
    assert answer["statusUrl"] == f"{local.api}/executions/{answer['executionArn']}"
    assert started.headers["cache-status"] == "api-gateway; fwd=bypass"
    # AWS's Express ARN; the emulator runs it as a moto execution of its own, named apart.
    assert answer["executionArn"].startswith("arn:aws:states:us-east-1:123456789012:express:hello:"
                                             "express-async-1:")
    behind = local.request("GET", "/_emulator/express", base=local.emulator).json()[answer["executionArn"]]
    described = local.sfn().describe_execution(executionArn=behind)
    assert ":stateMachine:hello" in described["stateMachineArn"]
    assert described["input"] == body


def test_a_sync_execution_that_succeeds_answers_its_output(local):
    answer = local.post_json("/executions/sync", '{"name": "Zoë \\"Z\\"", "echo": {"k": "\'</x>"}}')
    assert answer.status == 200, answer.body
    assert answer.headers["content-type"] == "application/json"
    assert answer.json() == {"greeting": 'Hello, Zoë "Z"!', "echo": {"k": "'</x>"}}
    assert answer.headers["x-content-type-options"] == "nosniff"


def test_a_sync_execution_that_fails_answers_502_with_its_error_and_cause(local):
    problem = assert_problem(local.post_json("/executions/sync", '{"fail": true}'), 502, "execution-failed")
    assert problem["error"] == "Greeting.Refused"
    assert problem["cause"] == 'The input asked for a "failure": it\'s what {"fail": true} does.'
    assert ":express:hello:" in problem["executionArn"]


def test_a_sync_execution_over_its_timeout_answers_504_timed_out(local):
    # The EXPRESS sample's TimeoutSeconds is 5.
    problem = assert_problem(local.post_json("/executions/sync", '{"name": "x", "echo": 1, "delaySeconds": 8}'),
                             504, "execution-timed-out")
    assert problem["detail"] == "The workflow execution ended with status TIMED_OUT."


@contextlib.contextmanager
def another_gateway(local, *, service_port: str | None = None, timeout_ms: str = "29000"):
    """A second gateway beside up.sh's, on a free port: another integration timeout or upstream."""
    express = next(line.split()[-1] for line in local.banner.splitlines() if "stateMachine:hello" in line)
    gateway = subprocess.Popen(
        [sys.executable, str(ROOT / "infra/local/gateway.py"), "--listen", "127.0.0.1:0",
         "--service-port", service_port or local.service.rsplit(":", 1)[1],
         "--emulator-port", local.emulator.rsplit(":", 1)[1],
         "--stage-variable", f"expressStateMachineArn={express}", "--integration-timeout-ms", timeout_ms],
        stdout=subprocess.PIPE, text=True,
    )
    try:
        yield "http://127.0.0.1:" + gateway.stdout.readline().split()[1]
    finally:
        gateway.terminate()
        gateway.wait(timeout=10)


def test_a_request_longer_than_the_integration_timeout_answers_504_from_the_gateway(local):
    """As API Gateway ends a request at timeoutInMillis (29 s deployed; 1 s here)."""
    with another_gateway(local, timeout_ms="1000") as base:
        slow = local.post_json("/executions/sync", '{"name": "x", "echo": 1, "delaySeconds": 3}', base=base)
        problem = assert_problem(slow, 504, "gateway-timeout")
        assert problem["detail"] == "Endpoint request timed out"
        assert slow.headers["cache-status"] == "api-gateway; fwd=bypass"
        started = local.post_json("/executions", '{"delaySeconds": 5}').json()
        waited = local.request("GET", f"/executions/{started['executionArn']}?wait=4", base=base)
        assert_problem(waited, 504, "gateway-timeout")


def test_an_upstream_that_cannot_be_reached_answers_502_from_the_gateway(local):
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = str(closed.getsockname()[1])  # bound, never listening: connections are refused
        with another_gateway(local, service_port=port) as base:
            problem = assert_problem(local.request("GET", "/healthz", base=base), 502, "upstream-error")
            assert problem["detail"] == "Internal server error"


def test_a_body_that_is_not_json_answers_400_invalid_input(local):
    assert_problem(local.post_json("/executions", "{not json'"), 400, "invalid-input")
    assert_problem(local.post_json("/executions/wait", "{not json'"), 400, "invalid-input")


def test_a_body_over_256_kib_answers_413(local):
    big = json.dumps({"x": "a" * (256 * 1024)})
    assert_problem(local.post_json("/executions", big), 413, "payload-too-large")
    assert_problem(local.post_json("/executions/sync", big), 413, "payload-too-large")
    assert local.post_json("/executions/wait", big).status == 413


def test_a_body_over_api_gateways_10_mb_answers_413_from_the_gateway(local):
    problem = assert_problem(local.post_json("/executions", b"1" * (10 * 1024 * 1024 + 1)), 413, "payload-too-large")
    assert problem["detail"] == "Request Too Long"


def test_a_body_that_is_not_declared_json_answers_415(local):
    answer = local.request("POST", "/executions", "{}", {"Content-Type": "text/plain"})
    assert_problem(answer, 415, "unsupported-media-type")


def test_an_unknown_route_reaches_the_service_and_answers_404(local):
    problem = assert_problem(local.request("GET", "/no/such/route?x=1"), 404, "not-found")
    assert problem["detail"]


@pytest.mark.parametrize("method,path", [("DELETE", "/executions"), ("GET", "/executions/sync"),
                                         ("PUT", "/healthz"), ("POST", "/"), ("BREW", "/executions")])
def test_a_method_the_resource_lacks_answers_403_as_api_gateway_does(local, method, path):
    answer = local.request(method, path)
    problem = assert_problem(answer, 403, "forbidden")
    assert problem["detail"] == "Missing Authentication Token"
    assert answer.headers["cache-status"] == "api-gateway; fwd=bypass"


def test_a_name_reused_with_another_input_answers_409_and_with_the_same_input_the_same_execution(local):
    name = f"order-{uuid.uuid4()}"
    first = local.post_json(f"/executions?name={name}", '{"a": 1, "delaySeconds": 5}')
    assert first.status == 202 and first.json()["executionArn"].endswith(":" + name)
    again = local.post_json(f"/executions?name={name}", '{"a": 1, "delaySeconds": 5}')
    assert again.status == 202 and again.json()["executionArn"] == first.json()["executionArn"]
    assert_problem(local.post_json(f"/executions?name={name}", '{"a": 2}'), 409, "execution-exists")


def test_headers_query_and_body_reach_the_service_and_its_headers_come_back(local):
    direct = local.request("GET", "/openapi.json", base=local.service)
    through = local.request("GET", "/openapi.json")
    assert through.status == direct.status == 200 and through.body == direct.body
    for name in ("content-type", "cache-status", "x-content-type-options", "etag", "cache-control"):
        assert through.headers.get(name) == direct.headers.get(name), name
    started = local.post_json("/executions", '{"delaySeconds": 0, "name": "x", "echo": 1}').json()
    arn = started["executionArn"]
    first = local.request("GET", f"/executions/{arn}", headers={"Prefer": "wait=5"})
    assert first.status == 200 and first.headers["preference-applied"] == "wait=5"
    cached = local.request("GET", f"/executions/{arn}", headers={"If-None-Match": first.headers["etag"]})
    assert cached.status == 304
