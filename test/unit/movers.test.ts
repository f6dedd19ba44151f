// The bulk movers against the scripted codis-server (test/harness/codis-server.ts) and against
// real redis-server processes.
import { crc32 } from "node:zlib";
import { Redis } from "ioredis";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import {
  CodisMover, RedisMover, moverFor,
  type MoveOptions, type RedisConn, type RedisConnector,
} from "../../src/control/movers/index.js";
import { probeBackend } from "../../src/control/backends/kind.js";
import { startCodisServer, type CodisServer } from "../harness/codis-server.js";
import { startRedis, stopAllRedis, type RedisServer } from "../harness/redis.js";

/** codis slot: crc32 of the hash tag, mod 1024 (local copy for the test). */
function slotOf(key: string): number {
  const o = key.indexOf("{");
  const c = o < 0 ? -1 : key.indexOf("}", o + 1);
  return crc32(o >= 0 && c >= 0 ? key.slice(o + 1, c) : key) % 1024;
}

/** Keys named prefix+i whose slot is `slot`. */
function keysInSlot(slot: number, n: number, prefix = "k"): string[] {
  const out: string[] = [];
  for (let i = 0; out.length < n; i++) if (slotOf(`${prefix}${i}`) === slot) out.push(`${prefix}${i}`);
  return out;
}

/** A RedisConnector over ioredis (the tests' stand-in for src/control/redis-client.ts). */
const connect: RedisConnector = async (addr, opts = {}) => {
  const [host, port] = [addr.slice(0, addr.lastIndexOf(":")), Number(addr.slice(addr.lastIndexOf(":") + 1))];
  const r = new Redis({
    host, port, password: opts.password, db: opts.db ?? 0, lazyConnect: true, connectTimeout: opts.timeoutMs ?? 2000,
    commandTimeout: opts.timeoutMs, maxRetriesPerRequest: 0, retryStrategy: () => null, enableOfflineQueue: false,
  });
  r.on("error", () => undefined);
  await r.connect();
  const conn: RedisConn = {
    call: (...args) => r.call(String(args[0]), ...args.slice(1).map((a) => (typeof a === "number" ? String(a) : a))),
    callBuffer: (...args) => r.callBuffer(String(args[0]), ...args.slice(1).map((a) => (typeof a === "number" ? String(a) : a))),
    close: () => r.disconnect(),
  };
  return conn;
};

function options(extra: Partial<MoveOptions> = {}): MoveOptions {
  return { connect, timeoutMs: 5000, maxBulks: 200, maxBytes: 32 << 20, numKeys: 7, ...extra };
}

const never = new AbortController().signal;

