// `node dist/bench/profile.js`: one load against one target, with one measuring tool attached to
// the proxy for exactly the measured window. Where the time goes, as numbers per request.
//
//   --load NAME        a load of bench/run.ts ("get c1", "get c50 P16", ...); default "get c1"
//   --target T         slotway (default), node-floor (bench/floor-proxy.ts), twemproxy, direct
//   --floor-arg SW     a floor-proxy switch (--thread, --direct, --stream-writes; repeatable)
//   --seconds S        measured window (default 5);  --warmup S  before it (default 1)
//   --workers N        slotway --workers (default 1)
//   --cpu-prof DIR     node --cpu-prof: one .cpuprofile per thread (main and workers), written at exit
//   --strace FILE      strace -c -f attached for the window: system calls per request
//   --perf FILE        perf record -e cpu-clock -g for the window (node --perf-basic-prof for JS names)
//   --callgrind FILE   run under valgrind --tool=callgrind, instrumentation on for the window only:
//                      instructions per request, repeatable on a noisy machine
//   --config LINE      an extra proxy.toml line (repeatable)
//   --cli PATH         another build's dist/src/cli.js (before/after instruction counts)
//   --node-arg ARG     an extra node flag for slotway (repeatable), e.g. --log-ic
//
// Prints ops, ops/s, p50/p99 and the proxy's CPU µs per request for the window, and where the
// tool's output went. Everything started is stopped at the end.
import { execFileSync, spawn } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { LoadGen, type LoadSpec } from "./loadgen.js";
import { cpuTicks, clockTicks, prefill, Procs, startNodeFloor, startRedis, startSlotway, startTwemproxy, findOnPath, type Target, type Launch } from "./targets.js";

interface Opts {
  load: string;
  target: string;
  seconds: number;
  warmup: number;
  workers: number;
  cpuProf?: string;
  strace?: string;
  perf?: string;
  callgrind?: string;
  config: string[];
  cli?: string;
  nodeArgs: string[];
  floorArgs: string[];
}

function parse(argv: string[]): Opts {
  const o: Opts = { load: "get c1", target: "slotway", seconds: 5, warmup: 1, workers: 1, config: [], nodeArgs: [], floorArgs: [] };
  for (let i = 0; i < argv.length; i++) {
    const v = (): string => {
      const x = argv[++i];
      if (x === undefined) throw new Error(`${argv[i - 1]} needs a value`);
      return x;
    };
    switch (argv[i]) {
      case "--load": o.load = v(); break;
      case "--target": o.target = v(); break;
      case "--seconds": o.seconds = Number(v()); break;
      case "--warmup": o.warmup = Number(v()); break;
      case "--workers": o.workers = Number(v()); break;
      case "--cpu-prof": o.cpuProf = path.resolve(v()); break;
      case "--strace": o.strace = path.resolve(v()); break;
      case "--perf": o.perf = path.resolve(v()); break;
      case "--callgrind": o.callgrind = path.resolve(v()); break;
      case "--config": o.config.push(v()); break;
      case "--cli": o.cli = path.resolve(v()); break;
      case "--node-arg": o.nodeArgs.push(v()); break;
      case "--floor-arg": o.floorArgs.push(v()); break;
      default: throw new Error(`unknown option ${argv[i]}`);
    }
  }
  return o;
}

