// slotway in front of two real redis-server groups (2 workers), checked against a third,
// plain redis-server: every command family must answer through the proxy exactly as Redis
// answers directly, and every key must land on the backend that owns its slot.
import { describe, it, expect, beforeAll, afterAll } from "vitest";
import { Redis } from "ioredis";
import { startRedis, stopAllRedis, type RedisServer } from "../harness/redis.js";
import { startSlotway, stopAllSlotway, type Slotway, twoGroups } from "../harness/slotway.js";
import { RawClient } from "../harness/resp-client.js";
import { slotOfKey } from "../../src/core/slot.js";

let g1: RedisServer, g2: RedisServer, ref: RedisServer;
let proxy: Slotway;
let viaProxy: Redis, direct: Redis, b1: Redis, b2: Redis;

beforeAll(async () => {
  [g1, g2, ref] = await Promise.all([startRedis(), startRedis(), startRedis()]);
  proxy = await startSlotway({
    groups: twoGroups(g1.addr, g2.addr),
  });
  viaProxy = new Redis({ port: proxy.port, lazyConnect: true, maxRetriesPerRequest: 0 });
  direct = new Redis({ port: ref.port, lazyConnect: true });
  b1 = new Redis({ port: g1.port, lazyConnect: true });
  b2 = new Redis({ port: g2.port, lazyConnect: true });
  await Promise.all([viaProxy.connect(), direct.connect(), b1.connect(), b2.connect()]);
});

afterAll(async () => {
  for (const c of [viaProxy, direct, b1, b2]) c?.disconnect();
  await stopAllSlotway();
  await stopAllRedis();
});

type Cmd = (string | number)[];

