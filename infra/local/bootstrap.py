"""Creates the results table, the workflows' state machines, the webhooks table, the webhook
delivery queue (with its dead-letter queue) and the approval sample's queue in an emulator.

Workflows: every `*.asl.json` of infra/state-machines/, then of each folder of WORKFLOW_DIRS
(colon-separated), each folder's files by name. The file names the workflow: `orders.asl.json` is
the STANDARD machine `orders`, `orders.express.asl.json` the EXPRESS machine `orders` (logging ALL
with execution data to /aws/vendedlogs/states/orders, as the stack has an EXPRESS workflow log).
Two files naming one workflow, or a name that is not a state machine name, stop it with one line.

Prints shell assignments for the caller to eval: RESULTS_TABLE, WEBHOOKS_TABLE, DELIVERY_QUEUE_URL,
DELIVERY_DLQ_URL, APPROVALS_QUEUE_URL; the samples' ARNs (GREETING_ARN, REJECTED_ARN, ORDERS_ARN,
APPROVAL_ARN, EXPRESS_ARN: the EXPRESS sample `hello`); and the workflows in the order found: WORKFLOWS (name:TYPE,...),
WORKFLOW_ARN_PREFIX (a workflow's ARN is it + its name), STANDARD_WORKFLOWS and EXPRESS_WORKFLOWS
(ARNs, comma-separated). Safe to run twice: existing
resources are reused. `--check` only finds the workflows (no emulator) and prints WORKFLOWS.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import re
import sys
from dataclasses import dataclass

ROOT = pathlib.Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "infra" / "state-machines"
ROLE = "arn:aws:iam::123456789012:role/api-sfn-local"
MACHINE_PREFIX = "arn:aws:states:us-east-1:123456789012:stateMachine:"
# The samples' variables, which the browser test, fuzz.sh and the benchmarks read.
SAMPLE_VARIABLES = {"GREETING_ARN": ("greeting", "STANDARD"), "REJECTED_ARN": ("rejected", "STANDARD"),
                    "ORDERS_ARN": ("orders", "STANDARD"), "APPROVAL_ARN": ("purchase-approval", "STANDARD"),
                    "EXPRESS_ARN": ("hello", "EXPRESS")}
# The queue the approval sample's tasks send their tokens to (named in purchase-approval.asl.json).
APPROVALS_QUEUE = "api-sfn-approvals"
# What Step Functions takes as a state machine name, narrowed to what a URL path segment, a log
# group name and a shell word carry as they are (the API's {workflow} parameter has the same rule).
NAME = re.compile(r"[A-Za-z0-9_-]{1,80}")
# As stack.yaml: the queue's visibility is 6 x the deliveries function's timeout, and a message
# received 20 times (above any retry schedule's attempts) goes to the dead-letter queue.
QUEUE_ATTRIBUTES = {"VisibilityTimeout": "540", "MessageRetentionPeriod": "345600"}
MAX_RECEIVE_COUNT = 20


class Refused(Exception):
    """A workflow folder or file up.sh cannot serve; the message is the one line it prints."""


@dataclass(frozen=True)
class Workflow:
    name: str
    kind: str  # STANDARD or EXPRESS
    file: pathlib.Path

    @property
    def arn(self) -> str:
        return MACHINE_PREFIX + self.name


def folders(workflow_dirs: str | None) -> list[pathlib.Path]:
    """infra/state-machines/, then WORKFLOW_DIRS' folders in order (empty entries skipped)."""
    found = [SAMPLES]
    for entry in (workflow_dirs or "").split(":"):
        if not entry:
            continue
        folder = pathlib.Path(entry).expanduser()
        if not folder.is_dir():
            raise Refused(f"WORKFLOW_DIRS: {entry} is not a folder")
        found.append(folder)
    return found


def discover(workflow_dirs: str | None) -> list[Workflow]:
    """Every workflow, in the order found; Refused for a clash, a bad name or a file that is not JSON."""
    workflows: dict[str, Workflow] = {}
    for folder in folders(workflow_dirs):
        for file in sorted(f for f in folder.glob("*.asl.json") if f.is_file()):
            stem = file.name.removesuffix(".asl.json")
            name, kind = (stem.removesuffix(".express"), "EXPRESS") if stem.endswith(".express") else (stem, "STANDARD")
            if not NAME.fullmatch(name):
                raise Refused(f"{file}: the workflow name {name!r} is not a state machine name "
                              "(1-80 of A-Z a-z 0-9 _ -); rename the file NAME.asl.json or NAME.express.asl.json")
            if name in workflows:
                raise Refused(f"two workflows named {name!r}: {workflows[name].file} and {file}; "
                              "rename one (the file names the workflow)")
            try:
                json.loads(file.read_text(encoding="utf-8"))
            except ValueError as error:
                raise Refused(f"{file}: not a JSON state machine definition ({error})") from None
            workflows[name] = Workflow(name, kind, file)
    return list(workflows.values())


def listed(workflows: list[Workflow]) -> str:
    return "WORKFLOWS=" + ",".join(f"{w.name}:{w.kind}" for w in workflows)


