#!/usr/bin/env bash
# Throughput and latency: cookieguard vs nginx (2 workers), HAProxy (2
# threads) and Caddy as reverse proxies in front of the same fast upstream,
# and the upstream directly, in one run; cookieguard twice: without the app's
# secret and with it (tokens read).
#
#   bash bench/run.sh
#
# Installs nginx, wrk and curl with apt-get when missing (as root), builds
# the release binary, generates every config into a temp dir, checks that
# cookieguard strips the session cookie and nginx hides Set-Cookie, then runs
# ROUNDS rounds of `wrk -t2 -c64 -d10s --latency` against direct / nginx /
# haproxy / caddy / cookieguard / cookieguard-secret in rotating order and
# prints medians and ratios. Every request carries a real next-auth session token and every
# response writes one back (a refresh), so the secret-aware reader works on
# each response. The report is also written to bench/results/latest.txt.
#
# Knobs (environment): ROUNDS=3 DURATION=10 (s) WARMUP=3 (s) CONNECTIONS=64
# THREADS=2 OUT=bench/results/latest.txt KEEP_TMP=1 (keep configs and logs)
# BIN=path (skip the build) COMPARE_BIN=path (another cookieguard build, e.g.
# the previous commit's, as one more target: cookieguard-base).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"
trap cleanup EXIT
trap 'exit 130' INT TERM

ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-10}
WARMUP=${WARMUP:-3}
CONNECTIONS=${CONNECTIONS:-64}
THREADS=${THREADS:-2}
OUT=${OUT:-$ROOT/bench/results/latest.txt}

need nginx nginx wrk wrk curl curl haproxy haproxy caddy caddy

release_bin

BENCH_TMP=$(mktemp -d /tmp/cookieguard-bench.XXXXXX)
UP_PORT="" NGINX_PORT="" HAPROXY_PORT="" CADDY_PORT="" CG_PORT="" CGS_PORT="" CGB_PORT=""
free_port UP_PORT
free_port NGINX_PORT
free_port HAPROXY_PORT
free_port CADDY_PORT
free_port CGB_PORT
free_port CG_PORT
free_port CGS_PORT
CLK_TCK=$(getconf CLK_TCK)

# The upstream: nginx answering a small body with three Set-Cookie headers.
upstream_conf "$BENCH_TMP/upstream" "$UP_PORT" 2

proxy_conf "$BENCH_TMP/nginx" "$NGINX_PORT" "$UP_PORT"
haproxy_conf "$BENCH_TMP/haproxy" "$HAPROXY_PORT" "$UP_PORT"
caddy_conf "$BENCH_TMP/caddy" "$CADDY_PORT" "$UP_PORT"

echo "== starting upstream (nginx :$UP_PORT), nginx proxy (:$NGINX_PORT), HAProxy (:$HAPROXY_PORT), Caddy (:$CADDY_PORT), cookieguard (:$CG_PORT)"
nginx -p "$BENCH_TMP/upstream" -c "$BENCH_TMP/upstream/nginx.conf" -e "$BENCH_TMP/upstream/logs/error.log" &
UP_PID=$!
track "$UP_PID"
nginx -p "$BENCH_TMP/nginx" -c "$BENCH_TMP/nginx/nginx.conf" -e "$BENCH_TMP/nginx/logs/error.log" &
NGINX_PID=$!
track "$NGINX_PID"
haproxy -db -f "$BENCH_TMP/haproxy/haproxy.cfg" 2>"$BENCH_TMP/haproxy/haproxy.log" &
HAPROXY_PID=$!
track "$HAPROXY_PID"
XDG_DATA_HOME="$BENCH_TMP/caddy/data" XDG_CONFIG_HOME="$BENCH_TMP/caddy/config" \
    caddy run --config "$BENCH_TMP/caddy/Caddyfile" --adapter caddyfile 2>"$BENCH_TMP/caddy/caddy.log" &
