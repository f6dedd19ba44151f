// Noticing slot changes that a worker must act on before they can complete: a blocked
// command or an open transaction holds its slot's in-flight count, so the control thread's
// drain waits for it (core/slot-table.ts, invariant 3). The control thread tells workers only
// after the swap, so the holders look at the slot records themselves: one timer per worker,
// running only while something holds or waits, compares each held slot's sequence word with
// the one it was issued at (a lock, a swap and an unlock each move it).

export interface SlotWatcher {
  /** Reacts to slot changes; returns false when it holds nothing and needs no more ticks. */
  pollSlots(now: number): boolean;
}

/** Tick of the watch: short against slot_drain_timeout, long against a request. */
export const WATCH_MS = 5;

export class SlotWatch {
  private readonly active = new Set<SlotWatcher>();
  private timer: NodeJS.Timeout | null = null;

  /** Asks for ticks until w.pollSlots() returns false. */
  want(w: SlotWatcher): void {
    this.active.add(w);
    if (this.timer === null) {
      this.timer = setInterval(() => this.tick(), WATCH_MS);
      this.timer.unref();
    }
  }

  /** Runs every watcher now (the worker calls this on a "slots" message too). */
  tick(): void {
    const now = performance.now();
    for (const w of [...this.active]) {
      if (!w.pollSlots(now)) this.active.delete(w);
    }
    if (this.active.size === 0 && this.timer !== null) {
      clearInterval(this.timer);
      this.timer = null;
    }
  }
}
