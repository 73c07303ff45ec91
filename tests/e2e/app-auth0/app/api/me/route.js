import { auth0 } from "../../../lib/auth0";

export const dynamic = "force-dynamic";

// The session as the race driver reads it: the user's name and the `value` field, never
// the cookie; null when signed out. (The middleware rolls the session on this response
// too, like on any request.)
export async function GET() {
  const session = await auth0.getSession();
  if (!session) return Response.json(null);
  return Response.json({ user: { name: session.user.name ?? null, sub: session.user.sub }, value: session.user.value ?? null });
}
