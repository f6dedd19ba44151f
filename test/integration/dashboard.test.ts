// The dashboard and the proxy together, as processes of the built CLI (`npm run build` first):
// `slotway dashboard` on a filesystem store, `slotway proxy --dashboard`, real redis-server groups.
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { Redis } from "ioredis";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { apiCall, RemoteError } from "../../src/control/http.js";
import type { Overview, SlotJson, Stats } from "../../src/control/models.js";
import { slotOfKey } from "../../src/core/slot.js";
import { xauth } from "../../src/control/xauth.js";
import { freePort } from "../harness/ports.js";
import { startRedis, stopAllRedis, type RedisServer } from "../harness/redis.js";
import { CLI, startSlotway, stopAllSlotway, type Slotway } from "../harness/slotway.js";
import { until as waitUntil } from "../harness/wait.js";

const PRODUCT = "test"; // the product test/harness/slotway.ts writes into proxy.toml
const X = xauth(PRODUCT);

const until = <T>(what: string, fn: () => T | Promise<T>, timeoutMs = 20_000): Promise<NonNullable<T>> =>
  waitUntil(what, fn, timeoutMs, 50);

// --------------------------------------------------------------------------------------------

interface DashProc {
  addr: string;
  dir: string;
  proc: ChildProcess;
  output(): string;
  get<T = unknown>(p: string): Promise<T>;
  put<T = unknown>(p: string, body?: unknown): Promise<T>;
  stats(): Promise<Stats>;
  stop(signal?: NodeJS.Signals): Promise<void>;
}
const dashes = new Set<DashProc>();

