// Echoes the request line and forwarding headers (never cookies), for checking what
// the app sees behind a proxy.
export default function handler(req, res) {
  const h = (n) => req.headers[n] ?? null;
  res.status(200).json({
    url: req.url,
    host: h("host"),
    xForwardedHost: h("x-forwarded-host"),
    xForwardedProto: h("x-forwarded-proto"),
    xForwardedFor: h("x-forwarded-for"),
    xForwardedPort: h("x-forwarded-port"),
  });
}
