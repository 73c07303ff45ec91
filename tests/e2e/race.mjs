#!/usr/bin/env node
// Race driver for cookieguard's end-to-end proof. Plain Node 20, no dependencies.
//
// Signs in through the real NextAuth credentials flow, then for each trial:
//   1. sets the session value to a fresh random BEFORE (a plain update, no race);
//   2. starts a slow session-reading request (/api/slow?ms=N) carrying the current cookies;
//   3. while it is in flight, does what `update({ value: NEW })` in next-auth/react does
//      (GET /api/auth/csrf, then POST /api/auth/session {csrfToken, data});
//   4. applies every response's Set-Cookie headers in the order the responses complete
//      (the slow one last), like a browser;
//   5. GETs /api/auth/session and checks value === NEW (otherwise: a revert).
// Also checks that a bad CSRF token cannot update the session and that sign-out clears it.
//
// Apps (--app): v4 and v5 (next-auth 4 and 5 on Next.js, routes under /api/auth, the
// session value in `session.value`), and three Auth.js apps with routes under /auth whose
// session value is the user's name (`session.user.name`, changed by update data
// { user: { name } } as the official examples do; right after sign-in it is the username):
//   next-example  next-auth 5 on Next.js with basePath "/auth" (nextauthjs/next-auth-example);
//                 the slow request is the page GET /slow?ms=N (the middleware's refresh)
//   sveltekit     @auth/sveltekit; slow: the page GET /slow?ms=N (locals.auth() in the
//                 layout load sets the refreshed cookie); Auth.js's CSRF check is off in
//                 @auth/sveltekit (skipCSRFCheck; GET /auth/csrf answers 404), so no token
//                 is sent and the bad-token check does not apply
//   express       @auth/express; getSession() writes nothing, so the slow request is the
//                 one that re-writes the session: GET /auth/session?delay=N
// and one app of another library:
//   auth0         @auth0/nextjs-auth0 v4 on Next.js (stateless `__session` cookie, rolling:
//                 the SDK's middleware re-sets it on every request outside its routes). Signs
//                 in through the SDK's GET /auth/login against the local OpenID provider
//                 (oidc/server.mjs): the OP's redirects and login form are followed with
//                 fetch, the OP's cookies kept in a jar of their own, and GET /auth/callback
//                 sets the session in the app's jar. The value is `session.user.value`, read
//                 with GET /api/me (null right after sign-in); the slow request is GET
//                 /api/slow?ms=N (the middleware's rolling write); sign-out is the SDK's GET
//                 /auth/logout (its redirect to the OP's end_session is not followed). There
//                 is no CSRF token and no password check in the app (the OP checks it).
//   better-auth   Better Auth on Next.js (routes under /api/auth, the cookie cache on:
//                 `better-auth.session_token` and `better-auth.session_data`). Each client
//                 signs up a fresh account (POST /api/auth/sign-up/email, in a throw-away
//                 jar), then signs in (POST /api/auth/sign-in/email {email, password}). The
//                 value is the user's name, read with GET /api/me (auth.api.getSession(),
//                 which trusts the cookie cache); the update is Better Auth's POST
//                 /api/auth/update-user {name} (--update-via session) or the `updateAction`
//                 server action (auth.api.updateUser()); the slow request is GET
//                 /api/slow?ms=N (a database read that re-writes the cache, then the wait),
//                 or with --slow-via get-session Better Auth's own GET
//                 /api/auth/get-session?disableCookieCache=true&delay=N (answered N ms late);
//                 sign-out is POST /api/auth/sign-out. No CSRF token: Better Auth checks
//                 the Origin, so the bad-token check is an update from a foreign Origin.
//
// --scenario signout: the sign-out race instead. Each trial signs a fresh user in, starts
// the slow request with that session, signs out while it is in flight, lets the slow
// response arrive last, then reads the session: still signed in = a revert (the sign-out
// undone), empty = kept.
//
// Which write paths race (defaults: next-auth/react's update() against /api/slow):
//   --update-via session      POST /api/auth/session {csrfToken, data} (next-auth/react update)
//   --update-via action       v5: the `updateAction` server action (unstable_update({ value }))
//   --update-via profile      v4: POST /api/profile, a custom route that re-encodes the token
//                             with encode() and sets the session cookie itself (seed 002)
//   --update-via session-get  v4: GET /api/auth/session?value=..., read by the jwt callback
//                             through a createOptions(req) wrapper (seed 001)
//   --update-via profile      auth0: POST /api/profile {value}, a route handler calling
//                             auth0.updateSession() (the middleware's rolling copy, then it)
//   --update-via action       auth0: the `updateAction` server action (auth0.updateSession())
//   --update-via session      better-auth: POST /api/auth/update-user {name}
//   --update-via action       better-auth: the `updateAction` server action
//                             (auth.api.updateUser() with nextCookies())
//   --slow-via route          GET /api/slow?ms=N (v4: getServerSession(req, res); v5: middleware)
//   --slow-via action         v5: the `slowAction` server action (only the middleware writes)
//   --slow-via auth-route     v5: GET /api/slow-auth?ms=N, a route handler wrapped in auth()
//   --slow-via access-token   auth0: GET /auth/access-token, the SDK's own route, which
//                             refreshes the token set (the app's tokenRefreshBuffer) and
//                             writes the session with it; slow because the OP holds its
//                             refresh responses --slow-ms (set through --op URL:
//                             POST <op>/e2e/refresh-delay?ms=N before the trials)
//   --slow-via get-session    better-auth: GET /api/auth/get-session?disableCookieCache=true
//                             &delay=N, Better Auth's own route answered N ms late
//   --auth-via api|actions    sign in and out through <auth base>/* (default) or, v5, only
//                             through the `signInAction` / `signOutAction` server actions;
//                             sveltekit: through the form actions the @auth/sveltekit docs
//                             teach (POST /signin with providerId, POST /signout)
// Server actions are called as the browser calls them: POST <--actions-page> (default
// /actions) with `Next-Action: <id>`, `Accept: text/x-component`, `Content-Type:
// text/plain;charset=UTF-8`, `Origin` and a JSON array of the arguments; the ids come
// from the build's server-reference manifest (--manifest, default
// app-<app>/.next/server/server-reference-manifest.json beside this script: v5, auth0,
// better-auth).
//
// Prints one JSON line of figures and exits non-zero when the expectation fails:
//   --expect reverts   (direct to Next.js: the race must show at least one revert, and
//                      sign-in/update/sign-out work)
//   --expect none      (through cookieguard: no revert, and sign-in/update/sign-out work)
//   --expect no-update (a documented limitation: the update never reaches the browser,
//                      e.g. a custom update route stripped by a proxy without the secret;
//                      sign-in and sign-out must still work)
// The figures include `sessionLines`: per response kind, how many responses carried how
// many session Set-Cookie lines ({"2": 50} = fifty responses with two lines each).
//
// Other options: --trials N (50), --slow-ms N (600), --parallel N (5 signed-in users),
// --value-bytes N (pad values so the session cookie is chunked; every trial must then
// hold a chunked session), --idle-ms N (check requests after N ms idle),
// --check-forwarded (Host / X-Forwarded-* seen by the app: the base's host and scheme),
// --expect-refresh (each GET /api/auth/session after a race must re-send the cookie),
// --sliding-checks N (N times: wait 1.1 s, make an ordinary request, and see whether
// the session cookie's expiry in the jar moved later), --expect-sliding (all must).
//
// HTTPS (a TLS terminator in front; trust its CA with NODE_EXTRA_CA_CERTS): with an
// https:// --base every session cookie NextAuth sets must be `__Secure-…` and its CSRF
// cookie `__Host-…` (over http: no `__Secure-` name); the names seen are in the figures.
//   --header "Name: value"       sent on every request (repeatable; run.sh uses it to
//                                pick the terminator's upstream)
//   --forwarded-for "a, b"       with --check-forwarded: the exact X-Forwarded-For the
//                                app must see (client, then each trusted hop); the check
//                                also sends forged X-Forwarded-* through --base, which the
//                                terminator must replace
//   --forged-direct URL          a direct client of that cookieguard (plain http) sends
//   --forged-from ADDR           forged X-Forwarded-Host/-Proto/-For from source address
//                                ADDR (default 127.0.0.1), which it does not trust: the
//                                app must see them replaced by what that client really used
//
// Only cookie and session contents are asserted, never timings.

