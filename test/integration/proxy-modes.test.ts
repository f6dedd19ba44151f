// How a proxy comes online (standalone [[group]], --dashboard, --fillslots) and how it reloads
// its config on SIGHUP (DESIGN §5, §6; shared/codis-dashboard-api.md §1.7 and §2 "Other
// programs"). Real proxy processes with 2 workers in front of real redis-server backends.
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import http from "node:http";
import net from "node:net";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { Redis } from "ioredis";
import { startRedis, stopAllRedis, type RedisServer } from "../harness/redis.js";
import { startSlotway, stopAllSlotway, writeConfig, type Slotway, twoGroups } from "../harness/slotway.js";
import { ProxyAdmin, clientsOnEachWorker, httpRequest, sleep, until, type SlotJson } from "../harness/admin.js";
import { RawClient } from "../harness/resp-client.js";
import { freePort } from "../harness/ports.js";
import { encodeCommand } from "../../src/core/resp-encoder.js";
import { slotOfKey } from "../../src/core/slot.js";
import { xauth } from "../../src/control/xauth.js";

let g1: RedisServer;
let g2: RedisServer;
let d1: Redis;
let d2: Redis;
const cleanup: (() => unknown)[] = [];

beforeAll(async () => {
  [g1, g2] = await Promise.all([startRedis(), startRedis()]);
  d1 = new Redis({ port: g1.port, host: "127.0.0.1", maxRetriesPerRequest: 0 });
  d2 = new Redis({ port: g2.port, host: "127.0.0.1", maxRetriesPerRequest: 0 });
});

afterEach(async () => {
  for (const f of cleanup.splice(0).reverse()) await f();
  await stopAllSlotway();
});

afterAll(async () => {
  d1?.disconnect();
  d2?.disconnect();
  await stopAllRedis();
});

const NOT_ONLINE = "-ERR router is not online\r\n";
const NOT_READY = "-ERR handle request, slot is not ready, may be offline\r\n";

/** Connects and expects codis's offline greeting followed by a close. */
async function expectNotOnline(port: number): Promise<void> {
  const c = await RawClient.connect(port);
  c.write(encodeCommand(["GET", "x"]));
  const frames = await c.readUntilClose(5000);
  expect(frames.map((f) => f.toString("latin1"))).toEqual([NOT_ONLINE]);
}

async function client(port: number): Promise<RawClient> {
  const c = await RawClient.connect(port);
  cleanup.push(() => c.close());
  return c;
}

describe("standalone with [[group]]", () => {
  it("is online at once and routes by the groups; slots of no group are offline", async () => {
    const p = await startSlotway({
      workers: 2,
      groups: [
        { id: 1, servers: [g1.addr, g2.addr], slots: "0-511" },
        { id: 2, servers: [g2.addr], slots: "512-1000" },
      ],
    });
    const admin = await new ProxyAdmin(p.adminAddr).init();
    expect((await admin.stats()).online).toBe(true);
    const slots = await admin.slots();
    expect(slots[0]).toEqual({ id: 0, backend_addr: g1.addr, backend_addr_group_id: 1, replica_groups: [[g2.addr]] });
    expect(slots[600]).toEqual({ id: 600, backend_addr: g2.addr, backend_addr_group_id: 2 });
    expect(slots[1001]).toEqual({ id: 1001 });
    const byWorker = await clientsOnEachWorker(p.port, 1);
    cleanup.push(() => byWorker.flat().forEach((c) => c.close()));
    const k1 = keyIn((s) => s <= 511, "sa");
    const k2 = keyIn((s) => s >= 512 && s <= 1000, "sb");
    const off = keyIn((s) => s > 1000, "sc");
    for (const c of byWorker.flat()) {
      expect(await c.call("SET", k1, "one")).toBe("+OK\r\n");
      expect(await c.call("SET", k2, "two")).toBe("+OK\r\n");
      expect(await c.call("GET", off)).toBe(NOT_READY);
    }
    expect(await d1.get(k1)).toBe("one");
    expect(await d2.get(k2)).toBe("two");
    expect(await d2.get(k1)).toBeNull();
    expect(p.output()).toMatch(/23 slot\(s\) belong to no group/);
  });
});

