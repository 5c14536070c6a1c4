"""Webhooks under volume and a hanging receiver, through up.sh: 200 stops to 3 endpoints are 600
deliveries, none missing and none doubled; an attempt past 15 s is timed out and retried.
"""

from __future__ import annotations

import concurrent.futures
import json
import time

import boto3
import pytest
from receiver import Receiver, Script
from webhook_support import (
    GREETING,
    PATIENCE,
    SCHEDULE,
    receiving,
    settle,
    start,
    wait_received,
)


# ---------------------------------------------------------------- volume and timeouts


def test_200_stops_with_3_endpoints_are_600_deliveries_none_missing_none_doubled(local, hooks):
    receivers = [Receiver([]).start() for _ in range(3)]
    endpoints = []
    try:
        for receiver in receivers:
            endpoints.append(hooks.register(receiver.url + "/bulk", stateMachines=[GREETING]))
            receiver.set_secrets([endpoints[-1]["secret"]])
        # Endpoints get the stops after their registration, by two clocks (the service's and the
        # emulator's): start a moment later, so every stop here is after it by both.
        time.sleep(1)
        began = time.monotonic()
        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            arns = set(pool.map(lambda _: start(local), range(200)))
            list(pool.map(lambda arn: settle(local, arn), arns))
        assert len(arns) == 200

        def ours(got):
            return {(r.webhook_id, r.payload["data"]["executionArn"]) for r in got
                    if r.payload and r.payload["data"]["executionArn"] in arns}

        deadline = time.monotonic() + 120
        for receiver in receivers:
            receiver.wait_for(lambda got: len(ours(got)) >= 200, max(0.0, deadline - time.monotonic()))
        took = time.monotonic() - began
        time.sleep(max(SCHEDULE) + 1)  # room for a double to show
        ids = []
        for receiver, endpoint in zip(receivers, endpoints, strict=True):
            got = [r for r in receiver.snapshot() if r.payload and r.payload["data"]["executionArn"] in arns]
            missed = arns - {r.payload["data"]["executionArn"] for r in got}
            listed = [d for d in hooks.deliveries(endpoint["id"]) if d["executionArn"] in missed]
            if missed:
                stops = {arn: local.request("GET", f"/executions/{arn}").json().get("stopDate") for arn in missed}
                created = hooks.endpoint(endpoint["id"]).get("createdAt")
                # The listing shows 100 deliveries: read the table for the whole story.
                table = boto3.client("dynamodb", endpoint_url=local.emulator)
                items = table.query(TableName="api-sfn-webhooks", KeyConditionExpression="pk = :pk",
                                    ExpressionAttributeValues={":pk": {"S": f"deliveries#{endpoint['id']}"}})["Items"]
                listed = [json.loads(i["body"]["S"]) for i in items
                          if json.loads(i["body"]["S"]).get("executionArn") in missed]
                outbox = table.query(TableName="api-sfn-webhooks", KeyConditionExpression="pk = :pk",
                                     ExpressionAttributeValues={":pk": {"S": "outbox"}})["Items"]
                listed += [i["sk"]["S"] for i in outbox]
                names = [arn.rsplit(":", 1)[-1] for arn in missed] + [d["id"] for d in listed if isinstance(d, dict)]
                pytest.fail(f"{len(missed)} stops never reached {endpoint['id']} (created {created}); "
                            f"their stops: {stops}; listed: {listed}; the log of them:\n"
                            + local.log_lines(*names) + "\nthe log's warnings and errors:\n"
                            + local.log_lines("WARN", "ERROR", limit=10))
            assert len(got) == 200, f"{len(got) - 200} extra requests"
            assert all(r.verified and r.answered == 200 for r in got)
            ids += [r.webhook_id for r in got]
        assert len(ids) == 600 and len(set(ids)) == 600
        print(f"600 deliveries of 200 stops to 3 endpoints in {took:.1f} s from the first start: "
              f"{600 / took:.1f} deliveries/s")
    finally:
        for receiver in receivers:
            receiver.stop()


@pytest.mark.slow
def test_a_receiver_that_hangs_past_15_s_is_timed_out_and_retried(local, hooks):
    with receiving([], Script(["hang", "200"], hang_seconds=25)) as receiver:
        endpoint = hooks.register(receiver.url + "/slow")
        receiver.set_secrets([endpoint["secret"]])
        arn = start(local)
        settle(local, arn)
        first, second = wait_received(receiver, arn, 2, 15 + PATIENCE)
        delivered = hooks.delivery_of(endpoint["id"], arn, lambda d: d["status"] == "delivered")
    waited = second.at - first.at
    print(f"a hanging receiver: the next attempt came {waited:.1f} s after the first began")
    assert waited >= 15, "the attempt was given up before its 15 s"
    assert first.webhook_id == second.webhook_id and second.verified
    assert delivered["attempts"] == 2
