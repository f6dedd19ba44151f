// Blocking commands (BLPOP, BRPOP, BRPOPLPUSH, BLMOVE, BLMPOP, BZPOPMIN, BZPOPMAX, BZMPOP,
// XREAD/XREADGROUP ... BLOCK): each blocked client gets an exclusive backend connection
// (exclusive.ts), so a block never stalls the shared, pipelined connections.
//
//   start ─▶ issue: count slot, read route ─┬─ locked / semi-async migrating → park (no count)
//                                           ├─ migrating → settle keys (settle.ts) → issue again
//                                           └─ online → exclusive conn (CLIENT ID once) → leg
//   leg reply ─┬─ value, error, or nil at the deadline → the client's reply
//              └─ nil after we unblocked it           → issue again with the time left
//
// A slot change never waits for a block: the leg holds its slot's in-flight count (so the
// drain waits for it), and the slot watch notices the lock (slot-watch.ts) and sends
// CLIENT UNBLOCK <id> from a shared connection. Unblocked that way (the default TIMEOUT mode)
// Redis answers the blocked command with its timeout reply and pops nothing; if an element
// was popped just before, the reply carries it and it is delivered, never re-issued. An
// UNBLOCK that arrives before the command blocked answers 0: it is sent again each tick until
// the leg has answered.
//
// XREAD ... $ means "entries after the last one now": before the first leg the proxy asks for
// the stream's last entry on the same connection, and a re-issued leg reads after that id, so
// entries added while the slot moved are not skipped.

import { Admit, Req, countSlot, uncountSlot, type ReplyOwner } from "./request.js";
import type { Router } from "./router.js";
import type { ExclusivePools } from "./exclusive.js";
import type { SlotWatch, SlotWatcher } from "./slot-watch.js";
import type { BackendConn } from "./backend-conn.js";
import type { ProxyConfig } from "../core/config-schema.js";
import type { Pool } from "./pool.js";
import { LOCKED, MIGRATING, ONLINE, FORWARD_SEMI_ASYNC } from "../core/slot-table.js";
import { encodeCommand, errorReply, NULL_RESP3 } from "../core/resp-encoder.js";
import { splitArrayReply } from "../core/resp-scanner.js";
import { equalsFolded, type CommandInfo } from "../core/command-table.js";
import { settleKeys, type SettleHandle } from "./settle.js";
import * as E from "../core/errors.js";

/** What blocking and transactions need from their worker. */
export interface ExclusiveHost {
  readonly router: Router;
  readonly exclusive: ExclusivePools;
  readonly watch: SlotWatch;
  readonly config: ProxyConfig;
}

const enum State {
  Parked = 0, // waiting for the slot to be usable (no count held)
  Settling, // keys being moved to a migrating slot's target (no count held)
  Starting, // count held, waiting for CLIENT ID on a new connection
  Active, // count held, leg sent
  Done,
}

const NULL_ARRAY = Buffer.from("*-1\r\n");
const BLOCK = Buffer.from("BLOCK");
const STREAMS = Buffer.from("STREAMS");
const DOLLAR = Buffer.from("$");

/** How long to wait before sending CLIENT UNBLOCK again when it found nothing blocked (ms). */
const UNBLOCK_RETRY_MS = 2;

class BlockedCall implements ReplyOwner {
  state = State.Parked;
  counted = false;
  /** Sequence word of the slot when the leg was issued (or when parked). */
  seq = -1;
  settledSeq = -1;
  conn: BackendConn | null = null;
  addr = "";
  unblocking = false;
  unblockAt = 0;
  /** Legs sent so far: an UNBLOCK answer is about the leg of its own generation only. */
  gen = 0;
  abandoned = false;
  settle: SettleHandle | null = null;
  /** Resolved "$" ids of XREAD, by argument index. */
  resolved: Map<number, Buffer> | null = null;

  constructor(
    readonly mgr: BlockingManager,
    readonly req: Req,
    readonly cmd: CommandInfo,
    readonly argv: Buffer[],
    readonly slot: number,
    /** Index of the timeout argument, -1 when unknown (the backend will refuse the command). */
    readonly timeoutAt: number,
    readonly timeoutMs: boolean,
    readonly integerSeconds: boolean,
    readonly deadline: number,
    readonly dollars: number[],
  ) {}

  alive(): boolean {
    return true; // the leg's reply must always come back, to release its connection
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
    this.mgr.legDone(this, leg);
  }
}

