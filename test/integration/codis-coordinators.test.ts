// codis 3.2's own tools read a cluster that slotway keeps in ZooKeeper and in etcd (v2 API):
// a slotway dashboard started with --zookeeper / --etcdv2 writes the topology, a slotway proxy
// finds it through the store, and the real codis-admin (--dashboard-list, --config-dump,
// --remove-lock) and codis-proxy (--zookeeper / --etcd, codis's etcd being v2) see the same
// groups, slots and proxies.
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { apiCall } from "../../src/control/http.js";
import type { Stats } from "../../src/control/models.js";
import { xauth } from "../../src/control/xauth.js";
import { listDashboards, listProxies, openStore, readTopom } from "../../src/control/store/index.js";
import { codisAdmin, startCodisProxy, stopAllCodisProxies } from "../harness/codis-tools.js";
import { startDashboard, stopAllDashboards, type Dashboard } from "../harness/dashboard.js";
import { startEtcd, stopAllEtcd, type EtcdServer } from "../harness/etcd.js";
import { startRedis, stopAllRedis, type RedisServer } from "../harness/redis.js";
import { startSlotway, stopAllSlotway } from "../harness/slotway.js";
import { until } from "../harness/wait.js";
import { startZookeeper, stopAllZookeeper, type ZkServer } from "../harness/zookeeper.js";

let zk: ZkServer;
let etcd: EtcdServer;
let g1: RedisServer;
let g2: RedisServer;
const clients: Redis[] = [];

beforeAll(async () => {
  [zk, etcd, g1, g2] = await Promise.all([startZookeeper(), startEtcd(), startRedis(), startRedis()]);
});

afterAll(async () => {
  for (const c of clients) c.disconnect();
  await Promise.all([stopAllCodisProxies(), stopAllSlotway(), stopAllDashboards()]);
  await Promise.all([stopAllZookeeper(), stopAllEtcd(), stopAllRedis()]);
});

function client(addr: string): Redis {
  const [host, port] = [addr.slice(0, addr.lastIndexOf(":")), Number(addr.slice(addr.lastIndexOf(":") + 1))];
  const r = new Redis({ host, port, maxRetriesPerRequest: 0 });
  r.on("error", () => undefined);
  clients.push(r);
  return r;
}

interface Case {
  name: string;
  /** slotway's flag and coordinator name. */
  slotwayFlag: string;
  /** codis's flag for the same store (codis's etcd is the v2 API). */
  codisFlag: string;
  addr: () => string;
}

const cases: Case[] = [
  { name: "zookeeper", slotwayFlag: "--zookeeper", codisFlag: "--zookeeper", addr: () => zk.addr },
  { name: "etcdv2", slotwayFlag: "--etcdv2", codisFlag: "--etcd", addr: () => etcd.addr },
];

