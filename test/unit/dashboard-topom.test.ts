// The dashboard (Topom + its codis API) over a MemoryStore, against fake proxies (small HTTP
// servers that record what they are sent), the scripted codis-server and real redis-server.
import { randomBytes } from "node:crypto";
import http from "node:http";
import net from "node:net";
import { crc32 } from "node:zlib";
import { Redis } from "ioredis";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { dashboardRouter } from "../../src/control/dashboard/api.js";
import { defaultConfig, type DashboardConfig } from "../../src/control/dashboard/config.js";
import { silentLogger } from "../../src/control/dashboard/log.js";
import { Topom, type TopomOptions } from "../../src/control/dashboard/topom.js";
import { ApiError, Router, apiCall, RemoteError } from "../../src/control/http.js";
import { encodeProxy, encodeSlotMapping, newProxy, newSlotMapping, toJsonText, type Overview, type SlotJson, type Stats } from "../../src/control/models.js";
import { moverFor, type MoverMethod, type RedisConn, type RedisConnector, type SlotMover } from "../../src/control/movers/index.js";
import { slotPath } from "../../src/control/store/layout.js";
import { MemoryStore } from "../../src/control/store/store.js";
import { xauth } from "../../src/control/xauth.js";
import { startCodisServer, type CodisServer } from "../harness/codis-server.js";
import { startRedis, stopAllRedis } from "../harness/redis.js";
import { until as waitUntil } from "../harness/wait.js";

const PRODUCT = "dash-test";

/** A RedisConnector over ioredis (the tests' stand-in until src/control/redis-client.ts lands). */
const connect: RedisConnector = async (addr, opts = {}) => {
  const i = addr.lastIndexOf(":");
  const r = new Redis({
    host: addr.slice(0, i), port: Number(addr.slice(i + 1)), password: opts.password, db: opts.db ?? 0, lazyConnect: true,
    connectTimeout: opts.timeoutMs ?? 2000, commandTimeout: opts.timeoutMs, maxRetriesPerRequest: 0, retryStrategy: () => null,
    enableOfflineQueue: false,
  });
  r.on("error", () => undefined);
  try {
    await r.connect();
  } catch (e) {
    r.disconnect();
    throw e;
  }
  const norm = (args: (string | number | Buffer)[]): (string | Buffer)[] => args.map((a) => (typeof a === "number" ? String(a) : a));
  const conn: RedisConn = {
    call: (...args) => r.call(String(args[0]), ...norm(args.slice(1))),
    callBuffer: (...args) => r.callBuffer(String(args[0]), ...norm(args.slice(1))),
    close: () => r.disconnect(),
  };
  return conn;
};

function slotOf(key: string): number {
  const o = key.indexOf("{");
  const c = o < 0 ? -1 : key.indexOf("}", o + 1);
  return crc32(o >= 0 && c >= 0 ? key.slice(o + 1, c) : key) % 1024;
}
function keysInSlot(slot: number, n: number): string[] {
  const out: string[] = [];
  for (let i = 0; out.length < n; i++) if (slotOf(`key:${i}`) === slot) out.push(`key:${i}`);
  return out;
}

const until = <T>(what: string, fn: () => T | Promise<T>, timeoutMs = 10_000): Promise<NonNullable<T>> =>
  waitUntil(what, fn, timeoutMs, 20);

// --------------------------------------------------------------------------------------------
// Fake proxies

interface FakeProxy {
  addr: string;
  token: string;
  /** Every fillslots body received (accepted or not). */
  fills: SlotJson[][];
  calls: string[];
  /** "ok" answers 200; "refuse" answers 800 to fillslots. */
  mode: "ok" | "refuse";
  online: boolean;
  /** Stops listening (connection refused) / listens again on the same port. */
  down(): Promise<void>;
  up(): Promise<void>;
}
const fakes: FakeProxy[] = [];

async function startFakeProxy(product = PRODUCT, auth = ""): Promise<FakeProxy> {
  const token = randomBytes(8).toString("hex");
  const x = xauth(product, auth, token);
  let server: http.Server | undefined;
  let port = 0;
  const sockets = new Set<net.Socket>();
  const fp: FakeProxy = {
    addr: "", token, fills: [], calls: [], mode: "ok", online: false,
    async down() {
      const s = server!;
      server = undefined;
      for (const so of sockets) so.destroy();
      await new Promise<void>((r) => s.close(() => r()));
    },
    async up() {
      await listen();
    },
  };
  const check = (req: { params: Record<string, string> }): void => {
    if (req.params.xauth !== x) throw new ApiError("invalid xauth, please check product name & auth");
  };
  const r = new Router();
  r.get("/api/proxy/model", () => {
    const p = newProxy();
    Object.assign(p, { token, admin_addr: fp.addr, product_name: product, proto_type: "tcp4", proxy_addr: "127.0.0.1:19000", pid: 1 });
    return encodeProxy(p);
  });
  r.get("/api/proxy/xping/:xauth", (req) => {
    check(req);
    return "OK";
  });
  r.get("/api/proxy/stats/:xauth", (req) => {
    check(req);
    return { online: fp.online, closed: false, ops: { total: 1, fails: 0, redis: { errors: 0 }, qps: 0 }, sessions: { total: 0, alive: 0 } };
  });
  r.put("/api/proxy/fillslots/:xauth", (req) => {
    check(req);
    fp.calls.push("fillslots");
    fp.fills.push(req.json<SlotJson[]>());
    if (fp.mode === "refuse") throw new ApiError("refused by the test");
    return "OK";
  });
  for (const name of ["start", "sentinels", "shutdown"]) {
    r.put(`/api/proxy/${name}/:xauth`, (req) => {
      check(req);
      fp.calls.push(name);
      if (name === "start") fp.online = true;
      return "OK";
    });
  }
  const listen = async (): Promise<void> => {
    const s = http.createServer(r.listener());
    s.on("connection", (so) => {
      sockets.add(so);
      so.on("close", () => sockets.delete(so));
    });
    await new Promise<void>((res) => s.listen({ host: "127.0.0.1", port }, () => res()));
    port = (s.address() as net.AddressInfo).port;
    fp.addr = `127.0.0.1:${port}`;
    server = s;
  };
  await listen();
  fakes.push(fp);
  return fp;
}

/** The last state each slot had in this proxy's fillslots calls. */
function lastSeen(fp: FakeProxy): Map<number, SlotJson> {
  const m = new Map<number, SlotJson>();
  for (const f of fp.fills) for (const s of f) m.set(s.id, s);
  return m;
}

