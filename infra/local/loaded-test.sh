#!/usr/bin/env bash
# The README's test command as a busy machine runs it: a fresh clone of this checkout's HEAD, the
# test command (`CI=true bash .ci/run`) with two `yes > /dev/null` loops beside it for the whole
# run. Prints the clone, the log, the exit code and the total time. Issue 22's check; not part of
# the test command itself.
#   LOAD   how many busy loops (default 2)
set -uo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
clone=$(mktemp -d "${TMPDIR:-/tmp}/api-sfn-loaded-XXXXXX")
log="$clone.log"
git clone -q "$root" "$clone" || exit 1
loops=()
for _ in $(seq 1 "${LOAD:-2}"); do
  yes >/dev/null &
  loops+=($!)
done
trap 'kill "${loops[@]}" 2>/dev/null' EXIT
echo "clone $clone ($(git -C "$clone" rev-parse --short HEAD)), log $log, ${#loops[@]} busy loops"
start=$(date +%s)
(cd "$clone" && CI=true bash .ci/run) >"$log" 2>&1 </dev/null
rc=$?
echo "exit $rc after $(( $(date +%s) - start )) s"
exit "$rc"
