// The short soak on real Pika groups (../shared/peers): 3.4 in sharding mode, 3.5 and 4.0 in
// classic mode, each with its pika.conf defaults (what an operator runs), migrated the way the
// dashboard picks for them (semi-async, codis's default). Issue 7 asks for 0 anomalies here.
import { describe, expect, it } from "vitest";
import { expectClean, KILLS_OUTSIDE_LOCK, shortSoak } from "../harness/soak-short.js";

describe.each(["pika34", "pika35", "pika40"] as const)("soak: %s, method semi-async", (backend) => {
  it("three waves, the dashboard killed while preparing, mid-move and at finished: nothing lost, duplicated, reordered, resurrected or stale", async () => {
    const r = await shortSoak(backend, "semi-async", { killAt: [...KILLS_OUTSIDE_LOCK], waveTimeoutS: 60 });
    expectClean(r);
    expect(r.kills.map((k) => k.wanted)).toEqual([...KILLS_OUTSIDE_LOCK]);
    expect(r.waves.every((w) => w.done)).toBe(true);
  }, 400_000);
});
