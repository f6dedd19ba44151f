// The proxy side of migration (DESIGN §7): how a request of a slot filled with `migrate_from`
// is forwarded, per forward method, with the source and target put in exact states by the test
// (test/integration/movers.test.ts runs the same methods end to end under a dashboard).
//   0 sync        SLOTSMGRTTAGONE host port timeout key on the source, then the target
//   1 semi-async  SLOTSMGRT-EXEC-WRAPPER key argv... on the source: 0 → target, 1 → retry, 2 → answered
//   2 redis       MIGRATE host port "" db timeout [REPLACE] AUTH pw KEYS k... on the source, then the target
// Methods 0 and 1 run against the scripted codis-server (test/harness/codis-server.ts), method 2
// against real redis-server. Where keys end up is read on the backends directly.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Redis } from "ioredis";
import { startRedis, stopAllRedis, type RedisServer } from "../harness/redis.js";
import { startCodisServer, type CodisServer } from "../harness/codis-server.js";
import { startSlotway, stopAllSlotway, type Slotway } from "../harness/slotway.js";
import { ProxyAdmin, clientsOnEachWorker, sleep, type SlotJson } from "../harness/admin.js";
import { RawClient } from "../harness/resp-client.js";
import { freePort } from "../harness/ports.js";
import { encodeCommand } from "../../src/core/resp-encoder.js";
import { slotOfKey } from "../../src/core/slot.js";

const PW = "backend-pw";
const RECV_TIMEOUT_MS = 1500;

let A: CodisServer; // codis source
let B: CodisServer; // codis target
let C: RedisServer; // redis source
let D: RedisServer; // redis target
let dc: Redis;
let dd: Redis;
let proxy: Slotway;
let admin: ProxyAdmin;
let cs: RawClient[]; // one client on each worker
const open: RawClient[] = [];

beforeAll(async () => {
  [A, B, C, D] = await Promise.all([
    startCodisServer({ password: PW }),
    startCodisServer({ password: PW }),
    startRedis({ password: PW }),
    startRedis({ password: PW }),
  ]);
  dc = new Redis({ port: C.port, host: "127.0.0.1", password: PW, maxRetriesPerRequest: 0 });
  dd = new Redis({ port: D.port, host: "127.0.0.1", password: PW, maxRetriesPerRequest: 0 });
  proxy = await startSlotway({
    workers: 2,
    groups: [{ id: 1, servers: [A.addr], slots: "0-1023" }],
    config: { product_auth: PW, backend_recv_timeout: `${RECV_TIMEOUT_MS}ms` },
  });
  admin = await new ProxyAdmin(proxy.adminAddr, "test", PW).init();
  cs = (await clientsOnEachWorker(proxy.port, 1)).flat();
  open.push(...cs);
});

afterAll(async () => {
  for (const c of open) c.close();
  dc?.disconnect();
  dd?.disconnect();
  await stopAllSlotway();
  await Promise.all([A?.close(), B?.close()]);
  await stopAllRedis();
});

type Backend = { addr: string };

/** Fills the slots of keys as migrating from → to with a forward method. */
async function migrating(keys: string[], method: number, from: Backend, to: Backend): Promise<number[]> {
  const slots = [...new Set(keys.map((k) => slotOfKey(k)))];
  await admin.fillOk(slots.map((id): SlotJson => ({
    id, backend_addr: to.addr, backend_addr_group_id: 2, migrate_from: from.addr, migrate_from_group_id: 1, forward_method: method,
  })));
  return slots;
}

/** Fills the slots of keys as plainly served by one backend. */
async function servedBy(keys: string[], b: Backend, gid = 1): Promise<void> {
  const slots = [...new Set(keys.map((k) => slotOfKey(k)))];
  await admin.fillOk(slots.map((id) => ({ id, backend_addr: b.addr, backend_addr_group_id: gid })));
}

/** Keys `${prefix}0..` with n distinct slots. */
function keysInDistinctSlots(prefix: string, n: number): string[] {
  const out: string[] = [];
  const seen = new Set<number>();
  for (let i = 0; out.length < n; i++) {
    const k = `${prefix}${i}`;
    if (seen.has(slotOfKey(k))) continue;
    seen.add(slotOfKey(k));
    out.push(k);
  }
  return out;
}

const calls = (s: CodisServer, name: string): number => s.calls.get(name) ?? 0;
const bulk = (v: string): string => `$${Buffer.byteLength(v)}\r\n${v}\r\n`;
const NIL = "$-1\r\n";

