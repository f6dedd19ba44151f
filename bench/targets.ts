// Starting and stopping what the bench measures: two redis-server backends, slotway, and the
// peers (twemproxy, codis-proxy, predixy), each on free loopback ports with a config written here.
//
// Every child is registered in Procs, which stops them all in the runner's `finally`, on
// SIGINT/SIGTERM, and (SIGKILL, synchronously) on any process exit, so a failed run leaves no
// orphans. Every wait has a deadline.
import { spawn, spawnSync, execFileSync, type ChildProcess } from "node:child_process";
import { accessSync, constants, readFileSync, readdirSync, writeFileSync } from "node:fs";
import net from "node:net";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { apiCall } from "../src/control/http.js";
import { xauth } from "../src/control/xauth.js";
import { encodeCommand, keyName } from "./loadgen.js";
import { ReplyCounter } from "./reply-counter.js";
import { procStatTicks } from "./report.js";

const HOST = "127.0.0.1";
const STDERR_TAIL = 8 * 1024;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** A child process with the tail of its output kept for error reports. */
export class Proc {
  private tail = "";
  private gone = false;
  /** Resolves when the process has exited or could not be started. */
  readonly done: Promise<void>;
  constructor(readonly name: string, readonly child: ChildProcess) {
    const keep = (d: Buffer | string): void => {
      this.tail = (this.tail + d.toString()).slice(-STDERR_TAIL);
    };
    child.stdout?.on("data", keep);
    child.stderr?.on("data", keep);
    this.done = new Promise<void>((resolve) => {
      child.once("exit", () => {
        this.gone = true;
        resolve();
      });
      // A spawn failure (ENOENT, EACCES) comes as 'error', possibly without 'exit'.
      child.once("error", (e) => {
        keep(`cannot run ${name}: ${e.message}\n`);
        if (child.pid === undefined) {
          this.gone = true;
          resolve();
        }
      });
    });
  }
  get pid(): number {
    return this.child.pid ?? -1;
  }
  get exited(): boolean {
    return this.gone;
  }
  /** The last few KB of stdout+stderr. */
  output(): string {
    return this.tail.trim();
  }
  /** SIGTERM, then SIGKILL after graceMs; resolves when the process is gone. */
  async stop(graceMs = 3000): Promise<void> {
    if (this.gone) return;
    this.child.kill("SIGTERM");
    const timer = setTimeout(() => this.child.kill("SIGKILL"), graceMs);
    await this.done;
    clearTimeout(timer);
  }
}

/** Every child process of the bench, so that all of them are stopped whatever happens. */
export class Procs {
  private readonly all = new Set<Proc>();
  constructor() {
    // Last resort: 'exit' handlers run synchronously, and kill() is synchronous.
    process.on("exit", () => {
      for (const p of this.all) if (!p.exited) p.child.kill("SIGKILL");
    });
  }

  /** Spawns cmd (under `taskset -c cpus` when cpus is given). */
  spawn(name: string, cmd: string, args: string[], cpus?: string, env?: Record<string, string>): Proc {
    const [file, argv] = cpus ? ["taskset", ["-c", cpus, cmd, ...args]] : [cmd, args];
    const p = new Proc(name, spawn(file, argv, { stdio: ["ignore", "pipe", "pipe"], ...(env ? { env: { ...process.env, ...env } } : {}) }));
    this.all.add(p);
    void p.done.then(() => this.all.delete(p));
    return p;
  }

  /** Runs a command to completion (bounded by timeoutMs, then SIGKILL) and returns its output. */
  async run(name: string, cmd: string, args: string[], timeoutMs: number, cpus?: string): Promise<{ code: number | null; out: string; ms: number }> {
    const t0 = Date.now();
    const p = this.spawn(name, cmd, args, cpus);
    let out = "";
    p.child.stdout?.on("data", (d: Buffer) => (out += d.toString()));
    p.child.stderr?.on("data", (d: Buffer) => (out += d.toString()));
    const timer = setTimeout(() => p.child.kill("SIGKILL"), timeoutMs);
    await p.done;
    clearTimeout(timer);
    return { code: p.child.exitCode, out: out || p.output(), ms: Date.now() - t0 };
  }

