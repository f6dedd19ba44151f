// MULTI / EXEC / DISCARD / WATCH / UNWATCH: a transaction is bound to one slot and runs on an
// exclusive backend connection (exclusive.ts) to that slot's owner, as Redis Cluster binds it
// to one node.
//
//   MULTI        → +OK from the proxy; commands are queued here until the first one with keys
//                  names the slot; then MULTI and the queue go to the slot's owner
//   cmd in MULTI → its keys must be in the transaction's slot: else -CROSSSLOT now and
//                  -EXECABORT at EXEC (Redis flags the transaction the same way for any error
//                  found at queue time); the backend answers +QUEUED
//   WATCH keys   → binds the slot at once (WATCH runs on the exclusive connection); commands of
//                  that slot sent between WATCH and MULTI go there too, so the client's own
//                  writes touch its watch as on a plain Redis
//   EXEC/DISCARD/UNWATCH → the backend's answer; the connection goes back to the pool
//
// While bound, the transaction holds its slot's in-flight count, so a slot change cannot split
// it: the drain waits. The slot watch (slot-watch.ts) sees the lock: a WATCH-only binding is
// dropped at once (EXEC then answers a null array, as for a touched watch); a transaction in
// MULTI gets slot_drain_timeout / 3 to send EXEC, after which the proxy discards it on the
// backend (nothing of it ran) and EXEC answers -EXECABORT naming the slot.
// In a migrating slot each command's keys are moved to the target first (settle.ts); with the
// semi-async method (keys stay on the source) the binding waits for the migration to end.

import { Admit, Req, countSlot, uncountSlot, type ReplyOwner } from "./request.js";
import { LOCKED, MIGRATING, ONLINE, FORWARD_SEMI_ASYNC } from "../core/slot-table.js";
import { errorReply, OK, EMPTY_ARRAY, NULL_RESP3 } from "../core/resp-encoder.js";
import type { BackendConn } from "./backend-conn.js";
import { Kind, hasBlockOption, type CommandInfo } from "../core/command-table.js";
import { keysSlot, CROSSSLOT, NO_KEYS } from "../core/key-check.js";
import type { SlotWatcher } from "./slot-watch.js";
import type { ExclusiveHost } from "./blocking.js";
import { settleKeys } from "./settle.js";
import * as E from "../core/errors.js";

const enum Entry {
  Plain = 0, // a client command (queued in MULTI, or of the watched slot)
  Watch,
  Multi, // the backend's MULTI, sent before the first queued command
  Exec,
  Discard,
  Unwatch,
}

class TxEntry {
  settled = false;
  constructor(
    readonly kind: Entry,
    readonly req: Req | null,
    readonly cmd: CommandInfo | null,
    readonly bytes: Buffer | null,
    readonly args: Int32Array | null,
    readonly argc: number,
    /** The slot of the keys, -1 when none. */
    readonly slot: number,
  ) {}
}

const QUEUED = Buffer.from("+QUEUED\r\n");
const NULL_ARRAY = Buffer.from("*-1\r\n");

/** Keeps bound and waiting transactions in view of the slot watch. */
export class TxManager implements SlotWatcher {
  readonly open = new Set<Transaction>();

  constructor(readonly host: ExclusiveHost) {}

  pollSlots(now: number): boolean {
    for (const tx of this.open) tx.poll(now);
    return this.open.size > 0;
  }

  track(tx: Transaction): void {
    this.open.add(tx);
    this.host.watch.want(this);
  }
}

/** A leg: one request on the exclusive connection, answering a client request. */
class TxLeg implements ReplyOwner {
  constructor(readonly tx: Transaction, readonly kind: Entry, readonly client: Req | null,
    /** The client's answer when it is not the backend's (EXEC of a doomed transaction). */
    readonly answer: Buffer | null) {}
  alive(): boolean {
    return true;
  }

  // A leg's reply is one reply, relayed to its client: taken at once, within the client's
  // "session_send_bufsize plus one reply" (session.ts); nothing parks on it.
  admit(): Admit {
    return Admit.Take;
  }
  sink(): null {
    return null;
  }
  onReply(leg: Req): void {
    this.tx.legDone(this, leg);
  }
}

