// One load generator thread: `clients` closed-loop connections, each writing one pre-encoded
// batch of `pipeline` commands and writing the next only when all its replies are in.
//
// Kept cheap so that it is not what limits the figures: requests are pre-encoded Buffers written
// as they are; every socket of this thread reads into one reused buffer (net's `onread`, so no
// Buffer per chunk); replies are counted by ReplyCounter, not decoded; the only work per chunk is
// the scan, one clock read and one histogram update.
import net from "node:net";
import { parentPort, workerData } from "node:worker_threads";
import { performance } from "node:perf_hooks";
import { build, encodeIntoCompressedBase64 } from "hdr-histogram-js";
import { ReplyCounter } from "./reply-counter.js";
import { buildBatches, PHASE_MEASURE, PHASE_STOP, type WorkerResult, type WorkerRun } from "./loadgen.js";

const port = parentPort!;
const phase = new Int32Array((workerData as { phase: SharedArrayBuffer }).phase);
// One read buffer for all sockets of this thread: each onread callback finishes with it before
// libuv reads the next chunk, and nothing keeps a reference to it.
const readBuf = Buffer.allocUnsafe(256 * 1024);
const hist = build({ lowestDiscernibleValue: 1, highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: 3 });

interface Client {
  sock: net.Socket;
  counter: ReplyCounter;
  /** Replies still missing for the batch in flight. */
  missing: number;
  sentAt: number;
  next: number;
  idle: boolean;
}

let clients: Client[] = [];
let batches: Buffer[] = [];
let pipeline = 1;
let ops = 0;
let failure: string | undefined;
let running = false;

function send(c: Client): void {
  const b = batches[c.next]!;
  c.next = c.next + 1 === batches.length ? 0 : c.next + 1;
  c.missing = pipeline;
  c.sentAt = performance.now();
  c.sock.write(b);
}

function onReplies(c: Client, n: number): void {
  const now = performance.now();
  if (Atomics.load(phase, 0) === PHASE_MEASURE) {
    ops += n;
    // Every reply in this chunk waited from its batch's write until now.
    hist.recordValueWithCount(Math.max(1, Math.round((now - c.sentAt) * 1000)), n);
  }
  c.missing -= n;
  if (c.missing > 0) return;
  if (c.missing < 0) return fail(c, `got ${-c.missing} more replies than requests`);
  if (Atomics.load(phase, 0) === PHASE_STOP) return idle(c);
  send(c);
}

function fail(c: Client, why: string): void {
  failure ??= why;
  c.sock.destroy();
  idle(c);
}

function idle(c: Client): void {
  if (c.idle) return;
  c.idle = true;
  if (running && clients.every((x) => x.idle)) finish();
}

function finish(): void {
  running = false;
  let errors = 0, nils = 0;
  let firstError: string | undefined;
  for (const c of clients) {
    errors += c.counter.errors;
    nils += c.counter.nils;
    firstError ??= c.counter.firstError;
    c.sock.destroy();
  }
  const result: WorkerResult = {
    ops,
    errors,
    nils,
    histogram: encodeIntoCompressedBase64(hist),
    ...(firstError !== undefined ? { firstError } : {}),
    ...(failure !== undefined ? { failure } : {}),
  };
  clients = [];
  port.postMessage({ type: "done", result });
}

function connect(run: WorkerRun): Client {
  const c: Client = { sock: undefined as unknown as net.Socket, counter: new ReplyCounter(), missing: 0, sentAt: 0, next: 0, idle: false };
  // Clients start at different batches so they do not send the same keys in lockstep.
  c.next = Math.floor((clients.length * batches.length) / Math.max(1, run.clients));
  c.sock = net.connect({
    host: run.host,
    port: run.port,
    noDelay: true,
    onread: {
      buffer: readBuf,
      callback: (nread: number, buf: Uint8Array): boolean => {
        let n: number;
        try {
          n = c.counter.feed(buf, 0, nread);
        } catch (e) {
          fail(c, (e as Error).message);
          return false;
        }
        if (n > 0) onReplies(c, n);
        return true;
      },
    },
  });
  c.sock.on("error", (e) => fail(c, `connection to ${run.host}:${run.port}: ${e.message}`));
  c.sock.on("close", () => {
    if (!c.idle) fail(c, `connection to ${run.host}:${run.port} closed by the server`);
  });
  return c;
}

port.on("message", (m: { type: "run"; run: WorkerRun } | { type: "go" }) => {
  if (m.type === "run") {
    const run = m.run;
    batches = buildBatches(run.load, run.seed);
    pipeline = run.load.pipeline;
    ops = 0;
    failure = undefined;
    hist.reset();
    clients = [];
    let connected = 0;
    for (let i = 0; i < run.clients; i++) {
      const c = connect(run);
      clients.push(c);
      c.sock.once("connect", () => {
        if (++connected === run.clients) port.postMessage({ type: "ready" });
      });
      c.sock.once("error", (e) => {
        if (connected < run.clients) port.postMessage({ type: "failed", error: `connect ${run.host}:${run.port}: ${e.message}` });
      });
    }
  } else {
    running = true;
    for (const c of clients) {
      if (c.idle) continue;
      send(c);
    }
    if (clients.every((c) => c.idle)) finish();
  }
});
