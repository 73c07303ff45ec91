import NextAuth from "next-auth";
import Credentials from "next-auth/providers/credentials";

// Minimal Auth.js (next-auth v5) config: JWT sessions, any username with password "pw".
export const { handlers, auth, signIn, signOut, unstable_update } = NextAuth({
  trustHost: true,
  secret: process.env.AUTH_SECRET,
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
    async jwt({ token, user, trigger, session }) {
      if (user) token.value = "initial";
      // update(data) from next-auth/react arrives here as `session`
      if (trigger === "update" && session && session.value !== undefined) {
        token.value = session.value;
      }
      return token;
    },
    async session({ session, token }) {
      session.value = token.value;
      return session;
    },
  },
});