export class Transaction {
  /** Inside MULTI (the client's view). */
  inMulti = false;
  /** Watched slot or the slot of the queued commands, -1 while unbound. */
  slot = -1;
  private conn: BackendConn | null = null;
  private counted = false;
  /** The slot whose in-flight count this transaction holds (stays set until the count ends). */
  private countedSlot = -1;
  private seq = -1;
  private migrating = false;
  private readonly queue: TxEntry[] = [];
  private busy = false;
  private legs = 0;
  /** Set by an error found at queue time: EXEC answers EXECABORT. */
  private flagged = false;
  /** The watch was dropped for a slot change: EXEC answers a null array. */
  private watchLost = false;
  /** Discarded by the proxy (slot change, backend failure): EXEC answers this error. */
  private abortText: string | null = null;
  private lockedAt = 0;
  private waitingSince = 0;
  private ended = false;

  constructor(
    private readonly mgr: TxManager,
    private readonly owner: ReplyOwner,
    private readonly db: number,
    private readonly resp3: boolean,
    private readonly onEnd: (tx: Transaction) => void,
  ) {}

  /** True while WATCH or MULTI state lives on a backend connection or waits for one. */
  get bound(): boolean {
    return this.slot >= 0;
  }

  // ------------------------------------------------------------------------------------
  // Client commands (the session routes here while a transaction exists)

  multi(req: Req): void {
    if (this.inMulti) {
      req.completeWith(errorReply(E.MULTI_NESTED), true);
      return;
    }
    this.inMulti = true;
    this.push(new TxEntry(Entry.Multi, null, null, null, null, 0, -1));
    req.completeWith(OK, false);
  }

  /** A command with keys in slot (or -1 for none), queued in MULTI or run in the watched slot. */
  command(req: Req, cmd: CommandInfo, buf: Buffer, start: number, end: number, args: Int32Array, argc: number, slot: number): void {
    if (this.abortText !== null || this.watchLost) {
      // Discarded already: nothing will run; answer as Redis does after a queue-time error.
      req.completeWith(this.inMulti ? QUEUED : errorReply(this.abortText ?? E.EXECABORT), !this.inMulti);
      return;
    }
    const own = this.boundSlot();
    if (slot >= 0 && own >= 0 && slot !== own) {
      this.queueError(req, E.CROSSSLOT);
      return;
    }
    const bytes = Buffer.from(buf.subarray(start, end));
    const offs = new Int32Array(argc * 2);
    for (let i = 0; i < argc * 2; i++) offs[i] = args[i]! - start;
    this.push(new TxEntry(Entry.Plain, req, cmd, bytes, offs, argc, slot));
  }

  /** An error found by the proxy at queue time (arity, CROSSSLOT, a command not allowed). */
  queueError(req: Req, text: string): void {
    if (this.inMulti) this.flagged = true;
    req.completeWith(errorReply(text), true);
  }

  watch(req: Req, cmd: CommandInfo, buf: Buffer, start: number, end: number, args: Int32Array, argc: number, slot: number): void {
    if (this.inMulti) {
      req.completeWith(errorReply(E.WATCH_IN_MULTI), true);
      return;
    }
    if (this.watchLost) {
      req.completeWith(OK, false); // EXEC fails anyway
      return;
    }
    const own = this.boundSlot();
    if (slot < 0 || (own >= 0 && slot !== own)) {
      req.completeWith(errorReply(E.CROSSSLOT), true);
      return;
    }
    const bytes = Buffer.from(buf.subarray(start, end));
    const offs = new Int32Array(argc * 2);
    for (let i = 0; i < argc * 2; i++) offs[i] = args[i]! - start;
    this.push(new TxEntry(Entry.Watch, req, cmd, bytes, offs, argc, slot));
  }

  exec(req: Req): void {
    if (!this.inMulti) {
      req.completeWith(errorReply(E.EXEC_WITHOUT_MULTI), true);
      return;
    }
    this.inMulti = false;
    this.push(new TxEntry(Entry.Exec, req, null, null, null, 0, -1));
  }

