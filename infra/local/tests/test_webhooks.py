"""Signed webhooks end to end, as a receiver sees them: what up.sh serves, a real receiver.

Endpoints are registered over HTTP through the local gateway; each test runs its receivers in
this process (infra/local/receiver.py's server in a thread) and checks every signature with the
Standard Webhooks package only. Shared helpers: webhook_support.py; the endpoints' own rules
(addresses, registrations, secrets): test_webhook_endpoints.py; volume and timeouts:
test_webhook_volume.py.
"""

from __future__ import annotations

import time

from receiver import Script
from webhook_support import (
    GREETING,
    PATIENCE,
    REJECTED,
    SCHEDULE,
    free_port,
    is_disabled,
    items,
    of,
    receiving,
    settle,
    start,
    wait_received,
)


# ---------------------------------------------------------------- deliveries


def test_a_stop_is_delivered_once_signed_and_listed_as_delivered(local, hooks):
    with receiving([]) as receiver:
        endpoint = hooks.register(receiver.url + "/hooks", description="the first")
        receiver.set_secrets([endpoint["secret"]])
        arn = start(local)
        document = settle(local, arn)
        [got] = wait_received(receiver, arn)
        time.sleep(max(SCHEDULE) + 1)  # nothing more comes
        assert len(of(receiver, arn)) == 1
    assert got.verified, "standardwebhooks did not verify the signature"
    assert got.path == "/hooks"
    assert got.webhook_id.startswith("msg_")
    assert got.payload["type"] == "execution.succeeded"
    data = got.payload["data"]
    assert set(data) == {"executionArn", "stateMachineArn", "name", "status", "startDate", "stopDate",
                         "error", "cause", "statusUrl"}  # thin: no output
    for key in ("executionArn", "stateMachineArn", "name", "status", "startDate", "stopDate"):
        assert data[key] == document[key], key
    assert data["statusUrl"] == f"{local.api}/executions/{arn}"
    assert local.request("GET", data["statusUrl"]).json() == document
    delivery = hooks.delivery_of(endpoint["id"], arn, lambda d: d["status"] == "delivered")
    assert delivery["attempts"] == 1 and delivery["lastStatusCode"] == 200
    assert delivery["executionStatus"] == "SUCCEEDED" and delivery["deliveredAt"]


def test_two_500s_then_a_200_are_three_attempts_of_one_webhook_id(local, hooks):
    with receiving([], Script(["500", "500", "200"])) as receiver:
        endpoint = hooks.register(receiver.url + "/retry")
        receiver.set_secrets([endpoint["secret"]])
        arn = start(local)
        settle(local, arn)
        got = wait_received(receiver, arn, 3)
        delivery = hooks.delivery_of(endpoint["id"], arn, lambda d: d["status"] == "delivered")
    assert [r.answered for r in got] == [500, 500, 200]
    assert len({r.webhook_id for r in got}) == 1
    assert all(r.verified for r in got)
    assert len({r.body for r in got}) == 1, "every attempt carries the same body"
    assert delivery["attempts"] == 3 and delivery["lastStatusCode"] == 200


def test_a_410_disables_the_endpoint_and_nothing_more_is_sent(local, hooks):
    with receiving([], Script(["410"], then=200)) as receiver:
        endpoint = hooks.register(receiver.url + "/gone")
        receiver.set_secrets([endpoint["secret"]])
        first = start(local)
        settle(local, first)
        assert len(wait_received(receiver, first)) == 1
        hooks.delivery_of(endpoint["id"], first, lambda d: d["status"] == "dead")
        assert is_disabled(hooks.endpoint(endpoint["id"])), hooks.endpoint(endpoint["id"])
        second = start(local)
        settle(local, second)
        time.sleep(max(SCHEDULE) + 2)  # a fan-out to it would have been sent at once
        assert [r.answered for r in receiver.snapshot()] == [410], "nothing after the 410"


def test_a_429_with_retry_after_is_retried_no_sooner_than_it_asked(local, hooks):
    retry_after = max(SCHEDULE) + 3
    with receiving([], Script(["429", "200"], retry_after=retry_after)) as receiver:
        endpoint = hooks.register(receiver.url + "/busy")
        receiver.set_secrets([endpoint["secret"]])
        arn = start(local)
        settle(local, arn)
        first, second = wait_received(receiver, arn, 2, PATIENCE + retry_after)
    assert (first.answered, second.answered) == (429, 200)
    waited = second.at - first.at
    print(f"Retry-After {retry_after} s: the next attempt came {waited:.2f} s later")
    assert waited >= retry_after - 0.05
    assert int(second.timestamp) >= int(first.timestamp) + retry_after - 1


