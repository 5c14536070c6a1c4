#!/usr/bin/env bash
# Offline checks of the stack: everything that can be checked without an AWS account.
#
#   infra/checks/offline.sh
#
# Needs only python3 (3.11+), node and the Rust toolchain; installs its pinned
# tools into project-local venvs (.venv-checks/, .venv-checks-checkov/) on first
# use and whenever the requirement files change. Runs every check even after one
# fails, prints a summary line, and exits non-zero when any check failed.
#
# Environment: OFFLINE_CHECKS_SKIP_BUILD=1 skips the cargo lambda build (for quick
# iterations on the templates; CI runs everything). OFFLINE_CHECKS_BUILD_FIRST=1 runs the build
# (and sam's) before the other checks, as the test command does.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"

VENV="$ROOT/.venv-checks"
CHECKOV_VENV="$ROOT/.venv-checks-checkov"
REQUIREMENTS="$ROOT/infra/checks/requirements.txt"
CHECKOV_REQUIREMENTS="$ROOT/infra/checks/requirements-checkov.txt"
SAM_VENV="$ROOT/.venv-checks-sam"
SAM_REQUIREMENTS="$ROOT/infra/checks/requirements-sam.txt"
PYTHON="${PYTHON:-python3}"

# Never reach for instance metadata or a real account; the emulator takes any key.
export AWS_EC2_METADATA_DISABLED=true
export AWS_REGION="${AWS_REGION:-us-east-1}"
export AWS_DEFAULT_REGION="$AWS_REGION"
export AWS_ACCESS_KEY_ID=test
export AWS_SECRET_ACCESS_KEY=test
unset AWS_SESSION_TOKEN AWS_PROFILE
# checkov: no calls home for guidelines or versions.
export BC_SKIP_MAPPING=TRUE CHECKOV_SKIP_VERSION_CHECK=true
export PIP_DISABLE_PIP_VERSION_CHECK=1 PYTHONDONTWRITEBYTECODE=1 SAM_CLI_TELEMETRY=0
# The stack's Fn::ForEach (AWS::LanguageExtensions): sam build and package read it only when asked.
export SAM_CLI_ENABLE_LANGUAGE_EXTENSIONS=1

log() { printf '\n==> %s\n' "$*"; }

