// Regression tests for faults found in review of the data plane; each one failed before its fix.
import { describe, it, expect, afterAll } from "vitest";
import net from "node:net";
import { readFileSync } from "node:fs";
import { startRedis, stopAllRedis } from "../harness/redis.js";
import { startSlotway, stopAllSlotway } from "../harness/slotway.js";
import { RawClient } from "../harness/resp-client.js";
import { ProxyAdmin, sleep } from "../harness/admin.js";
import { freePort } from "../harness/ports.js";
import { encodeCommand } from "../../src/core/resp-encoder.js";
import { slotOfKey } from "../../src/core/slot.js";

afterAll(async () => {
  await stopAllSlotway();
  await stopAllRedis();
});

/** A TCP server that accepts, counts, and then either closes at once or says nothing. */
async function fakeBackend(mode: "slam" | "silent"): Promise<{ addr: string; accepted: () => number; dropAll: () => void; close: () => void }> {
  const port = await freePort();
  let n = 0;
  const socks = new Set<net.Socket>();
  const srv = net.createServer((s) => {
    n++;
    s.on("error", () => {});
    if (mode === "slam") s.destroy();
    else socks.add(s);
  });
  await new Promise<void>((r) => srv.listen(port, "127.0.0.1", r));
  return {
    addr: `127.0.0.1:${port}`,
    accepted: () => n,
    dropAll: () => {
      for (const s of socks) s.destroy();
      socks.clear();
    },
    close: () => {
      for (const s of socks) s.destroy();
      srv.close();
    },
  };
}