function loadSpec(name: string): LoadSpec {
  const m = /^(get|set|mget10) c(\d+)(?: P(\d+))?$/.exec(name);
  if (!m) throw new Error(`bad --load ${name} (like "get c1", "get c50 P16", "mget10 c50")`);
  const command = m[1] === "mget10" ? "mget" : (m[1] as "get" | "set");
  return { name, command, clients: Number(m[2]), pipeline: Number(m[3] ?? 1), keys: 10_000, valueSize: 100, mgetKeys: 10 };
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Runs `cmd` in the background until stop() (SIGINT), for tools attached to a pid. */
function attach(cmd: string, args: string[]): { stop: () => Promise<void> } {
  const child = spawn(cmd, args, { stdio: ["ignore", "ignore", "pipe"] });
  let err = "";
  child.stderr!.on("data", (d: Buffer) => (err += d.toString()));
  const done = new Promise<void>((r) => child.once("exit", () => r()));
  return {
    stop: async () => {
      child.kill("SIGINT");
      const t = setTimeout(() => child.kill("SIGKILL"), 10_000);
      await done;
      clearTimeout(t);
      if (child.exitCode && child.exitCode !== 0 && err) console.error(`${cmd}: ${err.trim().slice(-500)}`);
    },
  };
}

async function main(): Promise<void> {
  const o = parse(process.argv.slice(2));
  const load = loadSpec(o.load);
  const procs = new Procs();
  const dir = mkdtempSync(path.join(os.tmpdir(), "slotway-profile-"));
  const loadgen = new LoadGen(Math.max(1, Math.floor(os.availableParallelism() / 2)));
  try {
    const backends = [await startRedis(procs, dir, "redis-a"), await startRedis(procs, dir, "redis-b")];
    await Promise.all(backends.map((b) => prefill(b.port, load.keys, load.valueSize)));
    let target: Target;
    if (o.target === "direct") {
      target = { name: "direct", port: backends[0]!.port, proc: backends[0]!.proc, note: "" };
    } else if (o.target === "twemproxy") {
      const bin = findOnPath("nutcracker");
      if (!bin) throw new Error("no nutcracker on PATH");
      target = await startTwemproxy(procs, dir, backends, bin);
    } else {
      if (o.target !== "slotway" && o.target !== "node-floor") throw new Error(`unknown --target ${o.target}`);
      const launch: Launch = { nodeArgs: [...o.nodeArgs], config: o.config, ...(o.cli ? { cli: o.cli } : {}) };
      if (o.cpuProf) launch.nodeArgs!.push("--cpu-prof", "--cpu-prof-dir", o.cpuProf);
      // JIT code names for perf, and for callgrind via /tmp/perf-<pid>.map (JS functions show as addresses).
      if (o.perf || o.callgrind) launch.nodeArgs!.push("--perf-basic-prof-only-functions");
      if (o.callgrind) {
        launch.wrap = ["valgrind", "--tool=callgrind", `--callgrind-out-file=${o.callgrind}`, "--instr-atstart=no",
          "--smc-check=all-non-file", "--trace-children=no", "--separate-threads=yes"];
      }
      target = o.target === "node-floor"
        ? await startNodeFloor(procs, backends, undefined, o.floorArgs, launch)
        : await startSlotway(procs, dir, backends, o.workers, undefined, launch);
    }
    const pid = target.proc.pid;
    const clk = clockTicks();
    let tool: { stop: () => Promise<void> } | undefined;
    let cpu0 = 0, cpu1 = 0;
    const r = await loadgen.run("127.0.0.1", target.port, load, o.warmup * 1000, o.seconds * 1000, {
      start: () => {
        cpu0 = cpuTicks(pid);
        if (o.strace) tool = attach("strace", ["-c", "-f", "-o", o.strace, "-p", String(pid)]);
        if (o.perf) tool = attach("perf", ["record", "-e", "cpu-clock", "-g", "-o", o.perf, "-p", String(pid)]);
        if (o.callgrind) execFileSync("callgrind_control", ["-i", "on", String(pid)], { stdio: "ignore" });
      },
      stop: () => {
        cpu1 = cpuTicks(pid);
        if (o.callgrind) execFileSync("callgrind_control", ["-i", "off", String(pid)], { stdio: "ignore" });
      },
    });
    await tool?.stop();
    if (r.failure) throw new Error(`load failed: ${r.failure}`);
    console.log(`${target.name} ${load.name}: ${r.ops} ops in ${r.seconds.toFixed(2)} s, ${Math.round(r.opsPerSec)} ops/s, ` +
      `p50 ${r.p50Ms.toFixed(3)} ms, p99 ${r.p99Ms.toFixed(3)} ms, proxy CPU ${((cpu1 - cpu0) / clk / r.ops * 1e6).toFixed(1)} µs/op`);
    if (o.callgrind) {
      execFileSync("callgrind_control", ["-d", String(pid)], { stdio: "ignore" });
      await sleep(500);
    }
    // Stop the proxy first, gently, so --cpu-prof and callgrind write their files.
    await target.proc.stop(o.callgrind ? 60_000 : 10_000);
    if (o.strace) console.log(`strace summary: ${o.strace}`);
    if (o.perf) console.log(`perf data: ${o.perf} (perf report -i ${o.perf} --stdio --no-children --sort dso,sym)`);
    if (o.cpuProf) console.log(`CPU profiles: ${o.cpuProf} (node dist/bench/cpuprofile-top.js ${o.cpuProf}/*.cpuprofile)`);
    if (o.callgrind) {
      // One file per thread (--separate-threads). The worker's JS thread is the busiest of those
      // that run an event loop (uv__io_poll) other than the control thread (part 1, thread 01);
      // the rest are libuv's pool and V8's GC helpers.
      const dirName = path.dirname(o.callgrind);
      const base = path.basename(o.callgrind);
      // node-floor without --thread runs its data plane on the main thread.
      const dataOnMain = o.target === "node-floor" && !o.floorArgs.includes("--thread");
      const threads: { file: string; ir: number; loop: boolean }[] = [];
      for (const f of readdirSync(dirName)) {
        if (!f.startsWith(base)) continue;
        const text = readFileSync(path.join(dirName, f), "utf8");
        const m = /^totals: (\d+)/m.exec(text);
        if (m && Number(m[1]) > 0) threads.push({ file: f, ir: Number(m[1]), loop: f.endsWith("-01") === dataOnMain && text.includes("uv__io_poll") });
      }
      threads.sort((a, b) => b.ir - a.ir);
      const all = threads.reduce((n, t) => n + t.ir, 0);
      const worker = threads.find((t) => t.loop);
      console.log(`callgrind: ${r.ops} ops in the window; instructions per op: worker thread (${worker?.file}) ` +
        `${Math.round((worker?.ir ?? 0) / r.ops)}, all threads ${Math.round(all / r.ops)}; files ${o.callgrind}* (callgrind_annotate)`);
    }
  } finally {
    await loadgen.close();
    await procs.stopAll();
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((e: unknown) => {
  console.error(`profile failed: ${(e as Error).stack ?? String(e)}`);
  process.exitCode = 1;
});
