// MULTI / EXEC / DISCARD / WATCH / UNWATCH through the proxy (src/workers/transaction.ts),
// against real redis-servers and a plain Redis for the expected bytes; and what a slot change
// does to an open transaction (waits for EXEC within the drain bound, or discards it cleanly).
import { describe, it, expect, beforeAll, afterAll } from "vitest";
import { startRedis, stopAllRedis, type RedisServer } from "../harness/redis.js";
import { startSlotway, stopAllSlotway, type Slotway, twoGroups } from "../harness/slotway.js";
import { ProxyAdmin, sleep, type SlotJson } from "../harness/admin.js";
import { RawClient } from "../harness/resp-client.js";
import { encodeCommand } from "../../src/core/resp-encoder.js";
import { slotOfKey } from "../../src/core/slot.js";

let g1: RedisServer, g2: RedisServer, ref: RedisServer;
let proxy: Slotway;
let admin: ProxyAdmin;
const open: RawClient[] = [];
const CROSSSLOT = "-CROSSSLOT Keys in request don't hash to the same slot\r\n";
const EXECABORT = "-EXECABORT Transaction discarded because of previous errors.\r\n";

beforeAll(async () => {
  [g1, g2, ref] = await Promise.all([startRedis(), startRedis(), startRedis()]);
  proxy = await startSlotway({
    groups: twoGroups(g1.addr, g2.addr),
    config: { slot_drain_timeout: "3s" },
  });
  admin = await new ProxyAdmin(proxy.adminAddr).init();
});

afterAll(async () => {
  for (const c of open) c.close();
  await stopAllSlotway();
  await stopAllRedis();
});

async function client(port = proxy.port): Promise<RawClient> {
  const c = await RawClient.connect(port);
  open.push(c);
  return c;
}

/** Runs the same commands through the proxy and on a plain Redis; replies must be equal. */
async function same(cmds: (string | number)[][]): Promise<string[]> {
  const c = await client();
  const d = await client(ref.port);
  const out: string[] = [];
  for (const cmd of cmds) {
    const got = await c.call(...cmd).catch((e: Error) => { throw new Error(`${cmd.join(" ")}: ${e.message}`); });
    const want = await d.call(...cmd);
    expect(got, cmd.join(" ")).toBe(want);
    out.push(got);
  }
  return out;
}

