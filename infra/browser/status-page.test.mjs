// The status page (GET /) in real headless Chromium (Debian's, driven by playwright-core)
// against the real sfn-results binary and the moto emulator, both on free loopback ports.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import { readFileSync, mkdirSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { chromium } from "playwright-core";
import { ROOT, awsCall, bootstrap, python, startEmulator, startService, until } from "./harness.mjs";

const require = createRequire(import.meta.url);
const AXE = readFileSync(require.resolve("axe-core/axe.min.js"), "utf8");
const CHROMIUM = process.env.CHROMIUM || "/usr/bin/chromium";
const children = [];
let base, emulator, machines, browser, page;
const problems = [];
// Long-polls per execution ARN: how many were made, how many are outstanding, the most at once.
const polls = new Map();
const pollOf = (url) => {
  const match = /\/executions\/([^?]+)\?wait=/.exec(decodeURIComponent(url));
  if (!match) return null;
  if (!polls.has(match[1])) polls.set(match[1], { made: 0, open: 0, most: 0 });
  return polls.get(match[1]);
};

/** One Step Functions call straight to the emulator. */
async function sfn(action, body) {
  return awsCall(emulator, "states", `AWSStepFunctions.${action}`, body);
}

/** Starts the STANDARD machine through the service's own route, as an API user would. */
async function startThroughApi(name, input) {
  const response = await fetch(`${base}/executions/wait?wait=0&name=${name}`, { method: "POST", body: JSON.stringify(input) });
  assert.ok([200, 202].includes(response.status), `start: ${response.status}`);
  return (await response.json()).executionArn;
}

const row = (arn) => page.locator(`tr[data-arn="${arn}"]`);
const suffix = `${process.pid}-${Date.now()}`;
const run = {};

before(async () => {
  const py = python();
  emulator = await startEmulator(py, children);
  const table = `browser-${suffix}`;
  machines = bootstrap(py, emulator, table);
  base = await startService(emulator, children, () => ({
    RESULTS_TABLE: table,
    ALLOWED_STATE_MACHINES: [machines.GREETING_ARN, machines.REJECTED_ARN, machines.EXPRESS_ARN].join(","),
    EXPRESS_STATE_MACHINES: machines.EXPRESS_ARN,
    START_STATE_MACHINE: machines.GREETING_ARN,
    ALLOW_CONTROL: "true",
  }));

  run.done = await startThroughApi(`done-${suffix}`, { name: "Ada", echo: { order: 7 }, delaySeconds: 0 });
  run.failed = (await sfn("StartExecution", { stateMachineArn: machines.REJECTED_ARN, name: `failed-${suffix}`, input: "{}" })).executionArn;
  // Long enough to be seen running, short enough for a small suite.
  run.running = await startThroughApi(`slow-${suffix}`, { name: "Grace", echo: { order: 8 }, delaySeconds: 5 });
  await until("the quick ones to stop", async () =>
    (await sfn("DescribeExecution", { executionArn: run.done })).status === "SUCCEEDED" &&
    (await sfn("DescribeExecution", { executionArn: run.failed })).status === "FAILED");

  browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox"] });
  page = await browser.newPage({ viewport: { width: 1100, height: 800 } });
  page.on("console", (m) => { if (m.type() === "error") problems.push(m.text()); });
  page.on("pageerror", (e) => problems.push(e.message));
  page.on("request", (r) => {
    if (!r.url().startsWith(base)) problems.push(`request to ${r.url()}`);
    const poll = pollOf(r.url());
    if (poll) { poll.made += 1; poll.open += 1; poll.most = Math.max(poll.most, poll.open); }
  });
  const done = (r) => { const poll = pollOf(r.url()); if (poll) poll.open -= 1; };
  page.on("requestfinished", done);
  page.on("requestfailed", done);
  if (process.env.TRACE) page.on("requestfinished", (r) => console.log(`# ${r.timing().responseEnd.toFixed(0)} ms ${r.url().slice(0, 90)}`));
  await page.goto(`${base}/`);
});

