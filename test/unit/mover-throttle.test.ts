// The bulk mover's pace (migration_max_keys_per_second): movers/mover.ts Throttle, and the key in
// dashboard.toml.
import { describe, expect, it } from "vitest";
import { Throttle } from "../../src/control/movers/mover.js";
import { ConfigError, configToJson, defaultConfig, parseConfigText, sampleConfig } from "../../src/control/dashboard/config.js";

describe("Throttle", () => {
  it("with no limit, never waits and keeps the configured step", async () => {
    const t = new Throttle(0);
    expect(t.limited).toBe(false);
    expect(t.stepKeys(500)).toBe(500);
    const t0 = performance.now();
    for (let i = 0; i < 100; i++) await t.moved(500);
    expect(performance.now() - t0).toBeLessThan(50);
  });

  it("caps a step at a tenth of a second's worth of keys, at least one", () => {
    expect(new Throttle(2000).stepKeys(500)).toBe(200);
    expect(new Throttle(100_000).stepKeys(500)).toBe(500);
    expect(new Throttle(3).stepKeys(500)).toBe(1);
  });

  it("paces steps to the rate: 1000 keys at 2000 keys/s take about half a second", async () => {
    const t = new Throttle(2000);
    const step = t.stepKeys(500);
    const t0 = performance.now();
    for (let moved = 0; moved < 1000; moved += step) await t.moved(step);
    const ms = performance.now() - t0;
    expect(ms).toBeGreaterThanOrEqual(480);
    expect(ms).toBeLessThan(900);
  });

  it("does not save up unused time into a burst", async () => {
    const t = new Throttle(1000);
    await t.moved(100); // 100 ms
    await new Promise((r) => setTimeout(r, 300)); // the mover was busy elsewhere
    const t0 = performance.now();
    await t.moved(100);
    expect(performance.now() - t0).toBeGreaterThanOrEqual(90);
  });

  it("stops waiting when the move is aborted", async () => {
    const t = new Throttle(1);
    const ac = new AbortController();
    const p = t.moved(100, ac.signal);
    ac.abort(new Error("stop"));
    await expect(p).rejects.toThrow("stop");
  });
});

describe("migration_max_keys_per_second in dashboard.toml", () => {
  it("defaults to 0 (no limit), parses, shows in the overview and the sample, refuses a negative rate", () => {
    expect(defaultConfig().migration_max_keys_per_second).toBe(0);
    const { config } = parseConfigText("migration_max_keys_per_second = 5000");
    expect(config.migration_max_keys_per_second).toBe(5000);
    expect(configToJson(config).migration_max_keys_per_second).toBe(5000);
    expect(sampleConfig()).toMatch(/^migration_max_keys_per_second = 0$/m);
    expect(() => parseConfigText("migration_max_keys_per_second = -1")).toThrow(ConfigError);
    expect(() => parseConfigText("migration_max_keys_per_second = -1")).toThrow("invalid migration_max_keys_per_second: must be ≥ 0");
  });
});
