"use client";

import { useState } from "react";
import { SessionProvider, signIn, signOut, useSession } from "next-auth/react";

// Page driven by tests/e2e/browser.mjs.
function Home() {
  const { data: session, status, update } = useSession();
  const [username, setUsername] = useState("alice");
  const [password, setPassword] = useState("pw");
  const [newValue, setNewValue] = useState("");
  const [slowMs, setSlowMs] = useState("1500");
  const [slowCount, setSlowCount] = useState("3");
  const [raceState, setRaceState] = useState("idle");
  const [message, setMessage] = useState("");

  async function doSignIn(e) {
    e.preventDefault();
    const r = await signIn("credentials", { username, password, redirect: false });
    setMessage(r?.ok && !r?.error ? "signed-in" : `sign-in-failed:${r?.error}`);
    await update(); // refetch the session after a redirect-less sign-in
  }

  async function race() {
    setRaceState("running");
    const n = parseInt(slowCount, 10) || 1;
    // Slow session-reading requests start first, carrying the current cookie...
    const slow = Array.from({ length: n }, () =>
      fetch(`/api/slow?ms=${encodeURIComponent(slowMs)}`, { cache: "no-store" }).then((r) => r.json())
    );
    // ...and while they are in flight the session is updated.
    const updated = await update({ value: newValue });
    await Promise.all(slow);
    setRaceState(`done:${updated?.value ?? ""}`);
  }

  return (
    <main>
      <h1>cookieguard e2e (next-auth v5)</h1>
      <p>
        status: <span id="status">{status}</span>
      </p>
      <p>
        value: <span id="value">{session?.value ?? ""}</span>
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

export default function Client() {
  return (
    <SessionProvider refetchOnWindowFocus={false}>
      <Home />
    </SessionProvider>
  );
}
