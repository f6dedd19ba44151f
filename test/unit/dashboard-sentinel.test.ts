// Sentinel routes and failover following, against real redis-sentinel processes
// (`redis-server <conf> --sentinel`) and redis-server groups.
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { Redis } from "ioredis";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { dashboardRouter } from "../../src/control/dashboard/api.js";
import { defaultConfig, type DashboardConfig } from "../../src/control/dashboard/config.js";
import { silentLogger } from "../../src/control/dashboard/log.js";
import { Topom } from "../../src/control/dashboard/topom.js";
import { ApiError, Router, apiCall, RemoteError } from "../../src/control/http.js";
import { encodeProxy, newProxy, type Stats } from "../../src/control/models.js";
import { defaultConnect } from "../../src/control/movers/connect.js";
import { MemoryStore } from "../../src/control/store/store.js";
import { xauth } from "../../src/control/xauth.js";
import { freePort } from "../harness/ports.js";
import { startRedis, stopAllRedis } from "../harness/redis.js";
import http from "node:http";
import net from "node:net";
import { until as waitUntil } from "../harness/wait.js";

const PRODUCT = "sent-test";

const until = <T>(what: string, fn: () => T | Promise<T>, timeoutMs = 20_000): Promise<NonNullable<T>> =>
  waitUntil(what, fn, timeoutMs, 50);

const procs: ChildProcess[] = [];
const cleanup: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const f of cleanup.splice(0).reverse()) await f().catch(() => undefined);
  for (const p of procs.splice(0)) p.kill("SIGKILL");
});
afterAll(() => stopAllRedis());

async function startSentinel(): Promise<string> {
  const dir = mkdtempSync(path.join(tmpdir(), "slotway-sentinel-"));
  const port = await freePort();
  const conf = path.join(dir, "sentinel.conf");
  writeFileSync(conf, `port ${port}\nbind 127.0.0.1\ndir ${dir}\n`);
  const p = spawn("redis-server", [conf, "--sentinel"], { stdio: "ignore" });
  procs.push(p);
  const addr = `127.0.0.1:${port}`;
  await until("sentinel up", async () => {
    const r = new Redis({ port, host: "127.0.0.1", lazyConnect: true, retryStrategy: () => null, maxRetriesPerRequest: 0 });
    r.on("error", () => undefined);
    try {
      await r.connect();
      return (await r.ping()) === "PONG";
    } finally {
      r.disconnect();
    }
  });
  return addr;
}

/** A fake proxy that records the sentinel model it is sent. */
async function fakeProxy(): Promise<{ addr: string; token: string; sentinels: unknown[]; fills: { id: number; backend_addr?: string }[][] }> {
  const token = "tok" + Math.random().toString(16).slice(2);
  const x = xauth(PRODUCT, "", token);
  const fp = { addr: "", token, sentinels: [] as unknown[], fills: [] as { id: number; backend_addr?: string }[][] };
  const r = new Router();
  const check = (req: { params: Record<string, string> }): void => {
    if (req.params.xauth !== x) throw new ApiError("invalid xauth");
  };
  r.get("/api/proxy/model", () => Object.assign(encodeProxy(newProxy()), { token, admin_addr: fp.addr, product_name: PRODUCT }));
  r.get("/api/proxy/xping/:xauth", (q) => (check(q), "OK"));
  r.get("/api/proxy/stats/:xauth", (q) => (check(q), { online: true, closed: false }));
  r.put("/api/proxy/fillslots/:xauth", (q) => (check(q), fp.fills.push(q.json()), "OK"));
  r.put("/api/proxy/start/:xauth", (q) => (check(q), "OK"));
  r.put("/api/proxy/sentinels/:xauth", (q) => (check(q), fp.sentinels.push(q.json()), "OK"));
  const s = http.createServer(r.listener());
  await new Promise<void>((res) => s.listen({ host: "127.0.0.1", port: 0 }, () => res()));
  fp.addr = `127.0.0.1:${(s.address() as net.AddressInfo).port}`;
  cleanup.push(() => new Promise((res) => { s.closeAllConnections(); s.close(() => res(undefined)); }));
  return fp;
}

async function dashboard(over: Partial<DashboardConfig> = {}) {
  const config: DashboardConfig = { ...defaultConfig(), product_name: PRODUCT, admin_addr: "127.0.0.1:0", sentinel_quorum: 1, ...over };
  const t = new Topom({
    config, store: new MemoryStore(), connect: defaultConnect, log: silentLogger, statsIntervalMs: 100,
    sentinelPollMs: 200, syncIdleMs: 50, engine: { idleMs: 50, retryMs: 200 },
  });
  await t.listen(dashboardRouter(t).listener());
  await t.start();
  cleanup.push(() => t.close());
  const base = `http://${t.model.admin_addr}`;
  return {
    t,
    get: <T = unknown>(p: string) => apiCall<T>("GET", base + p.replace("{x}", t.xauth)),
    put: <T = unknown>(p: string, body?: unknown) => apiCall<T>("PUT", base + p.replace("{x}", t.xauth), body),
    stats: () => apiCall<Stats>("GET", `${base}/api/topom/stats/${t.xauth}`),
  };
}

async function cause(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (e) {
    if (e instanceof RemoteError) return e.remoteCause;
    throw e;
  }
  throw new Error("expected an error");
}

