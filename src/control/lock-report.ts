// Locked slots as an operator sees them (stats JSON `slotway.locked_slots`, /metrics): how long
// each slot has been locked by the dashboard and how many requests the workers hold for it.
import type { WorkerStatsSnapshot } from "../workers/stats.js";

export interface LockedSlotReport {
  id: number;
  /** Since the fill that locked it (0 for a slot held only by a fill's drain). */
  locked_ms: number;
  /** Requests held for it over all workers. */
  held: number;
  /** Age of the oldest of those requests. */
  oldest_held_ms: number;
}

/** Merges the controller's locks with the workers' held requests, oldest lock first. */
export function lockReport(locked: readonly { id: number; ms: number }[], per: readonly WorkerStatsSnapshot[]): LockedSlotReport[] {
  const by = new Map<number, LockedSlotReport>();
  for (const l of locked) by.set(l.id, { id: l.id, locked_ms: l.ms, held: 0, oldest_held_ms: 0 });
  for (const w of per) {
    const h = w.heldSlots;
    for (let i = 0; i + 2 < h.length; i += 3) {
      const id = h[i]!;
      const e = by.get(id) ?? { id, locked_ms: 0, held: 0, oldest_held_ms: 0 };
      e.held += h[i + 1]!;
      e.oldest_held_ms = Math.max(e.oldest_held_ms, h[i + 2]!);
      by.set(id, e);
    }
  }
  return [...by.values()].sort((a, b) => b.locked_ms - a.locked_ms || a.id - b.id);
}

type Metric = (name: string, type: string, help: string, values: [string, number][]) => void;

/** The lock and held-request series of /metrics. */
export function lockMetrics(report: readonly LockedSlotReport[], per: readonly WorkerStatsSnapshot[], metric: Metric): void {
  const slot = (r: LockedSlotReport): string => `{slot="${r.id}"}`;
  metric("slotway_slot_locked_seconds", "gauge", "How long a slot has been locked by the dashboard (a migration step not finished), per locked slot.",
    report.filter((r) => r.locked_ms > 0).map((r) => [slot(r), r.locked_ms / 1000]));
  metric("slotway_slot_locked_oldest_seconds", "gauge", "Age of the oldest slot lock (0 when no slot is locked).",
    [["", report.reduce((m, r) => Math.max(m, r.locked_ms), 0) / 1000]]);
  metric("slotway_slot_held_requests", "gauge", "Requests held for a locked slot, per slot.",
    report.filter((r) => r.held > 0).map((r) => [slot(r), r.held]));
  metric("slotway_held_requests_expired_total", "counter", "Held requests failed, not run, after slot_lock_wait_timeout.",
    [["", per.reduce((n, w) => n + w.heldExpired, 0)]]);
}
