// One client connection.
//
//   socket data ─▶ ChunkReader(RequestScanner) ─▶ handle() ─┬─ local answer (PING, AUTH, CLIENT, ...)
//                                                           ├─ router.dispatch (keys of one slot)
//                                                           ├─ router.dispatchMulti (split)
//                                                           ├─ blocking.ts (exclusive connection)
//                                                           ├─ transaction.ts (MULTI, WATCH)
//                                                           ├─ pubsub.ts (SUBSCRIBE family)
//                                                           └─ cluster-wide.ts (SCAN, DBSIZE, ...)
//   every request takes its place in the reply FIFO at once; flush() writes the completed
//   prefix of the FIFO in one write per event-loop turn (or at once when the reply answers the
//   only request in flight), so replies leave in request order. Writes go through a
//   SocketWriter (socket-writer.ts), below Node's stream.
//
// Ordering across connections: a blocking command, MULTI and WATCH leave the shared backend
// connections, so they are handled only once every earlier request has been answered, and
// nothing after a blocking command, EXEC, DISCARD or UNWATCH is handled before its reply
// (a pipelined LPUSH then BLPOP must run in that order, as on one Redis connection).
//
// Backpressure: the session stops reading (and leaves unread bytes in place) when its
// unanswered requests reach session_max_pipeline, or when its replies (queued to the socket,
// or completed and waiting in the FIFO) exceed session_send_bufsize; it reads again when the
// FIFO is half drained and the replies are back under the limit.
//
// Memory per client. Stopping to read requests is not enough: requests already sent may have
// large replies (a pipeline of 1000 GETs of a 1 MB value is 30 KB of requests and 1 GB of
// replies). So the bound is enforced where replies enter the proxy: before a backend
// connection takes a reply out of its receive buffer it asks the reply's session (admit());
// a session over session_send_bufsize says Park, and the connection stops there, stops
// reading its socket (TCP backpressure: the backend buffers the rest), and waits until the
// session has room (socket 'drain', a flush, or the session closing). A session thus holds at
// most session_send_bufsize plus one reply. Its FIFO head is always admitted while the socket
// itself is under the limit: replies behind the head cannot be written before it, so refusing
// it could deadlock.
//
// Head-of-line blocking. A backend connection is shared, pipelined, by every client of the
// worker whose keys map to it, and replies come back in request order: while it is parked on
// one slow client, the replies of the others behind it wait too. The proxy cannot read past
// the slow client's replies without holding them (the memory the bound forbids) or dropping
// them (which breaks that client's reply order), and it cannot know a reply's size before it
// asks. So a parked connection waits for the slow client only as long as that client makes
// progress or nobody else is waiting behind it: a client whose socket takes no byte for
// PARK_LIMIT (2 s, backend-conn.ts) while another client's request waits on the connection it
// holds is closed, as Redis closes a client over its output buffer limit, and its remaining
// replies are read past without being kept (ChunkReader.discard). A client that keeps reading
// is not closed for this (session_send_timeout still applies) but holds the others back for
// as long as its pipeline of replies takes; a client that stops reading holds them back for
// about PARK_LIMIT, plus the time to read past what the backend had already sent it.
// (Making a slow client's later requests wait for its earlier replies, or giving it
// connections of its own, would shorten that; neither is done.)

// Imported, not the global: in Node 20 the global `performance` is a lazy accessor whose getter
// runs on every access (a few hundred instructions per performance.now() on the hot path).
import { performance } from "node:perf_hooks";
import net from "node:net";
import { ChunkReader } from "./chunk-reader.js";
import { RequestScanner, ScanStatus } from "../core/resp-scanner.js";
import {
  lookupCommand, lookupSub, UNKNOWN_COMMAND, Kind, KeyMode, SubKind, hasBlockOption, type CommandInfo,
} from "../core/command-table.js";
import { keysSlot, CROSSSLOT, NO_KEYS, SORT_BY_DENIED } from "../core/key-check.js";
import { slotOf, SLOT_COUNT } from "../core/slot.js";
import {
  OK, PONG, bulkReply, errorReply, encodeValue, encodeCommand, encodeFromRanges, type RespInput,
} from "../core/resp-encoder.js";
import { Transaction, routeInTransaction } from "./transaction.js";
import { ClientSubs, type Subscriber } from "./pubsub.js";
import { clientCommand } from "./client-cmd.js";
import * as E from "../core/errors.js";
import { Admit, Req, ReqQueue, Transform, type ReplyOwner, type ReplySink, type RoomWaiter } from "./request.js";
import { flusher } from "./flusher.js";
import { filterScanReply } from "./merge.js";
import type { WorkerContext } from "./context.js";
import { log } from "../log.js";
import { ReadSlab } from "./read-slab.js";
import { copyRange } from "../core/bytes.js";
import { SocketWriter } from "./socket-writer.js";

