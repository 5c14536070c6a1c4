// A person answers a waiting task from a one-time link, in real headless Chromium (Debian's,
// driven by playwright-core), against the real sfn-results binary and the moto emulator running
// the purchase-approval sample, all on free loopback ports. axe-core checks every page shown.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { chromium } from "playwright-core";
import { awsCall, bootstrap, python, startEmulator, startService, until } from "./harness.mjs";

const require = createRequire(import.meta.url);
const AXE = readFileSync(require.resolve("axe-core/axe.min.js"), "utf8");
const CHROMIUM = process.env.CHROMIUM || "/usr/bin/chromium";
const children = [];
const suffix = `${process.pid}-${Date.now()}`;
let base, emulator, machines, browser, page;
const problems = [];

const sfn = (action, body) => awsCall(emulator, "states", `AWSStepFunctions.${action}`, body);
const sqs = (action, body) => awsCall(emulator, "sqs", `AmazonSQS.${action}`, body);

/** Starts an approval and answers the token its task sent to the approvals queue. */
async function waitingApproval(name, request) {
  const { executionArn } = await sfn("StartExecution", {
    stateMachineArn: machines.APPROVAL_ARN, name: `${name}-${suffix}`, input: JSON.stringify({ request }),
  });
  const body = await until(`${name}'s approval request`, async () => {
    const { Messages = [] } = await sqs("ReceiveMessage", { QueueUrl: machines.APPROVALS_QUEUE_URL, MaxNumberOfMessages: 10, WaitTimeSeconds: 1 });
    for (const message of Messages) {
      const sent = JSON.parse(message.Body);
      if (sent.executionArn === executionArn) {
        await sqs("DeleteMessage", { QueueUrl: machines.APPROVALS_QUEUE_URL, ReceiptHandle: message.ReceiptHandle });
        return sent;
      }
      await sqs("ChangeMessageVisibility", { QueueUrl: machines.APPROVALS_QUEUE_URL, ReceiptHandle: message.ReceiptHandle, VisibilityTimeout: 0 });
    }
    return null;
  }, 60000, 0);
  return { executionArn, token: body.taskToken };
}

async function makeLinks(token, summary) {
  const response = await fetch(`${base}/callbacks/links`, {
    method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ taskToken: token, summary }),
  });
  assert.equal(response.status, 201, await response.clone().text());
  return response.json();
}

async function noAxeViolations() {
  await page.evaluate(AXE);
  const result = await page.evaluate(() => window.axe.run(document));
  assert.deepEqual(result.violations.map((v) => `${v.id}: ${v.help}`), []);
}

before(async () => {
  const py = python();
  emulator = await startEmulator(py, children);
  machines = bootstrap(py, emulator, `links-${suffix}`);
  base = await startService(emulator, children, (url) => ({
    RESULTS_TABLE: `links-${suffix}`,
    ALLOWED_STATE_MACHINES: machines.APPROVAL_ARN,
    PUBLIC_BASE_URL: url,
  }));
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox"] });
  page = await browser.newPage({ viewport: { width: 420, height: 800 } });
  // The refusal pages are 400 and 410 on purpose; Chromium logs each such load as an error.
  const refusal = /^Failed to load resource: the server responded with a status of 4(00|10) /;
  page.on("console", (m) => { if (m.type() === "error" && !refusal.test(m.text())) problems.push(m.text()); });
  page.on("pageerror", (e) => problems.push(e.message));
  page.on("request", (r) => { if (!r.url().startsWith(base)) problems.push(`request to ${r.url()}`); });
});

after(async () => {
  await browser?.close();
  for (const child of children) child.kill("SIGTERM");
});

test("an approval is answered from its link in the browser, and a second use is refused", async () => {
  const { executionArn, token } = await waitingApproval("approved", { amount: 120, item: "3 laptops" });
  const links = await makeLinks(token, "Buy 3 laptops for the new team (USD 4,200)?");
  assert.ok(links.approveUrl.startsWith(`${base}/callbacks/`) && !links.approveUrl.includes(token));

  // Opening the link (as a mail scanner would) shows the question and sends nothing.
  const shown = await page.goto(links.approveUrl);
  assert.equal(shown.status(), 200);
  assert.equal(await page.locator("h1").textContent(), "Approve this request?");
  assert.match(await page.locator("main").textContent(), /Buy 3 laptops for the new team \(USD 4,200\)\?/);
  await noAxeViolations();
  assert.equal((await sfn("DescribeExecution", { executionArn })).status, "RUNNING");

  // The button posts the answer; the time from the POST to the execution resuming is measured
  // against Step Functions itself (DescribeExecution every 10 ms).
  const posted = Date.now();
  const [answer] = await Promise.all([
    page.waitForResponse((r) => r.request().method() === "POST"),
    page.getByRole("button", { name: "Approve" }).click(),
  ]);
  const answeredMs = Date.now() - posted;
  assert.equal(answer.status(), 200);
  const done = await until("the execution to resume", async () => {
    const described = await sfn("DescribeExecution", { executionArn });
    return described.status !== "RUNNING" && described;
  }, 30000, 10);
  const resumedMs = Date.now() - posted;
  console.log(`# link POST answered in ${answeredMs} ms; the execution SUCCEEDED ${resumedMs} ms after the POST`);
  assert.equal(done.status, "SUCCEEDED");
  assert.equal(JSON.parse(done.output).approval.approved, true);
  await page.getByRole("heading", { name: "Approved" }).waitFor();
  await noAxeViolations();

  // A second use of either link: a page that says so, 410, nothing sent.
  for (const url of [links.approveUrl, links.rejectUrl]) {
    const again = await page.goto(url);
    assert.equal(again.status(), 410, url);
    assert.equal(await page.locator("h1").textContent(), "Already answered");
    await noAxeViolations();
  }
  const replay = await fetch(links.approveUrl, { method: "POST" });
  assert.equal(replay.status, 410);
  assert.deepEqual(problems, []);
});

test("a reject link fails the execution with Rejected, and an altered link is refused", async () => {
  const { executionArn, token } = await waitingApproval("rejected", { amount: 99000 });
  const links = await makeLinks(token);
  const altered = await page.goto(links.rejectUrl.replace("/callbacks/", "/callbacks/x"));
  assert.equal(altered.status(), 400);
  assert.equal(await page.locator("h1").textContent(), "This link is not valid");
  await noAxeViolations();
  await page.goto(links.rejectUrl);
  assert.equal(await page.locator("h1").textContent(), "Reject this request?");
  await Promise.all([page.waitForResponse((r) => r.request().method() === "POST"), page.getByRole("button", { name: "Reject" }).click()]);
  await page.getByRole("heading", { name: "Rejected" }).waitFor();
  const done = await until("the execution to fail", async () => {
    const described = await sfn("DescribeExecution", { executionArn });
    return described.status !== "RUNNING" && described;
  }, 30000, 10);
  assert.equal(done.status, "FAILED");
  assert.equal(done.error, "Rejected");
  assert.deepEqual(problems, []);
});
