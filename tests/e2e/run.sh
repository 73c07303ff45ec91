#!/usr/bin/env bash
# End-to-end proof for cookieguard: two real Next.js + NextAuth apps (v4 pages router,
# v5/Auth.js app router with middleware), each run directly and behind cookieguard
# (--mode strip; --mode report as a control; --mode guard when the binary has it).
#
#   bash tests/e2e/run.sh
#
# Env:
#   COOKIEGUARD_BIN    proxy binary (default target/debug/cookieguard, relative to the repo
#                      root); built with `cargo build` when missing and the default is used
#   RACE_TRIALS        race trials per app and target (default 50)
#   RACE_SLOW_MS       delay of the slow session-reading request (default 600)
#   RACE_PARALLEL      independent signed-in clients per race run (default 5)
#   RACE_CHUNKED_TRIALS trials with a chunked (name.0, name.1) session cookie (default 20)
#   BROWSER_ATTEMPTS   browser attempts per app and target (default 4)
#   BROWSER_SLOW_MS    delay of the page's slow fetches (default 1500)
#   CHROMIUM_PATH      default /usr/bin/chromium (Debian package `chromium`)
#   E2E_SKIP_BROWSER=1 skip the browser checks (they are then not counted)
#   E2E_REBUILD=1      always run `next build`
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(git -C "$HERE" rev-parse --show-toplevel 2>/dev/null || (cd "$HERE/../.." && pwd))"
cd "$ROOT"

