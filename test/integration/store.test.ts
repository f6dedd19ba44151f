// One suite for every coordinator store (memory, filesystem, etcd v3, etcd v2, ZooKeeper), plus
// what only one of them can show: crash safety of file writes, dead-owner detection, lease
// expiry, etcd down, codis's persistent lock on ZooKeeper and etcd v2, ephemeral nodes.
//
// Cross-process cases run real child processes. They cannot import TypeScript directly, so
// beforeAll transpiles the store modules into a temp folder next to a small driver script.
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { spawn, type ChildProcess } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import ts from "typescript";
import { Etcd3 } from "etcd3";
import { MemoryStore, StoreLockedError, putAll, type Store } from "../../src/control/store/store.js";
import { FileStore } from "../../src/control/store/file-store.js";
import { EtcdStore } from "../../src/control/store/etcd-store.js";
import { Etcd2Store } from "../../src/control/store/etcd2-store.js";
import { ZkStore } from "../../src/control/store/zk-store.js";
import { openStore } from "../../src/control/store/index.js";
import {
  checkKey, groupPath, productsOf, proxyPath, sentinelPath, slotPath, topomPath,
} from "../../src/control/store/layout.js";
import { startEtcd, stopAllEtcd, type EtcdServer } from "../harness/etcd.js";
import { startZookeeper, stopAllZookeeper, type ZkServer } from "../harness/zookeeper.js";
import { freePort } from "../harness/ports.js";

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");

let etcd: EtcdServer;
let zk: ZkServer;
let fsRoot: string;
let kidDir: string;
const memory = new MemoryStore();
const opened: Store[] = [];
const kids = new Set<ChildProcess>();

beforeAll(async () => {
  fsRoot = mkdtempSync(path.join(os.tmpdir(), "slotway-fsstore-"));
  kidDir = buildChildBundle();
  [etcd, zk] = await Promise.all([startEtcd(), startZookeeper()]);
});

afterEach(async () => {
  for (const k of kids) k.kill("SIGKILL");
  kids.clear();
  await Promise.all(opened.splice(0).map((s) => s.close().catch(() => undefined)));
});

afterAll(async () => {
  await Promise.all([stopAllEtcd(), stopAllZookeeper()]);
  rmSync(fsRoot, { recursive: true, force: true });
  rmSync(kidDir, { recursive: true, force: true });
});

function track<S extends Store>(s: S): S {
  opened.push(s);
  return s;
}

/** A fresh key prefix per test: etcd and the file root are shared by the whole file. */
function uniq(): string {
  return `/t${Math.random().toString(36).slice(2, 10)}`;
}

interface Backend {
  name: "memory" | "filesystem" | "etcd" | "etcdv2" | "zookeeper";
  /** A new handle on the same data. MemoryStore has no other handle than itself. */
  open(opts?: { ttl?: number }): Store;
  /** Whether two handles are distinct owners (false for memory). */
  separate: boolean;
}

const backends: Backend[] = [
  { name: "memory", separate: false, open: () => memory },
  { name: "filesystem", separate: true, open: () => track(new FileStore(fsRoot)) },
  {
    name: "etcd", separate: true,
    open: (o) => track(new EtcdStore(etcd.addr, { timeoutMs: 5000, lockTtlSeconds: o?.ttl ?? 10 })),
  },
  { name: "etcdv2", separate: true, open: () => track(new Etcd2Store(etcd.addr, { timeoutMs: 5000 })) },
  { name: "zookeeper", separate: true, open: () => track(new ZkStore(zk.addr, { timeoutMs: 5000 })) },
];