describe("--dashboard", () => {
  it("with no dashboard answering: offline (codis's 'router is not online' and a close) until fillslots + start", async () => {
    const nobody = await freePort();
    const p = await startSlotway({ workers: 2, args: ["--dashboard", `127.0.0.1:${nobody}`], config: { log_level: "info" } });
    const admin = await new ProxyAdmin(p.adminAddr).init();
    expect((await admin.stats()).online).toBe(false);
    for (let i = 0; i < 4; i++) await expectNotOnline(p.port); // on whichever worker accepts
    await until("announce failure logged", () => p.output().includes(`online with dashboard 127.0.0.1:${nobody} failed`), 5000);
    const metrics = (await httpRequest("GET", `${admin.base}/metrics`)).text;
    expect(metrics).toMatch(/^slotway_online 0$/m);

    // A dashboard's reinit: fillslots (still offline), then start.
    const all: SlotJson[] = Array.from({ length: 1024 }, (_, id) => ({ id, backend_addr: id < 512 ? g1.addr : g2.addr, backend_addr_group_id: id < 512 ? 1 : 2 }));
    await admin.fillOk(all);
    expect((await admin.stats()).online).toBe(false);
    await expectNotOnline(p.port);
    await admin.start();
    expect((await admin.stats()).online).toBe(true);
    expect((await httpRequest("GET", `${admin.base}/metrics`)).text).toMatch(/^slotway_online 1$/m);
    const byWorker = await clientsOnEachWorker(p.port, 1);
    cleanup.push(() => byWorker.flat().forEach((c) => c.close()));
    const k = keyIn((s) => s >= 512, "dash");
    for (const c of byWorker.flat()) expect(await c.call("SET", k, "v")).toBe("+OK\r\n");
    expect(await d2.get(k)).toBe("v");
  });

  it("announces itself like codis-proxy: GET model, then PUT proxy/online/<dashboard xauth>/<admin_addr>; the dashboard's reinit brings it online", async () => {
    const calls: string[] = [];
    let reinit: Promise<void> | undefined;
    const dash = http.createServer((req, res) => {
      calls.push(`${req.method} ${req.url}`);
      const json = (status: number, v: unknown) => {
        res.writeHead(status, { "Content-Type": "application/json; charset=utf-8" });
        res.end(JSON.stringify(v, null, 4));
      };
      if (req.method === "GET" && req.url === "/api/topom/model") return json(200, { token: "t", product_name: "test", admin_addr: "x" });
      const m = /^\/api\/topom\/proxy\/online\/([0-9a-f]+)\/(.+)$/.exec(req.url ?? "");
      if (req.method === "PUT" && m) {
        // As codis's dashboard: model, xping, fillslots (all 1024), start, sentinels; then OK.
        reinit = (async () => {
          const a = await new ProxyAdmin(decodeURIComponent(m[2]!)).init();
          expect((await a.call("GET", "xping/{x}")).status).toBe(200);
          await a.fillOk(Array.from({ length: 1024 }, (_, id) => ({ id, backend_addr: g1.addr, backend_addr_group_id: 1 })));
          await a.start();
          expect((await a.call("PUT", "sentinels/{x}", { out_of_sync: false })).status).toBe(200);
        })();
        return void reinit.then(() => json(200, "OK"), (e: Error) => json(800, { Cause: e.message, Stack: null }));
      }
      json(404, "404 page not found");
    });
    await new Promise<void>((r) => dash.listen(0, "127.0.0.1", () => r()));
    cleanup.push(() => new Promise((r) => dash.close(() => r(undefined))));
    const addr = `127.0.0.1:${(dash.address() as { port: number }).port}`;
    const p = await startSlotway({ workers: 2, args: ["--dashboard", addr] });
    const admin = await new ProxyAdmin(p.adminAddr).init();
    await until("online through the dashboard", async () => (await admin.stats()).online, 10_000);
    await reinit;
    expect(calls.slice(0, 2)).toEqual(["GET /api/topom/model", `PUT /api/topom/proxy/online/${xauth("test")}/${p.adminAddr}`]);
    const c = await client(p.port);
    expect(await c.call("SET", "via-dashboard", "1")).toBe("+OK\r\n");
    expect(await d1.get("via-dashboard")).toBe("1");
  });

  it("stops when the dashboard serves another product (codis panics)", async () => {
    const dash = http.createServer((_req, res) => {
      res.writeHead(200, { "Content-Type": "application/json; charset=utf-8" });
      res.end(JSON.stringify({ product_name: "someone-else" }));
    });
    await new Promise<void>((r) => dash.listen(0, "127.0.0.1", () => r()));
    cleanup.push(() => new Promise((r) => dash.close(() => r(undefined))));
    const addr = `127.0.0.1:${(dash.address() as { port: number }).port}`;
    const p = await startSlotway({ workers: 2, args: ["--dashboard", addr], waitReady: false });
    const code = await new Promise<number | null>((r) => p.proc.once("exit", (c) => r(c)));
    expect(code).toBe(1);
    expect(p.output()).toMatch(/serves product "someone-else", not "test"/);
  });
});