/** The sequence of views a proxy was sent for one slot. */
function viewsOf(fp: FakeProxy, sid: number): string[] {
  const out: string[] = [];
  for (const f of fp.fills) {
    for (const s of f) {
      if (s.id !== sid) continue;
      out.push(`${s.locked ? "L" : "-"} ${s.backend_addr ?? ""} <- ${s.migrate_from ?? ""}`);
    }
  }
  return out;
}

// --------------------------------------------------------------------------------------------
// Dashboards

interface Dash {
  t: Topom;
  base: string;
  x: string;
  store: MemoryStore;
  get<T = unknown>(path: string): Promise<T>;
  put<T = unknown>(path: string, body?: unknown): Promise<T>;
  stats(): Promise<Stats>;
}
const dashes: Topom[] = [];
const codis: CodisServer[] = [];

async function startDashboard(store = new MemoryStore(), over: Partial<DashboardConfig> = {}, opts: Partial<TopomOptions> = {}): Promise<Dash> {
  const config: DashboardConfig = { ...defaultConfig(), product_name: PRODUCT, admin_addr: "127.0.0.1:0", migration_parallel_slots: 4, ...over };
  const t = new Topom({
    config, store, connect, log: silentLogger, statsIntervalMs: 50,
    engine: { idleMs: 20, retryMs: 100, pausedPollMs: 20 }, syncIdleMs: 50,
    proxyClient: { timeoutMs: 1000, fillTimeoutMs: 2000 }, ...opts,
  });
  dashes.push(t);
  await t.listen(dashboardRouter(t).listener());
  await t.start();
  const base = `http://${t.model.admin_addr}`;
  const x = t.xauth;
  return {
    t, base, x, store,
    get: (p) => apiCall("GET", base + p.replace("{x}", x)),
    put: (p, body) => apiCall("PUT", base + p.replace("{x}", x), body),
    stats: () => apiCall<Stats>("GET", `${base}/api/topom/stats/${x}`),
  };
}

async function remoteError(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (e) {
    if (e instanceof RemoteError) {
      expect(e.status).toBe(800);
      return e.remoteCause;
    }
    throw e;
  }
  throw new Error("expected a remote error");
}

afterEach(async () => {
  await Promise.all(dashes.splice(0).map((t) => t.close().catch(() => undefined)));
  await Promise.all(fakes.splice(0).map((f) => f.down().catch(() => undefined)));
  await Promise.all(codis.splice(0).map((c) => c.close()));
});
afterAll(() => stopAllRedis());

async function codisServer(): Promise<CodisServer> {
  const s = await startCodisServer();
  codis.push(s);
  return s;
}

/** Two groups of one codis-server each, slots 0..511 → 1, 512..1023 → 2. */
async function twoGroups(d: Dash): Promise<[CodisServer, CodisServer]> {
  const a = await codisServer();
  const b = await codisServer();
  await d.put("/api/topom/group/create/{x}/1");
  await d.put("/api/topom/group/create/{x}/2");
  await d.put(`/api/topom/group/add/{x}/1/${a.addr}`);
  await d.put(`/api/topom/group/add/{x}/2/${b.addr}`);
  const body = Array.from({ length: 1024 }, (_, i) => ({ id: i, group_id: i < 512 ? 1 : 2, action: {} }));
  await d.put("/api/topom/slots/assign/{x}", body);
  return [a, b];
}

// --------------------------------------------------------------------------------------------

describe("wire conventions", () => {
  it("model works, / redirects, unknown paths and wrong methods are 404, xauth is checked", async () => {
    const d = await startDashboard();
    const model = await d.get<Record<string, unknown>>("/api/topom/model");
    expect(model.product_name).toBe(PRODUCT);
    expect(model.admin_addr).toBe(d.t.model.admin_addr);
    expect(Object.keys(model)).toEqual(["token", "start_time", "admin_addr", "product_name", "pid", "pwd", "sys"]);
    expect(await d.get("/topom/model")).toEqual(model);
    expect(d.x).toBe(xauth(PRODUCT));
    expect(await d.get("/api/topom/xping/{x}")).toBe("OK");
    expect(await remoteError(d.get("/api/topom/xping/nope"))).toBe("invalid xauth, please check product name & auth");
    await expect(d.put("/api/topom/xping/{x}")).rejects.toThrow(/^\[404\]/);
    await expect(d.get("/api/topom/nothing")).rejects.toThrow(/^\[404\]/);
    const res = await fetch(`${d.base}/`, { redirect: "manual" });
    expect(res.status).toBe(302);
    expect(res.headers.get("location")).toBe("/topom");
    const nf = await fetch(`${d.base}/api/topom/group/create/${d.x}/1`);
    expect(nf.status).toBe(404);
    expect(await nf.text()).toBe("404 page not found\n");
    const e = await fetch(`${d.base}/api/topom/xping/bad`);
    expect(e.status).toBe(800);
    expect(JSON.parse(await e.text())).toEqual({ Cause: "invalid xauth, please check product name & auth", Stack: expect.any(Array) });
  });

  it("params: missing/invalid texts, Atoi accepts a sign", async () => {
    const d = await startDashboard();
    expect(await remoteError(d.put("/api/topom/group/create/{x}/abc"))).toBe("invalid gid");
    expect(await remoteError(d.put("/api/topom/group/create/{x}/1.5"))).toBe("invalid gid");
    expect(await d.put("/api/topom/group/create/{x}/+7")).toBe("OK");
    expect(await remoteError(d.put("/api/topom/group/create/{x}/0"))).toBe("invalid group id = 0, out of range");
    expect(await remoteError(d.put("/api/topom/group/create/{x}/10000"))).toBe("invalid group id = 10000, out of range");
    expect(await remoteError(d.put("/api/topom/group/create/{x}/-3"))).toBe("invalid group id = -3, out of range");
    expect(await remoteError(d.put("/api/topom/group/create/{x}/7"))).toBe("group-[7] already exists");
    expect(await remoteError(d.put("/api/topom/slots/action/create/{x}/x/1"))).toBe("invalid sid");
    expect(await remoteError(d.put("/api/topom/slots/action/create/{x}/1/y"))).toBe("invalid gid");
    // xauth is checked before params
    expect(await remoteError(d.put("/api/topom/group/create/bad/abc"))).toBe("invalid xauth, please check product name & auth");
  });

  it("after close: closed errors, model still served until the listener is gone", async () => {
    const d = await startDashboard();
    await d.t.release();
    expect(await remoteError(d.get("/api/topom/xping/{x}"))).toBe("use of closed topom");
    expect(await remoteError(d.get("/topom"))).toBe("use of closed topom");
    expect((await d.get<Record<string, unknown>>("/api/topom/model")).product_name).toBe(PRODUCT);
  });

  it("the product lock holds the model with a reachable admin_addr and is released on shutdown", async () => {
    const store = new MemoryStore();
    const d = await startDashboard(store);
    const lock = JSON.parse((await store.get(`/codis3/${PRODUCT}/topom`))!);
    expect(lock.admin_addr).toBe(d.t.model.admin_addr);
    expect(lock.admin_addr).not.toMatch(/^0\.0\.0\.0/);
    // A second dashboard on the same store cannot start.
    await expect(startDashboard(store)).rejects.toThrow(/store: acquire lock of dash-test failed/);
    let closed = false;
    d.t.onClosed = () => { closed = true; };
    expect(await d.put("/api/topom/shutdown/{x}")).toBe("OK");
    expect(await store.get(`/codis3/${PRODUCT}/topom`)).toBeUndefined();
    await until("closed", () => closed);
  });

  it("a wildcard admin_addr publishes --host-admin", async () => {
    const d = await startDashboard(new MemoryStore(), { admin_addr: "0.0.0.0:0" }, { hostAdmin: "127.0.0.1" });
    expect(d.t.model.admin_addr).toMatch(/^127\.0\.0\.1:\d+$/);
    expect(await d.get("/api/topom/xping/{x}")).toBe("OK");
  });
});

