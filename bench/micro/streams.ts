// Byte streams for `npm run bench:micro`: what a proxy reads from clients (requests) and from
// backends (replies), built once, deterministically (seeded), and cut into chunks the way a
// socket delivers them. No I/O and no timing here, so the unit test can check every builder.

/** A deterministic PRNG (mulberry32): the same seed gives the same streams in every run. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** "key:" + 12 digits, 16 bytes: the key shape of the brief (and of redis-benchmark's __rand_int__). */
export function keyName(n: number): string {
  return "key:" + String(n).padStart(12, "0");
}

/** RESP2 array of bulk strings, exactly what a client library writes for one command. */
export function encodeCommand(args: ReadonlyArray<string | Buffer>): Buffer {
  const parts: Buffer[] = [Buffer.from(`*${args.length}\r\n`, "latin1")];
  for (const a of args) {
    const b = typeof a === "string" ? Buffer.from(a, "latin1") : a;
    parts.push(Buffer.from(`$${b.length}\r\n`, "latin1"), b, CRLF);
  }
  return Buffer.concat(parts);
}

const CRLF = Buffer.from("\r\n", "latin1");

/** A stream of messages with the totals every parser must reproduce. */
export interface Stream {
  name: string;
  buf: Buffer;
  /** Commands (requests) or top-level replies in buf. */
  messages: number;
  /** Request streams: arguments in all commands, and the sum of their lengths. */
  args: number;
  argBytes: number;
}

/** Printable filler without '{' or '}', so hashing and tag scanning see plain keys. */
function filler(len: number, next: () => number): Buffer {
  const b = Buffer.allocUnsafe(len);
  for (let i = 0; i < len; i++) b[i] = 0x61 + Math.floor(next() * 26);
  return b;
}

function requestStream(name: string, cmds: Buffer[][]): Stream {
  let args = 0;
  let argBytes = 0;
  const bufs: Buffer[] = [];
  for (const c of cmds) {
    args += c.length;
    for (const a of c) argBytes += a.length;
    bufs.push(encodeCommand(c));
  }
  return { name, buf: Buffer.concat(bufs), messages: cmds.length, args, argBytes };
}

/** (a) Alternating GET key / SET key <valueSize-byte value>, random keys in a 10^6 key space. */
export function getSetStream(count: number, valueSize = 100, seed = 1): Stream {
  const next = rng(seed);
  const GET = Buffer.from("GET");
  const SET = Buffer.from("SET");
  const cmds: Buffer[][] = [];
  for (let i = 0; i < count; i++) {
    const key = Buffer.from(keyName(Math.floor(next() * 1e6)), "latin1");
    cmds.push(i % 2 === 0 ? [GET, key] : [SET, key, filler(valueSize, next)]);
  }
  return requestStream(`GET/SET ${valueSize} B`, cmds);
}

/** (b) MGET of `keys` random keys per command. */
export function mgetStream(count: number, keys = 10, seed = 2): Stream {
  const next = rng(seed);
  const MGET = Buffer.from("MGET");
  const cmds: Buffer[][] = [];
  for (let i = 0; i < count; i++) {
    const c = [MGET];
    for (let k = 0; k < keys; k++) c.push(Buffer.from(keyName(Math.floor(next() * 1e6)), "latin1"));
    cmds.push(c);
  }
  return requestStream(`MGET ${keys} keys`, cmds);
}

/** (c) SET of `count` large values (10 MiB in the bench); one shared value keeps memory low. */
export function bigSetStream(count: number, valueSize = 10 * 1024 * 1024, seed = 3): Stream {
  const next = rng(seed);
  const SET = Buffer.from("SET");
  const value = Buffer.alloc(valueSize, "v");
  const cmds: Buffer[][] = [];
  for (let i = 0; i < count; i++) cmds.push([SET, Buffer.from(keyName(Math.floor(next() * 1e6)), "latin1"), value]);
  return requestStream(`SET ${valueSize >= 1 << 20 ? `${valueSize / (1 << 20)} MiB` : `${valueSize} B`}`, cmds);
}

