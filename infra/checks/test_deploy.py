"""deploy.sh --workflow and --dry-run against a stand-in AWS CLI.

The stand-in (fixtures/aws/bin/aws) answers the reads deploy.sh makes from JSON fixtures
shaped like the CLI's output, records every call, and refuses anything else; sam, cargo,
rustup and zig are stand-ins too, so a test sees any build or deploy that was started.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest

from expand_stack import environments, pattern_size
from test_workflows_stack import expand, figures

ROOT = Path(__file__).resolve().parents[2]
STANDIN = ROOT / "infra" / "checks" / "fixtures" / "aws" / "bin"
PREFIX = "arn:aws:states:us-east-1:123456789012:stateMachine:"
# The reads deploy.sh may make, and the build tools' version checks; nothing else.
READS = {("aws", "sts"), ("aws", "stepfunctions", "describe-state-machine"), ("aws", "s3api", "head-bucket"),
         ("aws", "logs", "describe-subscription-filters"), ("aws", "apigateway", "get-account"),
         ("aws", "cloudformation", "describe-stacks"), ("cargo", "lambda", "--version"),
         ("rustup", "target", "list")}
TOOL = """#!/bin/sh
# Stand-in {name}: records the call; answers the version checks deploy.sh makes, fails the rest
# (with SAM_STANDIN_DEPLOYS=1, sam's validate, build and deploy succeed, doing nothing).
printf '%s\\n' "$(python3 -c 'import json, sys; print(json.dumps(sys.argv[1:]))' {name} "$@")" >>"$AWS_STANDIN_LOG"
case "{name} $1 ${{SAM_STANDIN_DEPLOYS:-0}}" in
    "sam validate 1" | "sam build 1") exit 0 ;;
    "sam deploy 1") echo "LANGUAGE_EXTENSIONS=$SAM_CLI_ENABLE_LANGUAGE_EXTENSIONS" >>"$AWS_STANDIN_LOG.env"; exit 0 ;;
esac
case "$*" in
    "lambda --version") echo "cargo-lambda 1.9.2" ;;
    "target list --installed") echo aarch64-unknown-linux-gnu ;;
    *) echo "stand-in {name}: refused: $*" >&2; exit 98 ;;
esac
"""


class Run:
    def __init__(self, process: subprocess.CompletedProcess, log: Path):
        self.code, self.out, self.err = process.returncode, process.stdout, process.stderr
        self.calls = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []

    def changes(self) -> list[list[str]]:
        """Calls other than the reads: anything that built, packaged or deployed."""
        return [c for c in self.calls if not any(tuple(c[:len(r)]) == r for r in READS)]


@pytest.fixture
def deploy(tmp_path):
    tools = tmp_path / "bin"
    tools.mkdir()
    for name in ("sam", "cargo", "rustup", "zig"):
        (tools / name).write_text(TOOL.format(name=name))
        (tools / name).chmod(0o755)
    log = tmp_path / "calls.jsonl"

    def run(*args: str, **environment: str) -> Run:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "CF_", "STACK_"))}
        env.update(PATH=f"{STANDIN}:{tools}:{env['PATH']}", AWS_REGION="us-east-1", AWS_STANDIN_LOG=str(log),
                   CF_BUCKET_NAME="artifacts", **environment)
        # A hang guard, not a pace: a dry run of 100 workflows took over 120 s on a loaded machine.
        process = subprocess.run(["bash", str(ROOT / "deploy.sh"), *args], capture_output=True, text=True,
                                 env=env, timeout=900)
        return Run(process, log)

    return run


def workflows(*names: str) -> list[str]:
    return [f"--workflow={PREFIX}{name}" for name in names]


def many(standard: int, express: int, length: int) -> list[str]:
    """Workflows the stand-in describes (AWS_STANDIN_ANY=1), names of `length` characters."""
    return workflows(*[f"std-{i:03d}-".ljust(length, "x") for i in range(standard)],
                     *[f"exp-{i:03d}-".ljust(length, "x") for i in range(express)])


def overrides_of(out: str) -> list[str]:
    return [line.strip() for line in out.split("--parameter-overrides:")[1].splitlines() if line.startswith("    ")]


def sizes_of(out: str) -> tuple[int, int, int | None]:
    """The dry run's figures: sfn-results' and the events function's environments, and the
    status rule's pattern by workflow ARN (None: no rule, as there is no STANDARD workflow)."""
    [(results, events)] = re.findall(r"function environment: (\d+) of 4,096 bytes \(sfn-results; the events function (\d+)\)", out)
    if "==> status rule: none (no STANDARD workflow" in out:
        return int(results), int(events), None
    [pattern] = re.findall(r"status rule: by workflow ARN, (\d+) of 2,048|by workflow ARN its pattern would take (\d+)", out)
    return int(results), int(events), int(next(p for p in pattern if p))


