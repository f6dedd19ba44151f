// Memory per client (issue 10): a client that pipelines GETs of a 1 MB value and never reads
// must not make the proxy hold its replies (before: +1 GB of RSS, kept after the client left),
// other clients on the same backend connection must not wait for ever behind it, and a client
// that reads slowly still gets every reply, intact and in order.
import { describe, it, expect, afterAll } from "vitest";
import net from "node:net";
import { readFileSync } from "node:fs";
import { startRedis, stopAllRedis } from "../harness/redis.js";
import { startSlotway, stopAllSlotway } from "../harness/slotway.js";
import { RawClient } from "../harness/resp-client.js";
import { sleep, until } from "../harness/wait.js";
import { ReplyScanner, ScanStatus } from "../../src/core/resp-scanner.js";
import { ChunkReader } from "../../src/workers/chunk-reader.js";

afterAll(async () => {
  await stopAllSlotway();
  await stopAllRedis();
});

const MB = 1024 * 1024;
const SEND_BUFSIZE = 64 * 1024; // session_send_bufsize's default

/** Resident memory of a process (MiB), from /proc. */
function rssMiB(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  if (!m) throw new Error(`no VmRSS for pid ${pid}`);
  return Number(m[1]) / 1024;
}

/** A client that sends n GETs of key in one write and reads nothing. */
function stalledClient(port: number, key: string, n: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ port, host: "127.0.0.1" });
    socket.on("error", () => {});
    socket.once("connect", () => {
      socket.pause(); // never read
      socket.write(`GET ${key}\r\n`.repeat(n));
      resolve(socket);
    });
    socket.once("error", reject);
  });
}

