// The short soak of `npm test` (test/integration/soak-*.test.ts): a few waves of seconds each,
// the same instrument as `npm run soak` (bench/soak/soak.ts). On failure the assertion message is
// the soak's whole report, so the anomalies and their examples are in the test output.
import { expect } from "vitest";
import { formatReport } from "../../bench/soak/report.js";
import { DEFAULTS, defaultSlots, runSoak, type SoakOptions, type SoakResult } from "../../bench/soak/soak.js";
import type { BackendKind } from "./cluster.js";

/** Runs a short soak; `log` lines are kept for the report, not printed. */
export async function shortSoak(backend: BackendKind, method: string, o: Partial<SoakOptions> = {}): Promise<SoakResult> {
  const lines: string[] = [];
  return runSoak({
    ...DEFAULTS,
    ...defaultSlots(backend),
    backend, method,
    waves: 3, keys: 2000, warmupS: 0.5, steadyS: 1, waveTimeoutS: 90, timeoutS: 40,
    ...o,
    log: (s) => lines.push(s),
  });
}

/** Asserts no anomaly, with the report as the message. */
export function expectClean(r: SoakResult): void {
  const report = formatReport(r);
  expect(r.anomalies.total, report).toBe(0);
}

/** The kills outside the locked window: one wave each. */
export const KILLS_OUTSIDE_LOCK = ["preparing", "migrating", "finished"] as const;
