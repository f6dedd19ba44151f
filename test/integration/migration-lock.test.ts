// A locked slot with nobody to unlock it (issue 8, part 2). Between `prepared` and `migrating`
// every proxy holds the slot's requests; if the dashboard dies in that window, a held request
// must still end within slot_lock_wait_timeout with an error naming the slot (not run), the
// proxy must log and report the stuck lock, the slot must stay locked (a proxy never unlocks on
// its own: workers/router.ts, expireHeld), and a restarted dashboard must finish the move
// with nothing lost. Real processes throughout: `slotway proxy`, `slotway dashboard` on a
// filesystem store, redis-server and the real codis-server of ../shared/peers.
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { Redis } from "ioredis";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { apiCall } from "../../src/control/http.js";
import type { Stats } from "../../src/control/models.js";
import { xauth } from "../../src/control/xauth.js";
import { encodeCommand } from "../../src/core/resp-encoder.js";
import { slotOfKey } from "../../src/core/slot.js";
import { httpRequest, ProxyAdmin, sleep, until } from "../harness/admin.js";
import { freePort } from "../harness/ports.js";
import { startRealCodisServer, startRedis, stopAllRedis } from "../harness/redis.js";
import { RawClient } from "../harness/resp-client.js";
import { CLI, startSlotway, stopAllSlotway, type Slotway } from "../harness/slotway.js";

const PRODUCT = "test"; // what test/harness/slotway.ts writes into proxy.toml
const X = xauth(PRODUCT);
const BOUND_MS = 1500;
// The worker's timer runs every 250 ms: a held request ends at most that long after the bound.
const TICK_MS = 250;

const open: RawClient[] = [];
const clients: Redis[] = [];
afterEach(() => {
  for (const c of open.splice(0)) c.close();
  for (const r of clients.splice(0)) r.disconnect();
});
afterAll(async () => {
  for (const d of [...dashes]) await d.stop("SIGKILL");
  await stopAllSlotway();
  await stopAllRedis();
});

const bulk = (v: string): string => `$${Buffer.byteLength(v)}\r\n${v}\r\n`;

/** Keys `${prefix}<i>` in n distinct slots, none of them in `avoid`. */
function keysInSlots(prefix: string, n: number, avoid: Set<number> = new Set()): string[] {
  const out: string[] = [];
  const seen = new Set(avoid);
  for (let i = 0; out.length < n; i++) {
    const k = `${prefix}${i}`;
    if (seen.has(slotOfKey(k))) continue;
    seen.add(slotOfKey(k));
    out.push(k);
  }
  return out;
}

/** Sends one command and resolves with its reply and how long it took (ms). */
async function timed(c: RawClient, ...args: string[]): Promise<{ reply: string; ms: number }> {
  const t0 = performance.now();
  const reply = await c.call(...args);
  return { reply, ms: performance.now() - t0 };
}

function lockedError(slot: number): RegExp {
  return new RegExp(`^-ERR handle request, slot ${slot} is still locked after (\\d+) ms \\(a migration step the dashboard started is not finished: is the dashboard running\\?\\), request not run\\r\\n$`);
}

