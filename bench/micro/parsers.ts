// The parsers under comparison, each behind the same small interface: feed it a stream's chunks
// in order, get back how many messages came out, with every argument touched once.
//
// Fairness: every adapter ends with the same facts per command (argument count and each
// argument's position or bytes) and does the same consumer work on them (sum the argument
// lengths), so the figures compare what each parser costs to reach that point. What each one
// produces differs by design and is stated in `produces`.

import { createRequire } from "node:module";
import { DEFAULT_LIMITS, ReplyScanner, RequestScanner, ScanStatus } from "../../src/core/resp-scanner.js";
import { ChunkReader } from "../../src/workers/chunk-reader.js";

// respjs and redis-parser are CommonJS without type declarations: load them with require and
// describe only the surface used here.
const require = createRequire(import.meta.url);

interface RespjsInstance {
  on(event: "data", fn: (v: unknown) => void): void;
  on(event: "error", fn: (e: Error) => void): void;
  write(chunk: Buffer): boolean;
}
type RespjsCtor = new (opts: { bufBulk: boolean }) => RespjsInstance;

interface RedisParserInstance {
  execute(chunk: Buffer): void;
  reset(): void;
}
type RedisParserCtor = new (opts: {
  returnReply: (v: unknown) => void;
  returnError: (e: Error) => void;
  returnFatalError?: (e: Error) => void;
  returnBuffers: boolean;
}) => RedisParserInstance;

const Respjs = require("respjs") as RespjsCtor;
const RedisParser = require("redis-parser") as RedisParserCtor;

/** What came out of the last run(): checked against the stream's own totals. */
export interface Tally {
  messages: number;
  args: number;
  argBytes: number;
  /**
   * slotway only: messages handed out from ChunkReader's assembly buffer (copied) rather than
   * in place in a chunk; the others do not say.
   */
  assembled: number;
}

export interface Adapter {
  readonly name: string;
  /** One line: what the parser hands its caller per message. */
  readonly produces: string;
  /** Feeds all chunks in order; returns the number of complete messages. Throws on a parse error. */
  run(chunks: readonly Buffer[]): number;
  readonly tally: Tally;
}

// The limits a session uses (src/workers/session.ts): the default scan limits and a 1 GiB
// message bound for the chunk reader.
const MAX_REQUEST = Math.max(DEFAULT_LIMITS.maxBulk + 64 * 1024, 1024 * 1024 * 1024);
const MAX_REPLY = 1024 * 1024 * 1024;

function newTally(): Tally {
  return { messages: 0, args: 0, argBytes: 0, assembled: 0 };
}

/**
 * slotway's RequestScanner as the proxy drives it: one buffer → scan(buf, pos, end) in a loop;
 * several chunks → ChunkReader.push/next (as Session.onData does).
 */
export class SlotwayRequests implements Adapter {
  readonly name = "slotway RequestScanner";
  readonly produces = "argc + [start,end) offsets in a reused Int32Array; no object per argument";
  readonly tally = newTally();
  private readonly sc = new RequestScanner();
  private readonly reader = new ChunkReader(new RequestScanner(), MAX_REQUEST);

  run(chunks: readonly Buffer[]): number {
    const t = this.tally;
    t.messages = t.args = t.argBytes = t.assembled = 0;
    if (chunks.length === 1) {
      const buf = chunks[0]!;
      const sc = this.sc;
      const end = buf.length;
      let pos = 0;
      for (;;) {
        const st = sc.scan(buf, pos, end);
        if (st !== ScanStatus.Complete) {
          if (st === ScanStatus.Error) throw new Error(sc.error);
          break;
        }
        this.consume(sc.offsets, sc.argc);
        pos = sc.next;
      }
    } else {
      const reader = this.reader;
      const sc = reader.scanner;
      for (let i = 0; i < chunks.length; i++) {
        const chunk = chunks[i]!;
        reader.push(chunk);
        for (;;) {
          const st = reader.next();
          if (st === ScanStatus.Incomplete) break;
          if (st === ScanStatus.Error) throw new Error(reader.tooLarge ? "request too large" : sc.error);
          if (reader.buf !== chunk) t.assembled++;
          this.consume(sc.offsets, sc.argc);
        }
      }
    }
    return t.messages;
  }

  private consume(o: Int32Array, argc: number): void {
    const t = this.tally;
    t.messages++;
    t.args += argc;
    let n = 0;
    for (let i = 0; i < argc; i++) n += o[2 * i + 1]! - o[2 * i]!;
    t.argBytes += n;
  }
}

/** Shared consumer for the parsers that hand out an array of Buffers per command. */
function consumeArray(t: Tally, v: unknown): void {
  const a = v as Buffer[];
  t.messages++;
  t.args += a.length;
  let n = 0;
  for (let i = 0; i < a.length; i++) n += a[i]!.length;
  t.argBytes += n;
}

/** respjs with bufBulk: bulks come out as Buffer views, not strings. */
export class RespjsRequests implements Adapter {
  readonly name = "respjs";
  readonly produces = "an Array of Buffer views per command, via an EventEmitter 'data' event";
  readonly tally = newTally();
  private readonly p = new Respjs({ bufBulk: true });
  private err: Error | null = null;