/** Starts `slotway dashboard` on dir/store; resolves once it holds the lock and answers /topom. */
async function startDashboard(dir?: string, port?: number): Promise<DashProc> {
  const d = dir ?? mkdtempSync(path.join(tmpdir(), "slotway-dash-"));
  const p = port ?? (await freePort());
  const cfg = path.join(d, "dashboard.toml");
  writeFileSync(cfg, [
    `coordinator_name = "filesystem"`, `coordinator_addr = ${JSON.stringify(path.join(d, "store"))}`,
    `product_name = "${PRODUCT}"`, `admin_addr = "127.0.0.1:${p}"`, `migration_method = "semi-async"`,
    `migration_parallel_slots = 8`, "",
  ].join("\n"));
  const proc = spawn(process.execPath, [CLI, "dashboard", "--config", cfg, "--log-level", "WARN"], { stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  proc.stdout!.on("data", (b: Buffer) => (out += b.toString()));
  proc.stderr!.on("data", (b: Buffer) => (out += b.toString()));
  const exited = new Promise<void>((r) => proc.once("exit", () => r()));
  const base = `http://127.0.0.1:${p}`;
  const dp: DashProc = {
    addr: `127.0.0.1:${p}`, dir: d, proc, output: () => out,
    get: (q) => apiCall("GET", base + q.replace("{x}", X), undefined, 10_000),
    put: (q, body) => apiCall("PUT", base + q.replace("{x}", X), body, 30_000),
    stats: () => apiCall<Stats>("GET", `${base}/api/topom/stats/${X}`, undefined, 10_000),
    async stop(signal = "SIGTERM") {
      dashes.delete(dp);
      if (proc.exitCode === null && proc.signalCode === null) proc.kill(signal);
      const t = setTimeout(() => proc.kill("SIGKILL"), 10_000);
      await exited;
      clearTimeout(t);
    },
  };
  dashes.add(dp);
  await Promise.race([
    until("dashboard online", () => dp.get("/topom").then(() => true), 15_000),
    exited.then(() => {
      throw new Error(`dashboard exited:\n${out}`);
    }),
  ]);
  return dp;
}

interface Cluster {
  d: DashProc;
  g1: RedisServer;
  g2: RedisServer;
  proxies: Slotway[];
}

/** Two groups (one redis-server each), slots 0-511 → 1 and 512-1023 → 2, proxies announced to the dashboard. */
async function cluster(nProxies: number): Promise<Cluster> {
  const [g1, g2] = await Promise.all([startRedis(), startRedis()]);
  const d = await startDashboard();
  for (const gid of [1, 2]) expect(await d.put(`/api/topom/group/create/{x}/${gid}`)).toBe("OK");
  expect(await d.put(`/api/topom/group/add/{x}/1/${g1.addr}`)).toBe("OK");
  expect(await d.put(`/api/topom/group/add/{x}/2/${g2.addr}`)).toBe("OK");
  const assign = Array.from({ length: 1024 }, (_, i) => ({ id: i, group_id: i < 512 ? 1 : 2, action: {} }));
  expect(await d.put("/api/topom/slots/assign/{x}", assign)).toBe("OK");
  expect(await d.put("/api/topom/group/resync/{x}/1")).toBe("OK");
  const proxies: Slotway[] = [];
  for (let i = 0; i < nProxies; i++) proxies.push(await addProxy(d));
  return { d, g1, g2, proxies };
}

/** Starts a proxy with --dashboard and waits until the dashboard lists it online. */
async function addProxy(d: DashProc): Promise<Slotway> {
  const p = await startSlotway({ workers: 2, args: ["--dashboard", d.addr], config: { backend_recv_timeout: "10s" } });
  await until("proxy online", async () => {
    const st = await d.stats();
    const m = st.proxy.models.find((x) => x.admin_addr === p.adminAddr);
    return m && st.proxy.stats[m.token]?.stats?.online;
  });
  return p;
}

function client(p: Slotway): Redis {
  const r = new Redis({ port: p.port, host: "127.0.0.1", maxRetriesPerRequest: 0, enableOfflineQueue: true, lazyConnect: false });
  r.on("error", () => undefined);
  clients.push(r);
  return r;
}
const clients: Redis[] = [];

async function keysOn(s: RedisServer): Promise<Set<string>> {
  const r = new Redis({ port: s.port, host: "127.0.0.1" });
  try {
    const out = new Set<string>();
    let cursor = "0";
    do {
      const [next, keys] = await r.scan(cursor, "COUNT", 1000);
      cursor = next;
      for (const k of keys) out.add(k);
    } while (cursor !== "0");
    return out;
  } finally {
    r.disconnect();
  }
}

async function waitMigrated(d: DashProc, beg: number, end: number, gid: number, timeoutMs = 60_000): Promise<void> {
  await until(`slots ${beg}-${end} in group ${gid}`, async () => {
    const st = await d.stats();
    return st.slots.slice(beg, end + 1).every((m) => m.group_id === gid && !m.action.state);
  }, timeoutMs);
}

afterEach(async () => {
  for (const c of clients.splice(0)) c.disconnect();
  await Promise.all([...dashes].map((d) => d.stop("SIGKILL")));
  await stopAllSlotway();
  await stopAllRedis();
});
afterAll(async () => {
  await stopAllSlotway();
  await stopAllRedis();
});

// --------------------------------------------------------------------------------------------

/**
 * Client load that proves what the invariants promise: each worker owns its keys and runs
 * INCR on them in sequence, with a DEL now and then. Every INCR must answer exactly one more
 * than the last (a reply from a stale copy or the wrong group would not), and the first INCR
 * after a DEL must answer 1 (a deleted key must never come back).
 */
class Load {
  private stopped = false;
  readonly errors: string[] = [];
  ops = 0;
  readonly expected = new Map<string, number>();
  private runs: Promise<void>[] = [];

  constructor(private readonly conns: Redis[], private readonly keysPerWorker: number, private readonly workers: number) {}

  start(): void {
    for (let w = 0; w < this.workers; w++) this.runs.push(this.run(w));
  }

  private async run(w: number): Promise<void> {
    const c = this.conns[w % this.conns.length]!;
    const keys = Array.from({ length: this.keysPerWorker }, (_, i) => `load:${w}:${i}`);
    for (const k of keys) this.expected.set(k, 0);
    let n = 0;
    while (!this.stopped) {
      const k = keys[n % keys.length]!;
      n++;
      try {
        if (n % 23 === 0) {
          await c.del(k);
          this.expected.set(k, 0);
        } else {
          const v = await c.incr(k);
          const want = this.expected.get(k)! + 1;
          if (v !== want) this.errors.push(`${k} (slot ${slotOfKey(k)}): INCR answered ${v}, expected ${want}`);
          this.expected.set(k, v);
        }
        this.ops++;
      } catch (e) {
        this.errors.push(`${k} (slot ${slotOfKey(k)}): ${(e as Error).message}`);
        return;
      }
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await Promise.all(this.runs);
  }
}

describe("dashboard + proxy", () => {
  it("builds a cluster through the dashboard API; proxies route each slot to its group", async () => {
    const { d, g1, g2, proxies } = await cluster(1);
    const second = await addProxy(d);
    const st = await d.stats();
    expect(st.proxy.models.map((m) => m.id)).toEqual([1, 2]);
    expect(st.group.models.map((g) => g.out_of_sync)).toEqual([false, true]);
    const a = client(proxies[0]!);
    const b = client(second);
    const keys = Array.from({ length: 300 }, (_, i) => `route:${i}`);
    for (const k of keys) expect(await a.set(k, `v-${k}`)).toBe("OK");
    for (const k of keys) expect(await b.get(k)).toBe(`v-${k}`);
    const on1 = await keysOn(g1);
    const on2 = await keysOn(g2);
    for (const k of keys) {
      const want1 = slotOfKey(k) < 512;
      expect(on1.has(k), k).toBe(want1);
      expect(on2.has(k), k).toBe(!want1);
    }
    // The overview is what codis-fe reads first.
    const o = await d.get<Overview>("/topom");
    expect(o.model!.admin_addr).toBe(d.addr);
    expect(o.config!.coordinator_name).toBe("filesystem");
    const slots = await d.get<SlotJson[]>("/api/topom/slots/{x}");
    expect(slots[0]).toEqual({ id: 0, backend_addr: g1.addr, backend_addr_group_id: 1, forward_method: 1 });
  }, 60_000);

  it("a proxy started with --filesystem finds the dashboard through the store, as codis-proxy does", async () => {
    const { d } = await cluster(0);
    const p = await startSlotway({ workers: 1, args: ["--filesystem", path.join(d.dir, "store")] });
    await until("proxy online through the store", async () => {
      const st = await d.stats();
      const m = st.proxy.models.find((x) => x.admin_addr === p.adminAddr);
      return m && st.proxy.stats[m.token]?.stats?.online;
    });
    const c = client(p);
    expect(await c.set("via-store", "1")).toBe("OK");
    expect(await c.get("via-store")).toBe("1");
  }, 60_000);

  it("migrates a range under client load: nothing lost, no stale or resurrected answer, keys end in the right group", async () => {
    const { d, g1, g2, proxies } = await cluster(2);
    await addProxy(d).then((p) => proxies.push(p));
    const conns = proxies.flatMap((p) => [client(p), client(p)]);
    // Data that is only read: it must all be on group 2 afterwards, with its value.
    const still = Array.from({ length: 2000 }, (_, i) => `still:${i}`);
    for (let i = 0; i < still.length; i += 100) await conns[0]!.mset(...still.slice(i, i + 100).flatMap((k) => [k, `v-${k}`]));
    const load = new Load(conns, 40, 12);
    load.start();
    await until("load running", () => load.ops > 500);
    expect(await d.put("/api/topom/slots/action/create-range/{x}/0/255/2")).toBe("OK");
    await waitMigrated(d, 0, 255, 2, 90_000);
    const during = load.ops;
    await until("load after migration", () => load.ops > during + 500);
    await load.stop();
    expect(load.errors).toEqual([]);
    const final = (sid: number): number => (sid < 256 || sid >= 512 ? 2 : 1);
    const on1 = await keysOn(g1);
    const on2 = await keysOn(g2);
    for (const k of [...still, ...load.expected.keys()]) {
      const home = final(slotOfKey(k));
      const present = load.expected.has(k) ? load.expected.get(k)! > 0 : true;
      expect(on1.has(k), `${k} on group 1`).toBe(present && home === 1);
      expect(on2.has(k), `${k} on group 2`).toBe(present && home === 2);
    }
    const check = client(proxies[1]!);
    for (const k of still) expect(await check.get(k)).toBe(`v-${k}`);
    for (const [k, v] of load.expected) expect(await check.get(k)).toBe(v > 0 ? String(v) : null);
  }, 180_000);

  it("a dashboard killed mid-migration is replaced and the new one resumes; no key is lost", async () => {
    const { d, g1, g2, proxies } = await cluster(1);
    const c = client(proxies[0]!);
    const keys = Array.from({ length: 6000 }, (_, i) => `k:${i}`).filter((k) => slotOfKey(k) < 64);
    for (let i = 0; i < keys.length; i += 200) await c.mset(...keys.slice(i, i + 200).flatMap((k) => [k, k]));
    // Slow the move down so the kill lands in the middle (the interval is per bulk step).
    expect(await d.put("/api/topom/slots/action/interval/{x}/30000")).toBe("OK");
    expect(await d.put("/api/topom/slots/action/create-range/{x}/0/63/2")).toBe("OK");
    await until("some slots done, others migrating", async () => {
      const st = await d.stats();
      const done = st.slots.slice(0, 64).filter((m) => m.group_id === 2).length;
      const migrating = st.slots.slice(0, 64).some((m) => m.action.state === "migrating");
      return migrating && done >= 8 ? true : undefined;
    }, 60_000);
    await d.stop("SIGKILL");
    // The lock of the dead dashboard is still in the store; a new one takes it over.
    expect(existsSync(path.join(d.dir, "store"))).toBe(true);
    const d2 = await startDashboard(d.dir, Number(d.addr.split(":")[1]));
    await waitMigrated(d2, 0, 63, 2, 90_000);
    const on1 = await keysOn(g1);
    const on2 = await keysOn(g2);
    for (const k of keys) {
      expect(on1.has(k), k).toBe(false);
      expect(on2.has(k), k).toBe(true);
    }
    for (const k of keys.slice(0, 500)) expect(await c.get(k)).toBe(k);
  }, 180_000);

  it("a dead proxy blocks the step and the overview says which; removing it lets the migration finish", async () => {
    const { d, proxies } = await cluster(2);
    const [alive, dead] = proxies as [Slotway, Slotway];
    const st0 = await d.stats();
    const deadToken = st0.proxy.models.find((m) => m.admin_addr === dead.adminAddr)!.token;
    const c = client(alive);
    const k = Array.from({ length: 1000 }, (_, i) => `dead:${i}`).find((x) => slotOfKey(x) === 100)!;
    await c.set(k, "before");
    await dead.stop("SIGKILL");
    expect(await d.put("/api/topom/slots/action/create/{x}/100/2")).toBe("OK");
    const o = await until("blocked", async () => {
      const ov = await d.get<Overview>("/topom");
      return ov.stats!.slot_action.progress.status.startsWith("[ERROR]") ? ov : undefined;
    });
    expect(o.stats!.slot_action.progress.status).toBe(`[ERROR] Slot[0100]: proxy-[${deadToken}] resync slots failed`);
    expect(o.stats!.slot_action.error).toContain(dead.adminAddr);
    expect(o.stats!.slots[100]!.action.state).toBe("preparing");
    // The stats loop reports the dead proxy too (within a poll or two).
    await until("proxy stats error", async () => (await d.stats()).proxy.stats[deadToken]?.error);
    // It keeps waiting (never skips the dead proxy) ...
    await new Promise((r) => setTimeout(r, 1500));
    expect((await d.stats()).slots[100]!.action.state).toBe("preparing");
    // ... and the live proxy was unlocked again: the slot still serves.
    expect(await c.get(k)).toBe("before");
    expect(await c.set(k, "during")).toBe("OK");
    // Removing the dead proxy (force: it cannot be shut down) unblocks the migration.
    let cause = "";
    try {
      await d.put(`/api/topom/proxy/remove/{x}/${deadToken}/0`);
    } catch (e) {
      cause = (e as RemoteError).remoteCause;
    }
    expect(cause).toBe(`proxy-[${deadToken}] shutdown failed`);
    expect(await d.put(`/api/topom/proxy/remove/{x}/${deadToken}/1`)).toBe("OK");
    await waitMigrated(d, 100, 100, 2);
    expect(await c.get(k)).toBe("during");
  }, 120_000);
});
