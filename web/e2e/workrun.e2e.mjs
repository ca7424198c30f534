// End to end in a real headless Chromium (Debian's `chromium`, driven by playwright-core)
// against a real stack started by tests/web (embedded PostgreSQL, sandbox, gateway and
// `node .next/standalone/server.js`). Run by pytest; exits non-zero on the first failure.
//
// Env: DASHBOARD_URL, HIVE_ADMIN_PASSWORD, WORKSPACE_PATH (a project workspace with
// README.md = "hello\n"), ARTIFACT_DIR (screenshots), CHROMIUM (default /usr/bin/chromium),
// E2E_SCENARIO = "mouse" | "keyboard".
import { assert, inBrowser, mustEnv, recorder, runMain, TIMEOUT } from "./harness.mjs";

const base = mustEnv("DASHBOARD_URL");
const password = mustEnv("HIVE_ADMIN_PASSWORD");
const workspace = mustEnv("WORKSPACE_PATH");
const artifacts = mustEnv("ARTIFACT_DIR");
const scenario = process.env.E2E_SCENARIO ?? "mouse";
const { step, shot } = recorder(artifacts, scenario);

// Attempt 1 fails on purpose after five durable checkpoints (the sleeps let them arrive
// while the page watches); attempt 2 resumes after the last one and proposes the patch.
export const PLAN = JSON.stringify({
  steps: [
    { write: { path: "hello.txt", content: "hi from the dashboard e2e\n" } },
    { run: { argv: ["python3", "-c", "for i in range(20000): print(f'log line {i}')"] } },
    { sleep: { seconds: 1 } },
    { sleep: { seconds: 1 } },
    { sleep: { seconds: 1 } },
    { fail: { on_attempt: 1 } },
    { write: { path: "README.md", content: "hello\nworld\n" } },
    { artifact: { name: "report.txt", content: "all good\n" } },
  ],
});

async function state(page) {
  return (await page.getByTestId("work-run-state").textContent())?.trim() ?? "";
}

async function waitState(page, wanted) {
  await page.waitForFunction(
    (w) => document.querySelector('[data-testid="work-run-state"]')?.textContent?.trim() === w,
    wanted,
    { timeout: TIMEOUT },
  ).catch(async (err) => {
    throw new Error(`state never became ${wanted} (is ${await state(page)}): ${err.message}`);
  });
}

/** Counts of checkpoint marks seen over time on one page load (proves live updates). */
async function watchCheckpoints(page, untilState) {
  const seen = new Set();
  const deadline = Date.now() + TIMEOUT;
  for (;;) {
    const n = await page.locator('[data-testid="timeline-mark"][data-kind="checkpoint"]').count();
    seen.add(n);
    if ((await state(page)) === untilState) return [...seen].sort((a, b) => a - b);
    assert(Date.now() < deadline, `state ${untilState} not reached while watching checkpoints`);
    await page.waitForTimeout(100);
  }
}

async function main() {
  await inBrowser(base, { step, shot }, (page) => (scenario === "keyboard" ? keyboardFlow(page) : mouseFlow(page)));
}