// Sequences per family; each runs through the proxy and directly, replies must match.
const families: Record<string, Cmd[]> = {
  strings: [
    ["SET", "s:a", "hello"], ["GET", "s:a"], ["APPEND", "s:a", " world"], ["STRLEN", "s:a"],
    ["GETRANGE", "s:a", 0, 4], ["SETRANGE", "s:a", 6, "WORLD"], ["GET", "s:a"], ["INCR", "s:n"],
    ["INCRBY", "s:n", 10], ["DECRBY", "s:n", 3], ["INCRBYFLOAT", "s:f", "1.5"], ["SETNX", "s:a", "x"],
    ["GETSET", "s:a", "new"], ["GETDEL", "s:a"], ["GET", "s:a"], ["SET", "s:b", "v", "NX", "EX", 100],
    ["GETEX", "s:b", "PERSIST"], ["TTL", "s:b"], ["SUBSTR", "s:b", 0, 0], ["GET", "s:missing"],
  ],
  hashes: [
    ["HSET", "h:1", "f1", "v1", "f2", "v2"], ["HGET", "h:1", "f1"], ["HMGET", "h:1", "f1", "nope", "f2"],
    ["HGETALL", "h:1"], ["HKEYS", "h:1"], ["HVALS", "h:1"], ["HLEN", "h:1"], ["HEXISTS", "h:1", "f2"],
    ["HINCRBY", "h:1", "n", 5], ["HINCRBYFLOAT", "h:1", "x", "0.25"], ["HSETNX", "h:1", "f1", "z"],
    ["HSTRLEN", "h:1", "f1"], ["HDEL", "h:1", "f1"], ["HMSET", "h:1", "a", "1"], ["HGETALL", "h:1"],
  ],
  lists: [
    ["RPUSH", "l:1", "a", "b", "c"], ["LPUSH", "l:1", "z"], ["LRANGE", "l:1", 0, -1], ["LLEN", "l:1"],
    ["LINDEX", "l:1", 1], ["LSET", "l:1", 0, "y"], ["LINSERT", "l:1", "BEFORE", "b", "q"], ["LREM", "l:1", 0, "q"],
    ["LPOS", "l:1", "c"], ["LPOP", "l:1"], ["RPOP", "l:1"], ["LTRIM", "l:1", 0, 0], ["LRANGE", "l:1", 0, -1],
    ["RPUSH", "{l}x", "1", "2"], ["RPOPLPUSH", "{l}x", "{l}y"], ["LMOVE", "{l}x", "{l}y", "LEFT", "RIGHT"],
    ["LRANGE", "{l}y", 0, -1],
  ],
  sets: [
    ["SADD", "{t}a", "1", "2", "3"], ["SADD", "{t}b", "2", "3", "4"], ["SCARD", "{t}a"], ["SISMEMBER", "{t}a", "2"],
    ["SMISMEMBER", "{t}a", "1", "9"], ["SINTER", "{t}a", "{t}b"], ["SUNION", "{t}a", "{t}b"], ["SDIFF", "{t}a", "{t}b"],
    ["SINTERSTORE", "{t}c", "{t}a", "{t}b"], ["SMEMBERS", "{t}c"], ["SMOVE", "{t}a", "{t}b", "1"], ["SREM", "{t}b", "4"],
    ["SINTERCARD", 2, "{t}a", "{t}b"],
  ],
  zsets: [
    ["ZADD", "{z}1", 1, "a", 2, "b", 3, "c"], ["ZSCORE", "{z}1", "b"], ["ZRANK", "{z}1", "c"], ["ZCARD", "{z}1"],
    ["ZRANGE", "{z}1", 0, -1, "WITHSCORES"], ["ZREVRANGE", "{z}1", 0, 1], ["ZRANGEBYSCORE", "{z}1", 2, 3],
    ["ZCOUNT", "{z}1", 1, 2], ["ZINCRBY", "{z}1", 5, "a"], ["ZMSCORE", "{z}1", "a", "zz"], ["ZPOPMIN", "{z}1"],
    ["ZADD", "{z}2", 10, "b"], ["ZUNIONSTORE", "{z}3", 2, "{z}1", "{z}2"], ["ZRANGE", "{z}3", 0, -1, "WITHSCORES"],
    ["ZINTERSTORE", "{z}4", 2, "{z}1", "{z}2", "WEIGHTS", 1, 2], ["ZRANGE", "{z}4", 0, -1, "WITHSCORES"],
    ["ZUNION", 2, "{z}1", "{z}2"], ["ZREM", "{z}1", "b"], ["ZREMRANGEBYSCORE", "{z}1", 0, 100],
  ],
  streams: [
    ["XADD", "x:1", "1-1", "f", "v"], ["XADD", "x:1", "2-1", "g", "w"], ["XLEN", "x:1"], ["XRANGE", "x:1", "-", "+"],
    ["XREVRANGE", "x:1", "+", "-", "COUNT", 1], ["XREAD", "COUNT", 10, "STREAMS", "x:1", "0"],
    ["XGROUP", "CREATE", "x:1", "grp", "0"], ["XREADGROUP", "GROUP", "grp", "c1", "COUNT", 1, "STREAMS", "x:1", ">"],
    ["XPENDING", "x:1", "grp"], ["XACK", "x:1", "grp", "1-1"], ["XDEL", "x:1", "2-1"], ["XTRIM", "x:1", "MAXLEN", 0],
    ["XINFO", "STREAM", "x:1"],
  ],
  hyperloglog: [
    ["PFADD", "{p}1", "a", "b", "c"], ["PFADD", "{p}2", "c", "d"], ["PFCOUNT", "{p}1"], ["PFCOUNT", "{p}1", "{p}2"],
    ["PFMERGE", "{p}3", "{p}1", "{p}2"], ["PFCOUNT", "{p}3"],
  ],
  geo: [
    ["GEOADD", "geo:1", "13.361389", "38.115556", "Palermo", "15.087269", "37.502669", "Catania"],
    ["GEODIST", "geo:1", "Palermo", "Catania", "km"], ["GEOHASH", "geo:1", "Palermo"], ["GEOPOS", "geo:1", "Catania", "Nope"],
    ["GEOSEARCH", "geo:1", "FROMLONLAT", 15, 37, "BYRADIUS", 200, "km", "ASC"],
  ],
  bitmaps: [
    ["SETBIT", "b:1", 7, 1], ["GETBIT", "b:1", 7], ["BITCOUNT", "b:1"], ["BITPOS", "b:1", 1],
    ["BITFIELD", "b:1", "INCRBY", "u8", 0, 3], ["GET", "b:1"],
  ],
  scripting: [
    ["EVAL", "return redis.call('SET', KEYS[1], ARGV[1])", 1, "{e}k", "v1"],
    ["EVAL", "return {redis.call('GET', KEYS[1]), redis.call('INCR', KEYS[2])}", 2, "{e}k", "{e}n"],
    ["EVAL", "return ARGV[1]", 0, "x"],
    ["EVAL", "return redis.error_reply('custom')", 0],
  ],
  expiry: [
    ["SET", "e:1", "v"], ["EXPIRE", "e:1", 100], ["TTL", "e:1"], ["PEXPIRE", "e:1", 100000], ["PERSIST", "e:1"],
    ["TTL", "e:1"], ["SET", "e:2", "v", "PX", 30], ["EXISTS", "e:2"], ["TYPE", "e:1"], ["PTTL", "nope"],
  ],
  multikey: [
    ["MSET", "m:a", "1", "m:b", "2", "m:c", "3", "m:d", "4", "m:e", "5"], ["MGET", "m:a", "m:nope", "m:b", "m:c", "m:d", "m:e"],
    ["EXISTS", "m:a", "m:b", "m:nope", "m:a"], ["TOUCH", "m:a", "m:c"], ["DEL", "m:a", "m:b", "m:nope"],
    ["UNLINK", "m:c", "m:d"], ["MGET", "m:a", "m:b", "m:c", "m:d", "m:e"], ["MGET", "m:e"], ["DEL", "m:e"],
  ],
};

