import CredentialsProvider from "next-auth/providers/credentials";

// Minimal NextAuth v4 config: JWT sessions, any username with password "pw".
export const authOptions = {
  secret: process.env.NEXTAUTH_SECRET,
  session: { strategy: "jwt" },
  providers: [
    CredentialsProvider({
      name: "Credentials",
      credentials: {
        username: { label: "Username", type: "text" },
        password: { label: "Password", type: "password" },
      },
      async authorize(credentials) {
        if (credentials?.username && credentials.password === "pw") {
          return { id: credentials.username, name: credentials.username };
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
};

// Per-request options for pages/api/auth/[...nextauth].js, in the style of seed
// write-up 001: `GET /api/auth/session?value=...` sets the session value (the
// jwt callback reads the query; NextAuth then writes the re-encoded cookie).
// getServerSession elsewhere keeps using the plain authOptions.
export function createOptions(req) {
  const queryValue =
    req.method === "GET" && req.query?.nextauth?.join("/") === "session" && typeof req.query.value === "string"
      ? req.query.value
      : undefined;
  if (queryValue === undefined) return authOptions;
  return {
    ...authOptions,
    callbacks: {
      ...authOptions.callbacks,
      async jwt(params) {
        const token = await authOptions.callbacks.jwt(params);
        return { ...token, value: queryValue };
      },
    },
  };
}