  async stopAll(): Promise<void> {
    await Promise.all([...this.all].map((p) => p.stop()));
  }
}

/** A free loopback port right now (the OS picks it; a race with other processes is retried by callers). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.on("error", reject);
    srv.listen({ port: 0, host: HOST }, () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
  });
}

/** Sends raw RESP and resolves with the raw reply once `replies` replies are in. */
export function rawRequest(port: number, payload: Buffer, replies: number, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ port, host: HOST });
    const counter = new ReplyCounter();
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => {
      s.destroy();
      reject(new Error(`no reply from ${HOST}:${port} within ${timeoutMs} ms`));
    }, timeoutMs);
    s.on("error", (e) => {
      clearTimeout(timer);
      reject(e);
    });
    s.on("connect", () => s.write(payload));
    s.on("data", (d: Buffer) => {
      chunks.push(d);
      try {
        counter.feed(d);
      } catch (e) {
        clearTimeout(timer);
        s.destroy();
        reject(e as Error);
        return;
      }
      if (counter.replies >= replies) {
        clearTimeout(timer);
        s.destroy();
        const text = Buffer.concat(chunks).toString("latin1");
        if (counter.errors) reject(new Error(`error reply from ${HOST}:${port}: ${counter.firstError}`));
        else resolve(text);
      }
    });
  });
}

/** Waits until PING on port answers +PONG; fails early if the process exits. */
export async function waitForPong(proc: Proc, port: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = "";
  for (;;) {
    if (proc.exited) throw new Error(`${proc.name} exited (code ${proc.child.exitCode ?? proc.child.signalCode}) before answering PING`);
    try {
      const r = await rawRequest(port, encodeCommand(["PING"]), 1, 1000);
      if (r.startsWith("+PONG")) return;
      last = r.trim();
    } catch (e) {
      last = (e as Error).message;
    }
    if (Date.now() > deadline) throw new Error(`${proc.name} did not answer PING on ${HOST}:${port} within ${timeoutMs} ms (last: ${last})`);
    await sleep(100);
  }
}

/** The path of an executable named `name` on PATH, if any. */
export function findOnPath(name: string): string | undefined {
  for (const dir of (process.env.PATH ?? "").split(path.delimiter)) {
    if (!dir) continue;
    const file = path.join(dir, name);
    try {
      accessSync(file, constants.X_OK);
      return file;
    } catch {
      // not in this directory
    }
  }
  return undefined;
}

/** CPU ticks (utime+stime, all threads) of pid and of its live descendants; NaN once it is gone. */
export function cpuTicks(pid: number): number {
  let total = 0;
  const visit = (p: number, depth: number): void => {
    total += procStatTicks(readFileSync(`/proc/${p}/stat`, "latin1"));
    if (depth > 4) return;
    // A proxy that forks helpers is charged for them too (needs CONFIG_PROC_CHILDREN).
    for (const tid of readdirSync(`/proc/${p}/task`)) {
      let kids = "";
      try {
        kids = readFileSync(`/proc/${p}/task/${tid}/children`, "latin1");
      } catch {
        continue; // thread ended, or the kernel lacks the file
      }
      for (const k of kids.split(" ")) if (k.trim()) visit(Number(k), depth + 1);
    }
  };
  try {
    visit(pid, 0);
    return total;
  } catch {
    return NaN;
  }
}

/** This process's CPU ticks, all threads, plus children it has reaped (redis-benchmark runs). */
export function selfTicks(): number {
  return procStatTicks(readFileSync("/proc/self/stat", "latin1"), true);
}

/** Clock ticks per second for /proc/<pid>/stat (USER_HZ). */
export function clockTicks(): number {
  try {
    const v = Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8", timeout: 5000 }).trim());
    return v > 0 ? v : 100;
  } catch {
    return 100;
  }
}

