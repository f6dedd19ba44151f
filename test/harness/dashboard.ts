// Starts `slotway dashboard` (the built CLI) on a filesystem store for integration tests, and
// calls its codis API with the right xauth.
//
//   const d = await startDashboard({ config: { migration_parallel_slots: 8 }, env: { ... } })
//   await d.put("/api/topom/group/create/{x}/1")        // {x} = the product's xauth
//   await d.stats(); d.output(); await d.stop("SIGKILL"); await d.restart()
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

export const PRODUCT = "test"; // the product test/harness/slotway.ts writes into proxy.toml
export const X = xauth(PRODUCT);

export interface DashboardOptions {
  /** product_name (default PRODUCT). */
  product?: string;
  /** The store folder (default: the dashboard's temp folder's store/). */
  storeDir?: string;
  /** Extra dashboard.toml keys. */
  config?: Record<string, string | number>;
  /** Extra environment (e.g. SLOTWAY_FAILPOINT). */
  env?: Record<string, string>;
  /**
   * Extra command-line flags (default: --log-level INFO). A coordinator flag (--filesystem,
   * --etcd, --etcdv2, --zookeeper) replaces the default file store of dashboard.toml.
   */
  args?: string[];
  /** Wait until the API answers (default true); false for a dashboard expected to exit. */
  waitOnline?: boolean;
}

export interface Dashboard {
  addr: string;
  product: string;
  dir: string;
  proc: ChildProcess;
  output(): string;
  get<T = unknown>(p: string): Promise<T>;
  put<T = unknown>(p: string, body?: unknown): Promise<T>;
  stats(): Promise<Stats>;
  overview(): Promise<Overview>;
  /** Text of GET /metrics. */
  metrics(): Promise<string>;
  /** Resolves with the exit code when the process has exited (it may kill itself at a failpoint). */
  exited: Promise<number | null>;
  /** Stops it (SIGKILL after 10 s) and resolves with its exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
  /** Stops it and starts a new process on the same store and port, with other env / config if given. */
  restart(env?: Record<string, string>, config?: Record<string, string | number>): Promise<Dashboard>;
}

const running = new Set<Dashboard>();

export async function startDashboard(opts: DashboardOptions = {}, dir?: string, port?: number): Promise<Dashboard> {
  const d = dir ?? mkdtempSync(path.join(tmpdir(), "slotway-dash-"));
  const p = port ?? (await freePort());
  const product = opts.product ?? PRODUCT;
  const cfg = path.join(d, "dashboard.toml");
  const storeFlag = (opts.args ?? []).some((a) => /^--(filesystem|etcd|etcdv2|zookeeper)(=|$)/.test(a));
  const keys: Record<string, string | number> = {
    ...(storeFlag ? {} : { coordinator_name: "filesystem", coordinator_addr: opts.storeDir ?? path.join(d, "store") }),
    product_name: product, admin_addr: `127.0.0.1:${p}`, migration_parallel_slots: 8, ...opts.config,
  };
  writeFileSync(cfg, Object.entries(keys).map(([k, v]) => `${k} = ${JSON.stringify(v)}`).join("\n") + "\n");
  const proc = spawn(process.execPath, [CLI, "dashboard", "--config", cfg, ...(opts.args ?? ["--log-level", "INFO"])], {
    stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, ...opts.env }, cwd: d,
  });
  let out = "";
  proc.stdout!.on("data", (b: Buffer) => (out += b.toString()));
  proc.stderr!.on("data", (b: Buffer) => (out += b.toString()));
  const exited = new Promise<number | null>((r) => proc.once("exit", (code) => r(code)));
  const base = `http://127.0.0.1:${p}`;
  const X = xauth(product);
  const dash: Dashboard = {
    addr: `127.0.0.1:${p}`, product, dir: d, proc, output: () => out, exited,
    get: (q) => apiCall("GET", base + q.replace("{x}", X), undefined, 10_000),
    put: (q, body) => apiCall("PUT", base + q.replace("{x}", X), body, 60_000),
    stats: () => apiCall<Stats>("GET", `${base}/api/topom/stats/${X}`, undefined, 10_000),
    overview: () => apiCall<Overview>("GET", `${base}/topom`, undefined, 10_000),
    metrics: async () => {
      const r = await fetch(`${base}/metrics`);
      if (!r.ok) throw new Error(`GET /metrics: ${r.status}`);
      return r.text();
    },
    async stop(signal = "SIGTERM") {
      running.delete(dash);
      if (proc.exitCode === null && proc.signalCode === null) proc.kill(signal);
      const t = setTimeout(() => proc.kill("SIGKILL"), 10_000);
      const code = await exited;
      clearTimeout(t);
      return code;
    },
    async restart(env, config) {
      await dash.stop();
      return startDashboard({ ...opts, config: { ...opts.config, ...config }, env: env ?? opts.env }, d, p);
    },
  };
  running.add(dash);
  if (opts.waitOnline === false) return dash;
  await Promise.race([
    until("dashboard online", () => dash.get("/topom").then(() => true), 15_000, 50),
    exited.then(() => {
      throw new Error(`dashboard exited:\n${out}`);
    }),
  ]);
  return dash;
}

export async function stopAllDashboards(): Promise<void> {
  await Promise.all([...running].map((d) => d.stop("SIGKILL")));
}
