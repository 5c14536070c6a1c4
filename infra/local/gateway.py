"""The local API Gateway: every route of infra/api/gateway.openapi.json on one loopback port.

It reads the deployed definition itself, so a route added there works here unchanged:
- `aws` integrations (the Step Functions routes) render the definition's request template with
  the Velocity engine and $input/$util/$context of the offline checks (infra/api/apigw_vtl.py),
  send it to the emulator's Step Functions API, select the integration response by status
  (selectionPattern), render its template and apply $context.responseOverride; a start on a
  machine that is not a configured workflow is refused as the gateway role's IAM policy refuses it
  (iam.py), without reaching the emulator;
- a route with a request validator has its body checked against its model first (BAD_REQUEST_BODY);
- `aws_proxy` integrations go to sfn-results with method, path, query, headers and body intact;
- `mock` integrations (CORS preflights) render their template's statusCode;
- what API Gateway answers itself (no such method, media type, size, timeouts) comes from the
  definition's x-amazon-apigateway-gateway-responses.
What it does not reproduce is listed in infra/local/README.md.
"""

from __future__ import annotations

import argparse
import json
import re
import socket
import sys
import time
import traceback
import uuid
from dataclasses import dataclass, field
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qsl, unquote, urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "api"))
import definition  # noqa: E402  (shared with infra/checks)
from apigw_vtl import context as vtl_context  # noqa: E402
from apigw_vtl import render  # noqa: E402
from iam import StartPolicy  # noqa: E402
from upstream import Upstream  # noqa: E402

REGION = "us-east-1"
# API Gateway REST APIs take request payloads up to 10 MB.
MAX_BODY_BYTES = 10 * 1024 * 1024
# A chunk-size or trailer line, and how many trailer fields, as the stdlib bounds header lines.
MAX_LINE_BYTES = 65536
MAX_TRAILERS = 100
# After an answer given before the body was read: how long the rest of it is drained.
LINGER_IDLE_SECONDS = 2
LINGER_SECONDS = 30
HOP_BY_HOP = {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "te", "trailer", "upgrade",
              "content-length"}
# What API Gateway says in $context.error.message for the answers it gives itself.
GATEWAY_ERRORS = {
    "MISSING_AUTHENTICATION_TOKEN": (403, "Missing Authentication Token"),
    "UNSUPPORTED_MEDIA_TYPE": (415, "Unsupported Media Type"),
    "BAD_REQUEST_BODY": (400, "Invalid request body"),
    "REQUEST_TOO_LARGE": (413, "Request Too Long"),
    "DEFAULT_4XX": (400, "Bad Request"),
    "INTEGRATION_TIMEOUT": (504, "Endpoint request timed out"),
    "INTEGRATION_FAILURE": (502, "Internal server error"),
    "DEFAULT_5XX": (500, "Internal server error"),
}


class Refused(Exception):
    """A request the gateway answers itself before (or instead of) reading its body."""

    def __init__(self, kind: str, message: str | None = None):
        super().__init__(message or kind)
        self.kind = kind
        self.message = message


@dataclass
class Answer:
    status: int
    body: bytes = b""
    headers: list[tuple[str, str]] = field(default_factory=list)


def header(headers: list[tuple[str, str]], name: str) -> str | None:
    return next((v for k, v in headers if k.lower() == name.lower()), None)


