"""Cold start A/B: process start to /healthz and to a first cached result, two binaries alternating.

    .venv/bin/python infra/bench/cold_ab.py OLD_BINARY NEW_BINARY   (ROUNDS=6 for 6 rounds)

Each binary first reads (and stores) a finished execution of its own, so each later reads a
result in its own format from the table; then rounds of 15 starts each, the order flipped every
round. Uses the benchmark's emulator and process helpers (run.py); build the binaries first.
"""
import json
import os
import pathlib
import statistics
import subprocess
import sys
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import run  # noqa: E402  (the benchmark's own helpers: emulator, Service)
import boto3

old, new = sys.argv[1], sys.argv[2]
emulator, endpoint = run.start_emulator()
session = boto3.Session(aws_access_key_id="test", aws_secret_access_key="test", region_name="us-east-1")
sfn = session.client("stepfunctions", endpoint_url=endpoint)
names = dict(line.split("=", 1) for line in subprocess.run(
    [run.PYTHON, str(run.ROOT / "infra/local/bootstrap.py"), "--endpoint", endpoint],
    capture_output=True, text=True, check=True).stdout.split())
greeting = names["GREETING_ARN"]
env = {**run.ENV, "RESULTS_TABLE": names["RESULTS_TABLE"], "ALLOWED_STATE_MACHINES": greeting,
       "RECONCILE_SECONDS": "0", "AWS_ENDPOINT_URL_SFN": endpoint, "AWS_ENDPOINT_URL_DYNAMODB": endpoint}
arns = {}
for label, binary in (("old", old), ("new", new)):
    arn = sfn.start_execution(stateMachineArn=greeting, name=f"cold-{label}-{os.getpid()}",
                              input=json.dumps({"name": "C", "echo": {"a": 1}, "delaySeconds": 0}))["executionArn"]
    while sfn.describe_execution(executionArn=arn)["status"] == "RUNNING":
        time.sleep(0.05)
    s = run.Service(binary, env)
    s.until_healthy()
    assert run.get(f"{s.url}/executions/{arn}")[0] == 200
    time.sleep(1.0)  # its cache write lands before it stops
    s.stop()
    arns[label] = arn
results = {k: {"healthz": [], "first": []} for k in arns}
for rnd in range(int(os.environ.get("ROUNDS", "4"))):
    for label, binary in ((("old", old), ("new", new)) if rnd % 2 == 0 else (("new", new), ("old", old))):
        h, f = [], []
        for _ in range(15):
            s = run.Service(binary, env)
            h.append(s.until_healthy() * 1000)
            status, headers, _ = run.get(f"{s.url}/executions/{arns[label]}")
            assert status == 200, status
            f.append((time.perf_counter() - s.started) * 1000)
            s.stop()
        results[label]["healthz"].append(statistics.median(h))
        results[label]["first"].append(statistics.median(f))
        print(f"round {rnd} {label}: /healthz {statistics.median(h):.1f} ms, first cached result {statistics.median(f):.1f} ms ({headers.get('Cache-Status') or headers.get('cache-status')})", flush=True)
for label in arns:
    print(label, "median of rounds: /healthz %.1f ms, first result %.1f ms" % (statistics.median(results[label]["healthz"]), statistics.median(results[label]["first"])))
emulator.stdin.close()
