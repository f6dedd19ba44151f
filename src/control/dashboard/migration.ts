// The slot migration state machine (codis topom_slots.go / topom_action.go; DESIGN §7):
//
//   pending → preparing    store (the intent; nothing pushed yet)
//   preparing → prepared   store, then push: every proxy locks the slot (the barrier)
//   prepared → migrating   push at once (each proxy unlocks into forwarding), then store
//   migrating → finished   the mover empties the source; push (target only), then store
//   finished → done        store {group_id: target}
//
// Rules this file enforces:
//  - A transition that changes what proxies route by (→ prepared, → migrating, → finished) is
//    pushed (fillslots with just the changed slots) to ALL proxies in parallel; → migrating and
//    → finished are committed to the store only once every proxy answered 200, and → prepared
//    is stored before its push (see prepare() for why that is safe). A proxy that cannot be reached blocks the
//    step; the step is retried, never skipped.
//  - `prepared` is the barrier: every proxy holds the slot locked, so when any proxy starts
//    treating it as migrating, none still writes the source directly.
//  - The mover runs only once every proxy answered the `migrating` push (it starts while that
//    state is being stored), and `finished` is pushed and stored only after the mover proved
//    the source empty.
//  - The stored state is all a restarted dashboard needs: preparing → store and push prepared;
//    prepared → push prepared again (every proxy locked), then migrating; migrating → run the
//    mover again (it moves what is left); finished → push finished again. Each of these is
//    idempotent for the proxies. `prepared` is stored before it is pushed, so that the locked
//    window holds no store write (see prepare()).
//
// Differences from codis, on purpose: codis runs one slot per pair of groups at a time (its
// migration_parallel_slots only spans disjoint group pairs); slotway takes up to
// migration_parallel_slots slots per round and pushes each step for the whole round in one
// fillslots per proxy, since the redis mover handles a batch of slots with one SCAN pass.
import type { DashboardConfig } from "./config.js";
import { errText, type Logger } from "./log.js";
import type { Topology } from "./topology.js";
import { clone } from "./topology.js";
import { ActionState, isGroupPromoting, newSlotMapping, type SlotMapping } from "../models.js";
import { sleep, type MoverMethod, type RedisConnector, type SlotMover } from "../movers/mover.js";
import { ClientPacer } from "./pacer.js";
import { MigrationProgress } from "./progress.js";
import { RoundClock } from "./round-clock.js";
import { EarlyFinisher } from "./early-finish.js";
import type { MigrationPlan } from "../movers/index.js";

/** What the engine needs from the dashboard. */
export interface ActionHost {
  readonly config: DashboardConfig;
  readonly log: Logger;
  readonly connect: RedisConnector;
  isOnline(): boolean;
  /** Runs fn holding the topology lock (the one every API mutation takes). */
  withLock<T>(fn: () => Promise<T>): Promise<T>;
  /** The topology; throws "use of closed topom" / "topom is not online". */
  topology(): Topology;
  /** Pushes these mappings to every proxy; rejects (naming the proxy) unless all answered 200. */
  resync(slots: readonly SlotMapping[]): Promise<void>;
  /** Makes sure the backend kind of these servers is known (they are probed with SLOTSINFO). */
  ensureBackendKinds(addrs: readonly string[]): Promise<void>;
  /** The mover method for a pair of masters: config's, or "redis" when either is plain Redis. */
  moverMethod(from: string, to: string): MoverMethod;
  moverFor(method: MoverMethod): SlotMover;
  /** How a slot moves between two masters ("" = no server); their kinds are known. */
  migrationPlan(from: string, to: string): MigrationPlan;
  /**
   * Walks these slots through the replication method (Pika 3.4 sharding groups,
   * dashboard/replication.ts); resolves when each is finished or stopped.
   */
  replicate(sids: readonly number[], signal: AbortSignal): Promise<void>;
}

/** A failed step, with the slot it concerns (for codis's "[ERROR] Slot[%04d]: <err>"). */
export class SlotStepError extends Error {
  constructor(readonly sid: number, message: string, readonly detail: string) {
    super(message);
    this.name = "SlotStepError";
  }
}

export interface EngineOptions {
  /** Pause between looks for new work when idle (codis: 1 s). */
  idleMs?: number;
  /** Pause after a failed step before trying again (codis: 5 s + 1 s). */
  retryMs?: number;
  /** Pause between checks while moving is disabled or a group promotes (codis: 1 s). */
  pausedPollMs?: number;
}

