// The router of one worker: from a slot to a backend connection.
//
//   dispatch(req, slot) ─ count in flight ─ read slot state ─┬─ locked    → hold until unlocked
//                                                            ├─ offline   → "slot is not ready"
//                                                            ├─ migrating → migration step on the
//                                                            │              source, then target
//                                                            └─ online    → pool.conn(db, proto,
//                                                                           slot).send()
//
// Slot records live in shared memory (core/slot-table.ts); this worker caches each decoded
// record with the sequence number it was read at, and re-reads it when the sequence moved.
// Requests of one slot always take the same backend connection (pin by slot), so pipelined
// commands on one key can never be reordered.

import { SlotTable, type SlotRecord, emptyRecord, ONLINE, LOCKED, MIGRATING, WORDS_PER_SLOT,
  FORWARD_SYNC, FORWARD_SEMI_ASYNC } from "../core/slot-table.js";
import { SLOT_COUNT, slotOf } from "../core/slot.js";
import { BackendConn, ConnState, type BackendOptions } from "./backend-conn.js";
import { Req, ReqQueue, countSlot, uncountSlot, Transform, type InternalCallback } from "./request.js";
import { RequestScanner, splitArrayReply } from "../core/resp-scanner.js";
import { encodeFromRanges, encodeSubCommand, errorReply } from "../core/resp-encoder.js";
import { integerAt, preview } from "./merge.js";
import { keyIndexes, KeySpec, type CommandInfo } from "../core/command-table.js";
import * as E from "../core/errors.js";
import { log } from "../log.js";

export interface RouterSettings extends BackendOptions {
  primaryOnly: boolean;
  primaryParallel: number;
  replicaParallel: number;
  /** Deadline for retried migration steps and backend replies (ms). */
  recvTimeout: number;
  pingPeriod: number;
}

/** The connections of one backend address in this worker, by (database, protocol). */
export class Pool {
  private readonly lists: (BackendConn[] | undefined)[] = [];

  constructor(readonly addr: string, private readonly parallel: number, private readonly opts: BackendOptions) {}

  /** The connection for a slot: the same one for every request of that slot. */
  conn(db: number, resp3: boolean, slot: number): BackendConn {
    const key = db * 2 + (resp3 ? 1 : 0);
    let list = this.lists[key];
    if (list === undefined) {
      list = [];
      for (let i = 0; i < this.parallel; i++) list.push(new BackendConn(this.addr, db, resp3, this.opts));
      this.lists[key] = list;
    }
    return this.parallel === 1 ? list[0]! : list[(slot < 0 ? 0 : slot) % this.parallel]!;
  }

  forEach(fn: (c: BackendConn) => void): void {
    for (const list of this.lists) if (list) for (const c of list) fn(c);
  }

  close(): void {
    this.forEach((c) => c.close());
    this.lists.length = 0;
  }
}

/** A decoded slot record with its pools resolved. */
class Route {
  seq = -1;
  state = 0;
  master: Pool | null = null;
  from: Pool | null = null;
  replicas: Pool[][] | null = null;
  method = 0;
  group = 0;
  fromGroup = 0;
}

const tmpRecord: SlotRecord = emptyRecord();

export class Router {
  online = false;
  /** Requests held because their slot is locked, per slot. */
  private readonly held: (Req[] | undefined)[] = new Array(SLOT_COUNT);
  private heldCount = 0;
  private readonly routes: Route[] = [];
  private addrs: string[] = [];
  private readonly addrIndex = new Map<string, number>();
  private pools: (Pool | undefined)[] = [];
  private replicaPools: (Pool | undefined)[] = [];
  private replicaSets: number[][][] = [];
  /** Semi-async migration: per slot, requests waiting behind one that is being retried. */
  private readonly lanes = new Map<number, ReqQueue>();
  /** Set while nextInLane runs, so a step that completes at once does not recurse. */
  private laneBusy = false;
  private readonly laneKicks: number[] = [];
  private anySlot = 0;

  constructor(private readonly table: SlotTable, private settings: RouterSettings) {
    for (let s = 0; s < SLOT_COUNT; s++) this.routes.push(new Route());
  }

  /** Applies reloadable settings. */
  updateSettings(s: RouterSettings): void {
    this.settings = s;
  }

