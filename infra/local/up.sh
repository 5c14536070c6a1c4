#!/usr/bin/env bash
# Command 1: brings up everything the service needs locally and serves until Ctrl-C.
# Installs the pinned emulator into .venv/, finds the workflows, builds sfn-results, starts the
# events function's Lambda runtime API (infra/local/lambda_runtime.py) and the emulator (state
# machine execution on; the EXPRESS machines' execution logs delivered to that runtime as a log
# subscription delivers them), creates the results table, a state machine per workflow, the
# webhooks table and the delivery queue (with its dead-letter queue), starts the local API Gateway
# (infra/local/gateway.py), which serves every route of infra/api/gateway.openapi.json, behind it
# sfn-results on an internal free port (the API, reconcile, and the webhook delivery worker), and
# sfn-results with _HANDLER=events under the runtime API (Express results become readable).
#   LISTEN_ADDR   where the API listens (default 127.0.0.1:3000; port 0 picks a free one)
#   WORKFLOW_DIRS folders (colon-separated) whose *.asl.json are workflows beside infra/state-machines/
#                 (NAME.asl.json: STANDARD workflow NAME; NAME.express.asl.json: EXPRESS; see bootstrap.py)
#   EMULATOR_PORT where the emulator listens (default: a free port)
#   WEBHOOK_RETRY_SCHEDULE, RECONCILE_SECONDS, RUST_LOG ... reach sfn-results when set
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$root"
export AWS_EC2_METADATA_DISABLED=true AWS_REGION=us-east-1
export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test
listen=${LISTEN_ADDR:-127.0.0.1:3000}

