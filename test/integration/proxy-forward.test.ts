// The proxy side of migration (DESIGN §7): how a request of a slot filled with `migrate_from`
// is forwarded, per forward method, with the source and target put in exact states by the test
// (test/integration/movers.test.ts runs the same methods end to end under a dashboard;
// proxy-forward-multikey.test.ts has the commands of several keys).
//   0 sync        SLOTSMGRTTAGONE host port timeout key on the source, then the target
//   1 semi-async  SLOTSMGRT-EXEC-WRAPPER key argv... on the source: 0 → target, 1 → retry, 2 → answered
//   2 redis       MIGRATE host port "" db timeout [REPLACE] AUTH pw KEYS k... on the source, then the target
// Methods 0 and 1 run against the real codis-server of ../shared/peers, method 2 against real
// redis-server. Where keys end up is read on the backends directly. A key "mid-move" is a real
// async batch (SLOTSMGRTTAGONE-ASYNC) whose target is reached through a closed gate
// (test/harness/gate.ts): the source holds the batch in flight until the gate opens.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Redis } from "ioredis";
import { startRealCodisServer, startRedis, stopAllRedis, type RedisServer } from "../harness/redis.js";
import { startGate, type Gate } from "../harness/gate.js";
import { startSlotway, stopAllSlotway, type Slotway } from "../harness/slotway.js";
import { ProxyAdmin, clientsOnEachWorker, sleep, type SlotJson } from "../harness/admin.js";
import { RawClient } from "../harness/resp-client.js";
import { freePort } from "../harness/ports.js";
import { encodeCommand } from "../../src/core/resp-encoder.js";
import { slotOfKey } from "../../src/core/slot.js";

const PW = "backend-pw";
const RECV_TIMEOUT_MS = 1500;

let A: RedisServer; // codis source
let B: RedisServer; // codis target
let C: RedisServer; // redis source
let D: RedisServer; // redis target
let gate: Gate; // a gated way from A to B, for batches held in flight
let da: Redis;
let db: Redis;
let dc: Redis;
let dd: Redis;
let proxy: Slotway;
let admin: ProxyAdmin;
let cs: RawClient[]; // one client on each worker
const open: RawClient[] = [];
const direct: Redis[] = [];

const connect = (s: RedisServer, dbi = 0): Redis => {
  const r = new Redis({ port: s.port, host: "127.0.0.1", password: PW, db: dbi, maxRetriesPerRequest: 0 });
  direct.push(r);
  return r;
};

