// The pure parts of `npm run bench`: the statistics, the /proc and redis-benchmark parsing, the
// reply counter the load generator relies on, and the request batches it sends.
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { buildBatches, codisSlot, keyName, redisBenchmarkArgs, type LoadSpec } from "../../bench/loadgen.js";
import { ReplyCounter } from "../../bench/reply-counter.js";
import {
  cpuUsPerOp, median, parseRedisBenchmark, procStatTicks, ratio, renderMarkdown, summarize, valueAtPercentile,
  type Header, type Sample,
} from "../../bench/report.js";

describe("median and ratio", () => {
  it("takes the middle value, or the mean of the two middle ones", () => {
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 3, 2])).toBe(2.5);
    expect(median([5])).toBe(5);
  });
  it("ignores non-finite values and is NaN when nothing is left", () => {
    expect(median([NaN, 7, Infinity, 1, 4])).toBe(4);
    expect(median([])).toBeNaN();
    expect(median([NaN])).toBeNaN();
  });
  it("divides, or gives NaN for a missing or zero base", () => {
    expect(ratio(50, 200)).toBe(0.25);
    expect(ratio(50, 0)).toBeNaN();
    expect(ratio(50, NaN)).toBeNaN();
  });
});

describe("CPU accounting", () => {
  // Fields 14-17 (utime, stime, cutime, cstime) are 11, 22, 33, 44; the name has spaces and ")".
  const stat = "4242 (node (worker) x) S 1 4242 4242 0 -1 4194560 100 0 0 0 11 22 33 44 20 0 7 0 12345 999 88";

  it("reads utime+stime after the last parenthesis", () => {
    expect(procStatTicks(stat)).toBe(33);
    expect(procStatTicks(stat, true)).toBe(110);
  });
  it("rejects text that is not a stat line", () => {
    expect(() => procStatTicks("garbage")).toThrow();
  });
  it("reads this process's own stat file", () => {
    const t = procStatTicks(readFileSync("/proc/self/stat", "latin1"));
    expect(Number.isInteger(t)).toBe(true);
    expect(t).toBeGreaterThanOrEqual(0);
  });
  it("turns ticks into µs per op", () => {
    expect(cpuUsPerOp(150, 100, 1_000_000)).toBeCloseTo(1.5, 10);
    expect(cpuUsPerOp(150, 100, 0)).toBeNull();
  });
});

describe("percentiles", () => {
  const dist: Array<[number, number]> = [[0, 0.05], [50, 0.17], [99.219, 0.55], [99.805, 0.96], [99.902, 1.007], [100, 1.08]];
  it("gives the first value at or above the percentile (an upper bound)", () => {
    expect(valueAtPercentile(dist, 50)).toBe(0.17);
    expect(valueAtPercentile(dist, 99.9)).toBe(1.007);
    expect(valueAtPercentile(dist, 99.806)).toBe(1.007);
    expect(valueAtPercentile(dist, 100)).toBe(1.08);
  });
});

describe("redis-benchmark output", () => {
  const out = [
    " GET: rps=0.0 (overall: -nan) avg_msec=-nan (overall: -nan)\r                                   ",
    "====== GET ======",
    "  20000 requests completed in 0.13 seconds",
    "  50 parallel clients",
    "",
    "Latency by percentile distribution:",
    "0.000% <= 0.063 milliseconds (cumulative count 3)",
    "50.000% <= 0.175 milliseconds (cumulative count 10856)",
    "99.805% <= 0.959 milliseconds (cumulative count 19961)",
    "99.902% <= 1.007 milliseconds (cumulative count 19984)",
    "100.000% <= 1.079 milliseconds (cumulative count 20000)",
    "",
    "Cumulative distribution of latencies:",
    "99.920% <= 1.007 milliseconds (cumulative count 19984)",
    "",
    "Summary:",
    "  throughput summary: 152671.77 requests per second",
    "  latency summary (msec):",
    "          avg       min       p50       p95       p99       max",
    "        0.189     0.056     0.175     0.303     0.535     1.079",
  ].join("\n");
  it("reads throughput, p50, p99 and p99.9", () => {
    expect(parseRedisBenchmark(out)).toEqual({ requests: 20000, ops_per_sec: 152671.77, p50_ms: 0.175, p99_ms: 0.535, p999_ms: 1.007 });
  });
  it("fails loudly on output it does not understand", () => {
    expect(() => parseRedisBenchmark("Could not connect to Redis at 127.0.0.1:1: Connection refused")).toThrow();
  });
});

