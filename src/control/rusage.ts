// The proxy's resource usage in codis's Stats.rusage shape: {now, cpu, mem, raw}, where raw is
// codis's utils.Usage on Linux (pkg/utils/usage_linux.go): CPU times in nanoseconds (Go
// time.Duration), thread count, virtual size and resident set in bytes, read from /proc/self/stat.

import { readFileSync } from "node:fs";
import { goTimeNow } from "./go-text.js";

export interface RawUsage {
  utime: number;
  stime: number;
  cutime: number;
  cstime: number;
  num_threads: number;
  vm_size: number;
  vm_rss: number;
}

export interface Rusage {
  now: string;
  /** CPU used since the previous sample, as a fraction of one core. */
  cpu: number;
  /** Resident set, bytes (codis: raw.vm_rss). */
  mem: number;
  raw: RawUsage;
}

// Linux reports CPU times in clock ticks of 1/100 s (USER_HZ on every architecture Node runs on).
const TICK_NS = 10_000_000;

/** codis's raw usage of this process. */
export function rawUsage(): RawUsage {
  const cpu = process.cpuUsage();
  const rss = process.memoryUsage.rss();
  const out: RawUsage = {
    utime: cpu.user * 1000, stime: cpu.system * 1000, cutime: 0, cstime: 0, num_threads: 0, vm_size: 0, vm_rss: rss,
  };
  try {
    const stat = readFileSync("/proc/self/stat", "utf8");
    // Fields after the command name, which may itself hold spaces and parentheses.
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    // f[0] is field 3 (state): field n is f[n - 3].
    out.cutime = Number(f[13]) * TICK_NS;
    out.cstime = Number(f[14]) * TICK_NS;
    out.num_threads = Number(f[17]);
    out.vm_size = Number(f[20]);
  } catch {
    // not Linux: the fields that need /proc stay 0
  }
  return out;
}

function cpuNsOf(r: RawUsage): number {
  return r.utime + r.stime + r.cutime + r.cstime;
}

let lastCpuNs = cpuNsOf(rawUsage());
let lastAt = performance.now();

/** Samples usage; cpu is measured since the previous call. */
export function sampleRusage(): Rusage {
  const raw = rawUsage();
  const now = performance.now();
  const cpuNs = cpuNsOf(raw);
  const cpu = now > lastAt ? (cpuNs - lastCpuNs) / 1e6 / (now - lastAt) : 0;
  lastCpuNs = cpuNs;
  lastAt = now;
  return { now: goTimeNow(), cpu: Math.max(0, Math.round(cpu * 1000) / 1000), mem: raw.vm_rss, raw };
}
