// Starts a real `slotway dashboard` process (the built CLI) on a filesystem store, for
// integration tests, and calls its codis API with the right xauth.
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { apiCall } from "../../src/control/http.js";
import type { Overview, Stats } from "../../src/control/models.js";
import { xauth } from "../../src/control/xauth.js";
import { freePort } from "./ports.js";
import { CLI } from "./slotway.js";
import { until } from "./wait.js";

export interface Dashboard {
  addr: string;
  product: string;
  dir: string;
  proc: ChildProcess;
  output(): string;
  /** GET/PUT a path of the dashboard; "{x}" in it stands for the xauth. */
  get<T = unknown>(p: string): Promise<T>;
  put<T = unknown>(p: string, body?: unknown): Promise<T>;
  stats(): Promise<Stats>;
  overview(): Promise<Overview>;
  stop(signal?: NodeJS.Signals): Promise<void>;
}

export interface DashboardOptions {
  product?: string;
  /** Extra dashboard.toml lines (key = value). */
  config?: Record<string, string | number>;
  /** The store folder (default: a new temp folder's store/). */
  storeDir?: string;
}

const running = new Set<Dashboard>();

/** Starts `slotway dashboard` and resolves once it holds the lock and answers /topom. */
export async function startDashboard(opts: DashboardOptions = {}): Promise<Dashboard> {
  const dir = mkdtempSync(path.join(tmpdir(), "slotway-dash-"));
  const port = await freePort();
  const product = opts.product ?? "test";
  const keys: Record<string, string | number> = {
    coordinator_name: "filesystem",
    coordinator_addr: opts.storeDir ?? path.join(dir, "store"),
    product_name: product,
    admin_addr: `127.0.0.1:${port}`,
    migration_method: "redis",
    ...opts.config,
  };
  const cfg = path.join(dir, "dashboard.toml");
  writeFileSync(cfg, Object.entries(keys).map(([k, v]) => `${k} = ${JSON.stringify(v)}`).join("\n") + "\n");
  const proc = spawn(process.execPath, [CLI, "dashboard", "--config", cfg, "--log-level", "WARN"], { stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  proc.stdout!.on("data", (b: Buffer) => (out += b.toString()));
  proc.stderr!.on("data", (b: Buffer) => (out += b.toString()));
  const exited = new Promise<void>((r) => proc.once("exit", () => r()));
  const base = `http://127.0.0.1:${port}`;
  const X = xauth(product);
  const d: Dashboard = {
    addr: `127.0.0.1:${port}`, product, dir, proc, output: () => out,
    get: (p) => apiCall("GET", base + p.replace("{x}", X), undefined, 10_000),
    put: (p, body) => apiCall("PUT", base + p.replace("{x}", X), body, 30_000),
    stats: () => apiCall<Stats>("GET", `${base}/api/topom/stats/${X}`, undefined, 10_000),
    overview: () => apiCall<Overview>("GET", `${base}/topom`, undefined, 10_000),
    async stop(signal = "SIGTERM") {
      running.delete(d);
      if (proc.exitCode === null && proc.signalCode === null) proc.kill(signal);
      const t = setTimeout(() => proc.kill("SIGKILL"), 10_000);
      await exited;
      clearTimeout(t);
    },
  };
  running.add(d);
  await Promise.race([
    until("dashboard online", () => d.get("/topom").then(() => true), 15_000, 50),
    exited.then(() => {
      throw new Error(`dashboard exited:\n${out}`);
    }),
  ]);
  return d;
}

/** Stops every dashboard this process started. */
export async function stopAllDashboards(): Promise<void> {
  await Promise.all([...running].map((d) => d.stop("SIGKILL")));
}
