#!/usr/bin/env bash
# Builds the sfn-results function for Lambda (arm64) and deploys the api-sfn stack.
#
#   CF_BUCKET_NAME=my-artifacts ./deploy.sh     deploy (or update) the stack
#   ./deploy.sh --offline-checks                 only the offline checks; no AWS needed
#   ./deploy.sh --delete                         delete the stack
#   ./deploy.sh --help
#
# Settings (environment):
#   CF_BUCKET_NAME         S3 bucket for the packaged artifacts (required to deploy)
#   STACK_NAME             stack name (default api-sfn-proto)
#   AWS_REGION / profile   the AWS CLI's own conventions pick region and credentials
#   STAGE_NAME             API stage (default v1)
#   AUTH_TYPE              AWS_IAM (default) or NONE
#   ALLOWED_ORIGIN         one browser origin for CORS, e.g. https://app.example.com (default none)
#   RESULT_RETENTION_DAYS  days to keep final results, 0 = forever (default 0)
#   LOG_LEVEL              function log level: error|warn|info|debug|trace (default info)
#   LOG_EXECUTION_DATA     true to log the STANDARD machine's inputs/outputs (default false;
#                          the EXPRESS machine's are always logged: its results come from them)
#   RECONCILE_DESCRIBE_BUDGET  DescribeExecution calls per reconcile run and machine (default 50)
#   ALARM_TOPIC_ARN        SNS topic for the dead-letter alarms (default none)
#   WEBHOOK_RETRY_SCHEDULE seconds before each webhook retry, comma-separated (default the stack's)
#   BROWSER_USER_POOL_ARN  Cognito user pool whose users may read through a browser (default none)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$ROOT"

STACK_NAME="${STACK_NAME:-api-sfn-proto}"
BUILD_DIR="target/sam-build"

say() { printf '==> %s\n' "$*"; }
die() {
    printf 'deploy.sh: %s\n' "$*" >&2
    exit 1
}
usage() { sed -n '2,/^set -euo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'; }

MODE=deploy
case "${1:-}" in
    "") ;;
    --offline-checks) MODE=offline ;;
    --delete) MODE=delete ;;
    -h | --help)
        usage
        exit 0
        ;;
    *)
        usage >&2
        die "unknown argument: $1"
        ;;
esac

if [[ $MODE == offline ]]; then
    exec infra/checks/offline.sh
fi

# ---------------------------------------------------------------- prerequisites
# Everything is checked, and everything missing is named, before anything changes.
missing=()
have() { command -v "$1" >/dev/null 2>&1; }

have aws || missing+=("AWS CLI v2 (aws): https://docs.aws.amazon.com/cli/")
if [[ $MODE == deploy ]]; then
    have sam || missing+=("AWS SAM CLI (sam): pip install aws-sam-cli")
    have cargo || missing+=("Rust toolchain (cargo): https://rustup.rs")
    if ! { have cargo && cargo lambda --version >/dev/null 2>&1; }; then
        missing+=("cargo-lambda: pip install cargo-lambda (or see https://www.cargo-lambda.info)")
    fi
    if ! { have zig || python3 -c 'import ziglang' >/dev/null 2>&1; }; then
        missing+=("zig, which cargo-lambda cross-compiles with: pip install ziglang")
    fi
    if have rustup && ! rustup target list --installed | grep -qx aarch64-unknown-linux-gnu; then
        missing+=("the arm64 Rust standard library: rustup target add aarch64-unknown-linux-gnu")
    fi
    [[ -n "${CF_BUCKET_NAME:-}" ]] || missing+=("CF_BUCKET_NAME: an S3 bucket (in the deploy region) for the packaged artifacts")
fi

REGION="${AWS_REGION:-${AWS_DEFAULT_REGION:-}}"
if have aws; then
    [[ -n "$REGION" ]] || REGION="$(aws configure get region 2>/dev/null || true)"
    [[ -n "$REGION" ]] || missing+=("an AWS region: set AWS_REGION or 'aws configure set region ...'")
    if ! ACCOUNT="$(aws sts get-caller-identity --query Account --output text 2>/dev/null)"; then
        missing+=("AWS credentials: 'aws sts get-caller-identity' fails (aws configure / aws sso login / AWS_PROFILE)")
    elif [[ $MODE == deploy && -n "${CF_BUCKET_NAME:-}" ]] &&
        ! aws s3api head-bucket --bucket "$CF_BUCKET_NAME" >/dev/null 2>&1; then
        missing+=("access to bucket s3://$CF_BUCKET_NAME ('aws s3api head-bucket' fails)")
    fi
fi

