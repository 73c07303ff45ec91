/** @type {import("next").NextConfig} */
module.exports = {
  reactStrictMode: true,
  poweredByHeader: false,
  // tests/e2e has its own package-lock.json: keep Next from taking it for the workspace root
  turbopack: { root: __dirname },
  outputFileTracingRoot: __dirname,
};
