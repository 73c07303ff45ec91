// The Auth.js middleware re-encodes the session and appends its Set-Cookie to
// every response it handles: the writes cookieguard has to strip.
export { auth as middleware } from "./auth";

export const config = {
  matcher: ["/((?!_next/static|_next/image|favicon.ico).*)"],
};
