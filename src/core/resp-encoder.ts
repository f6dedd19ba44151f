// RESP encoding helpers. The hot path forwards the client's original bytes and never
// encodes; these are for local replies, split sub-commands and merged replies.

import { copyRange, writeHeader } from "./bytes.js";

const CRLF = "\r\n";

export const OK = Buffer.from("+OK\r\n");
export const PONG = Buffer.from("+PONG\r\n");
export const NULL_BULK = Buffer.from("$-1\r\n");
export const NULL_RESP3 = Buffer.from("_\r\n");
export const EMPTY_ARRAY = Buffer.from("*0\r\n");

/** "+<text>\r\n"; text must not contain CR or LF. */
export function simpleString(text: string): Buffer {
  return Buffer.from(`+${text}${CRLF}`, "utf8");
}

/** "-<text>\r\n"; CR and LF in text are replaced by spaces so the frame stays valid. */
export function errorReply(text: string): Buffer {
  return Buffer.from(`-${text.replace(/[\r\n]+/g, " ")}${CRLF}`, "utf8");
}

export function integerReply(n: number | bigint): Buffer {
  return Buffer.from(`:${n}${CRLF}`, "latin1");
}

export function bulkReply(value: string | Buffer): Buffer {
  const b = typeof value === "string" ? Buffer.from(value, "utf8") : value;
  const head = `$${b.length}${CRLF}`;
  const out = Buffer.allocUnsafe(head.length + b.length + 2);
  out.write(head, 0, "latin1");
  b.copy(out, head.length);
  out[out.length - 2] = 13;
  out[out.length - 1] = 10;
  return out;
}

export function nullReply(resp3: boolean): Buffer {
  return resp3 ? NULL_RESP3 : NULL_BULK;
}

export function arrayHeader(n: number): Buffer {
  return Buffer.from(`*${n}${CRLF}`, "latin1");
}

/** A map header: "%n" in RESP3, an array of 2n in RESP2. */
export function mapHeader(n: number, resp3: boolean): Buffer {
  return Buffer.from(resp3 ? `%${n}${CRLF}` : `*${n * 2}${CRLF}`, "latin1");
}

/** A value that the encoder can turn into RESP (for local replies and the control plane). */
export type RespInput =
  | null
  | string
  | number
  | bigint
  | Buffer
  | { simple: string }
  | { error: string }
  | { map: [RespInput, RespInput][] }
  | RespInput[];

/** Encodes a value tree; strings become bulk strings, { simple } a status line. */
export function encodeValue(v: RespInput, resp3 = false): Buffer {
  const parts: Buffer[] = [];
  const walk = (x: RespInput): void => {
    if (x === null) parts.push(nullReply(resp3));
    else if (typeof x === "string" || Buffer.isBuffer(x)) parts.push(bulkReply(x));
    else if (typeof x === "number" || typeof x === "bigint") parts.push(integerReply(x));
    else if (Array.isArray(x)) {
      parts.push(arrayHeader(x.length));
      for (const e of x) walk(e);
    } else if ("simple" in x) parts.push(simpleString(x.simple));
    else if ("error" in x) parts.push(errorReply(x.error));
    else {
      parts.push(mapHeader(x.map.length, resp3));
      for (const [k, val] of x.map) {
        walk(k);
        walk(val);
      }
    }
  };
  walk(v);
  return parts.length === 1 ? parts[0]! : Buffer.concat(parts);
}

/** Encodes a command as an array of bulk strings. */
export function encodeCommand(args: readonly (string | number | Buffer | Uint8Array)[]): Buffer {
  let size = 16;
  const bufs: Buffer[] = new Array(args.length);
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    const b = Buffer.isBuffer(a)
      ? a
      : a instanceof Uint8Array
        ? Buffer.from(a.buffer, a.byteOffset, a.byteLength)
        : Buffer.from(String(a), "utf8");
    bufs[i] = b;
    size += b.length + 16;
  }
  const out = Buffer.allocUnsafe(size);
  let p = out.write(`*${args.length}${CRLF}`, 0, "latin1");
  for (const b of bufs) {
    p += out.write(`$${b.length}${CRLF}`, p, "latin1");
    p += b.copy(out, p);
    out[p++] = 13;
    out[p++] = 10;
  }
  return out.subarray(0, p);
}

/**
 * Encodes a command whose arguments are ranges of one buffer (a split sub-command built
 * from the client's bytes): head is the command name, then each [start, end) of src.
 */
export function encodeFromRanges(head: Buffer, src: Uint8Array, ranges: ArrayLike<number>, count: number): Buffer {
  let size = 32 + head.length;
  for (let i = 0; i < count; i++) size += ranges[2 * i + 1]! - ranges[2 * i]! + 16;
  const out = Buffer.allocUnsafe(size);
  let p = out.write(`*${count + 1}\r\n$${head.length}\r\n`, 0, "latin1");
  p += head.copy(out, p);
  out[p++] = 13;
  out[p++] = 10;
  for (let i = 0; i < count; i++) {
    const s = ranges[2 * i]!;
    const e = ranges[2 * i + 1]!;
    p += out.write(`$${e - s}\r\n`, p, "latin1");
    out.set(src.subarray(s, e), p);
    p += e - s;
    out[p++] = 13;
    out[p++] = 10;
  }
  return out.subarray(0, p);
}

/**
 * Builds "NAME k1 [v1] k2 [v2] ..." for the given keys from the client's request bytes: each
 * argument's "$<len>\r\n<bytes>\r\n" is copied as it stands (runs of neighbouring
 * arguments in one copy), so nothing is re-formatted. Valid for inline requests too, since
 * the scanner re-encodes those as RESP with canonical headers.
 */
export function encodeSubCommand(name: Buffer, buf: Buffer, args: Int32Array, keys: number[], stride: number): Buffer {
  const nargs = keys.length * stride + 1;
  // Each argument's encoding starts at its data offset minus its header "$<len>\r\n".
  let size = 0;
  for (let i = 0; i < keys.length; i++) {
    const first = 1 + keys[i]! * stride;
    const last = first + stride - 1;
    size += args[2 * last + 1]! + 2 - argEncodingStart(args, first);
  }
  const out = Buffer.allocUnsafe(32 + name.length + size);
  let p = writeHeader(out, 0, 0x2a /* * */, nargs);
  p += writeHeader(out, p, 0x24 /* $ */, name.length);
  p += copyRange(name, 0, name.length, out, p);
  out[p++] = 13;
  out[p++] = 10;
  let runStart = -1;
  let runEnd = -1;
  for (let i = 0; i < keys.length; i++) {
    const first = 1 + keys[i]! * stride;
    const last = first + stride - 1;
    const s = argEncodingStart(args, first);
    const e = args[2 * last + 1]! + 2;
    if (s === runEnd) {
      runEnd = e; // the next argument follows this run in the client's buffer
      continue;
    }
    if (runStart >= 0) p += copyRange(buf, runStart, runEnd, out, p);
    runStart = s;
    runEnd = e;
  }
  if (runStart >= 0) p += copyRange(buf, runStart, runEnd, out, p);
  return out.subarray(0, p);
}

/** Offset of argument i's "$<len>\r\n" header in the request buffer. */
function argEncodingStart(args: Int32Array, i: number): number {
  const dataStart = args[2 * i]!;
  const len = args[2 * i + 1]! - dataStart;
  return dataStart - 3 - decimalDigits(len);
}

function decimalDigits(n: number): number {
  let d = 1;
  while (n >= 10) {
    n = (n / 10) | 0;
    d++;
  }
  return d;
}
