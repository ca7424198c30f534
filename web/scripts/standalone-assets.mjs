// `next build` leaves the static assets beside the standalone server instead of in it;
// copy them in so `node .next/standalone/server.js` serves the whole dashboard by itself.
import { cpSync, existsSync, rmSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const web = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const standalone = path.join(web, ".next", "standalone");
const copies = [
  [path.join(web, ".next", "static"), path.join(standalone, ".next", "static")],
  [path.join(web, "public"), path.join(standalone, "public")],
];
for (const [from, to] of copies) {
  if (!existsSync(from)) continue;
  rmSync(to, { recursive: true, force: true });
  cpSync(from, to, { recursive: true });
}
