// Moving a slot between Pika 3.4 (sharding) groups: whole-slot replication, fenced by the
// proxies' lock, never dual writes. The engine (migration.ts) hands such slots here.
//
// The walk, each state stored before what follows acts on it:
//
//   pending ──store──▶ preparing ──────────────────────────────▶ prepared ──────────────────▶ finished ──▶ {group: target}
//                                                      (push, then store)      (store, then push)
//                      route: source, unlocked                   locked in every proxy          route: target, unlocked
//                      target slot added, replicating from the   final catch-up: lag 0 on a     source copy removed after
//                      source (full sync, then binlog), until    stable position; target        pika_delslots_grace
//                      the lag is ≤ pika_replication_lock_lag    detached (slotsslaveof no one)  (pika-cleanup.ts)
//
// `migrating` is never used: the proxies never forward commands of these slots anywhere but
// to one backend (the source until the flip, the target after), so they need no migration
// method, and Pika 3.4 has none (SLOTSMGRTTAGONE answers "NOT supported").
//
// Why dual writes are never used (write the target, read the target then the source): a key
// deleted on the target is read again from the source, so deletes come back; a key created on
// the target beside a newer one still on the source hides it. The lock is the only window where
// neither server takes writes, and it lasts the final catch-up only (measured: `locks` below).
//
// A restarted dashboard resumes from the stored state:
//   pending    → as new
//   preparing  → attach again (a target already following the source is left alone) and watch
//   prepared   → every proxy holds the slot. Target still following: wait for lag 0 and detach.
//                Target already a master (killed after `slotsslaveof no one`, before the flip):
//                its position must equal the source's (nothing writes either while locked), and
//                then the flip goes on; otherwise the slot is unlocked and replicated again with
//                a full resync.
//   migrating  → (not written by this walk) pushed back to prepared, then as prepared
//   finished   → push it again (some proxies may still hold the slot), record the new group and
//                the source cleanup
//
// A stop (sync broken, no convergence within pika_replication_timeout, the lock failing ten
// times, a server that cannot take the slot) puts the route back on the source, unlocked, drops
// the target's copy and says why in the overview (slot_action.stopped); creating the action
// again retries it.
import { newSlotMapping, type SlotMapping, ActionState, isGroupPromoting } from "../models.js";
import { addMissingSlots } from "../backends/pika-cluster.js";
import { ConnPool, HANDSHAKE_MS, lostHandshake, PikaSlotReplication, ReplicationStop, sameAddr, samePos, stalledFresh, type SyncView } from "../movers/pika-replication.js";
import { checkAborted, sleep } from "../movers/mover.js";
import { errText } from "./log.js";
import { SlotStepError } from "./migration.js";
import { clone } from "./topology.js";
import type { Topom } from "./topom.js";

/** Pause between looks at the lag while replicating / while locked. */
const WATCH_MS = 100;
const LOCKED_POLL_MS = 5;
/** Consecutive time a server may not answer before the migration stops. */
const UNREACHABLE_MS = 10_000;
/** Lock attempts (final catch-up not reached in time) before the migration stops. */
const LOCK_TRIES = 10;
/** A replication link down this long (no full sync running) is started again, up to RELINKS times. */
const RELINK_MS = 15_000;
/** While locked, a target behind the source that makes no progress this long: unlock, restart the link. */
const LOCK_STALL_MS = 2000;
const RELINKS = 10;
/**
 * A fresh target connected at binlog position 0 0 with the source listing it behind this long:
 * full sync. Not sooner: under the soak's load a fresh replay leaves 0 0 slowly (128 slots at
 * once, sources never filled by a full sync: 43 of them sat at 0 0 with lag > 0, median 0.9 s,
 * max 6.3 s), and a needless full sync makes every later move of that slot need one too.
 */
const FRESH_STALL_MS = 30_000;

export interface LockStats {
  count: number;
  lastMs: number;
  maxMs: number;
  totalMs: number;
}

