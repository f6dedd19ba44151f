// `npm run bench`: starts two redis-server backends, slotway and any peer proxy, measures them
// interleaved (round by round, target after target for each load) with our own load generator
// and, where it is installed, redis-benchmark; prints a Markdown table and writes
// bench/results/<date>.{json,md}.
//
// The machine is shared and noisy, so only ratios between runs a few seconds apart mean anything:
// the targets of one load run back to back, every round repeats them, and the report gives
// medians and median per-round ratios to direct Redis.
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { performance } from "node:perf_hooks";
import { fileURLToPath } from "node:url";
import { LoadGen, redisBenchmarkArgs, type LoadSpec } from "./loadgen.js";
import { cpuUsPerOp, parseRedisBenchmark, renderMarkdown, summarize, type Header, type Row, type Sample } from "./report.js";
import {
  clockTicks, cpuTicks, findOnPath, prefill, Procs, selfTicks, startCodisProxy, startNodeFloor, startPredixy, startRedis,
  startSlotway, startTwemproxy, type Endpoint, type Target,
} from "./targets.js";

const HOST = "127.0.0.1";
const KNOWN_TARGETS = ["direct", "slotway", "slotway-alt", "node-floor", "twemproxy", "codis-proxy", "predixy"];

interface Pinning {
  redis: string;
  proxy: string;
  load: string;
}

interface Options {
  quick: boolean;
  rounds: number;
  durationS: number;
  warmupS: number;
  targets: string[] | undefined;
  codisProxy: string | undefined;
  predixy: string | undefined;
  workers: number | undefined;
  /** --workers 1,2,4: one slotway target per count ("slotway-w1", ...), for the scaling per worker. */
  workerSweep: number[] | undefined;
  pin: Pinning | undefined;
  loadgenThreads: number;
  keys: number;
  valueSize: number;
  redisBenchmark: boolean;
  loads: string[] | undefined;
  altEnv: Record<string, string> | undefined;
  altCli: string | undefined;
  altName: string;
  /** --node-floor[=SW,SW]: one bench/floor-proxy.ts target per entry, with those switches. */
  nodeFloor: string[][];
}

const USAGE = `usage: npm run bench -- [options]
  --quick                 3 rounds of 0.5 s (under 2 minutes); default 5 rounds of 2 s
  --rounds N              rounds (each runs every load on every target), at least 1
  --duration S            measured seconds per run;  --warmup S  unmeasured seconds before it
  --targets a,b,c         of ${KNOWN_TARGETS.join(", ")} (default: direct, slotway, and every peer found)
  --codis-proxy PATH      also measure codis-proxy (the harness fills its slots via the admin API)
  --predixy PATH          also measure predixy
  --workers N             pass --workers N to slotway (default: slotway's own default, one per two cores)
                          and WorkerThreads N to predixy; "--workers 1,2,4" measures one slotway per
                          count (slotway-w1, slotway-w2, ...): the scaling per worker, best with --pin
  --pin [SPEC]            pin with taskset; SPEC like redis=0,proxy=1-3,load=4;5 (default: redis on CPU 0,
                          proxy and load generator on the others)
  --loadgen-threads N     load generator worker threads (default: half the CPUs, at least 1)
  --keys N                key space (default 10000);  --loads a,b  only these loads (by name)
  --no-redis-benchmark    skip the redis-benchmark cross-check
  --alt-env K=V[,K=V]     also measure "slotway-alt": slotway with these environment variables
                          (A/B of an experiment switch in one run, interleaved like the other targets)
  --alt-cli PATH          also measure "slotway-alt": another build's dist/src/cli.js (before/after)
  --alt-name NAME         the name of that extra target (default slotway-alt)
  --node-floor[=SW,SW]    also measure "node-floor" (bench/floor-proxy.ts): the least a single-threaded
                          Node pass-through does, one backend connection, no routing, one write per
                          socket per turn: how far slotway is from what Node allows on this machine.
                          Switches (thread, direct, stream-writes) name a variant ("node-floor+thread");
                          repeat the flag for several variants`;