  discard(req: Req): void {
    if (!this.inMulti) {
      req.completeWith(errorReply(E.DISCARD_WITHOUT_MULTI), true);
      return;
    }
    this.inMulti = false;
    this.push(new TxEntry(Entry.Discard, req, null, null, null, 0, -1));
  }

  unwatch(req: Req): void {
    if (this.inMulti) {
      // Redis queues UNWATCH inside MULTI like any command.
      this.push(new TxEntry(Entry.Plain, req, null, Buffer.from("*1\r\n$7\r\nUNWATCH\r\n"), new Int32Array([8, 15]), 1, -1));
      return;
    }
    this.push(new TxEntry(Entry.Unwatch, req, null, null, null, 0, -1));
  }

  /** The client left (or RESET): drop everything; nothing more is answered. */
  abandon(): void {
    this.ended = true;
    this.queue.length = 0;
    if (this.conn !== null) this.release(false);
    else this.uncount();
    this.mgr.open.delete(this);
  }

  /**
   * Outside MULTI, whether a command of slot goes through this transaction: one of the
   * watched slot does (it runs after the WATCH on the same connection); others take the
   * shared path.
   */
  routes(slot: number): boolean {
    return !this.inMulti && slot >= 0 && !this.watchLost && this.abortText === null && this.boundSlot() === slot;
  }

  /** The slot this transaction is or will be bound to, -1 when none yet. */
  private boundSlot(): number {
    if (this.slot >= 0) return this.slot;
    for (const e of this.queue) if (e.slot >= 0) return e.slot;
    return -1;
  }

  private push(e: TxEntry): void {
    this.queue.push(e);
    this.pump();
  }

  // ------------------------------------------------------------------------------------
  // Sending, in order

  private pump(): void {
    while (!this.busy && !this.ended && this.queue.length > 0) {
      const e = this.queue[0]!;
      if (this.abortText !== null || this.watchLost) {
        this.queue.shift();
        this.answerDiscarded(e);
        continue;
      }
      if (this.conn === null) {
        if (!this.bindFor(e)) return;
        if (this.conn === null) continue; // answered locally (bindFor shifted it)
      }
      if ((e.kind === Entry.Plain || e.kind === Entry.Watch) && this.migrating && !e.settled && e.cmd !== null) {
        this.busy = true;
        settleKeys(this.mgr.host.router, this.slot, e.cmd, e.bytes!, e.args!, e.argc, this.db, (err) => {
          this.busy = false;
          e.settled = true;
          if (err !== null) {
            this.queue.shift();
            if (this.inMulti) this.flagged = true; // the move failed: a queue-time error
            e.req!.completeWith(err, true);
          }
          this.pump();
        });
        return;
      }
      this.queue.shift();
      this.sendEntry(e);
    }
  }

  private sendEntry(e: TxEntry): void {
    const conn = this.conn!;
    switch (e.kind) {
      case Entry.Multi:
        this.sendLeg(conn, Entry.Multi, null, MULTI_BYTES);
        return;
      case Entry.Plain:
      case Entry.Watch:
        this.sendLeg(conn, e.kind, e.req, e.bytes!);
        return;
      case Entry.Exec:
        if (this.flagged) {
          // The proxy refused a queued command: the backend must not run the rest. EXEC is
          // answered once DISCARD is, so nothing after it runs on a connection still in MULTI.
          this.sendLeg(conn, Entry.Discard, e.req, DISCARD_BYTES, errorReply(E.EXECABORT));
          return;
        }
        this.sendLeg(conn, Entry.Exec, e.req, EXEC_BYTES);
        return;
      case Entry.Discard:
        this.sendLeg(conn, Entry.Discard, e.req, DISCARD_BYTES);
        return;
      case Entry.Unwatch:
        this.sendLeg(conn, Entry.Unwatch, e.req, UNWATCH_BYTES);
        return;
    }
  }

  private sendLeg(conn: BackendConn, kind: Entry, client: Req | null, bytes: Buffer, answer: Buffer | null = null): void {
    const leg = new Req();
    leg.owner = new TxLeg(this, kind, client, answer);
    leg.db = this.db;
    leg.resp3 = this.resp3;
    leg.slot = this.slot;
    this.legs++;
    conn.send(leg, bytes, 0, bytes.length);
  }

