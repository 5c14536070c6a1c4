"""stack.yaml deployed with your own workflows: everything follows StandardWorkflows,
ExpressWorkflows and ExpressWorkflowLogGroups, and names exactly what they list.

Each configuration is expanded by expand_stack.py as CloudFormation would (Fn::ForEach under
AWS::LanguageExtensions, then SAM's transform where a check needs the roles SAM makes), with
the SAM CLI's Python; the values are then worked out with the parameters given.
"""

from __future__ import annotations

import json
import re
import subprocess
import tempfile
from functools import cache
from pathlib import Path

import pytest

from expand_stack import ACCOUNT, LIMITS, REGION, STACK, Resolver, over

ROOT = Path(__file__).resolve().parents[2]
SAM_PYTHON = ROOT / ".venv-checks-sam" / "bin" / "python"
EXPAND = ROOT / "infra" / "checks" / "expand_stack.py"
PREFIX = f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:"
STANDARD = [PREFIX + "orders", PREFIX + "billing"]
EXPRESS = [PREFIX + "quote", PREFIX + "price", PREFIX + "notify"]
# quote and price log to one group: each log group is listed (and subscribed) once.
LOG_GROUPS = ["/aws/vendedlogs/states/pricing", "/aws/vendedlogs/states/notify-Logs"]


def executions(machines: list[str]) -> list[str]:
    return [arn.replace(":stateMachine:", ":execution:") + ":*" for arn in machines]


def names(machines: list[str]) -> str:
    """The machines by name, as the functions' environments list them."""
    return ",".join(arn.removeprefix(PREFIX) for arn in machines)


def parameters(standard=(), express=(), log_groups=(), rule=None) -> dict:
    given = {"StandardWorkflows": ",".join(standard), "ExpressWorkflows": ",".join(express),
             "ExpressWorkflowLogGroups": list(log_groups) or [""]}
    return given if rule is None else {**given, "StatusRulePattern": rule}


def expand(arguments: list[str], out: Path | None = None) -> dict:
    """The template expand_stack.py writes for these arguments (kept at `out` when given)."""
    assert SAM_PYTHON.exists(), "run infra/checks/offline.sh once: it makes .venv-checks-sam/"
    with tempfile.TemporaryDirectory() as scratch:
        path = out or Path(scratch) / "stack.json"
        subprocess.run([str(SAM_PYTHON), str(EXPAND), *arguments, "--write", str(path)], check=True)
        return json.loads(path.read_text(encoding="utf-8"))


class Deployed:
    """One configuration: its resources as CloudFormation keeps them, values worked out."""

    def __init__(self, template: dict, given: dict):
        self.resolve = Resolver(template, given)
        self.resources = {n: r for n, r in template["Resources"].items() if self.resolve.kept(r)}
        self.outputs = {n: o for n, o in template.get("Outputs", {}).items() if self.resolve.kept(o)}

    def of_type(self, kind: str) -> dict[str, dict]:
        return {n: r for n, r in self.resources.items() if r["Type"] == kind}

    def environment(self, function: str) -> dict:
        return self.resolve(self.resources[function]["Properties"]["Environment"]["Variables"])

    def grants(self, name: str) -> dict[str, list[str]]:
        """Action -> resources, over the inline statements of a SAM function or an IAM role."""
        props = self.resources[name]["Properties"]
        documents = props.get("Policies", [])
        if self.resources[name]["Type"] == "AWS::IAM::Role":
            documents = [p["PolicyDocument"] for p in documents]
        out: dict[str, list[str]] = {}
        for document in self.resolve(documents):
            for statement in document["Statement"]:
                actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
                targets = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
                for action in actions:
                    out.setdefault(action, []).extend(targets)
        return out


@cache
def deployed(standard=tuple(STANDARD), express=tuple(EXPRESS), log_groups=tuple(LOG_GROUPS), sam=False,
             rule=None) -> Deployed:
    given = parameters(standard, express, log_groups, rule)
    return Deployed(expand(["--parameters", json.dumps(given)] + (["--sam"] if sam else [])), given)


