import { auth } from "../../auth";

export const dynamic = "force-dynamic";

// A slow page: the middleware (proxy.js) has already put the re-encoded session
// cookie on this response; the page reads the session, waits `ms`, then renders it.
export default async function SlowPage({ searchParams }) {
  const { ms: raw } = await searchParams;
  const session = await auth();
  const ms = Math.min(Math.max(parseInt(raw ?? "0", 10) || 0, 0), 30000);
  await new Promise((r) => setTimeout(r, ms));
  return <pre id="session">{JSON.stringify(session ?? null)}</pre>;
}
