// Where the CPU goes while slots move (issue 8: "measure first where the CPU goes during a move,
// per process"). The soak samples user+system time of each of its processes from /proc every
// 100 ms, with the throughput sampler, and adds each interval to the phase it was in; the whole
// machine's busy time is sampled too, so that the report shows how much CPU other work took
// (the machine is shared). Linux only: elsewhere the figures stay empty.
import { readFileSync } from "node:fs";

const TICK_MS = 10; // USER_HZ is 100 on Linux

/** utime+stime of a process in ms, or undefined when it is gone (a killed dashboard). */
function procCpuMs(pid: number): number | undefined {
  if (pid <= 0) return undefined;
  try {
    const s = readFileSync(`/proc/${pid}/stat`, "latin1");
    // Fields after the command name, which is in parentheses and may hold spaces.
    const f = s.slice(s.lastIndexOf(")") + 2).split(" ");
    return (Number(f[11]) + Number(f[12])) * TICK_MS;
  } catch {
    return undefined;
  }
}

/** The machine's busy and total time in ms (all cpus) from /proc/stat. */
function machineMs(): { busy: number; softirq: number } | undefined {
  try {
    const line = readFileSync("/proc/stat", "latin1").split("\n", 1)[0]!;
    const v = line.trim().split(/\s+/).slice(1).map(Number);
    const idle = (v[3] ?? 0) + (v[4] ?? 0);
    const total = v.slice(0, 8).reduce((a, b) => a + b, 0);
    return { busy: (total - idle) * TICK_MS, softirq: ((v[5] ?? 0) + (v[6] ?? 0)) * TICK_MS };
  } catch {
    return undefined;
  }
}

export interface CpuFigures {
  /** Per process and phase: CPU ms per second of the phase (1000 = one core busy). */
  perSecond: Record<string, Record<string, number>>;
  /** Machine: busy ms per second of phase (all cores), and what is left after our processes. */
  machine: Record<string, number>;
  /** Interrupt time (mostly the loopback traffic of all processes, ours included). */
  softirq: Record<string, number>;
  /** Busy time of the machine not in our processes nor in interrupts (other work, kernel threads). */
  others: Record<string, number>;
}

/**
 * Samples named processes; pids are looked up at every sample (the dashboard's changes when it
 * is restarted: the time of the killed one up to its last sample is kept).
 */
export class CpuSampler {
  private readonly last = new Map<string, { pid: number; ms: number }>();
  private lastMachine = machineMs();
  private readonly used = new Map<string, Map<string, number>>();
  private readonly machine = new Map<string, number>();
  private readonly irq = new Map<string, number>();
  private readonly span = new Map<string, number>();

  constructor(private readonly procs: () => Record<string, number>) {
    for (const [name, pid] of Object.entries(procs())) {
      const ms = procCpuMs(pid);
      if (ms !== undefined) this.last.set(name, { pid, ms });
    }
  }

  /** Adds the time since the previous sample to `phase`; elapsedMs is the wall time of it. Returns each process's CPU ms in it. */
  sample(phase: string, elapsedMs: number): Record<string, number> {
    const out: Record<string, number> = {};
    this.span.set(phase, (this.span.get(phase) ?? 0) + elapsedMs);
    const per = this.used.get(phase) ?? new Map<string, number>();
    this.used.set(phase, per);
    for (const [name, pid] of Object.entries(this.procs())) {
      const ms = procCpuMs(pid);
      if (ms === undefined) continue;
      const prev = this.last.get(name);
      // A new pid (restarted process) counts from zero: its whole time so far is this interval's.
      const d = prev && prev.pid === pid ? ms - prev.ms : ms;
      this.last.set(name, { pid, ms });
      per.set(name, (per.get(name) ?? 0) + Math.max(0, d));
      out[name] = Math.max(0, d);
    }
    const m = machineMs();
    if (m && this.lastMachine) {
      this.machine.set(phase, (this.machine.get(phase) ?? 0) + (m.busy - this.lastMachine.busy));
      this.irq.set(phase, (this.irq.get(phase) ?? 0) + (m.softirq - this.lastMachine.softirq));
    }
    this.lastMachine = m;
    return out;
  }

  figures(): CpuFigures {
    const perSecond: Record<string, Record<string, number>> = {};
    const machine: Record<string, number> = {};
    const others: Record<string, number> = {};
    const softirq: Record<string, number> = {};
    for (const [phase, per] of this.used) {
      const s = (this.span.get(phase) ?? 0) / 1000;
      if (s <= 0) continue;
      let ours = 0;
      for (const [name, ms] of per) {
        (perSecond[name] ??= {})[phase] = ms / s;
        ours += ms;
      }
      const busy = this.machine.get(phase);
      if (busy !== undefined) {
        const irq = this.irq.get(phase) ?? 0;
        machine[phase] = busy / s;
        softirq[phase] = irq / s;
        others[phase] = Math.max(0, busy - ours - irq) / s;
      }
    }
    return { perSecond, machine, softirq, others };
  }
}