  /** Installs the address table (invariant 2: before any record refers to a new index). */
  setAddresses(addrs: string[], replicaSets: number[][][]): void {
    this.addrs = addrs;
    this.replicaSets = replicaSets;
    addrs.forEach((a, i) => this.addrIndex.set(a, i));
    for (const r of this.routes) r.seq = -1; // re-resolve pools on next use
  }

  /** Records that the slot table changed: re-dispatch held requests of unlocked slots. */
  slotsChanged(): void {
    if (this.heldCount === 0) return;
    for (let s = 0; s < SLOT_COUNT; s++) {
      if (this.held[s] !== undefined && (this.route(s).state & LOCKED) === 0) this.releaseHeld(s);
    }
  }

  /**
   * Re-dispatches, in order, the requests held for a slot that is no longer locked. Called by
   * slotsChanged() and, before anything newer is sent, by dispatch(): the control thread writes
   * the unlocked record before its message arrives, and a request read in between must not
   * overtake the ones that were held.
   */
  private releaseHeld(slot: number): void {
    const list = this.held[slot]!;
    this.held[slot] = undefined;
    this.heldCount -= list.length;
    for (const req of list) {
      // A request whose client left is dropped here rather than run for nobody.
      if (req.owner !== null && req.owner.alive()) this.dispatch(req, slot, req.buf!, req.start, req.end, req.args, req.argc);
    }
  }

  private purgeAt = 4096;

  private purgeDeadHeld(): void {
    let n = 0;
    for (let s = 0; s < SLOT_COUNT; s++) {
      const list = this.held[s];
      if (list === undefined) continue;
      const live = list.filter((r) => r.owner !== null && r.owner.alive());
      this.held[s] = live.length > 0 ? live : undefined;
      n += live.length;
    }
    this.heldCount = n;
    this.purgeAt = Math.max(4096, n * 2);
  }

  /** Requests currently held for locked slots. */
  get heldRequests(): number {
    return this.heldCount;
  }

  /** The decoded route of a slot, refreshed when its sequence moved. */
  route(slot: number): Route {
    const r = this.routes[slot]!;
    const seq = Atomics.load(this.table.words, slot * WORDS_PER_SLOT);
    if (r.seq === seq) return r;
    const rec = tmpRecord;
    r.seq = this.table.read(slot, rec);
    r.state = rec.state;
    r.master = this.pool(rec.backend);
    r.from = this.pool(rec.from);
    r.method = rec.method;
    r.group = rec.group;
    r.fromGroup = rec.fromGroup;
    r.replicas = null;
    const set = rec.replicas >= 0 ? this.replicaSets[rec.replicas] : undefined;
    if (set !== undefined && set.length > 0) {
      r.replicas = set.map((g) => g.map((i) => this.pool(i, true)).filter((p): p is Pool => p !== null));
    }
    if ((r.state & ONLINE) !== 0 && r.master === null) {
      log.error(`slot ${slot} refers to unknown backend index ${rec.backend}; treating it as offline`);
      r.state &= ~ONLINE;
    }
    return r;
  }

  /** The pool of an address, as a master (backend_primary_parallel) or replica (..._replica_...). */
  private pool(index: number, replica = false): Pool | null {
    if (index < 0 || index >= this.addrs.length) return null;
    const pools = replica ? this.replicaPools : this.pools;
    let p = pools[index];
    if (p === undefined) {
      p = new Pool(this.addrs[index]!, replica ? this.settings.replicaParallel : this.settings.primaryParallel, this.settings);
      pools[index] = p;
    }
    return p;
  }

  /** Visits every backend connection of this worker. */
  forEachConn(fn: (c: BackendConn) => void): void {
    for (const p of this.pools) p?.forEach(fn);
    for (const p of this.replicaPools) p?.forEach(fn);
  }

  /** The pool of a backend address, for SLOTSINFO addr; null when unknown. */
  poolByAddr(addr: string): Pool | null {
    const i = this.addrIndex.get(addr);
    return i === undefined ? null : this.pool(i);
  }

