"use client";

import { useEffect, useState } from "react";
import { signIn, signOut, useSession } from "next-auth/react";

// Page driven by tests/e2e/browser.mjs: the user's name is the session value, changed
// with useSession().update({ user: { name } }) as in the example (POST /auth/session).
export default function Client() {
  const { data: session, status, update } = useSession();
  const [username, setUsername] = useState("alice");
  const [password, setPassword] = useState("pw");
  const [newValue, setNewValue] = useState("");
  const [slowMs, setSlowMs] = useState("1500");
  const [slowCount, setSlowCount] = useState("3");
  const [raceState, setRaceState] = useState("idle");
  const [message, setMessage] = useState("");
  // "loading" until hydrated, so that the browser driver never clicks a dead page
  const [mounted, setMounted] = useState(false);
  useEffect(() => setMounted(true), []);

  async function doSignIn(e) {
    e.preventDefault();
    const r = await signIn("credentials", { username, password, redirect: false });
    setMessage(r?.ok && !r?.error ? "signed-in" : `sign-in-failed:${r?.error}`);
    await update(); // refetch the session after a redirect-less sign-in
  }

  async function race() {
    setRaceState("running");
    const n = parseInt(slowCount, 10) || 1;
    // Slow page loads start first, carrying the current cookie (the middleware
    // refreshes the session on each of them)...
    const slow = Array.from({ length: n }, () =>
      fetch(`/slow?ms=${encodeURIComponent(slowMs)}`, { cache: "no-store" }).then((r) => r.text())
    );
    // ...and while they are in flight the user's name is updated.
    const updated = await update({ user: { name: newValue } });
    await Promise.all(slow);
    setRaceState(`done:${updated?.user?.name ?? ""}`);
  }

  return (
    <main>
      <h1>cookieguard e2e (Auth.js on Next.js, basePath /auth)</h1>
      <p>
        status: <span id="status">{mounted ? status : "loading"}</span>
      </p>
      <p>
        value: <span id="value">{session?.user?.name ?? ""}</span>
      </p>
      <p>
        message: <span id="message">{message}</span>
      </p>
      <form onSubmit={doSignIn}>
        <input id="username" value={username} onChange={(e) => setUsername(e.target.value)} />
        <input id="password" type="password" value={password} onChange={(e) => setPassword(e.target.value)} />
        <button id="signin" type="submit">Sign in</button>
      </form>
      <div>
        <input id="newvalue" value={newValue} onChange={(e) => setNewValue(e.target.value)} />
        <input id="slowms" value={slowMs} onChange={(e) => setSlowMs(e.target.value)} />
        <input id="slowcount" value={slowCount} onChange={(e) => setSlowCount(e.target.value)} />
        <button id="race" type="button" onClick={race}>Race</button>
        <span id="racestate">{raceState}</span>
      </div>
      <button
        id="signout"
        type="button"
        onClick={() => signOut({ redirect: false }).then(() => setMessage("signed-out"))}
      >
        Sign out
      </button>
    </main>
  );
}
