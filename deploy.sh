#!/usr/bin/env bash
# Builds the sfn-results function for Lambda (arm64) and deploys the api-sfn stack.
#
#   CF_BUCKET_NAME=my-artifacts ./deploy.sh     deploy (or update) the stack, with the sample machines
#   CF_BUCKET_NAME=my-artifacts ./deploy.sh --workflow ARN [--workflow ARN ...]
#                                                deploy it with your own state machines as the
#                                                workflows (no samples); each is read first
#   ./deploy.sh --workflow ARN ... --dry-run     read the workflows and print what would be
#                                                deployed; build and deploy nothing
#   ./deploy.sh --offline-checks                 only the offline checks; no AWS needed
#   ./deploy.sh --delete                         delete the stack
#   ./deploy.sh --help
#
# --workflow takes the ARN of an existing STANDARD or EXPRESS state machine in the deployment's
# account and region, served under its name at /workflows/NAME; an EXPRESS one must log at level
# ALL with execution data to a CloudWatch Logs log group. Without --workflow the stack creates
# and serves the two sample machines (also when it had workflows before).
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
#   ALLOW_CONTROL          true for the status page's stop and redrive buttons (default false)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$ROOT"

STACK_NAME="${STACK_NAME:-api-sfn-proto}"
BUILD_DIR="target/sam-build"
# The stack expands Fn::ForEach (AWS::LanguageExtensions): the SAM CLI reads such a template for
# sam build and sam deploy only when asked to (checked with SAM CLI 1.170.0).
export SAM_CLI_ENABLE_LANGUAGE_EXTENSIONS=1

say() { printf '==> %s\n' "$*"; }
die() {
    printf 'deploy.sh: %s\n' "$*" >&2
    exit 1
}
usage() { sed -n '2,/^set -euo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'; }

MODE=deploy
DRY_RUN=false
WORKFLOWS=()
while (($#)); do
    case "$1" in
        --offline-checks) MODE=offline ;;
        --delete) MODE=delete ;;
        --dry-run) DRY_RUN=true ;;
        --workflow)
            [[ -n "${2:-}" ]] || die "--workflow needs a state machine ARN"
            WORKFLOWS+=("$2")
            shift
            ;;
        --workflow=*) WORKFLOWS+=("${1#--workflow=}") ;;
        -h | --help)
            usage
            exit 0
            ;;
        *)
            usage >&2
            die "unknown argument: $1"
            ;;
    esac
    shift
