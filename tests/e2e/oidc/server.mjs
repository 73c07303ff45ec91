#!/usr/bin/env node
// A local OpenID provider for the Auth0 app of cookieguard's end-to-end proof: the
// `oidc-provider` package (9.x) on loopback, so that @auth0/nextjs-auth0 signs in, refreshes
// and logs out against a real OP with no internet.
//
//   node tests/e2e/oidc/server.mjs --port N [--host 127.0.0.1] [--refresh-delay-ms 0]
//     env OIDC_CLIENT_ID (cookieguard-e2e), OIDC_CLIENT_SECRET (required)
//
// Issuer http://localhost:N/ (the SDK refuses IP addresses as AUTH0_DOMAIN and, with its
// allowInsecureRequests option, keeps http and the port of a `localhost` domain).
//
// - One static confidential client (client_secret_post, as the SDK authenticates), grant
//   types authorization_code and refresh_token. Its redirect_uri is the app's
//   `/auth/callback` at whatever loopback port the app is reached at (directly, or through
//   one of the cookieguards in front of it): the client is registered as a native client
//   with `http://127.0.0.1/auth/callback`, and oidc-provider matches a native client's
//   loopback redirect URIs with any port (RFC 8252, 7.3). The same for the post-logout
//   redirect `http://127.0.0.1` (the SDK sends the app's origin).
// - Its own minimal interaction instead of devInteractions: GET /interaction/<uid> is a
//   login form (#username, #password, #login; any username, password "pw"); its POST
//   finishes the login and grants the requested scopes at once (no consent page). A wrong
//   password renders the form again with `error=access_denied` in it (no redirect).
// - A refresh token for every code (the SDK asks for offline_access, which oidc-provider
//   keeps only with prompt=consent; Auth0 issues one without), not bound to the OP session.
// - Access tokens live 60 s; the app refreshes on every GET /auth/access-token through the
//   SDK's tokenRefreshBuffer option (larger than that).
// - Slow refreshes on demand: the token endpoint holds every refresh_token grant response
//   `refreshDelayMs` after the new tokens are issued (so a logout that revokes the refresh
//   token meanwhile does not make the refresh fail). Set with --refresh-delay-ms, or at
//   run time: POST /e2e/refresh-delay?ms=N (answers the previous value). GET /e2e/stats
//   answers counters (refreshes issued/failed, revocations, sign-ins) as JSON.
//   GET /e2e/await-refresh?sub=S&timeout=MS answers {"refreshes":N} as soon as a refresh
//   for account S has been issued (N >= 1), or after MS with what there is: race.mjs logs
//   out only once the racing refresh has reached the OP, so that the logout's revocation
//   cannot overtake it (a refresh that arrives after the revocation fails: no race).
// - RP-initiated logout (end_session) answers with a form that submits itself (logout=yes),
//   so that a browser following the SDK's logout redirect ends at the app again.
//
// In-memory storage (oidc-provider's MemoryAdapter), fresh signing and cookie keys per run.

import { generateKeyPairSync, randomBytes } from "node:crypto";
import http from "node:http";
import Provider from "oidc-provider";

const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = args.indexOf(name);
  return i >= 0 && i + 1 < args.length ? args[i + 1] : dflt;
};
const port = parseInt(opt("--port", "0"), 10);
const host = opt("--host", "127.0.0.1");
let refreshDelayMs = parseInt(opt("--refresh-delay-ms", "0"), 10) || 0;
const clientId = process.env.OIDC_CLIENT_ID || "cookieguard-e2e";
const clientSecret = process.env.OIDC_CLIENT_SECRET;
if (!clientSecret) {
  console.error("oidc: OIDC_CLIENT_SECRET is required");
  process.exit(2);
}

const stats = { signIns: 0, wrongPassword: 0, refreshIssued: 0, refreshFailed: 0, revocations: 0, endSessions: 0 };
// refresh grants issued per account, and the /e2e/await-refresh requests waiting for one
const refreshesOf = new Map();
const refreshWaiters = new Map();
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const esc = (s) =>
  String(s).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);