export class ReplicationFlow {
  /** Lock windows of finished slots (ms), for the overview and /metrics. */
  readonly locks: LockStats = { count: 0, lastMs: 0, maxMs: 0, totalMs: 0 };
  /** What each slot in the walk is doing, for the overview. */
  readonly phase = new Map<number, string>();
  private readonly lockTries = new Map<number, number>();
  /** When each slot's lock push started (performance.now()). */
  private readonly lockedAt = new Map<number, number>();
  /** Slots whose last lock ended on a stalled link (the link is started again). */
  private readonly stalled = new Set<number>();
  /** Times within a slot's lock: lock stored, caught up, detached and checked. */
  private readonly marks = new Map<number, number[]>();
  /** The lock window (see enterWindow): held by windowOwner while set. */
  private window: { promise: Promise<void>; release: () => void } | undefined;
  private windowOwner = -1;
  /** Slots replicating now (see admit). */
  private admitted = 0;

  constructor(private readonly t: Topom) {}

  /** Walks every slot (concurrently); rejects with the first failure once all settled. */
  async run(sids: readonly number[], signal: AbortSignal): Promise<void> {
    this.t.engine.executor += sids.length;
    const pool = new ConnPool(this.t.connect, this.t.config.product_auth || undefined, 15_000);
    try {
      const results = await Promise.allSettled(sids.map((sid) => this.walk(sid, new PikaSlotReplication(pool), signal)));
      for (const r of results) if (r.status === "rejected") throw r.reason;
    } finally {
      this.t.engine.executor -= sids.length;
      pool.close();
    }
  }

  private slot(sid: number): SlotMapping {
    return this.t.topology().slots[sid]!;
  }

  private async walk(sid: number, repl: PikaSlotReplication, signal: AbortSignal): Promise<void> {
    let admitted = false;
    try {
      for (;;) {
        checkAborted(signal);
        await this.gate(sid, signal);
        const m = this.slot(sid);
        const source = this.t.topology().groupMaster(m.group_id);
        switch (m.action.state) {
          case ActionState.Nothing:
            return; // the operator replaced the action meanwhile
          case ActionState.Pending:
            await this.store(sid, ActionState.Pending, ActionState.Preparing);
            this.t.engine.stopped.delete(sid);
            failpoint("pika-preparing-stored");
            continue;
          case ActionState.Preparing:
            if (source === "") {
              // Nothing to copy (an offline slot): the slot only has to exist on the target.
              await this.attachTarget(sid, m, repl, undefined);
              await this.flip(sid, ActionState.Preparing, performance.now());
              return;
            }
            if (!admitted) {
              await this.admit(sid, signal);
              admitted = true;
            }
            await this.replicate(sid, m, repl, signal);
            failpoint("pika-caught-up");
            await this.enterWindow(sid);
            {
              // The lag may have grown while other slots had the window.
              const v = await repl.view(sid, source, this.t.topology().groupMaster(m.action.target_id));
              if (v.lag === undefined || v.lag > this.t.config.pika_replication_lock_lag) {
                this.leaveWindow(sid);
                continue;
              }
            }
            await this.lock(sid);
            failpoint("pika-prepared-stored");
            continue;
          case ActionState.Migrating:
            await this.enterWindow(sid);
            await this.lock(sid, ActionState.Migrating);
            continue;
          case ActionState.Prepared: {
            // (A restarted dashboard finds slots locked already: they take the window in turn.)
            await this.enterWindow(sid);
            const lockedAt = this.lockedAt.get(sid) ?? performance.now();
            const why = await this.finalCatchUp(sid, m, repl, signal);
            if (why === undefined) {
              await this.flip(sid, ActionState.Prepared, lockedAt);
              return;
            }
            const tries = (this.lockTries.get(sid) ?? 0) + 1;
            this.lockTries.set(sid, tries);
            await this.unlock(sid, why);
            this.leaveWindow(sid);
            if (this.stalled.delete(sid)) {
              const tgt = this.t.topology().groupMaster(m.action.target_id);
              await repl.reattach(sid, source, tgt).catch((e) => this.t.log.warn(`slot-[${sid}] restart of the link: ${errText(e)}`));
            }
            if (tries >= LOCK_TRIES) throw new ReplicationStop(`${why} (${tries} tries)`);
            continue;
          }
          case ActionState.Finished:
            await this.flip(sid, ActionState.Finished, performance.now());
            return;
          default:
            throw new Error(`slot-[${sid}] action state is invalid: ${m.action.state}`);
        }
      }
    } catch (e) {
      if (e instanceof ReplicationStop) {
        await this.stop(sid, repl, e.message);
        return;
      }
      if (e instanceof SlotStepError) throw e;
      throw new SlotStepError(sid, errText(e), `slot-[${sid}] replication: ${errText(e)}`);
    } finally {
      if (admitted) this.dismiss();
      this.leaveWindow(sid);
      this.phase.delete(sid);
    }
  }

