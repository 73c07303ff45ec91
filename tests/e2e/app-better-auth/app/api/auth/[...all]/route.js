import { toNextJsHandler } from "better-auth/next-js";
import { auth } from "../../../../lib/auth";

export const dynamic = "force-dynamic";

const { GET: get, POST } = toNextJsHandler(auth);

// Better Auth's own routes, as its docs mount them. One test hook: `GET
// /api/auth/get-session?...&delay=N` answers N ms late (a slow network on the way back):
// its refresh (with ?disableCookieCache=true: read from the database, written as a new
// session_data cache and a re-set session token) is computed when the request arrives,
// from the session it carried, and reaches the browser after whatever happened meanwhile.
export async function GET(request) {
  const url = new URL(request.url);
  const delay = url.pathname.endsWith("/get-session") ? Math.min(Math.max(parseInt(url.searchParams.get("delay") ?? "0", 10) || 0, 0), 30000) : 0;
  const response = await get(request);
  if (delay > 0) await new Promise((r) => setTimeout(r, delay));
  return response;
}
export { POST };
