// Migration waves while the load runs: the dashboard moves a slot range to the other group and
// back, and, when asked, is SIGKILLed at a chosen step of a wave and restarted after a while.
//
// To land a kill inside a given step, the driver watches the dashboard's filesystem store (one
// file per slot, rewritten at every state change) and kills the moment a slot of the wave is
// written in that state. The locked window (every proxy holds the slots' requests) is kept out
// of the store by design: the dashboard stores `prepared` just BEFORE it pushes the lock to the
// proxies and pushes `migrating` right after the last proxy locked (5-60 ms), so no store write
// marks it. To land inside it, the driver stops the second proxy (SIGSTOP) when `prepared` is
// stored, so the lock push cannot complete; once the first proxy reports the wave's slots
// locked, the dashboard is killed and the second proxy continued (SIGCONT): it then applies
// the lock it had been sent. Both proxies hold the slots locked with no dashboard to unlock
// them, which is the case the held-request bound (slot_lock_wait_timeout) is for. The proxies'
// admin API confirms it: the driver counts locked slots there.
import { readFileSync, watch, type FSWatcher } from "node:fs";
import { performance } from "node:perf_hooks";
import type { Cluster } from "../../test/harness/cluster.js";
import type { Anomalies } from "./model.js";

export const KILL_STATES = ["preparing", "prepared", "migrating", "finished"] as const;
export type KillState = (typeof KILL_STATES)[number];

/** The steps a backend's migrations store: Pika 3.4's replication walk never stores `migrating`. */
export function killStates(backend: string): KillState[] {
  return KILL_STATES.filter((s) => backend !== "pika34" || s !== "migrating");
}

export interface WaveOptions {
  beg: number;
  end: number;
  waves: number;
  /** Keep doing waves until this many ms passed since the first (and at least `waves`). */
  minMs: number;
  steadyMs: number;
  waveTimeoutMs: number;
  /** Kill the dashboard in each wave at these steps, in turn; empty: never. */
  killAt: KillState[];
  /** Kills on `migrating` wait this long after the state is stored, to land mid-move. */
  migratingDelayMs: number;
  /** How long the dashboard stays dead: in the locked window / otherwise. */
  deadLockedMs: number;
  deadMs: number;
  /** slots/action/interval in µs (0: none), set again after each restart. */
  intervalUs: number;
}

export interface KillRecord {
  wave: number;
  wanted: KillState;
  /** Slot and state whose store write triggered the kill. */
  trigger: string;
  /** When, from the wave's start (ms). */
  atMs: number;
  /** States of the wave's slots in the store right after the kill. */
  storeStates: Record<string, number>;
  /** Locked slots per proxy right after the kill (the held-request window). */
  lockedPerProxy: number[];
  downMs: number;
  /** From the restart to the wave's end. */
  resumeMs: number;
}

export interface WaveRecord {
  wave: number;
  target: number;
  ms: number;
  slots: number;
  /** Per slot: from the first `preparing` write to its new group in the store (ms). */
  perSlotMs: number[];
  /** Per slot: from `prepared` to `migrating` (Pika 3.4: `finished`) written in the store (ms): the locked window seen by the store. */
  lockedMs: number[];
  kill?: KillRecord;
  done: boolean;
}