  /**
   * Sends a request of one slot: the bytes buf[start, end) are the client's own (forwarded as
   * they are). args/argc (offsets into buf) are needed only when the request must wait or
   * take the migration path; they are copied then.
   */
  dispatch(req: Req, slot: number, buf: Buffer, start: number, end: number, args: Int32Array | null, argc: number): void {
    req.slot = slot;
    // Invariant 3 of core/slot-table.ts: count first, then read the state.
    countSlot(slot);
    req.counted = true;
    const route = this.route(slot);
    const state = route.state;
    if ((state & LOCKED) === 0 && this.heldCount !== 0 && this.held[slot] !== undefined) this.releaseHeld(slot);
    if ((state & (LOCKED | MIGRATING)) === 0 && (state & ONLINE) !== 0) {
      this.pickConn(route, req.cmd!, req.db, req.resp3, slot).send(req, buf, start, end);
      return;
    }
    if ((state & (LOCKED | ONLINE)) === ONLINE) {
      // Migrating: the count taken above stays up until the final reply, through every step,
      // so a slot change waits for the whole exchange (never released and taken again, which
      // would open a window for the control thread to see the slot drained).
      this.migrate(req, route, slot, buf, start, end, args, argc);
      return;
    }
    req.counted = false;
    uncountSlot(slot);
    if (state & LOCKED) {
      this.hold(req, slot, buf, start, end, args, argc);
      return;
    }
    req.failed = true;
    req.completeWith(E.SLOT_NOT_READY_REPLY, true);
  }

  /** Sends a request that carries no key to the backend of some online slot. */
  dispatchKeyless(req: Req, buf: Buffer, start: number, end: number): void {
    for (let i = 0; i < SLOT_COUNT; i++) {
      const s = (this.anySlot + i) & (SLOT_COUNT - 1);
      if (this.route(s).state & ONLINE) {
        this.anySlot = s;
        this.dispatch(req, s, buf, start, end, null, 0);
        return;
      }
    }
    req.failed = true;
    req.completeWith(E.SLOT_NOT_READY_REPLY, true);
  }

  private pickConn(route: Route, cmd: CommandInfo, db: number, resp3: boolean, slot: number): BackendConn {
    const replicas = route.replicas;
    if (replicas !== null && !cmd.write && !cmd.masterOnly && !this.settings.primaryOnly) {
      // Replica groups are ordered by closeness; within a group the slot picks a replica,
      // so one slot keeps reading from one replica (its reads stay in order).
      for (const group of replicas) {
        for (let i = 0; i < group.length; i++) {
          const c = group[(slot + i) % group.length]!.conn(db, resp3, slot);
          if (c.state <= ConnState.Ready) return c;
        }
      }
    }
    return route.master!.conn(db, resp3, slot);
  }

  private hold(req: Req, slot: number, buf: Buffer, start: number, end: number, args: Int32Array | null, argc: number): void {
    keepBytes(req, buf, start, end, args, argc);
    let list = this.held[slot];
    if (list === undefined) {
      list = [];
      this.held[slot] = list;
    }
    list.push(req);
    this.heldCount++;
    // The bound of held work: every live client holds at most session_max_pipeline requests;
    // requests of clients that left are purged once they pile up.
    if (this.heldCount > this.purgeAt) this.purgeDeadHeld();
    // If the control thread unlocks the slot right after our read, its "slots" message is
    // handled after this task, when the request is already in the list: nothing is stranded.
  }

  // ------------------------------------------------------------------------------------
  // Migration forwarding (DESIGN §7, proxy side). The count of the slot stays up from the
  // first step to the final reply, so a slot change waits for the whole exchange.

  private migrate(req: Req, route: Route, slot: number, buf: Buffer, start: number, end: number,
    args: Int32Array | null, argc: number): void {
    const cmd = req.cmd!;
    keepBytes(req, buf, start, end, args, argc);
    const target = route.master!;
    const from = route.from;
    if (from === null || req.args === null || argc === 0 || cmd.keySpec === KeySpec.None) {
      // No source, or no key to move: the target answers.
      target.conn(req.db, req.resp3, slot).send(req, buf, start, end);
      return;
    }
    if (route.method === FORWARD_SEMI_ASYNC) {
      const lane = this.lanes.get(slot);
      if (lane !== undefined) {
        lane.push(req); // keep this worker's order for the slot behind a request in retry
        return;
      }
      this.lanes.set(slot, new ReqQueue());
      this.semiAsyncStep(req, slot, route);
      return;
    }
    if (route.method === FORWARD_SYNC) this.syncStep(req, slot, route);
    else this.redisStep(req, slot, route, false);
  }

