#!/usr/bin/env bash
# End-to-end proof for cookieguard: real apps with NextAuth / Auth.js, each raced directly
# and behind four cookieguards: strip and guard mode, each with the app's secret in its
# environment and without it. Two Next.js 16 + NextAuth apps with routes under /api/auth
# (v4 pages router; v5/Auth.js app router with middleware in proxy.js and server
# actions; plus --mode report as a control, replicas and the HTTPS stage), and three
# Auth.js apps with routes under /auth: Next.js 16 + next-auth 5 with basePath "/auth"
# (the official example's setup), SvelteKit + @auth/sveltekit, Express + @auth/express.
# And one app of another library: Next.js 16 + @auth0/nextjs-auth0 v4 (stateless
# `__session` cookie, rolled by the SDK's middleware on every request), signing in against
# a local OpenID provider (oidc/server.mjs, the `oidc-provider` package) started here.
# And Next.js 16 + Better Auth (email and password, in-memory database, the cookie cache
# `better-auth.session_data` on; its secret is BETTER_AUTH_SECRET).
# Every cookieguard runs as a new user starts it: --listen, --upstream, --mode, no
# configuration file.
#
#   bash tests/e2e/run.sh
#
# Env:
#   COOKIEGUARD_BIN    proxy binary (default target/debug/cookieguard, relative to the repo
#                      root); built with `cargo build` when missing and the default is used
#   RACE_TRIALS        race trials per case through each cookieguard (default 50)
#   RACE_CONTROL_TRIALS trials of the controls (direct to Next.js, report mode; default
#                      10: they only have to show that the race reverts)
#   RACE_SLOW_MS       delay of the slow session-reading request (default 1000: the
#                      racing update, two requests, has to finish within it while four
#                      checks share the two cores; the figures' updateMs show how long
#                      it took, slowCompletedFirst in how many trials it did not)
#   RACE_CONTROL_SLOW_MS the same for the controls (default 1500: the update, two
#                      requests, must finish within it even when both cores are busy)
#   RACE_PARALLEL      independent signed-in clients per race run (default 10; Next.js
#                      is CPU-bound on 2 cores beyond that)
#   RACE_CHUNKED_TRIALS trials with a chunked (name.0, name.1) session cookie (default 50)
#   RACE_SIGNOUT_TRIALS sign-out race trials through each cookieguard (default 20: each
#                      trial signs a user in first)
#   BROWSER_ATTEMPTS   browser attempts per app and target (default 4)
#   BROWSER_SLOW_MS    delay of the page's slow fetches (default 1500)
#   CHROMIUM_PATH      default /usr/bin/chromium (Debian package `chromium`)
#   E2E_SKIP_BROWSER=1 skip the browser checks (they are then not counted)
#   E2E_REBUILD=1      always build the apps (`next build`, `vite build`)
#   E2E_TLS=0          skip the HTTPS stage (its checks are then not counted)
#   E2E_TLS_ONLY=1     run only the HTTPS stage's checks (every server still starts)
#   E2E_WORKERS        checks run side by side (default 4; see "The checks run from one
#                      work queue" below)
#   E2E_SERIAL=1       one check at a time (E2E_WORKERS=1)
#   E2E_APPS           only these apps (space- or comma-separated names from APPS below,
#                      e.g. E2E_APPS=auth0): only they are built, started and checked;
#                      the HTTPS stage runs only when v4 and v5 are both among them, the
#                      replicas only for those of v4 and v5 that are
#   E2E_RUN_DIR        where logs, figures and the work queue go (default tests/e2e/.run;
#                      two runs at once on one checkout need one each: a run empties it)
#
# tests/e2e is one npm workspace (package.json "workspaces", one package-lock.json):
# `npm ci` runs once there, when node_modules is missing or older than the lockfile.
#
# Scale-out: for v4 and v5, two guard-mode replicas behind an nginx round robin,
# once with in-memory stores (the control: reverts) and once sharing one
# redis-server (no reverts). Needs Debian's nginx and redis-server.
#
# HTTPS stage (the production topology): a TLS terminator -> cookieguard -> `next start`,
# for both apps, with two terminators: Caddy (`tls internal`, its root CA exported) and
# nginx (a CA and a leaf certificate made here with openssl). Each (terminator, app) has
# its own `next start` of the same build whose NEXTAUTH_URL (v4) / AUTH_URL (v5) is the
# terminator's https:// URL, so NextAuth uses the __Secure- / __Host- cookie names. The
# terminator sends a request to the strip or the guard cookieguard (both with the app's
# secret), or straight to the app (the control), by the test header X-E2E-Upstream
# (strip, the default, guard, app). The cookieguards trust only the terminator's source
# address (trusted_proxies): nginx connects from 127.0.0.2 (proxy_bind); Debian's Caddy
# 2.6 cannot pick its source address, so it connects from 127.0.0.1 and the untrusted
# direct client comes from 127.0.0.3. Needs Debian's caddy, nginx and openssl
# (installed with apt-get when missing and run as root; otherwise the checks fail) and
# libnss3-tools (certutil) for Chromium to trust the CAs (without it Chromium runs with
# --ignore-certificate-errors and the figures say so).

# ---------------------------------------------------------------- expectations
# One row per race case (race.mjs: --update-via, --slow-via, --auth-via, --value-bytes):
# an update made one way, racing a slow request of another kind that left with the old
# session. Every case runs directly against Next.js first and must revert there (so
# the check can fail). The last four columns say what each cookieguard must give:
#   strip+  --mode strip, the app's secret in its env (AUTH_SECRET / NEXTAUTH_SECRET)
#   strip-  --mode strip, started with env -u AUTH_SECRET -u NEXTAUTH_SECRET
#                                     -u AUTH0_SECRET -u BETTER_AUTH_SECRET
#                                     -u COOKIEGUARD_SESSION_SECRET
#   guard+  --mode guard, with the secret        guard-  --mode guard, without
# none       0 reverts over all trials; sign-in, update and sign-out work
# no-update  the update never reaches the browser (its write is stripped); sign-in and
#            sign-out work
# reverts    the race reverts; sign-in, update and sign-out work
# A trailing ! marks a documented limitation: the check passes when the limitation
# shows as described and says so ("PASS (documented limitation)").
# Without the secret cookieguard can only tell an update by its route (/api/auth/*) or
# by its shape (a server-action POST whose response carries two different session
# values, the v5 middleware's old copy and the new one; a sign-in action's response
# creating a session the request did not carry). A v4 custom route that sets the cookie
# itself (profile, seed 002) or a GET /api/auth/session?value= read by the jwt callback
# (session-get, seed 001) writes one session line like any refresh: only the secret
# shows that its claims changed.
# The update column "signout" is the sign-out race instead (race.mjs --scenario signout):
# a slow request leaves with the session, the user signs out, the slow response arrives
# last. Directly the user is signed in again; through cookieguard ("none") every user
# stays signed out.
# The /auth apps (next-example, sveltekit, express) must need nothing but their route
# prefix being Auth.js's other default: all four columns are "none". The sign-out race
# in sveltekit signs in and out through the form actions its docs teach (POST /signin,
# POST /signout: page routes, not under /auth).
# auth0 (@auth0/nextjs-auth0 v4; its secret is AUTH0_SECRET): the middleware re-sets
# `__session` on every request that is not one of the SDK's routes, so every slow request
# carries a stale rolling write. "profile" is POST /api/profile, a route handler calling
# auth0.updateSession() (its response: the middleware's rolling copy, then the handler's
# write), "action" the same in a server action (POST /actions); "signout" is the SDK's
# GET /auth/logout racing a slow /api/slow; "signout-refresh" races it with the SDK's own
# GET /auth/access-token, which refreshes the token set (the app's tokenRefreshBuffer) at
# the OP, whose refresh responses are held --slow-ms (race.mjs --op), and writes the
# session with the new tokens after the logout deleted it. Without the secret an update
# is told by its shape (two different `__session` values in one response: the rolling
# copy, then the new one), so all four columns are "none".
# better-auth (Better Auth, routes under /api/auth, cookie cache on; its secret is
# BETTER_AUTH_SECRET): the session value is the user's name, read by GET /api/me with
# auth.api.getSession(), which trusts `better-auth.session_data` (the cache, readable
# base64url JSON with an HMAC) without asking the database. The slow request is GET
# /api/slow: auth.api.getSession({disableCookieCache: true}) reads the database, re-writes
# the cache and re-sets `better-auth.session_token` (updateAge 0), then it waits; in
# "session-vs-getsession" it is Better Auth's own GET /api/auth/get-session (the same
# read) answered late. "session" updates with POST /api/auth/update-user {name}, "action"
# with auth.api.updateUser() in a server action (nextCookies()); "signout" is POST
# /api/auth/sign-out, after which the slow response's cache and token sign the user in
# again directly. Target: "none" in all four columns.
read -r -d '' EXPECTATIONS <<'TABLE' || true
# app case                  update       slow        auth     bytes  strip+  strip-      guard+  guard-
v4    session               session      route       api      0      none    none        none    none
v4    chunked               session      route       api      5000   none    none        none    none
v4    profile               profile      route       api      0      none    no-update!  none    reverts!
v4    session-get           session-get  route       api      0      none    no-update!  none    reverts!
v5    session               session      route       api      0      none    none        none    none
v5    chunked               session      route       api      5000   none    none        none    none
v5    session-vs-action     session      action      api      0      none    none        none    none
v5    session-vs-authroute  session      auth-route  api      0      none    none        none    none
v5    action                action       route       api      0      none    none        none    none
v5    actions-only          action       action      actions  0      none    none        none    none
v5    action-vs-authroute   action       auth-route  api      0      none    none        none    none
v4    signout               signout      route       api      0      none    none        none    none
v5    signout               signout      route       api      0      none    none        none    none
next-example session        session      route       api      0      none    none        none    none
next-example signout        signout      route       api      0      none    none        none    none
sveltekit session           session      route       api      0      none    none        none    none
sveltekit signout           signout      route       actions  0      none    none        none    none
express  session            session      route       api      0      none    none        none    none
express  signout            signout      route       api      0      none    none        none    none
auth0 session               profile      route       api      0      none    none        none    none
auth0 action                action       route       api      0      none    none        none    none
auth0 signout               signout      route       api      0      none    none        none    none
auth0 signout-refresh       signout      access-token api     0      none    none        none    none
better-auth session         session      route       api      0      none    none        none    none
better-auth session-vs-getsession session get-session api     0      none    none        none    none
better-auth action          action       route       api      0      none    none        none    none
better-auth signout         signout      route       api      0      none    none        none    none
TABLE
PROXIES=(strip-secret strip-nosecret guard-secret guard-nosecret)   # the columns, in order
# The apps (tests/e2e/app-<name>). v4 and v5 also get the report-mode control, the
# replicas and the HTTPS stage.
ALL_APPS=(v4 v5 next-example sveltekit express auth0 better-auth)
# Where each app's auth routes are (Auth.js; the Auth0 SDK's under /auth).
declare -A AUTH_BASE=([v4]=/api/auth [v5]=/api/auth [next-example]=/auth [sveltekit]=/auth [express]=/auth [auth0]=/auth [better-auth]=/api/auth)
# A path that answers once the app is up (any status), for the app and its cookieguards.
declare -A READY_PATH=()
for app in "${ALL_APPS[@]}"; do READY_PATH[$app]="${AUTH_BASE[$app]}/providers"; done
READY_PATH[auth0]=/api/headers
READY_PATH[better-auth]=/api/auth/ok

