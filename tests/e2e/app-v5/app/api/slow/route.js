import { auth } from "../../../auth";

export const dynamic = "force-dynamic";

// The middleware has already appended the (soon stale) session cookie to this
// response; the handler reads the session, waits `ms`, then answers.
export async function GET(request) {
  const session = await auth();
  const url = new URL(request.url);
  const ms = Math.min(Math.max(parseInt(url.searchParams.get("ms") ?? "0", 10) || 0, 0), 30000);
  await new Promise((r) => setTimeout(r, ms));
  return Response.json({ value: session?.value ?? null, user: session?.user?.name ?? null, ms });
}