describe("codis-server protocol mover (scripted codis-server)", () => {
  let servers: CodisServer[] = [];
  afterEach(async () => {
    await Promise.all(servers.map((s) => s.close()));
    servers = [];
  });
  async function pair(password?: string): Promise<[CodisServer, CodisServer]> {
    const a = await startCodisServer({ password });
    const b = await startCodisServer({ password });
    servers.push(a, b);
    return [a, b];
  }

  for (const method of ["sync", "semi-async"] as const) {
    it(`${method}: moves every key of the slots, tags together, leaves other slots`, async () => {
      const [a, b] = await pair("pw");
      const moving = [...keysInSlot(5, 30), ...keysInSlot(6, 20, "x")];
      const tagged = ["{t}1", "{t}2", "{t}3"];
      const tslot = slotOf("{t}");
      const staying = keysInSlot(7, 10);
      for (const k of [...moving, ...tagged, ...staying]) a.set(k, `v-${k}`);
      const done: number[] = [];
      await new CodisMover(method).moveSlots([5, 6, tslot], a.addr, b.addr, options({ password: "pw", onSlotDone: (s) => done.push(s) }), never);
      expect(done).toEqual([5, 6, tslot]);
      const da = a.dump();
      const db = b.dump();
      for (const k of [...moving, ...tagged]) {
        expect(da[k]).toBeUndefined();
        expect(db[k]).toBe(`v-${k}`);
      }
      for (const k of staying) expect(da[k]).toBe(`v-${k}`);
      expect(Object.keys(db).length).toBe(moving.length + tagged.length);
      expect(a.calls.get(method === "sync" ? "SLOTSMGRTTAGSLOT" : "SLOTSMGRTTAGSLOT-ASYNC")).toBeGreaterThan(0);
      expect(a.calls.get("SLOTSSCAN")).toBeGreaterThanOrEqual(3);
    });
  }

  it("a key mid-move: remaining says 0, SLOTSSCAN still finds it, the slot waits for it", async () => {
    const [a, b] = await pair();
    const keys = keysInSlot(9, 12);
    for (const k of keys) a.set(k, k);
    a.markMoving(keys[3]!, 400);
    let sawHidden = false;
    const t0 = Date.now();
    const done: number[] = [];
    await new CodisMover("semi-async").moveSlots([9], a.addr, b.addr, options({
      onProgress: (_sid, _db, n) => { if (n === 1 && a.get(keys[3]!) !== undefined) sawHidden = true; },
      onSlotDone: (s) => done.push(s),
    }), never);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(380);
    expect(sawHidden).toBe(true);
    expect(done).toEqual([9]);
    expect(a.dump()).toEqual({});
    expect(Object.keys(b.dump()).sort()).toEqual([...keys].sort());
  });

  it("keys in several dbs move db by db", async () => {
    const [a, b] = await pair();
    const keys = keysInSlot(11, 5);
    for (const k of keys) {
      a.set(k, "zero", 0);
      a.set(k, "three", 3);
    }
    await new CodisMover("sync").moveSlots([11], a.addr, b.addr, options(), never);
    expect(a.dump(0)).toEqual({});
    expect(a.dump(3)).toEqual({});
    expect(b.get(keys[0]!, 0)).toBe("zero");
    expect(b.get(keys[0]!, 3)).toBe("three");
  });

  it("the gate is awaited before every step and abort stops the move", async () => {
    const [a, b] = await pair();
    for (const k of keysInSlot(12, 100)) a.set(k, k);
    const ac = new AbortController();
    let gates = 0;
    const p = new CodisMover("sync").moveSlots([12], a.addr, b.addr, options({
      gate: async () => { if (++gates === 3) ac.abort(new Error("stopped by test")); },
    }), ac.signal);
    await expect(p).rejects.toThrow("stopped by test");
    // Each step is 16 SLOTSMGRTTAGSLOT in one write (one tag group each): two steps ran.
    expect(Object.keys(b.dump()).length).toBe(32);
    expect(Object.keys(a.dump()).length).toBe(68);
  });

  it("an unreachable target fails the move with the server's error", async () => {
    const [a] = await pair();
    for (const k of keysInSlot(13, 3)) a.set(k, k);
    await expect(new CodisMover("sync").moveSlots([13], a.addr, "127.0.0.1:1", options(), never)).rejects.toThrow(/connect/i);
    expect(Object.keys(a.dump()).length).toBe(3);
  });

  it("probeBackend: codis-server answers SLOTSINFO", async () => {
    const [a] = await pair("pw");
    expect(await probeBackend(connect, a.addr, "pw")).toEqual({ kind: "codis-server", server: "codis-server", version: "3.2.11" });
    // (the error text comes from the client: ioredis here just closes the connection)
    await expect(probeBackend(connect, a.addr, "wrong")).rejects.toThrow();
  });
});

