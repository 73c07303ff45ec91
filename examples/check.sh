#!/usr/bin/env bash
# Validates the deployment recipes in examples/ with the tools that will run them:
#   kubernetes/  schema check (kubernetes-validate, schemas bundled: no network),
#                the restricted pod-security fields, and cookieguard check on the ConfigMap
#   systemd/     systemd-analyze verify, systemd-analyze security --offline (exposure
#                must stay <= 1.0), cookieguard check on the example config
#   caddy/       caddy validate, caddy fmt
#   nginx/       nginx -t with the snippet included and a certificate made here
#   grafana/     JSON, and promtool check rules on every query (PromQL syntax);
#                metric, label and value names: cargo test --test dashboard
# then sends real requests through Caddy and nginx, each in front of cookieguard
# (examples/systemd/cookieguard.toml) and a stand-in app (check_topology.py).
# Missing tools are installed with apt-get / pip when running as root; otherwise
# the script stops and says what to install. Run from anywhere: bash examples/check.sh
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

WORK=$(mktemp -d)
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

fail() { echo "examples/check.sh: $*" >&2; exit 1; }

APT_UPDATED=
# need COMMAND apt:PACKAGE | pip:PACKAGE==VERSION
need() {
  local command=$1 source=$2
  command -v "$command" >/dev/null && return 0
  [ "$(id -u)" -eq 0 ] || fail "$command is missing: install ${source#*:} (${source%%:*}), or run as root to let this script do it"
  case $source in
    apt:*)
      if [ -z "$APT_UPDATED" ]; then apt-get update -qq; APT_UPDATED=1; fi
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${source#apt:}" >/dev/null ;;
    pip:*)
      python3 -m pip install --quiet --disable-pip-version-check "${source#pip:}" ;;
  esac
  command -v "$command" >/dev/null || fail "installing ${source#*:} did not provide $command"
}

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# wait_for URL: until it answers 2xx (plain http). wait_port PORT: until it accepts.
wait_for() {
  python3 - "$1" <<'EOF'
import sys, time, urllib.request
deadline = time.time() + 15
while time.time() < deadline:
    try:
        urllib.request.urlopen(sys.argv[1], timeout=1)
        sys.exit(0)
    except Exception:
        time.sleep(0.1)
sys.exit(1)
EOF
}
wait_port() {
  python3 - "$1" <<'EOF'
import socket, sys, time
deadline = time.time() + 15
while time.time() < deadline:
    try:
        socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=1).close()
        sys.exit(0)
    except OSError:
        time.sleep(0.1)
sys.exit(1)
EOF
}

need python3 apt:python3
need openssl apt:openssl
need systemd-analyze apt:systemd
need caddy apt:caddy
need nginx apt:nginx
need kubernetes-validate pip:kubernetes-validate==1.37.0

echo "== cookieguard (cargo build)"
cargo build --quiet --bin cookieguard
BIN=${CARGO_TARGET_DIR:-$ROOT/target}/debug/cookieguard
"$BIN" --version