function parseArgs(argv: string[]): Options {
  const cpus = os.availableParallelism();
  const o: Options = {
    quick: false, rounds: 0, durationS: 0, warmupS: -1, targets: undefined, codisProxy: undefined, predixy: undefined,
    workers: undefined, workerSweep: undefined, pin: undefined, loadgenThreads: Math.max(1, Math.floor(cpus / 2)), keys: 10_000, valueSize: 100,
    redisBenchmark: true, loads: undefined, altEnv: undefined, altCli: undefined, altName: "slotway-alt",
    nodeFloor: [],
  };
  const num = (name: string, v: string | undefined, min: number): number => {
    const n = Number(v);
    if (v === undefined || !Number.isFinite(n) || n < min) throw new Error(`${name} needs a number ≥ ${min}, got ${v ?? "nothing"}`);
    return n;
  };
  for (let i = 0; i < argv.length; i++) {
    const [flag, inline] = argv[i]!.includes("=") && argv[i]!.startsWith("--") ? splitOnce(argv[i]!, "=") : [argv[i]!, undefined];
    const value = (): string | undefined => inline ?? argv[++i];
    switch (flag) {
      case "--quick": o.quick = true; break;
      case "--rounds": o.rounds = Math.floor(num(flag, value(), 1)); break;
      case "--duration": o.durationS = num(flag, value(), 0.1); break;
      case "--warmup": o.warmupS = num(flag, value(), 0); break;
      case "--targets": o.targets = (value() ?? "").split(",").filter(Boolean); break;
      case "--codis-proxy": o.codisProxy = value(); break;
      case "--predixy": o.predixy = value(); break;
      case "--workers": {
        const v = value() ?? "";
        if (v.includes(",")) {
          o.workerSweep = v.split(",").map((x) => Math.floor(num(flag, x, 1)));
          o.workers = Math.max(...o.workerSweep);
        } else {
          o.workers = Math.floor(num(flag, v, 1));
        }
        break;
      }
      case "--loadgen-threads": o.loadgenThreads = Math.floor(num(flag, value(), 1)); break;
      case "--keys": o.keys = Math.floor(num(flag, value(), 100)); break;
      case "--loads": o.loads = (value() ?? "").split(",").filter(Boolean); break;
      case "--no-redis-benchmark": o.redisBenchmark = false; break;
      case "--alt-cli": o.altCli = path.resolve(value() ?? ""); break;
      case "--alt-name": o.altName = value() ?? "slotway-alt"; break;
      case "--node-floor": {
        const sw = (inline ?? "").split(",").filter(Boolean);
        for (const x of sw) if (!FLOOR_SWITCHES.includes(x)) throw new Error(`--node-floor: unknown switch ${x} (known: ${FLOOR_SWITCHES.join(", ")})`);
        o.nodeFloor.push(sw);
        break;
      }
      case "--alt-env": o.altEnv = Object.fromEntries((value() ?? "").split(",").filter(Boolean).map((kv) => splitOnce(kv, "="))); break;
      case "--pin": {
        const spec = inline ?? (argv[i + 1]?.includes("=") && !argv[i + 1]!.startsWith("--") ? argv[++i] : undefined);
        o.pin = parsePin(spec, cpus);
        break;
      }
      case "--help": case "-h": console.log(USAGE); process.exit(0); break;
      default: throw new Error(`unknown option ${argv[i]}\n${USAGE}`);
    }
  }
  if (o.rounds === 0) o.rounds = o.quick ? 3 : 5;
  if (o.durationS === 0) o.durationS = o.quick ? 0.5 : 2;
  if (o.warmupS < 0) o.warmupS = o.quick ? 0.2 : 0.5;
  for (const t of o.targets ?? []) if (!KNOWN_TARGETS.includes(t) && t !== o.altName && !t.startsWith("node-floor")) throw new Error(`unknown target ${t} (known: ${KNOWN_TARGETS.join(", ")})`);
  return o;
}

const FLOOR_SWITCHES = ["thread", "direct", "stream-writes"];

