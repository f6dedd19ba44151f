// The replies of the real Pika 3.4, 3.5 and 4.0 servers that slotway's Pika support relies on
// (../shared/peers/README.md has the others). Each fact names the code that depends on it.
import { readdirSync, statSync } from "node:fs";
import path from "node:path";
import { crc32 } from "node:zlib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { probeBackend } from "../../src/control/backends/kind.js";
import { parseSlotInfo, slotInfo } from "../../src/control/backends/pika-cluster.js";
import { repairRecord } from "../../src/control/movers/pika-classic.js";
import { RedisClient } from "../../src/control/redis-client.js";
import type { RedisConnector } from "../../src/control/movers/mover.js";
import { slotOfKey } from "../../src/core/slot.js";
import { startPika, stopAllPika, type PikaServer } from "../harness/pika.js";
import { until } from "../harness/wait.js";

const connect: RedisConnector = (addr, opts) => RedisClient.connect(addr, opts);
afterAll(stopAllPika);

/** Keys named prefix+i whose codis slot is `slot`. */
function keysInSlot(slot: number, n: number, prefix = "k"): string[] {
  const out: string[] = [];
  for (let i = 0; out.length < n; i++) if (slotOfKey(Buffer.from(`${prefix}${i}`)) === slot) out.push(`${prefix}${i}`);
  return out;
}

const err = (p: Promise<unknown>): Promise<string> => p.then((v) => `no error: ${JSON.stringify(v)}`, (e: Error) => e.message);