/** API Gateway's stage in front of the service: strips `/v1`, refuses (and records) anything else. */
function stageProxy(stage, missed) {
  const target = new URL(base);
  const server = http.createServer((req, res) => {
    if (req.url !== stage && !req.url.startsWith(stage + "/") && !req.url.startsWith(stage + "?")) {
      missed.push(req.url);
      res.writeHead(404).end();
      return;
    }
    const path = req.url.slice(stage.length) || "/";
    const upstream = http.request({ host: target.hostname, port: target.port, path, method: req.method, headers: req.headers }, (answer) => {
      res.writeHead(answer.statusCode, answer.headers);
      answer.pipe(res);
    });
    req.pipe(upstream);
  });
  return new Promise((resolve) => server.listen(0, "127.0.0.1", () => resolve(server)));
}

after(async () => {
  await browser?.close();
  for (const child of children) child.kill("SIGTERM");
});

test("the list shows executions started through the API, with status words", async () => {
  await row(run.done).waitFor();
  assert.match(await row(run.done).locator("td").first().textContent(), /✓ SUCCEEDED/);
  assert.match(await row(run.running).locator("td").first().textContent(), /RUNNING/);
  assert.match(await row(run.failed).locator("td").first().textContent(), /✗ FAILED/);
});

test("a running execution turns SUCCEEDED by itself, without a reload", async () => {
  const navigations = [];
  page.on("framenavigated", (f) => navigations.push(f.url()));
  await page.locator(`tr[data-arn="${run.running}"][data-status="SUCCEEDED"]`).waitFor({ timeout: 20000 });
  const seen = Date.now();
  const stop = (await sfn("DescribeExecution", { executionArn: run.running })).stopDate * 1000;
  console.log(`# flip seen ${seen - stop} ms after Step Functions' stopDate (figure, not asserted)`);
  assert.deepEqual(navigations, [], "no reload");
  const poll = polls.get(run.running);
  console.log(`# long-polls of the running execution: ${JSON.stringify(poll)}`);
  assert.ok(poll && poll.made >= 1, "it was long-polled");
  assert.equal(poll.most, 1, "one outstanding long-poll per execution");
  assert.ok(poll.made <= 3, `${poll.made} long-polls in a few seconds: a polling storm`);
  for (const arn of [run.done, run.failed]) assert.ok(!polls.has(arn), "stopped executions are not polled");
});