@pytest.mark.parametrize("count", [1, 20])
def test_cfn_lint_passes_on_the_template_expanded_with_1_and_20_workflows(count, tmp_path):
    out = tmp_path / f"stack-{count}.json"
    template = expand(["--standard", str(count), "--express", str(count)], out)
    subscriptions = [n for n, r in template["Resources"].items() if r["Type"] == "AWS::Logs::SubscriptionFilter"]
    assert len(subscriptions) == count + 1  # one per log group, and the sample's (left out)
    lint = subprocess.run([str(ROOT / ".venv-checks" / "bin" / "cfn-lint"), str(out)], capture_output=True, text=True)
    assert lint.returncode == 0, lint.stdout + lint.stderr


def test_the_start_role_may_start_and_sync_start_exactly_the_given_workflows():
    grants = deployed().grants("ApiStartRole")
    assert sorted(grants) == ["states:SendTaskFailure", "states:SendTaskHeartbeat", "states:SendTaskSuccess",
                              "states:StartExecution", "states:StartSyncExecution"]
    for action in ("states:StartExecution", "states:StartSyncExecution"):
        assert sorted(grants[action]) == sorted(STANDARD + EXPRESS), action
    # POST /callbacks/*: these calls take no resource-level permission (a token names no machine).
    for action in ("states:SendTaskFailure", "states:SendTaskHeartbeat", "states:SendTaskSuccess"):
        assert grants[action] == ["*"], action


def test_the_functions_may_describe_list_and_start_exactly_the_given_standard_workflows():
    stack = deployed()
    results, events = stack.grants("ResultsFunction"), stack.grants("EventsFunction")
    assert results["states:DescribeExecution"] == executions(STANDARD)
    assert results["states:StartExecution"] == STANDARD
    assert results["states:ListExecutions"] == STANDARD
    assert events["states:DescribeExecution"] == executions(STANDARD)
    assert events["states:ListExecutions"] == STANDARD
    assert "states:StartExecution" not in events
    assert not [a for a in stack.grants("DeliveriesFunction") if a.startswith("states:")]


def test_the_functions_are_configured_with_each_given_workflow_once_by_name_under_the_stacks_arn_prefix():
    stack = deployed()
    for function in ("ResultsFunction", "EventsFunction", "DeliveriesFunction"):
        environment = stack.environment(function)
        assert environment["STATE_MACHINE_ARN_PREFIX"] == PREFIX, function
        # The service allows both lists' machines: each workflow is named in one of them.
        assert environment["ALLOWED_STATE_MACHINES"] == "orders,billing", function
        assert environment["EXPRESS_STATE_MACHINES"] == "quote,price,notify", function
        allowed = environment["ALLOWED_STATE_MACHINES"].split(",") + environment["EXPRESS_STATE_MACHINES"].split(",")
        assert [PREFIX + n for n in allowed] == STANDARD + EXPRESS, function
    results, events = stack.environment("ResultsFunction"), stack.environment("EventsFunction")
    assert results["START_STATE_MACHINE"] == "orders"
    # Reconcile lists the allowed machines but the EXPRESS ones: the service's default.
    assert "RECONCILE_STATE_MACHINES" not in events


def test_a_machine_of_another_account_or_region_given_by_hand_stays_named_by_its_arn():
    far = f"arn:aws:states:eu-west-1:{ACCOUNT}:stateMachine:far"
    stack = deployed(standard=(far, STANDARD[0]), express=(), log_groups=())
    results = stack.environment("ResultsFunction")
    assert results["ALLOWED_STATE_MACHINES"] == f"{far},orders"
    assert results["START_STATE_MACHINE"] == far


