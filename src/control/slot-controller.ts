// Changing slots: codis's fillslots, done across every worker thread through shared memory.
//
//   fill(slots):
//     1. new backend addresses → every worker (and its ack) before any record names them
//     2. mark each slot LOCKED                       (workers now hold new requests of it)
//     3. wait until no worker has a request of these slots in flight (bounded)
//     4. write the new records                       (one seqlock write each: atomic swap)
//     5. tell every worker, which re-dispatches what it held for unlocked slots
//   Only then does fill() resolve, and only then does the admin API answer 200: that
//   answer is the acknowledgement a dashboard waits for (core/slot-table.ts, invariant 3).
//
// Fills run one at a time. If the drain does not finish in time the previous records are
// put back unchanged and the fill fails, so a stuck backend never leaves slots locked.
//
// A slot filled with `locked: true` (the dashboard's `prepared` step) stays locked until the
// next fill says otherwise: the proxy never unlocks by itself (why: workers/router.ts,
// expireHeld). Workers fail the requests that wait longer than slot_lock_wait_timeout; this
// controller remembers since when each slot is locked, logs a lock once it is older than that
// bound, and reports the locks (stats JSON, /metrics).

import { SlotTable, InflightCounters, ONLINE, LOCKED, MIGRATING, type SlotRecord, emptyRecord } from "../core/slot-table.js";
import { SLOT_COUNT } from "../core/slot.js";
import { log } from "../log.js";
import type { Slot } from "./models.js";
import type { WorkerSet } from "./worker-set.js";

export class SlotController {
  readonly table = new SlotTable();
  readonly inflight: InflightCounters;
  private workers: WorkerSet | null = null;
  private readonly addrs: string[] = [];
  private readonly addrIndex = new Map<string, number>();
  private readonly replicaSets: number[][][] = [];
  private readonly replicaIndex = new Map<string, number>();
  private readonly slots: Slot[] = [];
  private chain: Promise<unknown> = Promise.resolve();
  /** Per slot: when a fill left it locked (ms, performance clock); 0 when not locked. */
  private readonly lockedSince = new Float64Array(SLOT_COUNT);
  /** Per slot: the lock was logged as stuck (so it is logged once, and its end too). */
  private readonly lockReported = new Uint8Array(SLOT_COUNT);
  private watchTimer: NodeJS.Timeout | null = null;
  /** Slots that are locked or migrating now. */
  private readonly busy = new Set<number>();
  /** When a slot last stopped being locked or migrating (performance clock). */
  private busyEndedAt = -Infinity;

  constructor(
    workerCount: number,
    private drainTimeout: () => number,
    private readonly lockWaitTimeout: () => number = () => 0,
  ) {
    this.inflight = new InflightCounters(workerCount);
    for (let i = 0; i < SLOT_COUNT; i++) this.slots.push(emptySlot(i));
  }

  attach(workers: WorkerSet): void {
    this.workers = workers;
  }

  /** The codis Slot models as last filled (for the /slots API). */
  current(): Slot[] {
    return this.slots.map((s) => ({ ...s, replica_groups: s.replica_groups.map((g) => [...g]) }));
  }

  /** Slots a fill left locked, with how long they have been (oldest first). */
  lockedSlots(now = performance.now()): { id: number; ms: number }[] {
    const out: { id: number; ms: number }[] = [];
    for (let s = 0; s < SLOT_COUNT; s++) {
      const t = this.lockedSince[s]!;
      if (t > 0) out.push({ id: s, ms: Math.round(now - t) });
    }
    return out.sort((a, b) => b.ms - a.ms || a.id - b.id);
  }

  /** Starts logging locks older than slot_lock_wait_timeout (once each), every second. */
  watchLocks(): void {
    if (this.watchTimer) return;
    this.watchTimer = setInterval(() => this.checkLocks(performance.now()), 1000);
    this.watchTimer.unref();
  }

  stopWatch(): void {
    if (this.watchTimer) clearInterval(this.watchTimer);
    this.watchTimer = null;
  }

  /** Logs each slot locked for longer than the bound, once per lock. */
  checkLocks(now: number): void {
    const bound = this.lockWaitTimeout();
    // With no bound (0: requests wait for ever), a lock is still worth a line after 10 s.
    const after = bound > 0 ? bound : 10_000;
    const stuck: number[] = [];
    let oldest = 0;
    for (let s = 0; s < SLOT_COUNT; s++) {
      const t = this.lockedSince[s]!;
      if (t === 0 || this.lockReported[s] || now - t < after) continue;
      this.lockReported[s] = 1;
      stuck.push(s);
      oldest = Math.max(oldest, now - t);
    }
    if (stuck.length === 0) return;
    log.warn(`slot-[${slotList(stuck)}] locked for ${(oldest / 1000).toFixed(1)} s: the dashboard has not pushed the migration step after \`prepared\` (is it running?); ` +
      (bound > 0 ? `requests of ${stuck.length === 1 ? "this slot" : "these slots"} fail after slot_lock_wait_timeout = ${bound} ms, ` : "requests wait (slot_lock_wait_timeout = 0), ") +
      "and the slot stays locked until the dashboard's next step");
  }

  /**
   * When a slot last was locked or migrating (performance clock): Infinity while one is,
   * -Infinity if none ever was (the proxy's steady ops, steady-ops.ts).
   */
  busySince(): number {
    return this.busy.size ? Infinity : this.busyEndedAt;
  }