describe.each(backends)("$name store", (b) => {
  it("gets, puts, overwrites and deletes", async () => {
    const s = b.open();
    const k = `${uniq()}/a/key`;
    expect(await s.get(k)).toBeUndefined();
    await s.put(k, "one");
    expect(await s.get(k)).toBe("one");
    await s.put(k, "two");
    expect(await s.get(k)).toBe("two");
    await s.put(k, "");
    expect(await s.get(k)).toBe("");
    await s.delete(k);
    expect(await s.get(k)).toBeUndefined();
    await s.delete(k); // absent: no error
    await s.delete(`${uniq()}/never/was`);
  });

  it("writes many keys in one call (putAll: putMany where the store has it), across folders and past one etcd transaction", async () => {
    const s = b.open();
    const base = uniq();
    const entries = Array.from({ length: 230 }, (_, i) => [`${base}/${i % 3 === 0 ? "x" : "y"}/k${i}`, `v${i}`] as const);
    await s.put(entries[5]![0], "old");
    await putAll(s, entries);
    for (const [k, v] of entries) expect(await s.get(k), k).toBe(v);
    expect((await s.list(`${base}/x`)).length).toBe(77);
    await putAll(s, []);
    // The filesystem and etcd v3 stores batch (one folder fsync, one transaction per 100 keys);
    // the others are written key by key by putAll.
    if (b.name === "filesystem" || b.name === "etcd") expect(typeof s.putMany).toBe("function");
  });

  if (b.name === "filesystem" || b.name === "etcd") it("putMany refuses a malformed key before writing any", async () => {
    const s = b.open();
    const k = `${uniq()}/ok`;
    await expect(s.putMany!([[k, "v"], ["no-slash", "v"]])).rejects.toThrow();
    expect(await s.get(k)).toBeUndefined();
  });

  it("creates only once", async () => {
    const s = b.open();
    const k = `${uniq()}/created`;
    expect(await s.create(k, "first")).toBe(true);
    expect(await s.create(k, "second")).toBe(false);
    expect(await s.get(k)).toBe("first");
    await s.delete(k);
    expect(await s.create(k, "third")).toBe(true);
    expect(await s.get(k)).toBe("third");
  });

  it("lets exactly one of many concurrent creators win", async () => {
    const s1 = b.open();
    const s2 = b.open();
    const k = `${uniq()}/contended`;
    const results = await Promise.all(
      Array.from({ length: 12 }, (_, i) => (i % 2 ? s1 : s2).create(k, `v${i}`)),
    );
    expect(results.filter(Boolean)).toHaveLength(1);
    const winner = results.indexOf(true);
    expect(await s1.get(k)).toBe(`v${winner}`);
  });

  it("lists direct children of nested folders, sorted, as full keys", async () => {
    const s = b.open();
    const base = uniq();
    for (const k of [`${base}/y/deep/z`, `${base}/x/2`, `${base}/top`, `${base}/x/1`, `${base}/x/10`]) {
      await s.put(k, k);
    }
    expect(await s.list(base)).toEqual([`${base}/top`, `${base}/x`, `${base}/y`]);
    expect(await s.list(`${base}/`)).toEqual([`${base}/top`, `${base}/x`, `${base}/y`]);
    expect(await s.list(`${base}/x`)).toEqual([`${base}/x/1`, `${base}/x/10`, `${base}/x/2`]);
    expect(await s.list(`${base}/y`)).toEqual([`${base}/y/deep`]);
    expect(await s.list(`${base}/y/deep`)).toEqual([`${base}/y/deep/z`]);
    expect(await s.list(`${base}/top`)).toEqual([]);
    expect(await s.list(`${base}/nothing`)).toEqual([]);
    // A folder whose last key is gone is not a child any more.
    await s.delete(`${base}/y/deep/z`);
    expect(await s.list(base)).toEqual([`${base}/top`, `${base}/x`]);
    expect(await s.get(`${base}/x`)).toBeUndefined();
  });

  it("keeps unicode and large values byte for byte", async () => {
    const s = b.open();
    const base = uniq();
    const odd = 'ünïcødé 中文 🙂 "quoted" \\ back\nnew line\ttab \u2028';
    await s.put(`${base}/u`, odd);
    expect(await s.get(`${base}/u`)).toBe(odd);
    const big = JSON.stringify({ pad: "ж".repeat(200_000) });
    await s.put(`${base}/big`, big);
    expect(await s.get(`${base}/big`)).toBe(big);
    expect(await s.create(`${base}/c`, odd)).toBe(true);
    expect(await s.get(`${base}/c`)).toBe(odd);
  });

  it("serves the codis layout and lists products", async () => {
    const s = b.open();
    const p1 = `prod_${Math.random().toString(36).slice(2, 8)}`;
    const p2 = `${p1}-b.2`;
    await s.put(slotPath(p1, 7), JSON.stringify({ id: 7, group_id: 1 }));
    await s.put(groupPath(p1, 1), JSON.stringify({ id: 1, servers: [] }));
    await s.put(proxyPath(p1, "abc123"), JSON.stringify({ token: "abc123" }));
    await s.put(sentinelPath(p1), "{}");
    await s.put(slotPath(p2, 0), "{}");
    expect(await s.list(`/codis3/${p1}`)).toEqual([
      `/codis3/${p1}/group`, `/codis3/${p1}/proxy`, `/codis3/${p1}/sentinel`, `/codis3/${p1}/slots`,
    ]);
    expect(await s.list(`/codis3/${p1}/slots`)).toEqual([`/codis3/${p1}/slots/slot-0007`]);
    const products = await productsOf(s);
    expect(products).toEqual(expect.arrayContaining([p1, p2]));
    expect(products).toEqual([...products].sort());
  });

  it("holds the lock against a second acquire and gives it up on release", async () => {
    const a = b.open();
    const other = b.open();
    const k = `${uniq()}/topom`;
    await a.acquireLock(k, '{"admin_addr":"a:18080"}');
    expect(await other.get(k)).toBe('{"admin_addr":"a:18080"}');
    await expect(a.acquireLock(k, "again")).rejects.toBeInstanceOf(StoreLockedError);
    await expect(other.acquireLock(k, "b")).rejects.toBeInstanceOf(StoreLockedError);
    if (b.separate) {
      // Only the holder can release; a stranger's release is a no-op.
      await other.releaseLock(k);
      expect(await other.get(k)).toBe('{"admin_addr":"a:18080"}');
      await expect(other.acquireLock(k, "b")).rejects.toBeInstanceOf(StoreLockedError);
    }
    // The holder may rewrite its lock node (codis-fe reads admin_addr from it) and keep the lock.
    await a.put(k, '{"admin_addr":"a:18081"}');
    await expect(other.acquireLock(k, "b")).rejects.toBeInstanceOf(StoreLockedError);
    await a.releaseLock(k);
    expect(await a.get(k)).toBeUndefined();
    await other.acquireLock(k, '{"admin_addr":"b:18080"}');
    expect(await a.get(k)).toBe('{"admin_addr":"b:18080"}');
    await other.releaseLock(k);
    await a.acquireLock(k, "a again");
    await a.releaseLock(k);
  });

  it("refuses the lock while its key exists without an owner", async () => {
    const s = b.open();
    const k = `${uniq()}/topom`;
    await s.put(k, '{"pid":1}');
    const err = await s.acquireLock(k, "mine").catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StoreLockedError);
    expect(await s.get(k)).toBe('{"pid":1}');
  });

  // Process-level behaviour only exists for stores shared between instances.
  if (b.separate) it("releases held locks on close", async () => {
    const a = b.open();
    const k = `${uniq()}/topom`;
    await a.acquireLock(k, "a");
    await a.close();
    const other = b.open();
    await other.acquireLock(k, "b");
    expect(await other.get(k)).toBe("b");
  });

  if (b.name !== "memory") it("rejects malformed keys", async () => {
    const s = b.open();
    for (const bad of ["relative/key", "/a/../b", "/a/./b", "/a//b", "/a/b/", "/", "", "/a/\0b", "/a/.hidden"]) {
      await expect(s.put(bad, "x"), bad).rejects.toThrow(/invalid key/);
      await expect(s.get(bad), bad).rejects.toThrow(/invalid key/);
    }
    await expect(s.list("/a/../b")).rejects.toThrow(/invalid key/);
  });

  if (b.separate) it("gives the lock to exactly one of several racing processes", async () => {
    const k = `${uniq()}/topom`;
    const racers = await Promise.all(Array.from({ length: 4 }, () => startKid(b.name, "lock", k)));
    for (const r of racers) await r.next(); // "ready": modules loaded, waiting for the signal
    for (const r of racers) r.send("go");
    const outcomes = await Promise.all(racers.map((r) => r.next()));
    expect(outcomes.filter((o) => o === "won")).toHaveLength(1);
    expect(outcomes.filter((o) => o === "locked")).toHaveLength(3);
    const winner = racers[outcomes.indexOf("won")]!;
    expect(JSON.parse((await b.open().get(k))!)).toEqual({ pid: winner.pid });
  });
});