def test_a_receiver_down_past_the_schedule_is_dead_then_retried_by_the_route_and_delivered(local, hooks):
    port = free_port()  # nothing listens there until the retry
    endpoint = hooks.register(f"http://127.0.0.1:{port}/down")
    arn = start(local)
    settle(local, arn)
    dead = hooks.delivery_of(endpoint["id"], arn, lambda d: d["status"] == "dead", PATIENCE + sum(SCHEDULE))
    assert dead["attempts"] == len(SCHEDULE) + 1
    assert dead["lastError"] and dead["lastStatusCode"] is None
    assert any(d["id"] == dead["id"] for d in hooks.deliveries(endpoint["id"])), "dead deliveries stay listed"
    with receiving([endpoint["secret"]], port=port) as receiver:
        answer = local.request("POST", f"/webhooks/{endpoint['id']}/deliveries/{dead['id']}/retry")
        assert answer.status == 202, answer.body
        [got] = wait_received(receiver, arn)
        delivered = hooks.delivery_of(endpoint["id"], arn, lambda d: d["status"] == "delivered")
    assert got.verified and got.answered == 200
    assert delivered["id"] == dead["id"] and delivered["deliveredAt"]


def test_during_a_rotation_both_secrets_sign_each_delivery(local, hooks):
    with receiving([]) as receiver:
        endpoint = hooks.register(receiver.url + "/rotate")
        rotated = local.request("POST", f"/webhooks/{endpoint['id']}/secret")
        assert rotated.status == 200, rotated.body
        new = rotated.json()["secret"]
        assert new.startswith("whsec_") and new != endpoint["secret"]
        receiver.set_secrets([endpoint["secret"], new])
        arn = start(local)
        settle(local, arn)
        [got] = wait_received(receiver, arn)
    assert got.verified_by == [0, 1], "the old and the new secret each verify the delivery"
    assert len(got.signature.split(" ")) == 2


def test_filters_by_machine_and_status_choose_who_is_told(local, hooks):
    with receiving([]) as rejected_only, receiving([]) as failures, receiving([]) as greeting_ok:
        a = hooks.register(rejected_only.url, stateMachines=[REJECTED])
        b = hooks.register(failures.url, statuses=["FAILED"])
        c = hooks.register(greeting_ok.url, stateMachines=[GREETING], statuses=["SUCCEEDED"])
        for receiver, endpoint in ((rejected_only, a), (failures, b), (greeting_ok, c)):
            receiver.set_secrets([endpoint["secret"]])
        ok = start(local)
        failed = start(local, {"name": "no echo", "delaySeconds": 0})  # $.echo missing: FAILED
        rejected = start(local, machine=REJECTED)
        assert settle(local, failed)["status"] == "FAILED"
        assert settle(local, rejected)["status"] == "FAILED"
        assert settle(local, ok)["status"] == "SUCCEEDED"
        wait_received(failures, rejected)
        wait_received(failures, failed)
        wait_received(rejected_only, rejected)
        wait_received(greeting_ok, ok)
        time.sleep(max(SCHEDULE) + 2)
        ours = {ok, failed, rejected}

        def told(receiver):
            return sorted(r.payload["data"]["executionArn"] for r in receiver.snapshot()
                          if r.payload and r.payload["data"]["executionArn"] in ours)

        assert told(rejected_only) == [rejected]
        assert told(failures) == sorted([failed, rejected])
        assert told(greeting_ok) == [ok]
        assert all(r.verified for x in (rejected_only, failures, greeting_ok) for r in x.snapshot())
        assert {r.payload["type"] for r in failures.snapshot()} == {"execution.failed"}


def test_a_deleted_endpoint_gets_nothing_more_not_even_retries(local, hooks):
    with receiving([], Script([], then=500)) as receiver:
        endpoint = hooks.register(receiver.url + "/soon-gone")
        receiver.set_secrets([endpoint["secret"]])
        arn = start(local)
        settle(local, arn)
        wait_received(receiver, arn, 1)
        deleted = local.request("DELETE", f"/webhooks/{endpoint['id']}")
        assert deleted.status == 204
        assert local.request("GET", f"/webhooks/{endpoint['id']}").status == 404
        assert endpoint["id"] not in [e["id"] for e in items(local.request("GET", "/webhooks").json())]
        seen = len(receiver.snapshot())
        later = start(local)
        settle(local, later)
        time.sleep(2 * max(SCHEDULE) + 2)  # two retries' worth
        # One attempt may have been in flight when the endpoint went; none after that.
        assert len(receiver.snapshot()) <= seen + 1
        assert not of(receiver, later)
