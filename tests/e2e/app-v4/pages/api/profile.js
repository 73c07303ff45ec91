import { encode, getToken } from "next-auth/jwt";

// A custom update route in the style of many apps (e.g. seed write-up 002):
// read the token, re-encode it with the new value and set the session cookie
// by hand, under the name NextAuth uses. No allow rule in cookieguard covers
// this route: only a proxy that can read the token sees that it is an update.
//   POST /api/profile  {"value": "..."}  ->  {"value": "..."}
const MAX_AGE = 30 * 24 * 60 * 60; // NextAuth's default session maxAge

// Same choice as next-auth 4 (utils/detect-origin.js, core/init.js): https when
// NEXTAUTH_URL is https, or, trusting the host, unless X-Forwarded-Proto is http.
function useSecureCookies(req) {
  if (process.env.NEXTAUTH_URL) return process.env.NEXTAUTH_URL.startsWith("https://");
  if (process.env.VERCEL ?? process.env.AUTH_TRUST_HOST) return req.headers["x-forwarded-proto"] !== "http";
  return false;
}

export default async function handler(req, res) {
  if (req.method !== "POST") {
    res.setHeader("Allow", "POST");
    return res.status(405).json({ error: "method not allowed" });
  }
  const secret = process.env.NEXTAUTH_SECRET;
  const secure = useSecureCookies(req);
  const cookieName = `${secure ? "__Secure-" : ""}next-auth.session-token`;
  const token = await getToken({ req, secret, secureCookie: secure, cookieName });
  if (!token) return res.status(401).json({ error: "not signed in" });
  const value = req.body?.value;
  if (typeof value !== "string") return res.status(400).json({ error: "value must be a string" });

  const { iat, exp, jti, ...claims } = token;
  const jwt = await encode({ token: { ...claims, value }, secret, maxAge: MAX_AGE });
  const expires = new Date(Date.now() + MAX_AGE * 1000).toUTCString();
  res.setHeader(
    "Set-Cookie",
    `${cookieName}=${jwt}; Path=/; Expires=${expires}; HttpOnly; SameSite=Lax${secure ? "; Secure" : ""}`
  );
  res.status(200).json({ value, user: claims.name ?? null });
}