  /**
   * At most pika_replication_parallel_slots slots replicate at once (from the attach to the
   * flip). Each attach is a `pkcluster addslots` (and `delslots` for a leftover copy), which
   * takes 0.1-2 s on a loaded Pika 3.4 and holds every other command of the dashboard's one
   * connection to that server: 99 attaches at once kept `pkcluster info` unanswered for 15 s
   * and stopped those slots (soak, 128 slots). Only slots entering replication wait here:
   * locked (prepared) slots never do.
   */
  private async admit(sid: number, signal: AbortSignal): Promise<void> {
    const cap = (): number => Math.max(1, this.t.config.pika_replication_parallel_slots);
    if (this.admitted >= cap()) this.phase.set(sid, `waiting: ${this.admitted} slots replicating (pika_replication_parallel_slots = ${cap()})`);
    while (this.admitted >= cap()) await sleep(WATCH_MS, signal);
    this.admitted++;
  }

  private dismiss(): void {
    this.admitted--;
  }

  /**
   * One slot at a time is locked in the proxies (from the lock push to the flip): the pushes
   * and store writes of every slot go through the one topology lock, so slots locked together
   * would each stay locked while the others' pushes run (measured with 32 slots at once: a
   * median 243 ms, the first slot 1.7 s). Replication itself goes on for all of them meanwhile.
   */
  private async enterWindow(sid: number): Promise<void> {
    if (this.windowOwner === sid) return;
    for (;;) {
      const busy = this.window;
      if (!busy) break;
      await busy.promise;
    }
    let release!: () => void;
    const promise = new Promise<void>((r) => (release = r));
    this.window = { promise, release };
    this.windowOwner = sid;
  }

  private leaveWindow(sid: number): void {
    if (this.windowOwner !== sid || !this.window) return;
    const w = this.window;
    this.window = undefined;
    this.windowOwner = -1;
    w.release();
  }

  /** Waits while moving is disabled or either group promotes; the masters must not change. */
  private async gate(sid: number, signal: AbortSignal): Promise<void> {
    for (;;) {
      if (!this.t.isOnline()) throw new Error("topom is not online");
      const m = this.slot(sid);
      const groups = this.t.topology().groups;
      const busy = (this.t.engine.disabled && m.action.state === ActionState.Pending)
        || isGroupPromoting(groups, m.group_id) || isGroupPromoting(groups, m.action.target_id);
      if (!busy) return;
      await sleep(200, signal);
    }
  }

  /** Under the lock: from → to, stored (only if the slot is still in `from`). */
  private store(sid: number, from: string, to: string): Promise<void> {
    return this.t.withLock(async () => {
      const topo = this.t.topology();
      const m = topo.slots[sid]!;
      if (m.action.state !== from) return;
      await topo.updateSlot(withState(m, to));
    });
  }

  /** Budget: the target group's servers must have room for one more slot. */
  private async checkRoom(sid: number, servers: readonly string[], repl: PikaSlotReplication): Promise<void> {
    const max = this.t.config.pika_max_slots_per_server;
    for (const s of servers) {
      if (await repl.info(s, sid)) continue;
      const n = await repl.slotCount(s);
      this.t.pikaGroups.warnDisk(s, n + 1);
      if (n + 1 > max) {
        throw new ReplicationStop(`server ${s} holds ${n} slots; one more exceeds pika_max_slots_per_server = ${max} `
          + `(each slot costs Pika 3.4 ~26 file descriptors; it dies when it runs out): raise its ulimit -n, then pika_max_slots_per_server`);
      }
    }
  }

