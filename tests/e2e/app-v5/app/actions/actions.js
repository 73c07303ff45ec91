"use server";

import { AuthError } from "next-auth";
import { auth, signIn, signOut, unstable_update } from "../../auth";

// Server actions, the Auth.js v5 docs' way of signing in, updating and signing
// out. Each is a POST to the page that uses it (`Next-Action: <id>`); the
// middleware (proxy.js) still appends its refreshed copy of the request's
// session to that response, before the action's own cookie writes.

const clampMs = (ms) => Math.min(Math.max(parseInt(ms ?? 0, 10) || 0, 0), 30000);

export async function signInAction(username, password) {
  try {
    const url = await signIn("credentials", { username, password, redirect: false });
    const ok = typeof url === "string" && !/[?&]error=/.test(url);
    return { ok, error: ok ? null : "CredentialsSignin" };
  } catch (e) {
    if (e instanceof AuthError) return { ok: false, error: e.type };
    throw e;
  }
}

// unstable_update(data) runs the jwt callback with trigger "update" and writes
// the new session cookie through cookies().set.
export async function updateAction(value) {
  const session = await unstable_update({ value });
  return { value: session?.value ?? null, user: session?.user?.name ?? null };
}

export async function signOutAction() {
  await signOut({ redirect: false });
  return { ok: true };
}

// An ordinary server action that reads the session and takes `ms`: only the
// middleware writes the session cookie on its response (the request's session,
// re-encoded: stale once an update lands meanwhile).
export async function slowAction(ms) {
  const session = await auth();
  const wait = clampMs(ms);
  await new Promise((r) => setTimeout(r, wait));
  return { value: session?.value ?? null, user: session?.user?.name ?? null, ms: wait };
}
