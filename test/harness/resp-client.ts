// A raw RESP connection for tests that need exact bytes: send anything, read replies as
// raw frames (split by the project's reply scanner, which has its own property tests).
import net from "node:net";
import { ReplyScanner, ScanStatus } from "../../src/core/resp-scanner.js";
import { ChunkReader } from "../../src/workers/chunk-reader.js";
import { encodeCommand } from "../../src/core/resp-encoder.js";

export class RawClient {
  private readonly reader = new ChunkReader(new ReplyScanner(), 1 << 30);
  private readonly frames: Buffer[] = [];
  private waiters: (() => void)[] = [];
  closed = false;
  error: Error | null = null;

  private constructor(readonly socket: net.Socket) {
    socket.on("data", (chunk: Buffer) => {
      this.reader.push(chunk);
      for (;;) {
        const st = this.reader.next();
        if (st !== ScanStatus.Complete) break;
        const sc = this.reader.scanner;
        this.frames.push(Buffer.from(this.reader.buf.subarray(sc.replyStart, sc.next)));
      }
      this.wake();
    });
    socket.on("error", (e) => {
      this.error = e;
    });
    socket.on("close", () => {
      this.closed = true;
      this.wake();
    });
  }

  static connect(port: number, host = "127.0.0.1"): Promise<RawClient> {
    return new Promise((resolve, reject) => {
      const s = net.connect({ port, host });
      s.once("connect", () => resolve(new RawClient(s)));
      s.once("error", reject);
    });
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  write(data: Buffer | string): void {
    this.socket.write(data);
  }

  /** Sends one command as RESP and returns its reply frame as text. */
  async call(...args: (string | Buffer | number)[]): Promise<string> {
    this.write(encodeCommand(args));
    const [r] = await this.read(1);
    return r!.toString("latin1");
  }

  /** Waits for n reply frames (bounded by timeoutMs). */
  async read(n: number, timeoutMs = 10_000): Promise<Buffer[]> {
    const deadline = Date.now() + timeoutMs;
    while (this.frames.length < n) {
      if (this.closed) throw new Error(`connection closed after ${this.frames.length} of ${n} replies`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timeout: ${this.frames.length} of ${n} replies in ${timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
    return this.frames.splice(0, n);
  }

  /** Waits until the server closes the connection; returns the frames it sent before. */
  async readUntilClose(timeoutMs = 10_000): Promise<Buffer[]> {
    const deadline = Date.now() + timeoutMs;
    while (!this.closed) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error("timeout waiting for the server to close");
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
    return this.frames.splice(0);
  }

  /** Every reply frame received and not yet read (for streams of messages). */
  takeFrames(): Buffer[] {
    return this.frames.splice(0);
  }

  close(): void {
    this.socket.destroy();
  }
}