/** A raw, authenticated connection to a codis-server, to act as its mover. */
async function moverOf(s: CodisServer): Promise<RawClient> {
  const c = await RawClient.connect(s.port);
  open.push(c);
  expect(await c.call("AUTH", PW)).toBe("+OK\r\n");
  return c;
}

describe("forward method 0 (sync): SLOTSMGRTTAGONE on the source, then the target", () => {
  it("moves a key that is still on the source before the target runs the command, on every worker", async () => {
    for (const [w, c] of cs.entries()) {
      const [k, n, inc, gone] = keysInDistinctSlots(`sync${w}-`, 4);
      A.set(k!, "v0");
      A.set(inc!, "41");
      A.set(gone!, "x");
      await migrating([k!, n!, inc!, gone!], 0, A, B);
      const before = calls(A, "SLOTSMGRTTAGONE");
      expect(await c.call("GET", k!)).toBe(bulk("v0"));
      expect(A.get(k!)).toBeUndefined();
      expect(B.get(k!)).toBe("v0");
      expect(await c.call("SET", n!, "new")).toBe("+OK\r\n"); // not on the source: born on the target
      expect(B.get(n!)).toBe("new");
      expect(A.get(n!)).toBeUndefined();
      expect(await c.call("INCR", inc!)).toBe(":42\r\n");
      expect(B.get(inc!)).toBe("42");
      expect(A.get(inc!)).toBeUndefined();
      expect(await c.call("DEL", gone!)).toBe(":1\r\n");
      expect(A.get(gone!)).toBeUndefined();
      expect(B.get(gone!)).toBeUndefined();
      expect(await c.call("GET", gone!)).toBe(NIL);
      expect(calls(A, "SLOTSMGRTTAGONE") - before).toBe(5); // one per request, on the source
    }
  });

  it("moves a whole hash-tag group with its first key", async () => {
    const [a, b] = ["{fam}:a", "{fam}:b"];
    A.set(a, "1");
    A.set(b, "2");
    await migrating([a], 0, A, B);
    expect(await cs[0]!.call("GET", a)).toBe(bulk("1"));
    expect(A.dump()).not.toHaveProperty(b);
    expect(B.get(b)).toBe("2");
    expect(await cs[1]!.call("GET", b)).toBe(bulk("2"));
  });

  it("MGET and DEL across migrating slots move their keys one by one and merge in key order", async () => {
    const [x1, x2, x3, plain] = keysInDistinctSlots("msync-", 4);
    A.set(x1!, "one");
    B.set(x2!, "two"); // already moved
    A.set(plain!, "plain");
    await servedBy([plain!], A);
    await migrating([x1!, x2!, x3!], 0, A, B);
    expect(await cs[0]!.call("MGET", x1!, x2!, x3!, plain!)).toBe(`*4\r\n${bulk("one")}${bulk("two")}${NIL}${bulk("plain")}`);
    expect(A.get(x1!)).toBeUndefined();
    expect(B.get(x1!)).toBe("one");
    expect(A.get(plain!)).toBe("plain"); // not migrating: untouched
    A.set(x3!, "three"); // appears on the source meanwhile (a late copy the mover has not seen)
    expect(await cs[1]!.call("DEL", x1!, x2!, x3!, plain!)).toBe(":4\r\n");
    for (const k of [x1!, x2!, x3!, plain!]) {
      expect(A.get(k), k).toBeUndefined();
      expect(B.get(k), k).toBeUndefined();
    }
  });

  it("a failed move answers codis's 'handle request' error naming the slot and source, and leaves the key", async () => {
    const k = "sync-fail";
    A.set(k, "stays");
    const dead = { addr: `127.0.0.1:${await freePort()}` };
    const [slot] = await migrating([k], 0, A, dead);
    const before = (await admin.stats()).ops.fails;
    const r = await cs[0]!.call("GET", k);
    expect(r).toMatch(new RegExp(`^-ERR handle request, migrate slot ${slot} from ${A.addr.replace(/\./g, "\\.")} failed, .*Can't connect to target node`));
    expect(A.get(k)).toBe("stays");
    expect((await admin.stats()).ops.fails).toBe(before + 1);
  });
});