async function mouseFlow(page) {
  step("an unauthenticated visit lands on the login page");
  await page.goto(`${base}/projects`);
  await page.waitForURL(/\/login/);

  step("a wrong password shows the gateway's problem+json");
  await page.getByLabel("Username").fill("admin");
  await page.getByLabel("Password").fill("not-the-password");
  await page.getByRole("button", { name: "Log in" }).click();
  const alert = page.getByTestId("problem");
  await alert.waitFor();
  assert((await alert.textContent()).includes("(unauthorized, HTTP 401)"), `alert: ${await alert.textContent()}`);

  step("log in");
  await page.getByLabel("Password").fill(password);
  await page.getByRole("button", { name: "Log in" }).click();
  await page.waitForURL(/\/projects$/);
  await shot(page, "01-projects");

  step("create a project");
  await page.getByRole("button", { name: "New project" }).click();
  await page.getByLabel("Name").fill(`e2e-${Date.now()}`);
  await page.getByLabel("Workspace path (optional)").fill(workspace);
  await page.getByRole("button", { name: "Create" }).click();
  await page.getByText(workspace, { exact: true }).waitFor();
  await page.locator("ul[aria-label=Projects] a").last().click();
  await page.waitForURL(/\/work-runs$/);

  step("create a deterministic Work Run that fails on attempt 1");
  await page.getByRole("link", { name: "New Work Run" }).click();
  await page.getByLabel("Backend").selectOption("deterministic_proof");
  await page.getByLabel("Instructions").fill(PLAN);
  await page.getByRole("button", { name: "Create Work Run" }).click();
  await page.waitForURL(/\/work-runs\/wr-/);
  const loads = await page.evaluate(() => performance.getEntriesByType("navigation").length);
  await page.evaluate(() => {
    window.__noReload = true;
  });

  step("watch checkpoints arrive without reloading");
  const counts = await watchCheckpoints(page, "failed");
  assert(counts.length >= 3, `checkpoint marks should appear one by one, saw counts ${counts}`);
  assert(await page.evaluate(() => window.__noReload === true), "the page reloaded");
  assert((await page.evaluate(() => performance.getEntriesByType("navigation").length)) === loads, "navigated");
  await page.locator('[data-testid="lane"][data-attempt="1"]').waitFor();
  await shot(page, "02-attempt1-failed");

  step("failures only");
  await page.getByLabel("Failures only").check();
  const failing = await page.locator('[data-testid="event-row"]').allTextContents();
  assert(failing.length >= 1 && failing.every((t) => /fail|exit [1-9]/.test(t)), `failure rows: ${failing}`);
  await page.getByLabel("Failures only").uncheck();

  step("search the timeline");
  await page.getByLabel("Search").fill("hello.txt");
  const found = await page.locator('[data-testid="event-row"]').count();
  assert(found >= 1, "search finds the write step's checkpoint");
  await page.getByLabel("Search").fill("");

  step("open a command log");
  await page.getByRole("tab", { name: "commands" }).click();
  await page.getByTestId("command-row").first().click();
  await page.getByRole("button", { name: "Full stdout log" }).click();
  const log = page.getByTestId("full-log");
  await log.waitFor();
  // 20,000 lines (~250 KB): the viewer opens at the tail page and pages backwards on demand.
  const firstLine = async () => Number(/log line (\d+)\n/.exec(await log.textContent())?.[1]);
  const text = await log.textContent();
  assert(text.includes("log line 19999") && !text.includes("log line 100\n"), "opens at the tail only");
  const tailStart = await firstLine();
  await page.getByRole("button", { name: "Earlier" }).click();
  await page.waitForFunction((n) => {
    const m = /log line (\d+)\n/.exec(document.querySelector('[data-testid="full-log"]')?.textContent ?? "");
    return m !== null && Number(m[1]) < n;
  }, tailStart);
  assert((await log.textContent()).includes("log line 19999"), "the tail stays after paging back");
  await shot(page, "03-command-log");

  step("an action the state no longer allows shows the gateway's problem+json in its dialog");
  // Open Requeue, then resume the task from elsewhere (the API, same session) before confirming.
  await page.getByRole("button", { name: "Requeue" }).click();
  const csrf = (await page.context().cookies()).find((c) => c.name === "csrftoken")?.value ?? "";
  const resumed = await page.request.post(`${page.url().replace("/projects/", "/api/projects/").replace("/work-runs/", "/dev-tasks/")}/resume`, {
    headers: { "X-CSRFToken": csrf },
    data: {},
  });
  assert(resumed.ok(), `resume through the API: ${resumed.status()}`);
  await page.getByRole("button", { name: "Confirm requeue" }).click();
  const problem = page.getByRole("dialog").getByTestId("problem");
  await problem.waitFor();
  assert((await problem.textContent()).includes("HTTP 409"), `problem: ${await problem.textContent()}`);
  await shot(page, "03b-problem");
  await page.getByRole("button", { name: "Back" }).click();

  step("attempt 2 (resumed in place) finishes");
  await waitState(page, "awaiting_review");
  await page.getByRole("tab", { name: "timeline" }).click();
  await page.locator('[data-testid="timeline-mark"][data-kind="resume"]').waitFor();
  await page.locator('[data-testid="lane"][data-attempt="2"]').waitFor();
  await shot(page, "04-attempt2-review");

  step("read the diff");
  await page.getByRole("tab", { name: "diff" }).click();
  await page.getByTestId("diff-attempt").waitFor();
  assert((await page.getByTestId("diff-attempt").textContent()).startsWith("Attempt 2"), "diff is attempt 2's");
  await page.getByRole("button", { name: "README.md" }).click();
  await page.locator('section[aria-label="Diff of README.md"]').getByText("world").waitFor();
  await page.getByRole("button", { name: "Side by side" }).click();
  await page.locator('button[aria-pressed="true"]', { hasText: "Side by side" }).waitFor();
  await shot(page, "05-diff");

  step("artifacts");
  await page.getByRole("tab", { name: "artifacts" }).click();
  await page.getByRole("link", { name: "report.txt" }).waitFor();

  step("approve; see applied");
  await page.getByRole("button", { name: "Approve" }).click();
  await page.getByRole("button", { name: "Confirm approve" }).click();
  await waitState(page, "applied");
  await page.getByRole("tab", { name: "timeline" }).click();
  await page.locator('[data-testid="timeline-mark"][data-kind="applied"]').waitFor();
  await shot(page, "06-applied");

  step("the Work Runs table shows it applied and who approved it");
  const taskId = page.url().split("/").pop();
  await page.getByRole("link", { name: "Work Runs" }).click();
  const row = page.locator("tr", { has: page.getByRole("link", { name: taskId }) });
  await row.locator('[data-state="applied"]').waitFor();
  await row.getByRole("cell", { name: "admin", exact: true }).waitFor();

  step("the table's filters run on the gateway (state, id), and it pages there");
  const listed = [];
  page.on("request", (r) => {
    if (/\/api\/projects\/[^/]+\/dev-tasks\?/.test(r.url())) listed.push(new URL(r.url()).searchParams);
  });
  await page.getByLabel("Work Run id contains").fill(taskId.slice(-8));
  await page.waitForFunction(() => document.querySelectorAll('tbody[data-list="work-runs"] tr[data-index]').length === 1);
  await page.getByLabel("State").selectOption("failed");
  await page.getByText("No Work Runs in state failed.").waitFor();
  const asked = listed.at(-1);
  assert(asked?.get("state") === "failed" && asked?.get("task_id_contains") === taskId.slice(-8), `query: ${asked}`);
  assert(asked?.get("offset") === "0" && asked?.get("limit") === "26", `paging: ${asked}`);
  await page.goBack();
  await page.getByTestId("work-run-state").waitFor();

  step("dark theme");
  await page.getByRole("button", { name: "Toggle light or dark theme" }).click();
  assert(await page.evaluate(() => document.documentElement.classList.contains("dark")), "dark class set");
  await shot(page, "07-applied-dark");
}