def literal_parameters(parameters: dict, prefix: str, upstream: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """Response parameters: 'quoted' literals, or integration.response.header.X from the upstream."""
    out = []
    for target, source in parameters.items():
        if not target.startswith(prefix):
            continue
        if source.startswith("'") and source.endswith("'"):
            out.append((target[len(prefix):], source[1:-1]))
        elif source.startswith("integration.response.header."):
            value = header(upstream, source[len("integration.response.header."):])
            if value is not None:
                out.append((target[len(prefix):], value))
    return out


class Gateway:
    """Answers one request the way the deployed API Gateway stage would."""

    def __init__(self, doc: dict, stage_variables: dict[str, str], service: int, emulator: int,
                 timeout_ms: int | None = None, policy: StartPolicy | None = None):
        self.doc = doc
        self.policy = policy or StartPolicy([])
        self.stage_variables = stage_variables
        self.service = Upstream(service)
        self.emulator = Upstream(emulator)
        self.timeout_ms = timeout_ms

    def handle(self, method: str, target: str, headers: list[tuple[str, str]], body: bytes, client: str) -> Answer:
        request_id = str(uuid.uuid4())
        try:
            answer = self.route(request_id, method, target, headers, body, client)
        except Exception:  # a template or definition API Gateway would refuse: its 500, and the cause here
            traceback.print_exc()
            answer = self.gateway_response("DEFAULT_5XX", request_id)
        answer.headers.append(("x-amzn-RequestId", request_id))
        return answer

    def route(self, request_id, method, target, headers, body, client) -> Answer:
        if len(body) > MAX_BODY_BYTES:
            return self.gateway_response("REQUEST_TOO_LARGE", request_id)
        url = urlsplit(target)
        found = definition.match_resource(self.doc["paths"], url.path or "/")
        operation = None
        if found is not None:
            item = self.doc["paths"][found[0]]
            operation = item.get(method.lower()) or item.get(definition.ANY_METHOD)
        if operation is None:
            # Also for a method missing on a resource: API Gateway does not fall back to {proxy+}.
            return self.gateway_response("MISSING_AUTHENTICATION_TOKEN", request_id)
        resource, path_params = found
        integration = operation["x-amazon-apigateway-integration"]
        media = (header(headers, "Content-Type") or "application/json").split(";")[0].strip().lower()
        if definition.body_refused(self.doc, operation, media, body):
            return self.gateway_response("BAD_REQUEST_BODY", request_id)
        timeout = (self.timeout_ms or integration.get("timeoutInMillis", 29000)) / 1000
        try:
            if integration["type"] == "aws_proxy":
                return self.proxy(method, target, headers, body, client, timeout)
            params = {
                "path": {k: unquote(v) for k, v in path_params.items()},
                "querystring": dict(parse_qsl(url.query, keep_blank_values=True)),
                "header": dict(headers),
            }
            ctx = dict(requestId=request_id, httpMethod=method, resourcePath=resource, path=url.path,
                       domainName=header(headers, "Host") or "localhost", stage="local",
                       identity={"sourceIp": client, "userAgent": header(headers, "User-Agent")})
            return self.mapped(integration, params, ctx, headers, body, timeout)
        except (socket.timeout, TimeoutError):
            return self.gateway_response("INTEGRATION_TIMEOUT", request_id)
        except OSError:
            return self.gateway_response("INTEGRATION_FAILURE", request_id)

    def proxy(self, method, target, headers, body, client, timeout) -> Answer:
        forwarded = [(k, v) for k, v in headers if k.lower() not in HOP_BY_HOP]
        forwarded += [("X-Forwarded-For", client), ("X-Forwarded-Proto", "http")]
        status, upstream, data = self.service.send(method, target, forwarded, body, timeout)
        return Answer(status, data, [(k, v) for k, v in upstream if k.lower() not in HOP_BY_HOP])

    def mapped(self, integration, params, ctx, headers, body, timeout) -> Answer:
        media = (header(headers, "Content-Type") or "application/json").split(";")[0].strip().lower()
        templates = integration.get("requestTemplates", {})
        text = body.decode("utf-8", errors="replace")
        if media in templates:
            request = render(templates[media], text, params=params, stage_variables=self.stage_variables,
                             ctx=vtl_context(**ctx)).body
        elif integration.get("passthroughBehavior") == "never" or (
            templates and integration.get("passthroughBehavior") == "when_no_templates"
        ):
            return self.gateway_response("UNSUPPORTED_MEDIA_TYPE", ctx["requestId"])
        else:
            request = text
        if integration["type"] == "mock":
            status, upstream, data = int(json.loads(request)["statusCode"]), [], b""
        else:
            action = integration["uri"].rsplit(":states:action/", 1)
            if len(action) != 2:
                return self.gateway_response("DEFAULT_5XX", ctx["requestId"])  # not a Step Functions action
            refused = self.policy.refusal(action[1], request)
            if refused is not None:
                return self.integration_response(integration, *refused, params, ctx)
            status, upstream, data = self.emulator.send("POST", "/", [
                ("Host", f"127.0.0.1:{self.emulator.port}"),
                ("Content-Type", "application/x-amz-json-1.0"),
                ("X-Amz-Target", f"AWSStepFunctions.{action[1]}"),
                # The emulator reads region and service from the credential scope and checks no signature.
                ("Authorization", f"AWS4-HMAC-SHA256 Credential=local/20260101/{REGION}/states/aws4_request, "
                                  "SignedHeaders=host, Signature=0"),
            ], request.encode("utf-8"), timeout)
        return self.integration_response(integration, status, upstream, data, params, ctx)

    def integration_response(self, integration, status, upstream, data, params, ctx) -> Answer:
        responses = integration.get("responses", {})
        chosen = responses.get("default")
        for pattern, response in responses.items():
            # API Gateway matches selectionPattern against the whole status code (Java's matches()).
            if pattern != "default" and re.fullmatch(pattern, str(status)):
                chosen = response
                break
        if chosen is None:
            return self.gateway_response("DEFAULT_5XX", ctx["requestId"])
        code = int(chosen["statusCode"])
        headers = {"Content-Type": "application/json"}
        headers.update(literal_parameters(chosen.get("responseParameters", {}), "method.response.header.", upstream))
        template = chosen.get("responseTemplates", {}).get("application/json")
        body = data
        if template is not None:
            rendered = render(template, data.decode("utf-8", errors="replace"), params=params,
                              stage_variables=self.stage_variables, ctx=vtl_context(**ctx))
            body = rendered.body.encode("utf-8")
            code = int(rendered.status) if rendered.status is not None else code
            headers.update({k: str(v) for k, v in rendered.headers.items()})
        return Answer(code, body, list(headers.items()))

    def refuse(self, kind: str, message: str | None = None) -> Answer:
        """The gateway's own answer to a request it did not route (its framing, its size)."""
        request_id = str(uuid.uuid4())
        answer = self.gateway_response(kind, request_id, message)
        answer.headers.append(("x-amzn-RequestId", request_id))
        return answer

    def gateway_response(self, kind: str, request_id: str, message: str | None = None) -> Answer:
        """API Gateway's own answer, from the definition's gateway responses (DEFAULT_4XX/5XX as fallback)."""
        status, default = GATEWAY_ERRORS[kind]
        message = message or default
        responses = self.doc.get("x-amazon-apigateway-gateway-responses", {})
        spec = responses.get(kind) or responses.get("DEFAULT_5XX" if status >= 500 else "DEFAULT_4XX") or {}
        status = int(spec.get("statusCode", status))
        headers = {"Content-Type": "application/json"}
        headers.update(literal_parameters(spec.get("responseParameters", {}), "gatewayresponse.header.", []))
        template = spec.get("responseTemplates", {}).get("application/json")
        if template is None:
            return Answer(status, json.dumps({"message": message}).encode(), list(headers.items()))
        error = {"message": message, "messageString": json.dumps(message), "responseType": kind}
        body = render(template, ctx=vtl_context(requestId=request_id, error=error)).body
        return Answer(status, body.encode("utf-8"), list(headers.items()))


class Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256  # benchmarks open many connections at once


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body leave in one write without waiting for the client's delayed ACK (40 ms).
    disable_nagle_algorithm = True
    gateway: Gateway

    def dispatch(self) -> None:
        try:
            body = self.read_body()
        except Refused as refused:
            # Answered before the body was read (or while it could not be): the rest of what the
            # client sends cannot be told from a next request, so the connection ends after it.
            answer = self.gateway.refuse(refused.kind, refused.message)
            answer.headers.append(("Connection", "close"))
            self.respond(answer)
            self.linger()
            return
        except ConnectionError:
            self.close_connection = True  # the client left mid-body: no one to answer
            return
        self.respond(self.gateway.handle(self.command, self.path, list(self.headers.items()), body,
                                         self.client_address[0]))

    def respond(self, answer: Answer) -> None:
        self.send_response_only(answer.status)
        if header(answer.headers, "Date") is None:
            self.send_header("Date", formatdate(usegmt=True))
        for name, value in answer.headers:
            self.send_header(name, value)
        payload = b"" if self.command == "HEAD" or answer.status in (204, 304) else answer.body
        if answer.status not in (204, 304):
            self.send_header("Content-Length", str(len(answer.body)))
        self._headers_buffer.append(b"\r\n" + payload)
        self.wfile.write(b"".join(self._headers_buffer))
        self._headers_buffer = []

    def read_body(self) -> bytes:
        """The request body, by its framing (RFC 9112 section 6); Refused when it cannot be read
        or is over API Gateway's payload limit, which is answered without reading the body."""
        lengths = self.headers.get_all("Content-Length") or []
        codings = self.headers.get_all("Transfer-Encoding") or []
        if codings:
            if lengths:
                raise Refused("DEFAULT_4XX", "Content-Length and Transfer-Encoding together")
            if ",".join(codings).strip().lower() != "chunked":
                raise Refused("DEFAULT_4XX", "Unsupported Transfer-Encoding")
            return self.read_chunked()
        if not lengths:
            return b""
        values = {value.strip() for value in ",".join(lengths).split(",")}
        if len(values) != 1 or not re.fullmatch(r"[0-9]+", next(iter(values))):
            raise Refused("DEFAULT_4XX", "Malformed Content-Length")
        length = int(values.pop())
        if length > MAX_BODY_BYTES:
            raise Refused("REQUEST_TOO_LARGE")
        return self.read_exactly(length)

    def read_chunked(self) -> bytes:
        chunks, total = [], 0
        while True:
            line = self.rfile.readline(MAX_LINE_BYTES + 1)
            if not line.endswith(b"\n"):
                if len(line) > MAX_LINE_BYTES:
                    raise Refused("DEFAULT_4XX", "Malformed chunk size")
                raise ConnectionError("the client closed the connection mid-body")
            size = line.split(b";", 1)[0].strip(b" \t\r\n")
            if not re.fullmatch(rb"[0-9A-Fa-f]{1,16}", size):
                raise Refused("DEFAULT_4XX", "Malformed chunk size")
            total += int(size, 16)
            if total > MAX_BODY_BYTES:
                raise Refused("REQUEST_TOO_LARGE")
            if int(size, 16) == 0:
                for _ in range(MAX_TRAILERS):  # trailers, ignored as API Gateway ignores them
                    if self.rfile.readline(MAX_LINE_BYTES + 1) in (b"\r\n", b"\n", b""):
                        return b"".join(chunks)
                raise Refused("DEFAULT_4XX", "Too many trailer fields")
            chunks.append(self.read_exactly(int(size, 16)))
            if self.rfile.readline(3) not in (b"\r\n", b"\n"):
                raise Refused("DEFAULT_4XX", "Chunk data does not match its size")

    def read_exactly(self, length: int) -> bytes:
        body = self.rfile.read(length)
        if len(body) < length:
            raise ConnectionError("the client closed the connection mid-body")
        return body

    def handle_expect_100(self) -> bool:
        # A body API Gateway would refuse is refused before the client sends it.
        declared = (self.headers.get("Content-Length") or "").strip()
        if declared.isascii() and declared.isdigit() and int(declared) > MAX_BODY_BYTES:
            return True
        return super().handle_expect_100()

    def linger(self) -> None:
        """Reads and drops what the client still sends for a while, so that closing with its
        data unread does not reset the connection before the client has read the answer."""
        self.close_connection = True
        try:
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_WR)
            self.connection.settimeout(LINGER_IDLE_SECONDS)
            deadline = time.monotonic() + LINGER_SECONDS
            while time.monotonic() < deadline and self.connection.recv(1024 * 1024):
                pass
        except OSError:
            pass

    def __getattr__(self, name: str):
        # Any method, not only the stdlib's list: API Gateway answers an unknown one itself (403).
        if name.startswith("do_"):
            return self.dispatch
        raise AttributeError(name)

    def log_message(self, format: str, *args) -> None:  # noqa: A002 (the stdlib's name)
        pass  # sfn-results and the emulator log; an access line per request would drown them