  constructor() {
    const t = this.tally;
    this.p.on("data", (v) => consumeArray(t, v));
    this.p.on("error", (e) => (this.err = e));
  }

  run(chunks: readonly Buffer[]): number {
    const t = this.tally;
    t.messages = t.args = t.argBytes = 0;
    for (let i = 0; i < chunks.length; i++) {
      this.p.write(chunks[i]!);
      if (this.err) throw this.err;
    }
    return t.messages;
  }
}

/**
 * redis-parser (the parser inside ioredis and node-redis) with returnBuffers. It parses
 * replies, but a request is an array of bulk strings, valid RESP for it too.
 */
export class RedisParserRequests implements Adapter {
  readonly name = "redis-parser";
  readonly produces = "an Array of Buffer views per command (bulks cut by a chunk are copied into its pool)";
  readonly tally = newTally();
  private readonly p: RedisParserInstance;
  private err: Error | null = null;

  constructor() {
    const t = this.tally;
    this.p = new RedisParser({
      returnBuffers: true,
      returnReply: (v) => consumeArray(t, v),
      returnError: (e) => (this.err = e),
    });
  }

  run(chunks: readonly Buffer[]): number {
    const t = this.tally;
    t.messages = t.args = t.argBytes = 0;
    for (let i = 0; i < chunks.length; i++) {
      this.p.execute(chunks[i]!);
      if (this.err) throw this.err;
    }
    return t.messages;
  }
}

// ---------------------------------------------------------------------------------------
// Replies. The proxy needs only where each reply ends (it forwards the bytes); the other two
// build the reply as JS values. argBytes here is the bytes of the replies slotway delimited,
// and stays 0 for the others.

/** slotway's ReplyScanner as BackendConn drives it. */
export class SlotwayReplies implements Adapter {
  readonly name = "slotway ReplyScanner";
  readonly produces = "[start,end) and type byte of each whole reply; no value is built";
  readonly tally = newTally();
  private readonly sc = new ReplyScanner(MAX_REPLY);
  private readonly reader = new ChunkReader(new ReplyScanner(MAX_REPLY), MAX_REPLY);

  run(chunks: readonly Buffer[]): number {
    const t = this.tally;
    t.messages = t.argBytes = t.assembled = 0;
    if (chunks.length === 1) {
      const buf = chunks[0]!;
      const sc = this.sc;
      const end = buf.length;
      let pos = 0;
      for (;;) {
        const st = sc.scan(buf, pos, end);
        if (st !== ScanStatus.Complete) {
          if (st === ScanStatus.Error) throw new Error(sc.error);
          break;
        }
        t.messages++;
        t.argBytes += sc.next - sc.replyStart;
        pos = sc.next;
      }
    } else {
      const reader = this.reader;
      const sc = reader.scanner;
      for (let i = 0; i < chunks.length; i++) {
        const chunk = chunks[i]!;
        reader.push(chunk);
        for (;;) {
          const st = reader.next();
          if (st === ScanStatus.Incomplete) break;
          if (st === ScanStatus.Error) throw new Error(reader.tooLarge ? "reply too large" : sc.error);
          if (reader.buf !== chunk) t.assembled++;
          t.messages++;
          t.argBytes += sc.next - sc.replyStart;
        }
      }
    }
    return t.messages;
  }
}

export class RespjsReplies implements Adapter {
  readonly name = "respjs";
  readonly produces = "the decoded reply (string / Buffer view / Array), via an EventEmitter";
  readonly tally = newTally();
  private readonly p = new Respjs({ bufBulk: true });
  private err: Error | null = null;

  constructor() {
    const t = this.tally;
    this.p.on("data", () => t.messages++);
    this.p.on("error", (e) => (this.err = e));
  }

  run(chunks: readonly Buffer[]): number {
    this.tally.messages = 0;
    for (let i = 0; i < chunks.length; i++) {
      this.p.write(chunks[i]!);
      if (this.err) throw this.err;
    }
    return this.tally.messages;
  }
}

export class RedisParserReplies implements Adapter {
  readonly name = "redis-parser";
  readonly produces = "the decoded reply (Buffer view / Array / ReplyError) via a callback";
  readonly tally = newTally();
  private readonly p: RedisParserInstance;
  private err: Error | null = null;

  constructor() {
    const t = this.tally;
    this.p = new RedisParser({
      returnBuffers: true,
      returnReply: () => t.messages++,
      // A '-ERR' reply is a normal reply here; only a fatal (protocol) error stops the run.
      returnError: () => t.messages++,
      returnFatalError: (e) => (this.err = e),
    });
  }

  run(chunks: readonly Buffer[]): number {
    this.tally.messages = 0;
    for (let i = 0; i < chunks.length; i++) {
      this.p.execute(chunks[i]!);
      if (this.err) throw this.err;
    }
    return this.tally.messages;
  }
}

/** Which reply types each parser understands: the others cannot take RESP3 (%, ~, #, ,, _ ...). */
export const RESP3_SUPPORT: Record<string, boolean> = {
  "slotway ReplyScanner": true,
  respjs: false,
  "redis-parser": false,
};
