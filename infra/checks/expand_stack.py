"""stack.yaml with N workflows, expanded as CloudFormation would, and measured against AWS limits.

Runs with the SAM CLI's Python (.venv-checks-sam/bin/python), which ships both halves of
what CloudFormation does with this template: a port of AWS::LanguageExtensions
(samcli.lib.cfn_language_extensions, of which this uses the Fn::ForEach expansion) and
SAM's translator (AWS::Serverless-2016-10-31). The figures then come from the deployed values:
conditions decided, intrinsic functions worked out.

    .venv-checks-sam/bin/python infra/checks/expand_stack.py 1 5 20 50   # the table
    .venv-checks-sam/bin/python infra/checks/expand_stack.py --standard 20 --express 20 \\
        --write OUT.json                     # the template after LanguageExtensions (for cfn-lint)
    .venv-checks-sam/bin/python infra/checks/expand_stack.py --parameters '{"StandardWorkflows": ...}' \\
        --write OUT.json --sam               # given parameter values; after SAM's transform too

N means N STANDARD and N EXPRESS workflows, each EXPRESS one with a log group of its own (the
worst case for resources), machine names of --name-length characters (24 by default) and log
groups named as the Step Functions console names them (/aws/vendedlogs/states/NAME-Logs).
Resource names CloudFormation would generate are stood in for by strings of its usual length.
StatusRulePattern is chosen as deploy.sh chooses it: the workflows' ARNs while that pattern
fits EventBridge's default quota, else the ARN prefix.
"""

from __future__ import annotations

import argparse
import copy
import json
import logging
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
REGION, ACCOUNT, STACK = "us-east-1", "123456789012", "api-sfn-proto"
PREFIX = f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:"
# What CloudFormation and the services allow; the table says which one each figure is held to.
LIMITS = {
    "resources": 500,  # resources in the processed template
    "template": 1_048_576,  # template body from S3, before and after processing (bytes)
    "parameter": 4_096,  # one parameter value (bytes)
    "environment": 4_096,  # a Lambda function's environment variables, all together (bytes)
    "role_policies": 10_240,  # a role's inline policies, together (characters, no white space)
    "event_pattern": 2_048,  # an EventBridge rule's pattern (default quota; adjustable to 4,096)
}
# What an SQS queue name may take; CloudFormation shortens the names it generates to fit.
QUEUE_NAME = 80


def workflows(standard: int, express: int, name_length: int = 24) -> dict:
    """Parameter values for that many workflows, as deploy.sh would pass them."""

    def name(kind: str, i: int) -> str:
        return f"{kind}-{i:03d}-".ljust(name_length, "x")[:name_length]

    std = [PREFIX + name("std", i) for i in range(standard)]
    exp = [PREFIX + name("exp", i) for i in range(express)]
    groups = [f"/aws/vendedlogs/states/{name('exp', i)}-Logs" for i in range(express)]
    return {
        "StandardWorkflows": ",".join(std),
        "ExpressWorkflows": ",".join(exp),
        "ExpressWorkflowLogGroups": groups or [""],
    }


def rule_pattern_for(processed: dict, parameters: dict) -> dict:
    """The parameters with StatusRulePattern as deploy.sh picks it (unless given): the workflows'
    ARNs while that pattern fits EventBridge's default quota, else the ARN prefix."""
    if "StatusRulePattern" in parameters:
        return parameters
    exact = {**parameters, "StatusRulePattern": "workflow-arns"}
    if pattern_size(processed, exact) <= LIMITS["event_pattern"]:
        return exact
    return {**parameters, "StatusRulePattern": "arn-prefix"}


def pattern_size(processed: dict, parameters: dict) -> int:
    resolve = Resolver(processed, parameters)
    return max((_compact(resolve(r["Properties"]["EventPattern"])) for r in processed["Resources"].values()
                if r["Type"] == "AWS::Events::Rule" and resolve.kept(r)), default=0)


def load_stack() -> dict:
    from samcli.yamlhelper import yaml_parse  # the SAM CLI's reader of the short-form tags

    return _inline(yaml_parse((ROOT / "stack.yaml").read_text(encoding="utf-8")))