describe("a proxy with a slot locked and no dashboard to unlock it", () => {
  it("fails each held request after slot_lock_wait_timeout, keeps the slot locked, serves other slots, and reports the lock", async () => {
    const [src, dst] = await Promise.all([startRedis(), startRedis()]);
    const proxy = await startSlotway({
      workers: 2, groups: [{ id: 1, servers: [src.addr], slots: "0-1023" }],
      config: { slot_lock_wait_timeout: `${BOUND_MS}ms` },
    });
    const admin = await new ProxyAdmin(proxy.adminAddr, PRODUCT).init();
    const [k, other] = keysInSlots("lk-", 2);
    const slot = slotOfKey(k!);
    const direct = new Redis({ port: src.port, host: "127.0.0.1" });
    clients.push(direct);
    await direct.set(k!, "v");
    // `prepared`, as a dashboard pushes it: locked, the target named, the source to migrate from.
    await admin.fillOk([{ id: slot, locked: true, backend_addr: dst.addr, backend_addr_group_id: 2, migrate_from: src.addr, migrate_from_group_id: 1, forward_method: 2 }]);

    const a = await RawClient.connect(proxy.port);
    const b = await RawClient.connect(proxy.port);
    open.push(a, b);
    const held = timed(a, "GET", k!);
    await sleep(200);
    // Another slot is served at once while this one is locked.
    const o = await timed(b, "SET", other!, "x");
    expect(o.reply).toBe("+OK\r\n");
    expect(o.ms).toBeLessThan(200);
    // While the request waits, the stats and /metrics show the lock and the held request.
    const st = await admin.stats();
    expect(st.slotway!.held_requests).toBe(1);
    expect(st.slotway!.locked_slots).toEqual([{ id: slot, locked_ms: expect.any(Number), held: 1, oldest_held_ms: expect.any(Number) }]);
    expect(st.slotway!.locked_slots![0]!.locked_ms).toBeGreaterThanOrEqual(200);
    const m1 = (await httpRequest("GET", `${admin.base}/metrics`)).text;
    expect(m1).toMatch(new RegExp(`^slotway_slot_locked_seconds\\{slot="${slot}"\\} 0\\.\\d+$`, "m"));
    expect(m1).toMatch(new RegExp(`^slotway_slot_held_requests\\{slot="${slot}"\\} 1$`, "m"));
    expect(m1).toMatch(/^slotway_held_requests 1$/m);

    const r = await held;
    const waited = Number(lockedError(slot).exec(r.reply)?.[1]);
    expect(r.reply).toMatch(lockedError(slot));
    expect(waited).toBeGreaterThanOrEqual(BOUND_MS);
    expect(r.ms).toBeGreaterThanOrEqual(BOUND_MS - 10);
    expect(r.ms).toBeLessThan(BOUND_MS + TICK_MS + 500);
    // Not run anywhere, and the slot is still locked: the proxy did not unlock it by itself.
    expect(await direct.get(k!)).toBe("v");
    const slotNow = (await admin.slots()).find((s) => s.id === slot)!;
    expect(slotNow.locked).toBe(true);
    const st2 = await admin.stats();
    expect(st2.slotway!.held_requests).toBe(0);
    expect(st2.slotway!.held_requests_expired).toBe(1);
    expect(st2.ops.fails).toBeGreaterThanOrEqual(1);
    expect((await httpRequest("GET", `${admin.base}/metrics`)).text).toMatch(/^slotway_held_requests_expired_total 1$/m);
    await until("the stuck lock logged", () => proxy.output().includes(`slot-[${slot}] locked for `), 3000);
    expect(proxy.output()).toContain("the dashboard has not pushed the migration step after `prepared`");

    // A request of the still-locked slot waits again (it is not failed at once), and runs when the
    // dashboard's next step arrives: `migrating` moves the key and the target answers.
    const again = timed(a, "APPEND", k!, "+w");
    await sleep(300);
    await admin.fillOk([{ id: slot, backend_addr: dst.addr, backend_addr_group_id: 2, migrate_from: src.addr, migrate_from_group_id: 1, forward_method: 2 }]);
    const r2 = await again;
    expect(r2.reply).toBe(":3\r\n");
    expect(r2.ms).toBeGreaterThanOrEqual(250);
    expect(await direct.exists(k!)).toBe(0);
    await until("the unlock logged", () => proxy.output().includes("unlocked by the dashboard after a stuck lock"), 3000);
    expect((await admin.stats()).slotway!.locked_slots).toEqual([]);
  });

  it("with slot_lock_wait_timeout = 0 a held request waits for the unlock (codis's behaviour)", async () => {
    const [src] = await Promise.all([startRedis()]);
    const proxy = await startSlotway({ workers: 1, groups: [{ id: 1, servers: [src.addr], slots: "0-1023" }], config: { slot_lock_wait_timeout: "0" } });
    const admin = await new ProxyAdmin(proxy.adminAddr, PRODUCT).init();
    const k = "forever";
    const slot = slotOfKey(k);
    await admin.fillOk([{ id: slot, locked: true, backend_addr: src.addr, backend_addr_group_id: 1 }]);
    const c = await RawClient.connect(proxy.port);
    open.push(c);
    c.write(encodeCommand(["SET", k, "1"]));
    await expect(c.read(1, BOUND_MS + 1000)).rejects.toThrow(/timeout/);
    await admin.fillOk([{ id: slot, backend_addr: src.addr, backend_addr_group_id: 1 }]);
    expect((await c.read(1))[0]!.toString()).toBe("+OK\r\n");
  });
});