describe("transactions", () => {
  it("run a transaction of one slot as Redis does", async () => {
    const r = await same([
      ["MULTI"], ["SET", "{t}a", "1"], ["INCR", "{t}a"], ["MGET", "{t}a", "{t}b"], ["PING"], ["EXEC"], ["GET", "{t}a"],
    ]);
    expect(r[5]).toBe("*4\r\n+OK\r\n:2\r\n*2\r\n$1\r\n2\r\n$-1\r\n+PONG\r\n");
  });

  it("answer Redis's texts for misplaced EXEC, DISCARD, MULTI and WATCH, and an empty transaction", async () => {
    await same([
      ["EXEC"], ["DISCARD"], ["UNWATCH"], ["MULTI"], ["MULTI"], ["WATCH", "{t}x"], ["EXEC"],
      ["MULTI"], ["SET", "{t}d", "1"], ["DISCARD"], ["GET", "{t}d"],
    ]);
  });

  it("doom the transaction on an error found at queue time (arity, unknown command), as Redis does", async () => {
    await same([["MULTI"], ["SET", "{t}e"], ["SET", "{t}e", "1"], ["EXEC"], ["GET", "{t}e"]]);
    await same([["MULTI"], ["NOSUCHCOMMAND", "{t}e"], ["SET", "{t}e", "1"], ["EXEC"], ["GET", "{t}e"]]);
  });

  it("bind to one slot: a key of another slot is CROSSSLOT at queue time and EXEC aborts; nothing runs", async () => {
    const c = await client();
    expect(await c.call("MULTI")).toBe("+OK\r\n");
    expect(await c.call("SET", "{t}f", "1")).toBe("+QUEUED\r\n");
    expect(await c.call("SET", "{u}f", "1")).toBe(CROSSSLOT);
    expect(await c.call("MSET", "{t}g", "1", "{u}g", "2")).toBe(CROSSSLOT);
    expect(await c.call("EXEC")).toBe(EXECABORT);
    expect(await c.call("MGET", "{t}f", "{u}f", "{t}g", "{u}g")).toBe("*4\r\n$-1\r\n$-1\r\n$-1\r\n$-1\r\n");
    // Commands the proxy answers itself cannot be queued.
    expect(await c.call("MULTI")).toBe("+OK\r\n");
    expect(await c.call("SCAN", "0")).toBe("-ERR handle request, command 'SCAN' is not allowed inside a transaction\r\n");
    expect(await c.call("EXEC")).toBe(EXECABORT);
  });

  it("WATCH: a write by another client makes EXEC answer null; so does the client's own write, as on Redis", async () => {
    const c = await client();
    const other = await client();
    await c.call("SET", "{t}w", "0");
    expect(await c.call("WATCH", "{t}w", "{t}w2")).toBe("+OK\r\n");
    expect(await other.call("SET", "{t}w", "1")).toBe("+OK\r\n");
    await c.call("MULTI");
    await c.call("SET", "{t}w", "2");
    expect(await c.call("EXEC")).toBe("*-1\r\n");
    expect(await c.call("GET", "{t}w")).toBe("$1\r\n1\r\n");
    await same([["SET", "{t}v", "0"], ["WATCH", "{t}v"], ["SET", "{t}v", "own"], ["MULTI"], ["GET", "{t}v"], ["EXEC"]]);
    await same([["WATCH", "{t}v"], ["MULTI"], ["GET", "{t}v"], ["EXEC"], ["WATCH", "{t}v"], ["UNWATCH"], ["MULTI"], ["EXEC"]]);
    expect(await c.call("WATCH", "{t}w", "{u}w")).toBe(CROSSSLOT);
    // The watch's connection keeps its database and protocol.
    await c.call("WATCH", "{t}w");
    expect(await c.call("SELECT", "1")).toBe("-ERR handle request, command 'SELECT' is not allowed inside a transaction\r\n");
    expect(await c.call("HELLO", "3")).toBe("-ERR handle request, command 'HELLO' is not allowed inside a transaction\r\n");
    expect(await c.call("UNWATCH")).toBe("+OK\r\n");
    expect(await c.call("SELECT", "1")).toBe("+OK\r\n");
  });

  it("keep the order of pipelined commands around MULTI ... EXEC", async () => {
    const c = await client();
    const cmds = [["SET", "{t}p", "1"], ["MULTI"], ["INCR", "{t}p"], ["EXEC"], ["INCR", "{t}p"], ["GET", "{t}p"]];
    c.write(Buffer.concat(cmds.map((x) => encodeCommand(x))));
    const frames = (await c.read(6)).map(String);
    expect(frames).toEqual(["+OK\r\n", "+OK\r\n", "+QUEUED\r\n", "*1\r\n:2\r\n", ":3\r\n", "$1\r\n3\r\n"]);
  });

  it("speak RESP3 inside a transaction", async () => {
    const c = await client();
    await c.call("HELLO", "3");
    await c.call("MULTI");
    await c.call("HSET", "{t}h", "f", "v");
    await c.call("HGETALL", "{t}h");
    expect(await c.call("EXEC")).toBe("*2\r\n:1\r\n%1\r\n$1\r\nf\r\n$1\r\nv\r\n");
  });
});

