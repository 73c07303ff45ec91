import { json } from "@sveltejs/kit";

// Echoes the forwarding headers (never cookies), for checking what the app sees behind a proxy.
export function GET({ request }) {
  const h = (n) => request.headers.get(n);
  return json({
    url: request.url,
    host: h("host"),
    xForwardedHost: h("x-forwarded-host"),
    xForwardedProto: h("x-forwarded-proto"),
    xForwardedFor: h("x-forwarded-for"),
    xForwardedPort: h("x-forwarded-port"),
  });
}
