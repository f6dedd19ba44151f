// The console's pure parts: the page's own SHA-256 (xauth), what it derives from the stats, the
// dashboard's migration progress counters, the static file server and fe's product sources.
import { createHash } from "node:crypto";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { Assets, defaultAssetsDir } from "../../src/control/console/assets.js";
import { splitHostPort } from "../../src/control/console/fe.js";
import { ListFileSource, StoreSource } from "../../src/control/console/fe-products.js";
import { MigrationProgress } from "../../src/control/dashboard/progress.js";
import { MemoryStore } from "../../src/control/store/store.js";
import { xauth } from "../../src/control/xauth.js";

// The page's modules are plain browser JS (no types); loaded by path so tsc does not resolve them.
const load = (name: string): Promise<any> => import(path.join(defaultAssetsDir(), name)); // eslint-disable-line @typescript-eslint/no-explicit-any
const sha = await load("sha256.js");
const M = await load("model.js");
const chart = await load("chart.js");

const slots = (f: (sid: number) => { group_id: number; action?: { state: string; target_id: number; index?: number } }) =>
  Array.from({ length: 1024 }, (_, id) => {
    const m = f(id);
    return { id, group_id: m.group_id, action: m.action ?? {} };
  });

describe("the page's SHA-256 and xauth", () => {
  it("equals node's SHA-256 on any string, and codis's xauth", () => {
    fc.assert(fc.property(fc.string({ unit: "binary", maxLength: 200 }), (s) =>
      sha.sha256Hex(s) === createHash("sha256").update(s, "utf8").digest("hex")), { numRuns: 200 });
    for (const n of [0, 55, 56, 63, 64, 65, 119, 120, 1000]) {
      const s = "a".repeat(n);
      expect(sha.sha256Hex(s)).toBe(createHash("sha256").update(s).digest("hex"));
    }
    expect(sha.xauthOf("codis-demo")).toBe("95b62887719520f17e312eaa76d28f2b");
    expect(sha.xauthOf("walk")).toBe(xauth("walk"));
  });
});

