"use client";

import { useState } from "react";
import { signInAction, signOutAction, slowAction, updateAction } from "./actions";

// Driven by tests/e2e/browser.mjs (--flow actions). Next runs the server
// actions of one tab one at a time, so the slow requests racing the update are
// plain fetches, not actions.
export default function ActionsClient() {
  const [username, setUsername] = useState("alice");
  const [password, setPassword] = useState("pw");
  const [newValue, setNewValue] = useState("");
  const [slowMs, setSlowMs] = useState("1500");
  const [slowCount, setSlowCount] = useState("3");
  const [slowPath, setSlowPath] = useState("/api/slow");
  const [raceState, setRaceState] = useState("idle");
  const [message, setMessage] = useState("");

  async function doSignIn(e) {
    e.preventDefault();
    const r = await signInAction(username, password);
    setMessage(r?.ok ? "signed-in" : `sign-in-failed:${r?.error}`);
  }

  async function race() {
    setRaceState("running");
    const n = parseInt(slowCount, 10) || 1;
    // Slow session-reading requests start first, carrying the current cookie...
    const slow = Array.from({ length: n }, () =>
      fetch(`${slowPath}?ms=${encodeURIComponent(slowMs)}`, { cache: "no-store" }).then((r) => r.json())
    );
    // ...and while they are in flight the session is updated by the action.
    const updated = await updateAction(newValue);
    await Promise.all(slow);
    setRaceState(`done:${updated?.value ?? ""}`);
  }

  // Not used by browser.mjs: referencing slowAction here puts it in the
  // server-reference manifest, where race.mjs finds its id.
  async function doSlowAction() {
    const r = await slowAction(parseInt(slowMs, 10) || 0);
    setMessage(`slow-action:${r?.value ?? ""}`);
  }

  async function doSignOut() {
    await signOutAction();
    setMessage("signed-out");
  }

  return (
    <>
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
        <input id="slowpath" value={slowPath} onChange={(e) => setSlowPath(e.target.value)} />
        <button id="race" type="button" onClick={race}>Race</button>
        <span id="racestate">{raceState}</span>
      </div>
      <button id="slowaction" type="button" onClick={doSlowAction}>
        Slow action
      </button>
      <button id="signout" type="button" onClick={doSignOut}>
        Sign out
      </button>
    </>
  );
}
