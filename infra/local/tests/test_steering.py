"""Steering executions through the local gateway: a stop, and what a stop refuses.

Every request goes over HTTP to what infra/local/up.sh serves; what Step Functions holds is read
back from the emulator.
"""

from __future__ import annotations

import urllib.parse

PROBLEM = "application/problem+json"


def start_slow(local, name: str) -> str:
    started = local.post_json("/executions", f'{{"name": "{name}", "echo": 1, "delaySeconds": 60}}')
    assert started.status == 202, started.body
    return started.json()["executionArn"]


def test_a_stop_through_the_gateway_answers_aborted_and_the_status_url_then_serves_it(local):
    arn = start_slow(local, "Stopped")
    stopped = local.post_json(f"/executions/{arn}/stop", '{"error": "Operator", "cause": "not needed"}')
    assert stopped.status == 200, stopped.body
    document = stopped.json()
    assert document["status"] == "ABORTED" and document["executionArn"] == arn
    assert (document["error"], document["cause"]) == ("Operator", "not needed")
    # Location is relative to the stop's URL: it resolves to the status URL.
    status_url = urllib.parse.urljoin(f"{local.api}/executions/{arn}/stop", stopped.headers["location"])
    assert status_url == f"{local.api}/executions/{arn}"
    read = local.request("GET", status_url)
    assert read.status == 200 and read.json() == document
    described = local.sfn().describe_execution(executionArn=arn)
    assert described["status"] == "ABORTED" and described["error"] == "Operator"


def test_a_second_stop_answers_409_with_the_aborted_result(local):
    arn = start_slow(local, "Twice")
    assert local.post_json(f"/executions/{arn}/stop", "").status == 200
    again = local.post_json(f"/executions/{arn}/stop", "")
    assert again.status == 409, again.body
    assert again.headers["content-type"] == PROBLEM
    problem = again.json()
    assert problem["type"] == "urn:api-sfn:problem:execution-not-running"
    assert problem["execution"]["status"] == "ABORTED"


def test_a_bad_stop_body_answers_400_and_the_execution_runs_on(local):
    arn = start_slow(local, "Kept")
    refused = local.post_json(f"/executions/{arn}/stop", '{"why": "no such member"}')
    assert refused.status == 400, refused.body
    assert refused.json()["type"] == "urn:api-sfn:problem:invalid-input"
    assert local.sfn().describe_execution(executionArn=arn)["status"] == "RUNNING"
    local.sfn().stop_execution(executionArn=arn)


def test_a_redrive_locally_is_refused_as_the_emulator_lacks_it_and_changes_nothing(local):
    # moto has no RedriveExecution and the emulator does not fake one (infra/local/README.md):
    # the route reads the execution, the emulator refuses the call, and the failure stands.
    arn = start_slow(local, "Redriven")
    assert local.post_json(f"/executions/{arn}/stop", "").status == 200
    refused = local.post_json(f"/executions/{arn}/redrive", "")
    assert refused.status == 502, refused.body
    assert refused.json()["type"] == "urn:api-sfn:problem:upstream-error"
    read = local.request("GET", f"{local.api}/executions/{arn}")
    assert read.status == 200 and read.json()["status"] == "ABORTED"
    assert local.sfn().describe_execution(executionArn=arn)["status"] == "ABORTED"