describe("what the page derives from the stats", () => {
  it("slot runs, state counts and a rebalance plan as ranges", () => {
    const s = slots((id) => (id < 512 ? { group_id: 1 } : id < 520 ? { group_id: 1, action: { state: "migrating", target_id: 2 } } : id < 600 ? { group_id: 1, action: { state: "pending", target_id: 2 } } : { group_id: id < 1000 ? 2 : 0 }));
    expect(M.slotRuns(s)).toEqual([
      { beg: 0, end: 511, group: 1, state: "", target: 0 },
      { beg: 512, end: 519, group: 1, state: "migrating", target: 2 },
      { beg: 520, end: 599, group: 1, state: "pending", target: 2 },
      { beg: 600, end: 999, group: 2, state: "", target: 0 },
      { beg: 1000, end: 1023, group: 0, state: "", target: 0 },
    ]);
    expect(M.stateCounts(s)).toEqual({ idle: 936, offline: 24, pending: 80, preparing: 0, prepared: 0, migrating: 8, finished: 0 });
    expect(M.planRanges({ 853: 3, 342: 3, 343: 3, 344: 2, 1023: 3 })).toEqual([
      { beg: 342, end: 343, gid: 3 }, { beg: 344, end: 344, gid: 2 }, { beg: 853, end: 853, gid: 3 }, { beg: 1023, end: 1023, gid: 3 },
    ]);
    expect(M.assignBody(3, 5, 2)).toEqual([3, 4, 5].map((id) => ({ id, group_id: 2, action: {} })));
    expect(M.parseRange("0", "1023")).toEqual({ beg: 0, end: 1023 });
    expect(() => M.parseRange("10", "9")).toThrow("begin 10 is after end 9");
    expect(() => M.parseRange("0", "1024")).toThrow("slots go from 0 to 1023");
    expect(() => M.parseRange("-1", "3")).toThrow("begin and end must be slot numbers");
  });

  it("migration progress with slotway's counters, and without them (a codis dashboard)", () => {
    const s = slots((id) => (id < 100 ? { group_id: 1, action: { state: "pending", target_id: 2 } } : { group_id: 2 }));
    const withCounters = {
      slots: s,
      slot_action: { interval: 5, disabled: false, executor: 1, progress: { status: "[OK] Slot[0001]@DB[0]=3", slots_done: 300, keys_moved: 4500, keys_per_sec: 900, slots_per_sec: 60, eta_secs: 2, run_secs: 5, running: true } },
    };
    const v = M.progressView(withCounters);
    expect(v).toMatchObject({ running: true, slotsLeft: 100, slotsDone: 300, keysMoved: 4500, etaSecs: 2, fraction: 0.75, status: "[OK] Slot[0001]@DB[0]=3", interval: 5, hasCounters: true });
    const codis = M.progressView({ slots: s, slot_action: { interval: 0, disabled: true, executor: 0, progress: { status: "" } } });
    expect(codis).toMatchObject({ running: true, slotsLeft: 100, hasCounters: false, disabled: true, stopped: [] });
    expect(M.progressView({ slots: s, slot_action: { progress: { status: "" }, stopped: { 7: "too many slots" } } }).stopped).toEqual([{ sid: 7, why: "too many slots" }]);
    expect(codis.keysMoved).toBeUndefined();
    expect(codis.fraction).toBeUndefined();
    expect(M.progressView({ slots: slots(() => ({ group_id: 1 })), slot_action: { progress: { status: "" } } })).toMatchObject({ running: false, slotsLeft: 0, fraction: 1 });
  });

  it("server rows: role, replication against what codis expects, keys, backend kind from the dashboard or INFO", () => {
    const g = { id: 1, servers: [{ server: "a:1" }, { server: "b:2", action: { state: "synced" } }], promoting: {}, out_of_sync: false };
    const master = { unixtime: 1, stats: { role: "master", connected_slaves: "1", used_memory: "2048", maxmemory: "0", db0: "keys=10,expires=0,avg_ttl=0", db3: "keys=5,expires=1", redis_version: "7.0.15" } };
    const replica = { unixtime: 1, stats: { role: "slave", master_addr: "a:1", master_link_status: "down", redis_version: "7.0.15" } };
    expect(M.serverView(g, 0, master)).toMatchObject({ role: "master", keys: 15, memory: 2048, replication: "1 replica(s)", actual: "NO:ONE", mismatch: false, health: "ok", backend: { kind: "redis", version: "7.0.15", from: "info" } });
    expect(M.serverView(g, 0, master, { kind: "redis", server: "valkey", version: "8.0.1" }).backend).toEqual({ kind: "valkey", version: "8.0.1", mode: "", from: "dashboard", error: "" });
    expect(M.serverView(g, 1, replica)).toMatchObject({ role: "replica", replication: "of a:1, link down", expected: "a:1:up", actual: "a:1:down", mismatch: true, syncState: "synced" });
    expect(M.serverView(g, 1, undefined)).toMatchObject({ health: "pending", mismatch: false, keys: undefined });
    expect(M.serverView(g, 1, { unixtime: 1, error: { Cause: "connection refused", Stack: null } })).toMatchObject({ health: "error", error: "connection refused" });
    expect(M.backendOf({ stats: { pika_version: "3.5.4", redis_version: "2.8.0" } })).toMatchObject({ kind: "pika", version: "3.5.4", from: "info" });
    expect(M.backendOf({ stats: { server_name: "valkey", redis_version: "7.2.4", valkey_version: "8.0.1" } })).toMatchObject({ kind: "valkey", version: "8.0.1", from: "info" });
    const info = { stats: { redis_version: "3.2.11" } };
    expect(M.backendOf(info, { kind: "codis-server", server: "codis-server", version: "3.2" })).toMatchObject({ kind: "codis-server", version: "3.2", mode: "", from: "dashboard" });
    expect(M.backendOf(info, { kind: "pika-sharding", server: "pika", version: "3.4.2", error: "pkcluster info slot: timeout" }))
      .toEqual({ kind: "pika", version: "3.4.2", mode: "sharding", from: "dashboard", error: "pkcluster info slot: timeout" });
    expect(M.backendOf(info, { kind: "codis-server", server: "codis-server", version: "" }).version).toBe("3.2.11");
    expect(M.backendOf(undefined)).toMatchObject({ kind: "", version: "", from: "" });
  });

  it("totals over masters and proxies; proxy errors per second from successive samples", () => {
    const stats = (t: number, fails: number, errors: number) => ({
      group: {
        models: [{ id: 1, servers: [{ server: "a:1" }, { server: "b:2" }] }],
        stats: { "a:1": { stats: { used_memory: "100", db0: "keys=7" } }, "b:2": { stats: { used_memory: "100", db0: "keys=7" } } },
      },
      proxy: {
        models: [{ id: 1, token: "t1" }, { id: 2, token: "t2" }],
        stats: { t1: { unixtime: t, stats: { online: true, ops: { qps: 50, total: 9, fails, redis: { errors } }, sessions: { alive: 3, total: 4 } } }, t2: { unixtime: t, timeout: true } },
      },
    });
    expect(M.clusterTotals(stats(1, 0, 0))).toEqual({ keys: 7, memory: 100, servers: 2, qps: 50, online: 1, sessions: 3, groups: 1, proxies: 2 });
    const h = new M.ProxyHistory(3);
    h.add(stats(100, 2, 1));
    h.add(stats(100, 9, 9)); // the same sample again: ignored
    h.add(stats(102, 6, 3));
    expect(h.lastErrs("t1")).toBe(3);
    h.add(stats(103, 6, 3));
    h.add(stats(104, 6, 3));
    expect(h.series.get("t1").points.map((p: { t: number }) => p.t)).toEqual([102, 103, 104]);
    expect(h.series.has("t2")).toBe(false);
    expect(M.proxyHealth(undefined)).toBe("pending");
    expect(M.proxyHealth({ timeout: true })).toBe("timeout");
    expect(M.proxyHealth({ error: { Cause: "x" } })).toBe("error");
  });

  it("number formats", () => {
    expect(M.fmtDuration(42)).toBe("42 s");
    expect(M.fmtDuration(184)).toBe("3 min 04 s");
    expect(M.fmtDuration(7500)).toBe("2 h 05 min");
    expect(M.fmtDuration(-1)).toBe("—");
    expect(M.fmtBytes(1536)).toBe("1.50 KiB");
    expect(M.fmtInt(12345.6)).toBe("12,346");
    expect(chart.niceMax(0)).toBe(1);
    expect(chart.niceMax(13)).toBe(20);
    expect(chart.niceMax(4000)).toBe(5000);
  });
});

