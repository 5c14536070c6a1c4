#!/usr/bin/env bash
# Fuzzes the sfn-results HTTP API from its own OpenAPI document with schemathesis (pinned).
#
#   infra/checks/fuzz.sh
#
# Starts its own emulator (moto, infra/local/emulator.py) on a free loopback port, creates the
# table and sample state machines, a few real executions (succeeded, failed, running), and the
# service binary target/debug/sfn-results on another free loopback port; then runs schemathesis
# against http://127.0.0.1:PORT/openapi.json on the routes the service serves (GET
# /executions/{executionArn}, POST /executions/wait, GET /healthz, GET /openapi.json; the gateway
# routes POST /executions and POST /executions/sync are not the binary's and are left out).
#
# Checks on every answer: no 5xx (not_a_server_error); status code, content type, headers and
# body conform to the document; and, from infra/checks/fuzz_hooks.py, every 4xx/5xx is
# application/problem+json with type, title, status (= HTTP status) and detail, and every answer
# carries X-Content-Type-Options: nosniff and Cache-Status.
#
# Ends with the number of cases run per route, the results per check, and one line
# `N passed, M failed` counting check results (one check on one answer); exits non-zero when any
# check failed, schemathesis reported an error, or fewer than FUZZ_MIN_CASES cases ran.
# Deterministic enough for CI: a fixed seed, no example database, a fixed number of cases per
# operation (about 10,100 in all); about 7 minutes on 2 quiet cores, 13 to 15 on busy ones.
# FUZZ_TIMEOUT guards against a hang, not a pace: the work is bounded by the case counts, and a
# loaded run (two `yes` loops and a release build beside it) once finished all its cases in
# 891 s and was then killed by the old 900 s bound while it wrote its reports.
# Schemathesis runs POST /executions/wait (it creates executions) before the reads, and one
# operation's cases one after another.
#
# Environment (all optional):
#   FUZZ_SEED=N            schemathesis/hypothesis seed (default 20261125)
#   FUZZ_EXAMPLES=N        fuzzed cases for GET /executions/{executionArn} (default 8900)
#   FUZZ_WAIT_EXAMPLES=N   fuzzed cases for POST /executions/wait (default 100; each may wait 1 s)
#   FUZZ_META_EXAMPLES=N   fuzzed cases for GET /healthz and for GET /openapi.json (default 500)
#   FUZZ_MIN_CASES=N       fail when fewer cases ran (default 10000; 0 for quick runs)
#   FUZZ_WORKERS=N         concurrent schemathesis workers, one operation each (default 4)
#   FUZZ_TIMEOUT=S         hard limit on the schemathesis run, a hang guard (default 1800)
#   FUZZ_REPORT_DIR=DIR    keep schemathesis' JUnit and NDJSON reports there
#
# Needs python3 (3.11+) and the Rust toolchain; installs schemathesis into the project-local
# venv .venv-fuzz/ (again whenever requirements-fuzz.txt changes). Binds and calls only 127.0.0.1.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"

VENV="$ROOT/.venv-fuzz"
REQUIREMENTS="$ROOT/infra/checks/requirements-fuzz.txt"
BINARY="$ROOT/target/debug/sfn-results"
SEED="${FUZZ_SEED:-20261125}"
EXAMPLES="${FUZZ_EXAMPLES:-8900}"
WAIT_EXAMPLES="${FUZZ_WAIT_EXAMPLES:-100}"
META_EXAMPLES="${FUZZ_META_EXAMPLES:-500}"
MIN_CASES="${FUZZ_MIN_CASES:-10000}"
WORKERS="${FUZZ_WORKERS:-4}"
TIMEOUT="${FUZZ_TIMEOUT:-1800}"

# Never reach for instance metadata or a real account; the emulator takes any key.
export AWS_EC2_METADATA_DISABLED=true AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1
export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test
unset AWS_SESSION_TOKEN AWS_PROFILE AWS_ENDPOINT_URL
export PIP_DISABLE_PIP_VERSION_CHECK=1 PYTHONDONTWRITEBYTECODE=1
# Nothing of ours goes through a proxy: all traffic is to 127.0.0.1.
export NO_PROXY=127.0.0.1,localhost no_proxy=127.0.0.1,localhost

log() { printf '\n==> %s\n' "$*" >&2; }
die() {
    printf 'fuzz.sh: %s\n' "$*" >&2
    exit 1
}

