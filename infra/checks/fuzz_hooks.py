"""Schemathesis hooks for infra/checks/fuzz.sh: the service's own contract on every answer.

Loaded through SCHEMATHESIS_HOOKS=fuzz_hooks (fuzz.sh puts infra/checks on PYTHONPATH).
Each check below runs on every response schemathesis gets, next to the built-in checks:

- problem_json_errors: every 4xx/5xx is `application/problem+json` (RFC 9457) with `type`,
  `title`, `status` (equal to the HTTP status) and `detail`.
- nosniff_header: every answer carries `X-Content-Type-Options: nosniff`.
- cache_status_header: every answer carries a `Cache-Status` header (RFC 9211).

One filter_failure hook accepts, and only there, the bare 400 that the HTTP/1 parser answers to
a request carrying bytes HTTP forbids in a header value (see below).
"""

import json

import schemathesis


def _header(response, name):
    """The first value of header NAME (case-insensitive), or None."""
    for key, values in response.headers.items():
        if key.lower() == name.lower():
            if isinstance(values, (list, tuple)):
                return values[0] if values else ""
            return values
    return None


@schemathesis.check
def problem_json_errors(ctx, response, case):
    """Every 4xx/5xx answer is application/problem+json with type, title, status, detail."""
    status = response.status_code
    if status < 400:
        return None
    content_type = (_header(response, "Content-Type") or "").split(";")[0].strip().lower()
    if content_type != "application/problem+json":
        raise AssertionError(f"{status} answered with Content-Type {content_type!r}, not application/problem+json")
    try:
        body = json.loads(response.content)
    except ValueError as error:
        raise AssertionError(f"{status} problem document is not JSON: {error}") from None
    if not isinstance(body, dict):
        raise AssertionError(f"{status} problem document is not a JSON object")
    for member in ("type", "title", "detail"):
        if not isinstance(body.get(member), str) or not body[member]:
            raise AssertionError(f"{status} problem document lacks a non-empty string `{member}`")
    if not isinstance(body["type"], str) or not body["type"].startswith("urn:api-sfn:problem:"):
        raise AssertionError(f"{status} problem `type` {body['type']!r} is not urn:api-sfn:problem:<slug>")
    if body.get("status") != status or isinstance(body.get("status"), bool):
        raise AssertionError(f"problem `status` {body.get('status')!r} differs from the HTTP status {status}")
    return None


@schemathesis.check
def nosniff_header(ctx, response, case):
    """Every answer carries X-Content-Type-Options: nosniff."""
    value = _header(response, "X-Content-Type-Options")
    if value is None or value.strip().lower() != "nosniff":
        raise AssertionError(f"{response.status_code} answer has X-Content-Type-Options {value!r}, not 'nosniff'")
    return None


@schemathesis.check
def cache_status_header(ctx, response, case):
    """Every answer carries a Cache-Status header."""
    value = _header(response, "Cache-Status")
    if value is None or not value.strip():
        raise AssertionError(f"{response.status_code} answer has no Cache-Status header")
    return None


# Bytes RFC 9110 forbids in a header value (control characters but HTAB, and DEL). Schemathesis
# sends them on purpose in negative cases; hyper, the service's HTTP/1 parser, refuses such a
# request with a bare `400`, no body and `connection: close`, before the router sees it. No
# application code runs, so that answer cannot be problem+json nor carry the service's headers,
# and behind API Gateway (the deployed path) the gateway refuses the request first. Only that
# exact answer, to only such a request, is accepted below; fuzz.sh reports how many were.
_FORBIDDEN_IN_HEADER_VALUES = frozenset(chr(code) for code in [*range(0x00, 0x09), *range(0x0A, 0x20), 0x7F])


def _has_forbidden_header_bytes(case):
    for value in (case.headers or {}).values():
        text = value if isinstance(value, str) else str(value)
        if any(char in _FORBIDDEN_IN_HEADER_VALUES for char in text):
            return True
    return False


@schemathesis.hook
def filter_failure(context, failure, case, response):
    """Keeps every failure except hyper's bare 400 to a request with bytes HTTP forbids in a header."""
    rejected_by_parser = (
        response.status_code == 400
        and not response.content
        and _header(response, "Content-Type") is None
        and _has_forbidden_header_bytes(case)
    )
    return not rejected_by_parser