describe("groups", () => {
  it("group/add accepts codis-server and plain Redis (one kind per group), refuses unreachable servers, checks in codis order", async () => {
    const d = await startDashboard();
    const cs = await codisServer();
    const rs = await startRedis();
    await d.put("/api/topom/group/create/{x}/1");
    expect(await d.put(`/api/topom/group/add/{x}/1/${cs.addr}`)).toBe("OK");
    // One kind per group (backends/kind.ts): plain Redis does not join a codis-server group.
    expect(await remoteError(d.put(`/api/topom/group/add/{x}/1/${rs.addr}/dc2`)))
      .toBe(`group-[1] holds ${cs.addr} (codis-server 3.2.11): server ${rs.addr} is redis ${(await rs.command("INFO", "server")).match(/redis_version:(\S+)/)![1]}; a group's servers must be of one kind (they replicate each other)`);
    const cs2 = await codisServer();
    expect(await d.put(`/api/topom/group/add/{x}/1/${cs2.addr}/dc2`)).toBe("OK");
    await d.put("/api/topom/group/create/{x}/2");
    expect(await d.put(`/api/topom/group/add/{x}/2/${rs.addr}`)).toBe("OK");
    expect(await d.put(`/api/topom/group/del/{x}/2/${rs.addr}`)).toBe("OK");
    expect(await d.put("/api/topom/group/remove/{x}/2")).toBe("OK");
    const down = "127.0.0.1:1";
    expect(await remoteError(d.put(`/api/topom/group/add/{x}/1/${down}`))).toMatch(/ECONNREFUSED|connect/i);
    expect(await remoteError(d.put(`/api/topom/group/add/{x}/1/${cs.addr}`))).toBe(`server-[${cs.addr}] already exists`);
    const other = await codisServer();
    expect(await remoteError(d.put(`/api/topom/group/add/{x}/9/${other.addr}`))).toBe("group-[9] doesn't exist");
    const st = await d.stats();
    expect(st.group.models).toEqual([{
      id: 1,
      servers: [
        { server: cs.addr, datacenter: "", action: {}, replica_group: false },
        { server: cs2.addr, datacenter: "dc2", action: {}, replica_group: false },
      ],
      promoting: {}, out_of_sync: false,
    }]);
    expect(await remoteError(d.put("/api/topom/group/remove/{x}/1"))).toBe("group-[1] isn't empty");
    expect(await remoteError(d.put(`/api/topom/group/del/{x}/1/${cs.addr}`))).toBe("group-[1] can't remove master, still in use");
    expect(await remoteError(d.put(`/api/topom/group/del/{x}/1/${other.addr}`))).toBe(`group-[1] doesn't have server-[${other.addr}]`);
    expect(await d.put(`/api/topom/group/del/{x}/1/${cs2.addr}`)).toBe("OK");
    expect(await d.put(`/api/topom/group/del/{x}/1/${cs.addr}`)).toBe("OK");
    expect(await d.put("/api/topom/group/remove/{x}/1")).toBe("OK");
    expect((await d.stats()).group.models).toEqual([]);
  });

  it("a server behind a password needs product_auth", async () => {
    const d = await startDashboard(new MemoryStore(), { product_auth: "sesame" });
    const good = await startRedis({ password: "sesame" });
    const other = await startRedis({ password: "other" });
    await d.put("/api/topom/group/create/{x}/1");
    expect(await d.put(`/api/topom/group/add/{x}/1/${good.addr}`)).toBe("OK");
    await remoteError(d.put(`/api/topom/group/add/{x}/1/${other.addr}`));
    const info = await d.get<Record<string, string>>(`/api/topom/group/info/${good.addr}`);
    expect(info.redis_version).toBeTruthy();
    expect(info.maxmemory).toBe("0");
  });

  it("stats carry each group server's INFO with maxmemory; group/info returns it", async () => {
    const d = await startDashboard();
    const rs = await startRedis();
    await d.put("/api/topom/group/create/{x}/1");
    await d.put(`/api/topom/group/add/{x}/1/${rs.addr}`);
    const st = await until("server stats", async () => (await d.stats()).group.stats[rs.addr]);
    expect(st.stats?.maxmemory).toBe("0");
    expect(st.stats?.role).toBe("master");
    expect(typeof st.unixtime).toBe("number");
    expect("timeout" in st).toBe(false);
    expect(await remoteError(d.get("/api/topom/group/info/127.0.0.1:1"))).toMatch(/connect|ECONNREFUSED/i);
  });
});

