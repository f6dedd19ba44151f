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

import { SlotTable, InflightCounters, ONLINE, LOCKED, MIGRATING, type SlotRecord, emptyRecord } from "../core/slot-table.js";
import { SLOT_COUNT } from "../core/slot.js";
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

  constructor(workerCount: number, private drainTimeout: () => number) {
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
    slots.forEach((s, i) => {
      table.write(s.id, records[i]!);
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
