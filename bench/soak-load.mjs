// Load for bench/soak.sh (Node 20, no dependencies). Background users each
// hold a session and load pages at a total rate (every response refreshes the
// session, as under the Auth.js v5 middleware); once a second a racer starts
// a slow request with its session and, while it is in flight, updates the
// session; the slow request's answer must not bring the old session back.
// Cookies are applied when a response's headers arrive, as a browser does.
//   node bench/soak-load.mjs --base URL --seconds S --rate R --users N
// Prints one JSON line: requests, non-2xx, errors, races, reverts (with the
// second they happened in), per-second request counts.
import http from "node:http";

const args = Object.fromEntries(
  process.argv.slice(2).reduce((pairs, arg, i, all) => (arg.startsWith("--") ? [...pairs, [arg.slice(2), all[i + 1]]] : pairs), []),
);
const base = new URL(args.base);
const seconds = Number(args.seconds || 60);
const rate = Number(args.rate || 0); // 0: as fast as possible
const users = Number(args.users || 32);
const slowMs = Number(args["slow-ms"] || 300);
const NAME = "authjs.session-token";
const agent = new http.Agent({ keepAlive: true, maxSockets: users + 8 });

const stats = { requests: 0, non2xx: 0, errors: 0, races: 0, reverts: 0, revertSeconds: [], perSecond: [] };
const started = Date.now();
const elapsed = () => (Date.now() - started) / 1000;

function send(method, path, cookie, headers = {}) {
  return new Promise((resolve) => {
    const req = http.request(
      { host: base.hostname, port: base.port, method, path, agent, headers: { ...headers, ...(cookie ? { cookie: `${NAME}=${cookie}` } : {}) } },
      (res) => {
        // Headers are here: this is when a browser stores the cookie.
        const line = (res.headers["set-cookie"] || []).find((l) => l.startsWith(`${NAME}=`));
        const value = line ? line.slice(NAME.length + 1).split(";")[0] : null;
        res.resume();
        res.on("end", () => {
          stats.requests++;
          const second = Math.floor(elapsed());
          stats.perSecond[second] = (stats.perSecond[second] || 0) + 1;
          if (res.statusCode < 200 || res.statusCode >= 300) stats.non2xx++;
        });
        resolve({ status: res.statusCode, value, at: Date.now() });
      },
    );
    req.on("error", () => {
      stats.errors++;
      resolve({ status: 0, value: null, at: Date.now() });
    });
    req.end();
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const deadline = started + seconds * 1000;

async function background(id) {
  let session = `user${id}~0`;
  const interval = rate > 0 ? (users * 1000) / rate : 0;
  let next = Date.now() + Math.random() * interval;
  while (Date.now() < deadline) {
    if (interval > 0) {
      const wait = next - Date.now();
      if (wait > 0) await sleep(wait);
      next += interval;
    }
    const r = await send("GET", `/page?u=${id}`, session);
    if (r.value) session = r.value;
  }
}

async function racer() {
  let session = "racer~0";
  let round = 0;
  while (Date.now() + 1000 < deadline) {
    const tick = Date.now();
    round++;
    const fresh = `update${round}~0`;
    const slow = send("GET", `/slow?ms=${slowMs}`, session);
    await sleep(30);
    const update = send("POST", "/api/auth/session", session, { "x-new": fresh });
    const answers = (await Promise.all([slow, update])).sort((a, b) => a.at - b.at);
    for (const a of answers) if (a.value) session = a.value;
    stats.races++;
    if (session.split("~")[0] !== `update${round}`) {
      stats.reverts++;
      stats.revertSeconds.push(Math.round(elapsed()));
      session = fresh; // start the next round from the update, as a retrying user would
    }
    const wait = 1000 - (Date.now() - tick);
    if (wait > 0) await sleep(wait);
  }
}

await Promise.all([racer(), ...Array.from({ length: users }, (_, i) => background(i))]);
stats.seconds = elapsed();
stats.rate = stats.requests / stats.seconds;
console.log(JSON.stringify(stats));
process.exit(0);
