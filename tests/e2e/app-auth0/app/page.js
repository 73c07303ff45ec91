import { auth0 } from "../lib/auth0";
import Client from "./client";

export const dynamic = "force-dynamic";

// The session read on the server when the page renders (the middleware has rolled it on
// this response); the value is the session user's `value` field.
export default async function Page() {
  const session = await auth0.getSession();
  return (
    <main>
      <h1>cookieguard e2e (@auth0/nextjs-auth0 v4)</h1>
      <Client signedIn={Boolean(session)} user={session?.user?.name ?? ""} value={session?.user?.value ?? ""} />
    </main>
  );
}
