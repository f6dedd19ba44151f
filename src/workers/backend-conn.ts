// One pipelined connection from a worker to a backend server, for one (database, protocol).
//
//   send() ──▶ out segments ──(flush, once per turn)──▶ socket.write ──▶ backend
//                 │
//                 └──▶ FIFO of waiting records ◀── replies matched in order ◀── socket data
//
// Health is explicit state: connecting → ready → down (failed; requests fail at once while
// a reconnect waits with capped exponential backoff and jitter) → connecting ... → closed
// (for good). Requests written to a connection that then breaks fail with
// "backend conn reset"; none is ever re-sent, since the backend may have run it.
//
// The connection's first requests are its own prelude (AUTH product_auth, HELLO 3 for RESP3
// clients, SELECT db), queued before anything a client sent, so they always run first.

import net from "node:net";
import { ChunkReader } from "./chunk-reader.js";
import { ReplyScanner, ScanStatus } from "../core/resp-scanner.js";
import { encodeCommand, errorReply } from "../core/resp-encoder.js";
import * as E from "../core/errors.js";
import { Req, ReqQueue, Transform, type InternalCallback } from "./request.js";
import { flusher } from "./flusher.js";
import { log } from "../log.js";
import { ReadSlab } from "./read-slab.js";
import { copyRange } from "../core/bytes.js";

export const enum ConnState {
  Connecting = 0,
  Ready = 1,
  Down = 2,
  Closed = 3,
}

export interface BackendOptions {
  productAuth: string;
  /** Connect timeout (ms, 0 = OS default). */
  connectTimeout: number;
  /** TCP keepalive (ms, 0 = off). */
  keepalive: number;
}

/** Outgoing bytes above which a flush writes segments separately instead of copying them. */
const COPY_LIMIT = 256 * 1024;
/** Largest reply the proxy will assemble (guards against a corrupt length). */
const MAX_REPLY = 1024 * 1024 * 1024;
const RETRY_MIN = 50;
const RETRY_MAX = 3000;

export class BackendConn {
  state = ConnState.Connecting;
  dirty = false;
  /** Time (ms) of the last byte read, or of the moment requests started waiting. */
  lastProgress = 0;
  /** Why the connection last failed (shown in errors while it is down). */
  lastError = "";
  /** Requests completed, and error replies, for stats. */
  replies = 0;
  errors = 0;

  private socket: net.Socket | null = null;
  private warnedNoPassword = false;
  /** Set by fail() until the socket's close event: stop matching replies, fail new sends. */
  private closing = false;
  private readonly waiting = new ReqQueue();
  private segBufs: Buffer[] = [];
  private segStarts: number[] = [];
  private segEnds: number[] = [];
  private segCount = 0;
  private outBytes = 0;
  private readonly reader = new ChunkReader(new ReplyScanner(MAX_REPLY), MAX_REPLY);
  private retryDelay = RETRY_MIN;
  private retryTimer: NodeJS.Timeout | null = null;
  private readonly host: string;
  private readonly port: number;

  constructor(
    readonly addr: string,
    readonly db: number,
    readonly resp3: boolean,
    private readonly opts: BackendOptions,
  ) {
    const i = addr.lastIndexOf(":");
    this.host = addr.slice(0, i).replace(/^\[|\]$/g, "");
    this.port = Number(addr.slice(i + 1));
    this.connect();
  }

  /** Requests written and not yet answered. */
  get pending(): number {
    return this.waiting.length;
  }

  /**
   * Queues a request (bytes buf[start, end)) and its record. While the connection is down
   * the record fails at once, naming the backend and the slot.
   */
  send(req: Req, buf: Buffer, start: number, end: number): void {
    if (this.state >= ConnState.Down || this.closing) {
      this.failOne(req, E.backendFailure(this.lastError || "not connected", this.addr, req.slot));
      return;
    }
    if (this.waiting.length === 0) this.lastProgress = performance.now();
    this.waiting.push(req);
    // Requests that were contiguous in the client's buffer stay one segment (one copy or none).
    const n = this.segCount;
    if (n > 0 && this.segBufs[n - 1] === buf && this.segEnds[n - 1] === start) {
      this.segEnds[n - 1] = end;
    } else {
      this.segBufs[n] = buf;
      this.segStarts[n] = start;
      this.segEnds[n] = end;
      this.segCount = n + 1;
    }
    this.outBytes += end - start;
    flusher.conn(this);
  }

