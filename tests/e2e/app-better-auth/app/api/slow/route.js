import { headers } from "next/headers";
import { auth } from "../../../lib/auth";

export const dynamic = "force-dynamic";

// A slow request carrying the session: reads it from the database
// (auth.api.getSession with disableCookieCache, as an app does for an authoritative
// read), which re-writes the cookie cache and re-sets the session token (updateAge 0);
// nextCookies() puts those Set-Cookie headers on this response. Then it waits `ms` and
// answers: its session_data holds the user as it was when the request arrived.
export async function GET(request) {
  const raw = new URL(request.url).searchParams.get("ms");
  const ms = Math.min(Math.max(parseInt(raw ?? "0", 10) || 0, 0), 30000);
  const session = await auth.api.getSession({ headers: await headers(), query: { disableCookieCache: true } });
  await new Promise((r) => setTimeout(r, ms));
  return Response.json({ ms, value: session?.user?.name ?? null, user: session?.user?.name ?? null });
}