import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import http from "node:http";

// Per app: where Auth.js's routes are, which session field the race changes, the slow
// request (a path that takes ?ms=N, or express's delayed session read), whether
// Auth.js's CSRF token is in use, the sign-in/out request shape (v4: `json=true`; Auth.js:
// `X-Auth-Return-Redirect: 1`).
const APPS = {
  v4: { authBase: "/api/auth", field: "value", slowPath: "/api/slow?ms=", csrfToken: true, family: "v4" },
  v5: { authBase: "/api/auth", field: "value", slowPath: "/api/slow?ms=", csrfToken: true, family: "v5" },
  "next-example": { authBase: "/auth", field: "name", slowPath: "/slow?ms=", csrfToken: true, family: "v5" },
  sveltekit: { authBase: "/auth", field: "name", slowPath: "/slow?ms=", csrfToken: false, family: "v5" },
  express: { authBase: "/auth", field: "name", slowPath: "/auth/session?delay=", csrfToken: true, family: "v5" },
  // the session read from /api/me (the SDK has no session route of its own); requests after
  // an idle pause also ask the SDK's /auth/profile; no value right after sign-in
  auth0: {
    authBase: "/auth",
    field: "value",
    slowPath: "/api/slow?ms=",
    csrfToken: false,
    family: "auth0",
    sessionPath: "/api/me",
    pingPath: "/auth/profile",
    initial: null,
  },
  // the session read from /api/me (auth.api.getSession(), trusting the cookie cache); the
  // name is the value (the username right after sign-in); Better Auth's origin check
  // instead of a CSRF token; its health route /api/auth/ok after an idle pause
  "better-auth": {
    authBase: "/api/auth",
    field: "name",
    slowPath: "/api/slow?ms=",
    csrfToken: false,
    originCheck: true,
    family: "better-auth",
    sessionPath: "/api/me",
    pingPath: "/api/auth/ok",
  },
};