def test_a_dry_run_prints_each_workflow_and_the_parameter_overrides_and_builds_nothing(deploy):
    run = deploy("--dry-run", *workflows("orders", "billing", "quote", "price", "notify"))
    assert run.code == 0, run.err
    lines = [line.split() for line in run.out.splitlines()]
    assert ["orders", "STANDARD", PREFIX + "orders"] in lines
    assert ["billing", "STANDARD", PREFIX + "billing"] in lines
    assert ["quote", "EXPRESS", PREFIX + "quote", "log", "group", "/aws/vendedlogs/states/pricing"] in lines
    assert ["price", "EXPRESS", PREFIX + "price", "log", "group", "/aws/vendedlogs/states/pricing"] in lines
    assert ["notify", "EXPRESS", PREFIX + "notify", "log", "group", "/aws/vendedlogs/states/notify-Logs"] in lines
    assert ["POST", "/executions,", "/executions/wait:", PREFIX + "orders"] in lines
    assert ["POST", "/executions/sync,", "/executions/express:", PREFIX + "quote"] in lines
    assert overrides_of(run.out) == [
        "StageName=v1", "AuthType=AWS_IAM", "ResultRetentionDays=0", "LogLevel=info", "LogExecutionData=false",
        "ReconcileDescribeBudget=50", "SetApiGatewayAccountLogsRole=false",
        f"StandardWorkflows={PREFIX}orders,{PREFIX}billing",
        f"ExpressWorkflows={PREFIX}quote,{PREFIX}price,{PREFIX}notify",
        # Each log group once; pricing's own filter from an earlier deploy leaves room for it.
        "ExpressWorkflowLogGroups=/aws/vendedlogs/states/pricing,/aws/vendedlogs/states/notify-Logs",
        "StatusRulePattern=workflow-arns",
    ]
    assert "==> status rule: by workflow ARN, " in run.out
    assert run.out.rstrip().endswith("dry run: nothing was built or deployed")
    assert run.changes() == []
    assert not [c for c in run.calls if c[0] in ("sam", "cargo")]  # a dry run needs no build tools


def test_a_deployment_hands_the_workflows_to_sam_deploy_with_fn_foreach_expanded(deploy, tmp_path):
    run = deploy(*workflows("orders", "quote"), SAM_STANDIN_DEPLOYS="1")
    [deployed] = [c for c in run.calls if c[:2] == ["sam", "deploy"]]
    overrides = deployed[deployed.index("--parameter-overrides") + 1:]
    assert f"StandardWorkflows={PREFIX}orders" in overrides and f"ExpressWorkflows={PREFIX}quote" in overrides
    assert "ExpressWorkflowLogGroups=/aws/vendedlogs/states/pricing" in overrides
    assert "CAPABILITY_AUTO_EXPAND" in deployed
    # The SAM CLI reads a template with Fn::ForEach only when asked to.
    assert (tmp_path / "calls.jsonl.env").read_text() == "LANGUAGE_EXTENSIONS=1\n"
    # The stand-in's stack does not exist, so reading its outputs is where this run ends.
    assert run.calls[-1][:3] == ["aws", "cloudformation", "describe-stacks"] and run.code != 0


def test_without_workflows_a_dry_run_deploys_the_samples_with_the_lists_emptied(deploy):
    run = deploy("--dry-run")
    assert run.code == 0, run.err
    assert "none given; the stack creates and serves its two sample machines" in run.out
    # Passed as "", not left out: sam deploy would keep a previous deployment's workflows.
    for parameter in ("StandardWorkflows", "ExpressWorkflows", "ExpressWorkflowLogGroups"):
        assert f'    {parameter}=""' in run.out.splitlines()
    assert "    StatusRulePattern=workflow-arns" in run.out.splitlines()
    assert not [c for c in run.calls if c[:2] == ["aws", "stepfunctions"]]
    assert run.changes() == []


