"""One-time callback links through the local gateway: POST /callbacks/links (the service), the
link's page and its answer (the service, no signature: the link is the credential), on the
purchase-approval sample as the emulator runs it. The browser's view, with axe-core, is
infra/browser/links.test.mjs.
"""

from __future__ import annotations

import json

from test_callbacks import approval_request, result, start_approval


def make_links(local, token: str, **extra) -> dict:
    made = local.post_json("/callbacks/links", json.dumps({"taskToken": token, **extra}))
    assert made.status == 201, made.body
    assert made.headers["cache-control"] == "no-store"
    return made.json()


def test_a_link_made_through_the_gateway_is_shown_then_answers_once(local):
    arn = start_approval(local, "Linked")
    token = approval_request(local, arn)["taskToken"]
    links = make_links(local, token, summary="Approve <the> order?", expiresIn=600)
    for url in (links["approveUrl"], links["rejectUrl"]):
        assert url.startswith(f"{local.api}/callbacks/") and token not in url
    shown = local.request("GET", links["approveUrl"])
    assert shown.status == 200 and shown.headers["content-type"] == "text/html; charset=utf-8"
    assert b"Approve &lt;the&gt; order?" in shown.body
    assert local.sfn().describe_execution(executionArn=arn)["status"] == "RUNNING"
    answered = local.request("POST", links["approveUrl"], b"", {"Content-Type": "application/x-www-form-urlencoded"})
    assert answered.status == 200 and b"<h1>Approved</h1>" in answered.body, answered.body
    document = result(local, arn)
    assert document["status"] == "SUCCEEDED" and document["output"]["approval"]["approved"] is True
    for method in ("GET", "POST"):
        again = local.request(method, links["rejectUrl"])
        assert again.status == 410 and b"Already answered" in again.body, (method, again.body)


def test_a_link_to_a_task_that_timed_out_is_410_and_sends_nothing(local):
    arn = start_approval(local, "LinkedLate", timeoutSeconds=1)
    first = approval_request(local, arn)["taskToken"]
    links = make_links(local, first)
    second = approval_request(local, arn, escalated=True)["taskToken"]
    late = local.request("POST", links["approveUrl"])
    assert late.status == 410 and b"No longer waiting" in late.body, late.body
    assert local.sfn().describe_execution(executionArn=arn)["status"] == "RUNNING"
    assert local.post_json("/callbacks/success", json.dumps({"taskToken": second, "output": {}})).status == 204


def test_a_bad_link_request_is_400_and_an_altered_link_400(local):
    refused = local.post_json("/callbacks/links", '{"taskToken": "t", "expiresIn": 5}')
    assert refused.status == 400 and refused.json()["type"] == "urn:api-sfn:problem:invalid-input"
    altered = local.request("GET", "/callbacks/not.a.link")
    assert altered.status == 400 and b"This link is not valid" in altered.body
