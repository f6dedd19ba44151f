// jodis: a slotway proxy with jodis_name/jodis_addr registers itself as an ephemeral node with
// codis's path and JSON while it is online, on ZooKeeper, etcd (v3 lease) and etcd v2 (TTL),
// and removes it when it stops; a proxy that dies without stopping loses it after jodis_timeout.
import { Etcd3 } from "etcd3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { apiCall } from "../../src/control/http.js";
import { openStore, type Store } from "../../src/control/store/index.js";
import { startEtcd, stopAllEtcd, type EtcdServer } from "../harness/etcd.js";
import { startRedis, stopAllRedis, type RedisServer } from "../harness/redis.js";
import { startSlotway, stopAllSlotway } from "../harness/slotway.js";
import { until } from "../harness/wait.js";
import { startZookeeper, stopAllZookeeper, type ZkServer } from "../harness/zookeeper.js";

let zk: ZkServer;
let etcd: EtcdServer;
let redis: RedisServer;
const stores: Store[] = [];

beforeAll(async () => {
  [zk, etcd, redis] = await Promise.all([startZookeeper(), startEtcd(), startRedis()]);
});

afterAll(async () => {
  await stopAllSlotway();
  await Promise.all(stores.map((s) => s.close().catch(() => undefined)));
  await Promise.all([stopAllZookeeper(), stopAllEtcd(), stopAllRedis()]);
});

const coordinators = [
  { name: "zookeeper", addr: () => zk.addr },
  { name: "etcd", addr: () => etcd.addr },
  { name: "etcdv2", addr: () => etcd.addr },
];

async function reader(name: string, addr: string): Promise<Store> {
  const s = await openStore(name, addr, undefined, { timeoutMs: 3000 });
  stores.push(s);
  return s;
}

// The cases use their own products and nodes, so they run side by side.
describe.concurrent.each(coordinators)("jodis on $name", (c) => {
  it("registers /jodis/<product>/proxy-<token> with codis's JSON while online and removes it on shutdown", async () => {
    const product = `jodis_${c.name}`;
    const p = await startSlotway({
      workers: 1,
      groups: [{ id: 1, servers: [redis.addr], slots: "0-1023" }],
      config: { product_name: product, jodis_name: c.name, jodis_addr: c.addr(), jodis_timeout: "1s" },
    });
    const model = await apiCall<{ token: string; jodis_path: string; start_time: string; proxy_addr: string; admin_addr: string }>(
      "GET", `http://${p.adminAddr}/api/proxy/model`);
    const path = `/jodis/${product}/proxy-${model.token}`;
    expect(model.jodis_path).toBe(path);
    const s = await reader(c.name, c.addr());
    const text = await until("jodis node", () => s.get(path), 10_000, 50);
    // Go's json.MarshalIndent of codis's map: sorted keys, 4-space indent.
    expect(text).toBe(JSON.stringify({
      addr: model.proxy_addr, admin: model.admin_addr, start: model.start_time, state: "online", token: model.token,
    }, null, 4));
    expect(await s.list(`/jodis/${product}`)).toEqual([path]);
    if (c.name === "etcd") {
      // Bound to a lease, so that it goes when the proxy does.
      const raw = new Etcd3({ hosts: c.addr() });
      try {
        expect((await raw.get(path).exec()).kvs[0]!.lease).not.toBe("0");
      } finally {
        raw.close();
      }
    }
    if (c.name === "etcdv2") {
      const r = (await (await fetch(`http://${c.addr()}/v2/keys${path}`)).json()) as { node: { ttl?: number } };
      expect(r.node.ttl).toBeGreaterThan(0);
    }
    // Still there after more than jodis_timeout: the session / lease / TTL is kept alive.
    await new Promise((r) => setTimeout(r, 1600));
    expect(await s.get(path)).toBe(text);
    expect(await p.stop("SIGTERM")).toBe(0);
    expect(await s.get(path)).toBeUndefined();
    expect(p.output()).toContain(`jodis remove node ${path}`);
  }, 60_000);

  it("loses the node after jodis_timeout when the proxy dies without stopping", async () => {
    const product = `jodis_kill_${c.name}`;
    const p = await startSlotway({
      workers: 1,
      groups: [{ id: 1, servers: [redis.addr], slots: "0-1023" }],
      config: { product_name: product, jodis_name: c.name, jodis_addr: c.addr(), jodis_timeout: "1s" },
    });
    const s = await reader(c.name, c.addr());
    const [path] = await until("jodis node", async () => {
      const l = await s.list(`/jodis/${product}`);
      return l.length === 1 ? l : undefined;
    }, 10_000, 50);
    await p.stop("SIGKILL");
    expect(await s.get(path!)).toBeDefined();
    await until("node gone", async () => (await s.get(path!)) === undefined, 10_000, 100);
  }, 60_000);
});

it("jodis_compatible registers at codis 2's path /zk/codis/db_<product>/proxy/<token>", async () => {
  const product = "jodis_compat";
  const p = await startSlotway({
    workers: 1,
    groups: [{ id: 1, servers: [redis.addr], slots: "0-1023" }],
    config: { product_name: product, jodis_name: "zookeeper", jodis_addr: zk.addr, jodis_compatible: true },
  });
  const { token } = await apiCall<{ token: string }>("GET", `http://${p.adminAddr}/api/proxy/model`);
  const s = await reader("zookeeper", zk.addr);
  const text = await until("compatible node", () => s.get(`/zk/codis/db_${product}/proxy/${token}`), 10_000, 50);
  expect(JSON.parse(text)).toMatchObject({ state: "online", token });
  await p.stop("SIGTERM");
  expect(await s.get(`/zk/codis/db_${product}/proxy/${token}`)).toBeUndefined();
}, 60_000);

it("a dashboard-driven proxy registers only once the dashboard starts it", async () => {
  const product = "jodis_late";
  const p = await startSlotway({
    workers: 1,
    config: { product_name: product, jodis_name: "zookeeper", jodis_addr: zk.addr },
  });
  const s = await reader("zookeeper", zk.addr);
  await new Promise((r) => setTimeout(r, 700));
  expect(await s.list(`/jodis/${product}`)).toEqual([]);
  const admin = await apiCall<{ token: string }>("GET", `http://${p.adminAddr}/api/proxy/model`);
  const { xauth } = await import("../../src/control/xauth.js");
  await apiCall("PUT", `http://${p.adminAddr}/api/proxy/start/${xauth(product, "", admin.token)}`);
  await until("registered after start", async () => (await s.list(`/jodis/${product}`)).length === 1, 10_000, 50);
  await p.stop("SIGTERM");
}, 60_000);