// The value the race changes, as the session JSON shows it.
function valueOf(opts, session) {
  return opts.field === "name" ? session?.user?.name : session?.value;
}
// What update(data) sends to change it.
function updateData(opts, value) {
  return opts.field === "name" ? { user: { name: value } } : { value };
}
// The value right after sign-in.
function initialValue(opts, user) {
  if ("initial" in opts) return opts.initial;
  return opts.field === "name" ? user : "initial";
}
// The session a slow response saw: JSON ({value} from /api/slow, or a session), or a
// page with the session JSON in <pre id="session">.
function slowSaw(opts, r) {
  if (r.data && typeof r.data === "object" && "ms" in r.data) return r.data.value;
  if (r.data !== null) return valueOf(opts, r.data);
  const m = /<pre id="session">([\s\S]*?)<\/pre>/.exec(r.text ?? "");
  if (!m) return undefined;
  const json = m[1]
    .replace(/&quot;/g, '"')
    .replace(/&#(\d+);/g, (_, n) => String.fromCharCode(Number(n)))
    .replace(/&#x([0-9a-f]+);/gi, (_, n) => String.fromCharCode(parseInt(n, 16)))
    .replace(/&lt;/g, "<")
    .replace(/&gt;/g, ">")
    .replace(/&amp;/g, "&");
  try {
    return valueOf(opts, JSON.parse(json));
  } catch {
    return undefined;
  }
}

function parseArgs(argv) {
  const opts = {
    base: null,
    app: null,
    target: "direct",
    trials: 50,
    slowMs: 600,
    parallel: 5,
    expect: null,
    idleMs: 0,
    valueBytes: 0,
    checkForwarded: false,
    headers: {},
    forwardedFor: null,
    forgedDirect: null,
    forgedFrom: "127.0.0.1",
    expectRefresh: false,
    slidingChecks: 0,
    expectSliding: false,
    user: "alice",
    verbose: false,
    updateVia: "session",
    slowVia: "route",
    authVia: "api",
    manifest: null,
    actionsPage: "/actions",
    scenario: "update",
    op: null,
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const next = () => {
      if (i + 1 >= argv.length) throw new Error(`missing value for ${a}`);
      return argv[++i];
    };
    switch (a) {
      case "--base": opts.base = next().replace(/\/+$/, ""); break;
      case "--app": opts.app = next(); break;
      case "--target": opts.target = next(); break;
      case "--trials": opts.trials = parseInt(next(), 10); break;
      case "--slow-ms": opts.slowMs = parseInt(next(), 10); break;
      case "--parallel": opts.parallel = parseInt(next(), 10); break;
      case "--expect": opts.expect = next(); break;
      case "--idle-ms": opts.idleMs = parseInt(next(), 10); break;
      case "--value-bytes": opts.valueBytes = parseInt(next(), 10); break;
      case "--check-forwarded": opts.checkForwarded = true; break;
      case "--header": {
        const h = next();
        const i = h.indexOf(":");
        if (i <= 0) throw new Error(`--header wants "Name: value", got ${h}`);
        opts.headers[h.slice(0, i).trim().toLowerCase()] = h.slice(i + 1).trim();
        break;
      }
      case "--forwarded-for": opts.forwardedFor = next(); break;
      case "--forged-direct": opts.forgedDirect = next().replace(/\/+$/, ""); break;
      case "--forged-from": opts.forgedFrom = next(); break;
      case "--expect-refresh": opts.expectRefresh = true; break;
      case "--sliding-checks": opts.slidingChecks = parseInt(next(), 10); break;
      case "--expect-sliding": opts.expectSliding = true; break;
      case "--user": opts.user = next(); break;
      case "--update-via": opts.updateVia = next(); break;
      case "--slow-via": opts.slowVia = next(); break;
      case "--auth-via": opts.authVia = next(); break;
      case "--manifest": opts.manifest = next(); break;
      case "--actions-page": opts.actionsPage = next(); break;
      case "--scenario": opts.scenario = next(); break;
      case "--op": opts.op = next().replace(/\/+$/, ""); break;
      case "--verbose": case "-v": opts.verbose = true; break;
      default: throw new Error(`unknown argument ${a}`);
    }
  }
  if (!opts.base) throw new Error("--base URL is required");
  if (!APPS[opts.app]) throw new Error(`--app must be one of ${Object.keys(APPS).join(", ")}`);
  Object.assign(opts, APPS[opts.app]);
  opts.sessionPath ??= `${opts.authBase}/session`;
  opts.pingPath ??= `${opts.authBase}/providers`;
  if (!["update", "signout"].includes(opts.scenario)) throw new Error("--scenario must be update or signout");
  if (opts.expect && !["reverts", "none", "no-update"].includes(opts.expect)) {
    throw new Error("--expect must be 'reverts', 'none' or 'no-update'");
  }
  const only = (what, values, app) => {
    if (!values.includes(opts[what])) throw new Error(`bad --${what.replace(/[A-Z]/g, (c) => "-" + c.toLowerCase())} ${opts[what]}`);
    if (app && opts.app !== app) throw new Error(`${opts[what]} needs --app ${app}`);
  };
  const apps = { session: null, action: ["v5", "auth0", "better-auth"], profile: ["v4", "auth0"], "session-get": ["v4"] }[opts.updateVia];
  only("updateVia", ["session", "action", "profile", "session-get"], apps && !apps.includes(opts.app) ? apps.join(" or ") : null);
  only("slowVia", ["route", "action", "auth-route", "access-token", "get-session"], { route: null, action: "v5", "auth-route": "v5", "access-token": "auth0", "get-session": "better-auth" }[opts.slowVia]);
  if (opts.app === "auth0" && opts.scenario === "update" && opts.updateVia === "session") throw new Error("--app auth0 updates through --update-via profile or action");
  if (opts.slowVia === "access-token" && !opts.op) throw new Error("--slow-via access-token needs --op URL (the OpenID provider, to make its refreshes slow)");
  if (!["api", "actions"].includes(opts.authVia)) throw new Error(`bad --auth-via ${opts.authVia}`);
  if (opts.authVia === "actions" && opts.app !== "v5" && opts.app !== "sveltekit") throw new Error("--auth-via actions needs --app v5 or sveltekit");
  opts.usesActions =
    (opts.app === "v5" && (opts.updateVia === "action" || opts.slowVia === "action" || opts.authVia === "actions")) ||
    ((opts.app === "auth0" || opts.app === "better-auth") && opts.updateVia === "action");
  if (!(opts.trials > 0) || !(opts.parallel > 0) || !(opts.slowMs >= 0)) throw new Error("bad numbers");
  opts.parallel = Math.min(opts.parallel, opts.trials);
  return opts;
}

// ---------------------------------------------------------------------------
// Cookie jar: one host, all NextAuth cookies are Path=/ without Domain. Applies
// Set-Cookie headers in the order given: later values win, Max-Age<=0 or an
// Expires in the past deletes. Chunked cookies (name.0, name.1, ...) are
// ordinary separate cookies here, exactly as a browser keeps them.
// ---------------------------------------------------------------------------
class CookieJar {
  constructor() {
    this.cookies = new Map();
    // name -> expiry in ms since the epoch (Max-Age wins over Expires), or null.
    this.expiries = new Map();
  }

  // The latest expiry among the session cookies, or null for session-only cookies.
  sessionExpiry() {
    const times = this.sessionNames().map((n) => this.expiries.get(n)).filter((t) => t != null);
    return times.length ? Math.max(...times) : null;
  }

  apply(setCookieHeaders) {
    for (const header of setCookieHeaders) this.applyOne(header);
  }

  applyOne(header) {
    const parts = header.split(";");
    const first = parts.shift();
    const eq = first.indexOf("=");
    if (eq <= 0) return;
    const name = first.slice(0, eq).trim();
    const value = first.slice(eq + 1).trim();
    let expired = false;
    let hasMaxAge = false;
    let expiry = null;
    for (const p of parts) {
      const i = p.indexOf("=");
      const key = (i < 0 ? p : p.slice(0, i)).trim().toLowerCase();
      const val = i < 0 ? "" : p.slice(i + 1).trim();
      if (key === "max-age") {
        hasMaxAge = true;
        const n = parseInt(val, 10);
        expired = Number.isFinite(n) && n <= 0;
        if (Number.isFinite(n)) expiry = Date.now() + n * 1000;
      } else if (key === "expires" && !hasMaxAge) {
        const t = Date.parse(val);
        if (Number.isFinite(t) && t <= Date.now()) expired = true;
        if (Number.isFinite(t)) expiry = t;
      }
    }
    if (expired) {
      this.cookies.delete(name);
      this.expiries.delete(name);
    } else {
      this.cookies.set(name, value);
      this.expiries.set(name, expiry);
    }
  }

  header() {
    return [...this.cookies].map(([k, v]) => `${k}=${v}`).join("; ");
  }

  sessionNames() {
    return [...this.cookies.keys()].filter(isSessionCookieName);
  }
}

const SESSION_BASES = [
  "next-auth.session-token",
  "__Secure-next-auth.session-token",
  "authjs.session-token",
  "__Secure-authjs.session-token",
];

// @auth0/nextjs-auth0 v4: `__session`, chunks `__session__0`, `__session__1`, …
const AUTH0_SESSION = /^__session(__\d+)?$/;
// Better Auth: the session token and the cookie cache (chunks `.0`, `.1`, … when large)
const BETTER_AUTH_SESSION = /^(__Secure-)?better-auth\.(session_token|session_data(\.\d+)?)$/;

function isSessionCookieName(name) {
  return (
    AUTH0_SESSION.test(name) ||
    BETTER_AUTH_SESSION.test(name) ||
    SESSION_BASES.some((b) => name === b || (name.startsWith(b + ".") && /^\d+$/.test(name.slice(b.length + 1))))
  );
}

function setCookieNames(headers) {
  return headers.map((h) => h.slice(0, Math.max(0, h.indexOf("="))).trim());
}

// ---------------------------------------------------------------------------
// HTTP client bound to one jar. Each request snapshots the jar's Cookie header
// when it is sent; `apply` defaults to applying the response's Set-Cookie
// headers as soon as the response (headers and body) has completed.
// ---------------------------------------------------------------------------
class Client {
  constructor(opts, jar = new CookieJar()) {
    this.opts = opts;
    this.jar = jar;
  }

  async request(method, path, { body, headers = {}, form, json } = {}) {
    const h = { ...this.opts.headers, ...headers };
    const cookie = this.jar.header();
    if (cookie) h.cookie = cookie;
    let payload = body;
    if (form) {
      h["content-type"] = "application/x-www-form-urlencoded";
      payload = new URLSearchParams(form).toString();
    } else if (json !== undefined) {
      h["content-type"] = "application/json";
      payload = JSON.stringify(json);
    }
    const res = await fetch(this.opts.base + path, { method, headers: h, body: payload, redirect: "manual" });
    // A browser stores a response's cookies when its headers arrive, not when
    // its body ends: apply them now, in the order headers arrive (the order in
    // which cookieguard decided about them, too).
    const setCookies = res.headers.getSetCookie();
    for (const n of setCookieNames(setCookies)) if (/(next-auth|authjs|better-auth)\.|^__session|^__txn_/.test(n)) this.opts.cookieNamesSeen?.add(n.replace(/^__txn_.*/, "__txn_<state>"));
    this.jar.apply(setCookies);
    const text = await res.text();
    let data = null;
    try {
      data = text ? JSON.parse(text) : null;
    } catch {
      data = null;
    }
    return { status: res.status, headers: res.headers, setCookies, text, data };
  }

  // The CSRF token (null where the app turns Auth.js's check off: @auth/sveltekit).
  async csrf() {
    if (!this.opts.csrfToken) return null;
    const path = `${this.opts.authBase}/csrf`;
    const r = await this.request("GET", path);
    const token = r.data?.csrfToken;
    if (r.status !== 200 || typeof token !== "string" || !token) {
      throw new Error(`GET ${path}: status ${r.status}, no csrfToken`);
    }
    return token;
  }

  async session() {
    const path = this.opts.sessionPath;
    const r = await this.request("GET", path);
    if (r.status !== 200) throw new Error(`GET ${path}: status ${r.status}`);
    return r.data;
  }

  // What next-auth/react's signIn("credentials", {redirect: false, ...}) sends.
  async signIn(username, password) {
    const csrfToken = await this.csrf();
    const form = { username, password, callbackUrl: this.opts.base + "/" };
    if (csrfToken !== null) form.csrfToken = csrfToken;
    const headers = { origin: this.opts.base };
    if (this.opts.family === "v4") form.json = "true";
    else headers["x-auth-return-redirect"] = "1";
    const r = await this.request("POST", `${this.opts.authBase}/callback/credentials`, { form, headers });
    const url = r.data?.url ?? r.headers.get("location") ?? "";
    return { status: r.status, url, setCookies: r.setCookies };
  }

  // What next-auth/react's update(data) sends (without a token where the app has
  // Auth.js's CSRF check off).
  async update(data, csrfToken) {
    const token = csrfToken ?? (await this.csrf());
    const json = token === null ? { data } : { csrfToken: token, data };
    return this.request("POST", `${this.opts.authBase}/session`, { json, headers: { origin: this.opts.base } });
  }

  // A server action, called the way Next's client runtime calls it from a page.
  async action(name, args) {
    const id = this.opts.actionIds?.[name];
    if (!id) throw new Error(`no server action ${name} in the manifest`);
    const r = await this.request("POST", this.opts.actionsPage, {
      body: JSON.stringify(args),
      headers: {
        "next-action": id,
        accept: "text/x-component",
        "content-type": "text/plain;charset=UTF-8",
        origin: this.opts.base,
      },
    });
    r.data = r.status === 200 ? actionResult(r.text) : null;
    return r;
  }

  // What next-auth/react's signOut({redirect: false}) sends.
  async signOut() {
    const csrfToken = await this.csrf();
    const headers = { origin: this.opts.base };
    const form = { callbackUrl: this.opts.base + "/" };
    if (csrfToken !== null) form.csrfToken = csrfToken;
    if (this.opts.family === "v4") form.json = "true";
    else headers["x-auth-return-redirect"] = "1";
    return this.request("POST", `${this.opts.authBase}/signout`, { form, headers });
  }

  // @auth0/nextjs-auth0's sign-in as a browser goes through it: GET /auth/login (the SDK
  // sets its `__txn_<state>` cookie and redirects to the OP), the OP's redirects and its
  // login form (oidc/server.mjs: #username, #password; the OP's cookies in a jar of their
  // own, a fresh one per sign-in like a new browser, never sent to the app), then the
  // OP's redirect back to GET /auth/callback?code=…&state=…, which sets `__session` and
  // redirects to the app. Returns that last response's status and Location (or
  // ?error=… when the OP refused the password or anything else went wrong).
  async auth0SignIn(username, password) {
    const op = new CookieJar();
    const appOrigin = new URL(this.opts.base).origin;
    let url = new URL("/auth/login", this.opts.base).href;
    let form = null;
    const fail = (why) => ({ status: 0, url: `?error=${why}`, setCookies: [] });
    for (let hop = 0; hop < 12; hop++) {
      const u = new URL(url);
      if (u.origin === appOrigin) {
        const r = await this.request("GET", u.pathname + u.search);
        const loc = r.headers.get("location");
        if (u.pathname === "/auth/callback") {
          return { status: r.status, url: loc ? new URL(loc, url).href : `?error=callback-status-${r.status}`, setCookies: r.setCookies };
        }
        if (!loc) return fail(`app-status-${r.status}-at-${u.pathname}`);
        url = new URL(loc, url).href;
        continue;
      }
      const headers = {};
      if (op.header()) headers.cookie = op.header();
      if (form) headers["content-type"] = "application/x-www-form-urlencoded";
      const res = await fetch(url, {
        method: form ? "POST" : "GET",
        headers,
        body: form ? new URLSearchParams(form).toString() : undefined,
        redirect: "manual",
      });
      op.apply(res.headers.getSetCookie());
      const loc = res.headers.get("location");
      const text = await res.text();
      if (loc) {
        url = new URL(loc, url).href;
        form = null;
        continue;
      }
      if (res.status === 200 && /id="op-error"/.test(text)) return fail(/error=(\w+)/.exec(text)?.[1] ?? "op-error");
      const action = /<form[^>]*id="op-login"[^>]*action="([^"]+)"/.exec(text)?.[1];
      if (res.status !== 200 || !action || form) return fail(`op-status-${res.status}`);
      url = new URL(action.replace(/&amp;/g, "&"), url).href;
      form = { username, password };
    }
    return fail("too-many-redirects");
  }

  // Better Auth: a fresh account per sign-in (the app's in-memory store outlives every
  // check, and the username must be the name right after sign-in), signed up with the
  // suite's fixed password in a jar of its own (the sign-up's session is thrown away),
  // then signed in as the client does it: POST /api/auth/sign-in/email {email, password}
  // (with Origin: Better Auth checks it, and Node's fetch sends Sec-Fetch-Mode). Returns
  // the sign-in's status and, for a refused one, ?error=<code>.
  async betterAuthSignIn(username, password) {
    const email = `${username}-${rand()}@e2e.test`;
    const headers = { origin: this.opts.base };
    const up = await new Client(this.opts).request("POST", `${this.opts.authBase}/sign-up/email`, { json: { name: username, email, password: "pw" }, headers });
    if (up.status !== 200) return { status: up.status, url: `?error=sign-up-status-${up.status}`, setCookies: [] };
    const r = await this.request("POST", `${this.opts.authBase}/sign-in/email`, { json: { email, password }, headers });
    const ok = r.status === 200 && r.data?.user?.email === email;
    return { status: r.status, url: ok ? this.opts.base + "/" : `?error=${r.data?.code ?? "status-" + r.status}`, setCookies: r.setCookies };
  }

  // A SvelteKit form action as a browser without JavaScript posts it (the @auth/sveltekit
  // <SignIn> / <SignOut> components): a form POST to the page, Origin set (SvelteKit
  // refuses cross-site form posts), HTML accepted (SvelteKit then answers a redirect
  // with 303 and Location).
  formAction(path, form) {
    return this.request("POST", path, { form, headers: { origin: this.opts.base, accept: "text/html" } });
  }
}

