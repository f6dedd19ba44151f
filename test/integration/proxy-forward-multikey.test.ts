// Commands that name several keys of one slot while the slot migrates (issue 8, part 1): no
// method may lose an acknowledged write. A command must run where ALL its keys are, never be
// placed by its first key alone: e.g. RPOPLPUSH {t1}:q {t1}:d with {t1}:q born on the target
// and {t1}:d still on the source used to run on the target, make a second {t1}:d there, and
// the bulk move then overwrote it with the source's older copy.
//
// Every scenario runs through a slotway proxy for each forward method on real servers (codis-
// server of ../shared/peers for sync and semi-async, redis-server for the redis method), and
// then lets the production bulk mover (src/control/movers) finish the slot, the way the
// dashboard does, before it checks what every key holds and that the source kept nothing.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Redis } from "ioredis";
import { startRealCodisServer, startRedis, stopAllRedis, type RedisServer } from "../harness/redis.js";
import { startGate, type Gate } from "../harness/gate.js";
import { startSlotway, stopAllSlotway, type Slotway } from "../harness/slotway.js";
import { ProxyAdmin, sleep } from "../harness/admin.js";
import { RawClient } from "../harness/resp-client.js";
import { encodeCommand } from "../../src/core/resp-encoder.js";
import { slotOfKey } from "../../src/core/slot.js";
import { defaultConnect } from "../../src/control/movers/connect.js";
import { moverFor, type MoverMethod } from "../../src/control/movers/index.js";

const PW = "backend-pw";

interface Side {
  method: 0 | 1 | 2;
  mover: MoverMethod;
  src: RedisServer;
  dst: RedisServer;
  s: Redis;
  t: Redis;
}

const sides = new Map<string, Side>();
const direct: Redis[] = [];
const open: RawClient[] = [];
let proxy: Slotway;
let admin: ProxyAdmin;
let c: RawClient;

const connect = (srv: RedisServer): Redis => {
  const r = new Redis({ port: srv.port, host: "127.0.0.1", password: PW, maxRetriesPerRequest: 0 });
  direct.push(r);
  return r;
};

beforeAll(async () => {
  const [a1, b1, a2, b2, c1, d1] = await Promise.all([
    startRealCodisServer({ password: PW }), startRealCodisServer({ password: PW }),
    startRealCodisServer({ password: PW }), startRealCodisServer({ password: PW }),
    startRedis({ password: PW }), startRedis({ password: PW }),
  ]);
  sides.set("sync", { method: 0, mover: "sync", src: a1!, dst: b1!, s: connect(a1!), t: connect(b1!) });
  sides.set("semi-async", { method: 1, mover: "semi-async", src: a2!, dst: b2!, s: connect(a2!), t: connect(b2!) });
  sides.set("redis", { method: 2, mover: "redis", src: c1!, dst: d1!, s: connect(c1!), t: connect(d1!) });
  proxy = await startSlotway({ workers: 1, config: { product_auth: PW, backend_recv_timeout: "3s" } });
  admin = await new ProxyAdmin(proxy.adminAddr, "test", PW).init();
  await admin.start();
  c = await RawClient.connect(proxy.port);
  open.push(c);
});

afterAll(async () => {
  for (const x of open) x.close();
  for (const r of direct) r.disconnect();
  await stopAllSlotway();
  await stopAllRedis();
});

const bulk = (v: string): string => `$${Buffer.byteLength(v)}\r\n${v}\r\n`;
const arr = (...vs: string[]): string => `*${vs.length}\r\n${vs.map(bulk).join("")}`;

/** Untagged keys `${prefix}<i>` that all hash to one slot (found by trying names in turn). */
function keysOfOneSlot(prefix: string, n: number): string[] {
  const by = new Map<number, string[]>();
  for (let i = 0; ; i++) {
    const k = `${prefix}${i}`;
    const l = by.get(slotOfKey(k)) ?? [];
    l.push(k);
    by.set(slotOfKey(k), l);
    if (l.length === n) return l;
  }
}