export interface Endpoint {
  port: number;
  proc: Proc;
}

/** A running target: where to send load and which process to charge CPU to. */
export interface Target {
  name: string;
  port: number;
  proc: Proc;
  /** One line for the report header: version, settings. */
  note: string;
  /** Worker threads the proxy reports running, where it says. */
  workers?: number | undefined;
}

// Starts a server on a fresh port, retrying a few times: another process may take the port
// between freePort() and the server's bind.
async function onFreePort<T>(what: string, start: (port: number) => Promise<T>): Promise<T> {
  let last: unknown;
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      return await start(await freePort());
    } catch (e) {
      last = e;
    }
  }
  throw new Error(`${what}: ${(last as Error).message}`);
}

async function started(proc: Proc, port: number, timeoutMs: number): Promise<void> {
  try {
    await waitForPong(proc, port, timeoutMs);
  } catch (e) {
    await proc.stop(1000);
    const out = proc.output();
    throw new Error(`${(e as Error).message}${out ? `\n--- ${proc.name} output ---\n${out}` : ""}`);
  }
}

/** A redis-server backend without persistence. */
export function startRedis(procs: Procs, dir: string, name: string, cpus?: string): Promise<Endpoint> {
  return onFreePort(name, async (port) => {
    const proc = procs.spawn(name, "redis-server", ["--port", String(port), "--bind", HOST, "--save", "", "--appendonly", "no",
      "--dir", dir, "--daemonize", "no", "--protected-mode", "no", "--loglevel", "warning"], cpus);
    await started(proc, port, 10_000);
    return { port, proc };
  });
}

/** Writes every key of the key space on one backend, pipelined. */
export async function prefill(port: number, keys: number, valueSize: number): Promise<void> {
  const value = Buffer.alloc(valueSize, "x");
  const step = 2000;
  for (let i = 0; i < keys; i += step) {
    const n = Math.min(step, keys - i);
    const cmds = Array.from({ length: n }, (_, j) => encodeCommand(["SET", keyName(i + j), value]));
    await rawRequest(port, Buffer.concat(cmds), n, 10_000);
  }
}

/** How bench/profile.ts runs slotway: under a wrapper (strace, valgrind) and with node flags. */
export interface Launch {
  wrap?: string[];
  nodeArgs?: string[];
  /** Extra proxy.toml lines. */
  config?: string[];
  /** Extra environment variables. */
  env?: Record<string, string>;
  /** Target name (default "slotway"). */
  name?: string;
  /** Another build's dist/src/cli.js (a before/after comparison in one run). */
  cli?: string;
}

/** slotway with two standalone groups splitting the 1024 slots at 512. */
export function startSlotway(procs: Procs, dir: string, backends: Endpoint[], workers: number | undefined, cpus?: string, launch: Launch = {}): Promise<Target> {
  const cli = launch.cli ?? fileURLToPath(new URL("../src/cli.js", import.meta.url));
  return onFreePort("slotway", async (port) => {
    const admin = await freePort();
    const file = path.join(dir, "slotway.toml");
    writeFileSync(file, [
      `product_name = "bench"`,
      `proxy_addr = "${HOST}:${port}"`,
      `admin_addr = "${HOST}:${admin}"`,
      ...(launch.config ?? []), // top-level keys: before the first table
      ...backends.flatMap((b, i) => ["", "[[group]]", `id = ${i + 1}`, `servers = ["${HOST}:${b.port}"]`,
        `slots = "${(i * 1024) / backends.length}-${((i + 1) * 1024) / backends.length - 1}"`]),
      "",
    ].join("\n"));
    const args = [cli, "proxy", "--config", file, ...(workers !== undefined ? ["--workers", String(workers)] : [])];
    const wrap = launch.wrap ?? [];
    const [cmd, argv] = wrap.length > 0
      ? [wrap[0]!, [...wrap.slice(1), process.execPath, ...(launch.nodeArgs ?? []), ...args]]
      : [process.execPath, [...(launch.nodeArgs ?? []), ...args]];
    const name = launch.name ?? "slotway";
    const proc = procs.spawn(name, cmd, argv, cpus, launch.env);
    await started(proc, port, wrap.length > 0 ? 300_000 : 20_000);
    // Report the worker count slotway says it runs, not the one we assume it defaults to.
    const stats = await apiCall<{ slotway?: { workers?: number } }>("GET", `http://${HOST}:${admin}/proxy/stats`, undefined, 5000)
      .catch(() => undefined);
    const reported = stats?.slotway?.workers;
    const env = Object.entries(launch.env ?? {}).map(([k, v]) => `${k}=${v} `).join("");
    return {
      name, port, proc, workers: reported,
      note: `\`${env}node ${launch.cli ?? "dist/src/cli.js"} ${args.slice(1).join(" ").replace(dir, "<tmp>")}\`, groups split at slot 512` +
        (reported === undefined ? "; worker count not reported by /proxy/stats" : `; ${reported} workers (from /proxy/stats)`),
    };
  });
}

