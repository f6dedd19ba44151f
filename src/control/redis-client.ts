// A small promise-based Redis client for the control plane (dashboard, movers, tools).
// Pipelined: calls are written at once and matched to replies in order. One timer per
// connection: when replies are overdue by timeoutMs, every waiting call fails and the
// connection closes. Replies are framed by the project's ReplyScanner and decoded by
// core/resp-decoder.ts.
import net from "node:net";
import { ReplyScanner, ScanStatus } from "../core/resp-scanner.js";
import { ChunkReader } from "../workers/chunk-reader.js";
import { encodeCommand } from "../core/resp-encoder.js";
import { decodeReply, RespErrorValue } from "../core/resp-decoder.js";
import { goDialError } from "./go-text.js";

/** A -ERR reply; message is the error text without the leading "-". */
export class RedisReplyError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "RedisReplyError";
  }
}

export interface RedisClientOptions {
  password?: string;
  timeoutMs?: number;
  db?: number;
}

type Arg = string | number | Buffer;

interface Waiter {
  buffers: boolean;
  resolve: (v: unknown) => void;
  reject: (e: Error) => void;
}

export class RedisClient {
  private readonly reader = new ChunkReader(new ReplyScanner(), 1 << 30);
  private readonly waiting: Waiter[] = [];
  private head = 0;
  private failed: Error | null = null;
  private corked = false;
  private readonly uncork = (): void => {
    this.corked = false;
    this.sock.uncork();
  };

  private constructor(private readonly sock: net.Socket, private readonly timeoutMs: number) {
    sock.on("data", (d: Buffer) => this.onData(d));
    sock.on("error", (e) => this.fail(e));
    sock.on("close", () => this.fail(new Error("connection closed")));
    sock.setTimeout(timeoutMs, () => {
      if (this.waiting.length > this.head) this.fail(new Error(`no reply within ${this.timeoutMs} ms`));
    });
  }

  /** Connects (bounded by timeoutMs), then AUTH and SELECT when asked. */
  static async connect(addr: string, opts: RedisClientOptions = {}): Promise<RedisClient> {
    const i = addr.lastIndexOf(":");
    const host = addr.slice(0, i).replace(/^\[|\]$/g, "");
    const port = Number(addr.slice(i + 1));
    const timeoutMs = opts.timeoutMs ?? 5000;
    const sock = await new Promise<net.Socket>((resolve, reject) => {
      const s = net.connect({ host, port });
      const t = setTimeout(() => {
        s.destroy();
        reject(new Error(`dial tcp ${addr}: i/o timeout`));
      }, timeoutMs);
      s.once("connect", () => {
        clearTimeout(t);
        s.setNoDelay(true);
        resolve(s);
      });
      s.once("error", (e) => {
        clearTimeout(t);
        // Go's words, as codis-dashboard reports an unreachable server.
        reject(new Error(goDialError(addr, e), { cause: e }));
      });
    });
    const c = new RedisClient(sock, timeoutMs);
    try {
      if (opts.password) await c.call("AUTH", opts.password);
      if (opts.db) await c.call("SELECT", opts.db);
    } catch (e) {
      c.close();
      throw e;
    }
    return c;
  }

  /** Runs a command; bulk strings come back as UTF-8 strings. Rejects on -ERR. */
  call(...args: Arg[]): Promise<unknown> {
    return this.send(args, false);
  }

  /** Like call, with bulk strings as Buffers (for DUMP payloads and binary keys). */
  callBuffer(...args: Arg[]): Promise<unknown> {
    return this.send(args, true);
  }

  close(): void {
    this.sock.destroy();
  }

  private send(args: Arg[], buffers: boolean): Promise<unknown> {
    if (this.failed) return Promise.reject(this.failed);
    return new Promise((resolve, reject) => {
      this.waiting.push({ buffers, resolve, reject });
      // Commands sent in one tick (a caller's pipeline) leave in one write.
      if (!this.corked) {
        this.corked = true;
        this.sock.cork();
        process.nextTick(this.uncork);
      }
      this.sock.write(encodeCommand(args));
    });
  }

  private fail(e: Error): void {
    this.failed ??= e;
    const left = this.waiting.splice(this.head);
    this.waiting.length = 0;
    this.head = 0;
    for (const w of left) w.reject(e);
    this.sock.destroy();
  }

  private onData(d: Buffer): void {
    const reader = this.reader;
    reader.push(d);
    for (;;) {
      const st = reader.next();
      if (st === ScanStatus.Incomplete) return;
      if (st === ScanStatus.Error) {
        this.fail(new Error(`bad reply: ${reader.scanner.error}`));
        return;
      }
      const sc = reader.scanner;
      if (sc.push) continue;
      const w = this.waiting[this.head];
      if (!w) {
        this.fail(new Error("reply without a request"));
        return;
      }
      this.waiting[this.head++] = undefined as unknown as Waiter;
      if (this.head === this.waiting.length) {
        this.waiting.length = 0;
        this.head = 0;
      }
      const { value } = decodeReply(reader.buf, sc.replyStart, w.buffers);
      if (value instanceof RespErrorValue) w.reject(new RedisReplyError(value.message));
      else w.resolve(value);
    }
  }
}
