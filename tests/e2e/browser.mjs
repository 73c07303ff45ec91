#!/usr/bin/env node
// Real-browser run for cookieguard's end-to-end proof (playwright-core + Debian's chromium).
//
// For each attempt, in a fresh browser context: open the app's page, sign in through its
// form (next-auth/react signIn), then press "Race": the page starts a few slow
// session-reading fetches (/api/slow) and, while they are in flight, calls
// useSession().update({ value: NEW }). When everything has finished the page is reloaded
// and the session value shown is compared with NEW.
//
// --flow actions (v5): the same on /actions, where sign-in, update and sign-out are
// server actions only: sign in through the action, press "Race" (plain fetches of
// --slow-path, default /api/slow, start first; the update action runs while they are in
// flight: Next runs one tab's actions one at a time, so the slow requests are not
// actions), reload and compare; then sign out through the action and check that the
// browser holds no session cookie and the page shows no session.
//
//   --expect persist   every attempt must keep NEW (through cookieguard)
//   --expect revert    at least one attempt must show the revert (directly against Next.js)
//
// HTTPS (--base https://…, a TLS terminator in front): --ca-file PEM makes Chromium trust
// that CA: a throw-away HOME whose NSS database (~/.pki/nssdb, which Chromium on Linux
// reads for locally trusted roots) holds it, made with `certutil` (Debian's
// libnss3-tools). Without certutil it falls back to --ignore-certificate-errors and says
// so in the figures ("tls"). Over https every session cookie the browser holds after
// sign-in must be `__Secure-…`; the names are in the figures.
//
// Apps: v4 and v5 show `session.value` ("initial" after sign-in); next-example,
// sveltekit and express show the user's name (the username after sign-in), changed by
// update({ user: { name } }). Each app's page has the same element ids.
// auth0 (@auth0/nextjs-auth0 v4): #signin is a link to the SDK's /auth/login; the browser
// signs in on the local OpenID provider's login form (oidc/server.mjs: #username,
// #password, #login) and comes back through /auth/callback; the page shows
// `session.user.value` (empty after sign-in); "Race" starts the slow fetches of
// /api/slow and then POSTs /api/profile {value} (auth0.updateSession() in a route
// handler). After the reload the attempt logs out through #signout (the SDK's
// /auth/logout, the OP's end_session, back to the app) and checks that the browser holds
// no `__session` cookie and the page shows no session.
// better-auth (Better Auth, cookie cache on): the page's sign-in form signs a fresh account
// up (its own email; the sign-up's cookies are not kept) and signs in with
// authClient.signIn.email; the page shows the user's name, rendered on the server by
// auth.api.getSession() (which trusts the cookie cache). Each attempt makes a plain update
// first (#update: authClient.updateUser({ name })), then the race ("Race": slow fetches of
// /api/slow, then authClient.updateUser), reloads, signs out through #signout
// (authClient.signOut()) and checks that the browser holds no `better-auth.session_token`
// / `better-auth.session_data` and the page shows no session.
// --header "Name: value" (repeatable) is sent with every request of the browser (run.sh:
// the SvelteKit app, built with adapter-node, takes its origin from X-Forwarded-Proto/
// -Host, so the direct control sends what a plain forwarding proxy would).
//
// Prints one JSON line of figures; exits non-zero when the expectation fails.

import { randomBytes } from "node:crypto";
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium } from "playwright-core";

function parseArgs(argv) {
  const opts = {
    base: null,
    app: null,
    target: "direct",
    attempts: 5,
    slowMs: 1500,
    slowCount: 3,
    expect: null,
    executablePath: process.env.CHROMIUM_PATH || "/usr/bin/chromium",
    timeoutMs: 30000,
    flow: "react",
    slowPath: "/api/slow",
    caFile: null,
    headers: {},
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
      case "--attempts": opts.attempts = parseInt(next(), 10); break;
      case "--slow-ms": opts.slowMs = parseInt(next(), 10); break;
      case "--slow-count": opts.slowCount = parseInt(next(), 10); break;
      case "--expect": opts.expect = next(); break;
      case "--chromium": opts.executablePath = next(); break;
      case "--flow": opts.flow = next(); break;
      case "--slow-path": opts.slowPath = next(); break;
      case "--ca-file": opts.caFile = next(); break;
      case "--header": {
        const h = next();
        const i = h.indexOf(":");
        if (i <= 0) throw new Error(`--header wants "Name: value", got ${h}`);
        opts.headers[h.slice(0, i).trim().toLowerCase()] = h.slice(i + 1).trim();
        break;
      }
      default: throw new Error(`unknown argument ${a}`);
    }
  }
  if (!opts.base) throw new Error("--base URL is required");
  if (opts.flow !== "react" && opts.flow !== "actions") throw new Error("--flow must be 'react' or 'actions'");
  if (opts.flow === "actions" && opts.app !== "v5") throw new Error("--flow actions needs --app v5");
  if (opts.expect && opts.expect !== "persist" && opts.expect !== "revert") {
    throw new Error("--expect must be 'persist' or 'revert'");
  }
  return opts;
}

