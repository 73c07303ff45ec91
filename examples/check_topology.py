#!/usr/bin/env python3
"""The request path of examples/check.sh: TLS terminator -> cookieguard -> app.

  check_topology.py upstream PORT       a stand-in for `next start`: answers every
                                        request with a chunked NextAuth session
                                        (6 x ~3.9 KiB Set-Cookie lines) and what it
                                        received; echoes a WebSocket after a 101
  check_topology.py client PORT NAME    requests over TLS to the terminator on PORT
                                        and checks what arrived and came back

Standard library only, so it runs wherever check.sh does.
"""

import http.client
import http.server
import json
import socket
import ssl
import sys

SESSION = "__Secure-authjs.session-token"
CHUNKS = 6
HOST = "app.example.com"


class Upstream(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        self.answer()

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.answer()

    def answer(self):
        if self.headers.get("Upgrade", "").lower() == "websocket":
            self.send_response(101)
            self.send_header("Upgrade", "websocket")
            self.send_header("Connection", "Upgrade")
            self.end_headers()
            self.wfile.flush()
            self.wfile.write(b"echo:" + self.rfile.read1(1024))
            self.wfile.flush()
            self.close_connection = True
            return
        seen = {
            name: self.headers.get(name)
            for name in ["Host", "X-Forwarded-Proto", "X-Forwarded-Host", "X-Forwarded-For"]
        }
        seen["cookie_bytes"] = len(self.headers.get("Cookie") or "")
        body = json.dumps(seen).encode()
        self.send_response(200)
        # A new value: the app re-issuing (refreshing) the session it was sent.
        for i in range(CHUNKS):
            self.send_header(
                "Set-Cookie", f"{SESSION}.{i}={'y' * 3900}; Path=/; Secure; HttpOnly; SameSite=Lax"
            )
        self.send_header("Set-Cookie", "theme=dark; Path=/")
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def tls(port):
    context = ssl.create_default_context()
    # The terminators use a certificate made for this check.
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    context.set_alpn_protocols(["http/1.1"])
    raw = socket.create_connection(("127.0.0.1", port), timeout=10)
    return context.wrap_socket(raw, server_hostname=HOST)


def request(port, method, path, cookie):
    sock = tls(port)
    lines = [
        f"{method} {path} HTTP/1.1",
        f"Host: {HOST}:{port}",
        "Connection: close",
        "Content-Length: 0",
        f"Cookie: {cookie}",
    ]
    sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
    response = http.client.HTTPResponse(sock)
    response.begin()
    body = response.read()
    sock.close()
    return response.status, response.headers.get_all("Set-Cookie") or [], body


def client(port, name):
    failures = []

    def expect(ok, what):
        print(f"  {'ok' if ok else 'FAILED'}: {name}: {what}")
        if not ok:
            failures.append(what)

    # The browser's chunked session: a ~24 KiB Cookie header.
    cookie = "; ".join(f"{SESSION}.{i}={'x' * 3900}" for i in range(CHUNKS)) + "; theme=light"

    status, set_cookies, body = request(port, "GET", "/dashboard", cookie)
    expect(status == 200, f"GET /dashboard with a {len(cookie)}-byte Cookie header answers 200 (got {status})")
    seen = json.loads(body) if status == 200 else {}
    expect(seen.get("cookie_bytes") == len(cookie), "the whole Cookie header reaches the app")
    expect(
        seen.get("X-Forwarded-Proto") == "https",
        f"the app sees X-Forwarded-Proto: https, kept by cookieguard from a trusted proxy (got {seen.get('X-Forwarded-Proto')})",
    )
    expect((seen.get("Host") or "").startswith(HOST), f"the app sees the public Host (got {seen.get('Host')})")
    expect(
        (seen.get("X-Forwarded-Host") or "").startswith(HOST),
        f"the app sees X-Forwarded-Host (got {seen.get('X-Forwarded-Host')})",
    )
    expect("127.0.0.1" in (seen.get("X-Forwarded-For") or ""), "X-Forwarded-For carries the client")
    session = [c for c in set_cookies if c.startswith(SESSION)]
    expect(not session, f"the refresh's {CHUNKS} session Set-Cookie lines are removed (strip mode, route not allowed)")
    expect(any(c.startswith("theme=") for c in set_cookies), "other Set-Cookie headers pass")

    status, set_cookies, _ = request(port, "POST", "/api/auth/session", cookie)
    session = [c for c in set_cookies if c.startswith(SESSION)]
    expect(status == 200, f"POST /api/auth/session answers 200 (got {status}; 502 = response headers too big)")
    expect(len(session) == CHUNKS, f"the update's {CHUNKS} session Set-Cookie lines (~24 KiB) pass (got {len(session)})")

    sock = tls(port)
    sock.sendall(
        (
            f"GET /ws HTTP/1.1\r\nHost: {HOST}:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        ).encode()
    )
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = sock.recv(4096)
        if not chunk:
            break
        head += chunk
    expect(head.startswith(b"HTTP/1.1 101"), f"a WebSocket upgrade answers 101 (got {head[:40]!r})")
    rest = head.split(b"\r\n\r\n", 1)[1] if b"\r\n\r\n" in head else b""
    if head.startswith(b"HTTP/1.1 101"):
        sock.sendall(b"ping")
        while len(rest) < len(b"echo:ping"):
            chunk = sock.recv(64)
            if not chunk:
                break
            rest += chunk
        expect(rest == b"echo:ping", f"bytes pass both ways after the upgrade (got {rest!r})")
    sock.close()
    return 1 if failures else 0


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "upstream":
        server = http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[2])), Upstream)
        server.serve_forever()
    elif len(sys.argv) == 4 and sys.argv[1] == "client":
        sys.exit(client(int(sys.argv[2]), sys.argv[3]))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