export class Session implements ReplyOwner, ReplySink, Subscriber {
  dirty = false;
  readonly id: number;
  /** Time (ms) of the last request read, for the idle timeout. */
  lastActive = performance.now();
  /** Bytes the client's kernel took at the last tick, and when that last moved (send timeout). */
  lastWritten = 0;
  lastWriteProgress = performance.now();

  private readonly reader: ChunkReader<RequestScanner>;
  private readonly queue = new ReqQueue();
  db = 0;
  resp3 = false;
  private authed = false;
  /** CLIENT SETNAME / HELLO SETNAME. */
  name = "";
  /** CLIENT SETINFO lib-name / lib-ver. */
  libName = "";
  libVer = "";
  readonly createdAt = Date.now();
  /** Open transaction or watch (transaction.ts), null when none. */
  tx: Transaction | null = null;
  /** Subscriptions (pubsub.ts), made on the first SUBSCRIBE. */
  subs: ClientSubs | null = null;
  /** The request last scanned waits (unhandled) until the FIFO is empty: see ordering above. */
  private heldScan = false;
  /** Set by a HELLO that changes the protocol while earlier requests are pending. */
  private drainBarrier = false;
  private quitting = false;
  private closed = false;
  private readPaused = false;
  /**
   * The reader holds requests not yet handled (a barrier, the held scan, or a limit stopped
   * process()): new chunks wait in the backlog, since the reader holds one chunk at a time.
   */
  private stalled = false;
  private readonly backlog: Buffer[] = [];
  private backlogBytes = 0;
  private t0 = 0;
  /** Bytes of completed replies still in the FIFO (not yet handed to the socket). */
  private held = 0;
  /** Bytes of the FIFO head's reply already handed to the socket (pump()). */
  private headSent = 0;
  /** session_send_bufsize (not reloadable). */
  private readonly sendLimit: number;
  /** Backend connections parked until this session has room for more replies. */
  private parked: RoomWaiter[] | null = null;
  /** Counted in flusher.busySessions (the FIFO is not empty). */
  private busy = false;

  readonly socket: net.Socket;
  /** Every reply goes out through this (socket-writer.ts), never socket.write(). */
  private readonly out: SocketWriter;

  /**
   * Takes over an accepted connection's handle and reads it with `onread` into a slab
   * (see read-slab.ts): no stream machinery and no allocation per read.
   */
  constructor(handle: unknown, private readonly ctx: WorkerContext) {
    const slab = new ReadSlab(32 * 1024, 4096);
    const opts = {
      handle,
      readable: true,
      writable: true,
      onread: {
        buffer: slab.next,
        callback: (n: number, buf: Uint8Array): boolean => {
          slab.consumed(n);
          this.onData(buf as Buffer, n);
          return true;
        },
      },
    };
    const socket = new net.Socket(opts as net.SocketConstructorOpts);
    this.socket = socket;
    this.id = ctx.nextSessionId();
    const c = ctx.config;
    this.reader = new ChunkReader(
      new RequestScanner({ maxArgs: c.session_max_args, maxBulk: c.session_max_bulk_len, maxInline: c.session_max_inline_len }),
      Math.max(c.session_max_bulk_len + 64 * 1024, 1024 * 1024 * 1024),
    );
    this.sendLimit = c.session_send_bufsize;
    this.setAuthed(c.session_auth === "");
    socket.setNoDelay(true);
    if (c.session_keepalive_period > 0) socket.setKeepAlive(true, c.session_keepalive_period);
    this.out = new SocketWriter(socket, () => {
      // A large reply may be half written (pump()).
      if (this.headSent > 0 || this.queue.peek()?.done === true) flusher.session(this);
      this.wakeParked();
      this.maybeResume();
    });
    socket.on("error", () => {}); // the close event follows; errors are normal client churn
    socket.on("close", () => this.onClose());
    socket.resume();
  }

  private setAuthed(v: boolean): void {
    this.authed = v;
    this.reader.scanner.unauthenticated = !v;
  }

  private onData(chunk: Buffer, n: number): void {
    this.t0 = performance.now();
    this.lastActive = this.t0;
    if (this.stalled) {
      // Requests wait behind a barrier (a blocked command...): keep reading, so that a client
      // that leaves is noticed at once, but only up to a bound.
      this.backlog.push(chunk.subarray(0, n));
      this.backlogBytes += n;
      if (this.backlogBytes > BACKLOG_MAX) this.pauseReading();
      return;
    }
    this.reader.push(chunk, n);
    this.process();
  }