describe("proxies", () => {
  it("proxy/create registers, reinits (fillslots of 1024, start, sentinels), refuses duplicates", async () => {
    const d = await startDashboard();
    const p = await startFakeProxy();
    expect(await d.put(`/api/topom/proxy/create/{x}/${p.addr}`)).toBe("OK");
    expect(p.calls).toEqual(["fillslots", "start", "sentinels"]);
    expect(p.fills[0]!.length).toBe(1024);
    expect(p.fills[0]![5]).toEqual({ id: 5, forward_method: 1 });
    const st = await d.stats();
    expect(st.proxy.models.map((m) => [m.id, m.token, m.admin_addr])).toEqual([[1, p.token, p.addr]]);
    expect(await remoteError(d.put(`/api/topom/proxy/create/{x}/${p.addr}`))).toBe(`proxy-[${p.token}] already exists`);
    // online is idempotent and keeps the id
    expect(await d.put(`/api/topom/proxy/online/{x}/${p.addr}`)).toBe("OK");
    const p2 = await startFakeProxy();
    expect(await d.put(`/api/topom/proxy/online/{x}/${p2.addr}`)).toBe("OK");
    expect((await d.stats()).proxy.models.map((m) => m.id)).toEqual([1, 2]);
    // stats are polled
    const ps = await until("proxy stats", async () => (await d.stats()).proxy.stats[p.token]);
    expect(ps.stats?.online).toBe(true);
    expect(await d.put(`/api/topom/proxy/reinit/{x}/${p.token}`)).toBe("OK");
    expect(await remoteError(d.put("/api/topom/proxy/reinit/{x}/nope"))).toBe("proxy-[nope] doesn't exist");
  });

  it("fetch model / xauth failures carry the cause on create, not on online", async () => {
    const d = await startDashboard();
    expect(await remoteError(d.put("/api/topom/proxy/create/{x}/127.0.0.1:1"))).toMatch(/^proxy@127\.0\.0\.1:1 fetch model failed, .+/);
    expect(await remoteError(d.put("/api/topom/proxy/online/{x}/127.0.0.1:1"))).toBe("proxy@127.0.0.1:1 fetch model failed");
    const foreign = await startFakeProxy("another-product");
    expect(await remoteError(d.put(`/api/topom/proxy/create/{x}/${foreign.addr}`))).toMatch(
      new RegExp(`^proxy@${foreign.addr} check xauth failed, invalid xauth`));
    expect(await remoteError(d.put(`/api/topom/proxy/online/{x}/${foreign.addr}`))).toBe(`proxy@${foreign.addr} check xauth failed`);
  });

  it("a restarted proxy (online:false) is brought back online by the stats loop", async () => {
    const d = await startDashboard();
    const p = await startFakeProxy();
    await d.put(`/api/topom/proxy/create/{x}/${p.addr}`);
    p.online = false;
    p.calls.length = 0;
    // online turns true at "start"; the sentinels call follows it.
    await until("auto online", () => p.online && p.calls.length >= 3);
    expect(p.calls).toEqual(["fillslots", "start", "sentinels"]);
  });

  it("proxy/remove shuts the proxy down; an unreachable one needs force", async () => {
    const d = await startDashboard();
    const p = await startFakeProxy();
    const q = await startFakeProxy();
    await d.put(`/api/topom/proxy/create/{x}/${p.addr}`);
    await d.put(`/api/topom/proxy/create/{x}/${q.addr}`);
    expect(await d.put(`/api/topom/proxy/remove/{x}/${p.token}/0`)).toBe("OK");
    expect(p.calls.at(-1)).toBe("shutdown");
    await q.down();
    expect(await remoteError(d.put(`/api/topom/proxy/remove/{x}/${q.token}/0`))).toBe(`proxy-[${q.token}] shutdown failed`);
    expect(await d.put(`/api/topom/proxy/remove/{x}/${q.token}/1`)).toBe("OK");
    expect((await d.stats()).proxy.models).toEqual([]);
    expect(await remoteError(d.put(`/api/topom/proxy/remove/{x}/${q.token}/x`))).toBe("invalid force");
  });
});

