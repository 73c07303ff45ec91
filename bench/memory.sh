#!/usr/bin/env bash
# Memory of cookieguard: idle; while a 1 GiB response streams through it (a
# fast client, then a slow one that makes the proxy hold back); and with
# 10,000 idle keep-alive client connections (last: glibc keeps freed memory,
# so it would hide the streaming figures), then the same 10,000 connections
# held by nginx as a reverse proxy (2 workers), for comparison in the same run.
#
#   bash bench/memory.sh
#
# Installs nginx, curl and python3 with apt-get when missing (as root),
# builds the release binary, runs an nginx upstream from a temp dir (small
# answer on /, a 1 GiB sparse file on /big) and samples cookieguard's VmRSS
# every 200 ms. The report is also written to bench/results/memory.txt.
#
# Knobs (environment): CONNS=10000 HOLD=15 (s the connections stay idle)
# SLOW_RATE=20M SLOW_SECONDS=6 OUT=bench/results/memory.txt KEEP_TMP=1.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"
trap cleanup EXIT
trap 'exit 130' INT TERM

CONNS=${CONNS:-10000}
HOLD=${HOLD:-15}
SLOW_RATE=${SLOW_RATE:-20M}
SLOW_SECONDS=${SLOW_SECONDS:-6}
OUT=${OUT:-$ROOT/bench/results/memory.txt}

need nginx nginx curl curl python3 python3

# 10k client sockets in the client and 10k in the proxy: raise the limit.
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
NOFILE=$(ulimit -n)
if [ "$NOFILE" != unlimited ] && [ "$NOFILE" -lt $((CONNS + 512)) ]; then
    echo "note: open-files limit is $NOFILE (hard limit $(ulimit -Hn)); using $((NOFILE - 512)) connections instead of $CONNS"
    CONNS=$((NOFILE - 512))
fi

release_bin

BENCH_TMP=$(mktemp -d /tmp/cookieguard-mem.XXXXXX)
UP_PORT="" CG_PORT="" NGINX_PORT=""
free_port UP_PORT
free_port CG_PORT
free_port NGINX_PORT
upstream_conf "$BENCH_TMP/upstream" "$UP_PORT" 2
# Room for every client connection and the upstream ones in each worker.
proxy_conf "$BENCH_TMP/nginx" "$NGINX_PORT" "$UP_PORT" $((CONNS + 1024))
truncate -s 1G "$BENCH_TMP/upstream/www/big.bin"

echo "== starting upstream (nginx :$UP_PORT) and cookieguard (:$CG_PORT)"
nginx -p "$BENCH_TMP/upstream" -c "$BENCH_TMP/upstream/nginx.conf" -e "$BENCH_TMP/upstream/logs/error.log" &
track $!
wait_http "http://127.0.0.1:$UP_PORT/"
env -u COOKIEGUARD_CONFIG -u COOKIEGUARD_MODE RUST_LOG=warn \
    "$BIN" --listen "127.0.0.1:$CG_PORT" --upstream "http://127.0.0.1:$UP_PORT" \
    2>"$BENCH_TMP/cookieguard.log" &
CG_PID=$!
track "$CG_PID"

# Listening, without sending it a request: the port in /proc/net/tcp, state LISTEN.
listening() { grep -qi ":$(printf '%04X' "$1") 00000000:0000 0A" /proc/net/tcp; }
for _ in $(seq 100); do listening "$CG_PORT" && break; sleep 0.1; done
listening "$CG_PORT" || die "cookieguard is not listening: $(cat "$BENCH_TMP/cookieguard.log")"

mib() { awk -v k="$1" 'BEGIN {printf "%.1f", k / 1024}'; }

# rss_of PID: VmRSS in KiB of cookieguard (its PID) or of the nginx proxy
# (its master's PID: the sum of its workers, which hold the connections).
rss_of() {
    if [ "$1" = "${NGINX_PID:-}" ]; then
        for p in $(pgrep -P "$1"); do vm_rss "$p"; done | awk '{s += $1} END {print s + 0}'
    else
        vm_rss "$1"
    fi
}

# sample_start FILE [PID] / sample_stop: VmRSS of cookieguard (or PID) every 200 ms.
sample_start() {
    local pid=${2:-$CG_PID}
    : >"$1"
    (while kill -0 "$pid" 2>/dev/null; do
        rss_of "$pid" >>"$1" 2>/dev/null || true
        sleep 0.2
    done) &
    SAMPLER=$!
    track "$SAMPLER"
}
sample_stop() {
    kill "$SAMPLER" 2>/dev/null || true
    wait "$SAMPLER" 2>/dev/null || true
}
# min max count of a sample file, in KiB
sample_stats() { sort -n "$1" | awk 'NR == 1 {min = $1} {max = $1; n++} END {print min, max, n}'; }

REPORT=$BENCH_TMP/report.txt

sleep 1
IDLE_START=$(vm_rss "$CG_PID")
for _ in $(seq 20); do curl -s -o /dev/null --max-time 5 -H "Cookie: $REQUEST_COOKIE" "http://127.0.0.1:$CG_PORT/"; done
sleep 1
IDLE_WARM=$(vm_rss "$CG_PID")

