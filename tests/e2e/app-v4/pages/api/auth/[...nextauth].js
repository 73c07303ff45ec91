import NextAuth from "next-auth";
import { createOptions } from "../../../lib/auth";

// The options are built per request (seed write-up 001): the jwt callback can
// then read the request, e.g. `GET /api/auth/session?value=...` updates the
// session value.
export default function auth(req, res) {
  return NextAuth(req, res, createOptions(req));
}
