// Rows and Markdown for `npm run bench:micro`; no I/O here.

export interface ScanRow {
  section: "request" | "reply";
  stream: string;
  chunking: string;
  parser: string;
  /** Median ns per command (requests) or per top-level reply. */
  ns_per_msg: number | null;
  /** Stream bytes / median time, in MB/s (10^6 bytes). */
  mb_per_s: number | null;
  /** This parser's time / slotway's on the same stream and chunking (> 1: slower than slotway). */
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
    `| stream | chunks | parser | ns/${unit} | MB/s | × slotway time | copied | samples × passes | spread |`,
    "|---|---|---|--:|--:|--:|--:|--:|--:|",
  ];
  for (const r of rows) {
    if (r.skipped) {
      out.push(`| ${r.stream} | ${r.chunking} | ${r.parser} | – | – | – | – | – | ${r.skipped} |`);
      continue;
    }
    out.push(
      `| ${r.stream} | ${r.chunking} | ${r.parser} | ${fmtNs(r.ns_per_msg)} | ${fmtMBps(r.mb_per_s)} | ${fmt(r.vs_slotway, 2)} | ` +
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

/** For each key length: the fastest of the given rows and how many times faster than the next. */
export function crcWinners(rows: readonly CrcRow[], lengths: readonly number[]): { len: number; best: string; ns: number; next: string; factor: number }[] {
  return lengths.map((len) => {
    const ranked = rows
      .map((r) => ({ impl: r.impl, ns: r.ns_per_key[String(len)] ?? NaN }))
      .filter((x) => Number.isFinite(x.ns))
      .sort((a, b) => a.ns - b.ns);
    const best = ranked[0]!;
    const next = ranked[1] ?? best;
    return { len, best: best.impl, ns: best.ns, next: next.impl, factor: next.ns / best.ns };
  });
}
