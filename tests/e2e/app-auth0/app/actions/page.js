import { auth0 } from "../../lib/auth0";
import ActionsClient from "./client";

export const dynamic = "force-dynamic";

// The session update through a server action (race.mjs --update-via action posts here).
export default async function ActionsPage() {
  const session = await auth0.getSession();
  return (
    <main>
      <h1>cookieguard e2e (@auth0/nextjs-auth0 v4, server action)</h1>
      <p>
        status: <span id="status">{session ? "authenticated" : "unauthenticated"}</span>
      </p>
      <p>
        value: <span id="value">{session?.user?.value ?? ""}</span>
      </p>
      <ActionsClient />
    </main>
  );
}
