#!/usr/bin/env bash
# Runs the Dockerfile's build stage without a Docker engine: copies exactly
# what the build stage COPYs into an empty folder, runs the same RUN cargo
# command there, then starts the built binary with the runtime stage's
# config and environment and checks it validates and explains.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# The build stage: from the first FROM up to the second.
stage=$(awk '/^FROM /{n++} n==1' "$repo/Dockerfile")
echo "$stage" | grep -E '^COPY ' | while read -r _ src dest; do
  # "COPY a b ./" (files into WORKDIR) or "COPY dir ./dir"
  set -- $src $dest
  last=${!#}
  for item in "${@:1:$#-1}"; do
    if [ "$last" = "./" ]; then cp -r "$repo/$item" "$work/"; else mkdir -p "$work/$(dirname "$last")"; cp -r "$repo/$item" "$work/$last"; fi
  done
done
command=$(echo "$stage" | sed -n 's/^RUN //p' | grep '^cargo ')
echo "== Dockerfile build stage in $work: $command"
(cd "$work" && CARGO_TARGET_DIR="$repo/target/dockerfile" $command)

binary="$repo/target/dockerfile/release/cookieguard"
config=$(sed -n 's/^COPY config\/cookieguard.toml //p' "$repo/Dockerfile")
echo "== runtime stage: config at $config, environment from ENV"
env -i COOKIEGUARD_CONFIG="$repo/config/cookieguard.toml" COOKIEGUARD_LISTEN=0.0.0.0:8080 COOKIEGUARD_UPSTREAM=http://app:3000 \
  "$binary" check | grep -E '^(listen|upstream|admin_listen) = '
"$binary" explain --method POST --path /api/auth/session | grep -q 'MATCHES'
echo "dockerfile: 1 passed, 0 failed"