set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(git -C "$HERE" rev-parse --show-toplevel 2>/dev/null || (cd "$HERE/../.." && pwd))"
cd "$ROOT"

BIN="${COOKIEGUARD_BIN:-target/debug/cookieguard}"
case "$BIN" in /*) ;; *) BIN="$ROOT/$BIN" ;; esac
RACE_TRIALS="${RACE_TRIALS:-50}"
RACE_SLOW_MS="${RACE_SLOW_MS:-1000}"
RACE_PARALLEL="${RACE_PARALLEL:-10}"
RACE_CONTROL_TRIALS="${RACE_CONTROL_TRIALS:-10}"
RACE_CONTROL_SLOW_MS="${RACE_CONTROL_SLOW_MS:-1500}"
RACE_CHUNKED_TRIALS="${RACE_CHUNKED_TRIALS:-50}"
RACE_SIGNOUT_TRIALS="${RACE_SIGNOUT_TRIALS:-20}"
BROWSER_ATTEMPTS="${BROWSER_ATTEMPTS:-4}"
BROWSER_SLOW_MS="${BROWSER_SLOW_MS:-1500}"
# E2E_APPS: the apps this run builds, starts and checks (default: all)
APPS=()
for app in ${E2E_APPS:+${E2E_APPS//,/ }}; do
  [[ " ${ALL_APPS[*]} " == *" $app "* ]] || { echo "E2E_APPS: unknown app '$app' (apps: ${ALL_APPS[*]})" >&2; exit 2; }
  [[ " ${APPS[*]} " == *" $app "* ]] || APPS+=("$app")
done
[ "${#APPS[@]}" -gt 0 ] || APPS=("${ALL_APPS[@]}")
has_app() { [[ " ${APPS[*]} " == *" $1 "* ]]; }
TLS_ON="${E2E_TLS:-1}"
# the HTTPS stage covers v4 and v5 together
has_app v4 && has_app v5 || TLS_ON=0
TLS_ONLY="${E2E_TLS_ONLY:-0}"
[ "$TLS_ON" = 1 ] || TLS_ONLY=0
export CHROMIUM_PATH="${CHROMIUM_PATH:-/usr/bin/chromium}"
export NEXT_TELEMETRY_DISABLED=1

LOG_DIR="${E2E_RUN_DIR:-$HERE/.run}"
mkdir -p "$LOG_DIR"
rm -f "$LOG_DIR"/*.log

T0=$(date +%s)
log() { printf '[e2e %4ss] %s\n' "$(($(date +%s) - T0))" "$*" >&2; }

# ---------------------------------------------------------------- cleanup
PIDS=()
CHECK_PID=
LOOP_PIDS=()
cleanup() {
  local rc=$?
  local pid
  if [ -n "$CHECK_PID" ]; then
    kill -TERM "$CHECK_PID" 2>/dev/null || true
    wait "$CHECK_PID" 2>/dev/null || true
  fi
  for pid in "${LOOP_PIDS[@]}"; do
    kill -TERM "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
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
# wait_many NAME PID URL [NAME PID URL ...]: wait_http for many servers at once, in one
# node process; logs those that never answered and sets WAIT_FAILED to their names
# (space-separated, each between spaces)
wait_many() {
  local out
  out="$(node -e '
const a = process.argv.slice(1), items = [];
for (let i = 0; i + 2 < a.length; i += 3) items.push({ name: a[i], pid: Number(a[i + 1]), url: a[i + 2] });
const alive = (pid) => { try { process.kill(pid, 0); return true; } catch { return false; } };
const deadline = Date.now() + 60000;
Promise.all(items.map(async (it) => {
  while (Date.now() < deadline) {
    if (!alive(it.pid)) return `${it.name} ${it.name} (pid ${it.pid}) exited before answering ${it.url}`;
    try {
      await fetch(it.url, { redirect: "manual", signal: AbortSignal.timeout(5000) });
      return null;
    } catch {}
    await new Promise((r) => setTimeout(r, 100));
  }
  return `${it.name} ${it.name} did not answer ${it.url} within 60 s`;
})).then((rs) => rs.filter(Boolean).forEach((r) => console.log(r)));' "$@")"
  WAIT_FAILED=" "
  local line
  while read -r line; do
    [ -n "$line" ] || continue
    WAIT_FAILED+="${line%% *} "
    log "${line#* }"
  done <<<"$out"
}

# ---------------------------------------------------------------- install
need_ci() {
  local dir="$1"
  [ ! -f "$dir/node_modules/.package-lock.json" ] && return 0
  [ "$dir/package-lock.json" -nt "$dir/node_modules/.package-lock.json" ] && return 0
  return 1
}
# one install for every app: tests/e2e is an npm workspace (app-v4 and app-v5 pin other
# next / next-auth versions than the rest; npm nests those under app-*/node_modules)
if need_ci "$HERE"; then
  log "npm ci in ${HERE#"$ROOT"/} (workspaces: ${ALL_APPS[*]/#/app-})"
  (cd "$HERE" && npm ci --no-audit --no-fund --loglevel=error >"$LOG_DIR/npm-ci.log" 2>&1) || {
    tail -n 30 "$LOG_DIR/npm-ci.log" >&2
    log "npm ci failed in $HERE"
    exit 1
  }
fi
# next_bin DIR: the `next` an app resolves (nested when its version is not the hoisted one)
next_bin() {
  node -e 'console.log(require.resolve("next/dist/bin/next", { paths: [process.argv[1]] }))' "$1"
}

