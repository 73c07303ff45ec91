import { headers } from "next/headers";
import { auth } from "../../../lib/auth";

export const dynamic = "force-dynamic";

// The session as the race driver reads it: auth.api.getSession(), which trusts the cookie
// cache while it is valid (no database read): a stale session_data shows here. The user's
// name is the session value; null when signed out. Never the cookie.
export async function GET() {
  const session = await auth.api.getSession({ headers: await headers() });
  if (!session) return Response.json(null);
  return Response.json({ user: { name: session.user.name, email: session.user.email, id: session.user.id } });
}
