// `node dist/bench/floor-proxy.js --listen HOST:PORT --backend HOST:PORT`: the least a Node
// proxy can do, as a bench target ("node-floor", `npm run bench -- --node-floor`). It shows how
// far slotway is from what Node itself allows on the machine of the run.
//
// One thread, one backend connection shared by every client, no slot routing, no command
// table, no stats, no timeouts, no limits: a client's requests are framed (RequestScanner),
// forwarded as the client's own bytes, and each backend reply (ReplyScanner) goes to the client
// at the head of the connection's FIFO. Every socket is written at most once per event-loop turn
// (in the check phase), with the same read and write paths slotway uses (`onread` into slabs,
// SocketWriter below Node's stream), so the difference to slotway is slotway's own work.
// MGET goes whole to the one backend (every key is on both bench backends), so on that load the
// floor does no split or merge at all.
//
// Switches, for measuring one mechanism at a time (all off by default):
//   --thread         run the proxy in a worker thread (the main thread idles), as slotway does
//   --direct         a lone request or reply (nothing in flight beside it) is written at once
//   --stream-writes  socket.write() instead of SocketWriter
//
// Not a proxy to use: a client that floods it is not bounded, and a backend failure ends it.
import net from "node:net";
import { Worker, isMainThread, workerData } from "node:worker_threads";
import { fileURLToPath } from "node:url";
import { ChunkReader } from "../src/workers/chunk-reader.js";
import { ReadSlab } from "../src/workers/read-slab.js";
import { SocketWriter } from "../src/workers/socket-writer.js";
import { RequestScanner, ReplyScanner, ScanStatus } from "../src/core/resp-scanner.js";
import { copyRange } from "../src/core/bytes.js";

interface Opts {
  listenHost: string;
  listenPort: number;
  backendHost: string;
  backendPort: number;
  thread: boolean;
  direct: boolean;
  streamWrites: boolean;
}

function parse(argv: string[]): Opts {
  const o: Opts = { listenHost: "127.0.0.1", listenPort: 0, backendHost: "127.0.0.1", backendPort: 0, thread: false, direct: false, streamWrites: false };
  const hostPort = (s: string | undefined, what: string): [string, number] => {
    const i = s?.lastIndexOf(":") ?? -1;
    const port = Number(s?.slice(i + 1));
    if (s === undefined || i < 0 || !(port > 0)) throw new Error(`${what} needs HOST:PORT, got ${s ?? "nothing"}`);
    return [s.slice(0, i), port];
  };
  for (let i = 0; i < argv.length; i++) {
    switch (argv[i]) {
      case "--listen": [o.listenHost, o.listenPort] = hostPort(argv[++i], "--listen"); break;
      case "--backend": [o.backendHost, o.backendPort] = hostPort(argv[++i], "--backend"); break;
      case "--thread": o.thread = true; break;
      case "--direct": o.direct = true; break;
      case "--stream-writes": o.streamWrites = true; break;
      default: throw new Error(`unknown option ${argv[i]}`);
    }
  }
  if (!o.listenPort || !o.backendPort) throw new Error("usage: floor-proxy --listen HOST:PORT --backend HOST:PORT [--thread] [--direct] [--stream-writes]");
  return o;
}

interface Dirty {
  dirty: boolean;
  flush(): void;
}

const EMPTY = Buffer.alloc(0);