describe("filesystem store", () => {
  it("maps keys to files under the root, holding exactly the value", async () => {
    const s = track(new FileStore(fsRoot));
    const p = `demo${Math.random().toString(36).slice(2, 8)}`;
    await s.put(slotPath(p, 1), '{"id":1}');
    expect(readFileSync(path.join(fsRoot, "codis3", p, "slots", "slot-0001"), "utf8")).toBe('{"id":1}');
    await s.acquireLock(topomPath(p), '{"name":"x"}');
    expect(readFileSync(path.join(fsRoot, "codis3", p, "topom"), "utf8")).toBe('{"name":"x"}');
    // Owner records sit beside the lock, never listed.
    expect(await s.list(`/codis3/${p}`)).toEqual([`/codis3/${p}/slots`, `/codis3/${p}/topom`]);
    expect(readdirSync(path.join(fsRoot, "codis3", p)).some((n) => n.startsWith(".topom.owner."))).toBe(true);
  });

  it("ignores leftover temp files", async () => {
    const s = track(new FileStore(fsRoot));
    const base = uniq();
    await s.put(`${base}/k`, "v1");
    const dir = path.join(fsRoot, base.slice(1));
    writeFileSync(path.join(dir, ".k.99999.deadbeef.tmp"), '{"torn');
    // A folder holding only a crashed writer's temp file holds no key.
    mkdirSync(path.join(dir, "sub"));
    writeFileSync(path.join(dir, "sub", ".n.99999.cafe.tmp"), "x");
    expect(await s.list(base)).toEqual([`${base}/k`]);
    expect(await s.get(`${base}/k`)).toBe("v1");
    await s.put(`${base}/k`, "v2");
    expect(await s.get(`${base}/k`)).toBe("v2");
    expect(await s.create(`${base}/sub/n`, "n")).toBe(true);
    expect(await s.list(base)).toEqual([`${base}/k`, `${base}/sub`]);
  });

  it("takes over the lock of a process killed with SIGKILL", async () => {
    const k = `${uniq()}/topom`;
    const owner = await startKid("filesystem", "lock", k);
    await owner.next();
    owner.send("go");
    expect(await owner.next()).toBe("won");
    const s = track(new FileStore(fsRoot));
    const err = await s.acquireLock(k, "mine").catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StoreLockedError);
    expect((err as StoreLockedError).holder).toContain(`pid ${owner.pid}`);
    await owner.kill();
    await s.acquireLock(k, "mine");
    expect(await s.get(k)).toBe("mine");
    await s.releaseLock(k);
    expect(await s.get(k)).toBeUndefined();
  });

  it("lets exactly one of several racing processes take over a dead lock", async () => {
    const k = `${uniq()}/topom`;
    const owner = await startKid("filesystem", "lock", k);
    await owner.next();
    owner.send("go");
    expect(await owner.next()).toBe("won");
    await owner.kill();
    for (let round = 0; round < 3; round++) {
      const racers = await Promise.all(Array.from({ length: 4 }, () => startKid("filesystem", "lock", k)));
      for (const r of racers) await r.next();
      for (const r of racers) r.send("go");
      const outcomes = await Promise.all(racers.map((r) => r.next()));
      expect(outcomes.filter((o) => o === "won"), outcomes.join()).toHaveLength(1);
      expect(outcomes.filter((o) => o === "locked"), outcomes.join()).toHaveLength(3);
      // Everyone dies, including the winner: the next round races over a dead lock again.
      await Promise.all(racers.map((r) => r.kill()));
    }
  });

  it("judges owner records by host, pid and process start time", async () => {
    const s = track(new FileStore(fsRoot));
    const base = uniq();
    const dir = path.join(fsRoot, base.slice(1));
    mkdirSync(dir, { recursive: true });
    const stat = readFileSync("/proc/self/stat", "utf8");
    const startTicks = stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19];
    const me = {
      state: "held", pid: process.pid, hostname: os.hostname(),
      bootId: readFileSync("/proc/sys/kernel/random/boot_id", "utf8").trim(), pidNs: "",
      startTicks, token: "t", time: "then",
    };
    // A live process (this one) holds it.
    writeFileSync(path.join(dir, ".live.owner.1"), JSON.stringify(me));
    writeFileSync(path.join(dir, "live"), "x");
    await expect(s.acquireLock(`${base}/live`, "v")).rejects.toBeInstanceOf(StoreLockedError);
    // Same pid, other start time: the pid was reused, the owner is gone.
    writeFileSync(path.join(dir, ".reused.owner.1"), JSON.stringify({ ...me, startTicks: "1" }));
    await s.acquireLock(`${base}/reused`, "v");
    expect(await s.get(`${base}/reused`)).toBe("v");
    // Another boot: gone.
    writeFileSync(path.join(dir, ".rebooted.owner.3"), JSON.stringify({ ...me, bootId: "other" }));
    await s.acquireLock(`${base}/rebooted`, "v");
    // Another host: cannot tell, so it stays locked.
    writeFileSync(path.join(dir, ".remote.owner.1"), JSON.stringify({ ...me, pid: 1, hostname: "elsewhere" }));
    const err = await s.acquireLock(`${base}/remote`, "v").catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StoreLockedError);
    expect((err as StoreLockedError).holder).toContain("elsewhere");
    // Only the top generation counts: a stale live record below a free one is ignored.
    writeFileSync(path.join(dir, ".stale.owner.2"), JSON.stringify(me));
    writeFileSync(path.join(dir, ".stale.owner.5"), JSON.stringify({ ...me, state: "free" }));
    await s.acquireLock(`${base}/stale`, "v");
    expect(readdirSync(dir).filter((n) => n.startsWith(".stale.owner."))).toEqual([".stale.owner.6"]);
    await s.releaseLock(`${base}/stale`);
    expect(readdirSync(dir).filter((n) => n.startsWith(".stale."))).toEqual([".stale.owner.7"]);
    // Garbage: cannot tell either.
    writeFileSync(path.join(dir, ".junk.owner.1"), "not json");
    await expect(s.acquireLock(`${base}/junk`, "v")).rejects.toBeInstanceOf(StoreLockedError);
  });

  it("leaves the old or the new value when a writer is SIGKILLed mid-write", async () => {
    const s = track(new FileStore(fsRoot));
    const base = uniq();
    const k = `${base}/slots/slot-0042`;
    let last = -1;
    let advanced = 0;
    for (let round = 0; round < 10; round++) {
      const writer = await startKid("filesystem", "writes", k, String(last + 1));
      expect(await writer.next()).toBe("started");
      await new Promise((r) => setTimeout(r, 5 + Math.floor(Math.random() * 40)));
      await writer.kill();
      const text = await s.get(k);
      expect(text, `round ${round}`).toBeDefined();
      const v = JSON.parse(text!) as { n: number; pad: string };
      expect(v.pad).toBe(PAD);
      expect(v.n).toBeGreaterThan(last); // the child's first write was durable before "started"
      if (v.n > last + 1) advanced++;
      last = v.n;
      expect(await s.list(`${base}/slots`)).toEqual([k]);
    }
    // The writers did get past their first write, so kills landed among many writes.
    expect(advanced).toBeGreaterThan(0);
  });
});