describe("summarize", () => {
  const sample = (round: number, target: string, ops: number): Sample => ({
    round, target, load: "get c50", tool: "slotway-loadgen", ops_per_sec: ops, p50_ms: ops / 1000, p99_ms: 1, p999_ms: null,
    cpu_us_per_op: 2, backend_cpu_us_per_op: 1, loadgen_cpu_us_per_op: 1, loadgen_cores: 0.5, errors: round === 2 ? 1 : 0, nils: 0,
  });
  const samples = [
    sample(1, "direct", 100), sample(1, "proxy", 90),
    sample(2, "direct", 300), sample(2, "proxy", 120),
    sample(3, "direct", 200), sample(3, "proxy", 60),
  ];
  it("takes medians per target and the median of per-round ratios", () => {
    const rows = summarize(samples);
    expect(rows.map((r) => r.target)).toEqual(["direct", "proxy"]);
    const proxy = rows[1]!;
    expect(proxy.ops_per_sec).toBe(90);
    expect(proxy.rounds).toBe(3);
    // Per-round ratios 0.9, 0.4, 0.3 → 0.4; the ratio of the medians would be 90 / 200 = 0.45.
    expect(proxy.ratio_vs_direct).toBeCloseTo(0.4, 10);
    expect(rows[0]!.ratio_vs_direct).toBe(1);
    expect(proxy.errors).toBe(1);
    expect(proxy.p999_ms).toBeNull();
  });
  it("leaves the ratio empty without a direct run", () => {
    expect(summarize(samples.filter((s) => s.target !== "direct"))[0]!.ratio_vs_direct).toBeNull();
  });
  it("renders one table row per target and load", () => {
    const header: Header = {
      date: "2025-01-01", command_line: "npm run bench", git_commit: "abc123", node_version: "v20", cpus: 2, cpu_model: "x", slotway_workers: "2",
      pinning: "none", rounds: 3, duration_s: 1, warmup_s: 0, loadgen_threads: 2, key_space: 10, value_size: 100, clk_tck: 100,
      targets: ["direct", "proxy"], target_notes: {},
    };
    const md = renderMarkdown(header, summarize(samples), ["a note"]);
    expect(md).toContain("| proxy | get c50 | 90 | 0.090 | 1.000 | – | 0.40 | 2.0 |");
    expect(md).toContain("pinning: none");
    expect(md).toContain("- a note");
  });
});