// ----------------------------------------------------------------------------------------------
// The dashboard as a process on a filesystem store, SIGKILLed and restarted on the same store.

interface DashProc {
  addr: string;
  proc: ChildProcess;
  output(): string;
  put<T = unknown>(p: string, body?: unknown): Promise<T>;
  stats(): Promise<Stats>;
  stop(signal?: NodeJS.Signals): Promise<void>;
}
const dashes = new Set<DashProc>();

async function startDashboard(dir: string, port: number): Promise<DashProc> {
  const cfg = path.join(dir, "dashboard.toml");
  writeFileSync(cfg, [
    `coordinator_name = "filesystem"`, `coordinator_addr = ${JSON.stringify(path.join(dir, "store"))}`,
    `product_name = "${PRODUCT}"`, `admin_addr = "127.0.0.1:${port}"`, `migration_method = "semi-async"`, "",
  ].join("\n"));
  const proc = spawn(process.execPath, [CLI, "dashboard", "--config", cfg, "--log-level", "WARN"], { stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  proc.stdout!.on("data", (b: Buffer) => (out += b.toString()));
  proc.stderr!.on("data", (b: Buffer) => (out += b.toString()));
  const exited = new Promise<void>((r) => proc.once("exit", () => r()));
  const base = `http://127.0.0.1:${port}`;
  const d: DashProc = {
    addr: `127.0.0.1:${port}`, proc, output: () => out,
    put: (q, body) => apiCall("PUT", base + q.replace("{x}", X), body, 30_000),
    stats: () => apiCall<Stats>("GET", `${base}/api/topom/stats/${X}`, undefined, 10_000),
    async stop(signal = "SIGTERM") {
      dashes.delete(d);
      if (proc.exitCode === null && proc.signalCode === null) proc.kill(signal);
      await exited;
    },
  };
  dashes.add(d);
  await Promise.race([
    until("dashboard online", () => apiCall("GET", `${base}/topom`, undefined, 2000).then(() => true), 15_000, 50),
    exited.then(() => {
      throw new Error(`dashboard exited:\n${out}`);
    }),
  ]);
  return d;
}

describe("the dashboard SIGKILLed while the proxies hold a migrating slot locked", () => {
  it("a GET of the slot fails within the bound, other slots answer, the restarted dashboard finishes the move, nothing is lost", async () => {
    const [g1, g2] = await Promise.all([startRealCodisServer(), startRealCodisServer()]);
    const dir = mkdtempSync(path.join(tmpdir(), "slotway-lockdash-"));
    const port = await freePort();
    let d = await startDashboard(dir, port);
    for (const gid of [1, 2]) expect(await d.put(`/api/topom/group/create/{x}/${gid}`)).toBe("OK");
    expect(await d.put(`/api/topom/group/add/{x}/1/${g1.addr}`)).toBe("OK");
    expect(await d.put(`/api/topom/group/add/{x}/2/${g2.addr}`)).toBe("OK");
    expect(await d.put("/api/topom/slots/assign/{x}", Array.from({ length: 1024 }, (_, i) => ({ id: i, group_id: 1, action: {} })))).toBe("OK");
    const proxies: Slotway[] = [];
    for (let i = 0; i < 2; i++) {
      const p = await startSlotway({ workers: 2, args: ["--dashboard", d.addr], config: { slot_lock_wait_timeout: `${BOUND_MS}ms` } });
      await until("proxy online", async () => {
        const st = await d.stats();
        const m = st.proxy.models.find((x) => x.admin_addr === p.adminAddr);
        return m && st.proxy.stats[m.token]?.stats?.online;
      }, 20_000, 50);
      proxies.push(p);
    }
    const [p1, p2] = proxies as [Slotway, Slotway];
    const admin1 = await new ProxyAdmin(p1.adminAddr, PRODUCT).init();

    // Data in the slot that will move (lists, counters, a hash-tag pair) and in one that stays.
    const tag = "{lockdash}";
    const slot = slotOfKey(tag);
    const [stay] = keysInSlots("stay-", 1, new Set([slot]));
    const c1 = new Redis({ port: p1.port, host: "127.0.0.1", maxRetriesPerRequest: 0 });
    const c2 = new Redis({ port: p2.port, host: "127.0.0.1", maxRetriesPerRequest: 0 });
    clients.push(c1, c2);
    for (let i = 0; i < 50; i++) await c1.rpush(`${tag}:list`, `e${i}`);
    await c2.set(`${tag}:n`, "100");
    await c1.sadd(`${tag}:set`, "a", "b");
    await c1.set(stay!, "stays");

    // Freeze p2 so the `prepared` push cannot complete: p1 locks the slot, the dashboard waits
    // on p2 (its store still says `preparing`); SIGKILL the dashboard right then.
    process.kill(p2.proc.pid!, "SIGSTOP");
    let stopped = true;
    try {
      expect(await d.put(`/api/topom/slots/action/create/{x}/${slot}/2`)).toBe("OK");
      await until("p1 holds the slot locked", async () => (await admin1.slots()).find((s) => s.id === slot)?.locked === true, 10_000, 5);
      await d.stop("SIGKILL");
    } finally {
      process.kill(p2.proc.pid!, "SIGCONT");
      stopped = false;
    }
    expect(stopped).toBe(false);

    const a = await RawClient.connect(p1.port);
    const b = await RawClient.connect(p1.port);
    open.push(a, b);
    const held = timed(a, "INCR", `${tag}:n`);
    await sleep(100);
    const o = await timed(b, "GET", stay!);
    expect(o.reply).toBe(bulk("stays"));
    expect(o.ms).toBeLessThan(500);
    const r = await held;
    expect(r.reply).toMatch(lockedError(slot));
    expect(r.ms).toBeLessThan(BOUND_MS + TICK_MS + 500);
    expect((await admin1.slots()).find((s) => s.id === slot)?.locked).toBe(true); // still locked
    expect((await admin1.stats()).slotway!.locked_slots!.map((l) => l.id)).toEqual([slot]);

    // The dashboard comes back on its store and resumes the migration to the end.
    d = await startDashboard(dir, port);
    await until("the slot moved to group 2", async () => {
      const st = await d.stats();
      const m = st.slots[slot]!;
      return m.group_id === 2 && !m.action.state;
    }, 60_000, 100);

    // Nothing lost: every value as written (the INCR that failed was not run), nothing left on g1.
    for (const c of [c1, c2]) {
      expect(await c.lrange(`${tag}:list`, 0, -1)).toEqual(Array.from({ length: 50 }, (_, i) => `e${i}`));
      expect(await c.get(`${tag}:n`)).toBe("100");
      expect((await c.smembers(`${tag}:set`)).sort()).toEqual(["a", "b"]);
      expect(await c.get(stay!)).toBe("stays");
    }
    expect(await c1.incr(`${tag}:n`)).toBe(101);
    const g1c = new Redis({ port: g1.port, host: "127.0.0.1" });
    clients.push(g1c);
    expect((await g1c.keys("*")).filter((k) => slotOfKey(k) === slot)).toEqual([]);
    expect((await admin1.slots()).find((s) => s.id === slot)?.locked).toBeFalsy();
  }, 90_000); // five processes and two restarts: headroom for a loaded machine
});
