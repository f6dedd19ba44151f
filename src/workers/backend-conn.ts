// One pipelined connection from a worker to a backend server, for one (database, protocol).
//
//   send() ──▶ out segments ──(flush, once per turn)──▶ SocketWriter ──▶ backend
//                 │
//                 └──▶ FIFO of waiting records ◀── replies matched in order ◀── socket data
//
// Health is explicit state: connecting → ready → down (failed; requests fail at once while
// a reconnect waits with capped exponential backoff and jitter) → connecting ... → closed
// (for good). Requests written to a connection that then breaks fail with
// "backend conn reset"; none is ever re-sent, since the backend may have run it.
//
// Connecting lasts until the connection's own prelude (AUTH product_auth, HELLO 3 for RESP3
// clients, SELECT db; a PING when none of these applies) has been answered without error.
// Client requests sent meanwhile are queued but not written: a request must never run before
// its SELECT or HELLO took effect, and when setup fails (a wrong product_auth) they fail with
// the backend's own answer ("setup failed, WRONGPASS ...") instead of running unauthenticated.
// Only a completed setup counts as success: the backoff starts over, the last error is
// forgotten, and a recovery after failures is logged once. A backend that accepts TCP and then
// refuses AUTH is therefore retried at the capped rate, and logged once per change of state or
// reason, not once per attempt.

import { performance } from "node:perf_hooks";
import net from "node:net";
import { ChunkReader } from "./chunk-reader.js";
import { ReplyScanner, ScanStatus } from "../core/resp-scanner.js";
import { encodeCommand, errorReply } from "../core/resp-encoder.js";
import * as E from "../core/errors.js";
import { Admit, Req, ReqQueue, Transform, type InternalCallback, type ReplySink, type RoomWaiter } from "./request.js";
import { flusher } from "./flusher.js";
import { log } from "../log.js";
import { ReadSlab } from "./read-slab.js";
import { copyRange } from "../core/bytes.js";
import { SocketWriter } from "./socket-writer.js";

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
/**
 * How long a client may keep a connection parked without visible progress while requests of
 * other clients wait behind its reply on that connection; then it is closed (session.ts).
 * Progress is seen when the kernel takes more of the client's bytes, which with multi-MB
 * socket buffers happens in steps of about a third of the send buffer: 2 s lets a client that
 * reads at about 1 MB/s or faster through.
 */
export const PARK_LIMIT = 2000;
const DIRECT = process.env.SLOTWAY_EXP_DIRECT !== "0";

export class BackendConn implements RoomWaiter {
  state = ConnState.Connecting;
  dirty = false;
  /** Time (ms) of the last byte read, or of the moment requests started waiting. */
  lastProgress = 0;
  /** Why the connection last failed (shown in errors while it is down; cleared once up). */
  lastError = "";
  /** Requests completed, and error replies, for stats. */
  replies = 0;
  errors = 0;

