// Per-worker counters. Plain numeric fields and typed arrays indexed by command id, so
// counting costs a few adds per request; the control thread collects them on demand.
import { COMMANDS } from "../core/command-table.js";
import type { Req } from "./request.js";

const N = COMMANDS.length + 1; // + UNKNOWN

export interface CommandStats {
  opstr: string;
  calls: number;
  usecs: number;
  fails: number;
  redis_errtype: number;
}

export interface WorkerStatsSnapshot {
  opsTotal: number;
  opsFails: number;
  redisErrors: number;
  protocolErrors: number;
  sessionsTotal: number;
  sessionsAlive: number;
  heldRequests: number;
  /** Held requests failed by slot_lock_wait_timeout since the worker started. */
  heldExpired: number;
  /** Per slot with held requests: [slot, requests, age of the oldest (ms)], flattened. */
  heldSlots: number[];
  commands: CommandStats[];
  backends: { addr: string; db: number; resp3: boolean; state: number; pending: number; replies: number; errors: number; lastError: string }[];
}

export class WorkerStats {
  readonly calls = new Float64Array(N);
  readonly usecs = new Float64Array(N);
  readonly fails = new Float64Array(N);
  readonly errors = new Float64Array(N);
  opsTotal = 0;
  opsFails = 0;
  redisErrors = 0;
  protocolErrors = 0;
  sessionsTotal = 0;

  /** Counts a request whose reply is being written; now is the flush time (ms). */
  record(r: Req, now: number): void {
    const cmd = r.cmd;
    if (cmd === null) return;
    const id = cmd.id;
    this.opsTotal++;
    this.calls[id]++;
    this.usecs[id] += (now - r.t0) * 1000;
    if (r.isError) {
      if (r.failed) {
        this.opsFails++;
        this.fails[id]++;
      } else {
        this.redisErrors++;
        this.errors[id]++;
      }
    }
  }

  reset(): void {
    this.calls.fill(0);
    this.usecs.fill(0);
    this.fails.fill(0);
    this.errors.fill(0);
    this.opsTotal = 0;
    this.opsFails = 0;
    this.redisErrors = 0;
    this.protocolErrors = 0;
  }

  commands(): CommandStats[] {
    const out: CommandStats[] = [];
    for (let id = 0; id < N; id++) {
      if (this.calls[id] === 0 && this.fails[id] === 0) continue;
      out.push({
        opstr: id < COMMANDS.length ? COMMANDS[id]!.name : "UNKNOWN",
        calls: this.calls[id]!,
        usecs: Math.round(this.usecs[id]!),
        fails: this.fails[id]!,
        redis_errtype: this.errors[id]!,
      });
    }
    return out;
  }
}