echo "== streaming 1 GiB through cookieguard (fast client)"
BEFORE_BIG=$(vm_rss "$CG_PID")
sample_start "$BENCH_TMP/rss-big.txt"
BIG=$(curl -s -o /dev/null --max-time 180 -w '%{http_code} %{size_download} %{speed_download}' "http://127.0.0.1:$CG_PORT/big") ||
    die "the 1 GiB download failed: $BIG"
sample_stop
read -r BIG_STATUS BIG_BYTES BIG_SPEED <<<"$BIG"
if [ "$BIG_STATUS" != 200 ] || [ "$BIG_BYTES" != 1073741824 ]; then
    die "1 GiB download: status $BIG_STATUS, $BIG_BYTES bytes"
fi
read -r BIG_MIN BIG_MAX BIG_N < <(sample_stats "$BENCH_TMP/rss-big.txt")

echo "== streaming through cookieguard to a slow client (${SLOW_RATE}B/s for ${SLOW_SECONDS}s)"
BEFORE_SLOW=$(vm_rss "$CG_PID")
sample_start "$BENCH_TMP/rss-slow.txt"
SLOW=$(curl -s -o /dev/null --limit-rate "$SLOW_RATE" --max-time "$SLOW_SECONDS" -w '%{size_download}' "http://127.0.0.1:$CG_PORT/big" || true)
sample_stop
read -r SLOW_MIN SLOW_MAX SLOW_N < <(sample_stats "$BENCH_TMP/rss-slow.txt")
# hold_idle NAME PID PORT: $CONNS idle keep-alive connections to PORT held
# $HOLD s; sets NAME_BEFORE NAME_OPEN NAME_PEAK NAME_AFTER (KiB) NAME_OPENED
# NAME_FAILED NAME_SECONDS NAME_STILL NAME_FDS.
hold_idle() {
    local name=$1 pid=$2 port=$3 opened failed seconds before all_open peak fds still after
    echo "== $CONNS idle keep-alive connections to $name, held ${HOLD}s"
    before=$(rss_of "$pid")
    sample_start "$BENCH_TMP/rss-conns-$name.txt" "$pid"
    python3 "$ROOT/bench/idle_conns.py" 127.0.0.1 "$port" "$CONNS" "$HOLD" >"$BENCH_TMP/client-$name.out" 2>"$BENCH_TMP/client-$name.err" &
    CLIENT=$!
    track "$CLIENT"
    for _ in $(seq 1200); do
        grep -q '^OPEN ' "$BENCH_TMP/client-$name.out" && break
        kill -0 "$CLIENT" 2>/dev/null || break
        sleep 0.1
    done
    read -r _ opened failed seconds < <(grep '^OPEN ' "$BENCH_TMP/client-$name.out") ||
        die "the client did not open its connections to $name: $(cat "$BENCH_TMP/client-$name.err")"
    sleep 2
    all_open=$(rss_of "$pid")
    fds=0
    for p in "$pid" $(pgrep -P "$pid" || true); do
        fds=$((fds + $(find "/proc/$p/fd" -mindepth 1 -maxdepth 1 | wc -l)))
    done
    timeout $((HOLD + 60)) tail --pid="$CLIENT" -f /dev/null || true
    wait "$CLIENT" || die "the client failed against $name: $(cat "$BENCH_TMP/client-$name.err")"
    sample_stop
    still=$(awk '/^STILL_OPEN/ {print $2}' "$BENCH_TMP/client-$name.out")
    read -r _ peak _ < <(sample_stats "$BENCH_TMP/rss-conns-$name.txt")
    sleep 2
    after=$(rss_of "$pid")
    printf -v "${name}_BEFORE" '%s' "$before"
    printf -v "${name}_OPEN" '%s' "$all_open"
    printf -v "${name}_PEAK" '%s' "$peak"
    printf -v "${name}_AFTER" '%s' "$after"
    printf -v "${name}_OPENED" '%s' "$opened"
    printf -v "${name}_FAILED" '%s' "$failed"
    printf -v "${name}_SECONDS" '%s' "$seconds"
    printf -v "${name}_STILL" '%s' "${still:-?}"
    printf -v "${name}_FDS" '%s' "$fds"
}

hold_idle cg "$CG_PID" "$CG_PORT"
HWM=$(vm_hwm "$CG_PID")