  private socket: net.Socket | null = null;
  /** Writes requests to the current socket once it is ready (the prelude uses socket.write). */
  private out: SocketWriter | null = null;
  /** The TCP connection of the current socket is established (the prelude may still run). */
  private tcpUp = false;
  /** Why the current socket is failing (first of fail() or its error event), for onClosed. */
  private sockWhy = "";
  /** Prelude replies still awaited on the current socket. */
  private setupLeft = 0;
  /** Failed attempts since the connection was last ready, and the reason last logged. */
  private failures = 0;
  private loggedWhy = "";
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
  /** The client whose reply the connection waits to hand over (parked), with its progress. */
  private parkedOn: ReplySink | null = null;
  private parkedWritten = 0;
  private parkedAt = 0;
  private readPaused = false;
  /** The current socket's read slab, and whether a reply taken from the last read refers to it. */
  private slab: ReadSlab | null = null;
  private tookReply = false;
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
    // While connecting, segments wait for the prelude to succeed (see the top of the file).
    if (this.state !== ConnState.Ready) return;
    // The only request in flight, from the only client with requests in flight, goes out at
    // once: nothing could share its write, and waiting for the end of the turn costs a pass
    // through the event loop's check phase per request (about a tenth of a request's
    // instructions at one client). With more clients, requests are gathered per turn.
    if (DIRECT && n === 0 && !this.dirty && this.waiting.length === 1 && flusher.busySessions <= 1) this.flush();
    else flusher.conn(this);
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
    if (this.state !== ConnState.Ready) return; // written once the prelude succeeded
    // Ready implies connected and the prelude written, so the writer (which writes below
    // Node's stream, socket-writer.ts) cannot overtake anything.
    const out = this.out!;
    if (n === 1) {
      out.write(bufs[0]!.subarray(starts[0], ends[0]));
    } else if (this.outBytes <= COPY_LIMIT) {
      const all = Buffer.allocUnsafe(this.outBytes);
      let p = 0;
      for (let i = 0; i < n; i++) p += copyRange(bufs[i]!, starts[i]!, ends[i]!, all, p);
      out.write(all);
    } else {
      // Large requests go as they are, in order (libuv queues writes); no copy.
      for (let i = 0; i < n; i++) out.write(bufs[i]!.subarray(starts[i], ends[i]));
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
    this.tcpUp = false;
    this.sockWhy = "";
    const slab = new ReadSlab(64 * 1024, 16 * 1024);
    this.slab = slab;
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
    this.out = new SocketWriter(sock, NOTHING);
    let timer: NodeJS.Timeout | null = null;
    if (this.opts.connectTimeout > 0) {
      timer = setTimeout(() => {
        sock.destroy(new Error(`connect timeout after ${this.opts.connectTimeout} ms`));
      }, this.opts.connectTimeout);
    }
    sock.on("connect", () => {
      if (timer) clearTimeout(timer);
      if (this.socket !== sock) return;
      this.tcpUp = true;
      this.lastProgress = performance.now();
      if (this.opts.keepalive > 0) sock.setKeepAlive(true, this.opts.keepalive);
    });
    sock.on("error", (err: Error) => {
      if (timer) clearTimeout(timer);
      if (this.socket === sock && this.sockWhy === "") this.sockWhy = err.message;
    });
    sock.on("close", () => {
      if (timer) clearTimeout(timer);
      if (this.socket === sock) this.onClosed();
    });
    this.writePrelude(sock);
  }

  /**
   * Writes the setup commands ahead of everything else (net buffers them until the TCP
   * connection is up) and queues their records first in the FIFO, so they are answered first.
   * Requests that arrived while down were failed, so the FIFO is empty here.
   */
  private writePrelude(sock: net.Socket): void {
    const cmds: (string | number)[][] = [];
    if (this.opts.productAuth) cmds.push(["AUTH", this.opts.productAuth]);
    if (this.resp3) cmds.push(["HELLO", "3"]);
    if (this.db !== 0) cmds.push(["SELECT", this.db]);
    // Without setup commands a PING stands in, so that "up" always means "answered".
    if (cmds.length === 0) cmds.push(["PING"]);
    this.setupLeft = cmds.length;
    this.lastProgress = performance.now();
    for (let i = 0; i < cmds.length; i++) {
      const r = new Req();
      r.transform = Transform.Internal;
      r.internal = cmds[i]![0] === "AUTH" ? this.onAuthReply : this.onSetupReply;
      r.owner = INTERNAL_OWNER;
      this.waiting.push(r);
      sock.write(encodeCommand(cmds[i]!));
    }
  }

  /** product_auth goes to every server; one without a password says so, which is no failure. */
  private readonly onAuthReply: InternalCallback = (req, reply, isError) => {
    if (isError && !req.failed && /no password is set|without any password configured/i.test(reply.toString("latin1"))) {
      if (!this.warnedNoPassword) log.warn(`backend ${this.addr} has no password; product_auth is not needed for it`);
      this.warnedNoPassword = true;
      this.onSetupReply(req, reply, false);
      return;
    }
    this.onSetupReply(req, reply, isError);
  };