// The return value of a server action in its React Flight (text/x-component)
// response: row 0 is {a: "$@<row>", ...}; that row holds the value as JSON. When the
// action set cookies, Next re-renders the page into the same response (more rows).
function actionResult(text) {
  const rows = new Map();
  for (const line of text.split("\n")) {
    const m = /^([0-9a-f]+):(.*)$/.exec(line);
    if (m) rows.set(m[1], m[2]);
  }
  try {
    const ref = JSON.parse(rows.get("0") ?? "null")?.a;
    if (typeof ref !== "string" || !ref.startsWith("$@")) return null;
    return JSON.parse(rows.get(ref.slice(2)) ?? "null");
  } catch {
    return null;
  }
}

// Server-action ids by exported name, from the build's server-reference manifest.
function loadActionIds(path) {
  const m = JSON.parse(readFileSync(path, "utf8"));
  const ids = {};
  for (const [id, entry] of Object.entries(m.node ?? {})) if (entry?.exportedName) ids[entry.exportedName] = id;
  return ids;
}

// The write paths (see the header): each returns the response, with `data.value` the
// session value the server answered with where it has one.
async function doSignIn(opts, c, user, password) {
  if (opts.app === "auth0") return c.auth0SignIn(user, password);
  if (opts.app === "better-auth") return c.betterAuthSignIn(user, password);
  if (opts.authVia === "actions" && opts.app === "sveltekit") {
    const r = await c.formAction("/signin", { providerId: "credentials", username: user, password, redirectTo: "/" });
    const loc = r.headers.get("location");
    const ok = (r.status === 303 || r.status === 302) && loc && !/[?&]error=/.test(loc);
    return { status: r.status, url: ok ? new URL(loc, opts.base).href : loc ?? `?error=status-${r.status}`, setCookies: r.setCookies };
  }
  if (opts.authVia === "actions") {
    const r = await c.action("signInAction", [user, password]);
    const ok = r.status === 200 && r.data?.ok === true;
    return { status: r.status, url: ok ? opts.base + "/" : `?error=${r.data?.error ?? "status-" + r.status}`, setCookies: r.setCookies };
  }
  return c.signIn(user, password);
}

async function doUpdate(opts, c, value) {
  switch (opts.updateVia) {
    case "action":
      return c.action("updateAction", [value]);
    case "profile":
      return c.request("POST", "/api/profile", { json: { value } });
    case "session-get":
      return c.request("GET", `${opts.authBase}/session?value=${encodeURIComponent(value)}`);
    default:
      if (opts.app === "better-auth") return betterAuthUpdate(opts, c, value);
      return c.update(updateData(opts, value));
  }
}

function doSlow(opts, c, ms) {
  switch (opts.slowVia) {
    case "action":
      return c.action("slowAction", [ms]);
    case "auth-route":
      return c.request("GET", `/api/slow-auth?ms=${ms}`);
    case "access-token":
      return c.request("GET", "/auth/access-token");
    case "get-session":
      return c.request("GET", `${opts.authBase}/get-session?disableCookieCache=true&delay=${ms}`);
    default:
      return c.request("GET", `${opts.slowPath}${ms}`);
  }
}

// The value an update response answered with.
function updatedValue(opts, r) {
  if ("updated" in r) return r.updated;
  return opts.updateVia === "session" || opts.updateVia === "session-get" ? valueOf(opts, r.data) : r.data?.value;
}

function doSignOut(opts, c) {
  if (opts.app === "auth0") return c.request("GET", "/auth/logout");
  if (opts.app === "better-auth") return c.request("POST", `${opts.authBase}/sign-out`, { json: {}, headers: { origin: opts.base } });
  if (opts.authVia === "actions" && opts.app === "sveltekit") return c.formAction("/signout", { redirectTo: "/" });
  if (opts.authVia === "actions") return c.action("signOutAction", []);
  return c.signOut();
}

// Better Auth's POST /api/auth/update-user {name} (what authClient.updateUser() sends; it
// answers {status: true}): `updated` is the name it set. `origin` defaults to the client's.
async function betterAuthUpdate(opts, c, value, origin = opts.base) {
  const r = await c.request("POST", `${opts.authBase}/update-user`, { json: { name: value }, headers: { origin } });
  r.updated = r.status === 200 && r.data?.status === true ? value : null;
  return r;
}