describe("slots: assign, actions, rebalance, overview", () => {
  it("slots/assign checks every entry first, marks groups out_of_sync, stores and pushes", async () => {
    const d = await startDashboard();
    const p = await startFakeProxy();
    await d.put(`/api/topom/proxy/create/{x}/${p.addr}`);
    const cs = await codisServer();
    await d.put("/api/topom/group/create/{x}/1");
    await d.put("/api/topom/group/create/{x}/2");
    await d.put(`/api/topom/group/add/{x}/1/${cs.addr}`);
    expect(await remoteError(d.put("/api/topom/slots/assign/{x}", [{ id: 0, group_id: 0, action: {} }]))).toBe("group-[0] doesn't exist");
    expect(await remoteError(d.put("/api/topom/slots/assign/{x}", [{ id: 0, group_id: 2, action: {} }]))).toBe("group-[2] is empty");
    expect(await remoteError(d.put("/api/topom/slots/assign/{x}", [{ id: 1024, group_id: 1, action: {} }]))).toBe("slot-[1024] doesn't exist");
    expect(await remoteError(d.put("/api/topom/slots/assign/{x}", [{ id: 0, group_id: 1, action: { state: "pending" } }])))
      .toBe("invalid slot-[0] action = pending");
    expect(await remoteError(d.put("/api/topom/slots/assign/{x}", [{ id: 0, group_id: 1, action: {} }, { id: 1, group_id: 2, action: {} }])))
      .toBe("group-[2] is empty");
    expect((await d.stats()).slots[0]).toEqual({ id: 0, group_id: 0, action: {} });
    p.fills.length = 0;
    const body = Array.from({ length: 10 }, (_, i) => ({ id: i, group_id: 1, action: {} }));
    expect(await d.put("/api/topom/slots/assign/{x}", body)).toBe("OK");
    const st = await d.stats();
    expect(st.slots.slice(0, 11)).toEqual([...body, { id: 10, group_id: 0, action: {} }]);
    expect(st.group.models[0]!.out_of_sync).toBe(true);
    expect(p.fills).toEqual([body.map((b) => ({ id: b.id, backend_addr: cs.addr, backend_addr_group_id: 1, forward_method: 1 }))]);
    expect(JSON.parse((await d.store.get(slotPath(PRODUCT, 3)))!)).toEqual({ id: 3, group_id: 1, action: {} });
    // malformed body: an empty list
    const res = await fetch(`${d.base}/api/topom/slots/assign/${d.x}`, { method: "PUT", body: "not json" });
    expect(res.status).toBe(200);
    // resync clears out_of_sync
    expect(await d.put("/api/topom/group/resync/{x}/1")).toBe("OK");
    expect((await d.stats()).group.models[0]!.out_of_sync).toBe(false);
    expect(await remoteError(d.put("/api/topom/group/resync/{x}/3"))).toBe("group-[3] doesn't exist");
    // offline
    expect(await remoteError(d.put("/api/topom/slots/assign/{x}/offline", [{ id: 0, group_id: 1, action: {} }]))).toBe("group of slot-[0] should be 0");
    expect(await d.put("/api/topom/slots/assign/{x}/offline", [{ id: 0, group_id: 0, action: {} }])).toBe("OK");
    expect(lastSeen(p).get(0)).toEqual({ id: 0, forward_method: 1 });
  });

  it("with migration_method redis, slots that are not migrating carry a method codis-proxy accepts", async () => {
    const d = await startDashboard(new MemoryStore(), { migration_method: "redis" });
    const cs = await codisServer();
    await d.put("/api/topom/group/create/{x}/1");
    await d.put(`/api/topom/group/add/{x}/1/${cs.addr}`);
    await d.put("/api/topom/slots/assign/{x}", [{ id: 3, group_id: 1, action: {} }]);
    const slots = await d.get<SlotJson[]>("/api/topom/slots/{x}");
    expect(slots[3]).toEqual({ id: 3, backend_addr: cs.addr, backend_addr_group_id: 1, forward_method: 1 });
    expect(slots[4]).toEqual({ id: 4, forward_method: 1 });
  });

  it("slots/:xauth and /topom/slots give 1024 Slot objects with zero fields left out", async () => {
    const d = await startDashboard(new MemoryStore(), { migration_method: "sync" });
    const cs = await codisServer();
    await d.put("/api/topom/group/create/{x}/1");
    await d.put(`/api/topom/group/add/{x}/1/${cs.addr}`);
    await d.put("/api/topom/slots/assign/{x}", [{ id: 3, group_id: 1, action: {} }]);
    const slots = await d.get<SlotJson[]>("/api/topom/slots/{x}");
    expect(slots.length).toBe(1024);
    expect(slots[0]).toEqual({ id: 0 });
    expect(slots[3]).toEqual({ id: 3, backend_addr: cs.addr, backend_addr_group_id: 1 });
    expect(await d.get("/topom/slots")).toEqual(slots);
  });

  it("create-range/create/create-some/remove: codis checks and order, action indexes", async () => {
    const d = await startDashboard();
    await d.t.slots.setSlotActionDisabled(true);
    await twoGroups(d);
    await d.put("/api/topom/group/create/{x}/3");
    expect(await remoteError(d.put("/api/topom/slots/action/create-range/{x}/5/4/2"))).toBe("invalid slot range [5,4]");
    expect(await remoteError(d.put("/api/topom/slots/action/create-range/{x}/0/1024/2"))).toBe("invalid slot range [0,1024]");
    expect(await remoteError(d.put("/api/topom/slots/action/create-range/{x}/0/3/9"))).toBe("group-[9] doesn't exist");
    expect(await remoteError(d.put("/api/topom/slots/action/create-range/{x}/0/3/3"))).toBe("group-[3] is empty");
    expect(await remoteError(d.put("/api/topom/slots/action/create-range/{x}/510/513/2"))).toBe("slot-[512] already in group-[2]");
    expect((await d.stats()).slots[510]!.action).toEqual({}); // all-or-nothing
    expect(await d.put("/api/topom/slots/action/create-range/{x}/10/12/2")).toBe("OK");
    expect(await remoteError(d.put("/api/topom/slots/action/create-range/{x}/12/13/2"))).toBe("slot-[12] action already exists");
    expect(await d.put("/api/topom/slots/action/create/{x}/600/1")).toBe("OK");
    expect(await remoteError(d.put("/api/topom/slots/action/create/{x}/600/1"))).toBe("slot-[600] action already exists");
    expect(await remoteError(d.put("/api/topom/slots/action/create/{x}/601/2"))).toBe("slot-[601] already in group-[2]");
    expect(await remoteError(d.put("/api/topom/slots/action/create/{x}/2000/2"))).toBe("slot-[2000] doesn't exist");
    expect(await d.put("/api/topom/slots/action/create-some/{x}/1/2/3")).toBe("OK");
    const st = await d.stats();
    expect([10, 11, 12, 600, 0, 1, 2].map((s) => st.slots[s]!.action)).toEqual([
      { index: 1, state: "pending", target_id: 2 }, { index: 2, state: "pending", target_id: 2 },
      { index: 3, state: "pending", target_id: 2 }, { index: 4, state: "pending", target_id: 1 },
      { index: 5, state: "pending", target_id: 2 }, { index: 6, state: "pending", target_id: 2 },
      { index: 7, state: "pending", target_id: 2 },
    ]);
    expect(await d.put("/api/topom/slots/action/remove/{x}/11")).toBe("OK");
    expect(await remoteError(d.put("/api/topom/slots/action/remove/{x}/11"))).toBe("slot-[11] action doesn't exist");
    expect((await d.stats()).slots[11]).toEqual({ id: 11, group_id: 1, action: {} });
    expect(await d.put("/api/topom/slots/action/interval/{x}/2000000")).toBe("OK");
    expect((await d.stats()).slot_action).toMatchObject({ interval: 1000000, disabled: true });
    expect(await d.put("/api/topom/slots/action/interval/{x}/-5")).toBe("OK");
    expect((await d.stats()).slot_action.interval).toBe(0);
  });

  it("rebalance: /0 previews, /1 schedules; an empty topology errors", async () => {
    const d = await startDashboard();
    expect(await remoteError(d.put("/api/topom/slots/rebalance/{x}/0"))).toBe("no valid group could be found");
    await d.t.slots.setSlotActionDisabled(true);
    const a = await codisServer();
    await d.put("/api/topom/group/create/{x}/1");
    await d.put(`/api/topom/group/add/{x}/1/${a.addr}`);
    const plan1 = await d.put<Record<string, number>>("/api/topom/slots/rebalance/{x}/0");
    expect(Object.keys(plan1).length).toBe(1024);
    await d.put("/api/topom/slots/assign/{x}", Array.from({ length: 1024 }, (_, i) => ({ id: i, group_id: 1, action: {} })));
    expect(await d.put("/api/topom/slots/rebalance/{x}/0")).toEqual({});
    const b = await codisServer();
    await d.put("/api/topom/group/create/{x}/2");
    await d.put(`/api/topom/group/add/{x}/2/${b.addr}`);
    const plan = await d.put<Record<string, number>>("/api/topom/slots/rebalance/{x}/0");
    expect(Object.keys(plan).map(Number).sort((x, y) => x - y)).toEqual(Array.from({ length: 512 }, (_, i) => 512 + i));
    expect(new Set(Object.values(plan))).toEqual(new Set([2]));
    expect((await d.stats()).slots[600]!.action).toEqual({});
    expect(await d.put("/api/topom/slots/rebalance/{x}/1")).toEqual(plan);
    const st = await d.stats();
    expect(st.slots[512]!.action).toEqual({ index: 1, state: "pending", target_id: 2 });
    expect(st.slots[1023]!.action).toEqual({ index: 512, state: "pending", target_id: 2 });
  });

  it("the overview has config (units as strings, no product_auth), model and stats", async () => {
    const d = await startDashboard(new MemoryStore(), { product_auth: "secret" });
    const o = await d.get<Overview>("/topom");
    expect(Object.keys(o)).toEqual(["version", "compile", "config", "model", "stats"]);
    expect(o.config).toMatchObject({
      coordinator_name: "filesystem", product_name: PRODUCT, migration_method: "semi-async", migration_timeout: "30s",
      migration_async_maxbytes: "32mb", sentinel_failover_timeout: "5m", migration_parallel_slots: 4,
    });
    expect(JSON.stringify(o)).not.toContain("secret");
    expect(o.model!.admin_addr).toBe(d.t.model.admin_addr);
    expect(o.stats!.slots.length).toBe(1024);
    expect(o.stats!.sentinels).toEqual({ model: { out_of_sync: false }, stats: {}, masters: {} });
    // progress: codis's status, then slotway's migration counters (src/control/dashboard/progress.ts).
    expect(o.stats!.slot_action).toEqual({
      interval: 0, disabled: false, executor: 0, progress: {
        status: "", slots_left: 0, slots_done: 0, keys_moved: 0, keys_per_sec: 0, slots_per_sec: 0, eta_secs: 0, run_started: 0, run_secs: 0, running: false,
      },
      // slotway's pace of the movers (src/control/dashboard/pacer.ts): no baseline yet, no limit.
      pace: { keep_percent: 85, baseline_ops: 0, share: -1, keys_per_sec_limit: -1, probing: false },
    });
    expect(o.stats!.group).toEqual({ models: [], stats: {} });
    expect(o.stats!.proxy).toEqual({ models: [], stats: {} });
    const text = await (await fetch(`${d.base}/topom`)).text();
    expect(text).toContain('\n    "version"'); // 4-space JSON
  });
});