WORK="$(mktemp -d)"
EMULATOR_PID=""
SERVICE_PID=""
EMULATOR_IN=""
cleanup() {
    local rc=$?
    set +e
    if [[ -n "$SERVICE_PID" ]]; then
        kill "$SERVICE_PID" 2>/dev/null
        wait "$SERVICE_PID" 2>/dev/null
    fi
    if [[ -n "$EMULATOR_IN" ]]; then
        # Closing its standard input stops the emulator (--exit-on-eof).
        exec {EMULATOR_IN}>&-
    fi
    if [[ -n "$EMULATOR_PID" ]]; then
        for _ in $(seq 50); do
            kill -0 "$EMULATOR_PID" 2>/dev/null || break
            sleep 0.1
        done
        kill "$EMULATOR_PID" 2>/dev/null
        wait "$EMULATOR_PID" 2>/dev/null
    fi
    rm -rf "$WORK"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ensure_venv: (re)creates .venv-fuzz/ when requirements-fuzz.txt changed since its last install.
ensure_venv() {
    local stamp="$VENV/.requirements.sha256" want
    want="$(sha256sum "$REQUIREMENTS" | cut -d' ' -f1)"
    if [[ -x "$VENV/bin/schemathesis" && "$(cat "$stamp" 2>/dev/null)" == "$want" ]]; then
        return 0
    fi
    log "installing requirements-fuzz.txt into .venv-fuzz/"
    rm -rf "$VENV"
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install --quiet --requirement "$REQUIREMENTS" >&2
    echo "$want" >"$stamp"
}

free_port() {
    "$1" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# wait_for_line FILE PATTERN PID SECONDS: waits until FILE has a line matching PATTERN.
wait_for_line() {
    local file="$1" pattern="$2" pid="$3" seconds="$4" deadline
    deadline=$((SECONDS + seconds))
    until grep -qE "$pattern" "$file" 2>/dev/null; do
        kill -0 "$pid" 2>/dev/null || return 1
        ((SECONDS < deadline)) || return 1
        sleep 0.1
    done
}

log "fuzz venv (.venv-fuzz, pinned schemathesis)"
ensure_venv
"$VENV/bin/schemathesis" --version >&2

log "emulator venv (.venv, pinned moto)"
python="$(infra/local/venv.sh)"

log "emulator"
mkfifo "$WORK/emulator.in"
"$python" infra/local/emulator.py --exit-on-eof <"$WORK/emulator.in" >"$WORK/emulator.out" 2>"$WORK/emulator.err" &
EMULATOR_PID=$!
# Holding the fifo's write end open keeps the emulator alive until cleanup closes it.
exec {EMULATOR_IN}>"$WORK/emulator.in"
if ! wait_for_line "$WORK/emulator.out" '^READY [0-9]+$' "$EMULATOR_PID" 120; then
    cat "$WORK/emulator.err" >&2
    die "the emulator did not report READY"
fi
EMULATOR_PORT="$(sed -n 's/^READY \([0-9]*\)$/\1/p' "$WORK/emulator.out" | head -n1)"
EMULATOR="http://127.0.0.1:$EMULATOR_PORT"
echo "emulator on $EMULATOR" >&2

RESULTS_TABLE="" GREETING_ARN="" REJECTED_ARN="" EXPRESS_ARN=""
while IFS='=' read -r key value; do
    case "$key" in
        RESULTS_TABLE | GREETING_ARN | REJECTED_ARN | EXPRESS_ARN) printf -v "$key" '%s' "$value" ;;
        # The webhooks table and queue: the fuzzed service runs without webhooks. The other
        # workflows (orders, any WORKFLOW_DIRS adds): the fuzzed service is given the samples above only.
        WEBHOOKS_TABLE | DELIVERY_QUEUE_URL | DELIVERY_DLQ_URL | *_URL | *_TABLE) ;;
        ORDERS_ARN | APPROVAL_ARN | WORKFLOWS | WORKFLOW_ARN_PREFIX | STANDARD_WORKFLOWS | EXPRESS_WORKFLOWS) ;;
        *) die "unexpected line from bootstrap.py: $key=$value" ;;
    esac
done < <("$python" infra/local/bootstrap.py --endpoint "$EMULATOR")
[[ -n "$RESULTS_TABLE" && -n "$GREETING_ARN" && -n "$REJECTED_ARN" && -n "$EXPRESS_ARN" ]] ||
    die "bootstrap.py did not print every resource"

