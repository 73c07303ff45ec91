#!/usr/bin/env bash
# The whole test suite: unit and integration tests (real upstream, real proxy,
# real clients). Run from anywhere: bash scripts/test.sh
# Ends with one summary line, "N passed, N failed", over every runner.
set -euo pipefail
cd "$(dirname "$0")/.."

log=$(mktemp)
trap 'rm -f "$log"' EXIT

status=0
cargo test --locked 2>&1 | tee "$log" || status=$?

passed=$(grep -Eo 'test result: [a-zA-Z]+\. [0-9]+ passed' "$log" | awk '{s+=$4} END {print s+0}')
failed=$(grep -Eo '[0-9]+ failed;' "$log" | awk '{s+=$1} END {print s+0}')
if [ "$status" -ne 0 ] && [ "$failed" -eq 0 ]; then failed=1; fi   # a build failure is a failure
echo
echo "cargo: $passed passed, $failed failed"
exit "$status"