// --------------------------------------------------------------------------------------------
// The migration state machine

/** A mover that waits for `release` before delegating to the real one (to catch the engine mid-move). */
function heldMovers(): { movers: (m: MoverMethod) => SlotMover; release: () => void; started: Promise<void>; methods: MoverMethod[] } {
  let release!: () => void;
  let started!: () => void;
  const gate = new Promise<void>((r) => { release = r; });
  const startedP = new Promise<void>((r) => { started = r; });
  const methods: MoverMethod[] = [];
  return {
    release, started: startedP, methods,
    movers: (m) => {
      methods.push(m);
      const real = moverFor(m);
      return {
        method: m,
        async moveSlots(sids, from, to, opts, signal) {
          started();
          await Promise.race([gate, new Promise((_, rej) => signal.addEventListener("abort", () => rej(signal.reason), { once: true }))]);
          return real.moveSlots(sids, from, to, opts, signal);
        },
      };
    },
  };
}

describe("migration state machine", () => {
  it("walks pending → preparing → prepared → migrating → finished, pushing each step to all proxies", async () => {
    const d = await startDashboard();
    const [a, b] = await twoGroups(d);
    const p1 = await startFakeProxy();
    const p2 = await startFakeProxy();
    await d.put(`/api/topom/proxy/create/{x}/${p1.addr}`);
    await d.put(`/api/topom/proxy/create/{x}/${p2.addr}`);
    const keys = [...keysInSlot(5, 20), ...keysInSlot(6, 5), ...keysInSlot(7, 3)];
    for (const k of keys) a.set(k, `v-${k}`);
    const keep = keysInSlot(8, 4);
    for (const k of keep) a.set(k, "stay");
    p1.fills.length = 0;
    p2.fills.length = 0;
    expect(await d.put("/api/topom/slots/action/create-range/{x}/5/7/2")).toBe("OK");
    await until("migration done", async () => (await d.stats()).slots.slice(5, 8).every((m) => m.group_id === 2 && !m.action.state));
    for (const p of [p1, p2]) {
      for (const sid of [5, 6, 7]) {
        const v = viewsOf(p, sid);
        expect(v.slice(0, 2)).toEqual([
          `L ${b.addr} <- ${a.addr}`, // prepared: the barrier
          `- ${b.addr} <- ${a.addr}`, // migrating
        ]);
        // finished: pushed as soon as the mover saw the slot empty, then again for the round.
        expect(v.length).toBeGreaterThanOrEqual(3);
        expect(new Set(v.slice(2))).toEqual(new Set([`- ${b.addr} <- `]));
      }
      // Each step of the round is one fillslots carrying just the changed slots; between the
      // migrating and the round's finished push, early finished pushes carry the slots done.
      const fills = p.fills.map((f) => f.map((s) => s.id));
      expect(fills.slice(0, 2)).toEqual([[5, 6, 7], [5, 6, 7]]);
      expect(fills.at(-1)).toEqual([5, 6, 7]);
      expect(fills.slice(2, -1).flat().sort()).toEqual([...new Set(fills.slice(2, -1).flat())].sort());
      expect(p.fills[1]![0]).toMatchObject({ forward_method: 1, migrate_from_group_id: 1, backend_addr_group_id: 2 });
    }
    for (const k of keys) {
      expect(a.get(k)).toBeUndefined();
      expect(b.get(k)).toBe(`v-${k}`);
    }
    for (const k of keep) expect(a.get(k)).toBe("stay");
    expect(JSON.parse((await d.store.get(slotPath(PRODUCT, 6)))!)).toEqual({ id: 6, group_id: 2, action: {} });
    const st = await d.stats();
    expect(st.slot_action.progress.status).toBe("");
    expect(st.slot_action.executor).toBe(0);
  });

  it("a slot the mover proved empty is pushed as finished at once, while the rest of its round still moves", async () => {
    let release!: () => void;
    const hold = new Promise<void>((r) => { release = r; });
    const movers = (m: MoverMethod): SlotMover => {
      const real = moverFor(m);
      return {
        method: m,
        async moveSlots(sids, from, to, opts, signal) {
          // Move the first slot for real, report it, then hold the others back.
          await real.moveSlots([sids[0]!], from, to, opts, signal);
          await hold;
          return real.moveSlots(sids.slice(1), from, to, opts, signal);
        },
      };
    };
    const d = await startDashboard(new MemoryStore(), {}, { movers });
    const [a, b] = await twoGroups(d);
    const p = await startFakeProxy();
    await d.put(`/api/topom/proxy/create/{x}/${p.addr}`);
    for (const k of [...keysInSlot(50, 5), ...keysInSlot(51, 5)]) a.set(k, "v");
    p.fills.length = 0;
    await d.put("/api/topom/slots/action/create-range/{x}/50/51/2");
    await until("slot 50 finished early", () => viewsOf(p, 50).includes(`- ${b.addr} <- `));
    // Slot 51 still migrates (its move is held), and the store still says migrating for both.
    expect(viewsOf(p, 51).at(-1)).toBe(`- ${b.addr} <- ${a.addr}`);
    expect((await d.stats()).slots[50]!.action.state).toBe("migrating");
    release();
    await until("round done", async () => (await d.stats()).slots.slice(50, 52).every((m) => m.group_id === 2 && !m.action.state));
    expect(viewsOf(p, 51).at(-1)).toBe(`- ${b.addr} <- `);
    expect(Object.keys(a.dump())).toEqual([]);
  });

  it("a proxy that refuses blocks the step: state stays preparing, the overview says why, others are unlocked again", async () => {
    const d = await startDashboard();
    const [a, b] = await twoGroups(d);
    const good = await startFakeProxy();
    const bad = await startFakeProxy();
    await d.put(`/api/topom/proxy/create/{x}/${good.addr}`);
    await d.put(`/api/topom/proxy/create/{x}/${bad.addr}`);
    good.fills.length = 0;
    bad.mode = "refuse";
    await d.put("/api/topom/slots/action/create/{x}/9/2");
    const st = await until("blocked", async () => {
      const s = await d.stats();
      return s.slot_action.progress.status.startsWith("[ERROR]") ? s : undefined;
    });
    expect(st.slot_action.progress.status).toBe(`[ERROR] Slot[0009]: proxy-[${bad.token}] resync slots failed`);
    expect(st.slot_action.error).toContain(bad.addr);
    expect(st.slot_action.error).toContain("refused by the test");
    // `prepared` is stored before its push; the failed push rolls it back to preparing (each
    // retry stores prepared again for a moment, so wait for a rolled-back moment).
    expect(["preparing", "prepared"]).toContain(st.slots[9]!.action.state);
    await until("rolled back in the store", async () => JSON.parse((await d.store.get(slotPath(PRODUCT, 9)))!).action.state === "preparing");
    // The proxy that did lock was told to unlock (preparing view: source, unlocked).
    expect(viewsOf(good, 9).slice(0, 2)).toEqual([`L ${b.addr} <- ${a.addr}`, `- ${a.addr} <- `]);
    // It retries and goes through once the proxy accepts.
    bad.mode = "ok";
    await until("migrated", async () => (await d.stats()).slots[9]!.group_id === 2);
    const after = await d.stats();
    expect(after.slot_action.progress.status).toBe("");
    expect(after.slot_action.error).toBeUndefined();
  });

  it("an unreachable proxy at the migrating step keeps the slot prepared (locked everywhere) until it is back", async () => {
    const store = new MemoryStore();
    const d = await startDashboard(store);
    const [a, b] = await twoGroups(d);
    const p1 = await startFakeProxy();
    const p2 = await startFakeProxy();
    await d.put(`/api/topom/proxy/create/{x}/${p1.addr}`);
    await d.put(`/api/topom/proxy/create/{x}/${p2.addr}`);
    await d.t.close();
    // Resume from a stored `prepared` while p2 is down.
    const m = newSlotMapping(20, 1);
    m.action = { index: 1, state: "prepared", target_id: 2 };
    await store.put(slotPath(PRODUCT, 20), toJsonText(encodeSlotMapping(m)));
    await p2.down();
    p1.fills.length = 0;
    p2.fills.length = 0;
    const d2 = await startDashboard(store);
    const st = await until("blocked", async () => {
      const s = await d2.stats();
      return s.slot_action.progress.status.startsWith("[ERROR]") ? s : undefined;
    });
    expect(st.slot_action.progress.status).toBe(`[ERROR] Slot[0020]: proxy-[${p2.token}] resync slots failed`);
    expect(st.slot_action.error).toMatch(new RegExp(`${p2.addr}.*(ECONNREFUSED|connect)`));
    expect(st.slots[20]!.action.state).toBe("prepared");
    // A stored `prepared` does not say every proxy is locked (it is stored before its push), so
    // the resumed dashboard locks the slot everywhere again before anything migrates, and the
    // proxies that did lock keep it locked (never back to the source) until p2 is back.
    expect(viewsOf(p1, 20).every((v) => v === `L ${b.addr} <- ${a.addr}`)).toBe(true);
    await p2.up();
    await until("migrated", async () => (await d2.stats()).slots[20]!.group_id === 2);
    expect(viewsOf(p1, 20).slice(-2)).toEqual([`- ${b.addr} <- ${a.addr}`, `- ${b.addr} <- `]);
    expect(viewsOf(p2, 20)).toEqual([`L ${b.addr} <- ${a.addr}`, `- ${b.addr} <- ${a.addr}`, `- ${b.addr} <- `]);
  });

  for (const state of ["preparing", "prepared", "migrating", "finished"]) {
    it(`a dashboard restarted at "${state}" resumes from the stored state`, async () => {
      const store = new MemoryStore();
      const d = await startDashboard(store);
      const [a, b] = await twoGroups(d);
      const p = await startFakeProxy();
      await d.put(`/api/topom/proxy/create/{x}/${p.addr}`);
      const keys = keysInSlot(30, 10);
      for (const k of keys) (state === "finished" ? b : a).set(k, "v");
      await d.t.close();
      const m = newSlotMapping(30, 1);
      m.action = { index: 3, state, target_id: 2 };
      await store.put(slotPath(PRODUCT, 30), toJsonText(encodeSlotMapping(m)));
      p.fills.length = 0;
      const d2 = await startDashboard(store);
      await until("finished", async () => (await d2.stats()).slots[30]!.group_id === 2);
      const want = {
        preparing: [`L ${b.addr} <- ${a.addr}`, `- ${b.addr} <- ${a.addr}`, `- ${b.addr} <- `],
        prepared: [`L ${b.addr} <- ${a.addr}`, `- ${b.addr} <- ${a.addr}`, `- ${b.addr} <- `],
        migrating: [`- ${b.addr} <- `],
        finished: [`- ${b.addr} <- `],
      }[state];
      expect(viewsOf(p, 30)).toEqual(want);
      for (const k of keys) expect(b.get(k)).toBe("v");
      expect(Object.keys(a.dump())).toEqual([]);
    });
  }

  it("a dashboard stopped mid-move resumes the move after restart; nothing is lost", async () => {
    const store = new MemoryStore();
    const held = heldMovers();
    const d = await startDashboard(store, {}, { movers: held.movers });
    const [a, b] = await twoGroups(d);
    const p = await startFakeProxy();
    await d.put(`/api/topom/proxy/create/{x}/${p.addr}`);
    const keys = [...keysInSlot(40, 30), ...keysInSlot(41, 30)];
    for (const k of keys) a.set(k, `v-${k}`);
    await d.put("/api/topom/slots/action/create-range/{x}/40/41/2");
    await held.started;
    expect((await d.stats()).slot_action.executor).toBe(2);
    expect(await remoteError(d.put(`/api/topom/group/promote/{x}/1/${a.addr}`))).toBe("group-[1] can't promote master");
    await d.t.close();
    expect(JSON.parse((await store.get(slotPath(PRODUCT, 40)))!).action.state).toBe("migrating");
    const d2 = await startDashboard(store);
    await until("finished", async () => (await d2.stats()).slots.slice(40, 42).every((m) => m.group_id === 2 && !m.action.state));
    for (const k of keys) expect(b.get(k)).toBe(`v-${k}`);
    expect(a.dump()).toEqual({});
  });

  it("a move paused by disabled lets a promotion through, then starts over from the new master", async () => {
    const d = await startDashboard(new MemoryStore(), { migration_async_numkeys: 2 });
    const [a, b] = await twoGroups(d);
    const a2 = await codisServer();
    await d.put(`/api/topom/group/add/{x}/1/${a2.addr}`);
    // a2 stands for a replica of a: it holds the same keys.
    const keys = keysInSlot(70, 60);
    for (const k of keys) {
      a.set(k, "v");
      a2.set(k, "v");
    }
    await d.put("/api/topom/slots/action/interval/{x}/50000");
    await d.put("/api/topom/slots/action/create/{x}/70/2");
    await until("moving", async () => (await d.stats()).slot_action.executor === 1);
    expect(await remoteError(d.put(`/api/topom/group/promote/{x}/1/${a2.addr}`))).toBe("slots-migration is running = 1");
    await d.put("/api/topom/slots/action/disabled/{x}/1");
    await until("paused", async () => (await d.stats()).slot_action.executor === 0);
    expect(await d.put(`/api/topom/group/promote/{x}/1/${a2.addr}`)).toBe("OK");
    await d.put("/api/topom/slots/action/interval/{x}/0");
    await d.put("/api/topom/slots/action/disabled/{x}/0");
    await until("migrated", async () => (await d.stats()).slots[70]!.group_id === 2);
    for (const k of keys) expect(b.get(k)).toBe("v");
    expect(a2.dump()).toEqual({});
    expect(Object.keys(a.dump()).length).toBeGreaterThan(0); // the old master kept what it had not moved
  });

  it("disabled keeps pending slots from starting; enabling starts them", async () => {
    const d = await startDashboard();
    await twoGroups(d);
    await d.put("/api/topom/slots/action/disabled/{x}/1");
    await d.put("/api/topom/slots/action/create/{x}/50/2");
    await new Promise((r) => setTimeout(r, 200));
    expect((await d.stats()).slots[50]!.action.state).toBe("pending");
    await d.put("/api/topom/slots/action/disabled/{x}/0");
    await until("migrated", async () => (await d.stats()).slots[50]!.group_id === 2);
  });

  it("plain Redis masters: the redis mover is used and proxies get forward_method 2, whatever the config says", async () => {
    const held = heldMovers();
    const d2 = await startDashboard(new MemoryStore(), { migration_method: "semi-async" }, { movers: held.movers });
    const ra = await startRedis();
    const rb = await startRedis();
    await d2.put("/api/topom/group/create/{x}/1");
    await d2.put("/api/topom/group/create/{x}/2");
    await d2.put(`/api/topom/group/add/{x}/1/${ra.addr}`);
    await d2.put(`/api/topom/group/add/{x}/2/${rb.addr}`);
    await d2.put("/api/topom/slots/assign/{x}", [{ id: 60, group_id: 1, action: {} }]);
    const p = await startFakeProxy();
    await d2.put(`/api/topom/proxy/create/{x}/${p.addr}`);
    const k = keysInSlot(60, 1)[0]!;
    await ra.command("SET", k, "plain");
    p.fills.length = 0;
    await d2.put("/api/topom/slots/action/create/{x}/60/2");
    await held.started;
    held.release();
    await until("migrated", async () => (await d2.stats()).slots[60]!.group_id === 2);
    expect(held.methods).toEqual(["redis"]);
    expect(p.fills[0]![0]).toMatchObject({ id: 60, locked: true, forward_method: 2 });
    expect(p.fills[1]![0]).toMatchObject({ id: 60, forward_method: 2, migrate_from: ra.addr });
    expect(await rb.command("GET", k)).toBe("plain");
    expect(await ra.command("EXISTS", k)).toBe(":0");
  });
});