def assignments(workflows: list[Workflow]) -> list[str]:
    by_name = {w.name: w for w in workflows}
    lines = [f"{variable}={by_name[name].arn}" for variable, (name, kind) in SAMPLE_VARIABLES.items()
             if name in by_name and by_name[name].kind == kind]
    lines.append(listed(workflows))
    lines.append(f"WORKFLOW_ARN_PREFIX={MACHINE_PREFIX}")
    for kind in ("STANDARD", "EXPRESS"):
        lines.append(f"{kind}_WORKFLOWS=" + ",".join(w.arn for w in workflows if w.kind == kind))
    return lines


def create_machines(sfn, workflows: list[Workflow]) -> None:
    existing = {m["name"]: m["stateMachineArn"] for m in sfn.list_state_machines()["stateMachines"]}
    for workflow in workflows:
        if workflow.name in existing:
            continue
        logging = {}
        if workflow.kind == "EXPRESS":
            # As stack.yaml logs an EXPRESS workflow: everything, with execution data, to its log
            # group, whose subscription delivers the records to the events function.
            group = f"arn:aws:logs:us-east-1:123456789012:log-group:/aws/vendedlogs/states/{workflow.name}:*"
            logging = {"loggingConfiguration": {"level": "ALL", "includeExecutionData": True,
                                                "destinations": [{"cloudWatchLogsLogGroup": {"logGroupArn": group}}]}}
        arn = sfn.create_state_machine(name=workflow.name, definition=workflow.file.read_text(encoding="utf-8"),
                                       roleArn=ROLE, type=workflow.kind, **logging)["stateMachineArn"]
        if arn != workflow.arn:
            raise Refused(f"the emulator named {workflow.name} {arn}, not {workflow.arn}")


def create_tables_and_queue(session, endpoint: str, args) -> list[str]:
    ddb = session.client("dynamodb", endpoint_url=endpoint)
    if args.table not in ddb.list_tables()["TableNames"]:
        ddb.create_table(
            TableName=args.table,
            AttributeDefinitions=[
                {"AttributeName": name, "AttributeType": "S"}
                for name in ("executionArn", "stateMachineArn", "startDate")
            ],
            KeySchema=[{"AttributeName": "executionArn", "KeyType": "HASH"}],
            # GET /executions lists the EXPRESS machines from here (as stack.yaml's table does).
            GlobalSecondaryIndexes=[
                {
                    "IndexName": "byStateMachine",
                    "KeySchema": [
                        {"AttributeName": "stateMachineArn", "KeyType": "HASH"},
                        {"AttributeName": "startDate", "KeyType": "RANGE"},
                    ],
                    "Projection": {"ProjectionType": "ALL"},
                }
            ],
            BillingMode="PAY_PER_REQUEST",
        )
        ddb.update_time_to_live(
            TableName=args.table,
            TimeToLiveSpecification={"Enabled": True, "AttributeName": "expiresAt"},
        )
    if args.webhooks_table not in ddb.list_tables()["TableNames"]:
        ddb.create_table(
            TableName=args.webhooks_table,
            AttributeDefinitions=[
                {"AttributeName": "pk", "AttributeType": "S"},
                {"AttributeName": "sk", "AttributeType": "S"},
            ],
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
            BillingMode="PAY_PER_REQUEST",
        )
    sqs = session.client("sqs", endpoint_url=endpoint)
    dlq = sqs.create_queue(QueueName=f"{args.queue}-dlq", Attributes={"MessageRetentionPeriod": "1209600"})["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    redrive = json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": MAX_RECEIVE_COUNT})
    queue = sqs.create_queue(QueueName=args.queue, Attributes={**QUEUE_ATTRIBUTES, "RedrivePolicy": redrive})["QueueUrl"]
    approvals = sqs.create_queue(QueueName=APPROVALS_QUEUE)["QueueUrl"]
    return [f"RESULTS_TABLE={args.table}", f"WEBHOOKS_TABLE={args.webhooks_table}",
            f"DELIVERY_QUEUE_URL={queue}", f"DELIVERY_DLQ_URL={dlq}", f"APPROVALS_QUEUE_URL={approvals}"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--endpoint", help="the emulator (required unless --check)")
    parser.add_argument("--check", action="store_true", help="only find the workflows and print WORKFLOWS")
    parser.add_argument("--table", default="api-sfn-results")
    parser.add_argument("--webhooks-table", default="api-sfn-webhooks")
    parser.add_argument("--queue", default="api-sfn-deliveries")
    args = parser.parse_args()
    try:
        workflows = discover(os.environ.get("WORKFLOW_DIRS"))
        if args.check:
            print(listed(workflows))
            return 0
        if not args.endpoint:
            parser.error("--endpoint is required")
        import boto3  # the venv's; --check needs none

        session = boto3.Session(aws_access_key_id="test", aws_secret_access_key="test", region_name="us-east-1")
        lines = create_tables_and_queue(session, args.endpoint, args)
        create_machines(session.client("stepfunctions", endpoint_url=args.endpoint), workflows)
    except Refused as refused:
        print(f"workflows: {refused}", file=sys.stderr)
        return 1
    print("\n".join(lines + assignments(workflows)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