test("a failed execution's detail shows its error, cause and a curl line", async () => {
  await row(run.failed).getByRole("button").click();
  await page.locator("#d-error").filter({ hasText: "Order.Rejected" }).waitFor();
  assert.match(await page.locator("#d-cause").textContent(), /can't be processed/);
  assert.match(await page.locator("#d-curl").textContent(), /^curl -sS 'http:\/\/127\.0\.0\.1:\d+\/executions\/arn:aws:states:/);
  assert.match(await page.locator("#d-doc").textContent(), /"status": "FAILED"/);
  // Its steps, as a timeline, from GET …/steps; with ALLOW_CONTROL it may be redriven, not stopped.
  const failedStep = page.locator("#d-steps li").filter({ hasText: "FAILED" });
  await failedStep.first().waitFor();
  assert.match(await failedStep.first().textContent(), /Order\.Rejected/);
  assert.equal(await page.locator("#redrive").isVisible(), true);
  assert.equal(await page.locator("#stop").isVisible(), false);
  mkdirSync(path.join(ROOT, "docs"), { recursive: true });
  await page.screenshot({ path: path.join(ROOT, "docs/status-page.png"), fullPage: true });
});

test("the status and machine filters narrow the list", async () => {
  await page.selectOption("#status", "FAILED");
  await until("only failures", async () => {
    const statuses = await page.locator("tbody tr").evaluateAll((rs) => rs.map((r) => r.dataset.status));
    return statuses.length > 0 && statuses.every((s) => s === "FAILED");
  });
  await page.selectOption("#status", "");
  await page.selectOption("#machine", machines.GREETING_ARN);
  await until("only the greeting machine", async () => {
    const arns = await page.locator("tbody tr").evaluateAll((rs) => rs.map((r) => r.dataset.arn));
    return arns.length === 2 && arns.every((a) => a.includes(":greeting:"));
  });
  await page.selectOption("#machine", "");
});

test("each workflow has a link by name that opens the page on it", async () => {
  const links = await page.locator("#workflows a").evaluateAll((as) => as.map((a) => [a.textContent, a.getAttribute("href")]));
  assert.deepEqual(links.map(([text]) => text), ["greeting", "rejected", "hello (express)"]);
  await page.getByRole("link", { name: "greeting", exact: true }).click();
  await page.waitForURL(/\?workflow=greeting$/);
  assert.equal(await page.locator("#machine").inputValue(), machines.GREETING_ARN);
  assert.equal(await page.getByRole("link", { name: "greeting", exact: true }).getAttribute("aria-current"), "page");
  await until("only the greeting workflow", async () => {
    const arns = await page.locator("tbody tr").evaluateAll((rs) => rs.map((r) => r.dataset.arn));
    return arns.length === 2 && arns.every((a) => a.includes(":greeting:"));
  });
  await page.selectOption("#machine", "");
  assert.ok(!page.url().includes("workflow="), "all workflows: the plain URL");
});

test("with ALLOW_CONTROL, a running execution is stopped from its detail after a confirmation", async () => {
  const arn = await startThroughApi(`stopped-${suffix}`, { name: "Lin", echo: 1, delaySeconds: 60 });
  await row(arn).waitFor();
  await row(arn).getByRole("button").click();
  await page.locator("#stop").waitFor();
  const asked = [];
  page.once("dialog", (dialog) => { asked.push(dialog.message()); dialog.dismiss(); });
  await page.locator("#stop").click();
  await until("the dismissed confirmation", () => asked.length === 1);
  assert.equal((await sfn("DescribeExecution", { executionArn: arn })).status, "RUNNING", "dismissed: nothing sent");
  page.once("dialog", (dialog) => { asked.push(dialog.message()); dialog.accept(); });
  await page.locator("#stop").click();
  await page.locator("#d-status").filter({ hasText: "ABORTED" }).waitFor();
  assert.match(asked[1], /^Stop the execution stopped-/);
  assert.equal((await sfn("DescribeExecution", { executionArn: arn })).status, "ABORTED");
  assert.equal(await page.locator("#stop").isVisible(), false);
  assert.equal(await page.locator("#redrive").isVisible(), true);
});

test("axe-core finds no violations, and the page fits a phone", async () => {
  await page.evaluate(AXE);
  const result = await page.evaluate(() => window.axe.run(document));
  assert.deepEqual(result.violations.map((v) => `${v.id}: ${v.help}`), []);
  await page.setViewportSize({ width: 360, height: 740 });
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.ok(overflow <= 0, `${overflow} px wider than a phone`);
  const html = await (await fetch(`${base}/`)).text();
  console.log(`# page weight: ${Buffer.byteLength(html)} bytes, one request`);
  assert.deepEqual(problems, [], "no console errors, CSP reports or foreign requests");
});

test("behind a stage prefix, even without its trailing slash, every URL stays under it", async () => {
  const missed = [];
  const proxy = await stageProxy("/v1", missed);
  const staged = await browser.newPage();
  try {
    await staged.goto(`http://127.0.0.1:${proxy.address().port}/v1`);
    await staged.locator(`tr[data-arn="${run.failed}"]`).getByRole("button").click();
    await staged.locator("#d-error").filter({ hasText: "Order.Rejected" }).waitFor();
    assert.match(await staged.locator("#d-curl").textContent(), /\/v1\/executions\/arn:aws:states:/);
    assert.deepEqual(missed, [], "requests outside the stage");
  } finally {
    await staged.close();
    proxy.closeAllConnections();
    proxy.close();
  }
});