describe("promotion and replica groups", () => {
  it("promote: slots locked in proxies, servers reordered, slots pushed with the new master", async () => {
    const d = await startDashboard();
    const [a] = await twoGroups(d);
    const a2 = await codisServer();
    await d.put(`/api/topom/group/add/{x}/1/${a2.addr}`);
    const p = await startFakeProxy();
    await d.put(`/api/topom/proxy/create/{x}/${p.addr}`);
    p.fills.length = 0;
    expect(await remoteError(d.put(`/api/topom/group/promote/{x}/1/${a.addr}`))).toBe("group-[1] can't promote master");
    expect(await d.put(`/api/topom/group/promote/{x}/1/${a2.addr}`)).toBe("OK");
    expect(p.fills.length).toBe(2);
    expect(p.fills[0]!.length).toBe(512);
    expect(p.fills[0]![0]).toMatchObject({ id: 0, locked: true, backend_addr: a.addr });
    expect(p.fills[1]![0]).toEqual({ id: 0, backend_addr: a2.addr, backend_addr_group_id: 1, forward_method: 1 });
    const g = (await d.stats()).group.models[0]!;
    expect(g.servers.map((s) => s.server)).toEqual([a2.addr, a.addr]);
    expect(g.promoting).toEqual({});
  });

  it("replica groups: flags, out_of_sync, and replica lists in the pushed slots", async () => {
    const d = await startDashboard();
    const [a] = await twoGroups(d);
    const a2 = await codisServer();
    await d.put(`/api/topom/group/add/{x}/1/${a2.addr}`);
    expect(await d.put(`/api/topom/group/replica-groups/{x}/1/${a2.addr}/1`)).toBe("OK");
    let st = await d.stats();
    expect(st.group.models[0]!.servers[1]!.replica_group).toBe(true);
    expect(st.group.models[0]!.out_of_sync).toBe(true);
    const p = await startFakeProxy();
    await d.put(`/api/topom/proxy/create/{x}/${p.addr}`);
    expect(p.fills[0]![0]).toMatchObject({ backend_addr: a.addr, replica_groups: [[a2.addr]] });
    expect(await d.put("/api/topom/group/replica-groups-all/{x}/0")).toBe("OK");
    st = await d.stats();
    expect(st.group.models[0]!.servers.every((s) => !s.replica_group)).toBe(true);
  });
});
