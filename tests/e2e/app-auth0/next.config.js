const path = require("node:path");

/** @type {import("next").NextConfig} */
module.exports = {
  reactStrictMode: true,
  poweredByHeader: false,
  // tests/e2e is an npm workspace: the packages live in tests/e2e/node_modules
  turbopack: { root: path.join(__dirname, "..") },
  outputFileTracingRoot: path.join(__dirname, ".."),
};
