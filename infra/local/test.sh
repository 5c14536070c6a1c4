#!/usr/bin/env bash
# Command 2: the whole test suite. Formatting, lints, unit, router and property tests,
# integration tests (the real binary against emulators it starts on free loopback ports,
# including fault, hostile-input and a 15 s soak), the whole API through up.sh and the local
# gateway, the status page in headless Chromium (Debian's chromium and pinned npm packages,
# installed when missing), the offline stack checks (cfn-lint, checkov, mapping templates
# rendered by a Velocity engine, the Lambda zip; in the background beside the local and browser
# tests) and schemathesis over 10,000 generated requests.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$root"
export AWS_EC2_METADATA_DISABLED=true AWS_REGION=us-east-1
export CARGO_TERM_COLOR=never

step() { printf '\n==> %s\n' "$*"; }

step "emulator venv (.venv, pinned moto)"
EMULATOR_PYTHON=$(infra/local/venv.sh)
export EMULATOR_PYTHON

step "cargo fmt --check"
cargo fmt --all --check

step "cargo clippy --all-targets -- -D warnings"
cargo clippy --locked --workspace --all-targets -- -D warnings

step "cargo test (unit, router, integration)"
cargo test --locked --workspace

# The offline stack checks are mostly the Lambda zip's release build (fat LTO, one codegen unit:
# much of it on one core). They run in the background, that build first, beside the local API
# and browser tests (which spend most of their time waiting on servers), in their own session so
# that a failure here stops them too; the run waits for them, and prints their log, before the
# fuzz. Debug and release builds take separate cargo locks: up.sh's `cargo build` never waits.
step "offline stack checks (infra/checks/offline.sh): started in the background"
offline_log=$(mktemp "${TMPDIR:-/tmp}/api-sfn-offline.XXXXXX")
echo "its log, shown when they end: $offline_log"
OFFLINE_CHECKS_BUILD_FIRST=1 setsid infra/checks/offline.sh >"$offline_log" 2>&1 </dev/null &
offline_pid=$!
trap 'kill -- -"$offline_pid" 2>/dev/null || true; rm -f "$offline_log"' EXIT

step "the whole API through the local gateway, README examples included (infra/local/tests)"
# up.sh itself, on free ports; pytest's exit code 5 (nothing collected) fails the run like any other.
"$EMULATOR_PYTHON" -m pytest -p no:cacheprovider -q --no-header -rfE infra/local/tests

step "status page in headless Chromium (infra/browser/run.sh)"
infra/browser/run.sh

step "offline stack checks (infra/checks/offline.sh): waiting for them; their log follows"
offline_rc=0
wait "$offline_pid" || offline_rc=$?
trap - EXIT
cat "$offline_log"
rm -f "$offline_log"
((offline_rc == 0)) || exit "$offline_rc"

step "fuzzing the API from its OpenAPI document (infra/checks/fuzz.sh)"
infra/checks/fuzz.sh
