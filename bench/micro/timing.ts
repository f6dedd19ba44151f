// Sampling for `npm run bench:micro`: warm up, size each sample to at least minSampleMs, take
// several samples, report the median. Candidates of one case are sampled in turn (A B C A B C
// ...), so drift on a shared machine spreads over all of them instead of favouring whoever ran
// while it was quiet, and ratios are taken per round (between neighbouring samples) before the
// median. Each sample also records the process's CPU time: on an overloaded machine the wall
// clock includes time spent descheduled, CPU time does not (but it does include GC threads).

import { median } from "../../src/core/median.js";

export { median };

/** One candidate: `pass` does the whole unit of work once and returns a value to check. */
export interface Candidate {
  name: string;
  pass: () => number;
  /** Called with each pass's result; throws if it is wrong (a parser lost a message). */
  check: (result: number) => void;
}

export interface Timing {
  name: string;
  /** Median wall-clock nanoseconds per pass (process.hrtime.bigint). */
  ns_per_pass: number;
  /** Median process CPU nanoseconds (user + system, all threads) per pass. */
  cpu_ns_per_pass: number;
  /** Wall ns per pass of each sample, in round order (for per-round ratios). */
  wall: number[];
  min_ns_per_pass: number;
  max_ns_per_pass: number;
  samples: number;
  passes_per_sample: number;
}

export interface SamplingOptions {
  samples: number;
  minSampleMs: number;
  warmupMs: number;
  /** When one pass is slow, fewer samples (never under 3) keep a candidate within this budget. */
  budgetMs: number;
}

export const DEFAULT_SAMPLING: SamplingOptions = { samples: 7, minSampleMs: 50, warmupMs: 150, budgetMs: 4000 };

let lastCpuNs = 0;

/** Wall ns of n passes; sets lastCpuNs to their CPU ns. */
function timeRuns(c: Candidate, n: number): number {
  const u0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) c.check(c.pass());
  const wall = Number(process.hrtime.bigint() - t0);
  const u = process.cpuUsage(u0);
  lastCpuNs = (u.user + u.system) * 1000;
  return wall;
}

/** Measures the candidates of one case, interleaved; returns one Timing per candidate, in order. */
export function measure(cands: readonly Candidate[], opt: SamplingOptions = DEFAULT_SAMPLING): Timing[] {
  const plan = cands.map((c) => {
    // Warm-up: let the JIT settle, and learn how long one pass takes.
    let passes = 0;
    let spent = 0;
    do {
      spent += timeRuns(c, 1);
      passes++;
    } while (spent < opt.warmupMs * 1e6);
    const perPass = spent / passes;
    const n = Math.max(1, Math.ceil((opt.minSampleMs * 1e6) / perPass));
    const samples = Math.max(3, Math.min(opt.samples, Math.floor((opt.budgetMs * 1e6) / (perPass * n))));
    return { n, samples, times: [] as number[], cpu: [] as number[] };
  });
  const rounds = Math.max(...plan.map((p) => p.samples));
  for (let r = 0; r < rounds; r++) {
    for (let i = 0; i < cands.length; i++) {
      const p = plan[i]!;
      if (p.times.length < p.samples) {
        p.times.push(timeRuns(cands[i]!, p.n) / p.n);
        p.cpu.push(lastCpuNs / p.n);
      }
    }
  }
  return cands.map((c, i) => {
    const p = plan[i]!;
    return {
      name: c.name,
      ns_per_pass: median(p.times),
      cpu_ns_per_pass: median(p.cpu),
      wall: p.times,
      min_ns_per_pass: Math.min(...p.times),
      max_ns_per_pass: Math.max(...p.times),
      samples: p.times.length,
      passes_per_sample: p.n,
    };
  });
}

/**
 * Median over rounds of a's time / b's time in the same round: drift that hits both
 * neighbouring samples cancels. Uses the rounds both have.
 */
export function medianRatio(a: readonly number[], b: readonly number[]): number {
  const n = Math.min(a.length, b.length);
  const r: number[] = [];
  for (let i = 0; i < n; i++) r.push(a[i]! / b[i]!);
  return median(r);
}
