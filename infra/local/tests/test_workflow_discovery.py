"""How up.sh finds workflows (bootstrap.py), on temporary folders and without an emulator: every
`*.asl.json` of infra/state-machines/ and of the WORKFLOW_DIRS folders, named by file; a folder it
cannot serve stops up.sh with one line, before anything is built or started.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT

SAMPLES = "greeting:STANDARD,hello:EXPRESS,orders:STANDARD,purchase-approval:STANDARD,rejected:STANDARD"
DEFINITION = '{"StartAt": "Done", "States": {"Done": {"Type": "Succeed"}}}'


def check(*folders: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, WORKFLOW_DIRS=":".join(str(f) for f in folders))
    return subprocess.run([sys.executable, str(ROOT / "infra/local/bootstrap.py"), "--check"],
                          capture_output=True, text=True, env=env, timeout=60)


def folder(root: Path, name: str, *files: str, content: str = DEFINITION) -> Path:
    path = root / name
    path.mkdir()
    for file in files:
        (path / file).write_text(content, encoding="utf-8")
    return path


def refused(run: subprocess.CompletedProcess) -> str:
    assert run.returncode == 1 and run.stdout == "", run
    lines = run.stderr.splitlines()
    assert len(lines) == 1, run.stderr  # one line, no traceback
    return lines[0]


def test_the_samples_are_the_workflows_without_workflow_dirs():
    run = check()
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == f"WORKFLOWS={SAMPLES}"


def test_workflow_dirs_adds_each_folders_files_in_order_named_by_file(tmp_path):
    first = folder(tmp_path, "first", "zeta.asl.json", "billing.express.asl.json", "notes.txt", "a.json")
    second = folder(tmp_path, "second", "Audit_2.asl.json")
    run = check(first, second)
    assert run.returncode == 0, run.stderr
    # infra/state-machines/ first, then each folder by file name: the aliases keep the samples.
    assert run.stdout.strip() == f"WORKFLOWS={SAMPLES},billing:EXPRESS,zeta:STANDARD,Audit_2:STANDARD"


def test_empty_entries_of_workflow_dirs_are_skipped(tmp_path):
    extra = folder(tmp_path, "extra", "audit.asl.json")
    env = dict(os.environ, WORKFLOW_DIRS=f":{extra}::")
    run = subprocess.run([sys.executable, str(ROOT / "infra/local/bootstrap.py"), "--check"],
                         capture_output=True, text=True, env=env, timeout=60)
    assert run.stdout.strip() == f"WORKFLOWS={SAMPLES},audit:STANDARD", run.stderr


def test_two_files_naming_one_workflow_are_refused_naming_both(tmp_path):
    standard = folder(tmp_path, "a", "billing.asl.json")
    express = folder(tmp_path, "b", "billing.express.asl.json")
    line = refused(check(standard, express))
    assert line == (f"workflows: two workflows named 'billing': {standard / 'billing.asl.json'} and "
                    f"{express / 'billing.express.asl.json'}; rename one (the file names the workflow)")


def test_a_workflow_named_like_a_sample_is_refused(tmp_path):
    line = refused(check(folder(tmp_path, "mine", "greeting.express.asl.json")))
    assert "two workflows named 'greeting'" in line and "infra/state-machines/greeting.asl.json" in line


@pytest.mark.parametrize("file", ["my orders.asl.json", "orders.v2.asl.json", ".asl.json", f"{'n' * 81}.asl.json",
                                  "ümlaut.asl.json", "x.express.express.asl.json"])
def test_a_name_that_is_not_a_state_machine_name_is_refused(tmp_path, file):
    line = refused(check(folder(tmp_path, "mine", file)))
    assert line.startswith(f"workflows: {tmp_path / 'mine' / file}: the workflow name ")
    assert "is not a state machine name (1-80 of A-Z a-z 0-9 _ -)" in line


def test_a_folder_that_does_not_exist_is_refused(tmp_path):
    assert refused(check(tmp_path / "missing")) == f"workflows: WORKFLOW_DIRS: {tmp_path / 'missing'} is not a folder"


def test_a_definition_that_is_not_json_is_refused(tmp_path):
    line = refused(check(folder(tmp_path, "mine", "broken.asl.json", content="{not json")))
    assert line.startswith(f"workflows: {tmp_path / 'mine' / 'broken.asl.json'}: not a JSON state machine definition")


def test_up_sh_stops_with_that_one_line_before_building_anything(tmp_path):
    mine = folder(tmp_path, "mine", "bad name.asl.json")
    env = dict(os.environ, WORKFLOW_DIRS=str(mine), LISTEN_ADDR="127.0.0.1:0")
    run = subprocess.run([str(ROOT / "infra/local/up.sh")], capture_output=True, text=True, env=env, timeout=300)
    assert run.returncode != 0
    assert run.stderr.strip().splitlines()[-1] == (
        f"workflows: {mine / 'bad name.asl.json'}: the workflow name 'bad name' is not a state machine name "
        "(1-80 of A-Z a-z 0-9 _ -); rename the file NAME.asl.json or NAME.express.asl.json")
    assert "building sfn-results" not in run.stdout and "stopping" not in run.stdout
