#!/usr/bin/env bash
# Command 2: the whole test suite. Formatting, lints, unit, router and property tests,
# integration tests (the real binary against emulators it starts on free loopback ports,
# including fault, hostile-input and a 15 s soak), the whole API through up.sh and the local
# gateway, the status page in headless Chromium (Debian's chromium and pinned npm packages,
# installed when missing), schemathesis over 10,000 generated requests,
# and the offline stack checks (cfn-lint,
# checkov, mapping templates rendered by a Velocity engine, the Lambda zip).
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

step "the whole API through the local gateway, README examples included (infra/local/tests)"
# up.sh itself, on free ports; pytest's exit code 5 (nothing collected) fails the run like any other.
"$EMULATOR_PYTHON" -m pytest -p no:cacheprovider -q --no-header -rfE infra/local/tests

step "status page in headless Chromium (infra/browser/run.sh)"
infra/browser/run.sh

step "fuzzing the API from its OpenAPI document (infra/checks/fuzz.sh)"
infra/checks/fuzz.sh

step "offline stack checks (infra/checks/offline.sh)"
infra/checks/offline.sh