describe("forward method 1 (semi-async): SLOTSMGRT-EXEC-WRAPPER on the source", () => {
  it("code 2: the source answers for a key it still holds; code 0: the target answers for one it does not", async () => {
    for (const [w, c] of cs.entries()) {
      const [held, fresh, absent] = keysInDistinctSlots(`semi${w}-`, 3);
      A.set(held!, "on-source");
      await migrating([held!, fresh!, absent!], 1, A, B);
      const before = calls(A, "SLOTSMGRT-EXEC-WRAPPER");
      const tagone = calls(A, "SLOTSMGRTTAGONE");
      expect(await c.call("GET", held!)).toBe(bulk("on-source"));
      expect(await c.call("SET", held!, "updated")).toBe("+OK\r\n");
      expect(A.get(held!)).toBe("updated"); // executed on the source, not moved
      expect(B.get(held!)).toBeUndefined();
      expect(await c.call("SET", fresh!, "born")).toBe("+OK\r\n");
      expect(B.get(fresh!)).toBe("born");
      expect(A.get(fresh!)).toBeUndefined();
      expect(await c.call("GET", absent!)).toBe(NIL);
      expect(calls(A, "SLOTSMGRT-EXEC-WRAPPER") - before).toBe(4);
      expect(calls(A, "SLOTSMGRTTAGONE")).toBe(tagone); // method 1 never moves keys itself
    }
  });

  it("code 1: retries while the key is mid-move, and a later request of the slot waits its turn", async () => {
    const k = "semi-midmove";
    A.set(k, "old");
    await migrating([k], 1, A, B);
    A.markMoving(k, 400);
    const before = calls(A, "SLOTSMGRT-EXEC-WRAPPER");
    const t0 = performance.now();
    cs[0]!.write(Buffer.concat([encodeCommand(["SET", k, "new"]), encodeCommand(["GET", k])]));
    const [set, get] = await cs[0]!.read(2, 5000);
    expect(performance.now() - t0).toBeGreaterThanOrEqual(350);
    expect(set!.toString()).toBe("+OK\r\n");
    expect(get!.toString()).toBe(bulk("new")); // not "old": the GET did not overtake the retried SET
    expect(A.get(k)).toBe("new");
    expect(calls(A, "SLOTSMGRT-EXEC-WRAPPER") - before).toBeGreaterThan(3); // retried
  });

  it("code 1 then 0: a key that finishes moving while a write retries is written on the target", async () => {
    const k = "semi-moves-away";
    A.set(k, "old");
    await migrating([k], 1, A, B);
    A.markMoving(k, 5000);
    const t0 = performance.now();
    const reply = cs[1]!.call("SET", k, "new");
    await sleep(150);
    const mover = await moverOf(A);
    const [host, port] = B.addr.split(":");
    expect(await mover.call("SLOTSMGRTTAGONE", host!, port!, "1000", k)).toBe(":1\r\n");
    expect(await reply).toBe("+OK\r\n");
    expect(performance.now() - t0).toBeLessThan(2000);
    expect(A.get(k)).toBeUndefined();
    expect(B.get(k)).toBe("new");
  });

  it("works within the client's database (SELECT n): the wrapper runs there and moves go there", async () => {
    const [here, moved] = keysInDistinctSlots("semidb-", 2);
    A.set(here!, "a5", 5);
    A.set(moved!, "m5", 5);
    await migrating([here!, moved!], 1, A, B);
    const c = await RawClient.connect(proxy.port);
    open.push(c);
    expect(await c.call("SELECT", "5")).toBe("+OK\r\n");
    expect(await c.call("GET", here!)).toBe(bulk("a5"));
    const mover = await moverOf(A);
    expect(await mover.call("SELECT", "5")).toBe("+OK\r\n");
    const [host, port] = B.addr.split(":");
    expect(await mover.call("SLOTSMGRTTAGONE", host!, port!, "1000", moved!)).toBe(":1\r\n");
    expect(await c.call("GET", moved!)).toBe(bulk("m5"));
    expect(B.get(moved!, 5)).toBe("m5");
    expect(await c.call("GET", here!)).toBe(bulk("a5"));
    expect(A.get(here!, 0)).toBeUndefined();
  });

  it("fails at the deadline (backend_recv_timeout) when a key stays mid-move, and writes nothing", async () => {
    const k = "semi-stuck";
    A.set(k, "old");
    const [slot] = await migrating([k], 1, A, B);
    A.markMoving(k, 10_000);
    const t0 = performance.now();
    const r = await cs[0]!.call("SET", k, "new");
    const took = performance.now() - t0;
    expect(r).toBe(`-ERR handle request, migrate slot ${slot} from ${A.addr} failed, key is still being migrated at the deadline\r\n`);
    expect(took).toBeGreaterThanOrEqual(RECV_TIMEOUT_MS - 100);
    expect(took).toBeLessThan(RECV_TIMEOUT_MS + 1500);
    expect(A.get(k)).toBe("old");
    expect(B.get(k)).toBeUndefined();
    A.markMoving(k, 0);
  });

  it("MGET and DEL whose keys are in different states of the move, one moving mid-request", async () => {
    const [x1, x2, x3, x4] = keysInDistinctSlots("msemi-", 4);
    A.set(x1!, "one"); // still on the source
    B.set(x2!, "two"); // already on the target
    A.set(x3!, "three"); // on the source, mid-move
    await migrating([x1!, x2!, x3!, x4!], 1, A, B);
    A.markMoving(x3!, 5000);
    // Reads are executed on the source even mid-move (the wrapper blocks writes only).
    expect(await cs[0]!.call("MGET", x1!, x2!, x3!, x4!)).toBe(`*4\r\n${bulk("one")}${bulk("two")}${bulk("three")}${NIL}`);
    // The DEL of x3 retries until the mover has moved it, then runs on the target.
    const del = cs[1]!.call("DEL", x1!, x2!, x3!, x4!);
    await sleep(150);
    const mover = await moverOf(A);
    const [host, port] = B.addr.split(":");
    expect(await mover.call("SLOTSMGRTTAGONE", host!, port!, "1000", x3!)).toBe(":1\r\n");
    expect(await del).toBe(":3\r\n");
    for (const k of [x1!, x2!, x3!, x4!]) {
      expect(A.get(k), k).toBeUndefined();
      expect(B.get(k), k).toBeUndefined();
    }
  });
});

