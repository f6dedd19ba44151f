// Pub/sub through two proxies (two workers each) in front of two real redis-servers
// (src/workers/pubsub.ts): a message published through one proxy reaches subscribers on every
// proxy and worker once, replies and message frames are Redis's bytes (RESP2 arrays, RESP3
// pushes), a RESP2 subscriber is limited as Redis limits it, and no message is lost while the
// channel's slot moves to another group.
import { describe, it, expect, beforeAll, afterAll } from "vitest";
import { startRedis, stopAllRedis, type RedisServer } from "../harness/redis.js";
import { startSlotway, stopAllSlotway, type Slotway, twoGroups } from "../harness/slotway.js";
import { ProxyAdmin, clientsOnEachWorker, sleep, type SlotJson } from "../harness/admin.js";
import { RawClient } from "../harness/resp-client.js";
import { slotOfKey } from "../../src/core/slot.js";

let g1: RedisServer, g2: RedisServer, ref: RedisServer;
let pa: Slotway, pb: Slotway;
let admins: ProxyAdmin[];
const open: RawClient[] = [];

beforeAll(async () => {
  [g1, g2, ref] = await Promise.all([startRedis(), startRedis(), startRedis()]);
  const groups = twoGroups(g1.addr, g2.addr);
  [pa, pb] = await Promise.all([startSlotway({ groups }), startSlotway({ groups })]);
  admins = await Promise.all([pa, pb].map((p) => new ProxyAdmin(p.adminAddr).init()));
});

afterAll(async () => {
  for (const c of open) c.close();
  await stopAllSlotway();
  await stopAllRedis();
});

async function client(port: number): Promise<RawClient> {
  const c = await RawClient.connect(port);
  open.push(c);
  return c;
}

const msg = (ch: string, m: string, push = false) =>
  `${push ? ">" : "*"}3\r\n$7\r\nmessage\r\n$${ch.length}\r\n${ch}\r\n$${m.length}\r\n${m}\r\n`;

/** Channels in group 1 and in group 2. */
const [c1, c2] = (() => {
  let a = "", b = "";
  for (let i = 0; !a || !b; i++) {
    const n = `news${i}`;
    if (!a && slotOfKey(n) < 512) a = n;
    if (!b && slotOfKey(n) >= 512) b = n;
  }
  return [a, b];
})();

/** Waits until a publish through `via` reaches n subscriptions (the hubs have subscribed). */
async function ready(via: RawClient, ch: string, n: number, sub = "NUMSUB"): Promise<void> {
  const deadline = Date.now() + 5000;
  for (;;) {
    const r = await via.call("PUBSUB", sub, ch);
    const m = /:(\d+)\r\n$/.exec(r);
    if (m && Number(m[1]) >= n) return;
    if (Date.now() > deadline) throw new Error(`${ch} has ${r} subscriptions, want ${n}`);
    await sleep(10);
  }
}