CADDY_PID=$!
track "$CADDY_PID"
NO_SECRET=(-u COOKIEGUARD_SESSION_SECRET -u AUTH_SECRET -u NEXTAUTH_SECRET -u COOKIEGUARD_SESSION_SECRET_FILE)
env -u COOKIEGUARD_CONFIG -u COOKIEGUARD_MODE "${NO_SECRET[@]}" RUST_LOG=warn \
    "$BIN" --listen "127.0.0.1:$CG_PORT" --upstream "http://127.0.0.1:$UP_PORT" \
    2>"$BENCH_TMP/cookieguard.log" &
CG_PID=$!
track "$CG_PID"
env -u COOKIEGUARD_CONFIG -u COOKIEGUARD_MODE "${NO_SECRET[@]}" RUST_LOG=warn NEXTAUTH_SECRET="$BENCH_SECRET" \
    "$BIN" --listen "127.0.0.1:$CGS_PORT" --upstream "http://127.0.0.1:$UP_PORT" \
    2>"$BENCH_TMP/cookieguard-secret.log" &
CGS_PID=$!
track "$CGS_PID"
CGB_PID=""
if [ -n "${COMPARE_BIN:-}" ]; then
    [ -x "$COMPARE_BIN" ] || die "COMPARE_BIN=$COMPARE_BIN is not an executable"
    env -u COOKIEGUARD_CONFIG -u COOKIEGUARD_MODE "${NO_SECRET[@]}" RUST_LOG=warn \
        "$COMPARE_BIN" --listen "127.0.0.1:$CGB_PORT" --upstream "http://127.0.0.1:$UP_PORT" \
        2>"$BENCH_TMP/cookieguard-base.log" &
    CGB_PID=$!
    track "$CGB_PID"
fi

declare -A URL=(
    [direct]="http://127.0.0.1:$UP_PORT/"
    [nginx]="http://127.0.0.1:$NGINX_PORT/"
    [haproxy]="http://127.0.0.1:$HAPROXY_PORT/"
    [caddy]="http://127.0.0.1:$CADDY_PORT/"
    [cookieguard]="http://127.0.0.1:$CG_PORT/"
    [cookieguard-secret]="http://127.0.0.1:$CGS_PORT/"
    [cookieguard-base]="http://127.0.0.1:$CGB_PORT/"
)
TARGETS=(direct nginx haproxy caddy cookieguard cookieguard-secret)
[ -n "$CGB_PID" ] && TARGETS+=(cookieguard-base)
for target in "${TARGETS[@]}"; do wait_http "${URL[$target]}"; done

echo "== checking what each path does to Set-Cookie"
headers_of() { curl -s -D - -o /dev/null --max-time 5 -H "Cookie: $REQUEST_COOKIE" "$1" | tr -d '\r'; }
direct_h=$(headers_of "${URL[direct]}")
nginx_h=$(headers_of "${URL[nginx]}")
cg_h=$(headers_of "${URL[cookieguard]}")
cgs_h=$(headers_of "${URL[cookieguard-secret]}")
grep -qi '^set-cookie: next-auth\.session-token=' <<<"$cgs_h" &&
    die "cookieguard with the secret let the session cookie through:
$cgs_h"
count_set_cookie() { grep -ci '^set-cookie:' <<<"$1" || true; }
[ "$(count_set_cookie "$direct_h")" -eq 3 ] || die "the upstream should send 3 Set-Cookie headers:
$direct_h"
[ "$(count_set_cookie "$nginx_h")" -eq 0 ] || die "nginx should hide every Set-Cookie:
$nginx_h"
for other in haproxy caddy; do
    other_h=$(headers_of "${URL[$other]}")
    [ "$(count_set_cookie "$other_h")" -eq 0 ] || die "$other should remove every Set-Cookie:
$other_h"
    head -1 <<<"$other_h" | grep -q ' 200' || die "$other: expected 200: $(head -1 <<<"$other_h")"
done
grep -qi '^set-cookie: next-auth\.session-token=' <<<"$cg_h" &&
    die "cookieguard let the session cookie through:
