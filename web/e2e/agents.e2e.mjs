// The agent screens end to end in headless Chromium against the real stack tests/web
// starts: an agent run that stops for an operator's approval, approved from the UI.
// The agent's model is the scripted OpenAI-compatible server (tests/support/
// scripted_model.py, the one test double), scripted by the pytest side; the agent runs
// in the gateway's `local` pool, its tool call creates a real Work Run in the sandbox.
//
// Env: DASHBOARD_URL, HIVE_ADMIN_PASSWORD, ARTIFACT_DIR, CHROMIUM, AGENT_SCENARIO =
// "mouse" (create the agent, start a run, approve it; a stale decision shows its
// problem+json) | "keyboard" (an agent with a run waiting already: j/k, Enter, a, Enter)
// | "grant" (a run stopped on its exhausted budget gets one model call more),
// AGENT_ID, PROJECT_NAME and MODEL (mouse), RUN_ID (grant).
import { assert, inBrowser, logIn, mustEnv, recorder, runMain, waitText } from "./harness.mjs";

const base = mustEnv("DASHBOARD_URL");
const password = mustEnv("HIVE_ADMIN_PASSWORD");
const artifacts = mustEnv("ARTIFACT_DIR");
const agentId = mustEnv("AGENT_ID");
const scenario = process.env.AGENT_SCENARIO ?? "mouse";
const { step, shot } = recorder(artifacts, `agent-${scenario}`);

