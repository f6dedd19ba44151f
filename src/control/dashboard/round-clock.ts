// Where the time of one migration round goes (issue 8: "measure where the time goes first"):
// the engine wraps each kind of work in time(); the round ends with one log line, e.g.
//   slot-[0..99 (100)] round 812 ms: store 95 ms (4 writes), push 61 ms (3), locked 48 ms, move 610 ms
// Kinds overlap when jobs of a round run in parallel (moves of several group pairs), so the
// sum of kinds can exceed the round.
import { performance } from "node:perf_hooks";

export type RoundWork = "store" | "push" | "probe" | "move";

export class RoundClock {
  private readonly t0 = performance.now();
  private readonly ms = new Map<RoundWork, number>();
  private readonly count = new Map<RoundWork, number>();
  /** From the start of the `prepared` push to the end of the `migrating` push: slots held locked. */
  lockedMs = 0;

  /** Runs fn, adding its duration to `kind` (also when it throws). */
  async time<T>(kind: RoundWork, fn: () => Promise<T>): Promise<T> {
    const t = performance.now();
    try {
      return await fn();
    } finally {
      this.ms.set(kind, (this.ms.get(kind) ?? 0) + performance.now() - t);
      this.count.set(kind, (this.count.get(kind) ?? 0) + 1);
    }
  }

  /** Total ms spent in a kind of work so far. */
  spent(kind: RoundWork): number {
    return this.ms.get(kind) ?? 0;
  }

  summary(): string {
    const part = (k: RoundWork, what: string): string =>
      this.count.has(k) ? `, ${k} ${Math.round(this.spent(k))} ms (${this.count.get(k)} ${what})` : "";
    return `round ${Math.round(performance.now() - this.t0)} ms${part("store", "writes")}${part("push", "pushes")}` +
      `${this.lockedMs > 0 ? `, locked ${Math.round(this.lockedMs)} ms` : ""}${part("probe", "probes")}${part("move", "moves")}`;
  }
}
