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
#
# Scale-out: for each app, two guard-mode replicas behind an nginx round robin,
# once with in-memory stores (the control: reverts) and once sharing one
# redis-server (no reverts). Needs Debian's nginx and redis-server.
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
read -r P_V4 P_V5 P_G4 P_G5 P_R4 P_R5 P_U4 P_U5 P_REDIS \
  P_MA4 P_MB4 P_SA4 P_SB4 P_LM4 P_LS4 P_MA5 P_MB5 P_SA5 P_SB5 P_LM5 P_LS5 < <(node -e '
const net = require("net");
Promise.all(Array.from({ length: 21 }, () => new Promise((ok, ko) => {
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

# ---------------------------------------------------------------- scale-out
# replica ports: memory A/B, shared-store A/B; balancer ports: memory, shared
declare -A REPLICAS=(
  [v4-memory]="$P_MA4 $P_MB4" [v4-redis]="$P_SA4 $P_SB4"
  [v5-memory]="$P_MA5 $P_MB5" [v5-redis]="$P_SA5 $P_SB5"
)
declare -A BALANCER_URL=(
  [v4-memory]="http://127.0.0.1:$P_LM4" [v4-redis]="http://127.0.0.1:$P_LS4"
  [v5-memory]="http://127.0.0.1:$P_LM5" [v5-redis]="http://127.0.0.1:$P_LS5"
)
declare -A SCALE_UP=([v4-memory]=0 [v4-redis]=0 [v5-memory]=0 [v5-redis]=0)
SCALE_MISSING=""
command -v redis-server >/dev/null || SCALE_MISSING="redis-server missing (apt-get install redis-server)"
command -v nginx >/dev/null || SCALE_MISSING="nginx missing (apt-get install nginx)"
[ "$HAVE_GUARD_MODE" = 1 ] || SCALE_MISSING="this cookieguard has no guard mode"

# start_replica APP STORE PORT NAME: a guard-mode replica; STORE is memory or redis
start_replica() {
  local app="$1" store="$2" port="$3" name="$4" config="$LOG_DIR/$4.toml"
  # The Redis wait is raised from its 5 ms default: this 2-core machine also
  # runs two Next.js servers, nginx and the load, and a refresh that waits
  # too long is stripped (safe, but it would fail the sliding-expiry check).
  cat >"$config" <<EOF
mode = "guard"
[guard]
store = "$store"
redis_url = "redis://127.0.0.1:$P_REDIS/0"
redis_timeout = "250ms"
redis_prefix = "e2e-$app"
EOF
  NO_COLOR=1 RUST_LOG="${RUST_LOG:-info}" start "cookieguard replica $name on 127.0.0.1:$port" "$LOG_DIR/$name.log" \
    "$BIN" --config "$config" --listen "127.0.0.1:$port" --upstream "${APP_URL[$app]}"
  PROXY_PIDS+=("$STARTED_PID")
  wait_http "$name" "$STARTED_PID" "http://127.0.0.1:$port/api/auth/csrf"
}

if [ -z "$SCALE_MISSING" ]; then
  start "redis-server on 127.0.0.1:$P_REDIS" "$LOG_DIR/redis.log" \
    redis-server --bind 127.0.0.1 --port "$P_REDIS" --save "" --appendonly no
  NGINX_DIR="$LOG_DIR/nginx"
  mkdir -p "$NGINX_DIR/logs"
  {
    if [ "$(id -u)" -eq 0 ]; then echo "user root;"; fi
    echo "daemon off; worker_processes 1; pid $NGINX_DIR/nginx.pid; error_log $NGINX_DIR/logs/error.log warn;"
    echo "events { worker_connections 1024; }"
    echo "http {"
    echo "  access_log off;"
    # NextAuth's chunked session cookies are ~4 KiB per chunk: nginx's default
    # header buffers (4-8 KiB) would answer 502 "upstream sent too big header".
    echo "  proxy_buffer_size 64k; proxy_buffers 8 64k; proxy_busy_buffers_size 128k; large_client_header_buffers 4 64k;"
    for tmp in client_body proxy fastcgi uwsgi scgi; do echo "  ${tmp}_temp_path $NGINX_DIR/tmp_$tmp;"; done
    for key in "${!REPLICAS[@]}"; do
      read -r a b <<<"${REPLICAS[$key]}"
      # Round robin per request: an update and a request that left before it
      # often reach different replicas.
      echo "  upstream ${key/-/_} { server 127.0.0.1:$a; server 127.0.0.1:$b; }"
      echo "  server { listen ${BALANCER_URL[$key]#http://};"
      echo "    location / { proxy_pass http://${key/-/_}; proxy_set_header Host \$http_host; proxy_buffering off; } }"
    done
    echo "}"
  } >"$NGINX_DIR/nginx.conf"
  start "nginx round robin" "$LOG_DIR/nginx.log" \
    nginx -p "$NGINX_DIR" -c "$NGINX_DIR/nginx.conf" -e "$NGINX_DIR/logs/error.log"
  NGINX_PID=$STARTED_PID
  for app in v4 v5; do
    [ "${APP_UP[$app]}" = 1 ] || continue
    for store in memory redis; do
      key="$app-$store"
      read -r a b <<<"${REPLICAS[$key]}"
      start_replica "$app" "$store" "$a" "replica-$key-a" &&
        start_replica "$app" "$store" "$b" "replica-$key-b" &&
        wait_http "nginx $key" "$NGINX_PID" "${BALANCER_URL[$key]}/api/auth/csrf" &&
        SCALE_UP[$key]=1
    done
  done
else
  log "scale-out checks cannot run: $SCALE_MISSING"
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
  # 6. two guard-mode replicas behind a round robin: in-memory stores miss
  #    updates made through the other replica (reverts); a shared Redis does not
  if [ -n "$SCALE_MISSING" ]; then
    fail_check "race-$app-replicas-memory" "$SCALE_MISSING"
    fail_check "race-$app-replicas-redis" "$SCALE_MISSING"
    fail_check "race-$app-chunked-replicas-redis" "$SCALE_MISSING"
  else
    check_if "${SCALE_UP[$app-memory]}" "memory replicas for app-$app are not running" "race-$app-replicas-memory" \
      "${RACE[@]}" --base "${BALANCER_URL[$app-memory]}" --app "$app" --target replicas-memory-store --expect reverts
    check_if "${SCALE_UP[$app-redis]}" "Redis replicas for app-$app are not running" "race-$app-replicas-redis" \
      "${RACE[@]}" --base "${BALANCER_URL[$app-redis]}" --app "$app" --target replicas-redis-store --expect-refresh --sliding-checks 3 --expect-sliding --expect none
    check_if "${SCALE_UP[$app-redis]}" "Redis replicas for app-$app are not running" "race-$app-chunked-replicas-redis" \
      "${CHUNKED[@]}" --base "${BALANCER_URL[$app-redis]}" --app "$app" --target replicas-redis-store --expect-refresh --expect none
  fi
  # 7. a real browser: update() lost directly, kept through cookieguard
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