describe.each(cases)("codis tools on a slotway cluster in $name", (c) => {
  const product = `fleet_${c.name}`;
  let d: Dashboard;

  it("a slotway dashboard and proxy keep the cluster in the store; codis-admin lists and dumps it", async () => {
    d = await startDashboard({ product, config: { migration_method: "semi-async" }, args: [c.slotwayFlag, c.addr(), "--log-level", "WARN"] });
    for (const gid of [1, 2]) await d.put(`/api/topom/group/create/{x}/${gid}`);
    await d.put(`/api/topom/group/add/{x}/1/${g1.addr}`);
    await d.put(`/api/topom/group/add/{x}/2/${g2.addr}`);
    await d.put("/api/topom/slots/assign/{x}", Array.from({ length: 1024 }, (_, i) => ({ id: i, group_id: i < 512 ? 1 : 2, action: {} })));
    // A slotway proxy that finds the dashboard through the store, as codis-proxy does.
    const p = await startSlotway({ workers: 1, config: { product_name: product }, args: [c.slotwayFlag, c.addr()], waitReady: true });
    const stats = await until("slotway proxy online", async () => {
      const st = await apiCall<Stats>("GET", `http://${d.addr}/api/topom/stats/${xauth(product)}`);
      const m = st.proxy.models.find((x) => x.admin_addr === p.adminAddr);
      return m && st.proxy.stats[m.token]?.stats?.online ? m : undefined;
    }, 20_000, 100);

    const list = await codisAdmin(["--dashboard-list", `${c.codisFlag}=${c.addr()}`]);
    expect(list.code, list.stderr).toBe(0);
    expect(JSON.parse(list.stdout)).toContainEqual({ name: product, dashboard: d.addr });
    // slotway's own reading of the store (for `slotway fe`) agrees with codis-admin's.
    const store = await openStore(c.name, c.addr());
    try {
      expect(await listDashboards(store)).toEqual(JSON.parse(list.stdout));
      expect((await readTopom(store, product))?.admin_addr).toBe(d.addr);
      expect((await listProxies(store, product)).map((x) => x.token)).toEqual([stats.token]);
    } finally {
      await store.close();
    }

    const dump = await codisAdmin(["--config-dump", `--product=${product}`, `${c.codisFlag}=${c.addr()}`]);
    expect(dump.code, dump.stderr).toBe(0);
    const cfg = JSON.parse(dump.stdout) as {
      slots: { id: number; group_id: number }[];
      group: { id: number; servers: { server: string }[] }[];
      proxy: { token: string; admin_addr: string }[];
    };
    expect(cfg.slots).toHaveLength(1024);
    expect(cfg.slots[7]).toMatchObject({ id: 7, group_id: 1 });
    expect(cfg.slots[700]).toMatchObject({ id: 700, group_id: 2 });
    expect(cfg.group.map((g) => [g.id, g.servers.map((s) => s.server)])).toEqual([[1, [g1.addr]], [2, [g2.addr]]]);
    expect(cfg.proxy).toContainEqual(expect.objectContaining({ token: stats.token, admin_addr: p.adminAddr }));

    await client(p.addr).set(`k-${c.name}`, "from slotway");
  }, 60_000);

  it("a real codis-proxy started with the store flag comes online and serves the same slots", async () => {
    const cp = await startCodisProxy(product, [`${c.codisFlag}=${c.addr()}`]);
    await until("codis-proxy online", async () => {
      const st = await apiCall<{ online: boolean }>("GET", `http://${cp.adminAddr}/proxy/stats`);
      return st.online;
    }, 30_000, 200);
    const slots = await apiCall<{ id: number; backend_addr: string }[]>("GET", `http://${cp.adminAddr}/proxy/slots`);
    expect(slots.find((s) => s.id === 0)?.backend_addr).toBe(g1.addr);
    expect(slots.find((s) => s.id === 1023)?.backend_addr).toBe(g2.addr);
    const r = client(cp.addr);
    expect(await r.get(`k-${c.name}`)).toBe("from slotway");
    await r.set(`k2-${c.name}`, "from codis-proxy");
    expect(await g1.command("GET", `k2-${c.name}`) + await g2.command("GET", `k2-${c.name}`)).toContain("from codis-proxy");
    await cp.stop();
  }, 60_000);

  it("codis-admin --remove-lock removes the lock a slotway dashboard holds (codis's persistent lock)", async () => {
    // A dashboard killed outright leaves its lock, as codis's does; a second one is refused...
    await d.stop("SIGKILL");
    const second = await startDashboard({ product, args: [c.slotwayFlag, c.addr()], waitOnline: false });
    expect(await second.exited).toBe(1);
    expect(second.output()).toMatch(/lock/);
    // ...until the lock is removed, here by codis's own tool.
    const rm = await codisAdmin(["--remove-lock", `--product=${product}`, `${c.codisFlag}=${c.addr()}`]);
    expect(rm.code, rm.stderr).toBe(0);
    const third = await startDashboard({ product, args: [c.slotwayFlag, c.addr()] });
    const groups = (await third.get<{ stats: { group: { models: { id: number }[] } } }>("/topom")).stats.group.models;
    expect(groups.map((g) => g.id)).toEqual([1, 2]);
    // codis-dashboard's --remove-lock does the same before starting.
    await third.stop("SIGKILL");
    const fourth = await startDashboard({ product, args: [c.slotwayFlag, c.addr(), "--remove-lock"] });
    expect(fourth.output()).toContain("force remove-lock OK");
    expect(await fourth.stop()).toBe(0);
    // A clean stop releases it: codis-admin lists the product without a dashboard.
    const list = await codisAdmin(["--dashboard-list", `${c.codisFlag}=${c.addr()}`]);
    expect(JSON.parse(list.stdout)).toContainEqual({ name: product, dashboard: "" });
  }, 60_000);
});
