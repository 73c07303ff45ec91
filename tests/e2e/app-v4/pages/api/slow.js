import { getServerSession } from "next-auth/next";
import { authOptions } from "../../lib/auth";

// Reads the session at the start (getServerSession writes the re-encoded,
// soon-to-be-stale session cookie onto `res`), then waits `ms` and answers.
export default async function handler(req, res) {
  const session = await getServerSession(req, res, authOptions);
  const ms = Math.min(Math.max(parseInt(req.query.ms ?? "0", 10) || 0, 0), 30000);
  await new Promise((r) => setTimeout(r, ms));
  res.status(200).json({ value: session?.value ?? null, user: session?.user?.name ?? null, ms });
}