  /** Slots with a backend. */
  onlineCount(): number {
    return this.slots.filter((s) => s.backend_addr !== "").length;
  }

  /** Applies a codis fillslots request; resolves when every worker routes by it. */
  fill(slots: Slot[]): Promise<void> {
    for (const s of slots) {
      if (!Number.isInteger(s.id) || s.id < 0 || s.id >= SLOT_COUNT) {
        return Promise.reject(new Error("use of invalid slot id"));
      }
    }
    const run = this.chain.then(() => this.doFill(slots));
    this.chain = run.catch(() => undefined);
    return run;
  }

  private async doFill(slots: Slot[]): Promise<void> {
    const workers = this.workers;
    // 1. Addresses first (invariant 2).
    let grew = false;
    const intern = (addr: string): number => {
      if (addr === "") return -1;
      let i = this.addrIndex.get(addr);
      if (i === undefined) {
        i = this.addrs.length;
        this.addrs.push(addr);
        this.addrIndex.set(addr, i);
        grew = true;
      }
      return i;
    };
    const records: SlotRecord[] = slots.map((s) => {
      const rec = emptyRecord();
      rec.backend = intern(s.backend_addr);
      rec.from = intern(s.migrate_from);
      rec.group = s.backend_addr_group_id;
      rec.fromGroup = s.migrate_from_group_id;
      rec.method = s.forward_method;
      rec.state = (rec.backend >= 0 ? ONLINE : 0) | (s.locked ? LOCKED : 0) | (rec.from >= 0 ? MIGRATING : 0);
      const groups = (s.replica_groups ?? []).filter((g) => g.length > 0);
      if (groups.length > 0) {
        const key = JSON.stringify(groups);
        let ri = this.replicaIndex.get(key);
        if (ri === undefined) {
          ri = this.replicaSets.length;
          this.replicaSets.push(groups.map((g) => g.map(intern)));
          this.replicaIndex.set(key, ri);
          grew = true;
        }
        rec.replicas = ri;
      }
      return rec;
    });
    if (grew && workers) {
      await workers.broadcast({ t: "addrs", addrs: [...this.addrs], replicaSets: this.replicaSets.map((s) => s.map((g) => [...g])) });
    }
    // 2. Lock.
    const table = this.table;
    const previous: SlotRecord[] = slots.map((s) => {
      const r = emptyRecord();
      table.read(s.id, r);
      return r;
    });
    slots.forEach((s, i) => {
      const p = previous[i]!;
      if ((p.state & LOCKED) === 0) table.write(s.id, { ...p, state: p.state | LOCKED });
    });
    // 3. Drain.
    try {
      await this.drain(slots.map((s) => s.id));
    } catch (e) {
      slots.forEach((s, i) => table.write(s.id, previous[i]!));
      if (workers) await workers.broadcast({ t: "slots" });
      throw e;
    }
    // 4. Swap.
    const now = performance.now();
    const unlocked: string[] = [];
    slots.forEach((s, i) => {
      table.write(s.id, records[i]!);
      if (s.locked || s.migrate_from !== "") this.busy.add(s.id);
      else if (this.busy.delete(s.id)) this.busyEndedAt = now;
      if (s.locked) {
        if (this.lockedSince[s.id] === 0) this.lockedSince[s.id] = now;
      } else if (this.lockedSince[s.id] !== 0) {
        if (this.lockReported[s.id]) unlocked.push(`${s.id} after ${((now - this.lockedSince[s.id]!) / 1000).toFixed(1)} s`);
        this.lockedSince[s.id] = 0;
        this.lockReported[s.id] = 0;
      }
      this.slots[s.id] = {
        id: s.id,
        locked: s.locked,
        backend_addr: s.backend_addr,
        backend_addr_group_id: s.backend_addr_group_id,
        migrate_from: s.migrate_from,
        migrate_from_group_id: s.migrate_from_group_id,
        forward_method: s.forward_method,
        replica_groups: (s.replica_groups ?? []).map((g) => [...g]),
      };
    });
    if (unlocked.length) log.warn(`slot(s) unlocked by the dashboard after a stuck lock: ${unlocked.slice(0, 16).join(", ")}${unlocked.length > 16 ? `, ... (${unlocked.length})` : ""}`);
    // 5. Release held requests.
    if (workers) await workers.broadcast({ t: "slots" });
  }

  private drain(ids: number[]): Promise<void> {
    const deadline = performance.now() + this.drainTimeout();
    const busy = () => ids.find((id) => this.inflight.total(id) > 0);
    return new Promise((resolve, reject) => {
      const check = () => {
        const s = busy();
        if (s === undefined) return resolve();
        if (performance.now() > deadline) {
          reject(new Error(`slot-[${String(s).padStart(4, "0")}] still has ${this.inflight.total(s)} request(s) in flight after ${this.drainTimeout()} ms; slots left unchanged`));
          return;
        }
        setTimeout(check, 1);
      };
      check();
    });
  }
}

/** "3" or "3,7,9" or "3..900 (512)" for log lines. */
function slotList(ids: number[]): string {
  return ids.length <= 8 ? ids.join(",") : `${ids[0]}..${ids[ids.length - 1]} (${ids.length})`;
}

function emptySlot(id: number): Slot {
  return {
    id,
    locked: false,
    backend_addr: "",
    backend_addr_group_id: 0,
    migrate_from: "",
    migrate_from_group_id: 0,
    forward_method: 0,
    replica_groups: [],
  };
}