describe("review regressions", () => {
  it("a failing backend is retried with capped backoff, not in a growing storm (prelude failures counted once)", async () => {
    const slam = await fakeBackend("slam");
    const proxy = await startSlotway({
      workers: 1,
      groups: [{ id: 1, servers: [slam.addr], slots: "0-1023" }],
      config: { product_auth: "secret" },
    });
    const c = await RawClient.connect(proxy.port);
    // AUTH + SELECT in the prelude: two setup commands that the broken connection fails.
    expect(await c.call("SELECT", "1")).toBe("+OK\r\n");
    const r = await c.call("SET", "k", "v");
    expect(r).toMatch(/^-ERR handle response, backend conn (failure|reset)/);
    expect(r).not.toMatch(/setup failed, ERR handle response/); // no nested errors
    const before = slam.accepted();
    await sleep(4000);
    const attempts = slam.accepted() - before;
    // 50 ms doubling to 3 s: about 7 tries in 4 s for one connection; the storm made hundreds.
    expect(attempts).toBeGreaterThan(1);
    expect(attempts).toBeLessThan(20);
    c.close();
    slam.close();
    await proxy.stop();
  }, 30_000);

  it("requests held for a locked slot are never overtaken by newer ones when it unlocks", async () => {
    const r1 = await startRedis();
    const proxy = await startSlotway({ workers: 1, groups: [{ id: 1, servers: [r1.addr], slots: "0-1023" }] });
    const admin = await new ProxyAdmin(proxy.adminAddr).init();
    const key = "ordered-list";
    const slot = slotOfKey(key);
    const c = await RawClient.connect(proxy.port);
    let sent = 0;
    let stop = false;
    // One client pipelines RPUSH key 0, 1, 2, ... without waiting for replies, so requests
    // keep arriving while the slot is locked and in the moment it unlocks.
    const writer = (async () => {
      while (!stop) {
        const batch: Buffer[] = [];
        for (let i = 0; i < 20; i++) batch.push(encodeCommand(["RPUSH", key, String(sent++)]));
        c.write(Buffer.concat(batch));
        await new Promise((r) => setImmediate(r));
        if (sent % 2000 === 0) await sleep(1);
      }
      await c.read(sent, 30_000);
    })();
    // Meanwhile the slot is locked and unlocked many times, as a dashboard's steps do.
    for (let i = 0; i < 40; i++) {
      await admin.fillOk([{ id: slot, locked: true, backend_addr: r1.addr, backend_addr_group_id: 1 }]);
      await sleep(10);
      await admin.fillOk([{ id: slot, backend_addr: r1.addr, backend_addr_group_id: 1 }]);
      await sleep(5);
    }
    stop = true;
    await writer;
    const list = (await c.call("LRANGE", key, "0", "-1")).split("\r\n").filter((l) => l && !l.startsWith("*") && !l.startsWith("$"));
    expect(list.length).toBe(sent);
    const nums = list.map(Number);
    for (let i = 1; i < nums.length; i++) {
      if (nums[i]! < nums[i - 1]!) throw new Error(`element ${i} (${nums[i]}) ran before ${nums[i - 1]}`);
    }
    c.close();
    await proxy.stop();
  }, 60_000);

  it("MGET over more than 127 backend connections answers correctly and leaks no in-flight count", async () => {
    const g = await Promise.all([startRedis(), startRedis(), startRedis()]);
    const proxy = await startSlotway({
      workers: 1,
      groups: [
        { id: 1, servers: [g[0]!.addr], slots: "0-340" },
        { id: 2, servers: [g[1]!.addr], slots: "341-681" },
        { id: 3, servers: [g[2]!.addr], slots: "682-1023" },
      ],
      config: { backend_primary_parallel: 64, slot_drain_timeout: "2s" },
    });
    const c = await RawClient.connect(proxy.port);
    const keys = Array.from({ length: 3000 }, (_, i) => `wide:${i}`);
    c.write(encodeCommand(["MSET", ...keys.flatMap((k) => [k, k])]));
    expect((await c.read(1, 20_000))[0]!.toString()).toBe("+OK\r\n");
    c.write(encodeCommand(["MGET", ...keys]));
    const [reply] = await c.read(1, 20_000);
    const text = reply!.toString();
    expect(text.startsWith("*3000\r\n")).toBe(true);
    expect(text).toContain("$9\r\nwide:2999\r\n");
    expect(text.split("\r\n").filter((l) => l.startsWith("wide:")).length).toBe(3000);
    // Every count taken was released: a fill of every slot drains at once.
    const admin = await new ProxyAdmin(proxy.adminAddr).init();
    const slots = (await admin.slots()).map((s) => ({ ...s, locked: false }));
    const r = await admin.fill(slots);
    expect(r.status, r.text).toBe(200);
    c.close();
    await proxy.stop();
  }, 60_000);

  it("a semi-async lane whose source dies fails every queued request without recursion, and the slot drains", async () => {
    const target = await startRedis();
    const silent = await fakeBackend("silent");
    const proxy = await startSlotway({ workers: 1, groups: [{ id: 1, servers: [target.addr], slots: "0-1023" }], config: { slot_drain_timeout: "5s" } });
    const admin = await new ProxyAdmin(proxy.adminAddr).init();
    const key = "lane-key";
    const slot = slotOfKey(key);
    await admin.fillOk([{ id: slot, backend_addr: target.addr, backend_addr_group_id: 2, migrate_from: silent.addr, migrate_from_group_id: 1, forward_method: 1 }]);
    const clients = await Promise.all(Array.from({ length: 4 }, () => RawClient.connect(proxy.port)));
    const n = 3000;
    for (const c of clients) {
      const parts: Buffer[] = [];
      for (let i = 0; i < n; i++) parts.push(encodeCommand(["SET", key, String(i)]));
      c.write(Buffer.concat(parts));
    }
    await sleep(500); // the first wrapper waits on the silent source; the rest queue in the lane
    silent.dropAll();
    for (const c of clients) {
      const replies = await c.read(n, 30_000);
      for (const r of replies) expect(r.toString()).toMatch(/^-ERR handle request, migrate slot \d+ from /);
    }
    // Nothing is left in flight: finishing the migration drains.
    const r = await admin.fill([{ id: slot, backend_addr: target.addr, backend_addr_group_id: 2 }]);
    expect(r.status, r.text).toBe(200);
    const c2 = await RawClient.connect(proxy.port);
    expect(await c2.call("SET", key, "after")).toBe("+OK\r\n");
    for (const c of [...clients, c2]) c.close();
    silent.close();
    await proxy.stop();
  }, 60_000);

  it("a status reply longer than 64 KiB from a backend is passed through; others on the connection are unharmed", async () => {
    const r1 = await startRedis();
    const proxy = await startSlotway({ workers: 1, groups: [{ id: 1, servers: [r1.addr], slots: "0-1023" }] });
    const a = await RawClient.connect(proxy.port);
    const b = await RawClient.connect(proxy.port);
    await a.call("SET", "other", "fine");
    a.write(encodeCommand(["EVAL", "return redis.status_reply(string.rep('x', 70000))", "0"]));
    b.write(encodeCommand(["GET", "other"]));
    const [big] = await a.read(1);
    expect(big!.length).toBe(70003);
    expect((await b.read(1))[0]!.toString()).toBe("$4\r\nfine\r\n");
    a.close();
    b.close();
    await proxy.stop();
  }, 30_000);

  it("an announced huge bulk does not make the proxy allocate it up front; before AUTH Redis's bounds apply", async () => {
    const r1 = await startRedis();
    const open = await startSlotway({ workers: 1, groups: [{ id: 1, servers: [r1.addr], slots: "0-1023" }] });
    const rss = () => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${open.proc.pid}/status`, "utf8"))![1]) * 1024;
    const before = rss();
    const c = await RawClient.connect(open.port);
    c.write("*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$536870000\r\n");
    await sleep(100);
    c.write("x");
    await sleep(500);
    expect(rss() - before).toBeLessThan(64 * 1024 * 1024);
    c.close();
    const gated = await startSlotway({ workers: 1, groups: [{ id: 1, servers: [r1.addr], slots: "0-1023" }], config: { session_auth: "pw" } });
    const d = await RawClient.connect(gated.port);
    d.write("*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$536870000\r\n");
    expect((await d.readUntilClose()).map(String)).toEqual(["-ERR Protocol error: unauthenticated bulk length\r\n"]);
    const e = await RawClient.connect(gated.port);
    e.write("*11\r\n");
    expect((await e.readUntilClose()).map(String)).toEqual(["-ERR Protocol error: unauthenticated multibulk length\r\n"]);
    const f = await RawClient.connect(gated.port);
    expect(await f.call("AUTH", "pw")).toBe("+OK\r\n");
    expect(await f.call("SET", "big", "v".repeat(20000))).toBe("+OK\r\n");
    f.close();
    await open.stop();
    await gated.stop();
  }, 30_000);

  it("HELLO switching protocol mid-pipeline keeps commands on one key in order", async () => {
    const r1 = await startRedis();
    const proxy = await startSlotway({ workers: 1, groups: [{ id: 1, servers: [r1.addr], slots: "0-1023" }] });
    const c = await RawClient.connect(proxy.port);
    const parts: Buffer[] = [];
    let n = 0;
    for (let i = 0; i < 200; i++) {
      for (let j = 0; j < 10; j++) parts.push(encodeCommand(["RPUSH", "hello-order", String(n++)]));
      parts.push(encodeCommand(["HELLO", i % 2 === 0 ? "3" : "2"]));
    }
    c.write(Buffer.concat(parts));
    await c.read(parts.length, 30_000);
    const list = (await c.call("LRANGE", "hello-order", "0", "-1")).split("\r\n").filter((l) => /^\d+$/.test(l));
    expect(list.map(Number)).toEqual(Array.from({ length: n }, (_, i) => i));
    c.close();
    await proxy.stop();
  }, 30_000);
});