  /** Index of the argument that decides the slot (the key codis migrates by), or -1. */
  private routingKeyIndex(req: Req): number {
    const cmd = req.cmd!;
    const i = cmd.routeIndex >= 0 ? cmd.routeIndex : firstKeyIndex(req);
    return i >= 0 && i < req.argc ? i : -1;
  }

  /** codis sync: SLOTSMGRTTAGONE host port timeout key on the source, then the target. */
  private syncStep(req: Req, slot: number, route: Route): void {
    const ki = this.routingKeyIndex(req);
    const target = route.master!;
    if (ki < 0) {
      this.forwardKept(req, target, slot);
      return;
    }
    const key = req.buf!.subarray(req.args![2 * ki], req.args![2 * ki + 1]);
    const [host, port] = splitAddr(target.addr);
    route.from!.conn(req.db, req.resp3, slot).sendInternal(
      ["SLOTSMGRTTAGONE", host, port, "3000", key],
      (_r, reply, isError) => {
        if (isError || reply[0] !== 0x3a /* : */) {
          this.failMigration(req, route, slot, isError ? errorText(reply) : `bad slotsmgrt resp: ${preview(reply)}`);
          return;
        }
        this.forwardKept(req, target, slot);
      },
      slot,
    );
  }

  /**
   * codis semi-async: SLOTSMGRT-EXEC-WRAPPER key argv... on the source. Reply [0, ...]: the key
   * is not there, go to the target; [1, ...]: mid-move, retry with back-off until the
   * deadline; [2, reply]: the source ran it and reply is the answer.
   */
  private semiAsyncStep(req: Req, slot: number, route: Route): void {
    const ki = this.routingKeyIndex(req);
    if (ki < 0) {
      this.forwardKept(req, route.master!, slot);
      this.nextInLane(slot);
      return;
    }
    if (req.deadline === 0) req.deadline = performance.now() + (this.settings.recvTimeout || 30_000);
    const ranges = new Int32Array(2 + req.argc * 2);
    ranges[0] = req.args![2 * ki]!;
    ranges[1] = req.args![2 * ki + 1]!;
    ranges.set(req.args!.subarray(0, req.argc * 2), 2);
    const bytes = encodeFromRanges(WRAPPER, req.buf!, ranges, req.argc + 1);
    const cb: InternalCallback = (_r, reply, isError) => {
      const route2 = this.route(slot);
      if (isError) {
        this.failMigration(req, route2, slot, errorText(reply));
        this.nextInLane(slot);
        return;
      }
      const parts: number[] = [];
      const n = splitArrayReply(reply, 0, reply.length, parts);
      const code = n === 2 ? integerAt(reply, parts[0]!, parts[1]!) : undefined;
      if (code === 0) {
        this.forwardKept(req, route.master!, slot);
        this.nextInLane(slot);
      } else if (code === 1) {
        if (performance.now() > req.deadline) {
          this.failMigration(req, route2, slot, "key is still being migrated at the deadline");
          this.nextInLane(slot);
          return;
        }
        // codis's back-off: immediately 5 times, then 1 ms per attempt up to 20 ms.
        const a = req.attempts++;
        const delay = a < 5 ? 0 : Math.min(a, 20);
        setTimeout(() => this.semiAsyncStep(req, slot, route), delay);
      } else if (code === 2) {
        req.complete(reply, parts[2]!, parts[3]!, reply[parts[2]!] === 0x2d);
        this.nextInLane(slot);
      } else {
        this.failMigration(req, route2, slot, `bad slotsmgrt-exec-wrapper resp: ${preview(reply)}`);
        this.nextInLane(slot);
      }
    };
    route.from!.conn(req.db, req.resp3, slot).sendInternalRaw(bytes, cb, slot);
  }

  /**
   * Starts the next request of a slot's semi-async lane. A step can complete at once (its
   * connection is down and fails it synchronously) and call back here: such calls are queued
   * and run by the outermost loop, so a long lane never recurses.
   */
  private nextInLane(slot: number): void {
    this.laneKicks.push(slot);
    if (this.laneBusy) return;
    this.laneBusy = true;
    try {
      for (let s = this.laneKicks.shift(); s !== undefined; s = this.laneKicks.shift()) this.advanceLane(s);
    } finally {
      this.laneBusy = false;
    }
  }