function floorName(sw: string[]): string {
  return ["node-floor", ...sw].join("+");
}

function splitOnce(s: string, sep: string): [string, string] {
  const i = s.indexOf(sep);
  return [s.slice(0, i), s.slice(i + 1)];
}

function parsePin(spec: string | undefined, cpus: number): Pinning {
  const rest = cpus > 2 ? `1-${cpus - 1}` : cpus === 2 ? "1" : "0";
  const p: Pinning = { redis: "0", proxy: rest, load: rest };
  for (const part of (spec ?? "").split(",").filter(Boolean)) {
    const [k, v] = splitOnce(part, "=");
    if (!(k === "redis" || k === "proxy" || k === "load") || !/^[0-9;-]+$/.test(v)) throw new Error(`bad --pin part "${part}" (want redis=|proxy=|load=<cpu list, ";" between items>)`);
    p[k] = v.replace(/;/g, ",");
  }
  return p;
}

function loads(o: Options): LoadSpec[] {
  const base = { keys: o.keys, valueSize: o.valueSize, mgetKeys: 10 };
  const all: LoadSpec[] = [
    { name: "get c50", command: "get", clients: 50, pipeline: 1, ...base },
    { name: "set c50", command: "set", clients: 50, pipeline: 1, ...base },
    { name: "get c50 P16", command: "get", clients: 50, pipeline: 16, ...base },
    { name: "set c50 P16", command: "set", clients: 50, pipeline: 16, ...base },
    { name: "get c1", command: "get", clients: 1, pipeline: 1, ...base },
    { name: "set c1", command: "set", clients: 1, pipeline: 1, ...base },
    { name: "mget10 c50", command: "mget", clients: 50, pipeline: 1, ...base },
  ];
  if (!o.loads) return all;
  const chosen = all.filter((l) => o.loads!.includes(l.name));
  if (!chosen.length) throw new Error(`--loads matched nothing (names: ${all.map((l) => l.name).join(", ")})`);
  return chosen;
}

interface Snapshot {
  proxy: number;
  backends: number;
  self: number;
  at: number;
}

