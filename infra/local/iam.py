"""The gateway role's IAM policy, locally: which state machines API Gateway may start.

Deployed, the stack gives the gateway's role `states:StartExecution` and `states:StartSyncExecution`
on the configured workflows' ARNs and nothing else, so a start on any other machine (a name that is
not a workflow of this deployment, on /workflows/{workflow}/executions) never reaches the state
machine: Step Functions answers IAM's refusal, which the mapping templates turn into
`404 workflow-not-found`. The emulator checks no policy, so the local gateway asks this module
before it sends a rendered request, and answers the refusal itself, in Step Functions' shape.
"""

from __future__ import annotations

import json

# The role the local gateway stands for, as its session shows up in IAM's message on AWS.
ROLE_SESSION = "arn:aws:sts::123456789012:assumed-role/api-sfn-ApiStartRole/BackplaneAssumeRoleSession"


class StartPolicy:
    """`states:<action>` on the configured machines only; with none configured, IAM is not modelled."""

    def __init__(self, machines: list[str]):
        self.machines = frozenset(machines)

    def refusal(self, action: str, request: str) -> tuple[int, list[tuple[str, str]], bytes] | None:
        """Step Functions' answer to a call IAM refuses (status, headers, body), or None to send it.

        Only calls that name a state machine are checked (the start actions); a request that is not
        JSON goes on to be refused by Step Functions itself, as it would be once IAM let it through.
        """
        if not self.machines:
            return None
        try:
            machine = json.loads(request).get("stateMachineArn")
        except (ValueError, AttributeError):
            return None
        if not isinstance(machine, str) or machine in self.machines:
            return None
        message = (f"User: {ROLE_SESSION} is not authorized to perform: states:{action} on resource: {machine} "
                   f"because no identity-based policy allows the states:{action} action")
        body = json.dumps({"__type": "com.amazon.coral.service#AccessDeniedException", "Message": message})
        headers = [("Content-Type", "application/x-amz-json-1.0"), ("x-amzn-ErrorType", "AccessDeniedException:")]
        return 400, headers, body.encode("utf-8")
