// A request record: one per client command (and one per split sub-command).
//
// Life of a record
//   session         → queued in the session's reply FIFO (client order)
//   backend.send()  → also queued in one backend connection's FIFO (wire order)
//   complete()      → reply bytes attached, done = true; the session writes the completed
//                     prefix of its FIFO and drops it
//
// Records are plain objects left to the young-generation GC rather than pooled: a pool saves
// little at these rates (V8 scavenges short-lived objects cheaply) and a record released twice
// would hand one client's reply to another, the one failure a proxy must never have.

import type { CommandInfo } from "../core/command-table.js";
import { mergeSplit } from "./merge.js";

/** Reply post-processing the router applies before the session sees a reply. */
export const enum Transform {
  None = 0,
  MergeArray, // MGET parent: array of the sub-replies' elements in key order
  MergeOk, // MSET parent: +OK unless a sub-reply is an error
  MergeSum, // DEL/EXISTS/TOUCH/UNLINK parent: sum of integer sub-replies
  SlotsScan, // SCAN reply filtered to the keys of one slot
  Internal, // a proxy-issued command (AUTH, SELECT, HELLO, PING, migration steps)
}

/** What a backend connection may do with the reply of a record (ReplyOwner.admit). */
export const enum Admit {
  /** Take it out of the receive buffer now. */
  Take = 0,
  /** Leave it there: its client has no room (session_send_bufsize); wait for ReplySink room. */
  Park = 1,
  /** Nobody will read it (the client went away): skip its bytes without keeping them. */
  Discard = 2,
}

export interface ReplyOwner {
  /** Called when a record of this owner completes. */
  onReply(req: Req): void;
  /** False once nobody will read the reply (the client went away). */
  alive(): boolean;
  /** Whether the reply of req may be taken out of its backend's receive buffer now. */
  admit(req: Req): Admit;
  /** The client session the replies go to, or null for the proxy's own commands. */
  sink(): ReplySink | null;
}

/** A backend connection that stopped taking replies until a client has room for them. */
export interface RoomWaiter {
  roomAvailable(from: ReplySink): void;
}

/**
 * The client end of the per-client memory bound (session.ts): a backend connection that parks
 * on a sink is woken through waitForRoom, and may evict a sink that holds it up too long.
 */
export interface ReplySink {
  waitForRoom(c: RoomWaiter): void;
  /** Bytes the client has accepted so far (moves while it reads). */
  readonly written: number;
  /** Closes the client: it holds up a connection other clients are waiting on. */
  evict(why: string): void;
}

export type InternalCallback = (req: Req, reply: Buffer, isError: boolean) => void;

// This worker's row of the shared in-flight counters (see core/slot-table.ts, invariant 3).
let inflight: Int32Array = new Int32Array(1024);
let inflightRow = 0;

/** Points records at this worker's row of the in-flight counters. */
export function setInflightRow(counts: Int32Array, row: number): void {
  inflight = counts;
  inflightRow = row;
}

/** Counts one request of a slot as in flight (before the slot's state is read). */
export function countSlot(slot: number): void {
  Atomics.add(inflight, inflightRow + slot, 1);
}

/** Ends the in-flight count of one request of a slot. */
export function uncountSlot(slot: number): void {
  Atomics.sub(inflight, inflightRow + slot, 1);
}

export class Req implements ReplyOwner {
  /** The session (or parent request, or internal handler) that receives the reply. */
  owner: ReplyOwner | null = null;
  cmd: CommandInfo | null = null;
  done = false;
  /**
   * The reply is reply[replyStart, replyEnd): usually a range of a backend's receive chunk,
   * kept as offsets so that no Buffer view is made per reply.
   */
  reply: Buffer | null = null;
  replyStart = 0;
  replyEnd = 0;
  /** The reply is an error (for stats and session_break_on_failure). */
  isError = false;
  /** The error came from the proxy itself (backend failure), not from the backend. */
  failed = false;
  /** The slot the request belongs to (for error texts), -1 when none. */
  slot = -1;
  /** The slot is counted in flight until the reply arrives. */
  counted = false;
  transform = Transform.None;

  // Split commands: the parent keeps its sub-requests and where each key's answer goes.
  subs: Req[] | null = null;
  subsLeft = 0;
  /** For each sub-request: the original key positions it carries (MGET ordering). */
  subKeys: number[][] | null = null;
  keyCount = 0;
  /** Slots counted in flight for a request that carries keys of several slots. */
  slots: number[] | null = null;

