// The short soak on redis-server groups (migration_method "redis"): model-checked clients through
// two proxies while the dashboard moves slots 512-1023 back and forth and is SIGKILLed mid-wave.
import { describe, expect, it } from "vitest";
import { expectClean, KILLS_OUTSIDE_LOCK, shortSoak } from "../harness/soak-short.js";

describe("soak: redis-server, method redis", () => {
  it("three waves, the dashboard killed while preparing, mid-move and at finished: nothing lost, duplicated, reordered, resurrected or stale", async () => {
    const r = await shortSoak("redis", "redis", { killAt: [...KILLS_OUTSIDE_LOCK] });
    expectClean(r);
    expect(r.kills.map((k) => k.wanted)).toEqual([...KILLS_OUTSIDE_LOCK]);
    expect(r.waves.every((w) => w.done)).toBe(true);
  }, 240_000);

  it("the dashboard killed inside the locked window and down past the bound: no request held longer than 10 s", async () => {
    const r = await shortSoak("redis", "redis", { waves: 1, killAt: ["prepared"], heldBoundS: 10, deadLockedS: 12 });
    // The kill must have landed while the proxies held the slots locked, or the test proves nothing.
    expect(r.kills[0]?.lockedPerProxy.every((n) => n > 0), JSON.stringify(r.kills)).toBe(true);
    expectClean(r);
  }, 240_000);
});
