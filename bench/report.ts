// The arithmetic and formatting of `npm run bench`: no I/O here, so it can be unit-tested.
//
// Every figure is a median over rounds. The ratio to direct Redis is the median of the per-round
// ratios (each taken between runs a few seconds apart), not the ratio of the medians: on a shared,
// noisy machine drift between rounds then cancels instead of leaking into the ratio.

export type Tool = "slotway-loadgen" | "redis-benchmark";

/** One measured interval: one target, one load, one tool, one round. */
export interface Sample {
  round: number;
  target: string;
  load: string;
  tool: Tool;
  ops_per_sec: number;
  p50_ms: number;
  p99_ms: number;
  /** null where the tool does not report it. */
  p999_ms: number | null;
  /** CPU of the process behind the target (redis-server itself for "direct"), per operation. */
  cpu_us_per_op: number | null;
  /** CPU of both redis-server backends together, per operation. */
  backend_cpu_us_per_op: number;
  /** CPU of the load generator (this process's threads, or the redis-benchmark child), per op. */
  loadgen_cpu_us_per_op: number;
  /** Load generator CPU time / wall time, in cores: near its thread count means it saturated. */
  loadgen_cores: number;
  errors: number;
  nils: number;
  first_error?: string;
}

/** The medians of one (target, load, tool) over all rounds. */
export interface Row {
  target: string;
  load: string;
  tool: Tool;
  rounds: number;
  ops_per_sec: number;
  p50_ms: number;
  p99_ms: number;
  p999_ms: number | null;
  ratio_vs_direct: number | null;
  cpu_us_per_op: number | null;
  backend_cpu_us_per_op: number;
  loadgen_cpu_us_per_op: number;
  loadgen_cores: number;
  errors: number;
  nils: number;
  first_error?: string;
}

export interface Header {
  date: string;
  command_line: string;
  /** `git describe --always --dirty` of the tree measured. */
  git_commit: string;
  node_version: string;
  cpus: number;
  cpu_model: string;
  slotway_workers: string;
  pinning: string;
  rounds: number;
  duration_s: number;
  warmup_s: number;
  loadgen_threads: number;
  key_space: number;
  value_size: number;
  clk_tck: number;
  targets: string[];
  target_notes: Record<string, string>;
}

/** Median of the finite values; NaN when there are none. */
export function median(values: readonly number[]): number {
  const xs = values.filter((v) => Number.isFinite(v)).sort((a, b) => a - b);
  if (xs.length === 0) return NaN;
  const mid = xs.length >> 1;
  return xs.length % 2 === 1 ? xs[mid]! : (xs[mid - 1]! + xs[mid]!) / 2;
}

/** a / b, or NaN when b is not a positive number. */
export function ratio(a: number, b: number): number {
  return b > 0 && Number.isFinite(a) ? a / b : NaN;
}

/**
 * utime + stime (clock ticks, all threads) from the text of /proc/<pid>/stat; with children=true
 * also cutime + cstime (children that have been waited for). Fields are counted after the last
 * ")" because the command name in field 2 may itself contain spaces and parentheses.
 */
export function procStatTicks(stat: string, children = false): number {
  const close = stat.lastIndexOf(")");
  if (close < 0) throw new Error(`not a /proc/<pid>/stat line: ${stat.slice(0, 80)}`);
  const f = stat.slice(close + 2).trim().split(/\s+/);
  // f[0] is field 3 (state), so field n is f[n - 3]: utime 14, stime 15, cutime 16, cstime 17.
  const own = Number(f[11]) + Number(f[12]);
  const total = children ? own + Number(f[13]) + Number(f[14]) : own;
  if (!Number.isFinite(total)) throw new Error(`cannot read CPU ticks from: ${stat.slice(0, 80)}`);
  return total;
}

/** CPU microseconds per operation from a tick count; null when nothing was done. */
export function cpuUsPerOp(ticks: number, clkTck: number, ops: number): number | null {
  if (!(ops > 0) || !(clkTck > 0)) return null;
  return (ticks / clkTck) * 1e6 / ops;
}

/**
 * The value at percentile p from a cumulative distribution [(percentile, value)] sorted by
 * percentile, as printed by an HDR percentile iterator: the first entry at or above p. That is an
 * upper bound of the exact value (the entry before it is a lower bound).
 */
export function valueAtPercentile(dist: ReadonlyArray<readonly [number, number]>, p: number): number {
  for (const [pct, value] of dist) if (pct >= p) return value;
  return dist.length ? dist[dist.length - 1]![1] : NaN;
}

export interface RedisBenchmarkResult {
  requests: number;
  ops_per_sec: number;
  p50_ms: number;
  p99_ms: number;
  p999_ms: number | null;
}

/**
 * Reads redis-benchmark's (7.x) default output: "N requests completed", "throughput summary",
 * the "latency summary" table (p50, p99) and the percentile distribution for p99.9.
 */
export function parseRedisBenchmark(out: string): RedisBenchmarkResult {
  const text = out.replace(/\r/g, "\n");
  const req = /(\d+) requests completed/.exec(text);
  const tput = /throughput summary:\s*([\d.]+) requests per second/.exec(text);
  const sum = /avg\s+min\s+p50\s+p95\s+p99\s+max\s*\n\s*([\d.]+)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)/.exec(text);
  if (!req || !tput || !sum) throw new Error(`unexpected redis-benchmark output: ${out.slice(-400)}`);
  const dist: Array<[number, number]> = [];
  const distRe = /^\s*([\d.]+)% <= ([\d.]+) milliseconds/gm;
  const start = text.indexOf("Latency by percentile distribution");
  const end = text.indexOf("Cumulative distribution");
  const part = start >= 0 ? text.slice(start, end > start ? end : undefined) : "";
  for (let m = distRe.exec(part); m; m = distRe.exec(part)) dist.push([Number(m[1]), Number(m[2])]);
  return {
    requests: Number(req[1]),
    ops_per_sec: Number(tput[1]),
    p50_ms: Number(sum[3]),
    p99_ms: Number(sum[5]),
    p999_ms: dist.length ? valueAtPercentile(dist, 99.9) : null,
  };
}