  private advanceLane(slot: number): void {
    const lane = this.lanes.get(slot);
    if (lane === undefined) return;
    const next = lane.shift();
    if (next === undefined) {
      this.lanes.delete(slot);
      return;
    }
    const route = this.route(slot);
    if ((route.state & MIGRATING) === 0 || route.method !== FORWARD_SEMI_ASYNC || route.from === null) {
      // The slot changed meanwhile (it cannot while counts are up, but be safe): release all.
      this.lanes.delete(slot);
      for (let r: Req | undefined = next; r !== undefined; r = lane.shift()) {
        if (r.counted) {
          r.counted = false;
          uncountSlot(slot);
        }
        this.dispatch(r, slot, r.buf!, r.start, r.end, r.args, r.argc);
      }
      return;
    }
    this.semiAsyncStep(next, slot, route);
  }

  /**
   * slotway's method for vanilla Redis/Valkey: MIGRATE every key of the command from the
   * source (no REPLACE: a key on the target is never overwritten blindly), then run the command
   * on the target. A key that is not on the source answers NOKEY and is simply absent or
   * already moved. BUSYKEY means the target holds a copy the source should not have kept; the
   * source's copy is the live one (a write would have moved it first), so retry with REPLACE.
   */
  private redisStep(req: Req, slot: number, route: Route, replace: boolean): void {
    const target = route.master!;
    const keys = keyIndexes(req.cmd!, req.argc, (i) => req.buf!.subarray(req.args![2 * i], req.args![2 * i + 1]));
    if (keys.length === 0) {
      this.forwardKept(req, target, slot);
      return;
    }
    const [host, port] = splitAddr(target.addr);
    const timeout = Math.max(1000, Math.min(this.settings.recvTimeout || 5000, 10_000));
    const args: (string | number | Buffer)[] = ["MIGRATE", host, port, "", req.db, timeout];
    if (replace) args.push("REPLACE");
    if (this.settings.productAuth) args.push("AUTH", this.settings.productAuth);
    args.push("KEYS");
    for (const i of keys) args.push(req.buf!.subarray(req.args![2 * i], req.args![2 * i + 1]));
    route.from!.conn(req.db, req.resp3, slot).sendInternal(args, (_r, reply, isError) => {
      if (!isError) {
        this.forwardKept(req, target, slot);
        return;
      }
      const text = errorText(reply);
      // Redis words it "ERR Target instance replied with error: BUSYKEY ...".
      if (!replace && text.includes("BUSYKEY")) {
        this.redisStep(req, slot, route, true);
        return;
      }
      this.failMigration(req, route, slot, text);
    }, slot);
  }

  private forwardKept(req: Req, target: Pool, slot: number): void {
    target.conn(req.db, req.resp3, slot).send(req, req.buf!, req.start, req.end);
  }

  private failMigration(req: Req, route: Route, slot: number, why: string): void {
    req.failed = true;
    req.completeWith(errorReply(E.migrateFailed(why, route.from?.addr ?? "?", slot)), true);
  }

  // ------------------------------------------------------------------------------------
  // Multi-key commands (MGET, MSET, DEL, UNLINK, EXISTS, TOUCH): split per backend
  // connection, not per key, and merged in key order.

