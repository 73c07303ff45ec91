// The example's middleware.ts, under Next 16's name: the Auth.js middleware
// re-encodes the session and appends its Set-Cookie to every response it handles
// (every page, and the /auth/* routes), so every page response refreshes the session.
export { auth as proxy } from "./auth";

// The example's matcher: everything but /api, static assets and the favicon.
export const config = {
  matcher: ["/((?!api|_next/static|_next/image|favicon.ico).*)"],
};