describe("pub/sub", () => {
  it("subscribe replies are Redis's, and a message published through one proxy reaches every proxy and worker once", async () => {
    const subsB = (await clientsOnEachWorker(pb.port, 1)).flat();
    const subsA = (await clientsOnEachWorker(pa.port, 1)).flat();
    const d = await client(ref.port);
    const want = await d.call("SUBSCRIBE", c1, c2);
    const wantFrames = await d.read(1); // the second confirmation
    for (const s of [...subsA, ...subsB]) {
      open.push(s);
      expect(await s.call("SUBSCRIBE", c1, c2)).toBe(want);
      expect((await s.read(1)).map(String)).toEqual(wantFrames.map(String));
    }
    const pub = await client(pa.port);
    // Every worker of both proxies subscribes once per channel on the channel's backend.
    await ready(pub, c1, 4);
    await ready(pub, c2, 4);
    expect(await pub.call("PUBLISH", c1, "one")).toBe(":4\r\n");
    expect(await pub.call("PUBLISH", c2, "two")).toBe(":4\r\n");
    for (const s of [...subsA, ...subsB]) {
      // c1 and c2 live on different groups: no order between them (see the pattern test).
      expect((await s.read(2)).map(String).sort()).toEqual([msg(c1, "one"), msg(c2, "two")].sort());
    }
    // Each channel lives on its slot's owner only.
    const d1 = await client(g1.port);
    expect(await d1.call("PUBSUB", "NUMSUB", c1, c2)).toBe(`*4\r\n$${c1.length}\r\n${c1}\r\n:4\r\n$${c2.length}\r\n${c2}\r\n:0\r\n`);
    for (const s of [...subsA, ...subsB]) {
      await s.call("UNSUBSCRIBE");
      await s.read(1);
    }
  });

  it("a RESP2 subscriber may only send (P|S)(UN)SUBSCRIBE, PING, QUIT and RESET, with Redis's texts", async () => {
    const s = await client(pb.port);
    const d = await client(ref.port);
    for (const cmd of [["SUBSCRIBE", "x"], ["GET", "k"], ["PING"], ["PING", "hi"], ["PSUBSCRIBE", "p*"], ["UNSUBSCRIBE"], ["PUNSUBSCRIBE"], ["UNSUBSCRIBE"], ["GET", "k"]]) {
      expect(await s.call(...cmd), cmd.join(" ")).toBe(await d.call(...cmd));
    }
    expect(await s.call("SSUBSCRIBE", "{s}1", "{s}2")).toBe(await d.call("SSUBSCRIBE", "{s}1", "{s}2"));
    expect((await s.read(1)).map(String)).toEqual((await d.read(1)).map(String));
    expect(await s.call("SUNSUBSCRIBE", "{s}1")).toBe(await d.call("SUNSUBSCRIBE", "{s}1"));
    expect(await s.call("SSUBSCRIBE", "{s}1", "{t}2")).toBe("-CROSSSLOT Keys in request don't hash to the same slot\r\n");
    expect(await s.call("RESET")).toBe("+RESET\r\n");
    expect(await s.call("GET", "k")).toBe("$-1\r\n");
  });

  it("patterns match channels of every group, once; shard channels go by slot", async () => {
    const s = await client(pb.port);
    await s.call("PSUBSCRIBE", "news*");
    const pub = await client(pa.port);
    const deadline = Date.now() + 5000;
    // One worker of proxy B has the pattern, on each master.
    while (!/^:1\r\n$/.test(await pub.call("PUBSUB", "NUMPAT"))) {
      if (Date.now() > deadline) throw new Error("patterns not subscribed");
      await sleep(10);
    }
    await pub.call("PUBLISH", c1, "a");
    await pub.call("PUBLISH", c2, "b");
    // The two channels live on different groups, so their messages come over two backend
    // connections: each arrives once, in no order across groups (as across Redis Cluster shards).
    const frames = (await s.read(2)).map(String).sort();
    expect(frames).toEqual([
      `*4\r\n$8\r\npmessage\r\n$5\r\nnews*\r\n$${c1.length}\r\n${c1}\r\n$1\r\na\r\n`,
      `*4\r\n$8\r\npmessage\r\n$5\r\nnews*\r\n$${c2.length}\r\n${c2}\r\n$1\r\nb\r\n`,
    ].sort());
    const t = await client(pb.port);
    await t.call("SSUBSCRIBE", "{sh}x");
    await ready(pub, "{sh}x", 1, "SHARDNUMSUB");
    expect(await pub.call("SPUBLISH", "{sh}x", "hi")).toBe(":1\r\n");
    expect((await t.read(1)).map(String)).toEqual(["*3\r\n$8\r\nsmessage\r\n$5\r\n{sh}x\r\n$2\r\nhi\r\n"]);
  });

  it("RESP3 subscribers get pushes and may run any command", async () => {
    const s = await client(pb.port);
    await s.call("HELLO", "3");
    const d = await client(ref.port);
    await d.call("HELLO", "3");
    expect(await s.call("SUBSCRIBE", c1)).toBe(await d.call("SUBSCRIBE", c1));
    expect(await s.call("SET", "r3", "v")).toBe("+OK\r\n");
    const pub = await client(pa.port);
    await ready(pub, c1, 1);
    await pub.call("PUBLISH", c1, "pushed");
    expect((await s.read(1)).map(String)).toEqual([msg(c1, "pushed", true)]);
    expect(await s.call("GET", "r3")).toBe("$1\r\nv\r\n");
  });
});