# ---------------------------------------------------------------- build
# Each app is built when its build is missing or older than one of its sources or the
# lockfile: the four Next.js apps (`next build`, two at a time at most) and the SvelteKit
# app (`vite build`, adapter-node: build/); Express runs its sources as they are. Apps left
# out by E2E_APPS are not built.
declare -A BUILD_STAMP=([v4]=.next/BUILD_ID [v5]=.next/BUILD_ID [next-example]=.next/BUILD_ID [sveltekit]=build/handler.js [auth0]=.next/BUILD_ID [better-auth]=.next/BUILD_ID)
need_build() {
  local dir="$HERE/app-$1" stamp="${BUILD_STAMP[$1]}"
  [ "${E2E_REBUILD:-0}" = 1 ] && return 0
  [ ! -f "$dir/$stamp" ] && return 0
  [ "$HERE/package-lock.json" -nt "$dir/$stamp" ] && return 0
  [ -n "$(cd "$dir" && find . \( -path ./node_modules -o -path ./.next -o -path ./build -o -path ./.svelte-kit \) -prune -o -type f -newer "$stamp" -print | head -n 1)" ]
}
build_app() {
  local app="$1" dir="$HERE/app-$1"
  has_app "$app" || return 0
  if ! need_build "$app"; then
    log "app-$app: build is up to date"
    return 0
  fi
  log "building app-$app"
  if [ "$app" = sveltekit ]; then
    (cd "$dir" && node "$HERE/node_modules/vite/bin/vite.js" build >"$LOG_DIR/build-app-$app.log" 2>&1)
  else
    (cd "$dir" && node "$(next_bin "$dir")" build >"$LOG_DIR/build-app-$app.log" 2>&1)
  fi || {
    tail -n 40 "$LOG_DIR/build-app-$app.log" >&2
    log "build failed for app-$app"
    return 1
  }
}
# two queues side by side (a Next.js build alone does not keep both cores busy)
build_status=0
{ build_app v4 && build_app v5 && build_app auth0; } &
build_a=$!
{ build_app next-example && build_app sveltekit && build_app better-auth; } || build_status=1
wait "$build_a" || build_status=1
[ "$build_status" = 0 ] || exit 1

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

# ---------------------------------------------------------------- HTTPS stage: tools
# caddy, nginx and openssl are needed (missing ones are installed with apt-get when run
# as root; otherwise the HTTPS checks fail); certutil (libnss3-tools) lets Chromium
# trust the test CAs.
TLS_MISSING=""
tls_missing_tools() {
  local t missing=""
  for t in caddy nginx openssl; do command -v "$t" >/dev/null || missing+=" $t"; done
  echo "${missing# }"
}
if [ "$TLS_ON" = 1 ]; then
  tls_pkgs=($(tls_missing_tools))
  command -v certutil >/dev/null || tls_pkgs+=(libnss3-tools)
  if [ "${#tls_pkgs[@]}" -gt 0 ] && [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null; then
    log "HTTPS stage: apt-get install ${tls_pkgs[*]}"
    {
      DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${tls_pkgs[@]}" ||
        { apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${tls_pkgs[@]}"; }
    } >"$LOG_DIR/apt-tls.log" 2>&1 || log "apt-get install failed (tests/e2e/.run/apt-tls.log)"
  fi
  tls_missing="$(tls_missing_tools)"
  [ -n "$tls_missing" ] && TLS_MISSING="missing: $tls_missing (apt-get install $tls_missing)"
  command -v certutil >/dev/null || log "HTTPS stage: no certutil (apt-get install libnss3-tools): Chromium will run with --ignore-certificate-errors"
fi

# ---------------------------------------------------------------- ports, secrets
read -r P_V4 P_V5 P_SS4 P_SN4 P_GS4 P_GN4 P_R4 P_SS5 P_SN5 P_GS5 P_GN5 P_R5 P_REDIS \
  P_MA4 P_MB4 P_SA4 P_SB4 P_LM4 P_LS4 P_MA5 P_MB5 P_SA5 P_SB5 P_LM5 P_LS5 TLS_PORT_LIST < <(node -e '
const net = require("net");
Promise.all(Array.from({ length: 25 + 16 + 26 }, () => new Promise((ok, ko) => {
  const s = net.createServer(); s.once("error", ko);
  s.listen(0, "127.0.0.1", () => ok(s));
}))).then((ss) => {
  console.log(ss.map((s) => s.address().port).join(" "));
  ss.forEach((s) => s.close());
});')
declare -A SECRET=()
for app in "${APPS[@]}"; do
  SECRET[$app]="$(node -e 'console.log(require("crypto").randomBytes(32).toString("hex"))')"
done
# the variable each app (and a cookieguard "with the secret") reads it from
declare -A SECRET_VAR=([v4]=NEXTAUTH_SECRET [v5]=AUTH_SECRET [next-example]=AUTH_SECRET [sveltekit]=AUTH_SECRET [express]=AUTH_SECRET [auth0]=AUTH0_SECRET [better-auth]=BETTER_AUTH_SECRET)

# HTTPS stage layout, per (terminator, app): the `next start` (same build) whose
# NEXTAUTH_URL / AUTH_URL is the terminator's public https:// URL, the strip and the
# guard cookieguard in front of it, and the terminator's site.
TERMINATORS=(caddy nginx)
read -r -a TLS_PORTS <<<"$TLS_PORT_LIST"
declare -A TLS_APP_URL=() TLS_PUBLIC_URL=() TLS_GUARD_URL=() TLS_APP_PID=()
declare -A TLS_APP_UP=() TLS_GUARD_UP=() TERM_UP=([caddy]=0 [nginx]=0)
i=0
for term in "${TERMINATORS[@]}"; do
  for app in v4 v5; do
    TLS_APP_URL[$term-$app]="http://127.0.0.1:${TLS_PORTS[i]}"
    TLS_PUBLIC_URL[$term-$app]="https://127.0.0.1:${TLS_PORTS[i + 1]}"
    TLS_GUARD_URL[$term-$app-strip]="http://127.0.0.1:${TLS_PORTS[i + 2]}"
    TLS_GUARD_URL[$term-$app-guard]="http://127.0.0.1:${TLS_PORTS[i + 3]}"
    TLS_APP_UP[$term-$app]=0
    i=$((i + 4))
  done
done
# The address each terminator connects to its cookieguards from (they trust only that
# one: trusted_proxies), and where a client that reaches them directly comes from.
# Debian's Caddy 2.6 has no `local_address` for its upstream connections, so there the
# roles are turned around: Caddy connects from 127.0.0.1, the direct client from
# 127.0.0.3.
declare -A TLS_PEER=([caddy]=127.0.0.1 [nginx]=127.0.0.2)
declare -A TLS_UNTRUSTED=([caddy]=127.0.0.3 [nginx]=127.0.0.1)
TLS_DIR="$LOG_DIR/tls"

# ---------------------------------------------------------------- servers
declare -A APP_URL=([v4]="http://127.0.0.1:$P_V4" [v5]="http://127.0.0.1:$P_V5")
declare -A APP_UP=([v4]=0 [v5]=0)
# the /auth apps, auth0 and better-auth: one app port and four cookieguard ports each,
# after the HTTPS stage's 16; then the OpenID provider's
i=16
for app in next-example sveltekit express auth0 better-auth; do
  APP_URL[$app]="http://127.0.0.1:${TLS_PORTS[i]}"
  APP_UP[$app]=0
  i=$((i + 1))
done
# PROXY_URL[app-proxy], PROXY_UP[app-proxy] for proxy in PROXIES and "report"
declare -A PROXY_URL=(
  [v4-strip-secret]="http://127.0.0.1:$P_SS4" [v4-strip-nosecret]="http://127.0.0.1:$P_SN4"
  [v4-guard-secret]="http://127.0.0.1:$P_GS4" [v4-guard-nosecret]="http://127.0.0.1:$P_GN4"
  [v4-report]="http://127.0.0.1:$P_R4"
  [v5-strip-secret]="http://127.0.0.1:$P_SS5" [v5-strip-nosecret]="http://127.0.0.1:$P_SN5"
  [v5-guard-secret]="http://127.0.0.1:$P_GS5" [v5-guard-nosecret]="http://127.0.0.1:$P_GN5"
  [v5-report]="http://127.0.0.1:$P_R5"
)
for app in next-example sveltekit express auth0 better-auth; do
  for proxy in "${PROXIES[@]}"; do
    PROXY_URL[$app-$proxy]="http://127.0.0.1:${TLS_PORTS[i]}"
    i=$((i + 1))
  done
done
# The local OpenID provider of app-auth0 (oidc/server.mjs): issuer http://localhost:<port>/
# (the SDK refuses an IP address as its domain), listening on 127.0.0.1.
OIDC_PORT="${TLS_PORTS[i]}"
OIDC_URL="http://localhost:$OIDC_PORT"
OIDC_CLIENT_ID=cookieguard-e2e
OIDC_CLIENT_SECRET="$(node -e 'console.log(require("crypto").randomBytes(24).toString("hex"))')"
# Extra race.mjs arguments of an app, for every check (auth0: where its OP is, to make
# the OP's refreshes slow in the signout-refresh case).
declare -A APP_ARGS=([auth0]="--op|$OIDC_URL")
declare -A PROXY_UP=()
PROXY_PIDS=()
# Extra race.mjs / browser.mjs arguments for the direct controls: the SvelteKit app
# (adapter-node) takes its origin from X-Forwarded-Proto/-Host (PROTOCOL_HEADER,
# HOST_HEADER: adapter-node's setting behind a reverse proxy; without them it assumes
# https), so the direct client sends what a plain forwarding proxy would.
declare -A DIRECT_ARGS=()
DIRECT_ARGS[sveltekit]="--header|X-Forwarded-Proto: http|--header|X-Forwarded-Host: ${APP_URL[sveltekit]#http://}"

# The OpenID provider first (app-auth0 reads its discovery document at the first sign-in):
# one static client, any loopback port's /auth/callback (oidc/server.mjs).
OIDC_PID=
if has_app auth0; then
  start "OpenID provider for app-auth0 on 127.0.0.1:$OIDC_PORT (issuer $OIDC_URL/)" "$LOG_DIR/oidc.log" \
    env OIDC_CLIENT_ID="$OIDC_CLIENT_ID" OIDC_CLIENT_SECRET="$OIDC_CLIENT_SECRET" \
    node "$HERE/oidc/server.mjs" --port "$OIDC_PORT" --host 127.0.0.1
  OIDC_PID=$STARTED_PID
fi

declare -A APP_PID=()
for app in "${APPS[@]}"; do
  port="${APP_URL[$app]##*:}"
  envs=(env "${SECRET_VAR[$app]}=${SECRET[$app]}" AUTH_TRUST_HOST=true)
  # auth0: the SDK's variables; APP_BASE_URL lists every origin the app is reached at
  # (directly and through its four cookieguards): the SDK then builds its redirect_uri
  # and post-logout URL from the request's origin when it is one of them
  if [ "$app" = auth0 ]; then
    base_urls="${APP_URL[auth0]}"
    for proxy in "${PROXIES[@]}"; do base_urls+=",${PROXY_URL[auth0-$proxy]}"; done
    envs=(env -u AUTH_TRUST_HOST "AUTH0_SECRET=${SECRET[auth0]}" "AUTH0_DOMAIN=$OIDC_URL"
      "AUTH0_CLIENT_ID=$OIDC_CLIENT_ID" "AUTH0_CLIENT_SECRET=$OIDC_CLIENT_SECRET" "APP_BASE_URL=$base_urls")
  fi
  case "$app" in
    sveltekit) cmd=(env PORT="$port" HOST=127.0.0.1 PROTOCOL_HEADER=x-forwarded-proto HOST_HEADER=x-forwarded-host
      node "$HERE/app-sveltekit/build") ;;
    express) cmd=(node "$HERE/app-express/server.js" --port "$port" --host 127.0.0.1) ;;
    *) cmd=(node "$(next_bin "$HERE/app-$app")" start "$HERE/app-$app" -p "$port" -H 127.0.0.1) ;;
  esac
  start "app-$app on ${APP_URL[$app]#http://}" "$LOG_DIR/app-$app.log" "${envs[@]}" "${cmd[@]}"
  APP_PID[$app]=$STARTED_PID
