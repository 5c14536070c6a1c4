"""stack.yaml as written, deployed with no workflows (the samples): who may do what, and where
the push path's events go.

cfn-lint, checkov and sam validate check the template's shape; these check what they
cannot know: which role may call which action on which resource, and that every
invoker of the events function points at it and nothing else. test_workflows_stack.py
checks the same wiring with workflows given.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from inline_stack import Tag
from stack_model import configured, load, value

ROOT = Path(__file__).resolve().parents[2]
# StandardWorkflows and ExpressWorkflows empty: the two sample machines are the workflows.
STACK = configured(load())
RESOURCES = STACK["Resources"]
# What Ref returns for the sample machines, for the values worked out from their ARNs.
MACHINE = "arn:aws:states:us-east-1:123456789012:stateMachine:"
REFS = {"GreetingStateMachine": MACHINE + "Greeting", "ExpressStateMachine": MACHINE + "Express"}
STOPPED = {"SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"}


def ref(name: str) -> Tag:
    return Tag("!Ref", name)


def get_att(name: str, attribute: str = "Arn") -> Tag:
    return Tag("!GetAtt", f"{name}.{attribute}")


def same(a, b) -> bool:
    """Equality that sees through the Tag wrapper of !Ref, !GetAtt, !Sub."""
    if isinstance(a, Tag) and isinstance(b, Tag):
        return a.tag == b.tag and same(a.value, b.value)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    return not isinstance(a, Tag) and not isinstance(b, Tag) and a == b


def of_type(kind: str) -> dict[str, dict]:
    return {name: r for name, r in RESOURCES.items() if r["Type"] == kind}


def statements(resource: dict) -> list[dict]:
    """Every Allow statement of a SAM function's Policies or an IAM role's inline policies."""
    props = resource["Properties"]
    if resource["Type"] == "AWS::Serverless::Function":
        documents = props.get("Policies", [])
    else:
        documents = [p["PolicyDocument"] for p in props.get("Policies", [])]
    found = []
    for document in documents:
        assert isinstance(document, dict), "only inline policies: what a function may do is read here"
        found += [s for s in document["Statement"] if s["Effect"] == "Allow"]
    return found


def grants(resource: dict) -> list[tuple[str, object]]:
    """(action, resource) for every allowed action."""
    out = []
    for statement in statements(resource):
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        for action in actions:
            out.append((action, statement["Resource"]))
    return out


def sub_text(value) -> str:
    assert isinstance(value, Tag) and value.tag == "!Sub", value
    return value.value


STANDARD_EXECUTIONS = ["arn:aws:states:us-east-1:123456789012:execution:Greeting:*"]


def test_the_events_function_is_the_same_build_as_the_result_function_with_handler_events():
    events, results = RESOURCES["EventsFunction"], RESOURCES["ResultsFunction"]
    assert events["Properties"]["Handler"] == "events"
    assert "Handler" not in results["Properties"]  # Globals: bootstrap, the http entry point
    assert STACK["Globals"]["Function"]["Handler"] == "bootstrap"
    assert events["Properties"]["CodeUri"] == results["Properties"]["CodeUri"]
    for key in ("BuildMethod", "BuildProperties"):
        assert events["Metadata"][key] == results["Metadata"][key]
    assert STACK["Globals"]["Function"]["Architectures"] == ["arm64"]
    assert STACK["Globals"]["Function"]["Runtime"] == "provided.al2023"
    functions = [n for n, r in of_type("AWS::Serverless::Function").items()]
    assert functions == ["ResultsFunction", "EventsFunction", "DeliveriesFunction"]


@pytest.mark.parametrize("function", ["ResultsFunction", "EventsFunction", "DeliveriesFunction"])
def test_every_function_reads_both_machines_so_express_results_are_readable(function):
    variables = RESOURCES[function]["Properties"]["Environment"]["Variables"]
    # The samples by ARN (their names are CloudFormation's); the prefix names the workflows given.
    # Each once: the service allows the EXPRESS machines without ALLOWED_STATE_MACHINES naming them.
    assert same(variables["ALLOWED_STATE_MACHINES"], ref("GreetingStateMachine"))
    assert same(variables["EXPRESS_STATE_MACHINES"], ref("ExpressStateMachine"))
    assert sub_text(variables["STATE_MACHINE_ARN_PREFIX"]) == (
        "arn:${AWS::Partition}:states:${AWS::Region}:${AWS::AccountId}:stateMachine:")
    assert same(variables["RESULTS_TABLE"], ref("ResultsTable"))


def test_reconcile_lists_the_standard_sample_only_because_the_events_function_knows_the_express_one():
    events = RESOURCES["EventsFunction"]["Properties"]["Environment"]["Variables"]
    results = RESOURCES["ResultsFunction"]["Properties"]["Environment"]["Variables"]
    # Unset, RECONCILE_STATE_MACHINES is the allowed machines but the EXPRESS ones: the Greeting one.
    assert "RECONCILE_STATE_MACHINES" not in events
    assert same(events["EXPRESS_STATE_MACHINES"], ref("ExpressStateMachine"))
    assert same(results["EXPRESS_STATE_MACHINES"], ref("ExpressStateMachine"))
    assert same(results["START_STATE_MACHINE"], ref("GreetingStateMachine"))


def test_the_events_function_may_only_describe_and_list_the_standard_machine_and_use_the_table():
    allowed = grants(RESOURCES["EventsFunction"])
    assert {a for a, _ in allowed} == {
        "states:DescribeExecution",
        "states:ListExecutions",
        "dynamodb:GetItem",
        "dynamodb:PutItem",
        "dynamodb:UpdateItem",
        "dynamodb:DeleteItem",
        "dynamodb:Query",
        "sqs:SendMessage",
    }
    for action, resource in allowed:
        if action == "states:DescribeExecution":
            assert value(resource, REFS) == STANDARD_EXECUTIONS
        elif action == "states:ListExecutions":
            assert same(resource, [ref("GreetingStateMachine")])
        elif action == "sqs:SendMessage":
            assert same(resource, get_att("DeliveryQueue"))
        elif action in ("dynamodb:DeleteItem", "dynamodb:Query"):
            # The outbox is cleared and swept in the webhooks table; results are never deleted.
            assert same(resource, get_att("WebhooksTable"))
        else:
            assert same(resource, get_att("ResultsTable")) or same(resource, get_att("WebhooksTable"))
    on_webhooks = {a for a, r in allowed if same(r, get_att("WebhooksTable"))}
    assert on_webhooks == {"dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:DeleteItem", "dynamodb:Query"}


def test_no_function_role_may_start_or_stop_what_it_should_not():
    events = {a for a, _ in grants(RESOURCES["EventsFunction"])}
    assert not {a for a in events if a.startswith("states:") and a not in ("states:DescribeExecution", "states:ListExecutions")}
    results = grants(RESOURCES["ResultsFunction"])
    starts = [r for a, r in results if a == "states:StartExecution"]
    assert len(starts) == 1 and same(starts[0], [ref("GreetingStateMachine")])
    # The results function stops executions of the STANDARD workflows only (never Express ones,
    # which Step Functions cannot stop), and no other role stops anything.
    # The same for redrives.
    for action in ("states:StopExecution", "states:RedriveExecution", "states:GetExecutionHistory"):
        granted = [r for a, r in results if a == action]
        assert len(granted) == 1 and value(granted[0], REFS) == STANDARD_EXECUTIONS, action
    # A link's answer: SendTaskSuccess and SendTaskFailure, which take no resource-level
    # permission; the heartbeat only through the gateway.
    answers = sorted((a, r) for a, r in results if a.startswith("states:SendTask"))
    assert answers == [("states:SendTaskFailure", "*"), ("states:SendTaskSuccess", "*")]
    for name, _, statement in _all_statements():
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        assert not [a for a in actions if a.endswith("*")], statement
        if name != "ResultsFunction":
            assert not {"states:StopExecution", "states:RedriveExecution"} & set(actions), (name, statement)
        if name not in ("ResultsFunction", "ApiStartRole"):
            assert not [a for a in actions if a.startswith("states:SendTask")], (name, statement)


def _all_statements():
    for name, resource in RESOURCES.items():
        if resource["Type"] in ("AWS::Serverless::Function", "AWS::IAM::Role"):
            for statement in statements(resource):
                yield name, resource, statement


def test_failed_event_invocations_land_in_an_encrypted_dead_letter_queue_that_alarms():
    events = RESOURCES["EventsFunction"]["Properties"]
    assert events["DeadLetterQueue"]["Type"] == "SQS"
    assert same(events["DeadLetterQueue"]["TargetArn"], get_att("EventsDeadLetterQueue"))
    assert events["EventInvokeConfig"]["MaximumRetryAttempts"] >= 1
    queue = RESOURCES["EventsDeadLetterQueue"]["Properties"]
    assert queue["SqsManagedSseEnabled"] is True
    alarm = RESOURCES["EventsDeadLetterAlarm"]["Properties"]
    assert (alarm["Namespace"], alarm["MetricName"]) == ("AWS/SQS", "ApproximateNumberOfMessagesVisible")
    assert same(alarm["Dimensions"], [{"Name": "QueueName", "Value": get_att("EventsDeadLetterQueue", "QueueName")}])
    assert (alarm["ComparisonOperator"], alarm["Threshold"]) == ("GreaterThanThreshold", 0)
    assert alarm["TreatMissingData"] == "notBreaching"


def test_the_rule_sends_stopped_standard_executions_to_the_events_function_only():
    rules = of_type("AWS::Events::Rule")
    assert list(rules) == ["StandardStatusRule"]
    rule = rules["StandardStatusRule"]["Properties"]
    pattern = rule["EventPattern"]
    assert pattern["source"] == ["aws.states"]
    assert pattern["detail-type"] == ["Step Functions Execution Status Change"]
    # By ARN: StatusRulePattern's default, which deploy.sh keeps for the samples.
    assert same(pattern["detail"]["stateMachineArn"], [ref("GreetingStateMachine")])
    assert set(pattern["detail"]["status"]) == STOPPED
    [target] = rule["Targets"]
    assert same(target["Arn"], get_att("EventsFunction"))
    assert target["RetryPolicy"]["MaximumRetryAttempts"] > 0
    assert same(target["DeadLetterConfig"]["Arn"], get_att("EventsDeadLetterQueue"))
    policy = RESOURCES["EventsDeadLetterQueuePolicy"]["Properties"]["PolicyDocument"]["Statement"]
    [from_rule] = [s for s in policy if s["Effect"] == "Allow"]
    assert from_rule["Principal"] == {"Service": "events.amazonaws.com"}
    assert same(from_rule["Condition"]["ArnEquals"]["aws:SourceArn"], get_att("StandardStatusRule"))


def permissions_for(principal: str) -> list[dict]:
    return [p["Properties"] for p in of_type("AWS::Lambda::Permission").values() if p["Properties"]["Principal"] == principal]


def test_each_invoker_of_the_events_function_is_limited_to_its_source():
    [from_rule] = permissions_for("events.amazonaws.com")
    assert same(from_rule["FunctionName"], get_att("EventsFunction"))
    assert same(from_rule["SourceArn"], get_att("StandardStatusRule"))
    [from_logs] = permissions_for("logs.amazonaws.com")
    assert same(from_logs["FunctionName"], get_att("EventsFunction"))
    assert same(from_logs["SourceArn"], get_att("ExpressLogGroup"))
    [from_gateway] = permissions_for("apigateway.amazonaws.com")
    assert same(from_gateway["FunctionName"], get_att("ResultsFunction"))


def test_the_express_machine_logs_everything_with_execution_data_to_its_log_group():
    machine = RESOURCES["ExpressStateMachine"]["Properties"]
    assert machine["Type"] == "EXPRESS"
    logging = machine["Logging"]
    assert logging["Level"] == "ALL"
    assert logging["IncludeExecutionData"] is True  # literally: no parameter may turn it off
    [destination] = logging["Destinations"]
    assert same(destination["CloudWatchLogsLogGroup"]["LogGroupArn"], get_att("ExpressLogGroup"))
    assert "RetentionInDays" in RESOURCES["ExpressLogGroup"]["Properties"]
    # The vended-logs delivery permissions AWS documents for Step Functions logging.
    assert same(machine["Policies"], [ref("StateMachineLoggingPolicy")])
    delivery = RESOURCES["StateMachineLoggingPolicy"]["Properties"]["PolicyDocument"]["Statement"][0]["Action"]
    assert {"logs:CreateLogDelivery", "logs:PutResourcePolicy", "logs:DescribeLogGroups"} <= set(delivery)


def test_the_log_subscription_sends_express_start_and_stop_records_to_the_events_function():
    filters = of_type("AWS::Logs::SubscriptionFilter")
    assert list(filters) == ["ExpressLogSubscription"]
    subscription = filters["ExpressLogSubscription"]
    props = subscription["Properties"]
    assert same(props["LogGroupName"], ref("ExpressLogGroup"))
    assert same(props["DestinationArn"], get_att("EventsFunction"))
    assert subscription["DependsOn"] == "ExpressLogSubscriptionPermission"
    wanted = {"ExecutionStarted", "ExecutionSucceeded", "ExecutionFailed", "ExecutionTimedOut", "ExecutionAborted"}
    assert set(re.findall(r'\$\.type = "(\w+)"', props["FilterPattern"])) == wanted
    assert props["FilterPattern"].count("||") == len(wanted) - 1


def test_the_filter_keeps_the_execution_records_of_the_sample_payloads_and_drops_state_records():
    # The sample subscription payloads (infra/events/logs) are in the shape Step Functions logs;
    # the filter is an OR of `$.type = "..."`, so a record passes when its type is listed.
    pattern = RESOURCES["ExpressLogSubscription"]["Properties"]["FilterPattern"]
    selected = set(re.findall(r'\$\.type = "(\w+)"', pattern))
    kinds = set()
    for sample in (ROOT / "infra" / "events" / "logs").glob("*.decoded.json"):
        for event in json.loads(sample.read_text(encoding="utf-8"))["logEvents"]:
            try:
                kinds.add(json.loads(event["message"])["type"])
            except (ValueError, KeyError):
                continue  # the control message CloudWatch Logs sends on its own
    assert {"ExecutionStarted", "ExecutionSucceeded", "ExecutionFailed", "PassStateEntered"} <= kinds
    for kind in kinds:
        assert (kind in selected) == kind.startswith("Execution"), kind


def test_reconcile_runs_every_minute_with_its_input():
    schedules = of_type("AWS::Scheduler::Schedule")
    assert list(schedules) == ["ReconcileSchedule"]
    props = schedules["ReconcileSchedule"]["Properties"]
    assert props["ScheduleExpression"] == "rate(1 minute)"
    assert props["FlexibleTimeWindow"] == {"Mode": "OFF"}
    target = props["Target"]
    assert same(target["Arn"], get_att("EventsFunction"))
    assert same(target["RoleArn"], get_att("ReconcileScheduleRole"))
    assert json.loads(target["Input"]) == {"action": "reconcile"}
    assert target["RetryPolicy"]["MaximumRetryAttempts"] >= 0
    assert same(target["DeadLetterConfig"]["Arn"], get_att("EventsDeadLetterQueue"))


def test_the_schedule_role_may_only_invoke_the_events_function_and_park_dead_letters():
    role = RESOURCES["ReconcileScheduleRole"]["Properties"]
    [trust] = role["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"Service": "scheduler.amazonaws.com"}
    assert "aws:SourceAccount" in trust["Condition"]["StringEquals"]
    allowed = grants(RESOURCES["ReconcileScheduleRole"])
    assert len(allowed) == 2
    assert ("lambda:InvokeFunction", "EventsFunction.Arn") in [(a, r.value) for a, r in allowed]
    assert ("sqs:SendMessage", "EventsDeadLetterQueue.Arn") in [(a, r.value) for a, r in allowed]
    assert not role.get("ManagedPolicyArns")


def test_the_gateway_role_may_start_only_the_stacks_machines_and_answer_waiting_tasks():
    allowed = [(a, arn) for a, r in grants(RESOURCES["ApiStartRole"]) for arn in value(r, REFS)]
    assert sorted(allowed) == [
        # POST /callbacks/*: these take no resource-level permission (a token names no machine).
        ("states:SendTaskFailure", "*"),
        ("states:SendTaskHeartbeat", "*"),
        ("states:SendTaskSuccess", "*"),
        ("states:StartExecution", MACHINE + "Express"),  # POST /executions/express
        ("states:StartExecution", MACHINE + "Greeting"),  # POST /executions
        ("states:StartSyncExecution", MACHINE + "Express"),  # POST /executions/sync
        # Refused by Step Functions as StateMachineTypeNotSupported (400), not by IAM (404).
        ("states:StartSyncExecution", MACHINE + "Greeting"),
    ]


# ---------------------------------------------------------------- webhooks

# The default WEBHOOK_RETRY_SCHEDULE: the code's default and the stack's parameter agree.
DEFAULT_SCHEDULE = "5,300,1800,7200,18000,36000,36000"


def function_variables(name: str) -> dict:
    """A function's environment as deployed: the Globals' variables under its own."""
    merged = dict(STACK["Globals"]["Function"].get("Environment", {}).get("Variables", {}))
    merged.update(RESOURCES[name]["Properties"].get("Environment", {}).get("Variables", {}))
    return merged


def test_the_deliveries_function_is_the_same_build_with_handler_deliveries_fed_by_the_queue():
    deliveries, results = RESOURCES["DeliveriesFunction"], RESOURCES["ResultsFunction"]
    props = deliveries["Properties"]
    assert props["Handler"] == "deliveries"
    assert props["CodeUri"] == results["Properties"]["CodeUri"]
    for key in ("BuildMethod", "BuildProperties"):
        assert deliveries["Metadata"][key] == results["Metadata"][key]
    assert props.get("Architectures", STACK["Globals"]["Function"]["Architectures"]) == ["arm64"]
    [event] = props["Events"].values()
    assert event["Type"] == "SQS"
    source = event["Properties"]
    assert same(source["Queue"], get_att("DeliveryQueue"))
    # Partial batch responses: a failed attempt fails its own message, not the batch.
    assert source["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert 1 <= source["BatchSize"] <= 10
    # Attempts are bounded by 15 s each: the whole batch, one after another, fits the timeout.
    assert props["Timeout"] >= source["BatchSize"] * 15


def test_the_delivery_queue_hides_a_message_longer_than_six_invocations_and_redrives_to_its_dlq():
    queue = RESOURCES["DeliveryQueue"]["Properties"]
    timeout = RESOURCES["DeliveriesFunction"]["Properties"]["Timeout"]
    assert queue["VisibilityTimeout"] >= 6 * timeout
    redrive = queue["RedrivePolicy"]
    assert same(redrive["deadLetterTargetArn"], get_att("DeliveryDeadLetterQueue"))
    # Every attempt of the longest schedule the parameter allows is one receive; a message
    # must never reach the DLQ while the schedule still has attempts left.
    parameter = STACK["Parameters"]["WebhookRetrySchedule"]
    assert parameter["Default"] == DEFAULT_SCHEDULE
    longest = int(re.search(r"\{0,(\d+)\}", parameter["AllowedPattern"]).group(1)) + 1
    assert redrive["maxReceiveCount"] > longest + 1
    assert redrive["maxReceiveCount"] > len(DEFAULT_SCHEDULE.split(",")) + 1
    assert re.fullmatch(parameter["AllowedPattern"], DEFAULT_SCHEDULE)
    # The default schedule fits the queue's retention (a message's age counts from its first send).
    assert queue["MessageRetentionPeriod"] > sum(int(s) for s in DEFAULT_SCHEDULE.split(",")) * 1.5
    dlq = RESOURCES["DeliveryDeadLetterQueue"]["Properties"]
    assert dlq["MessageRetentionPeriod"] > queue["MessageRetentionPeriod"]


@pytest.mark.parametrize("queue", ["DeliveryQueue", "DeliveryDeadLetterQueue"])
def test_both_delivery_queues_are_encrypted_and_refuse_requests_without_tls(queue):
    assert RESOURCES[queue]["Properties"]["SqsManagedSseEnabled"] is True
    policies = [p["Properties"] for p in of_type("AWS::SQS::QueuePolicy").values()
                if any(same(q, ref(queue)) for q in p["Properties"]["Queues"])]
    [policy] = policies
    [deny] = [s for s in policy["PolicyDocument"]["Statement"] if s["Effect"] == "Deny"]
    assert deny["Principal"] == "*" and deny["Action"] == "sqs:*"
    assert any(same(r, get_att(queue)) for r in deny["Resource"])
    assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def test_the_webhooks_table_has_string_keys_pk_and_sk_and_is_encrypted_and_recoverable():
    table = RESOURCES["WebhooksTable"]["Properties"]
    assert table["KeySchema"] == [{"AttributeName": "pk", "KeyType": "HASH"},
                                  {"AttributeName": "sk", "KeyType": "RANGE"}]
    assert {d["AttributeName"]: d["AttributeType"] for d in table["AttributeDefinitions"]} == {"pk": "S", "sk": "S"}
    assert table["BillingMode"] == "PAY_PER_REQUEST"
    assert table["SSESpecification"] == {"SSEEnabled": True}
    assert table["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}


@pytest.mark.parametrize("function", ["ResultsFunction", "EventsFunction", "DeliveriesFunction"])
def test_every_function_knows_the_webhooks_table_the_queue_and_the_public_base_url(function):
    variables = function_variables(function)
    assert same(variables["WEBHOOKS_TABLE"], ref("WebhooksTable"))
    assert same(variables["DELIVERY_QUEUE_URL"], ref("DeliveryQueue"))
    assert same(variables["WEBHOOK_RETRY_SCHEDULE"], ref("WebhookRetrySchedule"))
    # The stage's invoke URL, as the ApiUrl output gives it.
    assert sub_text(variables["PUBLIC_BASE_URL"]) == sub_text(STACK["Outputs"]["ApiUrl"]["Value"])
    assert "AWS_ENDPOINT_URL_SQS" not in variables


def test_loopback_webhook_endpoints_are_never_allowed_by_the_stack():
    text = (ROOT / "stack.yaml").read_text(encoding="utf-8")
    for match in re.finditer(r"WEBHOOK_ALLOW_LOOPBACK\s*:\s*(\S+)", text):
        assert match.group(1).strip("\"'").lower() != "true", match.group(0)
    for name in of_type("AWS::Serverless::Function"):
        value = function_variables(name).get("WEBHOOK_ALLOW_LOOPBACK", "false")
        assert isinstance(value, str) and value.lower() == "false", name


def test_the_http_function_manages_webhooks_and_queues_deliveries_and_nothing_more_on_them():
    allowed = grants(RESOURCES["ResultsFunction"])
    on_webhooks = {a for a, r in allowed if same(r, get_att("WebhooksTable"))}
    assert on_webhooks == {"dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem",
                           "dynamodb:DeleteItem", "dynamodb:Query"}
    on_queue = [(a, r) for a, r in allowed if a.startswith("sqs:")]
    assert len(on_queue) == 1 and on_queue[0][0] == "sqs:SendMessage"
    assert same(on_queue[0][1], get_att("DeliveryQueue"))
    # Results are never deleted or scanned by the http function.
    on_results = {a for a, r in allowed if same(r, get_att("ResultsTable"))}
    assert on_results == {"dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"}


def test_the_deliveries_function_may_only_record_deliveries_and_delay_its_messages():
    allowed = grants(RESOURCES["DeliveriesFunction"])
    assert sorted(a for a, _ in allowed) == [
        "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:Query", "sqs:ChangeMessageVisibility",
    ]
    for action, resource in allowed:
        expected = get_att("DeliveryQueue") if action.startswith("sqs:") else get_att("WebhooksTable")
        assert same(resource, expected), action
    # It cannot touch Step Functions, the results table, or send new messages.
    assert not [a for a, _ in allowed if a.startswith("states:") or a == "sqs:SendMessage"]
    assert not [r for _, r in allowed if same(r, get_att("ResultsTable"))]
    # Only inline policies and what SAM's SQS event adds: no managed policy of our own.
    assert "ManagedPolicyArns" not in RESOURCES["DeliveriesFunction"]["Properties"]


def test_sam_expands_the_deliveries_event_to_its_queue_and_the_sqs_poller_policy_only():
    """What SAM adds for the SQS event (run through SAM's own translator, as deployed)."""
    # aws-sam-translator, pinned in infra/checks/requirements.txt: the version sam validate runs.
    from samtranslator.translator.transform import transform

    raw = yaml.safe_load(_plain_yaml())
    # As sam package leaves it: local paths replaced by S3 locations.
    for resource in raw["Resources"].values():
        for key in ("CodeUri", "DefinitionUri"):
            if key in resource.get("Properties", {}):
                resource["Properties"][key] = f"s3://artifacts/{key}"

    class NoManagedPolicies:  # the stack names no managed policy by name
        def load(self):
            return {}

    expanded = transform(raw, {"AWS::Region": "us-east-1"}, NoManagedPolicies())
    resources = expanded["Resources"]
    [mapping] = [r["Properties"] for r in resources.values() if r["Type"] == "AWS::Lambda::EventSourceMapping"]
    assert mapping["FunctionName"] == {"Ref": "DeliveriesFunction"}
    assert mapping["EventSourceArn"] == {"Fn::GetAtt": ["DeliveryQueue", "Arn"]}
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    role = resources["DeliveriesFunctionRole"]["Properties"]
    managed = [m if isinstance(m, str) else json.dumps(m) for m in role.get("ManagedPolicyArns", [])]
    assert any("AWSLambdaSQSQueueExecutionRole" in m for m in managed), managed
    for m in managed:
        assert any(k in m for k in ("AWSLambdaSQSQueueExecutionRole", "AWSLambdaBasicExecutionRole",
                                    "AWSXrayWriteOnlyAccess", "AWSXRayDaemonWriteAccess")), m


def _plain_yaml() -> str:
    """stack.yaml with short-form tags turned into their long forms, for SAM's translator."""
    def plain(node):
        if isinstance(node, Tag):
            name = node.tag[1:]
            if name == "GetAtt" and isinstance(node.value, str):
                return {"Fn::GetAtt": node.value.split(".", 1)}
            key = "Ref" if name == "Ref" else f"Fn::{name}"
            return {key: plain(node.value)}
        if isinstance(node, list):
            return [plain(v) for v in node]
        if isinstance(node, dict):
            return {k: plain(v) for k, v in node.items()}
        return node

    return yaml.safe_dump(plain(STACK))


def test_the_api_invokes_the_results_function_by_the_name_the_stack_gives_it():
    # The API names the function instead of referring to it (PUBLIC_BASE_URL refers to the API):
    # the two names must stay the same, and nothing else may carry that name.
    name = sub_text(RESOURCES["ResultsFunction"]["Properties"]["FunctionName"])
    gateway = json.loads((ROOT / "infra/api/gateway.openapi.json").read_text(encoding="utf-8"))
    uris = {op["x-amazon-apigateway-integration"]["uri"]["Fn::Sub"]
            for item in gateway["paths"].values() for op in item.values()
            if isinstance(op, dict) and op.get("x-amazon-apigateway-integration", {}).get("type") == "aws_proxy"}
    assert uris == {"arn:${AWS::Partition}:apigateway:${AWS::Region}:lambda:path/2015-03-31/functions/"
                    f"arn:${{AWS::Partition}}:lambda:${{AWS::Region}}:${{AWS::AccountId}}:function:{name}/invocations"}
    named = [n for n, r in of_type("AWS::Serverless::Function").items() if "FunctionName" in r["Properties"]]
    assert named == ["ResultsFunction"]


def test_the_api_compresses_answers_over_1_kib_as_the_service_expects():
    # The results function makes its ETag weak above this size when the client accepts gzip or
    # deflate, because the gateway compresses those after the answer leaves the function.
    [api] = of_type("AWS::Serverless::Api").values()
    assert api["Properties"]["MinimumCompressionSize"] == 1024
    prepared = (ROOT / "service/src/http/prepared.rs").read_text(encoding="utf-8")
    assert "pub const COMPRESS_ABOVE: usize = 1024;" in prepared