BIN="${COOKIEGUARD_BIN:-target/debug/cookieguard}"
case "$BIN" in /*) ;; *) BIN="$ROOT/$BIN" ;; esac
RACE_TRIALS="${RACE_TRIALS:-50}"
RACE_SLOW_MS="${RACE_SLOW_MS:-600}"
RACE_PARALLEL="${RACE_PARALLEL:-5}"
RACE_CHUNKED_TRIALS="${RACE_CHUNKED_TRIALS:-20}"
BROWSER_ATTEMPTS="${BROWSER_ATTEMPTS:-4}"
BROWSER_SLOW_MS="${BROWSER_SLOW_MS:-1500}"
export CHROMIUM_PATH="${CHROMIUM_PATH:-/usr/bin/chromium}"
export NEXT_TELEMETRY_DISABLED=1

LOG_DIR="$HERE/.run"
mkdir -p "$LOG_DIR"
rm -f "$LOG_DIR"/*.log

T0=$(date +%s)
log() { printf '[e2e %4ss] %s\n' "$(($(date +%s) - T0))" "$*" >&2; }

# ---------------------------------------------------------------- cleanup
PIDS=()
CHECK_PID=
cleanup() {
  local rc=$?
  local pid
  if [ -n "$CHECK_PID" ]; then
    kill -TERM "$CHECK_PID" 2>/dev/null || true
    wait "$CHECK_PID" 2>/dev/null || true
  fi
  for pid in "${PIDS[@]}"; do
    kill -TERM "$pid" 2>/dev/null || true
  done
  for pid in "${PIDS[@]}"; do
    for _ in $(seq 1 50); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
      log "pid $pid did not stop on SIGTERM, sending SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
    fi
    wait "$pid" 2>/dev/null || true
  done
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# start NAME LOGFILE CMD... : runs CMD in the background, records its pid in PIDS and
# $STARTED_PID (`next start` serves in that very process, and so does cookieguard).
# Secrets go through `env` arguments, so the command line is not logged.
start() {
  local name="$1" logfile="$2"
  shift 2
  "$@" >"$logfile" 2>&1 </dev/null &
  STARTED_PID=$!
  PIDS+=("$STARTED_PID")
  log "started $name (pid $STARTED_PID, log ${logfile#"$ROOT"/})"
}

# wait_http NAME PID URL : waits until URL answers (any HTTP status) while PID lives
wait_http() {
  local name="$1" pid="$2" url="$3"
  for _ in $(seq 1 300); do
    if ! kill -0 "$pid" 2>/dev/null; then
      log "$name (pid $pid) exited before answering $url"
      return 1
    fi
    if node -e 'fetch(process.argv[1],{redirect:"manual"}).then(()=>process.exit(0),()=>process.exit(1))' "$url" 2>/dev/null; then
      return 0
    fi
    sleep 0.2
  done
  log "$name did not answer $url within 60 s"
  return 1
}

# ---------------------------------------------------------------- install
need_ci() {
  local dir="$1"
  [ ! -f "$dir/node_modules/.package-lock.json" ] && return 0
  [ "$dir/package-lock.json" -nt "$dir/node_modules/.package-lock.json" ] && return 0
  return 1
}
for dir in "$HERE" "$HERE/app-v4" "$HERE/app-v5"; do
  if need_ci "$dir"; then
    log "npm ci in ${dir#"$ROOT"/}"
    (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error >"$LOG_DIR/npm-ci-$(basename "$dir").log" 2>&1) || {
      tail -n 30 "$LOG_DIR/npm-ci-$(basename "$dir").log" >&2
      log "npm ci failed in $dir"
      exit 1
    }
  fi
done

# ---------------------------------------------------------------- build (one at a time)
need_build() {
  local dir="$1"
  [ "${E2E_REBUILD:-0}" = 1 ] && return 0
  [ ! -f "$dir/.next/BUILD_ID" ] && return 0
  [ -n "$(cd "$dir" && find . \( -path ./node_modules -o -path ./.next \) -prune -o -type f -newer .next/BUILD_ID -print | head -n 1)" ]
}
for app in app-v4 app-v5; do
  if need_build "$HERE/$app"; then
    log "next build $app"
    (cd "$HERE/$app" && node_modules/.bin/next build >"$LOG_DIR/build-$app.log" 2>&1) || {
      tail -n 40 "$LOG_DIR/build-$app.log" >&2
      log "next build failed for $app"
      exit 1
    }
  else
    log "$app: build is up to date"
  fi
done

# ---------------------------------------------------------------- proxy binary
if [ ! -x "$BIN" ] && [ -z "${COOKIEGUARD_BIN:-}" ] && [ -f "$ROOT/Cargo.toml" ]; then
  log "cookieguard binary missing, running cargo build"
  cargo build --quiet >"$LOG_DIR/cargo-build.log" 2>&1 || { tail -n 40 "$LOG_DIR/cargo-build.log" >&2; log "cargo build failed"; }
fi
HAVE_PROXY=1
if [ ! -x "$BIN" ]; then
  log "cookieguard binary not found at $BIN: the through-proxy checks will fail"
  HAVE_PROXY=0
fi

# ---------------------------------------------------------------- ports, secrets
read -r P_V4 P_V5 P_G4 P_G5 P_R4 P_R5 P_U4 P_U5 < <(node -e '
const net = require("net");
Promise.all([0, 1, 2, 3, 4, 5, 6, 7].map(() => new Promise((ok, ko) => {
  const s = net.createServer(); s.once("error", ko);
  s.listen(0, "127.0.0.1", () => ok(s));
}))).then((ss) => {
  console.log(ss.map((s) => s.address().port).join(" "));
  ss.forEach((s) => s.close());
});')
SECRET_V4="$(node -e 'console.log(require("crypto").randomBytes(32).toString("hex"))')"
SECRET_V5="$(node -e 'console.log(require("crypto").randomBytes(32).toString("hex"))')"

# ---------------------------------------------------------------- servers
declare -A APP_URL=([v4]="http://127.0.0.1:$P_V4" [v5]="http://127.0.0.1:$P_V5")
declare -A GUARD_URL=([v4]="http://127.0.0.1:$P_G4" [v5]="http://127.0.0.1:$P_G5")
declare -A REPORT_URL=([v4]="http://127.0.0.1:$P_R4" [v5]="http://127.0.0.1:$P_R5")
declare -A GMODE_URL=([v4]="http://127.0.0.1:$P_U4" [v5]="http://127.0.0.1:$P_U5")
declare -A APP_UP=([v4]=0 [v5]=0) GUARD_UP=([v4]=0 [v5]=0) REPORT_UP=([v4]=0 [v5]=0) GMODE_UP=([v4]=0 [v5]=0)
PROXY_PIDS=()

start "app-v4 on 127.0.0.1:$P_V4" "$LOG_DIR/app-v4.log" \
  env NEXTAUTH_SECRET="$SECRET_V4" AUTH_TRUST_HOST=true \
  "$HERE/app-v4/node_modules/.bin/next" start "$HERE/app-v4" -p "$P_V4" -H 127.0.0.1
PID_V4=$STARTED_PID
start "app-v5 on 127.0.0.1:$P_V5" "$LOG_DIR/app-v5.log" \
  env AUTH_SECRET="$SECRET_V5" AUTH_TRUST_HOST=true \
  "$HERE/app-v5/node_modules/.bin/next" start "$HERE/app-v5" -p "$P_V5" -H 127.0.0.1
PID_V5=$STARTED_PID
wait_http app-v4 "$PID_V4" "${APP_URL[v4]}/api/auth/csrf" && APP_UP[v4]=1
wait_http app-v5 "$PID_V5" "${APP_URL[v5]}/api/auth/csrf" && APP_UP[v5]=1

# start_guard APP MODE URL LOGNAME: cookieguard in front of app APP
start_guard() {
  local app="$1" mode="$2" url="$3" name="$4"
  NO_COLOR=1 RUST_LOG="${RUST_LOG:-info}" start "cookieguard --mode $mode -> app-$app on ${url#http://}" "$LOG_DIR/$name.log" \
    "$BIN" --listen "${url#http://}" --upstream "${APP_URL[$app]}" --mode "$mode"
  PROXY_PIDS+=("$STARTED_PID")
  wait_http "$name" "$STARTED_PID" "$url/api/auth/csrf"
}
# `--mode guard` (strip only writes of requests that left before an update) is
# checked too when this build of cookieguard has it.
HAVE_GUARD_MODE=0
if [ "$HAVE_PROXY" = 1 ] && "$BIN" --help 2>/dev/null | grep -qE '^ +- guard:'; then
  HAVE_GUARD_MODE=1
fi
if [ "$HAVE_PROXY" = 1 ]; then
  for app in v4 v5; do
    [ "${APP_UP[$app]}" = 1 ] || continue
    start_guard "$app" strip "${GUARD_URL[$app]}" "cookieguard-$app" && GUARD_UP[$app]=1
    start_guard "$app" report "${REPORT_URL[$app]}" "cookieguard-report-$app" && REPORT_UP[$app]=1
    if [ "$HAVE_GUARD_MODE" = 1 ]; then
      start_guard "$app" guard "${GMODE_URL[$app]}" "cookieguard-guard-$app" && GMODE_UP[$app]=1
    fi
  done
fi

# ---------------------------------------------------------------- checks
PASSED=0
FAILED=0
FIGURES=()
FAILED_NAMES=()
check() {
  local name="$1"
  shift
  local out rc=0
  log "check: $name"
  # run in the background and `wait`, so that a signal reaches the trap at once
  "$@" >"$LOG_DIR/check-$name.out" 2>"$LOG_DIR/check-$name.log" &
  CHECK_PID=$!
  wait "$CHECK_PID" || rc=$?
  CHECK_PID=
  out="$(cat "$LOG_DIR/check-$name.out")"
  [ -n "$out" ] && FIGURES+=("$out")
  if [ "$rc" = 0 ]; then
    PASSED=$((PASSED + 1))
    printf 'PASS %s %s\n' "$name" "$out"
  else
    FAILED=$((FAILED + 1))
    FAILED_NAMES+=("$name")
    printf 'FAIL %s %s\n' "$name" "$out"
    sed 's/^/    /' "$LOG_DIR/check-$name.log" | tail -n 20
  fi
}
fail_check() {
  FAILED=$((FAILED + 1))
  FAILED_NAMES+=("$1")
  printf 'FAIL %s (%s)\n' "$1" "$2"
}
# check_if COND_VALUE REASON NAME CMD...: run the check when COND_VALUE is 1, else count it failed
check_if() {
  local cond="$1" reason="$2"
  shift 2
  if [ "$cond" = 1 ]; then check "$@"; else fail_check "$1" "$reason"; fi
}

RACE=(node "$HERE/race.mjs" --trials "$RACE_TRIALS" --slow-ms "$RACE_SLOW_MS" --parallel "$RACE_PARALLEL")
CHUNKED=(node "$HERE/race.mjs" --trials "$RACE_CHUNKED_TRIALS" --slow-ms "$RACE_SLOW_MS" --parallel "$RACE_PARALLEL" --value-bytes 5000)
BROWSER=(node "$HERE/browser.mjs" --attempts "$BROWSER_ATTEMPTS" --slow-ms "$BROWSER_SLOW_MS")

BROWSER_OK=1
if [ "${E2E_SKIP_BROWSER:-0}" = 1 ]; then
  BROWSER_OK=0
  log "browser checks skipped (E2E_SKIP_BROWSER=1)"
elif [ ! -x "$CHROMIUM_PATH" ]; then
  BROWSER_OK=-1
  log "no chromium at $CHROMIUM_PATH (apt-get install -y chromium)"
fi

for app in v4 v5; do
  up="${APP_UP[$app]}"
  guard=$((APP_UP[$app] && GUARD_UP[$app]))
  report=$((APP_UP[$app] && REPORT_UP[$app]))
  d="${APP_URL[$app]}"
  g="${GUARD_URL[$app]}"
  # 1. the race reverts the update when talking to Next.js directly (the test can fail)
  check_if "$up" "app-$app did not start" "race-$app-direct" \
    "${RACE[@]}" --base "$d" --app "$app" --target direct --expect reverts
  # 2. through cookieguard: no revert; sign-in, update, sign-out, CSRF work; still fine after 5.5 s idle
  check_if "$guard" "cookieguard for app-$app is not running" "race-$app-cookieguard" \
    "${RACE[@]}" --base "$g" --app "$app" --target cookieguard --idle-ms 5500 --check-forwarded --sliding-checks 3 --expect none
  # 3. control: cookieguard --mode report strips nothing, so the race reverts again
  check_if "$report" "cookieguard --mode report for app-$app is not running" "race-$app-report-mode" \
    "${RACE[@]}" --base "${REPORT_URL[$app]}" --app "$app" --target cookieguard-report-mode --expect reverts
  # 4. chunked session cookies (name.0, name.1): reverts directly, none through cookieguard
  check_if "$up" "app-$app did not start" "race-$app-chunked-direct" \
    "${CHUNKED[@]}" --base "$d" --app "$app" --target direct --expect reverts
  check_if "$guard" "cookieguard for app-$app is not running" "race-$app-chunked-cookieguard" \
    "${CHUNKED[@]}" --base "$g" --app "$app" --target cookieguard --expect none
  # 5. the same through cookieguard --mode guard (when the binary has it)
  if [ "$HAVE_GUARD_MODE" = 1 ]; then
    gm=$((APP_UP[$app] && GMODE_UP[$app]))
    check_if "$gm" "cookieguard --mode guard for app-$app is not running" "race-$app-guard-mode" \
      "${RACE[@]}" --base "${GMODE_URL[$app]}" --app "$app" --target cookieguard-guard-mode --expect-refresh --sliding-checks 3 --expect-sliding --expect none
    check_if "$gm" "cookieguard --mode guard for app-$app is not running" "race-$app-chunked-guard-mode" \
      "${CHUNKED[@]}" --base "${GMODE_URL[$app]}" --app "$app" --target cookieguard-guard-mode --expect-refresh --expect none
  fi
  # 6. a real browser: update() lost directly, kept through cookieguard
  case "$BROWSER_OK" in
    1)
      check_if "$up" "app-$app did not start" "browser-$app-direct" \
        "${BROWSER[@]}" --base "$d" --app "$app" --target direct --expect revert
      check_if "$guard" "cookieguard for app-$app is not running" "browser-$app-cookieguard" \
        "${BROWSER[@]}" --base "$g" --app "$app" --target cookieguard --expect persist
      if [ "$HAVE_GUARD_MODE" = 1 ]; then
        check_if "$gm" "cookieguard --mode guard for app-$app is not running" "browser-$app-guard-mode" \
          "${BROWSER[@]}" --base "${GMODE_URL[$app]}" --app "$app" --target cookieguard-guard-mode --expect persist
      fi
      ;;
    -1)
      fail_check "browser-$app-direct" "chromium missing at $CHROMIUM_PATH"
      fail_check "browser-$app-cookieguard" "chromium missing at $CHROMIUM_PATH"
      ;;
  esac
done

# every proxy must still be alive after all of that
for pid in "${PROXY_PIDS[@]}"; do
  if ! kill -0 "$pid" 2>/dev/null; then
    fail_check "cookieguard-alive" "cookieguard pid $pid exited during the run"
  fi
done

echo
echo "figures:"
for f in "${FIGURES[@]}"; do echo "  $f"; done
if [ "$FAILED" -gt 0 ]; then
  echo "failed checks: ${FAILED_NAMES[*]} (logs in ${LOG_DIR#"$ROOT"/})"
  for f in "$LOG_DIR"/cookieguard-*.log; do
    [ -f "$f" ] && { echo "--- tail of ${f#"$ROOT"/}"; tail -n 5 "$f" | cut -c1-300; }
  done
fi
log "done"
echo "$PASSED passed, $FAILED failed"
[ "$FAILED" -eq 0 ]