def _inline(node):
    """Resolves the AWS::Include of the gateway definition (CloudFormation does it first)."""
    if isinstance(node, dict):
        transform = node.get("Fn::Transform")
        if isinstance(transform, dict) and transform.get("Name") == "AWS::Include":
            return json.loads((ROOT / transform["Parameters"]["Location"]).read_text(encoding="utf-8"))
        return {k: _inline(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_inline(v) for v in node]
    return node


def language_extensions(template: dict, parameters: dict) -> dict:
    """The template after AWS::LanguageExtensions: Fn::ForEach expanded with the parameter values."""
    from samcli.lib.cfn_language_extensions import (
        ProcessingPipeline, PseudoParameterValues, TemplateParsingProcessor, TemplateProcessingContext,
        create_default_intrinsic_resolver)
    from samcli.lib.cfn_language_extensions.processors.foreach import ForEachProcessor

    context = TemplateProcessingContext(
        fragment=copy.deepcopy(template), parameter_values=parameters,
        pseudo_parameters=PseudoParameterValues(region=REGION, account_id=ACCOUNT, stack_name=STACK))
    # Only the expansion: the port's resolver of other intrinsics goes further than needed
    # (it drops a property whose Ref names a resource the condition leaves out).
    resolver = create_default_intrinsic_resolver(context)
    pipeline = ProcessingPipeline([TemplateParsingProcessor(), ForEachProcessor(resolver)])
    processed = pipeline.process_template(context)
    processed["Transform"] = "AWS::Serverless-2016-10-31"
    return _literal_delimiters(processed, resolver)


def _literal_delimiters(node, resolver):
    """Fn::Split with a delimiter made of pseudo parameters (the functions' workflow names), as
    the transform leaves it: the delimiter resolved to the literal CloudFormation requires, the
    rest for CloudFormation to work out."""
    if isinstance(node, list):
        return [_literal_delimiters(v, resolver) for v in node]
    if not isinstance(node, dict):
        return node
    if list(node) == ["Fn::Split"] and not isinstance(node["Fn::Split"][0], str):
        delimiter = resolver.resolve_value(node["Fn::Split"][0])
        if not isinstance(delimiter, str):
            raise ValueError(f"AWS::LanguageExtensions cannot resolve this Fn::Split delimiter: {delimiter}")
        return {"Fn::Split": [delimiter, _literal_delimiters(node["Fn::Split"][1], resolver)]}
    return {k: _literal_delimiters(v, resolver) for k, v in node.items()}


def sam(template: dict, parameters: dict) -> dict:
    """The template after SAM's transform, as CloudFormation deploys it (sam package's S3 URIs)."""
    from samtranslator.translator.transform import transform

    os.environ.setdefault("AWS_DEFAULT_REGION", REGION)  # the translator asks boto3 for the region
    template = copy.deepcopy(template)
    for resource in template["Resources"].values():
        for key in ("CodeUri", "DefinitionUri"):
            if key in resource.get("Properties", {}):
                resource["Properties"][key] = f"s3://artifacts/{key}"

    class NoManagedPolicies:
        def load(self):
            return {}

    values = {k: ",".join(v) if isinstance(v, list) else v for k, v in parameters.items()}
    return transform(template, values, NoManagedPolicies())


NO_VALUE = object()


class Resolver:
    """Resolves what is left after the transforms, with stand-ins for generated names."""

    def __init__(self, template: dict, parameters: dict, stack: str = STACK):
        self.stack = stack
        self.resources = template["Resources"]
        defaults = {name: p.get("Default", "") for name, p in template.get("Parameters", {}).items()}
        self.parameters = {**defaults, **parameters}
        self.conditions = template.get("Conditions", {})
        self.decided: dict[str, bool] = {}

    def condition(self, name: str) -> bool:
        if name not in self.decided:
            self.decided[name] = bool(self(self.conditions[name]))
        return self.decided[name]

    def kept(self, resource: dict) -> bool:
        return "Condition" not in resource or self.condition(resource["Condition"])

    def physical(self, name: str) -> str:
        kind = self.resources.get(name, {}).get("Type", "")
        generated = f"{self.stack}-{name}-ABCDEFGHIJKLM"
        if kind == "AWS::SQS::Queue":
            if len(generated) > QUEUE_NAME:  # the stack's and the resource's names are shortened
                generated = generated[:QUEUE_NAME - 14] + "-ABCDEFGHIJKLM"
            return f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/{generated}"
        if kind in ("AWS::ApiGateway::RestApi", "AWS::ApiGateway::Deployment"):
            return "a1b2c3d4e5"
        return generated

    def arn(self, name: str) -> str:
        return f"arn:aws:{name.lower()[:8]}:{REGION}:{ACCOUNT}:{self.physical(name)}"

    def ref(self, name: str):
        if name == "AWS::NoValue":
            return NO_VALUE
        pseudo = {"AWS::Region": REGION, "AWS::AccountId": ACCOUNT, "AWS::StackName": self.stack,
                  "AWS::Partition": "aws", "AWS::URLSuffix": "amazonaws.com",
                  "AWS::StackId": f"arn:aws:cloudformation:{REGION}:{ACCOUNT}:stack/{self.stack}/"
                  "51af3dc0-da77-11e4-872e-1234567db123"}
        if name in pseudo:
            return pseudo[name]
        if name in self.parameters:
            value = self.parameters[name]
            return ",".join(value) if isinstance(value, list) else str(value)
        return self.physical(name)

    def __call__(self, node):
        if isinstance(node, list):
            return [v for v in (self(v) for v in node) if v is not NO_VALUE]
        if not isinstance(node, dict):
            return node
        if len(node) != 1:
            return {k: v for k, v in ((k, self(v)) for k, v in node.items()) if v is not NO_VALUE}
        [(key, value)] = node.items()
        if key == "Ref":
            return self.ref(value)
        if key == "Condition":
            return self.condition(value)
        if key == "Fn::If":
            return self(value[1] if self.condition(value[0]) else value[2])
        if key == "Fn::Equals":
            return self(value[0]) == self(value[1])
        if key == "Fn::Not":
            return not self(value[0])
        if key == "Fn::And":
            return all(self(v) for v in value)
        if key == "Fn::Or":
            return any(self(v) for v in value)
        if key == "Fn::GetAtt":
            name, attribute = value if isinstance(value, list) else value.split(".", 1)
            return self.arn(name) if attribute == "Arn" else self.physical(name)
        if key == "Fn::Join":
            return value[0].join(str(v) for v in self(value[1]))
        if key == "Fn::Split":
            return self(value[1]).split(self(value[0]))
        if key == "Fn::Select":
            return self(value[1])[int(value[0])]
        if key == "Fn::Sub":
            text, variables = (value, {}) if isinstance(value, str) else (value[0], self(value[1]))
            return self.sub(text, variables)
        return {key: self(value)}

    def sub(self, text: str, variables: dict) -> str:
        out, i = [], 0
        while (start := text.find("${", i)) >= 0:
            end = text.index("}", start)
            out.append(text[i:start])
            name = text[start + 2:end]
            if name.startswith("!"):
                out.append("${" + name[1:] + "}")
            elif name in variables:
                out.append(str(variables[name]))
            elif "." in name and not name.startswith("AWS::"):
                resource, attribute = name.split(".", 1)
                out.append(self.arn(resource) if attribute == "Arn" else self.physical(resource))
            else:
                out.append(self.ref(name))
            i = end + 1
        return "".join(out) + text[i:]


def _compact(value) -> int:
    return len(json.dumps(value, separators=(",", ":")))


def environments(processed: dict, parameters: dict, stack: str = STACK) -> dict[str, int]:
    """Each function's environment as Lambda measures it against 4 KB: its variables as compact
    JSON (Lambda's refusal quotes that string, "String measured: {"NAME":"value",...}")."""
    resolve = Resolver(processed, parameters, stack)
    return {name: _compact(resolve(r["Properties"].get("Environment", {})).get("Variables", {}))
            for name, r in processed["Resources"].items()
            if r["Type"] == "AWS::Lambda::Function" and resolve.kept(r)}


def measure(standard: int, express: int, name_length: int = 24) -> dict:
    parameters = workflows(standard, express, name_length)
    original = load_stack()
    processed = sam(language_extensions(original, parameters), parameters)
    exact_pattern = pattern_size(processed, {**parameters, "StatusRulePattern": "workflow-arns"})
    parameters = rule_pattern_for(processed, parameters)
    resolve = Resolver(processed, parameters)
    resources = {name: r for name, r in processed["Resources"].items() if resolve.kept(r)}
    environment = environments(processed, parameters)
    roles = {
        name: sum(_compact(resolve(p["PolicyDocument"])) for p in r["Properties"].get("Policies", []))
        for name, r in resources.items() if r["Type"] == "AWS::IAM::Role"
    }
    return {
        "standard": standard, "express": express,
        "resources": len(processed["Resources"]),  # declared: those left out count as well
        "template": len((ROOT / "stack.yaml").read_bytes()),
        "processed": _compact(processed),
        "parameter": max(len(resolve({"Ref": k}).encode()) for k in parameters),
        "environment": max(environment.values()),
        "environments": environment,
        "role_policies": max(roles.values()),
        "event_pattern": pattern_size(processed, parameters),
        "event_pattern_by_arn": exact_pattern,
        "status_rule_pattern": parameters["StatusRulePattern"],
    }


COLUMNS = [  # (figure, header, limit key)
    ("resources", "resources", "resources"),
    ("template", "template B", "template"),
    ("processed", "processed B", "template"),
    ("parameter", "param B", "parameter"),
    ("environment", "env B", "environment"),
    ("role_policies", "role policy", "role_policies"),
    ("event_pattern", "rule pattern", "event_pattern"),
]


def over(figures: dict) -> list[str]:
    return [figure for figure, _, limit in COLUMNS if figures[figure] > LIMITS[limit]]


def table(counts: list[int], name_length: int) -> str:
    head = ["workflows"] + [h for _, h, _ in COLUMNS]
    rows = [head, ["(limit)"] + [f"{LIMITS[limit]:,}" for _, _, limit in COLUMNS]]
    for n in counts:
        figures = measure(n, n, name_length)
        rows.append([f"{n} + {n}"] + [f"{figures[f]:,}" + (" OVER" if f in over(figures) else "")
                                      + (f" (prefix; {figures['event_pattern_by_arn']:,} by ARN)"
                                         if f == "event_pattern" and figures["status_rule_pattern"] == "arn-prefix" else "")
                                      for f, _, _ in COLUMNS])
    widths = [max(len(row[i]) for row in rows) for i in range(len(head))]
    return "\n".join("  ".join(cell.rjust(width) for cell, width in zip(row, widths, strict=True)) for row in rows)


def largest(name_length: int, mix) -> tuple[int, list[str]]:
    """The largest n for which mix(n) = (standard, express) stays within every limit, and what stops n + 1."""
    low, high = 0, 1
    while not over(measure(*mix(high), name_length)):
        low, high = high, high * 2
    while high - low > 1:
        middle = (low + high) // 2
        low, high = (middle, high) if not over(measure(*mix(middle), name_length)) else (low, middle)
    return low, over(measure(*mix(high), name_length))


def main(argv: list[str]) -> int:
    logging.disable(logging.WARNING)  # SAM's translator chats about feature toggles and metrics
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("counts", nargs="*", type=int, help="print the table for N STANDARD + N EXPRESS workflows")
    parser.add_argument("--standard", type=int, default=0)
    parser.add_argument("--express", type=int, default=0)
    parser.add_argument("--name-length", type=int, default=24)
    parser.add_argument("--parameters", metavar="JSON", help="parameter values to expand with, instead of counts")
    parser.add_argument("--write", metavar="OUT", help="write the template after AWS::LanguageExtensions")
    parser.add_argument("--sam", action="store_true", help="with --write: after SAM's transform as well")
    parser.add_argument("--largest", action="store_true", help="also find the most workflows within every limit")
    parser.add_argument("--json", action="store_true", help="print the counts' figures as JSON, with the limits")
    args = parser.parse_args(argv[1:])
    if args.write:
        if args.parameters:
            parameters = json.loads(args.parameters)
        else:
            parameters = workflows(args.standard, args.express, args.name_length)
        processed = language_extensions(load_stack(), parameters)
        if args.sam:
            processed = sam(processed, parameters)
        Path(args.write).write_text(json.dumps(processed, indent=1), encoding="utf-8")
    if args.counts and args.json:
        print(json.dumps({"limits": LIMITS, "figures": [measure(n, n, args.name_length) for n in args.counts]}))
    elif args.counts:
        print(f"N STANDARD + N EXPRESS workflows, machine names of {args.name_length} characters, "
              "one log group per EXPRESS workflow")
        print(table(args.counts, args.name_length))
    if args.largest:
        for label, mix in (("N + N", lambda n: (n, n)), ("STANDARD only", lambda n: (n, 0)),
                           ("EXPRESS only", lambda n: (0, n))):
            n, binding = largest(args.name_length, mix)
            print(f"largest within every limit, {label}: {n} (at {n + 1}: over {', '.join(binding)})")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