$cg_h"
grep -qi '^set-cookie: next-auth\.csrf-token=' <<<"$cg_h" || die "cookieguard lost the CSRF cookie:
$cg_h"
grep -qi '^set-cookie: theme=dark' <<<"$cg_h" || die "cookieguard lost the app cookie:
$cg_h"
for h in "$direct_h" "$nginx_h" "$cg_h"; do
    head -1 <<<"$h" | grep -q ' 200' || die "expected 200: $(head -1 <<<"$h")"
done
echo "   direct: 3 Set-Cookie; nginx, HAProxy, Caddy: none; cookieguard (both): csrf + theme, session token removed"

# CPU time (clock ticks) of a process and its children (nginx workers).
# cpu_ticks PID: "user system" clock ticks of a process and its children.
cpu_ticks() {
    local pids=("$1")
    mapfile -t -O 1 pids < <(pgrep -P "$1" || true)
    for p in "${pids[@]}"; do awk '{print $14, $15}' "/proc/$p/stat" 2>/dev/null || true; done |
        awk '{u += $1; s += $2} END {print u + 0, s + 0}'
}
proxy_pid() {
    case $1 in
    nginx) echo "$NGINX_PID" ;;
    haproxy) echo "$HAPROXY_PID" ;;
    caddy) echo "$CADDY_PID" ;;
    cookieguard) echo "$CG_PID" ;;
    cookieguard-secret) echo "$CGS_PID" ;;
    cookieguard-base) echo "$CGB_PID" ;;
    *) echo "" ;;
    esac
}

RESULTS=$BENCH_TMP/results.tsv
: >"$RESULTS"
# run_wrk TARGET SECONDS ROUND: one wrk run; appends a line to $RESULTS unless ROUND is "warmup".
run_wrk() {
    local target=$1 seconds=$2 round=$3 out line ppid u0 s0 u1 s1 up0 up1 pcpu="-" psys="-"
    out=$BENCH_TMP/wrk-$target-$round.txt
    ppid=$(proxy_pid "$target")
    [ -n "$ppid" ] && read -r u0 s0 < <(cpu_ticks "$ppid")
    up0=$(cpu_ticks "$UP_PID" | awk '{print $1 + $2}')
    timeout $((seconds + 30)) wrk -t"$THREADS" -c"$CONNECTIONS" -d"${seconds}s" --latency -H "Cookie: $REQUEST_COOKIE" \
        -s "$ROOT/bench/report.lua" "${URL[$target]}" >"$out" 2>&1 ||
        die "wrk failed against $target: $(cat "$out")"
    up1=$(cpu_ticks "$UP_PID" | awk '{print $1 + $2}')
    [ -n "$ppid" ] && read -r u1 s1 < <(cpu_ticks "$ppid")
    [ "$round" = warmup ] && return 0
    line=$(grep '^RESULT ' "$out") || die "no RESULT line from wrk: $(cat "$out")"
    # requests duration_us p50 p90 p99 max errors non2xx
    read -r req dur p50 p90 p99 pmax err non2xx < <(sed 's/[a-z0-9_]*=//g; s/^RESULT //' <<<"$line")
    if [ -n "$ppid" ]; then
        pcpu=$(awk -v d=$((u1 + s1 - u0 - s0)) -v hz="$CLK_TCK" -v n="$req" 'BEGIN {printf "%.1f", d * 1e6 / hz / n}')
        psys=$(awk -v d=$((s1 - s0)) -v hz="$CLK_TCK" -v n="$req" 'BEGIN {printf "%.1f", d * 1e6 / hz / n}')
    fi
    local ucpu
    ucpu=$(awk -v d=$((up1 - up0)) -v hz="$CLK_TCK" -v n="$req" 'BEGIN {printf "%.1f", d * 1e6 / hz / n}')
    local rps
    rps=$(awk -v n="$req" -v d="$dur" 'BEGIN {printf "%.0f", n / (d / 1e6)}')
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' \
        "$round" "$target" "$rps" "$p50" "$p90" "$p99" "$pmax" "$((err + non2xx))" "$pcpu" "$ucpu" "$psys" >>"$RESULTS"
    printf '   round %s  %-18s %9s req/s  p50 %6s us  p99 %6s us  errors %s  proxy CPU %s us/req\n' \
        "$round" "$target" "$rps" "$p50" "$p99" "$((err + non2xx))" "$pcpu"
}

