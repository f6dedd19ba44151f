// The load generator's main-thread side: a pool of worker threads (bench/loadgen-worker.ts), each
// driving closed-loop RESP clients, and the pre-encoding of their requests.
//
// Timing protocol: the workers start sending on "go" but only count replies while the shared
// phase word says MEASURE. The main thread flips that word, so the measured window it sees (and
// the CPU snapshots it takes at the two flips) is the one the workers counted in.
import { Worker } from "node:worker_threads";
import { crc32 } from "node:zlib";
import { performance } from "node:perf_hooks";
import { build, decodeFromCompressedBase64, type Histogram } from "hdr-histogram-js";

export type Command = "get" | "set" | "mget";

/** One load: what every client sends, closed-loop. */
export interface LoadSpec {
  name: string;
  command: Command;
  clients: number;
  pipeline: number;
  keys: number;
  valueSize: number;
  /** Keys per MGET. */
  mgetKeys: number;
}

/** What one worker thread is told to do. */
export interface WorkerRun {
  host: string;
  port: number;
  clients: number;
  seed: number;
  load: LoadSpec;
}

/** What one worker thread answers after the phase went to STOP. */
export interface WorkerResult {
  ops: number;
  errors: number;
  nils: number;
  firstError?: string;
  /** Set when a connection failed or closed during the run. */
  failure?: string;
  /** HDR histogram of reply latency in µs, compressed (hdr-histogram-js encoding). */
  histogram: string;
}

export interface LoadResult {
  ops: number;
  seconds: number;
  opsPerSec: number;
  p50Ms: number;
  p99Ms: number;
  p999Ms: number;
  errors: number;
  nils: number;
  firstError?: string;
  failure?: string;
}

export const PHASE_WARMUP = 0;
export const PHASE_MEASURE = 1;
export const PHASE_STOP = 2;

/** The key of index i, spelled like redis-benchmark's "key:__rand_int__" so both tools hit the same keys. */
export function keyName(i: number): string {
  return "key:" + String(i).padStart(12, "0");
}

/** One RESP2 command as an array of bulk strings. */
export function encodeCommand(args: ReadonlyArray<string | Buffer>): Buffer {
  const parts: Buffer[] = [Buffer.from(`*${args.length}\r\n`)];
  for (const a of args) {
    const b = typeof a === "string" ? Buffer.from(a) : a;
    parts.push(Buffer.from(`$${b.length}\r\n`), b, Buffer.from("\r\n"));
  }
  return Buffer.concat(parts);
}

/** codis slot of a key without a hash tag: CRC-32/IEEE mod 1024. */
export function codisSlot(key: string): number {
  return crc32(key) % 1024;
}

/** xorshift32: a seeded generator, so a load sends the same keys in every round and on every target. */
export function rng(seed: number): () => number {
  let x = seed | 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 4294967296;
  };
}

// Per-worker budget for pre-encoded requests: enough distinct batches to spread keys, small
// enough to stay in cache.
const BATCH_BYTES_BUDGET = 2 * 1024 * 1024;

/**
 * Pre-encodes the batches a worker's clients cycle through: each batch is `pipeline` commands in
 * one Buffer, written with one socket write. MGET takes half of its keys from slots 0-511 and half
 * from 512-1023, so on a codis-style proxy (two groups split at slot 512) every MGET spans both
 * backends.
 */
export function buildBatches(load: LoadSpec, seed: number): Buffer[] {
  const rand = rng(seed);
  const pick = (n: number): number => Math.floor(rand() * n);
  const value = Buffer.alloc(load.valueSize, "x");
  let low: number[] = [];
  let high: number[] = [];
  if (load.command === "mget") {
    for (let i = 0; i < load.keys; i++) (codisSlot(keyName(i)) < 512 ? low : high).push(i);
    if (!low.length || !high.length) low = high = [...low, ...high];
  }
  const command = (): Buffer => {
    switch (load.command) {
      case "get":
        return encodeCommand(["GET", keyName(pick(load.keys))]);
      case "set":
        return encodeCommand(["SET", keyName(pick(load.keys)), value]);
      case "mget": {
        const args = ["MGET"];
        for (let k = 0; k < load.mgetKeys; k++) {
          const side = k % 2 === 0 ? low : high;
          args.push(keyName(side[pick(side.length)]!));
        }
        return encodeCommand(args);
      }
    }
  };
  const first = Buffer.concat(Array.from({ length: load.pipeline }, command));
  const count = Math.max(16, Math.min(4096, Math.floor(BATCH_BYTES_BUDGET / first.length)));
  const batches = [first];
  while (batches.length < count) batches.push(Buffer.concat(Array.from({ length: load.pipeline }, command)));
  return batches;
}

type Message = { type: "ready" } | { type: "done"; result: WorkerResult } | { type: "failed"; error: string };

/** A worker thread with an inbox, so replies can be awaited one at a time with a deadline. */
class Thread {
  readonly worker: Worker;
  private readonly inbox: Message[] = [];
  private waiter: ((m: Message) => void) | undefined;
  private dead: string | undefined;

  constructor(phase: SharedArrayBuffer) {
    this.worker = new Worker(new URL("./loadgen-worker.js", import.meta.url), { workerData: { phase } });
    this.worker.on("message", (m: Message) => this.deliver(m));
    this.worker.on("error", (e) => {
      this.dead = `load generator thread crashed: ${e.message}`;
      this.deliver({ type: "failed", error: this.dead });
    });
    this.worker.on("exit", (code) => {
      this.dead ??= `load generator thread exited (${code})`;
      this.deliver({ type: "failed", error: this.dead });
    });
  }

