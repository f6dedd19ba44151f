// Starts real Pika servers (../shared/peers/bin/pika-{3.4,3.5,4.0}) on loopback for tests.
//
//   const p = await startPika({ version: "3.4" })          // 3.4 → sharding, 3.5/4.0 → classic
//   await p.call("pkcluster", "addslots", "0-15")          // parsed reply (RedisClient rules)
//   p.addr / p.port / p.pid / p.dir
//   await p.stop(); await p.restart(); await stopAllPika()
//
// Ports: Pika listens on PORT (clients), PORT+1000 (its rsync daemon: 3.4 always, 3.5 after a
// full sync), PORT+2000 (replication) and, for 4.0, PORT+10001. PORT is chosen below the
// kernel's ephemeral range (32768+) with PORT+10001 too, so outgoing connections of other
// processes cannot take them, and all four are checked free (on 0.0.0.0: the rsync daemon
// and the replication port bind all interfaces whatever pika.conf says).
//
// Stopping: Pika's rsync daemon (`rsync --daemon --config=<dir>/...`) is a detached child that
// outlives Pika; it is found by its pid file and by its command line naming this server's own
// dir, and killed by PID (never by name: other helpers run Pika too).
//
// Missing binary or runtime libraries fail loudly (a test must not pass without them): the
// error gives the apt-get line of ../shared/peers/README.md.
import { spawn, execFileSync, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { RedisClient } from "../../src/control/redis-client.js";

export type PikaVersion = "3.4" | "3.5" | "4.0";
export type PikaMode = "sharding" | "classic";

/**
 * Descriptors of a test Pika: maxclients (1000 here) + Pika's reserve of 5000, and room for
 * Pika 3.4's ~26-35 per slot up to the dashboard's default pika_max_slots_per_server (160).
 */
export const DEFAULT_NOFILE = 12_000;

// ../shared beside the repo root, from test/harness or, compiled for `npm run soak`, from dist/test/harness.
const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(HERE, path.basename(path.resolve(HERE, "../..")) === "dist" ? "../../.." : "../..");
export const PEERS = path.join(ROOT, "..", "shared", "peers") + path.sep;
const APT_LINE = "apt-get install -y --no-install-recommends libgoogle-glog0v6 libgflags2.2 libprotobuf32 "
  + "libsnappy1v5 libzstd1 liblz4-1 libbz2-1.0 zlib1g libunwind8 librocksdb7.8 libfmt9 rsync";

export interface PikaOptions {
  version: PikaVersion;
  /** Default: sharding for 3.4, classic for 3.5 and 4.0 (classic turns on slotmigrate). */
  mode?: PikaMode;
  /** Extra pika.conf keys (override the defaults below). */
  conf?: Record<string, string>;
  /**
   * `ulimit -n` for the process (Pika refuses to start below maxclients + 5000), default
   * DEFAULT_NOFILE: set here, for the Pika process alone, so that no test depends on the limit
   * of the shell that runs it (CI runs as root, which may raise it).
   */
  nofile?: number;
  /** requirepass (the harness AUTHs with it). */
  password?: string;
}

export interface PikaServer {
  readonly version: PikaVersion;
  readonly mode: PikaMode;
  readonly port: number;
  /** "127.0.0.1:<port>" */
  readonly addr: string;
  readonly dir: string;
  /** PID of the running pika process (0 when stopped). */
  readonly pid: number;
  /** One command on a fresh connection; the reply parsed (bulk → string); rejects on -ERR. */
  call(...args: (string | number)[]): Promise<unknown>;
  /**
   * Stops Pika and its rsync daemon: SIGTERM, then SIGKILL after 1 s (Pika takes 2-13 s to exit
   * on SIGTERM; its data survives SIGKILL, RocksDB's WAL is on), or SIGKILL at once when kill.
   */
  stop(kill?: boolean): Promise<void>;
  /** Starts it again on the same ports with the same data (after stop). */
  restart(): Promise<void>;
  /** The tail of Pika's own logs (for failure messages). */
  logTail(lines?: number): string;
}

const servers = new Set<PikaServer>();
const checkedBinaries = new Map<PikaVersion, string>();

/** The binary of a version, after checking it and its libraries are there (throws otherwise). */
export function pikaBinary(version: PikaVersion): string {
  const known = checkedBinaries.get(version);
  if (known) return known;
  const bin = path.join(PEERS, "bin", `pika-${version}`);
  if (!existsSync(bin)) throw new Error(`Pika ${version} binary not found at ${bin} (../shared/peers is required)`);
  let ldd: string;
  try {
    ldd = execFileSync("ldd", [bin], { encoding: "utf8" });
  } catch (e) {
    throw new Error(`ldd ${bin} failed (${String(e)}): Pika's runtime libraries are needed: ${APT_LINE}`);
  }
  const missing = ldd.split("\n").filter((l) => /not found/.test(l)).map((l) => l.trim().split(" ")[0]);
  if (missing.length) throw new Error(`Pika ${version}: missing libraries ${missing.join(", ")}; install them with: ${APT_LINE}`);
  try {
    execFileSync("rsync", ["--version"], { stdio: "ignore" });
  } catch {
    throw new Error(`rsync not found: Pika 3.4/3.5 run it for a full sync; install it with: ${APT_LINE}`);
  }
  checkedBinaries.set(version, bin);
  return bin;
}

/** Writes DIR/pika.conf from the version's template (same keys as ../shared/peers/pika/start-pika.sh). */
function writeConf(version: PikaVersion, mode: PikaMode, port: number, dir: string, opts: PikaOptions): string {
  let text = readFileSync(path.join(PEERS, "pika", `pika-${version}.conf.template`), "utf8");
  const set = (k: string, v: string): void => {
    const re = new RegExp(`^#?\\s*${k.replace(/[-]/g, "\\-")}\\s*:.*$`, "m");
    text = re.test(text) ? text.replace(re, `${k} : ${v}`) : `${text}\n${k} : ${v}\n`;
  };
  const kv: Record<string, string> = {
    port: String(port), "thread-num": "1", "thread-pool-size": "2", "sync-thread-num": "1",
    "log-path": `${dir}/log/`, "db-path": `${dir}/db/`, "dump-path": `${dir}/dump/`,
    "db-sync-path": `${dir}/dbsync/`, pidfile: `${dir}/pika.pid`, "instance-mode": mode,
    "default-slot-num": "1024", "network-interface": "lo", daemonize: "no", maxclients: "1000",
    "write-buffer-size": "8388608", "max-write-buffer-size": "268435456",
    ...(mode === "classic" ? { slotmigrate: "yes" } : {}),
    ...(opts.password ? { requirepass: opts.password } : {}),
    ...opts.conf,
  };
  for (const [k, v] of Object.entries(kv)) set(k, v);
  const file = path.join(dir, "pika.conf");
  writeFileSync(file, text);
  return file;
}

function portFree(port: number, host: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.unref();
    s.once("error", () => resolve(false));
    s.listen({ port, host, exclusive: true }, () => s.close(() => resolve(true)));
  });
}

