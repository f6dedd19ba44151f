// The client-aware pace of the bulk movers (issue 8, "≥ 0.8 of throughput while slots move").
//
// A mover at full speed takes the source server's time (MIGRATE and SLOTSMGRTTAGSLOT block its
// main thread for each step), the target's, the proxies' (the first request of each key in a
// migrating slot moves that key) and, when they share machines, CPU from everything else.
// Clients feel it as fewer ops per second (closed-loop clients) or higher latency. The pacer
// measures what the clients get and slows the movers when it falls below a share of what they
// got before the slots started moving (`migration_keep_client_ops_percent`, default 85):
//
//   - baseline: what the proxies report as their steady ops/s (control/steady-ops.ts: the
//     median of their last seconds with no slot locked or migrating), summed. Proxies that do
//     not report it (codis-proxy): the dashboard's own median of the proxies' summed ops/s at
//     its last polls while no slot had an action; a dashboard that starts while slots are
//     moving has none, and if the clients do BASELINE_MIN_OPS or more it holds the movers for a
//     few polls to measure one (a probe).
//   - a run of moves starts at START_RATE keys/s (or where the last run ended), not at full
//     speed: the first poll comes only a second later (slow start).
//   - each poll while slots move: the share = ops/s now ÷ baseline (smoothed over two polls).
//     Below the floor the keys/s limit drops to 0.7×; above floor + 5 % it grows by 1.25× per
//     poll, up to migration_max_keys_per_second (or full speed).
//   - polls in the first WARMUP_MS after the dashboard started do not count: its own start-up
//     and the resync of every slot's state to the proxies disturb them.
//   - below BASELINE_MIN_OPS the clients are too few to be starved by a mover: no limit.
//   - a limit stuck at its minimum for STUCK_POLLS polls means the loss is not the movers': the
//     clients' demand changed since the baseline was taken, or requests of slots in \`migrating\`
//     cost more than the floor allows (semi-async runs a command on the source for each key the
//     mover has not moved yet, so a slower mover makes that last longer). A probe measures what
//     the clients get with the movers held; for the rest of the run that is the baseline, and
//     the movers may take only PROBED_KEEP's share of it (5 %).
//
// The movers read `rate` before every bulk step (movers/mover.ts Throttle), so a new limit takes
// effect within one step. The pacer never stops a migration: its lowest limit is MIN_RATE keys/s
// and a probe ends after PROBE_MAX_POLLS polls or PROBE_MAX_MS, whatever it measured.
//
// It paces keys, not the work around them: the locked window of each round, the store writes and
// a SCAN pass over keys of other slots are not slowed down. A backend moved by replication
// (Pika 3.4) is not paced at all.

import { median } from "../../core/median.js";

/** keys/s: the lowest limit the pacer sets. */
export const MIN_RATE = 100;
/** ops/s: a baseline below this imposes no limit. */
export const BASELINE_MIN_OPS = 500;
const IDLE_SAMPLES = 5;
const PROBE_SAMPLES = 2;
const PROBE_MAX_POLLS = 6;
/** ms: the longest a probe holds the movers, whether or not the polls came. */
const PROBE_MAX_MS = 8000;
export const STUCK_POLLS = 6;
const CUT = 0.7;
const GROW = 1.25;
/** keys/s: where a run starts when the clients are many enough to be starved (slow start). */
export const START_RATE = 250;
const MARGIN = 0.05;
/** After a probe (this run): the share of the probe's figure the clients must keep. */
export const PROBED_KEEP = 0.95;
/** A paced round holds about this many seconds of the mover's work (roundSlots). */
export const ROUND_SECONDS = 3;
export const MIN_ROUND_SLOTS = 8;
/** A limit grown past this many keys/s is lifted (no mover gets near it). */
export const UNLIMITED_ABOVE = 200_000;
/** ms after the dashboard started in which polls do not move the limit (its own start-up and resync disturb them). */
export const WARMUP_MS = 3000;