describe("etcd store", () => {
  it("takes over after the killed owner's lease expires", async () => {
    const k = `${uniq()}/topom`;
    const owner = await startKid("etcd", "lock", k, "2");
    await owner.next();
    owner.send("go");
    expect(await owner.next()).toBe("won");
    await owner.kill();
    const s = track(new EtcdStore(etcd.addr, { lockTtlSeconds: 2 }));
    await expect(s.acquireLock(k, "mine")).rejects.toBeInstanceOf(StoreLockedError);
    const t0 = Date.now();
    for (;;) {
      try {
        await s.acquireLock(k, "mine");
        break;
      } catch (e) {
        if (!(e instanceof StoreLockedError) || Date.now() - t0 > 10_000) throw e;
        await new Promise((r) => setTimeout(r, 200));
      }
    }
    expect(await s.get(k)).toBe("mine");
    await s.releaseLock(k);
    expect(await s.get(k)).toBeUndefined();
  });

  it("keeps the lock node on its lease when putMany rewrites it", async () => {
    const k = `${uniq()}/topom`;
    const s = track(new EtcdStore(etcd.addr, { lockTtlSeconds: 5 }));
    const raw = new Etcd3({ hosts: etcd.addr });
    try {
      await s.acquireLock(k, "v1");
      const before = (await raw.get(k).exec()).kvs[0]!.lease;
      await s.putMany([[k, "v2"], [`${k}-other`, "x"]]);
      const after = (await raw.get(k).exec()).kvs[0]!;
      expect(after.value.toString()).toBe("v2");
      expect(after.lease).toBe(before);
      expect((await raw.get(`${k}-other`).exec()).kvs[0]!.lease).toBe("0");
    } finally {
      raw.close();
    }
  });

  it("keeps the lock node on its lease when the holder rewrites it", async () => {
    const k = `${uniq()}/topom`;
    const s = track(new EtcdStore(etcd.addr, { lockTtlSeconds: 5 }));
    const raw = new Etcd3({ hosts: etcd.addr });
    try {
      await s.acquireLock(k, "v1");
      const before = (await raw.get(k).exec()).kvs[0]!.lease;
      expect(before).not.toBe("0");
      await s.put(k, "v2");
      const after = (await raw.get(k).exec()).kvs[0]!;
      expect(after.value.toString()).toBe("v2");
      expect(after.lease).toBe(before);
    } finally {
      raw.close();
    }
  });

  it("fails fast with a clear error when nothing listens", async () => {
    const port = await freePort();
    const s = track(new EtcdStore(`127.0.0.1:${port}`, { timeoutMs: 1500 }));
    for (const op of [() => s.get("/x/y"), () => s.put("/x/y", "v"), () => s.list("/x"), () => s.acquireLock("/x/topom", "v")]) {
      const t0 = Date.now();
      const err = await op().catch((e: unknown) => e);
      expect(err).toBeInstanceOf(Error);
      expect((err as Error).message).toMatch(new RegExp(`^etcd: .* on 127\\.0\\.0\\.1:${port} failed: `));
      expect(Date.now() - t0).toBeLessThan(4000);
    }
  });

  it("times out instead of hanging on a server that never answers", async () => {
    const sockets = new Set<net.Socket>();
    const hole = net.createServer((c) => { sockets.add(c); c.on("error", () => undefined); });
    await new Promise<void>((r) => hole.listen(0, "127.0.0.1", () => r()));
    const port = (hole.address() as net.AddressInfo).port;
    try {
      const s = track(new EtcdStore(`127.0.0.1:${port}`, { timeoutMs: 1000 }));
      const t0 = Date.now();
      const err = await s.get("/x/y").catch((e: unknown) => e);
      expect((err as Error).message).toMatch(/^etcd: get \/x\/y on 127\.0\.0\.1:\d+ failed: /);
      expect(Date.now() - t0).toBeLessThan(4000);
      const err2 = await s.acquireLock("/x/topom", "v").catch((e: unknown) => e);
      expect(err2).toBeInstanceOf(Error);
      expect(err2).not.toBeInstanceOf(StoreLockedError);
    } finally {
      for (const c of sockets) c.destroy();
      hole.close();
    }
  });

  it("reports a held lock as lost when etcd goes away", async () => {
    const own = await startEtcd();
    const lost: string[] = [];
    const s = new EtcdStore(own.addr, { lockTtlSeconds: 2, timeoutMs: 1000, onLockLost: (key) => lost.push(key) });
    try {
      await s.acquireLock("/codis3/gone/topom", "v");
      await new Promise((r) => setTimeout(r, 1200)); // a few keep-alives go through
      expect(lost).toEqual([]);
      await own.stop(true);
      const t0 = Date.now();
      while (lost.length === 0 && Date.now() - t0 < 6000) await new Promise((r) => setTimeout(r, 50));
      expect(lost).toEqual(["/codis3/gone/topom"]);
      // The watchdog fires at 80% of the TTL after the last acknowledged keep-alive (under 2 s
      // here); etcd3 by itself would only notice after twice the TTL (4 s). Loose for slow machines.
      expect(Date.now() - t0).toBeLessThan(3500);
    } finally {
      await s.close().catch(() => undefined);
      await own.stop(true);
    }
  });

  it("authenticates with user:password", async () => {
    const own = await startEtcd();
    try {
      const admin = new Etcd3({ hosts: own.addr });
      await admin.role("root").create();
      await admin.user("root").create("s3cr:et");
      await admin.user("root").addRole("root");
      await admin.auth.authEnable({});
      admin.close();

      const ok = track(await openStore("etcd", own.addr, "root:s3cr:et", { timeoutMs: 3000 }));
      await ok.put("/codis3/auth/x", "1");
      expect(await ok.get("/codis3/auth/x")).toBe("1");

      const bad = track(await openStore("etcd", own.addr, "root:wrong", { timeoutMs: 3000 }));
      await expect(bad.get("/codis3/auth/x")).rejects.toThrow(/^etcd: get \/codis3\/auth\/x on .* failed: /);
      const none = track(await openStore("etcd", own.addr, undefined, { timeoutMs: 3000 }));
      await expect(none.get("/codis3/auth/x")).rejects.toThrow(/^etcd: get/);
    } finally {
      await own.stop(true);
    }
  });
});