describe("forward method 2 (redis): MIGRATE ... KEYS on the source, then the target", () => {
  it("moves keys present on the source on first access (any type, TTL kept), on every worker", async () => {
    for (const [w, c] of cs.entries()) {
      const [s, h, t] = keysInDistinctSlots(`mig${w}-`, 3);
      await dc.set(s!, "str");
      await dc.hset(h!, "f", "v");
      await dc.set(t!, "ttl", "PX", 60_000);
      await migrating([s!, h!, t!], 2, C, D);
      expect(await c.call("GET", s!)).toBe(bulk("str"));
      expect(await c.call("HGET", h!, "f")).toBe(bulk("v"));
      expect(await c.call("GET", t!)).toBe(bulk("ttl"));
      for (const k of [s!, h!, t!]) {
        expect(await dc.exists(k), k).toBe(0);
        expect(await dd.exists(k), k).toBe(1);
      }
      expect(await dd.pttl(t!)).toBeGreaterThan(50_000);
    }
  });

  it("new keys are born on the target", async () => {
    const k = "mig-new";
    await migrating([k], 2, C, D);
    expect(await cs[0]!.call("SET", k, "born")).toBe("+OK\r\n");
    expect(await cs[1]!.call("INCR", `${k}:n`)).toBe(":1\r\n");
    expect(await dd.get(k)).toBe("born");
    expect(await dc.exists(k)).toBe(0);
  });

  it("a DEL through the proxy is final: the key never comes back from the source", async () => {
    const k = "mig-del";
    await dc.set(k, "doomed");
    const [slot] = await migrating([k], 2, C, D);
    expect(await cs[0]!.call("DEL", k)).toBe(":1\r\n");
    expect(await dc.exists(k)).toBe(0);
    expect(await dd.exists(k)).toBe(0);
    for (const c of cs) {
      expect(await c.call("GET", k)).toBe(NIL);
      expect(await c.call("EXISTS", k)).toBe(":0\r\n");
    }
    // The migration finishes; still gone.
    await admin.fillOk([{ id: slot!, backend_addr: D.addr, backend_addr_group_id: 2 }]);
    expect(await cs[1]!.call("GET", k)).toBe(NIL);
    expect(await dc.exists(k)).toBe(0);
  });

  it("BUSYKEY: a stale copy on the target is replaced by the source's live one", async () => {
    const k = "mig-busy";
    await dc.set(k, "live");
    await dd.set(k, "stale");
    await migrating([k], 2, C, D);
    expect(await cs[0]!.call("GET", k)).toBe(bulk("live"));
    expect(await dd.get(k)).toBe("live");
    expect(await dc.exists(k)).toBe(0);
  });

  it("moves every key of a command that names several keys of the slot (RPOPLPUSH, EVAL) before the target runs it", async () => {
    const [src, dst, other] = ["{multi}:src", "{multi}:dst", "{multi}:other"];
    await dc.rpush(src, "a", "b");
    await dc.rpush(dst, "z");
    await dc.set(other, "o");
    await migrating([src], 2, C, D);
    expect(await cs[0]!.call("RPOPLPUSH", src, dst)).toBe(bulk("b"));
    expect(await dd.lrange(src, 0, -1)).toEqual(["a"]);
    expect(await dd.lrange(dst, 0, -1)).toEqual(["b", "z"]);
    expect(await dc.exists(src, dst)).toBe(0);
    const script = "return redis.call('get', KEYS[1]) .. ':' .. redis.call('llen', KEYS[2])";
    expect(await cs[1]!.call("EVAL", script, "2", other, src)).toBe(bulk("o:1"));
    expect(await dd.get(other)).toBe("o");
    expect(await dc.exists(other)).toBe(0);
  });

  it("moves within the client's database (SELECT n)", async () => {
    const k = "{mig-db}";
    const c3 = new Redis({ port: C.port, host: "127.0.0.1", password: PW, db: 3, maxRetriesPerRequest: 0 });
    const d3 = new Redis({ port: D.port, host: "127.0.0.1", password: PW, db: 3, maxRetriesPerRequest: 0 });
    try {
      await c3.set(k, "in-db3");
      await migrating([k], 2, C, D);
      const c = await RawClient.connect(proxy.port);
      open.push(c);
      expect(await c.call("SELECT", "3")).toBe("+OK\r\n");
      expect(await c.call("GET", k)).toBe(bulk("in-db3"));
      expect(await d3.get(k)).toBe("in-db3");
      expect(await c3.exists(k)).toBe(0);
      expect(await dd.exists(k)).toBe(0); // not in db 0
      expect(await c.call("SET", `${k}:new`, "x")).toBe("+OK\r\n");
      expect(await d3.get(`${k}:new`)).toBe("x");
    } finally {
      c3.disconnect();
      d3.disconnect();
    }
  });

  it("MGET and DEL across migrating and plain slots move each present key and merge in key order", async () => {
    const [x1, x2, x3, plain] = keysInDistinctSlots("mmig-", 4);
    await dc.set(x1!, "one");
    await dd.set(x2!, "two");
    await dc.set(plain!, "plain");
    await servedBy([plain!], C);
    await migrating([x1!, x2!, x3!], 2, C, D);
    expect(await cs[0]!.call("MGET", x1!, x2!, x3!, plain!)).toBe(`*4\r\n${bulk("one")}${bulk("two")}${NIL}${bulk("plain")}`);
    expect(await dc.exists(x1!)).toBe(0);
    expect(await dd.get(x1!)).toBe("one");
    expect(await dc.get(plain!)).toBe("plain");
    expect(await cs[1]!.call("DEL", x1!, x2!, x3!, plain!)).toBe(":3\r\n");
    for (const k of [x1!, x2!, x3!, plain!]) {
      expect(await dc.exists(k), k).toBe(0);
      expect(await dd.exists(k), k).toBe(0);
    }
  });
});