echo "== kubernetes: kubernetes-validate $(kubernetes-validate --version) --strict (bundled schemas)"
# 1.30: the oldest release with the preStop `sleep` action on by default.
for version in 1.30 1.31; do
  kubernetes-validate --strict --quiet -k "$version" examples/kubernetes/*.yaml ||
    fail "examples/kubernetes: not valid for Kubernetes $version"
  echo "  ok: examples/kubernetes/*.yaml against Kubernetes $version"
done
# The ConfigMap's cookieguard.toml, with the env the Deployment gives the container;
# and the fields of the "restricted" Pod Security Standard on every container.
python3 - "$WORK" <<'EOF'
import sys, yaml
work = sys.argv[1]
config = yaml.safe_load(open("examples/kubernetes/configmap.yaml"))["data"]["cookieguard.toml"]
open(f"{work}/k8s.toml", "w").write(config)
pod = yaml.safe_load(open("examples/kubernetes/deployment.yaml"))["spec"]["template"]["spec"]
problems = []
if pod.get("securityContext", {}).get("seccompProfile", {}).get("type") != "RuntimeDefault":
    problems.append("pod: seccompProfile RuntimeDefault")
for c in pod["containers"]:
    s = c.get("securityContext", {})
    for key, want in [("runAsNonRoot", True), ("allowPrivilegeEscalation", False), ("readOnlyRootFilesystem", True)]:
        if s.get(key) is not want:
            problems.append(f"{c['name']}: {key} {want}")
    if s.get("capabilities", {}).get("drop") != ["ALL"]:
        problems.append(f"{c['name']}: capabilities drop ALL")
    if "limits" not in c.get("resources", {}) or "requests" not in c.get("resources", {}):
        problems.append(f"{c['name']}: resource requests and limits")
cookieguard = next(c for c in pod["containers"] if c["name"] == "cookieguard")
env = {e["name"]: e["value"] for e in cookieguard["env"] if "value" in e}
open(f"{work}/k8s.env", "w").write("".join(f"{k}={v}\n" for k, v in env.items() if k.startswith("COOKIEGUARD_")))
if env.get("COOKIEGUARD_UPSTREAM") != "http://127.0.0.1:3000":
    problems.append("cookieguard: COOKIEGUARD_UPSTREAM must point at the app in the pod (the image's own value wins over the file)")
# kubelet's httpGet probes connect to the pod IP, never to the container's loopback.
if any(p.get("httpGet") for p in (cookieguard.get("readinessProbe", {}), cookieguard.get("livenessProbe", {}))):
    if 'admin_listen = "127.' in config:
        problems.append("cookieguard: httpGet probes need admin_listen on 0.0.0.0, not loopback")
if problems:
    sys.exit("examples/kubernetes: " + "; ".join(problems))
print("  ok: restricted pod security fields, probes reach the admin listener, upstream in the pod")
EOF
env $(cat "$WORK/k8s.env") "$BIN" check --config "$WORK/k8s.toml" > "$WORK/k8s.effective"
grep -q '^upstream = "http://127.0.0.1:3000"' "$WORK/k8s.effective" || fail "examples/kubernetes: effective upstream is not the app in the pod"
echo "  ok: cookieguard check on the ConfigMap's cookieguard.toml"

echo "== systemd: $(systemd-analyze --version | head -1)"
# verify insists that ExecStart's binary exists: point it at the one just built.
sed "s#/usr/local/bin/cookieguard#$BIN#g" examples/systemd/cookieguard.service > "$WORK/cookieguard.service"
# verify only warns (exit 0) about an unknown key or a bad value: any output fails.
systemd-analyze verify "$WORK/cookieguard.service" > "$WORK/verify.log" 2>&1 && [ ! -s "$WORK/verify.log" ] ||
  { cat "$WORK/verify.log" >&2; fail "examples/systemd/cookieguard.service: systemd-analyze verify"; }
echo "  ok: systemd-analyze verify (no warning)"
# --threshold=10: exit non-zero above an exposure of 1.0 (of 10; the unit scores 0.9 on
# systemd 252, Debian 12: removing one of its bigger protections crosses it).
systemd-analyze security --offline=yes --threshold=10 "$WORK/cookieguard.service" > "$WORK/security.txt" ||
  { grep -E '✗|Overall' "$WORK/security.txt" >&2; fail "examples/systemd/cookieguard.service: exposure above 1.0"; }
echo "  ok: $(grep -o 'Overall exposure level.*' "$WORK/security.txt")"
"$BIN" check --config examples/systemd/cookieguard.toml > /dev/null
echo "  ok: cookieguard check --config examples/systemd/cookieguard.toml"

echo "== caddy: $(caddy version)"
caddy validate --config examples/caddy/Caddyfile --adapter caddyfile > "$WORK/caddy-validate.log" 2>&1 ||
  { cat "$WORK/caddy-validate.log" >&2; fail "examples/caddy/Caddyfile: caddy validate failed"; }
echo "  ok: caddy validate"
caddy fmt examples/caddy/Caddyfile | diff -u examples/caddy/Caddyfile - ||
  fail "examples/caddy/Caddyfile: not as caddy fmt writes it"
echo "  ok: caddy fmt"

echo "== nginx: $(nginx -v 2>&1)"
openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj "/CN=app.example.com" \
  -keyout "$WORK/key.pem" -out "$WORK/cert.pem" 2>/dev/null
mkdir -p "$WORK/nginx/logs" "$WORK/nginx/tmp"
chmod 0777 "$WORK/nginx/tmp"
chmod 0755 "$WORK"
# nginx_wrapper SNIPPET: the http { } an nginx.conf would include the snippet from.
nginx_wrapper() {
  cat <<EOF
pid $WORK/nginx/nginx.pid;
error_log $WORK/nginx/logs/error.log;
events {}
http {
    access_log off;
    client_body_temp_path $WORK/nginx/tmp/body;
    proxy_temp_path $WORK/nginx/tmp/proxy;
    fastcgi_temp_path $WORK/nginx/tmp/fastcgi;
    uwsgi_temp_path $WORK/nginx/tmp/uwsgi;
    scgi_temp_path $WORK/nginx/tmp/scgi;
    include $1;
}
EOF
}
sed -e "s#/etc/letsencrypt/live/app.example.com/fullchain.pem#$WORK/cert.pem#" \
    -e "s#/etc/letsencrypt/live/app.example.com/privkey.pem#$WORK/key.pem#" \
    examples/nginx/cookieguard.conf > "$WORK/nginx/cookieguard.conf"
nginx_wrapper "$WORK/nginx/cookieguard.conf" > "$WORK/nginx/nginx.conf"
nginx -t -q -p "$WORK/nginx" -e "$WORK/nginx/logs/error.log" -c "$WORK/nginx/nginx.conf" ||
  fail "examples/nginx/cookieguard.conf: nginx -t failed"
echo "  ok: nginx -t (the snippet, only its certificate paths replaced)"

echo "== grafana: examples/grafana/cookieguard.json"
PROMTOOL=$(command -v promtool || true)
if [ -z "$PROMTOOL" ]; then
  # Debian's prometheus package, unpacked (not installed: that would start a server).
  PROMTOOL=${CARGO_TARGET_DIR:-$ROOT/target}/check-tools/usr/bin/promtool
  if [ ! -x "$PROMTOOL" ]; then
    (cd "$WORK" && apt-get download prometheus >/dev/null 2>&1) ||
      { [ "$(id -u)" -eq 0 ] && apt-get update -qq && (cd "$WORK" && apt-get download prometheus >/dev/null); } ||
      fail "promtool is missing: install Debian's prometheus package (or run as root)"
    mkdir -p "$(dirname "$(dirname "$(dirname "$PROMTOOL")")")"
    dpkg-deb --fsys-tarfile "$WORK"/prometheus_*.deb |
      tar -x -C "$(dirname "$(dirname "$(dirname "$PROMTOOL")")")" ./usr/bin/promtool
  fi
fi
echo "  $("$PROMTOOL" --version 2>&1 | head -1)"
# Every query as a recording rule, Grafana's variables replaced by what they expand to.
python3 - examples/grafana/cookieguard.json > "$WORK/rules.yml" <<'EOF'
import json, sys
dashboard = json.load(open(sys.argv[1]))
assert dashboard["schemaVersion"] >= 36 and dashboard["__inputs"][0]["name"] == "DS_PROMETHEUS", "schemaVersion / DS_PROMETHEUS input"
exprs = []
def walk(value):
    if isinstance(value, dict):
        for key, item in value.items():
            exprs.append(item) if key == "expr" and isinstance(item, str) else walk(item)
    elif isinstance(value, list):
        for item in value:
            walk(item)
walk(dashboard)
expand = {"$__rate_interval": "5m", "$__range": "1h", "$job": ".*", "$instance": ".*"}
print("groups:\n  - name: dashboard\n    rules:")
for i, expr in enumerate(exprs):
    for variable, value in expand.items():
        expr = expr.replace(variable, value)
    print(f"      - record: dashboard:query_{i}\n        expr: {json.dumps(expr)}")
EOF
"$PROMTOOL" check rules "$WORK/rules.yml" > "$WORK/promtool.log" 2>&1 ||
  { cat "$WORK/promtool.log" >&2; fail "examples/grafana/cookieguard.json: a query does not parse"; }
echo "  ok: $(grep -o '[0-9]* rules found' "$WORK/promtool.log" | cut -d' ' -f1) queries parse (promtool check rules)"

echo "== through the terminators: TLS -> cookieguard (examples/systemd/cookieguard.toml) -> app"
APP_PORT=$(free_port)
python3 examples/check_topology.py upstream "$APP_PORT" & PIDS+=($!)
CG_PORT=$(free_port)
ADMIN_PORT=$(free_port)
"$BIN" --config examples/systemd/cookieguard.toml --listen "127.0.0.1:$CG_PORT" \
  --upstream "http://127.0.0.1:$APP_PORT" --admin-listen "127.0.0.1:$ADMIN_PORT" \
  > "$WORK/cookieguard.log" 2>&1 & PIDS+=($!)
wait_for "http://127.0.0.1:$ADMIN_PORT/readyz" || fail "cookieguard did not become ready: $(cat "$WORK/cookieguard.log")"

# nginx: the snippet with its ports and certificate moved; everything else as written.
TLS_PORT=$(free_port)
HTTP_PORT=$(free_port)
sed -e "s#/etc/letsencrypt/live/app.example.com/fullchain.pem#$WORK/cert.pem#" \
    -e "s#/etc/letsencrypt/live/app.example.com/privkey.pem#$WORK/key.pem#" \
    -e "s#server 127.0.0.1:8080;#server 127.0.0.1:$CG_PORT;#" \
    -e "s#listen 443 ssl http2;#listen 127.0.0.1:$TLS_PORT ssl http2;#" \
    -e "s#listen 80;#listen 127.0.0.1:$HTTP_PORT;#" \
    -e '/listen \[::\]/d' \
    examples/nginx/cookieguard.conf > "$WORK/nginx/run.conf"
nginx_wrapper "$WORK/nginx/run.conf" > "$WORK/nginx/nginx-run.conf"
nginx -p "$WORK/nginx" -e "$WORK/nginx/logs/error.log" -c "$WORK/nginx/nginx-run.conf" -g 'daemon off;' & PIDS+=($!)
wait_port "$TLS_PORT" || fail "nginx did not start: $(cat "$WORK/nginx/logs/error.log")"
python3 examples/check_topology.py client "$TLS_PORT" nginx ||
  { cat "$WORK/nginx/logs/error.log" >&2; fail "nginx in front of cookieguard"; }

# Caddy: the Caddyfile's site with a port and a local CA (no ACME, no trust store).
CADDY_PORT=$(free_port)
python3 - examples/caddy/Caddyfile "$CADDY_PORT" "$CG_PORT" "$ADMIN_PORT" "$WORK" > "$WORK/Caddyfile" <<'EOF'
import re, sys
path, port, cookieguard, admin, work = sys.argv[1:]
text = open(path).read()
text = re.sub(r"\A(#[^\n]*\n)*\{\n.*?^\}\n", "{\n\tadmin off\n\tskip_install_trust\n\tauto_https disable_redirects\n"
              f"\tstorage file_system {work}/caddy\n}}\n", text, count=1, flags=re.S | re.M)
text = text.replace("app.example.com {", f"app.example.com:{port} {{\n\ttls internal", 1)
text = text.replace("reverse_proxy 127.0.0.1:8080", f"reverse_proxy 127.0.0.1:{cookieguard}")
text = text.replace("health_port 9901", f"health_port {admin}")
assert text.count(port) == 1 and text.count(cookieguard) == 1 and text.count(admin) == 1, text
print(text)
EOF
HOME=$WORK XDG_DATA_HOME=$WORK/caddy XDG_CONFIG_HOME=$WORK/caddy \
  caddy run --config "$WORK/Caddyfile" --adapter caddyfile > "$WORK/caddy.log" 2>&1 & PIDS+=($!)
wait_port "$CADDY_PORT" || fail "Caddy did not start: $(tail -5 "$WORK/caddy.log")"
# Caddy's first active health check (cookieguard's /readyz) runs as it starts.
sleep 0.5
python3 examples/check_topology.py client "$CADDY_PORT" caddy ||
  { tail -20 "$WORK/caddy.log" >&2; fail "Caddy in front of cookieguard"; }

! grep -q 'xxxxxxxx\|yyyyyyyy' "$WORK/cookieguard.log" || fail "a cookie value reached cookieguard's log"
echo "examples/check.sh: all checks passed"