async function keyboardFlow(page) {
  const kb = page.keyboard;
  step("log in with the keyboard");
  await page.goto(`${base}/login`);
  await page.getByLabel("Username").waitFor();
  await kb.type("admin");
  await kb.press("Tab");
  await kb.type(password);
  await kb.press("Enter");
  await page.waitForURL(/\/projects$/);

  step("? lists the shortcuts; Escape closes");
  await page.locator("ul[aria-label=Projects] li").first().waitFor();
  await kb.press("?");
  await page.getByRole("dialog", { name: "Keyboard shortcuts" }).waitFor();
  await kb.press("Escape");
  await page.getByRole("dialog").waitFor({ state: "hidden" });

  step("j/k and Enter open the newest project");
  const projects = await page.locator("ul[aria-label=Projects] li").count();
  for (let i = 0; i < projects; i++) await kb.press("j");
  await kb.press("k");
  await kb.press("j");
  await kb.press("Enter");
  await page.waitForURL(/\/work-runs$/);

  step("new Work Run by keyboard");
  const workRuns = page.url();
  await page.goto(`${workRuns}/new`);
  await page.getByLabel("Backend").waitFor();
  // The form focuses Backend; a focused <select> picks the option whose label starts with the typed letter.
  await kb.press("d");
  assert((await page.getByLabel("Backend").inputValue()) === "deterministic_proof", "typed d selects deterministic_proof");
  await kb.press("Tab");
  await kb.insertText(PLAN);
  await kb.press("Tab");
  await kb.press("Tab");
  await kb.press("Tab");
  await kb.press("Enter");
  await page.waitForURL(/\/work-runs\/wr-/);
  await waitState(page, "failed");

  step("f filters failures, j selects, Enter on a command opens its log");
  await kb.press("f");
  await page.getByLabel("Failures only").isChecked().then((v) => assert(v, "f toggles failures only"));
  await kb.press("f");
  await page.locator('[data-testid="event-row"]').first().waitFor();
  const rows = await page.locator('[data-testid="event-row"]').evaluateAll((els) => els.map((e) => e.getAttribute("data-kind")));
  const commandIndex = rows.indexOf("command");
  assert(commandIndex >= 0, "a command row in the event list");
  for (let i = 0; i <= commandIndex; i++) await kb.press("j");
  await kb.press("Enter");
  await page.getByTestId("command-detail").getByText("stdout:").waitFor();

  step("r resumes (Enter confirms)");
  await kb.press("1");
  await kb.press("r");
  await page.getByRole("dialog").waitFor();
  await kb.press("Enter");
  await waitState(page, "awaiting_review");

  step("4 opens the diff, n moves between files");
  await kb.press("4");
  await page.getByTestId("diff-file").waitFor();
  const first = await page.getByTestId("diff-file").textContent();
  await kb.press("n");
  await page.waitForFunction((f) => document.querySelector('[data-testid="diff-file"]')?.textContent !== f, first);

  step("a approves (Enter confirms)");
  await kb.press("a");
  await page.getByRole("dialog").waitFor();
  await kb.press("Enter");
  await waitState(page, "applied");
  await shot(page, "applied");
}

runMain(main);