  /** @internal a leg answered. */
  legDone(l: TxLeg, leg: Req): void {
    this.legs--;
    const reply = leg.reply!;
    const client = l.client;
    if (client !== null && !client.done) {
      // Answered even after the transaction ended: a request in the client's FIFO must not
      // stay pending (it would block every reply after it).
      client.failed = leg.failed;
      if (l.answer !== null && !leg.failed) client.completeWith(l.answer, true);
      else client.complete(reply, leg.replyStart, leg.replyEnd, leg.isError);
    }
    if (this.ended) return;
    if (leg.failed) {
      // The connection broke: whatever was queued on the backend is gone with it.
      this.abortText = E.EXECABORT;
      this.release(false);
      this.pump();
      return;
    }
    // EXEC, DISCARD and UNWATCH end MULTI and WATCH state: the connection is clean again.
    // (The session reads nothing after them until they are answered.)
    if (l.kind === Entry.Exec || l.kind === Entry.Discard || l.kind === Entry.Unwatch) {
      this.release(true);
      this.end();
    }
  }

  /**
   * Binds the transaction for the head entry e. Returns false to stop pumping (waiting for
   * the slot); true when bound or when e was answered locally (then shifted).
   */
  private bindFor(e: TxEntry): boolean {
    let slot = -1;
    for (const x of this.queue) {
      if (x.slot >= 0) {
        slot = x.slot;
        break;
      }
      if (x.kind === Entry.Exec || x.kind === Entry.Discard || x.kind === Entry.Unwatch) break;
    }
    if (slot < 0) {
      switch (e.kind) {
        case Entry.Multi: {
          // Nothing with keys yet: wait unless EXEC/DISCARD already follows.
          const last = this.queue[this.queue.length - 1]!;
          if (last.kind !== Entry.Exec && last.kind !== Entry.Discard) return false;
          if (this.queue.every((x) => x.kind !== Entry.Plain)) {
            this.queue.shift(); // an empty MULTI needs no backend
            return true;
          }
          slot = this.mgr.host.router.anyOnlineSlot();
          break;
        }
        case Entry.Plain: {
          const last = this.queue[this.queue.length - 1]!;
          if (last.kind !== Entry.Exec && last.kind !== Entry.Discard) return false;
          slot = this.mgr.host.router.anyOnlineSlot();
          break;
        }
        case Entry.Exec:
          this.queue.shift();
          e.req!.completeWith(this.flagged ? errorReply(E.EXECABORT) : EMPTY_ARRAY, this.flagged);
          this.flagged = false;
          if (this.queue.length === 0) this.end();
          return true;
        case Entry.Discard:
        case Entry.Unwatch:
          this.queue.shift();
          e.req!.completeWith(OK, false);
          this.flagged = false;
          if (this.queue.length === 0 && !this.inMulti) this.end();
          return true;
        default:
          return false;
      }
      if (slot < 0) {
        this.failAll(E.SLOT_NOT_READY_REPLY);
        return true;
      }
    }
    return this.bind(slot);
  }

  private bind(slot: number): boolean {
    const host = this.mgr.host;
    countSlot(slot); // invariant 3 of core/slot-table.ts: count, then read the state
    const route = host.router.route(slot);
    const st = route.state;
    if ((st & LOCKED) !== 0 || ((st & MIGRATING) !== 0 && route.method === FORWARD_SEMI_ASYNC)) {
      uncountSlot(slot);
      const now = performance.now();
      if (this.waitingSince === 0) this.waitingSince = now;
      if (now - this.waitingSince > host.config.slot_drain_timeout) {
        this.waitingSince = 0;
        this.failAll(errorReply(E.slotBusy(slot)));
        return true;
      }
      this.mgr.track(this);
      return false;
    }
    this.waitingSince = 0;
    if ((st & ONLINE) === 0 || route.master === null) {
      uncountSlot(slot);
      this.failAll(E.SLOT_NOT_READY_REPLY);
      return true;
    }
    const conn = host.exclusive.acquire(route.master.addr, this.db, this.resp3);
    if (conn === null) {
      uncountSlot(slot);
      this.failAll(errorReply(E.exclusiveExhausted(route.master.addr, host.config.backend_max_exclusive_conns)));
      return true;
    }
    this.counted = true;
    this.countedSlot = slot;
    this.slot = slot;
    this.seq = route.seq;
    this.migrating = (st & MIGRATING) !== 0 && route.from !== null;
    this.conn = conn;
    this.lockedAt = 0;
    this.mgr.track(this);
    return true;
  }

