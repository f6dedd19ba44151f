// The slot table in shared memory: 1024 fixed records in an Int32Array over a
// SharedArrayBuffer, written only by the control thread and read by every worker.
//
// Record of slot S at words [S*8, S*8+8):
//   SEQ       seqlock sequence: odd while the control thread is writing the record
//   STATE     bit flags: ONLINE (has a backend), LOCKED (hold requests), MIGRATING
//   BACKEND   index of the master address in the address table, -1 = none
//   FROM      index of the migrate-from address, -1 = none
//   REPLICAS  index of the replica-group set, -1 = none
//   GROUP     backend group id (for SLOTSMAPPING and stats)
//   FROM_GROUP migrate-from group id
//   METHOD    forward method while migrating: 0 sync, 1 semi-async (codis), 2 redis (MIGRATE)
//
// Invariants (enforced here and in fill-slots):
//  1. Only the control thread writes records, one writer, so the seqlock needs no CAS.
//  2. Addresses are strings, kept in an append-only table that the control thread sends to
//     every worker, and that every worker acknowledges, before any record refers to a new
//     index. A worker therefore never sees an index it cannot resolve.
//  3. Lock-and-drain: a worker increments its in-flight counter of S *before* it loads SEQ
//     of S, and decrements it when the request's reply (or failure) arrives. The control
//     thread sets LOCKED *before* it reads the counters. All of these are Atomics (sequentially
//     consistent), so either the worker sees LOCKED and holds the request, or the control
//     thread sees the count and waits for it: no request can reach the old backend after the
//     control thread has seen the slot drained.

import { SLOT_COUNT } from "./slot.js";

export const WORDS_PER_SLOT = 8;
export const SEQ = 0;
export const STATE = 1;
export const BACKEND = 2;
export const FROM = 3;
export const REPLICAS = 4;
export const GROUP = 5;
export const FROM_GROUP = 6;
export const METHOD = 7;

export const ONLINE = 1;
export const LOCKED = 2;
export const MIGRATING = 4;

export const FORWARD_SYNC = 0;
export const FORWARD_SEMI_ASYNC = 1;
export const FORWARD_REDIS = 2;
/** slotway: SLOTSMGRTTAGONE, then EXISTS of the command's keys on the source (Pika classic). */
export const FORWARD_PIKA = 3;

/** A decoded slot record. */
export interface SlotRecord {
  state: number;
  backend: number;
  from: number;
  replicas: number;
  group: number;
  fromGroup: number;
  method: number;
}

export function emptyRecord(): SlotRecord {
  return { state: 0, backend: -1, from: -1, replicas: -1, group: 0, fromGroup: 0, method: 0 };
}

export class SlotTable {
  readonly words: Int32Array;

  constructor(buffer?: SharedArrayBuffer) {
    const sab = buffer ?? new SharedArrayBuffer(SLOT_COUNT * WORDS_PER_SLOT * 4);
    this.words = new Int32Array(sab);
    if (!buffer) {
      for (let s = 0; s < SLOT_COUNT; s++) {
        const b = s * WORDS_PER_SLOT;
        this.words[b + BACKEND] = -1;
        this.words[b + FROM] = -1;
        this.words[b + REPLICAS] = -1;
      }
    }
  }

  get buffer(): SharedArrayBuffer {
    return this.words.buffer as SharedArrayBuffer;
  }

  /** The current sequence word of a slot (even when stable). */
  seq(slot: number): number {
    return Atomics.load(this.words, slot * WORDS_PER_SLOT);
  }

  /** Writes a record (control thread only: see invariant 1). */
  write(slot: number, r: SlotRecord): void {
    const w = this.words;
    const b = slot * WORDS_PER_SLOT;
    Atomics.add(w, b + SEQ, 1); // odd: readers retry
    Atomics.store(w, b + STATE, r.state);
    Atomics.store(w, b + BACKEND, r.backend);
    Atomics.store(w, b + FROM, r.from);
    Atomics.store(w, b + REPLICAS, r.replicas);
    Atomics.store(w, b + GROUP, r.group);
    Atomics.store(w, b + FROM_GROUP, r.fromGroup);
    Atomics.store(w, b + METHOD, r.method);
    Atomics.add(w, b + SEQ, 1); // even again: stable
  }

  /**
   * Reads a consistent record into out and returns the sequence it was read at. Spins while
   * the writer is mid-record; the writer is another thread doing a handful of stores, so
   * the wait is bounded by a few microseconds.
   */
  read(slot: number, out: SlotRecord): number {
    const w = this.words;
    const b = slot * WORDS_PER_SLOT;
    for (;;) {
      const s1 = Atomics.load(w, b + SEQ);
      if (s1 & 1) continue;
      out.state = Atomics.load(w, b + STATE);
      out.backend = Atomics.load(w, b + BACKEND);
      out.from = Atomics.load(w, b + FROM);
      out.replicas = Atomics.load(w, b + REPLICAS);
      out.group = Atomics.load(w, b + GROUP);
      out.fromGroup = Atomics.load(w, b + FROM_GROUP);
      out.method = Atomics.load(w, b + METHOD);
      if (Atomics.load(w, b + SEQ) === s1) return s1;
    }
  }
}

/**
 * Per-worker, per-slot in-flight request counters: row w belongs to worker w, which alone
 * adds and subtracts in it; the control thread only reads (invariant 3).
 */
export class InflightCounters {
  readonly counts: Int32Array;

  constructor(readonly workers: number, buffer?: SharedArrayBuffer) {
    this.counts = new Int32Array(buffer ?? new SharedArrayBuffer(workers * SLOT_COUNT * 4));
  }

  get buffer(): SharedArrayBuffer {
    return this.counts.buffer as SharedArrayBuffer;
  }

  /** Requests of a slot in flight over all workers. */
  total(slot: number): number {
    let n = 0;
    for (let w = 0; w < this.workers; w++) n += Atomics.load(this.counts, w * SLOT_COUNT + slot);
    return n;
  }
}