echo "== warm-up (${WARMUP}s each)"
for target in "${TARGETS[@]}"; do run_wrk "$target" "$WARMUP" warmup; done

echo "== $ROUNDS rounds x ${DURATION}s, wrk -t$THREADS -c$CONNECTIONS, rotating order"
for ((r = 1; r <= ROUNDS; r++)); do
    for ((i = 0; i < ${#TARGETS[@]}; i++)); do
        run_wrk "${TARGETS[(i + r - 1) % ${#TARGETS[@]}]}" "$DURATION" "$r"
    done
done

CG_HWM=$(vm_hwm "$CG_PID")
CG_RSS=$(vm_rss "$CG_PID")
NGINX_RSS=$(for p in $(pgrep -P "$NGINX_PID"); do vm_rss "$p"; done | awk '{s += $1} END {print s + 0}')
grep -v '^$' "$BENCH_TMP/cookieguard.log" >"$BENCH_TMP/cg-warnings.log" || true

REPORT=$BENCH_TMP/report.txt
{
    echo "cookieguard benchmark (bench/run.sh), $(date -u '+%Y-%m-%d %H:%M UTC')"
    machine_summary
    echo "tools: $(nginx -v 2>&1 | sed 's/^nginx version: //'), HAProxy $(haproxy -v | head -1 | cut -d' ' -f3), Caddy $(caddy version | cut -d' ' -f1), $(wrk -v 2>&1 | head -1 | cut -d' ' -f1-2)"
    echo "load: wrk -t$THREADS -c$CONNECTIONS -d${DURATION}s --latency, $ROUNDS rounds in rotating order after ${WARMUP}s warm-ups"
    echo "upstream: nginx (2 workers) returning a 24-byte body + 3 Set-Cookie; nginx proxy: 2 workers,"
    echo "  keepalive 64 to the upstream, proxy_hide_header Set-Cookie; HAProxy: nbthread 2, http-reuse always,"
    echo "  http-response del-header Set-Cookie; Caddy: defaults, header_down -Set-Cookie, 64 idle upstream"
    echo "  connections; cookieguard: RUST_LOG=warn, defaults;"
    echo "  cookieguard-secret: the same with NEXTAUTH_SECRET set (both tokens of each exchange read);"
    echo "  every request carries a real next-auth 4 token (484 B), every response writes another back"
    [ -n "$CGB_PID" ] && echo "  cookieguard-base: $COMPARE_BIN, defaults, for comparison in the same run"
    echo "CAVEAT: wrk, the upstream and the proxy share the same $(nproc) CPUs, so every figure includes"
    echo "  contention between them; a proxy that uses less CPU per request leaves more to the others."
    echo
    echo "per round:"
    printf '  %-5s %-18s %10s %8s %8s %8s %7s %11s %11s\n' round target 'req/s' 'p50 us' 'p90 us' 'p99 us' errors 'proxy CPU' 'upstr. CPU'
    awk -F'\t' '{printf "  %-5s %-18s %10s %8s %8s %8s %7s %8s us %8s us\n", $1, $2, $3, $4, $5, $6, $8, $9, $10}' "$RESULTS"
    echo
    echo "median over rounds (CPU = CPU time per request of the proxy process(es); kernel = its system part):"
    printf '  %-18s %10s %8s %8s %12s %14s\n' target 'req/s' 'p50 us' 'p99 us' 'proxy CPU' 'of it kernel'
    awk -F'\t' -v targets="${TARGETS[*]}" '
        function median(list,   a, n, i, j, t) {
            n = split(list, a, " ")
            for (i = 2; i <= n; i++) for (j = i; j > 1 && a[j - 1] + 0 > a[j] + 0; j--) { t = a[j]; a[j] = a[j - 1]; a[j - 1] = t }
            return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
        }
        # median over rounds of x/y, for requests/s (r) or p99 (l)
        function ratio(m, x, y,   list, k) {
            list = ""
            for (k in rounds) list = list " " (m == "r" ? r[k, x] / r[k, y] : l[k, x] / l[k, y])
            return median(list)
        }
        { rps[$2] = rps[$2] " " $3; p50[$2] = p50[$2] " " $4; p99[$2] = p99[$2] " " $6; cpu[$2] = cpu[$2] " " $9; sys[$2] = sys[$2] " " $11
          r[$1, $2] = $3; l[$1, $2] = $6; rounds[$1] = 1 }
        END {
            n = split(targets, order, " ")
            for (k = 1; k <= n; k++) {
                t = order[k]
                c = (t == "direct") ? "-" : sprintf("%.1f us/req", median(cpu[t]))
                k2 = (t == "direct") ? "-" : sprintf("%.1f us/req", median(sys[t]))
                printf "  %-18s %10.0f %8.0f %8.0f %12s %14s\n", t, median(rps[t]), median(p50[t]), median(p99[t]), c, k2
            }
            tput = ratio("r", "cookieguard", "nginx"); lat = ratio("l", "cookieguard", "nginx")
            print ""
            printf "ratios (median of per-round ratios):\n"
            printf "  throughput cookieguard/nginx    %.2f   (target >= 1.20: %s)\n", tput, (tput >= 1.2 ? "MET" : "MISSED")
            printf "  p99 cookieguard/nginx           %.2f   (target <= 1.00: %s)\n", lat, (lat <= 1.0 ? "MET" : "MISSED")
            printf "  throughput cookieguard/haproxy  %.2f   p99 %.2f\n", ratio("r", "cookieguard", "haproxy"), ratio("l", "cookieguard", "haproxy")
            printf "  throughput cookieguard/caddy    %.2f   p99 %.2f\n", ratio("r", "cookieguard", "caddy"), ratio("l", "cookieguard", "caddy")
            printf "  throughput cookieguard/direct   %.2f\n", ratio("r", "cookieguard", "direct")
            printf "  throughput with secret/without  %.2f\n", ratio("r", "cookieguard-secret", "cookieguard")
            printf "  proxy CPU per request with secret/without %.2f (%.1f vs %.1f us/req)\n", median(cpu["cookieguard-secret"]) / median(cpu["cookieguard"]), median(cpu["cookieguard-secret"]), median(cpu["cookieguard"])
            if ("cookieguard-base" in rps) {
                printf "  throughput cookieguard-base/nginx %.2f   p99 %.2f   (this build: %.2f, %.2f)\n", ratio("r", "cookieguard-base", "nginx"), ratio("l", "cookieguard-base", "nginx"), tput, lat
                printf "  proxy CPU per request cookieguard/cookieguard-base %.2f (%.1f vs %.1f us/req)\n", median(cpu["cookieguard"]) / median(cpu["cookieguard-base"]), median(cpu["cookieguard"]), median(cpu["cookieguard-base"])
            }
        }' "$RESULTS"
    echo
    echo "memory after the run: cookieguard peak RSS (VmHWM) $((CG_HWM / 1024)) MiB ($CG_HWM KiB), current RSS $((CG_RSS / 1024)) MiB;"
    echo "  nginx proxy workers RSS (sum) $((NGINX_RSS / 1024)) MiB"
    if [ -s "$BENCH_TMP/cg-warnings.log" ]; then
        echo "cookieguard logged $(wc -l <"$BENCH_TMP/cg-warnings.log") warning line(s), first: $(head -1 "$BENCH_TMP/cg-warnings.log")"
    fi
} >"$REPORT"

echo
cat "$REPORT"
mkdir -p "$(dirname "$OUT")"
cp "$REPORT" "$OUT"
echo
echo "written to ${OUT#"$ROOT"/}"
