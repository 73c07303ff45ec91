#!/usr/bin/env bash
# Soak: guard mode with a Redis store under steady v5-like traffic for
# SOAK_SECONDS (default 600) at about 70 % of the peak rate, Redis killed for
# 10 s in the middle and restarted, and what it did:
#   requests, non-2xx (target 0), reverts of an update racing a slow request
#   (one race a second; target 0 outside the outage), cookieguard RSS and
#   Redis used_memory at 1 min, half-way and the end (target: RSS growth
#   < 5 % after the first minute).
#
#   bash bench/soak.sh
#
# The upstream (bench/soak-upstream.mjs) writes the session back on every
# response like the Auth.js v5 middleware; the load (bench/soak-load.mjs) is
# Node's http client with keep-alive, so "peak" is the peak of this load
# generator through cookieguard on this machine, measured first for 8 s.
# Knobs: SOAK_SECONDS=600 USERS=64 OUTAGE=10 (s) SHARE=70 (% of peak)
# OUT=bench/results/soak.txt. Needs redis-server, redis-cli and Node 20.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"
trap cleanup EXIT
trap 'exit 130' INT TERM

SOAK_SECONDS=${SOAK_SECONDS:-600}
USERS=${USERS:-64}
OUTAGE=${OUTAGE:-10}
SHARE=${SHARE:-70}
OUT=${OUT:-$ROOT/bench/results/soak.txt}
need redis-server redis-server redis-cli redis-tools node nodejs

release_bin
TMP=$(mktemp -d /tmp/cookieguard-soak.XXXXXX)
UP_PORT="" CG_PORT="" REDIS_PORT=""
free_port UP_PORT
free_port CG_PORT
free_port REDIS_PORT

start_redis() {
    redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --save "" --appendonly no >>"$TMP/redis.log" 2>&1 &
    REDIS_PID=$!
    track "$REDIS_PID"
    for _ in $(seq 50); do redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1 && return 0; sleep 0.1; done
    die "redis-server did not start: $(tail -5 "$TMP/redis.log")"
}
redis_memory() { redis-cli -p "$REDIS_PORT" info memory 2>/dev/null | awk -F: '/^used_memory:/ {print $2 + 0}' || echo 0; }
redis_keys() { redis-cli -p "$REDIS_PORT" dbsize 2>/dev/null || echo 0; }

start_redis
node "$ROOT/bench/soak-upstream.mjs" "$UP_PORT" &
track $!
wait_http "http://127.0.0.1:$UP_PORT/"
cat >"$TMP/cookieguard.toml" <<EOF
listen = "127.0.0.1:$CG_PORT"
upstream = "http://127.0.0.1:$UP_PORT"
mode = "guard"

[guard]
store = "redis"
redis_url = "redis://127.0.0.1:$REDIS_PORT/0"
# Loopback on 2 shared cores under load: 5 ms is sometimes exceeded (then a
# refresh is safely stripped); the soak is about leaks and the outage.
redis_timeout = "50ms"
EOF
env -u AUTH_SECRET -u NEXTAUTH_SECRET -u COOKIEGUARD_SESSION_SECRET RUST_LOG=warn \
    "$BIN" --config "$TMP/cookieguard.toml" 2>"$TMP/cookieguard.log" &
CG_PID=$!
track "$CG_PID"
wait_http "http://127.0.0.1:$CG_PORT/"

echo "== peak of this load generator through cookieguard (8 s, unthrottled)"
PEAK=$(node "$ROOT/bench/soak-load.mjs" --base "http://127.0.0.1:$CG_PORT" --seconds 8 --users "$USERS" | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(Math.round(JSON.parse(s).rate)))')
RATE=$((PEAK * SHARE / 100))
echo "   peak $PEAK req/s; soaking at $RATE req/s for ${SOAK_SECONDS}s"

node "$ROOT/bench/soak-load.mjs" --base "http://127.0.0.1:$CG_PORT" --seconds "$SOAK_SECONDS" --rate "$RATE" --users "$USERS" >"$TMP/load.json" &
LOAD_PID=$!
track "$LOAD_PID"
T0=$(date +%s)
at() { local target=$1 now; now=$(($(date +%s) - T0)); [ "$target" -gt "$now" ] && sleep $((target - now)); return 0; }
sample() { printf '%s\t%s\t%s\t%s\n' "$1" "$(vm_rss "$CG_PID")" "$(redis_memory)" "$(redis_keys)" >>"$TMP/samples.tsv"; }
: >"$TMP/samples.tsv"
HALF=$((SOAK_SECONDS / 2))
at 60; sample 60
at "$HALF"; sample "$HALF"
echo "== killing Redis at ${HALF}s for ${OUTAGE}s"
kill -KILL "$REDIS_PID"
OUTAGE_FROM=$(($(date +%s) - T0))
sleep "$OUTAGE"
start_redis
OUTAGE_TO=$(($(date +%s) - T0))
echo "   Redis back at ${OUTAGE_TO}s (empty: no persistence)"
at $((SOAK_SECONDS - 5)); sample "$SOAK_SECONDS"
wait "$LOAD_PID" || die "the load generator failed"

REPORT=$TMP/report.txt
node - "$TMP/load.json" "$TMP/samples.tsv" "$OUTAGE_FROM" "$OUTAGE_TO" "$PEAK" "$RATE" >"$REPORT" <<'JS'
const fs = require("fs");
const [load, samples, from, to, peak, rate] = process.argv.slice(2);
const s = JSON.parse(fs.readFileSync(load, "utf8"));
const rows = fs.readFileSync(samples, "utf8").trim().split("\n").map((l) => l.split("\t").map(Number));
const outside = s.revertSeconds.filter((t) => t < Number(from) || t > Number(to) + 5);
console.log(`load: ${s.requests} requests in ${s.seconds.toFixed(0)} s (${Math.round(s.rate)} req/s; peak ${peak}, target ${rate}), non-2xx ${s.non2xx}, connection errors ${s.errors}`);
console.log(`races (an update racing a slow request, one a second): ${s.races}, reverts ${s.reverts} (at s: ${s.revertSeconds.join(", ") || "none"}); outside the outage window ${outside.length}`);
console.log(`Redis down from ${from} s to ${to} s`);
console.log("at s   cookieguard RSS   Redis used_memory   Redis keys");
for (const [t, rss, mem, keys] of rows) console.log(`${String(t).padStart(4)}   ${String(rss).padStart(10)} KiB   ${String(mem).padStart(12)} B   ${String(keys).padStart(10)}`);
const growth = ((rows[rows.length - 1][1] - rows[0][1]) / rows[0][1]) * 100;
console.log(`cookieguard RSS growth after the first minute: ${growth.toFixed(1)} % (target < 5 %)`);
JS
{
    echo "cookieguard soak (bench/soak.sh), $(date -u '+%Y-%m-%d %H:%M UTC')"
    machine_summary
    echo "guard mode, Redis store (redis_timeout 50ms), ${USERS} users + 1 racer, ${SOAK_SECONDS}s, Redis killed for ${OUTAGE}s at ${HALF}s"
    cat "$REPORT"
    grep -c . "$TMP/cookieguard.log" | sed 's/^/cookieguard log lines (RUST_LOG=warn): /'
    head -3 "$TMP/cookieguard.log"
} | tee "$TMP/full.txt"
mkdir -p "$(dirname "$OUT")"
cp "$TMP/full.txt" "$OUT"
echo "written to ${OUT#"$ROOT"/}"
