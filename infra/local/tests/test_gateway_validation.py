"""What the local gateway refuses, as API Gateway and Step Functions refuse it: execution names
Step Functions does not take, and requests whose framing cannot be read.

Names go through the gateway's Step Functions routes to the emulator, which refuses them with
Step Functions' own errors; the mapping templates turn those into problems. Framing is checked
over a raw socket: every malformed request gets a whole HTTP answer, never a dropped connection.
"""

from __future__ import annotations

import http.client
import json
import socket
import urllib.parse
from dataclasses import dataclass

import pytest

PROBLEM = "application/problem+json"
GREETING = "arn:aws:states:us-east-1:123456789012:stateMachine:greeting"
STARTS = ["/executions", "/executions/express", "/executions/sync"]
REFUSED_NAMES = [
    ("a space", "a b"),
    ("a tab", "a\tb"),
    ("a no-break space", "a\u00a0b"),
    ("an ideographic space", "a\u3000b"),
    ("a double quote", 'say-"hi"'),
    ("81 characters", "n" * 81),
    ("a control character", "a\u0001b"),
    ("DEL", "a\u007fb"),
    ("a C1 control character", "a\u0085b"),
    ("angle brackets", "a<b>"),
    ("braces", "a{b}"),
    ("square brackets", "a[b]"),
    ("a question mark", "a?b"),
    ("an asterisk", "a*b"),
    ("a hash", "a#b"),
    ("a percent sign", "a%b"),
    ("a backslash", "a\\b"),
    ("a caret", "a^b"),
    ("a pipe", "a|b"),
    ("a tilde", "a~b"),
    ("a backtick", "a`b"),
    ("a dollar sign", "a$b"),
    ("an ampersand", "a&b"),
    ("a comma", "a,b"),
    ("a semicolon", "a;b"),
    ("a colon", "a:b"),
    ("a slash", "a/b"),
]


def start(local, route: str, name: str):
    return local.post_json(f"{route}?name={urllib.parse.quote(name, safe='')}", '{"name": "x", "echo": 1}')


@pytest.mark.parametrize("route", STARTS)
@pytest.mark.parametrize("why,name", REFUSED_NAMES, ids=[w for w, _ in REFUSED_NAMES])
def test_a_name_step_functions_refuses_answers_400_invalid_execution_name(local, route, why, name):
    answer = start(local, route, name)
    assert answer.status == 400, (why, answer.body)
    assert answer.headers["content-type"] == PROBLEM
    problem = answer.json()
    assert problem["type"] == "urn:api-sfn:problem:invalid-execution-name", why
    assert problem["status"] == 400 and problem["detail"]


def test_a_refused_name_starts_nothing(local):
    before = local.request("GET", "/_emulator/counts", base=local.emulator).json()
    assert start(local, "/executions", "n" * 81).status == 400
    assert start(local, "/executions", "a b").status == 400
    names = [e["name"] for e in local.sfn().list_executions(stateMachineArn=GREETING)["executions"]]
    assert "n" * 81 not in names and "a b" not in names
    after = local.request("GET", "/_emulator/counts", base=local.emulator).json()
    # Both requests reached Step Functions' API, as they do on AWS, and were refused there.
    assert after["AWSStepFunctions.StartExecution"] == before.get("AWSStepFunctions.StartExecution", 0) + 2


@pytest.mark.parametrize("route", STARTS)
@pytest.mark.parametrize("name", ["n" * 80, "zoë-ünïcode_ok.1", "a'b(c)!@=+"])
def test_a_name_within_the_rules_is_taken(local, route, name):
    answer = start(local, route, name)
    assert answer.status in (200, 202), answer.body


# ---------------------------------------------------------------- framing


@dataclass
class Raw:
    status: int
    headers: dict[str, str]
    body: bytes

    def problem(self) -> dict:
        assert self.headers["content-type"] == PROBLEM
        return json.loads(self.body)