echo "== starting nginx as the proxy (:$NGINX_PORT, 2 workers)"
nginx -p "$BENCH_TMP/nginx" -c "$BENCH_TMP/nginx/nginx.conf" -e "$BENCH_TMP/nginx/logs/error.log" &
NGINX_PID=$!
track "$NGINX_PID"
wait_http "http://127.0.0.1:$NGINX_PORT/"
for _ in $(seq 20); do curl -s -o /dev/null --max-time 5 -H "Cookie: $REQUEST_COOKIE" "http://127.0.0.1:$NGINX_PORT/"; done
sleep 1
hold_idle ngx "$NGINX_PID" "$NGINX_PORT"
verdict() { if awk -v v="$1" -v t="$2" 'BEGIN {exit !(v < t)}'; then echo MET; else echo MISSED; fi; }
per_conn() { awk -v g="$1" -v n="${2:-1}" 'BEGIN {printf "%.2f", g / n}'; }
CG_GROWTH=$((cg_OPEN - cg_BEFORE))
NGX_GROWTH=$((ngx_OPEN - ngx_BEFORE))
CG_PER=$(per_conn "$CG_GROWTH" "$cg_OPENED")
NGX_PER=$(per_conn "$NGX_GROWTH" "$ngx_OPENED")
BIG_GROWTH=$((BIG_MAX - BEFORE_BIG))
SLOW_GROWTH=$((SLOW_MAX - BEFORE_SLOW))
{
    echo "cookieguard memory (bench/memory.sh), $(date -u '+%Y-%m-%d %H:%M UTC')"
    machine_summary
    echo "RSS = VmRSS of the cookieguard process, sampled every 200 ms; 1 MiB = 1024 KiB"
    echo
    echo "idle:"
    echo "  just started, no request yet          $(mib "$IDLE_START") MiB"
    echo "  after 20 requests, 1 s idle           $(mib "$IDLE_WARM") MiB   (target < 10 MiB: $(verdict "$IDLE_WARM" 10240))"
    echo
    echo "1 GiB response, fast client (curl -o /dev/null): $BIG_BYTES bytes at $(awk -v s="$BIG_SPEED" 'BEGIN {printf "%.0f", s / 1048576}') MiB/s"
    echo "  RSS before $(mib "$BEFORE_BIG") MiB; during: min $(mib "$BIG_MIN") max $(mib "$BIG_MAX") MiB over $BIG_N samples"
    echo "  growth (max - before) $(mib "$BIG_GROWTH") MiB   (flat = growth < 4 MiB: $(verdict "$BIG_GROWTH" 4096))"
    echo "slow client (curl --limit-rate $SLOW_RATE, ${SLOW_SECONDS}s, ${SLOW:-0} bytes read):"
    echo "  RSS before $(mib "$BEFORE_SLOW") MiB; during: min $(mib "$SLOW_MIN") max $(mib "$SLOW_MAX") MiB over $SLOW_N samples"
    echo "  growth (max - before) $(mib "$SLOW_GROWTH") MiB   (flat = growth < 4 MiB: $(verdict "$SLOW_GROWTH" 4096))"
    echo
    echo "$CONNS idle keep-alive connections (one request each, then idle ${HOLD}s; bench/idle_conns.py),"
    echo "held by cookieguard (defaults), then by nginx as the proxy (2 workers; RSS = sum of the workers):"
    printf '  %-36s %18s %18s\n' '' cookieguard nginx
    printf '  %-36s %18s %18s\n' 'opened / failed' "$cg_OPENED / $cg_FAILED" "$ngx_OPENED / $ngx_FAILED"
    printf '  %-36s %18s %18s\n' 'seconds to open them all' "$cg_SECONDS" "$ngx_SECONDS"
    printf '  %-36s %18s %18s\n' "still open after ${HOLD}s" "$cg_STILL" "$ngx_STILL"
    printf '  %-36s %18s %18s\n' 'open files of the process(es)' "$cg_FDS" "$ngx_FDS"
    printf '  %-36s %14s MiB %14s MiB\n' 'RSS before' "$(mib "$cg_BEFORE")" "$(mib "$ngx_BEFORE")"
    printf '  %-36s %14s MiB %14s MiB\n' 'RSS with all open (2 s after)' "$(mib "$cg_OPEN")" "$(mib "$ngx_OPEN")"
    printf '  %-36s %14s MiB %14s MiB\n' 'peak while opening/holding' "$(mib "$cg_PEAK")" "$(mib "$ngx_PEAK")"
    printf '  %-36s %14s MiB %14s MiB\n' 'RSS 2 s after they closed' "$(mib "$cg_AFTER")" "$(mib "$ngx_AFTER")"
    printf '  %-36s %14s KiB %14s KiB\n' 'growth per connection' "$CG_PER" "$NGX_PER"
    echo "  cookieguard/nginx per connection     $(awk -v a="$CG_PER" -v b="$NGX_PER" 'BEGIN {if (b > 0) printf "%.1f", a / b; else print "-"}') x"
    echo "  target: <= 4 KiB per idle connection (10,000 under 40 MiB above the idle process): $(verdict "$CG_PER" 4.0001)"
    echo
    echo "peak RSS of the whole run (VmHWM)       $(mib "$HWM") MiB"
    if [ -s "$BENCH_TMP/cookieguard.log" ]; then
        echo "cookieguard logged $(wc -l <"$BENCH_TMP/cookieguard.log") line(s), first: $(head -1 "$BENCH_TMP/cookieguard.log")"
    fi
} >"$REPORT"

echo
cat "$REPORT"
mkdir -p "$(dirname "$OUT")"
cp "$REPORT" "$OUT"
echo
echo "written to ${OUT#"$ROOT"/}"
