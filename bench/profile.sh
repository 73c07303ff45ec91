#!/usr/bin/env bash
# Where a proxy's time goes, per request: CPU time, system calls (by kind),
# context switches and CPU migrations of nginx (2 workers) and of
# cookieguard under the same wrk load as bench/run.sh, counted with
# `perf stat` on the proxy processes only. With PERF_RECORD=1 it also samples
# cookieguard's stacks (`perf record -g`) and prints the hottest symbols.
#
#   bash bench/profile.sh
#   PERF_RECORD=1 bash bench/profile.sh
#
# Installs nginx, wrk, curl and linux-perf with apt-get when missing (as
# root). Needs perf tracepoints (raw_syscalls); hardware counters are not
# needed (VMs often have none). Knobs: DURATION=10 CONNECTIONS=64 THREADS=2
# RATE=N (fixed offered load of about N req/s, through wrk's delay(); CPU per
# request at equal load is less sensitive to other processes on the machine)
# BIN=path/to/cookieguard (skips the build; e.g. a build with debug line
# tables: CARGO_PROFILE_RELEASE_DEBUG=line-tables-only
# RUSTFLAGS=-Cforce-frame-pointers=yes cargo build --release --target-dir /tmp/cg-prof).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"
trap cleanup EXIT
trap 'exit 130' INT TERM

DURATION=${DURATION:-10}
CONNECTIONS=${CONNECTIONS:-64}
THREADS=${THREADS:-2}

need nginx nginx wrk wrk curl curl perf linux-perf

release_bin

BENCH_TMP=$(mktemp -d /tmp/cookieguard-prof.XXXXXX)
UP_PORT="" NGINX_PORT="" CG_PORT=""
free_port UP_PORT
free_port NGINX_PORT
free_port CG_PORT
upstream_conf "$BENCH_TMP/upstream" "$UP_PORT" 2
proxy_conf "$BENCH_TMP/nginx" "$NGINX_PORT" "$UP_PORT"
nginx -p "$BENCH_TMP/upstream" -c "$BENCH_TMP/upstream/nginx.conf" -e "$BENCH_TMP/upstream/logs/error.log" &
track $!
nginx -p "$BENCH_TMP/nginx" -c "$BENCH_TMP/nginx/nginx.conf" -e "$BENCH_TMP/nginx/logs/error.log" &
NGINX_PID=$!
track "$NGINX_PID"
env -u COOKIEGUARD_CONFIG -u COOKIEGUARD_MODE RUST_LOG=warn \
    "$BIN" --listen "127.0.0.1:$CG_PORT" --upstream "http://127.0.0.1:$UP_PORT" \
    2>"$BENCH_TMP/cookieguard.log" &
CG_PID=$!
track "$CG_PID"
wait_http "http://127.0.0.1:$NGINX_PORT/"
wait_http "http://127.0.0.1:$CG_PORT/"

SCRIPT=$ROOT/bench/report.lua
if [ -n "${RATE:-}" ]; then
    SCRIPT=$BENCH_TMP/fixed-rate.lua
    cat "$ROOT/bench/report.lua" >"$SCRIPT"
    # each connection waits CONNECTIONS/RATE s before its next request
    echo "delay = function() return $((CONNECTIONS * 1000 / RATE)) end" >>"$SCRIPT"
fi

SYSCALLS=(read write readv writev recvfrom sendto recvmsg sendmsg epoll_wait epoll_pwait futex sched_yield)
EVENTS="task-clock,context-switches,cpu-migrations,raw_syscalls:sys_enter"
for s in "${SYSCALLS[@]}"; do EVENTS+=",syscalls:sys_enter_$s"; done

echo "machine: $(nproc) CPUs; wrk -t$THREADS -c$CONNECTIONS -d${DURATION}s${RATE:+ at about $RATE req/s}; counts are of the proxy processes only"
printf '%-12s %9s %9s %9s %9s %9s  %s\n' proxy 'req/s' 'CPU us' syscalls 'ctx sw' migr 'syscalls per request by kind'
for target in nginx cookieguard; do
    if [ "$target" = nginx ]; then
        pids=$(pgrep -P "$NGINX_PID" | paste -sd, -)
        port=$NGINX_PORT
    else
        pids=$CG_PID
        port=$CG_PORT
    fi
    url="http://127.0.0.1:$port/"
    wrk -t"$THREADS" -c"$CONNECTIONS" -d3s -H "Cookie: $REQUEST_COOKIE" "$url" >/dev/null # warm-up
    perf stat -x, -e "$EVENTS" -o "$BENCH_TMP/stat-$target.csv" -p "$pids" -- \
        wrk -t"$THREADS" -c"$CONNECTIONS" -d"${DURATION}s" -H "Cookie: $REQUEST_COOKIE" -s "$SCRIPT" "$url" >"$BENCH_TMP/wrk-$target.txt"
    read -r requests duration < <(sed -n 's/^RESULT requests=\([0-9]*\) duration_us=\([0-9]*\).*/\1 \2/p' "$BENCH_TMP/wrk-$target.txt")
    awk -F, -v n="$requests" -v d="$duration" -v name="$target" '
        /^#/ || NF < 3 { next }
        { v = $1 + 0; ev = $3 }
        ev == "task-clock" { cpu = v * 1000 / n }          # msec -> us per request
        ev == "context-switches" { cs = v / n }
        ev == "cpu-migrations" { mg = v / n }
        ev == "raw_syscalls:sys_enter" { sc = v / n }
        ev ~ /^syscalls:sys_enter_/ && v > 0 { sub("syscalls:sys_enter_", "", ev); kinds = kinds sprintf(" %s %.2f", ev, v / n) }
        END { printf "%-12s %9.0f %9.1f %9.2f %9.2f %9.3f %s\n", name, n / (d / 1e6), cpu, sc, cs, mg, kinds }
    ' "$BENCH_TMP/stat-$target.csv"
done

if [ -n "${PERF_RECORD:-}" ]; then
    echo
    echo "== perf record -g of cookieguard during ${DURATION}s of load (top symbols, self time)"
    perf record -q -e cpu-clock -g -o "$BENCH_TMP/perf.data" -p "$CG_PID" -- \
        wrk -t"$THREADS" -c"$CONNECTIONS" -d"${DURATION}s" -H "Cookie: $REQUEST_COOKIE" "http://127.0.0.1:$CG_PORT/" >/dev/null 2>&1
    perf report -i "$BENCH_TMP/perf.data" --stdio --no-children --sort dso,sym -g none 2>/dev/null |
        grep -v '^#' | grep -v '^$' | head -40
fi
