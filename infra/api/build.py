#!/usr/bin/env python3
"""Builds infra/api/gateway.openapi.json, the API Gateway definition the stack includes.

Source of truth: infra/openapi.json (OpenAPI 3.1, served by the service) plus the
mapping templates in infra/api/templates/. API Gateway imports OpenAPI 3.0, so the
document is converted, and every operation gets its x-amazon-apigateway-integration.
The output holds CloudFormation intrinsics (Fn::Sub, Fn::GetAtt, Fn::If, Ref) that
stack.yaml's AWS::Include transform resolves.

    python3 infra/api/build.py          # write gateway.openapi.json
    python3 infra/api/build.py --check  # exit 1 when it is out of date
"""

from __future__ import annotations

import copy
import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
SOURCE = HERE.parent / "openapi.json"
TEMPLATES = HERE / "templates"
OUTPUT = HERE / "gateway.openapi.json"

# CloudFormation names the included document refers to (defined in stack.yaml).
START_ROLE = "ApiStartRole"
# The function is named by the stack (FunctionName `${AWS::StackName}-results`) rather than
# referenced: its PUBLIC_BASE_URL refers to the API, and a reference both ways is a cycle.
FUNCTION_ARN = "arn:${AWS::Partition}:lambda:${AWS::Region}:${AWS::AccountId}:function:${AWS::StackName}-results"
AUTH_PARAMETER = "AuthType"
ORIGIN_PARAMETER = "AllowedOrigin"
HAS_ORIGIN = "HasAllowedOrigin"
# The stack's browser option: a Cognito user pool whose users may read (never start).
HAS_BROWSER_POOL = "HasBrowserUserPool"
POOL_PARAMETER = "BrowserUserPoolArn"
BROWSER_ROUTES = {("/executions", "get"), ("/executions/{executionArn}", "get"), ("/workflows", "get"),
                  ("/workflows/{workflow}", "get"), ("/workflows/{workflow}/executions", "get")}

INTEGRATION_TIMEOUT_MS = 29000
CORS_ALLOW_HEADERS = (
    "Content-Type,Authorization,X-Amz-Date,X-Amz-Security-Token,X-Amz-Content-Sha256,Prefer,If-None-Match"
)
CORS_EXPOSE_HEADERS = "Location,Retry-After,ETag,Cache-Status,Preference-Applied"
CORS_HEADERS = ("Access-Control-Allow-Origin", "Access-Control-Expose-Headers")
# Every answer carries these, as the service's do. Nothing between API Gateway and Step
# Functions caches, so the gateway's own answers say so with the gateway's name.
CACHE_STATUS = "api-gateway; fwd=bypass"
STANDARD_HEADERS = {"X-Content-Type-Options": "nosniff", "Cache-Status": CACHE_STATUS}
# Gateway answers that ask the client to come back later, and after how many seconds.
RETRY_AFTER = {"THROTTLED": "1", "QUOTA_EXCEEDED": "60"}

# API Gateway's own answers (auth, throttling, routing, timeouts) as problem+json.
# type -> (status, slug, title)
GATEWAY_RESPONSES = {
    "ACCESS_DENIED": (403, "forbidden", "Forbidden"),
    "EXPIRED_TOKEN": (403, "forbidden", "Forbidden"),
    "INVALID_SIGNATURE": (403, "forbidden", "Forbidden"),
    "MISSING_AUTHENTICATION_TOKEN": (403, "forbidden", "Forbidden"),
    "WAF_FILTERED": (403, "forbidden", "Forbidden"),
    "UNAUTHORIZED": (401, "unauthorized", "Unauthorized"),
    "BAD_REQUEST_BODY": (400, "invalid-request", "Invalid request"),
    "BAD_REQUEST_PARAMETERS": (400, "invalid-request", "Invalid request"),
    "RESOURCE_NOT_FOUND": (404, "not-found", "Not found"),
    "REQUEST_TOO_LARGE": (413, "payload-too-large", "Payload too large"),
    "UNSUPPORTED_MEDIA_TYPE": (415, "unsupported-media-type", "Unsupported media type"),
    "THROTTLED": (429, "throttled", "Too many requests"),
    "QUOTA_EXCEEDED": (429, "throttled", "Too many requests"),
    "INTEGRATION_FAILURE": (502, "upstream-error", "Bad gateway"),
    "INTEGRATION_TIMEOUT": (504, "gateway-timeout", "Gateway timeout"),
    "DEFAULT_4XX": (400, "invalid-request", "Invalid request"),
    "DEFAULT_5XX": (500, "internal-error", "Internal error"),
}


def template(name: str) -> str:
    return (TEMPLATES / name).read_text(encoding="utf-8")