async function servedBy(slot: number, b: RedisServer, gid: number): Promise<void> {
  await admin.fillOk([{ id: slot, backend_addr: b.addr, backend_addr_group_id: gid }]);
}

async function migrating(slot: number, side: Side): Promise<void> {
  await admin.fillOk([{
    id: slot, backend_addr: side.dst.addr, backend_addr_group_id: 2, migrate_from: side.src.addr,
    migrate_from_group_id: 1, forward_method: side.method,
  }]);
}

/** What the dashboard does after `migrating`: the bulk mover empties the slot, then `finished`. */
async function finish(slot: number, side: Side): Promise<void> {
  await moverFor(side.mover).moveSlots([slot], side.src.addr, side.dst.addr, {
    connect: defaultConnect, password: PW, timeoutMs: 5000, maxBulks: 200, maxBytes: 512 * 1024, numKeys: 100,
  }, new AbortController().signal);
  await servedBy(slot, side.dst, 2);
}

/** Keys of a slot left on a server (KEYS is fine on these small test servers). */
async function keysOfSlot(r: Redis, slot: number): Promise<string[]> {
  return (await r.keys("*")).filter((k) => slotOfKey(k) === slot);
}

/** Sends commands through the proxy in one pipeline and returns their replies as text. */
async function run(...cmds: (string | number)[][]): Promise<string[]> {
  c.write(Buffer.concat(cmds.map((a) => encodeCommand(a))));
  return (await c.read(cmds.length, 15_000)).map((b) => b.toString());
}

for (const name of ["sync", "semi-async", "redis"] as const) {
  describe(`forward method ${name}: commands of several keys of one slot`, () => {
    it("the issue's sequence: RPUSH a new key, RPOPLPUSH it into a key still on the source, SUNIONSTORE", async () => {
      const side = sides.get(name)!;
      const slot = slotOfKey("{t1}");
      await servedBy(slot, side.src, 1);
      expect(await run(["RPUSH", "{t1}:d", "d1", "d2", "d3"], ["SADD", "{t1}:s", "a", "b"])).toEqual([":3\r\n", ":2\r\n"]);
      await migrating(slot, side);
      expect(await run(["RPUSH", "{t1}:q", "x"])).toEqual([":1\r\n"]);
      expect(await run(["RPOPLPUSH", "{t1}:q", "{t1}:d"])).toEqual([bulk("x")]);
      expect(await run(["LRANGE", "{t1}:d", 0, -1])).toEqual([arr("x", "d1", "d2", "d3")]);
      expect(await run(["SUNIONSTORE", "{t1}:u", "{t1}:s"])).toEqual([":2\r\n"]);
      await finish(slot, side);
      expect(await run(["LRANGE", "{t1}:d", 0, -1], ["LLEN", "{t1}:q"], ["SCARD", "{t1}:u"]))
        .toEqual([arr("x", "d1", "d2", "d3"), ":0\r\n", ":2\r\n"]);
      expect((await side.t.smembers("{t1}:u")).sort()).toEqual(["a", "b"]);
      expect(await keysOfSlot(side.s, slot)).toEqual([]);
    });

    it("distinct keys of one slot without a hash tag: SMOVE, a RENAME in EVAL, SORT ... STORE", async () => {
      const side = sides.get(name)!;
      const [p, q, r1, r2, l, dst] = keysOfOneSlot(`mk-${name}-`, 6);
      const slot = slotOfKey(p!);
      await servedBy(slot, side.src, 1);
      expect(await run(["SADD", q!, "z"], ["SET", r2!, "old"], ["RPUSH", l!, "3", "1", "2"], ["RPUSH", dst!, "stale"]))
        .toEqual([":1\r\n", "+OK\r\n", ":3\r\n", ":1\r\n"]);
      await migrating(slot, side);
      // The first key of each command is born on the target; the second is still on the source.
      expect(await run(["SADD", p!, "m1", "m2"], ["SMOVE", p!, q!, "m1"])).toEqual([":2\r\n", ":1\r\n"]);
      expect(await run(["SET", r1!, "v1"], ["EVAL", "return redis.call('RENAME', KEYS[1], KEYS[2])", 2, r1!, r2!]))
        .toEqual(["+OK\r\n", "+OK\r\n"]);
      // SORT's STORE destination is a key the command table's key specs do not list.
      expect(await run(["SORT", l!, "STORE", dst!])).toEqual([":3\r\n"]);
      await finish(slot, side);
      expect(await run(["SMEMBERS", p!], ["GET", r2!], ["EXISTS", r1!], ["LRANGE", dst!, 0, -1]))
        .toEqual([arr("m2"), bulk("v1"), ":0\r\n", arr("1", "2", "3")]);
      expect((await side.t.smembers(q!)).sort()).toEqual(["m1", "z"]);
      expect(await keysOfSlot(side.s, slot)).toEqual([]);
    });

    it("a key named twice (RPOPLPUSH k k), and ZUNIONSTORE whose destination is its first key", async () => {
      const side = sides.get(name)!;
      const slot = slotOfKey("{rot}");
      await servedBy(slot, side.src, 1);
      expect(await run(["RPUSH", "{rot}:l", "a", "b", "c"], ["ZADD", "{rot}:z1", 1, "x"], ["ZADD", "{rot}:dst", 9, "old"]))
        .toEqual([":3\r\n", ":1\r\n", ":1\r\n"]);
      await migrating(slot, side);
      expect(await run(["ZADD", "{rot}:z2", 2, "y"], ["RPOPLPUSH", "{rot}:l", "{rot}:l"], ["ZUNIONSTORE", "{rot}:dst", 2, "{rot}:z1", "{rot}:z2"]))
        .toEqual([":1\r\n", bulk("c"), ":2\r\n"]);
      await finish(slot, side);
      expect(await run(["LRANGE", "{rot}:l", 0, -1], ["ZRANGE", "{rot}:dst", 0, -1])).toEqual([arr("c", "a", "b"), arr("x", "y")]);
      expect(await keysOfSlot(side.s, slot)).toEqual([]);
    });
  });
}