describe("migration progress counters (dashboard)", () => {
  it("counts keys and slots of a run, measures rates over the last 10 s, estimates the time left", () => {
    let now = 1_000_000;
    const p = new MigrationProgress(() => now);
    expect(p.snapshot(0)).toEqual({ slots_left: 0, slots_done: 0, keys_moved: 0, keys_per_sec: 0, slots_per_sec: 0, eta_secs: 0, run_started: 0, run_secs: 0, running: false });
    expect(p.snapshot(10).eta_secs).toBe(-1);
    p.keysMoved(100); // the run starts here
    for (let i = 0; i < 4; i++) {
      now += 1000;
      p.keysMoved(100);
      p.slotDone(i);
    }
    p.slotDone(3); // the same slot again (a retried step): counted once
    const s = p.snapshot(12);
    expect(s).toMatchObject({ slots_left: 12, slots_done: 4, keys_moved: 500, keys_per_sec: 100, slots_per_sec: 1, eta_secs: 12, running: true, run_secs: 4, run_started: 1000 });
    // After 20 s more without a move, the window holds no progress: rate 0, no estimate.
    now += 20_000;
    expect(p.snapshot(12)).toMatchObject({ keys_per_sec: 0, slots_per_sec: 0, eta_secs: -1, keys_moved: 500, run_secs: 24 });
    // Moves again: the rate counts only the last 10 s.
    for (let i = 0; i < 10; i++) {
      now += 1000;
      p.keysMoved(50);
    }
    expect(p.snapshot(12).keys_per_sec).toBe(50);
    // Idle: the run's figures stay, frozen; the next move starts a new run from zero.
    p.idle();
    now += 60_000;
    expect(p.snapshot(0)).toMatchObject({ running: false, keys_moved: 1000, slots_done: 4, run_secs: 34, eta_secs: 0, keys_per_sec: 0 });
    p.keysMoved(7);
    expect(p.snapshot(3)).toMatchObject({ running: true, keys_moved: 7, slots_done: 0, run_secs: 0 });
  });

  it("keeps a bounded number of samples however often the movers report", () => {
    let now = 0;
    const p = new MigrationProgress(() => now);
    for (let i = 0; i < 100_000; i++) {
      now += 1;
      p.keysMoved(1);
    }
    expect((p as unknown as { samples: unknown[] }).samples.length).toBeLessThanOrEqual(10_000 / 250 + 3);
    // Exact to within one sample period (250 ms) of the 10 s window.
    const rate = p.snapshot(1).keys_per_sec;
    expect(rate).toBeGreaterThanOrEqual(1000);
    expect(rate).toBeLessThanOrEqual(1000 * (1 + 250 / 10_000));
  });
});

