"""Writes a copy of stack.yaml with the AWS::Include of the gateway definition inlined.

cfn-lint and checkov do not follow AWS::Include to a local file, so the offline
checks lint this copy too: then the integrations, gateway responses and CORS
parameters in infra/api/gateway.openapi.json are checked as CloudFormation sees
them after the include.

    python3 infra/checks/inline_stack.py OUT.yaml
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]


class Tag:
    """A CloudFormation short-form tag (!Ref, !Sub, ...) carried through unchanged."""

    def __init__(self, tag: str, value):
        self.tag, self.value = tag, value


def _construct(loader, tag_suffix, node):
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    return Tag("!" + tag_suffix, value)


def _represent(dumper, data: Tag):
    if isinstance(data.value, list):
        return dumper.represent_sequence(data.tag, data.value)
    if isinstance(data.value, dict):
        return dumper.represent_mapping(data.tag, data.value)
    return dumper.represent_scalar(data.tag, data.value)


class Loader(yaml.SafeLoader):
    pass


class Dumper(yaml.SafeDumper):
    pass


Loader.add_multi_constructor("!", _construct)
Dumper.add_representer(Tag, _represent)


def inline(node):
    if isinstance(node, dict):
        transform = node.get("Fn::Transform")
        if isinstance(transform, dict) and transform.get("Name") == "AWS::Include":
            location = transform["Parameters"]["Location"]
            return json.loads((ROOT / location).read_text(encoding="utf-8"))
        return {k: inline(v) for k, v in node.items()}
    if isinstance(node, list):
        return [inline(v) for v in node]
    return node


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    template = yaml.load((ROOT / "stack.yaml").read_text(encoding="utf-8"), Loader=Loader)
    inlined = inline(template)
    if inlined == template:
        print("stack.yaml has no AWS::Include to inline", file=sys.stderr)
        return 1
    Path(argv[1]).write_text(yaml.dump(inlined, Dumper=Dumper, sort_keys=False, width=1000), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