// codis keeps the product lock on ZooKeeper and etcd v2 as a plain persistent node: a dashboard
// that dies leaves it, and --remove-lock clears it. Ephemeral nodes (jodis) die with their owner.
describe.each(["zookeeper", "etcdv2"] as const)("%s store, as codis", (name) => {
  const open = (): Store => name === "zookeeper"
    ? track(new ZkStore(zk.addr, { timeoutMs: 5000, sessionTimeoutMs: 1000 }))
    : track(new Etcd2Store(etcd.addr, { timeoutMs: 5000, ttlSeconds: 1 }));

  it("keeps the lock of a killed owner until removeLock", async () => {
    const k = `${uniq()}/topom`;
    const owner = await startKid(name, "lock", k, "1");
    await owner.next();
    owner.send("go");
    expect(await owner.next()).toBe("won");
    await owner.kill();
    const s = open();
    // Longer than the owner's session timeout / TTL (1 s): the lock is not ephemeral.
    await new Promise((r) => setTimeout(r, 1600));
    const err = await s.acquireLock(k, "mine").catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StoreLockedError);
    expect((err as StoreLockedError).holder).toBe(JSON.stringify({ pid: owner.pid }));
    await s.removeLock(k);
    await s.acquireLock(k, "mine");
    expect(await s.get(k)).toBe("mine");
    await s.releaseLock(k);
    expect(await s.get(k)).toBeUndefined();
  });

  it("releases only its own lock node", async () => {
    const a = open();
    const b = open();
    const k = `${uniq()}/topom`;
    await a.acquireLock(k, "a");
    await b.removeLock(k); // an operator's --remove-lock
    await b.acquireLock(k, "b");
    await a.releaseLock(k); // a stale holder must not remove b's lock
    expect(await b.get(k)).toBe("b");
    await b.releaseLock(k);
    expect(await a.get(k)).toBeUndefined();
  });

  it("keeps an ephemeral node while its owner lives and drops it after the owner dies", async () => {
    const s = open() as ZkStore | Etcd2Store;
    const k = `/jodis/${uniq().slice(1)}/proxy-abc`;
    const eph = await s.createEphemeral(k, '{"addr":"x"}');
    await expect(s.createEphemeral(k, "again")).rejects.toThrow(/exists/);
    // Past the TTL / session timeout (1 s): still there (refreshed / session alive).
    await new Promise((r) => setTimeout(r, 1600));
    expect(await s.get(k)).toBe('{"addr":"x"}');
    await eph.remove();
    expect(await s.get(k)).toBeUndefined();
    expect(await eph.lost).toBeInstanceOf(Error);

    const kid = await startKid(name, "ephemeral", k, "1");
    expect(await kid.next()).toBe("registered");
    expect(await s.get(k)).toBe(JSON.stringify({ pid: kid.pid }));
    await kid.kill();
    const t0 = Date.now();
    while ((await s.get(k)) !== undefined && Date.now() - t0 < 10_000) await new Promise((r) => setTimeout(r, 200));
    expect(await s.get(k)).toBeUndefined();
    // Gone because the owner stopped keeping it, once its session / TTL ran out (1 s here).
    expect(Date.now() - t0).toBeGreaterThan(300);
  });

  it("fails fast with a clear error when nothing listens", async () => {
    const port = await freePort();
    const s = name === "zookeeper" ? track(new ZkStore(`127.0.0.1:${port}`, { timeoutMs: 800 })) : track(new Etcd2Store(`127.0.0.1:${port}`, { timeoutMs: 800 }));
    for (const op of [() => s.get("/x/y"), () => s.put("/x/y", "v"), () => s.list("/x"), () => s.acquireLock("/x/topom", "v")]) {
      const t0 = Date.now();
      const err = await op().catch((e: unknown) => e);
      expect(err).toBeInstanceOf(Error);
      expect(err).not.toBeInstanceOf(StoreLockedError);
      expect((err as Error).message).toMatch(new RegExp(`^${name}: .* on 127\\.0\\.0\\.1:${port} failed: `));
      expect(Date.now() - t0).toBeLessThan(3000);
    }
  });
});