  /** Sends a command the proxy itself issues; cb gets the reply bytes. */
  sendInternal(args: (string | number | Buffer)[], cb: InternalCallback, slot = -1): void {
    this.sendInternalRaw(encodeCommand(args), cb, slot);
  }

  /** Like sendInternal, with the command already encoded. */
  sendInternalRaw(bytes: Buffer, cb: InternalCallback, slot = -1): void {
    const r = new Req();
    r.transform = Transform.Internal;
    r.internal = cb;
    r.slot = slot;
    r.owner = INTERNAL_OWNER;
    this.send(r, bytes, 0, bytes.length);
  }

  /** Writes every queued segment in one write (or a corked burst when they are large). */
  flush(): void {
    const n = this.segCount;
    if (n === 0) return;
    const sock = this.socket;
    const bufs = this.segBufs;
    const starts = this.segStarts;
    const ends = this.segEnds;
    if (sock === null || this.state >= ConnState.Down) {
      this.clearSegments();
      return;
    }
    if (n === 1) {
      sock.write(bufs[0]!.subarray(starts[0], ends[0]));
    } else if (this.outBytes <= COPY_LIMIT) {
      const out = Buffer.allocUnsafe(this.outBytes);
      let p = 0;
      for (let i = 0; i < n; i++) p += copyRange(bufs[i]!, starts[i]!, ends[i]!, out, p);
      sock.write(out);
    } else {
      sock.cork();
      for (let i = 0; i < n; i++) sock.write(bufs[i]!.subarray(starts[i], ends[i]));
      sock.uncork();
    }
    this.clearSegments();
  }

  private clearSegments(): void {
    const bufs = this.segBufs;
    for (let i = 0; i < this.segCount; i++) bufs[i] = EMPTY; // let chunks be collected
    this.segCount = 0;
    this.outBytes = 0;
  }

  private connect(): void {
    this.state = ConnState.Connecting;
    this.closing = false;
    const slab = new ReadSlab(64 * 1024, 16 * 1024);
    const sock = net.connect({
      host: this.host,
      port: this.port,
      noDelay: true,
      // Read with `onread` into a slab: no stream machinery, no allocation per read.
      onread: {
        buffer: slab.next,
        callback: (n: number, buf: Uint8Array): boolean => {
          slab.consumed(n);
          if (this.socket === sock) this.onData(buf as Buffer, n);
          return true;
        },
      },
    });
    this.socket = sock;
    let timer: NodeJS.Timeout | null = null;
    if (this.opts.connectTimeout > 0) {
      timer = setTimeout(() => {
        sock.destroy(new Error(`connect timeout after ${this.opts.connectTimeout} ms`));
      }, this.opts.connectTimeout);
    }
    sock.on("connect", () => {
      if (timer) clearTimeout(timer);
      if (this.socket !== sock) return;
      this.state = ConnState.Ready;
      if (this.opts.keepalive > 0) sock.setKeepAlive(true, this.opts.keepalive);
      log.debug(`backend ${this.addr} db ${this.db}${this.resp3 ? " resp3" : ""} connected`);
    });
    sock.on("error", (err: Error) => {
      if (timer) clearTimeout(timer);
      this.lastError = err.message;
    });
    sock.on("close", () => {
      if (timer) clearTimeout(timer);
      if (this.socket === sock) this.onClosed();
    });
    this.sendPrelude();
  }

  private sendPrelude(): void {
    const check: InternalCallback = (req, reply, isError) => {
      // A setup command the proxy failed itself (the connection broke) says nothing about the
      // backend's answer; the close that failed it already takes care of the connection.
      if (isError && !req.failed) {
        const text = reply.toString("utf8").slice(1).trim();
        log.warn(`backend ${this.addr}: connection setup failed: ${text}`);
        this.fail(`setup failed, ${text}`);
      }
    };
    // product_auth is sent to every server; one that needs no password says so, which is
    // not a reason to refuse it (codis would, and a mixed fleet would then be unusable).
    const checkAuth: InternalCallback = (req, reply, isError) => {
      if (isError && !req.failed && /no password is set|without any password configured/i.test(reply.toString("latin1"))) {
        if (!this.warnedNoPassword) log.warn(`backend ${this.addr} has no password; product_auth is not needed for it`);
        this.warnedNoPassword = true;
        return;
      }
      check(req, reply, isError);
    };
    if (this.opts.productAuth) this.sendInternal(["AUTH", this.opts.productAuth], checkAuth);
    if (this.resp3) this.sendInternal(["HELLO", "3"], check);
    if (this.db !== 0) this.sendInternal(["SELECT", this.db], check);
  }