// sessionLines[kind][n]++ : one response of this kind carried n session Set-Cookie lines.
// (auth0: "<sets>+<deletes>", e.g. "1+5": every write of `__session` also expires the
// chunk names `__session__0` … `__session__4`, and a logout expires all six; a write
// through Next's cookies() in a route handler or server action deletes with an Expires in
// 1970 instead of Max-Age=0)
function countLines(stats, kind, setCookies) {
  const lines = setCookies.filter((h) => isSessionCookieName(h.slice(0, Math.max(0, h.indexOf("="))).trim()));
  let n = lines.length;
  if (lines.some((h) => AUTH0_SESSION.test(h.slice(0, h.indexOf("=")).trim()))) {
    const deletes = lines.filter((h) => /;\s*max-age=0\b|;\s*expires=[^;]*1970/i.test(h)).length;
    n = `${n - deletes}+${deletes}`;
  }
  const k = (stats.sessionLines[kind] ??= {});
  k[n] = (k[n] ?? 0) + 1;
}

// How long the racing update (or sign-out) took, from its start to its response's end:
// the race is real only while that stays below the slow request's --slow-ms
// (slowCompletedFirst counts the trials where it did not).
function msFigures(values) {
  if (!values.length) return null;
  const v = [...values].sort((a, b) => a - b);
  return { p50: v[Math.floor(v.length / 2)], p90: v[Math.floor(v.length * 0.9)], max: v[v.length - 1] };
}

function rand() {
  return randomBytes(8).toString("hex");
}

// A fresh session value; with --value-bytes N it is padded with random hex to N
// characters, so the encrypted session no longer fits one cookie and NextAuth
// splits it into chunks (name.0, name.1, ...).
function freshValue(opts, prefix) {
  const v = `${prefix}-${rand()}`;
  if (!(opts.valueBytes > v.length)) return v;
  return v + "-" + randomBytes(Math.ceil(opts.valueBytes / 2)).toString("hex").slice(0, opts.valueBytes - v.length - 1);
}

function hasChunks(jar) {
  return [...jar.cookies.keys()].some((n) => isSessionCookieName(n) && /(\.|__)\d+$/.test(n));
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// ---------------------------------------------------------------------------

function loopbackOrigin(u) {
  const host = /^(localhost|127(\.\d+){3}|\[::1\])$/.test(u.hostname) ? "loopback" : u.hostname;
  return `${u.protocol}//${host}:${u.port}`;
}

async function signInChecked(opts, user, problems, stats) {
  const c = new Client(opts);
  const r = await doSignIn(opts, c, user, "pw");
  countLines(stats, "signin", r.setCookies);
  const okRedirect = [200, 302, 303, 307].includes(r.status) && r.url && !/[?&]error=/.test(r.url);
  const sessionCookieSet = c.jar.sessionNames().length > 0;
  const s = await c.session();
  // NextAuth builds its URLs from Host / X-Forwarded-*: the redirect must point back at
  // the origin the client used, and plain http must not give __Secure- cookie names.
  // (Next.js rewrites loopback hosts to "localhost" in request URLs, so loopback
  // names count as one host; the port still has to be the one the client used.)
  let sameOrigin = false;
  try {
    sameOrigin = loopbackOrigin(new URL(r.url, opts.base)) === loopbackOrigin(new URL(opts.base));
  } catch {}
  const securePrefix = opts.base.startsWith("http:") && c.jar.sessionNames().some((n) => n.startsWith("__Secure-"));
  const ok =
    okRedirect &&
    sameOrigin &&
    !securePrefix &&
    sessionCookieSet &&
    s?.user?.name === user &&
    valueOf(opts, s) === initialValue(opts, user);
  if (!ok) {
    problems.push(
      `sign-in as ${user}: status=${r.status} errorInUrl=${/error=/.test(r.url)} ` +
        `redirectOrigin=${(() => { try { return new URL(r.url, opts.base).origin; } catch { return "?"; } })()} ` +
        `securePrefixOnHttp=${securePrefix} ` +
        `sessionCookieSet=${sessionCookieSet} setCookieNames=${JSON.stringify(setCookieNames(r.setCookies))} ` +
        `session.user=${s?.user?.name ?? null} session.value=${valueOf(opts, s) ?? null}`
    );
  }
  return { client: c, ok };
}

async function checkWrongPassword(opts, problems) {
  const c = new Client(opts);
  const r = await doSignIn(opts, c, "mallory", "wrong");
  const s = await c.session();
  const ok = c.jar.sessionNames().length === 0 && !s?.user && /error=/.test(r.url);
  if (!ok) problems.push(`wrong password was not rejected: status=${r.status} hasSession=${Boolean(s?.user)}`);
  return ok;
}

async function checkBadCsrf(opts, c, problems) {
  const before = valueOf(opts, await c.session());
  // (Better Auth has no CSRF token: its check is the Origin, so the forged update comes
  // from another origin; it answers 403 INVALID_ORIGIN)
  const r =
    opts.app === "better-auth"
      ? await betterAuthUpdate(opts, c, "csrf-" + rand(), "http://evil.example")
      : await c.update(updateData(opts, "csrf-" + rand()), "not-the-token");
  const after = valueOf(opts, await c.session());
  const setSession = setCookieNames(r.setCookies).filter(isSessionCookieName);
  // next-auth answers 400 without a session cookie; Auth.js answers with an
  // error (MissingCSRF). Either way the value must not change.
  const ok = after === before && r.status >= 400;
  if (!ok) {
    problems.push(
      `update with a bad CSRF token: status=${r.status} sessionSetCookie=${JSON.stringify(setSession)} ` +
        `valueChanged=${after !== before}`
    );
  }
  return ok;
}

// One race trial; returns {outcome, slowCarriedSession}.
// A trial where the slow request finished before the racing update (a busy machine)
// raced nothing: it is run again, up to RETRIES times, and counted once (the figures
// give `retriedUnraced`, and `slowCompletedFirst` for counted trials that still did not
// race). Returns true when the caller should run it again.
const RETRIES = 2;

async function trial(opts, c, idx, stats, canRetry) {
  const before = freshValue(opts, "before");
  const r0 = await doUpdate(opts, c, before);
  if (r0.status !== 200 || updatedValue(opts, r0) !== before) {
    stats.updateFailures++;
    stats.problems.push(`trial ${idx}: plain update returned status=${r0.status} value-matches=${updatedValue(opts, r0) === before}`);
  }
  const s0 = await c.session();
  if (valueOf(opts, s0) !== before) {
    stats.updateFailures++;
    stats.notPersisted++;
    stats.problems.push(`trial ${idx}: plain update did not persist (value-matches=${valueOf(opts, s0) === before})`);
    return;
  }

  const chunked = hasChunks(c.jar);
  const NEW = freshValue(opts, "new");
  const order = [];
  // Slow request snapshots the current (BEFORE) cookie now.
  const slow = doSlow(opts, c, opts.slowMs).then((r) => {
    order.push("slow");
    return r;
  });
  // Give the slow request a head start so the server reads the old session first.
  await sleep(20);
  const t0 = Date.now();
  const upd = doUpdate(opts, c, NEW).then((r) => {
    order.push("update");
    stats.updateMs.push(Date.now() - t0);
    return r;
  });
  const [rs, ru] = await Promise.all([slow, upd]);

  if (rs.status !== 200 || slowSaw(opts, rs) !== before) {
    stats.problems.push(`trial ${idx}: slow request status=${rs.status} saw-before=${slowSaw(opts, rs) === before}`);
  }
  if (setCookieNames(rs.setCookies).some(isSessionCookieName)) stats.slowCarriedSession++;
  countLines(stats, "slow", rs.setCookies);
  countLines(stats, "update", ru.setCookies);
  if (ru.status !== 200 || updatedValue(opts, ru) !== NEW) {
    stats.updateFailures++;
    stats.problems.push(`trial ${idx}: update returned status=${ru.status} value-matches=${updatedValue(opts, ru) === NEW}`);
  }
  if (order[0] !== "update") {
    if (canRetry) {
      stats.retried++;
      return true;
    }
    stats.slowFirst++;
  }
  if (chunked) stats.chunked++;

  const r1 = await c.request("GET", opts.sessionPath);
  const s1 = r1.data;
  if (setCookieNames(r1.setCookies).some(isSessionCookieName)) stats.sessionGetRefreshed++;
  countLines(stats, "sessionGet", r1.setCookies);
  if (valueOf(opts, s1) === NEW) stats.kept++;
  else if (valueOf(opts, s1) === before) stats.reverts++;
  else {
    stats.lost++;
    stats.problems.push(`trial ${idx}: after race the session value is neither NEW nor BEFORE (user=${s1?.user?.name ?? null})`);
  }
  if (opts.verbose) {
    console.error(`trial ${idx}: order=${order.join(",")} result=${valueOf(opts, s1) === NEW ? "kept" : "REVERTED"}`);
  }
  return false;
}

// After the connections have been idle for `idleMs` (Node's HTTP server drops idle
// keep-alive connections after 5 s), a burst of requests must all still succeed
// and see the kept session.
async function checkAfterIdle(opts, c, w, problems) {
  const want = valueOf(opts, await c.session());
  await sleep(opts.idleMs);
  const rs = await Promise.allSettled([
    c.request("GET", opts.sessionPath),
    c.request("GET", `${opts.slowPath}0`),
    c.request("GET", opts.pingPath),
  ]);
  const bad = rs
    .map((r) => (r.status === "fulfilled" ? (r.value.status === 200 ? null : `status ${r.value.status}`) : `error ${r.reason?.cause?.code ?? r.reason?.message}`))
    .filter(Boolean);
  const after = valueOf(opts, await c.session());
  if (bad.length || after !== want) {
    problems.push(`worker ${w}: after ${opts.idleMs} ms idle: ${bad.join(", ") || "ok"}; session kept=${after === want}`);
    return false;
  }
  return true;
}

// What the app sees behind the proxy (GET /api/headers echoes it, never cookies):
// Host kept as the client sent it, X-Forwarded-Host the same, X-Forwarded-Proto the
// scheme the client used (https behind the TLS terminator), X-Forwarded-For set (with
// --forwarded-for: exactly that chain). The same again with forged X-Forwarded-*
// headers sent through --base: the first hop must replace them. With --forged-direct,
// a client that reaches that cookieguard directly from an address it does not trust
// forges them too, and the app must see what that client really used.
const FORGED = { "x-forwarded-host": "evil.example", "x-forwarded-for": "203.0.113.9" };

function forwardedProblem(what, r, want) {
  const d = r.data ?? {};
  const bad = [];
  if (r.status !== 200) bad.push(`status ${r.status}`);
  for (const k of ["host", "xForwardedHost", "xForwardedProto", "xForwardedFor"]) {
    if (want[k] !== undefined && d[k] !== want[k]) bad.push(`${k}=${JSON.stringify(d[k])} (want ${JSON.stringify(want[k])})`);
  }
  if (!(typeof d.xForwardedFor === "string" && d.xForwardedFor.length > 0)) bad.push("no X-Forwarded-For");
  if (JSON.stringify(d).includes("evil.example") || JSON.stringify(d).includes("203.0.113.9")) bad.push("a forged value reached the app");
  return bad.length ? `forwarded headers (${what}): ${bad.join(", ")}; app saw ${JSON.stringify(d)}` : null;
}

// GET from a chosen source address (fetch cannot bind one), plain http.
function getFrom(url, headers, localAddress) {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { headers, localAddress, agent: false }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (c) => (body += c));
      res.on("end", () => {
        let data = null;
        try {
          data = JSON.parse(body);
        } catch {}
        resolve({ status: res.statusCode, data });
      });
    });
    req.on("error", reject);
    req.setTimeout(10000, () => req.destroy(new Error("timeout")));
  });
}

