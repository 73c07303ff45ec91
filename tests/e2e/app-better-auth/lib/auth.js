import { betterAuth } from "better-auth";
import { memoryAdapter } from "better-auth/adapters/memory";
import { nextCookies } from "better-auth/next-js";

// One in-memory database per server process (no native modules, nothing on disk). Kept on
// globalThis: Next.js may load this module more than once in one process (route
// handlers, server actions and pages are separate bundles), and every copy must see the
// same users and sessions.
const db = (globalThis.__cookieguardE2eBetterAuthDb ??= { user: [], session: [], account: [], verification: [] });

// Better Auth as its docs set it up for Next.js: email and password, the cookie cache on
// (strategy "compact", the default: the session and user as base64url JSON with an HMAC),
// nextCookies() last so that auth.api calls in server actions and route handlers set
// their cookies on the Next.js response. The secret is BETTER_AUTH_SECRET (read by Better
// Auth itself). Base path /api/auth (the default).
export const auth = betterAuth({
  appName: "cookieguard e2e",
  database: memoryAdapter(db),
  // Reached directly and through four cookieguards, each on its own loopback port: the
  // base URL is taken from the request's Host when it is one of these (Better Auth's
  // dynamic base URL); the same list makes those origins trusted for the origin check.
  // Plain http: no __Secure- cookie prefix.
  baseURL: { allowedHosts: ["127.0.0.1:*", "localhost:*"], protocol: "http" },
  emailAndPassword: {
    enabled: true,
    // the e2e suite's fixed password "pw" (every app signs in with it)
    minPasswordLength: 2,
  },
  session: {
    // Every read that goes to the database also rolls the session's expiry and re-sets
    // the session token (the default is once a day): the stale write a slow request
    // carries then holds the token too, as it does for a request that happens to cross
    // `updateAge` in a real app.
    updateAge: 0,
    cookieCache: {
      enabled: true,
      // seconds: long enough that a stale cache written at the start of a slow request
      // (RACE_CONTROL_SLOW_MS 1500) is still trusted when the session is read after it
      maxAge: 30,
    },
  },
  // every request comes from 127.0.0.1: Better Auth's production rate limit (100 per
  // 10 s and IP, stricter on sign-in) would refuse the race driver
  rateLimit: { enabled: false },
  telemetry: { enabled: false },
  plugins: [nextCookies()],
});
