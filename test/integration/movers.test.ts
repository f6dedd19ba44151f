// The codis-server protocol end to end: groups of scripted codis-servers (test/harness/
// codis-server.ts), the dashboard in this process with its production connector, and a real
// `slotway proxy --dashboard` process forwarding with codis's sync and semi-async methods while
// the codis mover moves the slots. Needs the built CLI (`npm run build`).
import { Redis } from "ioredis";
import { afterEach, describe, expect, it } from "vitest";
import { dashboardRouter } from "../../src/control/dashboard/api.js";
import { defaultConfig } from "../../src/control/dashboard/config.js";
import { silentLogger } from "../../src/control/dashboard/log.js";
import { Topom } from "../../src/control/dashboard/topom.js";
import { apiCall } from "../../src/control/http.js";
import type { Stats } from "../../src/control/models.js";
import { defaultConnect } from "../../src/control/movers/connect.js";
import { MemoryStore } from "../../src/control/store/store.js";
import { slotOfKey } from "../../src/core/slot.js";
import { startCodisServer, type CodisServer } from "../harness/codis-server.js";
import { startSlotway, stopAllSlotway, type Slotway } from "../harness/slotway.js";
import { until as waitUntil } from "../harness/wait.js";

const until = <T>(what: string, fn: () => T | Promise<T>, timeoutMs = 30_000): Promise<NonNullable<T>> =>
  waitUntil(what, fn, timeoutMs, 50);

const cleanup: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const f of cleanup.splice(0).reverse()) await f().catch(() => undefined);
  await stopAllSlotway();
});

for (const method of ["sync", "semi-async"] as const) {
  describe(`codis-server groups, migration_method = ${method}`, () => {
    it("migrates under INCR/DEL load through a slotway proxy; every answer is the live one", async () => {
      const g1: CodisServer = await startCodisServer();
      const g2: CodisServer = await startCodisServer();
      cleanup.push(() => g1.close(), () => g2.close());
      const config = { ...defaultConfig(), product_name: "test", admin_addr: "127.0.0.1:0", migration_method: method, migration_parallel_slots: 16, migration_async_numkeys: 20 };
      const t = new Topom({ config, store: new MemoryStore(), connect: defaultConnect, log: silentLogger, engine: { retryMs: 500 } });
      await t.listen(dashboardRouter(t).listener());
      await t.start();
      cleanup.push(() => t.close());
      const base = `http://${t.model.admin_addr}`;
      const put = (p: string, body?: unknown): Promise<unknown> => apiCall("PUT", `${base}/api/topom/${p.replace("{x}", t.xauth)}`, body);
      const stats = (): Promise<Stats> => apiCall<Stats>("GET", `${base}/api/topom/stats/${t.xauth}`);
      await put("group/create/{x}/1");
      await put("group/create/{x}/2");
      await put(`group/add/{x}/1/${g1.addr}`);
      await put(`group/add/{x}/2/${g2.addr}`);
      await put("slots/assign/{x}", Array.from({ length: 1024 }, (_, i) => ({ id: i, group_id: i < 512 ? 1 : 2, action: {} })));

      const proxy: Slotway = await startSlotway({ workers: 2, args: ["--dashboard", t.model.admin_addr], config: { backend_recv_timeout: "10s" } });
      await until("proxy online", async () => {
        const st = await stats();
        return st.proxy.models.some((m) => st.proxy.stats[m.token]?.stats?.online);
      });
      const conns = [0, 1, 2, 3].map(() => {
        const r = new Redis({ port: proxy.port, host: "127.0.0.1", maxRetriesPerRequest: 0 });
        r.on("error", () => undefined);
        cleanup.push(async () => r.disconnect());
        return r;
      });

      // Read-only data of the moving slots, some of it tagged (moves as a group).
      const still = Array.from({ length: 600 }, (_, i) => (i % 3 === 0 ? `{tag${i % 7}}:${i}` : `still:${i}`));
      for (const k of still) await conns[0]!.set(k, `v-${k}`);

      const errors: string[] = [];
      const expected = new Map<string, number>();
      let ops = 0;
      let stop = false;
      const worker = async (w: number): Promise<void> => {
        const c = conns[w % conns.length]!;
        const keys = Array.from({ length: 30 }, (_, i) => `load:${w}:${i}`);
        for (const k of keys) expected.set(k, 0);
        for (let n = 1; !stop; n++) {
          const k = keys[n % keys.length]!;
          try {
            if (n % 17 === 0) {
              await c.del(k);
              expected.set(k, 0);
            } else {
              const v = await c.incr(k);
              if (v !== expected.get(k)! + 1) errors.push(`${k} (slot ${slotOfKey(k)}): INCR answered ${v}, expected ${expected.get(k)! + 1}`);
              expected.set(k, v);
            }
            ops++;
          } catch (e) {
            errors.push(`${k} (slot ${slotOfKey(k)}): ${(e as Error).message}`);
            return;
          }
        }
      };
      const runs = Array.from({ length: 8 }, (_, w) => worker(w));
      await until("load running", () => ops > 300);
      // One key of a moving slot is held "mid-move" on the source for a while: writes to it must
      // wait (semi-async: wrapper answers 1), and its slot must not finish before it moved.
      const held = `load:0:${[...Array(30).keys()].find((i) => slotOfKey(`load:0:${i}`) < 256) ?? 0}`;
      g1.markMoving(held, 300);
      await put("slots/action/create-range/{x}/0/255/2");
      await until("migrated", async () => (await stats()).slots.slice(0, 256).every((m) => m.group_id === 2 && !m.action.state), 120_000);
      const after = ops;
      await until("load after migration", () => ops > after + 300);
      stop = true;
      await Promise.all(runs);
      expect(errors).toEqual([]);

      const home = (k: string): CodisServer => (slotOfKey(k) < 256 || slotOfKey(k) >= 512 ? g2 : g1);
      for (const k of still) {
        expect(home(k).get(k), k).toBe(`v-${k}`);
        expect((home(k) === g1 ? g2 : g1).get(k), k).toBeUndefined();
      }
      for (const [k, v] of expected) {
        expect(home(k).get(k), k).toBe(v > 0 ? String(v) : undefined);
        expect((home(k) === g1 ? g2 : g1).get(k), k).toBeUndefined();
      }
      const usedByProxy = method === "sync" ? "SLOTSMGRTTAGONE" : "SLOTSMGRT-EXEC-WRAPPER";
      expect(g1.calls.get(usedByProxy) ?? 0).toBeGreaterThan(0);
      expect(g1.calls.get(method === "sync" ? "SLOTSMGRTTAGSLOT" : "SLOTSMGRTTAGSLOT-ASYNC") ?? 0).toBeGreaterThan(0);
    }, 180_000);
  });
}
