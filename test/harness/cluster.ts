// A whole slotway cluster as processes on loopback ports, for tests and for `npm run soak`:
// two (or more) backend groups of real servers (redis-server, codis-server, and Pika 3.4/3.5/4.0
// through test/harness/pika.ts),
// a `slotway dashboard` on a filesystem store in a temp folder, and `slotway proxy` processes
// announced to it (`--dashboard`). Groups are created and slots assigned through the
// dashboard's API, as codis-admin / codis-fe would.
//
// The dashboard can be SIGKILLed and restarted on the same port and store (the new one takes the
// dead one's lock over and resumes its migrations), which is what the soak does mid-migration.
//
// Every process started here is registered; stop() stops them, and a process 'exit' hook
// SIGKILLs whatever is left, so a failed run leaves no server behind. Paths are found from the
// repository root, so this module works both from its source (vitest) and compiled into
// dist/test/harness (the soak script).
import { spawn, type ChildProcess } from "node:child_process";
import { appendFileSync, cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { apiCall } from "../../src/control/http.js";
import type { Stats } from "../../src/control/models.js";
import { xauth } from "../../src/control/xauth.js";
import { decodeReply, RespErrorValue, type Decoded } from "../../src/core/resp-decoder.js";
import { encodeCommand } from "../../src/core/resp-encoder.js";
import { ReplyScanner, ScanStatus } from "../../src/core/resp-scanner.js";
import { ChunkReader } from "../../src/workers/chunk-reader.js";
import { startPika, type PikaVersion } from "./pika.js";
import { freePort, waitForPort } from "./ports.js";

/** The repository root: the nearest folder above this file with slotway's package.json. */
export const REPO_ROOT = ((): string => {
  let d = path.dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const pj = path.join(d, "package.json");
    if (existsSync(pj) && /"name":\s*"slotway"/.test(readFileSync(pj, "utf8"))) return d;
    const up = path.dirname(d);
    if (up === d) throw new Error("cluster harness: cannot find slotway's package.json above " + fileURLToPath(import.meta.url));
    d = up;
  }
})();
export const CLI_PATH = path.join(REPO_ROOT, "dist", "src", "cli.js");
export const PEERS_DIR = path.resolve(REPO_ROOT, "..", "shared", "peers");

export const BACKEND_KINDS = ["redis", "codis-server", "pika34", "pika35", "pika40"] as const;
export type BackendKind = (typeof BACKEND_KINDS)[number];

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

// ----------------------------------------------------------------------------------------------
// Process registry

/** Processes (by pid) to SIGKILL if this process exits with them still running. */
const live = new Map<number, string>();
let hooked = false;
function register(pid: number | undefined, what: string): void {
  if (pid === undefined) return;
  live.set(pid, what);
  if (!hooked) {
    hooked = true;
    process.on("exit", () => {
      for (const p of live.keys()) {
        try {
          process.kill(p, "SIGKILL");
        } catch {
          // already gone
        }
      }
    });
  }
}
function unregister(pid: number | undefined): void {
  if (pid !== undefined) live.delete(pid);
}

/** A child process with its output in a log file and its tail in memory. */
class Child {
  private tail = "";
  readonly exited: Promise<number | null>;
  constructor(readonly name: string, readonly proc: ChildProcess, logFile?: string) {
    const keep = (d: Buffer): void => {
      this.tail = (this.tail + d.toString()).slice(-16_384);
      if (logFile) appendFileSync(logFile, d);
    };
    proc.stdout?.on("data", keep);
    proc.stderr?.on("data", keep);
    register(proc.pid, name);
    this.exited = new Promise((resolve) => {
      proc.once("exit", (code) => {
        unregister(proc.pid);
        resolve(code);
      });
      proc.once("error", (e) => {
        this.tail += `\ncannot run ${name}: ${e.message}`;
        if (proc.pid === undefined) resolve(null);
      });
    });
  }
  get running(): boolean {
    return this.proc.exitCode === null && this.proc.signalCode === null && this.proc.pid !== undefined;
  }
  output(): string {
    return this.tail;
  }
  /** Sends signal and waits for the exit (SIGKILL after graceMs). */
  async stop(signal: NodeJS.Signals = "SIGTERM", graceMs = 5000): Promise<void> {
    if (!this.running) return;
    this.proc.kill(signal);
    const t = setTimeout(() => this.proc.kill("SIGKILL"), graceMs);
    await this.exited;
    clearTimeout(t);
  }
}