def gateway_response_template(status: int, slug: str, title: str) -> str:
    # $context.error.messageString is already a quoted JSON string.
    return (
        "{\n"
        f'  "type": "urn:api-sfn:problem:{slug}",\n'
        f'  "title": "{title}",\n'
        f'  "status": {status},\n'
        '  "detail": $context.error.messageString\n'
        "}\n"
    )


def to_openapi30(node):
    """OpenAPI 3.1 (JSON Schema 2020-12) -> 3.0: type arrays with null become nullable."""
    if isinstance(node, list):
        return [to_openapi30(n) for n in node]
    if not isinstance(node, dict):
        return node
    out = {}
    for key, value in node.items():
        if key == "type" and isinstance(value, list):
            kinds = [k for k in value if k != "null"]
            out["type"] = kinds[0] if len(kinds) == 1 else kinds
            if "null" in value:
                out["nullable"] = True
        elif key == "const":
            out["enum"] = [value]
        elif key == "examples" and isinstance(value, list):
            out["example"] = value[0]
        else:
            out[key] = to_openapi30(value)
    return out


def headers_declared(names) -> dict:
    return {h: {"schema": {"type": "string"}} for h in names}


def header_parameters(prefix: str, static: dict[str, str]) -> dict:
    """Response parameters: the static headers, plus CORS headers when the stack has an allowed origin."""
    fixed = {f"{prefix}.header.{name}": f"'{value}'" for name, value in static.items()}
    return {
        "Fn::If": [
            HAS_ORIGIN,
            {
                **fixed,
                f"{prefix}.header.Access-Control-Allow-Origin": {"Fn::Sub": f"'${{{ORIGIN_PARAMETER}}}'"},
                f"{prefix}.header.Access-Control-Expose-Headers": f"'{CORS_EXPOSE_HEADERS}'",
            },
            fixed if fixed else {"Ref": "AWS::NoValue"},
        ]
    }


# The line of start-request.vtl / sync-request.vtl that names the machine, and what replaces it.
MACHINE_LINE = "#set($stateMachineArn = $stageVariables.{})\n"
WORKFLOW_MACHINE = "workflow-machine.vtl"


def sfn_integration(action: str, request: str, success_status: str, success: str, machine: str | None = None,
                    workflow: bool = False) -> dict:
    """A Step Functions action behind the gateway. The request template names its machine in one line:
    `machine` swaps the stage variable (one start template for both sample machines), `workflow`
    swaps the line for workflow-machine.vtl (the machine named by the path's {workflow})."""
    cors = header_parameters("method.response", STANDARD_HEADERS)
    request_template = template(request)
    default = "standardStateMachineArn" if request == "start-request.vtl" else "expressStateMachineArn"
    line = MACHINE_LINE.format(default)
    if line not in request_template:
        raise SystemExit(f"{request} lacks the line naming its machine: {line.strip()}")
    if machine:
        request_template = request_template.replace(line, MACHINE_LINE.format(machine))
    if workflow:
        request_template = request_template.replace(line, template(WORKFLOW_MACHINE))
    return {
        "type": "aws",
        "httpMethod": "POST",
        "uri": {"Fn::Sub": f"arn:${{AWS::Partition}}:apigateway:${{AWS::Region}}:states:action/{action}"},
        "credentials": {"Fn::GetAtt": [START_ROLE, "Arn"]},
        "passthroughBehavior": "never",
        "timeoutInMillis": INTEGRATION_TIMEOUT_MS,
        "requestTemplates": {"application/json": request_template},
        "responses": {
            "default": {
                "statusCode": success_status,
                "responseParameters": cors,
                "responseTemplates": {"application/json": template(success)},
            },
            "4\\d{2}": {
                "statusCode": "400",
                "responseParameters": cors,
                "responseTemplates": {"application/json": template("sfn-client-error.vtl")},
            },
            "5\\d{2}": {
                "statusCode": "503",
                "responseParameters": cors,
                "responseTemplates": {"application/json": template("sfn-server-error.vtl")},
            },
        },
    }


def proxy_integration() -> dict:
    return {
        "type": "aws_proxy",
        "httpMethod": "POST",
        "uri": {
            "Fn::Sub": "arn:${AWS::Partition}:apigateway:${AWS::Region}:lambda:path/2015-03-31/functions/"
            f"{FUNCTION_ARN}/invocations"
        },
        "passthroughBehavior": "when_no_match",
        "timeoutInMillis": INTEGRATION_TIMEOUT_MS,
    }


