#!/usr/bin/env bash
# Command 1: brings up everything the service needs locally and serves until Ctrl-C.
# Installs the pinned emulator into .venv/, starts it (state machine execution on), creates the
# results table and the sample state machines from infra/, builds and starts sfn-results.
#   LISTEN_ADDR   where the service listens (default 127.0.0.1:3000)
#   EMULATOR_PORT where the emulator listens (default: a free port)
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$root"
export AWS_EC2_METADATA_DISABLED=true AWS_REGION=us-east-1
export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test
listen=${LISTEN_ADDR:-127.0.0.1:3000}

pids=()
cleanup() {
  echo
  echo "stopping: ${pids[*]:-nothing}"
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
# Ctrl-C or a TERM at any point (even mid-build) ends the script, and leaving stops what it started.
trap cleanup EXIT
trap 'exit 130' INT TERM

python=$(infra/local/venv.sh)

echo "==> building sfn-results"
cargo build --locked -p sfn-results --bin sfn-results

echo "==> starting the emulator (moto, Step Functions + DynamoDB)"
ready=$(mktemp)
"$python" infra/local/emulator.py --port "${EMULATOR_PORT:-0}" >"$ready" &
pids+=($!)
for _ in $(seq 1 300); do
  grep -q '^READY' "$ready" && break
  kill -0 "${pids[0]}" 2>/dev/null || { echo "the emulator did not start" >&2; exit 1; }
  sleep 0.1
done
port=$(sed -n 's/^READY //p' "$ready")
rm -f "$ready"
[ -n "$port" ] || { echo "the emulator did not report its port" >&2; exit 1; }
emulator="http://127.0.0.1:$port"

echo "==> creating the table and the sample state machines"
bootstrap=$("$python" infra/local/bootstrap.py --endpoint "$emulator")
eval "$bootstrap"

echo "==> starting sfn-results on $listen"
RESULTS_TABLE=$RESULTS_TABLE \
ALLOWED_STATE_MACHINES="$GREETING_ARN,$REJECTED_ARN" \
START_STATE_MACHINE=$GREETING_ARN \
AWS_ENDPOINT_URL_SFN=$emulator AWS_ENDPOINT_URL_DYNAMODB=$emulator \
LISTEN_ADDR=$listen \
  target/debug/sfn-results &
pids+=($!)
for _ in $(seq 1 100); do
  curl -fsS "http://$listen/healthz" >/dev/null 2>&1 && break
  kill -0 "${pids[1]}" 2>/dev/null || { echo "sfn-results did not start" >&2; exit 1; }
  sleep 0.1
done

execution_arn="${GREETING_ARN/:stateMachine:/:execution:}:demo-\$(date +%s)"
cat <<INFO

api-sfn is up.
  service     http://$listen   (GET /executions/{executionArn}, /executions?stateMachine=…, /healthz, /openapi.json)
  status page http://$listen/   (recent executions, live)
  emulator    $emulator   (Step Functions + DynamoDB, AWS_ENDPOINT_URL for the AWS CLI/SDKs)
  table       $RESULTS_TABLE
  machines    $GREETING_ARN
              $REJECTED_ARN
              $EXPRESS_ARN

Start an execution (through the Step Functions API, as API Gateway does) and fetch its result:

  arn="$execution_arn"
  curl -s $emulator/ --aws-sigv4 aws:amz:us-east-1:states --user test:test \\
    -H 'Content-Type: application/x-amz-json-1.0' -H 'X-Amz-Target: AWSStepFunctions.StartExecution' \\
    -d "{\"stateMachineArn\":\"$GREETING_ARN\",\"name\":\"\${arn##*:}\",\"input\":\"{\\\\\"name\\\\\":\\\\\"Ada\\\\\",\\\\\"echo\\\\\":[1,2]}\"}"
  curl -si "http://$listen/executions/\$arn"            # 202 while it runs (3 s)
  curl -si "http://$listen/executions/\$arn?wait=10"    # waits, then 200 with the output

Ctrl-C stops everything this started.
INFO
wait -n "${pids[@]}"