/**
 * bench/floor-proxy.ts: the least a Node pass-through does (one thread, one backend connection,
 * one write per socket per turn), in front of the first backend. args: its switches (--thread...).
 */
export function startNodeFloor(procs: Procs, backends: Endpoint[], cpus?: string, args: string[] = [], launch: Launch = {}): Promise<Target> {
  const script = fileURLToPath(new URL("./floor-proxy.js", import.meta.url));
  return onFreePort("node-floor", async (port) => {
    const all = [script, "--listen", `${HOST}:${port}`, "--backend", `${HOST}:${backends[0]!.port}`, ...args];
    const wrap = launch.wrap ?? [];
    const [cmd, argv] = wrap.length > 0
      ? [wrap[0]!, [...wrap.slice(1), process.execPath, ...(launch.nodeArgs ?? []), ...all]]
      : [process.execPath, [...(launch.nodeArgs ?? []), ...all]];
    const name = launch.name ?? "node-floor";
    const proc = procs.spawn(name, cmd, argv, cpus);
    await started(proc, port, wrap.length > 0 ? 300_000 : 20_000);
    return { name, port, proc, note: `\`node dist/bench/floor-proxy.js ${all.slice(1).join(" ").replace(/127\.0\.0\.1:\d+/g, "<port>")}\`: one thread, one backend connection, no routing` };
  });
}

/** twemproxy (nutcracker): ketama over fnv1a_64, no auto-eject, one connection per backend. */
export function startTwemproxy(procs: Procs, dir: string, backends: Endpoint[], bin: string, cpus?: string): Promise<Target> {
  return onFreePort("twemproxy", async (port) => {
    const stats = await freePort();
    const file = path.join(dir, "nutcracker.yml");
    writeFileSync(file, [
      "bench:",
      `  listen: ${HOST}:${port}`,
      "  hash: fnv1a_64",
      "  distribution: ketama",
      "  redis: true",
      "  auto_eject_hosts: false",
      "  preconnect: true",
      "  server_connections: 1",
      "  servers:",
      ...backends.map((b, i) => `    - ${HOST}:${b.port}:1 b${i + 1}`),
      "",
    ].join("\n"));
    const proc = procs.spawn("twemproxy", bin, ["-c", file, "-s", String(stats), "-a", HOST, "-o", path.join(dir, "nutcracker.log")], cpus);
    await started(proc, port, 10_000);
    // nutcracker prints its version on stderr.
    const v = spawnSync(bin, ["--version"], { encoding: "utf8", timeout: 5000 });
    const version = `${v.stdout ?? ""}${v.stderr ?? ""}`.split("\n")[0]!.trim() || "nutcracker, version unknown";
    return { name: "twemproxy", port, proc, note: `${version}; ketama/fnv1a_64, redis: true, auto_eject_hosts: false, server_connections: 1` };
  });
}