# ensure_venv DIR REQUIREMENTS: (re)creates DIR when REQUIREMENTS changed since its last install.
ensure_venv() {
    local dir="$1" requirements="$2" stamp want
    stamp="$dir/.requirements.sha256"
    want="$(sha256sum "$requirements" | cut -d' ' -f1)"
    if [[ -x "$dir/bin/python" && -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
        return 0
    fi
    log "installing $(basename "$requirements") into ${dir#"$ROOT"/}/"
    rm -rf "$dir"
    "$PYTHON" -m venv "$dir"
    "$dir/bin/pip" install --quiet --requirement "$requirements"
    echo "$want" >"$stamp"
}

PASSED=0
FAILED=0
FAILURES=()
# step NAME COMMAND...: runs one check in a subshell that stops at its first failing
# command (set -e holds there, unlike in an if condition), counts it, and carries on.
step() {
    local name="$1" started=$SECONDS rc
    shift
    log "$name"
    set +e
    (
        set -e
        "$@"
    )
    rc=$?
    set -e
    if ((rc == 0)); then
        PASSED=$((PASSED + 1))
        printf -- '--- ok: %s (%ss)\n' "$name" $((SECONDS - started))
    else
        FAILED=$((FAILED + 1))
        FAILURES+=("$name")
        printf -- '--- FAILED: %s (%ss)\n' "$name" $((SECONDS - started))
    fi
}

WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

ensure_venv "$VENV" "$REQUIREMENTS"
ensure_venv "$CHECKOV_VENV" "$CHECKOV_REQUIREMENTS"
ensure_venv "$SAM_VENV" "$SAM_REQUIREMENTS"
export PATH="$VENV/bin:$PATH"

check_shell() {
    shellcheck --version | sed -n 2p
    shellcheck deploy.sh infra/checks/*.sh infra/local/*.sh infra/bench/*.sh
}

check_ruff() {
    ruff --version
    # ruff.toml at the root says which rules: the defaults plus bugbear.
    ruff check infra
}

check_generated_definition() {
    python infra/api/build.py --check
}

check_openapi() {
    openapi-spec-validator infra/openapi.json
}

check_cfn_lint() {
    cfn-lint --version
    python infra/checks/inline_stack.py "$WORK/stack.inlined.yaml"
    # As written (SAM transform), and with the included gateway definition inlined.
    cfn-lint stack.yaml "$WORK/stack.inlined.yaml"
    echo "cfn-lint: no errors, no warnings"
}

check_checkov() {
    local checkov="$CHECKOV_VENV/bin/checkov" file
    "$checkov" --version
    python infra/checks/inline_stack.py "$WORK/stack.inlined.yaml"
    # And as deployed with 20 STANDARD and 20 EXPRESS workflows (Fn::ForEach expanded).
    "$SAM_VENV/bin/python" infra/checks/expand_stack.py --standard 20 --express 20 --write "$WORK/stack.workflows.json"
    for file in stack.yaml "$WORK/stack.inlined.yaml" "$WORK/stack.workflows.json"; do
        echo "checkov (cloudformation): ${file#"$WORK"/}"
        "$checkov" --quiet --compact --skip-download --framework cloudformation --file "$file" || return 1
    done
    # The served document; the gateway copy carries auth as x-amazon-apigateway-auth,
    # which checkov's OpenAPI checks do not read (it is covered by the scans above).
    # CKV_OPENAPI_5 (no operation with an empty security list) is skipped for one reason: a
    # callback link's page and answer (/callbacks/{link}) are open on purpose, as a person opens
    # them from a mail; the signed, one-time, expiring link is the credential (docs/API.md).
    echo "checkov (openapi): infra/openapi.json"
    "$checkov" --quiet --compact --skip-download --framework openapi --skip-check CKV_OPENAPI_5 \
        --file infra/openapi.json
}

# The template expanded with 1, 5, 20, 50 and 53 workflows of each type, against CloudFormation's,
# Lambda's, IAM's and EventBridge's limits (the figures in infra/DEPLOY.md).
check_workflow_figures() {
    "$SAM_VENV/bin/python" infra/checks/expand_stack.py 1 5 20 50 53
}

check_templates() {
    (cd infra/checks && python -m pytest -p no:cacheprovider -q --no-header -rfE .)
}

check_lambda_build() {
    local arch=--arm64 zip=target/lambda/sfn-results/bootstrap.zip
    if ! rustup target list --installed | grep -qx aarch64-unknown-linux-gnu; then
        echo "fetching the aarch64-unknown-linux-gnu standard library (rustup target add)"
        if ! timeout 120 rustup target add aarch64-unknown-linux-gnu; then
            arch=--x86-64
            echo "NOTE: the aarch64 standard library cannot be had here; building for x86-64 instead."
            echo "      The stack deploys arm64: deploy.sh builds for arm64 where rustup can fetch it."
        fi
    fi
    rm -f "$zip"
    echo "${arch#--}" >"$WORK/lambda-arch"
    # --bin as sam build's rust-cargolambda passes it: the same cargo features, so
    # the two builds share one compilation instead of rebuilding each other's.
    cargo lambda build --release "$arch" --output-format zip --bin sfn-results
    [[ -s "$zip" ]] || { echo "no $zip"; return 1; }
    printf 'function zip: %s, %s bytes (%s KiB), built with %s\n' \
        "$zip" "$(stat -c %s "$zip")" $(($(stat -c %s "$zip") / 1024)) "${arch#--}"
    python -c 'import sys, zipfile; sys.exit("bootstrap" not in zipfile.ZipFile(sys.argv[1]).namelist())' "$zip" ||
        { echo "bootstrap missing from $zip"; return 1; }
    # The function zip stays within 4 MiB (Lambda's cold start grows with it): 3.51 MiB when
    # this guard was set (see BENCHMARKS.md).
    (($(stat -c %s "$zip") <= 4096 * 1024)) ||
        { echo "$zip is over 4 MiB"; return 1; }
}

# start_moto: a moto server on a free 127.0.0.1 port; sets MOTO_URL. Call it in a
# step (a subshell): the server stops when that step ends.
start_moto() {
    local port
    port="$(python -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
    moto_server -H 127.0.0.1 -p "$port" >"$WORK/moto.log" 2>&1 &
    MOTO_PID=$!
    trap 'kill "$MOTO_PID" 2>/dev/null || true; wait "$MOTO_PID" 2>/dev/null || true' EXIT
    MOTO_URL="http://127.0.0.1:$port"
    local tries=0
    until python -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1] + "/moto-api/", timeout=2)' "$MOTO_URL" 2>/dev/null; do
        tries=$((tries + 1))
        ((tries < 150)) || { echo "moto did not start:"; cat "$WORK/moto.log"; return 1; }
        sleep 0.2
    done
}

check_sam_validate() {
    "$SAM_VENV/bin/sam" --version
    "$SAM_VENV/bin/sam" validate --lint --template-file stack.yaml --region "$AWS_REGION"
}

check_sam_package() {
    local sam="$SAM_VENV/bin/sam"
    if [[ "$(cat "$WORK/lambda-arch" 2>/dev/null)" != arm64 ]]; then
        echo "NOTE: sam build skipped: it builds arm64, whose standard library cannot be had here."
        return 0
    fi
    # The deploy path of deploy.sh, short of AWS: build (rust-cargolambda, arm64), then
    # package to an S3 emulator, which uploads the function, the state machine
    # definitions and the included API definition and rewrites their locations.
    SAM_CLI_BETA_RUST_CARGO_LAMBDA=1 "$sam" build --beta-features \
        --template-file stack.yaml --build-dir "$WORK/sam-build"
    start_moto
    python -c 'import boto3, sys; boto3.client("s3", endpoint_url=sys.argv[1]).create_bucket(Bucket="artifacts")' "$MOTO_URL"
    AWS_ENDPOINT_URL="$MOTO_URL" "$sam" package --region "$AWS_REGION" \
        --template-file "$WORK/sam-build/template.yaml" --s3-bucket artifacts --s3-prefix api-sfn-proto \
        --output-template-file "$WORK/packaged.yaml"
    python - "$WORK/packaged.yaml" <<'PY'
import re, sys
text = open(sys.argv[1], encoding="utf-8").read()
local = re.findall(r"(?:CodeUri|Location): (?!s3://)(\S+)", text)
assert not local, f"left unpackaged: {local}"
assert text.count("s3://artifacts/api-sfn-proto/") >= 2 and text.count("Bucket: artifacts") == 2, "artifacts missing"
print("packaged: function code, both state machine definitions and the API definition are in S3")
# Left for CloudFormation's AWS::LanguageExtensions, not worked out here with default values: the
# log subscriptions' Fn::ForEach, and the ARN prefix the functions' workflow names are cut from.
prefix = "arn:${AWS::Partition}:states:${AWS::Region}:${AWS::AccountId}:stateMachine:"
assert "Fn::ForEach::WorkflowLogSubscriptions" in text, "Fn::ForEach expanded by sam"
assert text.count(prefix) >= 10, "the workflow names' Fn::Split resolved by sam"
print("packaged: Fn::ForEach and the workflow names' Fn::Split left for AWS::LanguageExtensions")
PY
}

# build_steps: the Lambda zip and sam's build and package of the stack, the checks' long pole.
build_steps() {
    if [[ "${OFFLINE_CHECKS_SKIP_BUILD:-0}" == 1 ]]; then
        log "cargo lambda build skipped (OFFLINE_CHECKS_SKIP_BUILD=1)"
    else
        step "cargo lambda build" check_lambda_build
        step "sam build and package (S3 emulator)" check_sam_package
    fi
}

# The test command runs these checks in the background beside its local tests, and asks for the
# build first so that it overlaps them (OFFLINE_CHECKS_BUILD_FIRST=1); alone, the quick checks
# answer first.
if [[ "${OFFLINE_CHECKS_BUILD_FIRST:-0}" == 1 ]]; then
    build_steps
fi
step "shellcheck" check_shell
step "ruff (the project's Python)" check_ruff
step "gateway definition up to date" check_generated_definition
step "OpenAPI 3.1 document valid" check_openapi
step "cfn-lint" check_cfn_lint
step "sam validate --lint" check_sam_validate
step "checkov" check_checkov
step "stack with 1, 5, 20, 50 and 53 workflows: figures against the limits" check_workflow_figures
step "mapping templates, gateway definition, stack roles and targets (pytest, moto)" check_templates
if [[ "${OFFLINE_CHECKS_BUILD_FIRST:-0}" != 1 ]]; then
    build_steps
fi

log "summary"
for failure in "${FAILURES[@]+"${FAILURES[@]}"}"; do
    echo "failed: $failure"
done
echo "offline-checks: $PASSED passed, $FAILED failed"
[[ $FAILED -eq 0 ]]