  private readonly onSetupReply: InternalCallback = (req, reply, isError) => {
    // A setup command the proxy failed itself (the connection broke) says nothing about the
    // backend's answer; the close that failed it already takes care of the connection.
    if (req.failed || this.closing) return;
    if (isError) {
      this.fail(`setup failed, ${reply.toString("utf8").slice(1).trim()}`);
      return;
    }
    if (--this.setupLeft === 0) this.becomeReady();
  };

  private becomeReady(): void {
    this.state = ConnState.Ready;
    if (this.failures > 0) {
      log.info(`backend ${this.addr} db ${this.db}${this.resp3 ? " resp3" : ""}: connected after ${this.failures} failed attempt(s)`);
    } else {
      log.debug(`backend ${this.addr} db ${this.db}${this.resp3 ? " resp3" : ""} connected`);
    }
    this.failures = 0;
    this.loggedWhy = "";
    this.lastError = "";
    this.retryDelay = RETRY_MIN;
    if (this.segCount > 0) flusher.conn(this);
  }

  private onData(chunk: Buffer, n: number): void {
    this.lastProgress = performance.now();
    this.tookReply = false;
    this.reader.push(chunk, n);
    this.takeReplies();
    // Nothing kept a view of this read (every reply in it was discarded, its client gone), and
    // the reader is done with it: the next read may reuse its bytes. A closed client's
    // remaining pipeline of replies then drains through the proxy without allocating.
    if (!this.tookReply && this.parkedOn === null && !this.closing && this.socket !== null) this.slab!.rewind(n);
  }

  /**
   * Matches buffered replies to waiting records, in order, until the buffer runs out or the
   * next reply's client has no room for it (see "Memory per client" in session.ts): then the
   * connection parks, stops reading its socket, and leaves the reply where it is until that
   * client wakes it (roomAvailable).
   */
  private takeReplies(): void {
    const reader = this.reader;
    const sc = reader.scanner;
    for (;;) {
      if (this.closing) return;
      const head = this.waiting.peek();
      if (head !== undefined) {
        const owner = head.owner;
        const a = owner === null ? Admit.Discard : owner.admit(head);
        if (a === Admit.Park) {
          this.park(head);
          return;
        }
        reader.discard = a === Admit.Discard;
      }
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
      // A discarded reply's bytes may sit in the reader's scratch buffer: nothing may keep them.
      if (reader.discard) {
        req.completeWith(DISCARDED, true);
      } else {
        this.tookReply = true;
        req.complete(reader.buf, sc.replyStart, sc.next, isError);
      }
    }
  }

  private park(head: Req): void {
    const sink = head.owner!.sink()!;
    this.parkedOn = sink;
    this.parkedWritten = sink.written;
    this.parkedAt = performance.now();
    sink.waitForRoom(this);
    if (!this.readPaused) {
      this.readPaused = true;
      this.socket!.pause();
    }
  }

  /** The client this connection parked on has room again (or went away). */
  roomAvailable(from: ReplySink): void {
    if (this.parkedOn !== from) return; // a wake-up from an earlier park
    this.parkedOn = null;
    if (this.socket === null) return;
    // Time spent parked is not the backend's silence (backend_recv_timeout).
    this.lastProgress = performance.now();
    this.takeReplies();
    if (this.parkedOn === null && this.readPaused && this.socket !== null) {
      this.readPaused = false;
      this.socket.resume();
    }
  }

  /** Whether a request of some other client (or of the proxy) waits on this connection. */
  private othersWaiting(sink: ReplySink): boolean {
    const q = this.waiting;
    for (let i = 0, n = q.length; i < n; i++) {
      const owner = q.at(i)!.owner;
      if (owner === null || owner.sink() !== sink) return true;
    }
    return false;
  }

  /** Closes the socket because of an error; pending requests fail, a reconnect follows. */
  fail(why: string): void {
    // Only a live socket can fail; a connection already closing or down is handled once,
    // by the close that is under way (a second onClosed would arm a second retry timer).
    const sock = this.socket;
    if (sock === null || this.closing) return;
    this.sockWhy = why;
    this.closing = true;
    sock.destroy();
  }