/** Medians per (target, load, tool), in the order the samples first appear. */
export function summarize(samples: readonly Sample[], directName = "direct"): Row[] {
  const groups = new Map<string, Sample[]>();
  for (const s of samples) {
    const k = `${s.target}\0${s.load}\0${s.tool}`;
    let g = groups.get(k);
    if (!g) groups.set(k, (g = []));
    g.push(s);
  }
  const directOps = new Map<string, number>();
  for (const s of samples) {
    if (s.target === directName) directOps.set(`${s.round}\0${s.load}\0${s.tool}`, s.ops_per_sec);
  }
  const rows: Row[] = [];
  for (const g of groups.values()) {
    const first = g[0]!;
    const ratios = g.map((s) => ratio(s.ops_per_sec, directOps.get(`${s.round}\0${s.load}\0${s.tool}`) ?? NaN));
    const m = (pick: (s: Sample) => number | null): number | null => {
      const v = median(g.map((s) => pick(s) ?? NaN));
      return Number.isNaN(v) ? null : v;
    };
    const errored = g.find((s) => s.first_error !== undefined);
    rows.push({
      target: first.target,
      load: first.load,
      tool: first.tool,
      rounds: g.length,
      ops_per_sec: m((s) => s.ops_per_sec) ?? 0,
      p50_ms: m((s) => s.p50_ms) ?? NaN,
      p99_ms: m((s) => s.p99_ms) ?? NaN,
      p999_ms: m((s) => s.p999_ms),
      ratio_vs_direct: (() => {
        const r = median(ratios);
        return Number.isNaN(r) ? null : r;
      })(),
      cpu_us_per_op: m((s) => s.cpu_us_per_op),
      backend_cpu_us_per_op: m((s) => s.backend_cpu_us_per_op) ?? NaN,
      loadgen_cpu_us_per_op: m((s) => s.loadgen_cpu_us_per_op) ?? NaN,
      loadgen_cores: m((s) => s.loadgen_cores) ?? NaN,
      errors: g.reduce((a, s) => a + s.errors, 0),
      nils: g.reduce((a, s) => a + s.nils, 0),
      ...(errored?.first_error !== undefined ? { first_error: errored.first_error } : {}),
    });
  }
  return rows;
}

function fmt(v: number | null, digits: number): string {
  if (v === null || !Number.isFinite(v)) return "–";
  return v.toFixed(digits);
}

function fmtOps(v: number): string {
  return Number.isFinite(v) ? Math.round(v).toLocaleString("en-US") : "–";
}

/** The Markdown report: a header, one table per tool, then notes. */
export function renderMarkdown(h: Header, rows: readonly Row[], notes: readonly string[]): string {
  const out: string[] = [];
  out.push(`# slotway bench, ${h.date}`, "");
  out.push(`- command: \`${h.command_line}\` at commit ${h.git_commit}`);
  out.push(`- Node ${h.node_version}, ${h.cpus} CPUs (${h.cpu_model}), slotway workers: ${h.slotway_workers}, pinning: ${h.pinning}`);
  out.push(`- ${h.rounds} round${h.rounds === 1 ? "" : "s"} × ${h.duration_s} s measured (after ${h.warmup_s} s warm-up), targets interleaved per load: ${h.targets.join(", ")}`);
  out.push(`- key space ${h.key_space}, values ${h.value_size} bytes, GET/MGET keys prefilled; load generator: ${h.loadgen_threads} worker thread(s)`);
  for (const [t, note] of Object.entries(h.target_notes)) out.push(`- ${t}: ${note}`);
  out.push("");
  out.push("Medians over rounds. ×direct = median of per-round ratios to direct Redis (same tool, same load).");
  out.push("CPU µs/op from utime+stime in /proc/<pid>/stat over the measured interval (all threads;");
  out.push(`${h.clk_tck} ticks/s, so short intervals are coarse). For \`direct\` the "proxy" CPU is redis-server's own.`);
  out.push("MGET ops are commands (10 keys each). Latency of a pipelined request = from its batch's write to its reply.");
  for (const tool of ["slotway-loadgen", "redis-benchmark"] as const) {
    const rs = rows.filter((r) => r.tool === tool);
    if (!rs.length) continue;
    out.push("", `## ${tool}`, "");
    out.push("| target | load | ops/s | p50 ms | p99 ms | p99.9 ms | ×direct | proxy CPU µs/op | redis CPU µs/op | loadgen CPU µs/op | loadgen cores | errors |");
    out.push("|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|");
    for (const r of rs) {
      out.push(`| ${r.target} | ${r.load} | ${fmtOps(r.ops_per_sec)} | ${fmt(r.p50_ms, 3)} | ${fmt(r.p99_ms, 3)} | ${fmt(r.p999_ms, 3)} | ${fmt(r.ratio_vs_direct, 2)} | ${fmt(r.cpu_us_per_op, 1)} | ${fmt(r.backend_cpu_us_per_op, 1)} | ${fmt(r.loadgen_cpu_us_per_op, 1)} | ${fmt(r.loadgen_cores, 2)} | ${r.errors}${r.nils ? ` (+${r.nils} nil)` : ""} |`);
    }
  }
  if (notes.length) {
    out.push("", "## Notes", "");
    for (const n of notes) out.push(`- ${n}`);
  }
  out.push("");
  return out.join("\n");
}