describe("zookeeper store", () => {
  it("lays nodes out as codis's zk client does", async () => {
    const s = track(new ZkStore(zk.addr));
    const p = `zkp${Math.random().toString(36).slice(2, 8)}`;
    await s.put(slotPath(p, 3), '{"id":3}');
    const raw = await rawZk(zk.addr);
    try {
      // Folders: empty data, all permissions; values: READ|WRITE|ADMIN (31 and 19).
      const [dirData, dirAcl] = await raw.read(`/codis3/${p}/slots`);
      expect(dirData.length).toBe(0);
      expect(dirAcl).toEqual([{ perms: 31, scheme: "world", id: "anyone" }]);
      const [data, acl] = await raw.read(slotPath(p, 3));
      expect(data.toString()).toBe('{"id":3}');
      expect(acl).toEqual([{ perms: 19, scheme: "world", id: "anyone" }]);
    } finally {
      raw.close();
    }
    // A folder reads as absent; removing the last key removes the folders it leaves empty.
    expect(await s.get(`/codis3/${p}/slots`)).toBeUndefined();
    await s.delete(slotPath(p, 3));
    expect(await s.list("/codis3")).not.toContain(`/codis3/${p}`);
  });

  it("protects nodes with a digest ACL when auth is set", async () => {
    const k = `${uniq()}/secret`;
    const owner = track(new ZkStore(zk.addr, { auth: "codis:pa:ss" }));
    await owner.put(k, "hidden");
    expect(await owner.get(k)).toBe("hidden");
    const stranger = track(new ZkStore(zk.addr, { timeoutMs: 3000 }));
    await expect(stranger.get(k)).rejects.toThrow(/^zookeeper: get .* failed: .*NO_AUTH/);
    const wrong = track(new ZkStore(zk.addr, { auth: "codis:nope", timeoutMs: 3000 }));
    await expect(wrong.put(k, "x")).rejects.toThrow(/NO_AUTH/);
    expect(await owner.get(k)).toBe("hidden");
  });

  it("reports a lost ephemeral node when ZooKeeper goes away", async () => {
    const { startZookeeper: start } = await import("../harness/zookeeper.js");
    const own = await start();
    const s = new ZkStore(own.addr, { timeoutMs: 1000, sessionTimeoutMs: 1000 });
    try {
      const eph = await s.createEphemeral("/jodis/gone/proxy-1", "{}");
      await own.stop(true);
      const t0 = Date.now();
      const why = await Promise.race([eph.lost, new Promise<undefined>((r) => setTimeout(() => r(undefined), 8000))]);
      expect(why).toBeInstanceOf(Error);
      expect(Date.now() - t0).toBeLessThan(5000);
    } finally {
      await s.close().catch(() => undefined);
      await own.stop(true);
    }
  });
});