/** A PORT with PORT, +1000, +2000 and +10001 free, all below the ephemeral range. */
async function pickPorts(): Promise<number> {
  for (let i = 0; i < 200; i++) {
    const port = 10000 + Math.floor(Math.random() * 12000); // +10001 stays ≤ 32000
    let ok = true;
    for (const p of [port, port + 1000, port + 2000, port + 10001]) {
      if (!(await portFree(p, "0.0.0.0")) || !(await portFree(p, "127.0.0.1"))) {
        ok = false;
        break;
      }
    }
    if (ok) return port;
  }
  throw new Error("no free port set for Pika (PORT, +1000, +2000, +10001)");
}

/** PIDs of rsync daemons Pika started for this dir (by pid file and by command line). */
function rsyncPids(dir: string): number[] {
  const pids = new Set<number>();
  const walk = (d: string, depth: number): void => {
    if (depth > 4 || !existsSync(d)) return;
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p, depth + 1);
      else if (/rsync.*\.pid$/.test(e.name)) {
        const n = Number(readFileSync(p, "utf8").trim());
        if (Number.isInteger(n) && n > 1) pids.add(n);
      }
    }
  };
  walk(path.join(dir, "dbsync"), 0);
  const needle = `--config=${dir}/`;
  for (const e of readdirSync("/proc")) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const cmd = readFileSync(`/proc/${e}/cmdline`, "utf8");
      if (cmd.startsWith("rsync\0") && cmd.includes(needle)) pids.add(Number(e));
    } catch {
      // gone meanwhile
    }
  }
  // Only processes that are rsync and name our dir: a stale pid file may point elsewhere.
  return [...pids].filter((pid) => {
    try {
      const cmd = readFileSync(`/proc/${pid}/cmdline`, "utf8");
      return cmd.startsWith("rsync\0") && cmd.includes(dir);
    } catch {
      return false;
    }
  });
}

