"""The local gateway serves exactly the routes of infra/api/gateway.openapi.json, each by its integration."""

from __future__ import annotations

import re

import definition

METHODS = [m.upper() for m in definition.METHODS]
GATEWAY_ANSWER = "api-gateway; fwd=bypass"


def sample_path(resource: str) -> str:
    path = re.sub(r"\{[^}]+\+\}", "some/where/else", resource)
    return re.sub(r"\{[^}]+\}", "arn:aws:states:us-east-1:123456789012:execution:greeting:nope", path)


def served(local, method: str, path: str) -> bool:
    answer = local.request(method, path, "{}", {"Content-Type": "application/json"}) if method != "HEAD" \
        else local.request(method, path)
    missing = answer.status == 403 and answer.headers.get("cache-status") == GATEWAY_ANSWER
    return not missing


def test_the_routes_served_locally_are_exactly_the_routes_of_the_definition(local):
    doc = definition.load()
    expected, seen = set(), set()
    for resource, item in doc["paths"].items():
        for method in METHODS:
            if method.lower() in item or definition.ANY_METHOD in item:
                expected.add((method, resource))
            if served(local, method, sample_path(resource)):
                seen.add((method, resource))
    assert seen == expected
    # The root holds the status page (GET) only: any other method is API Gateway's 403.
    assert served(local, "GET", "/")
    assert not served(local, "POST", "/")


def test_each_route_is_answered_by_the_integration_the_definition_names(local):
    for path, method, operation in definition.operations(definition.load()):
        if method in ("options", definition.ANY_METHOD):
            continue
        kind = operation["x-amazon-apigateway-integration"]["type"]
        answer = local.request(method.upper(), sample_path(path), "{}", {"Content-Type": "application/json"})
        by = "api-gateway" if kind == "aws" else "sfn-results"
        assert answer.headers["cache-status"].split(";")[0] == by, f"{method} {path}"