describe("redis mover (real redis-server)", () => {
  afterAll(() => stopAllRedis());
  let pwd = 0;
  async function pair(password?: string): Promise<[RedisServer, RedisServer]> {
    return [await startRedis({ password }), await startRedis({ password })];
  }
  async function dump(s: RedisServer, password?: string, db = 0): Promise<Record<string, string>> {
    const c = await connect(s.addr, { password, db });
    try {
      const out: Record<string, string> = {};
      let cursor = "0";
      do {
        const [next, keys] = (await c.call("SCAN", cursor, "COUNT", 1000)) as [string, string[]];
        cursor = next;
        for (const k of keys) out[k] = String(await c.call("GET", k));
      } while (cursor !== "0");
      return out;
    } finally {
      c.close();
    }
  }
  async function setAll(s: RedisServer, kv: Record<string, string>, password?: string): Promise<void> {
    const c = await connect(s.addr, { password });
    try {
      for (const [k, v] of Object.entries(kv)) await c.call("SET", k, v);
    } finally {
      c.close();
    }
  }

  it("moves the keys of a batch of slots with one SCAN pass per round, AUTH on both sides", async () => {
    const password = `pw${pwd++}`;
    const [a, b] = await pair(password);
    const zslot = slotOf("{z}");
    const moving = [...keysInSlot(100, 50), ...keysInSlot(101, 50), "{z}a", "{z}b", "{z}c"];
    const staying = keysInSlot(103, 20);
    const kv = Object.fromEntries([...moving, ...staying].map((k) => [k, `v-${k}`]));
    await setAll(a, kv, password);
    const done: number[] = [];
    await new RedisMover().moveSlots([100, 101, zslot], a.addr, b.addr, options({ password, numKeys: 16, onSlotDone: (s) => done.push(s) }), never);
    expect(done.sort((x, y) => x - y)).toEqual([100, 101, zslot].sort((x, y) => x - y));
    const da = await dump(a, password);
    const db = await dump(b, password);
    expect(Object.keys(da).sort()).toEqual([...staying].sort());
    expect(Object.keys(db).sort()).toEqual([...moving].sort());
    for (const k of moving) expect(db[k]).toBe(`v-${k}`);
  });

  it("BUSYKEY: a stale copy on the target is replaced by the source's value", async () => {
    const [a, b] = await pair();
    const keys = keysInSlot(200, 10);
    await setAll(a, Object.fromEntries(keys.map((k) => [k, "fresh"])));
    await setAll(b, { [keys[4]!]: "stale" });
    const logs: string[] = [];
    await new RedisMover().moveSlots([200], a.addr, b.addr, options({ log: (m) => logs.push(m) }), never);
    const db = await dump(b);
    expect(Object.keys(db).length).toBe(10);
    for (const k of keys) expect(db[k]).toBe("fresh");
    expect(await dump(a)).toEqual({});
    expect(logs.some((l) => l.includes(keys[4]!) && l.includes("stale"))).toBe(true);
  });

  it("a key that appears on the source after a pass is moved by another pass before the slot is done", async () => {
    const [a, b] = await pair();
    const keys = keysInSlot(300, 5);
    await setAll(a, Object.fromEntries(keys.map((k) => [k, "v"])));
    const late = keysInSlot(300, 6)[5]!;
    let inject = false;
    const progress: number[] = [];
    let doneAt = -1;
    await new RedisMover().moveSlots([300], a.addr, b.addr, options({
      // Stands for a key that a proxy's MIGRATE had not finished when the first pass ran.
      gate: async () => {
        if (inject) {
          inject = false;
          await setAll(a, { [late]: "late" });
        }
      },
      onProgress: (_s, _db, n) => {
        if (progress.length === 0) inject = true;
        progress.push(n);
      },
      onSlotDone: () => { doneAt = progress.length; },
    }), never);
    expect(progress[0]).toBe(5);
    expect(progress.at(-1)).toBe(0);
    expect(progress.length).toBeGreaterThanOrEqual(2);
    expect(doneAt).toBe(progress.length);
    const db = await dump(b);
    expect(db[late]).toBe("late");
    expect(await dump(a)).toEqual({});
  });

  it("keys in other dbs move to the same db on the target", async () => {
    const [a, b] = await pair();
    const k = keysInSlot(400, 1)[0]!;
    const c = await connect(a.addr, { db: 2 });
    await c.call("SET", k, "in-db2");
    c.close();
    await new RedisMover().moveSlots([400], a.addr, b.addr, options(), never);
    expect(await dump(b, undefined, 2)).toEqual({ [k]: "in-db2" });
    expect(await dump(a, undefined, 2)).toEqual({});
  });

  it("probeBackend: plain redis does not know SLOTSINFO; a wrong password is an error", async () => {
    const [a] = await pair("secret");
    const info = await probeBackend(connect, a.addr, "secret");
    expect(info.kind).toBe("redis");
    expect(info.server).toBe("redis");
    expect(info.version).toMatch(/^\d+\.\d+\.\d+$/);
    await expect(probeBackend(connect, a.addr, "nope")).rejects.toThrow();
    await expect(probeBackend(connect, "127.0.0.1:1", undefined, 300)).rejects.toThrow();
  });

  it("moverFor picks by method", () => {
    expect(moverFor("redis").method).toBe("redis");
    expect(moverFor("sync").method).toBe("sync");
    expect(moverFor("semi-async").method).toBe("semi-async");
  });
});