  // The request's own bytes (kept only when they must be sent again later: held while the
  // slot is locked, or forwarded after a migration step).
  buf: Buffer | null = null;
  start = 0;
  end = 0;
  db = 0;
  resp3 = false;
  /** Argument offsets in buf, when the migration path needs them again. */
  args: Int32Array | null = null;
  argc = 0;

  /** Migration / internal state. */
  internal: InternalCallback | null = null;
  attempts = 0;
  deadline = 0;
  /** When the request was held for its locked slot (ms, performance clock); 0 when not held. */
  heldAt = 0;
  /** Extra integer for transforms (the slot of SLOTSSCAN). */
  aux = 0;
  /** Time the request was read (ms, performance clock), for per-command latency. */
  t0 = 0;

  /** Completes with reply bytes buf[start, end) and notifies the owner. */
  complete(buf: Buffer, start: number, end: number, isError: boolean): void {
    // The reply (or failure) is what ends a request's in-flight count: only then may a
    // slot change that waits on the counters proceed.
    if (this.counted) {
      this.counted = false;
      uncountSlot(this.slot);
    }
    if (this.slots !== null) {
      const slots = this.slots;
      this.slots = null;
      for (let i = 0; i < slots.length; i++) uncountSlot(slots[i]!);
    }
    this.reply = buf;
    this.replyStart = start;
    this.replyEnd = end;
    this.isError = isError;
    this.done = true;
    this.owner?.onReply(this);
  }

  /** A part of a split command is wanted as long as its parent is. */
  alive(): boolean {
    return this.owner !== null && this.owner.alive();
  }

  /** A part's reply counts against its parent's client, with the parent's place in line. */
  admit(_sub: Req): Admit {
    return this.owner === null ? Admit.Discard : this.owner.admit(this);
  }

  sink(): ReplySink | null {
    return this.owner === null ? null : this.owner.sink();
  }

  /** A split parent receives its parts' replies here and merges after the last one. */
  onReply(_sub: Req): void {
    if (--this.subsLeft === 0) mergeSplit(this);
  }

  /** Completes with a whole buffer (a locally built reply). */
  completeWith(reply: Buffer, isError: boolean): void {
    this.complete(reply, 0, reply.length, isError);
  }
}

/**
 * A FIFO of records: a ring buffer whose capacity doubles when full. Neither shift() nor
 * emptying it changes an array's length (setting `length` is a runtime call in V8, and a
 * truncated array must grow again on the next push): both happen once or twice per request.
 */
export class ReqQueue {
  private items: (Req | undefined)[] = new Array<Req | undefined>(8).fill(undefined);
  private mask = 7;
  private head = 0;
  private count = 0;

  get length(): number {
    return this.count;
  }

  push(r: Req): void {
    if (this.count > this.mask) this.grow();
    this.items[(this.head + this.count) & this.mask] = r;
    this.count++;
  }

  peek(): Req | undefined {
    return this.count === 0 ? undefined : this.items[this.head];
  }

  at(i: number): Req | undefined {
    return i < this.count ? this.items[(this.head + i) & this.mask] : undefined;
  }

  shift(): Req | undefined {
    if (this.count === 0) return undefined;
    const r = this.items[this.head];
    this.items[this.head] = undefined;
    this.head = (this.head + 1) & this.mask;
    if (--this.count === 0 && this.mask > 1023) this.shrink(); // a deep pipeline is over
    return r;
  }

  /** Removes and returns everything (for failing a connection's pending requests). */
  drain(): Req[] {
    const out: Req[] = new Array(this.count);
    for (let i = 0; i < out.length; i++) out[i] = this.shift()!;
    this.head = 0;
    return out;
  }

  private shrink(): void {
    this.items = new Array<Req | undefined>(8).fill(undefined);
    this.mask = 7;
    this.head = 0;
  }

  private grow(): void {
    const old = this.items;
    const n = old.length;
    const next = new Array<Req | undefined>(n * 2).fill(undefined);
    for (let i = 0; i < this.count; i++) next[i] = old[(this.head + i) & this.mask];
    this.items = next;
    this.mask = n * 2 - 1;
    this.head = 0;
  }
}