function start(listenPort) {
  const issuer = `http://localhost:${listenPort}/`;
  const { privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
  const jwk = { ...privateKey.export({ format: "jwk" }), kid: "e2e", alg: "RS256", use: "sig" };

  const provider = new Provider(issuer, {
    clients: [
      {
        client_id: clientId,
        client_secret: clientSecret,
        application_type: "native",
        token_endpoint_auth_method: "client_secret_post",
        grant_types: ["authorization_code", "refresh_token"],
        response_types: ["code"],
        redirect_uris: ["http://127.0.0.1/auth/callback"],
        post_logout_redirect_uris: ["http://127.0.0.1"],
      },
    ],
    jwks: { keys: [jwk] },
    cookies: { keys: [randomBytes(32).toString("hex")] },
    claims: {
      openid: ["sub"],
      profile: ["name", "nickname"],
      email: ["email", "email_verified"],
    },
    // the profile claims in the ID token itself (the SDK builds session.user from it)
    conformIdTokenClaims: false,
    findAccount: async (_ctx, sub) => ({
      accountId: sub,
      claims: async () => ({ sub, name: sub, nickname: sub, email: `${sub}@example.test`, email_verified: true }),
    }),
    features: {
      devInteractions: { enabled: false },
      // the SDK's logout revokes the session's refresh token (one client: its own tokens)
      revocation: { enabled: true, allowedPolicy: async (_ctx, client, token) => token.clientId === client.clientId },
      rpInitiatedLogout: {
        enabled: true,
        logoutSource: async (ctx, form) => {
          ctx.body = `<!DOCTYPE html><html><head><meta charset="utf-8"><title>Signing out</title></head><body>
${form}<input type="hidden" form="op.logoutForm" name="logout" value="yes">
<script>document.forms["op.logoutForm"].submit()</script></body></html>`;
        },
        postLogoutSuccessSource: async (ctx) => {
          ctx.body = `<!DOCTYPE html><html><head><meta charset="utf-8"><title>Signed out</title></head><body><p id="op-signed-out">signed out</p></body></html>`;
        },
      },
    },
    issueRefreshToken: async (_ctx, client) => client.grantTypeAllowed("refresh_token"),
    expiresWithSession: async () => false,
    ttl: {
      AccessToken: 60,
      IdToken: 3600,
      AuthorizationCode: 60,
      RefreshToken: 24 * 3600,
      Grant: 24 * 3600,
      Session: 24 * 3600,
      Interaction: 600,
    },
    interactions: { url: async (_ctx, interaction) => `/interaction/${interaction.uid}` },
    renderError: async (ctx, out) => {
      ctx.type = "html";
      ctx.body = `<!DOCTYPE html><html><body><pre id="op-error">${esc(JSON.stringify(out))}</pre></body></html>`;
    },
  });
  provider.on("server_error", (_ctx, err) => console.error("oidc: server_error", err));
  provider.on("grant.success", (ctx) => {
    if (ctx.oidc.params?.grant_type !== "refresh_token") return;
    stats.refreshIssued++;
    const sub = ctx.oidc.entities.RefreshToken?.accountId ?? ctx.oidc.entities.Account?.accountId;
    if (sub === undefined) return;
    refreshesOf.set(sub, (refreshesOf.get(sub) ?? 0) + 1);
    for (const wake of refreshWaiters.get(sub) ?? []) wake();
    refreshWaiters.delete(sub);
  });
  provider.on("grant.error", (ctx, err) => {
    if (ctx.oidc.params?.grant_type === "refresh_token") stats.refreshFailed++;
    console.error(`oidc: grant.error ${ctx.oidc.params?.grant_type}: ${err.message}`);
  });
  provider.on("revocation.success", () => stats.revocations++);
  provider.on("end_session.success", () => stats.endSessions++);

  // Slow refreshes: hold the token endpoint's answer to a refresh_token grant after the
  // grant has been processed (the new tokens exist; only the response is late).
  provider.use(async (ctx, next) => {
    await next();
    if (refreshDelayMs > 0 && ctx.oidc?.route === "token" && ctx.oidc.params?.grant_type === "refresh_token") {
      await sleep(refreshDelayMs);
    }
  });

  const loginPage = (uid, details, error) => `<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>Sign in (e2e OP)</title></head>
<body>
<h1>Sign in to ${esc(details.params.client_id)}</h1>
${error ? `<p id="op-error">error=${esc(error)}</p>` : ""}
<form id="op-login" method="post" action="/interaction/${esc(uid)}/login" autocomplete="off">
  <input id="username" name="username" value="">
  <input id="password" name="password" type="password" value="">
  <button id="login" type="submit">Sign in</button>
</form>
</body></html>`;

  const readForm = (req) =>
    new Promise((resolve, reject) => {
      let body = "";
      req.setEncoding("utf8");
      req.on("data", (c) => {
        body += c;
        if (body.length > 65536) req.destroy();
      });
      req.on("end", () => resolve(Object.fromEntries(new URLSearchParams(body))));
      req.on("error", reject);
    });

  // Grants every requested scope: there is no consent page.
  async function finish(req, res, details, accountId) {
    const grant = details.grantId
      ? await provider.Grant.find(details.grantId)
      : new provider.Grant({ accountId, clientId: details.params.client_id });
    if (details.params.scope) grant.addOIDCScope(details.params.scope);
    const grantId = await grant.save();
    const result = { consent: { grantId } };
    if (details.prompt.name === "login") result.login = { accountId };
    await provider.interactionFinished(req, res, result, { mergeWithLastSubmission: false });
  }

  const op = provider.callback();
  const server = http.createServer(async (req, res) => {
    const url = new URL(req.url, issuer);
    try {
      if (url.pathname.startsWith("/e2e/")) {
        res.setHeader("content-type", "application/json");
        if (url.pathname === "/e2e/refresh-delay" && req.method === "POST") {
          const previous = refreshDelayMs;
          refreshDelayMs = Math.min(Math.max(parseInt(url.searchParams.get("ms") ?? "0", 10) || 0, 0), 30000);
          res.end(JSON.stringify({ refreshDelayMs, previous }));
        } else if (url.pathname === "/e2e/await-refresh") {
          const sub = url.searchParams.get("sub") ?? "";
          const timeout = Math.min(Math.max(parseInt(url.searchParams.get("timeout") ?? "0", 10) || 0, 0), 30000);
          if (!refreshesOf.get(sub)) {
            await new Promise((resolve) => {
              const wake = () => {
                clearTimeout(t);
                resolve();
              };
              const t = setTimeout(() => {
                const left = (refreshWaiters.get(sub) ?? []).filter((w) => w !== wake);
                if (left.length) refreshWaiters.set(sub, left);
                else refreshWaiters.delete(sub);
                resolve();
              }, timeout);
              refreshWaiters.set(sub, [...(refreshWaiters.get(sub) ?? []), wake]);
            });
          }
          res.end(JSON.stringify({ refreshes: refreshesOf.get(sub) ?? 0 }));
        } else if (url.pathname === "/e2e/stats") {
          res.end(JSON.stringify({ ...stats, refreshDelayMs }));
        } else {
          res.statusCode = 404;
          res.end("{}");
        }
        return;
      }
      const m = /^\/interaction\/([^/]+)(\/login)?$/.exec(url.pathname);
      if (m) {
        const details = await provider.interactionDetails(req, res);
        if (details.uid !== m[1]) throw new Error("interaction uid mismatch");
        res.setHeader("cache-control", "no-store");
        if (req.method === "GET" && !m[2]) {
          if (details.prompt.name !== "login") {
            // signed in at the OP already: only the grant is missing
            await finish(req, res, details, details.session.accountId);
            return;
          }
          res.setHeader("content-type", "text/html; charset=utf-8");
          res.end(loginPage(details.uid, details));
          return;
        }
        if (req.method === "POST" && m[2]) {
          const form = await readForm(req);
          if (!form.username || form.password !== "pw") {
            stats.wrongPassword++;
            res.statusCode = 200;
            res.setHeader("content-type", "text/html; charset=utf-8");
            res.end(loginPage(details.uid, details, "access_denied"));
            return;
          }
          stats.signIns++;
          await finish(req, res, details, String(form.username));
          return;
        }
        res.statusCode = 405;
        res.end();
        return;
      }
      op(req, res);
    } catch (e) {
      console.error(`oidc: ${req.method} ${url.pathname}: ${e?.stack ?? e}`);
      if (!res.headersSent) {
        res.statusCode = 400;
        res.setHeader("content-type", "text/plain");
      }
      res.end(`error: ${e?.message ?? e}`);
    }
  });
  return server;
}

// The issuer needs the port, so an ephemeral port (--port 0) is taken first.
const probe = http.createServer();
probe.listen(port, host, () => {
  const listenPort = probe.address().port;
  probe.close(() => {
    const server = start(listenPort);
    server.keepAliveTimeout = 4000;
    server.listen(listenPort, host, () => {
      console.log(`oidc: issuer http://localhost:${listenPort}/ listening on ${host}:${listenPort}`);
    });
  });
});
for (const sig of ["SIGTERM", "SIGINT"]) process.on(sig, () => process.exit(0));