  /** The target group's servers hold the slot; with a source, the target master replicates it. */
  private async attachTarget(sid: number, m: SlotMapping, repl: PikaSlotReplication, source: string | undefined): Promise<void> {
    const g = this.t.topology().getGroup(m.action.target_id);
    const [target, ...replicas] = g.servers.map((s) => s.server);
    if (!target) throw new ReplicationStop(`group-[${g.id}] has no server`);
    await this.checkRoom(sid, [target, ...replicas], repl);
    if (source !== undefined) {
      await repl.attach(sid, source, target, replicas);
    } else {
      const add = (addr: string): Promise<unknown> => repl.pool.call(addr, (c) => addMissingSlots(c, [sid]));
      await add(target);
      for (const r of replicas) {
        await add(r);
        await repl.follow(sid, target, r);
      }
    }
  }

  /**
   * preparing: the target replicates the slot until its lag is small. Bounded by
   * pika_replication_timeout; servers that do not answer (attach included) for
   * min(10 s, that bound) stop it too.
   */
  private async replicate(sid: number, m: SlotMapping, repl: PikaSlotReplication, signal: AbortSignal): Promise<void> {
    const topo = this.t.topology();
    const source = topo.groupMaster(m.group_id);
    const target = topo.groupMaster(m.action.target_id);
    const c = this.t.config;
    const started = performance.now();
    const unreachable = Math.min(UNREACHABLE_MS, c.pika_replication_timeout);
    let lastAnswer = started;
    let attached = false;
    let linkedAt = started;
    let reattached = 0;
    let stalledAt: number | undefined;
    let handshakeSince: number | undefined;
    for (;;) {
      checkAborted(signal);
      let view: SyncView;
      try {
        if (!attached) {
          this.phase.set(sid, `attaching ${target} to ${source}`);
          await this.attachTarget(sid, m, repl, source);
          attached = true;
          // The attach waited behind the other slots' addslots on the same connections (about
          // 0.5 s each on a loaded Pika): the link's clock starts when it was asked for.
          linkedAt = performance.now();
        }
        view = await repl.view(sid, source, target);
        lastAnswer = performance.now();
      } catch (e) {
        if (e instanceof ReplicationStop) throw e;
        const quiet = performance.now() - lastAnswer;
        this.phase.set(sid, `replicating ${source} → ${target}: ${errText(e)}`);
        if (quiet > unreachable) throw new ReplicationStop(`sync broken: ${source} or ${target} failed for ${(quiet / 1000).toFixed(1)} s: ${errText(e)}`);
        await sleep(WATCH_MS, signal);
        continue;
      }
      this.phase.set(sid, `replicating ${source} → ${target}: ${view.phase}`);
      this.t.engine.status = `[OK] Slot[${pad4(sid)}] replicating: ${view.phase}`;
      if (!view.source) throw new ReplicationStop(`sync broken: source ${source} no longer has slot ${sid}`);
      if (!view.target) throw new ReplicationStop(`sync broken: target ${target} no longer has slot ${sid}`);
      if (view.target.role === "master") {
        // The target left replication by itself (restarted, or an operator's pkcluster command).
        throw new ReplicationStop(`sync broken: target ${target} no longer replicates slot ${sid} from ${source}`);
      }
      if (view.lag !== undefined && view.lag <= c.pika_replication_lock_lag) return;
      // A link that stays down while no full sync runs is started over (see reattach), a few times.
      // A full sync shows as kTryDBSync / kWaitDBSync on the target, or as SlaveNotSync /
      // SlaveDbSync for it on the source (the target may say kWaitReply meanwhile): left alone.
      const entry = view.source.slaves.find((x) => sameAddr(x.addr, target));
      const syncing = view.target.slaveStatus === "kTryDBSync" || view.target.slaveStatus === "kWaitDBSync"
        || entry?.status === "SlaveNotSync" || entry?.status === "SlaveDbSync";
      if (stalledFresh(view)) {
        stalledAt ??= performance.now();
        if (performance.now() - stalledAt > FRESH_STALL_MS) {
          if (++reattached > RELINKS) throw new ReplicationStop(`sync broken: slot ${sid} stays at binlog position 0 0 on ${target} after ${RELINKS} full syncs`);
          this.t.log.warn(`slot-[${sid}] ${target} stays at binlog position 0 0 (${view.phase}): ${source} does not feed it from its binlog (seen when its own copy came by a full sync); full sync`);
          await repl.reattach(sid, source, target, true).catch((e) => this.t.log.warn(`slot-[${sid}] restart of the link: ${errText(e)}`));
          stalledAt = undefined;
          linkedAt = performance.now();
        }
      } else {
        if (stalledAt !== undefined) this.t.log.warn(`slot-[${sid}] ${target} left binlog position 0 0 after ${((performance.now() - stalledAt) / 1000).toFixed(1)} s at 0 0 with the source listing it behind (${view.phase})`);
        stalledAt = undefined;
      }
      // The link is started again (both counted in RELINKS) after a handshake Pika lost, or when it
      // stays down while no full sync runs.
      const now = performance.now();
      handshakeSince = lostHandshake(view.target.slaveStatus, entry?.status) ? (handshakeSince ?? now) : undefined;
      if (view.connected || syncing) linkedAt = now;
      const restart = handshakeSince !== undefined && now - handshakeSince > HANDSHAKE_MS ? `handshake unfinished for ${HANDSHAKE_MS / 1000} s`
        : now - linkedAt > RELINK_MS ? `link down for ${RELINK_MS / 1000} s` : undefined;
      if (restart !== undefined) {
        if (++reattached > RELINKS) throw new ReplicationStop(`sync broken: the link of slot ${sid} stays down (${restart}: ${view.phase}) after ${RELINKS} restarts`);
        this.t.log.warn(`slot-[${sid}] replication ${restart} (${view.phase}): starting it again`);
        await repl.reattach(sid, source, target).catch((e) => this.t.log.warn(`slot-[${sid}] restart of the link: ${errText(e)}`));
        handshakeSince = undefined;
        linkedAt = performance.now();
      }
      if (performance.now() - started > c.pika_replication_timeout) {
        throw new ReplicationStop(`replication did not converge within pika_replication_timeout = ${c.pika_replication_timeout} ms (${view.phase})`);
      }
      await sleep(WATCH_MS, signal);
    }
  }

