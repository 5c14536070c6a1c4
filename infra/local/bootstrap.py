"""Creates the results table, the sample state machines of infra/state-machines, the webhooks
table and the webhook delivery queue (with its dead-letter queue) in an emulator.

Prints shell assignments (GREETING_ARN=..., REJECTED_ARN=..., EXPRESS_ARN=..., RESULTS_TABLE=...,
WEBHOOKS_TABLE=..., DELIVERY_QUEUE_URL=..., DELIVERY_DLQ_URL=...) for the caller to eval. Safe to
run twice: existing resources are reused.
"""

import argparse
import json
import pathlib

import boto3

ROOT = pathlib.Path(__file__).resolve().parents[2]
ROLE = "arn:aws:iam::123456789012:role/api-sfn-local"
MACHINES = {
    "GREETING_ARN": ("api-sfn-greeting", "greeting.asl.json", "STANDARD"),
    "REJECTED_ARN": ("api-sfn-rejected", "rejected.asl.json", "STANDARD"),
    "EXPRESS_ARN": ("api-sfn-express", "express.asl.json", "EXPRESS"),
}
# As stack.yaml: the queue's visibility is 6 x the deliveries function's timeout, and a message
# received 20 times (above any retry schedule's attempts) goes to the dead-letter queue.
QUEUE_ATTRIBUTES = {"VisibilityTimeout": "540", "MessageRetentionPeriod": "345600"}
MAX_RECEIVE_COUNT = 20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--endpoint", required=True)
    parser.add_argument("--table", default="api-sfn-results")
    parser.add_argument("--webhooks-table", default="api-sfn-webhooks")
    parser.add_argument("--queue", default="api-sfn-deliveries")
    args = parser.parse_args()
    session = boto3.Session(aws_access_key_id="test", aws_secret_access_key="test", region_name="us-east-1")
    sfn = session.client("stepfunctions", endpoint_url=args.endpoint)
    ddb = session.client("dynamodb", endpoint_url=args.endpoint)

    if args.table not in ddb.list_tables()["TableNames"]:
        ddb.create_table(
            TableName=args.table,
            AttributeDefinitions=[
                {"AttributeName": name, "AttributeType": "S"}
                for name in ("executionArn", "stateMachineArn", "startDate")
            ],
            KeySchema=[{"AttributeName": "executionArn", "KeyType": "HASH"}],
            # GET /executions lists the EXPRESS machine from here (as stack.yaml's table does).
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
    print(f"RESULTS_TABLE={args.table}")

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
    print(f"WEBHOOKS_TABLE={args.webhooks_table}")

    sqs = session.client("sqs", endpoint_url=args.endpoint)
    dlq = sqs.create_queue(QueueName=f"{args.queue}-dlq", Attributes={"MessageRetentionPeriod": "1209600"})["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    redrive = json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": MAX_RECEIVE_COUNT})
    queue = sqs.create_queue(QueueName=args.queue, Attributes={**QUEUE_ATTRIBUTES, "RedrivePolicy": redrive})["QueueUrl"]
    print(f"DELIVERY_QUEUE_URL={queue}")
    print(f"DELIVERY_DLQ_URL={dlq}")

    existing = {m["name"]: m["stateMachineArn"] for m in sfn.list_state_machines()["stateMachines"]}
    for variable, (name, file, kind) in MACHINES.items():
        arn = existing.get(name)
        if arn is None:
            definition = (ROOT / "infra" / "state-machines" / file).read_text()
            logging = {}
            if kind == "EXPRESS":
                # As stack.yaml logs the EXPRESS machine: everything, with execution data, to its
                # log group, whose subscription delivers the records to the events function.
                logging = {"loggingConfiguration": {
                    "level": "ALL", "includeExecutionData": True,
                    "destinations": [{"cloudWatchLogsLogGroup": {
                        "logGroupArn": f"arn:aws:logs:us-east-1:123456789012:log-group:/aws/vendedlogs/states/{name}:*"}}],
                }}
            arn = sfn.create_state_machine(name=name, definition=definition, roleArn=ROLE, type=kind, **logging)[
                "stateMachineArn"
            ]
        print(f"{variable}={arn}")


if __name__ == "__main__":
    main()