done
# the HTTPS stage's apps start now too (they are waited for further down)
if [ "$TLS_ON" = 1 ] && [ -z "$TLS_MISSING" ]; then
  for term in "${TERMINATORS[@]}"; do
    for app in v4 v5; do
      key="$term-$app"
      # v4 takes its origin from NEXTAUTH_URL only without AUTH_TRUST_HOST
      if [ "$app" = v4 ]; then
        url_env=(-u AUTH_TRUST_HOST -u AUTH_URL "NEXTAUTH_URL=${TLS_PUBLIC_URL[$key]}")
      else
        url_env=(-u NEXTAUTH_URL "AUTH_URL=${TLS_PUBLIC_URL[$key]}")
      fi
      start "app-$app behind $term (${TLS_PUBLIC_URL[$key]}) on ${TLS_APP_URL[$key]#http://}" "$LOG_DIR/app-$key.log" \
        env "${url_env[@]}" "${SECRET_VAR[$app]}=${SECRET[$app]}" \
        node "$(next_bin "$HERE/app-$app")" start "$HERE/app-$app" -p "${TLS_APP_URL[$key]##*:}" -H 127.0.0.1
      TLS_APP_PID[$key]=$STARTED_PID
    done
  done
fi
waits=()
for app in "${APPS[@]}"; do waits+=("app-$app" "${APP_PID[$app]}" "${APP_URL[$app]}${READY_PATH[$app]}"); done
[ -n "$OIDC_PID" ] && waits+=(oidc "$OIDC_PID" "$OIDC_URL/.well-known/openid-configuration")
wait_many "${waits[@]}"
for app in "${APPS[@]}"; do [[ "$WAIT_FAILED" == *" app-$app "* ]] || APP_UP[$app]=1; done
# app-auth0 cannot sign anyone in without its OP
if [[ "$WAIT_FAILED" == *" oidc "* ]] && has_app auth0; then
  log "the OpenID provider did not start (${LOG_DIR#"$ROOT"/}/oidc.log): app-auth0's checks will fail"
  APP_UP[auth0]=0
fi

# start_guard APP PROXY: cookieguard PROXY (strip|guard-secret|nosecret, or report) in
# front of app APP. "-secret": the app's secret in cookieguard's environment, under the
# name the app reads it from; "-nosecret" and report: none of the names cookieguard reads.
# No configuration file: each runs as a new user starts it. Started all at once, then
# waited for all at once.
start_guard() {
  local app="$1" proxy="$2" mode="${2%%-*}" url="${PROXY_URL[$1-$2]}"
  local envs=(env -u AUTH_SECRET -u NEXTAUTH_SECRET -u AUTH0_SECRET -u BETTER_AUTH_SECRET -u COOKIEGUARD_SESSION_SECRET)
  [ "${proxy#*-}" = secret ] && envs+=("${SECRET_VAR[$app]}=${SECRET[$app]}")
  NO_COLOR=1 RUST_LOG="${RUST_LOG:-info}" start "cookieguard $proxy -> app-$app on ${url#http://}" \
    "$LOG_DIR/cookieguard-$app-$proxy.log" \
    "${envs[@]}" "$BIN" --listen "${url#http://}" --upstream "${APP_URL[$app]}" --mode "$mode"
  PROXY_PIDS+=("$STARTED_PID")
  GUARD_PID[$app-$proxy]=$STARTED_PID
}
declare -A GUARD_PID=()
HAVE_GUARD_MODE=0
if [ "$HAVE_PROXY" = 1 ] && "$BIN" --help 2>/dev/null | grep -qE '^ +- guard:'; then
  HAVE_GUARD_MODE=1
fi
guard_list() { # APP: the cookieguards in front of it
  local proxy
  for proxy in "${PROXIES[@]}" report; do
    [ "$proxy" = report ] && [ "$1" != v4 ] && [ "$1" != v5 ] && continue
    [ "${proxy%%-*}" = guard ] && [ "$HAVE_GUARD_MODE" = 0 ] && continue
    echo "$proxy"
  done
}
if [ "$HAVE_PROXY" = 1 ]; then
  for app in "${APPS[@]}"; do
    [ "${APP_UP[$app]}" = 1 ] || continue
    for proxy in $(guard_list "$app"); do start_guard "$app" "$proxy"; done
  done
  waits=()
  for app in "${APPS[@]}"; do
    [ "${APP_UP[$app]}" = 1 ] || continue
    for proxy in $(guard_list "$app"); do
      waits+=("cookieguard-$app-$proxy" "${GUARD_PID[$app-$proxy]}" "${PROXY_URL[$app-$proxy]}${READY_PATH[$app]}")
    done
  done
  wait_many "${waits[@]}"
  for app in "${APPS[@]}"; do
    [ "${APP_UP[$app]}" = 1 ] || continue
    for proxy in $(guard_list "$app"); do
      [[ "$WAIT_FAILED" == *" cookieguard-$app-$proxy "* ]] || PROXY_UP[$app-$proxy]=1
    done
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
  # (no secret in their environment: the store is what these checks are about)
  NO_COLOR=1 RUST_LOG="${RUST_LOG:-info}" start "cookieguard replica $name on 127.0.0.1:$port" "$LOG_DIR/$name.log" \
    env -u AUTH_SECRET -u NEXTAUTH_SECRET -u AUTH0_SECRET -u COOKIEGUARD_SESSION_SECRET "$BIN" --config "$config" --listen "127.0.0.1:$port" --upstream "${APP_URL[$app]}"
  PROXY_PIDS+=("$STARTED_PID")
  waits+=("$name" "$STARTED_PID" "http://127.0.0.1:$port/api/auth/csrf")
}

