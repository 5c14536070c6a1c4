// What the browser tests share: free loopback ports, the emulator, one Step Functions or SQS
// call to it, and waiting for an event (never a fixed sleep).
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
