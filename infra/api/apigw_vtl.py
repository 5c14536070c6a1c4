"""Renders API Gateway mapping templates with a real Velocity engine (airspeed-ext).

Shared by the offline checks (infra/checks) and the local gateway (infra/local/gateway.py).
airspeed-ext parses and evaluates VTL the way API Gateway's Velocity does; this
module supplies the objects API Gateway puts in front of a template -- $input,
$util, $context, $stageVariables -- with the Java semantics they have there:
escapeJavaScript is commons-lang's (it writes ' as \\' and / as \\/, and every
UTF-16 code unit above 0x7f as \\uXXXX), urlEncode is java.net.URLEncoder in
UTF-8, and $input.path / $input.json evaluate a JSONPath against the body.
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import airspeed
from airspeed import operators

TEMPLATES = Path(__file__).resolve().parent / "templates"

# Java's String.indexOf answers -1 where Python's str.index raises; the
# templates may call it, so give the engine Java's behaviour.
operators.__additional_methods__[str]["indexOf"] = lambda self, s: self.find(s)
operators.__additional_methods__[str]["isEmpty"] = lambda self: len(self) == 0
operators.__additional_methods__[str]["trim"] = lambda self: self.strip(
    "".join(chr(c) for c in range(33))
)


def escape_javascript(value: Any) -> str | None:
    """commons-lang StringEscapeUtils.escapeJavaScript, per UTF-16 code unit (null stays null)."""
    if value is None:
        return None
    text = str(value)
    units = text.encode("utf-16-be", "surrogatepass")
    out = []
    for i in range(0, len(units), 2):
        ch = (units[i] << 8) | units[i + 1]
        if ch > 0x7F:
            out.append("\\u%04X" % ch)
        elif ch < 32:
            out.append(
                {8: "\\b", 10: "\\n", 9: "\\t", 12: "\\f", 13: "\\r"}.get(ch, "\\u%04X" % ch)
            )
        else:
            c = chr(ch)
            out.append({"'": "\\'", '"': '\\"', "\\": "\\\\", "/": "\\/"}.get(c, c))
    return "".join(out)


_URL_SAFE = set(b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-*_")


def url_encode(value: Any) -> str:
    """java.net.URLEncoder.encode(value, "UTF-8")."""
    out = []
    for b in str(value).encode("utf-8"):
        if b in _URL_SAFE:
            out.append(chr(b))
        elif b == 0x20:
            out.append("+")
        else:
            out.append("%%%02X" % b)
    return "".join(out)


_SEGMENT = re.compile(r"\.([A-Za-z_$][\w$-]*)|\['([^']*)'\]|\[(\d+)\]")


def json_path(document: Any, path: str) -> Any:
    """The subset of JSONPath the templates use: $, $.a.b, $['a'], $[0]."""
    if not path.startswith("$"):
        raise ValueError(f"JSONPath must start with $: {path!r}")
    rest, node = path[1:], document
    while rest:
        m = _SEGMENT.match(rest)
        if not m:
            raise ValueError(f"unsupported JSONPath {path!r}")
        key = m.group(1) if m.group(1) is not None else m.group(2)
        if key is not None:
            node = node.get(key) if isinstance(node, dict) else None
        else:
            idx = int(m.group(3))
            node = node[idx] if isinstance(node, list) and idx < len(node) else None
        rest = rest[m.end():]
    return node


class Input:
    """$input: the request (or integration response) body and the method request's parameters."""

    def __init__(self, body: str, params: dict[str, dict[str, str]] | None = None):
        self.body = body
        self._params = {"path": {}, "querystring": {}, "header": {}}
        for kind, values in (params or {}).items():
            self._params[kind].update(values)

    def _document(self) -> Any:
        return json.loads(self.body) if self.body.strip() else {}

    def path(self, p: str) -> Any:
        return json_path(self._document(), p)

    def json(self, p: str) -> str:
        # Jayway JsonPath + json-smart as API Gateway uses them: compact JSON,
        # non-ASCII kept, '/' escaped.
        value = json_path(self._document(), p)
        return json.dumps(value, ensure_ascii=False, separators=(",", ":")).replace("/", "\\/")

    def params(self, name: str | None = None) -> Any:
        if name is None:
            return self._params
        for kind in ("path", "querystring", "header"):
            if name in self._params[kind]:
                return self._params[kind][name]
        return ""


class Util:
    """$util."""

    def escapeJavaScript(self, value: Any) -> str | None:  # noqa: N802 (API Gateway's name)
        return escape_javascript(value)

    def urlEncode(self, value: Any) -> str:  # noqa: N802
        return url_encode(value)

    def parseJson(self, value: str) -> Any:  # noqa: N802
        return json.loads(value)


@dataclass
class Rendered:
    """What API Gateway would send: the body plus any $context.responseOverride."""

    body: str
    status: int | None = None
    headers: dict[str, str] = field(default_factory=dict)

    def json(self) -> Any:
        return json.loads(self.body)


def context(**overrides: Any) -> dict[str, Any]:
    ctx = {
        "requestId": str(uuid.uuid4()),
        "domainName": "abc123.execute-api.eu-west-1.amazonaws.com",
        "stage": "v1",
        "httpMethod": "POST",
        "resourcePath": "/executions",
        "error": {"messageString": '"Missing Authentication Token"', "responseType": "MISSING_AUTHENTICATION_TOKEN"},
        "responseOverride": {"status": None, "header": {}},
    }
    ctx.update(overrides)
    return ctx


def render(
    template: str,
    body: str = "",
    *,
    params: dict[str, dict[str, str]] | None = None,
    stage_variables: dict[str, str] | None = None,
    ctx: dict[str, Any] | None = None,
) -> Rendered:
    """Renders infra/api/templates/<template> (or a template text) as API Gateway would."""
    source = (TEMPLATES / template).read_text(encoding="utf-8") if template.endswith(".vtl") else template
    ctx = ctx if ctx is not None else context()
    namespace = {
        "input": Input(body, params),
        "util": Util(),
        "context": ctx,
        "stageVariables": dict(stage_variables or {}),
    }
    out = airspeed.Template(source).merge(namespace)
    override = ctx["responseOverride"]
    return Rendered(out, override["status"], dict(override["header"]))