/**
 * codis-proxy, brought online the way codis-dashboard does it: read the token from
 * /api/proxy/model, then fillslots (all 1024, split at 512) and start with the proxy's xauth.
 */
export function startCodisProxy(procs: Procs, dir: string, backends: Endpoint[], bin: string, cpus?: string): Promise<Target> {
  return onFreePort("codis-proxy", async (port) => {
    const admin = await freePort();
    const product = "bench";
    const file = path.join(dir, "proxy.toml");
    writeFileSync(file, [
      `product_name = "${product}"`,
      `product_auth = ""`,
      `session_auth = ""`,
      `admin_addr = "${HOST}:${admin}"`,
      `proto_type = "tcp4"`,
      `proxy_addr = "${HOST}:${port}"`,
      `jodis_name = ""`,
      `jodis_addr = ""`,
      "",
    ].join("\n"));
    const proc = procs.spawn("codis-proxy", bin, [`--config=${file}`, `--log=${path.join(dir, "codis-proxy.log")}`, "--log-level=WARN"], cpus);
    const base = `http://${HOST}:${admin}/api/proxy`;
    try {
      let model: { token?: string } | undefined;
      const deadline = Date.now() + 15_000;
      while (!model) {
        if (proc.exited) throw new Error("codis-proxy exited during start-up");
        model = await apiCall<{ token?: string }>("GET", `${base}/model`, undefined, 1000).catch(() => undefined);
        if (!model) {
          if (Date.now() > deadline) throw new Error(`codis-proxy admin API on ${HOST}:${admin} not up within 15 s`);
          await sleep(100);
        }
      }
      if (!model.token) throw new Error("codis-proxy model has no token");
      const auth = xauth(product, "", model.token);
      const half = 1024 / backends.length;
      const slots = Array.from({ length: 1024 }, (_, id) => {
        const g = Math.floor(id / half);
        return { id, backend_addr: `${HOST}:${backends[g]!.port}`, backend_addr_group_id: g + 1 };
      });
      await apiCall("PUT", `${base}/fillslots/${auth}`, slots, 10_000);
      await apiCall("PUT", `${base}/start/${auth}`, undefined, 10_000);
    } catch (e) {
      await proc.stop(1000);
      throw new Error(`${(e as Error).message}${proc.output() ? `\n--- codis-proxy output ---\n${proc.output()}` : ""}`);
    }
    await started(proc, port, 10_000);
    return { name: "codis-proxy", port, proc, note: `${bin}, slots filled through the admin API, split at 512` };
  });
}

/** predixy with a standalone pool of two fixed groups (crc16, modula). */
export function startPredixy(procs: Procs, dir: string, backends: Endpoint[], bin: string, workers: number, cpus?: string): Promise<Target> {
  return onFreePort("predixy", async (port) => {
    const file = path.join(dir, "predixy.conf");
    writeFileSync(file, [
      "Name bench",
      `Bind ${HOST}:${port}`,
      `WorkerThreads ${workers}`,
      "ClientTimeout 0",
      `Log ${path.join(dir, "predixy.log")}`,
      "LogVerbSample 0",
      "LogDebugSample 0",
      "LogInfoSample 0",
      "LogNoticeSample 1",
      "LogWarnSample 1",
      "LogErrorSample 1",
      "Authority {",
      "    Auth {",
      "        Mode write",
      "    }",
      "}",
      "StandaloneServerPool {",
      "    Hash crc16",
      `    HashTag "{}"`,
      "    Distribution modula",
      "    MasterReadPriority 100",
      "    RefreshMethod fixed",
      "    ServerFailureLimit 10",
      ...backends.flatMap((b, i) => [`    Group g${i + 1} {`, `        + ${HOST}:${b.port}`, "    }"]),
      "}",
      "",
    ].join("\n"));
    const proc = procs.spawn("predixy", bin, [file], cpus);
    await started(proc, port, 10_000);
    return { name: "predixy", port, proc, note: `${bin}, WorkerThreads ${workers}, standalone pool crc16/modula` };
  });
}