describe("every command family answers as Redis does", () => {
  for (const [family, cmds] of Object.entries(families)) {
    it(family, async () => {
      for (const cmd of cmds) {
        const [name, ...args] = cmd.map(String) as [string, ...string[]];
        const got = await viaProxy.call(name, ...args).catch((e: Error) => `ERROR ${e.message}`);
        const want = await direct.call(name, ...args).catch((e: Error) => `ERROR ${e.message}`);
        // TTLs may differ by a second between two servers.
        if (/^P?TTL$/.test(name) && typeof want === "number" && want > 0) {
          expect(Math.abs(Number(got) - want), cmd.join(" ")).toBeLessThanOrEqual(1000);
          continue;
        }
        expect(got, cmd.join(" ")).toEqual(want);
      }
    });
  }
});

describe("placement", () => {
  it("stores each key on the backend that owns its slot, and only there", async () => {
    const keys = Array.from({ length: 200 }, (_, i) => `place:${i}`);
    await viaProxy.mset(...keys.flatMap((k) => [k, k]));
    let onFirst = 0;
    for (const k of keys) {
      const owner = slotOfKey(k) < 512 ? b1 : b2;
      const other = owner === b1 ? b2 : b1;
      expect(await owner.get(k), k).toBe(k);
      expect(await other.exists(k), k).toBe(0);
      if (owner === b1) onFirst++;
    }
    expect(onFirst).toBeGreaterThan(50); // both groups really got keys
    expect(onFirst).toBeLessThan(150);
  });

  it("keeps hash-tagged keys together", async () => {
    await viaProxy.mset("{user1000}.name", "a", "{user1000}.mail", "b");
    const owner = slotOfKey("user1000") < 512 ? b1 : b2;
    expect(await owner.mget("{user1000}.name", "{user1000}.mail")).toEqual(["a", "b"]);
  });
});