async function checkForwarded(opts, problems, seen) {
  const base = new URL(opts.base);
  const proto = base.protocol.slice(0, -1);
  const want = {
    host: base.host,
    xForwardedHost: base.host,
    xForwardedProto: proto,
    ...(opts.forwardedFor != null && { xForwardedFor: opts.forwardedFor }),
  };
  const out = [];
  const r1 = await new Client(opts).request("GET", "/api/headers");
  seen.through = r1.data && { proto: r1.data.xForwardedProto, host: r1.data.xForwardedHost, for: r1.data.xForwardedFor };
  out.push(forwardedProblem(`through ${base.host}`, r1, want));
  const forgedProto = proto === "https" ? "http" : "https";
  const r2 = await new Client(opts).request("GET", "/api/headers", { headers: { ...FORGED, "x-forwarded-proto": forgedProto } });
  out.push(forwardedProblem(`forged, through ${base.host}`, r2, want));
  if (opts.forgedDirect) {
    const direct = new URL(opts.forgedDirect);
    let r3;
    try {
      r3 = await getFrom(opts.forgedDirect + "/api/headers", { ...FORGED, "x-forwarded-proto": "https" }, opts.forgedFrom);
    } catch (e) {
      r3 = { status: `error ${e?.message ?? e}`, data: null };
    }
    seen.forgedDirect = r3.data && { proto: r3.data.xForwardedProto, host: r3.data.xForwardedHost, for: r3.data.xForwardedFor };
    out.push(
      forwardedProblem(`forged, directly from untrusted ${opts.forgedFrom}`, r3, {
        host: direct.host,
        xForwardedHost: direct.host,
        xForwardedProto: "http",
        xForwardedFor: opts.forgedFrom,
      })
    );
  }
  const bad = out.filter(Boolean);
  problems.push(...bad);
  return bad.length === 0;
}

// NextAuth picks its cookie names from the URL it sees: over https the session cookie
// (and its chunks) must be `__Secure-…` and the CSRF cookie `__Host-…`; over plain
// http neither prefix may appear. Chunked runs must show `.0` and `.1`.
function cookieNameProblems(opts, names) {
  const https = opts.base.startsWith("https:");
  const session = names.filter(isSessionCookieName);
  const csrf = names.filter((n) => n.endsWith(".csrf-token"));
  const bad = [];
  if (session.length === 0) bad.push("no session cookie was ever set");
  if (https) {
    const plain = session.filter((n) => !n.startsWith("__Secure-"));
    if (plain.length) bad.push(`session cookie names without __Secure- over https: ${plain.join(" ")}`);
    const csrfPlain = csrf.filter((n) => !n.startsWith("__Host-"));
    if (csrf.length === 0 || csrfPlain.length) bad.push(`CSRF cookie over https is not __Host-: ${csrf.join(" ") || "none"}`);
  } else {
    const prefixed = names.filter((n) => n.startsWith("__Secure-") || n.startsWith("__Host-"));
    if (prefixed.length) bad.push(`prefixed cookie names over plain http: ${prefixed.join(" ")}`);
  }
  if (opts.valueBytes > 0 && !(session.some((n) => n.endsWith(".0")) && session.some((n) => n.endsWith(".1")))) {
    bad.push(`no chunked session cookie (.0, .1) seen: ${session.join(" ")}`);
  }
  return bad;
}

// Sliding expiry: does an ordinary request (one that reads the session on the
// server, like any page or API route) move the browser's session expiry later?
// Expires has one-second resolution, hence the pause.
async function checkSliding(opts, c, stats) {
  for (let i = 0; i < opts.slidingChecks; i++) {
    await new Promise((r) => setTimeout(r, 1100));
    const before = c.jar.sessionExpiry();
    await c.request("GET", `${opts.slowPath}0`);
    const after = c.jar.sessionExpiry();
    stats.slidingChecks++;
    if (before != null && after != null && after > before) {
      stats.slidingAdvanced++;
      stats.slidingGainedMs += after - before;
    }
  }
}

async function checkSignOut(opts, c, problems, stats) {
  const r = await doSignOut(opts, c);
  countLines(stats, "signout", r.setCookies);
  const left = c.jar.sessionNames();
  const s = await c.session();
  const empty = !s || Object.keys(s).length === 0 || !s.user;
  const deletes = r.setCookies.filter((h) => isSessionCookieName(h.split("=")[0].trim()) && /max-age=0/i.test(h)).length;
  // (auth0: GET /auth/logout answers 307 to the OP's end_session, not followed)
  const ok = [200, 302, 307].includes(r.status) && left.length === 0 && empty;
  if (!ok) {
    problems.push(
      `sign-out: status=${r.status} sessionCookiesLeftInJar=${JSON.stringify(left)} sessionDeletesInResponse=${deletes} ` +
        `setCookieNames=${JSON.stringify(setCookieNames(r.setCookies))} sessionEmpty=${empty}`
    );
  }
  return ok;
}