/** What the overview shows (stats.slot_action.pace). */
export interface PaceJson {
  /** migration_keep_client_ops_percent (0: the pacer is off). */
  keep_percent: number;
  /** Clients' ops/s before the slots started moving (0: none measured yet). */
  baseline_ops: number;
  /** Their ops/s at the last poll while moving, as a share of the baseline (-1 when not moving). */
  share: number;
  /** keys/s each mover may move now; -1: no limit. */
  keys_per_sec_limit: number;
  /** Whether the movers are held to measure a baseline. */
  probing: boolean;
}

export interface PacerOptions {
  /** Share of the baseline the clients should keep, 0..1; 0 turns the pacer off. */
  keep: number;
  /** migration_max_keys_per_second; 0: none. */
  maxRate: number;
  log?: (msg: string) => void;
  now?: () => number;
  /** The longest a probe holds the movers (default PROBE_MAX_MS). */
  probeMaxMs?: number;
}

export class ClientPacer {
  private keep: number;
  private maxRate: number;
  private limit = Infinity;
  /** The clients' ops/s before the move, by source; the first defined of probe, proxies, idle counts. */
  private probeBase: number | undefined;
  private proxyBase: number | undefined;
  private idleBase: number | undefined;
  private readonly idle: number[] = [];
  private share = -1;
  private smoothed = -1;
  private moved = 0;
  private lastTotals = new Map<string, number>();
  private lastAt = 0;
  private wasMoving = false;
  private probing = 0;
  private probe: number[] = [];
  private probeEnds = 0;
  private stuck = 0;
  private waiters: (() => void)[] = [];
  private lastLogged = Infinity;
  /** Whether movers ran since the last poll that saw no slot moving. */
  private running = false;
  /** The limit a run starts at: the end of the last paced run, or START_RATE. */
  private lastRunLimit = START_RATE;
  private readonly startedAt: number;
  private readonly now: () => number;

  constructor(private readonly opts: PacerOptions) {
    this.keep = opts.keep;
    this.maxRate = opts.maxRate;
    this.now = opts.now ?? (() => performance.now());
    this.limit = this.ceiling();
    this.startedAt = this.now();
  }

  /** New config values (SIGHUP reload or a restarted engine). */
  configure(keep: number, maxRate: number): void {
    this.keep = keep;
    this.maxRate = maxRate;
    this.limit = Math.min(this.limit, this.ceiling());
    if (keep <= 0) this.limit = this.ceiling();
  }

  /** keys/s each mover may move now; 0 means no limit (movers/mover.ts Throttle). */
  get rate(): number {
    return Number.isFinite(this.limit) ? this.limit : 0;
  }

  /**
   * A mover is about to start. The first of a run starts at START_RATE (or at the last run's
   * limit) rather than at full speed, and grows from there while the clients keep their share:
   * a poll comes only every second, and a mover at full speed can starve clients for all of it.
   */
  begin(): void {
    if (this.running || this.keep <= 0) return;
    this.running = true;
    const base = this.baseline;
    if (base === undefined || base >= BASELINE_MIN_OPS) this.limit = Math.min(this.lastRunLimit, this.ceiling());
  }

  /**
   * How many slots the next round may take (issue 8): while the movers are paced, a round's
   * slots wait in \`migrating\` until the mover reaches them, and every client request of such a
   * slot pays a move step on the source (the proxies move hot keys themselves). So a paced round
   * takes about ROUND_SECONDS of the mover's work: rate × ROUND_SECONDS ÷ keys per slot, at least
   * MIN_ROUND_SLOTS, at most \`parallel\` (migration_parallel_slots). Full parallel when not paced
   * or when the keys per slot are not known yet.
   */
  roundSlots(parallel: number, keysPerSlot: number | undefined): number {
    const rate = this.rate;
    if (!this.running || rate === 0 || keysPerSlot === undefined || !(keysPerSlot > 0)) return parallel;
    return Math.max(Math.min(MIN_ROUND_SLOTS, parallel), Math.min(parallel, Math.ceil((rate * ROUND_SECONDS) / keysPerSlot)));
  }

