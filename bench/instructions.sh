#!/usr/bin/env bash
# User-space instructions per proxied request, counted by callgrind: exact and
# repeatable (the same binary and inputs give the same count whatever else
# the machine is doing), so a change of a few percent shows where wrk's
# requests/s on shared cores cannot. Kernel time is not counted.
#
#   bash bench/instructions.sh
#
# Runs cookieguard (defaults, strip mode) under `valgrind --tool=callgrind`
# in front of the same nginx upstream as bench/run.sh, twice: N1 and N2
# keep-alive requests on one connection; the difference of the totals over
# N2 - N1 is the cost of one request, start-up and shutdown cancelled out.
# Keeps the second profile for `callgrind_annotate` (path printed at the end).
# Knobs: N1=200 N2=2200 BIN=path/to/cookieguard (skips the build), MODE=strip
# (or guard: every response's session write is then judged by guard memory).
# Installs nginx, curl and valgrind with apt-get when missing (as root).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"
trap cleanup EXIT
trap 'exit 130' INT TERM

N1=${N1:-200}
N2=${N2:-2200}
MODE=${MODE:-strip}
need nginx nginx curl curl valgrind valgrind python3 python3
release_bin

BENCH_TMP=$(mktemp -d /tmp/cookieguard-instr.XXXXXX)
UP_PORT=""
free_port UP_PORT
upstream_conf "$BENCH_TMP/upstream" "$UP_PORT" 1
nginx -p "$BENCH_TMP/upstream" -c "$BENCH_TMP/upstream/nginx.conf" -e "$BENCH_TMP/upstream/logs/error.log" &
track $!

# profile N OUT: N requests through cookieguard under callgrind, profile in OUT.
profile() {
    local requests=$1 out=$2 cg_port="" pid
    free_port cg_port
    RUST_LOG=warn valgrind --tool=callgrind --callgrind-out-file="$out" \
        "$BIN" --listen "127.0.0.1:$cg_port" --upstream "http://127.0.0.1:$UP_PORT" --mode "$MODE" 2>"$out.log" &
    pid=$!
    track "$pid"
    for _ in $(seq 300); do curl -s -o /dev/null "http://127.0.0.1:$cg_port/" && break; sleep 0.1; done
    python3 - "$cg_port" "$requests" "$REQUEST_COOKIE" <<'PY'
import socket, sys
port, count, cookie = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
conn = socket.create_connection(("127.0.0.1", port))
# A signed-in browser: the response's session cookie is a refresh.
request = ("GET / HTTP/1.1\r\nHost: bench.local\r\nUser-Agent: instructions\r\nAccept: */*\r\n"
           "Cookie: " + cookie + "\r\n\r\n").encode()
pending = b""
for _ in range(count):
    conn.sendall(request)
    while True:
        end = pending.find(b"\r\n\r\n")
        if end >= 0:
            length = 0
            for line in pending[:end].split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            if len(pending) >= end + 4 + length:
                pending = pending[end + 4 + length:]
                break
        chunk = conn.recv(65536)
        if not chunk:
            sys.exit("connection closed")
        pending += chunk
conn.close()
PY
    kill -INT "$pid"
    wait "$pid" 2>/dev/null || true
}

profile "$N1" "$BENCH_TMP/first.out"
profile "$N2" "$BENCH_TMP/second.out"
total() { grep -E '^(summary|totals):' "$1" | head -1 | awk '{print $2}'; }
first=$(total "$BENCH_TMP/first.out")
second=$(total "$BENCH_TMP/second.out")

mkdir -p "$ROOT/target"
cp "$BENCH_TMP/second.out" "$ROOT/target/callgrind.out"
echo "cookieguard $(git rev-parse --short HEAD), $MODE mode: $(((second - first) / (N2 - N1))) instructions per request (user space, callgrind, $N1 vs $N2 requests)"
echo "profile: target/callgrind.out (callgrind_annotate --inclusive=yes target/callgrind.out)"
