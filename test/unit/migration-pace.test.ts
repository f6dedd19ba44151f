// The movers' client-aware pace (issue 8): dashboard/pacer.ts ClientPacer driven poll by poll
// on a fake clock, the proxy's steady ops (control/steady-ops.ts), a Throttle whose rate
// changes between steps, and migration_keep_client_ops_percent in dashboard.toml.
import { describe, expect, it } from "vitest";
import {
  BASELINE_MIN_OPS, ClientPacer, MIN_RATE, MIN_ROUND_SLOTS, ROUND_SECONDS, START_RATE, STUCK_POLLS, UNLIMITED_ABOVE,
} from "../../src/control/dashboard/pacer.js";
import { SteadyOps } from "../../src/control/steady-ops.js";
import { Throttle } from "../../src/control/movers/mover.js";
import { ConfigError, configToJson, defaultConfig, parseConfigText, sampleConfig } from "../../src/control/dashboard/config.js";

/** A pacer and two proxies whose op counters advance by what each poll says. */
function rig(keep = 0.85, maxRate = 0) {
  let now = 0;
  const logs: string[] = [];
  const pacer = new ClientPacer({ keep, maxRate, now: () => now, log: (m) => logs.push(m), probeMaxMs: 5000 });
  let a = 0;
  let b = 0;
  /** One poll a second later; the clients did opsPerSec, the movers moved `moved` keys. */
  const poll = (opsPerSec: number, moving: boolean, moved = 0, steady?: number): void => {
    now += 1000;
    a += Math.round(opsPerSec / 2);
    b += opsPerSec - Math.round(opsPerSec / 2);
    pacer.count(moved);
    pacer.observe(new Map([["p1", a], ["p2", b]]), moving, steady);
  };
  return { pacer, poll, logs, advance: (ms: number) => { now += ms; } };
}

/** Idle polls at opsPerSec until the pacer has its baseline. */
function settle(r: ReturnType<typeof rig>, opsPerSec: number): void {
  for (let i = 0; i < 7; i++) r.poll(opsPerSec, false);
}