// ----------------------------------------------------------------------------------------------
// A one-shot RESP call (readiness checks, small setup commands)

/** Sends commands on a fresh connection and returns their decoded replies (errors as RespErrorValue). */
export function respCalls(port: number, cmds: (string | number)[][], timeoutMs = 2000, host = "127.0.0.1"): Promise<Decoded[]> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ port, host });
    const reader = new ChunkReader(new ReplyScanner(), 1 << 28);
    const out: Decoded[] = [];
    const timer = setTimeout(() => {
      s.destroy();
      reject(new Error(`no reply from ${host}:${port} in ${timeoutMs} ms`));
    }, timeoutMs);
    s.on("error", (e) => {
      clearTimeout(timer);
      reject(e);
    });
    s.on("connect", () => s.write(Buffer.concat(cmds.map((c) => encodeCommand(c)))));
    s.on("data", (d: Buffer) => {
      reader.push(d);
      while (reader.next() === ScanStatus.Complete) {
        out.push(decodeReply(reader.buf, reader.scanner.replyStart, false).value);
      }
      if (out.length >= cmds.length) {
        clearTimeout(timer);
        s.destroy();
        resolve(out);
      }
    });
  });
}

async function waitPing(port: number, timeoutMs: number, alive: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = "";
  for (;;) {
    if (!alive()) throw new Error(`${what} exited before answering PING`);
    try {
      const [r] = await respCalls(port, [["PING"]], 1000);
      if (r === "PONG") return;
      last = r instanceof RespErrorValue ? r.message : String(r);
    } catch (e) {
      last = (e as Error).message;
    }
    if (Date.now() > deadline) throw new Error(`${what} on port ${port} did not answer PING in ${timeoutMs} ms (${last})`);
    await sleep(50);
  }
}

// ----------------------------------------------------------------------------------------------
// Backends

export interface Backend {
  kind: BackendKind;
  port: number;
  /** "127.0.0.1:<port>" */
  addr: string;
  pid: number;
  dir: string;
  /** Last lines of the server's output or log, for error reports. */
  output(): string;
  /** keepLogsIn: copy the server's own log folder there first (Pika: DIR/log → keepLogsIn/pika-PORT-log). */
  stop(keepLogsIn?: string): Promise<void>;
}

/**
 * Starts one backend server of the given kind on free loopback port(s); resolves once it answers
 * PING. conf: extra pika.conf keys (Pika only).
 */
export async function startBackend(kind: BackendKind, conf?: Record<string, string>, nofile?: number): Promise<Backend> {
  if (kind !== "redis" && kind !== "codis-server") return startPikaBackend(kind, conf, nofile);
  for (let attempt = 0; ; attempt++) {
    try {
      return await startRedisLike(kind);
    } catch (e) {
      // Another process may take a port between the check and the bind: try new ones.
      if (attempt >= 2) throw e;
    }
  }
}