  private deliver(m: Message): void {
    const w = this.waiter;
    if (w) {
      this.waiter = undefined;
      w(m);
    } else {
      this.inbox.push(m);
    }
  }

  /** The next message, or a "failed" one after timeoutMs. */
  next(timeoutMs: number): Promise<Message> {
    const queued = this.inbox.shift();
    if (queued) return Promise.resolve(queued);
    if (this.dead) return Promise.resolve({ type: "failed", error: this.dead });
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.waiter = undefined;
        resolve({ type: "failed", error: `load generator thread silent for ${timeoutMs} ms` });
      }, timeoutMs);
      this.waiter = (m) => {
        clearTimeout(timer);
        resolve(m);
      };
    });
  }
}

export interface Window {
  /** Called right after the phase went to MEASURE. */
  start(): void;
  /** Called right after the phase went to STOP. */
  stop(): void;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** The pool of load generator threads, kept across runs so thread start-up is paid once. */
export class LoadGen {
  private readonly phaseBuf = new SharedArrayBuffer(4);
  private readonly phase = new Int32Array(this.phaseBuf);
  private threads: Thread[];

  constructor(readonly threadCount: number) {
    this.threads = Array.from({ length: threadCount }, () => new Thread(this.phaseBuf));
  }

  /**
   * Runs one load against host:port: connect, warm up, measure, stop. Never throws for a
   * target's misbehaviour: a failure is returned in `failure` (and the pool is rebuilt when a
   * thread got stuck, so the next run starts clean).
   */
  async run(host: string, port: number, load: LoadSpec, warmupMs: number, durationMs: number, window: Window): Promise<LoadResult> {
    Atomics.store(this.phase, 0, PHASE_WARMUP);
    // Clients are spread over threads; threads left without a client sit this run out.
    const active = this.threads.slice(0, Math.min(this.threads.length, load.clients));
    active.forEach((t, i) => {
      const clients = Math.floor(load.clients / active.length) + (i < load.clients % active.length ? 1 : 0);
      const run: WorkerRun = { host, port, clients, seed: 0x9e3779b1 ^ (i * 7919 + 1), load };
      t.worker.postMessage({ type: "run", run });
    });
    const ready = await Promise.all(active.map((t) => t.next(15_000)));
    const notReady = ready.find((m) => m.type !== "ready");
    if (notReady) {
      Atomics.store(this.phase, 0, PHASE_STOP);
      await this.rebuild();
      return failed(notReady.type === "failed" ? notReady.error : "unexpected message before ready");
    }
    for (const t of active) t.worker.postMessage({ type: "go" });
    await sleep(warmupMs);
    Atomics.store(this.phase, 0, PHASE_MEASURE);
    const t0 = performance.now();
    window.start();
    await sleep(durationMs);
    Atomics.store(this.phase, 0, PHASE_STOP);
    const t1 = performance.now();
    window.stop();
    // Every client finishes its batch in flight; a target that stops answering must not hang us.
    const done = await Promise.all(active.map((t) => t.next(10_000)));
    const hist = build({ lowestDiscernibleValue: 1, highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: 3 });
    let ops = 0, errors = 0, nils = 0;
    let firstError: string | undefined, failure: string | undefined;
    for (const m of done) {
      if (m.type !== "done") {
        failure ??= m.type === "failed" ? m.error : "unexpected message";
        continue;
      }
      const r = m.result;
      ops += r.ops;
      errors += r.errors;
      nils += r.nils;
      firstError ??= r.firstError;
      failure ??= r.failure;
      const h: Histogram = decodeFromCompressedBase64(r.histogram);
      hist.add(h);
      h.destroy();
    }
    if (done.some((m) => m.type !== "done")) await this.rebuild();
    const seconds = (t1 - t0) / 1000;
    const result: LoadResult = {
      ops,
      seconds,
      opsPerSec: ops / seconds,
      p50Ms: hist.getValueAtPercentile(50) / 1000,
      p99Ms: hist.getValueAtPercentile(99) / 1000,
      p999Ms: hist.getValueAtPercentile(99.9) / 1000,
      errors,
      nils,
      ...(firstError !== undefined ? { firstError } : {}),
      ...(failure !== undefined ? { failure } : {}),
    };
    hist.destroy();
    return result;
  }

  private async rebuild(): Promise<void> {
    await Promise.all(this.threads.map((t) => t.worker.terminate()));
    this.threads = Array.from({ length: this.threadCount }, () => new Thread(this.phaseBuf));
  }

  async close(): Promise<void> {
    Atomics.store(this.phase, 0, PHASE_STOP);
    await Promise.all(this.threads.map((t) => t.worker.terminate()));
  }
}

function failed(failure: string): LoadResult {
  return { ops: 0, seconds: 0, opsPerSec: 0, p50Ms: NaN, p99Ms: NaN, p999Ms: NaN, errors: 0, nils: 0, failure };
}

/** redis-benchmark arguments for the same load: same clients, pipeline, value size, key names and key space. */
export function redisBenchmarkArgs(load: LoadSpec, host: string, port: number, requests: number): string[] {
  const args = ["-h", host, "-p", String(port), "-c", String(load.clients), "-n", String(requests),
    "-P", String(load.pipeline), "-d", String(load.valueSize), "-r", String(load.keys), "--precision", "3"];
  switch (load.command) {
    case "get":
    case "set":
      return [...args, "-t", load.command];
    case "mget":
      // Every __rand_int__ is drawn separately, so the keys of one MGET are random: they span both
      // backends of a proxy with probability 1 - 2^(1-n), not always as in our own generator.
      return [...args, "MGET", ...Array.from({ length: load.mgetKeys }, () => "key:__rand_int__")];
  }
}
