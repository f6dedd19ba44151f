// Starts a real `slotway fe` process (the built CLI) for integration tests.
import { spawn, type ChildProcess } from "node:child_process";
import { freePort, waitForPort } from "./ports.js";
import { CLI } from "./slotway.js";

export interface Fe {
  addr: string;
  base: string;
  proc: ChildProcess;
  output(): string;
  stop(): Promise<number | null>;
}

const running = new Set<Fe>();

/** Starts `slotway fe --listen 127.0.0.1:<free port> ...args` and waits until it listens. */
export async function startFe(args: string[]): Promise<Fe> {
  const port = await freePort();
  const proc = spawn(process.execPath, [CLI, "fe", "--listen", `127.0.0.1:${port}`, "--log-level", "WARN", ...args], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  proc.stdout!.on("data", (b: Buffer) => (out += b.toString()));
  proc.stderr!.on("data", (b: Buffer) => (out += b.toString()));
  const exited = new Promise<number | null>((r) => proc.once("exit", (code) => r(code)));
  const fe: Fe = {
    addr: `127.0.0.1:${port}`, base: `http://127.0.0.1:${port}`, proc, output: () => out,
    async stop() {
      running.delete(fe);
      if (proc.exitCode === null && proc.signalCode === null) proc.kill("SIGTERM");
      const t = setTimeout(() => proc.kill("SIGKILL"), 5000);
      const code = await exited;
      clearTimeout(t);
      return code;
    },
  };
  running.add(fe);
  await Promise.race([
    waitForPort(port, "127.0.0.1", 15_000),
    exited.then((code) => {
      throw new Error(`slotway fe exited with ${code} before listening:\n${out}`);
    }),
  ]);
  return fe;
}

/** Runs `slotway fe ...args` expecting it to exit by itself; resolves with its code and output. */
export async function runFeToExit(args: string[], timeoutMs = 15_000): Promise<{ code: number | null; output: string }> {
  const proc = spawn(process.execPath, [CLI, "fe", ...args], { stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  proc.stdout!.on("data", (b: Buffer) => (out += b.toString()));
  proc.stderr!.on("data", (b: Buffer) => (out += b.toString()));
  const t = setTimeout(() => proc.kill("SIGKILL"), timeoutMs);
  const code = await new Promise<number | null>((r) => proc.once("exit", (c) => r(c)));
  clearTimeout(t);
  return { code, output: out };
}

export async function stopAllFe(): Promise<void> {
  await Promise.all([...running].map((f) => f.stop()));
}