  /** Handles buffered requests until input runs out or a limit says stop. */
  private process(): void {
    const reader = this.reader;
    const sc = reader.scanner;
    const max = this.ctx.config.session_max_pipeline;
    this.stalled = true; // until the reader runs dry
    while (!this.quitting && !this.closed) {
      if (this.queue.length >= max || this.held + this.out.pending > this.sendLimit) {
        this.pauseReading();
        return;
      }
      if (this.drainBarrier) {
        // After a protocol switch, requests go to other backend connections (RESP2 and RESP3
        // ones are separate): wait until everything sent before has been answered, so that
        // commands on one key keep their order.
        if (this.queue.length > 0) return;
        this.drainBarrier = false;
      }
      if (!this.heldScan) {
        const st = reader.next();
        if (st === ScanStatus.Incomplete) {
          const more = this.backlog.shift();
          if (more === undefined) {
            this.stalled = false;
            break;
          }
          this.backlogBytes -= more.length;
          reader.push(more, more.length);
          continue;
        }
        if (st === ScanStatus.Error) {
          this.protocolError(reader.tooLarge ? "Protocol error: request too large" : sc.error);
          return;
        }
      }
      const inline = sc.inline;
      const buf = inline ? sc.inlineBuf! : reader.buf;
      const args = sc.offsets;
      const cmd = lookupCommand(buf, args[0]!, args[1]!) ?? UNKNOWN_COMMAND;
      if (this.queue.length > 0 && this.leavesSharedConns(cmd, buf, args, sc.argc)) {
        this.heldScan = true;
        return;
      }
      this.heldScan = false;
      if (inline) this.handle(cmd, buf, 0, buf.length, args, sc.argc);
      else this.handle(cmd, buf, sc.reqStart, sc.next, args, sc.argc);
    }
    if (this.readPaused && !this.quitting) this.maybeResume();
  }

  private pauseReading(): void {
    if (!this.readPaused) {
      this.readPaused = true;
      this.socket.pause();
    }
  }

  /** Reads again once the FIFO is half drained and the socket took its queued replies. */
  private maybeResume(): void {
    if ((!this.readPaused && !this.stalled) || this.closed) return;
    const c = this.ctx.config;
    if (this.queue.length > c.session_max_pipeline / 2) return;
    if ((this.drainBarrier || this.heldScan) && this.queue.length > 0) return;
    if (this.held + this.out.pending > this.sendLimit) return;
    this.readPaused = false;
    this.process();
    if (!this.readPaused && !this.closed) this.socket.resume();
  }

  alive(): boolean {
    return !this.closed;
  }

  /** A request's reply arrived; only the head of the FIFO can unblock a write. */
  onReply(req: Req): void {
    if (this.closed) return; // nobody will write it: do not keep it
    if (req.transform === Transform.SlotsScan) this.applyScanFilter(req);
    this.held += req.replyEnd - req.replyStart;
    if (req !== this.queue.peek()) return;
    // The only request in flight is answered at once (nothing else could share the write);
    // with a pipeline, replies are gathered for one write per turn.
    if (DIRECT && this.queue.length === 1 && !this.dirty && this.parked === null) this.flush();
    else flusher.session(this);
  }

  // ------------------------------------------------------------------------------------
  // Memory per client (see the top of the file)

  admit(req: Req): Admit {
    if (this.closed) return Admit.Discard;
    const queued = this.out.pending;
    if (queued + this.held <= this.sendLimit) return Admit.Take;
    return req === this.queue.peek() && queued <= this.sendLimit ? Admit.Take : Admit.Park;
  }

  sink(): ReplySink {
    return this;
  }

  waitForRoom(c: RoomWaiter): void {
    if (this.parked === null) this.parked = [c];
    else if (!this.parked.includes(c)) this.parked.push(c);
  }

  get written(): number {
    return this.out.taken;
  }

  evict(why: string): void {
    if (this.closed) return;
    log.info(`session ${this.id} from ${this.socket.remoteAddress}: closed, ${why}`);
    this.close();
  }

  private setBusy(v: boolean): void {
    this.busy = v;
    flusher.busySessions += v ? 1 : -1;
  }

  /** Lets parked connections try again (each parks anew if there is still no room). */
  private wakeParked(): void {
    const list = this.parked;
    if (list === null) return;
    this.parked = null;
    for (let i = 0; i < list.length; i++) list[i]!.roomAvailable(this);
  }