describe("migration and slot changes together", () => {
  it("the dashboard's sequence: prepared (locked, migrate_from set) holds requests; migrating releases them through the move", async () => {
    const k = "seq-prepared";
    await dc.set(k, "before");
    const slot = slotOfKey(k);
    await servedBy([k], C);
    await admin.fillOk([{ id: slot, locked: true, backend_addr: D.addr, backend_addr_group_id: 2, migrate_from: C.addr, migrate_from_group_id: 1, forward_method: 2 }]);
    cs[0]!.write(Buffer.concat([encodeCommand(["GET", k]), encodeCommand(["APPEND", k, "+after"])]));
    await expect(cs[0]!.read(1, 200)).rejects.toThrow(/timeout/);
    expect(await dc.get(k)).toBe("before"); // nothing ran anywhere while locked
    expect(await dd.exists(k)).toBe(0);
    await migrating([k], 2, C, D);
    const [get, append] = await cs[0]!.read(2);
    expect(get!.toString()).toBe(bulk("before"));
    expect(append!.toString()).toBe(":12\r\n");
    expect(await dd.get(k)).toBe("before+after");
    expect(await dc.exists(k)).toBe(0);
  });

  it("a fill waits for a migration exchange in progress: the slot stays counted across wrapper retries", async () => {
    const k = "seq-retrying";
    A.set(k, "old");
    const [slot] = await migrating([k], 1, A, B);
    A.markMoving(k, 500);
    const set = cs[1]!.call("SET", k, "new").then((r) => ({ r, at: performance.now() }));
    await sleep(100);
    const fill = await admin.fill([{ id: slot!, backend_addr: B.addr, backend_addr_group_id: 2 }]);
    const done = await set;
    expect(fill.status).toBe(200);
    expect(done.r).toBe("+OK\r\n");
    expect(fill.at).toBeGreaterThanOrEqual(done.at);
    expect(A.get(k)).toBe("new"); // the wrapper ran it on the source once the key settled there
  });
});