def build(stage_variables: dict[str, str], service: int, emulator: int, timeout_ms: int | None = None,
          workflows: list[str] | None = None) -> Gateway:
    """The definition as this stage deploys it: IAM auth off, no CORS origin, no browser user pool,
    region us-east-1."""
    doc = definition.resolve(definition.load(), {"AWS::Partition": "aws", "AWS::Region": REGION,
                                                 "AuthType": "NONE"},
                             {"HasAllowedOrigin": False, "HasBrowserUserPool": False, "HasBrowserControl": False})
    return Gateway(doc, stage_variables, service, emulator, timeout_ms, StartPolicy(workflows or []))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--listen", default="127.0.0.1:3000", help="host:port; port 0 picks a free one")
    parser.add_argument("--service-port", type=int, required=True, help="sfn-results on 127.0.0.1")
    parser.add_argument("--emulator-port", type=int, required=True, help="the emulator on 127.0.0.1")
    parser.add_argument("--stage-variable", action="append", default=[], metavar="NAME=VALUE")
    parser.add_argument("--integration-timeout-ms", type=int, help="overrides timeoutInMillis (tests only)")
    parser.add_argument("--workflow", action="append", default=[], metavar="ARN",
                        help="a state machine the gateway may start (repeat); none: IAM is not modelled")
    args = parser.parse_args()
    host, port = args.listen.rsplit(":", 1)
    server = Server((host, int(port)), Handler)
    variables = dict(v.split("=", 1) for v in args.stage_variable)
    # Status URLs point back at this gateway unless the caller names another base.
    variables.setdefault("publicBaseUrl", f"http://{host}:{server.server_address[1]}")
    Handler.gateway = build(variables, args.service_port, args.emulator_port, args.integration_timeout_ms,
                            args.workflow)
    print(f"READY {server.server_address[1]}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