const pad4 = (n: number): string => String(n).padStart(4, "0");

export class SlotActionEngine {
  /** µs between bulk steps (slots/action/interval), clamped to [0, 1e6]; in memory only. */
  interval = 0;
  /** slots/action/disabled: no new slot starts and bulk moves pause; in memory only. */
  disabled = false;
  /** codis's slot_action.progress.status. */
  status = "";
  /** slotway: why the engine is blocked, with the cause codis leaves out; "" when not blocked. */
  error = "";
  /** Slots whose `migrating` state the movers are working on (codis's executor count). */
  executor = 0;
  /** Keys moved, slots done, rates (slotway's additions to slot_action.progress). */
  readonly progress = new MigrationProgress();
  /** The movers' pace: slower when clients get less than migration_keep_client_ops_percent (pacer.ts). */
  readonly pace: ClientPacer;
  /**
   * slotway: migrations that stopped with the route left on the source, and why (a pair of
   * servers no method can move between, a replication that broke or did not converge). The
   * entry goes when the slot gets a new action.
   */
  readonly stopped = new Map<number, string>();

  private wake?: () => void;
  private readonly idleMs: number;
  private readonly retryMs: number;
  private readonly pausedPollMs: number;

  constructor(private readonly host: ActionHost, opts: EngineOptions = {}) {
    this.idleMs = opts.idleMs ?? 1000;
    this.retryMs = opts.retryMs ?? 5000;
    this.pausedPollMs = opts.pausedPollMs ?? 1000;
    const c = host.config;
    this.pace = new ClientPacer({
      keep: c.migration_keep_client_ops_percent / 100, maxRate: c.migration_max_keys_per_second,
      log: (msg) => host.log.info(msg),
    });
  }

  /** Wakes the loop if it is waiting for work (new actions were created). */
  kick(): void {
    this.wake?.();
  }