  /** Answers every queued entry with err (the slot cannot be served); the transaction ends. */
  private failAll(err: Buffer): void {
    const q = this.queue.splice(0);
    for (const e of q) if (e.req !== null) e.req.completeWith(err, true);
    this.abortText = this.inMulti ? E.EXECABORT : null;
    this.flagged = false;
    if (!this.inMulti) this.end();
  }

  /** Answers an entry of a transaction the proxy already discarded. */
  private answerDiscarded(e: TxEntry): void {
    const req = e.req;
    switch (e.kind) {
      case Entry.Plain:
        req!.completeWith(QUEUED, false);
        return;
      case Entry.Watch:
      case Entry.Discard:
      case Entry.Unwatch:
        req!.completeWith(OK, false);
        if (e.kind !== Entry.Watch) this.resetAfterEnd();
        return;
      case Entry.Exec:
        if (this.abortText !== null) req!.completeWith(errorReply(this.abortText), true);
        else req!.completeWith(this.resp3 ? NULL_RESP3 : NULL_ARRAY, false); // the watch was lost
        this.resetAfterEnd();
        return;
      case Entry.Multi:
        return;
    }
  }

  private resetAfterEnd(): void {
    this.abortText = null;
    this.watchLost = false;
    this.flagged = false;
    if (this.queue.length === 0 && !this.inMulti) this.end();
  }

  // ------------------------------------------------------------------------------------
  // Slot changes

  /** Called by the slot watch every tick while bound or waiting. */
  poll(now: number): void {
    if (this.ended) {
      this.mgr.open.delete(this);
      return;
    }
    if (this.conn === null) {
      // Waiting to bind (the slot was locked): try again.
      if (this.queue.length > 0 && !this.busy) this.pump();
      if (this.conn === null && this.waitingSince === 0) this.mgr.open.delete(this);
      return;
    }
    if (this.mgr.host.router.route(this.slot).seq === this.seq) return;
    // The slot is being changed; our count holds the change until we let go.
    if (!this.inMulti && !this.pendingExec()) {
      if (this.legs > 0 || this.busy) return; // let WATCH / reads in flight answer first
      this.watchLost = this.abortText === null;
      this.release(false); // the WATCH state dies with the connection
      this.pump();
      return;
    }
    if (this.lockedAt === 0) this.lockedAt = now;
    if (now - this.lockedAt < this.mgr.host.config.slot_drain_timeout / 3) return;
    // EXEC did not come in time: discard on the backend (nothing of it runs), then let go.
    const slot = this.slot;
    this.abortText = E.txSlotMoved(slot);
    const conn = this.conn;
    this.conn = null;
    this.slot = -1;
    const leg = new Req();
    leg.owner = { alive: () => true, onReply: (r: Req) => this.discarded(conn, r), admit: () => Admit.Take, sink: () => null };
    leg.slot = slot;
    conn.send(leg, DISCARD_BYTES, 0, DISCARD_BYTES.length);
    this.pump();
  }

  private discarded(conn: BackendConn, r: Req): void {
    this.mgr.host.exclusive.release(conn, !r.failed && !r.isError);
    this.uncount();
    if (this.ended) return;
    if (this.queue.length === 0 && this.abortText === null) this.end();
  }

  private pendingExec(): boolean {
    return this.queue.some((e) => e.kind === Entry.Exec || e.kind === Entry.Discard);
  }

