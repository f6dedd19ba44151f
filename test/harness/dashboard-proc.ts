// Starts `slotway dashboard` (the built CLI) with a dashboard.toml and extra flags.
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { apiCall } from "../../src/control/http.js";
import { xauth } from "../../src/control/xauth.js";
import { freePort } from "./ports.js";
import { CLI } from "./slotway.js";
import { until } from "./wait.js";

export interface DashboardProc {
  addr: string;
  dir: string;
  proc: ChildProcess;
  output(): string;
  /** A dashboard API call; "{x}" in the path stands for the product's xauth. */
  get<T = unknown>(p: string): Promise<T>;
  put<T = unknown>(p: string, body?: unknown): Promise<T>;
  exited: Promise<number | null>;
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

const running = new Set<DashboardProc>();

/**
 * Starts a dashboard for `product` with the given toml lines and flags; resolves once /topom
 * answers (or rejects with its output when it exits first, unless waitOnline is false).
 */
export async function startDashboardProc(product: string, toml: string[], args: string[], waitOnline = true): Promise<DashboardProc> {
  const dir = mkdtempSync(path.join(tmpdir(), "slotway-dashproc-"));
  const port = await freePort();
  const cfg = path.join(dir, "dashboard.toml");
  writeFileSync(cfg, [`product_name = "${product}"`, `admin_addr = "127.0.0.1:${port}"`, ...toml, ""].join("\n"));
  const proc = spawn(process.execPath, [CLI, "dashboard", "--config", cfg, ...args], { stdio: ["ignore", "pipe", "pipe"], cwd: dir });
  let out = "";
  proc.stdout!.on("data", (b: Buffer) => (out += b.toString()));
  proc.stderr!.on("data", (b: Buffer) => (out += b.toString()));
  const exited = new Promise<number | null>((r) => proc.once("exit", (code) => r(code)));
  const base = `http://127.0.0.1:${port}`;
  const X = xauth(product);
  const d: DashboardProc = {
    addr: `127.0.0.1:${port}`, dir, proc, output: () => out, exited,
    get: (q) => apiCall("GET", base + q.replace("{x}", X), undefined, 10_000),
    put: (q, body) => apiCall("PUT", base + q.replace("{x}", X), body, 30_000),
    async stop(signal = "SIGTERM") {
      running.delete(d);
      if (proc.exitCode === null && proc.signalCode === null) proc.kill(signal);
      const t = setTimeout(() => proc.kill("SIGKILL"), 10_000);
      const code = await exited;
      clearTimeout(t);
      return code;
    },
  };
  running.add(d);
  if (waitOnline) {
    await Promise.race([
      until("dashboard online", () => d.get("/topom").then(() => true), 15_000, 50),
      exited.then(() => { throw new Error(`dashboard exited:\n${out}`); }),
    ]);
  }
  return d;
}

export async function stopAllDashboards(): Promise<void> {
  await Promise.all([...running].map((d) => d.stop("SIGKILL")));
}