describe("ReplyCounter", () => {
  // 9 replies: 1 error, 3 nils (one inside an array, one nil array), a payload that looks like RESP.
  const stream = Buffer.from(
    "+OK\r\n" +
    "$11\r\n*5\r\n+fake\r\n\r\n" +
    "$-1\r\n" +
    "*3\r\n$1\r\na\r\n$-1\r\n:5\r\n" +
    "*0\r\n" +
    "-ERR wrong type\r\n" +
    "*2\r\n*1\r\n+a\r\n$0\r\n\r\n" +
    "*-1\r\n" +
    `$100\r\n${"x".repeat(100)}\r\n`,
  );
  const expected = { replies: 9, errors: 1, nils: 3 };

  const count = (chunks: Buffer[]): { replies: number; errors: number; nils: number; returned: number; firstError?: string } => {
    const c = new ReplyCounter();
    let returned = 0;
    for (const ch of chunks) returned += c.feed(ch);
    return { replies: c.replies, errors: c.errors, nils: c.nils, returned, ...(c.firstError ? { firstError: c.firstError } : {}) };
  };

  it("counts a whole stream", () => {
    expect(count([stream])).toEqual({ ...expected, returned: 9, firstError: "ERR wrong type" });
  });
  it("counts the same when split at every single point", () => {
    for (let i = 0; i <= stream.length; i++) {
      const r = count([stream.subarray(0, i), stream.subarray(i)]);
      expect({ replies: r.replies, errors: r.errors, nils: r.nils, returned: r.returned }, `split at ${i}`).toEqual({ ...expected, returned: 9 });
    }
  });
  it("counts the same byte by byte", () => {
    const r = count([...stream].map((b) => Buffer.from([b])));
    expect({ replies: r.replies, errors: r.errors, nils: r.nils }).toEqual(expected);
  });
  it("does not count a reply until its last byte arrived", () => {
    const c = new ReplyCounter();
    expect(c.feed(Buffer.from("$3\r\nab"))).toBe(0);
    expect(c.feed(Buffer.from("c\r"))).toBe(0);
    expect(c.feed(Buffer.from("\n+OK\r\n"))).toBe(2);
  });
  it("honours the start and end offsets", () => {
    const c = new ReplyCounter();
    expect(c.feed(Buffer.from("xx+OK\r\n+OK\r\n"), 2, 7)).toBe(1);
  });
  it("throws when the stream is out of step", () => {
    expect(() => new ReplyCounter().feed(Buffer.from("hello\r\n"))).toThrow(/out of step/);
  });
});

describe("request batches", () => {
  const load = (command: LoadSpec["command"], pipeline: number): LoadSpec => ({
    name: "t", command, clients: 1, pipeline, keys: 1000, valueSize: 100, mgetKeys: 10,
  });
  const decode = (b: Buffer): string[][] => {
    // Test-only decoder of arrays of bulk strings.
    const cmds: string[][] = [];
    const s = b.toString("latin1");
    let i = 0;
    while (i < s.length) {
      const n = Number(s.slice(i + 1, s.indexOf("\r\n", i)));
      i = s.indexOf("\r\n", i) + 2;
      const args: string[] = [];
      for (let k = 0; k < n; k++) {
        const len = Number(s.slice(i + 1, s.indexOf("\r\n", i)));
        i = s.indexOf("\r\n", i) + 2;
        args.push(s.slice(i, i + len));
        i += len + 2;
      }
      cmds.push(args);
    }
    return cmds;
  };

  it("spells keys like redis-benchmark's __rand_int__", () => {
    expect(keyName(42)).toBe("key:000000000042");
    expect(redisBenchmarkArgs(load("mget", 1), "127.0.0.1", 1, 10).filter((a) => a === "key:__rand_int__")).toHaveLength(10);
  });
  it("uses the codis slot function", () => {
    expect(codisSlot("123456789")).toBe(0xcbf43926 % 1024);
  });
  it("puts `pipeline` commands with keys from the key space in each batch", () => {
    for (const b of buildBatches(load("set", 16), 1).slice(0, 50)) {
      const cmds = decode(b);
      expect(cmds).toHaveLength(16);
      for (const c of cmds) {
        expect(c[0]).toBe("SET");
        expect(Number(c[1]!.slice(4))).toBeLessThan(1000);
        expect(c[2]).toHaveLength(100);
      }
    }
  });
  it("makes every MGET span both halves of the slot space", () => {
    for (const b of buildBatches(load("mget", 1), 7).slice(0, 200)) {
      const [cmd] = decode(b);
      expect(cmd![0]).toBe("MGET");
      const slots = cmd!.slice(1).map(codisSlot);
      expect(slots).toHaveLength(10);
      expect(slots.some((s) => s < 512)).toBe(true);
      expect(slots.some((s) => s >= 512)).toBe(true);
    }
  });
});
