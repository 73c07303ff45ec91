export const dynamic = "force-dynamic";

// Echoes the request line and forwarding headers (never cookies), for checking what
// the app sees behind a proxy.
export async function GET(request) {
  const h = (n) => request.headers.get(n);
  return Response.json({
    url: request.url,
    host: h("host"),
    xForwardedHost: h("x-forwarded-host"),
    xForwardedProto: h("x-forwarded-proto"),
    xForwardedFor: h("x-forwarded-for"),
    xForwardedPort: h("x-forwarded-port"),
  });
}
