"""Creates the results table and the sample state machines of infra/state-machines in an emulator.

Prints shell assignments (GREETING_ARN=..., REJECTED_ARN=..., EXPRESS_ARN=..., RESULTS_TABLE=...)
for the caller to eval. Safe to run twice: existing resources are reused.
"""

import argparse
import pathlib

import boto3

ROOT = pathlib.Path(__file__).resolve().parents[2]
ROLE = "arn:aws:iam::123456789012:role/api-sfn-local"
MACHINES = {
    "GREETING_ARN": ("api-sfn-greeting", "greeting.asl.json", "STANDARD"),
    "REJECTED_ARN": ("api-sfn-rejected", "rejected.asl.json", "STANDARD"),
    "EXPRESS_ARN": ("api-sfn-express", "express.asl.json", "EXPRESS"),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--endpoint", required=True)
    parser.add_argument("--table", default="api-sfn-results")
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

    existing = {m["name"]: m["stateMachineArn"] for m in sfn.list_state_machines()["stateMachines"]}
    for variable, (name, file, kind) in MACHINES.items():
        arn = existing.get(name)
        if arn is None:
            definition = (ROOT / "infra" / "state-machines" / file).read_text()
            arn = sfn.create_state_machine(name=name, definition=definition, roleArn=ROLE, type=kind)[
                "stateMachineArn"
            ]
        print(f"{variable}={arn}")


if __name__ == "__main__":
    main()
