#!/usr/bin/env bash
# Bounded fuzzing of the Set-Cookie reader, the Cookie reader and the path
# normaliser/matcher (fuzz/fuzz_targets). Uses cargo-fuzz (libFuzzer) on the
# stable toolchain: RUSTC_BOOTSTRAP lets it pass libFuzzer's -Z flags, and no
# sanitizer is used (-s none), since stable ships no sanitizer runtimes.
#   bash scripts/fuzz.sh [SECONDS_PER_TARGET]   (default 10)
# Generated inputs go to a temporary corpus; the seeds in fuzz/corpus stay as they are.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-10}
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
export RUSTC_BOOTSTRAP=1
cargo fuzz build -s none
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
passed=0
failed=0
for target in set_cookie cookie_header path_match; do
  mkdir -p "$work/$target"
  if cargo fuzz run -s none "$target" "$work/$target" "fuzz/corpus/$target" -- \
      -max_total_time="$seconds" -print_final_stats=1 2>"$work/$target.log"; then
    runs=$(grep -Eo 'Done [0-9]+ runs' "$work/$target.log" | grep -Eo '[0-9]+' || echo '?')
    echo "fuzz $target: $runs executions in ${seconds}s, no crash"
    passed=$((passed + 1))
  else
    echo "fuzz $target: CRASH (see fuzz/artifacts/$target)"
    tail -n 30 "$work/$target.log"
    failed=$((failed + 1))
  fi
done
echo "fuzz: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
