// Rows and Markdown for `npm run bench:micro`; no I/O here.

import { medianRatio } from "./timing.js";

export interface ScanRow {
  section: "request" | "reply";
  stream: string;
  chunking: string;
  parser: string;
  /** Median ns per command (requests) or per top-level reply. */
  ns_per_msg: number | null;
  /** The same in process CPU time (excludes time descheduled; includes GC threads). */
  cpu_ns_per_msg: number | null;
  /** Stream bytes / median time, in MB/s (10^6 bytes). */
  mb_per_s: number | null;
  /**
   * This parser's time / slotway's on the same stream and chunking (> 1: slower than slotway),
   * median of the per-round ratios.
   */
  vs_slotway: number | null;
  samples: number;
  passes_per_sample: number;
  /** Spread of the samples: (max - min) / median. */
  spread: number | null;
  /** slotway, chunked input: share of messages handed out from a copy (ChunkReader's assembly buffer). */
  assembled_share: number | null;
  /** Why a cell is empty. */
  skipped?: string;
}

export interface CrcRow {
  impl: string;
  /** Key length → median ns per key. */
  ns_per_key: Record<string, number | null>;
  /** Key length → median CPU ns per key. */
  cpu_ns_per_key?: Record<string, number | null>;
  /** Key length → wall ns per key of each sample, in round order (for per-round ratios). */
  samples_ns?: Record<string, number[]>;
}

const fmt = (v: number | null, digits: number): string => (v === null || !Number.isFinite(v) ? "–" : v.toFixed(digits));

/** MB/s; above 10^6 (a whole buffer whose payloads nobody reads) in exponent form. */
export function fmtMBps(v: number | null): string {
  if (v === null || !Number.isFinite(v)) return "–";
  return v >= 1e6 ? v.toExponential(1) : v.toFixed(0);
}

/** ns with about three significant figures. */
export function fmtNs(v: number | null): string {
  if (v === null || !Number.isFinite(v)) return "–";
  if (v >= 100_000) return `${(v / 1e6).toFixed(2)} ms`;
  return v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2);
}

export function scanTable(rows: readonly ScanRow[], unit: string): string {
  const out = [
    `| stream | chunks | parser | ns/${unit} | CPU ns/${unit} | MB/s | × slotway time | copied | samples × passes | spread |`,
    "|---|---|---|--:|--:|--:|--:|--:|--:|--:|",
  ];
  for (const r of rows) {
    if (r.skipped) {
      out.push(`| ${r.stream} | ${r.chunking} | ${r.parser} | – | – | – | – | – | – | ${r.skipped} |`);
      continue;
    }
    out.push(
      `| ${r.stream} | ${r.chunking} | ${r.parser} | ${fmtNs(r.ns_per_msg)} | ${fmtNs(r.cpu_ns_per_msg)} | ${fmtMBps(r.mb_per_s)} | ${fmt(r.vs_slotway, 2)} | ` +
        `${r.assembled_share === null ? "–" : `${(r.assembled_share * 100).toFixed(0)}%`} | ` +
        `${r.samples} × ${r.passes_per_sample} | ${r.spread === null ? "–" : `${(r.spread * 100).toFixed(0)}%`} |`,
    );
  }
  return out.join("\n");
}

export function crcTable(rows: readonly CrcRow[], lengths: readonly number[]): string {
  const out = [
    `| implementation | ${lengths.map((l) => `${l} B key`).join(" | ")} |`,
    `|---|${lengths.map(() => "--:").join("|")}|`,
  ];
  for (const r of rows) out.push(`| ${r.impl} | ${lengths.map((l) => fmtNs(r.ns_per_key[String(l)] ?? null)).join(" | ")} |`);
  return out.join("\n");
}

/** Per key length: each implementation's time / the reference's (median of per-round ratios). */
export function crcRatioTable(rows: readonly CrcRow[], lengths: readonly number[], ref: string): string {
  const base = rows.find((r) => r.impl === ref);
  const out = [
    `| × ${ref} time | ${lengths.map((l) => `${l} B key`).join(" | ")} |`,
    `|---|${lengths.map(() => "--:").join("|")}|`,
  ];
  for (const r of rows) {
    if (r === base) continue;
    out.push(`| ${r.impl} | ${lengths.map((l) => fmt(ratioOf(r, base, l), 2)).join(" | ")} |`);
  }
  return out.join("\n");
}

function ratioOf(a: CrcRow, b: CrcRow | undefined, len: number): number | null {
  if (!b) return null;
  const k = String(len);
  const sa = a.samples_ns?.[k];
  const sb = b.samples_ns?.[k];
  if (sa && sb && sa.length > 0 && sb.length > 0) return medianRatio(sa, sb);
  const x = a.ns_per_key[k];
  const y = b.ns_per_key[k];
  return x != null && y != null ? x / y : null;
}

/**
 * For each key length: the fastest of the given rows and how many times faster it is than the
 * runner-up (median of per-round ratios when samples are there).
 */
export function crcWinners(rows: readonly CrcRow[], lengths: readonly number[]): { len: number; best: string; ns: number; next: string; factor: number }[] {
  return lengths.map((len) => {
    const ranked = rows
      .map((r) => ({ r, ns: r.ns_per_key[String(len)] ?? NaN }))
      .filter((x) => Number.isFinite(x.ns))
      .sort((a, b) => a.ns - b.ns);
    const best = ranked[0]!;
    const next = ranked[1] ?? best;
    return { len, best: best.r.impl, ns: best.ns, next: next.r.impl, factor: ratioOf(next.r, best.r, len) ?? 1 };
  });
}
