import { SvelteKitAuth } from "@auth/sveltekit";
import Credentials from "@auth/sveltekit/providers/credentials";

// @auth/sveltekit as its docs set it up: the `handle` hook, routes under /auth, JWT
// sessions (the default without an adapter); AUTH_SECRET comes from the environment.
// trustHost is set here: @auth/sveltekit sets `trustHost ??= dev` before Auth.js reads
// AUTH_TRUST_HOST, so in a production build that variable is ignored (UntrustedHost).
// Any username with password "pw"; the jwt callback applies update data
// ({ user: { name } }) on `trigger === "update"`.
export const { handle, signIn, signOut } = SvelteKitAuth({
  trustHost: true,
  providers: [
    Credentials({
      credentials: {
        username: { label: "Username" },
        password: { label: "Password", type: "password" },
      },
      async authorize(credentials) {
        if (credentials?.username && credentials.password === "pw") {
          return { id: String(credentials.username), name: String(credentials.username) };
        }
        return null;
      },
    }),
  ],
  callbacks: {
    jwt({ token, trigger, session }) {
      if (trigger === "update" && session?.user?.name !== undefined) token.name = session.user.name;
      return token;
    },
  },
});
