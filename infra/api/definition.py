"""Reads infra/api/gateway.openapi.json the way CloudFormation and API Gateway would see it.

Shared by the offline checks (infra/checks) and the local gateway (infra/local/gateway.py), so
both read one definition through one resolver: CloudFormation intrinsics (Fn::If, Fn::Sub,
Fn::GetAtt, Ref) are filled from the values given, and the resource paths are matched to a
request path with API Gateway's precedence (literal segment, then {param}, then {greedy+}).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

GATEWAY_DEFINITION = Path(__file__).resolve().parent / "gateway.openapi.json"
METHODS = ("get", "put", "post", "delete", "patch", "head", "options")
ANY_METHOD = "x-amazon-apigateway-any-method"
_SUB = re.compile(r"\$\{([^}]+)\}")


def load() -> dict:
    return json.loads(GATEWAY_DEFINITION.read_text(encoding="utf-8"))


def resolve(node: Any, values: dict[str, Any], conditions: dict[str, bool]) -> Any:
    """Stands in for CloudFormation: picks Fn::If branches, fills Fn::Sub/GetAtt/Ref from values.

    A name missing from values stays as a recognisable placeholder; AWS::NoValue drops the key.
    """
    if isinstance(node, list):
        return [resolve(n, values, conditions) for n in node]
    if not isinstance(node, dict):
        return node
    if set(node) == {"Fn::If"}:
        condition, yes, no = node["Fn::If"]
        return resolve(yes if conditions[condition] else no, values, conditions)
    if set(node) == {"Fn::Sub"}:
        return _SUB.sub(lambda m: str(values.get(m.group(1), m.group(0))), node["Fn::Sub"])
    if set(node) == {"Fn::GetAtt"}:
        resource, attribute = node["Fn::GetAtt"]
        return values.get(f"{resource}.{attribute}", f"arn:aws:iam::123456789012:role/{resource}")
    if set(node) == {"Ref"}:
        return None if node["Ref"] == "AWS::NoValue" else values.get(node["Ref"], node["Ref"])
    out = {}
    for key, value in node.items():
        resolved = resolve(value, values, conditions)
        if resolved is not None:
            out[key] = resolved
    return out


def operations(doc: dict):
    """(path, method, operation) for every method of every resource, ANY included."""
    for path, item in doc["paths"].items():
        for method, operation in item.items():
            if method in METHODS or method == ANY_METHOD:
                yield path, method, operation


def _rank(template: list[str], segments: list[str]) -> tuple[int, ...] | None:
    """Per-segment rank (0 literal, 1 {param}, 2 {greedy+}) when the template matches, else None."""
    ranks = []
    for i, part in enumerate(template):
        if part.startswith("{") and part.endswith("+}"):
            return tuple(ranks + [2]) if len(segments) > i else None
        if i >= len(segments):
            return None
        if part.startswith("{") and part.endswith("}"):
            if segments[i] == "":
                return None
            ranks.append(1)
        elif part == segments[i]:
            ranks.append(0)
        else:
            return None
    return tuple(ranks) if len(segments) == len(template) else None


def match_resource(paths: dict, path: str) -> tuple[str, dict[str, str]] | None:
    """The resource API Gateway picks for a raw request path, and its path parameters.

    The most specific resource wins, segment by segment; a method missing on that resource is
    not looked for on a less specific one (API Gateway answers MISSING_AUTHENTICATION_TOKEN).
    """
    segments = path.split("/")[1:]
    best = None
    for resource in paths:
        template = resource.split("/")[1:] if resource != "/" else []
        rank = _rank(template, segments if path != "/" else [])
        if rank is not None and (best is None or rank < best[0]):
            best = (rank, resource, template)
    if best is None:
        return None
    _, resource, template = best
    params = {}
    for i, part in enumerate(template):
        if part.endswith("+}"):
            params[part[1:-2]] = "/".join(segments[i:])
        elif part.startswith("{"):
            params[part[1:-1]] = segments[i]
    return resource, params


def body_refused(doc: dict, operation: dict, media: str, body: bytes) -> bool:
    """API Gateway's request validator: True when the operation's validator checks bodies and this
    body is not JSON or does not match the operation's model for `media` (JSON Schema draft 4, the
    models' dialect). An operation with no model for the media type is not checked."""
    name = operation.get("x-amazon-apigateway-request-validator")
    validator = doc.get("x-amazon-apigateway-request-validators", {}).get(name) if name else None
    if not validator or not validator.get("validateRequestBody"):
        return False
    schema = operation.get("requestBody", {}).get("content", {}).get(media, {}).get("schema")
    if schema is None:
        return False
    try:
        value = json.loads(body)
    except ValueError:
        return True
    import jsonschema  # the local gateway's venv has it; the definition checks never validate

    return not jsonschema.Draft4Validator({**schema, "components": doc.get("components", {})}).is_valid(value)
