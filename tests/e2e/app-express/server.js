// @auth/express as its docs set it up: ExpressAuth mounted at /auth/* (Express 4: the
// "/auth/*" mount and the base path @auth/express 0.12 derives from req.params[0] do
// not work on Express 5, next-auth #12672), `trust proxy`, getSession() in page
// routes. JWT sessions; AUTH_SECRET and AUTH_TRUST_HOST come from the environment.
//   node server.js --port N [--host 127.0.0.1]
import express from "express";
import { ExpressAuth, getSession } from "@auth/express";
import Credentials from "@auth/express/providers/credentials";

const args = process.argv.slice(2);
const arg = (name, dflt) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : dflt;
};

export const authConfig = {
  providers: [
    Credentials({
      credentials: {
        username: { label: "Username" },
        password: { label: "Password", type: "password" },
      },
      async authorize(credentials) {
        if (credentials?.username && credentials.password === "pw") {
          return { id: String(credentials.username), name: String(credentials.username) };
        }
        return null;
      },
    }),
  ],
  callbacks: {
    // update data ({ user: { name } }) from POST /auth/session
    jwt({ token, trigger, session }) {
      if (trigger === "update" && session?.user?.name !== undefined) token.name = session.user.name;
      return token;
    },
  },
};

const clamp = (v) => Math.min(Math.max(parseInt(v ?? "0", 10) || 0, 0), 30000);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const app = express();
app.set("trust proxy", true);

// getSession() reads the session without writing it: the page responses of an Express
// app carry no session cookie. What re-writes it is Auth.js's own GET /auth/session
// (every client-side session read). For the race it is made slow here: ?delay=N holds
// the request N ms before Auth.js answers it (a slow network, a busy server); the
// cookie it re-encodes is the one the request left with.
app.use("/auth/session", (req, res, next) => {
  const ms = req.method === "GET" ? clamp(req.query.delay) : 0;
  if (ms > 0) setTimeout(next, ms);
  else next();
});
app.use("/auth/*", ExpressAuth(authConfig));

app.get("/api/headers", (req, res) => {
  const h = (n) => req.get(n) ?? null;
  res.json({
    url: req.originalUrl,
    host: h("host"),
    xForwardedHost: h("x-forwarded-host"),
    xForwardedProto: h("x-forwarded-proto"),
    xForwardedFor: h("x-forwarded-for"),
    xForwardedPort: h("x-forwarded-port"),
  });
});

// A slow page that reads the session (getSession), waits, answers: no Set-Cookie.
app.get("/slow", async (req, res, next) => {
  try {
    const session = await getSession(req, authConfig);
    await sleep(clamp(req.query.ms));
    res.type("html").send(`<pre id="session">${escapeHtml(JSON.stringify(session))}</pre>`);
  } catch (e) {
    next(e);
  }
});

const escapeHtml = (s) => String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

// The page driven by tests/e2e/browser.mjs: server-rendered with getSession(); sign-in,
// update and sign-out by fetch, as @auth's clients send them (POST /auth/callback/
// credentials, POST /auth/session {csrfToken, data}, POST /auth/signout), then a reload.
app.get("/", async (req, res, next) => {
  try {
    const session = await getSession(req, authConfig);
    const name = session?.user?.name ?? "";
    res.type("html").send(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>cookieguard e2e (@auth/express)</title></head>
<body><main>
<h1>cookieguard e2e (@auth/express)</h1>
<p>status: <span id="status">loading</span></p>
<p>value: <span id="value">${escapeHtml(name)}</span></p>
<p>message: <span id="message"></span></p>
<form id="signinform"><input id="username" value="alice"><input id="password" type="password" value="pw">
<button id="signin" type="submit">Sign in</button></form>
<div><input id="newvalue" value=""><input id="slowms" value="1500"><input id="slowcount" value="3">
<button id="race" type="button">Race</button><span id="racestate">idle</span></div>
<button id="signout" type="button">Sign out</button>
</main>
<script>
const $ = (id) => document.getElementById(id);
const form = (o) => ({ method: "POST", headers: { "content-type": "application/x-www-form-urlencoded", "x-auth-return-redirect": "1" }, body: new URLSearchParams(o) });
const csrf = () => fetch("/auth/csrf").then((r) => r.json()).then((d) => d.csrfToken);
async function show() {
  const s = await fetch("/auth/session").then((r) => r.json());
  $("status").textContent = s && s.user ? "authenticated" : "unauthenticated";
  $("value").textContent = (s && s.user && s.user.name) || "";
}
$("status").textContent = ${JSON.stringify(session?.user ? "authenticated" : "unauthenticated")};
$("signinform").addEventListener("submit", async (e) => {
  e.preventDefault();
  const r = await fetch("/auth/callback/credentials", form({ username: $("username").value, password: $("password").value, csrfToken: await csrf(), callbackUrl: location.href }));
  const d = await r.json();
  $("message").textContent = r.ok && !/[?&]error=/.test(d.url) ? "signed-in" : "sign-in-failed:" + d.url;
  await show();
});
$("race").addEventListener("click", async () => {
  $("racestate").textContent = "running";
  const n = parseInt($("slowcount").value, 10) || 1;
  // slow session reads start first, carrying the current cookie...
  const slow = Array.from({ length: n }, () => fetch("/auth/session?delay=" + encodeURIComponent($("slowms").value), { cache: "no-store" }).then((r) => r.text()));
  // ...and while they are in flight the user's name is updated
  const r = await fetch("/auth/session", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ csrfToken: await csrf(), data: { user: { name: $("newvalue").value } } }) });
  const updated = await r.json();
  await Promise.all(slow);
  $("racestate").textContent = "done:" + ((updated && updated.user && updated.user.name) || "");
});
$("signout").addEventListener("click", async () => {
  await fetch("/auth/signout", form({ csrfToken: await csrf(), callbackUrl: location.href }));
  $("message").textContent = "signed-out";
  await show();
});
</script></body></html>`);
  } catch (e) {
    next(e);
  }
});

const port = parseInt(arg("--port", process.env.PORT ?? "3000"), 10);
const host = arg("--host", "127.0.0.1");
app.listen(port, host, () => console.log(`listening on http://${host}:${port}`));