describe("codis rules and local commands", () => {
  it("refuses the commands left of codis's list with codis's text, keeping the connection", async () => {
    const c = await RawClient.connect(proxy.port);
    for (const cmd of [["KEYS", "*"], ["FLUSHALL"], ["FLUSHDB"], ["CONFIG", "GET", "x"], ["SLOTSMGRTTAGSLOT", "x", "0"], ["MIGRATE", "h", "1", "k", "0", "1"], ["SCRIPT", "FLUSH"]]) {
      expect(await c.call(...cmd), cmd.join(" ")).toBe(`-ERR handle request, command '${cmd[0]}' is not allowed\r\n`);
    }
    expect(await c.call("PING")).toBe("+PONG\r\n");
    c.close();
  });

  it("answers PING, ECHO, SLOTSHASHKEY and SLOTSMAPPING locally", async () => {
    const c = await RawClient.connect(proxy.port);
    expect(await c.call("PING", "hi")).toBe("$2\r\nhi\r\n");
    expect(await c.call("ECHO", "yo")).toBe("$2\r\nyo\r\n");
    expect(await c.call("SLOTSHASHKEY", "foo", "{a}b")).toBe(`*2\r\n:289\r\n:${slotOfKey("a")}\r\n`);
    expect(await c.call("SLOTSMAPPING", "600")).toBe(`*4\r\n+600\r\n+${g2.addr}\r\n+\r\n*0\r\n`);
    expect(await c.call("SLOTSMAPPING", "2000")).toBe("-ERR parse slotnum '2000' failed, out of range\r\n");
    const all = await c.call("SLOTSMAPPING");
    expect(all.startsWith("*1024\r\n")).toBe(true);
    c.close();
  });

  it("SLOTSSCAN lists exactly the keys of one slot, on vanilla Redis", async () => {
    const slot = slotOfKey("scan-me");
    const keys = ["{scan-me}1", "{scan-me}2", "{scan-me}3"];
    await viaProxy.mset(...keys.flatMap((k) => [k, "v"]));
    await viaProxy.set("other-key", "v");
    const found = new Set<string>();
    let cursor = "0";
    for (let i = 0; i < 1000; i++) {
      const [next, batch] = (await viaProxy.call("SLOTSSCAN", slot, cursor, "COUNT", 100)) as [string, string[]];
      for (const k of batch) found.add(k);
      cursor = next;
      if (cursor === "0") break;
    }
    expect([...found].sort()).toEqual(keys);
  });

  it("SLOTSINFO addr goes to that backend, as codis does", async () => {
    const c = await RawClient.connect(proxy.port);
    // Vanilla Redis has no SLOTSINFO: the backend's own error comes back.
    expect(await c.call("SLOTSINFO", g1.addr)).toMatch(/^-ERR unknown command 'SLOTSINFO'/);
    expect(await c.call("SLOTSINFO", "1.2.3.4:5")).toBe("-ERR backend server '1.2.3.4:5' not found\r\n");
    c.close();
  });

  it("SELECT changes the database on the backends", async () => {
    const c = await RawClient.connect(proxy.port);
    expect(await c.call("SELECT", "3")).toBe("+OK\r\n");
    expect(await c.call("SET", "db3key", "x")).toBe("+OK\r\n");
    expect(await c.call("SELECT", "16")).toBe("-ERR invalid DB index, only accept DB [0,16)\r\n");
    expect(await c.call("SELECT", "x")).toBe("-ERR invalid DB index\r\n");
    c.close();
    const owner = slotOfKey("db3key") < 512 ? g1 : g2;
    const r = new Redis({ port: owner.port, db: 3 });
    expect(await r.get("db3key")).toBe("x");
    await r.select(0);
    expect(await r.get("db3key")).toBeNull();
    r.disconnect();
  });

  it("speaks RESP3 end to end after HELLO 3", async () => {
    const c = await RawClient.connect(proxy.port);
    const hello = await c.call("HELLO", "3");
    expect(hello.startsWith("%7\r\n")).toBe(true);
    expect(hello).toContain("$5\r\nproto\r\n:3\r\n");
    await c.call("HSET", "r3:h", "f", "v");
    expect(await c.call("HGETALL", "r3:h")).toBe("%1\r\n$1\r\nf\r\n$1\r\nv\r\n"); // a map, from the backend
    expect(await c.call("GET", "r3:none")).toBe("_\r\n"); // RESP3 null
    expect(await c.call("HELLO", "2")).toMatch(/^\*14\r\n/);
    expect(await c.call("HGETALL", "r3:h")).toBe("*2\r\n$1\r\nf\r\n$1\r\nv\r\n");
    expect(await c.call("HELLO", "4")).toBe("-NOPROTO unsupported protocol version\r\n");
    c.close();
  });

  it("accepts inline commands", async () => {
    const c = await RawClient.connect(proxy.port);
    c.write('SET inline:k "two words"\r\nGET inline:k\r\nPING\n');
    const r = await c.read(3);
    expect(r.map(String)).toEqual(["+OK\r\n", "$9\r\ntwo words\r\n", "+PONG\r\n"]);
    c.close();
  });

  it("answers QUIT with +OK and closes", async () => {
    const c = await RawClient.connect(proxy.port);
    c.write("*1\r\n$4\r\nPING\r\n*1\r\n$4\r\nQUIT\r\n*1\r\n$4\r\nPING\r\n");
    const frames = await c.readUntilClose();
    expect(frames.map(String)).toEqual(["+PONG\r\n", "+OK\r\n"]);
  });
});
