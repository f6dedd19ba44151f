// migration_max_keys_per_second on real servers: each bulk mover (redis, codis-server sync and
// semi-async) keeps to the rate, still moves every key, and runs freely without it.
import { afterAll, describe, expect, it } from "vitest";
import { Redis } from "ioredis";
import { startRealCodisServer, startRedis, stopAllRedis, type RedisServer } from "../harness/redis.js";
import { defaultConnect } from "../../src/control/movers/connect.js";
import { moverFor, type MoverMethod } from "../../src/control/movers/index.js";
import { slotOfKey } from "../../src/core/slot.js";

const clients: Redis[] = [];
afterAll(async () => {
  for (const c of clients) c.disconnect();
  await stopAllRedis();
});

const KEYS = 600;
const RATE = 500; // keys per second: 600 keys take at least ~1.2 s, far more than the free move

/** KEYS keys spread over 3 slots (found by trying names), written on the server. */
async function fill(r: Redis, prefix: string): Promise<{ keys: string[]; slots: number[] }> {
  const slots: number[] = [];
  const keys: string[] = [];
  for (let i = 0; keys.length < KEYS; i++) {
    const k = `${prefix}${i}`;
    const s = slotOfKey(k);
    if (!slots.includes(s)) {
      if (slots.length === 3) continue;
      slots.push(s);
    }
    keys.push(k);
  }
  const p = r.pipeline();
  for (const k of keys) p.set(k, `v-${k}`);
  await p.exec();
  return { keys, slots };
}

async function move(method: MoverMethod, from: RedisServer, to: RedisServer, slots: number[], keysPerSecond: number): Promise<number> {
  const t0 = performance.now();
  await moverFor(method).moveSlots(slots, from.addr, to.addr, {
    connect: defaultConnect, timeoutMs: 5000, maxBulks: 200, maxBytes: 512 * 1024, numKeys: 500, keysPerSecond,
  }, new AbortController().signal);
  return performance.now() - t0;
}

for (const method of ["redis", "sync", "semi-async"] as const) {
  describe(`${method} mover`, () => {
    it(`moves ${KEYS} keys at ${RATE} keys/s no faster than the rate, and faster without a limit`, async () => {
      const start = method === "redis" ? startRedis : startRealCodisServer;
      const [a, b] = await Promise.all([start(), start()]);
      const da = new Redis({ port: a.port, host: "127.0.0.1" });
      const db = new Redis({ port: b.port, host: "127.0.0.1" });
      clients.push(da, db);
      const paced = await fill(da, `pace-${method}-`);
      const pacedMs = await move(method, a, b, paced.slots, RATE);
      expect(pacedMs).toBeGreaterThanOrEqual((KEYS / RATE) * 1000 * 0.9);
      expect(await da.dbsize()).toBe(0);
      for (const k of paced.keys) expect(await db.get(k), k).toBe(`v-${k}`);
      // The same move back without a limit, side by side.
      const freeMs = await move(method, b, a, paced.slots, 0);
      expect(await db.dbsize()).toBe(0);
      expect(await da.dbsize()).toBe(KEYS);
      expect(freeMs).toBeLessThan(pacedMs);
    });
  });
}
