// SocketWriter (src/workers/socket-writer.ts): bytes arrive whole and in order, the pending
// count returns to 0 with one drain call, in both the direct (below Node's stream) and the
// socket.write() modes.
import { describe, it, expect } from "vitest";
import net from "node:net";
import { SocketWriter, DIRECT_WRITES } from "../../src/workers/socket-writer.js";

async function pair(): Promise<{ client: net.Socket; server: net.Socket; close: () => void }> {
  const srv = net.createServer();
  await new Promise<void>((r) => srv.listen(0, "127.0.0.1", r));
  const accepted = new Promise<net.Socket>((r) => srv.once("connection", r));
  const client = net.connect((srv.address() as net.AddressInfo).port, "127.0.0.1");
  await new Promise<void>((r) => client.once("connect", () => r()));
  const server = await accepted;
  client.on("error", () => {});
  server.on("error", () => {});
  return { client, server, close: () => { client.destroy(); server.destroy(); srv.close(); } };
}

describe("SocketWriter", () => {
  it("uses the direct path in this Node", () => {
    expect(DIRECT_WRITES).toBe(true);
  });

  for (const direct of [true, false]) {
    it(`${direct ? "direct" : "socket.write()"}: small and large writes arrive in order, pending drains to 0 while the reader is paused and resumed`, async () => {
      const { client, server, close } = await pair();
      let drains = 0;
      const w = new SocketWriter(client, () => drains++, direct);
      // Bytes with a running pattern, some writes far larger than the socket buffers.
      const parts: Buffer[] = [];
      let seq = 0;
      for (const size of [10, 100, 3000, 1 << 20, 7, 5 << 20, 64 * 1024, 1]) {
        const b = Buffer.alloc(size);
        for (let i = 0; i < size; i++) b[i] = seq++ & 0xff;
        parts.push(b);
      }
      server.pause(); // nothing is read at first: large writes must wait
      for (const p of parts) expect(w.write(p)).toBe(true);
      const total = parts.reduce((n, p) => n + p.length, 0);
      expect(w.sent).toBe(total);
      expect(w.pending).toBeGreaterThan(0);
      expect(w.taken).toBe(total - w.pending);
      const got: Buffer[] = [];
      let n = 0;
      const done = new Promise<void>((r) => server.on("data", (d: Buffer) => {
        got.push(d);
        n += d.length;
        if (n >= total) r();
      }));
      server.resume();
      await done;
      await new Promise((r) => setTimeout(r, 50));
      expect(w.pending).toBe(0);
      expect(w.taken).toBe(total);
      expect(drains).toBeGreaterThanOrEqual(1);
      const all = Buffer.concat(got);
      expect(all.length).toBe(total);
      for (let i = 0; i < total; i++) if (all[i] !== (i & 0xff)) throw new Error(`byte ${i} is ${all[i]}`);
      close();
    }, 20_000);

    it(`${direct ? "direct" : "socket.write()"}: a write to a closed peer reports false or is dropped, never throws`, async () => {
      const { client, server, close } = await pair();
      const w = new SocketWriter(client, () => {}, direct);
      server.destroy();
      await new Promise((r) => setTimeout(r, 50));
      for (let i = 0; i < 50; i++) w.write(Buffer.alloc(64 * 1024));
      await new Promise<void>((r) => (client.destroyed ? r() : client.once("close", () => r())));
      expect(w.write(Buffer.from("x"))).toBe(false);
      close();
    }, 20_000);
  }
});
