// Next 16 calls the middleware "proxy" (proxy.js, `export { auth as proxy }`).
// The Auth.js middleware re-encodes the session and appends its Set-Cookie to
// every response it handles, server-action POSTs included: the writes
// cookieguard has to strip.
export { auth as proxy } from "./auth";

export const config = {
  matcher: ["/((?!_next/static|_next/image|favicon.ico).*)"],
};