  /** Writes the completed prefix of the FIFO in one write (large replies: see pump()). */
  flush(): void {
    const q = this.queue;
    if (this.closed) return;
    let n = 0;
    let total = -this.headSent;
    for (;;) {
      const r = q.at(n);
      if (r === undefined || !r.done) break;
      total += r.replyEnd - r.replyStart;
      n++;
    }
    if (n === 0) return;
    const stats = this.ctx.stats;
    const now = performance.now();
    let breakOnFailure = false;
    if (total > COPY_LIMIT || this.headSent > 0) {
      breakOnFailure = this.pump(now);
    } else if (n === 1) {
      this.held -= total;
      const r = q.shift()!;
      stats.record(r, now);
      breakOnFailure = r.failed;
      // A reply is a view of a backend's 64 KiB receive buffer. If it will wait in the socket's
      // queue (the client is not keeping up), a small one is copied so that it does not keep
      // the whole receive buffer alive.
      if (total <= SMALL_REPLY && this.out.pending > 0) this.out.write(Buffer.from(r.reply!.subarray(r.replyStart, r.replyEnd)));
      else this.out.write(r.reply!.subarray(r.replyStart, r.replyEnd));
    } else {
      this.held -= total;
      const out = Buffer.allocUnsafe(total);
      let p = 0;
      // Replies that follow each other in one backend read are copied as one run: each copy
      // call costs a typed-array view and accessor calls inside Buffer#copy.
      let runBuf: Buffer | null = null;
      let runStart = 0;
      let runEnd = 0;
      for (let i = 0; i < n; i++) {
        const r = q.shift()!;
        stats.record(r, now);
        if (r.failed) breakOnFailure = true;
        const b = r.reply!;
        if (b === runBuf && r.replyStart === runEnd) {
          runEnd = r.replyEnd;
          continue;
        }
        if (runBuf !== null) p += copyRange(runBuf, runStart, runEnd, out, p);
        runBuf = b;
        runStart = r.replyStart;
        runEnd = r.replyEnd;
      }
      if (runBuf !== null) copyRange(runBuf, runStart, runEnd, out, p);
      this.out.write(out);
    }
    if (this.busy && q.length === 0) this.setBusy(false);
    if (breakOnFailure && this.ctx.config.session_break_on_failure) {
      this.close();
      return;
    }
    if (this.quitting && q.length === 0) {
      this.socket.end();
      return;
    }
    // Connections parked on this session look again: the head may have changed, or room come.
    if (this.parked !== null) this.wakeParked();
    if (this.readPaused || this.stalled) {
      if (this.held + this.out.pending > this.sendLimit) return; // wait for drain
      this.maybeResume();
    } else if (this.held + this.out.pending > this.sendLimit) {
      this.pauseReading();
    }
  }

  /**
   * Large replies go out as views of their buffers (no copy), at most SLICE bytes ahead of
   * what the kernel has taken; the rest stays in the FIFO (counted in held) until 'drain'.
   * A write the kernel takes at once completes at once, so a fast client gets slice after
   * slice in this one call; a slow client shows its progress slice by slice, which is what
   * PARK_LIMIT watches (the writer's `taken` moves only when a slice is taken whole).
   * Returns whether a reply written whole was a proxy failure (session_break_on_failure).
   */
  private pump(now: number): boolean {
    const q = this.queue;
    const out = this.out;
    let failed = false;
    for (;;) {
      const r = q.peek();
      if (r === undefined || !r.done) return failed;
      if (out.pending >= SLICE) return failed; // the writer's drain calls flush again
      const from = r.replyStart + this.headSent;
      const len = Math.min(r.replyEnd - from, SLICE);
      if (!out.write(r.reply!.subarray(from, from + len))) return failed; // the socket is gone
      this.held -= len;
      if (from + len < r.replyEnd) {
        this.headSent += len;
        continue;
      }
      q.shift();
      this.headSent = 0;
      this.ctx.stats.record(r, now);
      if (r.failed) failed = true;
    }
  }

  // ------------------------------------------------------------------------------------
  // Requests

  /**
   * True for a command that runs on a connection of its own (a blocking command, MULTI,
   * WATCH): it must wait until the FIFO is empty so that it runs after what came before.
   */
  private leavesSharedConns(cmd: CommandInfo, buf: Buffer, args: Int32Array, argc: number): boolean {
    switch (cmd.kind) {
      case Kind.Blocking:
        return this.tx === null || !this.tx.inMulti;
      case Kind.XRead:
        return (this.tx === null || !this.tx.inMulti)
          && hasBlockOption(argc, (i) => buf.subarray(args[2 * i], args[2 * i + 1]));
      case Kind.Multi:
      case Kind.Watch:
        return this.tx === null || !this.tx.inMulti;
      default:
        return false;
    }
  }