function snapshot(target: Target, backends: Endpoint[]): Snapshot {
  return {
    proxy: cpuTicks(target.proc.pid),
    backends: backends.reduce((a, b) => a + cpuTicks(b.proc.pid), 0),
    self: selfTicks(),
    at: performance.now(),
  };
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const o = parseArgs(argv);
  const cpus = os.availableParallelism();
  const clk = clockTicks();
  const procs = new Procs();
  const notes: string[] = [];
  const targetNotes: Record<string, string> = {};
  let loadgen: LoadGen | undefined;
  const dir = mkdtempSync(path.join(os.tmpdir(), "slotway-bench-"));
  const t0 = Date.now();

  let stopping = false;
  const cleanup = async (): Promise<void> => {
    await loadgen?.close().catch(() => undefined);
    await procs.stopAll();
    rmSync(dir, { recursive: true, force: true });
  };
  for (const sig of ["SIGINT", "SIGTERM"] as const) {
    process.on(sig, () => {
      // A second signal exits at once; the 'exit' handler in Procs still SIGKILLs the children.
      if (stopping) process.exit(sig === "SIGINT" ? 130 : 143);
      stopping = true;
      console.error(`\n${sig}: stopping every process the bench started`);
      void cleanup().finally(() => process.exit(sig === "SIGINT" ? 130 : 143));
    });
  }

  try {
    if (o.pin) {
      // Threads started later (the load generator's) inherit the main thread's affinity.
      execFileSync("taskset", ["-a", "-p", "-c", o.pin.load, String(process.pid)], { stdio: "ignore", timeout: 5000 });
    }
    const log = (s: string): void => console.error(`[${((Date.now() - t0) / 1000).toFixed(0).padStart(4)} s] ${s}`);

    const backends = [await startRedis(procs, dir, "redis-a", o.pin?.redis), await startRedis(procs, dir, "redis-b", o.pin?.redis)];
    log(`backends on ports ${backends.map((b) => b.port).join(", ")}; prefilling ${o.keys} keys of ${o.valueSize} bytes on each`);
    await Promise.all(backends.map((b) => prefill(b.port, o.keys, o.valueSize)));
    let redisVersion = "";
    try {
      redisVersion = execFileSync("redis-server", ["--version"], { encoding: "utf8", timeout: 5000 }).trim();
    } catch (e) {
      redisVersion = `redis-server version unknown: ${(e as Error).message}`;
    }

    // Which targets: as asked, or direct + slotway + every peer we can find.
    const nutcracker = findOnPath("nutcracker");
    const wanted = o.targets ?? [
      "direct", "slotway",
      ...(o.altEnv || o.altCli ? [o.altName] : []),
      ...o.nodeFloor.map(floorName),
      ...(nutcracker ? ["twemproxy"] : []),
      ...(o.codisProxy ? ["codis-proxy"] : []),
      ...(o.predixy ? ["predixy"] : []),
    ];
    if (!o.targets && !nutcracker) notes.push("twemproxy not measured: no `nutcracker` on PATH.");
    const targets: Target[] = [];
    for (const name of wanted) {
      try {
        switch (name) {
          case "direct":
            targets.push({ name, port: backends[0]!.port, proc: backends[0]!.proc, note: `${redisVersion}; one backend (all keys are on both)` });
            break;
          case "slotway":
            if (o.workerSweep) {
              for (const n of o.workerSweep) targets.push(await startSlotway(procs, dir, backends, n, o.pin?.proxy, { name: `slotway-w${n}` }));
            } else {
              targets.push(await startSlotway(procs, dir, backends, o.workers, o.pin?.proxy));
            }
            break;
          case o.altName:
            if (!o.altEnv && !o.altCli) throw new Error("needs --alt-env K=V or --alt-cli PATH");
            targets.push(await startSlotway(procs, dir, backends, o.workers, o.pin?.proxy,
              { name: o.altName, ...(o.altEnv ? { env: o.altEnv } : {}), ...(o.altCli ? { cli: o.altCli } : {}) }));
            break;
          case "node-floor":
            targets.push(await startNodeFloor(procs, backends, o.pin?.proxy));
            break;
          case "twemproxy":
            if (!nutcracker) throw new Error("no `nutcracker` on PATH");
            targets.push(await startTwemproxy(procs, dir, backends, nutcracker, o.pin?.proxy));
            break;
          case "codis-proxy":
            if (!o.codisProxy) throw new Error("needs --codis-proxy PATH");
            targets.push(await startCodisProxy(procs, dir, backends, o.codisProxy, o.pin?.proxy));
            break;
          case "predixy":
            if (!o.predixy) throw new Error("needs --predixy PATH");
            targets.push(await startPredixy(procs, dir, backends, o.predixy, o.workers ?? cpus, o.pin?.proxy));
            break;
          default:
            if (name.startsWith("node-floor+")) {
              const sw = name.split("+").slice(1);
              targets.push(await startNodeFloor(procs, backends, o.pin?.proxy, sw.map((x) => `--${x}`), { name }));
            }
        }
        log(`${name} ready on port ${targets[targets.length - 1]!.port}`);
      } catch (e) {
        const msg = (e as Error).message;
        console.error(`\n*** ${name} FAILED TO START; measuring the other targets ***\n${msg}\n`);
        notes.push(`**${name} did not start**: ${firstLines(msg, 6)}`);
      }
    }
    for (const t of targets) targetNotes[t.name] = t.note;
    if (!targets.some((t) => t.name === "direct")) notes.push("No `direct` target: ×direct ratios are empty.");

    const rb = o.redisBenchmark ? findOnPath("redis-benchmark") : undefined;
    if (o.redisBenchmark && !rb) notes.push("redis-benchmark not on PATH: no cross-check.");
    loadgen = new LoadGen(o.loadgenThreads);
    const samples: Sample[] = [];
    const failed = new Set<string>();
    const live = new Set(targets);
    const loadList = loads(o);

    for (let round = 1; round <= o.rounds; round++) {
      for (const load of loadList) {
        for (const target of targets) {
          if (!live.has(target) || stopping) continue;
          const s = await measureLoadgen(round, target, load);
          if (s) samples.push(s);
          if (rb && !target.proc.exited && !stopping) {
            const r = await measureRedisBenchmark(round, target, load, s?.ops_per_sec);
            if (r) samples.push(r);
          }
          if (target.proc.exited && !stopping) {
            live.delete(target);
            const msg = `**${target.name} exited** during round ${round} (${load.name}); dropped from the remaining runs (exit ${target.proc.child.exitCode ?? target.proc.child.signalCode}). Its output: ${firstLines(target.proc.output(), 6) || "(none)"}`;
            console.error(`*** ${msg}`);
            notes.push(msg);
          }
        }
      }
    }

    async function measureLoadgen(round: number, target: Target, load: LoadSpec): Promise<Sample | undefined> {
      let a: Snapshot | undefined, b: Snapshot | undefined;
      const r = await loadgen!.run(HOST, target.port, load, o.warmupS * 1000, o.durationS * 1000, {
        start: () => (a = snapshot(target, backends)),
        stop: () => (b = snapshot(target, backends)),
      });
      if (r.failure || !a || !b || r.ops === 0) {
        const why = r.failure ?? "no replies in the measured interval";
        log(`round ${round} ${load.name} ${target.name}: FAILED: ${why}`);
        const key = `${target.name}/${load.name}`;
        if (!failed.has(key)) notes.push(`${target.name}, ${load.name}, round ${round}: run failed (not counted): ${why}`);
        failed.add(key);
        // A run cut short would report a rate over a window it did not fill.
        return undefined;
      }
      const wall = (b!.at - a!.at) / 1000;
      const sample: Sample = {
        round, target: target.name, load: load.name, tool: "slotway-loadgen",
        ops_per_sec: r.opsPerSec, p50_ms: r.p50Ms, p99_ms: r.p99Ms, p999_ms: r.p999Ms,
        cpu_us_per_op: cpuUsPerOp(b!.proxy - a!.proxy, clk, r.ops),
        backend_cpu_us_per_op: cpuUsPerOp(b!.backends - a!.backends, clk, r.ops) ?? NaN,
        loadgen_cpu_us_per_op: cpuUsPerOp(b!.self - a!.self, clk, r.ops) ?? NaN,
        loadgen_cores: (b!.self - a!.self) / clk / wall,
        errors: r.errors, nils: r.nils,
        ...(r.firstError !== undefined ? { first_error: r.firstError } : {}),
      };
      log(`round ${round} ${load.name.padEnd(11)} ${target.name.padEnd(11)} loadgen ${fmtK(sample.ops_per_sec)} ops/s p99 ${r.p99Ms.toFixed(3)} ms` +
        `${r.errors ? ` ERRORS ${r.errors} (${r.firstError})` : ""}${r.nils ? ` nils ${r.nils}` : ""}`);
      return sample;
    }

    async function measureRedisBenchmark(round: number, target: Target, load: LoadSpec, opsPerSec: number | undefined): Promise<Sample | undefined> {
      // redis-benchmark counts requests, not seconds: ask for about as many as our generator did
      // in the same interval on the same target, so both tools run for similar times.
      const requests = Math.max(load.clients * load.pipeline * 20, Math.round((opsPerSec ?? 20_000) * o.durationS));
      const args = redisBenchmarkArgs(load, HOST, target.port, requests);
      const a = snapshot(target, backends);
      const r = await procs.run("redis-benchmark", rb!, args, Math.max(20_000, o.durationS * 20_000), o.pin?.load);
      const b = snapshot(target, backends);
      let parsed;
      try {
        if (r.code !== 0) throw new Error(`exit code ${r.code}`);
        parsed = parseRedisBenchmark(r.out);
      } catch (e) {
        const key = `${target.name}/${load.name}/redis-benchmark`;
        log(`round ${round} ${load.name} ${target.name}: redis-benchmark FAILED: ${(e as Error).message}`);
        if (!failed.has(key)) notes.push(`redis-benchmark on ${target.name}, ${load.name}: ${(e as Error).message}: ${firstLines(r.out.slice(-600), 4)}`);
        failed.add(key);
        return undefined;
      }
      const sample: Sample = {
        round, target: target.name, load: load.name, tool: "redis-benchmark",
        ops_per_sec: parsed.ops_per_sec, p50_ms: parsed.p50_ms, p99_ms: parsed.p99_ms, p999_ms: parsed.p999_ms,
        cpu_us_per_op: cpuUsPerOp(b.proxy - a.proxy, clk, parsed.requests),
        backend_cpu_us_per_op: cpuUsPerOp(b.backends - a.backends, clk, parsed.requests) ?? NaN,
        loadgen_cpu_us_per_op: cpuUsPerOp(b.self - a.self, clk, parsed.requests) ?? NaN,
        loadgen_cores: (b.self - a.self) / clk / (r.ms / 1000),
        errors: 0, nils: 0,
      };
      log(`round ${round} ${load.name.padEnd(11)} ${target.name.padEnd(11)} redis-benchmark ${fmtK(sample.ops_per_sec)} ops/s p99 ${parsed.p99_ms.toFixed(3)} ms`);
      return sample;
    }

    // Interrupted: the cleanup is under way, and a partial run must not overwrite a results file.
    if (stopping) return;
    const rows = summarize(samples);
    notes.push(...loadgenNotes(rows, o.loadgenThreads));
    for (const r of rows) {
      if (r.errors) notes.push(`${r.target}, ${r.load} (${r.tool}): ${r.errors} error replies, first: \`${r.first_error}\` (ops/s counts them).`);
      if (r.nils && r.load.startsWith("get")) notes.push(`${r.target}, ${r.load}: ${r.nils} GETs missed (nil) although the keys were prefilled.`);
    }
    notes.push(`Run took ${((Date.now() - t0) / 1000).toFixed(0)} s.`);

    const date = new Date().toISOString().slice(0, 10);
    const header: Header = {
      date,
      command_line: ["npm run bench", ...(argv.length ? ["--", ...argv] : [])].join(" "),
      git_commit: gitCommit(),
      node_version: process.version,
      cpus,
      cpu_model: os.cpus()[0]?.model ?? "unknown",
      slotway_workers: o.workerSweep
        ? `one target per count: ${targets.filter((t) => t.name.startsWith("slotway-w")).map((t) => `${t.name} (${t.workers ?? "?"} reported)`).join(", ")}`
        : slotwayWorkers(targets.find((t) => t.name === "slotway"), o.workers),
      pinning: o.pin ? `taskset: redis-server ${o.pin.redis}, proxies ${o.pin.proxy}, load generator ${o.pin.load}` : "none",
      rounds: o.rounds,
      duration_s: o.durationS,
      warmup_s: o.warmupS,
      loadgen_threads: o.loadgenThreads,
      key_space: o.keys,
      value_size: o.valueSize,
      clk_tck: clk,
      targets: targets.map((t) => t.name),
      target_notes: targetNotes,
    };
    const md = renderMarkdown(header, rows, notes);
    console.log(md);
    const outDir = fileURLToPath(new URL("../../bench/results/", import.meta.url));
    mkdirSync(outDir, { recursive: true });
    // An A/B run of an experiment switch (--alt-env) never replaces the day's full results; a
    // run with an earlier build beside (--alt-cli, before/after) is a full run.
    const stem = o.altEnv ? `${date}-ab` : date;
    writeFileSync(path.join(outDir, `${stem}.json`), JSON.stringify({ header, rows, samples }, null, 2) + "\n");
    writeFileSync(path.join(outDir, `${stem}.md`), md);
    console.error(`wrote bench/results/${stem}.json and .md`);
  } finally {
    if (!stopping) await cleanup();
  }
}