export class BlockingManager implements SlotWatcher {
  private readonly calls = new Set<BlockedCall>();
  private readonly bySession = new Map<ReplyOwner, BlockedCall>();
  /** Backends found without CLIENT UNBLOCK. */
  private readonly noUnblock = new Set<string>();
  /** Calls whose CLIENT UNBLOCK found nothing blocked yet: sent again at unblockAt. */
  private readonly retry = new Set<BlockedCall>();

  constructor(private readonly host: ExclusiveHost) {}

  /** Blocked clients (for stats and tests). */
  get blocked(): number {
    return this.calls.size;
  }

  /**
   * Serves a blocking command of one slot. req is the client's record (already in its FIFO);
   * args are offsets into buf.
   */
  start(req: Req, cmd: CommandInfo, buf: Buffer, args: Int32Array, argc: number, slot: number): void {
    const argv: Buffer[] = new Array(argc);
    for (let i = 0; i < argc; i++) argv[i] = Buffer.from(buf.subarray(args[2 * i], args[2 * i + 1]));
    let timeoutAt = -1;
    let ms = false;
    const dollars: number[] = [];
    if (cmd.name === "XREAD" || cmd.name === "XREADGROUP") {
      ms = true;
      let streams = -1;
      for (let i = 1; i < argc; i++) {
        if (equalsFolded(argv[i]!, STREAMS)) {
          streams = i;
          break;
        }
        if (equalsFolded(argv[i]!, BLOCK) && i + 1 < argc) timeoutAt = i + 1;
      }
      if (cmd.name === "XREAD" && streams > 0) {
        const n = (argc - streams - 1) >> 1;
        for (let i = streams + 1 + n; i < argc; i++) if (argv[i]!.equals(DOLLAR)) dollars.push(i);
      }
    } else if (cmd.name === "BLMPOP" || cmd.name === "BZMPOP") {
      timeoutAt = 1;
    } else {
      timeoutAt = argc - 1;
    }
    let deadline = Infinity;
    let integerSeconds = true;
    if (timeoutAt > 0) {
      const text = argv[timeoutAt]!.toString("latin1");
      const v = Number(text);
      if (Number.isFinite(v) && v > 0) deadline = req.t0 + (ms ? v : v * 1000);
      integerSeconds = !text.includes(".") && !/e/i.test(text);
    }
    const call = new BlockedCall(this, req, cmd, argv, slot, timeoutAt, ms, integerSeconds, deadline, dollars);
    this.calls.add(call);
    if (req.owner !== null) this.bySession.set(req.owner, call);
    this.issue(call);
  }

  /** The client left: stop waiting for it (a blocked leg is unblocked, its connection reused). */
  abandon(owner: ReplyOwner): void {
    const call = this.bySession.get(owner);
    if (call === undefined) return;
    call.abandoned = true;
    this.bySession.delete(owner);
    if (call.state === State.Active) {
      if (!call.unblocking) this.unblock(call, performance.now());
    } else if (call.state !== State.Starting) {
      call.settle?.cancel();
      this.finish(call);
    }
  }

  private issue(call: BlockedCall): void {
    if (call.abandoned) {
      this.finish(call);
      return;
    }
    const now = performance.now();
    if (now >= call.deadline) {
      this.deliver(call, this.nilReply(call), false);
      return;
    }
    const router = this.host.router;
    const slot = call.slot;
    countSlot(slot); // invariant 3 of core/slot-table.ts: count, then read the state
    call.counted = true;
    const route = router.route(slot);
    const st = route.state;
    if ((st & LOCKED) !== 0 || ((st & MIGRATING) !== 0 && route.method === FORWARD_SEMI_ASYNC)) {
      // Locked: wait for the change. Semi-async migration leaves keys on the source until the
      // async mover takes them, so a block on the target could miss them: wait it out too.
      this.uncount(call);
      call.state = State.Parked;
      call.seq = route.seq;
      this.host.watch.want(this);
      return;
    }
    if ((st & ONLINE) === 0 || route.master === null) {
      this.uncount(call);
      this.deliver(call, E.SLOT_NOT_READY_REPLY, true, true);
      return;
    }
    if ((st & MIGRATING) !== 0 && route.from !== null && call.settledSeq !== route.seq) {
      this.uncount(call);
      call.state = State.Settling;
      const seq = route.seq;
      const args = offsetsOf(call.argv);
      call.settle = settleKeys(router, slot, call.cmd, args.buf, args.offsets, call.argv.length, call.req.db, (err) => {
        call.settle = null;
        if (err !== null) {
          this.deliver(call, err, true, true);
          return;
        }
        call.settledSeq = seq;
        this.issue(call);
      });
      return;
    }
    this.send(call, route.master, route.seq);
  }