  private handle(cmd: CommandInfo, buf: Buffer, start: number, end: number, args: Int32Array, argc: number): void {
    const req = new Req();
    req.cmd = cmd;
    req.owner = this;
    req.db = this.db;
    req.resp3 = this.resp3;
    req.t0 = this.t0;
    this.queue.push(req);
    if (!this.busy) this.setBusy(true);

    // Redis's order: arity (of the command, then of its subcommand), then authentication.
    if (argc < cmd.minArgs || argc > cmd.maxArgs) {
      if (cmd.kind === Kind.Exec) {
        // Redis aborts the transaction on a malformed EXEC, and says so.
        this.tx?.abandon();
        this.tx = null;
        return this.fail(req, E.execAborted(E.wrongArgs(cmd.errName)));
      }
      return this.queueError(req, E.wrongArgs(cmd.errName));
    }
    if (cmd.subs !== null && argc >= 2) {
      const sub = lookupSub(cmd, buf, args[2]!, args[3]!);
      if (sub !== undefined && (argc < sub.minArgs || argc > sub.maxArgs)) return this.queueError(req, E.wrongArgs(sub.errName));
    }
    if (!this.authed && cmd.kind !== Kind.Auth && cmd.kind !== Kind.Quit && cmd.kind !== Kind.Hello) {
      req.completeWith(E.NOAUTH_REPLY, true);
      return;
    }
    if (this.subs !== null && !this.resp3 && this.subs.total > 0) {
      const k = cmd.kind;
      if (k !== Kind.Subscribe && k !== Kind.Unsubscribe && k !== Kind.Ping && k !== Kind.Quit && k !== Kind.Reset) {
        return this.fail(req, E.subscribedContext(cmd.errName));
      }
    }
    if (this.tx !== null && routeInTransaction(this.tx, this, req, cmd, buf, start, end, args, argc)) return;
    switch (cmd.kind) {
      case Kind.Forward: {
        let slot: number;
        if (cmd.keyMode === KeyMode.Single) {
          const ri = cmd.routeIndex;
          slot = ri < argc ? slotOf(buf, args[2 * ri]!, args[2 * ri + 1]!) : NO_KEYS;
        } else {
          slot = this.commandSlot(req, cmd, buf, args, argc, this.ctx.config.proxy_crossslot === "first-key" && !cmd.alwaysChecked);
          if (slot === CROSSSLOT) return;
        }
        if (slot === NO_KEYS) this.ctx.router.dispatchKeyless(req, buf, start, end);
        else this.ctx.router.dispatch(req, slot, buf, start, end, args, argc);
        return;
      }
      case Kind.MGet:
        this.ctx.router.dispatchMulti(req, buf, start, end, args, argc, 1, Transform.MergeArray);
        return;
      case Kind.MSet:
        if ((argc - 1) % 2 !== 0) return this.fail(req, E.wrongArgs("MSET"));
        this.ctx.router.dispatchMulti(req, buf, start, end, args, argc, 2, Transform.MergeOk);
        return;
      case Kind.SumKeys:
        this.ctx.router.dispatchMulti(req, buf, start, end, args, argc, 1, Transform.MergeSum);
        return;
      case Kind.Refused:
        return this.fail(req, E.notAllowed(cmd.name));
      case Kind.Keyless:
        this.ctx.router.dispatchKeyless(req, buf, start, end);
        return;
      case Kind.XRead:
      case Kind.Blocking: {
        const blocking = cmd.kind === Kind.Blocking
          || hasBlockOption(argc, (i) => buf.subarray(args[2 * i], args[2 * i + 1]));
        const slot = this.commandSlot(req, cmd, buf, args, argc, !blocking && this.ctx.config.proxy_crossslot === "first-key");
        if (slot === CROSSSLOT) return;
        if (!blocking) {
          if (slot === NO_KEYS) this.ctx.router.dispatchKeyless(req, buf, start, end);
          else this.ctx.router.dispatch(req, slot, buf, start, end, args, argc);
          return;
        }
        if (slot === NO_KEYS) {
          // Malformed (no STREAMS keys...): a shared connection gets the backend's own error
          // without blocking, since Redis checks the arguments before it blocks.
          this.ctx.router.dispatchKeyless(req, buf, start, end);
          return;
        }
        this.ctx.blocking.start(req, cmd, buf, args, argc, slot);
        this.drainBarrier = true;
        return;
      }
      case Kind.Multi:
      case Kind.Watch: {
        let slot = -1;
        if (cmd.kind === Kind.Watch) {
          slot = this.commandSlot(req, cmd, buf, args, argc, false);
          if (slot === CROSSSLOT) return;
        }
        const tx = new Transaction(this.ctx.transactions, this, this.db, this.resp3, (t) => {
          if (this.tx === t) this.tx = null;
        });
        this.tx = tx;
        if (cmd.kind === Kind.Multi) tx.multi(req);
        else tx.watch(req, cmd, buf, start, end, args, argc, slot);
        return;
      }
      case Kind.Exec:
        return this.fail(req, E.EXEC_WITHOUT_MULTI);
      case Kind.Discard:
        return this.fail(req, E.DISCARD_WITHOUT_MULTI);
      case Kind.Unwatch:
        return this.ok(req, OK);
      case Kind.Subscribe:
      case Kind.Unsubscribe:
        return this.subscribe(req, cmd, buf, args, argc);
      case Kind.ClusterWide:
        this.ctx.cluster.run(req, cmd, argvOf(buf, args, argc));
        return;
      case Kind.Client: {
        const r = clientCommand(this, this.ctx, argvOf(buf, args, argc));
        if (typeof r === "string") return this.fail(req, r);
        return this.ok(req, r);
      }
      default:
        this.local(req, cmd, buf, args, argc);
    }
  }