/**
 * What the figures say about whether the load generator limited them: on `direct`, its CPU per
 * op and throughput next to redis-benchmark's (a C tool nobody here wrote) and redis-server's.
 */
function loadgenNotes(rows: readonly Row[], threads: number): string[] {
  const out: string[] = [];
  const direct = rows.filter((r) => r.target === "direct" && r.tool === "slotway-loadgen");
  let cheaper = 0, compared = 0;
  const parts = direct.map((r) => {
    const rb = rows.find((x) => x.target === "direct" && x.tool === "redis-benchmark" && x.load === r.load);
    if (rb) {
      compared++;
      if (r.loadgen_cpu_us_per_op <= rb.loadgen_cpu_us_per_op) cheaper++;
    }
    return `${r.load}: ours ${fmt1(r.loadgen_cpu_us_per_op)}` +
      (rb ? `, redis-benchmark ${fmt1(rb.loadgen_cpu_us_per_op)} (at ${(rb.ops_per_sec / r.ops_per_sec).toFixed(2)}× our ops/s)` : "") +
      `, redis-server ${fmt1(r.cpu_us_per_op)}`;
  });
  if (parts.length) out.push(`Load generator cost on \`direct\`, CPU µs/op: ${parts.join("; ")}.`);
  if (compared) out.push(`Our generator used no more CPU per op than redis-benchmark in ${cheaper} of ${compared} direct loads.`);
  const ours = rows.filter((r) => r.tool === "slotway-loadgen" && Number.isFinite(r.loadgen_cores));
  if (!ours.length) return out;
  const busiest = ours.reduce((a, r) => (r.loadgen_cores > a.loadgen_cores ? r : a));
  // A thread near a full core may be what set the pace; the redis-benchmark row next to it is
  // the check that does not depend on our generator.
  const busy = ours.filter((r) => r.loadgen_cores >= 0.85 * threads);
  out.push(`Load generator busiest at ${busiest.loadgen_cores.toFixed(2)} cores of its ${threads} thread(s) (${busiest.target}, ${busiest.load}).` +
    (busy.length
      ? ` Near saturation (≥ ${(0.85 * threads).toFixed(2)} cores) in: ${busy.map((r) => `${r.target} ${r.load}`).join(", ")}; ` +
        "there its ops/s may be a floor set by the generator; compare the redis-benchmark row."
      : " It was never near saturation."));
  return out;
}

