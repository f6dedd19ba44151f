// A soak client: one connection to its proxy and one to the other proxy, a set of actors (the only
// writer of their keys), one-at-a-time (a batch of 1) or pipelined (a batch of `depth`). Every
// reply goes to its actor's check; every latency is recorded with the run's phase.
import { performance } from "node:perf_hooks";
import { RespErrorValue } from "../../src/core/resp-decoder.js";
import type { Actor, Op } from "./actors.js";
import { SoakConn, type BatchResult } from "./conn.js";
import type { Env } from "./model.js";

export type ClientClass = "single" | "pipelined";

/** Latency of requests by phase, with the slowest request and the ones past the bound. */
export class Latency {
  /** Log-spaced buckets of µs (4 per power of two). */
  readonly buckets = new Map<string, number[]>();
  readonly max = new Map<string, { ms: number; what: string }>();
  constructor(private readonly boundMs: number, private readonly env: Env) {}

  record(phase: string, ms: number, what: () => string): void {
    let b = this.buckets.get(phase);
    if (!b) this.buckets.set(phase, (b = new Array<number>(128).fill(0)));
    b[Math.min(127, Math.floor(Math.log2(1 + ms * 1000) * 4))]!++;
    const m = this.max.get(phase);
    if (!m || ms > m.ms) this.max.set(phase, { ms, what: what() });
    if (ms > this.boundMs) this.env.anomalies.add("held", `${what()} took ${(ms / 1000).toFixed(1)} s (bound ${this.boundMs / 1000} s) during ${phase}`, 1, `sent during ${phase}`);
  }

  /** The q-quantile (0..1) of a phase in ms (upper edge of its bucket). */
  quantile(phase: string, q: number): number {
    const b = this.buckets.get(phase);
    if (!b) return 0;
    const total = b.reduce((s, x) => s + x, 0);
    let acc = 0;
    for (let i = 0; i < b.length; i++) {
      acc += b[i]!;
      if (acc >= q * total) return (2 ** ((i + 1) / 4) - 1) / 1000;
    }
    return 0;
  }
}

export interface ClientOptions {
  id: number;
  cls: ClientClass;
  depth: number;
  port: number;
  peerPort: number;
  actors: Actor[];
  /** Client-side timeout per batch (ms): past it the requests count as unfinished. */
  timeoutMs: number;
  /** A read on the other proxy every this many batches (0: never). */
  crossEvery: number;
  rand: () => number;
  env: Env;
  latency: Latency;
  phase: () => string;
}

export class SoakClient {
  ops = 0;
  private stopped = false;
  private main: SoakConn | undefined;
  private peer: SoakConn | undefined;
  private loop: Promise<void> | undefined;
  /** Requests sent and not answered when the client stopped waiting. */
  unfinished = 0;

  constructor(readonly o: ClientOptions) {}

  get cls(): ClientClass {
    return this.o.cls;
  }

  start(): void {
    this.loop = this.run();
  }

  /** Stops after the batch in flight (which may take up to the timeout). */
  async stop(): Promise<void> {
    this.stopped = true;
    await this.loop;
    this.main?.close();
    this.peer?.close();
  }

  private async conn(port: number): Promise<SoakConn | undefined> {
    for (let tries = 0; !this.stopped; tries++) {
      try {
        return await SoakConn.connect(port);
      } catch (e) {
        this.o.env.errors.add(`connect: ${(e as Error).message}`);
        await new Promise((r) => setTimeout(r, Math.min(1000, 50 * (tries + 1))));
      }
    }
    return undefined;
  }

  private async run(): Promise<void> {
    const o = this.o;
    let batches = 0;
    while (!this.stopped) {
      if (!this.main || this.main.closed) this.main = await this.conn(o.port);
      if (!this.main) return;
      const now = performance.now();
      const ops: Op[] = [];
      for (let i = 0; i < o.depth; i++) ops.push(o.actors[Math.floor(o.rand() * o.actors.length)]!.next(now));
      const phase = o.phase();
      const res = await this.main.exec(ops.map((x) => x.args), o.timeoutMs);
      this.settle(ops, res, phase, "");
      batches++;
      if (o.crossEvery > 0 && batches % o.crossEvery === 0 && !this.stopped) {
        const candidates = o.actors.filter((a) => a.crossRead);
        const a = candidates[Math.floor(o.rand() * candidates.length)];
        const x = a?.crossRead();
        if (x) {
          if (!this.peer || this.peer.closed) this.peer = await this.conn(o.peerPort);
          if (!this.peer) return;
          const ph = o.phase();
          this.settle([x], await this.peer.exec([x.args], o.timeoutMs), ph, " (other proxy)");
        }
      }
    }
  }

  /** Hands every reply to its op, in order; what has no reply is unknown (sticky). */
  private settle(ops: Op[], res: BatchResult, phase: string, via: string): void {
    const o = this.o;
    for (let i = 0; i < res.replies.length; i++) {
      const r = res.replies[i]!;
      const x = ops[i]!;
      o.latency.record(phase, res.at[i]! - res.sentAt, () => `client ${o.id}${via}: ${x.args.slice(0, 3).join(" ")}`);
      if (r instanceof RespErrorValue) {
        o.env.errors.add(r.message);
        x.unknown(false);
      } else {
        x.reply(r, res.sentAt, res.at[i]!);
      }
    }
    this.ops += res.replies.length;
    if (res.failure) {
      const missing = ops.length - res.replies.length;
      this.unfinished += missing;
      o.env.errors.add(res.failure === "timeout" ? `client timeout (no reply in ${o.timeoutMs / 1000} s)` : "connection closed by the proxy");
      const first = ops[res.replies.length]!;
      const why = res.failure === "timeout" ? `had no reply in ${o.timeoutMs / 1000} s` : "were left unanswered: the proxy closed the connection";
      o.env.anomalies.add("unfinished", `client ${o.id}${via}: ${missing} request(s) from ${first.args.slice(0, 2).join(" ")} on ${why} (${phase})`, missing,
        res.failure === "timeout" ? "client timeout" : "closed by the proxy");
      for (let i = res.replies.length; i < ops.length; i++) ops[i]!.unknown(true);
    }
  }
}
