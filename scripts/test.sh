#!/usr/bin/env bash
# The whole test suite: Rust unit and integration tests (real upstream, real
# proxy, real clients), then the end-to-end proof against real Next.js +
# NextAuth apps and a real browser (tests/e2e/run.sh). Run from anywhere:
#   bash scripts/test.sh
# Needs: a Rust toolchain, Node 20 with npm, and Debian's redis-server, nginx
# and chromium packages (installed here when missing and running as root). E2E=0 skips the
# end-to-end part (the quick loop is plain `cargo test`).
# Ends with one summary line, "N passed, N failed", over every runner.
set -uo pipefail
cd "$(dirname "$0")/.."

log=$(mktemp)
trap 'rm -f "$log"' EXIT

# install_missing COMMAND PACKAGE...: Debian packages for what is missing, when
# running as root with apt-get (CI, containers); otherwise the tests say what
# they lack.
install_missing() {
  local missing=() cmd pkg
  while [ $# -gt 0 ]; do
    cmd=$1 pkg=$2
    shift 2
    command -v "$cmd" >/dev/null || missing+=("$pkg")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "== installing Debian's ${missing[*]}"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
}

# The Redis guard store's tests start their own redis-server.
install_missing redis-server redis-server redis-cli redis-tools

status=0
cargo test --locked 2>&1 | tee "$log" || status=$?
passed=$(grep -Eo 'test result: [a-zA-Z]+\. [0-9]+ passed' "$log" | awk '{s+=$4} END {print s+0}')
failed=$(grep -Eo '[0-9]+ failed;' "$log" | awk '{s+=$1} END {print s+0}')
if [ "$status" -ne 0 ] && [ "$failed" -eq 0 ]; then failed=1; fi   # a build failure is a failure

if [ "${E2E:-1}" != 0 ]; then
  # chromium for the browser checks, nginx as the replicas' round robin
  install_missing chromium chromium nginx nginx caddy caddy openssl openssl certutil libnss3-tools
  echo "== end-to-end: bash tests/e2e/run.sh"
  e2e_status=0
  COOKIEGUARD_BIN=target/debug/cookieguard bash tests/e2e/run.sh 2>&1 | tee "$log" || e2e_status=$?
  e2e_line=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$log" | tail -n 1)
  if [ -n "$e2e_line" ]; then
    e2e_passed=${e2e_line%% passed*}
    e2e_failed=${e2e_line#*, }
    passed=$((passed + e2e_passed))
    failed=$((failed + ${e2e_failed%% failed*}))
  else
    failed=$((failed + 1))   # the end-to-end run did not get to its summary
  fi
  if [ "$e2e_status" -ne 0 ]; then status=$e2e_status; fi
fi

echo
echo "all: $passed passed, $failed failed"
exit "$status"