describe("--fillslots FILE", () => {
  it("fills from a JSON array of codis Slot objects and serves at once", async () => {
    const dir = mkdtempSync(path.join(tmpdir(), "slotway-fill-"));
    const file = path.join(dir, "slots.json");
    const slots: SlotJson[] = [];
    for (let id = 0; id < 1024; id++) {
      if (id < 300) slots.push({ id, backend_addr: g1.addr, backend_addr_group_id: 1 });
      else if (id < 1000) slots.push({ id, backend_addr: g2.addr, backend_addr_group_id: 2 });
    }
    writeFileSync(file, JSON.stringify(slots, null, 4));
    const p = await startSlotway({ workers: 2, args: ["--fillslots", file] });
    const admin = await new ProxyAdmin(p.adminAddr).init();
    expect((await admin.stats()).online).toBe(true);
    const got = await admin.slots();
    expect(got.slice(0, 1000)).toEqual(slots);
    expect(got[1000]).toEqual({ id: 1000 });
    const c = await client(p.port);
    const a = keyIn((s) => s < 300, "fa");
    const b = keyIn((s) => s >= 300 && s < 1000, "fb");
    const off = keyIn((s) => s >= 1000, "fc");
    expect(await c.call("SET", a, "A")).toBe("+OK\r\n");
    expect(await c.call("SET", b, "B")).toBe("+OK\r\n");
    expect(await c.call("SET", off, "C")).toBe(NOT_READY);
    expect(await d1.get(a)).toBe("A");
    expect(await d2.get(b)).toBe("B");
  });

  it("refuses to start on a file that is not an array of slots", async () => {
    const dir = mkdtempSync(path.join(tmpdir(), "slotway-fill-"));
    for (const [name, text] of [["obj.json", '{"id": 1}'], ["bad.json", "[{"], ["range.json", '[{"id": 1024}]']] as const) {
      const file = path.join(dir, name);
      writeFileSync(file, text);
      const p = await startSlotway({ workers: 2, args: ["--fillslots", file], waitReady: false });
      const code = await new Promise<number | null>((r) => (p.proc.exitCode !== null ? r(p.proc.exitCode) : p.proc.once("exit", (c) => r(c))));
      expect(code, name).toBe(1);
      expect(p.output(), name).toMatch(/cannot start/);
    }
  });
});

