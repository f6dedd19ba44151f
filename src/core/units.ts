// Parsing and printing of codis-style units: durations ("30s", "5m", "100ms") and
// sizes ("128kb", "1024mb"). codis writes them as strings in its TOML files and in the
// dashboard's JSON; a bare number there makes codis-admin's decoder fail, so we print
// them back as strings too.

const DURATION_UNITS: Record<string, number> = {
  ns: 1e-6,
  us: 1e-3,
  µs: 1e-3,
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
};

const SIZE_UNITS: Record<string, number> = {
  b: 1,
  k: 1024,
  kb: 1024,
  m: 1024 ** 2,
  mb: 1024 ** 2,
  g: 1024 ** 3,
  gb: 1024 ** 3,
  t: 1024 ** 4,
  tb: 1024 ** 4,
};

/** Parses "30s", "1m30s", "100ms", "0" into milliseconds; returns undefined when malformed. */
export function parseDuration(text: string): number | undefined {
  const s = text.trim().toLowerCase();
  if (s === "0") return 0;
  if (s.length === 0) return undefined;
  let total = 0;
  let i = 0;
  const re = /(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/y;
  while (i < s.length) {
    re.lastIndex = i;
    const m = re.exec(s);
    if (!m) return undefined;
    total += Number(m[1]) * DURATION_UNITS[m[2]!]!;
    i = re.lastIndex;
  }
  return total;
}

/** Prints milliseconds the way codis does: the largest unit that divides it exactly. */
export function formatDuration(ms: number): string {
  if (ms === 0) return "0s";
  if (ms % 3_600_000 === 0) return `${ms / 3_600_000}h`;
  if (ms % 60_000 === 0) return `${ms / 60_000}m`;
  if (ms % 1000 === 0) return `${ms / 1000}s`;
  return `${ms}ms`;
}

/** Parses "128kb", "1024mb", "512" (bytes) into bytes; returns undefined when malformed. */
export function parseSize(text: string): number | undefined {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$/i.exec(text);
  if (!m) return undefined;
  const unit = m[2]!.toLowerCase();
  const mult = unit === "" ? 1 : SIZE_UNITS[unit];
  if (mult === undefined) return undefined;
  return Math.floor(Number(m[1]) * mult);
}

/** Prints bytes with the largest exact unit, lower case as codis writes them ("32mb"). */
export function formatSize(bytes: number): string {
  for (const [unit, mult] of [["gb", 1024 ** 3], ["mb", 1024 ** 2], ["kb", 1024]] as const) {
    if (bytes !== 0 && bytes % mult === 0) return `${bytes / mult}${unit}`;
  }
  return `${bytes}b`;
}
