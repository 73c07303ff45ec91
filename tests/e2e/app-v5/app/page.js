import Client from "./client";

export const dynamic = "force-dynamic";

export default function Page() {
  return <Client />;
}