if ! has_app v4 && ! has_app v5; then
  : # (E2E_APPS: the replicas are v4's and v5's)
elif [ -z "$SCALE_MISSING" ]; then
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
  # every replica and balancer at once, then one wait for all of them
  waits=()
  for app in v4 v5; do
    [ "${APP_UP[$app]}" = 1 ] || continue
    for store in memory redis; do
      key="$app-$store"
      read -r a b <<<"${REPLICAS[$key]}"
      start_replica "$app" "$store" "$a" "replica-$key-a"
      start_replica "$app" "$store" "$b" "replica-$key-b"
      waits+=("nginx-$key" "$NGINX_PID" "${BALANCER_URL[$key]}/api/auth/csrf")
    done
  done
  wait_many "${waits[@]}"
  for app in v4 v5; do
    [ "${APP_UP[$app]}" = 1 ] || continue
    for store in memory redis; do
      key="$app-$store"
      [[ "$WAIT_FAILED" == *" replica-$key-a "* || "$WAIT_FAILED" == *" replica-$key-b "* || "$WAIT_FAILED" == *" nginx-$key "* ]] ||
        SCALE_UP[$key]=1
    done
  done
else
  log "scale-out checks cannot run: $SCALE_MISSING"
fi

# ---------------------------------------------------------------- HTTPS stage: servers
# make_nginx_cert DIR: a test CA and a leaf certificate for 127.0.0.1 / localhost
make_nginx_cert() {
  local dir="$1"
  mkdir -p "$dir"
  cat >"$dir/openssl.cnf" <<'EOF'
[req]
distinguished_name = dn
prompt = no
[dn]
CN = cookieguard e2e test CA
[ca_ext]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
[leaf_ext]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = IP:127.0.0.1,DNS:localhost
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
EOF
  (
    cd "$dir" &&
      openssl req -config openssl.cnf -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
        -keyout ca.key -out ca.pem -days 30 -extensions ca_ext -subj "/CN=cookieguard e2e test CA" &&
      openssl req -config openssl.cnf -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
        -keyout leaf.key -out leaf.csr -subj "/CN=127.0.0.1" &&
      openssl x509 -req -in leaf.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 30 \
        -extfile openssl.cnf -extensions leaf_ext -out leaf.pem &&
      openssl verify -CAfile ca.pem leaf.pem
  ) >"$dir/openssl.log" 2>&1
}

# Caddy: one site per app; X-E2E-Upstream picks the guard cookieguard or the app itself
# (the control), anything else goes to the strip cookieguard. Upstream keep-alive stays
# below Node's 5 s (the control talks to Next.js directly).
write_caddyfile() {
  local app key up
  echo "{"
  echo "	admin off"
  echo "	auto_https disable_redirects"
  echo "	skip_install_trust"
  echo "	storage file_system {"
  echo "		root $TLS_DIR/caddy"
  echo "	}"
  echo "	servers {"
  echo "		protocols h1 h2"
  echo "	}"
  echo "}"
  for app in v4 v5; do
    key="caddy-$app"
    echo "${TLS_PUBLIC_URL[$key]} {"
    echo "	bind 127.0.0.1"
    echo "	tls internal"
    echo "	@guard header X-E2E-Upstream guard"
    echo "	@app header X-E2E-Upstream app"
    for up in "@guard ${TLS_GUARD_URL[$key-guard]#http://}" "@app ${TLS_APP_URL[$key]#http://}" "${TLS_GUARD_URL[$key-strip]#http://}"; do
      echo "	reverse_proxy $up {"
      echo "		transport http {"
      echo "			keepalive 4s"
      echo "		}"
      echo "	}"
    done
    echo "}"
  done
}

# nginx: the same with its own certificate; it connects to the cookieguards from
# 127.0.0.2 (proxy_bind) and sets X-Forwarded-* itself (a client's own are dropped).
write_nginx_tls_conf() {
  local dir="$1" app key tmp
  if [ "$(id -u)" -eq 0 ]; then echo "user root;"; fi
  echo "daemon off; worker_processes 1; pid $dir/nginx.pid; error_log $dir/logs/error.log warn;"
  echo "events { worker_connections 1024; }"
  echo "http {"
  echo "  access_log off;"
  # chunked session cookies: 4 KiB per chunk, several per response
  echo "  proxy_buffer_size 64k; proxy_buffers 8 64k; proxy_busy_buffers_size 128k; large_client_header_buffers 4 64k;"
  for tmp in client_body proxy fastcgi uwsgi scgi; do echo "  ${tmp}_temp_path $dir/tmp_$tmp;"; done
  echo "  map \$http_x_e2e_upstream \$e2e_upstream { guard guard; app app; default strip; }"
  for app in v4 v5; do
    key="nginx-$app"
    echo "  upstream ${app}_strip { server ${TLS_GUARD_URL[$key-strip]#http://}; keepalive 16; keepalive_timeout 4s; }"
    echo "  upstream ${app}_guard { server ${TLS_GUARD_URL[$key-guard]#http://}; keepalive 16; keepalive_timeout 4s; }"
    echo "  upstream ${app}_app { server ${TLS_APP_URL[$key]#http://}; keepalive 16; keepalive_timeout 4s; }"
    echo "  server {"
    echo "    listen ${TLS_PUBLIC_URL[$key]#https://} ssl http2;"
    echo "    ssl_certificate $TLS_DIR/nginx/leaf.pem; ssl_certificate_key $TLS_DIR/nginx/leaf.key;"
    echo "    location / {"
    echo "      proxy_pass http://${app}_\$e2e_upstream;"
    echo "      proxy_bind ${TLS_PEER[nginx]};"
    echo "      proxy_http_version 1.1; proxy_set_header Connection \"\";"
    echo "      proxy_set_header Host \$http_host;"
    echo "      proxy_set_header X-Forwarded-Proto \$scheme;"
    echo "      proxy_set_header X-Forwarded-Host \$http_host;"
    echo "      proxy_set_header X-Forwarded-For \$remote_addr;"
    echo "      proxy_buffering off;"
    echo "    }"
    echo "  }"
  done
  echo "}"
}

# start_tls_guard TERM APP MODE: a cookieguard (the app's secret in its environment)
# that trusts only the terminator's address
start_tls_guard() {
  local term="$1" app="$2" mode="$3" key="$1-$2" url="${TLS_GUARD_URL[$1-$2-$3]}"
  NO_COLOR=1 RUST_LOG="${RUST_LOG:-info}" start "cookieguard $mode for $term -> app-$key on ${url#http://}" \
    "$LOG_DIR/cookieguard-$key-$mode.log" \
    env -u AUTH_SECRET -u NEXTAUTH_SECRET -u AUTH0_SECRET -u COOKIEGUARD_SESSION_SECRET "${SECRET_VAR[$app]}=${SECRET[$app]}" \
    "$BIN" --config "$TLS_DIR/cookieguard-$term.toml" --listen "${url#http://}" --upstream "${TLS_APP_URL[$key]}" --mode "$mode"
  PROXY_PIDS+=("$STARTED_PID")
  waits+=("cookieguard-$key-$mode" "$STARTED_PID" "$url/api/auth/csrf")
}