describe("idle subscribers", () => {
  it("are not closed by session_recv_timeout (as Redis's timeout skips them); idle clients are", async () => {
    const p = await startSlotway({ groups: [{ id: 1, servers: [g1.addr], slots: "0-1023" }], config: { session_recv_timeout: "1s" } });
    const sub = await client(p.port);
    const idle = await client(p.port);
    await sub.call("SUBSCRIBE", "quiet");
    await idle.call("PING");
    await sleep(2000);
    expect(idle.closed).toBe(true);
    expect(sub.closed).toBe(false);
    const pub = await client(p.port);
    await ready(pub, "quiet", 1);
    await pub.call("PUBLISH", "quiet", "still here");
    expect((await sub.read(1)).map(String)).toEqual([msg("quiet", "still here")]);
    await p.stop();
  });
});

describe("pub/sub while the channel's slot moves", () => {
  it("every message published during the move reaches the subscriber once, in order", async () => {
    let c1 = "";
    for (let i = 0; !c1; i++) if (slotOfKey(`moving${i}`) < 512) c1 = `moving${i}`;
    const slot = slotOfKey(c1);
    const s = await client(pb.port);
    await s.call("SUBSCRIBE", c1);
    const pub = await client(pa.port);
    await ready(pub, c1, 1);
    const at = (srv: RedisServer, gid: number, extra: Partial<SlotJson> = {}): SlotJson => ({
      id: slot, backend_addr: srv.addr, backend_addr_group_id: gid, ...extra,
    });
    const m = { migrate_from: g1.addr, migrate_from_group_id: 1, forward_method: 2 };
    let n = 0;
    let stop = false;
    const publishing = (async () => {
      while (!stop) {
        const r = await pub.call("PUBLISH", c1, `m${n}`);
        expect(r, `m${n}`).toBe(":1\r\n");
        n++;
        await sleep(1);
      }
    })();
    const numsub = async (srv: RedisServer): Promise<string> => (await client(srv.port)).call("PUBSUB", "NUMSUB", c1);
    const subscribedOn = async (srv: RedisServer, n: number): Promise<void> => {
      const want = `*2\r\n$${c1.length}\r\n${c1}\r\n:${n}\r\n`;
      for (let i = 0; (await numsub(srv)) !== want; i++) {
        if (i > 200) throw new Error(`${srv.addr}: ${await numsub(srv)}, want ${n}`);
        await sleep(10);
      }
    };
    const steps = [at(g2, 2, { locked: true, ...m }), at(g2, 2, m), at(g2, 2), at(g1, 1, { locked: true }), at(g1, 1)];
    for (const [i, step] of steps.entries()) {
      await sleep(30);
      // A dashboard applies each step to every proxy before the next one.
      for (const a of admins) await a.fillOk([step]);
      if (i === 2) {
        // The subscription followed the channel to group 2 and left group 1.
        await subscribedOn(g2, 1);
        await subscribedOn(g1, 0);
      }
    }
    await subscribedOn(g1, 1);
    await subscribedOn(g2, 0);
    await sleep(30);
    stop = true;
    await publishing;
    const got = (await s.read(n, 10_000)).map(String);
    expect(got).toEqual(Array.from({ length: n }, (_, i) => msg(c1, `m${i}`)));
    expect(n).toBeGreaterThan(20);
  });
});
