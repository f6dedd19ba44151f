// The movers' client-aware pace (issue 8, part 3), end to end on real processes: two
// `slotway proxy` and a `slotway dashboard` over two redis-servers, a load of pipelined GETs
// through both proxies. The proxies must measure their steady ops/s while no slot moves and
// hold it while slots move; the dashboard must take their sum as its baseline, pace the movers
// (here under migration_max_keys_per_second = 300) and still move every key.
import { Redis } from "ioredis";
import { afterAll, describe, expect, it } from "vitest";
import type { Stats } from "../../src/control/models.js";
import { slotOfKey } from "../../src/core/slot.js";
import { Cluster } from "../harness/cluster.js";

let cluster: Cluster | undefined;
const clients: Redis[] = [];
afterAll(async () => {
  for (const c of clients) c.disconnect();
  await cluster?.stop();
});

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function proxySteady(adminPort: number): Promise<number> {
  const r = await fetch(`http://127.0.0.1:${adminPort}/proxy/stats`);
  const j = (await r.json()) as { slotway?: { steady_ops?: number } };
  return j.slotway?.steady_ops ?? -1;
}

async function until<T>(what: string, fn: () => Promise<T | undefined>, ms = 20_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(200);
  }
}

describe("migration pace", () => {
  it("proxies report steady ops, the dashboard paces the movers from them, and every key moves", async () => {
    cluster = await Cluster.start({
      backend: "redis", method: "redis", proxyWorkers: 1,
      dashboardConfig: { migration_keep_client_ops_percent: 85, migration_max_keys_per_second: 300 },
    });
    const [p1, p2] = cluster.proxies as [typeof cluster.proxies[0], typeof cluster.proxies[0]];
    const a = new Redis({ port: p1.port, host: "127.0.0.1", lazyConnect: true });
    const b = new Redis({ port: p2.port, host: "127.0.0.1", lazyConnect: true });
    clients.push(a, b);
    await a.connect();
    await b.connect();
    // 1500 keys in the slots that move.
    const keys: string[] = [];
    for (let i = 0; keys.length < 1500; i++) if (slotOfKey(`pace:${i}`) >= 512) keys.push(`pace:${i}`);
    const w = a.pipeline();
    for (const k of keys) w.set(k, `v-${k}`);
    await w.exec();

    // A load of pipelined GETs through both proxies, until the end of the test.
    let stop = false;
    let errors = 0;
    const load = async (c: Redis): Promise<void> => {
      for (let n = 0; !stop; n++) {
        const p = c.pipeline();
        for (let i = 0; i < 50; i++) p.get(keys[(n * 50 + i) % keys.length]!);
        const r = await p.exec();
        for (const [e] of r ?? []) if (e) errors++;
      }
    };
    const loads = [load(a), load(b)];
    try {
      // Each proxy measures its own ops/s while no slot moves.
      const s1 = await until("proxy 1 steady_ops", async () => { const v = await proxySteady(p1.adminPort); return v > 500 ? v : undefined; });
      const s2 = await until("proxy 2 steady_ops", async () => { const v = await proxySteady(p2.adminPort); return v > 500 ? v : undefined; });
      // The dashboard's baseline is their sum (each may have moved by a sample since).
      const base = await until("the dashboard's baseline", async () => {
        const v = (await cluster!.dashboard.stats()).slot_action.pace?.baseline_ops ?? 0;
        return v > 0 ? v : undefined;
      });
      expect(base).toBeGreaterThan((s1 + s2) / 2);
      expect(base).toBeLessThan((s1 + s2) * 2);

      await cluster.dashboard.put("/api/topom/slots/action/create-range/{x}/512/1023/2");
      // While slots move: the pace is set (300 keys/s at most), the proxies' steady figure holds.
      const limits: number[] = [];
      const shares: number[] = [];
      const steadyWhileMoving: number[] = [];
      const moving = (st: Stats): boolean => st.slots.some((m) => m.action?.state);
      let st = await cluster.dashboard.stats();
      const deadline = Date.now() + 120_000;
      while (moving(st) && Date.now() < deadline) {
        const pace = st.slot_action.pace!;
        if (pace.keys_per_sec_limit !== -1 && st.slots.some((m) => m.action?.state === "migrating")) limits.push(pace.keys_per_sec_limit);
        if (pace.share >= 0) shares.push(pace.share);
        if (st.slots.some((m) => m.action?.state === "migrating")) steadyWhileMoving.push(await proxySteady(p1.adminPort));
        await sleep(300);
        st = await cluster.dashboard.stats();
      }
      expect(moving(st), "the migration did not end in 120 s").toBe(false);
      expect(limits.length, "no paced reading while slots migrated").toBeGreaterThan(0);
      for (const l of limits) {
        expect(l).toBeGreaterThanOrEqual(100);
        expect(l).toBeLessThanOrEqual(300);
      }
      expect(shares.length, "the dashboard never measured the clients while slots moved").toBeGreaterThan(0);
      // 1500 keys at 300 keys/s at most: at least 5 s of moving, in which proxy 1's steady figure
      // could not change (every second had a slot locked or migrating, or one ended in it).
      expect(steadyWhileMoving.length).toBeGreaterThan(3);
      expect(new Set(steadyWhileMoving.slice(1)).size, JSON.stringify(steadyWhileMoving)).toBe(1);
      const metrics = await (await fetch(`${cluster.dashboard.base}/metrics`)).text();
      expect(metrics).toMatch(/^slotway_dashboard_migration_pace_keys_per_second -?\d+$/m);
      expect(metrics).toMatch(/^slotway_dashboard_migration_baseline_ops \d+$/m);
    } finally {
      stop = true;
      await Promise.all(loads);
    }
    expect(errors).toBe(0);
    // Every key moved, with its value, and the slots are group 2's.
    const st = await cluster.dashboard.stats();
    expect(st.slots.filter((m) => m.id >= 512).every((m) => m.group_id === 2)).toBe(true);
    const got = await b.mget(...keys);
    expect(got).toEqual(keys.map((k) => `v-${k}`));
    const direct = new Redis({ port: Number(cluster.groupAddr(2).split(":")[1]), host: "127.0.0.1" });
    clients.push(direct);
    expect(await direct.dbsize()).toBe(keys.length);
  }, 240_000);
});