REFUSALS = {
    "does not exist": (
        PREFIX + "missing", "does not exist in account 123456789012, region us-east-1",
        "'aws stepfunctions list-state-machines' lists the machines there"),
    "in another region": (
        "arn:aws:states:eu-west-1:123456789012:stateMachine:orders",
        "is in account 123456789012, region eu-west-1; this deployment is account 123456789012, region us-east-1",
        "AWS_REGION=eu-west-1"),
    "in another account": (
        "arn:aws:states:us-east-1:210987654321:stateMachine:orders",
        "is in account 210987654321, region us-east-1", "credentials of account 210987654321"),
    "not logging": (
        PREFIX + "silent", "(EXPRESS) logs at level OFF, execution data false, to no log group",
        "update-state-machine --state-machine-arn arn:aws:states:us-east-1:123456789012:stateMachine:silent "
        """--logging-configuration '{"level":"ALL","includeExecutionData":true,"destinations":[{"cloudWatchLogsLogGroup":"""
        """{"logGroupArn":"arn:aws:logs:us-east-1:123456789012:log-group:/aws/vendedlogs/states/silent-Logs:*"}}]}'"""),
    "logging errors only": (
        PREFIX + "errors-only", "(EXPRESS) logs at level ERROR, execution data true",
        # The fix keeps the machine's own log group.
        '"level":"ALL","includeExecutionData":true,"destinations":[{"cloudWatchLogsLogGroup":{"logGroupArn":'
        '"arn:aws:logs:us-east-1:123456789012:log-group:/aws/vendedlogs/states/errors-only-Logs:*"}}]'),
    "logging without execution data": (
        PREFIX + "no-data", "(EXPRESS) logs at level ALL, execution data false", '"includeExecutionData":true'),
    "logging to another region": (
        PREFIX + "far-logs", "logs to arn:aws:logs:eu-west-1:123456789012:log-group:/aws/vendedlogs/states/far-logs:*, "
        "not to a log group of account 123456789012 in us-east-1",
        "arn:aws:logs:us-east-1:123456789012:log-group:/aws/vendedlogs/states/far-logs-Logs:*"),
    "a log group with 2 subscription filters": (
        PREFIX + "crowded", "logs to /aws/vendedlogs/states/crowded, which has 2 subscription filters already "
        "(audit siem): CloudWatch Logs allows 2 per log group",
        "aws logs delete-subscription-filter --log-group-name /aws/vendedlogs/states/crowded --filter-name NAME"),
    "not a state machine ARN": (
        "orders", "orders is not a state machine ARN", "give arn:aws:states:REGION:ACCOUNT:stateMachine:NAME"),
    "a version ARN": (PREFIX + "orders:1", "is not a state machine ARN", "a version or alias ARN is not served"),
    "a name the routes cannot carry": (
        PREFIX + "orders.v2", "is named orders.v2: /workflows/{workflow} takes names of letters, digits, - and _ only",
        "a state machine cannot be renamed"),
}


@pytest.mark.parametrize("case", REFUSALS)
def test_a_workflow_that_cannot_be_served_is_named_with_its_fix_before_anything_is_built(deploy, case):
    arn, problem, fix = REFUSALS[case]
    run = deploy(*workflows("orders"), f"--workflow={arn}")  # a real deployment, not a dry run
    assert run.code != 0
    assert "these workflows cannot be deployed, nothing was changed" in run.err
    [refusal] = [block for block in run.err.split("\n  - ")[1:]]
    assert refusal.startswith(arn + " ") and problem in refusal, refusal
    assert "\n    fix: " in refusal and fix in refusal.split("\n    fix: ")[1], refusal
    assert run.changes() == [], run.changes()
    assert run.out.count("==>") == 1  # only the stack line: no build, no deploy


def test_the_same_machine_twice_is_refused_as_two_workflows_of_one_name(deploy):
    run = deploy("--dry-run", *workflows("orders", "quote", "orders"))
    assert run.code != 0
    assert f"{PREFIX}orders is given twice: two workflows would have the name orders (/workflows/orders)" in run.err
    assert "fix: give each state machine once" in run.err
    assert run.changes() == []


def test_every_refusal_is_named_at_once(deploy):
    run = deploy("--dry-run", *workflows("missing", "silent", "orders"))
    assert run.code != 0
    assert run.err.count("\n  - ") == 2 and run.err.count("    fix: ") == 2
    assert f"{PREFIX}missing does not exist" in run.err and f"{PREFIX}silent (EXPRESS)" in run.err
    assert "parameter-overrides" not in run.out


SETTINGS = {
    "defaults": {},
    "everything longer": {"STACK_NAME": "a-stack-name-as-long-as-the-results-function-name-allows", "STAGE_NAME": "production",
                          "ALLOWED_ORIGIN": "https://operations.example.com", "RESULT_RETENTION_DAYS": "36500",
                          "LOG_LEVEL": "debug", "RECONCILE_DESCRIBE_BUDGET": "300", "WEBHOOK_RETRY_SCHEDULE": "5,300,1800"},
}