describe("Pika 3.4.0 (sharding)", () => {
  let a: PikaServer, b: PikaServer, c: PikaServer;
  beforeAll(async () => {
    [a, b, c] = await Promise.all([startPika({ version: "3.4" }), startPika({ version: "3.4" }), startPika({ version: "3.4" })]);
  });

  it("backends/kind.ts tells it apart: pika-sharding 3.4.0 with 1024 slots", async () => {
    // (3.4 answers no "databases" to CONFIG GET: it has tables instead)
    expect(await probeBackend(connect, a.addr, undefined)).toEqual({ kind: "pika-sharding", server: "pika", version: "3.4.0", slotNum: 1024, writeBufferSize: 8388608 });
  });

  it("a slot exists only after addslots; a list with one existing slot adds none (pika-cluster.ts addMissingSlots asks first)", async () => {
    const [k] = keysInSlot(40, 1);
    expect(await err(a.call("SET", k!, "v"))).toBe("ERR Partition not found");
    await a.call("PKCLUSTER", "ADDSLOTS", "41");
    expect(await err(a.call("PKCLUSTER", "ADDSLOTS", "40-42"))).toBe("ERR Corruption: partition : 41 exist");
    expect([...(await slotInfo(await RedisClient.connect(a.addr), [40, 41, 42])).keys()]).toEqual([41]);
    await a.call("PKCLUSTER", "ADDSLOTS", "40,42");
    expect(await a.call("SET", k!, "v")).toBe("OK");
    // pkcluster info slot takes comma lists and ranges; without a slot it lists every slot.
    const all = parseSlotInfo(String(await a.call("PKCLUSTER", "INFO", "SLOT")));
    expect([...all.keys()].sort((x, y) => x - y)).toEqual([40, 41, 42]);
    expect(all.get(40)).toMatchObject({ sid: 40, role: "master", file: 0, slaves: [] });
  });

  it("SLAVEOF, SCAN, KEYS and SLOTSMGRTTAGONE are refused; DBSIZE and SLOTSINFO counts are stale (no key listing but SLOTSSCAN)", async () => {
    expect(await err(a.call("SLAVEOF", "127.0.0.1", String(b.port)))).toBe("ERR This command is not supported in current configuration");
    expect(await err(a.call("SCAN", "0"))).toBe("ERR This command is not supported in current configuration");
    expect(await err(a.call("KEYS", "*"))).toBe("ERR This command is not supported in current configuration");
    expect(await err(a.call("SLOTSMGRTTAGONE", "127.0.0.1", String(b.port), "1000", "x"))).toBe("ERR slotsmgrttagone NOT supported");
    // Slot numbers are codis's, hash tags included.
    expect(await a.call("SLOTSHASHKEY", "foo", "k771", "{tag}x")).toEqual([289, 5, 899]);
  });

  it("a slot replicates per slot (lag, equal binlog positions), chains to a replica of the replica, and detaches", async () => {
    const sid = 60;
    const keys = keysInSlot(sid, 50);
    await a.call("PKCLUSTER", "ADDSLOTS", String(sid));
    for (const k of keys) await a.call("SET", k, `v-${k}`);
    await b.call("PKCLUSTER", "ADDSLOTS", String(sid));
    await c.call("PKCLUSTER", "ADDSLOTS", String(sid));
    expect(await b.call("PKCLUSTER", "SLOTSSLAVEOF", "127.0.0.1", String(a.port), String(sid))).toBe("OK");
    expect(await c.call("PKCLUSTER", "SLOTSSLAVEOF", "127.0.0.1", String(b.port), String(sid))).toBe("OK");
    const state = async (p: PikaServer) => parseSlotInfo(String(await p.call("PKCLUSTER", "INFO", "SLOT", String(sid)))).get(sid)!;
    await until("b and c caught up", async () => {
      const [sa, sb, sc] = [await state(a), await state(b), await state(c)];
      return sa.slaves[0]?.lag === 0 && sb.offset === sa.offset && sc.offset === sa.offset && sc.slaveStatus === "kConnected";
    }, 20_000);
    const sa = await state(a);
    expect(sa.slaves).toEqual([{ addr: `127.0.0.1:${b.port}`, status: "SlaveBinlogSync", lag: 0 }]);
    // The middle server shows both roles in one block: parseSlotInfo keeps "slave of a".
    const sb = await state(b);
    expect(sb).toMatchObject({ role: "slave", master: `127.0.0.1:${a.port}`, slaveStatus: "kConnected" });
    expect(sb.slaves.map((s) => s.addr)).toEqual([`127.0.0.1:${c.port}`]);
    expect(await c.call("GET", keys[7]!)).toBe(`v-${keys[7]}`);
    expect(await err(b.call("SET", keys[0]!, "x"))).toBe("ERR Server in read-only");
    // Detached: b takes writes, at a's position; c still follows b.
    await b.call("PKCLUSTER", "SLOTSSLAVEOF", "no", "one", String(sid));
    expect(await state(b)).toMatchObject({ role: "master", offset: sa.offset });
    expect(await b.call("SET", keys[0]!, "after")).toBe("OK");
    await until("c follows b", async () => (await c.call("GET", keys[0]!)) === "after");
  });

  it("slotsslaveof ... force replaces everything the replica held; delslots drops the data", async () => {
    const sid = 61;
    const [k1, k2] = keysInSlot(sid, 2, "f");
    await a.call("PKCLUSTER", "ADDSLOTS", String(sid));
    await a.call("SET", k1!, "source");
    await b.call("PKCLUSTER", "ADDSLOTS", String(sid));
    await b.call("SET", k1!, "stale");
    await b.call("SET", k2!, "only-on-target");
    await b.call("PKCLUSTER", "SLOTSSLAVEOF", "127.0.0.1", String(a.port), String(sid), "force");
    const state = async (p: PikaServer) => parseSlotInfo(String(await p.call("PKCLUSTER", "INFO", "SLOT", String(sid)))).get(sid)!;
    // The data can be there before the link is: Pika refuses to detach or drop a slot whose link
    // is still coming up ("sync slave partition ... in kTryConnect state").
    await until("full sync", async () => (await b.call("GET", k1!)) === "source" && (await state(b)).slaveStatus === "kConnected", 20_000);
    expect(await b.call("EXISTS", k2!)).toBe(0);
    await b.call("PKCLUSTER", "SLOTSSLAVEOF", "no", "one", String(sid));
    await until("b a master", async () => (await state(b)).role === "master", 10_000);
    await b.call("PKCLUSTER", "DELSLOTS", String(sid));
    await b.call("PKCLUSTER", "ADDSLOTS", String(sid));
    expect(await b.call("EXISTS", k1!)).toBe(0);
    expect(await err(b.call("PKCLUSTER", "DELSLOTS", "900"))).toBe("ERR Corruption: partition : 900 not exist");
  });

  it("a fresh slave of a slot whose master was filled by a full sync never catches up without force (the dashboard then starts it over with a full sync)", async () => {
    const sid = 66;
    const [k] = keysInSlot(sid, 1, "h");
    await a.call("PKCLUSTER", "ADDSLOTS", String(sid));
    for (let i = 0; i < 20; i++) await a.call("SET", k!, `a${i}`);
    // b's copy comes by a full sync, then b takes writes of its own.
    await b.call("PKCLUSTER", "ADDSLOTS", String(sid));
    await b.call("PKCLUSTER", "SLOTSSLAVEOF", "127.0.0.1", String(a.port), String(sid), "force");
    const state = async (p: PikaServer) => parseSlotInfo(String(await p.call("PKCLUSTER", "INFO", "SLOT", String(sid)))).get(sid)!;
    await until("b synced", async () => (await b.call("GET", k!)) === "a19" && (await state(b)).slaveStatus === "kConnected"
      && (await state(a)).slaves[0]?.lag === 0, 20_000);
    await b.call("PKCLUSTER", "SLOTSSLAVEOF", "no", "one", String(sid));
    await until("b a master", async () => (await state(b)).role === "master", 10_000);
    for (let i = 0; i < 20; i++) await b.call("SET", k!, `b${i}`);
    // c, fresh, follows b from binlog position 0 0: "connected", and stays behind for good.
    await c.call("PKCLUSTER", "ADDSLOTS", String(sid));
    await c.call("PKCLUSTER", "SLOTSSLAVEOF", "127.0.0.1", String(b.port), String(sid));
    await until("c connected", async () => (await state(c)).slaveStatus === "kConnected", 20_000);
    await new Promise((r) => setTimeout(r, 3000));
    expect(await c.call("GET", k!)).toBe(null);
    expect((await state(c)).offset).toBe(0);
    expect((await state(b)).slaves[0]!.lag).toBeGreaterThan(0);
    // Detached, then attached with force (pika-replication.ts reattach): a full sync, then c follows b.
    await c.call("PKCLUSTER", "SLOTSSLAVEOF", "no", "one", String(sid));
    await c.call("PKCLUSTER", "SLOTSSLAVEOF", "127.0.0.1", String(b.port), String(sid), "force");
    await until("c synced by force", async () => (await c.call("GET", k!)) === "b19", 20_000);
    await b.call("SET", k!, "after");
    await until("c follows b", async () => (await c.call("GET", k!)) === "after", 20_000);
  });

  it("each slot preallocates disk: ~17 MB empty, and a WAL of 1.1 × write-buffer-size per data type it holds (kind.ts pikaSlotDiskBytes)", async () => {
    const sid = 63;
    await a.call("PKCLUSTER", "ADDSLOTS", String(sid));
    const allocated = (dir: string): number => {
      let n = 0;
      const walk = (d: string): void => {
        for (const e of readdirSync(d, { withFileTypes: true })) {
          const p = path.join(d, e.name);
          if (e.isDirectory()) walk(p);
          else n += statSync(p).blocks * 512;
        }
      };
      walk(dir);
      return n;
    };
    const slotDir = path.join(a.dir, "db", "db0", String(sid));
    const empty = allocated(slotDir);
    expect(empty).toBeGreaterThan(12 << 20);
    expect(empty).toBeLessThan(24 << 20);
    await a.call("SET", keysInSlot(sid, 1, "disk")[0]!, "x");
    const written = allocated(slotDir) - empty;
    // write-buffer-size is 8 MB in the harness: ~8.8 MB preallocated for the strings' WAL.
    expect(written).toBeGreaterThan(7 << 20);
    expect(written).toBeLessThan(12 << 20);
  });

  it("replicating from a master that lacks the slot answers OK and waits in kWaitReply (attach checks the source first)", async () => {
    await b.call("PKCLUSTER", "ADDSLOTS", "62");
    expect(await b.call("PKCLUSTER", "SLOTSSLAVEOF", "127.0.0.1", String(a.port), "62")).toBe("OK");
    await until("kWaitReply", async () => parseSlotInfo(String(await b.call("PKCLUSTER", "INFO", "SLOT", "62"))).get(62)?.slaveStatus === "kWaitReply", 10_000);
    expect(await a.call("PKCLUSTER", "INFO", "SLOT", "62")).toBe("");
  });
});