declare -A TLS_CA=([caddy]="$TLS_DIR/caddy/pki/authorities/local/root.crt" [nginx]="$TLS_DIR/nginx/ca.pem")
if [ "$TLS_ON" = 1 ] && [ -z "$TLS_MISSING" ]; then
  rm -rf "$TLS_DIR"
  mkdir -p "$TLS_DIR/nginx-run/logs"
  if ! make_nginx_cert "$TLS_DIR/nginx"; then
    tail -n 5 "$TLS_DIR/nginx/openssl.log" >&2
    log "openssl could not make the test certificates (${TLS_DIR#"$ROOT"/}/nginx/openssl.log)"
  fi
  # the terminators first: Caddy makes its CA and certificates while the apps start
  write_caddyfile >"$TLS_DIR/Caddyfile"
  start "caddy, TLS terminator on ${TLS_PUBLIC_URL[caddy-v4]#https://} and ${TLS_PUBLIC_URL[caddy-v5]#https://}" "$LOG_DIR/caddy.log" \
    env XDG_CONFIG_HOME="$TLS_DIR/caddy-config" XDG_DATA_HOME="$TLS_DIR/caddy-data" \
    caddy run --config "$TLS_DIR/Caddyfile" --adapter caddyfile
  CADDY_PID=$STARTED_PID
  NGINX_TLS_PID=
  if [ -s "$TLS_DIR/nginx/leaf.pem" ]; then
    write_nginx_tls_conf "$TLS_DIR/nginx-run" >"$TLS_DIR/nginx-run/nginx.conf"
    start "nginx, TLS terminator on ${TLS_PUBLIC_URL[nginx-v4]#https://} and ${TLS_PUBLIC_URL[nginx-v5]#https://}" "$LOG_DIR/nginx-tls.log" \
      nginx -p "$TLS_DIR/nginx-run" -c "$TLS_DIR/nginx-run/nginx.conf" -e "$TLS_DIR/nginx-run/logs/error.log"
    NGINX_TLS_PID=$STARTED_PID
  fi
  for term in "${TERMINATORS[@]}"; do
    printf 'trusted_proxies = ["%s/32"]\n' "${TLS_PEER[$term]}" >"$TLS_DIR/cookieguard-$term.toml"
  done
  waits=()
  for term in "${TERMINATORS[@]}"; do
    for app in v4 v5; do waits+=("app-$term-$app" "${TLS_APP_PID[$term-$app]}" "${TLS_APP_URL[$term-$app]}/api/auth/csrf"); done
  done
  wait_many "${waits[@]}"
  waits=()
  for term in "${TERMINATORS[@]}"; do
    for app in v4 v5; do
      key="$term-$app"
      [[ "$WAIT_FAILED" == *" app-$key "* ]] || TLS_APP_UP[$key]=1
      if [ "${TLS_APP_UP[$key]}" = 1 ] && [ "$HAVE_PROXY" = 1 ] && [ "$HAVE_GUARD_MODE" = 1 ]; then
        for mode in strip guard; do start_tls_guard "$term" "$app" "$mode"; done
      fi
    done
  done
  wait_many "${waits[@]}"
  for term in "${TERMINATORS[@]}"; do
    for app in v4 v5; do
      for mode in strip guard; do
        [ "${TLS_APP_UP[$term-$app]}" = 1 ] && [ "$HAVE_PROXY" = 1 ] && [ "$HAVE_GUARD_MODE" = 1 ] &&
          [[ "$WAIT_FAILED" != *" cookieguard-$term-$app-$mode "* ]] && TLS_GUARD_UP[$term-$app-$mode]=1
      done
    done
  done
  # Node trusts both CAs (NODE_EXTRA_CA_CERTS is read when a node process starts)
  for _ in $(seq 1 150); do
    [ -s "${TLS_CA[caddy]}" ] && break
    kill -0 "$CADDY_PID" 2>/dev/null || break
    sleep 0.2
  done
  cat "${TLS_CA[nginx]}" "${TLS_CA[caddy]}" >"$TLS_DIR/ca-bundle.pem" 2>/dev/null || true
  export NODE_EXTRA_CA_CERTS="$TLS_DIR/ca-bundle.pem"
  for term in "${TERMINATORS[@]}"; do
    pid=$CADDY_PID
    [ "$term" = nginx ] && pid=$NGINX_TLS_PID
    if [ -z "$pid" ] || [ ! -s "${TLS_CA[$term]}" ]; then
      log "$term: no CA certificate (see its log), its checks will fail"
      continue
    fi
    wait_http "$term v4 site" "$pid" "${TLS_PUBLIC_URL[$term-v4]}/api/auth/csrf" &&
      wait_http "$term v5 site" "$pid" "${TLS_PUBLIC_URL[$term-v5]}/api/auth/csrf" &&
      TERM_UP[$term]=1
  done
elif [ "$TLS_ON" = 1 ]; then
  log "HTTPS stage cannot run: $TLS_MISSING"
fi

# ---------------------------------------------------------------- checks
# Each check writes its outcome to $RESULTS (one line: PASS|FAIL|LIMIT name), so that
# the two apps' checks can run side by side (E2E_SERIAL=1: one after the other).
RESULTS="$LOG_DIR/results"
: >"$RESULTS"
check_result() { # KIND NAME TEXT: record and print one outcome in one write
  printf '%s %s\n' "$1" "$2" >>"$RESULTS"
  printf '%s\n' "$3"
}
# check [--limitation] NAME CMD...
check() {
  local limitation=0
  [ "$1" = --limitation ] && { limitation=1; shift; }
  local name="$1"
  shift
  local out rc=0 t0=$SECONDS
  log "check: $name"
  # run in the background and `wait`, so that a signal reaches the trap at once
  "$@" >"$LOG_DIR/check-$name.out" 2>"$LOG_DIR/check-$name.log" &
  CHECK_PID=$!
  wait "$CHECK_PID" || rc=$?
  CHECK_PID=
  out="$(cat "$LOG_DIR/check-$name.out")"
  [ -n "$out" ] && printf '%s\n' "$out" >>"$LOG_DIR/figures"
  if [ "$rc" = 0 ] && [ "$limitation" = 1 ]; then
    check_result LIMIT "$name" "PASS (documented limitation) $name ($((SECONDS - t0)) s) $out"
  elif [ "$rc" = 0 ]; then
    check_result PASS "$name" "PASS $name ($((SECONDS - t0)) s) $out"
  else
    check_result FAIL "$name" "FAIL $name ($((SECONDS - t0)) s) $out
$(sed 's/^/    /' "$LOG_DIR/check-$name.log" | tail -n 20)"
  fi
}
fail_check() {
  check_result FAIL "$1" "FAIL $1 ($2)"
}
# check_if COND_VALUE REASON [--limitation] NAME CMD...: run the check when COND_VALUE
# is 1, else count it failed
check_if() {
  local cond="$1" reason="$2"
  shift 2
  local name="$1"
  [ "$name" = --limitation ] && name="$2"
  if [ "$cond" = 1 ]; then check "$@"; else fail_check "$name" "$reason"; fi
}
: >"$LOG_DIR/figures"

# (server-action ids: race.mjs reads app-<app>/.next/server/server-reference-manifest.json)
RACE=(node "$HERE/race.mjs" --slow-ms "$RACE_SLOW_MS" --parallel "$RACE_PARALLEL")
BROWSER=(node "$HERE/browser.mjs" --attempts "$BROWSER_ATTEMPTS" --slow-ms "$BROWSER_SLOW_MS")

BROWSER_OK=1
if [ "${E2E_SKIP_BROWSER:-0}" = 1 ]; then
  BROWSER_OK=0
  log "browser checks skipped (E2E_SKIP_BROWSER=1)"
elif [ ! -x "$CHROMIUM_PATH" ]; then
  BROWSER_OK=-1
  log "no chromium at $CHROMIUM_PATH (apt-get install -y chromium)"
fi

# race_case_args UPDATE SLOW AUTH BYTES TRIALS: race.mjs arguments of one table row
# (UPDATE "signout": the sign-out race)
race_case_args() {
  if [ "$1" = signout ]; then
    CASE_ARGS=(--scenario signout --slow-via "$2" --auth-via "$3" --trials "$5")
  else
    CASE_ARGS=(--update-via "$1" --slow-via "$2" --auth-via "$3" --trials "$5")
  fi
  [ "$4" != 0 ] && CASE_ARGS+=(--value-bytes "$4")
  return 0
}
# direct_args APP: DIRECT_ARGS[APP] as an array (DIRECT), APP_ARGS[APP] as APPX
direct_args() {
  DIRECT=()
  APPX=()
  [ -n "${DIRECT_ARGS[$1]:-}" ] && IFS='|' read -r -a DIRECT <<<"${DIRECT_ARGS[$1]}"
  [ -n "${APP_ARGS[$1]:-}" ] && IFS='|' read -r -a APPX <<<"${APP_ARGS[$1]}"
  return 0
}

