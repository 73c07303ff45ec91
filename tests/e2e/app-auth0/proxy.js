import { auth0 } from "./lib/auth0";

// Next 16's name for middleware.ts. The SDK's middleware answers its routes
// (/auth/login, /auth/callback, /auth/logout, /auth/access-token, …) and rolls the session
// on every other request: it re-sets `__session` with a new expiry on the response.
export async function proxy(request) {
  return await auth0.middleware(request);
}

// The SDK's documented matcher: everything but static assets.
export const config = {
  matcher: ["/((?!_next/static|_next/image|favicon.ico|sitemap.xml|robots.txt).*)"],
};