done
if [[ $MODE != deploy ]] && { $DRY_RUN || ((${#WORKFLOWS[@]})); }; then
    die "--workflow and --dry-run go with a deployment, not with --${MODE/offline/offline-checks}"
fi

if [[ $MODE == offline ]]; then
    exec infra/checks/offline.sh
fi

# ---------------------------------------------------------------- prerequisites
# Everything is checked, and everything missing is named, before anything changes.
missing=()
have() { command -v "$1" >/dev/null 2>&1; }

have aws || missing+=("AWS CLI v2 (aws): https://docs.aws.amazon.com/cli/")
if ((${#WORKFLOWS[@]})) && ! have python3; then
    missing+=("python3, which reads the workflows' descriptions")
fi
# A dry run reads; only a deployment needs the build tools and the bucket.
if [[ $MODE == deploy ]] && ! $DRY_RUN; then
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
    elif [[ $MODE == deploy && -n "${CF_BUCKET_NAME:-}" ]] && ! $DRY_RUN &&
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

if $DRY_RUN; then
    say "dry run: stack $STACK_NAME, region $REGION, account $ACCOUNT"
else
    say "stack $STACK_NAME, region $REGION, account $ACCOUNT, artifacts in s3://$CF_BUCKET_NAME/$STACK_NAME/"
fi

# ---------------------------------------------------------------- workflows
# Each --workflow is read before anything is built: its type, and for EXPRESS its logging.
# Every machine that cannot be served is named with its fix, and then nothing changes.
ERR="$(mktemp)"
trap 'rm -f "$ERR"' EXIT
# describe-state-machine's JSON -> type, name, logging level, includeExecutionData, log group ARN,
# separated by 0x1f (a tab would collapse empty fields when read).
DESCRIBED='import json, sys
d = json.load(sys.stdin)
log = d.get("loggingConfiguration") or {}
groups = [(x.get("cloudWatchLogsLogGroup") or {}).get("logGroupArn", "") for x in log.get("destinations") or []]
print("\x1f".join([d.get("type", ""), d.get("name", ""), log.get("level", "OFF"),
                    str(bool(log.get("includeExecutionData"))).lower(), next((g for g in groups if g), "")]))'
# describe-subscription-filters' JSON and this stack's filter name -> the other filters' names.
OTHER_FILTERS='import json, sys
names = [f["filterName"] for f in json.load(sys.stdin).get("subscriptionFilters", [])]
print(" ".join(n for n in names if n != sys.argv[1]))'

STANDARD_ARNS=()
EXPRESS_ARNS=()
LOG_GROUPS=()
NAMES=()
SHOWN=()
refusals=()
refuse() { refusals+=("$1"$'\n'"    fix: $2"); }
# joined SEPARATOR ITEMS...: the items joined by SEPARATOR.
joined() {
    local IFS="$1"
    shift
    printf '%s' "$*"
}

for arn in "${WORKFLOWS[@]+"${WORKFLOWS[@]}"}"; do
    if [[ ! $arn =~ ^arn:aws[a-z-]*:states:([a-z0-9-]+):([0-9]{12}):stateMachine:([^:]+)$ ]]; then
        refuse "$arn is not a state machine ARN" \
            "give arn:aws:states:REGION:ACCOUNT:stateMachine:NAME ('aws stepfunctions list-state-machines' lists them; a version or alias ARN is not served)"
        continue
    fi
    arn_region="${BASH_REMATCH[1]}" arn_account="${BASH_REMATCH[2]}" name="${BASH_REMATCH[3]}"
    if [[ ! $name =~ ^[A-Za-z0-9_-]{1,80}$ ]]; then
        refuse "$arn is named $name: /workflows/{workflow} takes names of letters, digits, - and _ only" \
            "serve a machine with such a name (a state machine cannot be renamed: create one)"
        continue
    fi
    if [[ $arn_account != "$ACCOUNT" || $arn_region != "$REGION" ]]; then
        refuse "$arn is in account $arn_account, region $arn_region; this deployment is account $ACCOUNT, region $REGION" \
            "deploy where the machine is (credentials of account $arn_account, AWS_REGION=$arn_region), or give a machine of account $ACCOUNT in $REGION"
        continue
    fi
    # Names are unique within an account and region: one name twice is one machine twice.
    for known in "${NAMES[@]+"${NAMES[@]}"}"; do
        if [[ $known == "$name" ]]; then
            refuse "$arn is given twice: two workflows would have the name $name (/workflows/$name)" \
                "give each state machine once"
            continue 2
        fi
    done
    NAMES+=("$name")
    if ! described="$(aws stepfunctions describe-state-machine --state-machine-arn "$arn" --output json 2>"$ERR")"; then
        if grep -q StateMachineDoesNotExist "$ERR"; then
            refuse "$arn does not exist in account $ACCOUNT, region $REGION" \
                "check the ARN ('aws stepfunctions list-state-machines' lists the machines there)"
        else
            refuse "$arn cannot be read: $(tr '\n' ' ' <"$ERR")" \
                "let these credentials call states:DescribeStateMachine on it"
        fi
        continue
    fi
    IFS=$'\x1f' read -r type _ level with_data group_arn < <(python3 -c "$DESCRIBED" <<<"$described")
    if [[ $type == STANDARD ]]; then
        STANDARD_ARNS+=("$arn")
        SHOWN+=("$(printf '%-24s %-8s  %s' "$name" STANDARD "$arn")")
        continue
    fi
    # The fix keeps the machine's log group when it is one the stack can subscribe to.
    fix_group="arn:aws:logs:$REGION:$ACCOUNT:log-group:/aws/vendedlogs/states/$name-Logs:*"
    [[ $group_arn == arn:aws*:logs:"$REGION":"$ACCOUNT":log-group:* ]] && fix_group="$group_arn"
    fix_logging="aws stepfunctions update-state-machine --state-machine-arn $arn --logging-configuration '{\"level\":\"ALL\",\"includeExecutionData\":true,\"destinations\":[{\"cloudWatchLogsLogGroup\":{\"logGroupArn\":\"$fix_group\"}}]}' (its role needs the CloudWatch Logs delivery permissions; see infra/DEPLOY.md)"
    if [[ $level != ALL || $with_data != true || -z $group_arn ]]; then
        refuse "$arn (EXPRESS) logs at level $level, execution data $with_data, to ${group_arn:-no log group}: its results reach the API only as log records at level ALL with execution data" \
            "$fix_logging"
        continue
    fi
    if [[ ! $group_arn =~ ^arn:aws[a-z-]*:logs:([a-z0-9-]+):([0-9]{12}):log-group:([^:]+)(:\*)?$ ]] ||
        [[ ${BASH_REMATCH[1]} != "$REGION" || ${BASH_REMATCH[2]} != "$ACCOUNT" ]]; then
        refuse "$arn (EXPRESS) logs to $group_arn, not to a log group of account $ACCOUNT in $REGION, where the stack subscribes to it" \
            "$fix_logging"
        continue
    fi
    group="${BASH_REMATCH[3]}"
    EXPRESS_ARNS+=("$arn")
    SHOWN+=("$(printf '%-24s %-8s  %s  log group %s' "$name" EXPRESS "$arn" "$group")")
    for known in "${LOG_GROUPS[@]+"${LOG_GROUPS[@]}"}"; do
        [[ $known == "$group" ]] && continue 2
    done
    LOG_GROUPS+=("$group")
    # CloudWatch Logs allows 2 subscription filters per log group; the stack adds one (named
    # after the stack, so a redeploy finds its own).
    if filters="$(aws logs describe-subscription-filters --log-group-name "$group" --output json 2>"$ERR")"; then
        others="$(python3 -c "$OTHER_FILTERS" "$STACK_NAME" <<<"$filters")"
        read -ra others <<<"$others"
        if ((${#others[@]} >= 2)); then
            refuse "$arn (EXPRESS) logs to $group, which has 2 subscription filters already (${others[*]}): CloudWatch Logs allows 2 per log group" \
                "remove one ('aws logs delete-subscription-filter --log-group-name $group --filter-name NAME'), or log $name to another log group"
        fi
    else
        printf 'deploy.sh: note: cannot list the subscription filters of %s (%s); CloudWatch Logs allows 2 per log group\n' \
            "$group" "$(tr '\n' ' ' <"$ERR")" >&2
    fi
done

STANDARD_LIST="$(joined , "${STANDARD_ARNS[@]+"${STANDARD_ARNS[@]}"}")"
EXPRESS_LIST="$(joined , "${EXPRESS_ARNS[@]+"${EXPRESS_ARNS[@]}"}")"
GROUP_LIST="$(joined , "${LOG_GROUPS[@]+"${LOG_GROUPS[@]}"}")"

# ---------------------------------------------------------------- sizes
# What would otherwise fail the deployment half-way, worked out from the values the stack will
# hold (infra/checks/test_deploy.py compares these figures with the template's, expanded).
for parameter in "StandardWorkflows=$STANDARD_LIST" "ExpressWorkflows=$EXPRESS_LIST" "ExpressWorkflowLogGroups=$GROUP_LIST"; do
    value="${parameter#*=}"
    if ((${#value} > 4096)); then
        refuse "${parameter%%=*} takes ${#value} bytes; CloudFormation takes 4,096 per parameter value" \
            "deploy fewer workflows per stack"
    fi
done
# The functions name the workflows by machine name (STATE_MACHINE_ARN_PREFIX + a name is its
# ARN), each once: the STANDARD ones in ALLOWED_STATE_MACHINES, the EXPRESS ones in
# EXPRESS_STATE_MACHINES (unset when empty). Lambda allows 4,096 bytes for a function's
# variables, measured as their compact JSON ({"NAME":"value",...}). sfn-results holds the most;
# the events function is checked as well (the deliveries function's are a part of its).
# Names CloudFormation generates are counted at their longest: stack-Logical-13 random characters
# (queue names at most 80).
partition=aws url_suffix=amazonaws.com
case "$REGION" in
    cn-*) partition=aws-cn url_suffix=amazonaws.com.cn ;;
    us-gov-*) partition=aws-us-gov ;;
esac
# generated LOGICAL_ID MAX: a name CloudFormation generates, at its longest.
generated() {
    local name="$STACK_NAME-$1-XXXXXXXXXXXXX"
    printf '%s' "${name:0:$2}"
}
# names ARN...: the machines' names, comma-separated.
names() {
    local arn out=()
    for arn in "$@"; do out+=("${arn##*:}"); done
    joined , "${out[@]+"${out[@]}"}"
}
STANDARD_NAMES="$(names "${STANDARD_ARNS[@]+"${STANDARD_ARNS[@]}"}")"
EXPRESS_NAMES="$(names "${EXPRESS_ARNS[@]+"${EXPRESS_ARNS[@]}"}")"
# json_size NAME=VALUE...: the size of {"NAME":"VALUE",...} (no value here needs escaping).
json_size() {
    local pair size=1
    for pair in "$@"; do size=$((size + ${#pair} - 1 + 6)); done
    echo "$size"
}
common=(
    "WEBHOOKS_TABLE=$(generated WebhooksTable 255)"
    "DELIVERY_QUEUE_URL=https://sqs.$REGION.$url_suffix/$ACCOUNT/$(generated DeliveryQueue 80)"
    "WEBHOOK_RETRY_SCHEDULE=${WEBHOOK_RETRY_SCHEDULE:-5,300,1800,7200,18000,36000,36000}"
    "PUBLIC_BASE_URL=https://0123456789.execute-api.$REGION.$url_suffix/${STAGE_NAME:-v1}"
    "RESULTS_TABLE=$(generated ResultsTable 255)"
    "STATE_MACHINE_ARN_PREFIX=arn:$partition:states:$REGION:$ACCOUNT:stateMachine:"
    "RESULT_RETENTION_DAYS=${RESULT_RETENTION_DAYS:-0}"
    "RUST_LOG=${LOG_LEVEL:-info}"
)
((${#STANDARD_ARNS[@]})) && common+=("ALLOWED_STATE_MACHINES=$STANDARD_NAMES")
((${#EXPRESS_ARNS[@]})) && common+=("EXPRESS_STATE_MACHINES=$EXPRESS_NAMES")
results=("${common[@]}" "CURSOR_SECRET=01234567-89ab-cdef-0123-456789abcdef" "MAX_WAIT_SECONDS=25"
    "READ_REFRESH_SECONDS=30" "AWS_LAMBDA_HTTP_IGNORE_STAGE_IN_PATH=true" "ALLOW_CONTROL=${ALLOW_CONTROL:-false}")
((${#STANDARD_ARNS[@]})) && results+=("START_STATE_MACHINE=${STANDARD_ARNS[0]##*:}")
[[ -n "${ALLOWED_ORIGIN:-}" ]] && results+=("CORS_ALLOWED_ORIGINS=$ALLOWED_ORIGIN")
events=("${common[@]}" "RECONCILE_DESCRIBE_BUDGET=${RECONCILE_DESCRIBE_BUDGET:-50}")
results_environment="$(json_size "${results[@]}")"
events_environment="$(json_size "${events[@]}")"
for function in "sfn-results $results_environment" "events $events_environment"; do
    size="${function#* }"
    if ((size > 4096)); then
        refuse "the ${function%% *} function's environment would take $size bytes, $((size - 4096)) over Lambda's 4,096 for all its variables: it names every workflow once, ${#STANDARD_NAMES} bytes of STANDARD names and ${#EXPRESS_NAMES} of EXPRESS ones" \
            "deploy fewer workflows per stack, or some under shorter names (infra/DEPLOY.md, 'Bring your own workflows', has the figures)"
    fi
done
# EventBridge's default quota: 2,048 characters per pattern ("Event pattern size"). The rule
# names each STANDARD workflow while that fits; past it, it takes every machine of the account and
# region by ARN prefix, and the events function drops the others' events.
arns_json=""
for arn in "${STANDARD_ARNS[@]+"${STANDARD_ARNS[@]}"}"; do
    arns_json+="${arns_json:+,}\"$arn\""
done
pattern='{"source":["aws.states"],"detail-type":["Step Functions Execution Status Change"],"detail":{"stateMachineArn":['"$arns_json"'],"status":["SUCCEEDED","FAILED","TIMED_OUT","ABORTED"]}}'
status_rule="workflow-arns"
if ((${#pattern} > 2048)); then
    status_rule="arn-prefix"
fi

if ((${#refusals[@]})); then
    printf 'deploy.sh: these workflows cannot be deployed, nothing was changed:\n' >&2
    printf '  - %s\n' "${refusals[@]}" >&2
    exit 1
fi
if ((${#WORKFLOWS[@]})); then
    say "function environment: $results_environment of 4,096 bytes (sfn-results; the events function $events_environment)"
    if ((${#STANDARD_ARNS[@]} == 0)); then
        say "status rule: none (no STANDARD workflow: EXPRESS results arrive through their logs)"
    elif [[ $status_rule == arn-prefix ]]; then
        say "status rule: by ARN prefix, every state machine of account $ACCOUNT in $REGION (StatusRulePattern=arn-prefix): by workflow ARN its pattern would take ${#pattern} characters, over EventBridge's default 2,048; the events function ignores the other machines' stops, at one invocation each"
    else
        say "status rule: by workflow ARN, ${#pattern} of 2,048 characters"
    fi
fi

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

# ---------------------------------------------------------------- parameters
# Empty lists are passed as "" (sam deploy would otherwise keep the stack's previous workflows).
overrides=(
    "StageName=${STAGE_NAME:-v1}"
    "AuthType=${AUTH_TYPE:-AWS_IAM}"
    "ResultRetentionDays=${RESULT_RETENTION_DAYS:-0}"
    "LogLevel=${LOG_LEVEL:-info}"
    "LogExecutionData=${LOG_EXECUTION_DATA:-false}"
    "ReconcileDescribeBudget=${RECONCILE_DESCRIBE_BUDGET:-50}"
    "SetApiGatewayAccountLogsRole=$set_logs_role"
    "StandardWorkflows=${STANDARD_LIST:-\"\"}"
    "ExpressWorkflows=${EXPRESS_LIST:-\"\"}"
    "ExpressWorkflowLogGroups=${GROUP_LIST:-\"\"}"
    "StatusRulePattern=$status_rule"
)
[[ -n "${ALLOWED_ORIGIN:-}" ]] && overrides+=("AllowedOrigin=$ALLOWED_ORIGIN")
[[ -n "${ALARM_TOPIC_ARN:-}" ]] && overrides+=("AlarmTopicArn=$ALARM_TOPIC_ARN")
[[ -n "${WEBHOOK_RETRY_SCHEDULE:-}" ]] && overrides+=("WebhookRetrySchedule=$WEBHOOK_RETRY_SCHEDULE")
[[ -n "${BROWSER_USER_POOL_ARN:-}" ]] && overrides+=("BrowserUserPoolArn=$BROWSER_USER_POOL_ARN")
[[ -n "${ALLOW_CONTROL:-}" ]] && overrides+=("AllowControl=$ALLOW_CONTROL")

if $DRY_RUN; then
    if ((${#SHOWN[@]})); then
        say "workflows (${#SHOWN[@]}): name, type, state machine, log group"
        printf '    %s\n' "${SHOWN[@]}"
        printf '    POST /executions, /executions/wait: %s\n' "${STANDARD_ARNS[0]:-none (no STANDARD workflow: 404 workflow-not-found)}"
        printf '    POST /executions/sync, /executions/express: %s\n' "${EXPRESS_ARNS[0]:-none (no EXPRESS workflow: 404 workflow-not-found)}"
    else
        say "workflows: none given; the stack creates and serves its two sample machines (infra/state-machines/greeting.asl.json, STANDARD; hello.express.asl.json, EXPRESS)"
    fi
    say "sam deploy --parameter-overrides:"
    printf '    %s\n' "${overrides[@]}"
    say "dry run: nothing was built or deployed"
    exit 0
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
  $reader '$API_URL/workflows'   # the workflows, by name, with their routes
  curl -sS $sign -H 'Content-Type: application/json' \\
       -d '{"name":"Ada","echo":{"any":"JSON"},"delaySeconds":2}' '$API_URL/executions'
  # -> 202 {"executionArn": ..., "statusUrl": ...}; read the result, waiting up to 20 s:
  $reader "<statusUrl>?wait=20"
  curl -sS $sign -H 'Content-Type: application/json' -d '{"name":"Ada","echo":1}' '$API_URL/executions/sync'

See infra/DEPLOY.md for every route.
EOF