describe("SIGHUP reload", () => {
  /** Rewrites the proxy's config file with these keys and groups. */
  function rewrite(p: Slotway, config: Record<string, string | number | boolean>, groups: { id: number; servers: string[]; slots: string }[]): void {
    const fresh = writeConfig(portOf(p.addr), portOf(p.adminAddr), { workers: 2, config, groups });
    writeFileSync(p.configPath, readFileSync(fresh, "utf8"));
  }

  async function hup(p: Slotway, expectLine: RegExp): Promise<string> {
    const mark = p.output().length;
    p.proc.kill("SIGHUP");
    await until(`reload log ${expectLine}`, () => expectLine.test(p.output().slice(mark)), 5000);
    return p.output().slice(mark);
  }

  /** How many requests one client gets held by a locked slot: session_max_pipeline at work. */
  async function heldFrom(admin: ProxyAdmin, c: RawClient, slot: number, list: string, backend: RedisServer, gid: number): Promise<number> {
    await admin.fillOk([{ id: slot, locked: true, backend_addr: backend.addr, backend_addr_group_id: gid }]);
    c.write(Buffer.concat(Array.from({ length: 8 }, (_, i) => encodeCommand(["RPUSH", list, String(i)]))));
    await sleep(200);
    const held = (await admin.stats()).slotway!.held_requests;
    await admin.fillOk([{ id: slot, backend_addr: backend.addr, backend_addr_group_id: gid }]);
    const frames = await c.read(8);
    for (const f of frames) expect(f.toString("latin1")).toMatch(/^:\d+\r\n$/);
    return held;
  }

  it("survives a SIGHUP sent as soon as it answers on its admin port", async () => {
    // A supervisor (or a dashboard's reinit) may act on a proxy the moment it answers; a reload
    // signal then must not find the default action of SIGHUP, which terminates the process.
    const died: string[] = [];
    for (let i = 0; i < 3; i++) {
      const p = await startSlotway({ workers: 2, groups: [{ id: 1, servers: [g1.addr], slots: "0-1023" }], waitReady: false });
      for (let t = 0; !(await canConnect(p.adminPort)); t++) {
        if (t > 5000 || p.proc.exitCode !== null) throw new Error(`proxy did not come up:\n${p.output()}`);
        await sleep(1);
      }
      p.proc.kill("SIGHUP");
      await sleep(300);
      if (p.proc.signalCode !== null || p.proc.exitCode !== null) died.push(`try ${i}: exit ${p.proc.exitCode} signal ${p.proc.signalCode}`);
      await p.stop();
    }
    expect(died).toEqual([]);
  });

  it("applies reloadable keys and a new [[group]] assignment without dropping an open connection", async () => {
    const base = { log_level: "info", session_max_pipeline: 2 };
    const p = await startSlotway({
      workers: 2,
      config: base,
      groups: twoGroups(g1.addr, g2.addr),
    });
    const admin = await new ProxyAdmin(p.adminAddr).init();
    const key = keyIn((s) => s < 512, "hup");
    const slot = slotOfKey(key);
    const list = `{${key}}:l`;
    const old = await client(p.port);
    expect(await old.call("SET", key, "before")).toBe("+OK\r\n");
    expect(await d1.get(key)).toBe("before");
    expect(await heldFrom(admin, old, slot, list, g1, 1)).toBe(2);

    expect((await admin.stats()).backend.primary_only).toBe(false);
    rewrite(p, { ...base, session_max_pipeline: 5, session_auth: "new-secret", backend_primary_only: true }, [
      { id: 1, servers: [g1.addr], slots: "512-1023" },
      { id: 2, servers: [g2.addr], slots: "0-511" },
    ]);
    const log = await hup(p, /reload: applied/);
    expect(log).toMatch(/reload: applied .*session_auth/);
    expect(log).toMatch(/reload: applied .*session_max_pipeline/);
    expect(log).not.toMatch(/need a restart/);
    expect((await admin.stats()).backend.primary_only).toBe(true);

    // The open connection survived, keeps its session, and routes by the new assignment.
    expect(old.closed).toBe(false);
    expect(await old.call("SET", key, "after")).toBe("+OK\r\n");
    expect(await d2.get(key)).toBe("after");
    expect(await d1.get(key)).toBe("before");
    expect((await admin.slots())[slot]).toEqual({ id: slot, backend_addr: g2.addr, backend_addr_group_id: 2 });
    // The new pipeline limit applies to it.
    expect(await heldFrom(admin, old, slot, list, g2, 2)).toBe(5);
    // New connections need the new password.
    const fresh = await client(p.port);
    expect(await fresh.call("GET", key)).toBe("-NOAUTH Authentication required\r\n");
    expect(await fresh.call("AUTH", "new-secret")).toBe("+OK\r\n");
    expect(await fresh.call("GET", key)).toBe("$5\r\nafter\r\n");
  });

  it("reports a non-reloadable key as needing a restart and keeps its old value", async () => {
    const base = { log_level: "info", backend_primary_parallel: 1 };
    const p = await startSlotway({ workers: 2, config: base, groups: [{ id: 1, servers: [g1.addr], slots: "0-1023" }] });
    const admin = await new ProxyAdmin(p.adminAddr).init();
    const c = await client(p.port);
    expect(await c.call("SET", "nr", "1")).toBe("+OK\r\n");
    rewrite(p, { ...base, backend_primary_parallel: 4, session_max_pipeline: 7 }, [{ id: 1, servers: [g1.addr], slots: "0-1023" }]);
    const log = await hup(p, /reload: applied/);
    expect(log).toMatch(/reload: backend_primary_parallel changed but need a restart to apply/);
    expect(log).toMatch(/reload: applied session_max_pipeline/);
    const cfg = (JSON.parse((await httpRequest("GET", `${admin.base}/proxy`)).text) as { config: Record<string, unknown> }).config;
    expect(cfg.backend_primary_parallel).toBe(1);
    expect(cfg.session_max_pipeline).toBe(7);
    expect(await c.call("GET", "nr")).toBe("$1\r\n1\r\n");
  });

  it("an invalid file changes nothing and is logged", async () => {
    const base = { log_level: "info", session_auth: "pw1" };
    const groups = [{ id: 1, servers: [g1.addr], slots: "0-1023" }];
    const p = await startSlotway({ workers: 2, config: base, groups });
    const admin = await new ProxyAdmin(p.adminAddr).init();
    const c = await client(p.port);
    expect(await c.call("AUTH", "pw1")).toBe("+OK\r\n");
    const before = await admin.slots();

    // A bad value (and a changed password and assignment alongside it).
    rewrite(p, { ...base, session_auth: "pw2", session_max_pipeline: 0 }, [{ id: 1, servers: [g2.addr], slots: "0-1023" }]);
    expect(await hup(p, /reload: /)).toMatch(/reload: invalid session_max_pipeline: must be ≥ 1; nothing changed/);
    // Not TOML at all.
    writeFileSync(p.configPath, "session_auth = \"pw3\"\nthis is not toml\n");
    expect(await hup(p, /reload: /)).toMatch(/reload: .*not valid TOML.*; nothing changed/);
    // An unknown key.
    rewrite(p, { ...base, session_auth: "pw4", no_such_key: 1 }, groups);
    expect(await hup(p, /reload: /)).toMatch(/reload: invalid no_such_key: unknown key; nothing changed/);

    expect(c.closed).toBe(false);
    expect(await c.call("SET", "inv", "1")).toBe("+OK\r\n");
    expect(await d1.get("inv")).toBe("1");
    expect(await d2.get("inv")).toBeNull();
    expect(await admin.slots()).toEqual(before);
    const fresh = await client(p.port);
    expect(await fresh.call("AUTH", "pw2")).toBe("-ERR invalid password\r\n");
    expect(await fresh.call("AUTH", "pw1")).toBe("+OK\r\n");
  });
});

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ port, host: "127.0.0.1" });
    s.once("connect", () => {
      s.destroy();
      resolve(true);
    });
    s.once("error", () => resolve(false));
  });
}

function keyIn(pred: (slot: number) => boolean, prefix: string): string {
  for (let i = 0; ; i++) if (pred(slotOfKey(`${prefix}${i}`))) return `${prefix}${i}`;
}

function portOf(addr: string): number {
  return Number(addr.slice(addr.lastIndexOf(":") + 1));
}