async function startRedisLike(kind: "redis" | "codis-server"): Promise<Backend> {
  const bin = kind === "redis" ? "redis-server" : path.join(PEERS_DIR, "bin", "codis-server");
  if (kind === "codis-server" && !existsSync(bin)) throw new Error(`codis-server not found at ${bin}`);
  const dir = mkdtempSync(path.join(tmpdir(), `slotway-${kind}-`));
  const port = await freePort();
  // codis-server is Redis 3.2: it takes redis-server's flags (shared/peers/README.md).
  const args = ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", dir,
    "--daemonize", "no", "--protected-mode", "no", "--loglevel", "warning"];
  const c = new Child(`${kind}:${port}`, spawn(bin, args, { stdio: ["ignore", "pipe", "pipe"] }));
  try {
    await waitPing(port, 10_000, () => c.running, kind);
  } catch (e) {
    await c.stop("SIGKILL");
    rmSync(dir, { recursive: true, force: true });
    throw new Error(`${(e as Error).message}\n${c.output()}`);
  }
  return {
    kind, port, addr: `127.0.0.1:${port}`, pid: c.proc.pid!, dir, output: () => c.output(),
    async stop() {
      await c.stop("SIGKILL");
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

const PIKA_VERSION: Record<string, PikaVersion> = { pika34: "3.4", pika35: "3.5", pika40: "4.0" };

/** Pika through test/harness/pika.ts (3.4 in sharding mode, 3.5 and 4.0 classic with slotmigrate). */
async function startPikaBackend(kind: BackendKind, conf?: Record<string, string>, nofile?: number): Promise<Backend> {
  const p = await startPika({ version: PIKA_VERSION[kind]!, conf, nofile });
  const pid = p.pid;
  register(pid, `pika ${p.version}:${p.port}`);
  return {
    kind, port: p.port, addr: p.addr, pid, dir: p.dir, output: () => p.logTail(),
    async stop(keepLogsIn?: string) {
      await p.stop(true);
      unregister(pid);
      // The harness removes Pika's folder; its own log (replication states, full syncs) is the
      // evidence a failed soak needs.
      if (keepLogsIn) cpSync(path.join(p.dir, "log"), path.join(keepLogsIn, `pika-${p.port}-log`), { recursive: true });
      rmSync(p.dir, { recursive: true, force: true });
    },
  };
}

// ----------------------------------------------------------------------------------------------
// Dashboard

export interface DashboardOptions {
  product?: string;
  /** migration_method: "sync" | "semi-async" | "redis" */
  method: string;
  /** migration_parallel_slots (codis default 100) */
  parallelSlots?: number;
  /** Other dashboard.toml keys. */
  config?: Record<string, string | number>;
  /** Folder for the store, config and log (a new temp folder by default). */
  dir?: string;
}

export class Dashboard {
  private child!: Child;
  readonly xauth: string;
  readonly base: string;
  readonly storeDir: string;
  /** Folder of the slot records in the filesystem store (one file per slot). */
  readonly slotsDir: string;
  readonly logFile: string;
  /** How many times it was (re)started. */
  starts = 0;

  private constructor(readonly dir: string, readonly port: number, readonly product: string, readonly configFile: string) {
    this.xauth = xauth(product);
    this.base = `http://127.0.0.1:${port}`;
    this.storeDir = path.join(dir, "store");
    // store/index.ts keeps the filesystem store under <coordinator_addr>/data.
    this.slotsDir = path.join(this.storeDir, "data", "codis3", product, "slots");
    this.logFile = path.join(dir, "dashboard.log");
  }

  get addr(): string {
    return `127.0.0.1:${this.port}`;
  }
  get pid(): number {
    return this.child.proc.pid ?? -1;
  }
  get running(): boolean {
    return this.child.running;
  }

  static async start(opts: DashboardOptions): Promise<Dashboard> {
    const dir = opts.dir ?? mkdtempSync(path.join(tmpdir(), "slotway-cluster-"));
    mkdirSync(dir, { recursive: true });
    const product = opts.product ?? "soak";
    const port = await freePort();
    const keys: Record<string, string | number> = {
      coordinator_name: "filesystem",
      coordinator_addr: path.join(dir, "store"),
      product_name: product,
      admin_addr: `127.0.0.1:${port}`,
      migration_method: opts.method,
      migration_parallel_slots: opts.parallelSlots ?? 100,
      ...opts.config,
    };
    const cfg = path.join(dir, "dashboard.toml");
    writeFileSync(cfg, Object.entries(keys).map(([k, v]) => `${k} = ${JSON.stringify(v)}`).join("\n") + "\n");
    const d = new Dashboard(dir, port, product, cfg);
    await d.launch();
    return d;
  }

  /** Starts the process (again) and waits until it answers with its stats (it holds the lock). */
  async launch(timeoutMs = 30_000): Promise<void> {
    this.starts++;
    appendFileSync(this.logFile, `--- start ${this.starts} at ${new Date().toISOString()}\n`);
    this.child = new Child("dashboard", spawn(process.execPath, [...(process.env.SOAK_DASHBOARD_NODE_ARGS?.split(" ").filter(Boolean) ?? []), CLI_PATH, "dashboard", "--config", this.configFile, "--log-level", process.env.SOAK_DASHBOARD_LOG_LEVEL ?? "WARN"],
      { stdio: ["ignore", "pipe", "pipe"] }), this.logFile);
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (!this.child.running) throw new Error(`dashboard exited:\n${this.child.output()}`);
      try {
        await this.stats(1000);
        return;
      } catch {
        // not up yet
      }
      if (Date.now() > deadline) throw new Error(`dashboard not online in ${timeoutMs} ms:\n${this.child.output()}`);
      await sleep(50);
    }
  }

  /** SIGKILL, synchronously (the soak calls it from a store watcher to land in a given step). */
  killNow(): void {
    if (this.child.running) this.child.proc.kill("SIGKILL");
  }

  /** Waits for the killed process to be gone. */
  async exited(): Promise<void> {
    await this.child.exited;
  }

  async stop(signal: NodeJS.Signals = "SIGTERM"): Promise<void> {
    await this.child.stop(signal, 10_000);
  }

  output(): string {
    return this.child.output();
  }

  get<T = unknown>(p: string, timeoutMs = 10_000): Promise<T> {
    return apiCall<T>("GET", this.base + p.replace("{x}", this.xauth), undefined, timeoutMs);
  }
  put<T = unknown>(p: string, body?: unknown, timeoutMs = 30_000): Promise<T> {
    return apiCall<T>("PUT", this.base + p.replace("{x}", this.xauth), body, timeoutMs);
  }
  stats(timeoutMs = 10_000): Promise<Stats> {
    return this.get<Stats>("/api/topom/stats/{x}", timeoutMs);
  }
}

// ----------------------------------------------------------------------------------------------
// Proxies

export interface ProxyOptions {
  workers?: number;
  /** Extra proxy.toml keys. */
  config?: Record<string, string | number | boolean>;
}

export class ClusterProxy {
  private constructor(
    readonly port: number,
    readonly adminPort: number,
    private readonly child: Child,
    readonly logFile: string,
  ) {}

  get addr(): string {
    return `127.0.0.1:${this.port}`;
  }
  get adminAddr(): string {
    return `127.0.0.1:${this.adminPort}`;
  }
  get pid(): number {
    return this.child.proc.pid ?? -1;
  }
  get running(): boolean {
    return this.child.running;
  }
  output(): string {
    return this.child.output();
  }

  /** Starts `slotway proxy --dashboard` and waits until the dashboard lists it online. */
  static async start(d: Dashboard, name: string, opts: ProxyOptions = {}): Promise<ClusterProxy> {
    const port = await freePort();
    const adminPort = await freePort();
    const keys: Record<string, string | number | boolean> = {
      product_name: d.product,
      proxy_addr: `127.0.0.1:${port}`,
      admin_addr: `127.0.0.1:${adminPort}`,
      proxy_workers: opts.workers ?? 2,
      log_level: "warn",
      ...opts.config,
    };
    const cfg = path.join(d.dir, `${name}.toml`);
    writeFileSync(cfg, Object.entries(keys).map(([k, v]) => `${k} = ${typeof v === "string" ? JSON.stringify(v) : String(v)}`).join("\n") + "\n");
    const logFile = path.join(d.dir, `${name}.log`);
    const child = new Child(name, spawn(process.execPath, [CLI_PATH, "proxy", "--config", cfg, "--dashboard", d.addr],
      { stdio: ["ignore", "pipe", "pipe"] }), logFile);
    const p = new ClusterProxy(port, adminPort, child, logFile);
    try {
      await Promise.race([
        waitForPort(port, "127.0.0.1", 15_000),
        child.exited.then((code) => {
          throw new Error(`${name} exited with ${code}`);
        }),
      ]);
      const deadline = Date.now() + 30_000;
      for (;;) {
        const st = await d.stats().catch(() => undefined);
        const m = st?.proxy.models.find((x) => x.admin_addr === p.adminAddr);
        if (m && st!.proxy.stats[m.token]?.stats?.online) break;
        if (!child.running) throw new Error(`${name} exited`);
        if (Date.now() > deadline) throw new Error(`${name} not online with the dashboard in 30 s`);
        await sleep(100);
      }
    } catch (e) {
      await child.stop("SIGKILL");
      throw new Error(`${(e as Error).message}\n${child.output()}`);
    }
    return p;
  }

  /** The proxy's own view of its slots (admin API), e.g. to count locked slots. */
  async slots(product: string): Promise<{ id: number; locked?: boolean; backend_addr?: string; migrate_from?: string }[]> {
    const base = `http://${this.adminAddr}/api/proxy`;
    const model = await apiCall<{ token: string }>("GET", `${base}/model`, undefined, 5000);
    return apiCall("GET", `${base}/slots/${xauth(product, "", model.token)}`, undefined, 5000);
  }

  async stop(signal: NodeJS.Signals = "SIGTERM"): Promise<void> {
    await this.child.stop(signal);
  }
}

// ----------------------------------------------------------------------------------------------
// The cluster

export interface ClusterOptions {
  backend: BackendKind;
  /** migration_method of the dashboard. */
  method: string;
  groups?: number;
  proxies?: number;
  proxyWorkers?: number;
  parallelSlots?: number;
  dashboardConfig?: Record<string, string | number>;
  proxyConfig?: Record<string, string | number | boolean>;
  /** Extra pika.conf keys for Pika backends. */
  backendConf?: Record<string, string>;
  /** `ulimit -n` of each Pika server (test/harness/pika.ts DEFAULT_NOFILE if absent). */
  backendNofile?: number;
  /** Slot assignment: group id per slot, default every slot to group 1. */
  assign?: (slot: number) => number;
}

export class Cluster {
  private constructor(
    readonly opts: ClusterOptions,
    readonly backends: Backend[],
    readonly dashboard: Dashboard,
    readonly proxies: ClusterProxy[],
  ) {}

  /** Starts the servers, dashboard and proxies; creates groups g1..gN (one server each) and assigns the slots. */
  static async start(opts: ClusterOptions): Promise<Cluster> {
    const nGroups = opts.groups ?? 2;
    const backends: Backend[] = [];
    let d: Dashboard | undefined;
    const proxies: ClusterProxy[] = [];
    try {
      for (let i = 0; i < nGroups; i++) backends.push(await startBackend(opts.backend, opts.backendConf, opts.backendNofile));
      d = await Dashboard.start({ method: opts.method, parallelSlots: opts.parallelSlots, config: opts.dashboardConfig });
      for (let g = 1; g <= nGroups; g++) {
        await d.put(`/api/topom/group/create/{x}/${g}`);
        await d.put(`/api/topom/group/add/{x}/${g}/${backends[g - 1]!.addr}`);
      }
      const assign = opts.assign ?? (() => 1);
      const slots = Array.from({ length: 1024 }, (_, i) => ({ id: i, group_id: assign(i), action: {} })).filter((m) => m.group_id !== 0);
      // A Pika 3.4 server adds a slot in 0.15-0.5 s (pkcluster addslots), so hundreds take minutes.
      await d.put("/api/topom/slots/assign/{x}", slots, opts.backend === "pika34" ? 30 * 60_000 : 30_000);
      for (let i = 0; i < (opts.proxies ?? 2); i++) {
        proxies.push(await ClusterProxy.start(d, `proxy-${i + 1}`, { workers: opts.proxyWorkers, config: opts.proxyConfig }));
      }
      return new Cluster(opts, backends, d, proxies);
    } catch (e) {
      await Promise.allSettled([...proxies.map((p) => p.stop("SIGKILL")), d?.stop("SIGKILL"), ...backends.map((b) => b.stop())]);
      if (d) rmSync(d.dir, { recursive: true, force: true });
      throw e;
    }
  }

  /** Master address of group gid (1-based). */
  groupAddr(gid: number): string {
    return this.backends[gid - 1]!.addr;
  }

  /** Stops everything and removes the temp folders (keepDir: leave the dashboard folder with the logs). */
  async stop(keepDir = false): Promise<void> {
    await Promise.allSettled(this.proxies.map((p) => p.stop("SIGKILL")));
    await this.dashboard.stop(process.env.SOAK_DASHBOARD_NODE_ARGS ? "SIGTERM" : "SIGKILL").catch(() => undefined);
    await Promise.allSettled(this.backends.map((b) => b.stop(keepDir ? this.dashboard.dir : undefined)));
    if (!keepDir) rmSync(this.dashboard.dir, { recursive: true, force: true });
  }
}
