// slotway under load and under failure, against real redis-server backends.
import { describe, it, expect, beforeAll, afterAll } from "vitest";
import { Redis } from "ioredis";
import { createHash } from "node:crypto";
import { startRedis, stopAllRedis, type RedisServer } from "../harness/redis.js";
import { startSlotway, stopAllSlotway, type Slotway, twoGroups } from "../harness/slotway.js";
import { RawClient } from "../harness/resp-client.js";
import { encodeCommand } from "../../src/core/resp-encoder.js";
import { slotOfKey } from "../../src/core/slot.js";

let g1: RedisServer, g2: RedisServer;
let proxy: Slotway;

beforeAll(async () => {
  [g1, g2] = await Promise.all([startRedis(), startRedis()]);
  proxy = await startSlotway({
    groups: twoGroups(g1.addr, g2.addr),
    config: { backend_recv_timeout: "5s" },
  });
});

afterAll(async () => {
  await stopAllSlotway();
  await stopAllRedis();
});

describe("load", () => {
  it("answers a pipeline of 100,000 commands sent in one write, in order", async () => {
    const n = 100_000;
    const parts: Buffer[] = [];
    for (let i = 0; i < n / 2; i++) {
      const key = `pl:${i % 997}`;
      parts.push(encodeCommand(["SET", key, String(i)]), encodeCommand(["GET", key]));
    }
    const c = await RawClient.connect(proxy.port);
    c.write(Buffer.concat(parts));
    const replies = await c.read(n, 60_000);
    for (let i = 0; i < n / 2; i++) {
      expect(replies[2 * i]!.toString()).toBe("+OK\r\n");
      const v = String(i);
      // Each GET sees the SET just before it: nothing was reordered across slots or backends.
      if (replies[2 * i + 1]!.toString() !== `$${v.length}\r\n${v}\r\n`) {
        throw new Error(`reply ${2 * i + 1} is ${replies[2 * i + 1]} for i=${i}`);
      }
    }
    c.close();
  }, 90_000);

  it("moves 10 MiB values intact, single and split across groups", async () => {
    const r = new Redis({ port: proxy.port });
    const big1 = Buffer.alloc(10 * 1024 * 1024);
    const big2 = Buffer.alloc(10 * 1024 * 1024);
    for (let i = 0; i < big1.length; i += 4096) {
      big1.writeUInt32LE(i ^ 0x5a5a5a5a, i);
      big2.writeUInt32LE(i ^ 0x12345678, i);
    }
    const sha = (b: Buffer) => createHash("sha256").update(b).digest("hex");
    // Two keys on different groups.
    let k2 = "big:b";
    for (let i = 0; slotOfKey(k2) < 512 === slotOfKey("big:a") < 512; i++) k2 = `big:b${i}`;
    await r.set("big:a", big1);
    expect(sha((await r.getBuffer("big:a"))!)).toBe(sha(big1));
    await r.mset("big:a", big2, k2, big1);
    const [a, b] = await r.mgetBuffer("big:a", k2);
    expect(sha(a!)).toBe(sha(big2));
    expect(sha(b!)).toBe(sha(big1));
    r.disconnect();
  }, 60_000);

  it("serves 500 concurrent clients", async () => {
    const clients = Array.from({ length: 500 }, () => new Redis({ port: proxy.port, lazyConnect: true, maxRetriesPerRequest: 0 }));
    await Promise.all(clients.map((c) => c.connect()));
    await Promise.all(
      clients.map(async (c, i) => {
        for (let j = 0; j < 20; j++) await c.incr(`cc:${i}`);
        expect(await c.get(`cc:${i}`)).toBe("20");
      }),
    );
    const stats = await fetch(`http://${proxy.adminAddr}/proxy/stats`).then((res) => res.json() as Promise<{ sessions: { alive: number } }>);
    expect(stats.sessions.alive).toBeGreaterThanOrEqual(500);
    for (const c of clients) c.disconnect();
  }, 60_000);
});

describe("backend failure", () => {
  it("fails requests of a killed backend with its address, never hangs, and recovers after a restart", async () => {
    const r = new Redis({ port: proxy.port, maxRetriesPerRequest: 0 });
    // Keys on each group.
    const keyFor = (wantG2: boolean) => {
      for (let i = 0; ; i++) if (slotOfKey(`bf:${i}`) >= 512 === wantG2) return `bf:${i}`;
    };
    const k1 = keyFor(false);
    const k2 = keyFor(true);
    await r.set(k1, "1");
    await r.set(k2, "2");

    // Load on both groups while group 2 dies.
    let stop = false;
    const errors: string[] = [];
    let ok1 = 0;
    const loaders = Array.from({ length: 8 }, async () => {
      const c = new Redis({ port: proxy.port, maxRetriesPerRequest: 0 });
      while (!stop) {
        const res = await Promise.allSettled([c.get(k1), c.get(k2)]);
        if (res[0].status === "fulfilled") ok1++;
        if (res[1].status === "rejected") errors.push((res[1].reason as Error).message);
      }
      c.disconnect();
    });
    await new Promise((res) => setTimeout(res, 300));
    await g2.stop(true); // SIGKILL under load
    await new Promise((res) => setTimeout(res, 1000));
    const ok1DuringOutage = ok1;
    // Every request to the dead group fails at once, naming the backend and slot.
    const t0 = Date.now();
    const err = await r.get(k2).then(() => null, (e: Error) => e.message);
    expect(Date.now() - t0).toBeLessThan(2000);
    expect(err).toMatch(new RegExp(`^ERR handle response, backend conn (failure|reset).*\\(backend ${g2.addr.replace(/\./g, "\\.")}, slot ${slotOfKey(k2)}\\)`));
    expect(errors.length).toBeGreaterThan(0);
    for (const e of errors) expect(e).toContain(`backend ${g2.addr}`);
    await new Promise((res) => setTimeout(res, 300));
    expect(ok1).toBeGreaterThan(ok1DuringOutage); // group 1 kept serving

    await g2.restart();
    // Traffic recovers (reconnect backoff is capped at 3 s).
    const deadline = Date.now() + 10_000;
    let recovered = false;
    while (Date.now() < deadline) {
      const v = await r.set(k2, "back").then(() => true, () => false);
      if (v) {
        recovered = true;
        break;
      }
      await new Promise((res) => setTimeout(res, 100));
    }
    stop = true;
    await Promise.all(loaders);
    expect(recovered).toBe(true);
    expect(await r.get(k2)).toBe("back");
    r.disconnect();
  }, 60_000);
});
