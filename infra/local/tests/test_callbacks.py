"""Answering waiting tasks through the local gateway: POST /callbacks/success, /failure and
/heartbeat go straight to Step Functions (no function), rendered by the definition's templates.

The approval sample (infra/state-machines/purchase-approval.asl.json) waits for them: its task sends a token
to the approvals queue, which these tests read as whoever answers approvals would read it. What
reached Step Functions is read back from the emulator.
"""

from __future__ import annotations

import json
import time

import boto3

PROBLEM = "application/problem+json"
QUEUE = "api-sfn-approvals"


def start_approval(local, name: str, **extra) -> str:
    body = json.dumps({"request": {"amount": 120, "by": name}, **extra})
    started = local.post_json(f"/workflows/purchase-approval/executions?name={name}", body)
    assert started.status == 202, started.body
    return started.json()["executionArn"]


def approval_request(local, arn: str, escalated: bool = False) -> dict:
    """The approvals queue's message for `arn` (escalated or not), once the task has sent it.
    Other executions' messages are put back at once for their own tests."""
    sqs = boto3.client("sqs", endpoint_url=local.emulator)
    url = sqs.get_queue_url(QueueName=QUEUE)["QueueUrl"]
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        for message in sqs.receive_message(QueueUrl=url, WaitTimeSeconds=1, MaxNumberOfMessages=10).get("Messages", []):
            body = json.loads(message["Body"])
            if body["executionArn"] == arn and body["escalated"] == escalated:
                sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
                return body
            sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0)
    raise AssertionError(f"no approval request for {arn} (escalated={escalated}) within 120 s")


def result(local, arn: str) -> dict:
    """The execution's result document once it stopped (GET ?wait=20 until then)."""
    for _ in range(10):
        document = local.request("GET", f"/executions/{arn}?wait=20").json()
        if document["status"] != "RUNNING":
            return document
    raise AssertionError(f"{arn} still running")


def problem_of(answer, status: int, slug: str) -> dict:
    assert answer.status == status, answer.body
    assert answer.headers["content-type"] == PROBLEM
    problem = answer.json()
    assert problem["type"] == f"urn:api-sfn:problem:{slug}" and problem["status"] == status
    return problem


def sent(local) -> int:
    counts = local.request("GET", "/_emulator/counts", base=local.emulator).json()
    return sum(counts.get(f"AWSStepFunctions.SendTask{kind}", 0) for kind in ("Success", "Failure", "Heartbeat"))


def test_an_approval_answered_with_success_resumes_with_the_output_and_a_second_answer_is_410(local):
    arn = start_approval(local, "Approved")
    token = approval_request(local, arn)["taskToken"]
    heartbeat = local.post_json("/callbacks/heartbeat", json.dumps({"taskToken": token}))
    assert heartbeat.status == 204 and heartbeat.body == b"", heartbeat.body
    output = {"approvedBy": "ann", "note": "it's \"fine\" \u2713"}
    answered = local.post_json("/callbacks/success", json.dumps({"taskToken": token, "output": output}))
    assert answered.status == 204 and answered.body == b"", answered.body
    document = result(local, arn)
    assert document["status"] == "SUCCEEDED", document
    assert document["output"] == {"request": {"amount": 120, "by": "Approved"}, "approval": output}
    again = local.post_json("/callbacks/success", json.dumps({"taskToken": token, "output": output}))
    problem_of(again, 410, "task-timed-out")


def test_a_rejection_fails_the_execution_with_its_error_and_cause(local):
    arn = start_approval(local, "Rejected")
    token = approval_request(local, arn)["taskToken"]
    answered = local.post_json("/callbacks/failure", json.dumps(
        {"taskToken": token, "error": "Approval.Rejected", "cause": "Over the team's budget"}))
    assert answered.status == 204, answered.body
    document = result(local, arn)
    assert document["status"] == "FAILED", document
    assert (document["error"], document["cause"]) == ("Approval.Rejected", "Over the team's budget")


def test_a_callback_to_a_timed_out_task_is_410_and_the_escalated_task_still_waits(local):
    arn = start_approval(local, "Escalated", timeoutSeconds=1)
    first = approval_request(local, arn)["taskToken"]
    # The first task timed out once the escalated request is sent.
    second = approval_request(local, arn, escalated=True)["taskToken"]
    late = local.post_json("/callbacks/success", json.dumps({"taskToken": first, "output": {"late": True}}))
    problem = problem_of(late, 410, "task-timed-out")
    assert "timed out" in problem["detail"]
    assert local.sfn().describe_execution(executionArn=arn)["status"] == "RUNNING"
    assert local.post_json("/callbacks/success", json.dumps({"taskToken": second, "output": "manager"})).status == 204
    document = result(local, arn)
    assert document["status"] == "SUCCEEDED" and document["output"]["approval"] == "manager", document


def test_a_token_step_functions_cannot_read_is_400_invalid_task_token(local):
    for route, body in [("success", {"output": {}}), ("failure", {}), ("heartbeat", {})]:
        refused = local.post_json(f"/callbacks/{route}", json.dumps({"taskToken": "not-a-token", **body}))
        problem_of(refused, 400, "invalid-task-token")


def test_bodies_the_schema_refuses_are_400_at_the_gateway_and_nothing_is_sent(local):
    before = sent(local)
    refused = [
        ("success", ""),
        ("success", "not json"),
        ("success", '{"taskToken": "t"}'),  # no output
        ("success", '{"taskToken": 7, "output": {}}'),
        ("success", '{"taskToken": "t", "output": {}, "extra": 1}'),
        ("success", json.dumps({"taskToken": "t" * 2049, "output": {}})),
        ("failure", '{"taskToken": ""}'),
        ("failure", json.dumps({"taskToken": "t", "error": "e" * 257})),
        ("heartbeat", "[]"),
    ]
    for route, body in refused:
        answer = local.post_json(f"/callbacks/{route}", body)
        problem = problem_of(answer, 400, "invalid-request")
        assert problem["detail"] == "Invalid request body", (route, body)
    assert sent(local) == before
