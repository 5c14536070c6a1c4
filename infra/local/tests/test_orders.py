"""The `orders` sample (infra/state-machines/orders.asl.json), run through the API: a Map prices each
line item; an invalid item fails its iteration; a pricing outage (an item's `unavailableAttempts`)
is retried by the Map and, when it outlasts the retries, caught into a REJECTED result with the
rest. The execution history, read back from the emulator, shows the iterations and the attempts.
"""

from __future__ import annotations

import json
import urllib.parse
from collections import Counter

import pytest


def run(local, items) -> dict:
    body = {} if items is None else {"items": items}
    answer = local.post_json("/workflows/orders/executions/wait?wait=20", json.dumps(body))
    assert answer.status == 200, answer.body
    return answer.json()


def history(local, arn: str) -> Counter:
    events = local.sfn().get_execution_history(executionArn=arn, maxResults=1000)["events"]
    return Counter(event["type"] for event in events)


def test_valid_items_are_each_priced_on_the_first_attempt(local):
    document = run(local, [{"sku": "A-1", "quantity": 2, "unitPrice": 9.5}, {"sku": "B-2", "quantity": 1, "unitPrice": 0}])
    assert document["status"] == "SUCCEEDED"
    assert document["output"] == {"status": "ACCEPTED", "lineCount": 2, "lines": [
        {"sku": "A-1", "quantity": 2, "unitPrice": 9.5, "pricedOnAttempt": 1},
        {"sku": "B-2", "quantity": 1, "unitPrice": 0, "pricedOnAttempt": 1},
    ]}
    events = history(local, document["executionArn"])
    assert events["MapIterationSucceeded"] == 2 and events["MapIterationFailed"] == 0


def test_a_pricing_outage_is_retried_by_the_map_and_the_order_is_accepted(local):
    document = run(local, [{"sku": "A-1", "quantity": 1, "unitPrice": 4},
                           {"sku": "B-2", "quantity": 3, "unitPrice": 2, "unavailableAttempts": 1}])
    assert document["status"] == "SUCCEEDED"
    assert document["output"]["status"] == "ACCEPTED"
    assert [line["pricedOnAttempt"] for line in document["output"]["lines"]] == [2, 2]
    events = history(local, document["executionArn"])
    assert events["MapStateStarted"] == 2  # the first attempt and one retry
    # B-2's first iteration fails (its Fail state entered); A-1's runs beside it and either ends
    # first or is cut short by that failure, as the timing falls (on AWS as in the emulator).
    assert events["FailStateEntered"] >= 1
    assert 1 <= events["MapIterationFailed"] + events["MapIterationAborted"] <= 2


def test_an_outage_that_outlasts_the_retries_is_caught_into_a_rejected_result(local):
    document = run(local, [{"sku": "B-2", "quantity": 1, "unitPrice": 2, "unavailableAttempts": 5}])
    assert document["status"] == "SUCCEEDED"
    assert document["output"]["status"] == "REJECTED"
    assert document["output"]["error"] == "Pricing.Unavailable"
    assert history(local, document["executionArn"])["MapStateStarted"] == 3  # MaxAttempts 2 after the first


@pytest.mark.parametrize("item", [{"sku": "B-2", "quantity": 0, "unitPrice": 3}, {"quantity": 1, "unitPrice": 3},
                                  {"sku": "B-2", "quantity": 1, "unitPrice": -1}, {"sku": "B-2", "quantity": "1"}])
def test_an_invalid_item_fails_its_iteration_and_is_caught_without_a_retry(local, item):
    document = run(local, [{"sku": "A-1", "quantity": 1, "unitPrice": 4}, item])
    assert document["status"] == "SUCCEEDED"
    assert document["output"] == {
        "status": "REJECTED",
        "error": "Order.InvalidItem",
        "cause": "Item 1 needs a sku, a quantity over 0 and a unit price of 0 or more.",
    }
    assert history(local, document["executionArn"])["MapStateStarted"] == 1  # not a transient error


def test_an_order_without_items_fails(local):
    document = run(local, None)
    assert document["status"] == "FAILED" and document["output"] is None
    assert document["error"] == "Order.NoItems"


def test_an_empty_order_is_accepted_with_no_lines(local):
    assert run(local, [])["output"] == {"status": "ACCEPTED", "lineCount": 0, "lines": []}


def test_the_steps_of_a_retried_map_show_its_attempts_and_each_iteration(local):
    # GET /executions/{arn}/steps through the gateway, folded from the emulator's history.
    document = run(local, [{"sku": "A-1", "quantity": 1, "unitPrice": 4},
                           {"sku": "B-2", "quantity": 3, "unitPrice": 2, "unavailableAttempts": 1}])
    arn = document["executionArn"]
    answer = local.request("GET", f"{local.api}/executions/{arn}/steps")
    assert answer.status == 200, answer.body
    assert answer.headers["cache-control"] == "private, max-age=60"
    page = answer.json()
    assert page["executionArn"] == arn and "nextCursor" not in page
    steps = page["steps"]
    top = [(s["name"], s["type"], s["status"], s["attempts"]) for s in steps if "within" not in s]
    assert top == [("CheckOrder", "Choice", "SUCCEEDED", 1), ("PriceItems", "Map", "SUCCEEDED", 2),
                   ("Accepted", "Pass", "SUCCEEDED", 1)]
    inner = [s for s in steps if "within" in s]
    assert all(s["within"][0]["state"] == "PriceItems" for s in inner)
    # Each iteration's states sit together, right after the Map: the first run's, then the retry's.
    iterations = [s["within"][0]["iteration"] for s in inner]
    assert sum(1 for a, b in zip(iterations, iterations[1:], strict=False) if b < a) == 1, iterations  # two runs
    failed = [s for s in inner if s["status"] == "FAILED"]
    assert [s["name"] for s in failed] == ["PricingUnavailable"] and failed[0]["type"] == "Fail"
    priced = [s for s in inner if s["name"] == "Price" and s["status"] == "SUCCEEDED"]
    assert {s["within"][0]["iteration"] for s in priced} == {0, 1}
    assert steps.index(inner[0]) == 2  # right after the Map state
    # A page at a time: the cursor and the Link lead through the same steps.
    first = local.request("GET", f"{local.api}/executions/{arn}/steps?limit=3")
    assert first.json()["steps"] == steps[:3]
    assert first.headers["link"].startswith("<steps?limit=3&cursor=")
    rest = urllib.parse.urljoin(f"{local.api}/executions/{arn}/steps", first.headers["link"][1:].split(">")[0])
    assert local.request("GET", rest).json()["steps"] == steps[3:6]
