// One client connection of the soak: sends a batch of commands at once (a pipeline; a batch of
// one is a one-at-a-time client) and gives back every reply with the time it arrived, so the
// soak measures each request's latency. A batch never rejects: on a timeout or a closed
// connection it resolves with the replies that did arrive and says why the rest did not.
import net from "node:net";
import { performance } from "node:perf_hooks";
import { decodeReply, type Decoded } from "../../src/core/resp-decoder.js";
import { encodeCommand } from "../../src/core/resp-encoder.js";
import { ReplyScanner, ScanStatus } from "../../src/core/resp-scanner.js";
import { ChunkReader } from "../../src/workers/chunk-reader.js";

export interface BatchResult {
  /** performance.now() when the batch was written. */
  sentAt: number;
  /** Replies in order; fewer than the commands when failure is set. */
  replies: Decoded[];
  /** performance.now() when each reply arrived. */
  at: number[];
  /** Why replies are missing: no reply within the timeout, or the connection closed. */
  failure?: "timeout" | "closed";
}

export class SoakConn {
  private readonly reader = new ChunkReader(new ReplyScanner(), 1 << 30);
  private want = 0;
  private cur: BatchResult | undefined;
  private done: ((r: BatchResult) => void) | undefined;
  private timer: NodeJS.Timeout | undefined;
  closed = false;

  private constructor(private readonly sock: net.Socket) {
    sock.setNoDelay(true);
    sock.on("data", (d: Buffer) => this.onData(d));
    sock.on("error", () => undefined);
    sock.on("close", () => {
      this.closed = true;
      this.finish("closed");
    });
  }

  static connect(port: number, host = "127.0.0.1", timeoutMs = 5000): Promise<SoakConn> {
    return new Promise((resolve, reject) => {
      const s = net.connect({ port, host });
      const t = setTimeout(() => {
        s.destroy();
        reject(new Error(`connect ${host}:${port}: timeout`));
      }, timeoutMs);
      s.once("connect", () => {
        clearTimeout(t);
        resolve(new SoakConn(s));
      });
      s.once("error", (e) => {
        clearTimeout(t);
        reject(e);
      });
    });
  }

  /** Writes the commands at once and resolves when every reply came, or on timeout/close. */
  exec(cmds: readonly (readonly string[])[], timeoutMs: number): Promise<BatchResult> {
    if (this.cur) throw new Error("SoakConn: one batch at a time");
    const r: BatchResult = { sentAt: performance.now(), replies: [], at: [] };
    if (this.closed) {
      r.failure = "closed";
      return Promise.resolve(r);
    }
    this.cur = r;
    this.want = cmds.length;
    return new Promise((resolve) => {
      this.done = resolve;
      this.timer = setTimeout(() => {
        this.finish("timeout");
        this.sock.destroy();
      }, timeoutMs);
      this.sock.write(cmds.length === 1 ? encodeCommand(cmds[0]!) : Buffer.concat(cmds.map((c) => encodeCommand(c))));
    });
  }

  close(): void {
    this.sock.destroy();
  }

  private onData(d: Buffer): void {
    const r = this.cur;
    this.reader.push(d);
    for (;;) {
      const st = this.reader.next();
      if (st === ScanStatus.Incomplete) break;
      if (st === ScanStatus.Error) {
        this.sock.destroy();
        return;
      }
      const sc = this.reader.scanner;
      if (sc.push || !r) continue;
      r.replies.push(decodeReply(this.reader.buf, sc.replyStart, false).value);
      r.at.push(performance.now());
    }
    if (r && r.replies.length >= this.want) this.finish(undefined);
  }

  private finish(failure: BatchResult["failure"]): void {
    const r = this.cur;
    const done = this.done;
    if (!r || !done) return;
    clearTimeout(this.timer);
    this.cur = undefined;
    this.done = undefined;
    if (failure) r.failure = failure;
    done(r);
  }
}
