import { headers } from "next/headers";
import { auth } from "../lib/auth";
import Client from "./client";

export const dynamic = "force-dynamic";

// The session read on the server when the page renders: auth.api.getSession(), which
// trusts the cookie cache (better-auth.session_data) while it is valid. The session value
// is the user's name.
export default async function Page() {
  const session = await auth.api.getSession({ headers: await headers() });
  return (
    <main>
      <h1>cookieguard e2e (Better Auth)</h1>
      <Client signedIn={Boolean(session)} name={session?.user?.name ?? ""} />
    </main>
  );
}
