// Browser side of benchmarks/dashboard_live.py (not a test). Headless Debian Chromium via
// playwright-core, against a stack the Python side started.
//
// BENCH_MODE=live:   open TASK_URL, print READY, record when each checkpoint mark enters
//                    the DOM (Date.now(), same clock as the Python side), print the
//                    {sequence_no: ms} JSON after a line on stdin.
// BENCH_MODE=render: open TASK_URL fresh and print ms from navigation start until the
//                    timeline shows EXPECT events (marks in the DOM, list windowed).
import readline from "node:readline";
import { chromium } from "playwright-core";
import { CHROMIUM_FLAGS } from "./flags.mjs";

const base = process.env.DASHBOARD_URL;
const taskUrl = process.env.TASK_URL;
const mode = process.env.BENCH_MODE;

const browser = await chromium.launch({ executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium", headless: true, args: CHROMIUM_FLAGS });
try {
  const page = await (await browser.newContext({ viewport: { width: 1400, height: 1000 } })).newPage();
  page.setDefaultTimeout(120_000);
  await page.goto(`${base}/login`);
  await page.getByLabel("Username").fill("admin");
  await page.getByLabel("Password").fill(process.env.HIVE_ADMIN_PASSWORD);
  await page.getByRole("button", { name: "Log in" }).click();
  await page.waitForURL(/\/projects$/);
  if (mode === "live") {
    await page.goto(taskUrl);
    await page.locator('[data-testid="lane"][data-attempt="1"]').waitFor();
    await page.evaluate(() => {
      const seen = {};
      window.__seen = seen;
      const note = (el) => {
        const m = /^checkpoint (\d+)/.exec(el.getAttribute("aria-label") ?? "");
        if (m && el.getAttribute("data-testid") === "timeline-mark" && !(m[1] in seen)) seen[m[1]] = Date.now();
      };
      new MutationObserver((records) => {
        for (const r of records) for (const n of r.addedNodes) if (n instanceof Element) {
          note(n);
          n.querySelectorAll?.('[data-testid="timeline-mark"]').forEach(note);
        }
      }).observe(document.body, { childList: true, subtree: true });
    });
    console.log("READY");
    const rl = readline.createInterface({ input: process.stdin });
    for await (const _ of rl) break;
    rl.close();
    process.stdin.destroy();
    console.log(JSON.stringify(await page.evaluate(() => window.__seen)));
  } else {
    const expect = Number(process.env.EXPECT);
    const start = Date.now();
    await page.goto(taskUrl);
    await page.waitForFunction(
      (n) => document.querySelectorAll('[data-testid="timeline-mark"]').length >= n,
      expect,
      { polling: "raf" },
    );
    const ms = Date.now() - start;
    const nav = await page.evaluate(() => performance.now());
    console.log(JSON.stringify({ first_render_ms: ms, page_ms: nav }));
  }
} finally {
  await browser.close();
}
