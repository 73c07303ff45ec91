import { auth0 } from "../../../lib/auth0";

export const dynamic = "force-dynamic";

// A slow request carrying the session: the middleware has already rolled the session
// (re-set `__session`) on this response; the handler reads it, waits `ms`, answers.
export async function GET(request) {
  const raw = new URL(request.url).searchParams.get("ms");
  const ms = Math.min(Math.max(parseInt(raw ?? "0", 10) || 0, 0), 30000);
  const session = await auth0.getSession();
  await new Promise((r) => setTimeout(r, ms));
  return Response.json({ ms, value: session?.user?.value ?? null, user: session?.user?.name ?? null });
}