# race_checks APP CASE: one case of the table: reverts directly, then as the table says
# through each cookieguard
race_checks() {
  local app="$1" up="${APP_UP[$1]}" d="${APP_URL[$1]}" want="$2"
  local row_app name update slow auth bytes e1 e2 e3 e4 trials control proxy expect i
  local cols ok lim extra DIRECT APPX
  direct_args "$app"
  while read -r row_app name update slow auth bytes e1 e2 e3 e4; do
    [ "$row_app" = "$app" ] && [ "$name" = "$want" ] || continue
    trials="$RACE_TRIALS"
    control="$RACE_CONTROL_TRIALS"
    [ "$bytes" != 0 ] && { trials="$RACE_CHUNKED_TRIALS"; control=$((RACE_CHUNKED_TRIALS < RACE_CONTROL_TRIALS ? RACE_CHUNKED_TRIALS : RACE_CONTROL_TRIALS)); }
    [ "$update" = signout ] && { trials="$RACE_SIGNOUT_TRIALS"; control=$((RACE_SIGNOUT_TRIALS < RACE_CONTROL_TRIALS ? RACE_SIGNOUT_TRIALS : RACE_CONTROL_TRIALS)); }
    race_case_args "$update" "$slow" "$auth" "$bytes" "$control"
    check_if "$up" "app-$app did not start" "race-$app-$name-direct" \
      "${RACE[@]}" "${CASE_ARGS[@]}" "${DIRECT[@]}" "${APPX[@]}" --slow-ms "$RACE_CONTROL_SLOW_MS" --base "$d" --app "$app" --target direct --expect reverts
    race_case_args "$update" "$slow" "$auth" "$bytes" "$trials"
    cols=("$e1" "$e2" "$e3" "$e4")
    for i in 0 1 2 3; do
      proxy="${PROXIES[$i]}"
      expect="${cols[$i]%!}"
      lim=()
      [ "$expect" != "${cols[$i]}" ] && lim=(--limitation)
      extra=(--target "cookieguard-$proxy" --expect "$expect")
      # the proxy's own checks, once per app and proxy: Host and X-Forwarded-* as
      # the app sees them; requests after 5.5 s idle (Node drops idle keep-alive
      # connections after 5 s; strip with the secret only); guard mode: every
      # GET /api/auth/session after a race re-sends the cookie, and ordinary requests
      # move the session's expiry (sliding)
      if [ "$name" = session ]; then
        extra+=(--check-forwarded)
        [ "$proxy" = strip-secret ] && extra+=(--idle-ms 5500 --sliding-checks 3)
        [ "${proxy%%-*}" = guard ] && extra+=(--sliding-checks 3 --expect-sliding)
      fi
      # (not better-auth: its session read, /api/me, writes nothing while the cache is valid)
      [ "${proxy%%-*}" = guard ] && [ "$expect" = none ] && [ "$update" != signout ] && [ "$app" != better-auth ] && extra+=(--expect-refresh)
      ok=$((APP_UP[$app] && ${PROXY_UP[$app-$proxy]:-0}))
      check_if "$ok" "cookieguard $proxy for app-$app is not running" "${lim[@]}" "race-$app-$name-$proxy" \
        "${RACE[@]}" "${CASE_ARGS[@]}" "${APPX[@]}" --base "${PROXY_URL[$app-$proxy]}" --app "$app" "${extra[@]}"
    done
  done <<<"$EXPECTATIONS"
}

# control_checks APP (v4, v5): the report-mode control and the replicas
control_checks() {
  local app="$1"
  # 1. control: cookieguard --mode report strips nothing, so the race reverts again
  check_if "$((APP_UP[$app] && ${PROXY_UP[$app-report]:-0}))" "cookieguard --mode report for app-$app is not running" \
    "race-$app-session-report-mode" \
    "${RACE[@]}" --trials "$RACE_CONTROL_TRIALS" --slow-ms "$RACE_CONTROL_SLOW_MS" --base "${PROXY_URL[$app-report]}" --app "$app" --target cookieguard-report-mode --expect reverts
  # 2. two guard-mode replicas behind a round robin: in-memory stores miss
  #    updates made through the other replica (reverts); a shared Redis does not
  if [ -n "$SCALE_MISSING" ]; then
    fail_check "race-$app-replicas-memory" "$SCALE_MISSING"
    fail_check "race-$app-replicas-redis" "$SCALE_MISSING"
    fail_check "race-$app-chunked-replicas-redis" "$SCALE_MISSING"
  else
    check_if "${SCALE_UP[$app-memory]}" "memory replicas for app-$app are not running" "race-$app-replicas-memory" \
      "${RACE[@]}" --trials "$RACE_CONTROL_TRIALS" --slow-ms "$RACE_CONTROL_SLOW_MS" --base "${BALANCER_URL[$app-memory]}" --app "$app" --target replicas-memory-store --expect reverts
    check_if "${SCALE_UP[$app-redis]}" "Redis replicas for app-$app are not running" "race-$app-replicas-redis" \
      "${RACE[@]}" --trials "$RACE_TRIALS" --base "${BALANCER_URL[$app-redis]}" --app "$app" --target replicas-redis-store --expect-refresh --sliding-checks 3 --expect-sliding --expect none
    check_if "${SCALE_UP[$app-redis]}" "Redis replicas for app-$app are not running" "race-$app-chunked-replicas-redis" \
      "${RACE[@]}" --trials "$RACE_CHUNKED_TRIALS" --value-bytes 5000 --base "${BALANCER_URL[$app-redis]}" --app "$app" --target replicas-redis-store --expect-refresh --expect none
  fi
}

browser_checks() {
  local app="$1" up="${APP_UP[$1]}" d="${APP_URL[$1]}" proxy ok DIRECT
  direct_args "$app"
  # a real browser: update() lost directly, kept through cookieguard (with the
  # secret); v5 also signs in, updates and signs out through server actions only,
  # through every cookieguard, with the secret and without. (--flow react: the app's
  # page at /, whatever its framework.) auth0: one check, through the strip cookieguard
  # with the secret (sign-in on the OP's form, update, race, logout).
  local flows=("${2:-react}")
  local flow tag proxies direct
  for flow in "${flows[@]}"; do
    tag="browser-$app"
    proxies=(strip-secret guard-secret)
    direct=(direct)
    if [ "$flow" = actions ]; then
      tag="browser-$app-actions"
      proxies=("${PROXIES[@]}")
    fi
    [ "$app" = auth0 ] && { proxies=(strip-secret); direct=(); }
    [ "$app" = better-auth ] && { proxies=(strip-secret); direct=(); }
    case "$BROWSER_OK" in
      1)
        [ "${#direct[@]}" -gt 0 ] && check_if "$up" "app-$app did not start" "$tag-direct" \
          "${BROWSER[@]}" --flow "$flow" "${DIRECT[@]}" --base "$d" --app "$app" --target direct --expect revert
        for proxy in "${proxies[@]}"; do
          ok=$((APP_UP[$app] && ${PROXY_UP[$app-$proxy]:-0}))
          check_if "$ok" "cookieguard $proxy for app-$app is not running" "$tag-$proxy" \
            "${BROWSER[@]}" --flow "$flow" --base "${PROXY_URL[$app-$proxy]}" --app "$app" --target "cookieguard-$proxy" --expect persist
        done
        ;;
      -1)
        for proxy in "${direct[@]}" "${proxies[@]}"; do
          fail_check "$tag-$proxy" "chromium missing at $CHROMIUM_PATH"
        done
        ;;
    esac
  done
}

# HTTPS stage: per terminator and app, the control (through the terminator straight to
# Next.js: the race reverts), then the `session` case through the strip and the guard
# cookieguard behind it. race.mjs asserts the __Secure- / __Host- cookie names over
# https; --check-forwarded: through the terminator the app sees https, the public host
# and the chain "client, terminator"; forged X-Forwarded-* sent to the terminator, or
# directly to the cookieguard from an address it does not trust, are replaced.
tls_ok() { # TERM APP UPSTREAM(strip|guard|app): 1 when that path is up
  local key="$1-$2"
  if [ "${TERM_UP[$1]}" = 1 ] && [ "${TLS_APP_UP[$key]}" = 1 ] && { [ "$3" = app ] || [ "${TLS_GUARD_UP[$key-$3]:-0}" = 1 ]; }; then
    echo 1
  else
    echo 0
  fi
}
tls_why() { # TERM APP
  if [ -n "$TLS_MISSING" ]; then echo "$TLS_MISSING"; else echo "the $1 stack for app-$2 is not running (logs in tests/e2e/.run)"; fi
}
tls_race_checks() {
  local app="$1" term key mode extra
  for term in "${TERMINATORS[@]}"; do
    key="$term-$app"
    check_if "$(tls_ok "$term" "$app" app)" "$(tls_why "$term" "$app")" "tls-$key-direct" \
      "${RACE[@]}" --trials "$RACE_CONTROL_TRIALS" --slow-ms "$RACE_CONTROL_SLOW_MS" --base "${TLS_PUBLIC_URL[$key]}" --header "X-E2E-Upstream: app" \
      --app "$app" --target "$term-direct" --expect reverts
    for mode in strip guard; do
      extra=(--check-forwarded --forwarded-for "127.0.0.1, ${TLS_PEER[$term]}"
        --forged-direct "${TLS_GUARD_URL[$key-$mode]}" --forged-from "${TLS_UNTRUSTED[$term]}")
      [ "$mode" = guard ] && extra+=(--expect-refresh)
      check_if "$(tls_ok "$term" "$app" "$mode")" "$(tls_why "$term" "$app")" "tls-$key-$mode" \
        "${RACE[@]}" --trials "$RACE_TRIALS" --base "${TLS_PUBLIC_URL[$key]}" --header "X-E2E-Upstream: $mode" \
        --app "$app" --target "$term-cookieguard-$mode" --expect none "${extra[@]}"
    done
  done
  # chunked __Secure-….0/.1, once per app, through nginx (whose header buffers chunked
  # cookies outgrow first): v4 in strip mode, v5 in guard mode
  mode=strip
  extra=()
  [ "$app" = v5 ] && { mode=guard; extra=(--expect-refresh); }
  check_if "$(tls_ok nginx "$app" "$mode")" "$(tls_why nginx "$app")" "tls-nginx-$app-chunked-$mode" \
    "${RACE[@]}" --trials "$RACE_CHUNKED_TRIALS" --value-bytes 5000 --base "${TLS_PUBLIC_URL[nginx-$app]}" \
    --header "X-E2E-Upstream: $mode" --app "$app" --target "nginx-cookieguard-$mode" --expect none "${extra[@]}"
}
# Chromium once per terminator: the v5 react flow through the strip cookieguard (the
# terminator's default upstream), the terminator's CA trusted (--ca-file).
tls_browser_checks() {
  local term
  for term in "${TERMINATORS[@]}"; do
    case "$BROWSER_OK" in
      1)
        check_if "$(tls_ok "$term" v5 strip)" "$(tls_why "$term" v5)" "browser-tls-$term-v5-strip" \
          "${BROWSER[@]}" --flow react --base "${TLS_PUBLIC_URL[$term-v5]}" --app v5 --target "$term-cookieguard-strip" \
          --ca-file "${TLS_CA[$term]}" --expect persist
        ;;
      -1) fail_check "browser-tls-$term-v5-strip" "chromium missing at $CHROMIUM_PATH" ;;
    esac
  done
}