  /**
   * Dispatches a multi-key command. stride is 1 (keys) or 2 (key value pairs). parent is
   * already queued in the session; it completes when every part has answered.
   */
  dispatchMulti(parent: Req, buf: Buffer, start: number, end: number, args: Int32Array, argc: number,
    stride: number, transform: Transform): void {
    const cmd = parent.cmd!;
    const nkeys = (argc - 1) / stride;
    const db = parent.db;
    const resp3 = parent.resp3;
    const slots: number[] = new Array(nkeys);
    // Connections in first-seen order with the keys each one gets; keys of locked,
    // migrating or offline slots go alone through dispatch() (soloKeys).
    const conns: BackendConn[] = [];
    const connKeys: number[][] = [];
    const soloKeys: number[] = [];
    let lastConn: BackendConn | null = null;
    let lastKeys: number[] | null = null;
    for (let k = 0; k < nkeys; k++) {
      const ai = 1 + k * stride;
      const slot = slotOf(buf, args[2 * ai]!, args[2 * ai + 1]!);
      slots[k] = slot;
      countSlot(slot);
      const route = this.route(slot);
      const st = route.state;
      if ((st & LOCKED) === 0 && this.heldCount !== 0 && this.held[slot] !== undefined) this.releaseHeld(slot);
      if ((st & (LOCKED | MIGRATING)) === 0 && (st & ONLINE) !== 0) {
        const c = this.pickConn(route, cmd, db, resp3, slot);
        if (c !== lastConn) {
          // Keys of one command mostly alternate between few connections: a short search.
          let ci = conns.indexOf(c);
          if (ci < 0) {
            ci = conns.push(c) - 1;
            connKeys.push([]);
          }
          lastConn = c;
          lastKeys = connKeys[ci]!;
        }
        lastKeys!.push(k);
      } else {
        uncountSlot(slot);
        soloKeys.push(k);
      }
    }
    const solo = soloKeys.length;
    if (solo === 0 && conns.length === 1) {
      // Every key lives behind one connection: forward the client's bytes untouched.
      parent.slot = slots[0]!;
      parent.slots = slots;
      conns[0]!.send(parent, buf, start, end);
      return;
    }
    // One sub-command per connection, built from the client's own argument bytes; keys of
    // locked, migrating or offline slots go one by one through dispatch(), which holds,
    // migrates or fails them like single-key commands.
    parent.transform = transform;
    parent.keyCount = nkeys;
    const subs: Req[] = [];
    const subKeys: number[][] = [];
    parent.subs = subs;
    parent.subKeys = subKeys;
    parent.subsLeft = conns.length + solo;
    for (let ci = 0; ci < conns.length; ci++) {
      const keys = connKeys[ci]!;
      const sub = this.subRequest(parent, keys, subs, subKeys);
      const bytes = encodeSubCommand(cmd.nameBytes, buf, args, keys, stride);
      sub.slot = slots[keys[0]!]!;
      const subSlots: number[] = new Array(keys.length);
      for (let i = 0; i < keys.length; i++) subSlots[i] = slots[keys[i]!]!;
      sub.slots = subSlots; // counted above
      conns[ci]!.send(sub, bytes, 0, bytes.length);
    }
    for (const k of soloKeys) {
      const sub = this.subRequest(parent, [k], subs, subKeys);
      const bytes = encodeSubCommand(cmd.nameBytes, buf, args, [k], stride);
      const sc = subScanner;
      sc.reset();
      sc.scan(bytes, 0, bytes.length);
      this.dispatch(sub, slots[k]!, bytes, 0, bytes.length, sc.offsets, sc.argc);
    }
  }

  private subRequest(parent: Req, keys: number[], subs: Req[], subKeys: number[][]): Req {
    const sub = new Req();
    sub.cmd = parent.cmd;
    sub.db = parent.db;
    sub.resp3 = parent.resp3;
    sub.owner = parent;
    subs.push(sub);
    subKeys.push(keys);
    return sub;
  }
}

const WRAPPER = Buffer.from("SLOTSMGRT-EXEC-WRAPPER");
const subScanner = new RequestScanner();

/** Keeps a request's bytes and argument offsets for a later send. */
function keepBytes(req: Req, buf: Buffer, start: number, end: number, args: Int32Array | null, argc: number): void {
  req.buf = buf;
  req.start = start;
  req.end = end;
  if (args !== null && req.args !== args) req.args = args.slice(0, argc * 2);
  req.argc = argc;
}

function firstKeyIndex(req: Req): number {
  const keys = keyIndexes(req.cmd!, req.argc, (i) => req.buf!.subarray(req.args![2 * i], req.args![2 * i + 1]));
  return keys.length > 0 ? keys[0]! : -1;
}

function splitAddr(addr: string): [string, string] {
  const i = addr.lastIndexOf(":");
  return [addr.slice(0, i).replace(/^\[|\]$/g, ""), addr.slice(i + 1)];
}

function errorText(reply: Buffer): string {
  return reply.toString("utf8", 1).trim();
}