// One sign-out race trial: a fresh user signs in; a slow request leaves with that
// session; while it is in flight the user signs out; the slow response arrives last.
// Still signed in afterwards = a revert (the sign-out undone by the slow refresh).
async function signOutTrial(opts, user, idx, stats, canRetry) {
  const { client: c, ok } = await signInChecked(opts, user, stats.problems, stats);
  if (!ok) {
    stats.signinFailures++;
    return;
  }
  const order = [];
  const slow = doSlow(opts, c, opts.slowMs).then((r) => {
    order.push("slow");
    return r;
  });
  await sleep(20);
  // A refresh that left before the logout: the logout revokes the refresh token at the OP,
  // so it goes only once the OP has issued the racing refresh (its answer is held
  // --slow-ms); a refresh arriving after the revocation would just fail.
  if (opts.slowVia === "access-token") {
    const r = await fetch(`${opts.op}/e2e/await-refresh?sub=${encodeURIComponent(user)}&timeout=${Math.floor(opts.slowMs / 2)}`);
    if (!((await r.json())?.refreshes >= 1)) stats.refreshNotSeen = (stats.refreshNotSeen ?? 0) + 1;
  }
  const t0 = Date.now();
  const out = doSignOut(opts, c).then((r) => {
    order.push("signout");
    stats.updateMs.push(Date.now() - t0);
    return r;
  });
  const [rs, ro] = await Promise.all([slow, out]);
  countLines(stats, "slow", rs.setCookies);
  countLines(stats, "signout", ro.setCookies);
  if (setCookieNames(rs.setCookies).some(isSessionCookieName)) stats.slowCarriedSession++;
  // (GET /auth/access-token answers the refreshed token, not the session)
  const sawSession =
    opts.slowVia === "access-token" ? typeof rs.data?.token === "string" : slowSaw(opts, rs) === initialValue(opts, user);
  if (rs.status !== 200 || !sawSession) {
    stats.problems.push(`trial ${idx}: slow request status=${rs.status} saw-the-session=${sawSession}`);
  }
  // the sign-out itself: an accepted answer that deletes the session cookie
  const deletes = ro.setCookies.filter((h) => isSessionCookieName(h.split("=")[0].trim()) && /max-age=0/i.test(h)).length;
  if (![200, 302, 303, 307].includes(ro.status) || deletes === 0) {
    stats.signoutFailures++;
    stats.problems.push(`trial ${idx}: sign-out status=${ro.status} session deletes=${deletes}`);
  }
  if (order[0] !== "signout") {
    if (canRetry) {
      stats.retried++;
      return true;
    }
    stats.slowFirst++;
  }
  const s = await c.session();
  const left = c.jar.sessionNames();
  if (s?.user?.name === user && valueOf(opts, s) === initialValue(opts, user)) stats.reverts++;
  else if (!s?.user && left.length === 0) stats.kept++;
  else {
    stats.lost++;
    stats.problems.push(`trial ${idx}: after the race: user=${s?.user?.name ?? null} session cookies=${JSON.stringify(left)}`);
  }
  if (opts.verbose) console.error(`trial ${idx}: order=${order.join(",")} signedInAgain=${Boolean(s?.user)}`);
  return false;
}

// The OP's counters (oidc/server.mjs GET /e2e/stats), or null.
async function opStats(opts) {
  if (!opts.op) return null;
  try {
    return await (await fetch(`${opts.op}/e2e/stats`)).json();
  } catch {
    return null;
  }
}