describe("etcd v2 store", () => {
  it("writes the v2 keys codis reads, and removes directories it leaves empty", async () => {
    const s = track(new Etcd2Store(etcd.addr));
    const p = `v2p${Math.random().toString(36).slice(2, 8)}`;
    await s.put(groupPath(p, 1), '{"id":1}');
    const res = await fetch(`http://${etcd.addr}/v2/keys/codis3/${p}/group/group-0001`);
    expect(res.status).toBe(200);
    const body = (await res.json()) as { node: { value: string } };
    expect(body.node.value).toBe('{"id":1}');
    expect(await s.get(`/codis3/${p}/group`)).toBeUndefined();
    await s.delete(groupPath(p, 1));
    expect((await fetch(`http://${etcd.addr}/v2/keys/codis3/${p}`)).status).toBe(404);
  });

  it("authenticates with user:password (basic auth)", async () => {
    const own = await startEtcd();
    try {
      const put = (path: string, body: unknown, auth?: string) => fetch(`http://${own.addr}${path}`, {
        method: "PUT", body: JSON.stringify(body), headers: { "Content-Type": "application/json", ...(auth ? { Authorization: auth } : {}) },
      });
      expect((await put("/v2/auth/users/root", { user: "root", password: "s3cr:et" })).status).toBeLessThan(300);
      const basic = "Basic " + Buffer.from("root:s3cr:et").toString("base64");
      expect((await put("/v2/auth/enable", {})).status).toBeLessThan(300);
      // Guests may no longer write once the guest role loses its permissions.
      const revoke = await put("/v2/auth/roles/guest", { role: "guest", revoke: { kv: { read: ["/*"], write: ["/*"] } } }, basic);
      expect(revoke.status).toBeLessThan(300);
      const ok = track(await openStore("etcdv2", own.addr, "root:s3cr:et", { timeoutMs: 3000 }));
      await ok.put("/codis3/auth/x", "1");
      expect(await ok.get("/codis3/auth/x")).toBe("1");
      const none = track(await openStore("etcdv2", own.addr, undefined, { timeoutMs: 3000 }));
      await expect(none.put("/codis3/auth/y", "1")).rejects.toThrow(/^etcdv2: put \/codis3\/auth\/y on .* failed: /);
      const bad = track(await openStore("etcdv2", own.addr, "root:wrong", { timeoutMs: 3000 }));
      await expect(bad.get("/codis3/auth/x")).rejects.toThrow(/^etcdv2: get/);
    } finally {
      await own.stop(true);
    }
  });
});

/** A bare node-zookeeper-client, to look at what the store wrote. */
async function rawZk(addr: string): Promise<{ read(path: string): Promise<[Buffer, { perms: number; scheme: string; id: string }[]]>; close(): void }> {
  const zkc = await import("node-zookeeper-client");
  const c = zkc.createClient(addr);
  await new Promise<void>((resolve) => { c.once("connected", () => resolve()); c.connect(); });
  return {
    read: (p) => new Promise((resolve, reject) => {
      c.getData(p, (err, data) => {
        if (err) return reject(err);
        c.getACL(p, (err2, acls) => {
          if (err2) return reject(err2);
          // The typings say `perms`; the library's ACL objects carry `permission`.
          resolve([data ?? Buffer.alloc(0), acls.map((a) => ({ perms: (a as unknown as { permission: number }).permission, scheme: a.id.scheme, id: a.id.id }))]);
        });
      });
    }),
    close: () => c.close(),
  };
}

describe("openStore", () => {
  it("opens the filesystem store, creating its folder", async () => {
    const dir = path.join(fsRoot, "opened", "deeper");
    const s = track(await openStore("filesystem", dir));
    expect(s.kind).toBe("filesystem");
    expect(readdirSync(path.join(fsRoot, "opened"))).toEqual(["deeper"]);
    // codis's filesystem client layout: keys under <root>/data, so codis tools read them.
    await s.put("/codis3/p/topom", '{"admin_addr":"x"}');
    expect(readFileSync(path.join(dir, "data", "codis3", "p", "topom"), "utf8")).toBe('{"admin_addr":"x"}');
    expect((track(await openStore("fs", dir))).kind).toBe("filesystem");
    await expect(openStore("filesystem", "")).rejects.toThrow(/empty/);
    writeFileSync(path.join(fsRoot, "a-file"), "");
    await expect(openStore("filesystem", path.join(fsRoot, "a-file", "sub"))).rejects.toThrow(/cannot create folder/);
  });

  it("opens etcd (v3 and v2) and zookeeper, and refuses unknown names", async () => {
    const s = track(await openStore("etcd", etcd.addr));
    expect(s.kind).toBe("etcd");
    expect(await s.get(`${uniq()}/none`)).toBeUndefined();
    const v2 = track(await openStore("etcdv2", etcd.addr));
    expect(v2.kind).toBe("etcdv2");
    for (const name of ["zookeeper", "zk"]) {
      const z = track(await openStore(name, zk.addr));
      expect(z.kind).toBe("zookeeper");
      expect(await z.get(`${uniq()}/none`)).toBeUndefined();
    }
    // The v2 and v3 keyspaces are separate: codis tools (v2) do not see v3 keys.
    const k = `${uniq()}/k`;
    await s.put(k, "v3");
    expect(await v2.get(k)).toBeUndefined();
    await expect(openStore("consul", "x")).rejects.toThrow(/invalid coordinator name/);
    await expect(openStore("etcd", "")).rejects.toThrow(/empty coordinator_addr/);
    await expect(openStore("etcdv2", "")).rejects.toThrow(/empty coordinator_addr/);
    await expect(openStore("zookeeper", "")).rejects.toThrow(/empty coordinator_addr/);
    await expect(openStore("zookeeper", "127.0.0.1/x")).rejects.toThrow(/invalid address/);
    await expect(openStore("etcd", "127.0.0.1:1", "nopassword")).rejects.toThrow(/invalid auth/);
    await expect(openStore("zookeeper", "127.0.0.1:1", ":pw")).rejects.toThrow(/invalid auth/);
  });

  it("checks keys and layout the way codis names them", () => {
    expect(topomPath("codis-demo")).toBe("/codis3/codis-demo/topom");
    expect(slotPath("codis-demo", 42)).toBe("/codis3/codis-demo/slots/slot-0042");
    expect(slotPath("codis-demo", 1023)).toBe("/codis3/codis-demo/slots/slot-1023");
    expect(groupPath("codis-demo", 3)).toBe("/codis3/codis-demo/group/group-0003");
    expect(proxyPath("codis-demo", "f00d")).toBe("/codis3/codis-demo/proxy/proxy-f00d");
    expect(sentinelPath("codis-demo")).toBe("/codis3/codis-demo/sentinel");
    expect(() => topomPath("../etc")).toThrow(/bad product name/);
    expect(() => topomPath("")).toThrow(/bad product name/);
    expect(() => slotPath("p", -1)).toThrow(/invalid sid/);
    expect(() => proxyPath("p", "a/b")).toThrow(/invalid token/);
    expect(checkKey("/codis3/p/topom")).toBe("/codis3/p/topom");
  });
});

