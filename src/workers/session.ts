// One client connection.
//
//   socket data ─▶ ChunkReader(RequestScanner) ─▶ handle() ─┬─ local answer (PING, AUTH, ...)
//                                                           ├─ router.dispatch (one slot)
//                                                           └─ router.dispatchMulti (split)
//   every request takes its place in the reply FIFO at once; flush() writes the completed
//   prefix of the FIFO in one write per event-loop turn (or at once when the reply answers the
//   only request in flight), so replies leave in request order. Writes go through a
//   SocketWriter (socket-writer.ts), below Node's stream.
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
  lookupCommand, UNKNOWN_COMMAND, Kind, hasBlockOption, streamsIndex, type CommandInfo,
} from "../core/command-table.js";
import { slotOf, SLOT_COUNT } from "../core/slot.js";
import {
  OK, PONG, bulkReply, errorReply, encodeValue, encodeCommand, encodeFromRanges, type RespInput,
} from "../core/resp-encoder.js";
import * as E from "../core/errors.js";
import { Admit, Req, ReqQueue, Transform, type ReplyOwner, type ReplySink, type RoomWaiter } from "./request.js";
import { flusher } from "./flusher.js";
import { filterScanReply } from "./merge.js";
import type { WorkerContext } from "./context.js";
import { log } from "../log.js";
import { ReadSlab } from "./read-slab.js";
import { copyRange } from "../core/bytes.js";
import { SocketWriter } from "./socket-writer.js";

export class Session implements ReplyOwner, ReplySink {
  dirty = false;
  readonly id: number;
  /** Time (ms) of the last request read, for the idle timeout. */
  lastActive = performance.now();
  /** Bytes the client's kernel took at the last tick, and when that last moved (send timeout). */
  lastWritten = 0;
  lastWriteProgress = performance.now();

