// The proxy's admin HTTP API, route by route, as codis-dashboard, codis-admin and codis-fe call
// it (DESIGN §6, shared/codis-dashboard-api.md §0 and §1.7): exact status codes, error bodies,
// JSON shapes and indentation, xauth, and the Prometheus /metrics text. A real proxy process
// (2 workers) in front of two real redis-server backends.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Redis } from "ioredis";
import { startRedis, stopAllRedis, type RedisServer } from "../harness/redis.js";
import { startSlotway, stopAllSlotway, type Slotway, twoGroups } from "../harness/slotway.js";
import { ProxyAdmin, httpRequest, until, type ProxyStatsJson } from "../harness/admin.js";
import { RawClient } from "../harness/resp-client.js";
import { xauth } from "../../src/control/xauth.js";
import { slotOfKey } from "../../src/core/slot.js";

const PRODUCT_AUTH = "backend-pw";

let g1: RedisServer;
let g2: RedisServer;
let proxy: Slotway;
let admin: ProxyAdmin;
let client: Redis;

beforeAll(async () => {
  [g1, g2] = await Promise.all([startRedis({ password: PRODUCT_AUTH }), startRedis({ password: PRODUCT_AUTH })]);
  proxy = await startSlotway({
    workers: 2,
    groups: twoGroups(g1.addr, g2.addr),
    config: { product_auth: PRODUCT_AUTH, session_auth: "client-pw" },
  });
  admin = await new ProxyAdmin(proxy.adminAddr, "test", PRODUCT_AUTH).init();
  client = new Redis({ port: proxy.port, host: "127.0.0.1", password: "client-pw", maxRetriesPerRequest: 0, lazyConnect: true });
  client.on("error", () => undefined);
  await client.connect();
});

afterAll(async () => {
  client?.disconnect();
  await stopAllSlotway();
  await stopAllRedis();
});

const INVALID_XAUTH = { Cause: "invalid xauth, please check product name & auth", Stack: expect.any(Array) };
const BAD = "0123456789abcdef0123456789abcdef";

/** Every xauth route of codis-proxy 3.2 (pkg/proxy/proxy_api.go) with a method and a harmless body. */
const XAUTH_ROUTES: [string, string, unknown?][] = [
  ["GET", "xping/{x}"],
  ["GET", "stats/{x}"],
  ["GET", "stats/{x}/1"],
  ["GET", "slots/{x}"],
  ["PUT", "start/{x}"],
  ["PUT", "stats/reset/{x}"],
  ["PUT", "forcegc/{x}"],
  ["PUT", "shutdown/{x}"],
  ["PUT", "loglevel/{x}/INFO"],
  ["PUT", "fillslots/{x}", []],
  ["PUT", "sentinels/{x}", { servers: [], out_of_sync: false }],
  ["PUT", "sentinels/{x}/rewatch"],
];