describe("ClientPacer", () => {
  it("takes the median of the idle polls as the baseline and limits nothing while idle", () => {
    const r = rig();
    r.poll(0, false); // first poll: nothing to compare with yet
    for (const ops of [10_000, 12_000, 50_000, 11_000, 9_000]) r.poll(ops, false);
    expect(r.pacer.snapshot()).toEqual({ keep_percent: 85, baseline_ops: 11_000, share: -1, keys_per_sec_limit: -1, probing: false });
    expect(r.pacer.rate).toBe(0);
  });

  it("starts a run slow, cuts when the clients fall below the floor, grows when they are above it", () => {
    const r = rig();
    settle(r, 10_000);
    r.pacer.begin();
    expect(r.pacer.rate).toBe(START_RATE);
    r.poll(5_000, true, 1000); // the poll that turned to moving measures nothing
    expect(r.pacer.rate).toBe(START_RATE);
    r.poll(7_000, true, 1000); // 70 % < 85 %
    expect(r.pacer.rate).toBe(START_RATE * 0.7);
    expect(r.pacer.snapshot().share).toBe(0.7);
    r.poll(7_000, true, 700);
    expect(r.pacer.rate).toBeCloseTo(START_RATE * 0.49, 6);
    // Smoothed over two polls: one good poll after bad ones is not yet enough to grow.
    r.poll(10_000, true, 490);
    expect(r.pacer.rate).toBeCloseTo(START_RATE * 0.49, 6);
    r.poll(10_000, true, 490);
    expect(r.pacer.rate).toBeCloseTo(START_RATE * 0.49 * 1.25, 6);
    // Between the floor and floor + 5 %: hold.
    r.poll(8_700, true, 600);
    r.poll(8_700, true, 600);
    expect(r.pacer.rate).toBeCloseTo(START_RATE * 0.49 * 1.25, 6);
    expect(r.logs.some((l) => /clients keep 70% of 10000 ops\/s; movers at 175 keys\/s/.test(l))).toBe(true);
  });

  it("never goes below MIN_RATE, and probes again when stuck there (the loss is not the movers')", () => {
    const r = rig();
    settle(r, 10_000);
    r.pacer.begin();
    r.poll(5_000, true);
    for (let i = 0; i < 20 && r.pacer.rate > MIN_RATE; i++) r.poll(5_000, true, 100);
    expect(r.pacer.rate).toBe(MIN_RATE);
    let polls = 0;
    while (!r.pacer.snapshot().probing && polls++ < 2 * STUCK_POLLS) r.poll(5_000, true, 100);
    expect(r.pacer.snapshot().probing).toBe(true);
    expect(polls).toBeLessThanOrEqual(STUCK_POLLS);
    expect(r.logs.some((l) => l.includes(`clients kept 50% of 10000 ops/s at the lowest pace for ${STUCK_POLLS} polls`))).toBe(true);
    // The probe skips its first poll, then measures two: clients do 5000 with the movers held.
    r.poll(5_000, true);
    r.poll(5_000, true);
    r.poll(5_000, true);
    expect(r.pacer.snapshot()).toMatchObject({ probing: false, baseline_ops: 5_000 });
    r.poll(5_000, true, 100);
    r.poll(5_000, true, 100);
    expect(r.pacer.rate).toBeGreaterThan(MIN_RATE);
    // From now on in this run the movers may take only 5 % of what the probe measured.
    const grown = r.pacer.rate;
    r.poll(4_600, true, 100);
    r.poll(4_600, true, 100);
    expect(r.pacer.rate).toBeLessThan(grown);
  });

  it("grows up to migration_max_keys_per_second, or past UNLIMITED_ABOVE to no limit", () => {
    const capped = rig(0.85, 3000);
    settle(capped, 10_000);
    capped.pacer.begin();
    capped.poll(10_000, true);
    for (let i = 0; i < 30; i++) capped.poll(10_000, true, 1000);
    expect(capped.pacer.rate).toBe(3000);
    const free = rig();
    settle(free, 10_000);
    free.pacer.begin();
    free.poll(10_000, true);
    let polls = 0;
    while (free.pacer.rate !== 0 && polls++ < 100) free.poll(10_000, true, 1000);
    expect(free.pacer.rate).toBe(0);
    expect(polls).toBeLessThan(Math.ceil(Math.log(UNLIMITED_ABOVE / START_RATE) / Math.log(1.25)) + 2);
  });

  it("limits nothing when the clients are too few to be starved, or when turned off", () => {
    const few = rig();
    settle(few, BASELINE_MIN_OPS - 1);
    few.pacer.begin();
    expect(few.pacer.rate).toBe(0);
    few.poll(10, true, 5000);
    few.poll(10, true, 5000);
    expect(few.pacer.rate).toBe(0);
    const off = rig(0);
    settle(off, 10_000);
    off.pacer.begin();
    off.poll(1_000, true, 5000);
    off.poll(1_000, true, 5000);
    expect(off.pacer.rate).toBe(0);
    off.pacer.configure(0, 2000);
    expect(off.pacer.rate).toBe(2000);
    // No proxy at all (a cluster nobody uses yet): nothing to protect.
    const none = new ClientPacer({ keep: 0.85, maxRate: 0 });
    none.begin();
    expect(none.rate).toBe(START_RATE);
    none.observe(new Map(), true);
    expect(none.rate).toBe(0);
  });

  it("from full speed, cuts to 0.7 of what the movers did", () => {
    const free = rig();
    settle(free, 10_000);
    free.poll(10_000, true); // moving, but begin() not called: a mover of an older run
    free.poll(4_000, true, 8000);
    expect(free.pacer.rate).toBeCloseTo(8000 * 0.7, 6);
  });

  it("prefers the proxies' own steady ops over its idle polls", () => {
    const r = rig();
    settle(r, 10_000);
    r.poll(10_000, false, 0, 20_000);
    expect(r.pacer.snapshot().baseline_ops).toBe(20_000);
    r.pacer.begin();
    r.poll(10_000, true, 1000, 20_000);
    r.poll(16_000, true, 1000, 20_000); // 80 % of the proxies' figure
    expect(r.pacer.rate).toBe(START_RATE * 0.7);
  });

  it("a dashboard started mid-migration under load holds the movers for a probe, bounded in time", async () => {
    const r = rig();
    r.poll(0, true); // first poll: nothing to compare with
    r.pacer.begin();
    expect(r.pacer.rate).toBe(START_RATE); // slow start: no baseline yet
    r.poll(20_000, true, 1000); // the dashboard's first seconds: no probe yet
    expect(r.pacer.snapshot().probing).toBe(false);
    r.poll(20_000, true, 1000); // load and no baseline: probe
    expect(r.pacer.snapshot().probing).toBe(true);
    const ac = new AbortController();
    let released = false;
    const held = r.pacer.ready(ac.signal).then(() => { released = true; });
    await new Promise((res) => setTimeout(res, 20));
    expect(released).toBe(false);
    r.poll(20_000, true, 500); // covers the time before the hold: not measured
    r.poll(24_000, true);
    r.poll(26_000, true);
    await held;
    expect(r.pacer.snapshot()).toMatchObject({ probing: false, baseline_ops: 25_000 });
    expect(r.logs.some((l) => l.includes("baseline 25000 ops/s, movers resume at 250 keys/s"))).toBe(true);
    // A probe whose polls never come (proxies gone) lets the movers go at its bound.
    let later = 0;
    const q = new ClientPacer({ keep: 0.85, maxRate: 0, probeMaxMs: 50, now: () => performance.now() + later });
    later = 10_000; // past the dashboard's first seconds
    const tokens = (n: number) => new Map([["p1", n]]);
    q.observe(tokens(0), true);
    await new Promise((res) => setTimeout(res, 250));
    q.observe(tokens(10_000), true); // ~40000 ops/s, no baseline: probe
    expect(q.snapshot().probing).toBe(true);
    const t0 = performance.now();
    await q.ready(new AbortController().signal);
    expect(performance.now() - t0).toBeLessThan(1000);
  });

  it("a paced run takes rounds of about ROUND_SECONDS of the mover's work; an unpaced one the full parallel", () => {
    const r = rig();
    settle(r, 10_000);
    expect(r.pacer.roundSlots(100, 20)).toBe(100); // no run yet
    r.pacer.begin();
    expect(r.pacer.roundSlots(100, undefined)).toBe(100); // keys per slot not known yet
    expect(r.pacer.roundSlots(100, 20)).toBe(Math.ceil((START_RATE * ROUND_SECONDS) / 20));
    expect(r.pacer.roundSlots(100, 10_000)).toBe(MIN_ROUND_SLOTS);
    expect(r.pacer.roundSlots(4, 10_000)).toBe(4);
    expect(r.pacer.roundSlots(100, 1)).toBe(100);
    const off = rig(0);
    settle(off, 10_000);
    off.pacer.begin();
    expect(off.pacer.roundSlots(100, 20)).toBe(100);
  });

  it("a poll whose proxies changed measures nothing", () => {
    const r = rig();
    settle(r, 10_000);
    r.pacer.begin();
    r.poll(10_000, true);
    r.pacer.observe(new Map([["p1", 1e9]]), true); // p2 missing, p1 jumped
    expect(r.pacer.rate).toBe(START_RATE);
  });
});