def preflight(path: str, methods: str) -> dict:
    names = [part[1:-1] for part in path.split("/") if part.startswith("{") and part.endswith("}")]
    headers = {
        "Access-Control-Allow-Origin": {"schema": {"type": "string"}},
        "Access-Control-Allow-Methods": {"schema": {"type": "string"}},
        "Access-Control-Allow-Headers": {"schema": {"type": "string"}},
        "Access-Control-Max-Age": {"schema": {"type": "string"}},
    }
    operation = {
        "summary": "CORS preflight",
        "description": "Answered by API Gateway without auth (browsers do not sign preflights).",
        "x-amazon-apigateway-auth": {"type": "NONE"},
        "responses": {"204": {"description": "Preflight answer.", "headers": headers}},
        "x-amazon-apigateway-integration": {
            "type": "mock",
            "passthroughBehavior": "when_no_match",
            "requestTemplates": {"application/json": '{"statusCode": 204}'},
            "responses": {
                "default": {
                    "statusCode": "204",
                    "responseParameters": {
                        "Fn::If": [
                            HAS_ORIGIN,
                            {
                                "method.response.header.Access-Control-Allow-Origin": {
                                    "Fn::Sub": f"'${{{ORIGIN_PARAMETER}}}'"
                                },
                                "method.response.header.Access-Control-Allow-Methods": f"'{methods}'",
                                "method.response.header.Access-Control-Allow-Headers": f"'{CORS_ALLOW_HEADERS}'",
                                "method.response.header.Access-Control-Max-Age": "'600'",
                            },
                            {"Ref": "AWS::NoValue"},
                        ]
                    },
                }
            },
        },
    }
    if names:
        operation["parameters"] = [
            {"name": n, "in": "path", "required": True, "schema": {"type": "string"}} for n in names
        ]
    return operation


# The routes API Gateway answers through Step Functions (the rest reach the function).
SFN_ROUTES = {("/executions", "post"), ("/executions/express", "post"), ("/executions/sync", "post"),
              ("/workflows/{workflow}/executions", "post"), ("/workflows/{workflow}/executions/sync", "post")}
INTEGRATIONS = {
    ("/executions", "post"): lambda: sfn_integration(
        "StartExecution", "start-request.vtl", "202", "start-response.vtl"
    ),
    # The same start as POST /executions, on the EXPRESS machine.
    ("/executions/express", "post"): lambda: sfn_integration(
        "StartExecution", "start-request.vtl", "202", "start-response.vtl", machine="expressStateMachineArn"
    ),
    ("/executions/sync", "post"): lambda: sfn_integration(
        "StartSyncExecution", "sync-request.vtl", "200", "sync-response.vtl"
    ),
    # The same starts on the machine the path names; sfn-client-error.vtl answers a name IAM refuses
    # (not a configured workflow) 404 workflow-not-found.
    ("/workflows/{workflow}/executions", "post"): lambda: sfn_integration(
        "StartExecution", "start-request.vtl", "202", "start-response.vtl", workflow=True
    ),
    ("/workflows/{workflow}/executions/sync", "post"): lambda: sfn_integration(
        "StartSyncExecution", "sync-request.vtl", "200", "sync-response.vtl", workflow=True
    ),
    ("/workflows", "get"): proxy_integration,
    ("/workflows/{workflow}", "get"): proxy_integration,
    ("/workflows/{workflow}/executions", "get"): proxy_integration,
    ("/workflows/{workflow}/executions/wait", "post"): proxy_integration,
    ("/executions", "get"): proxy_integration,
    ("/", "get"): proxy_integration,
    ("/executions/wait", "post"): proxy_integration,
    ("/executions/{executionArn}", "get"): proxy_integration,
    ("/healthz", "get"): proxy_integration,
    ("/openapi.json", "get"): proxy_integration,
    ("/webhooks", "post"): proxy_integration,
    ("/webhooks", "get"): proxy_integration,
    ("/webhooks/{id}", "get"): proxy_integration,
    ("/webhooks/{id}", "delete"): proxy_integration,
    ("/webhooks/{id}/secret", "post"): proxy_integration,
    ("/webhooks/{id}/deliveries", "get"): proxy_integration,
    ("/webhooks/{id}/deliveries/{deliveryId}/retry", "post"): proxy_integration,
    ("/executions/{executionArn}/stop", "post"): proxy_integration,
    ("/executions/{executionArn}/redrive", "post"): proxy_integration,
    ("/executions/{executionArn}/steps", "get"): proxy_integration,
}


def browser_auth(key: tuple[str, str]) -> dict:
    """AuthType for every route; with the browser option, the read routes take a Cognito token
    instead (through `security`), and the status page itself, static HTML, is open."""
    if key in BROWSER_ROUTES:
        return {"Fn::If": [HAS_BROWSER_POOL, {"Ref": "AWS::NoValue"}, {"type": {"Ref": AUTH_PARAMETER}}]}
    if key == ("/", "get"):
        return {"type": {"Fn::If": [HAS_BROWSER_POOL, "NONE", {"Ref": AUTH_PARAMETER}]}}
    return {"type": {"Ref": AUTH_PARAMETER}}


