// The control thread's handle on the data-plane workers: spawns them on one shared
// listening socket, broadcasts messages and waits for every acknowledgement, restarts a
// worker that dies.
//
// Sharing the socket on Node 20 (no reusePort): worker 0 binds, reports its descriptor, and
// the others listen on that same descriptor. Each worker's event loop then accepts from it.
// Because the descriptor belongs to worker 0's handle, a dead worker 0 cannot be replaced
// safely (its descriptor number may be reused by then), so that case stops the process and
// leaves the restart to the supervisor; other workers are restarted in place.

import { Worker } from "node:worker_threads";
import { fileURLToPath } from "node:url";
import type { ProxyConfig } from "../core/config-schema.js";
import type { MainToWorker, WorkerInit, WorkerToMain } from "../workers/messages.js";
import type { WorkerStatsSnapshot } from "../workers/stats.js";
import { SLOT_COUNT } from "../core/slot.js";
import { log } from "../log.js";

type Request = MainToWorker extends infer M ? (M extends { seq: number } ? Omit<M, "seq"> : never) : never;

interface Waiter {
  left: Set<number>;
  replies: unknown[];
  resolve: (v: unknown[]) => void;
  reject: (e: Error) => void;
  timer: NodeJS.Timeout;
}

export interface WorkerSetOptions {
  count: number;
  version: string;
  config: ProxyConfig;
  slotTable: SharedArrayBuffer;
  inflight: SharedArrayBuffer;
  listen: WorkerInit["listen"];
  online: boolean;
  /** Called when a worker dies (after its in-flight row was cleared). */
  onFatal: (message: string) => void;
}

const WORKER_URL = new URL("../workers/worker.js", import.meta.url);
const REPLY_TIMEOUT = 10_000;

export class WorkerSet {
  private readonly workers: (Worker | null)[] = [];
  private readonly waiters = new Map<number, Waiter>();
  private seq = 0;
  private fd = -1;
  private stopping = false;
  private readonly clients = new SharedArrayBuffer(4);
  /** Last state broadcast, replayed to a restarted worker. */
  private lastAddrs: Request | null = null;

  constructor(private opts: WorkerSetOptions) {}

  get count(): number {
    return this.opts.count;
  }

  /** Starts every worker; resolves once all of them listen. */
  async start(): Promise<void> {
    this.fd = await this.spawn(0, this.opts.listen);
    const rest: Promise<number>[] = [];
    for (let i = 1; i < this.opts.count; i++) rest.push(this.spawn(i, { fd: this.fd }));
    await Promise.all(rest);
  }

  /** Updates what a restarted worker starts with. */
  setConfig(c: ProxyConfig): void {
    this.opts = { ...this.opts, config: c };
  }

  setOnline(online: boolean): void {
    this.opts = { ...this.opts, online };
  }

  private spawn(index: number, listen: WorkerInit["listen"]): Promise<number> {
    const init: WorkerInit = {
      index,
      version: this.opts.version,
      config: this.opts.config,
      slotTable: this.opts.slotTable,
      inflight: this.opts.inflight,
      clients: this.clients,
      online: this.opts.online,
      listen,
    };
    const w = new Worker(fileURLToPath(WORKER_URL), { workerData: init });
    this.workers[index] = w;
    return new Promise<number>((resolve, reject) => {
      let listening = false;
      w.on("message", (m: WorkerToMain) => {
        if (m.t === "listening") {
          listening = true;
          resolve(m.fd);
        } else if (m.t === "fatal") {
          if (!listening) reject(new Error(m.message));
          else log.error(`worker ${index}: ${m.message}`);
        } else {
          this.onReply(index, m);
        }
      });
      w.on("error", (err) => {
        log.error(`worker ${index} failed: ${err.stack ?? err.message}`);
        if (!listening) reject(err);
      });
      w.on("exit", (code) => this.onExit(index, w, code));
    });
  }

  private onExit(index: number, w: Worker, code: number): void {
    if (this.workers[index] !== w) return;
    this.workers[index] = null;
    // Its requests died with it: clear its in-flight row so slot changes do not wait forever.
    const counts = new Int32Array(this.opts.inflight);
    for (let s = 0; s < SLOT_COUNT; s++) Atomics.store(counts, index * SLOT_COUNT + s, 0);
    for (const waiter of this.waiters.values()) {
      if (waiter.left.delete(index) && waiter.left.size === 0) this.finish(waiter);
    }
    if (this.stopping) return;
    if (index === 0) {
      this.opts.onFatal(`worker 0 (owner of the listening socket) exited with code ${code}`);
      return;
    }
    log.error(`worker ${index} exited with code ${code}; restarting it`);
    this.spawn(index, { fd: this.fd })
      .then(async () => {
        if (this.lastAddrs) await this.broadcast(this.lastAddrs);
        await this.broadcast({ t: "slots" });
      })
      .catch((e: Error) => log.error(`restarting worker ${index} failed: ${e.message}`));
  }

  private onReply(index: number, m: WorkerToMain): void {
    if (m.t !== "ack" && m.t !== "stats") return;
    const waiter = this.waiters.get(m.seq);
    if (!waiter || !waiter.left.delete(index)) return;
    waiter.replies[index] = m.t === "stats" ? m.data : true;
    if (waiter.left.size === 0) this.finish(waiter);
  }

  private finish(waiter: Waiter): void {
    clearTimeout(waiter.timer);
    for (const [k, v] of this.waiters) if (v === waiter) this.waiters.delete(k);
    waiter.resolve(waiter.replies);
  }

  /** Sends a message to every live worker and resolves with their replies (by index). */
  broadcast(msg: Request): Promise<unknown[]> {
    if (msg.t === "addrs") this.lastAddrs = msg;
    const seq = ++this.seq;
    const full = { ...msg, seq } as MainToWorker;
    return new Promise((resolve, reject) => {
      const left = new Set<number>();
      this.workers.forEach((w, i) => {
        if (w) left.add(i);
      });
      const waiter: Waiter = {
        left,
        replies: [],
        resolve,
        reject,
        timer: setTimeout(() => {
          this.waiters.delete(seq);
          reject(new Error(`worker(s) ${[...left].join(", ")} did not answer ${msg.t} within ${REPLY_TIMEOUT} ms`));
        }, REPLY_TIMEOUT),
      };
      this.waiters.set(seq, waiter);
      if (left.size === 0) {
        this.finish(waiter);
        return;
      }
      for (const i of left) this.workers[i]!.postMessage(full);
    });
  }

  /** Collects every worker's counters (and resets them when asked). */
  async stats(reset = false): Promise<WorkerStatsSnapshot[]> {
    const replies = await this.broadcast({ t: "stats", reset });
    return replies.filter((r): r is WorkerStatsSnapshot => typeof r === "object" && r !== null);
  }

  /** Stops every worker. */
  async stop(): Promise<void> {
    this.stopping = true;
    await this.broadcast({ t: "shutdown" }).catch(() => undefined);
    await Promise.all(this.workers.map((w) => w?.terminate()));
  }
}