beforeAll(async () => {
  [A, B, C, D] = await Promise.all([
    startRealCodisServer({ password: PW }),
    startRealCodisServer({ password: PW }),
    startRedis({ password: PW }),
    startRedis({ password: PW }),
  ]);
  gate = await startGate(B.port);
  [da, db, dc, dd] = [connect(A), connect(B), connect(C), connect(D)];
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
  for (const r of direct) r.disconnect();
  await gate?.stop();
  await stopAllSlotway();
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

/** Calls of a command on a real server, from INFO commandstats (0 when never called). */
async function calls(r: Redis, name: string): Promise<number> {
  const text = await r.info("commandstats");
  const m = new RegExp(`^cmdstat_${name.toLowerCase()}:calls=(\\d+)`, "m").exec(text);
  return m ? Number(m[1]) : 0;
}

const bulk = (v: string): string => `$${Buffer.byteLength(v)}\r\n${v}\r\n`;
const NIL = "$-1\r\n";

/** A raw, authenticated connection to a server, to act as its mover. */
async function moverOf(s: RedisServer, dbi = 0): Promise<RawClient> {
  const c = await RawClient.connect(s.port);
  open.push(c);
  expect(await c.call("AUTH", PW)).toBe("+OK\r\n");
  if (dbi !== 0) expect(await c.call("SELECT", String(dbi))).toBe("+OK\r\n");
  return c;
}

/**
 * Puts a key of A mid-move: an async batch to B through the closed gate. Resolves once A has
 * the batch in flight (a PING sent after the move command on the same connection is answered
 * before it: codis-server answers the move only when the batch is acknowledged). `reply` is
 * the move's own reply, which arrives after the gate opens.
 */
async function holdMidMove(key: string, dbi = 0): Promise<{ reply: Promise<string> }> {
  gate.close();
  const m = await moverOf(A, dbi);
  m.write(Buffer.concat([
    encodeCommand(["SLOTSMGRTTAGONE-ASYNC", "127.0.0.1", String(gate.port), "30000", "0", "0", key]),
    encodeCommand(["PING"]),
  ]));
  const [pong] = await m.read(1);
  expect(pong!.toString()).toBe("+PONG\r\n");
  return { reply: m.read(1, 30_000).then(([r]) => r!.toString()) };
}

describe("forward method 0 (sync): SLOTSMGRTTAGONE on the source, then the target", () => {
  it("moves a key that is still on the source before the target runs the command, on every worker", async () => {
    for (const [w, c] of cs.entries()) {
      const [k, n, inc, gone] = keysInDistinctSlots(`sync${w}-`, 4);
      await da.set(k!, "v0");
      await da.set(inc!, "41");
      await da.set(gone!, "x");
      await migrating([k!, n!, inc!, gone!], 0, A, B);
      const before = await calls(da, "SLOTSMGRTTAGONE");
      expect(await c.call("GET", k!)).toBe(bulk("v0"));
      expect(await da.exists(k!)).toBe(0);
      expect(await db.get(k!)).toBe("v0");
      expect(await c.call("SET", n!, "new")).toBe("+OK\r\n"); // not on the source: born on the target
      expect(await db.get(n!)).toBe("new");
      expect(await da.exists(n!)).toBe(0);
      expect(await c.call("INCR", inc!)).toBe(":42\r\n");
      expect(await db.get(inc!)).toBe("42");
      expect(await da.exists(inc!)).toBe(0);
      expect(await c.call("DEL", gone!)).toBe(":1\r\n");
      expect(await da.exists(gone!)).toBe(0);
      expect(await db.exists(gone!)).toBe(0);
      expect(await c.call("GET", gone!)).toBe(NIL);
      // One per request on the source, but the GET after the DEL of `gone`: this worker knows it
      // is off the source by then (forward/moved-keys.ts).
      expect((await calls(da, "SLOTSMGRTTAGONE")) - before).toBe(4);
    }
  });

  it("moves a whole hash-tag group with its first key, TTLs kept", async () => {
    const [a, b] = ["{fam}:a", "{fam}:b"];
    await da.set(a, "1");
    await da.set(b, "2", "PX", 60_000);
    await migrating([a], 0, A, B);
    expect(await cs[0]!.call("GET", a)).toBe(bulk("1"));
    expect(await da.exists(b)).toBe(0);
    expect(await db.get(b)).toBe("2");
    expect(await db.pttl(b)).toBeGreaterThan(50_000);
    expect(await cs[1]!.call("GET", b)).toBe(bulk("2"));
  });

  it("MGET and DEL across migrating slots move their keys one by one and merge in key order", async () => {
    const [x1, x2, x3, plain] = keysInDistinctSlots("msync-", 4);
    await da.set(x1!, "one");
    await db.set(x2!, "two"); // already moved
    await da.set(plain!, "plain");
    await servedBy([plain!], A);
    await migrating([x1!, x2!, x3!], 0, A, B);
    expect(await cs[0]!.call("MGET", x1!, x2!, x3!, plain!)).toBe(`*4\r\n${bulk("one")}${bulk("two")}${NIL}${bulk("plain")}`);
    expect(await da.exists(x1!)).toBe(0);
    expect(await db.get(x1!)).toBe("one");
    expect(await da.get(plain!)).toBe("plain"); // not migrating: untouched
    await da.set(x3!, "three"); // appears on the source meanwhile (a late copy the mover has not seen)
    expect(await cs[1]!.call("DEL", x1!, x2!, x3!, plain!)).toBe(":4\r\n");
    for (const k of [x1!, x2!, x3!, plain!]) {
      expect(await da.exists(k), k).toBe(0);
      expect(await db.exists(k), k).toBe(0);
    }
  });

  it("a failed move answers codis's 'handle request' error naming the slot and source, and leaves the key", async () => {
    const k = "sync-fail";
    await da.set(k, "stays");
    const dead = { addr: `127.0.0.1:${await freePort()}` };
    const [slot] = await migrating([k], 0, A, dead);
    const before = (await admin.stats()).ops.fails;
    const r = await cs[0]!.call("GET", k);
    expect(r).toBe(`-ERR handle request, migrate slot ${slot} from ${A.addr} failed, IOERR error or timeout writing to target\r\n`);
    expect(await da.get(k)).toBe("stays");
    expect((await admin.stats()).ops.fails).toBe(before + 1);
  });
});

describe("forward method 1 (semi-async): SLOTSMGRT-EXEC-WRAPPER on the source", () => {
  it("code 2: the source answers for a key it still holds; code 0: the target answers for one it does not", async () => {
    for (const [w, c] of cs.entries()) {
      const [held, fresh, absent] = keysInDistinctSlots(`semi${w}-`, 3);
      await da.set(held!, "on-source");
      await migrating([held!, fresh!, absent!], 1, A, B);
      const before = await calls(da, "SLOTSMGRT-EXEC-WRAPPER");
      expect(await c.call("GET", held!)).toBe(bulk("on-source"));
      expect(await c.call("SET", held!, "updated")).toBe("+OK\r\n");
      expect(await da.get(held!)).toBe("updated"); // executed on the source, not moved
      expect(await db.exists(held!)).toBe(0);
      expect(await c.call("SET", fresh!, "born")).toBe("+OK\r\n");
      expect(await db.get(fresh!)).toBe("born");
      expect(await da.exists(fresh!)).toBe(0);
      expect(await c.call("GET", absent!)).toBe(NIL);
      // A command the source runs through the wrapper counts twice in its commandstats (wrapper,
      // then the wrapped command under the wrapper's name): 2 + 2 + 1 + 1.
      expect((await calls(da, "SLOTSMGRT-EXEC-WRAPPER")) - before).toBe(6);
    }
  });

  it("code -1: a command the source does not know is answered with the source's own error", async () => {
    const k = "semi-unknown";
    await da.set(k, "v");
    await migrating([k], 1, A, B);
    // GETEX is Redis 6.2; codis-server 3.2.11's wrapper refuses it before looking at the key.
    expect(await cs[0]!.call("GETEX", k)).toBe("-ERR invalid command specified (GETEX)\r\n");
    expect(await da.get(k)).toBe("v");
  });

  it("code 1: retries while the key is mid-move, and a later request of the slot waits its turn", async () => {
    const k = "semi-midmove";
    await da.set(k, "old");
    await migrating([k], 1, A, B);
    const moved = await holdMidMove(k);
    const before = await calls(da, "SLOTSMGRT-EXEC-WRAPPER");
    const t0 = performance.now();
    cs[0]!.write(Buffer.concat([encodeCommand(["SET", k, "new"]), encodeCommand(["GET", k])]));
    await expect(cs[0]!.read(1, 400)).rejects.toThrow(/timeout/);
    expect((await calls(da, "SLOTSMGRT-EXEC-WRAPPER")) - before).toBeGreaterThan(3); // retried
    gate.open();
    const [set, get] = await cs[0]!.read(2, 5000);
    expect(performance.now() - t0).toBeGreaterThanOrEqual(350);
    expect(set!.toString()).toBe("+OK\r\n");
    expect(get!.toString()).toBe(bulk("new")); // not "old": the GET did not overtake the retried SET
    expect(await moved.reply).toBe(":1\r\n");
    expect(await da.exists(k)).toBe(0);
    expect(await db.get(k)).toBe("new"); // the key moved meanwhile: the write went to the target
  });

  it("reads of a key mid-move are answered by the source without waiting", async () => {
    const k = "semi-read-midmove";
    await da.set(k, "readable");
    await migrating([k], 1, A, B);
    const moved = await holdMidMove(k);
    try {
      expect(await cs[1]!.call("GET", k)).toBe(bulk("readable"));
    } finally {
      gate.open();
    }
    expect(await moved.reply).toBe(":1\r\n");
  });

  it("works within the client's database (SELECT n): the wrapper runs there and moves go there", async () => {
    const [here, moved] = keysInDistinctSlots("semidb-", 2);
    const a5 = connect(A, 5);
    const b5 = connect(B, 5);
    await a5.set(here!, "a5");
    await a5.set(moved!, "m5");
    await migrating([here!, moved!], 1, A, B);
    const c = await RawClient.connect(proxy.port);
    open.push(c);
    expect(await c.call("SELECT", "5")).toBe("+OK\r\n");
    expect(await c.call("GET", here!)).toBe(bulk("a5"));
    const mover = await moverOf(A, 5);
    const [host, port] = B.addr.split(":");
    expect(await mover.call("SLOTSMGRTTAGONE", host!, port!, "1000", moved!)).toBe(":1\r\n");
    expect(await c.call("GET", moved!)).toBe(bulk("m5"));
    expect(await b5.get(moved!)).toBe("m5");
    expect(await c.call("GET", here!)).toBe(bulk("a5"));
    expect(await da.exists(here!)).toBe(0); // not in db 0
  });

  it("fails at the deadline (backend_recv_timeout) when a key stays mid-move, and writes nothing", async () => {
    const k = "semi-stuck";
    await da.set(k, "old");
    const [slot] = await migrating([k], 1, A, B);
    const moved = await holdMidMove(k);
    const t0 = performance.now();
    const r = await cs[0]!.call("SET", k, "new");
    const took = performance.now() - t0;
    try {
      expect(r).toBe(`-ERR handle request, migrate slot ${slot} from ${A.addr} failed, key is still being migrated at the deadline\r\n`);
      expect(took).toBeGreaterThanOrEqual(RECV_TIMEOUT_MS - 100);
      expect(took).toBeLessThan(RECV_TIMEOUT_MS + 1500);
      expect(await da.get(k)).toBe("old");
    } finally {
      gate.open();
    }
    expect(await moved.reply).toBe(":1\r\n");
    expect(await db.get(k)).toBe("old");
  });

  it("MGET and DEL whose keys are in different states of the move, one moving mid-request", async () => {
    const [x1, x2, x3, x4] = keysInDistinctSlots("msemi-", 4);
    await da.set(x1!, "one"); // still on the source
    await db.set(x2!, "two"); // already on the target
    await da.set(x3!, "three"); // on the source, mid-move
    await migrating([x1!, x2!, x3!, x4!], 1, A, B);
    const moved = await holdMidMove(x3!);
    // Reads are executed on the source even mid-move (the wrapper blocks writes only).
    expect(await cs[0]!.call("MGET", x1!, x2!, x3!, x4!)).toBe(`*4\r\n${bulk("one")}${bulk("two")}${bulk("three")}${NIL}`);
    // The DEL of x3 retries until its batch is acknowledged, then runs on the target.
    const del = cs[1]!.call("DEL", x1!, x2!, x3!, x4!);
    await sleep(150);
    gate.open();
    expect(await del).toBe(":3\r\n");
    expect(await moved.reply).toBe(":1\r\n");
    for (const k of [x1!, x2!, x3!, x4!]) {
      expect(await da.exists(k), k).toBe(0);
      expect(await db.exists(k), k).toBe(0);
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

  it("moves within the client's database (SELECT n)", async () => {
    const k = "{mig-db}";
    const c3 = connect(C, 3);
    const d3 = connect(D, 3);
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

describe("keys a worker knows are off the source skip the move step (forward/moved-keys.ts)", () => {
  for (const [method, name, src, tgt] of [[0, "SLOTSMGRTTAGONE", () => A, () => B], [1, "SLOTSMGRT-EXEC-WRAPPER", () => A, () => B], [2, "MIGRATE", () => C, () => D]] as const) {
    it(`method ${method}: one ${name} per key and worker while the slot's record stands, again after a new fill`, async () => {
      const [k, other] = ["{mk" + method + "}:a", "{mk" + method + "}:b"];
      const ds = method === 2 ? dc : da;
      const dt = method === 2 ? dd : db;
      await ds.set(k, "v");
      await ds.set(other, "o");
      await migrating([k], method, src(), tgt());
      const c = cs[0]!;
      const before = await calls(ds, name);
      expect(await c.call("GET", k)).toBe(bulk("v"));
      // semi-async ran that GET on the source (the key was there): nothing is known yet.
      const first = (await calls(ds, name)) - before;
      expect(first).toBeGreaterThanOrEqual(1);
      if (method === 1) {
        const [host, port] = B.addr.split(":");
        const mover = await moverOf(A);
        expect(await mover.call("SLOTSMGRTTAGONE", host!, port!, "1000", k)).toBe(":2\r\n");
        expect(await c.call("GET", k)).toBe(bulk("v")); // [0]: now known off the source
      }
      const known = await calls(ds, name);
      for (let i = 0; i < 5; i++) expect(await c.call("APPEND", k, "+")).toBe(`:${2 + i}\r\n`);
      expect(await c.call("GET", k)).toBe(bulk("v+++++"));
      expect(await calls(ds, name)).toBe(known); // skipped: straight to the target
      expect(await dt.get(k)).toBe("v+++++");
      // Another key of the slot is not known: it steps (and is moved, or found moved).
      expect(await c.call("GET", other)).toBe(bulk("o"));
      expect(await calls(ds, name)).toBeGreaterThan(known);
      // A new fill of the slot (even the same migrating record) forgets what was known.
      await migrating([k], method, src(), tgt());
      const refilled = await calls(ds, name);
      expect(await c.call("GET", k)).toBe(bulk("v+++++"));
      expect(await calls(ds, name)).toBeGreaterThan(refilled);
    });
  }

  it("a pipelined write of a known key does not overtake an earlier write of the slot still in its step", async () => {
    const [k, slow] = ["{mkorder}:k", "{mkorder}:slow"];
    await da.set(slow, "s");
    await migrating([k], 1, A, B);
    const c = cs[1]!;
    expect(await c.call("SET", k, "0")).toBe("+OK\r\n"); // [0]: k is known off the source
    // `slow` is mid-move, so its SET retries in the lane; the SETs of k behind it must wait.
    const moved = await holdMidMove(slow);
    c.write(Buffer.concat([encodeCommand(["SET", slow, "t"]), encodeCommand(["SET", k, "1"]), encodeCommand(["GET", k])]));
    await expect(c.read(1, 300)).rejects.toThrow(/timeout/);
    expect(await db.get(k)).toBe("0"); // the SET of k did not overtake
    gate.open();
    const r = await c.read(3, 5000);
    expect(r.map((b) => b.toString())).toEqual(["+OK\r\n", "+OK\r\n", bulk("1")]);
    expect(await moved.reply).toBe(":1\r\n");
    expect(await db.get(slow)).toBe("t");
  });
});

describe("a key mid-move holds only its own client's requests of the slot (forward/client-lanes.ts)", () => {
  it("semi-async: another client of the same worker is answered while the first waits, and the first keeps its order", async () => {
    const [k, slow, n] = ["{lane}:k", "{lane}:slow", "{lane}:n"];
    await da.set(slow, "s");
    await migrating([k], 1, A, B);
    const placed = await clientsOnEachWorker(proxy.port, 2, 2);
    open.push(...placed.flat());
    const [x, y] = placed[0]!;
    const moved = await holdMidMove(slow);
    // x: its SET of `slow` retries in its lane (the key is mid-move); its SET of k waits behind it.
    x!.write(Buffer.concat([encodeCommand(["SET", slow, "t"]), encodeCommand(["SET", k, "x"])]));
    await expect(x!.read(1, 300)).rejects.toThrow(/timeout/);
    // y, on the same worker, works on the same slot meanwhile.
    const t0 = performance.now();
    expect(await y!.call("INCR", n)).toBe(":1\r\n");
    expect(await y!.call("GET", n)).toBe(bulk("1"));
    expect(performance.now() - t0).toBeLessThan(250);
    expect(await db.get(n)).toBe("1");
    expect(await db.get(k)).toBe(null); // x's SET of k did not overtake its SET of slow
    gate.open();
    const r = await x!.read(2, 5000);
    expect(r.map((b) => b.toString())).toEqual(["+OK\r\n", "+OK\r\n"]);
    expect(await moved.reply).toBe(":1\r\n");
    expect(await db.get(slow)).toBe("t");
    expect(await db.get(k)).toBe("x");
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
    await da.set(k, "old");
    const [slot] = await migrating([k], 1, A, B);
    const moved = await holdMidMove(k);
    const set = cs[1]!.call("SET", k, "new").then((r) => ({ r, at: performance.now() }));
    await sleep(100);
    const fill = admin.fill([{ id: slot!, backend_addr: B.addr, backend_addr_group_id: 2 }]);
    await sleep(300);
    gate.open();
    const done = await set;
    const filled = await fill;
    expect(filled.status).toBe(200);
    expect(done.r).toBe("+OK\r\n");
    expect(filled.at).toBeGreaterThanOrEqual(done.at);
    expect(await moved.reply).toBe(":1\r\n");
    expect(await db.get(k)).toBe("new"); // the retried SET found the key moved and ran on the target
  });
});