async function signOutRace(opts, stats, { wrongPwOk, forwardedOk, forwardedSeen }) {
  stats.signinFailures = 0;
  stats.signoutFailures = 0;
  // the slow request is a token refresh: the OP holds its refresh responses --slow-ms
  if (opts.slowVia === "access-token") {
    const r = await fetch(`${opts.op}/e2e/refresh-delay?ms=${opts.slowMs}`, { method: "POST" });
    if (!r.ok) throw new Error(`POST ${opts.op}/e2e/refresh-delay: status ${r.status}`);
  }
  const op0 = await opStats(opts);
  let ran = 0;
  let workerErrors = 0;
  const workers = [];
  for (let w = 0; w < opts.parallel; w++) {
    const share = Math.floor(opts.trials / opts.parallel) + (w < opts.trials % opts.parallel ? 1 : 0);
    workers.push(
      (async () => {
        for (let i = 0; i < share; i++) {
          for (let k = 0; await signOutTrial(opts, `${opts.user}${w}x${i}r${k}`, `${w}.${i}`, stats, k < RETRIES); k++);
          ran++;
        }
      })().catch((e) => {
        stats.problems.push(`worker ${w}: ${e?.message ?? e}`);
        workerErrors++;
      })
    );
  }
  await Promise.all(workers);
  const op1 = await opStats(opts);
  const signinOk = wrongPwOk && stats.signinFailures === 0;
  const signoutOk = stats.signoutFailures === 0 && ran > 0;
  const figures = {
    app: opts.app,
    target: opts.target,
    scenario: "signout",
    slowVia: opts.slowVia,
    ...(opts.authVia !== "api" && { authVia: opts.authVia }),
    trials: ran,
    reverts: stats.reverts,
    keptSignedOut: stats.kept,
    signin: signinOk ? "ok" : "fail",
    signout: signoutOk ? "ok" : "fail",
    ...(opts.checkForwarded && { forwarded: forwardedOk ? "ok" : "fail", forwardedSeen }),
    slowMs: opts.slowMs,
    lostSession: stats.lost,
    slowRespCarriedSessionCookie: stats.slowCarriedSession,
    slowCompletedFirst: stats.slowFirst,
    retriedUnraced: stats.retried,
    signoutMs: msFigures(stats.updateMs),
    ...(op0 && op1 && opts.slowVia === "access-token" && {
      opRefreshes: {
        issued: op1.refreshIssued - op0.refreshIssued,
        failed: op1.refreshFailed - op0.refreshFailed,
        notIssuedBeforeLogout: stats.refreshNotSeen ?? 0,
        delayMs: op1.refreshDelayMs,
      },
    }),
    sessionLines: stats.sessionLines,
    cookieNames: [...opts.cookieNamesSeen].sort(),
  };
  let pass = true;
  const why = [];
  if (workerErrors > 0) {
    figures.workerErrors = workerErrors;
    pass = false;
    why.push(`${workerErrors} client(s) stopped on an error`);
  }
  const nameProblems = cookieNameProblems(opts, [...opts.cookieNamesSeen]);
  if (opts.expect && nameProblems.length) {
    pass = false;
    why.push(...nameProblems);
  }
  if (!signinOk || !signoutOk) {
    pass = false;
    why.push("sign-in and sign-out must work");
  }
  if (opts.expect === "reverts" && !(stats.reverts > 0)) {
    pass = false;
    why.push("expected the slow response to sign the user in again at least once when talking to the app directly, saw none");
  } else if (opts.expect === "none") {
    if (stats.reverts !== 0 || stats.kept !== opts.trials || ran !== opts.trials) {
      pass = false;
      why.push(`expected every user to stay signed out: ${stats.kept}/${opts.trials} did, ${stats.reverts} signed in again`);
    }
    if (!forwardedOk) {
      pass = false;
      why.push("the app did not see the expected Host / X-Forwarded-* headers");
    }
  } else if (opts.expect && opts.expect !== "reverts") {
    pass = false;
    why.push(`--expect ${opts.expect} is not defined for --scenario signout`);
  }
  if (opts.expect) {
    figures.expect = opts.expect;
    figures.pass = pass;
  }
  console.log(JSON.stringify(figures));
  const shown = stats.problems.slice(0, 10);
  for (const p of shown) console.error(`race(${opts.app}/${opts.target}): ${p}`);
  if (stats.problems.length > shown.length) {
    console.error(`race(${opts.app}/${opts.target}): … ${stats.problems.length - shown.length} more problems`);
  }
  for (const w of why) console.error(`race(${opts.app}/${opts.target}): FAIL: ${w}`);
  process.exit(pass ? 0 : 1);
}

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  const stats = {
    reverts: 0,
    kept: 0,
    lost: 0,
    updateFailures: 0,
    slowCarriedSession: 0,
    slowFirst: 0,
    chunked: 0,
    sessionGetRefreshed: 0,
    slidingChecks: 0,
    slidingAdvanced: 0,
    slidingGainedMs: 0,
    notPersisted: 0,
    updateMs: [],
    retried: 0,
    sessionLines: {},
    problems: [],
  };
  opts.cookieNamesSeen = new Set();
  if (opts.usesActions) {
    const path = opts.manifest ?? new URL(`./app-${opts.app}/.next/server/server-reference-manifest.json`, import.meta.url);
    opts.actionIds = loadActionIds(path);
  }

  let signinOk = true;
  let signoutOk = true;
  let signoutsRan = 0;
  let csrfOk = true;
  let idleOk = true;
  let workerErrors = 0;
  let ran = 0;

  // CSRF: the token endpoint works (used by every sign-in/update below), a
  // wrong password is refused.
  const wrongPwOk = await checkWrongPassword(opts, stats.problems);
  const forwardedSeen = {};
  const forwardedOk = opts.checkForwarded ? await checkForwarded(opts, stats.problems, forwardedSeen) : true;
  if (!wrongPwOk) signinOk = false;
  if (opts.scenario === "signout") return signOutRace(opts, stats, { wrongPwOk, forwardedOk, forwardedSeen });

  // `parallel` independent users, each running its share of trials in sequence.
  const workers = [];
  for (let w = 0; w < opts.parallel; w++) {
    const share = Math.floor(opts.trials / opts.parallel) + (w < opts.trials % opts.parallel ? 1 : 0);
    workers.push(
      (async () => {
        const { client, ok } = await signInChecked(opts, `${opts.user}${w}`, stats.problems, stats);
        if (!ok) {
          signinOk = false;
          return;
        }
        // (the CSRF token guards only next-auth/react's update route)
        if (w === 0 && opts.updateVia === "session" && (opts.csrfToken || opts.originCheck) && !(await checkBadCsrf(opts, client, stats.problems))) csrfOk = false;
        for (let i = 0; i < share; i++) {
          for (let k = 0; await trial(opts, client, `${w}.${i}`, stats, k < RETRIES); k++);
          ran++;
        }
        if (opts.idleMs > 0 && !(await checkAfterIdle(opts, client, w, stats.problems))) idleOk = false;
        if (w === 0 && opts.slidingChecks > 0) await checkSliding(opts, client, stats);
        signoutsRan++;
        if (!(await checkSignOut(opts, client, stats.problems, stats))) signoutOk = false;
      })().catch((e) => {
        stats.problems.push(`worker ${w}: ${e?.message ?? e}`);
        workerErrors++;
      })
    );
  }
  await Promise.all(workers);

  const updateOk = stats.updateFailures === 0 && ran === opts.trials && stats.lost === 0 && csrfOk;
  const figures = {
    app: opts.app,
    target: opts.target,
    updateVia: opts.updateVia,
    slowVia: opts.slowVia,
    ...(opts.authVia !== "api" && { authVia: opts.authVia }),
    trials: ran,
    reverts: stats.reverts,
    kept: stats.kept,
    signin: signinOk ? "ok" : "fail",
    update: updateOk ? "ok" : "fail",
    signout: signoutsRan === 0 ? "not-run" : signoutOk ? "ok" : "fail",
    csrf: opts.updateVia === "session" && (opts.csrfToken || opts.originCheck) && opts.scenario === "update" ? (csrfOk ? "ok" : "fail") : "n/a",
    ...(opts.checkForwarded && { forwarded: forwardedOk ? "ok" : "fail", forwardedSeen }),
    ...(opts.idleMs > 0 && { afterIdle: idleOk ? "ok" : "fail", idleMs: opts.idleMs }),
    slowMs: opts.slowMs,
    ...(opts.valueBytes > 0 && { valueBytes: opts.valueBytes, trialsWithChunkedSession: stats.chunked }),
    lostSession: stats.lost,
    slowRespCarriedSessionCookie: stats.slowCarriedSession,
    slowCompletedFirst: stats.slowFirst,
    retriedUnraced: stats.retried,
    updateMs: msFigures(stats.updateMs),
    sessionGetRefreshed: stats.sessionGetRefreshed,
    ...(opts.slidingChecks > 0 && {
      slidingChecks: stats.slidingChecks,
      expiryAdvanced: stats.slidingAdvanced,
      expiryGainedSeconds: Math.round(stats.slidingGainedMs / 1000),
    }),
    ...(stats.notPersisted > 0 && { updatesNotPersisted: stats.notPersisted }),
    sessionLines: stats.sessionLines,
    cookieNames: [...opts.cookieNamesSeen].sort(),
  };
  if (opts.expect) figures.expect = opts.expect;

  let pass = true;
  const why = [];
  if (workerErrors > 0) {
    figures.workerErrors = workerErrors;
    pass = false;
    why.push(`${workerErrors} client(s) stopped on an error`);
  }
  if (signoutsRan === 0) signoutOk = false;
  const nameProblems = cookieNameProblems(opts, [...opts.cookieNamesSeen]);
  if (opts.expect && nameProblems.length) {
    pass = false;
    why.push(...nameProblems);
  }
  if (opts.expect && opts.valueBytes > 0 && ran > 0 && stats.chunked !== ran) {
    pass = false;
    why.push(`expected a chunked session in every trial, ${stats.chunked}/${ran} had one`);
  }
  if (opts.expect === "reverts") {
    if (!(stats.reverts > 0)) {
      pass = false;
      why.push("expected reverts > 0 when talking to Next.js directly, saw none");
    }
    if (!signinOk || !updateOk || !signoutOk) {
      pass = false;
      why.push("sign-in/update/sign-out must all work");
    }
  } else if (opts.expect === "no-update") {
    if (stats.notPersisted !== opts.trials || stats.kept !== 0 || stats.reverts !== 0) {
      pass = false;
      why.push(`expected no update to persist (documented limitation), ${opts.trials - stats.notPersisted}/${opts.trials} did`);
    }
    if (!signinOk || !signoutOk) {
      pass = false;
      why.push("sign-in/sign-out must work");
    }
  } else if (opts.expect === "none") {
    if (stats.reverts !== 0) {
      pass = false;
      why.push(`expected no reverts, saw ${stats.reverts}`);
    }
    if (!signinOk || !updateOk || !signoutOk) {
      pass = false;
      why.push("sign-in/update/sign-out must all work");
    }
    if (opts.expectRefresh && stats.sessionGetRefreshed !== ran) {
      pass = false;
      why.push(`expected every GET /api/auth/session after a race to refresh the session cookie, ${stats.sessionGetRefreshed}/${ran} did`);
    }
    if (opts.expectSliding && (stats.slidingChecks === 0 || stats.slidingAdvanced !== stats.slidingChecks)) {
      pass = false;
      why.push(`expected ordinary requests to move the session expiry later, ${stats.slidingAdvanced}/${stats.slidingChecks} did`);
    }
    if (!forwardedOk) {
      pass = false;
      why.push("the app did not see the expected Host / X-Forwarded-* headers");
    }
    if (!idleOk) {
      pass = false;
      why.push("requests after an idle pause failed");
    }
    if (ran !== opts.trials) {
      pass = false;
      why.push(`only ${ran} of ${opts.trials} trials ran`);
    }
  }
  if (opts.expect) figures.pass = pass;
  console.log(JSON.stringify(figures));
  const shown = stats.problems.slice(0, 10);
  for (const p of shown) console.error(`race(${opts.app}/${opts.target}): ${p}`);
  if (stats.problems.length > shown.length) {
    console.error(`race(${opts.app}/${opts.target}): … ${stats.problems.length - shown.length} more problems`);
  }
  for (const w of why) console.error(`race(${opts.app}/${opts.target}): FAIL: ${w}`);
  process.exit(pass ? 0 : 1);
}

main().catch((e) => {
  console.error(`race: fatal: ${e?.stack ?? e}`);
  process.exit(2);
});