  /** preparing (or migrating) → prepared: the slot is held in every proxy, then stored. */
  private lock(sid: number, from: string = ActionState.Preparing): Promise<void> {
    return this.t.withLock(async () => {
      const topo = this.t.topology();
      const m = topo.slots[sid]!;
      if (m.action.state !== from) return;
      const next = withState(m, ActionState.Prepared);
      this.phase.set(sid, "locking");
      this.lockedAt.set(sid, performance.now());
      try {
        await this.t.resync([next]);
      } catch (e) {
        // Proxies that did lock must not hold requests until the retry.
        await this.t.resync([m]).catch((e2) => this.t.log.warn(`slot-[${sid}] rollback of the lock: ${errText(e2)}`));
        throw e;
      }
      await topo.updateSlot(next);
      this.marks.set(sid, [performance.now()]);
    });
  }

  /** prepared → preparing: unlocked again, route on the source. */
  private unlock(sid: number, why: string): Promise<void> {
    this.t.log.warn(`slot-[${sid}] unlocked again, still replicating: ${why}`);
    return this.t.withLock(async () => {
      const topo = this.t.topology();
      const m = topo.slots[sid]!;
      if (m.action.state !== ActionState.Prepared) return;
      const next = withState(m, ActionState.Preparing);
      await this.t.resync([next]);
      await topo.updateSlot(next);
    });
  }