describe("Pika 3.5.0 and 4.0.1 (classic, slotmigrate on)", () => {
  const pairs: Record<string, [PikaServer, PikaServer]> = {};
  beforeAll(async () => {
    const [a5, b5, a4, b4] = await Promise.all([
      startPika({ version: "3.5" }), startPika({ version: "3.5" }), startPika({ version: "4.0" }), startPika({ version: "4.0" }),
    ]);
    pairs["3.5"] = [a5, b5];
    pairs["4.0"] = [a4, b4];
  });

  it("backends/kind.ts: 3.5.0 computes negative slots (SLOTSHASHKEY foo = -735), 4.0.1 (says 4.0.0) the codis ones", async () => {
    const [a5] = pairs["3.5"]!;
    const [a4] = pairs["4.0"]!;
    expect(crc32("foo")).toBeGreaterThanOrEqual(2 ** 31);
    expect(await a5.call("SLOTSHASHKEY", "foo", "{t2}a", "{t1}a")).toEqual([-735, -115, 567]);
    expect(await a4.call("SLOTSHASHKEY", "foo", "{t2}a", "{t1}a")).toEqual([289, 909, 567]);
    expect(await probeBackend(connect, a5.addr, undefined)).toEqual({
      kind: "pika-classic", server: "pika", version: "3.5.0", slotmigrate: true, slotNumbersOk: false, slotNum: 1024, databases: 1,
    });
    expect(await probeBackend(connect, a4.addr, undefined)).toEqual({
      kind: "pika-classic", server: "pika", version: "4.0.0", slotmigrate: true, slotNumbersOk: true, slotNum: 1024, databases: 1, cacheModel: 1,
    });
  });

  for (const v of ["3.5", "4.0"]) {
    it(`${v}: SCAN lists Pika's _internal:slotkey/slottag sets beside the data (pika-classic.ts skips them); DBSIZE is useless`, async () => {
      const [a] = pairs[v]!;
      await a.call("SET", "scan-a", "1");
      await a.call("SADD", "{st}b", "m");
      const keys: string[] = [];
      let cursor = "0";
      do {
        const r = (await a.call("SCAN", cursor, "COUNT", "100")) as [string, string[]];
        cursor = r[0];
        keys.push(...r[1]);
      } while (cursor !== "0");
      expect(keys).toContain("scan-a");
      expect(keys).toContain("{st}b");
      expect(keys.filter((k) => k.startsWith("_internal:slotkey:4migrate:")).length).toBeGreaterThan(0);
      expect(keys.filter((k) => k.startsWith("_internal:slottag:4migrate:")).length).toBeGreaterThan(0);
      expect(await a.call("TYPE", keys.find((k) => k.startsWith("_internal:"))!)).toBe("set");
      if (v === "3.5") expect(await a.call("DBSIZE")).toBe(0);
      else expect(await err(a.call("DBSIZE"))).toBe("ERR Get dbsize error");
    });

    it(`${v}: SLOTSMGRTTAGONE moves a key with its hash tag (also a tag whose CRC is ≥ 2^31) and keeps TTLs`, async () => {
      const [a, b] = pairs[v]!;
      await a.call("SET", "{t2}a", "1");
      await a.call("HSET", "{t2}b", "f", "v");
      await a.call("ZADD", "{t2}c", "1", "z");
      await a.call("RPUSH", "{t2}d", "x", "y");
      await a.call("SETEX", "ttl-key", "100", "v");
      const mv = (k: string) => a.call("SLOTSMGRTTAGONE", "127.0.0.1", String(b.port), "1000", k);
      expect(await mv("{t2}c")).toBe(4);
      expect(await mv("{t2}a")).toBe(0);
      expect(await mv("ttl-key")).toBe(1);
      expect(await mv("no-such-key")).toBe(0);
      expect(await a.call("EXISTS", "{t2}a", "{t2}b", "{t2}c", "{t2}d", "ttl-key")).toBe(0);
      expect(await b.call("LRANGE", "{t2}d", "0", "-1")).toEqual(["x", "y"]);
      expect(await b.call("HGETALL", "{t2}b")).toEqual(["f", "v"]);
      expect(Number(await b.call("TTL", "ttl-key"))).toBeGreaterThan(90);
      expect(await a.call("SET", "one-key", "1")).toBe("OK");
      expect(await a.call("SLOTSMGRTONE", "127.0.0.1", String(b.port), "1000", "one-key")).toBe(1);
    });

    it(`${v}: SLOTSMGRT-EXEC-WRAPPER never runs the command (so proxies forward Pika with sync)`, async () => {
      const [a] = pairs[v]!;
      await a.call("SET", "w1", "v");
      const r = await a.call("SLOTSMGRT-EXEC-WRAPPER", "w1", "SET", "w1", "v2");
      expect(r).toEqual(v === "3.5" ? [0, 0] : [-1, -1]);
      expect(await a.call("GET", "w1")).toBe("v");
    });
  }

  for (const v of ["3.5", "4.0"]) {
    it(`${v}: Pika's record of a tag's keys goes wrong after RPOPLPUSH, SMOVE, SUNIONSTORE (pika-classic.ts repairRecord, forward method 3)`, async () => {
      const [a] = pairs[v]!;
      await a.call("RPUSH", "{rec}:q", "x", "y");
      await a.call("RPOPLPUSH", "{rec}:q", "{rec}:d");
      await a.call("SADD", "{rec}:s1", "m");
      await a.call("SMOVE", "{rec}:s1", "{rec}:s3", "m");
      await a.call("SADD", "{rec}:s2", "n");
      await a.call("SUNIONSTORE", "{rec}:u", "{rec}:s2", "{rec}:s3");
      const filed = ((await a.call("SMEMBERS", `_internal:slottag:4migrate:${crc32("rec")}`)) as string[]).sort();
      // {rec}:d is a list filed as a string; {rec}:s3 and {rec}:u are not filed; {rec}:s1 is gone but still filed.
      expect(filed).toEqual(["k{rec}:d", "l{rec}:q", "s{rec}:s1", "s{rec}:s2"]);
      expect(await a.call("TYPE", "{rec}:d")).toBe("list");
      expect(await a.call("EXISTS", "{rec}:s1")).toBe(0);
      // SLOTSMGRTTAGONE of the tag through a correctly filed key: 4.0 fails, 3.5 leaves keys behind.
      const [, b] = pairs[v]!;
      const first = await a.call("SLOTSMGRTTAGONE", "127.0.0.1", String(b.port), "1000", "{rec}:s2").then(String, (e: Error) => e.message);
      if (v === "4.0") expect(first).toBe("ERR ParseKey failed");
      expect(await a.call("EXISTS", "{rec}:q", "{rec}:d", "{rec}:s3", "{rec}:u")).toBeGreaterThan(0);
      // repairRecord files every key of the tag as it is; then one move takes them all.
      const conn = await RedisClient.connect(a.addr);
      for (const k of ["{rec}:q", "{rec}:d", "{rec}:s2", "{rec}:s3", "{rec}:u"]) await repairRecord(conn, Buffer.from(k));
      conn.close();
      const want: string[] = [];
      for (const [code, k] of [["l", "{rec}:q"], ["l", "{rec}:d"], ["s", "{rec}:s2"], ["s", "{rec}:s3"], ["s", "{rec}:u"]] as const) {
        if (await a.call("EXISTS", k)) want.push(code + k);
      }
      expect(want).toContain("l{rec}:d");
      expect(((await a.call("SMEMBERS", `_internal:slottag:4migrate:${crc32("rec")}`)) as string[]).sort()).toEqual(want.sort());
      await a.call("SLOTSMGRTTAGONE", "127.0.0.1", String(b.port), "1000", "{rec}:u");
      expect(await a.call("EXISTS", "{rec}:q", "{rec}:d", "{rec}:s2", "{rec}:s3", "{rec}:u")).toBe(0);
      expect(await b.call("LRANGE", "{rec}:d", "0", "-1")).toEqual(["y"]);
      expect(((await b.call("SMEMBERS", "{rec}:u")) as string[]).sort()).toEqual(["m", "n"]);
    });
  }

  it("4.0.1 with its read cache on (cache-model 1, the default): RPOPLPUSH's destination reads back stale, with no migration (movers/index.ts refuses such a server)", async () => {
    const [a4] = pairs["4.0"]!;
    expect(await a4.call("CONFIG", "GET", "cache-model")).toEqual(["cache-model", "1"]);
    await a4.call("RPUSH", "{cache}:d", "d1");
    expect(await a4.call("LRANGE", "{cache}:d", "0", "-1")).toEqual(["d1"]);
    await a4.call("RPUSH", "{cache}:q", "x");
    expect(await a4.call("RPOPLPUSH", "{cache}:q", "{cache}:d")).toBe("x");
    expect(await a4.call("LRANGE", "{cache}:d", "0", "-1")).toEqual(["d1"]); // "x" is missing
    expect(await a4.call("LLEN", "{cache}:d")).toBe(1);
    // The data is right; the cache is stale: with the cache off the list reads right.
    await a4.call("CONFIG", "SET", "cache-model", "0");
    expect(await a4.call("LRANGE", "{cache}:d", "0", "-1")).toEqual(["x", "d1"]);
    await a4.call("CONFIG", "SET", "cache-model", "1");
  });

  it("SLOTSMGRTTAGONE moves a key of db 1 into db 0 of the target (migrations need databases = 1)", async () => {
    const [a, b] = await Promise.all([
      startPika({ version: "4.0", conf: { databases: "2" } }), startPika({ version: "4.0", conf: { databases: "2" } }),
    ]);
    const c = await RedisClient.connect(a.addr);
    await c.call("SELECT", 1);
    await c.call("SET", "db1-key", "x");
    expect(await c.call("SLOTSMGRTTAGONE", "127.0.0.1", b.port, 1000, "db1-key")).toBe(1);
    c.close();
    expect(await b.call("EXISTS", "db1-key")).toBe(1); // db 0
    expect((await probeBackend(connect, a.addr, undefined)).databases).toBe(2);
  });
});