describe("SteadyOps (the proxy's steady_ops)", () => {
  it("counts only whole seconds with no slot locked or migrating, as a median", () => {
    const s = new SteadyOps();
    s.sample(0, 0, -Infinity);
    expect(s.opsPerSec).toBe(0);
    s.sample(1000, 1000, -Infinity);
    expect(s.opsPerSec).toBe(1000);
    s.sample(1500, 2000, Infinity); // a slot migrates now
    s.sample(1600, 3000, 2500); // it ended inside this second
    expect(s.opsPerSec).toBe(1000);
    s.sample(4600, 4000, 2500);
    s.sample(6600, 5000, 2500);
    expect(s.opsPerSec).toBe(2000); // median of 1000, 3000, 2000
    for (let t = 6000; t <= 10_000; t += 1000) s.sample(6600 + (t - 5000) * 5, t, 2500);
    expect(s.opsPerSec).toBe(5000); // only the last five seconds count
    s.sample(0, 11_000, 2500); // counters restarted: skipped
    expect(s.opsPerSec).toBe(5000);
  });
});

describe("Throttle with a changing rate", () => {
  it("reads the rate before every step and reports what each step moved", async () => {
    let rate = 0;
    const moved: number[] = [];
    const t = Throttle.of({ keysPerSecond: () => rate, onMoved: (n) => moved.push(n) });
    expect(t.stepKeys(500)).toBe(500);
    await t.moved(500);
    rate = 1000;
    expect(t.stepKeys(500)).toBe(100);
    const t0 = performance.now();
    await t.moved(100);
    await t.moved(100);
    expect(performance.now() - t0).toBeGreaterThanOrEqual(90);
    rate = 0;
    const t1 = performance.now();
    await t.moved(500);
    expect(performance.now() - t1).toBeLessThan(50);
    expect(moved).toEqual([500, 100, 100, 500]);
  });
});

describe("migration_keep_client_ops_percent in dashboard.toml", () => {
  it("defaults to 85, parses, shows in the overview and the sample, refuses values outside 0-100", () => {
    expect(defaultConfig().migration_keep_client_ops_percent).toBe(85);
    const { config } = parseConfigText("migration_keep_client_ops_percent = 0");
    expect(config.migration_keep_client_ops_percent).toBe(0);
    expect(configToJson(config).migration_keep_client_ops_percent).toBe(0);
    expect(sampleConfig()).toMatch(/^migration_keep_client_ops_percent = 85$/m);
    expect(() => parseConfigText("migration_keep_client_ops_percent = 101")).toThrow(ConfigError);
    expect(() => parseConfigText("migration_keep_client_ops_percent = -1")).toThrow("invalid migration_keep_client_ops_percent: must be 0-100");
  });
});