  /**
   * prepared: waits for the target to hold every write (source and target at one binlog position,
   * the source's unchanged between two reads), detaches it and checks it again. Returns why it
   * could not within pika_replication_lock_timeout, or undefined when the target is ready.
   */
  private async finalCatchUp(sid: number, m: SlotMapping, repl: PikaSlotReplication, signal: AbortSignal): Promise<string | undefined> {
    const topo = this.t.topology();
    const source = topo.groupMaster(m.group_id);
    const target = topo.groupMaster(m.action.target_id);
    const deadline = performance.now() + this.t.config.pika_replication_lock_timeout;
    this.phase.set(sid, `locked: final catch-up ${source} → ${target}`);
    let prev: SyncView | undefined;
    let progressAt = performance.now();
    let fence: string[] | undefined;
    for (;;) {
      checkAborted(signal);
      let view: SyncView;
      try {
        view = await repl.view(sid, source, target);
        // The fence goes in once, while the target still follows (a target detached before a
        // restart passed its fence before detaching): positions are compared after it.
        if (!fence && view.target?.role === "slave") {
          fence = await repl.writeFence(sid, source, target);
          prev = undefined;
          continue;
        }
      } catch (e) {
        if (performance.now() > deadline) return `no answer from ${source} or ${target} while locked: ${errText(e)}`;
        await sleep(LOCKED_POLL_MS, signal);
        continue;
      }
      if (!view.source) throw new ReplicationStop(`source ${source} no longer has slot ${sid}`);
      if (!view.target) return `target ${target} no longer has slot ${sid}`;
      const stable = prev !== undefined && samePos(prev.source, view.source) && samePos(view.source, view.target);
      if (view.target.role === "master") {
        // Detached already (by us before a restart, or the target restarted): only a copy at the
        // source's very position may take the route.
        if (stable) return undefined;
        if (prev !== undefined && samePos(prev.source, view.source) && !samePos(view.source, view.target)) {
          return `target ${target} holds slot ${sid} as a master at another binlog position than ${source}`;
        }
      } else if (stable && view.connected && (!fence || await repl.fenceApplied(target, fence).catch(() => false))) {
        this.marks.get(sid)?.push(performance.now());
        await repl.detach(sid, target);
        failpoint("pika-detached");
        const after = await repl.view(sid, source, target);
        if (after.target?.role === "master" && samePos(after.source, view.source) && samePos(after.target, view.source)) {
          this.marks.get(sid)?.push(performance.now());
          if (fence) await repl.dropFence([target, source], fence);
          return undefined;
        }
        return `target ${target} moved from the source's position while detaching`;
      }
      // A target that stops moving while behind (Pika 3.4's link stalls, seen under load) is not
      // waited for: the slot is unlocked at once and its link started again.
      if (prev?.target === undefined || view.target.offset !== prev.target.offset || view.target.file !== prev.target.file) progressAt = performance.now();
      if (view.target.role === "slave" && !samePos(view.source, view.target) && performance.now() - progressAt > LOCK_STALL_MS) {
        this.stalled.add(sid);
        return `the target's copy stopped catching up while locked (${view.phase}, ${LOCK_STALL_MS} ms without progress)`;
      }
      if (performance.now() > deadline) {
        const pos = (s?: { file: number; offset: number }): string => (s ? `${s.file} ${s.offset}` : "-");
        return `no lag 0 on a stable position within pika_replication_lock_timeout = ${this.t.config.pika_replication_lock_timeout} ms `
          + `(${view.phase}; binlog source ${pos(view.source)}, before ${pos(prev?.source)}, target ${pos(view.target)})`;
      }
      prev = view;
      await sleep(LOCKED_POLL_MS, signal);
    }
  }