  private release(healthy: boolean): void {
    const conn = this.conn;
    this.conn = null;
    if (conn !== null) this.mgr.host.exclusive.release(conn, healthy);
    this.slot = -1;
    this.migrating = false;
    this.uncount();
  }

  private uncount(): void {
    if (this.counted) {
      this.counted = false;
      uncountSlot(this.countedSlot);
    }
  }

  private end(): void {
    if (this.ended) return;
    this.ended = true;
    this.mgr.open.delete(this);
    this.onEnd(this);
  }

  /** The client is still there. */
  alive(): boolean {
    return this.owner.alive();
  }
}

/** What routeInTransaction needs from the session. */
export interface TxSession {
  /** The strict slot of a command's keys; CROSSSLOT once it has answered the client. */
  slotFor(req: Req, cmd: CommandInfo, buf: Buffer, args: Int32Array, argc: number): number;
  /** Nothing after the current request is handled before its reply. */
  barrier(): void;
}

/**
 * Routes a command while a transaction exists. Returns false when the command takes the
 * ordinary path (outside MULTI, commands of other slots and local ones do).
 */
export function routeInTransaction(tx: Transaction, s: TxSession, req: Req, cmd: CommandInfo, buf: Buffer,
  start: number, end: number, args: Int32Array, argc: number): boolean {
  switch (cmd.kind) {
    case Kind.Multi:
      tx.multi(req);
      return true;
    case Kind.Exec:
      tx.exec(req);
      s.barrier();
      return true;
    case Kind.Discard:
      tx.discard(req);
      s.barrier();
      return true;
    case Kind.Watch: {
      const slot = s.slotFor(req, cmd, buf, args, argc);
      if (slot !== CROSSSLOT) tx.watch(req, cmd, buf, start, end, args, argc, slot);
      return true;
    }
    case Kind.Unwatch:
      tx.unwatch(req);
      if (!tx.inMulti) s.barrier();
      return true;
    case Kind.Quit:
    case Kind.Reset:
      return false;
    case Kind.Select:
    case Kind.Hello:
      // The transaction's connection has its database and protocol: they cannot change under it.
      tx.queueError(req, E.notInTransaction(cmd.name));
      return true;
    default:
      break;
  }
  if (!tx.inMulti) {
    // Watching: commands of the watched slot run after the WATCH, on its connection.
    const k = cmd.kind;
    if (k !== Kind.Forward && k !== Kind.MGet && k !== Kind.MSet && k !== Kind.SumKeys && k !== Kind.XRead) return false;
    if (k === Kind.XRead && hasBlockOption(argc, (i) => buf.subarray(args[2 * i], args[2 * i + 1]))) return false;
    const slot = keysSlot(cmd, buf, args, argc);
    if (slot < 0 || !tx.routes(slot)) return false;
    tx.command(req, cmd, buf, start, end, args, argc, slot);
    return true;
  }
  switch (cmd.kind) {
    case Kind.Forward:
    case Kind.MGet:
    case Kind.MSet:
    case Kind.SumKeys:
    case Kind.Blocking:
    case Kind.XRead: {
      // Inside MULTI nothing is split or blocks: the whole command goes to the slot's owner.
      const slot = s.slotFor(req, cmd, buf, args, argc);
      if (slot === CROSSSLOT) return true;
      tx.command(req, cmd, buf, start, end, args, argc, slot === NO_KEYS ? -1 : slot);
      return true;
    }
    case Kind.Keyless:
    case Kind.Ping:
    case Kind.Echo:
      tx.command(req, cmd, buf, start, end, args, argc, -1);
      return true;
    case Kind.Refused:
      tx.queueError(req, E.notAllowed(cmd.name));
      return true;
    default:
      tx.queueError(req, E.notInTransaction(cmd.name));
      return true;
  }
}

const MULTI_BYTES = Buffer.from("*1\r\n$5\r\nMULTI\r\n");
const EXEC_BYTES = Buffer.from("*1\r\n$4\r\nEXEC\r\n");
const DISCARD_BYTES = Buffer.from("*1\r\n$7\r\nDISCARD\r\n");
const UNWATCH_BYTES = Buffer.from("*1\r\n$7\r\nUNWATCH\r\n");