  private send(call: BlockedCall, master: Pool, seq: number): void {
    const addr = master.addr;
    if (this.noUnblock.has(addr)) {
      this.uncount(call);
      this.deliver(call, errorReply(E.noClientUnblock(addr)), true, true);
      return;
    }
    const conn = this.host.exclusive.acquire(addr, call.req.db, call.req.resp3);
    if (conn === null) {
      this.uncount(call);
      this.deliver(call, errorReply(E.exclusiveExhausted(addr, this.host.config.backend_max_exclusive_conns)), true, true);
      return;
    }
    call.conn = conn;
    call.addr = addr;
    call.seq = seq;
    call.unblocking = false;
    this.host.watch.want(this);
    if (this.host.exclusive.clientIds.has(conn)) {
      this.sendLeg(call);
      return;
    }
    // The id is needed to unblock the leg later; wait for it before blocking anything.
    call.state = State.Starting;
    conn.sendInternal(["CLIENT", "ID"], (r, reply, isError) => {
      if (!isError && reply[0] === 0x3a) {
        this.host.exclusive.clientIds.set(conn, Number(reply.toString("latin1", 1).trim()));
        if (call.abandoned) {
          this.releaseConn(call, true);
          this.uncount(call);
          this.finish(call);
          return;
        }
        this.sendLeg(call);
        return;
      }
      this.releaseConn(call, false);
      this.uncount(call);
      if (!r.failed) this.noUnblock.add(addr);
      this.deliver(call, r.failed ? Buffer.from(reply) : errorReply(E.noClientUnblock(addr)), true, r.failed);
    }, call.slot);
  }

  private sendLeg(call: BlockedCall): void {
    const conn = call.conn!;
    call.state = State.Active;
    call.gen++;
    if (call.dollars.length > 0 && call.resolved === null) {
      // Before the leg, on the same connection: the last entry of each "$" stream.
      const resolved = new Map<number, Buffer>();
      call.resolved = resolved;
      const n = streamCount(call.argv);
      for (const idx of call.dollars) {
        conn.sendInternal(["XREVRANGE", call.argv[idx - n]!, "+", "-", "COUNT", "1"], (_r, reply, isError) => {
          if (!isError) resolved.set(idx, lastEntryId(reply));
        }, call.slot);
      }
    }
    const leg = new Req();
    leg.cmd = call.cmd;
    leg.db = call.req.db;
    leg.resp3 = call.req.resp3;
    leg.slot = call.slot;
    leg.owner = call;
    const bytes = this.legBytes(call);
    conn.send(leg, bytes, 0, bytes.length);
  }

  /** The command to send: the client's, with the time left and resolved "$" ids once re-issued. */
  private legBytes(call: BlockedCall): Buffer {
    const argv = call.argv.slice();
    if (call.timeoutAt > 0 && call.deadline !== Infinity) {
      const left = Math.max(1, call.deadline - performance.now());
      argv[call.timeoutAt] = Buffer.from(call.timeoutMs
        ? String(Math.ceil(left))
        : call.integerSeconds ? String(Math.max(1, Math.ceil(left / 1000))) : (Math.max(1, left) / 1000).toFixed(3));
    }
    if (call.resolved !== null) for (const [i, id] of call.resolved) argv[i] = id;
    return encodeCommand(argv);
  }

  /** @internal the leg of a call answered. */
  legDone(call: BlockedCall, leg: Req): void {
    this.uncount(call);
    const reply = leg.reply!;
    const s = leg.replyStart;
    const e = leg.replyEnd;
    this.releaseConn(call, !leg.failed);
    if (call.abandoned) {
      this.finish(call);
      return;
    }
    if (!leg.failed && call.unblocking && isNil(reply, s, e) && performance.now() < call.deadline) {
      // Unblocked by us for a slot change: nothing was popped; go again with the time left.
      call.unblocking = false;
      this.issue(call);
      return;
    }
    call.state = State.Done;
    this.calls.delete(call);
    this.bySession.delete(call.req.owner!);
    call.req.failed = leg.failed;
    call.req.complete(reply, s, e, leg.isError);
  }

