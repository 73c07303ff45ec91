import { NextRequest } from "next/server";
import { handlers } from "../../../auth";

// The example exports `handlers` as they are. Next.js 16 hands route handlers a URL of
// http://localhost:<port> whatever the Host header says, and Auth.js builds its
// redirects from it (next-auth #10928, #12176), so behind a proxy the sign-in redirect
// would point at the app's own port; as in app-v5, the URL is rebuilt from
// X-Forwarded-Proto/-Host (the workaround users deploy).
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
