// The router of one worker: from a slot to a backend connection.
//
//   dispatch(req, slot) ─ count in flight ─ read slot state ─┬─ locked    → hold until unlocked
//                                                            ├─ offline   → "slot is not ready"
//                                                            ├─ migrating → forward/<method>.ts:
//                                                            │              a step on the source,
//                                                            │              then the target
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
import { Req, countSlot, uncountSlot, Transform } from "./request.js";
import { RequestScanner } from "../core/resp-scanner.js";
import { encodeSubCommand } from "../core/resp-encoder.js";
import { KeySpec, type CommandInfo } from "../core/command-table.js";
import * as E from "../core/errors.js";
import { log } from "../log.js";
import { Pool, Route } from "./pool.js";
import { forwardKept, type ForwardHost, type Forwarder } from "./forward/forward.js";
import { SyncForward } from "./forward/sync.js";
import { SemiAsyncForward } from "./forward/semi-async.js";
import { RedisForward } from "./forward/redis.js";

export { Pool } from "./pool.js";

export interface RouterSettings extends BackendOptions {
  primaryOnly: boolean;
  primaryParallel: number;
  replicaParallel: number;
  /** Deadline for retried migration steps and backend replies (ms). */
  recvTimeout: number;
  pingPeriod: number;
}

const tmpRecord: SlotRecord = emptyRecord();

export class Router implements ForwardHost {
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
  private anySlot = 0;
  private _settings: RouterSettings;
  // The forward methods of migrating slots (forward/*.ts), one instance per worker.
  private readonly sync: Forwarder = new SyncForward();
  private readonly semiAsync: Forwarder = new SemiAsyncForward(this);
  private readonly redis: Forwarder = new RedisForward(this);

  constructor(private readonly table: SlotTable, settings: RouterSettings) {
    this._settings = settings;
    for (let s = 0; s < SLOT_COUNT; s++) this.routes.push(new Route());
  }

  get settings(): RouterSettings {
    return this._settings;
  }

  /** Applies reloadable settings. */
  updateSettings(s: RouterSettings): void {
    this._settings = s;
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
  // Migration forwarding (DESIGN §7, proxy side; one file per method in forward/). The count
  // of the slot stays up from the first step to the final reply, so a slot change waits for
  // the whole exchange.

  private migrate(req: Req, route: Route, slot: number, buf: Buffer, start: number, end: number,
    args: Int32Array | null, argc: number): void {
    keepBytes(req, buf, start, end, args, argc);
    if (route.from === null || req.args === null || argc === 0 || req.cmd!.keySpec === KeySpec.None) {
      // No source, or no key to move: the target answers.
      forwardKept(req, route.master!, slot);
      return;
    }
    const f = route.method === FORWARD_SEMI_ASYNC ? this.semiAsync : route.method === FORWARD_SYNC ? this.sync : this.redis;
    f.start(req, slot, route);
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

const subScanner = new RequestScanner();

/** Keeps a request's bytes and argument offsets for a later send. */
function keepBytes(req: Req, buf: Buffer, start: number, end: number, args: Int32Array | null, argc: number): void {
  req.buf = buf;
  req.start = start;
  req.end = end;
  if (args !== null && req.args !== args) req.args = args.slice(0, argc * 2);
  req.argc = argc;
}