@pytest.mark.parametrize("rule", [None, "workflow-arns", "arn-prefix"])
def test_one_rule_takes_the_stopped_executions_of_every_standard_workflow_by_arn_or_by_the_arn_prefix(rule):
    stack = deployed(rule=rule)
    [rule_resource] = stack.of_type("AWS::Events::Rule").values()
    pattern = stack.resolve(rule_resource["Properties"]["EventPattern"])
    if rule == "arn-prefix":
        # Every machine of the account and region: the events function drops the others' events.
        assert pattern["detail"]["stateMachineArn"] == [{"prefix": PREFIX}]
    else:
        assert pattern["detail"]["stateMachineArn"] == STANDARD
    assert pattern["source"] == ["aws.states"] and pattern["detail-type"] == ["Step Functions Execution Status Change"]
    assert set(pattern["detail"]["status"]) == {"SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"}
    [permission] = [p["Properties"] for p in stack.of_type("AWS::Lambda::Permission").values()
                    if p["Properties"]["Principal"] == "events.amazonaws.com"]
    assert permission["SourceArn"] == {"Fn::GetAtt": ["StandardStatusRule", "Arn"]}
    # What the function may read does not widen with the pattern.
    assert stack.grants("EventsFunction")["states:DescribeExecution"] == executions(STANDARD)
    assert stack.environment("EventsFunction")["ALLOWED_STATE_MACHINES"] == names(STANDARD)
    assert stack.environment("EventsFunction")["EXPRESS_STATE_MACHINES"] == names(EXPRESS)


def test_each_express_log_group_gets_one_subscription_to_the_events_function():
    stack = deployed()
    filters = [stack.resolve(r["Properties"]) for r in stack.of_type("AWS::Logs::SubscriptionFilter").values()]
    assert sorted(f["LogGroupName"] for f in filters) == sorted(LOG_GROUPS)
    events_function = stack.resolve({"Fn::GetAtt": ["EventsFunction", "Arn"]})
    for subscription in filters:
        assert subscription["DestinationArn"] == events_function
        # Named after the stack: deploy.sh tells it from other filters (2 per log group at most).
        assert subscription["FilterName"] == STACK
        assert set(re.findall(r'\$\.type = "(\w+)"', subscription["FilterPattern"])) == {
            "ExecutionStarted", "ExecutionSucceeded", "ExecutionFailed", "ExecutionTimedOut", "ExecutionAborted"}
    [from_logs] = [stack.resolve(p["Properties"]) for p in stack.of_type("AWS::Lambda::Permission").values()
                   if p["Properties"]["Principal"] == "logs.amazonaws.com"]
    assert from_logs["SourceArn"] == f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:*"
    assert from_logs["SourceAccount"] == ACCOUNT


def test_no_sample_machine_or_log_group_is_created_when_workflows_are_given():
    stack = deployed()
    assert not stack.of_type("AWS::Serverless::StateMachine")
    assert not stack.of_type("AWS::IAM::ManagedPolicy")
    assert not [n for n in stack.of_type("AWS::Logs::LogGroup") if n in ("GreetingLogGroup", "ExpressLogGroup")]


