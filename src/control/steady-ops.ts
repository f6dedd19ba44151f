// The proxy's ops/s while none of its slots migrates (stats `slotway.steady_ops`): the figure the
// dashboard's pace (dashboard/pacer.ts) compares the clients' ops/s with while slots move. Kept
// by the proxy, it survives a dashboard restart in the middle of a migration, and it is always
// recent, where a dashboard could only measure it by holding the movers.
//
// A second counts as steady when no slot was locked or migrating at any time in it (the slot
// controller says when it last had one). The figure is the median of the last STEADY_SAMPLES
// steady seconds; 0 until there is one.

import { median } from "../core/median.js";

const STEADY_SAMPLES = 5;

export class SteadyOps {
  private readonly samples: number[] = [];
  private lastAt = -1;
  private lastTotal = 0;
  private value = 0;

  /**
   * One sample of the proxy's ops counter. busySince: when a slot last had a migration action
   * (performance clock; Infinity while one has, -Infinity if none ever had).
   */
  sample(total: number, now: number, busySince: number): void {
    const prevAt = this.lastAt;
    const prevTotal = this.lastTotal;
    this.lastAt = now;
    this.lastTotal = total;
    if (prevAt < 0 || total < prevTotal || now - prevAt < 200 || busySince >= prevAt) return;
    this.samples.push(((total - prevTotal) * 1000) / (now - prevAt));
    if (this.samples.length > STEADY_SAMPLES) this.samples.shift();
    this.value = median(this.samples);
  }

  /** ops/s of the last steady seconds (rounded); 0 when none was seen yet. */
  get opsPerSec(): number {
    return Math.round(this.value);
  }
}