if ((${#missing[@]})); then
    printf 'deploy.sh: missing prerequisites, nothing was changed:\n' >&2
    printf '  - %s\n' "${missing[@]}" >&2
    exit 1
fi
export AWS_REGION="$REGION"

if [[ $MODE == delete ]]; then
    say "deleting stack $STACK_NAME in $REGION (account $ACCOUNT)"
    aws cloudformation delete-stack --stack-name "$STACK_NAME"
    aws cloudformation wait stack-delete-complete --stack-name "$STACK_NAME"
    say "deleted $STACK_NAME"
    exit 0
fi

say "stack $STACK_NAME, region $REGION, account $ACCOUNT, artifacts in s3://$CF_BUCKET_NAME/$STACK_NAME/"

# ---------------------------------------------------------------- API Gateway logging role
# Access logs need the region's API Gateway account setting to name a CloudWatch
# role. Create it only when none is set, and keep it once this stack created it
# (turning it off would point the account setting at a deleted role).
set_logs_role=false
current_role="$(aws apigateway get-account --query cloudwatchRoleArn --output text 2>/dev/null || true)"
previous="$(aws cloudformation describe-stacks --stack-name "$STACK_NAME" \
    --query "Stacks[0].Parameters[?ParameterKey=='SetApiGatewayAccountLogsRole'].ParameterValue" \
    --output text 2>/dev/null || true)"
if [[ -z "$current_role" || "$current_role" == None || "$previous" == true ]]; then
    set_logs_role=true
    say "API Gateway has no CloudWatch logs role in $REGION (or this stack set it): the stack sets one"
fi

# ---------------------------------------------------------------- build
say "building the function for arm64 (sam build, rust-cargolambda)"
validate_args=(--template-file stack.yaml)
[[ -n "$REGION" ]] && validate_args+=(--region "$REGION")
sam validate --lint "${validate_args[@]}"
# rust-cargolambda is a SAM CLI beta feature.
SAM_CLI_BETA_RUST_CARGO_LAMBDA=1 sam build --beta-features \
    --template-file stack.yaml --build-dir "$BUILD_DIR"

# ---------------------------------------------------------------- deploy
overrides=(
    "StageName=${STAGE_NAME:-v1}"
    "AuthType=${AUTH_TYPE:-AWS_IAM}"
    "ResultRetentionDays=${RESULT_RETENTION_DAYS:-0}"
    "LogLevel=${LOG_LEVEL:-info}"
    "LogExecutionData=${LOG_EXECUTION_DATA:-false}"
    "ReconcileDescribeBudget=${RECONCILE_DESCRIBE_BUDGET:-50}"
    "SetApiGatewayAccountLogsRole=$set_logs_role"
)
[[ -n "${ALLOWED_ORIGIN:-}" ]] && overrides+=("AllowedOrigin=$ALLOWED_ORIGIN")
[[ -n "${ALARM_TOPIC_ARN:-}" ]] && overrides+=("AlarmTopicArn=$ALARM_TOPIC_ARN")
[[ -n "${WEBHOOK_RETRY_SCHEDULE:-}" ]] && overrides+=("WebhookRetrySchedule=$WEBHOOK_RETRY_SCHEDULE")
[[ -n "${BROWSER_USER_POOL_ARN:-}" ]] && overrides+=("BrowserUserPoolArn=$BROWSER_USER_POOL_ARN")
say "deploying $STACK_NAME"
sam deploy \
    --template-file "$BUILD_DIR/template.yaml" \
    --stack-name "$STACK_NAME" \
    --region "$REGION" \
    --s3-bucket "$CF_BUCKET_NAME" \
    --s3-prefix "$STACK_NAME" \
    --capabilities CAPABILITY_IAM CAPABILITY_AUTO_EXPAND \
    --no-confirm-changeset \
    --no-fail-on-empty-changeset \
    --parameter-overrides "${overrides[@]}"

# ---------------------------------------------------------------- outputs
output() {
    aws cloudformation describe-stacks --stack-name "$STACK_NAME" \
        --query "Stacks[0].Outputs[?OutputKey=='$1'].OutputValue" --output text
}
aws cloudformation describe-stacks --stack-name "$STACK_NAME" --query 'Stacks[0].Outputs' --output table
API_URL="$(output ApiUrl)"

if [[ "${AUTH_TYPE:-AWS_IAM}" == AWS_IAM ]]; then
    sign="--aws-sigv4 \"aws:amz:$REGION:execute-api\" --user \"\$AWS_ACCESS_KEY_ID:\$AWS_SECRET_ACCESS_KEY\" -H \"x-amz-security-token: \$AWS_SESSION_TOKEN\""
    # shellcheck disable=SC2016 # printed for the user to run, not expanded here
    creds='eval "$(aws configure export-credentials --format env)"   # SigV4 credentials for curl'
    # curl signs a path holding ':' (an ARN) differently from SigV4's canonical form; awscurl does it right.
    reader="awscurl --service execute-api --region $REGION"
else
    sign=""
    creds="# AuthType=NONE: no signature needed"
    reader="curl -sS"
fi
cat <<EOF

Deployed. Try it:

  $creds
  curl -sS $sign -H 'Content-Type: application/json' \\
       -d '{"name":"Ada","echo":{"any":"JSON"},"delaySeconds":2}' '$API_URL/executions'
  # -> 202 {"executionArn": ..., "statusUrl": ...}; read the result, waiting up to 20 s:
  $reader "<statusUrl>?wait=20"
  curl -sS $sign -H 'Content-Type: application/json' -d '{"name":"Ada","echo":1}' '$API_URL/executions/sync'

See infra/DEPLOY.md for every route.
EOF
