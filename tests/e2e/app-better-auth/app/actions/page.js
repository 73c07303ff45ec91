import { headers } from "next/headers";
import { auth } from "../../lib/auth";
import ActionsClient from "./client";

export const dynamic = "force-dynamic";

// The update through a server action (race.mjs --update-via action posts here).
export default async function ActionsPage() {
  const session = await auth.api.getSession({ headers: await headers() });
  return (
    <main>
      <h1>cookieguard e2e (Better Auth, server action)</h1>
      <p>
        status: <span id="status">{session ? "authenticated" : "unauthenticated"}</span>
      </p>
      <p>
        value: <span id="value">{session?.user?.name ?? ""}</span>
      </p>
      <ActionsClient />
    </main>
  );
}