  private readonly reader: ChunkReader<RequestScanner>;
  private readonly queue = new ReqQueue();
  private db = 0;
  private resp3 = false;
  private authed = false;
  /** Set by a HELLO that changes the protocol while earlier requests are pending. */
  private drainBarrier = false;
  private quitting = false;
  private closed = false;
  private readPaused = false;
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
    this.reader.push(chunk, n);
    this.process();
  }

  /** Handles buffered requests until input runs out or a limit says stop. */
  private process(): void {
    const reader = this.reader;
    const sc = reader.scanner;
    const max = this.ctx.config.session_max_pipeline;
    while (!this.quitting && !this.closed) {
      if (this.queue.length >= max || this.held + this.out.pending > this.sendLimit) {
        this.pauseReading();
        return;
      }
      if (this.drainBarrier) {
        // After a protocol switch, requests go to other backend connections (RESP2 and RESP3
        // ones are separate): wait until everything sent before has been answered, so that
        // commands on one key keep their order.
        if (this.queue.length > 0) {
          this.pauseReading();
          return;
        }
        this.drainBarrier = false;
      }
      const st = reader.next();
      if (st === ScanStatus.Incomplete) break;
      if (st === ScanStatus.Error) {
        this.protocolError(reader.tooLarge ? "Protocol error: request too large" : sc.error);
        return;
      }
      if (sc.inline) this.handle(sc.inlineBuf!, 0, sc.inlineBuf!.length, sc.offsets, sc.argc);
      else this.handle(reader.buf, sc.reqStart, sc.next, sc.offsets, sc.argc);
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
    if (!this.readPaused || this.closed) return;
    const c = this.ctx.config;
    if (this.queue.length > c.session_max_pipeline / 2) return;
    if (this.drainBarrier && this.queue.length > 0) return;
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
    if (this.readPaused) {
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

  private handle(buf: Buffer, start: number, end: number, args: Int32Array, argc: number): void {
    const cmd = lookupCommand(buf, args[0]!, args[1]!) ?? UNKNOWN_COMMAND;
    const req = new Req();
    req.cmd = cmd;
    req.owner = this;
    req.db = this.db;
    req.resp3 = this.resp3;
    req.t0 = this.t0;
    this.queue.push(req);
    if (!this.busy) this.setBusy(true);

    if (!this.authed && cmd.kind !== Kind.Auth && cmd.kind !== Kind.Quit && cmd.kind !== Kind.Hello) {
      req.completeWith(E.NOAUTH_REPLY, true);
      return;
    }
    switch (cmd.kind) {
      case Kind.Forward: {
        const ri = cmd.routeIndex;
        const slot = ri < argc ? slotOf(buf, args[2 * ri]!, args[2 * ri + 1]!) : 0;
        this.ctx.router.dispatch(req, slot, buf, start, end, args, argc);
        return;
      }
      case Kind.MGet:
        if (argc < 2) return this.fail(req, E.wrongArgs("MGET"));
        this.ctx.router.dispatchMulti(req, buf, start, end, args, argc, 1, Transform.MergeArray);
        return;
      case Kind.MSet:
        if (argc < 3 || (argc - 1) % 2 !== 0) return this.fail(req, E.wrongArgs("MSET"));
        this.ctx.router.dispatchMulti(req, buf, start, end, args, argc, 2, Transform.MergeOk);
        return;
      case Kind.SumKeys:
        if (argc < 2) return this.fail(req, E.wrongArgs(cmd.name));
        this.ctx.router.dispatchMulti(req, buf, start, end, args, argc, 1, Transform.MergeSum);
        return;
      case Kind.Refused:
      case Kind.Blocking:
        return this.fail(req, E.notAllowed(cmd.name));
      case Kind.Keyless:
        this.ctx.router.dispatchKeyless(req, buf, start, end);
        return;
      case Kind.XRead: {
        const at = (i: number) => buf.subarray(args[2 * i], args[2 * i + 1]);
        if (hasBlockOption(argc, at)) return this.fail(req, E.notAllowed(cmd.name));
        const s = streamsIndex(argc, at);
        const slot = s > 0 && s + 1 < argc ? slotOf(buf, args[2 * s + 2]!, args[2 * s + 3]!) : 0;
        this.ctx.router.dispatch(req, slot, buf, start, end, args, argc);
        return;
      }
      default:
        this.local(req, cmd, buf, args, argc);
    }
  }

  private local(req: Req, cmd: CommandInfo, buf: Buffer, args: Int32Array, argc: number): void {
    const arg = (i: number) => buf.toString("utf8", args[2 * i], args[2 * i + 1]);
    const c = this.ctx.config;
    switch (cmd.kind) {
      case Kind.Quit:
        this.quitting = true;
        return this.ok(req, OK);
      case Kind.Ping:
        if (argc === 1) return this.ok(req, PONG);
        if (argc === 2) return this.ok(req, bulkReply(buf.subarray(args[2], args[3])));
        return this.fail(req, E.wrongArgs("PING"));
      case Kind.Echo:
        if (argc !== 2) return this.fail(req, E.wrongArgs("ECHO"));
        return this.ok(req, bulkReply(buf.subarray(args[2], args[3])));
      case Kind.Auth: {
        if (argc !== 2 && argc !== 3) return this.fail(req, E.wrongArgs("AUTH"));
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
        if (argc !== 2) return this.fail(req, E.wrongArgs("SELECT"));
        const text = arg(1);
        const db = /^[+-]?\d{1,9}$/.test(text) ? Number(text) : NaN;
        if (!Number.isInteger(db)) return this.fail(req, E.INVALID_DB);
        if (db < 0 || db >= c.backend_number_databases) return this.fail(req, E.dbOutOfRange(c.backend_number_databases));
        this.db = db;
        return this.ok(req, OK);
      }
      case Kind.Hello:
        return this.hello(req, argc, arg);
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
    if (c.session_recv_timeout > 0 && this.queue.length === 0 && now - this.lastActive > c.session_recv_timeout) {
      this.close();
    }
  }

  get pending(): number {
    return this.queue.length;
  }
}

const SLOTSINFO = Buffer.from("SLOTSINFO");
const DIRECT = process.env.SLOTWAY_EXP_DIRECT !== "0";
/** Replies up to this size are copied rather than queued as views of a receive buffer. */
const SMALL_REPLY = 16 * 1024;
/** Above this, completed replies are not copied into one buffer but pumped (pump()). */
const COPY_LIMIT = 256 * 1024;
/** The most bytes handed to a socket ahead of what the kernel has taken, for large replies. */
const SLICE = 64 * 1024;