# Warm-up, not counted: a Next.js server loads each route's code on its first request,
# and the first requests of a fresh Node process run slowly; two short races against
# each app directly, side by side, so that the first checks do not pay for that.
# (auth0: both update paths, the server action and the route handler, one after the other)
warm=()
for app in "${APPS[@]}"; do
  [ "${APP_UP[$app]}" = 1 ] || continue
  direct_args "$app"
  ways=("--update-via session")
  [ "$app" = auth0 ] && ways=("--update-via action" "--update-via profile")
  [ "$app" = better-auth ] && ways=("--update-via action" "--update-via session")
  : >"$LOG_DIR/warm-up-$app.out"
  for way in "${ways[@]}"; do
    # shellcheck disable=SC2086
    "${RACE[@]}" --trials 2 --parallel 2 $way "${DIRECT[@]}" "${APPX[@]}" --base "${APP_URL[$app]}" --app "$app" --target warm-up \
      >>"$LOG_DIR/warm-up-$app.out" 2>&1 || true
  done &
  warm+=("$!")
done
for pid in "${warm[@]}"; do wait "$pid" || true; done
log "warm-up done"

# The checks run from one work queue, E2E_WORKERS (4) at a time. A unit is one case of
# the table (its five checks), an app's browser checks, the report/replica controls, or
# the HTTPS stage's races or browser checks. Each app server is one mostly
# single-threaded process, and a race's update has to finish within the slow request's
# window, so a worker takes the first unit whose app server is not busy with another
# race unit (v5: two; the HTTPS stage's servers count as one per app); a browser unit (few
# requests) may share its app with a race unit but not with another browser unit, and
# at most two browser units run at once. The queue is ordered longest app first (v5 has
# the most cases), each app's browser units before its races. E2E_SERIAL=1 runs
# everything in turn.
# v5 has the most cases by far: two of its race units may run at once (its server stays
# well below one core), so that it does not become the whole run's tail.
declare -A QUEUE_CAP=([v5]=2)
QUEUE="$LOG_DIR/queue"
: >"$QUEUE"
: >"$QUEUE.busy"
queue_add() { # KEY UNIT...: KEY = the app server it keeps busy
  local key="$1"
  shift
  printf '%s|%s\n' "$key" "$*" >>"$QUEUE"
}
queue_app() { # APP: its browser units (v5: also the server-action flow), race units, controls
  local app="$1" row_app name
  if [ "$TLS_ONLY" != 1 ]; then
    [ "$app" = v5 ] && queue_add "browser-$app" browser_checks v5 actions
    queue_add "browser-$app" browser_checks "$app"
    while read -r row_app name _; do
      [ "$row_app" = "$app" ] && queue_add "$app" race_checks "$app" "$name"
    done <<<"$EXPECTATIONS"
    if [ "$app" = v4 ] || [ "$app" = v5 ]; then queue_add "$app" control_checks "$app"; fi
  fi
  if [ "$TLS_ON" = 1 ] && { [ "$app" = v4 ] || [ "$app" = v5 ]; }; then
    [ "$app" = v5 ] && queue_add browser-tls-v5 tls_browser_checks
    queue_add "tls-$app" tls_race_checks "$app"
  fi
}
for app in v5 v4 auth0 better-auth next-example sveltekit express; do has_app "$app" && queue_app "$app"; done
# take_unit: under the lock, prints the first unit whose app is free ("" when the queue
# is empty, "-" when every remaining unit waits for a busy app) and marks its app busy
take_unit() {
  exec 9>"$QUEUE.lock"
  flock 9
  local line key unit n=0 browsers
  [ -s "$QUEUE" ] || return 0
  browsers=$(grep -c '^browser$' "$QUEUE.busy" || true)
  while IFS= read -r line; do
    n=$((n + 1))
    key="${line%%|*}"
    unit="${line#*|}"
    [ "$(grep -cxF "$key" "$QUEUE.busy" || true)" -ge "${QUEUE_CAP[$key]:-1}" ] && continue
    case "$unit" in browser_checks* | tls_browser_checks) [ "$browsers" -ge 2 ] && continue ;; esac
    sed -i "${n}d" "$QUEUE"
    echo "$key" >>"$QUEUE.busy"
    case "$unit" in browser_checks* | tls_browser_checks) echo browser >>"$QUEUE.busy" ;; esac
    echo "$key|$unit"
    return 0
  done <"$QUEUE"
  echo -
}
release_unit() { # KEY UNIT: the unit is done
  (
    flock 9
    awk -v key="$1" -v browser="$([[ "$2" == *browser_checks* ]] && echo 1)" '
      $0 == key && !k { k = 1; next }
      $0 == "browser" && browser && !b { b = 1; next }
      { print }' "$QUEUE.busy" >"$QUEUE.busy.new"
    mv "$QUEUE.busy.new" "$QUEUE.busy"
  ) 9>"$QUEUE.lock"
}
worker() {
  local got unit
  while :; do
    got=$(take_unit)
    case "$got" in
      "") return 0 ;;
      -) sleep 0.2; continue ;;   # every remaining unit's app is busy: poll again
    esac
    unit="${got#*|}"
    $unit
    release_unit "${got%%|*}" "$unit"
  done
}
WORKERS="${E2E_WORKERS:-4}"
[ "${E2E_SERIAL:-0}" = 1 ] && WORKERS=1
for _ in $(seq 1 "$WORKERS"); do
  (
    trap '[ -n "$CHECK_PID" ] && kill -TERM "$CHECK_PID" 2>/dev/null; exit 143' TERM
    worker
  ) &
  LOOP_PIDS+=("$!")
done
for pid in "${LOOP_PIDS[@]}"; do wait "$pid" || true; done
LOOP_PIDS=()

# every proxy must still be alive after all of that
for pid in "${PROXY_PIDS[@]}"; do
  if ! kill -0 "$pid" 2>/dev/null; then
    fail_check "cookieguard-alive" "cookieguard pid $pid exited during the run"
  fi
done

PASSED=$(grep -cE '^(PASS|LIMIT) ' "$RESULTS" || true)
LIMITS=$(grep -c '^LIMIT ' "$RESULTS" || true)
FAILED=$(grep -c '^FAIL ' "$RESULTS" || true)
FAILED_NAMES=($(awk '$1 == "FAIL" { print $2 }' "$RESULTS"))
echo
echo "figures:"
sed 's/^/  /' "$LOG_DIR/figures"
[ "$LIMITS" -gt 0 ] && echo "documented limitations that held: $(awk '$1 == "LIMIT" { printf "%s ", $2 }' "$RESULTS")"
if [ "$FAILED" -gt 0 ]; then
  echo "failed checks: ${FAILED_NAMES[*]} (logs in ${LOG_DIR#"$ROOT"/})"
  for f in "$LOG_DIR"/cookieguard-*.log; do
    [ -f "$f" ] && { echo "--- tail of ${f#"$ROOT"/}"; tail -n 5 "$f" | cut -c1-300; }
  done
fi
log "done"
echo "$PASSED passed, $FAILED failed"
[ "$FAILED" -eq 0 ]
