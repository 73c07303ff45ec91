"use server";

import { headers } from "next/headers";
import { auth } from "../../lib/auth";

// The update as a server action, as Better Auth's docs call its API from Next.js:
// auth.api.updateUser() with the request's headers; nextCookies() sets the new
// session_data (and the re-set session token) on the action's response through
// Next's cookies().
export async function updateAction(name) {
  try {
    await auth.api.updateUser({ body: { name }, headers: await headers() });
  } catch (e) {
    return { value: null, error: e?.body?.code ?? e?.status ?? String(e) };
  }
  return { value: name };
}