  /** The strict slot of a command's keys, for transaction.ts (see commandSlot). */
  slotFor(req: Req, cmd: CommandInfo, buf: Buffer, args: Int32Array, argc: number): number {
    return this.commandSlot(req, cmd, buf, args, argc, false);
  }

  /** Nothing after the current request is handled before its reply (see the ordering note). */
  barrier(): void {
    this.drainBarrier = true;
  }

  /**
   * The slot of a command's keys (CROSSSLOT when it has answered the client with an error,
   * NO_KEYS when the command names none). firstKey: codis's routing by one key, unchecked.
   */
  private commandSlot(req: Req, cmd: CommandInfo, buf: Buffer, args: Int32Array, argc: number, firstKey: boolean): number {
    if (firstKey && cmd.routeIndex >= 0) {
      const ri = cmd.routeIndex;
      return ri < argc ? slotOf(buf, args[2 * ri]!, args[2 * ri + 1]!) : NO_KEYS;
    }
    const slot = keysSlot(cmd, buf, args, argc);
    if (slot >= 0 || slot === NO_KEYS) return slot;
    this.queueError(req, slot === CROSSSLOT ? E.CROSSSLOT : slot === SORT_BY_DENIED ? E.SORT_BY_DENIED : E.SORT_GET_DENIED);
    return CROSSSLOT;
  }

  /** An error found before a command runs: inside MULTI it also dooms the transaction (EXECABORT). */
  private queueError(req: Req, text: string): void {
    if (this.tx !== null && this.tx.inMulti) this.tx.queueError(req, text);
    else this.fail(req, text);
  }

  private subscribe(req: Req, cmd: CommandInfo, buf: Buffer, args: Int32Array, argc: number): void {
    const kind = cmd.variant as SubKind;
    if (kind === SubKind.Shard && argc > 2) {
      // Shard channels of one command share a slot, as Redis Cluster requires.
      if (this.commandSlot(req, cmd, buf, args, argc, false) === CROSSSLOT) return;
    }
    if (this.subs === null) this.subs = new ClientSubs(this.ctx.pubsub, this);
    const names = argvOf(buf, args, argc).slice(1);
    const reply = cmd.kind === Kind.Subscribe
      ? this.subs.subscribe(kind, names, this.resp3)
      : this.subs.unsubscribe(kind, names, this.resp3);
    this.ok(req, reply);
  }

  /** Queues a pub/sub message (RESP2 array or RESP3 push) behind the replies owed before it. */
  pushMessage(frame: Buffer): void {
    if (this.closed) return;
    const c = this.ctx.config;
    if (this.held + this.out.pending > c.session_max_pubsub_bufsize || this.queue.length > c.session_max_pipeline * 4) {
      log.info(`session ${this.id}: subscriber does not read its messages, closing`);
      this.close();
      return;
    }
    const r = new Req();
    r.owner = this;
    this.queue.push(r);
    if (!this.busy) this.setBusy(true);
    r.completeWith(frame, false);
  }

  private local(req: Req, cmd: CommandInfo, buf: Buffer, args: Int32Array, argc: number): void {
    const arg = (i: number) => buf.toString("utf8", args[2 * i], args[2 * i + 1]);
    const c = this.ctx.config;
    switch (cmd.kind) {
      case Kind.Quit:
        this.quitting = true;
        return this.ok(req, OK);
      case Kind.Ping:
        if (this.subs !== null && this.subs.total > 0 && !this.resp3) {
          // Redis answers PING in subscribed mode as a message-shaped array.
          return this.ok(req, encodeValue(["pong", argc === 2 ? buf.subarray(args[2], args[3]) : ""], false));
        }
        if (argc === 1) return this.ok(req, PONG);
        return this.ok(req, bulkReply(buf.subarray(args[2], args[3])));
      case Kind.Echo:
        return this.ok(req, bulkReply(buf.subarray(args[2], args[3])));
      case Kind.Auth: {
        if (c.session_auth === "") return this.fail(req, E.AUTH_NOT_SET);
        const user = argc === 3 ? arg(1) : "default";
        if (user !== "default" || arg(argc - 1) !== c.session_auth) {
          this.setAuthed(false);
          return this.fail(req, E.INVALID_PASSWORD);
        }
        this.setAuthed(true);
        return this.ok(req, OK);
      }
      case Kind.Select: {
        const text = arg(1);
        const db = /^[+-]?\d{1,9}$/.test(text) ? Number(text) : NaN;
        if (!Number.isInteger(db)) return this.fail(req, E.INVALID_DB);
        if (db < 0 || db >= c.backend_number_databases) return this.fail(req, E.dbOutOfRange(c.backend_number_databases));
        this.db = db;
        return this.ok(req, OK);
      }
      case Kind.Hello:
        return this.hello(req, argc, arg);
      case Kind.Reset:
        return this.reset(req);
      case Kind.SlotsHashKey: {
        const out: RespInput[] = [];
        for (let i = 1; i < argc; i++) out.push(slotOf(buf, args[2 * i]!, args[2 * i + 1]!));
        return this.ok(req, encodeValue(out, this.resp3));
      }
      case Kind.SlotsMapping:
        return this.slotsMapping(req, argc, arg);
      case Kind.SlotsInfo: {
        if (argc < 2) return this.fail(req, E.wrongArgs("SLOTSINFO"));
        const addr = arg(1);
        const pool = this.ctx.router.poolByAddr(addr);
        if (pool === null) return this.fail(req, E.backendNotFound(addr));
        // codis: "SLOTSINFO addr [args]" runs "SLOTSINFO [args]" on that backend.
        const ranges = args.slice(4, argc * 2);
        const bytes = encodeFromRanges(SLOTSINFO, buf, ranges, argc - 2);
        pool.conn(this.db, this.resp3, 0).send(req, bytes, 0, bytes.length);
        return;
      }
      case Kind.SlotsScan:
        return this.slotsScan(req, argc, arg);
      default:
        return this.fail(req, E.notAllowed(cmd.name));
    }
  }

