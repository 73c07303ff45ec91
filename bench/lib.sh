# shellcheck shell=bash
# Shared helpers for bench/run.sh and bench/memory.sh (sourced, not run).
# Every process a script starts is recorded with `track PID` and stopped by
# that PID in the EXIT trap, also when the script fails or is interrupted.

TRACKED_PIDS=()
BENCH_TMP=""

track() { TRACKED_PIDS+=("$1"); }

cleanup() {
    local status=$?
    local pid
    # Reverse order: clients and samplers first, then proxies, then upstreams.
    for ((i = ${#TRACKED_PIDS[@]} - 1; i >= 0; i--)); do
        pid=${TRACKED_PIDS[i]}
        kill -TERM "$pid" 2>/dev/null || true
    done
    for pid in "${TRACKED_PIDS[@]}"; do
        for _ in $(seq 50); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    if [ -n "$BENCH_TMP" ] && [ -d "$BENCH_TMP" ] && [ -z "${KEEP_TMP:-}" ]; then
        rm -rf "$BENCH_TMP"
    fi
    exit "$status"
}

die() {
    echo "bench: error: $*" >&2
    exit 1
}

# Installs Debian packages when a command is missing: as root with apt-get,
# otherwise says what to install and stops.
need() {
    local missing=() pkgs=() cmd pkg
    while [ $# -gt 0 ]; do
        cmd=$1 pkg=$2
        shift 2
        command -v "$cmd" >/dev/null 2>&1 || { missing+=("$cmd"); pkgs+=("$pkg"); }
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "== installing ${pkgs[*]} (missing: ${missing[*]})"
        DEBIAN_FRONTEND=noninteractive apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${pkgs[@]}" >/dev/null
        # The Debian nginx package may start a system nginx; it is not ours and
        # not used (every server here runs from its own prefix on its own port).
    else
        die "missing ${missing[*]}: install them first, e.g. sudo apt-get install -y ${pkgs[*]}"
    fi
}

# Sets variable NAME to a free loopback TCP port below the ephemeral range
# (so wrk's and the proxies' outgoing connections never take it), one that
# nothing answers on and that this script has not handed out yet.
# Usage: free_port NAME
free_port() {
    local -n _port_var=$1
    local port
    for _ in $(seq 200); do
        port=$((20000 + RANDOM % 12000))
        case " ${USED_PORTS:-} " in *" $port "*) continue ;; esac
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            USED_PORTS="${USED_PORTS:-} $port"
            _port_var=$port
            return 0
        fi
    done
    die "no free port found"
}

# Waits until URL answers (any HTTP status), at most 10 s.
wait_http() {
    local url=$1
    for _ in $(seq 100); do
        curl -s -o /dev/null --max-time 1 "$url" && return 0
        sleep 0.1
    done
    die "$url did not answer within 10 s"
}

# Real NextAuth v4 tokens of the same claims (minted by next-auth 4.24.15, in
# tests/fixtures/tokens): the browser carries one, the upstream writes the
# other back, so every response is a refresh, as on a signed-in page. The
# secret is a test secret that opens them (cookieguard-secret in run.sh).
fixture_token() {
    python3 -c 'import json, sys
cases = json.load(open(sys.argv[1]))["cases"]
print(next(c["token"] for c in cases if c["id"] == sys.argv[2]))' \
        "$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/tests/fixtures/tokens/tokens.json" "$1"
}
BENCH_SECRET='test-secret-v4-do-not-use'
REQUEST_COOKIE="next-auth.session-token=$(fixture_token v4-refresh-a)"
# The upstream's three Set-Cookie headers.
SESSION_COOKIE="next-auth.session-token=$(fixture_token v4-refresh-b); Path=/; HttpOnly; SameSite=Lax"
CSRF_COOKIE='next-auth.csrf-token=3f6c3f6c3f6c3f6c%7Ca91ea91ea91ea91e; Path=/; HttpOnly; SameSite=Lax'
APP_COOKIE='theme=dark; Path=/'

# Writes an nginx config for the upstream: `/` answers a small body with the
# three Set-Cookie headers; `/big` (memory.sh) serves $prefix/www/big.bin.
# Usage: upstream_conf PREFIX PORT WORKERS
upstream_conf() {
    local prefix=$1 port=$2 workers=$3 user_line=""
    [ "$(id -u)" -eq 0 ] && user_line="user root;"
    mkdir -p "$prefix/logs" "$prefix/www"
    cat >"$prefix/nginx.conf" <<EOF
$user_line
daemon off;
worker_processes $workers;
pid $prefix/nginx.pid;
error_log $prefix/logs/error.log warn;
events { worker_connections 16384; }
http {
    access_log off;
    keepalive_requests 1000000;
    keepalive_timeout 60s;
    sendfile on;
    tcp_nodelay on;
    client_body_temp_path $prefix/tmp_body;
    proxy_temp_path $prefix/tmp_proxy;
    fastcgi_temp_path $prefix/tmp_fastcgi;
    uwsgi_temp_path $prefix/tmp_uwsgi;
    scgi_temp_path $prefix/tmp_scgi;
    server {
        listen 127.0.0.1:$port backlog=4096;
        location = /big {
            root $prefix/www;
            try_files /big.bin =404;
            default_type application/octet-stream;
        }
        location / {
            default_type text/plain;
            add_header Set-Cookie "$SESSION_COOKIE" always;
            add_header Set-Cookie "$CSRF_COOKIE" always;
            add_header Set-Cookie "$APP_COOKIE" always;
            return 200 "hello from the upstream\n";
        }
    }
}
EOF
}

# nginx as the reverse proxy to compare with: keep-alive pool of 64 to the
# upstream, every Set-Cookie hidden (the closest nginx has to stripping).
# Usage: proxy_conf PREFIX PORT UPSTREAM_PORT [WORKER_CONNECTIONS]
proxy_conf() {
    local prefix=$1 port=$2 up_port=$3 worker_connections=${4:-4096} user_line=""
    [ "$(id -u)" -eq 0 ] && user_line="user root;"
    mkdir -p "$prefix/logs"
    cat >"$prefix/nginx.conf" <<EOF
$user_line
daemon off;
worker_processes 2;
pid $prefix/nginx.pid;
error_log $prefix/logs/error.log warn;
events { worker_connections $worker_connections; }
http {
    access_log off;
    keepalive_requests 1000000;
    keepalive_timeout 60s;
    tcp_nodelay on;
    client_body_temp_path $prefix/tmp_body;
    proxy_temp_path $prefix/tmp_proxy;
    fastcgi_temp_path $prefix/tmp_fastcgi;
    uwsgi_temp_path $prefix/tmp_uwsgi;
    scgi_temp_path $prefix/tmp_scgi;
    upstream app {
        server 127.0.0.1:$up_port;
        keepalive 64;
        keepalive_requests 1000000;
    }
    server {
        listen 127.0.0.1:$port backlog=4096;
        location / {
            proxy_pass http://app;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_hide_header Set-Cookie;
        }
    }
}
EOF
}
# HAProxy as a reverse proxy to compare with: 2 threads, idle server
# connections shared by every client (http-reuse always, like nginx's pool),
# every Set-Cookie deleted. Usage: haproxy_conf PREFIX PORT UPSTREAM_PORT
haproxy_conf() {
    local prefix=$1 port=$2 up_port=$3
    mkdir -p "$prefix"
    cat >"$prefix/haproxy.cfg" <<EOF
global
    nbthread 2
    maxconn 4096
defaults
    mode http
    option http-keep-alive
    http-reuse always
    timeout connect 5s
    timeout client 60s
    timeout server 60s
    timeout http-keep-alive 60s
frontend proxy
    bind 127.0.0.1:$port
    default_backend app
backend app
    http-response del-header Set-Cookie
    server app 127.0.0.1:$up_port
EOF
}

# Caddy as a reverse proxy to compare with: its defaults (GOMAXPROCS = the
# CPUs), 64 idle upstream connections kept (nginx's `keepalive 64`), every
# Set-Cookie removed, no admin endpoint, no HTTPS (its autosave goes to the
# temp dir).
# Usage: caddy_conf PREFIX PORT UPSTREAM_PORT
caddy_conf() {
    local prefix=$1 port=$2 up_port=$3
    mkdir -p "$prefix/data" "$prefix/config"
    cat >"$prefix/Caddyfile" <<EOF
{
    admin off
    auto_https off
}
http://127.0.0.1:$port {
    reverse_proxy 127.0.0.1:$up_port {
        header_down -Set-Cookie
        transport http {
            keepalive_idle_conns_per_host 64
        }
    }
}
EOF
}

# Sets BIN to the cookieguard binary: BIN when given (no build), else a
# `cargo build --release` in CARGO_TARGET_DIR (default target/).
release_bin() {
    if [ -z "${BIN:-}" ]; then
        echo "== cargo build --release"
        (cd "$ROOT" && cargo build --release)
        BIN=${CARGO_TARGET_DIR:-$ROOT/target}/release/cookieguard
    fi
    [ -x "$BIN" ] || die "$BIN is not an executable"
}

# Peak and current resident memory of a PID, in KiB.
vm_hwm() { awk '/^VmHWM:/ {print $2}' "/proc/$1/status"; }
vm_rss() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }

machine_summary() {
    echo "machine: $(nproc) CPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')), $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), kernel $(uname -r)"
    echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "cookieguard: $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')$(git -C "$ROOT" diff --quiet -- src Cargo.toml 2>/dev/null || echo ' (+ uncommitted changes in src/ or Cargo.toml)'), $(rustc --version 2>/dev/null)"
}
