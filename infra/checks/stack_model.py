"""stack.yaml as one of its configurations: conditions decided, Fn::If resolved, AWS::NoValue gone.

test_stack.py asserts on the sample configuration (no workflows given) in the template's own
short forms (!Ref, !GetAtt, ...), as the template reads. `value` works out a string or list
that depends only on parameters and references, for the checks that need the result (the
execution ARN patterns made from machine ARNs with Fn::Split and Fn::Join).
"""

from __future__ import annotations

from pathlib import Path

import yaml

from inline_stack import Loader, Tag

ROOT = Path(__file__).resolve().parents[2]
NO_VALUE = ("!Ref", "AWS::NoValue")


def load() -> dict:
    return yaml.load((ROOT / "stack.yaml").read_text(encoding="utf-8"), Loader=Loader)


def conditions(template: dict, parameters: dict[str, str]) -> dict[str, bool]:
    """Every condition's value for these parameter values (defaults for the others)."""
    defaults = {name: str(p.get("Default", "")) for name, p in template["Parameters"].items()}
    values = {**defaults, **parameters}
    decided: dict[str, bool] = {}

    def decide(node):
        if isinstance(node, Tag):
            if node.tag == "!Condition":
                return condition(node.value)
            if node.tag == "!Ref":
                return values[node.value]
            if node.tag == "!Not":
                return not decide(node.value[0])
            if node.tag == "!Equals":
                return decide(node.value[0]) == decide(node.value[1])
            if node.tag == "!And":
                return all(decide(v) for v in node.value)
            if node.tag == "!Or":
                return any(decide(v) for v in node.value)
            raise ValueError(f"cannot decide {node.tag}")
        return node

    def condition(name: str) -> bool:
        if name not in decided:
            decided[name] = bool(decide(template["Conditions"][name]))
        return decided[name]

    for name in template["Conditions"]:
        condition(name)
    return decided


def configured(template: dict, parameters: dict[str, str] | None = None) -> dict:
    """The template as deployed with these parameters: only what their conditions keep."""
    decided = conditions(template, parameters or {})

    def keep(resource) -> bool:
        return not isinstance(resource, dict) or decided.get(resource.get("Condition"), True)

    def walk(node):
        if isinstance(node, Tag):
            if node.tag == "!If":
                name, when_true, when_false = node.value
                return walk(when_true if decided[name] else when_false)
            return Tag(node.tag, walk(node.value))
        if isinstance(node, list):
            return [walk(v) for v in node if not _no_value(v)]
        if isinstance(node, dict):
            return {k: walk(v) for k, v in node.items() if not _no_value(v)}
        return node

    out = dict(template)
    for section in ("Resources", "Outputs"):
        kept = {}
        for name, item in template.get(section, {}).items():
            if name.startswith("Fn::ForEach::"):
                identifier, collection, body = item
                if all(keep(r) for r in body.values()):
                    kept[name] = [identifier, collection, walk(body)]
            elif keep(item):
                kept[name] = walk(item)
        out[section] = kept
    out["Globals"] = walk(template.get("Globals", {}))
    return out


def _no_value(node) -> bool:
    return isinstance(node, Tag) and (node.tag, node.value) == NO_VALUE


def value(node, refs: dict[str, str]):
    """A string or list of strings out of !Ref, !Sub, !Join, !Split and !Select; `refs` gives
    each referenced name its value (resource names stand for what Ref returns)."""
    if isinstance(node, list):
        return [value(v, refs) for v in node]
    if not isinstance(node, Tag):
        return node
    if node.tag == "!Ref":
        return refs[node.value]
    if node.tag == "!Sub":
        text, variables = (node.value, {}) if isinstance(node.value, str) else node.value
        names = {**refs, **{k: value(v, refs) for k, v in variables.items()}}
        for name, replacement in names.items():
            text = text.replace("${" + name + "}", replacement)
        return text
    if node.tag == "!Join":
        separator, items = node.value
        return separator.join(value(items, refs))
    if node.tag == "!Split":
        separator, text = node.value
        return value(text, refs).split(separator)
    if node.tag == "!Select":
        index, items = node.value
        return value(items, refs)[int(index)]
    raise ValueError(f"no value for {node.tag}")