interface SlotRec {
  group_id: number;
  state: string;
  target: number;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export class WaveDriver {
  /** The run's phase, for the throughput and latency figures. */
  phase: "warmup" | "steady" | "moving" | "down" | "final" = "warmup";
  wave = -1;
  readonly waves: WaveRecord[] = [];
  readonly slots: SlotRec[] = Array.from({ length: 1024 }, () => ({ group_id: 0, state: "", target: 0 }));
  private watcher: FSWatcher | undefined;
  private armed: { state: KillState; wave: number } | undefined;
  private killing: Promise<void> | undefined;
  private current: WaveRecord | undefined;
  private tPreparing = new Map<number, number>();
  private tPrepared = new Map<number, number>();
  private stopped = false;
  private waveStart = 0;

  constructor(private readonly cluster: Cluster, private readonly o: WaveOptions, private readonly anomalies: Anomalies, private readonly log: (s: string) => void) {}

  /** A method, not a field read, so that TypeScript does not narrow it across awaits. */
  isDown(): boolean {
    return this.phase === "down";
  }

  /** The slot's state for anomaly examples. */
  where(slot: number): string {
    const s = this.slots[slot]!;
    const inWave = slot >= this.o.beg && slot <= this.o.end;
    return `${this.phase}${this.wave >= 0 ? ` wave ${this.wave + 1}` : ""}, slot ${s.state ? `${s.state} ${s.group_id}→${s.target}` : `on group ${s.group_id}`}${inWave ? "" : " (not moving)"}`;
  }

  private readSlot(sid: number): SlotRec | undefined {
    try {
      const j = JSON.parse(readFileSync(`${this.cluster.dashboard.slotsDir}/slot-${String(sid).padStart(4, "0")}`, "utf8")) as {
        group_id?: number; action?: { state?: string; target_id?: number };
      };
      return { group_id: j.group_id ?? 0, state: j.action?.state ?? "", target: j.action?.target_id ?? 0 };
    } catch {
      return undefined;
    }
  }

  startWatching(): void {
    for (let i = 0; i < 1024; i++) {
      const r = this.readSlot(i);
      if (r) this.slots[i] = r;
    }
    this.watcher = watch(this.cluster.dashboard.slotsDir, (_ev, name) => {
      const m = name ? /^slot-(\d{4})$/.exec(name.toString()) : null;
      if (!m) return;
      const sid = Number(m[1]);
      const r = this.readSlot(sid);
      if (r) this.onSlot(sid, r);
    });
  }

  private onSlot(sid: number, r: SlotRec): void {
    this.slots[sid] = r;
    const now = performance.now();
    const w = this.current;
    if (!w || sid < this.o.beg || sid > this.o.end) return;
    if (r.state === "preparing" && !this.tPreparing.has(sid)) this.tPreparing.set(sid, now);
    if (r.state === "prepared" && !this.tPrepared.has(sid)) this.tPrepared.set(sid, now);
    // Pika 3.4's replication walk goes from prepared straight to finished (no migrating).
    if ((r.state === "migrating" || r.state === "finished") && this.tPrepared.has(sid)) {
      w.lockedMs.push(now - this.tPrepared.get(sid)!);
      this.tPrepared.delete(sid);
    }
    if (!r.state && r.group_id === w.target && this.tPreparing.has(sid)) {
      w.perSlotMs.push(now - this.tPreparing.get(sid)!);
      this.tPreparing.delete(sid);
    }
    const a = this.armed;
    if (a && a.wave === w.wave && r.state === a.state) {
      this.armed = undefined;
      const trigger = `slot ${sid} stored ${r.state}`;
      if (a.state === "migrating" && this.o.migratingDelayMs > 0) {
        setTimeout(() => this.kill(w, a.state, `${trigger} + ${this.o.migratingDelayMs} ms`), this.o.migratingDelayMs);
      } else if (a.state === "prepared") {
        void this.killInLockedWindow(w, trigger);
      } else {
        this.kill(w, a.state, trigger);
      }
    }
  }

  /**
   * Kills the dashboard while the proxies hold the wave's slots locked (see the top of this
   * file): the second proxy is stopped so the lock push stalls, the first is watched until it
   * holds the slots locked, then the dashboard dies and the second proxy goes on.
   */
  private async killInLockedWindow(w: WaveRecord, trigger: string): Promise<void> {
    const [first, second] = this.cluster.proxies;
    if (!first || !second) {
      this.kill(w, "prepared", trigger);
      return;
    }
    const product = this.cluster.dashboard.product;
    process.kill(second.pid, "SIGSTOP");
    try {
      const deadline = performance.now() + 5000;
      while (performance.now() < deadline) {
        const locked = await first.slots(product).then((ss) => ss.some((x) => x.locked && x.id >= this.o.beg && x.id <= this.o.end), () => false);
        if (locked) break;
        await sleep(2);
      }
      this.kill(w, "prepared", `${trigger}, then proxy 1 locked with proxy 2 stopped`);
    } finally {
      process.kill(second.pid, "SIGCONT");
    }
  }

  private kill(w: WaveRecord, wanted: KillState, trigger: string): void {
    const d = this.cluster.dashboard;
    d.killNow();
    const t0 = performance.now();
    this.phase = "down";
    const rec: KillRecord = { wave: w.wave, wanted, trigger, atMs: t0 - this.waveStart, storeStates: {}, lockedPerProxy: [], downMs: 0, resumeMs: 0 };
    w.kill = rec;
    this.killing = (async () => {
      await d.exited();
      for (let sid = this.o.beg; sid <= this.o.end; sid++) {
        const s = this.readSlot(sid);
        const k = s ? s.state || (s.group_id === w.target ? "done" : "not started") : "unreadable";
        rec.storeStates[k] = (rec.storeStates[k] ?? 0) + 1;
      }
      // A proxy continued after SIGCONT applies the lock it was sent a moment later: look
      // again for a short while before counting it as unlocked.
      for (const p of this.cluster.proxies) {
        let n = -1;
        for (let i = 0; i < 20; i++) {
          n = await p.slots(d.product).then((ss) => ss.filter((s) => s.locked).length, () => -1);
          if (n > 0 || rec.wanted !== "prepared") break;
          await sleep(25);
        }
        rec.lockedPerProxy.push(n);
      }
      const locked = rec.lockedPerProxy.some((n) => n > 0);
      const dead = locked ? this.o.deadLockedMs : this.o.deadMs;
      this.log(`  wave ${w.wave + 1}: dashboard killed at ${trigger}; store ${JSON.stringify(rec.storeStates)}, locked slots per proxy ${rec.lockedPerProxy.join("/")}; down ${(dead / 1000).toFixed(1)} s`);
      await sleep(Math.max(0, dead - (performance.now() - t0)));
      await d.launch();
      rec.downMs = performance.now() - t0;
      if (this.o.intervalUs > 0) await d.put(`/api/topom/slots/action/interval/{x}/${this.o.intervalUs}`);
      this.phase = "moving";
    })().catch((e: Error) => {
      this.anomalies.add("stuck", `wave ${w.wave + 1}: the dashboard killed at ${trigger} did not come back: ${e.message}`);
      this.phase = "moving";
      this.stopped = true;
    });
  }

  /** Runs the waves; returns when done (or when a wave is stuck). */
  async run(): Promise<void> {
    const d = this.cluster.dashboard;
    if (this.o.intervalUs > 0) await d.put(`/api/topom/slots/action/interval/{x}/${this.o.intervalUs}`);
    const t0 = performance.now();
    for (let w = 0; !this.stopped && (w < this.o.waves || performance.now() - t0 < this.o.minMs); w++) {
      const target = w % 2 === 0 ? 2 : 1;
      const rec: WaveRecord = { wave: w, target, ms: 0, slots: this.o.end - this.o.beg + 1, perSlotMs: [], lockedMs: [], done: false };
      this.waves.push(rec);
      this.tPreparing.clear();
      this.tPrepared.clear();
      this.current = rec;
      this.wave = w;
      this.armed = this.o.killAt.length ? { state: this.o.killAt[w % this.o.killAt.length]!, wave: w } : undefined;
      this.killing = undefined;
      this.phase = "moving";
      const start = performance.now();
      this.waveStart = start;
      await d.put(`/api/topom/slots/action/create-range/{x}/${this.o.beg}/${this.o.end}/${target}`);
      const deadline = start + this.o.waveTimeoutMs;
      let last = "";
      for (;;) {
        await sleep(200);
        if (this.stopped) return;
        if (this.killing && this.phase === "moving") await this.killing;
        const st = this.isDown() ? undefined : await d.stats(5000).catch((e: Error) => {
          last = e.message;
          return undefined;
        });
        if (st) {
          const range = st.slots.slice(this.o.beg, this.o.end + 1);
          if (range.every((m) => m.group_id === target && !m.action?.state)) break;
          const left = range.filter((m) => m.group_id !== target || m.action?.state).length;
          last = `${left} slots left; ${st.slot_action.progress.status}${st.slot_action.error ? `; ${st.slot_action.error}` : ""}`;
        }
        if (performance.now() > deadline) {
          const why = `wave ${w + 1} (slots ${this.o.beg}-${this.o.end} to group ${target}) not done in ${this.o.waveTimeoutMs / 1000} s: ${last}`;
          this.anomalies.add("stuck", why);
          this.log(`  ${why}`);
          this.current = undefined;
          this.stopped = true;
          return;
        }
      }
      if (this.killing) await this.killing;
      rec.ms = performance.now() - start;
      rec.done = true;
      if (rec.kill) rec.kill.resumeMs = rec.ms - rec.kill.atMs - rec.kill.downMs;
      if (this.armed) this.log(`  wave ${w + 1}: the kill at "${this.armed.state}" never triggered (the wave went by without that store write)`);
      this.armed = undefined;
      this.current = undefined;
      this.log(`  wave ${w + 1}: slots ${this.o.beg}-${this.o.end} → group ${target} in ${(rec.ms / 1000).toFixed(2)} s`);
      this.phase = "steady";
      await sleep(this.o.steadyMs);
    }
  }

  stop(): void {
    this.stopped = true;
    this.watcher?.close();
  }
}