/**
 * The commit measured, plus a warning when src/ or bench/ held uncommitted or untracked files:
 * tsc compiles those too, so they are part of what was measured.
 */
function gitCommit(): string {
  try {
    const root = fileURLToPath(new URL("../../", import.meta.url));
    const git = (...args: string[]): string => execFileSync("git", ["-C", root, ...args], { encoding: "utf8", timeout: 5000 }).trim();
    const head = git("rev-parse", "--short=12", "HEAD");
    const changed = git("status", "--porcelain", "--", "src", "bench", ":!bench/results").split("\n").filter(Boolean).length;
    return changed ? `${head} + ${changed} uncommitted file(s) in src/ or bench/` : head;
  } catch {
    return "unknown";
  }
}

function slotwayWorkers(t: Target | undefined, asked: number | undefined): string {
  if (!t) return "n/a (slotway not measured)";
  const how = asked !== undefined ? `--workers ${asked}` : "its default";
  return t.workers !== undefined ? `${t.workers} (${how}, as reported by /proxy/stats)` : `${asked ?? "default"} (not reported)`;
}

function fmt1(v: number | null): string {
  return v === null || !Number.isFinite(v) ? "–" : v.toFixed(1);
}

function fmtK(v: number): string {
  return Math.round(v).toLocaleString("en-US").padStart(9);
}

function firstLines(s: string, n: number): string {
  const lines = s.split("\n").filter((l) => l.trim());
  return lines.slice(0, n).join(" / ") + (lines.length > n ? " / …" : "");
}

main().catch((e: unknown) => {
  console.error(`bench failed: ${(e as Error).stack ?? String(e)}`);
  process.exitCode = 1;
});
