// What the soak counts and how it compares what it reads with what it knows: the anomaly
// record, the per-category tallies, and the list comparison the actors share.
//
// Vocabulary (what each anomaly category means; the README's soak section repeats it):
//  lost         an acknowledged write is not visible when it must be (a final read, a DEL that
//               finds nothing, an INCR below the acknowledged count, a missing list element)
//  duplicated   a write applied more often than it was sent (an element twice, a counter above
//               acknowledged + unknown)
//  reordered    list elements in another order than their acknowledged appends
//  resurrected  a deleted or expired key (or list element) seen again
//  stale        a read that returns neither the last acknowledged value nor one of a write whose
//               outcome is unknown (including the proxies disagreeing at the end)
//  held         a request that took longer than the bound (issue 8: ≤ 10 s by default)
//  unfinished   a request with no reply at all within the client timeout, or at the end
//  misplaced    after the moves, a key on a group that does not own its slot (a stray copy)
//  stuck        a migration wave that did not finish within its time limit
//  vacuous      a category with no acknowledged write or no checked read (nothing was proven)
//  errors       more error replies than the allowed ratio of all requests
export const ANOMALY_CATEGORIES = [
  "lost", "duplicated", "reordered", "resurrected", "stale", "held", "unfinished", "misplaced", "stuck", "vacuous", "errors",
] as const;
export type AnomalyCategory = (typeof ANOMALY_CATEGORIES)[number];

/** Anomaly counts with the first few examples of each category. */
export class Anomalies {
  readonly counts = new Map<AnomalyCategory, number>();
  readonly examples = new Map<AnomalyCategory, string[]>();
  /** Counts by "category: what" (e.g. "lost: family LRANGE :d"), to tell apart the checks that fired. */
  readonly byLabel = new Map<string, number>();
  constructor(private readonly keepExamples = 8) {}

  /** label: which check fired (kind and command), for the breakdown. */
  add(cat: AnomalyCategory, detail: string, n = 1, label = ""): void {
    if (n <= 0) return;
    this.counts.set(cat, (this.counts.get(cat) ?? 0) + n);
    if (label) this.byLabel.set(`${cat}: ${label}`, (this.byLabel.get(`${cat}: ${label}`) ?? 0) + n);
    let ex = this.examples.get(cat);
    if (!ex) this.examples.set(cat, (ex = []));
    if (ex.length < this.keepExamples) ex.push(n > 1 ? `(${n}) ${detail}` : detail);
  }

  get total(): number {
    let t = 0;
    for (const n of this.counts.values()) t += n;
    return t;
  }

  count(cat: AnomalyCategory): number {
    return this.counts.get(cat) ?? 0;
  }
}

/** Per actor kind: what was acknowledged, checked, and given up on. */
export interface Tally {
  /** Writes acknowledged by the server. */
  acked: number;
  /** Writes whose outcome is unknown (error reply, timeout, closed connection). */
  unknown: number;
  /** Replies checked against the model (reads, and writes whose reply carries state). */
  checked: number;
  /** Keys given up on after an unknown outcome or an anomaly (a new key takes over). */
  abandoned: number;
}

/** Error replies grouped by text, with addresses and numbers folded so that alike errors add up. */
export class ErrorTexts {
  readonly counts = new Map<string, number>();
  total = 0;
  add(text: string): void {
    const t = text.replace(/\d+\.\d+\.\d+\.\d+:\d+/g, "ADDR").replace(/\b\d+\b/g, "N").slice(0, 200);
    this.counts.set(t, (this.counts.get(t) ?? 0) + 1);
    this.total++;
  }
}

/** What the actors need from the run. */
export interface Env {
  readonly anomalies: Anomalies;
  readonly errors: ErrorTexts;
  /** Tally of an actor kind (created on first use). */
  tally(kind: string): Tally;
  /** A short description of the run's moment, for examples: wave, phase, the slot's state. */
  where(slot: number): string;
  /** Key names confined to the run's slots (bench/soak/pins.ts); absent: every slot. */
  pin?(base: string): string;
}

/** One entry of a list model: a unique value and what we know of its append. */
export interface ListEntry {
  v: string;
  /** acked: the server answered; unknown: error reply; sticky: no reply (may still apply later). */
  st: "acked" | "unknown" | "sticky";
}

export interface ListDiff {
  lost: number;
  duplicated: number;
  reordered: number;
  resurrected: number;
  /** Values this key never appended and that are not dead ones either. */
  foreign: number;
  /** The model after the observation: the entries seen, in model order, now all acknowledged, plus sticky ones not seen yet. */
  settled: ListEntry[];
}

/**
 * Compares a list read from the server with the model of its appends. The server's list must be
 * the model's entries in order, with every acknowledged one present, unknown ones present at most
 * once at their place. dead(v) says whether v belonged to the key before a delete (resurrected).
 */
export function compareList(observed: readonly string[], model: readonly ListEntry[], dead: (v: string) => boolean): ListDiff {
  const index = new Map<string, number>();
  model.forEach((e, i) => index.set(e.v, i));
  const seen = new Set<string>();
  const d: ListDiff = { lost: 0, duplicated: 0, reordered: 0, resurrected: 0, foreign: 0, settled: [] };
  let last = -1;
  for (const v of observed) {
    if (seen.has(v)) {
      d.duplicated++;
      continue;
    }
    seen.add(v);
    const i = index.get(v);
    if (i === undefined) {
      if (dead(v)) d.resurrected++;
      else d.foreign++;
      continue;
    }
    if (i < last) d.reordered++;
    else last = i;
  }
  for (const e of model) {
    if (seen.has(e.v)) d.settled.push({ v: e.v, st: "acked" });
    else if (e.st === "acked") d.lost++;
    else if (e.st === "sticky") d.settled.push(e);
  }
  return d;
}

/** Compares an exact list model (no unknown outcomes) with what was read; same counts as compareList. */
export function compareExact(observed: readonly string[], expected: readonly string[], dead: (v: string) => boolean): Omit<ListDiff, "settled"> {
  const { settled: _s, ...rest } = compareList(observed, expected.map((v) => ({ v, st: "acked" as const })), dead);
  return rest;
}

/** A one-line summary of a list difference for examples. */
export function describeDiff(d: Omit<ListDiff, "settled">): string {
  const parts: string[] = [];
  for (const k of ["lost", "duplicated", "reordered", "resurrected", "foreign"] as const) if (d[k]) parts.push(`${k} ${d[k]}`);
  return parts.join(", ");
}

/** Short form of a reply for examples. */
export function show(v: unknown, max = 160): string {
  const s = JSON.stringify(v) ?? String(v);
  return s.length > max ? `${s.slice(0, max)}…(${s.length} chars)` : s;
}
