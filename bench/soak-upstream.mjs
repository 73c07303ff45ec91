// A NextAuth-like upstream for bench/soak.sh (Node 20, no dependencies): every
// response writes the session back like the v5 middleware does (a refresh:
// the request's session with a new suffix), `POST /api/auth/session` writes
// the value the client asks for in `x-new` (an update), and `/slow?ms=N`
// answers after N ms (a request that can race an update).
//   node bench/soak-upstream.mjs PORT
import http from "node:http";

const port = Number(process.argv[2]);
const NAME = "authjs.session-token";
let counter = 0;

function session(cookieHeader) {
  for (const part of (cookieHeader || "").split(";")) {
    const [name, ...rest] = part.trim().split("=");
    if (name === NAME) return rest.join("=");
  }
  return null;
}

const server = http.createServer((req, res) => {
  const held = session(req.headers.cookie);
  const url = new URL(req.url, "http://upstream");
  const answer = (value) => {
    const headers = { "content-type": "text/plain" };
    if (value) headers["set-cookie"] = `${NAME}=${value}; Path=/; HttpOnly; SameSite=Lax`;
    res.writeHead(200, headers);
    res.end("ok\n");
  };
  // The generation stays readable in the value: "<base>~<n>", base unchanged by refreshes.
  const refresh = () => (held ? `${held.split("~")[0]}~${(counter = (counter + 1) % 1e9)}` : null);
  req.resume();
  req.on("end", () => {
    if (req.method === "POST" && url.pathname === "/api/auth/session") {
      answer(req.headers["x-new"]);
    } else if (url.pathname === "/slow") {
      setTimeout(() => answer(refresh()), Number(url.searchParams.get("ms") || 300));
    } else {
      answer(refresh());
    }
  });
});
server.keepAliveTimeout = 5000;
server.listen(port, "127.0.0.1");
