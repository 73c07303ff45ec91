import { auth } from "../../auth";
import ActionsClient from "./client";

export const dynamic = "force-dynamic";

// Sign-in, update and sign-out through server actions only (no next-auth/react).
// The session shown is read on the server when the page renders.
export default async function ActionsPage() {
  const session = await auth();
  return (
    <main>
      <h1>cookieguard e2e (next-auth v5, server actions)</h1>
      <p>
        status: <span id="status">{session?.user ? "authenticated" : "unauthenticated"}</span>
      </p>
      <p>
        value: <span id="value">{session?.value ?? ""}</span>
      </p>
      <ActionsClient />
    </main>
  );
}