  private onClosed(): void {
    this.socket = null;
    this.tcpUp = false;
    this.parkedOn = null;
    this.readPaused = false;
    this.reader.reset();
    this.clearSegments();
    const wasReady = this.state === ConnState.Ready;
    if (this.state !== ConnState.Closed) this.state = ConnState.Down;
    const why = this.state === ConnState.Closed ? "connection closed by proxy" : this.sockWhy || "connection closed by backend";
    // The reason belongs to this socket only: a reason from an earlier failure must never be
    // shown for this one (nor once the connection is up again).
    this.lastError = why;
    const pending = this.waiting.drain();
    let clients = 0;
    for (const r of pending) if (r.transform !== Transform.Internal || r.slot >= 0) clients++;
    if (this.state !== ConnState.Closed) {
      const name = `backend ${this.addr} db ${this.db}${this.resp3 ? " resp3" : ""}`;
      const failed = clients > 0 ? `; ${clients} pending request(s) failed` : "";
      // One line per change of state or of reason, not one per attempt.
      if (wasReady) {
        log.warn(`${name}: connection lost, ${why}${failed}; reconnecting`);
      } else if (why !== this.loggedWhy) {
        log.warn(`${name}: cannot connect, ${why}${failed}; retrying every ${RETRY_MIN} ms to ${RETRY_MAX / 1000} s`);
      } else {
        log.debug(`${name}: attempt ${this.failures + 1} failed, ${why}${failed}`);
      }
      this.loggedWhy = why;
      this.failures++;
    }
    // Requests written to a ready connection may have run; the others (queued behind the
    // prelude of a connection that never came up) did not, and the client gets the reason.
    for (const r of pending) {
      this.failOne(r, wasReady ? E.backendReset(this.addr, r.slot) : E.backendFailure(why, this.addr, r.slot));
    }
    if (this.state === ConnState.Closed) return;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    // Capped exponential backoff with ±20% jitter, so a fleet of workers does not reconnect
    // in lockstep. It starts over only when a connection completes its setup.
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
    // A connection that is up at the TCP level but whose setup goes unanswered is timed out too.
    if (this.state !== ConnState.Ready && !(this.state === ConnState.Connecting && this.tcpUp)) return;
    const sink = this.parkedOn;
    if (sink !== null) {
      // Parked: the backend is not silent, a client is slow. It is given PARK_LIMIT without
      // progress, and only when it holds up someone else.
      const written = sink.written;
      if (written !== this.parkedWritten) {
        this.parkedWritten = written;
        this.parkedAt = now;
      } else if (now - this.parkedAt > PARK_LIMIT && this.othersWaiting(sink)) {
        sink.evict(`its unread replies held up backend ${this.addr} for ${Math.round(now - this.parkedAt)} ms while other clients waited`);
      }
      return;
    }
    if (this.waiting.length > 0) {
      if (recvTimeout > 0 && now - this.lastProgress > recvTimeout) {
        this.fail(`no reply within ${recvTimeout} ms`);
      }
    } else if (this.state === ConnState.Ready && pingPeriod > 0 && now - this.lastProgress > pingPeriod) {
      this.sendInternal(["PING"], IGNORE);
    }
  }

  /** Closes for good (the address is no longer used, or the worker stops). */
  close(): void {
    this.state = ConnState.Closed;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    if (this.socket) this.socket.destroy();
    else this.onClosed();
  }
}

const EMPTY = Buffer.alloc(0);
const DISCARDED = errorReply("ERR client gone, reply discarded");
const IGNORE: InternalCallback = () => {};
const NOTHING = (): void => {};
const INTERNAL_OWNER = {
  onReply(req: Req): void {
    req.internal!(req, req.reply!.subarray(req.replyStart, req.replyEnd), req.isError);
  },
  alive: () => true,
  admit: () => Admit.Take,
  sink: () => null,
};
