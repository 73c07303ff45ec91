import { auth } from "../../../auth";

export const dynamic = "force-dynamic";

// A route handler wrapped in auth(): the wrapper appends its own re-encoded
// session cookie after the middleware's, so the response carries two copies of
// the request's (soon stale) session. Waits `ms` before answering.
export const GET = auth(async (req) => {
  const ms = Math.min(Math.max(parseInt(req.nextUrl.searchParams.get("ms") ?? "0", 10) || 0, 0), 30000);
  await new Promise((r) => setTimeout(r, ms));
  return Response.json({ value: req.auth?.value ?? null, user: req.auth?.user?.name ?? null, ms });
});