# Both types, and each alone (then ALLOWED_STATE_MACHINES or EXPRESS_STATE_MACHINES is unset).
# notify's log group only: pricing holds a filter named after the default stack.
MIXES = {"both types": ("orders", "billing", "notify"), "standard only": ("orders", "billing"),
         "express only": ("notify",)}


@pytest.mark.parametrize("mix", MIXES)
@pytest.mark.parametrize("settings", SETTINGS)
def test_the_dry_runs_sizes_are_those_of_the_template_expanded_with_its_parameters(deploy, settings, mix):
    run = deploy("--dry-run", *workflows(*MIXES[mix]), **SETTINGS[settings])
    assert run.code == 0, run.err
    given = dict(o.split("=", 1) for o in overrides_of(run.out))
    given = {k: "" if v == '""' else v for k, v in given.items()}
    given["ExpressWorkflowLogGroups"] = given["ExpressWorkflowLogGroups"].split(",")
    processed = expand(["--parameters", json.dumps(given), "--sam"])
    measured = environments(processed, given, stack=SETTINGS[settings].get("STACK_NAME", "api-sfn-proto"))
    by_arn = pattern_size(processed, {**given, "StatusRulePattern": "workflow-arns"}) or None  # 0: no rule
    assert sizes_of(run.out) == (measured["ResultsFunction"], measured["EventsFunction"], by_arn)
    # The deliveries function's variables are a part of the events function's: deploy.sh need
    # not count them.
    assert measured["DeliveriesFunction"] < measured["EventsFunction"] <= measured["ResultsFunction"]


def test_fifty_workflows_of_each_type_with_24_character_names_deploy_with_the_templates_environment_sizes(deploy):
    run = deploy("--dry-run", *many(50, 50, 24), AWS_STANDIN_ANY="1")
    assert run.code == 0, run.err
    # The same machine names as expand_stack.py's: the sizes of the template it expands.
    [fifty] = figures(50).values()
    results, events, _ = sizes_of(run.out)
    assert (results, events) == (fifty["environments"]["ResultsFunction"], fifty["environments"]["EventsFunction"])
    assert results == 3281


def test_the_most_workflows_the_functions_environment_holds_deploy_and_one_more_is_refused(deploy):
    # Names of 80 characters, Step Functions' longest: 20 + 20 fit in sfn-results' 4 KB, each
    # named once (81 bytes).
    run = deploy("--dry-run", *many(20, 20, 80), AWS_STANDIN_ANY="1")
    assert run.code == 0, run.err
    assert sizes_of(run.out)[0] == 4077
    run = deploy(*many(20, 21, 80), AWS_STANDIN_ANY="1")  # a real deployment, not a dry run
    assert run.code != 0
    assert ("the sfn-results function's environment would take 4158 bytes, 62 over Lambda's 4,096 for all its "
            "variables: it names every workflow once, 1619 bytes of STANDARD names and 1700 of EXPRESS ones") in run.err
    # Only sfn-results': the events function's holds no START_STATE_MACHINE, cursor or wait settings.
    assert "the events function's environment" not in run.err
    assert "fix: deploy fewer workflows per stack, or some under shorter names" in run.err
    assert run.changes() == []


def test_past_eventbridges_default_pattern_quota_the_rule_takes_the_accounts_machines_by_arn_prefix(deploy):
    run = deploy("--dry-run", *many(16, 2, 80), AWS_STANDIN_ANY="1")
    assert run.code == 0, run.err
    assert "StatusRulePattern=arn-prefix" in overrides_of(run.out)
    assert ("==> status rule: by ARN prefix, every state machine of account 123456789012 in us-east-1 "
            "(StatusRulePattern=arn-prefix): by workflow ARN its pattern would take 2311 characters, over "
            "EventBridge's default 2,048; the events function ignores the other machines' stops") in run.out
    run = deploy("--dry-run", *many(14, 2, 80), AWS_STANDIN_ANY="1")
    assert "StatusRulePattern=workflow-arns" in overrides_of(run.out) and sizes_of(run.out)[2] == 2043


def test_workflow_options_go_with_a_deployment_only(deploy):
    run = deploy("--delete", *workflows("orders"))
    assert run.code != 0 and "--workflow and --dry-run go with a deployment, not with --delete" in run.err
    assert run.calls == []
    run = deploy("--workflow")
    assert run.code != 0 and "--workflow needs a state machine ARN" in run.err
