"""The gateway definition's integrations: which backend answers each route of infra/openapi.json
(Step Functions through a mapping template, the sfn-results function, or a mock), with the
stack names and headers they use. build.py puts them into gateway.openapi.json.
"""

from __future__ import annotations

from pathlib import Path

TEMPLATES = Path(__file__).resolve().parent / "templates"


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
# With AllowControl as well: the page's stop and redrive take the pool's token too.
HAS_BROWSER_CONTROL = "HasBrowserControl"
POOL_PARAMETER = "BrowserUserPoolArn"
BROWSER_ROUTES = {("/executions", "get"), ("/executions/{executionArn}", "get"), ("/workflows", "get"),
                  ("/workflows/{workflow}", "get"), ("/workflows/{workflow}/executions", "get"),
                  ("/executions/{executionArn}/steps", "get")}
# The page's buttons (AllowControl): with the user pool, they take its token as well.
CONTROL_ROUTES = {("/executions/{executionArn}/stop", "post"), ("/executions/{executionArn}/redrive", "post")}

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

def template(name: str) -> str:
    return (TEMPLATES / name).read_text(encoding="utf-8")



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
# The request templates that name a machine (the starts); the callbacks name none.
MACHINE_TEMPLATES = {"start-request.vtl", "sync-request.vtl"}


def sfn_integration(action: str, request: str, success_status: str, success: str, machine: str | None = None,
                    workflow: bool = False) -> dict:
    """A Step Functions action behind the gateway. The request template names its machine in one line:
    `machine` swaps the stage variable (one start template for both sample machines), `workflow`
    swaps the line for workflow-machine.vtl (the machine named by the path's {workflow})."""
    cors = header_parameters("method.response", STANDARD_HEADERS)
    request_template = template(request)
    default = "standardStateMachineArn" if request == "start-request.vtl" else "expressStateMachineArn"
    line = MACHINE_LINE.format(default)
    if (machine or workflow or request in MACHINE_TEMPLATES) and line not in request_template:
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


# The callback routes' body schemas are checked by the gateway itself (a request validator), so
# their templates may read the fields they need; a body the schema refuses is BAD_REQUEST_BODY.
BODY_VALIDATOR = "body"
REQUEST_VALIDATORS = {BODY_VALIDATOR: {"validateRequestBody": True, "validateRequestParameters": False}}


def callback_integration(action: str, request: str) -> dict:
    """SendTaskSuccess/Failure/Heartbeat behind the gateway: 204 when sent, Step Functions' refusals
    as problems (sfn-client-error.vtl: 404 task-not-found, 400 invalid-task-token, 410 task-timed-out)."""
    return sfn_integration(action, request, "204", "callback-response.vtl")


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
              ("/workflows/{workflow}/executions", "post"), ("/workflows/{workflow}/executions/sync", "post"),
              ("/callbacks/success", "post"), ("/callbacks/failure", "post"), ("/callbacks/heartbeat", "post")}
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
    ("/callbacks/success", "post"): lambda: callback_integration("SendTaskSuccess", "callback-success-request.vtl"),
    ("/callbacks/failure", "post"): lambda: callback_integration("SendTaskFailure", "callback-failure-request.vtl"),
    ("/callbacks/heartbeat", "post"): lambda: callback_integration("SendTaskHeartbeat", "callback-heartbeat-request.vtl"),
    ("/callbacks/links", "post"): proxy_integration,
    ("/callbacks/{link}", "get"): proxy_integration,
    ("/callbacks/{link}", "post"): proxy_integration,
}
# The routes a person's browser opens from a link: the link is the credential, no signature.
LINK_ROUTES = {("/callbacks/{link}", "get"), ("/callbacks/{link}", "post")}
# The routes whose body the gateway checks against the operation's schema before the integration.
VALIDATED_ROUTES = {("/callbacks/success", "post"), ("/callbacks/failure", "post"), ("/callbacks/heartbeat", "post")}
