// The control thread's handle on the data-plane workers: spawns them on one shared
// listening socket, broadcasts messages and waits for every acknowledgement, restarts a
// worker that dies.
//
// Sharing the socket on Node 20 (no reusePort): the socket is bound once and every worker
// listens on a descriptor of its own for it (listen-fds.ts), so a worker that dies, worker 0
// included, closes only its own descriptor and is restarted in place with a new one.

import { Worker } from "node:worker_threads";
import { fileURLToPath } from "node:url";
import type { ProxyConfig } from "../core/config-schema.js";
import type { ListenSpec, MainToWorker, WorkerInit, WorkerToMain } from "../workers/messages.js";
import type { WorkerStatsSnapshot } from "../workers/stats.js";
import { SLOT_COUNT } from "../core/slot.js";
import { log } from "../log.js";
import { ListenSocket } from "./listen-fds.js";

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
  listen: ListenSpec;
  online: boolean;
  /** Called when a dead worker cannot be restarted. */
  onFatal: (message: string) => void;
}

const WORKER_URL = new URL("../workers/worker.js", import.meta.url);
const REPLY_TIMEOUT = 10_000;

export class WorkerSet {
  private readonly workers: (Worker | null)[] = [];
  private readonly waiters = new Map<number, Waiter>();
  private seq = 0;
  private socket: ListenSocket | null = null;
  private readonly listenWaiters = new Map<number, { resolve: (fd: number) => void; reject: (e: Error) => void }>();
  private stopping = false;
  /** [0] clients of all workers, [1 + i] clients of worker i (see messages.ts). */
  private readonly clients: SharedArrayBuffer;
  /** Last state broadcast, replayed to a restarted worker. */
  private lastAddrs: Request | null = null;

  constructor(private opts: WorkerSetOptions) {
    this.clients = new SharedArrayBuffer(4 * (1 + opts.count));
  }

  get count(): number {
    return this.opts.count;
  }

  /** Starts every worker; they serve nobody until listen(). */
  async start(): Promise<void> {
    const all: Promise<void>[] = [];
    for (let i = 0; i < this.opts.count; i++) all.push(this.spawn(i));
    await Promise.all(all);
  }

  /**
   * Opens the client port: binds it once and has every worker listen on a descriptor of its
   * own. Separate from start() so that a standalone proxy fills its slots and goes online
   * first, and a client that can connect is always served.
   */
  async listen(): Promise<void> {
    this.socket = await ListenSocket.bind(this.opts.listen);
    const fds = await this.socket.descriptors(this.workers.length);
    await Promise.all(this.workers.map((w, i) => (w ? this.listenOne(i, { fd: fds[i]! }) : undefined)));
  }

  private listenOne(index: number, spec: ListenSpec): Promise<number> {
    const w = this.workers[index];
    if (!w) return Promise.reject(new Error(`worker ${index} is not running`));
    return new Promise<number>((resolve, reject) => {
      this.listenWaiters.set(index, { resolve, reject });
      w.postMessage({ t: "listen", seq: 0, spec } satisfies MainToWorker);
    });
  }

  /** Updates what a restarted worker starts with. */
  setConfig(c: ProxyConfig): void {
    this.opts = { ...this.opts, config: c };
  }

  setOnline(online: boolean): void {
    this.opts = { ...this.opts, online };
  }

  private spawn(index: number): Promise<void> {
    const init: WorkerInit = {
      index,
      version: this.opts.version,
      config: this.opts.config,
      slotTable: this.opts.slotTable,
      inflight: this.opts.inflight,
      clients: this.clients,
      online: this.opts.online,
    };
    const w = new Worker(fileURLToPath(WORKER_URL), { workerData: init });
    this.workers[index] = w;
    return new Promise<void>((resolve, reject) => {
      let ready = false;
      w.on("message", (m: WorkerToMain) => {
        if (m.t === "ready") {
          ready = true;
          resolve();
        } else if (m.t === "listening") {
          this.listenWaiters.get(index)?.resolve(m.fd);
          this.listenWaiters.delete(index);
        } else if (m.t === "fatal") {
          const waiter = this.listenWaiters.get(index);
          this.listenWaiters.delete(index);
          if (waiter) waiter.reject(new Error(m.message));
          else log.error(`worker ${index}: ${m.message}`);
        } else {
          this.onReply(index, m);
        }
      });
      w.on("error", (err) => {
        log.error(`worker ${index} failed: ${err.stack ?? err.message}`);
        if (!ready) reject(err);
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
    // Its clients' connections died with it too: take them out of the shared count, or
    // proxy_max_clients would admit fewer clients after every crash. The thread is gone, so
    // its word no longer moves.
    const clients = new Int32Array(this.clients);
    Atomics.sub(clients, 0, Atomics.exchange(clients, 1 + index, 0));
    for (const waiter of this.waiters.values()) {
      if (waiter.left.delete(index) && waiter.left.size === 0) this.finish(waiter);
    }
    if (this.stopping) return;
    log.error(`worker ${index} exited with code ${code}; restarting it`);
    this.spawn(index)
      .then(async () => {
        if (this.lastAddrs) await this.broadcast(this.lastAddrs);
        await this.broadcast({ t: "slots" });
        if (this.socket) {
          const [fd] = await this.socket.descriptors(1);
          await this.listenOne(index, { fd: fd! });
        }
      })
      .catch((e: Error) => this.opts.onFatal(`restarting worker ${index} failed: ${e.message}`));
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

  /** Test hook: makes worker `index` throw (the worker obeys only with SLOTWAY_TEST_HOOKS=1). */
  crash(index: number): void {
    this.workers[index]?.postMessage({ t: "crash", seq: 0 } satisfies MainToWorker);
  }

  /** Clients connected over all workers (the count proxy_max_clients is checked against). */
  clientCount(): number {
    return Atomics.load(new Int32Array(this.clients), 0);
  }

  /** Stops every worker. */
  async stop(): Promise<void> {
    this.stopping = true;
    await this.broadcast({ t: "shutdown" }).catch(() => undefined);
    await Promise.all(this.workers.map((w) => w?.terminate()));
    this.socket?.close();
    this.socket = null;
  }
}
