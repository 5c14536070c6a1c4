#!/usr/bin/env bash
# Benchmark: builds the release binaries, starts the emulator and measures sfn-results side by
# side with references in one run; prints a table and writes BENCHMARKS.md.
#   infra/bench/run.sh [--seconds N] [--misses N] [--long-poll N]
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$root"
export AWS_EC2_METADATA_DISABLED=true AWS_REGION=us-east-1
python=$(infra/local/venv.sh)
if ! command -v wrk >/dev/null; then
  echo "installing wrk (Debian package)" >&2
  apt-get update -qq >/dev/null && apt-get install -y -qq wrk >/dev/null
fi
if ! command -v perf >/dev/null; then
  echo "installing perf (Debian package linux-perf)" >&2
  apt-get install -y -qq linux-perf >/dev/null || echo "perf not installed: no profile this run" >&2
fi
echo "==> building release binaries (profile 'profiling': release with symbols, for perf)" >&2
cargo build --profile profiling --locked -p sfn-results --bin sfn-results --example baseline --example miss_latency
zip=target/lambda/sfn-results/bootstrap.zip
if [ ! -s "$zip" ]; then
  # The same build as the offline checks (same pinned cargo-lambda and zig, same target dir).
  echo "==> building the Lambda zip (cargo lambda, arm64)" >&2
  venv="$root/.venv-bench"
  [ -x "$venv/bin/cargo-lambda" ] || { python3 -m venv "$venv" && "$venv/bin/pip" install --quiet \
    "$(grep '^cargo-lambda==' infra/checks/requirements.txt)" "$(grep '^ziglang==' infra/checks/requirements.txt)"; }
  rustup target add aarch64-unknown-linux-gnu >/dev/null 2>&1 || true
  PATH="$venv/bin:$PATH" cargo lambda build --release --arm64 --output-format zip --bin sfn-results \
    || PATH="$venv/bin:$PATH" cargo lambda build --release --x86-64 --output-format zip --bin sfn-results
fi
exec "$python" infra/bench/run.py --target target/profiling "$@"
