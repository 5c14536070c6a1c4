"""The callback routes' mapping templates (POST /callbacks/success, /failure, /heartbeat), rendered
by a Velocity engine: the request a rendered body makes of Step Functions, and the problems Step
Functions' refusals become. The whole route, against the emulator, is in
infra/local/tests/test_callbacks.py."""

from __future__ import annotations

import json

import pytest

from apigw_vtl import render

TOKEN = "AQCEAAAAKgAAAAMAAAAAAAAAAf+token/with+slashes=="
OUTPUTS = [
    {"approvedBy": "ann", "note": "it's \"fine\" \\ </script> \u2713 \U0001F600", "nested": [1, 2.5, None, True]},
    "a string",
    42,
    None,
    [],
    {"line": "a\nb\tc\u0001"},
]


@pytest.mark.parametrize("output", OUTPUTS, ids=[type(o).__name__ for o in OUTPUTS])
def test_success_sends_the_output_as_its_json_text(output):
    body = json.dumps({"taskToken": TOKEN, "output": output})
    request = json.loads(render("callback-success-request.vtl", body).body)
    assert request == {"taskToken": TOKEN, "output": request["output"]}
    assert json.loads(request["output"]) == output


@pytest.mark.parametrize("fields", [{}, {"error": "Rejected"}, {"cause": "too much"},
                                    {"error": "It's \"no\"", "cause": "</x> \u2713 'quoted' \\ \n"}])
def test_failure_sends_error_and_cause_only_when_given(fields):
    request = json.loads(render("callback-failure-request.vtl", json.dumps({"taskToken": TOKEN, **fields})).body)
    assert request == {"taskToken": TOKEN, **fields}


def test_heartbeat_sends_the_token_only():
    request = json.loads(render("callback-heartbeat-request.vtl", json.dumps({"taskToken": TOKEN})).body)
    assert request == {"taskToken": TOKEN}


def test_a_sent_callback_answers_204():
    assert render("callback-response.vtl", "{}").status == 204


@pytest.mark.parametrize(
    "error_type,status,slug",
    [
        ("TaskDoesNotExist", 404, "task-not-found"),
        ("InvalidToken", 400, "invalid-task-token"),
        ("TaskTimedOut", 410, "task-timed-out"),
    ],
)
def test_a_refused_token_becomes_its_problem(error_type, status, slug):
    answer = json.dumps({"__type": error_type, "message": "Provided task does not exist anymore"})
    rendered = render("sfn-client-error.vtl", answer)
    problem = rendered.json()
    assert (rendered.status, problem["status"]) == (status, status)
    assert problem["type"] == f"urn:api-sfn:problem:{slug}"
    assert rendered.headers["Content-Type"] == "application/problem+json"
    assert "Provided task" not in problem["detail"]  # said in the API's own words


def test_an_output_that_is_not_json_answers_400_invalid_output_with_the_reason():
    answer = json.dumps({"__type": "InvalidOutput", "message": "Invalid Output: not JSON"})
    rendered = render("sfn-client-error.vtl", answer)
    problem = rendered.json()
    assert rendered.status == 400 and problem["type"] == "urn:api-sfn:problem:invalid-output"
    assert problem["detail"] == "Invalid Output: not JSON"