describe("transactions and slot changes", () => {
  const tag = (() => {
    for (let i = 0; ; i++) if (slotOfKey(`tx${i}`) < 512) return `tx${i}`;
  })();
  const slot = slotOfKey(tag);
  const at = (s: RedisServer, gid: number, extra: Partial<SlotJson> = {}): SlotJson => ({
    id: slot, backend_addr: s.addr, backend_addr_group_id: gid, ...extra,
  });

  it("a slot change waits for an open transaction's EXEC", async () => {
    const c = await client();
    await c.call("MULTI");
    expect(await c.call("SET", `{${tag}}a`, "1")).toBe("+QUEUED\r\n");
    const t0 = performance.now();
    const fill = admin.fill([at(g1, 1, { locked: true })]);
    await sleep(200);
    expect(await c.call("EXEC")).toBe("*1\r\n+OK\r\n");
    expect((await fill).status).toBe(200);
    expect(performance.now() - t0).toBeGreaterThanOrEqual(190);
    expect(await g1.command("GET", `{${tag}}a`)).toBe("1");
    await admin.fillOk([at(g1, 1)]);
  });

  it("a transaction that does not send EXEC in time is discarded on the backend, and EXEC says why", async () => {
    const c = await client();
    await c.call("MULTI");
    await c.call("SET", `{${tag}}b`, "1");
    const t0 = performance.now();
    // Move the slot to group 2; the drain would wait 3 s, the transaction gets a third of it.
    await admin.fillOk([at(g2, 2)]);
    const took = performance.now() - t0;
    expect(took).toBeGreaterThanOrEqual(900);
    expect(took).toBeLessThan(2500);
    expect(await c.call("SET", `{${tag}}c`, "1")).toBe("+QUEUED\r\n");
    expect(await c.call("EXEC")).toBe(`-EXECABORT Transaction discarded because slot ${slot} changed owner while it was open\r\n`);
    expect(await g1.command("EXISTS", `{${tag}}b`)).toBe(":0");
    expect(await g2.command("EXISTS", `{${tag}}b`)).toBe(":0");
    // The connection works normally afterwards, on the new owner.
    expect(await c.call("SET", `{${tag}}d`, "1")).toBe("+OK\r\n");
    expect(await g2.command("GET", `{${tag}}d`)).toBe("1");
    await admin.fillOk([at(g1, 1)]);
  });

  it("a WATCH alone does not hold a slot change: the watch is dropped and EXEC answers null", async () => {
    const c = await client();
    expect(await c.call("WATCH", `{${tag}}w`)).toBe("+OK\r\n");
    const t0 = performance.now();
    await admin.fillOk([at(g1, 1, { locked: true })]);
    await admin.fillOk([at(g1, 1)]);
    expect(performance.now() - t0).toBeLessThan(800);
    await c.call("MULTI");
    await c.call("SET", `{${tag}}w`, "1");
    expect(await c.call("EXEC")).toBe("*-1\r\n");
    expect(await g1.command("EXISTS", `{${tag}}w`)).toBe(":0");
  });

  it("during a migration, the keys of each queued command are moved to the target first", async () => {
    await (await client()).call("SET", `{${tag}}m`, "5");
    const m = { migrate_from: g1.addr, migrate_from_group_id: 1, forward_method: 2 };
    await admin.fillOk([at(g2, 2, { locked: true, ...m })]);
    await admin.fillOk([at(g2, 2, m)]);
    const c = await client();
    await c.call("MULTI");
    await c.call("INCR", `{${tag}}m`);
    await c.call("GET", `{${tag}}m`);
    expect(await c.call("EXEC")).toBe("*2\r\n:6\r\n$1\r\n6\r\n");
    expect(await g1.command("EXISTS", `{${tag}}m`)).toBe(":0");
    expect(await g2.command("GET", `{${tag}}m`)).toBe("6");
    await admin.fillOk([at(g2, 2)]);
    await admin.fillOk([at(g1, 1, { locked: true, migrate_from: g2.addr, migrate_from_group_id: 2, forward_method: 2 })]);
    await admin.fillOk([at(g1, 1, { migrate_from: g2.addr, migrate_from_group_id: 2, forward_method: 2 })]);
    expect(await c.call("GET", `{${tag}}m`)).toBe("$1\r\n6\r\n");
    await admin.fillOk([at(g1, 1)]);
  });
});
