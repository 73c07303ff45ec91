import { auth0 } from "../../../lib/auth0";

export const dynamic = "force-dynamic";

// POST {value}: a route handler updating the session with auth0.updateSession(), as
// Auth0's docs show for the app router. The middleware covers this route, so the response
// carries its rolling copy of the request's session first, then this write.
export async function POST(request) {
  const { value } = await request.json().catch(() => ({}));
  if (typeof value !== "string") return Response.json({ error: "value must be a string" }, { status: 400 });
  const session = await auth0.getSession();
  if (!session) return Response.json({ error: "unauthenticated" }, { status: 401 });
  await auth0.updateSession({ ...session, user: { ...session.user, value } });
  return Response.json({ value });
}
