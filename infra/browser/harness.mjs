// What the browser tests share: free loopback ports, the emulator and its sample machines, the
// real service against it, one Step Functions or SQS call to the emulator, and waiting for an
// event (never a fixed sleep).
import { spawn, execFileSync } from "node:child_process";
import { createServer } from "node:net";
import { createInterface } from "node:readline";
import path from "node:path";

export const ROOT = path.resolve(import.meta.dirname, "../..");

export const python = () =>
  process.env.EMULATOR_PYTHON || execFileSync(path.join(ROOT, "infra/local/venv.sh")).toString().trim();

export function freePort() {
  return new Promise((resolve) => {
    const server = createServer().listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/** Starts the emulator (it exits when `children`' owner kills it); resolves to its URL. */
export function startEmulator(py, children) {
  const child = spawn(py, [path.join(ROOT, "infra/local/emulator.py"), "--exit-on-eof"], { stdio: ["pipe", "pipe", "inherit"] });
  children.push(child);
  return new Promise((resolve, reject) => {
    const lines = createInterface({ input: child.stdout });
    lines.on("line", (line) => { if (line.startsWith("READY ")) resolve(`http://127.0.0.1:${line.split(" ")[1]}`); });
    child.on("exit", (code) => reject(new Error(`emulator exited ${code}`)));
  });
}

const LOCAL_SDK = { AWS_EC2_METADATA_DISABLED: "true", AWS_REGION: "us-east-1" };

/** Makes the results table `table` and the sample machines at the emulator; resolves to their
 * ARNs by bootstrap.py's names (`GREETING_ARN`, `APPROVAL_ARN`, …). */
export function bootstrap(py, emulator, table) {
  const out = execFileSync(py, [path.join(ROOT, "infra/local/bootstrap.py"), "--endpoint", emulator, "--table", table], {
    env: { ...process.env, ...LOCAL_SDK },
  }).toString();
  return Object.fromEntries(out.trim().split("\n").map((l) => l.split(/=(.*)/s).slice(0, 2)));
}

/** Starts the real `target/debug/sfn-results` on a free loopback port against the emulator, with
 * `env(base)` over the local defaults; resolves to its base URL once `/healthz` answers. */
export async function startService(emulator, children, env) {
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const service = spawn(path.join(ROOT, "target/debug/sfn-results"), [], {
    stdio: ["ignore", "inherit", "inherit"],
    env: {
      PATH: process.env.PATH,
      ...LOCAL_SDK,
      AWS_ACCESS_KEY_ID: "test",
      AWS_SECRET_ACCESS_KEY: "test",
      AWS_ENDPOINT_URL: emulator,
      RECONCILE_SECONDS: "0",
      RUST_LOG: "warn",
      ...env(base),
      LISTEN_ADDR: `127.0.0.1:${port}`,
    },
  });
  children.push(service);
  await until("the service", () => fetch(`${base}/healthz`).then((r) => r.ok, () => false));
  return base;
}

/** One AWS JSON-protocol call straight to the emulator (moto reads the service from the scope). */
export async function awsCall(emulator, service, target, body) {
  const response = await fetch(emulator, {
    method: "POST",
    headers: {
      "content-type": "application/x-amz-json-1.0",
      "x-amz-target": target,
      authorization: `AWS4-HMAC-SHA256 Credential=test/20260101/us-east-1/${service}/aws4_request, SignedHeaders=host, Signature=0`,
    },
    body: JSON.stringify(body),
  });
  if (!response.ok) throw new Error(`${target}: ${response.status} ${await response.text()}`);
  return response.json();
}

export async function until(what, check, ms = 15000, every = 100) {
  const end = Date.now() + ms;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, every));
  }
}