log "executions to read (succeeded, failed, running)"
# Prints one quoted ARN a line (schemathesis' dictionary format): real executions in every state the service answers differently, then
# well-formed ARNs that reach each of its refusals. Always named (moto needs a name).
"$python" - "$EMULATOR" "$GREETING_ARN" "$REJECTED_ARN" "$EXPRESS_ARN" >"$WORK/arns.txt" <<'PY'
import json
import sys
import time

import boto3

endpoint, greeting, rejected, express = sys.argv[1:5]
sfn = boto3.Session(aws_access_key_id="test", aws_secret_access_key="test", region_name="us-east-1").client(
    "stepfunctions", endpoint_url=endpoint
)
started = [
    sfn.start_execution(stateMachineArn=greeting, name="fuzz-succeeded", input='{"name": "Ada", "delaySeconds": 0, "echo": [1, "two", {"3": null}]}'),
    sfn.start_execution(stateMachineArn=greeting, name="fuzz-succeeded-unicode", input='{"name": "Zoë \\u2603", "delaySeconds": 0, "echo": "<script>"}'),
    sfn.start_execution(stateMachineArn=rejected, name="fuzz-failed", input="{}"),
    sfn.start_execution(stateMachineArn=greeting, name="fuzz-running", input='{"name": "Bob", "delaySeconds": 86400}'),
    sfn.start_execution(stateMachineArn=greeting, name="fuzz-aborted", input='{"name": "Eve", "delaySeconds": 86400}'),
]
sfn.stop_execution(executionArn=started[-1]["executionArn"], error="Fuzz.Stopped", cause="stopped by fuzz.sh")
arns = [s["executionArn"] for s in started]
deadline = time.monotonic() + 30
for arn, want in zip(arns, ["SUCCEEDED", "SUCCEEDED", "FAILED", "RUNNING", "ABORTED"]):
    while (status := sfn.describe_execution(executionArn=arn)["status"]) != want:
        if time.monotonic() > deadline:
            sys.exit(f"{arn} is {status}, not {want}")
        time.sleep(0.1)
prefix = greeting.replace(":stateMachine:", ":execution:")
foreign = express.replace(":stateMachine:", ":execution:")
arns += [
    prefix + ":fuzz-never-started",  # allowed machine, unknown execution: 404
    foreign + ":fuzz-foreign",  # machine not allowed: 403
    prefix.replace(":execution:", ":express:") + ":fuzz-express:0f1e2d3c",  # EXPRESS ARN, nothing logged: 404
    greeting,  # a state machine ARN, not an execution: 400
]
print("\n".join(json.dumps(arn) for arn in arns))
PY
cat "$WORK/arns.txt" >&2

log "service (target/debug/sfn-results)"
if [[ ! -x "$BINARY" ]]; then
    # The test command builds it with `cargo test --workspace`; build the same feature set.
    cargo test --workspace --no-run --locked >&2
fi
[[ -x "$BINARY" ]] || die "$BINARY is missing after cargo test --no-run"
SERVICE_PORT="$(free_port "$python")"
SERVICE="http://127.0.0.1:$SERVICE_PORT"
env AWS_REGION=us-east-1 AWS_EC2_METADATA_DISABLED=true \
    AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test \
    AWS_ENDPOINT_URL_SFN="$EMULATOR" AWS_ENDPOINT_URL_DYNAMODB="$EMULATOR" \
    RESULTS_TABLE="$RESULTS_TABLE" \
    ALLOWED_STATE_MACHINES="$GREETING_ARN,$REJECTED_ARN" \
    START_STATE_MACHINE="$GREETING_ARN" \
    MAX_WAIT_SECONDS=1 \
    CORS_ALLOWED_ORIGINS=https://app.example.com \
    LISTEN_ADDR="127.0.0.1:$SERVICE_PORT" \
    RUST_LOG=warn \
    "$BINARY" >"$WORK/service.log" 2>&1 &
SERVICE_PID=$!
deadline=$((SECONDS + 30))
until [[ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$SERVICE/healthz")" == 200 ]]; do
    if ! kill -0 "$SERVICE_PID" 2>/dev/null || ((SECONDS >= deadline)); then
        cat "$WORK/service.log" >&2
        die "the service did not answer GET /healthz with 200"
    fi
    sleep 0.1
done
echo "service on $SERVICE" >&2

log "schemathesis: seed $SEED, up to $EXAMPLES cases per operation and phase, $WORKERS workers"
REPORT_DIR="${FUZZ_REPORT_DIR:-$WORK/report}"
mkdir -p "$REPORT_DIR"
# The real executions are offered as path values next to generated ones (dictionary binding).
cat >"$WORK/schemathesis.toml" <<TOML
seed = $SEED
workers = $WORKERS
continue-on-failure = true
request-timeout = 10