async function waitGone(pid: number, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (!existsSync(`/proc/${pid}`)) return true;
    const st = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]?.[0];
    if (st === "Z") return true;
    await new Promise((r) => setTimeout(r, 20));
  }
  return !existsSync(`/proc/${pid}`);
}

/** Starts a Pika server and waits until it answers PING. */
export async function startPika(opts: PikaOptions): Promise<PikaServer> {
  const version = opts.version;
  const mode: PikaMode = opts.mode ?? (version === "3.4" ? "sharding" : "classic");
  const bin = pikaBinary(version);
  const dir = mkdtempSync(path.join(tmpdir(), `slotway-pika${version}-`));
  let port = 0;
  let child: ChildProcess | undefined;
  let conf = "";

  const logTail = (lines = 20): string => {
    const out: string[] = [];
    for (const f of ["stdout.log", "log/pika.WARNING", "log/pika.ERROR"]) {
      const p = path.join(dir, f);
      if (existsSync(p)) out.push(`--- ${f}\n${readFileSync(p, "utf8").split("\n").slice(-lines).join("\n")}`);
    }
    return out.join("\n");
  };

  const launch = async (): Promise<void> => {
    const out = path.join(dir, "stdout.log");
    writeFileSync(out, "");
    const n = opts.nofile ?? DEFAULT_NOFILE;
    const script = `exec >>"$2" 2>&1; ulimit -n ${n} || { echo "harness: cannot set ulimit -n ${n} for Pika (hard limit $(ulimit -Hn))"; exit 1; }; exec "$0" -c "$1"`;
    const c = spawn("/bin/sh", ["-c", script, bin, conf, out], { cwd: dir, stdio: "ignore" });
    child = c;
    const deadline = Date.now() + 20_000;
    for (;;) {
      if (c.exitCode !== null || c.signalCode !== null) throw new Error(`pika-${version} on ${port} exited at start:\n${logTail()}`);
      const ok = await callOnce(port, opts.password, ["PING"], 500).then((r) => r === "PONG", () => false);
      if (ok) return;
      if (Date.now() > deadline) {
        c.kill("SIGKILL");
        throw new Error(`pika-${version} on ${port} did not answer PING within 20 s:\n${logTail()}`);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  };

  const kill = async (hard: boolean): Promise<void> => {
    const c = child;
    if (c && c.exitCode === null && c.signalCode === null) {
      const exited = new Promise<void>((r) => c.once("exit", () => r()));
      c.kill(hard ? "SIGKILL" : "SIGTERM");
      const t = setTimeout(() => c.kill("SIGKILL"), 1000);
      await exited;
      clearTimeout(t);
    }
    for (const pid of rsyncPids(dir)) {
      try {
        process.kill(pid, "SIGKILL");
      } catch {
        // already gone
      }
      await waitGone(pid, 2000);
    }
  };

  for (let attempt = 0; ; attempt++) {
    port = await pickPorts();
    conf = writeConf(version, mode, port, dir, opts);
    try {
      await launch();
      break;
    } catch (e) {
      await kill(true);
      // A port taken between the check and Pika's bind: try another set; anything else is real.
      if (attempt >= 4 || !/bind|conflict|in use/i.test(String(e))) {
        rmSync(dir, { recursive: true, force: true });
        throw e;
      }
      rmSync(path.join(dir, "db"), { recursive: true, force: true });
    }
  }

  const server: PikaServer = {
    version, mode, port, dir,
    addr: `127.0.0.1:${port}`,
    get pid() {
      return child && child.exitCode === null && child.signalCode === null ? child.pid ?? 0 : 0;
    },
    call: (...args) => callOnce(port, opts.password, args, 30_000),
    stop: (hard = false) => kill(hard),
    async restart() {
      await kill(false);
      await launch();
    },
    logTail,
  };
  servers.add(server);
  return server;
}

/** Stops every Pika this process started and removes their dirs (for afterAll hooks). */
export async function stopAllPika(): Promise<void> {
  const all = [...servers];
  servers.clear();
  await Promise.all(all.map(async (s) => {
    await s.stop(true);
    rmSync(s.dir, { recursive: true, force: true });
  }));
}

async function callOnce(port: number, password: string | undefined, args: (string | number)[], timeoutMs: number): Promise<unknown> {
  const c = await RedisClient.connect(`127.0.0.1:${port}`, { password, timeoutMs });
  try {
    return await c.call(...args);
  } finally {
    c.close();
  }
}