def build() -> dict:
    source = json.loads(SOURCE.read_text(encoding="utf-8"))
    doc = to_openapi30(copy.deepcopy(source))
    doc["openapi"] = "3.0.1"
    doc["info"].pop("summary", None)
    doc["info"].get("license", {}).pop("identifier", None)
    doc["info"]["title"] = {"Fn::Sub": "${AWS::StackName}"}
    doc["info"]["description"] = (
        "Generated by infra/api/build.py from infra/openapi.json; do not edit. " + doc["info"]["description"]
    )
    # API Gateway takes auth from x-amazon-apigateway-auth per method (switchable
    # by the AuthType parameter), not from the documentation's security scheme.
    doc.pop("servers", None)
    doc.pop("security", None)
    doc["components"].pop("securitySchemes", None)
    doc["components"]["securitySchemes"] = {
        "Fn::If": [
            HAS_BROWSER_POOL,
            {
                "BrowserUsers": {
                    "type": "apiKey",
                    "name": "Authorization",
                    "in": "header",
                    "x-amazon-apigateway-authtype": "cognito_user_pools",
                    "x-amazon-apigateway-authorizer": {
                        "type": "cognito_user_pools",
                        "providerARNs": [{"Ref": POOL_PARAMETER}],
                    },
                }
            },
            {"Ref": "AWS::NoValue"},
        ]
    }

    for path, item in doc["paths"].items():
        methods = []
        for method, operation in item.items():
            key = (path, method)
            if key not in INTEGRATIONS:
                raise SystemExit(f"no gateway integration for {method.upper()} {path}")
            operation["x-amazon-apigateway-auth"] = browser_auth(key)
            if key in BROWSER_ROUTES:
                operation["security"] = {
                    "Fn::If": [HAS_BROWSER_POOL, [{"BrowserUsers": []}], {"Ref": "AWS::NoValue"}]
                }
            operation["x-amazon-apigateway-integration"] = INTEGRATIONS[key]()
            declared = CORS_HEADERS + (tuple(STANDARD_HEADERS) if key in SFN_ROUTES else ())
            for response in operation["responses"].values():
                response.setdefault("headers", {}).update(headers_declared(declared))
            methods.append(method.upper())
        item["options"] = preflight(path, ",".join(methods + ["OPTIONS"]))
    missing = set(INTEGRATIONS) - {(p, m) for p, item in source["paths"].items() for m in item}
    if missing:
        raise SystemExit(f"integrations for routes infra/openapi.json lacks: {sorted(missing)}")

    # Anything else reaches the service, which answers 404 not-found as problem+json.
    doc["paths"]["/{proxy+}"] = {
        "x-amazon-apigateway-any-method": {
            "summary": "Unknown routes",
            "description": "Passed to the service, which answers 404 (`not-found`).",
            "parameters": [{"name": "proxy", "in": "path", "required": True, "schema": {"type": "string"}}],
            "x-amazon-apigateway-auth": {"type": {"Ref": AUTH_PARAMETER}},
            "responses": {
                "404": {
                    "description": "No such route.",
                    "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}},
                }
            },
            "x-amazon-apigateway-integration": proxy_integration(),
        }
    }

    doc["x-amazon-apigateway-gateway-responses"] = {
        kind: {
            "statusCode": str(status),
            "responseParameters": header_parameters(
                "gatewayresponse",
                {"Content-Type": "application/problem+json", **STANDARD_HEADERS}
                | ({"Retry-After": RETRY_AFTER[kind]} if kind in RETRY_AFTER else {}),
            ),
            "responseTemplates": {"application/json": gateway_response_template(status, slug, title)},
        }
        for kind, (status, slug, title) in GATEWAY_RESPONSES.items()
    }
    return doc


def render() -> str:
    return json.dumps(build(), indent=2, ensure_ascii=False) + "\n"


def main(argv: list[str]) -> int:
    text = render()
    if argv[1:] == ["--check"]:
        if not OUTPUT.exists() or OUTPUT.read_text(encoding="utf-8") != text:
            print(f"{OUTPUT} is out of date: run python3 infra/api/build.py", file=sys.stderr)
            return 1
        print(f"{OUTPUT.name} is up to date with infra/openapi.json and the templates")
        return 0
    if argv[1:]:
        print(__doc__, file=sys.stderr)
        return 2
    OUTPUT.write_text(text, encoding="utf-8")
    print(f"wrote {OUTPUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
