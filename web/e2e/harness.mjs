// What every browser end-to-end flow here shares: env, assertions, screenshots, and a
// headless Debian Chromium (playwright-core) whose page may not request anything off the
// dashboard's origin nor throw.
import { mkdirSync } from "node:fs";
import path from "node:path";
import { chromium } from "playwright-core";
import { CHROMIUM_FLAGS } from "./flags.mjs";

export const TIMEOUT = 60_000;

export function mustEnv(name) {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is required`);
  return v;
}

export function assert(cond, message) {
  if (!cond) throw new Error(`assertion failed: ${message}`);
}

/** A logger and a full-page screenshot taker for one flow (files: `<prefix>-<name>.png`). */
export function recorder(artifacts, prefix) {
  return {
    step: (name) => console.log(`[e2e ${prefix}] ${name}`),
    shot: async (page, name) => {
      mkdirSync(artifacts, { recursive: true });
      await page.screenshot({ path: path.join(artifacts, `${prefix}-${name}.png`), fullPage: true });
    },
  };
}

/** Log in through the form with the mouse (the keyboard flows do it key by key). */
export async function logIn(page, base, password) {
  await page.goto(`${base}/login`);
  await page.getByLabel("Username").fill("admin");
  await page.getByLabel("Password").fill(password);
  await page.getByRole("button", { name: "Log in" }).click();
  await page.waitForURL(/\/projects$/);
}

/** Run `flow(page)` in a fresh browser; a failure leaves `<prefix>-failure.png` behind. */
export async function inBrowser(base, rec, flow) {
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
    headless: true,
    args: CHROMIUM_FLAGS,
  });
  const context = await browser.newContext({ viewport: { width: 1400, height: 1000 } });
  const page = await context.newPage();
  page.setDefaultTimeout(TIMEOUT);
  const foreign = [];
  const origin = new URL(base).origin;
  page.on("request", (r) => {
    const u = new URL(r.url());
    if (u.protocol.startsWith("http") && u.origin !== origin) foreign.push(r.url());
  });
  const pageErrors = [];
  page.on("pageerror", (e) => pageErrors.push(String(e)));
  try {
    await flow(page);
    assert(foreign.length === 0, `requests left the dashboard's origin: ${foreign.join(", ")}`);
    assert(pageErrors.length === 0, `page errors: ${pageErrors.join("; ")}`);
    rec.step("passed");
  } catch (err) {
    await rec.shot(page, "failure").catch(() => {});
    throw err;
  } finally {
    await browser.close();
  }
}

/** Exit non-zero with the stack on failure (pytest shows it). */
export function runMain(main) {
  main().catch((err) => {
    console.error(err instanceof Error ? err.stack : err);
    process.exit(1);
  });
}

/** Wait until the element with data-testid `testId` reads `wanted` (the error says what it read). */
export async function waitText(page, testId, wanted) {
  const read = async () => (await page.getByTestId(testId).first().textContent().catch(() => null))?.trim() ?? null;
  await page
    .waitForFunction(
      ([id, w]) => document.querySelector(`[data-testid="${id}"]`)?.textContent?.trim() === w,
      [testId, wanted],
      { timeout: TIMEOUT },
    )
    .catch(async (err) => {
      throw new Error(`${testId} never read ${wanted} (reads ${await read()}): ${err.message}`);
    });
}