  /** RESET (Redis 6.2): back to a fresh connection's state. */
  private reset(req: Req): void {
    this.tx?.abandon();
    this.tx = null;
    this.subs?.dropAll();
    this.db = 0;
    this.name = "";
    if (this.resp3 && this.queue.length > 1) this.drainBarrier = true;
    this.resp3 = false;
    if (this.ctx.config.session_auth !== "") this.setAuthed(false);
    this.ok(req, RESET_REPLY);
  }

  private hello(req: Req, argc: number, arg: (i: number) => string): void {
    let proto = this.resp3 ? 3 : 2;
    let i = 1;
    if (argc > 1) {
      const v = arg(1);
      if (!/^\d+$/.test(v)) return this.fail(req, "ERR Protocol version is not an integer or out of range");
      proto = Number(v);
      if (proto !== 2 && proto !== 3) return this.fail(req, E.NOPROTO);
      i = 2;
    }
    while (i < argc) {
      const opt = arg(i).toUpperCase();
      if (opt === "AUTH" && i + 2 < argc) {
        const c = this.ctx.config;
        if (c.session_auth === "") return this.fail(req, E.AUTH_NOT_SET);
        if (arg(i + 1) !== "default" || arg(i + 2) !== c.session_auth) {
          return this.fail(req, "WRONGPASS invalid username-password pair or user is disabled.");
        }
        this.setAuthed(true);
        i += 3;
      } else if (opt === "SETNAME" && i + 1 < argc) {
        const name = arg(i + 1);
        if (!/^[\x21-\x7e]*$/.test(name)) return this.fail(req, E.BAD_CLIENT_NAME);
        this.name = name;
        i += 2;
      } else {
        return this.fail(req, `ERR Syntax error in HELLO option '${arg(i)}'`);
      }
    }
    if (!this.authed) {
      return this.fail(req, "NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO <proto> AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time");
    }
    if (this.resp3 !== (proto === 3) && this.queue.length > 1) this.drainBarrier = true;
    this.resp3 = proto === 3;
    const reply = encodeValue({
      map: [
        ["server", "slotway"],
        ["version", this.ctx.version],
        ["proto", proto],
        ["id", this.id],
        ["mode", "proxy"],
        ["role", "master"],
        ["modules", []],
      ],
    }, this.resp3);
    this.ok(req, reply);
  }

  private slotsMapping(req: Req, argc: number, arg: (i: number) => string): void {
    if (argc > 2) return this.fail(req, E.wrongArgs("SLOTSMAPPING"));
    if (argc === 1) {
      const all: RespInput[] = [];
      for (let s = 0; s < SLOT_COUNT; s++) all.push(this.ctx.slotMapping(s));
      return this.ok(req, encodeValue(all, this.resp3));
    }
    const slot = this.parseSlot(req, arg(1));
    if (slot < 0) return;
    this.ok(req, encodeValue(this.ctx.slotMapping(slot), this.resp3));
  }

  /** SLOTSSCAN slot cursor [COUNT n]: a SCAN on the slot's backend, filtered to the slot. */
  private slotsScan(req: Req, argc: number, arg: (i: number) => string): void {
    if (argc < 3) return this.fail(req, E.wrongArgs("SLOTSSCAN"));
    const slot = this.parseSlot(req, arg(1));
    if (slot < 0) return;
    const scan: (string | number)[] = ["SCAN", arg(2)];
    for (let i = 3; i + 1 < argc; i += 2) {
      if (arg(i).toUpperCase() === "COUNT") scan.push("COUNT", arg(i + 1));
    }
    req.transform = Transform.SlotsScan;
    req.aux = slot;
    const bytes = encodeCommand(scan);
    this.ctx.router.dispatch(req, slot, bytes, 0, bytes.length, null, 0);
  }