const text = (page, sel) => page.locator(sel).innerText();

async function waitText(page, sel, predicate, what, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  let last = null;
  while (Date.now() < deadline) {
    last = await text(page, sel).catch(() => null);
    if (last !== null && predicate(last)) return last;
    await page.waitForTimeout(50);
  }
  throw new Error(`timed out waiting for ${what} (${sel} = ${JSON.stringify(last)})`);
}

const CHROMIUM_ARGS = [
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

// One Chromium per run; each attempt gets its own fresh browser context (its own cookie
// jar and storage, like a new incognito window), so no cookie survives from one attempt
// to the next. (A Chromium launch costs about two seconds here; a context a tenth of it.)
let browser = null;
// HOME with the NSS database that trusts --ca-file (one per run: it holds no cookies).
let trustHome = null;

// Returns the launch additions for --ca-file: {env, args, tls}.
function tlsTrust(opts) {
  if (!opts.caFile) return { env: undefined, args: [], tls: opts.base.startsWith("https:") ? "none" : undefined };
  try {
    trustHome = mkdtempSync(join(tmpdir(), "cookieguard-e2e-home-"));
    const db = `sql:${join(trustHome, ".pki", "nssdb")}`;
    mkdirSync(join(trustHome, ".pki", "nssdb"), { recursive: true });
    execFileSync("certutil", ["-N", "-d", db, "--empty-password"], { stdio: "pipe" });
    execFileSync("certutil", ["-A", "-d", db, "-n", "cookieguard-e2e-ca", "-t", "C,,", "-i", opts.caFile], { stdio: "pipe" });
    return { env: { ...process.env, HOME: trustHome }, args: [], tls: "ca-trusted-nss" };
  } catch (e) {
    console.error(`browser: cannot trust ${opts.caFile} through NSS (${String(e?.message ?? e).split("\n")[0]}): using --ignore-certificate-errors`);
    return { env: undefined, args: ["--ignore-certificate-errors"], tls: "ignore-certificate-errors" };
  }
}

const isSessionCookie = (n) =>
  /^(__Secure-)?(authjs|next-auth)\.session-token(\.\d+)?$|^__session(__\d+)?$|^(__Secure-)?better-auth\.(session_token|session_data(\.\d+)?)$/.test(n);

async function launch(opts, trust) {
  try {
    browser = await chromium.launch({
      executablePath: opts.executablePath,
      headless: true,
      args: [...CHROMIUM_ARGS, ...trust.args],
      ...(trust.env && { env: trust.env }),
      timeout: opts.timeoutMs,
    });
    return null;
  } catch (e) {
    return `chromium launch failed: ${String(e?.message ?? e).split("\n")[0]}`;
  }
}

async function attempt(opts, idx, trust) {
  let context = null;
  try {
    context = await browser.newContext(Object.keys(opts.headers).length ? { extraHTTPHeaders: opts.headers } : {});
  } catch (e) {
    return { ok: false, error: `new browser context failed: ${String(e?.message ?? e).split("\n")[0]}` };
  }
  context.setDefaultTimeout(opts.timeoutMs);
  const page = await context.newPage();
  const user = `browser${idx}`;
  const initial = opts.app === "v4" || opts.app === "v5" ? "initial" : user;
  const NEW = "new-" + randomBytes(6).toString("hex");
  if (opts.app === "better-auth") {
    try {
      return await betterAuthAttempt(opts, context, page, user, NEW);
    } catch (e) {
      return { ok: false, error: String(e?.message ?? e).split("\n")[0] };
    } finally {
      await context.close().catch(() => {});
    }
  }
  if (opts.app === "auth0") {
    try {
      return await auth0Attempt(opts, context, page, user, NEW);
    } catch (e) {
      return { ok: false, error: String(e?.message ?? e).split("\n")[0] };
    } finally {
      await context.close().catch(() => {});
    }
  }
  if (opts.flow === "actions") {
    try {
      return await actionsAttempt(opts, context, page, user, NEW);
    } catch (e) {
      return { ok: false, error: String(e?.message ?? e).split("\n")[0] };
    } finally {
      await context.close().catch(() => {});
    }
  }
  try {
    await page.goto(opts.base + "/", { waitUntil: "load" });
    await waitText(page, "#status", (t) => t === "unauthenticated", "signed-out status", opts.timeoutMs);

    await page.fill("#username", user);
    await page.fill("#password", "pw");
    await page.click("#signin");
    await waitText(page, "#message", (t) => t !== "", "sign-in result", opts.timeoutMs);
    const msg = await text(page, "#message");
    if (msg !== "signed-in") throw new Error(`sign-in failed: ${msg}`);
    await waitText(page, "#status", (t) => t === "authenticated", "authenticated status", opts.timeoutMs);
    await waitText(page, "#value", (t) => t === initial, "initial session value", opts.timeoutMs);
    const cookieNames = (await context.cookies()).map((c) => c.name).filter(isSessionCookie);

    await page.fill("#newvalue", NEW);
    await page.fill("#slowms", String(opts.slowMs));
    await page.fill("#slowcount", String(opts.slowCount));
    await page.click("#race");
    const raceState = await waitText(page, "#racestate", (t) => t.startsWith("done:"), "race to finish", opts.timeoutMs);
    const updateReturned = raceState.slice("done:".length) === NEW;

    await page.reload({ waitUntil: "load" });
    await waitText(page, "#status", (t) => t !== "loading", "session after reload", opts.timeoutMs);
    const status = await text(page, "#status");
    const value = await text(page, "#value");
    return { ok: true, updateReturned, status, persisted: status === "authenticated" && value === NEW, reverted: value === initial, cookieNames };
  } catch (e) {
    return { ok: false, error: String(e?.message ?? e).split("\n")[0] };
  } finally {
    await context.close().catch(() => {});
  }
}

const SESSION_COOKIE = /^(__Secure-)?(authjs|next-auth)\.session-token(\.\d+)?$/;

// Better Auth: sign in (a fresh account), a plain update, the race, reload, sign out (see
// the header).
async function betterAuthAttempt(opts, context, page, user, NEW) {
  const sessionCookies = async () => (await context.cookies(opts.base)).map((c) => c.name).filter(isSessionCookie);
  await page.goto(opts.base + "/", { waitUntil: "load" });
  await waitText(page, "#status", (t) => t === "unauthenticated", "signed-out status", opts.timeoutMs);

  await page.fill("#username", user);
  await page.fill("#password", "pw");
  await page.click("#signin");
  await waitText(page, "#message", (t) => t !== "", "sign-in result", opts.timeoutMs);
  const msg = await text(page, "#message");
  if (msg !== "signed-in") throw new Error(`sign-in failed: ${msg}`);
  await waitText(page, "#status", (t) => t === "authenticated", "authenticated status", opts.timeoutMs);
  await waitText(page, "#value", (t) => t === user, "the user's name after sign-in", opts.timeoutMs);
  const cookieNames = await sessionCookies();

  // a plain update (no race): the page shows it once re-rendered
  const before = `before-${randomBytes(4).toString("hex")}`;
  await page.fill("#newvalue", before);
  await page.click("#update");
  await waitText(page, "#message", (t) => t === `updated:${before}`, "plain update", opts.timeoutMs);
  await waitText(page, "#value", (t) => t === before, "the plain update on the page", opts.timeoutMs);

  await page.fill("#newvalue", NEW);
  await page.fill("#slowms", String(opts.slowMs));
  await page.fill("#slowcount", String(opts.slowCount));
  await page.click("#race");
  const raceState = await waitText(page, "#racestate", (t) => t.startsWith("done:"), "race to finish", opts.timeoutMs);
  const updateReturned = raceState.slice("done:".length) === NEW;

  await page.reload({ waitUntil: "load" });
  await waitText(page, "#status", (t) => t !== "loading", "session after reload", opts.timeoutMs);
  const status = await text(page, "#status");
  const value = await text(page, "#value");

  await page.click("#signout");
  await waitText(page, "#message", (t) => t === "signed-out", "sign-out", opts.timeoutMs);
  await page.reload({ waitUntil: "load" });
  await waitText(page, "#status", (t) => t !== "loading", "page after sign-out", opts.timeoutMs);
  const left = await sessionCookies();
  const signedOut = left.length === 0 && (await text(page, "#status")) === "unauthenticated";
  return {
    ok: true,
    updateReturned,
    status,
    persisted: status === "authenticated" && value === NEW,
    reverted: status === "authenticated" && value === before,
    signedOut,
    cookieNames,
  };
}

// @auth0/nextjs-auth0: sign in through the OP's form, race, reload, log out (see the header).
async function auth0Attempt(opts, context, page, user, NEW) {
  const appOrigin = new URL(opts.base).origin;
  const appSessionCookies = async () =>
    (await context.cookies(opts.base)).map((c) => c.name).filter((n) => /^__session(__\d+)?$/.test(n));
  await page.goto(opts.base + "/", { waitUntil: "load" });
  await waitText(page, "#status", (t) => t === "unauthenticated", "signed-out status", opts.timeoutMs);

  await page.click("#signin");
  await page.waitForSelector("#op-login", { timeout: opts.timeoutMs });
  await page.fill("#username", user);
  await page.fill("#password", "pw");
  await page.click("#login");
  await page.waitForURL((u) => u.origin === appOrigin && u.pathname === "/", { timeout: opts.timeoutMs });
  await waitText(page, "#status", (t) => t === "authenticated", "authenticated status after sign-in", opts.timeoutMs);
  if ((await text(page, "#user")) !== user || (await text(page, "#value")) !== "") {
    throw new Error(`after sign-in the page shows user ${JSON.stringify(await text(page, "#user"))}, value ${JSON.stringify(await text(page, "#value"))}`);
  }
  const cookieNames = await appSessionCookies();

  await page.fill("#newvalue", NEW);
  await page.fill("#slowms", String(opts.slowMs));
  await page.fill("#slowcount", String(opts.slowCount));
  await page.click("#race");
  const raceState = await waitText(page, "#racestate", (t) => t.startsWith("done:"), "race to finish", opts.timeoutMs);
  const updateReturned = raceState.slice("done:".length) === NEW;

  await page.reload({ waitUntil: "load" });
  await waitText(page, "#status", (t) => t !== "loading", "session after reload", opts.timeoutMs);
  const status = await text(page, "#status");
  const value = await text(page, "#value");

  await page.click("#signout");
  await page.waitForURL((u) => u.origin === appOrigin && u.pathname === "/", { timeout: opts.timeoutMs });
  await waitText(page, "#status", (t) => t !== "loading", "page after logout", opts.timeoutMs);
  const left = await appSessionCookies();
  const signedOut = left.length === 0 && (await text(page, "#status")) === "unauthenticated";
  return {
    ok: true,
    updateReturned,
    status,
    persisted: status === "authenticated" && value === NEW,
    reverted: status === "authenticated" && value === "",
    signedOut,
    cookieNames,
  };
}

// The /actions page renders the session on the server: reload to read it.
async function actionsAttempt(opts, context, page, user, NEW) {
  const path = opts.base + "/actions";
  await page.goto(path, { waitUntil: "load" });
  await waitText(page, "#status", (t) => t === "unauthenticated", "signed-out status", opts.timeoutMs);

  await page.fill("#username", user);
  await page.fill("#password", "pw");
  await page.click("#signin");
  await waitText(page, "#message", (t) => t !== "", "sign-in result", opts.timeoutMs);
  const msg = await text(page, "#message");
  if (msg !== "signed-in") throw new Error(`sign-in action failed: ${msg}`);
  await page.reload({ waitUntil: "load" });
  const signedIn = (await text(page, "#status")) === "authenticated" && (await text(page, "#value")) === "initial";
  if (!signedIn) {
    const names = (await context.cookies()).map((c) => c.name);
    throw new Error(`no session after the sign-in action (cookies ${JSON.stringify(names)})`);
  }
  const cookieNames = (await context.cookies()).map((c) => c.name).filter(isSessionCookie);

  await page.fill("#newvalue", NEW);
  await page.fill("#slowms", String(opts.slowMs));
  await page.fill("#slowcount", String(opts.slowCount));
  await page.fill("#slowpath", opts.slowPath);
  await page.click("#race");
  const raceState = await waitText(page, "#racestate", (t) => t.startsWith("done:"), "race to finish", opts.timeoutMs);
  const updateReturned = raceState.slice("done:".length) === NEW;
  await page.reload({ waitUntil: "load" });
  const status = await text(page, "#status");
  const value = await text(page, "#value");

  await page.click("#signout");
  await waitText(page, "#message", (t) => t === "signed-out", "sign-out action", opts.timeoutMs);
  await page.reload({ waitUntil: "load" });
  const left = (await context.cookies()).map((c) => c.name).filter((n) => SESSION_COOKIE.test(n));
  const signedOut = left.length === 0 && (await text(page, "#status")) === "unauthenticated";
  return {
    ok: true,
    updateReturned,
    status,
    persisted: status === "authenticated" && value === NEW,
    reverted: value === "initial",
    signedOut,
    cookieNames,
  };
}

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  // Stop promptly when run.sh is interrupted (Playwright kills its browsers on exit).
  for (const sig of ["SIGTERM", "SIGINT"]) {
    process.on(sig, () => {
      if (trustHome) rmSync(trustHome, { recursive: true, force: true });
      process.exit(sig === "SIGINT" ? 130 : 143);
    });
  }
  const trust = tlsTrust(opts);
  const results = [];
  try {
    const launchError = await launch(opts, trust);
    for (let i = 0; i < opts.attempts; i++) {
      results.push(launchError ? { ok: false, error: launchError } : await attempt(opts, i, trust));
    }
  } finally {
    await browser?.close().catch(() => {});
    if (trustHome) rmSync(trustHome, { recursive: true, force: true });
  }
  const cookieNames = [...new Set(results.flatMap((r) => r.cookieNames ?? []))].sort();

  const errors = results.filter((r) => !r.ok);
  const persisted = results.filter((r) => r.ok && r.persisted).length;
  const reverted = results.filter((r) => r.ok && r.reverted).length;
  const signedOutAfter = results.filter((r) => r.ok && r.status !== "authenticated").length;
  const figures = {
    app: opts.app,
    target: opts.target,
    attempts: opts.attempts,
    persisted,
    reverted,
    signedOutAfterReload: signedOutAfter,
    errors: errors.length,
    updateReturnedNew: results.filter((r) => r.ok && r.updateReturned).length,
    slowMs: opts.slowMs,
    slowCount: opts.slowCount,
    ...(trust.tls && { tls: trust.tls }),
    cookieNames,
    ...(opts.flow === "actions" && {
      flow: "actions",
      slowPath: opts.slowPath,
      signedOutByAction: results.filter((r) => r.ok && r.signedOut).length,
    }),
    ...(opts.app === "auth0" && { signedOutByLogout: results.filter((r) => r.ok && r.signedOut).length }),
    ...(opts.app === "better-auth" && { signedOutBySignOut: results.filter((r) => r.ok && r.signedOut).length }),
  };
  let pass = true;
  const why = [];
  const plainOverHttps = opts.base.startsWith("https:") && cookieNames.some((n) => !n.startsWith("__Secure-"));
  if (opts.expect && (plainOverHttps || (opts.base.startsWith("https:") && results.some((r) => r.ok) && cookieNames.length === 0))) {
    pass = false;
    why.push(`expected only __Secure- session cookies over https, the browser held ${JSON.stringify(cookieNames)}`);
  }
  if (opts.expect === "persist") {
    if (persisted !== opts.attempts) {
      pass = false;
      why.push(`expected every attempt to keep the update, ${persisted}/${opts.attempts} did`);
    }
    if (opts.flow === "actions" && figures.signedOutByAction !== opts.attempts) {
      pass = false;
      why.push(`expected the sign-out action to clear the session every time, ${figures.signedOutByAction}/${opts.attempts} did`);
    }
    if (opts.app === "better-auth" && figures.signedOutBySignOut !== opts.attempts) {
      pass = false;
      why.push(`expected the sign-out to clear the session every time, ${figures.signedOutBySignOut}/${opts.attempts} did`);
    }
    if (opts.app === "auth0" && figures.signedOutByLogout !== opts.attempts) {
      pass = false;
      why.push(`expected the logout to clear the session every time, ${figures.signedOutByLogout}/${opts.attempts} did`);
    }
  } else if (opts.expect === "revert") {
    if (reverted < 1) {
      pass = false;
      why.push("expected at least one reverted update when talking to Next.js directly, saw none");
    }
    if (errors.length === opts.attempts) {
      pass = false;
      why.push("every attempt errored");
    }
    const okAttempts = opts.attempts - errors.length;
    if (opts.flow === "actions" && figures.signedOutByAction !== okAttempts) {
      pass = false;
      why.push(`expected the sign-out action to clear the session every time, ${figures.signedOutByAction}/${okAttempts} did`);
    }
  }
  if (opts.expect) {
    figures.expect = opts.expect;
    figures.pass = pass;
  }
  console.log(JSON.stringify(figures));
  for (const e of errors.slice(0, 5)) console.error(`browser(${opts.app}/${opts.target}): error: ${e.error}`);
  for (const w of why) console.error(`browser(${opts.app}/${opts.target}): FAIL: ${w}`);
  process.exit(pass ? 0 : 1);
}

main().catch((e) => {
  console.error(`browser: fatal: ${e?.stack ?? e}`);
  process.exit(2);
});
