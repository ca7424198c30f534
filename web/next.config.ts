import path from "node:path";
import { fileURLToPath } from "node:url";
import type { NextConfig } from "next";

const here = path.dirname(fileURLToPath(import.meta.url));

const config: NextConfig = {
  // `node .next/standalone/server.js` is the whole dashboard (image, `hive dev`, e2e).
  output: "standalone",
  // The repo root holds other lockfiles: pin tracing and Turbopack to web/ so the
  // standalone server lands at .next/standalone/server.js.
  outputFileTracingRoot: here,
  turbopack: { root: here },
  // Gzip would buffer server-sent events; the ingress compresses where wanted.
  compress: false,
  poweredByHeader: false,
  reactStrictMode: true,
  // The console is never framed, never sniffed, and sends no referrer off its origin.
  async headers() {
    return [
      {
        source: "/:path*",
        headers: [
          { key: "X-Frame-Options", value: "DENY" },
          { key: "X-Content-Type-Options", value: "nosniff" },
          { key: "Referrer-Policy", value: "same-origin" },
        ],
      },
    ];
  },
};

export default config;
