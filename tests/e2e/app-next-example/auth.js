import NextAuth from "next-auth";
import Credentials from "next-auth/providers/credentials";

// Modelled on the official Auth.js example for Next.js (nextauthjs/next-auth-example):
// routes under basePath "/auth", JWT sessions, the jwt callback applies
// useSession().update({ user: { name } }) (`trigger === "update"`). A credentials
// provider (any username, password "pw") instead of the example's OAuth providers.
export const { handlers, auth, signIn, signOut } = NextAuth({
  basePath: "/auth",
  trustHost: true,
  session: { strategy: "jwt" },
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