// ---- child processes ----

const PAD = "ü".repeat(100_000);

/** Transpiles the store modules into a temp folder and writes the child driver beside them. */
function buildChildBundle(): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), "slotway-storekid-"));
  mkdirSync(path.join(dir, "store"));
  for (const file of readdirSync(path.join(REPO, "src/control/store")).filter((f) => f.endsWith(".ts"))) {
    const name = file.slice(0, -3);
    const src = readFileSync(path.join(REPO, "src/control/store", file), "utf8");
    const out = ts.transpileModule(src, {
      compilerOptions: { module: ts.ModuleKind.ES2022, target: ts.ScriptTarget.ES2022 },
    });
    writeFileSync(path.join(dir, "store", `${name}.js`), out.outputText);
  }
  writeFileSync(path.join(dir, "package.json"), '{"type":"module"}');
  // Bare imports (etcd3) resolve through the repo's node_modules.
  symlinkSync(path.join(REPO, "node_modules"), path.join(dir, "node_modules"), "dir");
  writeFileSync(path.join(dir, "kid.mjs"), KID_SOURCE);
  return dir;
}

// argv: backend addr mode key extra. Prints one line per event: ready, won, locked, error ..., started.
const KID_SOURCE = `
import { createInterface } from "node:readline";
import { FileStore } from "./store/file-store.js";
import { EtcdStore } from "./store/etcd-store.js";
import { Etcd2Store } from "./store/etcd2-store.js";
import { ZkStore } from "./store/zk-store.js";
const [backend, addr, mode, key, extra] = process.argv.slice(2);
const say = (s) => process.stdout.write(s + "\\n");
const store = backend === "filesystem" ? new FileStore(addr)
  : backend === "etcdv2" ? new Etcd2Store(addr, { timeoutMs: 5000, ttlSeconds: Number(extra || 20) })
  : backend === "zookeeper" ? new ZkStore(addr, { timeoutMs: 5000, sessionTimeoutMs: Number(extra || 30) * 1000 })
  : new EtcdStore(addr, { lockTtlSeconds: Number(extra || 10), timeoutMs: 5000 });
if (mode === "lock") {
  const rl = createInterface({ input: process.stdin });
  rl.once("line", async () => {
    try {
      await store.acquireLock(key, JSON.stringify({ pid: process.pid }));
      say("won");
    } catch (e) {
      say(e && e.name === "StoreLockedError" ? "locked" : "error " + (e && e.message));
    }
  });
  say("ready");
} else if (mode === "ephemeral") {
  await store.createEphemeral(key, JSON.stringify({ pid: process.pid }));
  say("registered");
} else if (mode === "writes") {
  const pad = "ü".repeat(100000);
  let n = Number(extra);
  await store.put(key, JSON.stringify({ n, pad }));
  say("started");
  for (;;) {
    n++;
    await store.put(key, JSON.stringify({ n, pad }));
  }
}
`;

interface Kid {
  pid: number;
  /** The next line the child prints (rejects after 15 s or when it exits first). */
  next(): Promise<string>;
  send(line: string): void;
  /** SIGKILL, resolved once the child has been reaped. */
  kill(): Promise<void>;
}

async function startKid(backend: Backend["name"], mode: string, key: string, extra = ""): Promise<Kid> {
  const addr = backend === "filesystem" ? fsRoot : backend === "zookeeper" ? zk.addr : etcd.addr;
  const proc = spawn(process.execPath, [path.join(kidDir, "kid.mjs"), backend, addr, mode, key, extra], {
    stdio: ["pipe", "pipe", "pipe"],
  });
  kids.add(proc);
  const lines: string[] = [];
  const waiters: Array<(l: string | undefined) => void> = [];
  let stderr = "";
  let buf = "";
  proc.stderr!.on("data", (d: Buffer) => { stderr += d.toString(); });
  proc.stdout!.on("data", (d: Buffer) => {
    buf += d.toString();
    for (let nl = buf.indexOf("\n"); nl >= 0; nl = buf.indexOf("\n")) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      const w = waiters.shift();
      if (w) w(line);
      else lines.push(line);
    }
  });
  const exited = new Promise<void>((r) => proc.once("exit", () => {
    kids.delete(proc);
    for (const w of waiters.splice(0)) w(undefined);
    r();
  }));
  proc.stdin!.on("error", () => undefined);
  return {
    pid: proc.pid!,
    next() {
      const ready = lines.shift();
      if (ready !== undefined) return Promise.resolve(ready);
      if (proc.exitCode !== null || proc.signalCode !== null) {
        return Promise.reject(new Error(`child exited: ${stderr}`));
      }
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`child silent for 15 s: ${stderr}`)), 15_000);
        waiters.push((l) => {
          clearTimeout(timer);
          if (l === undefined) reject(new Error(`child exited: ${stderr}`));
          else resolve(l);
        });
      });
    },
    send(line) {
      proc.stdin!.write(line + "\n");
    },
    async kill() {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill("SIGKILL");
      await exited;
    },
  };
}
