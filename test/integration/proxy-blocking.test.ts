// Blocking commands on exclusive backend connections (src/workers/blocking.ts), against real
// redis-servers: every blocking command blocks and wakes as on Redis, shared connections are
// not stalled, the pool bound gives a clear error, and a slot change neither waits for a block
// nor loses an element (the blocked command is unblocked, then re-issued on the new owner).
import { describe, it, expect, beforeAll, afterAll } from "vitest";
import { startRedis, stopAllRedis, type RedisServer } from "../harness/redis.js";
import { startSlotway, stopAllSlotway, type Slotway, twoGroups } from "../harness/slotway.js";
import { ProxyAdmin, sleep, type SlotJson } from "../harness/admin.js";
import { RawClient } from "../harness/resp-client.js";
import { encodeCommand } from "../../src/core/resp-encoder.js";
import { slotOfKey } from "../../src/core/slot.js";

let g1: RedisServer, g2: RedisServer, ref: RedisServer;
let proxy: Slotway, small: Slotway;
let admin: ProxyAdmin;
const open: RawClient[] = [];

beforeAll(async () => {
  [g1, g2, ref] = await Promise.all([startRedis(), startRedis(), startRedis()]);
  const groups = twoGroups(g1.addr, g2.addr);
  [proxy, small] = await Promise.all([
    startSlotway({ groups, config: { slot_drain_timeout: "5s" } }),
    startSlotway({ groups, workers: 1, config: { backend_max_exclusive_conns: 2 } }),
  ]);
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

/** Sends a command without waiting for its reply. */
function send(c: RawClient, ...args: (string | number)[]): void {
  c.write(encodeCommand(args));
}

async function reply(c: RawClient, timeoutMs = 5000): Promise<string> {
  const [f] = await c.read(1, timeoutMs);
  return f!.toString("latin1");
}

/** Waits until the backend reports n blocked clients. */
async function blockedOn(s: RedisServer, n: number): Promise<void> {
  const deadline = Date.now() + 5000;
  for (;;) {
    const info = await s.command("INFO", "clients");
    const m = /blocked_clients:(\d+)/.exec(info);
    if (m && Number(m[1]) === n) return;
    if (Date.now() > deadline) throw new Error(`expected ${n} blocked clients on ${s.addr}: ${info}`);
    await sleep(10);
  }
}

describe("blocking commands", () => {
  // Each case: how to block on keys of tag {b}, how to wake it, run through the proxy and on a
  // plain Redis: the replies must be the same bytes.
  const cases: { block: (string | number)[]; wake: (string | number)[][] }[] = [
    { block: ["BLPOP", "{b}l1", "{b}l2", 0], wake: [["RPUSH", "{b}l2", "a", "b"]] },
    { block: ["BRPOP", "{b}l1", 0], wake: [["RPUSH", "{b}l1", "a", "b"]] },
    { block: ["BRPOPLPUSH", "{b}l3", "{b}l4", 0], wake: [["RPUSH", "{b}l3", "x"]] },
    { block: ["BLMOVE", "{b}l5", "{b}l6", "LEFT", "RIGHT", 0], wake: [["RPUSH", "{b}l5", "y"]] },
    { block: ["BLMPOP", 0, 2, "{b}l7", "{b}l8", "LEFT", "COUNT", 2], wake: [["RPUSH", "{b}l8", "p", "q", "r"]] },
    { block: ["BZPOPMIN", "{b}z1", 0], wake: [["ZADD", "{b}z1", 1, "m", 2, "n"]] },
    { block: ["BZPOPMAX", "{b}z2", 0], wake: [["ZADD", "{b}z2", 1, "m", 2, "n"]] },
    { block: ["BZMPOP", 0, 1, "{b}z3", "MIN"], wake: [["ZADD", "{b}z3", 1, "m"]] },
    { block: ["XREAD", "BLOCK", 0, "STREAMS", "{b}s1", "$"], wake: [["XADD", "{b}s1", "5-1", "f", "v"]] },
    {
      block: ["XREADGROUP", "GROUP", "g", "c", "BLOCK", 0, "STREAMS", "{b}s2", ">"],
      wake: [["XADD", "{b}s2", "7-1", "f", "v"]],
    },
  ];

  it("block, then wake with the same reply as a plain Redis, for every blocking command", async () => {
    const owner = slotOfKey("b") < 512 ? g1 : g2;
    const viaProxy = await client();
    const other = await client();
    const d = await RawClient.connect(ref.port);
    const w = await RawClient.connect(ref.port);
    for (const setup of [["XGROUP", "CREATE", "{b}s2", "g", "$", "MKSTREAM"]]) {
      await other.call(...setup);
      await d.call(...setup);
    }
    for (const { block, wake } of cases) {
      send(viaProxy, ...block);
      send(d, ...block);
      await blockedOn(owner, 1);
      await blockedOn(ref, 1);
      for (const cmd of wake) {
        expect(await other.call(...cmd)).toBe(await w.call(...cmd));
      }
      const [got, want] = await Promise.all([reply(viaProxy), reply(d)]);
      expect(got, block.join(" ")).toBe(want);
    }
    d.close();
    w.close();
  });

  it("time out with the command's nil, in RESP2 and RESP3", async () => {
    const c = await client();
    const t0 = performance.now();
    expect(await c.call("BLPOP", "{b}none", "0.2")).toBe("*-1\r\n");
    expect(performance.now() - t0).toBeGreaterThanOrEqual(150);
    expect(await c.call("BLMOVE", "{b}none", "{b}x", "LEFT", "LEFT", "0.05")).toBe("*-1\r\n");
    expect(await c.call("XREAD", "BLOCK", 50, "STREAMS", "{b}nostream", "$")).toBe("*-1\r\n");
    await c.call("HELLO", "3");
    expect(await c.call("BRPOP", "{b}none", "0.05")).toBe("_\r\n");
  });

  it("never stall the shared connections: other clients of the slot are served while one is blocked", async () => {
    const blocked = await client();
    send(blocked, "BLPOP", "{b}stall", 0);
    await sleep(50);
    const c = await client();
    for (let i = 0; i < 50; i++) expect(await c.call("INCR", "{b}counter")).toMatch(/^:\d+\r\n$/);
    await c.call("LPUSH", "{b}stall", "go");
    expect(await reply(blocked)).toBe("*2\r\n$8\r\n{b}stall\r\n$2\r\ngo\r\n");
  });

  it("keep one connection's order: a pipelined push then pop returns at once", async () => {
    const c = await client();
    c.write(Buffer.concat([encodeCommand(["RPUSH", "{b}order", "1"]), encodeCommand(["BLPOP", "{b}order", 0]), encodeCommand(["LLEN", "{b}order"])]));
    const frames = (await c.read(3, 3000)).map(String);
    expect(frames).toEqual([":1\r\n", "*2\r\n$8\r\n{b}order\r\n$1\r\n1\r\n", ":0\r\n"]);
  });

  it("refuse keys of two slots, and say so when every exclusive connection is taken", async () => {
    const c = await client(small.port);
    expect(await c.call("BLPOP", "{a}x", "{b}x", 0)).toBe("-CROSSSLOT Keys in request don't hash to the same slot\r\n");
    const a = await client(small.port);
    const b = await client(small.port);
    send(a, "BLPOP", "{b}full1", 0);
    send(b, "BLPOP", "{b}full2", 0);
    const owner = slotOfKey("b") < 512 ? g1 : g2;
    await sleep(100);
    const third = await c.call("BLPOP", "{b}full3", 0);
    expect(third).toBe(`-ERR handle request, too many blocked clients and transactions on backend ${owner.addr} (backend_max_exclusive_conns = 2)\r\n`);
    // A client that leaves gives its connection back (unblocked on the backend).
    a.close();
    await sleep(100);
    send(c, "BLPOP", "{b}full3", 0);
    await sleep(100);
    await (await client(small.port)).call("RPUSH", "{b}full3", "z");
    expect(await reply(c)).toBe("*2\r\n$8\r\n{b}full3\r\n$1\r\nz\r\n");
    await (await client(small.port)).call("RPUSH", "{b}full2", "w");
    expect(await reply(b)).toBe("*2\r\n$8\r\n{b}full2\r\n$1\r\nw\r\n");
  });
});

describe("blocking across a slot migration", () => {
  /** A tag whose slot is in group 1 at the start. */
  const tag = (() => {
    for (let i = 0; ; i++) if (slotOfKey(`mv${i}`) < 512) return `mv${i}`;
  })();
  const slot = slotOfKey(tag);
  const toG2 = (extra: Partial<SlotJson>): SlotJson => ({ id: slot, backend_addr: g2.addr, backend_addr_group_id: 2, ...extra });
  const toG1 = (extra: Partial<SlotJson>): SlotJson => ({ id: slot, backend_addr: g1.addr, backend_addr_group_id: 1, ...extra });

  /**
   * Moves the slot with the dashboard's steps: prepared (locked), migrating, finished. Between
   * migrating and finished, keys left on the source are moved with MIGRATE (the bulk mover's
   * job), after `before` settles.
   */
  async function move(from: RedisServer, fromGid: number, to: (e: Partial<SlotJson>) => SlotJson, keys: string[],
    before: Promise<unknown> = Promise.resolve()): Promise<number[]> {
    const m = { migrate_from: from.addr, migrate_from_group_id: fromGid, forward_method: 2 };
    const times: number[] = [];
    const target = to({}).backend_addr!;
    for (const step of [to({ locked: true, ...m }), to(m), to({})]) {
      if (!step.migrate_from) {
        await before;
        const [host, port] = target.split(":");
        const d = await RawClient.connect(from.port);
        const r = await d.call("MIGRATE", host!, port!, "", 0, 5000, "KEYS", ...keys);
        d.close();
        expect(r).toMatch(/^\+(OK|NOKEY)\r\n$/);
      }
      const t0 = performance.now();
      await admin.fillOk([step]);
      times.push(performance.now() - t0);
    }
    return times;
  }

  it("a slot change does not wait for a blocked command, which is re-issued on the new owner and woken there", async () => {
    const c = await client();
    send(c, "BLPOP", `{${tag}}q`, 0);
    await blockedOn(g1, 1);
    const times = await move(g1, 1, toG2, [`{${tag}}q`]);
    for (const t of times) expect(t).toBeLessThan(1500); // far below slot_drain_timeout (5 s)
    await blockedOn(g1, 0);
    await blockedOn(g2, 1);
    await (await client()).call("RPUSH", `{${tag}}q`, "after");
    expect(await reply(c)).toBe(`*2\r\n$${tag.length + 3}\r\n{${tag}}q\r\n$5\r\nafter\r\n`);
    expect(await g1.command("EXISTS", `{${tag}}q`)).toBe(":0");
    expect(await g2.command("EXISTS", `{${tag}}q`)).toBe(":0");
    // And back, so the next test starts from group 1.
    await move(g2, 2, toG1, [`{${tag}}q`]);
  });

  it("no element is lost or delivered twice when it arrives as the slot changes", async () => {
    const key = `{${tag}}race`;
    let delivered = 0;
    let left = 0;
    const rounds = 12;
    let owner = g1;
    for (let i = 0; i < rounds; i++) {
      const c = await client();
      send(c, "BLPOP", key, 0);
      await blockedOn(owner, 1);
      const next = owner === g1 ? g2 : g1;
      // The element lands on the owner right around the lock (a direct push, as a write in
      // flight before the lock would).
      const push = sleep((i % 6) * 2).then(() => owner.command("RPUSH", key, `e${i}`));
      await move(owner, owner === g1 ? 1 : 2, owner === g1 ? toG2 : toG1, [key], push);
      owner = next;
      // Either the blocked client got it, or it is still in the list (on the new owner).
      const got = await c.read(1, 300).catch(() => null);
      if (got !== null) {
        expect(got[0]!.toString("latin1")).toBe(`*2\r\n$${key.length}\r\n${key}\r\n$${String(i).length + 1}\r\ne${i}\r\n`);
        delivered++;
      } else {
        const rest = await (await client()).call("LRANGE", key, 0, -1);
        expect(rest).toBe(`*1\r\n$${String(i).length + 1}\r\ne${i}\r\n`);
        await (await client()).call("DEL", key);
        left++;
        // The client is still blocked: wake it with a marker, which it must receive.
        await (await client()).call("RPUSH", key, "marker");
        expect(await reply(c)).toBe(`*2\r\n$${key.length}\r\n${key}\r\n$6\r\nmarker\r\n`);
      }
      expect(await g1.command("EXISTS", key)).toBe(":0");
      expect(await g2.command("EXISTS", key)).toBe(":0");
      c.close();
    }
    expect(delivered + left).toBe(rounds);
    if (owner !== g1) await move(g2, 2, toG1, [key]);
  });
});