  /** The engine loop; returns when signal aborts. */
  async run(signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      let wait = this.idleMs;
      try {
        if (this.host.isOnline() && (await this.round(signal))) wait = 10;
      } catch (e) {
        if (signal.aborted) break;
        const sid = e instanceof SlotStepError ? e.sid : -1;
        const detail = e instanceof SlotStepError ? e.detail : errText(e);
        this.status = sid >= 0 ? `[ERROR] Slot[${pad4(sid)}]: ${errText(e)}` : `[ERROR] ${errText(e)}`;
        this.error = detail;
        this.host.log.warn(`process slot action failed: ${detail}`);
        wait = this.retryMs;
      }
      await this.pause(wait, signal);
    }
  }

  private pause(ms: number, signal: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(t);
        signal.removeEventListener("abort", done);
        this.wake = undefined;
        resolve();
      };
      const t = setTimeout(done, ms);
      signal.addEventListener("abort", done, { once: true });
      this.wake = done;
    });
  }

  /** One round: pick a batch, walk it to migrating, move, finish. false when there was nothing to do. */
  async round(signal: AbortSignal): Promise<boolean> {
    const clock = new RoundClock();
    const plan = await this.host.withLock(() => this.prepare(clock, signal));
    if (!plan) return false;
    try {
      const jobs = plan.jobs;
      if (plan.replicated.length) jobs.push(this.host.replicate(plan.replicated, signal));
      const results = await Promise.allSettled(jobs);
      for (const r of results) if (r.status === "rejected") throw r.reason;
      if (plan.storeError !== undefined) throw stepError(plan.batch[0]!, "store migrating", plan.storeError);
    } finally {
      this.executor -= plan.executing;
    }
    this.host.log.info(`slot-[${sidList(plan.batch)}] ${clock.summary()}`);
    this.status = "";
    this.error = "";
    return true;
  }

  /**
   * Under the lock: picks up to migration_parallel_slots slots (those in progress first, then
   * pending ones unless disabled; lowest action index first) and walks them up to `migrating`.
   */
  private async prepare(clock: RoundClock, signal: AbortSignal): Promise<{ jobs: Promise<void>[]; storeError?: unknown; executing: number; batch: number[]; replicated: number[] } | undefined> {
    const topo = this.host.topology();
    const byIndex = (a: SlotMapping, b: SlotMapping): number => a.action.index - b.action.index || a.id - b.id;
    const active = topo.slots.filter((m) => m.action.state !== ActionState.Nothing && m.action.state !== ActionState.Pending).sort(byIndex);
    const pending = this.disabled ? [] : topo.slots.filter((m) => m.action.state === ActionState.Pending).sort(byIndex);
    // A paced run takes smaller rounds (pacer.ts roundSlots); slots already in progress all stay.
    const parallel = Math.max(1, this.host.config.migration_parallel_slots);
    const size = Math.max(Math.min(active.length, parallel), this.pace.roundSlots(parallel, this.progress.keysPerSlot(8)));
    let batch = [...active, ...pending].slice(0, size).map((m) => m.id);
    if (batch.length === 0) return void this.progress.idle();
    const first = batch[0]!;

    // How each slot moves depends on what the servers are (backends/kind.ts): learn it first.
    const masters = new Set<string>();
    for (const sid of batch) {
      const m = topo.slots[sid]!;
      for (const a of [topo.groupMaster(m.group_id), topo.groupMaster(m.action.target_id)]) if (a) masters.add(a);
    }
    await this.step(first, "probe backend kind", () => clock.time("probe", () => this.host.ensureBackendKinds([...masters])));
    const replicated: number[] = [];
    const refused: SlotMapping[] = [];
    const reasons = new Map<number, string>();
    for (const sid of batch) {
      const m = topo.slots[sid]!;
      const plan = this.host.migrationPlan(topo.groupMaster(m.group_id), topo.groupMaster(m.action.target_id));
      if (plan.how === "replication") replicated.push(sid);
      else if (plan.how === "refused") {
        // Nothing was pushed to proxies before preparing→prepared: such a slot can be dropped.
        if (m.action.state !== ActionState.Pending && m.action.state !== ActionState.Preparing) {
          throw new SlotStepError(sid, plan.reason, `slot-[${sid}] ${m.action.state}: ${plan.reason}`);
        }
        refused.push(m);
        reasons.set(sid, plan.reason);
        this.host.log.warn(`slot-[${sid}] migration to group-[${m.action.target_id}] refused, the slot stays on group-[${m.group_id}]: ${plan.reason}`);
      }
    }
    if (refused.length) {
      await topo.updateSlots(refused.map((m) => newSlotMapping(m.id, m.group_id)));
      for (const [sid, why] of reasons) this.stopped.set(sid, why);
    }
    batch = batch.filter((sid) => !replicated.includes(sid) && !refused.some((m) => m.id === sid));
    for (const sid of batch) if (topo.slots[sid]!.action.state === ActionState.Pending) this.stopped.delete(sid);
    const at = (state: string): SlotMapping[] => batch.map((sid) => topo.slots[sid]!).filter((m) => m.action.state === state);

    // pending → preparing: the intent, stored before anything is pushed.
    await clock.time("store", () => topo.updateSlots(at(ActionState.Pending).map((m) => withState(m, ActionState.Preparing))));

    // preparing → prepared → migrating, with the proxies' locked window as short as it can be:
    // `prepared` is stored first (no proxy is locked yet), then pushed (every proxy locks and
    // drains), then `migrating` is pushed at once. No store write sits inside the window in
    // which proxies hold the slots' requests (a batch fsync on a loaded disk was measured at up
    // to 1 s there, every client of those slots stalled meanwhile).
    //
    // What each stored state then promises, which is all a restarted dashboard knows:
    //  - pending / preparing: no proxy was told `prepared` or `migrating` for this move (a
    //    migrating push happens only for slots stored as prepared), so unlocking them back to
    //    the source (the rollback below) is safe;
    //  - prepared: each proxy may be unlocked (not pushed yet, or rolled back), locked, or already
    //    migrating. The only safe way on is `prepared` pushed to every proxy (all locked and
    //    drained) and then `migrating`; never back to the source, since a proxy that migrates
    //    may have moved keys to the target or created new ones there.
    const preparing = at(ActionState.Preparing);
    const inherited = at(ActionState.Prepared);
    let migratingNow: SlotMapping[] = [];
    const toPrepare = preparing.map((m) => withState(m, ActionState.Prepared));
    await clock.time("store", () => topo.updateSlots(toPrepare));
    const lock = [...inherited, ...toPrepare];
    if (lock.length) {
      const lockedFrom = performance.now();
      this.host.log.warn(`slot-[${ids(lock)}] resync to prepared`);
      try {
        await clock.time("push", () => this.host.resync(lock));
      } catch (e) {
        // Unlock again (best effort) the slots that began this round in preparing, so the proxies
        // that did lock them serve them from the source until the retry, and store them back as
        // preparing whatever the rollback push gives (no proxy can be migrating them, which is
        // all `preparing` promises). Slots stored as prepared before this round stay as they are
        // (see above); their requests wait, bounded by each proxy's slot_lock_wait_timeout.
        if (preparing.length) {
          this.host.log.warn(`slot-[${ids(preparing)}] resync-rollback to preparing`);
          await this.host.resync(preparing).catch((e2) => this.host.log.warn(`rollback: ${errText(e2)}`));
          await topo.updateSlots(preparing).catch((e2) => this.host.log.warn(`rollback: ${errText(e2)}`));
        }
        throw stepError(lock[0]!.id, "resync to prepared", e);
      }
      const next = lock.map((m) => withState(m, ActionState.Migrating));
      this.host.log.warn(`slot-[${ids(next)}] resync to migrating`);
      await this.step(next[0]!.id, "resync to migrating", () => clock.time("push", () => this.host.resync(next)));
      clock.lockedMs = performance.now() - lockedFrom;
      migratingNow = next;
    }

    // Every proxy now forwards these slots: the movers start at once, and `migrating` is stored
    // meanwhile (the lock stays held until it is, so complete() and every other writer of the
    // topology come after it). Moving before the store says `migrating` is safe: a dashboard
    // that dies now finds `prepared`, and locks the slots in every proxy again before it lets
    // them migrate (see above); what the mover moved stays moved.
    const moves = new Map<string, MoveJob>();
    const migrating = [...at(ActionState.Migrating), ...migratingNow];
    for (const m of migrating) {
      const from = topo.groupMaster(m.group_id);
      const to = topo.groupMaster(m.action.target_id);
      const key = `${m.group_id}>${m.action.target_id}`;
      let job = moves.get(key);
      if (!job) moves.set(key, (job = { from, to, fromGid: m.group_id, toGid: m.action.target_id, sids: [] }));
      job.sids.push(m.id);
    }
    // Counted under the lock, so a promotion that checks it (slots-migration is running) cannot
    // slip in between here and the movers starting.
    this.executor += migrating.length;
    const finished = at(ActionState.Finished).map((m) => m.id);
    const jobs = [...moves.values()].map((job) => this.moveAndComplete(job, signal, clock));
    if (finished.length) jobs.push(this.host.withLock(() => this.complete(finished, clock)));
    // round() awaits the jobs only after this returns and the lock is released; a job that fails
    // before then (a Pika mover's first key) must not count as an unhandled rejection, which
    // ends the process.
    for (const j of jobs) j.catch(() => undefined);
    let storeError: unknown;
    await clock.time("store", () => topo.updateSlots(migratingNow)).catch((e) => {
      storeError = e;
    });
    return { jobs, storeError, executing: migrating.length, batch, replicated };
  }

  private async moveAndComplete(job: MoveJob, signal: AbortSignal, clock: RoundClock): Promise<void> {
    const first = job.sids[0]!;
    // A source group without servers has no keys to move (codis: from == "" → done).
    if (job.from !== "") {
      const method = this.host.moverMethod(job.from, job.to);
      const mover = this.host.moverFor(method);
      const c = this.host.config;
      this.pace.configure(c.migration_keep_client_ops_percent / 100, c.migration_max_keys_per_second);
      this.pace.begin();
      this.host.log.info(`slot-[${sidList(job.sids)}] moving ${job.from} → ${job.to} (${method})`);
      const topo = this.host.topology();
      const early = new EarlyFinisher((sids) => clock.time("push", () =>
        this.host.resync(sids.map((sid) => topo.slots[sid]!)
          // `prepared` in memory: the job started before its `migrating` write landed.
          .filter((m) => m.action.state === ActionState.Migrating || m.action.state === ActionState.Prepared)
          .map((m) => withState(m, ActionState.Finished)))), this.host.log);
      try {
        await this.step(first, "move", () => clock.time("move", () => mover.moveSlots(job.sids, job.from, job.to, {
          connect: this.host.connect,
          password: c.product_auth || undefined,
          timeoutMs: c.migration_timeout,
          maxBulks: c.migration_async_maxbulks,
          maxBytes: c.migration_async_maxbytes,
          numKeys: c.migration_async_numkeys,
          keysPerSecond: () => this.pace.rate,
          onMoved: (n) => this.pace.count(n),
          gate: () => this.gate(job, signal),
          onProgress: (sid, db, n, moved) => {
            this.status = `[OK] Slot[${pad4(sid)}]@DB[${db}]=${n}`;
            this.progress.keysMoved(moved ?? 0);
          },
          onSlotDone: (sid) => {
            this.progress.slotDone(sid);
            early.slotDone(sid);
          },
          log: (msg) => this.host.log.info(msg),
        }, signal)));
      } finally {
        // complete() pushes `finished` for every slot of the job again, after these pushes.
        await early.settle();
      }
    }
    await this.host.withLock(() => this.complete(job.sids, clock));
  }

  /**
   * Before every bulk step: wait while disabled or either group promotes, then the interval.
   * While waiting, the job's slots do not count as executing, so a promotion may run (codis
   * counts an executor only during a step). If a promotion changed either master meanwhile, the
   * job stops with an error and the next round starts over with the new masters.
   */
  private async gate(job: MoveJob, signal: AbortSignal): Promise<void> {
    let paused = false;
    try {
      for (;;) {
        if (!this.host.isOnline()) throw new Error("topom is not online");
        const groups = this.host.topology().groups;
        if (!this.disabled && !isGroupPromoting(groups, job.fromGid) && !isGroupPromoting(groups, job.toGid)) break;
        if (!paused) {
          paused = true;
          this.executor -= job.sids.length;
        }
        await sleep(this.pausedPollMs, signal);
      }
    } finally {
      // No await between the check above and this: a promotion cannot start in between.
      if (paused) this.executor += job.sids.length;
    }
    const topo = this.host.topology();
    if (topo.groupMaster(job.fromGid) !== job.from || topo.groupMaster(job.toGid) !== job.to) {
      throw new Error(`group-[${job.fromGid}] or group-[${job.toGid}] changed master during the move; it starts over`);
    }
    if (this.interval > 0) await sleep(this.interval / 1000, signal);
    await this.pace.ready(signal);
  }

  /**
   * Under the lock: migrating → finished → {id, group_id: target}. `finished` is pushed first and
   * stored after, so that a slot spends no store write in the migrating state, in which every
   * request of it costs proxies a move step on the source. Safe either way round: a dashboard
   * that dies before storing `finished` resumes from `migrating`, whose mover finds the source
   * empty, and pushes `finished` again.
   */
  private async complete(sids: readonly number[], clock: RoundClock): Promise<void> {
    const topo = this.host.topology();
    // Only slots still in these states: an operator's slots/assign may have replaced them meanwhile.
    const current = sids.map((sid) => topo.slots[sid]!);
    const finished = [
      ...current.filter((m) => m.action.state === ActionState.Finished),
      ...current.filter((m) => m.action.state === ActionState.Migrating).map((m) => withState(m, ActionState.Finished)),
    ];
    if (finished.length === 0) return;
    this.host.log.warn(`slot-[${ids(finished)}] resync to finished`);
    await this.step(finished[0]!.id, "resync to finished", () => clock.time("push", () => this.host.resync(finished)));
    await clock.time("store", () => topo.updateSlots(finished));
    await clock.time("store", () => topo.updateSlots(finished.map((m) => newSlotMapping(m.id, m.action.target_id))));
  }

  private async step<T>(sid: number, what: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (e) {
      throw stepError(sid, what, e);
    }
  }
}

interface MoveJob {
  from: string;
  to: string;
  fromGid: number;
  toGid: number;
  sids: number[];
}

function withState(m: SlotMapping, state: string): SlotMapping {
  const c = clone(m);
  c.action.state = state;
  return c;
}

function ids(ms: readonly SlotMapping[]): string {
  return sidList(ms.map((m) => m.id));
}

function sidList(sids: readonly number[]): string {
  return sids.length <= 8 ? sids.join(",") : `${sids[0]}..${sids.at(-1)} (${sids.length})`;
}

function stepError(sid: number, what: string, e: unknown): SlotStepError {
  if (e instanceof SlotStepError) return e;
  const detail = (e as { detail?: unknown }).detail;
  return new SlotStepError(sid, errText(e), `slot-[${sid}] ${what}: ${typeof detail === "string" ? detail : errText(e)}`);
}
