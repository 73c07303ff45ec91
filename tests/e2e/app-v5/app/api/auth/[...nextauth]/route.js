import { NextRequest } from "next/server";
import { handlers } from "../../../../auth";

// Next.js (14, and still 16.4) hands route handlers a request URL of
// http://localhost:<port> whatever the Host header says, and Auth.js takes its
// origin (redirects, callback-url cookie) from that URL even with trustHost
// (next-auth issues #10928, #12176; next-auth 5 rebuilds it only from AUTH_URL).
// This is the workaround users deploy behind a reverse proxy: rebuild the URL
// from X-Forwarded-Proto/-Host.
function withForwardedOrigin(handler) {
  return (req) => {
    const proto = req.headers.get("x-forwarded-proto");
    const host = req.headers.get("x-forwarded-host") ?? req.headers.get("host");
    if (!proto || !host) return handler(req);
    const { href, origin } = req.nextUrl;
    return handler(new NextRequest(href.replace(origin, `${proto}://${host}`), req));
  };
}

export const GET = withForwardedOrigin(handlers.GET);
export const POST = withForwardedOrigin(handlers.POST);
