"use server";

import { auth0 } from "../../lib/auth0";

// The update as a server action, the way Auth0's docs update a session from the app
// router: auth0.updateSession() with the whole session and a changed user field. The
// middleware (proxy.js) still rolls the request's session on this POST's response, before
// the action's own write (Next's cookies().set).
export async function updateAction(value) {
  const session = await auth0.getSession();
  if (!session) return { value: null, error: "unauthenticated" };
  await auth0.updateSession({ ...session, user: { ...session.user, value } });
  return { value };
}