describe("semi-async: a command of several keys while one of them is in the bulk batch in flight", () => {
  let gate: Gate;
  afterAll(async () => {
    gate?.open();
    await gate?.stop();
  });

  it("waits until the batch is acknowledged, then moves the others and runs on the target", async () => {
    const side = sides.get("semi-async")!;
    gate = await startGate(side.dst.port);
    const slot = slotOfKey("{fl}");
    await servedBy(slot, side.src, 1);
    expect(await run(["RPUSH", "{fl}:d", "d1"], ["RPUSH", "{fl}:q", "q1"])).toEqual([":1\r\n", ":1\r\n"]);
    await migrating(slot, side);
    // A bulk batch holding the {fl} tag (both keys) in flight: its target is behind a closed gate.
    gate.close();
    const mover = await RawClient.connect(side.src.port);
    open.push(mover);
    expect(await mover.call("AUTH", PW)).toBe("+OK\r\n");
    mover.write(Buffer.concat([
      encodeCommand(["SLOTSMGRTTAGONE-ASYNC", "127.0.0.1", String(gate.port), "30000", "0", "0", "{fl}:d"]),
      encodeCommand(["PING"]),
    ]));
    expect((await mover.read(1))[0]!.toString()).toBe("+PONG\r\n");
    c.write(encodeCommand(["RPOPLPUSH", "{fl}:q", "{fl}:d"]));
    await expect(c.read(1, 300)).rejects.toThrow(/timeout/);
    expect(await side.s.lrange("{fl}:d", 0, -1)).toEqual(["d1"]); // nothing ran on the source meanwhile
    gate.open();
    expect((await c.read(1, 5000))[0]!.toString()).toBe(bulk("q1"));
    expect((await mover.read(1, 5000))[0]!.toString()).toBe(":2\r\n");
    expect(await side.t.lrange("{fl}:d", 0, -1)).toEqual(["q1", "d1"]);
    expect(await keysOfSlot(side.s, slot)).toEqual([]);
    await sleep(10);
  });
});