[generation]
database = "none"
max-examples = $EXAMPLES

[dictionaries.execution-arns]
from-file = "arns.txt"

[parameters]
"path.executionArn" = { dictionary = "execution-arns", probability = 0.25 }

# POST /executions/wait holds each request that starts an execution for up to MAX_WAIT_SECONDS
# (1 s), and schemathesis runs one operation's cases one after another: fewer cases there.
# (With [phases.fuzzing] operation-ordering = "none" the operations would run side by side, but
# schemathesis 4.32.5 then ends every operation's fuzzing when the first one is done.)
[[operations]]
include-path = "/executions/wait"
generation = { max-examples = $WAIT_EXAMPLES }

[[operations]]
include-path = "/healthz"
generation = { max-examples = $META_EXAMPLES }

[[operations]]
include-path = "/openapi.json"
generation = { max-examples = $META_EXAMPLES }
TOML
set +e
# Hypothesis keeps its caches in the work directory, not in a .hypothesis/ of the checkout.
HYPOTHESIS_STORAGE_DIRECTORY="$WORK/hypothesis" PYTHONPATH="$ROOT/infra/checks" SCHEMATHESIS_HOOKS=fuzz_hooks \
    timeout --signal=INT --kill-after=30 "$TIMEOUT" \
    "$VENV/bin/schemathesis" --config-file "$WORK/schemathesis.toml" run \
    --include-path "/executions/{executionArn}" --include-path /executions/wait \
    --include-path /healthz --include-path /openapi.json \
    --checks not_a_server_error,status_code_conformance,content_type_conformance,response_headers_conformance,response_schema_conformance,problem_json_errors,nosniff_header,cache_status_header \
    --report junit,ndjson --report-dir "$REPORT_DIR" \
    --no-color \
    "$SERVICE/openapi.json"
rc=$?
set -e
if ((rc == 124 || rc == 130)); then
    echo "fuzz.sh: schemathesis did not finish within ${TIMEOUT}s" >&2
fi

log "summary"
# Counts from schemathesis' own NDJSON event log: cases = requests that got an answer; a check
# result is one check on one answer. The last line is `N passed, M failed` over check results.
ndjson="$(find "$REPORT_DIR" -maxdepth 1 -name 'ndjson-*.ndjson' -newer "$WORK/schemathesis.toml" | sort | tail -n1)"
[[ -n "$ndjson" ]] || die "schemathesis wrote no NDJSON report"
"$VENV/bin/python" - "$ndjson" "$rc" "$MIN_CASES" <<'PY'
import collections
import json
import sys

path, rc, min_cases = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
cases = collections.Counter()
statuses = collections.defaultdict(collections.Counter)
checks = collections.defaultdict(collections.Counter)
dropped = 0
with open(path, encoding="utf-8") as events:
    for line in events:
        event = json.loads(line)
        finished = event.get("ScenarioFinished")
        if finished is None:
            continue
        recorder = finished["recorder"]
        label = recorder["label"]
        dropped += sum(recorder.get("filtered_failures", {}).values())
        for interaction in recorder.get("interactions", {}).values():
            response = interaction.get("response")
            if response is not None:
                cases[label] += 1
                statuses[label][response["status_code"]] += 1
        for results in recorder.get("checks", {}).values():
            for result in results:
                checks[result["name"]][result["status"]] += 1

print(f"cases run: {sum(cases.values())}")
for label in sorted(cases):
    answers = ", ".join(f"{code}: {n}" for code, n in sorted(statuses[label].items()))
    print(f"  {label}: {cases[label]} cases ({answers})")
print("check results:")
for name in sorted(checks):
    counts = checks[name]
    print(f"  {name}: {counts['success']} passed, {counts['failure'] + counts['error']} failed")
if dropped:
    print(f"  (accepted by fuzz_hooks.filter_failure: {dropped} bare 400s from the HTTP parser, see fuzz_hooks.py)")
passed = sum(counts["success"] for counts in checks.values())
failed = sum(counts["failure"] + counts["error"] for counts in checks.values())
if sum(cases.values()) < min_cases:
    print(f"fewer cases than the {min_cases} asked for (FUZZ_MIN_CASES): counted as one failure")
    failed += 1
if rc != 0 and failed == 0:
    print(f"schemathesis exited with {rc} (errors or an interrupted run): counted as one failure")
    failed = 1
print(f"{passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
PY
