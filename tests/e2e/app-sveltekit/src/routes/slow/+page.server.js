// A slow page: the session is read at the start of the load (the layout's
// locals.auth() has put the re-encoded, soon stale, session cookie on the response),
// then the load waits `ms`.
export const load = async ({ url, parent }) => {
  const { session } = await parent();
  const ms = Math.min(Math.max(parseInt(url.searchParams.get("ms") ?? "0", 10) || 0, 0), 30000);
  await new Promise((r) => setTimeout(r, ms));
  return { seen: session };
};