describe("sentinels", () => {
  it("add, resync-all (monitors every group, pushes to proxies), info routes, stats, del", async () => {
    const d = await dashboard();
    const s1 = await startSentinel();
    const [m1, m2] = [await startRedis(), await startRedis()];
    await d.put("/api/topom/group/create/{x}/1");
    await d.put("/api/topom/group/create/{x}/2");
    await d.put(`/api/topom/group/add/{x}/1/${m1.addr}`);
    await d.put(`/api/topom/group/add/{x}/2/${m2.addr}`);
    const p = await fakeProxy();
    await d.put(`/api/topom/proxy/create/{x}/${p.addr}`);

    expect(await d.put(`/api/topom/sentinels/add/{x}/${s1}`)).toBe("OK");
    expect(await cause(d.put(`/api/topom/sentinels/add/{x}/${s1}`))).toBe(`sentinel-[${s1}] already exists`);
    expect(await cause(d.put("/api/topom/sentinels/add/{x}/127.0.0.1:1"))).toMatch(/ECONNREFUSED|connect/i);
    expect((await d.stats()).sentinels.model).toEqual({ servers: [s1], out_of_sync: true });

    expect(await d.put("/api/topom/sentinels/resync-all/{x}")).toBe("OK");
    expect((await d.stats()).sentinels.model).toEqual({ servers: [s1], out_of_sync: false });
    expect(p.sentinels.at(-1)).toEqual({ servers: [s1], out_of_sync: true });
    const mon = await d.get<Record<string, { master: Record<string, string> }>>(`/api/topom/sentinels/info/${s1}/monitored`);
    expect(Object.keys(mon).sort()).toEqual([`${PRODUCT}-1`, `${PRODUCT}-2`]);
    expect(`${mon[`${PRODUCT}-1`]!.master.ip}:${mon[`${PRODUCT}-1`]!.master.port}`).toBe(m1.addr);
    expect(mon[`${PRODUCT}-1`]!.master.quorum).toBe("1");
    const info = await d.get<Record<string, string>>(`/api/topom/sentinels/info/${s1}`);
    expect(info.sentinel_masters).toBe("2");
    // Wait for a stats round that has seen both masters, not just any round (an empty one is truthy).
    const st = await until("sentinel stats", async () => {
      const seen = (await d.stats()).sentinels.stats[s1]?.sentinel;
      return seen && Object.keys(seen).length === 2 ? seen : undefined;
    });
    expect(Object.keys(st).sort()).toEqual([`${PRODUCT}-1`, `${PRODUCT}-2`]);
    await until("sentinel masters", async () => Object.keys((await d.stats()).sentinels.masters).length === 2);
    expect((await d.stats()).sentinels.masters).toEqual({ "1": m1.addr, "2": m2.addr });

    // Adding a server marks the sentinels out of sync again.
    const r1 = await startRedis();
    await d.put(`/api/topom/group/add/{x}/1/${r1.addr}`);
    expect((await d.stats()).sentinels.model.out_of_sync).toBe(true);

    expect(await cause(d.put("/api/topom/sentinels/del/{x}/127.0.0.1:1/0"))).toBe("sentinel-[127.0.0.1:1] not found");
    expect(await d.put(`/api/topom/sentinels/del/{x}/${s1}/0`)).toBe("OK");
    expect((await d.stats()).sentinels.model).toEqual({ out_of_sync: true });
    expect(await d.get(`/api/topom/sentinels/info/${s1}/monitored`)).toEqual({});
  }, 60_000);

  it("follows a sentinel failover: the replica becomes servers[0] and proxies are pushed the new master", async () => {
    const d = await dashboard({ sentinel_down_after: 1000, sentinel_failover_timeout: 5000 });
    const s1 = await startSentinel();
    const [m, r] = [await startRedis(), await startRedis()];
    await d.put("/api/topom/group/create/{x}/1");
    await d.put(`/api/topom/group/add/{x}/1/${m.addr}`);
    await d.put(`/api/topom/group/add/{x}/1/${r.addr}`);
    await d.put("/api/topom/slots/assign/{x}", [{ id: 0, group_id: 1, action: {} }, { id: 1, group_id: 1, action: {} }]);
    // The dashboard's sync action makes r a replica of m.
    expect(await d.put(`/api/topom/group/action/create/{x}/${r.addr}`)).toBe("OK");
    await until("synced", async () => (await d.stats()).group.models[0]!.servers[1]!.action.state === "synced");
    await until("replica link up", async () => (await d.stats()).group.stats[r.addr]?.stats?.master_link_status === "up");
    const p = await fakeProxy();
    await d.put(`/api/topom/proxy/create/{x}/${p.addr}`);
    await d.put(`/api/topom/sentinels/add/{x}/${s1}`);
    await d.put("/api/topom/sentinels/resync-all/{x}");
    await until("sentinel sees the replica", async () => {
      const mon = await d.get<Record<string, { slaves?: unknown[] }>>(`/api/topom/sentinels/info/${s1}/monitored`);
      return (mon[`${PRODUCT}-1`]?.slaves?.length ?? 0) > 0;
    });
    p.fills.length = 0;
    await m.stop(true);
    await until("group master switched", async () => (await d.stats()).group.models[0]!.servers[0]!.server === r.addr, 40_000);
    const st = await d.stats();
    expect(st.sentinels.masters).toEqual({ "1": r.addr });
    expect(st.group.models[0]!.servers.map((s) => s.server)).toEqual([r.addr, m.addr]);
    expect(st.group.models[0]!.out_of_sync).toBe(false);
    expect(p.fills.at(-1)!.map((s) => [s.id, s.backend_addr])).toEqual([[0, r.addr], [1, r.addr]]);
  }, 90_000);
});