function replyStream(name: string, one: Buffer, count: number): Stream {
  const buf = Buffer.allocUnsafe(one.length * count);
  for (let i = 0; i < count; i++) one.copy(buf, i * one.length);
  return { name, buf, messages: count, args: 0, argBytes: 0 };
}

/** `+OK` replies (SET). */
export function okReplies(count: number): Stream {
  return replyStream("+OK", Buffer.from("+OK\r\n", "latin1"), count);
}

/** `$<size>` bulk replies (GET of a `size`-byte value). */
export function bulkReplies(count: number, size = 100, seed = 4): Stream {
  const v = filler(size, rng(seed));
  return replyStream(`$${size} bulk`, Buffer.concat([Buffer.from(`$${size}\r\n`, "latin1"), v, CRLF]), count);
}

/** `*<n>` arrays of `size`-byte bulks (an MGET reply). */
export function arrayReplies(count: number, n = 10, size = 100, seed = 5): Stream {
  const next = rng(seed);
  const parts: Buffer[] = [Buffer.from(`*${n}\r\n`, "latin1")];
  for (let i = 0; i < n; i++) parts.push(Buffer.from(`$${size}\r\n`, "latin1"), filler(size, next), CRLF);
  return replyStream(`*${n} of $${size}`, Buffer.concat(parts), count);
}

/**
 * Nested RESP3 replies: a map whose values are an array of a boolean and a double, a set of
 * bulks, a map holding a null, and an integer (the shapes HELLO 3 / HGETALL / SMEMBERS give).
 */
export const RESP3_NESTED =
  "%4\r\n" +
  "$4\r\nflag\r\n*2\r\n#t\r\n,3.14\r\n" +
  "$7\r\nmembers\r\n~3\r\n$5\r\nalpha\r\n$4\r\nbeta\r\n$5\r\ngamma\r\n" +
  "$5\r\ninner\r\n%1\r\n$1\r\nk\r\n_\r\n" +
  "$5\r\ncount\r\n:12345\r\n";

export function resp3Replies(count: number): Stream {
  return replyStream("RESP3 nested %4", Buffer.from(RESP3_NESTED, "latin1"), count);
}

/** Cuts buf into views of `size` bytes (the last one shorter): a socket read at full speed. */
export function fixedChunks(buf: Buffer, size: number): Buffer[] {
  const out: Buffer[] = [];
  for (let p = 0; p < buf.length; p += size) out.push(buf.subarray(p, Math.min(p + size, buf.length)));
  return out;
}

/**
 * Cuts buf into views of random sizes, log-uniform in [min, max]: many reads are small and some
 * are large, so cuts land inside headers, inside payloads and on boundaries alike.
 */
export function randomChunks(buf: Buffer, min: number, max: number, seed = 7): Buffer[] {
  const next = rng(seed);
  const lmin = Math.log(min);
  const span = Math.log(max) - lmin;
  const out: Buffer[] = [];
  let p = 0;
  while (p < buf.length) {
    const n = Math.max(1, Math.round(Math.exp(lmin + next() * span)));
    out.push(buf.subarray(p, Math.min(p + n, buf.length)));
    p += n;
  }
  return out;
}

/** Keys of `len` bytes at random, unaligned offsets in one large buffer, as keys sit in a read slab. */
export interface KeySet {
  buf: Buffer;
  starts: Int32Array;
  len: number;
}

export function keySet(count: number, len: number, seed = 11): KeySet {
  const next = rng(seed);
  // Room for every key plus a random gap (0-63 bytes) before each, so offsets are unaligned.
  const buf = filler(count * (len + 64), next);
  const starts = new Int32Array(count);
  let p = 0;
  for (let i = 0; i < count; i++) {
    p += Math.floor(next() * 64);
    starts[i] = p;
    p += len;
  }
  return { buf, starts, len };
}