def raw(local, head: str, body: bytes = b"") -> Raw:
    """Sends `head` (request line and headers) and `body` as given; reads one whole answer."""
    host, port = local.api.removeprefix("http://").rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=20) as sock:
        sock.sendall(head.replace("\n", "\r\n").encode("latin-1") + b"\r\n" + body)
        response = http.client.HTTPResponse(sock, method="POST")
        response.begin()  # RemoteDisconnected here is the connection closed without an answer
        data = response.read()  # IncompleteRead here is an answer cut short
        assert response.getheader("Content-Length") == str(len(data))
        return Raw(response.status, {k.lower(): v for k, v in response.getheaders()}, data)


def post_head(*headers: str) -> str:
    lines = ["POST /executions HTTP/1.1", "Host: localhost", "Content-Type: application/json", *headers]
    return "\n".join(lines) + "\n"


MALFORMED = [
    ("a length that is not a number", post_head("Content-Length: abc"), b"{}"),
    ("a negative length", post_head("Content-Length: -2"), b"{}"),
    ("a length with a sign", post_head("Content-Length: +2"), b"{}"),
    ("two different lengths", post_head("Content-Length: 2", "Content-Length: 3"), b"{} "),
    ("a length and chunked", post_head("Content-Length: 2", "Transfer-Encoding: chunked"), b"2\r\n{}\r\n0\r\n\r\n"),
    ("a transfer coding other than chunked", post_head("Transfer-Encoding: gzip"), b"{}"),
    ("a chunk size that is not hex", post_head("Transfer-Encoding: chunked"), b"zz\r\n{}\r\n0\r\n\r\n"),
    ("a negative chunk size", post_head("Transfer-Encoding: chunked"), b"-2\r\n{}\r\n0\r\n\r\n"),
    ("an empty chunk size", post_head("Transfer-Encoding: chunked"), b"\r\n{}\r\n0\r\n\r\n"),
    ("chunk data longer than its size", post_head("Transfer-Encoding: chunked"), b"1\r\n{}\r\n0\r\n\r\n"),
]


@pytest.mark.parametrize("why,head,body", MALFORMED, ids=[w for w, _, _ in MALFORMED])
def test_malformed_framing_answers_400_with_a_problem_and_closes(local, why, head, body):
    answer = raw(local, head, body)
    assert answer.status == 400, (why, answer.body)
    problem = answer.problem()
    assert problem["type"] == "urn:api-sfn:problem:invalid-request" and problem["status"] == 400
    assert problem["detail"]
    assert answer.headers["connection"] == "close"  # the next request's start cannot be known
    assert answer.headers["cache-status"] == "api-gateway; fwd=bypass"


@pytest.mark.parametrize("length", [str(10 * 1024 * 1024 + 1), "99999999999999999999999"])
def test_a_declared_length_over_10_mb_answers_413_without_the_body_being_sent(local, length):
    answer = raw(local, post_head(f"Content-Length: {length}"))
    assert answer.status == 413
    problem = answer.problem()
    assert problem["type"] == "urn:api-sfn:problem:payload-too-large" and problem["detail"] == "Request Too Long"
    assert answer.headers["connection"] == "close"


def test_a_chunk_over_10_mb_answers_413_without_the_chunk_being_sent(local):
    answer = raw(local, post_head("Transfer-Encoding: chunked"), b"%x\r\n" % (10 * 1024 * 1024 + 1))
    assert answer.status == 413 and answer.problem()["detail"] == "Request Too Long"


def test_a_chunked_body_reaches_the_execution_input_exactly(local):
    payload = b'{"name": "Chunky", "echo": "\xc3\xa9"}'
    body = b"".join(b"%x\r\n%s\r\n" % (len(part), part) for part in (payload[:7], payload[7:])) + b"0\r\n\r\n"
    answer = raw(local, post_head("Transfer-Encoding: chunked"), body)
    assert answer.status == 202, answer.body
    described = local.sfn().describe_execution(executionArn=json.loads(answer.body)["executionArn"])
    assert described["input"] == payload.decode("utf-8")
