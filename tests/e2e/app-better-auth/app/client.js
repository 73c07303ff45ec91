"use client";

import { useRouter } from "next/navigation";
import { useEffect, useState } from "react";
import { authClient } from "../lib/auth-client";

// Driven by tests/e2e/browser.mjs (--app better-auth), with the element ids of the other
// apps' pages. Sign-in: a fresh account (POST /api/auth/sign-up/email with credentials
// "omit": the sign-up's own session cookies are not kept; the memory store outlives the
// browser attempts, so every sign-in needs an email of its own), then authClient.signIn.email
// (POST /api/auth/sign-in/email). Update: authClient.updateUser({ name }) (POST
// /api/auth/update-user). Race: slow fetches of /api/slow first, the update while they
// are in flight. Sign-out: authClient.signOut() (POST /api/auth/sign-out). After each
// step the server-rendered session is fetched again (router.refresh()).
export default function Client({ signedIn, name }) {
  const router = useRouter();
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
    const email = `${username}-${Math.random().toString(36).slice(2, 10)}@e2e.test`;
    const up = await fetch("/api/auth/sign-up/email", {
      method: "POST",
      credentials: "omit",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ name: username, email, password }),
    });
    if (!up.ok) {
      setMessage(`sign-up-failed:${up.status}`);
      return;
    }
    const { error } = await authClient.signIn.email({ email, password });
    setMessage(error ? `sign-in-failed:${error.status}` : "signed-in");
    router.refresh();
  }

  async function doUpdate() {
    const { data, error } = await authClient.updateUser({ name: newValue });
    setMessage(!error && data?.status ? `updated:${newValue}` : `update-failed:${error?.status}`);
    router.refresh();
  }

  async function race() {
    setRaceState("running");
    const n = parseInt(slowCount, 10) || 1;
    // Slow requests start first, carrying the current cookies...
    const slow = Array.from({ length: n }, () =>
      fetch(`/api/slow?ms=${encodeURIComponent(slowMs)}`, { cache: "no-store" }).then((r) => r.json())
    );
    // ...and while they are in flight the user's name is updated.
    const { data, error } = await authClient.updateUser({ name: newValue });
    await Promise.all(slow);
    setRaceState(`done:${!error && data?.status ? newValue : ""}`);
  }

  async function doSignOut() {
    const { error } = await authClient.signOut();
    setMessage(error ? `sign-out-failed:${error.status}` : "signed-out");
    router.refresh();
  }

  return (
    <>
      <p>
        status: <span id="status">{mounted ? (signedIn ? "authenticated" : "unauthenticated") : "loading"}</span>
      </p>
      <p>
        value: <span id="value">{name}</span>
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
        <button id="update" type="button" onClick={doUpdate}>Update</button>
        <input id="slowms" value={slowMs} onChange={(e) => setSlowMs(e.target.value)} />
        <input id="slowcount" value={slowCount} onChange={(e) => setSlowCount(e.target.value)} />
        <button id="race" type="button" onClick={race}>Race</button>
        <span id="racestate">{raceState}</span>
      </div>
      <button id="signout" type="button" onClick={doSignOut}>Sign out</button>
    </>
  );
}