function serve(o: Opts): void {
  const useWriter = !o.streamWrites;
  // The per-turn flush: backend first (requests leave as early as possible), then clients.
  let toFlush: Dirty[] = [];
  let scheduled = false;
  const flushAll = (): void => {
    scheduled = false;
    const list = toFlush;
    toFlush = [];
    for (let i = 0; i < list.length; i++) {
      list[i]!.dirty = false;
      list[i]!.flush();
    }
  };
  const mark = (d: Dirty): void => {
    if (d.dirty) return;
    d.dirty = true;
    toFlush.push(d);
    if (!scheduled) {
      scheduled = true;
      setImmediate(flushAll);
    }
  };

  /** Byte ranges gathered for one write: runs of contiguous ranges of one buffer stay one range. */
  class Gather {
    bufs: Buffer[] = [];
    starts: number[] = [];
    ends: number[] = [];
    n = 0;
    bytes = 0;
    add(buf: Buffer, start: number, end: number): void {
      const n = this.n;
      if (n > 0 && this.bufs[n - 1] === buf && this.ends[n - 1] === start) this.ends[n - 1] = end;
      else {
        this.bufs[n] = buf;
        this.starts[n] = start;
        this.ends[n] = end;
        this.n = n + 1;
      }
      this.bytes += end - start;
    }
    take(): Buffer {
      const n = this.n;
      let out: Buffer;
      if (n === 1) out = this.bufs[0]!.subarray(this.starts[0], this.ends[0]);
      else {
        out = Buffer.allocUnsafe(this.bytes);
        let p = 0;
        for (let i = 0; i < n; i++) p += copyRange(this.bufs[i]!, this.starts[i]!, this.ends[i]!, out, p);
      }
      for (let i = 0; i < n; i++) this.bufs[i] = EMPTY;
      this.n = 0;
      this.bytes = 0;
      return out;
    }
  }

  /** A FIFO of clients, one entry per request in flight on the backend connection. */
  class Fifo {
    items: (Client | undefined)[] = new Array(1024).fill(undefined);
    head = 0;
    count = 0;
    push(c: Client): void {
      if (this.count === this.items.length) {
        const next = new Array<Client | undefined>(this.items.length * 2).fill(undefined);
        for (let i = 0; i < this.count; i++) next[i] = this.items[(this.head + i) % this.items.length];
        this.items = next;
        this.head = 0;
      }
      this.items[(this.head + this.count) % this.items.length] = c;
      this.count++;
    }
    shift(): Client | undefined {
      if (this.count === 0) return undefined;
      const c = this.items[this.head];
      this.items[this.head] = undefined;
      this.head = (this.head + 1) % this.items.length;
      this.count--;
      return c;
    }
  }

  class Backend implements Dirty {
    dirty = false;
    readonly fifo = new Fifo();
    readonly out = new Gather();
    readonly reader = new ChunkReader(new ReplyScanner(), 1 << 30);
    readonly socket: net.Socket;
    readonly writer: SocketWriter;
    constructor() {
      const slab = new ReadSlab(64 * 1024, 16 * 1024);
      this.socket = net.connect({
        host: o.backendHost,
        port: o.backendPort,
        noDelay: true,
        onread: {
          buffer: slab.next,
          callback: (n: number, buf: Uint8Array): boolean => {
            slab.consumed(n);
            this.onData(buf as Buffer, n);
            return true;
          },
        },
      });
      this.socket.on("error", (e) => {
        console.error(`floor-proxy: backend ${o.backendHost}:${o.backendPort}: ${e.message}`);
        process.exit(1);
      });
      this.socket.on("close", () => process.exit(1));
      this.writer = new SocketWriter(this.socket, () => {}, useWriter);
    }
    send(buf: Buffer, start: number, end: number, c: Client): void {
      this.fifo.push(c);
      this.out.add(buf, start, end);
      if (o.direct && this.fifo.count === 1 && !this.dirty) this.flush();
      else mark(this);
    }
    flush(): void {
      if (this.out.n > 0) this.writer.write(this.out.take());
    }
    private onData(chunk: Buffer, n: number): void {
      const r = this.reader;
      const sc = r.scanner;
      r.push(chunk, n);
      for (;;) {
        const st = r.next();
        if (st === ScanStatus.Incomplete) return;
        if (st === ScanStatus.Error) throw new Error(`floor-proxy: bad reply: ${sc.error}`);
        if (sc.push) continue;
        const c = this.fifo.shift();
        if (c !== undefined && !c.closed) c.reply(r.buf, sc.replyStart, sc.next);
      }
    }
  }

  class Client implements Dirty {
    dirty = false;
    closed = false;
    inflight = 0;
    readonly out = new Gather();
    readonly reader = new ChunkReader(new RequestScanner(), 1 << 30);
    readonly socket: net.Socket;
    readonly writer: SocketWriter;
    constructor(handle: unknown) {
      const slab = new ReadSlab(32 * 1024, 4096);
      const opts = {
        handle, readable: true, writable: true,
        onread: {
          buffer: slab.next,
          callback: (n: number, buf: Uint8Array): boolean => {
            slab.consumed(n);
            this.onData(buf as Buffer, n);
            return true;
          },
        },
      };
      this.socket = new net.Socket(opts as net.SocketConstructorOpts);
      this.socket.setNoDelay(true);
      this.socket.on("error", () => {});
      this.socket.on("close", () => (this.closed = true));
      this.writer = new SocketWriter(this.socket, () => {}, useWriter);
      this.socket.resume();
    }
    private onData(chunk: Buffer, n: number): void {
      const r = this.reader;
      const sc = r.scanner;
      r.push(chunk, n);
      for (;;) {
        const st = r.next();
        if (st === ScanStatus.Incomplete) return;
        if (st === ScanStatus.Error) {
          this.socket.destroy();
          return;
        }
        this.inflight++;
        if (sc.inline) backend.send(sc.inlineBuf!, 0, sc.inlineBuf!.length, this);
        else backend.send(r.buf, sc.reqStart, sc.next, this);
      }
    }
    reply(buf: Buffer, start: number, end: number): void {
      this.out.add(buf, start, end);
      this.inflight--;
      if (o.direct && this.inflight === 0 && !this.dirty) this.flush();
      else mark(this);
    }
    flush(): void {
      if (this.out.n > 0 && !this.closed) this.writer.write(this.out.take());
    }
  }

  const backend = new Backend();
  const server = net.createServer({ noDelay: true, pauseOnConnect: true }, (socket) => {
    // Read with `onread`, which net.Server cannot set up: take the accepted handle over.
    const holder = socket as unknown as { _handle: unknown };
    const handle = holder._handle;
    holder._handle = null;
    new Client(handle);
  });
  server.on("error", (e) => {
    console.error(`floor-proxy: listen ${o.listenHost}:${o.listenPort}: ${e.message}`);
    process.exit(1);
  });
  server.listen({ host: o.listenHost, port: o.listenPort }, () => {
    console.error(`floor-proxy listening on ${o.listenHost}:${o.listenPort}, backend ${o.backendHost}:${o.backendPort}` +
      `${o.thread ? ", in a worker thread" : ""}${o.direct ? ", direct writes" : ""}${o.streamWrites ? ", socket.write()" : ""}`);
  });
}

if (isMainThread) {
  const o = parse(process.argv.slice(2));
  if (o.thread) {
    const w = new Worker(fileURLToPath(import.meta.url), { workerData: o });
    w.on("error", (e) => {
      console.error(`floor-proxy worker: ${e.stack ?? e.message}`);
      process.exit(1);
    });
    w.on("exit", (code) => process.exit(code || 1));
  } else {
    serve(o);
  }
} else {
  serve(workerData as Opts);
}
