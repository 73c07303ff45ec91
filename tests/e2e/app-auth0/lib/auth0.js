import { Auth0Client } from "@auth0/nextjs-auth0/server";

// The SDK's defaults (stateless cookie session `__session`, rolling on: inactivity 1 day,
// absolute 3 days), configured from the environment as the SDK's quickstart does:
// AUTH0_DOMAIN, AUTH0_CLIENT_ID, AUTH0_CLIENT_SECRET, AUTH0_SECRET, APP_BASE_URL (run.sh:
// the comma-separated origins the app is reached at: directly and through each
// cookieguard; the SDK then takes the request's origin when it is one of them).
// Two options for the test setup:
//   allowInsecureRequests  the OpenID provider is tests/e2e/oidc/server.mjs on
//                          http://localhost:<port> (the SDK otherwise wants https)
//   tokenRefreshBuffer     longer than the OP's 60 s access tokens, so every
//                          GET /auth/access-token refreshes the token set
export const auth0 = new Auth0Client({
  allowInsecureRequests: true,
  tokenRefreshBuffer: 3600,
});
