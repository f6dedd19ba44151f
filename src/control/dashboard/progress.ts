// Migration progress counters for the overview (stats.slot_action.progress): keys moved, slots
// finished, their rates and an ETA. The slot-action engine feeds it from the movers' callbacks;
// the stats view reads it. codis keeps none of this (its progress has only `status`), so every
// field here is a slotway addition that codis tools ignore.
//
// A "run" is the stretch of work from the first move after the engine was idle (no slot had an
// action) until it is idle again. The counters cover the current run, or the last one once idle,
// so an operator still sees what the last migration did.

/** The fields added to stats.slot_action.progress, beside codis's `status`. */
export interface ProgressJson {
  /** Slots that have an action (pending … finished) right now. */
  slots_left: number;
  /** Slots whose keys were all moved in this run. */
  slots_done: number;
  /** Keys moved in this run. */
  keys_moved: number;
  /** Keys moved per second over the last RATE_WINDOW_MS (0 when nothing moved lately). */
  keys_per_sec: number;
  /** Slots done per second over the same window. */
  slots_per_sec: number;
  /** Seconds until slots_left reaches 0 at slots_per_sec; -1 when unknown (no rate yet, or idle). */
  eta_secs: number;
  /** Unix time (s) of the run's first move; 0 before any run. */
  run_started: number;
  /** Seconds from the run's first move to its last (while running: to now). */
  run_secs: number;
  /** Whether a run is under way (false once the engine found no action left). */
  running: boolean;
}

const RATE_WINDOW_MS = 10_000;
// Movers may report many times a second; one sample per SAMPLE_MS keeps the window small.
const SAMPLE_MS = 250;

interface Sample {
  at: number;
  keys: number;
  slots: number;
}

export class MigrationProgress {
  private running = false;
  private startedAt = 0;
  private lastAt = 0;
  private keys = 0;
  private readonly done = new Set<number>();
  /** Oldest first; samples[0] is the baseline the rate is measured from. */
  private samples: Sample[] = [];

  constructor(private readonly now: () => number = Date.now) {}

  /** A mover moved `moved` keys of slot sid (it may report 0: a step or pass that found none). */
  keysMoved(moved: number): void {
    const started = this.touch();
    if (Number.isFinite(moved) && moved > 0) this.keys += moved;
    this.sample(started);
  }

  /** A mover proved slot sid empty on the source. */
  slotDone(sid: number): void {
    const started = this.touch();
    this.done.add(sid);
    this.sample(started);
  }

  /** The engine found no slot with an action: the run (if any) is over. */
  idle(): void {
    if (!this.running) return;
    this.running = false;
    this.samples = [];
  }

  /** Keys the movers moved per slot they finished in this run; undefined before minSlots are done. */
  keysPerSlot(minSlots: number): number | undefined {
    return this.done.size >= minSlots ? this.keys / this.done.size : undefined;
  }

  /** The counters, with slotsLeft taken from the topology by the caller. */
  snapshot(slotsLeft: number): ProgressJson {
    const now = this.now();
    let keysRate = 0;
    let slotsRate = 0;
    if (this.running) {
      this.prune(now);
      const base = this.samples[0] ?? { at: this.startedAt, keys: 0, slots: 0 };
      // The counts stay flat between samples, so at the window's start they were the baseline's.
      const dt = (now - Math.max(base.at, now - RATE_WINDOW_MS)) / 1000;
      if (dt > 0) {
        keysRate = (this.keys - base.keys) / dt;
        slotsRate = (this.done.size - base.slots) / dt;
      }
    }
    const eta = this.running && slotsLeft > 0 && slotsRate > 0 ? Math.ceil(slotsLeft / slotsRate) : this.running || slotsLeft > 0 ? -1 : 0;
    return {
      slots_left: slotsLeft,
      slots_done: this.done.size,
      keys_moved: this.keys,
      keys_per_sec: round1(keysRate),
      slots_per_sec: round1(slotsRate),
      eta_secs: eta,
      run_started: this.startedAt === 0 ? 0 : Math.floor(this.startedAt / 1000),
      run_secs: this.startedAt === 0 ? 0 : round1(((this.running ? now : this.lastAt) - this.startedAt) / 1000),
      running: this.running,
    };
  }

  /** Marks activity now; true when this starts a new run (the counters were reset). */
  private touch(): boolean {
    const now = this.now();
    this.lastAt = now;
    if (this.running) return false;
    this.running = true;
    this.startedAt = now;
    this.keys = 0;
    this.done.clear();
    return true;
  }

  private sample(first: boolean): void {
    const s: Sample = { at: this.lastAt, keys: this.keys, slots: this.done.size };
    // The work of a run's first report took an unknown time before it: it counts in the totals
    // but is the rates' baseline, not part of them.
    if (first) {
      this.samples = [s];
      return;
    }
    // The newest sample stays open (is overwritten) until it is SAMPLE_MS past the one before
    // it; the baseline is never overwritten.
    const n = this.samples.length;
    if (n > 1 && s.at - this.samples[n - 2]!.at < SAMPLE_MS) this.samples[n - 1] = s;
    else this.samples.push(s);
    this.prune(s.at);
  }

  /** Drops samples older than the window, keeping the newest one at or before its start as the baseline. */
  private prune(now: number): void {
    const from = now - RATE_WINDOW_MS;
    let i = 0;
    while (i + 1 < this.samples.length && this.samples[i + 1]!.at <= from) i++;
    if (i > 0) this.samples = this.samples.slice(i);
  }
}

function round1(n: number): number {
  return Math.round(n * 10) / 10;
}