describe("memory per client", () => {
  it("clients that pipeline GETs of a 1 MB value and never read cost about session_send_bufsize + one reply each, and the memory stays free after they go", async () => {
    const redis = await startRedis();
    const proxy = await startSlotway({ workers: 1, groups: [{ id: 1, servers: [redis.addr], slots: "0-1023" }], config: { log_level: "info" } });
    const pid = proxy.proc.pid!;
    const c = await RawClient.connect(proxy.port);
    expect(await c.call("SET", "big", Buffer.alloc(MB, 0x61))).toBe("+OK\r\n");
    expect(await c.call("SET", "small", "v")).toBe("+OK\r\n");
    // Warm up the paths a 1 MB reply takes, so the baseline includes them.
    for (let i = 0; i < 20; i++) expect((await c.call("GET", "big")).length).toBe(MB + 12);
    await sleep(500);
    const baseline = Math.min(rssMiB(pid), rssMiB(pid));

    const stalled = [await stalledClient(proxy.port, "big", 200), await stalledClient(proxy.port, "big", 200)];
    let peak = 0;
    for (let i = 0; i < 12; i++) {
      await sleep(250);
      peak = Math.max(peak, rssMiB(pid));
    }
    const grew = peak - baseline;
    // The bound: session_send_bufsize + one reply per client, plus the runtime's own noise
    // (20 MiB). Before the bound the proxy read all 400 replies: +400 MiB.
    const allowed = 2 * (SEND_BUFSIZE / MB + 1) + 20;
    expect(grew, `RSS ${baseline.toFixed(1)} → ${peak.toFixed(1)} MiB`).toBeLessThan(allowed);

    // Another client's GET on the same backend connection waits behind the stalled replies,
    // but not for ever: each stalled client that holds it up for PARK_LIMIT (2 s) without
    // reading is closed, and the proxy reads past the ~200 MB Redis had queued for it.
    const t0 = performance.now();
    expect(await c.call("GET", "small")).toBe("$1\r\nv\r\n");
    const waited = performance.now() - t0;
    expect(waited).toBeLessThan(15_000);
    // (A paused client socket does not notice the close; the proxy's log says it.)
    await until("both stalled clients to be closed", () => (proxy.output().match(/held up backend .* while other clients waited/g) ?? []).length === 2, 5000);

    // Their remaining ~1000 MB of replies drain through the proxy without being kept.
    await until("the backend connection to drain", async () => (await c.call("PING")) === "+PONG\r\n" && (await c.call("GET", "small")) === "$1\r\nv\r\n", 10_000);
    await sleep(1000);
    const after = rssMiB(pid);
    console.log(`proxy RSS: baseline ${baseline.toFixed(1)} MiB, peak while stalled ${peak.toFixed(1)}, after ${after.toFixed(1)}`);
    expect(after - baseline, `RSS after the clients left: ${after.toFixed(1)} MiB (baseline ${baseline.toFixed(1)})`).toBeLessThan(allowed);
    // And the proxy still serves 1 MB values.
    expect((await c.call("GET", "big")).length).toBe(MB + 12);
    for (const s of stalled) s.destroy();
    c.close();
    await proxy.stop();
  }, 60_000);

  it("a client that reads slowly gets every reply intact and in order, and is not closed; others on its connection are served meanwhile", async () => {
    const redis = await startRedis();
    const proxy = await startSlotway({ workers: 1, groups: [{ id: 1, servers: [redis.addr], slots: "0-1023" }], config: { log_level: "info" } });
    const c = await RawClient.connect(proxy.port);
    const N = 60;
    for (let i = 0; i < N; i++) {
      expect(await c.call("SET", `v${i}`, Buffer.alloc(MB / 2 + i, 0x30 + (i % 40)))).toBe("+OK\r\n");
    }
    // The slow reader: N GETs in one write, then one read (up to 64 kB) every 20 ms: about
    // 2 MB/s, far slower than the proxy and Redis can send.
    const slow = net.connect({ port: proxy.port, host: "127.0.0.1" });
    await new Promise<void>((r) => slow.once("connect", () => r()));
    const reader = new ChunkReader(new ReplyScanner(), 1 << 30);
    const replies: Buffer[] = [];
    let slowClosed = false;
    slow.on("close", () => (slowClosed = true));
    slow.on("data", (chunk: Buffer) => {
      reader.push(chunk);
      while (reader.next() === ScanStatus.Complete) {
        const sc = reader.scanner;
        replies.push(Buffer.from(reader.buf.subarray(sc.replyStart, sc.next)));
      }
      slow.pause();
      setTimeout(() => slow.resume(), 20);
    });
    slow.write(Array.from({ length: N }, (_, i) => `GET v${i}\r\n`).join(""));
    // Meanwhile another client's requests share the backend connection.
    let worst = 0;
    let served = 0;
    while (replies.length < N && !slowClosed) {
      const t0 = performance.now();
      c.write("GET v0\r\n");
      const [r] = await c.read(1, 30_000);
      expect(r!.toString("latin1", 0, 9)).toBe("$524288\r\n");
      worst = Math.max(worst, performance.now() - t0);
      served++;
    }
    await until("every slow reply", () => replies.length === N || slowClosed, 40_000);
    await sleep(300);
    expect(slowClosed, `${replies.length} replies; ${proxy.output()}`).toBe(false);
    expect(replies.length).toBe(N);
    for (let i = 0; i < N; i++) {
      const len = MB / 2 + i;
      const head = `$${len}\r\n`;
      expect(replies[i]!.length).toBe(head.length + len + 2);
      expect(replies[i]!.toString("latin1", 0, head.length)).toBe(head);
      expect(replies[i]![head.length]).toBe(0x30 + (i % 40));
      expect(replies[i]![head.length + len - 1]).toBe(0x30 + (i % 40));
    }
    expect(served).toBeGreaterThan(0);
    // The other client waited behind the slow one's replies (30 MB at ~2 MB/s), never for ever.
    expect(worst).toBeLessThan(25_000);
    slow.destroy();
    c.close();
    await proxy.stop();
  }, 60_000);
});
