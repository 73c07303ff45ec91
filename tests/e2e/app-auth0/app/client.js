"use client";

import { useEffect, useState } from "react";

// Driven by tests/e2e/browser.mjs (--app auth0). Sign-in and logout are the SDK's routes
// (navigations to /auth/login and /auth/logout); the update is POST /api/profile, a route
// handler calling auth0.updateSession(); the slow requests are GET /api/slow (the
// middleware rolls the session on each of them).
export default function Client({ signedIn, user, value }) {
  const [newValue, setNewValue] = useState("");
  const [slowMs, setSlowMs] = useState("1500");
  const [slowCount, setSlowCount] = useState("3");
  const [raceState, setRaceState] = useState("idle");
  // "loading" until hydrated, so that the browser driver never clicks a dead page
  const [mounted, setMounted] = useState(false);
  useEffect(() => setMounted(true), []);

  async function race() {
    setRaceState("running");
    const n = parseInt(slowCount, 10) || 1;
    // Slow requests start first, carrying the current cookie...
    const slow = Array.from({ length: n }, () =>
      fetch(`/api/slow?ms=${encodeURIComponent(slowMs)}`, { cache: "no-store" }).then((r) => r.json())
    );
    // ...and while they are in flight the session is updated.
    const updated = await fetch("/api/profile", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ value: newValue }),
    }).then((r) => r.json());
    await Promise.all(slow);
    setRaceState(`done:${updated?.value ?? ""}`);
  }

  return (
    <>
      <p>
        status: <span id="status">{mounted ? (signedIn ? "authenticated" : "unauthenticated") : "loading"}</span>
      </p>
      <p>
        user: <span id="user">{user}</span>
      </p>
      <p>
        value: <span id="value">{value}</span>
      </p>
      <p>
        <a id="signin" href="/auth/login">Sign in</a>
      </p>
      <div>
        <input id="newvalue" value={newValue} onChange={(e) => setNewValue(e.target.value)} />
        <input id="slowms" value={slowMs} onChange={(e) => setSlowMs(e.target.value)} />
        <input id="slowcount" value={slowCount} onChange={(e) => setSlowCount(e.target.value)} />
        <button id="race" type="button" onClick={race}>Race</button>
        <span id="racestate">{raceState}</span>
      </div>
      <p>
        <a id="signout" href="/auth/logout">Log out</a>
      </p>
    </>
  );
}
