#!/usr/bin/env bash
# What guard mode's Redis store costs: Redis memory per remembered session
# value, and the time per verdict on loopback, next to a bare PING round trip
# (redis-benchmark) on the same machine for scale. The measurement is an
# ignored test in tests/redis.rs (it starts its own redis-server on a free
# port); this script builds it in release mode and runs it.
#   bash bench/redis.sh
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=bench/lib.sh
source bench/lib.sh
trap cleanup EXIT
need redis-server redis-server redis-benchmark redis-tools

cargo test --release --locked --test redis -- --ignored --nocapture redis_store_cost 2>&1 |
    grep -E '^redis store' || die "the measurement did not run (see: cargo test --release --test redis -- --ignored redis_store_cost)"

free_port PORT
redis-server --bind 127.0.0.1 --port "$PORT" --save "" --appendonly no >/dev/null &
track $!
for _ in $(seq 100); do redis-cli -p "$PORT" ping >/dev/null 2>&1 && break; sleep 0.05; done
redis-benchmark -p "$PORT" -c 1 -n 20000 -q -t ping 2>/dev/null | tr '\r' '\n' | grep -E 'requests per second' | tail -n 2 |
    sed 's/^/reference, redis-benchmark one connection: /'
echo "machine: $(nproc) cores, $(redis-server --version | cut -d' ' -f1-3), commit $(git rev-parse --short HEAD)"