  private onData(chunk: Buffer, n: number): void {
    this.lastProgress = performance.now();
    // The backoff starts over only once the backend has answered: a server that accepts and
    // drops every connection must not be dialled in a tight loop.
    this.retryDelay = RETRY_MIN;
    const reader = this.reader;
    const sc = reader.scanner;
    reader.push(chunk, n);
    for (;;) {
      if (this.closing) return;
      const st = reader.next();
      if (st === ScanStatus.Incomplete) return;
      if (st === ScanStatus.Error) {
        this.fail(reader.tooLarge ? "reply too large" : `bad reply from backend, ${sc.error}`);
        return;
      }
      // RESP3 push frames are out-of-band and answer no request.
      if (sc.push) continue;
      const req = this.waiting.shift();
      if (req === undefined) {
        this.fail("reply without a request (protocol out of sync)");
        return;
      }
      const t = sc.type;
      const isError = t === 0x2d /* - */ || t === 0x21; /* ! */
      this.replies++;
      if (isError) this.errors++;
      req.complete(reader.buf, sc.replyStart, sc.next, isError);
    }
  }

  /** Closes the socket because of an error; pending requests fail, a reconnect follows. */
  fail(why: string): void {
    // Only a live socket can fail; a connection already closing or down is handled once,
    // by the close that is under way (a second onClosed would arm a second retry timer).
    const sock = this.socket;
    if (sock === null || this.closing) return;
    this.lastError = why;
    this.closing = true;
    sock.destroy();
  }

  private onClosed(): void {
    this.socket = null;
    this.reader.reset();
    this.clearSegments();
    const wasReady = this.state === ConnState.Ready;
    if (this.state !== ConnState.Closed) this.state = ConnState.Down;
    const pending = this.waiting.drain();
    const why = this.lastError || "connection closed";
    if (pending.length > 0 || wasReady) {
      log.warn(`backend ${this.addr} db ${this.db}: ${why}; ${pending.length} pending request(s) failed`);
    }
    for (const r of pending) {
      this.failOne(r, wasReady ? E.backendReset(this.addr, r.slot) : E.backendFailure(why, this.addr, r.slot));
    }
    if (this.state === ConnState.Closed) return;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    // Capped exponential backoff with ±20% jitter, so a fleet of workers does not reconnect
    // in lockstep.
    const delay = this.retryDelay * (0.8 + Math.random() * 0.4);
    this.retryDelay = Math.min(this.retryDelay * 2, RETRY_MAX);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      if (this.state === ConnState.Down) this.connect();
    }, delay);
    this.retryTimer.unref();
  }

  private failOne(r: Req, text: string): void {
    r.failed = true;
    this.errors++;
    r.completeWith(errorReply(text), true);
  }

  /**
   * Periodic health check: a connection whose oldest request waited longer than
   * recvTimeout is failed; an idle one is pinged every pingPeriod.
   */
  tick(now: number, recvTimeout: number, pingPeriod: number): void {
    if (this.state !== ConnState.Ready) return;
    if (this.waiting.length > 0) {
      if (recvTimeout > 0 && now - this.lastProgress > recvTimeout) {
        this.fail(`no reply within ${recvTimeout} ms`);
      }
    } else if (pingPeriod > 0 && now - this.lastProgress > pingPeriod) {
      this.sendInternal(["PING"], IGNORE);
    }
  }

  /** Closes for good (the address is no longer used, or the worker stops). */
  close(): void {
    this.state = ConnState.Closed;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.lastError = "connection closed by proxy";
    if (this.socket) this.socket.destroy();
    else this.onClosed();
  }
}

const EMPTY = Buffer.alloc(0);
const IGNORE: InternalCallback = () => {};
const INTERNAL_OWNER = {
  onReply(req: Req): void {
    req.internal!(req, req.reply!.subarray(req.replyStart, req.replyEnd), req.isError);
  },
  alive: () => true,
};