async function mouseFlow(page) {
  const projectName = mustEnv("PROJECT_NAME");
  const model = mustEnv("MODEL");
  step("log in; Agents from the header");
  await logIn(page, base, password);
  await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Agents" }).click();
  await page.waitForURL(/\/agents$/);

  step("create an agent whose create_dev_task needs an operator's approval");
  await page.getByRole("button", { name: "New agent" }).click();
  await page.getByLabel("Project").selectOption({ label: projectName });
  await page.getByLabel("Agent id (optional)").fill(agentId);
  await page.getByLabel("Model").fill(model);
  await page.getByRole("checkbox", { name: "create_dev_task" }).check();
  await page.getByRole("button", { name: "Create agent" }).click();
  const row = page.locator('[data-testid="agent-row"]', { has: page.getByRole("link", { name: agentId, exact: true }) });
  await row.locator('[data-state="ready"]').waitFor();
  await shot(page, "01-agents");

  step("start a run; it stops for approval and shows as a pending request");
  await row.getByRole("link", { name: agentId, exact: true }).click();
  await page.waitForURL(new RegExp(`/agents/${agentId}$`));
  await page.getByTestId("agent-health").waitFor();
  await page.getByLabel("Run input").fill("create the notes file");
  await page.getByRole("button", { name: "Start run" }).click();
  const pending = page.getByTestId("pending-request");
  await pending.waitFor();
  assert((await pending.textContent()).includes("Approval requested: create_dev_task"), `pending: ${await pending.textContent()}`);
  assert((await pending.getByLabel("Tool arguments").textContent()).includes("deterministic_proof"), "the tool's arguments are shown");
  await shot(page, "02-pending");

  step("the run's page: its timeline so far, its budget");
  await page.getByTestId("run-row").first().getByRole("link").click();
  await page.waitForURL(/\/runs\//);
  await waitText(page, "agent-run-status", "awaiting_input");
  await page.locator('[data-testid="timeline-mark"][data-kind="request"]').waitFor();
  await page.locator('[data-testid="lane"][data-lane="model"] [data-testid="timeline-mark"]').first().waitFor();
  assert((await page.locator('[data-budget="model_calls"]').textContent()).startsWith("Model calls1"), "one model call used so far");

  step("approve from the UI (confirmed)");
  await page.getByRole("button", { name: "Approve" }).click();
  const dialog = page.getByRole("dialog");
  assert((await dialog.textContent()).includes("Let the agent call create_dev_task"), "the dialog asks about the tool call");
  await page.getByRole("button", { name: "Confirm approve" }).click();
  await waitText(page, "agent-run-status", "completed");
  await waitText(page, "agent-run-output", "done after approval");
  await page.locator('[data-testid="timeline-mark"][data-kind="decision"]').waitFor();
  await page.locator('[data-testid="timeline-mark"][data-kind="finished"]').waitFor();
  const decided = await page.locator('[data-testid="timeline-mark"][data-kind="decision"]').getAttribute("aria-label");
  assert(decided === "approved by admin", `decision mark: ${decided}`);
  assert(await page.getByTestId("pending-request").count() === 0, "no pending request left");
  await shot(page, "03-approved");

  step("a second run: a decision the request no longer allows shows the gateway's problem+json");
  await page.getByRole("link", { name: agentId }).click();
  await page.getByLabel("Run input").fill("once more");
  await page.getByRole("button", { name: "Start run" }).click();
  await page.getByTestId("pending-request").waitFor();
  await page.getByTestId("pending-request").locator("xpath=..").getByRole("link", { name: /^run / }).click();
  await page.waitForURL(/\/runs\//);
  await waitText(page, "agent-run-status", "awaiting_input");
  await page.getByRole("button", { name: "Decline" }).click();
  await page.getByRole("dialog").waitFor();
  // Meanwhile the request is approved elsewhere (the API, same session).
  const runPath = new URL(page.url()).pathname;
  const csrf = (await page.context().cookies()).find((c) => c.name === "csrftoken")?.value ?? "";
  const approved = await page.request.post(`${base}/api${runPath}/approve`, { headers: { "X-CSRFToken": csrf }, data: {} });
  assert(approved.ok(), `approve through the API: ${approved.status()} ${await approved.text()}`);
  await waitText(page, "agent-run-status", "completed");
  await page.getByRole("button", { name: "Confirm decline" }).click();
  const problem = page.getByRole("dialog").getByTestId("problem");
  await problem.waitFor();
  assert((await problem.textContent()).includes("HTTP 409"), `problem: ${await problem.textContent()}`);
  await shot(page, "04-problem");
  await page.getByRole("button", { name: "Back", exact: true }).click();
  await page.getByRole("link", { name: agentId }).click();
  await page.waitForURL(new RegExp(`/agents/${agentId}$`));

  step("schedules: create one paused, see its next firing, resume it");
  await page.getByRole("button", { name: "New schedule" }).click();
  await page.getByLabel("Cron").fill("0 3 * * *");
  await page.getByLabel("Input", { exact: true }).fill("nightly check");
  await page.getByLabel("Paused").check();
  await page.getByRole("button", { name: "Create schedule" }).click();
  const schedule = page.getByTestId("schedule").first();
  await schedule.locator('[data-state="paused"]').waitFor();
  await schedule.getByRole("button", { name: "Resume schedule 0 3 * * *" }).click();
  await page.waitForFunction(() => /next: .*\(in /.test(document.querySelector('[data-testid="next-firing"]')?.textContent ?? ""));
  assert((await schedule.getByTestId("missed-firings").textContent()).includes("0 missed"), "no missed firings yet");

  step("memory: flush (confirmed) and what it wrote");
  await page.getByRole("button", { name: "Flush memory" }).click();
  await page.getByRole("button", { name: "Confirm flush" }).click();
  await page.getByTestId("flush-result").waitFor();
  await shot(page, "05-agent");

  step("dark theme");
  await page.getByRole("button", { name: "Toggle light or dark theme" }).click();
  assert(await page.evaluate(() => document.documentElement.classList.contains("dark")), "dark class set");
  await shot(page, "06-agent-dark");
}

async function grantFlow(page) {
  const runId = mustEnv("RUN_ID");
  step("log in; open the run stopped on its exhausted budget");
  await logIn(page, base, password);
  await page.goto(`${base}/agents/${agentId}/runs/${runId}`);
  await waitText(page, "agent-run-status", "awaiting_input");
  const pending = page.getByTestId("pending-request");
  assert((await pending.getAttribute("data-reason")) === "budget", "a budget request");
  assert((await page.locator('[data-budget="model_calls"]').textContent()) === "Model calls11", "1 of 1 model calls used");
  await page.getByRole("region", { name: "Notes" }).getByText("budget test", { exact: true }).waitFor(); // noted before it stopped

  step("grant one model call (confirmed)");
  await pending.getByRole("button", { name: "Grant" }).click();
  const dialog = page.getByRole("dialog");
  assert((await dialog.getByLabel("Tokens").inputValue()) === "200000", "the grant starts as one default budget");
  await dialog.getByLabel("Model calls").fill("1");
  await dialog.getByRole("button", { name: "Confirm approve" }).click();
  await waitText(page, "agent-run-status", "completed");
  await waitText(page, "agent-run-output", "finished");
  await page.waitForFunction(() => document.querySelector('[data-budget="model_calls"]')?.textContent === "Model calls22");
  await page.getByRole("list", { name: "Grants" }).getByText("granted by admin: model_calls +1, tokens +200000, wall_s +900").waitFor();
  await shot(page, "granted");
}

/** Press `key` until the focused element's text contains `text` (j/k through a list). */
async function moveTo(page, key, text, max = 50) {
  for (let i = 0; i < max; i++) {
    await page.keyboard.press(key);
    const focused = await page.evaluate(() => document.activeElement?.textContent ?? "");
    if (focused.includes(text)) return;
  }
  throw new Error(`${text} never got focus pressing ${key}`);
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

  step("Agents: j to the agent, Enter opens it");
  await page.goto(`${base}/agents`);
  await page.locator('[data-testid="agent-row"]').first().waitFor();
  await moveTo(page, "j", agentId);
  await kb.press("Enter");
  await page.waitForURL(new RegExp(`/agents/${agentId}$`));

  step("? lists the approve / decline keys");
  await kb.press("?");
  const help = page.getByRole("dialog", { name: "Keyboard shortcuts" });
  await help.waitFor();
  assert((await help.textContent()).includes("approve / decline its open request"), "the shortcut list names a / d");
  await kb.press("Escape");
  await help.waitFor({ state: "hidden" });

  step("j selects the waiting run, Enter opens it");
  await page.getByTestId("run-row").first().waitFor();
  await moveTo(page, "j", "awaiting_input");
  await kb.press("Enter");
  await page.waitForURL(/\/runs\//);
  await waitText(page, "agent-run-status", "awaiting_input");

  step("j/k move through the run's events");
  await moveTo(page, "j", "approval asked for create_dev_task");

  step("a approves (Enter confirms)");
  await kb.press("a");
  await page.getByRole("dialog").waitFor();
  await kb.press("Enter");
  await waitText(page, "agent-run-status", "completed");
  await page.locator('[data-testid="timeline-mark"][data-kind="decision"]').waitFor();
  await shot(page, "approved");
}

const FLOWS = { mouse: mouseFlow, keyboard: keyboardFlow, grant: grantFlow };
runMain(() => inBrowser(base, { step, shot }, FLOWS[scenario]));
