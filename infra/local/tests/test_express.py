"""Express executions end to end, as deployed: a start through the gateway answers the `:express:`
ARN, the EXPRESS machine's execution log reaches the events function (sfn-results with
_HANDLER=events under the loopback Lambda runtime API) as a CloudWatch Logs subscription delivers
it, and the status URL answers the result from the table.

Run with -s to see how long a result takes from the execution's stop to an answered GET.
"""

from __future__ import annotations

import base64
import gzip
import json
import re
import time
import uuid
from datetime import datetime

import pytest

PROBLEM = "application/problem+json"
EXPRESS = "arn:aws:states:us-east-1:123456789012:stateMachine:hello"
EXPRESS_ARN = re.compile(r"^arn:aws:states:us-east-1:123456789012:express:hello:(?P<name>[^:]+):"
                         r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def epoch(date: str) -> float:
    return datetime.fromisoformat(date.replace("Z", "+00:00")).timestamp()


def start(local, body: dict, name: str | None = None) -> dict:
    name = name or f"express-{uuid.uuid4().hex[:12]}"
    started = local.post_json(f"/executions/express?name={name}", json.dumps(body))
    assert started.status == 202, started.body
    answer = started.json()
    assert EXPRESS_ARN.match(answer["executionArn"]).group("name") == name
    assert answer["statusUrl"] == started.headers["location"] == f"{local.api}/executions/{answer['executionArn']}"
    return answer


def waited(local, url: str, label: str) -> dict:
    """GETs url?wait=20 and prints how long after the execution's stop it answered."""
    answer = local.request("GET", url + "?wait=20")
    answered = time.time()
    assert answer.status == 200, answer.body
    document = answer.json()
    print(f"\n{label}: stopped -> GET answered 200 in {(answered - epoch(document['stopDate'])) * 1000:.0f} ms")
    return document


def invocations(local) -> list[dict]:
    return local.request("GET", "/_runtime/invocations", base=local.runtime).json()["invocations"]


def test_an_express_start_answers_its_express_arn_and_its_status_url_answers_the_output_once_logged(local):
    body = {"name": "Eve", "echo": [1, "é", {"q": "it's \"here\""}], "delaySeconds": 1}
    answer = start(local, body)
    document = waited(local, answer["statusUrl"], "express SUCCEEDED")
    assert document["executionArn"] == answer["executionArn"]
    assert document["stateMachineArn"] == EXPRESS
    assert document["name"] == EXPRESS_ARN.match(answer["executionArn"]).group("name")
    assert document["status"] == "SUCCEEDED"
    assert document["output"] == {"greeting": "Hello, Eve!", "echo": body["echo"]}
    assert document["error"] is None and document["cause"] is None
    assert epoch(document["stopDate"]) - epoch(document["startDate"]) >= 1  # the Wait state ran
    assert abs(epoch(document["startDate"]) - answer["startDate"]) < 0.002

    again = local.request("GET", answer["statusUrl"])
    assert again.status == 200 and again.json() == document
    assert "immutable" in again.headers["cache-control"]
    # The EXPRESS machine is listed from the table (Step Functions lists no Express executions).
    listed = local.request("GET", f"/executions?stateMachine={EXPRESS}&limit=100").json()
    assert answer["executionArn"] in [item["executionArn"] for item in listed["executions"]]


def test_a_failed_express_execution_answers_200_with_its_error_and_cause(local):
    answer = start(local, {"fail": True})
    document = waited(local, answer["statusUrl"], "express FAILED")
    assert document["status"] == "FAILED" and document["output"] is None
    assert document["error"] == "Greeting.Refused"
    assert document["cause"] == 'The input asked for a "failure": it\'s what {"fail": true} does.'


def test_an_express_execution_over_its_timeout_answers_200_timed_out(local):
    answer = start(local, {"name": "x", "echo": 1, "delaySeconds": 8})  # TimeoutSeconds is 5
    document = waited(local, answer["statusUrl"], "express TIMED_OUT")
    assert document["status"] == "TIMED_OUT" and document["output"] is None


def test_a_sync_execution_is_logged_too_and_its_result_readable_by_its_express_arn(local):
    failed = local.post_json("/executions/sync", '{"fail": true}')
    assert failed.status == 502, failed.body
    arn = failed.json()["executionArn"]
    assert EXPRESS_ARN.match(arn)
    document = waited(local, f"/executions/{arn}", "sync FAILED")
    assert (document["status"], document["error"]) == ("FAILED", "Greeting.Refused")

    name = f"sync-{uuid.uuid4().hex[:12]}"
    succeeded = local.post_json(f"/executions/sync?name={name}", '{"name": "Linus", "echo": true}')
    assert succeeded.status == 200 and succeeded.json() == {"greeting": "Hello, Linus!", "echo": True}
    deadline = time.monotonic() + 30
    while True:  # the answer carries no ARN: find it in the EXPRESS machine's list
        listed = local.request("GET", f"/executions?stateMachine={EXPRESS}&limit=100").json()["executions"]
        mine = [item for item in listed if item["name"] == name]
        if mine or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert len(mine) == 1, listed
    document = waited(local, f"/executions/{mine[0]['executionArn']}", "sync SUCCEEDED")
    assert document["output"] == {"greeting": "Hello, Linus!", "echo": True}


def test_the_events_function_gets_what_a_cloudwatch_logs_subscription_delivers(local):
    answer = start(local, {"name": "Log", "echo": "shape"})
    waited(local, answer["statusUrl"], "express SUCCEEDED")
    found = records_of(local, answer["executionArn"])
    assert [record["type"] for _, _, record in found] == ["ExecutionStarted", "ExecutionSucceeded"]
    for batch, event, record in found:
        assert batch["messageType"] == "DATA_MESSAGE" and batch["owner"] == "123456789012"
        assert batch["logGroup"] == "/aws/vendedlogs/states/hello"
        assert batch["logStream"].startswith("states/hello/")
        assert batch["subscriptionFilters"] and all(isinstance(f, str) for f in batch["subscriptionFilters"])
        assert re.fullmatch(r"\d{56}", event["id"]) and event["timestamp"] == int(record["event_timestamp"])
        assert set(record) == {"id", "type", "details", "previous_event_id", "event_timestamp", "execution_arn",
                               "redrive_count"}
    (_, _, started), (_, _, stopped) = found
    assert json.loads(started["details"]["input"]) == {"name": "Log", "echo": "shape"}
    assert started["details"]["inputDetails"] == {"truncated": False}
    assert json.loads(stopped["details"]["output"]) == {"greeting": "Hello, Log!", "echo": "shape"}
    assert stopped["details"]["outputDetails"] == {"truncated": False}


def test_an_output_over_248_kb_is_logged_cut_and_stored_as_truncated(local):
    answer = start(local, {"name": "Big", "echo": "x" * (250 * 1024)})
    document = waited(local, answer["statusUrl"], "express SUCCEEDED, output cut")
    assert document["status"] == "SUCCEEDED"
    assert document["output"] is None and document["outputTruncated"] is True
    [(_, _, started), (_, _, stopped)] = records_of(local, answer["executionArn"])
    assert started["details"]["inputDetails"] == {"truncated": True}
    assert stopped["details"]["outputDetails"] == {"truncated": True}
    assert len(json.dumps(stopped["details"]["output"])) - 2 <= 248 * 1024


def test_a_failed_invocation_of_the_events_function_is_redelivered_and_the_result_arrives(local):
    name = f"redelivered-{uuid.uuid4().hex[:12]}"
    answer = start(local, {"name": "Again", "echo": 2, "delaySeconds": 2}, name=name)
    deadline = time.monotonic() + 30
    while local.request("GET", answer["statusUrl"]).status != 202:  # its start is recorded
        assert time.monotonic() < deadline
        time.sleep(0.05)
    # The table then refuses every call about this execution three times (each of the function's
    # SDK attempts): the invocation with its stop fails, and Lambda's retry must bring it.
    fault = {"target": "*", "match": name, "mode": "unavailable", "times": 3}
    assert local.request("POST", "/_emulator/faults", json.dumps(fault), base=local.emulator).status == 200
    try:
        deadline = time.monotonic() + 30
        while not any(invocation["errors"] for invocation in invocations_of(local, answer["executionArn"])):
            assert time.monotonic() < deadline, invocations_of(local, answer["executionArn"])
            time.sleep(0.1)
    finally:
        local.request("DELETE", "/_emulator/faults", base=local.emulator)
    document = waited(local, answer["statusUrl"], "express SUCCEEDED after a redelivery")
    assert document["output"] == {"greeting": "Hello, Again!", "echo": 2}
    assert abs(epoch(document["startDate"]) - answer["startDate"]) < 0.002
    # The retried invocation stores the result, then answers the runtime API: wait for that answer.
    deadline = time.monotonic() + 30
    while True:
        mine = invocations_of(local, answer["executionArn"])
        if all(invocation["state"] == "succeeded" for invocation in mine) or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert all(invocation["state"] == "succeeded" for invocation in mine), mine
    failed = [invocation for invocation in mine if invocation["errors"]]
    assert [record["type"] for _, _, record in records_in(failed[0])] == ["ExecutionSucceeded"]
    assert failed[0]["attempts"] >= 2


def invocations_of(local, arn: str) -> list[dict]:
    return [i for i in invocations(local) if any(record["execution_arn"] == arn for _, _, record in records_in(i))]


def records_of(local, arn: str, count: int = 2) -> list[tuple[dict, dict, dict]]:
    """(batch, log event, record) for each log record of `arn` the events function was invoked with
    and answered, once there are `count` (its start and its stop). The function stores the result
    before it answers the runtime API, so a stored result can be seen a moment before its
    invocation is marked succeeded: this waits for that, not for a time (30 s cap, against a hang)."""
    deadline = time.monotonic() + 30
    while True:
        found = [found for i in invocations(local) if i["state"] == "succeeded"
                 for found in records_in(i) if found[2]["execution_arn"] == arn]
        if len(found) >= count or time.monotonic() > deadline:
            return found
        time.sleep(0.05)


def records_in(invocation: dict) -> list[tuple[dict, dict, dict]]:
    batch = json.loads(gzip.decompress(base64.b64decode(invocation["event"]["awslogs"]["data"])))
    return [(batch, event, json.loads(event["message"])) for event in batch["logEvents"]]


@pytest.mark.parametrize("route", ["/executions/express", "/executions/sync"])
def test_express_names_are_not_unique_as_on_aws(local, route):
    name = f"twice-{uuid.uuid4().hex[:8]}"
    first = local.post_json(f"{route}?name={name}", '{"name": "a", "echo": 1}')
    second = local.post_json(f"{route}?name={name}", '{"name": "b", "echo": 2}')
    assert first.status == second.status and first.status in (200, 202), (first.body, second.body)