  /** A mover moved n keys. */
  count(n: number): void {
    if (n > 0) this.moved += n;
  }

  /** Resolves when the movers may take a step: at once, unless a probe holds them (PROBE_MAX_MS at most). */
  ready(signal: AbortSignal): Promise<void> {
    const left = this.probeEnds - this.now();
    if (this.probing === 0 || signal.aborted || left <= 0) return Promise.resolve();
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(t);
        signal.removeEventListener("abort", done);
        resolve();
      };
      const t = setTimeout(done, left);
      this.waiters.push(done);
      signal.addEventListener("abort", done, { once: true });
    });
  }

  /**
   * One stats poll: each proxy's ops total (proxies that did not answer are left out), whether
   * any slot has a migration action, and the sum of the proxies' own steady ops/s (their stats'
   * slotway.steady_ops) when every proxy gave one.
   */
  observe(totals: ReadonlyMap<string, number>, moving: boolean, proxiesSteady?: number): void {
    const at = this.now();
    const dt = (at - this.lastAt) / 1000;
    let ops = 0;
    let seen = 0;
    for (const [token, total] of totals) {
      const prev = this.lastTotals.get(token);
      if (prev === undefined || total < prev) continue;
      ops += total - prev;
      seen++;
    }
    const sameProxies = seen === totals.size && seen === this.lastTotals.size && seen > 0;
    const moved = this.moved;
    this.lastTotals = new Map(totals);
    this.lastAt = at;
    this.moved = 0;
    const turned = moving !== this.wasMoving;
    this.wasMoving = moving;
    if (this.probing > 0 && (!moving || at >= this.probeEnds)) return this.endProbe();
    // No proxy answered (none registered, or all down): no client to protect that we can see.
    if (totals.size === 0 && this.probing === 0 && this.baseline === undefined) this.limit = this.ceiling();
    // A poll that straddles a start or an end of moving, or whose proxies changed, measures neither.
    if (turned || !sameProxies || !(dt > 0.2)) {
      if (!moving) {
        this.endRun();
        this.share = -1;
      }
      if (this.probing > 0) this.probeStep(undefined);
      return;
    }
    const rate = ops / dt;
    // The proxies measured the clients' ops/s before the slots started moving themselves.
    this.proxyBase = proxiesSteady !== undefined && proxiesSteady > 0 ? proxiesSteady : undefined;
    if (!moving) {
      this.endRun();
      this.share = -1;
      this.smoothed = -1;
      this.stuck = 0;
      this.idle.push(rate);
      if (this.idle.length > IDLE_SAMPLES) this.idle.shift();
      this.idleBase = median(this.idle);
      return;
    }
    if (this.keep <= 0) return;
    if (this.probing > 0) return this.probeStep(rate);
    const baseline = this.baseline;
    if (baseline === undefined) {
      // Too few clients to be starved: nothing to measure or to protect.
      if (rate < BASELINE_MIN_OPS) {
        this.limit = this.ceiling();
        return;
      }
      if (at - this.startedAt < WARMUP_MS) return;
      return this.startProbe("no baseline (the dashboard started while slots were moving)");
    }
    if (baseline < BASELINE_MIN_OPS) {
      this.limit = this.ceiling();
      return;
    }
    this.share = rate / baseline;
    if (at - this.startedAt < WARMUP_MS) return;
    this.smoothed = this.smoothed < 0 ? this.share : (this.smoothed + this.share) / 2;
    const movedRate = moved / dt;
    const keep = this.keepNow();
    if (this.smoothed < keep) {
      const base = Number.isFinite(this.limit) ? this.limit : movedRate;
      if (base > 0) this.limit = Math.max(MIN_RATE, base * CUT);
    } else if (this.smoothed >= keep + MARGIN && Number.isFinite(this.limit)) {
      this.limit = this.limit * GROW > UNLIMITED_ABOVE ? Infinity : this.limit * GROW;
      this.limit = Math.min(this.limit, this.ceiling());
    }
    this.stuck = this.limit <= MIN_RATE && this.smoothed < keep ? this.stuck + 1 : 0;
    if (this.stuck >= STUCK_POLLS) this.startProbe(`clients kept ${pct(this.smoothed)} of ${Math.round(baseline)} ops/s at the lowest pace for ${STUCK_POLLS} polls`);
    else this.logChange(baseline);
  }

  snapshot(): PaceJson {
    return {
      keep_percent: Math.round(this.keep * 100),
      baseline_ops: Math.round(this.baseline ?? 0),
      share: this.share < 0 ? -1 : Math.round(this.share * 100) / 100,
      keys_per_sec_limit: Number.isFinite(this.limit) ? Math.round(this.limit) : -1,
      probing: this.probing > 0,
    };
  }

  /**
   * The share the clients must keep: the configured one, or, once a probe measured what they get
   * with the movers held (this run), PROBED_KEEP of that: when requests of migrating slots
   * already cost the clients more than the floor allows, the movers may add only a little on top.
   */
  private keepNow(): number {
    return this.probeBase !== undefined ? Math.max(this.keep, PROBED_KEEP) : this.keep;
  }

  /** The clients' ops/s to compare with: a probe's (this run only), the proxies', or the idle polls'. */
  private get baseline(): number | undefined {
    return this.probeBase ?? this.proxyBase ?? this.idleBase;
  }

  private endRun(): void {
    if (!this.running) return;
    this.running = false;
    this.probeBase = undefined;
    if (Number.isFinite(this.limit)) this.lastRunLimit = Math.max(this.limit, MIN_RATE);
  }

  private ceiling(): number {
    return this.maxRate > 0 ? this.maxRate : Infinity;
  }

  private startProbe(why: string): void {
    this.probing = 1;
    this.probeEnds = this.now() + (this.opts.probeMaxMs ?? PROBE_MAX_MS);
    this.probe = [];
    this.stuck = 0;
    this.smoothed = -1;
    this.opts.log?.(`migration pace: ${why}; holding the movers to measure the clients' ops/s`);
  }

  private probeStep(rate: number | undefined): void {
    // The first poll of a probe still covers time the movers ran.
    if (this.probing > 1 && rate !== undefined) this.probe.push(rate);
    this.probing++;
    if (this.probe.length < PROBE_SAMPLES && this.probing <= PROBE_MAX_POLLS) return;
    this.endProbe();
  }

  private endProbe(): void {
    if (this.probe.length) {
      // Holds for the rest of this run (the clients' demand may have changed since the
      // proxies' and the idle polls' figures were taken).
      this.probeBase = median(this.probe);
      if (this.probeBase < BASELINE_MIN_OPS) this.limit = this.ceiling();
      this.opts.log?.(`migration pace: baseline ${Math.round(this.probeBase)} ops/s, movers resume at ${this.describe()}`);
    } else {
      // Nothing measured (proxies did not answer): go on rather than hold the movers.
      if (this.baseline === undefined) this.limit = this.ceiling();
      this.opts.log?.(`migration pace: no ops/s measured (proxy stats missing); movers resume at ${this.describe()}`);
    }
    this.probing = 0;
    this.probe = [];
    for (const w of this.waiters.splice(0)) w();
  }

  private logChange(baseline: number): void {
    const l = this.limit;
    const changed = !Number.isFinite(l) !== !Number.isFinite(this.lastLogged) || Math.abs(l - this.lastLogged) > this.lastLogged * 0.5;
    if (!changed) return;
    this.lastLogged = l;
    this.opts.log?.(`migration pace: clients keep ${pct(this.smoothed)} of ${Math.round(baseline)} ops/s; movers at ${this.describe()}`);
  }

  private describe(): string {
    return Number.isFinite(this.limit) ? `${Math.round(this.limit)} keys/s` : "full speed";
  }
}

function pct(x: number): string {
  return `${Math.round(x * 100)}%`;
}