  /**
   * → finished → {group: target}, and the source's copy queued for removal. Idempotent.
   *
   * `finished` is stored BEFORE it is pushed (the other walks push first): once any proxy sends
   * writes to the detached target, going back to the source would lose them, so the decision
   * must be in the store before the first proxy acts on it. A dashboard killed after storing
   * pushes it again; one killed before finds `prepared` with no proxy routing the target yet.
   */
  private flip(sid: number, from: string, lockedAt: number): Promise<void> {
    return this.t.withLock(async () => {
      const topo = this.t.topology();
      const m = topo.slots[sid]!;
      if (m.action.state !== from) return;
      const done = withState(m, ActionState.Finished);
      if (from !== ActionState.Finished) {
        await topo.updateSlot(done);
        failpoint("pika-finished-stored");
      }
      this.t.log.warn(`slot-[${sid}] resync to finished (route → group-[${m.action.target_id}])`);
      await this.t.resync([done]);
      failpoint("pika-finished-pushed");
      const ms = performance.now() - lockedAt;
      if (from === ActionState.Prepared) {
        const l = this.locks;
        l.count++;
        l.lastMs = ms;
        l.maxMs = Math.max(l.maxMs, ms);
        l.totalMs += ms;
        // Where the lock went: push + store, catch-up, detach + check, flip (store + push).
        const [pushed, caught, detached] = this.marks.get(sid) ?? [];
        const parts = pushed && caught && detached
          ? ` (lock ${(pushed - lockedAt).toFixed(0)}, catch-up ${(caught - pushed).toFixed(0)}, detach ${(detached - caught).toFixed(0)}, flip ${(performance.now() - detached).toFixed(0)})`
          : "";
        this.t.log.info(`slot-[${sid}] was locked ${ms.toFixed(1)} ms${parts}`);
      }
      const source = topo.groups.get(m.group_id);
      // The source's copy is recorded for removal before the step that records the new group.
      if (source && source.servers.length && m.group_id !== m.action.target_id) {
        await this.t.pikaCleanup.add(sid, m.group_id, source.servers.map((s) => s.server));
      }
      await topo.updateSlot(newSlotMapping(sid, m.action.target_id));
      this.lockTries.delete(sid);
      this.lockedAt.delete(sid);
      this.marks.delete(sid);
      this.t.engine.stopped.delete(sid);
    });
  }

  /** Stops the migration: route on the source, unlocked; the target's copy dropped; the reason kept. */
  private async stop(sid: number, repl: PikaSlotReplication, reason: string): Promise<void> {
    let target: { gid: number; servers: string[] } | undefined;
    await this.t.withLock(async () => {
      const topo = this.t.topology();
      const m = topo.slots[sid]!;
      if (m.action.state === ActionState.Nothing || m.action.state === ActionState.Finished) return;
      const back = newSlotMapping(sid, m.group_id);
      // Pushed first: a proxy that still holds the slot must get it back before the store says so.
      await this.t.resync([back]);
      await topo.updateSlot(back);
      const g = topo.groups.get(m.action.target_id);
      if (g) target = { gid: g.id, servers: g.servers.map((s) => s.server) };
    });
    this.lockTries.delete(sid);
    this.t.engine.stopped.set(sid, reason);
    this.t.engine.status = `[ERROR] Slot[${pad4(sid)}]: migration stopped, route left on the source: ${reason}`;
    this.t.log.warn(`slot-[${sid}] migration stopped, the slot stays on its source group: ${reason}`);
    if (!target) return;
    // The target never served the slot: its copy (maybe partial) goes.
    const { gid, servers } = target;
    if (this.t.topology().slots[sid]!.group_id === gid) return;
    const master = servers[0];
    const ordered = [...servers.slice(1), ...(master ? [master] : [])];
    try {
      await repl.remove(sid, ordered);
    } catch (e) {
      // "ERR Slot in syncing" (a replication still winding down) or a busy server: the cleanup
      // retries it every second (and keeps it if the slot moves there again meanwhile), so a
      // stopped migration leaves no stray copy behind.
      this.t.log.warn(`slot-[${sid}] removing the stopped copy from group-[${gid}] failed (${errText(e)}); the cleanup retries it`);
      await this.t.withLock(() => this.t.pikaCleanup.add(sid, gid, servers))
        .catch((e2) => this.t.log.warn(`slot-[${sid}] recording the stopped copy for cleanup: ${errText(e2)}`));
    }
  }
}

function withState(m: SlotMapping, state: string): SlotMapping {
  const c = clone(m);
  c.action.state = state;
  return c;
}

const pad4 = (n: number): string => String(n).padStart(4, "0");

/**
 * Test hook (test/integration/pika-cluster.test.ts): with SLOTWAY_FAILPOINT=<name> in its
 * environment the dashboard kills itself (SIGKILL) when a walk reaches <name>, so a restart can
 * be checked at each step. Unset in production; nothing else reads it.
 */
function failpoint(name: string): void {
  if (process.env.SLOTWAY_FAILPOINT === name) process.kill(process.pid, "SIGKILL");
}