describe("static files and fe's product sources", () => {
  it("serves files under the folder only, with their types; a folder gives its index.html", async () => {
    const a = new Assets();
    const index = await a.get("");
    expect(index?.contentType).toBe("text/html; charset=utf-8");
    expect(index?.body.toString()).toContain("<title>slotway console</title>");
    expect((await a.get("/model.js"))?.contentType).toBe("text/javascript; charset=utf-8");
    for (const bad of ["../assets.ts", "..%2Fassets.ts", "%2e%2e/assets.ts", ".hidden", "x/../../assets.ts", "a%00b", "%zz", "nothing.js"]) {
      expect(await a.get(bad), bad).toBeUndefined();
    }
  });

  it("splits listen and dashboard addresses as Go does", () => {
    expect(splitHostPort("127.0.0.1:18090")).toEqual({ host: "127.0.0.1", port: 18090 });
    expect(splitHostPort(":9090")).toEqual({ host: "", port: 9090 });
    expect(splitHostPort("[::1]:80")).toEqual({ host: "::1", port: 80 });
    for (const bad of ["", "9090", "::1:80", "host:99999", "a:b"]) expect(splitHostPort(bad), bad).toBeUndefined();
  });

  it("reads a --dashboard-list file and a store's dashboard locks", async () => {
    const dir = mkdtempSync(path.join(tmpdir(), "slotway-fe-unit-"));
    const file = path.join(dir, "list.json");
    writeFileSync(file, JSON.stringify([{ name: "a", dashboard: "h:1" }, { name: "b" }, null, 3, { name: "c", dashboard: "h:3" }]));
    expect([...(await new ListFileSource(file).load())]).toEqual([["a", "h:1"], ["c", "h:3"]]);
    writeFileSync(file, "{not json");
    await expect(new ListFileSource(file).load()).rejects.toThrow(`${file}: invalid JSON`);
    writeFileSync(file, "{}");
    await expect(new ListFileSource(file).load()).rejects.toThrow("want a JSON array");

    const store = new MemoryStore();
    await store.put("/codis3/p1/topom", JSON.stringify({ admin_addr: "10.0.0.1:18080", product_name: "p1" }));
    await store.put("/codis3/p2/slots/slot-0000", "{}"); // no lock: no dashboard runs
    await store.put("/codis3/p3/topom", "garbage");
    const warnings: string[] = [];
    const src = new StoreSource("--filesystem x", store, (m) => warnings.push(m));
    expect([...(await src.load())]).toEqual([["p1", "10.0.0.1:18080"]]);
    expect(warnings).toEqual([expect.stringContaining("decode topom of product p3 failed")]);
  });
});