  private applyScanFilter(req: Req): void {
    if (req.isError) return;
    const out = filterScanReply(req.reply!, req.replyStart, req.replyEnd, req.aux);
    if (out === null) {
      req.reply = errorReply(E.badReply("slotsscan", "SCAN reply is not [cursor, keys]"));
      req.isError = true;
    } else {
      req.reply = out;
    }
    req.replyStart = 0;
    req.replyEnd = req.reply.length;
  }

  private parseSlot(req: Req, text: string): number {
    if (!/^[+-]?\d+$/.test(text)) {
      this.fail(req, E.badSlotNum(text, "strconv.ParseInt: parsing " + JSON.stringify(text) + ": invalid syntax"));
      return -1;
    }
    const n = Number(text);
    if (n < 0 || n >= SLOT_COUNT) {
      this.fail(req, E.badSlotNum(text, "out of range"));
      return -1;
    }
    return n;
  }

  private ok(req: Req, reply: Buffer): void {
    req.completeWith(reply, false);
  }

  private fail(req: Req, text: string): void {
    req.completeWith(errorReply(text), true);
  }

  /** One path for protocol errors: say why, then close (Valkey's habit). */
  private protocolError(text: string): void {
    log.debug(`session ${this.id} from ${this.socket.remoteAddress}: ${text}`);
    this.ctx.stats.protocolErrors++;
    this.reader.reset();
    this.quitting = true;
    // Replies already owed are still delivered first, in order.
    const req = new Req();
    req.owner = this;
    this.queue.push(req);
    if (!this.busy) this.setBusy(true);
    req.completeWith(errorReply(E.protocolError(text)), true);
  }

  /** Closes at once (send timeout, idle timeout, break on failure, shutdown). */
  close(): void {
    if (this.closed) return;
    this.socket.destroy();
    this.onClose();
  }

  private onClose(): void {
    if (this.closed) return;
    this.closed = true;
    this.reader.reset();
    this.tx?.abandon();
    this.tx = null;
    this.subs?.dropAll();
    this.ctx.blocking.abandon(this);
    // Drop every reply held for this client now. Records still waiting on backends keep their
    // owner pointer; admit() says Discard for them, so their replies are skipped, not kept.
    this.queue.drain();
    if (this.busy) this.setBusy(false);
    this.held = 0;
    this.headSent = 0;
    this.wakeParked();
    this.ctx.sessionClosed(this);
  }

  /** Periodic check for the idle and send timeouts. */
  tick(now: number): void {
    const c = this.ctx.config;
    if (this.out.pending > 0) {
      const written = this.out.taken;
      if (written !== this.lastWritten) {
        this.lastWritten = written;
        this.lastWriteProgress = now;
      } else if (c.session_send_timeout > 0 && now - this.lastWriteProgress > c.session_send_timeout) {
        log.info(`session ${this.id}: client took no reply for ${c.session_send_timeout} ms, closing`);
        this.close();
        return;
      }
    } else {
      this.lastWriteProgress = now;
    }
    // A subscriber waits for messages, not requests: Redis's idle timeout skips it too.
    const subscribed = this.subs !== null && this.subs.total > 0;
    if (c.session_recv_timeout > 0 && this.queue.length === 0 && !subscribed && now - this.lastActive > c.session_recv_timeout) {
      this.close();
    }
  }

  get pending(): number {
    return this.queue.length;
  }
}

const SLOTSINFO = Buffer.from("SLOTSINFO");
const RESET_REPLY = Buffer.from("+RESET\r\n");
/** Bytes read ahead while requests wait behind a barrier; beyond it the socket is paused. */
const BACKLOG_MAX = 1024 * 1024;

/** The arguments of a rare command as buffers (views into the request; no copy). */
function argvOf(buf: Buffer, args: Int32Array, argc: number): Buffer[] {
  const out: Buffer[] = new Array(argc);
  for (let i = 0; i < argc; i++) out[i] = buf.subarray(args[2 * i], args[2 * i + 1]);
  return out;
}
const DIRECT = process.env.SLOTWAY_EXP_DIRECT !== "0";
/** Replies up to this size are copied rather than queued as views of a receive buffer. */
const SMALL_REPLY = 16 * 1024;
/** Above this, completed replies are not copied into one buffer but pumped (pump()). */
const COPY_LIMIT = 256 * 1024;
/** The most bytes handed to a socket ahead of what the kernel has taken, for large replies. */
const SLICE = 64 * 1024;
