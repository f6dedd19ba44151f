// The dashboard on the real coordinator stores: the embedded file store, etcd (v3 and v2) and
// ZooKeeper. The same flow on each: lock, build, migrate, stop, and a new dashboard reading it
// all back.
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { crc32 } from "node:zlib";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { dashboardRouter } from "../../src/control/dashboard/api.js";
import { defaultConfig } from "../../src/control/dashboard/config.js";
import { silentLogger } from "../../src/control/dashboard/log.js";
import { Topom } from "../../src/control/dashboard/topom.js";
import { apiCall } from "../../src/control/http.js";
import type { Stats } from "../../src/control/models.js";
import { defaultConnect } from "../../src/control/movers/connect.js";
import { openStore, type Store } from "../../src/control/store/index.js";
import { startCodisServer, type CodisServer } from "../harness/codis-server.js";
import { startEtcd, stopAllEtcd } from "../harness/etcd.js";
import { startZookeeper, stopAllZookeeper } from "../harness/zookeeper.js";

const PRODUCT = "store-test";

function slotOf(key: string): number {
  return crc32(key) % 1024;
}

const cleanup: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const f of cleanup.splice(0).reverse()) await f().catch(() => undefined);
});
afterAll(() => Promise.all([stopAllEtcd(), stopAllZookeeper()]));

async function run(store: Store, coordinator: string) {
  const config = { ...defaultConfig(), product_name: PRODUCT, admin_addr: "127.0.0.1:0", coordinator_name: coordinator };
  const t = new Topom({ config, store, connect: defaultConnect, log: silentLogger, engine: { idleMs: 20, retryMs: 200 } });
  cleanup.push(() => t.close());
  await t.listen(dashboardRouter(t).listener());
  await t.start();
  const base = `http://${t.model.admin_addr}`;
  return {
    t,
    // 30 s: assigning 1024 slots is 1024 store writes, slow on a loaded machine.
    put: (p: string, body?: unknown) => apiCall("PUT", `${base}/api/topom/${p.replace("{x}", t.xauth)}`, body, 30_000),
    stats: () => apiCall<Stats>("GET", `${base}/api/topom/stats/${t.xauth}`),
  };
}

const kinds: { name: string; coordinator: string; open: () => Promise<() => Promise<Store>> }[] = [
  {
    name: "filesystem",
    coordinator: "filesystem",
    open: async () => {
      const dir = mkdtempSync(path.join(tmpdir(), "slotway-dash-store-"));
      return () => openStore("filesystem", dir);
    },
  },
  {
    name: "etcd",
    coordinator: "etcd",
    open: async () => {
      const e = await startEtcd();
      return () => openStore("etcd", e.addr);
    },
  },
  {
    name: "etcd v2",
    coordinator: "etcdv2",
    open: async () => {
      const e = await startEtcd();
      return () => openStore("etcdv2", e.addr);
    },
  },
  {
    name: "zookeeper",
    coordinator: "zookeeper",
    open: async () => {
      const z = await startZookeeper();
      return () => openStore("zookeeper", z.addr);
    },
  },
];

for (const kind of kinds) {
  describe(`dashboard on the ${kind.name} store`, () => {
    it("holds the lock, keeps the topology in codis's layout, and a new dashboard reads it back", async () => {
      const open = await kind.open();
      const a: CodisServer = await startCodisServer();
      const b: CodisServer = await startCodisServer();
      cleanup.push(() => a.close(), () => b.close());
      const store1 = await open();
      const d1 = await run(store1, kind.coordinator);
      // A second dashboard cannot take the lock while the first runs.
      const other = await open();
      cleanup.push(() => other.close());
      await expect(run(other, kind.coordinator)).rejects.toThrow(/acquire lock/);
      await d1.put("group/create/{x}/1");
      await d1.put("group/create/{x}/2");
      await d1.put(`group/add/{x}/1/${a.addr}`);
      await d1.put(`group/add/{x}/2/${b.addr}`);
      await d1.put("slots/assign/{x}", Array.from({ length: 1024 }, (_, i) => ({ id: i, group_id: 1, action: {} })));
      const keys = Array.from({ length: 400 }, (_, i) => `s:${i}`).filter((k) => slotOf(k) < 4);
      for (const k of keys) a.set(k, k);
      await d1.put("slots/action/create-range/{x}/0/3/2");
      const deadline = Date.now() + 20_000;
      while (!(await d1.stats()).slots.slice(0, 4).every((m) => m.group_id === 2 && !m.action.state)) {
        if (Date.now() > deadline) throw new Error("migration did not finish");
        await new Promise((r) => setTimeout(r, 50));
      }
      for (const k of keys) expect(b.get(k)).toBe(k);
      const lock = JSON.parse((await store1.get(`/codis3/${PRODUCT}/topom`))!);
      expect(lock.admin_addr).toBe(d1.t.model.admin_addr);
      expect(JSON.parse((await store1.get(`/codis3/${PRODUCT}/slots/slot-0002`))!)).toEqual({ id: 2, group_id: 2, action: {} });
      expect(JSON.parse((await store1.get(`/codis3/${PRODUCT}/group/group-0001`))!).servers[0].server).toBe(a.addr);
      const before = await d1.stats();
      await d1.t.close();

      const d2 = await run(await open(), kind.coordinator);
      const after = await d2.stats();
      expect(after.slots).toEqual(before.slots);
      expect(after.group.models).toEqual(before.group.models);
    }, 60_000);
  });
}