def test_no_statement_allows_a_wildcard_beyond_the_execution_patterns_of_the_workflows():
    stack = deployed(sam=True)  # SAM's roles, with the inline policies it makes of Policies
    allowed = set(executions(STANDARD))
    checked = 0
    for name in stack.of_type("AWS::IAM::Role"):
        for action, targets in stack.grants(name).items():
            assert not action.endswith("*"), (name, action)
            if action.startswith("states:SendTask"):
                # The one exception: the gateway's callbacks and the results function's links
                # (these calls take no resource-level permission).
                assert name in ("ApiStartRole", "ResultsFunctionRole") and targets == ["*"], (name, action, targets)
                continue
            for target in targets:
                checked += 1
                assert target and ("*" not in target or target in allowed), (name, action, target)
    assert checked > 20
    # Resource policies: the API's own invoke permission, and the one for every log group's
    # subscription (a function's resource policy holds about 50 statements, not one per group).
    wildcards = sorted(p["SourceArn"] for p in (stack.resolve(r["Properties"]) for r in
                       stack.of_type("AWS::Lambda::Permission").values()) if "*" in p["SourceArn"])
    assert wildcards == [f"arn:aws:execute-api:{REGION}:{ACCOUNT}:a1b2c3d4e5/*",
                         f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:*"]


def test_with_only_standard_workflows_nothing_subscribes_to_logs_and_the_express_aliases_name_no_workflow():
    stack = deployed(express=(), log_groups=())
    assert not stack.of_type("AWS::Logs::SubscriptionFilter")
    assert [p["Properties"]["Principal"] for p in stack.of_type("AWS::Lambda::Permission").values()] == [
        "apigateway.amazonaws.com", "events.amazonaws.com"]
    for function in ("ResultsFunction", "EventsFunction", "DeliveriesFunction"):
        assert "EXPRESS_STATE_MACHINES" not in stack.environment(function), function
        assert stack.environment(function)["ALLOWED_STATE_MACHINES"] == names(STANDARD), function
    assert sorted(stack.grants("ApiStartRole")["states:StartSyncExecution"]) == sorted(STANDARD)
    variables = stack.resolve(stack.resources["Api"]["Properties"]["Variables"])
    assert variables["standardStateMachineArn"] == STANDARD[0]
    assert variables["expressStateMachineArn"] == PREFIX + "no-express-workflow"
    assert "ExpressStateMachineArn" not in stack.outputs
    assert_no_empty_resource(stack)


def test_with_only_express_workflows_there_is_no_rule_and_the_functions_get_no_step_functions_action():
    stack = deployed(standard=())
    assert not stack.of_type("AWS::Events::Rule")
    for function in ("ResultsFunction", "EventsFunction", "DeliveriesFunction"):
        assert not [a for a in stack.grants(function) if a.startswith("states:")], function
    queue_policy = stack.resolve(stack.resources["EventsDeadLetterQueuePolicy"]["Properties"]["PolicyDocument"])
    assert [s["Sid"] for s in queue_policy["Statement"]] == ["TlsOnly"]
    # ALLOWED_STATE_MACHINES unset: the service allows the EXPRESS machines, named once.
    for function in ("ResultsFunction", "EventsFunction", "DeliveriesFunction"):
        environment = stack.environment(function)
        assert "ALLOWED_STATE_MACHINES" not in environment, function
        assert environment["EXPRESS_STATE_MACHINES"] == names(EXPRESS), function
    # Reconcile then lists nothing: every allowed machine is an EXPRESS one.
    assert "START_STATE_MACHINE" not in stack.environment("ResultsFunction")
    assert "RECONCILE_STATE_MACHINES" not in stack.environment("EventsFunction")
    variables = stack.resolve(stack.resources["Api"]["Properties"]["Variables"])
    assert variables["standardStateMachineArn"] == PREFIX + "no-standard-workflow"
    assert variables["expressStateMachineArn"] == EXPRESS[0]
    assert "StandardStateMachineArn" not in stack.outputs
    assert len(stack.of_type("AWS::Logs::SubscriptionFilter")) == len(LOG_GROUPS)
    assert_no_empty_resource(stack)


def assert_no_empty_resource(stack: Deployed):
    for name, resource in stack.resources.items():
        if resource["Type"] in ("AWS::Serverless::Function", "AWS::IAM::Role"):
            for action, targets in stack.grants(name).items():
                assert targets and all(targets), (name, action)


def test_the_stage_variables_name_the_first_workflows_and_the_arn_prefix_of_the_rest():
    stack = deployed()
    variables = stack.resolve(stack.resources["Api"]["Properties"]["Variables"])
    assert variables["standardStateMachineArn"] == STANDARD[0]
    assert variables["expressStateMachineArn"] == EXPRESS[0]
    assert variables["workflowArnPrefix"] == PREFIX
    outputs = {n: stack.resolve(o["Value"]) for n, o in stack.outputs.items()}
    assert outputs["StandardStateMachineArn"] == STANDARD[0] and outputs["ExpressStateMachineArn"] == EXPRESS[0]
    assert outputs["WorkflowsUrl"].endswith("/v1/workflows")


def test_the_dashboard_draws_a_line_per_workflow():
    stack = deployed()
    body = json.loads(stack.resolve(stack.resources["Dashboard"]["Properties"]["DashboardBody"]))
    per_workflow = {w["properties"]["title"]: w["properties"]["metrics"] for w in body["widgets"]
                    if "per workflow" in w["properties"].get("title", "")}
    assert sorted(per_workflow) == ["Executions failed, per workflow", "Executions started, per workflow"]
    for metrics in per_workflow.values():
        assert [m[3] for m in metrics] == STANDARD + EXPRESS
        assert {tuple(m[:3]) for m in metrics} <= {("AWS/States", "ExecutionsStarted", "StateMachineArn"),
                                                   ("AWS/States", "ExecutionsFailed", "StateMachineArn")}


def test_the_workflow_parameters_take_comma_separated_arns_and_log_group_names_only():
    text = (ROOT / "stack.yaml").read_text(encoding="utf-8")
    declared = json.loads(subprocess.run(
        [str(SAM_PYTHON), "-c", "import json, sys; from samcli.yamlhelper import yaml_parse; "
         "print(json.dumps(yaml_parse(sys.stdin.read())['Parameters']))"],
        input=text, capture_output=True, text=True, check=True).stdout)
    machines = re.compile(declared["StandardWorkflows"]["AllowedPattern"])
    assert declared["ExpressWorkflows"]["AllowedPattern"] == machines.pattern
    for good in ("", STANDARD[0], ",".join(STANDARD + EXPRESS)):
        assert machines.fullmatch(good), good
    for bad in ("orders", f"{STANDARD[0]}, {STANDARD[1]}", f"{STANDARD[0]},", STANDARD[0] + ":1", STANDARD[0] + ".v2",
                f"arn:aws:states:{REGION}:{ACCOUNT}:activity:orders"):
        assert not machines.fullmatch(bad), bad
    groups = re.compile(declared["ExpressWorkflowLogGroups"]["AllowedPattern"])
    assert all(groups.fullmatch(g) for g in LOG_GROUPS + [""])
    assert not groups.fullmatch(f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/aws/vendedlogs/states/pricing:*")


def figures(*counts: int, name_length: int = 24) -> dict[int, dict]:
    """expand_stack.py's figures for N STANDARD + N EXPRESS workflows of that name length."""
    run = subprocess.run([str(SAM_PYTHON), str(EXPAND), *map(str, counts), "--name-length", str(name_length),
                          "--json"], capture_output=True, text=True, check=True)
    return {f["standard"]: f for f in json.loads(run.stdout)["figures"]}


def test_fifty_workflows_of_each_type_stay_within_cloudformations_lambdas_iam_and_eventbridges_limits():
    [fifty] = figures(50).values()
    # Resources, template, parameter values, every function's environment, role policies, pattern.
    assert over(fifty) == []
    # Each workflow named once (24 characters) leaves room in every function's environment.
    assert max(fifty["environments"].values()) <= LIMITS["environment"] - 800
    # Fifty ARNs would not fit EventBridge's default quota: the rule takes the ARN prefix instead.
    assert fifty["event_pattern_by_arn"] > LIMITS["event_pattern"]
    assert fifty["status_rule_pattern"] == "arn-prefix" and fifty["event_pattern"] < 300


def test_with_24_character_names_53_workflows_of_each_type_fit_and_at_54_only_the_parameter_value_is_over():
    # 53 ARNs of 24-character names fill a 4,096-byte parameter value; the environments, which
    # name each workflow once (25 bytes a name), would hold more.
    measured = figures(1, 53, 54)
    for n, figure in measured.items():
        environments = figure["environments"]
        assert max(environments, key=environments.get) == "ResultsFunction", n
        # The deliveries function's environment is a part of the events function's.
        assert environments["DeliveriesFunction"] < environments["EventsFunction"] < environments["ResultsFunction"]
    assert over(measured[53]) == []
    assert over(measured[54]) == ["parameter"]
    assert measured[54]["environment"] < LIMITS["environment"] - 600
    assert measured[53]["environment"] - measured[1]["environment"] == 52 * 2 * 25


def test_with_80_character_names_the_function_environment_holds_20_workflows_of_each_type_and_no_more():
    # Step Functions' longest names: here the environment binds before the parameter values (31 ARNs).
    measured = figures(20, 21, name_length=80)
    assert over(measured[20]) == []
    assert over(measured[21]) == ["environment"]
    assert [f for f, size in measured[21]["environments"].items() if size > LIMITS["environment"]] == ["ResultsFunction"]
    assert measured[21]["environment"] - measured[20]["environment"] == 2 * 81