pids=()
cleanup() {
  [ ${#pids[@]} -gt 0 ] || return 0
  echo
  echo "stopping: ${pids[*]}"
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
# Ctrl-C or a TERM at any point (even mid-build) ends the script, and leaving stops what it started.
trap cleanup EXIT
trap 'exit 130' INT TERM

python=$(infra/local/venv.sh)

# Before the build: a workflow folder up.sh cannot serve is named at once, in one line.
found=$("$python" infra/local/bootstrap.py --check)
echo "==> workflows: ${found#WORKFLOWS=}"

echo "==> building sfn-results"
cargo build --locked -p sfn-results --bin sfn-results

free_port() { "$python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
# wait_ready PID FILE: waits for the "READY <port>" line a server prints, prints the port. It waits
# for the line, not for a time: the cap (2 min) is only there for a server that hangs at start.
wait_ready() {
  for _ in $(seq 1 1200); do
    grep -q '^READY' "$2" && { sed -n 's/^READY //p' "$2"; return 0; }
    kill -0 "$1" 2>/dev/null || return 1
    sleep 0.1
  done
  return 1
}

# The events function's Lambda runtime API first: the emulator's log subscription invokes it.
echo "==> starting the Lambda runtime API of the events function (infra/local/lambda_runtime.py)"
ready=$(mktemp)
"$python" infra/local/lambda_runtime.py --port 0 --function api-sfn-events >"$ready" &
pids+=($!)
runtime_port=$(wait_ready "$!" "$ready") || { echo "the Lambda runtime API did not start" >&2; exit 1; }
rm -f "$ready"
runtime="127.0.0.1:$runtime_port"

echo "==> starting the emulator (moto: Step Functions, DynamoDB, SQS)"
ready=$(mktemp)
"$python" infra/local/emulator.py --port "${EMULATOR_PORT:-0}" \
  --logs-to "http://$runtime/2015-03-31/functions/api-sfn-events/invocations" >"$ready" &
pids+=($!)
emulator_pid=$!
port=$(wait_ready "$emulator_pid" "$ready") || { echo "the emulator did not start" >&2; exit 1; }
rm -f "$ready"
emulator="http://127.0.0.1:$port"

echo "==> creating the tables, a state machine per workflow and the delivery queue"
bootstrap=$("$python" infra/local/bootstrap.py --endpoint "$emulator")
eval "$bootstrap"
# The aliases (POST /executions, /executions/wait; /executions/sync, /executions/express) start the
# first STANDARD and the first EXPRESS workflow found: infra/state-machines/ is read first, each
# folder by file name, so the samples greeting and hello, whatever WORKFLOW_DIRS adds.
first_standard=${STANDARD_WORKFLOWS%%,*}
first_express=${EXPRESS_WORKFLOWS%%,*}
prefix=$WORKFLOW_ARN_PREFIX
allowed=() gateway_iam=()
for workflow in ${WORKFLOWS//,/ }; do
  allowed+=("$prefix${workflow%:*}")
  gateway_iam+=(--workflow "$prefix${workflow%:*}")
done

service_port=$(free_port)
# The gateway first: its address is the public base URL of the statusUrl in webhook payloads.
echo "==> starting the local API Gateway on $listen (infra/api/gateway.openapi.json)"
ready=$(mktemp)
# As the stack deploys the stage: the aliases' machines and the prefix of the workflow routes' ARNs
# as stage variables, and a role that may start the workflows only (anything else is refused as IAM
# refuses it, 404 workflow-not-found).
"$python" infra/local/gateway.py --listen "$listen" --service-port "$service_port" --emulator-port "$port" \
  --stage-variable "standardStateMachineArn=$first_standard" \
  --stage-variable "expressStateMachineArn=$first_express" \
  --stage-variable "workflowArnPrefix=$prefix" "${gateway_iam[@]}" >"$ready" &
pids+=($!)
gateway_port=$(wait_ready "$!" "$ready") || { echo "the gateway did not start" >&2; exit 1; }
rm -f "$ready"
api="http://${listen%:*}:$gateway_port"

# As the stack configures the functions: every workflow readable (the service names them by their
# machines), the EXPRESS ones listed from the table (Step Functions lists no Express executions),
# reconcile on the STANDARD ones only.
export RESULTS_TABLE WEBHOOKS_TABLE DELIVERY_QUEUE_URL
ALLOWED_STATE_MACHINES=$(IFS=,; echo "${allowed[*]}")
export ALLOWED_STATE_MACHINES EXPRESS_STATE_MACHINES=$EXPRESS_WORKFLOWS
export RECONCILE_STATE_MACHINES=$STANDARD_WORKFLOWS
export AWS_ENDPOINT_URL_SFN=$emulator AWS_ENDPOINT_URL_DYNAMODB=$emulator AWS_ENDPOINT_URL_SQS=$emulator
# WEBHOOK_ALLOW_LOOPBACK: local receivers listen on http://127.0.0.1 (never set in the stack).
export WEBHOOK_ALLOW_LOOPBACK=true PUBLIC_BASE_URL=$api
# The status page's stop and redrive buttons: on here (the stack's AllowControl is off by default).
export ALLOW_CONTROL=${ALLOW_CONTROL:-true}

echo "==> starting sfn-results on 127.0.0.1:$service_port (internal)"
START_STATE_MACHINE=$first_standard LISTEN_ADDR=127.0.0.1:$service_port target/debug/sfn-results &
pids+=($!)
service_pid=$!

echo "==> starting sfn-results _HANDLER=events under the Lambda runtime API on $runtime"
# The events function as Lambda runs it: the EXPRESS machine's log records reach it through the
# emulator's log subscription and this runtime API (Lambda's retries included).
_HANDLER=events AWS_LAMBDA_RUNTIME_API=$runtime AWS_LAMBDA_FUNCTION_NAME=api-sfn-events \
AWS_LAMBDA_FUNCTION_VERSION="\$LATEST" AWS_LAMBDA_FUNCTION_MEMORY_SIZE=256 \
  target/debug/sfn-results &
pids+=($!)

# Up means answering: the banner is printed only once /healthz answers through the gateway.
healthy=false
for _ in $(seq 1 1200); do
  curl -fsS "$api/healthz" >/dev/null 2>&1 && { healthy=true; break; }
  kill -0 "$service_pid" 2>/dev/null || { echo "sfn-results did not start" >&2; exit 1; }
  sleep 0.1
done
$healthy || { echo "sfn-results did not answer /healthz through the gateway" >&2; exit 1; }

cat <<INFO

api-sfn is up.
  api         $api   (every route of infra/api/gateway.openapi.json)
  service     http://127.0.0.1:$service_port   (sfn-results alone, behind the api)
  status page $api/   (recent executions, live; GET /executions?stateMachine=… lists them)
  emulator    $emulator   (Step Functions + DynamoDB + SQS, AWS_ENDPOINT_URL for the AWS CLI/SDKs)
  runtime     http://$runtime   (the events function's Lambda runtime API; /_runtime/invocations)
  table       $RESULTS_TABLE
  webhooks    $WEBHOOKS_TABLE   (endpoints, deliveries)
  queue       $DELIVERY_QUEUE_URL   (webhook deliveries; worker in sfn-results)
  dead letters $DELIVERY_DLQ_URL
  workflows   $api/workflows   (infra/state-machines/ and WORKFLOW_DIRS, named by file)
$(for workflow in ${WORKFLOWS//,/ }; do
    name=${workflow%:*} kind=${workflow#*:}
    echo "    $name ($kind)   $prefix$name"
    echo "      POST $api/workflows/$name/executions        start: 202 + statusUrl"
    if [ "$kind" = EXPRESS ]; then
      echo "      POST $api/workflows/$name/executions/sync   run: 200 with its output"
    else
      echo "      POST $api/workflows/$name/executions/wait   start and wait: 200 with its result"
    fi
    echo "      GET  $api/workflows/$name/executions        its executions"
  done)
  aliases     POST /executions, /executions/wait -> ${first_standard##*:}; POST /executions/sync, /executions/express -> ${first_express##*:}

Try it, copy and paste (bash; the README's lines, which infra/local/tests run as written):

  # start a workflow: 202 with its executionArn and statusUrl (also in Location)
  curl -si -X POST $api/executions -H 'Content-Type: application/json' -d '{"name": "Ada", "echo": 1}'   # 202
  # start one and keep its status URL; fetch it while it runs, then wait for its result
  url=\$(curl -s -o /dev/null -w '%header{location}' -X POST $api/executions \\
    -H 'Content-Type: application/json' -d '{"name": "Ada", "echo": [1, 2], "delaySeconds": 2}')
  curl -si "\$url"                                 # 202 while it runs, with Retry-After
  curl -si "\$url?wait=10"                         # 200 once it stopped, with its output
  etag=\$(curl -s -o /dev/null -w '%header{etag}' "\$url")
  curl -si "\$url" -H "If-None-Match: \$etag"       # 304 Not Modified
  # start and wait in one request
  curl -si -X POST "$api/executions/wait?wait=10" -H 'Content-Type: application/json' -d '{"name": "Grace", "echo": "hi"}'   # 200
  # sync: run the EXPRESS workflow and answer its output
  curl -si -X POST $api/executions/sync -H 'Content-Type: application/json' -d '{"name": "Linus", "echo": true}'   # 200
  # start the EXPRESS workflow; its result is readable once its execution log reached the events function
  url=\$(curl -s -o /dev/null -w '%header{location}' -X POST $api/executions/express \\
    -H 'Content-Type: application/json' -d '{"name": "Eve", "echo": 3}')
  curl -si "\$url?wait=10"                         # 200 once its stop was logged, with its output

Webhooks: register an endpoint (its secret is shown once), run a receiver that verifies the
signatures with it (infra/local/receiver.py), start a workflow, watch the delivery arrive:

  secret=\$(curl -s -X POST $api/webhooks -H 'Content-Type: application/json' \\
    -d '{"url": "http://127.0.0.1:8899/hooks"}' | .venv/bin/python -c 'import json, sys; print(json.load(sys.stdin)["secret"])')
  .venv/bin/python infra/local/receiver.py --port 8899 --secret "\$secret" &
  curl -s -X POST $api/executions -H 'Content-Type: application/json' -d '{"name": "Ada", "echo": 1}'
  # once it stops (3 s) and is stored (reconcile, every RECONCILE_SECONDS) the receiver prints a JSON
  # line: "type": "execution.succeeded", "verified": true
  curl -s $api/webhooks                      # the endpoint (never its secret); .../{id}/deliveries

Ctrl-C stops everything this started.
INFO
wait -n "${pids[@]}"