  private unblock(call: BlockedCall, now: number): void {
    call.unblocking = true;
    call.unblockAt = now;
    const id = this.host.exclusive.clientIds.get(call.conn!);
    const pool = this.host.router.poolByAddr(call.addr);
    if (id === undefined || pool === null) {
      // Cannot name it: dropping the connection ends the block (Redis pops nothing for a
      // client that is gone while blocked).
      call.conn!.fail("unblocked by the proxy for a slot change");
      return;
    }
    const gen = call.gen;
    pool.conn(0, false, call.slot).sendInternal(["CLIENT", "UNBLOCK", id], (_r, reply, isError) => {
      // 0: the leg had not blocked yet (or has answered): try again next tick while it waits.
      if (!isError && reply.toString("latin1", 0, 4) === ":0\r\n" && call.state === State.Active && call.gen === gen) {
        call.unblockAt = performance.now() + UNBLOCK_RETRY_MS;
        call.unblocking = true;
        this.retry.add(call);
      }
    }, call.slot);
  }

  pollSlots(now: number): boolean {
    const router = this.host.router;
    for (const call of this.calls) {
      if (call.state === State.Active) {
        if (this.retry.has(call) && now >= call.unblockAt) {
          this.retry.delete(call);
          this.unblock(call, now);
        } else if (!call.unblocking && router.route(call.slot).seq !== call.seq) {
          this.unblock(call, now);
        }
      } else if (call.state === State.Parked) {
        if (router.route(call.slot).seq !== call.seq || now >= call.deadline) this.issue(call);
      }
    }
    return this.calls.size > 0;
  }

  private uncount(call: BlockedCall): void {
    if (call.counted) {
      call.counted = false;
      uncountSlot(call.slot);
    }
  }

  private releaseConn(call: BlockedCall, healthy: boolean): void {
    const c = call.conn;
    if (c === null) return;
    call.conn = null;
    this.host.exclusive.release(c, healthy);
  }

  /** Redis 7 answers a blocking command's timeout with a null array (RESP3: null). */
  private nilReply(call: BlockedCall): Buffer {
    return call.req.resp3 ? NULL_RESP3 : NULL_ARRAY;
  }

  private deliver(call: BlockedCall, reply: Buffer, isError: boolean, failed = false): void {
    this.finish(call);
    if (call.abandoned) return;
    call.req.failed = failed;
    call.req.completeWith(reply, isError);
  }

  private finish(call: BlockedCall): void {
    call.state = State.Done;
    this.retry.delete(call);
    this.calls.delete(call);
    if (call.req.owner !== null && this.bySession.get(call.req.owner) === call) this.bySession.delete(call.req.owner);
  }
}

function isNil(buf: Buffer, s: number, e: number): boolean {
  const n = e - s;
  if (n === 3) return buf[s] === 0x5f; // _\r\n
  return n === 5 && buf[s + 1] === 0x2d && buf[s + 2] === 0x31 && (buf[s] === 0x2a || buf[s] === 0x24);
}

function firstStreamsIndex(argv: Buffer[]): number {
  for (let i = 1; i < argv.length; i++) if (equalsFolded(argv[i]!, STREAMS)) return i;
  return argv.length;
}

/** Number of streams of an XREAD (keys after STREAMS, then as many ids). */
function streamCount(argv: Buffer[]): number {
  return (argv.length - 1 - firstStreamsIndex(argv)) >> 1;
}

/** The id of the only entry of an XREVRANGE ... COUNT 1 reply, "0-0" when empty. */
function lastEntryId(reply: Buffer): Buffer {
  const top: number[] = [];
  if (splitArrayReply(reply, 0, reply.length, top) < 1) return Buffer.from("0-0");
  const entry: number[] = [];
  if (splitArrayReply(reply, top[0]!, top[1]!, entry) < 1) return Buffer.from("0-0");
  const s = entry[0]!;
  const nl = reply.indexOf(10, s);
  if (reply[s] !== 0x24 && reply[s] !== 0x2b) return Buffer.from("0-0");
  const end = reply[s] === 0x24 ? entry[1]! - 2 : nl - 1;
  return Buffer.from(reply.subarray(reply[s] === 0x24 ? nl + 1 : s + 1, end));
}

/** Arguments as one buffer with offsets (for settle.ts). */
function offsetsOf(argv: Buffer[]): { buf: Buffer; offsets: Int32Array } {
  const offsets = new Int32Array(argv.length * 2);
  let p = 0;
  for (let i = 0; i < argv.length; i++) {
    offsets[2 * i] = p;
    p += argv[i]!.length;
    offsets[2 * i + 1] = p;
  }
  return { buf: Buffer.concat(argv), offsets };
}
