import { SessionProvider } from "next-auth/react";
import { auth } from "../auth";
import Client from "./client";

export const dynamic = "force-dynamic";

// As the example's client-example page: the session read on the server, handed to
// a SessionProvider whose basePath is "/auth".
export default async function Page() {
  const session = await auth();
  return (
    <SessionProvider basePath="/auth" session={session} refetchOnWindowFocus={false}>
      <Client />
    </SessionProvider>
  );
}
