"""The README's local curl examples, run as written against what up.sh serves, and printed by up.sh.

Each `curl -si` line ends with a comment naming the status it answers (`# 202 ...`); the examples
run in bash with the README's address replaced by the one up.sh got, and the statuses seen must
be those, in order.
"""

from __future__ import annotations

import re
import subprocess

from conftest import ROOT

README = (ROOT / "README.md").read_text(encoding="utf-8")
ADDRESS = "http://127.0.0.1:3000"
BLOCKS = [b for b in re.findall(r"```sh\n(.*?)```", README, re.S) if ADDRESS in b]


def logical_lines(block: str) -> list[str]:
    return block.replace("\\\n", " ").splitlines()


def test_the_readme_has_local_examples_and_each_curl_names_its_status():
    assert len(BLOCKS) >= 3
    for block in BLOCKS:
        for line in logical_lines(block):
            if "curl -si" in line:
                assert re.search(r"#\s*\d{3}\b", line), f"no expected status on: {line}"


def test_the_readme_examples_answer_the_statuses_they_name(local):
    for block in BLOCKS:
        expected = [int(re.search(r"#\s*(\d{3})\b", line).group(1))
                    for line in logical_lines(block) if "curl -si" in line]
        script = "set -euo pipefail\n" + block.replace(ADDRESS, local.api)
        run = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=120)
        assert run.returncode == 0, run.stderr
        # A body need not end with a newline, so the next status line may follow it directly.
        seen = [int(s) for s in re.findall(r"HTTP/1\.1 (\d{3}) ", run.stdout)]
        assert seen == expected, f"{block}\n{run.stdout}"


def test_up_sh_prints_the_readmes_first_examples_with_its_address(local):
    first = README.split("using only the API", 1)[1].split("```sh\n", 1)[1].split("```", 1)[0]
    printed = [line.strip() for line in local.banner.splitlines()]
    for line in first.splitlines():
        if line.strip():
            assert line.strip().replace(ADDRESS, local.api) in printed, line
