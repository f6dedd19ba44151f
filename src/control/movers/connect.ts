// How the control plane reaches group servers.
//
// STAND-IN: the lead's src/control/redis-client.ts (RedisClient.connect) is the real client;
// until it lands this file carries the smallest RESP client the dashboard needs, with the same
// surface (call / callBuffer / close; -ERR rejects with RedisReplyError). Once redis-client.ts
// is in the tree, `defaultConnect` becomes `(addr, opts) => RedisClient.connect(addr, opts)`
// and everything below it goes.
import net from "node:net";
import type { RedisConn, RedisConnectOptions, RedisConnector } from "./mover.js";
import { splitAddr } from "./mover.js";

export class RedisReplyError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "RedisReplyError";
  }
}

type Arg = string | number | Buffer;

interface Waiter {
  buffers: boolean;
  resolve: (v: unknown) => void;
  reject: (e: Error) => void;
}

class MiniClient implements RedisConn {
  private buf: Buffer = Buffer.alloc(0);
  private readonly waiting: Waiter[] = [];
  private failed?: Error;

  constructor(private readonly sock: net.Socket, private readonly timeoutMs: number) {
    sock.on("data", (d: Buffer) => this.onData(d));
    sock.on("error", (e) => this.fail(e));
    sock.on("close", () => this.fail(new Error("connection closed")));
    // One idle timer per connection: a reply overdue by timeoutMs fails every waiting call.
    sock.setTimeout(timeoutMs, () => {
      if (this.waiting.length) this.fail(new Error(`timeout after ${this.timeoutMs} ms`));
    });
  }

  call(...args: Arg[]): Promise<unknown> {
    return this.send(args, false);
  }

  callBuffer(...args: Arg[]): Promise<unknown> {
    return this.send(args, true);
  }

  close(): void {
    this.sock.destroy();
  }

  private send(args: Arg[], buffers: boolean): Promise<unknown> {
    if (this.failed) return Promise.reject(this.failed);
    const parts: Buffer[] = [Buffer.from(`*${args.length}\r\n`)];
    for (const a of args) {
      const b = Buffer.isBuffer(a) ? a : Buffer.from(String(a));
      parts.push(Buffer.from(`$${b.length}\r\n`), b, Buffer.from("\r\n"));
    }
    return new Promise((resolve, reject) => {
      this.waiting.push({ buffers, resolve, reject });
      this.sock.write(Buffer.concat(parts));
    });
  }

  private fail(e: Error): void {
    this.failed ??= e;
    for (const w of this.waiting.splice(0)) w.reject(e);
    this.sock.destroy();
  }

  private onData(d: Buffer): void {
    this.buf = this.buf.length ? Buffer.concat([this.buf, d]) : d;
    for (;;) {
      const w = this.waiting[0];
      if (!w) return;
      const r = parseReply(this.buf, 0, w.buffers);
      if (!r) return;
      this.buf = this.buf.subarray(r.end);
      this.waiting.shift();
      if (r.value instanceof RedisReplyError) w.reject(r.value);
      else w.resolve(r.value);
    }
  }
}

/** Parses one RESP2 reply at pos; undefined when incomplete. */
function parseReply(buf: Buffer, pos: number, buffers: boolean): { value: unknown; end: number } | undefined {
  const eol = buf.indexOf("\r\n", pos);
  if (eol < 0) return undefined;
  const line = buf.toString("utf8", pos + 1, eol);
  switch (buf[pos]) {
    case 0x2b: // +
      return { value: line, end: eol + 2 };
    case 0x2d: // -
      return { value: new RedisReplyError(line), end: eol + 2 };
    case 0x3a: // :
      return { value: Number(line), end: eol + 2 };
    case 0x24: { // $
      const n = Number(line);
      if (n < 0) return { value: null, end: eol + 2 };
      if (buf.length < eol + 2 + n + 2) return undefined;
      const b = buf.subarray(eol + 2, eol + 2 + n);
      return { value: buffers ? Buffer.from(b) : b.toString("utf8"), end: eol + 2 + n + 2 };
    }
    case 0x2a: { // *
      const n = Number(line);
      if (n < 0) return { value: null, end: eol + 2 };
      const out: unknown[] = [];
      let p = eol + 2;
      for (let i = 0; i < n; i++) {
        const r = parseReply(buf, p, buffers);
        if (!r) return undefined;
        out.push(r.value);
        p = r.end;
      }
      return { value: out, end: p };
    }
    default:
      throw new Error(`bad RESP reply byte ${buf[pos]}`);
  }
}

async function miniConnect(addr: string, opts: RedisConnectOptions = {}): Promise<RedisConn> {
  const { host, port } = splitAddr(addr);
  const timeoutMs = opts.timeoutMs ?? 5000;
  const sock = await new Promise<net.Socket>((resolve, reject) => {
    const s = net.connect({ host, port });
    const t = setTimeout(() => {
      s.destroy();
      reject(new Error(`dial ${addr}: timeout after ${timeoutMs} ms`));
    }, Math.min(timeoutMs, 5000));
    s.once("connect", () => {
      clearTimeout(t);
      s.setNoDelay(true);
      resolve(s);
    });
    s.once("error", (e) => {
      clearTimeout(t);
      reject(e);
    });
  });
  const c = new MiniClient(sock, timeoutMs);
  try {
    if (opts.password) await c.call("AUTH", opts.password);
    if (opts.db) await c.call("SELECT", opts.db);
  } catch (e) {
    c.close();
    throw e;
  }
  return c;
}

/** The connector the dashboard uses in production. */
export const defaultConnect: RedisConnector = miniConnect;