describe("model and xauth", () => {
  it("serves the model on /api/proxy/model and /proxy/model, JSON indented with 4 spaces", async () => {
    const r = await httpRequest("GET", `${admin.base}/api/proxy/model`);
    expect(r.status).toBe(200);
    expect(r.headers["content-type"]).toBe("application/json; charset=utf-8");
    expect(r.text).toMatch(/^\{\n {4}"[a-z_]+": /);
    expect(r.text).toContain(`\n    "token": "${admin.token}",\n`);
    const m = JSON.parse(r.text) as Record<string, unknown>;
    expect(m).toMatchObject({
      token: admin.token,
      admin_addr: proxy.adminAddr,
      proxy_addr: proxy.addr,
      proto_type: "tcp4",
      product_name: "test",
      pid: proxy.proc.pid,
    });
    for (const k of ["start_time", "pwd", "sys", "hostname", "datacenter"]) expect(typeof m[k], k).toBe("string");
    const open = await httpRequest("GET", `${admin.base}/proxy/model`);
    expect(open.status).toBe(200);
    expect(JSON.parse(open.text)).toEqual(m);
  });

  it("omits a zero id and an empty jodis_path, as Go's omitempty does in codis models.Proxy", async () => {
    const m = JSON.parse((await httpRequest("GET", `${admin.base}/api/proxy/model`)).text) as Record<string, unknown>;
    expect(m).not.toHaveProperty("id");
    expect(m).not.toHaveProperty("jodis_path");
  });

  it("xauth is SHA-256 of Codis-XAuth-[product]-[auth]-[token], first 16 bytes in hex", async () => {
    expect(admin.xauth).toBe(xauth("test", PRODUCT_AUTH, admin.token));
    expect(admin.xauth).toMatch(/^[0-9a-f]{32}$/);
    const r = await admin.call("GET", "xping/{x}");
    expect(r.status).toBe(200);
    expect(JSON.parse(r.text)).toBe("OK");
    // The dashboard's one-segment xauth, or a wrong product_auth, is not this proxy's.
    for (const wrong of [xauth("test"), xauth("test", "", admin.token), xauth("other", PRODUCT_AUTH, admin.token)]) {
      const w = await admin.call("GET", `xping/${wrong}`);
      expect(w.status).toBe(800);
    }
  });

  it("answers a wrong xauth on every xauth route with HTTP 800 and codis's Cause, and does nothing", async () => {
    const before = await admin.stats();
    for (const [method, path, body] of XAUTH_ROUTES) {
      const r = await httpRequest(method, `${admin.base}/api/proxy/${path.replace("{x}", BAD)}`, body);
      expect(r.status, `${method} ${path}`).toBe(800);
      expect(r.headers["content-type"], path).toBe("application/json; charset=utf-8");
      expect(JSON.parse(r.text), path).toEqual(INVALID_XAUTH);
      // Indented as Go's MarshalIndent; the Stack is codis's trace (innermost frame first).
      expect(r.text, path).toBe(JSON.stringify(JSON.parse(r.text), null, 4));
      expect((JSON.parse(r.text) as { Stack: { Name: string; File: string; Line: number }[] }).Stack[0], path)
        .toEqual({ Name: "verify", File: expect.stringMatching(/proxy\.js$/), Line: expect.any(Number) });
    }
    // shutdown with a bad xauth did not stop it; loglevel and fillslots changed nothing.
    expect(proxy.proc.exitCode).toBeNull();
    const after = await admin.stats();
    expect(after.online).toBe(true);
    expect(after.ops.total).toBeGreaterThanOrEqual(before.ops.total); // stats/reset did not run
    expect((await admin.slots())[0]).toEqual({ id: 0, backend_addr: g1.addr, backend_addr_group_id: 1 });
  });
});

describe("routing conventions (codis §0)", () => {
  it("404 page not found for an unknown path, a wrong method, or a missing segment", async () => {
    const cases: [string, string][] = [
      ["GET", "/api/proxy/nosuch"],
      ["GET", "/api/proxy/xping"], // the :xauth segment is missing
      ["PUT", "/api/proxy/model"], // model is GET only
      ["POST", `/api/proxy/xping/${admin.xauth}`],
      ["GET", `/api/proxy/start/${admin.xauth}`], // start is PUT only
      ["GET", `/api/proxy/fillslots/${admin.xauth}`],
      ["PUT", `/api/proxy/stats/${admin.xauth}`],
      ["GET", `/api/proxy/xping/${admin.xauth}/extra`],
      ["GET", "/api/topom/model"], // a proxy is not a dashboard
    ];
    for (const [method, path] of cases) {
      const r = await httpRequest(method, `${admin.base}${path}`);
      expect(r.status, `${method} ${path}`).toBe(404);
      expect(r.text.trimEnd(), `${method} ${path}`).toBe("404 page not found");
    }
  });

  it("ignores the query string and one trailing slash; GET routes answer HEAD", async () => {
    const q = await httpRequest("GET", `${admin.base}/api/proxy/xping/${admin.xauth}/?forward=test`);
    expect(q.status).toBe(200);
    expect(JSON.parse(q.text)).toBe("OK");
    const h = await httpRequest("HEAD", `${admin.base}/api/proxy/model`);
    expect(h.status).toBe(200);
    expect(h.text).toBe("");
  });

  it("GET / redirects to /proxy", async () => {
    const r = await httpRequest("GET", `${admin.base}/`);
    expect(r.status).toBe(302);
    expect(r.headers.location).toBe("/proxy");
  });

  it("/proxy is the overview: version, compile, config (no secrets, codis units), model, stats, slots", async () => {
    const r = await httpRequest("GET", `${admin.base}/proxy`);
    expect(r.status).toBe(200);
    const o = JSON.parse(r.text) as { version: string; compile: string; config: Record<string, unknown>; model: { token: string }; stats: ProxyStatsJson; slots: unknown[] };
    expect(typeof o.version).toBe("string");
    expect(typeof o.compile).toBe("string");
    expect(o.model.token).toBe(admin.token);
    expect(o.stats.online).toBe(true);
    expect(o.slots).toHaveLength(1024);
    expect(o.config.product_name).toBe("test");
    expect(o.config.proxy_addr).toBe(proxy.addr);
    // Durations and sizes as codis writes them, never bare numbers (codis-admin decodes them).
    expect(o.config.backend_recv_timeout).toBe("30s");
    expect(o.config.session_recv_timeout).toBe("30m");
    expect(o.config.backend_recv_bufsize).toBe("128kb");
    expect(r.text).not.toContain(PRODUCT_AUTH);
    expect(r.text).not.toContain("client-pw");
    expect(o.config).not.toHaveProperty("product_auth");
    expect(o.config).not.toHaveProperty("session_auth");
  });
});

describe("stats", () => {
  it("carries codis's fields; ops.cmd only with flags & 1; counters move with traffic", async () => {
    await admin.call("PUT", "stats/reset/{x}");
    for (let i = 0; i < 25; i++) await client.set(`st:${i}`, "v");
    for (let i = 0; i < 10; i++) await client.get(`st:${i}`);
    await client.hget("st:0", "f").catch(() => undefined); // WRONGTYPE: a backend error
    const s = await admin.stats();
    expect(s.online).toBe(true);
    expect(s.closed).toBe(false);
    expect(s.ops.total).toBeGreaterThanOrEqual(36);
    expect(s.ops.fails).toBe(0);
    expect(s.ops.redis.errors).toBe(1);
    expect(typeof s.ops.qps).toBe("number");
    expect(s.ops).not.toHaveProperty("cmd");
    expect(s.sessions.alive).toBeGreaterThanOrEqual(1);
    expect(s.sessions.total).toBeGreaterThanOrEqual(s.sessions.alive);
    expect(typeof s.rusage.now).toBe("string");
    expect(typeof s.rusage.cpu).toBe("number");
    expect(s.rusage.mem).toBeGreaterThan(0);
    expect(s.backend).toEqual({ primary_only: false });
    expect(s).not.toHaveProperty("runtime");

    const full = await admin.stats(1);
    const cmd = new Map(full.ops.cmd!.map((c) => [c.opstr, c]));
    expect(cmd.get("SET")).toMatchObject({ calls: 25, fails: 0, redis_errtype: 0 });
    expect(cmd.get("GET")).toMatchObject({ calls: 10 });
    expect(cmd.get("HGET")).toMatchObject({ calls: 1, redis_errtype: 1 });
    for (const c of full.ops.cmd!) {
      // codis OpStats: opstr, calls, usecs, usecs_percall, fails, redis_errtype
      expect(Object.keys(c).sort()).toEqual(["calls", "fails", "opstr", "redis_errtype", "usecs", "usecs_percall"]);
      expect(c.usecs_percall).toBe(c.calls ? Math.round(c.usecs / c.calls) : 0);
    }
    // Sorted by name, as codis sorts OpStats.
    const names = full.ops.cmd!.map((c) => c.opstr);
    expect(names).toEqual([...names].sort());
    expect((await admin.stats(4)).runtime).toBeDefined();
    // The open /proxy/stats is the full form.
    const open = JSON.parse((await httpRequest("GET", `${admin.base}/proxy/stats`)).text) as ProxyStatsJson;
    expect(open.ops.cmd).toBeDefined();
  });

  it("qps follows the traffic of the last second", async () => {
    const end = Date.now() + 1300;
    while (Date.now() < end) await Promise.all(Array.from({ length: 20 }, (_, i) => client.get(`qps:${i}`)));
    const s = await admin.stats();
    expect(s.ops.qps).toBeGreaterThan(50);
  });

  it("rejects flags that are not an integer with 800", async () => {
    const r = await admin.call("GET", "stats/{x}/abc");
    expect(r.status).toBe(800);
    expect(JSON.parse(r.text)).toEqual({ Cause: 'strconv.Atoi: parsing "abc": invalid syntax', Stack: expect.any(Array) });
  });

  it("stats/reset zeroes the op counters (not the sessions)", async () => {
    await client.set("reset:a", "1");
    const r = await admin.call("PUT", "stats/reset/{x}");
    expect(r.status).toBe(200);
    expect(JSON.parse(r.text)).toBe("OK");
    const s = await admin.stats(1);
    expect(s.ops.total).toBe(0);
    expect(s.ops.redis.errors).toBe(0);
    expect(s.ops).not.toHaveProperty("cmd"); // an empty list is omitted (Go omitempty)
    expect(s.sessions.alive).toBeGreaterThanOrEqual(1);
  });

  it("counts sessions opened and closed across the workers", async () => {
    const before = await admin.stats();
    const clients = await Promise.all(Array.from({ length: 6 }, () => RawClient.connect(proxy.port)));
    await until("6 more sessions alive", async () => (await admin.stats()).sessions.alive >= before.sessions.alive + 6);
    for (const c of clients) c.close();
    await until("sessions closed", async () => (await admin.stats()).sessions.alive === before.sessions.alive);
    expect((await admin.stats()).sessions.total).toBeGreaterThanOrEqual(before.sessions.total + 6);
  });
});

describe("slots, start, forcegc, loglevel, sentinels", () => {
  it("slots/:xauth and /proxy/slots list 1024 Slot objects, zero fields omitted", async () => {
    const slots = await admin.slots();
    expect(slots).toHaveLength(1024);
    slots.forEach((s, i) => expect(s.id).toBe(i));
    expect(slots[0]).toEqual({ id: 0, backend_addr: g1.addr, backend_addr_group_id: 1 });
    expect(slots[1023]).toEqual({ id: 1023, backend_addr: g2.addr, backend_addr_group_id: 2 });
    const text = (await admin.call("GET", "slots/{x}")).text;
    expect(text).not.toContain('"locked": false');
    expect(text).not.toContain('"migrate_from": ""');
    const open = JSON.parse((await httpRequest("GET", `${admin.base}/proxy/slots`)).text) as unknown[];
    expect(open).toEqual(slots);
  });

  it("start answers OK (and is idempotent)", async () => {
    for (let i = 0; i < 2; i++) {
      const r = await admin.call("PUT", "start/{x}");
      expect(r.status).toBe(200);
      expect(r.text).toBe('"OK"');
    }
    expect((await admin.stats()).online).toBe(true);
  });

  it("forcegc answers OK", async () => {
    const r = await admin.call("PUT", "forcegc/{x}");
    expect(r.status).toBe(200);
    expect(JSON.parse(r.text)).toBe("OK");
  });

  it("loglevel takes codis's level names in any case, refuses others with 800, and applies", async () => {
    for (const level of ["DEBUG", "info", "Warn", "WARNING", "ERROR", "NONE"]) {
      const r = await admin.call("PUT", `loglevel/{x}/${level}`);
      expect(r.status, level).toBe(200);
      expect(JSON.parse(r.text)).toBe("OK");
    }
    const bad = await admin.call("PUT", "loglevel/{x}/LOUD");
    expect(bad.status).toBe(800);
    expect(JSON.parse(bad.text)).toEqual({ Cause: "invalid loglevel", Stack: expect.any(Array) });
    // Applies: at DEBUG a protocol error is logged by the worker; at WARN it is not.
    await admin.call("PUT", "loglevel/{x}/WARN");
    const mark = proxy.output().length;
    const quiet = await RawClient.connect(proxy.port);
    quiet.write("*1\r\n+PING\r\n");
    await quiet.readUntilClose(3000);
    await admin.call("PUT", "loglevel/{x}/DEBUG");
    const loud = await RawClient.connect(proxy.port);
    loud.write("*1\r\n+PING\r\n");
    await loud.readUntilClose(3000);
    await until("debug line", () => /Protocol error/.test(proxy.output().slice(mark)), 3000);
    expect(proxy.output().slice(mark).match(/Protocol error: expected/g)).toHaveLength(1);
    await admin.call("PUT", "loglevel/{x}/WARN");
  });

  it("sentinels stores the servers the dashboard sends and shows them in stats", async () => {
    const r = await admin.call("PUT", "sentinels/{x}", { servers: ["127.0.0.1:26379", "127.0.0.1:26380"], out_of_sync: false });
    expect(r.status).toBe(200);
    expect(JSON.parse(r.text)).toBe("OK");
    expect((await admin.stats()).sentinels.servers).toEqual(["127.0.0.1:26379", "127.0.0.1:26380"]);
    expect((await admin.call("PUT", "sentinels/{x}/rewatch")).status).toBe(200);
    await admin.call("PUT", "sentinels/{x}", { servers: [], out_of_sync: false });
    expect((await admin.stats()).sentinels.servers ?? []).toEqual([]);
    const bad = await admin.call("PUT", "sentinels/{x}", "{not json");
    expect(bad.status).toBe(800);
    expect(JSON.parse(bad.text)).toMatchObject({ Stack: expect.any(Array) });
  });

  it("fillslots applies a JSON array of Slot objects and answers OK", async () => {
    const key = "fill:admin";
    const slot = slotOfKey(key);
    const home = slot < 512 ? g1 : g2;
    const other = slot < 512 ? g2 : g1;
    const r = await admin.fill([{ id: slot, backend_addr: other.addr, backend_addr_group_id: slot < 512 ? 2 : 1 }]);
    expect(r.status).toBe(200);
    expect(r.text).toBe('"OK"');
    await client.set(key, "moved");
    expect(await other.command("GET", key)).toBe("moved");
    expect(await home.command("GET", key)).toBe("$-1");
    await admin.fillOk([{ id: slot, backend_addr: home.addr, backend_addr_group_id: slot < 512 ? 1 : 2 }]);
    expect((await admin.slots())[slot]).toEqual({ id: slot, backend_addr: home.addr, backend_addr_group_id: slot < 512 ? 1 : 2 });
  });
});

describe("/metrics", () => {
  const value = (text: string, series: string): number => {
    const line = text.split("\n").find((l) => l.startsWith(series + " "));
    return line === undefined ? NaN : Number(line.slice(series.length + 1));
  };

  it("is Prometheus text whose counters move with traffic", async () => {
    const r0 = await httpRequest("GET", `${admin.base}/metrics`);
    expect(r0.status).toBe(200);
    expect(r0.headers["content-type"]).toMatch(/^text\/plain; version=0\.0\.4/);
    // Every sample line belongs to a family declared by HELP and TYPE.
    const declared = new Set<string>();
    for (const line of r0.text.trimEnd().split("\n")) {
      const m = /^# TYPE (\S+) (counter|gauge)$/.exec(line);
      if (m) declared.add(m[1]!);
      else if (!line.startsWith("# HELP ")) {
        expect(line).toMatch(/^[a-z_]+(\{[a-z]+="[^"]*"\})? -?\d+(\.\d+)?$/);
        expect(declared.has(line.split(/[{ ]/)[0]!), line).toBe(true);
      }
    }
    expect(value(r0.text, "slotway_online")).toBe(1);
    expect(value(r0.text, "slotway_slots_online")).toBe(1024);
    const ops0 = value(r0.text, "slotway_ops_total");
    const sets0 = value(r0.text, 'slotway_command_calls_total{cmd="SET"}') || 0;
    const sessions0 = value(r0.text, "slotway_sessions_total");

    const c = new Redis({ port: proxy.port, host: "127.0.0.1", password: "client-pw", maxRetriesPerRequest: 0 });
    c.on("error", () => undefined);
    for (let i = 0; i < 40; i++) await c.set(`m:${i}`, "x");
    await c.hget("m:0", "f").catch(() => undefined);
    const r1 = await httpRequest("GET", `${admin.base}/metrics`);
    c.disconnect();
    expect(value(r1.text, "slotway_ops_total")).toBeGreaterThanOrEqual(ops0 + 42); // AUTH, 40 SET, HGET
    expect(value(r1.text, 'slotway_command_calls_total{cmd="SET"}')).toBe(sets0 + 40);
    expect(value(r1.text, "slotway_sessions_total")).toBe(sessions0 + 1);
    expect(value(r1.text, "slotway_redis_errors_total")).toBeGreaterThanOrEqual(1);
    expect(value(r1.text, `slotway_backend_up{addr="${g1.addr}"}`)).toBe(1);
    expect(value(r1.text, `slotway_backend_up{addr="${g2.addr}"}`)).toBe(1);
  });
});

describe("shutdown", () => {
  it("answers OK, closes client connections and exits 0", async () => {
    const c = await RawClient.connect(proxy.port);
    expect(await c.call("AUTH", "client-pw")).toBe("+OK\r\n");
    const exited = new Promise<number | null>((resolve) => proxy.proc.once("exit", (code) => resolve(code)));
    const r = await admin.call("PUT", "shutdown/{x}");
    expect(r.status).toBe(200);
    expect(JSON.parse(r.text)).toBe("OK");
    await c.readUntilClose(5000);
    expect(await exited).toBe(0);
  });
});
