#!/usr/bin/env bash
# The status page's browser tests: Debian's chromium (installed when missing), playwright-core and
# axe-core pinned in package-lock.json, the real sfn-results binary (target/debug, built by
# `cargo test`) and the emulator, all on free loopback ports. Saves docs/status-page.png.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
export AWS_EC2_METADATA_DISABLED=true AWS_REGION=us-east-1

if [ ! -x /usr/bin/chromium ]; then
  echo "installing Debian's chromium (no browser download is reachable)" >&2
  export DEBIAN_FRONTEND=noninteractive
  # A fresh machine has no package lists yet.
  apt-get install -y -qq chromium >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq chromium; }
fi
stamp="$here/node_modules/.package-lock.sha256"
want=$(sha256sum "$here/package-lock.json" | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  (cd "$here" && npm ci --no-audit --no-fund --loglevel=error)
  echo "$want" > "$stamp"
fi
if [ ! -x "$root/target/debug/sfn-results" ]; then
  echo "target/debug/sfn-results is missing: run cargo build -p sfn-results (cargo test builds it)" >&2
  exit 1
fi
EMULATOR_PYTHON=${EMULATOR_PYTHON:-$("$root/infra/local/venv.sh")}
export EMULATOR_PYTHON
cd "$here"
exec node --test --test-reporter=spec status-page.test.mjs links.test.mjs
