// RESP scanners: resumable byte state machines that find message boundaries and argument
// offsets in a receive buffer without copying bytes or making a string or object per argument.
//
//   RequestScanner  client → proxy: arrays of bulk strings ("*2\r\n$3\r\nGET\r\n$1\r\nk\r\n")
//                   and inline commands ("GET k\r\n"). Records [start, end) of every argument in
//                   a reused Int32Array.
//   ReplyScanner    backend → proxy: one complete reply of any RESP2 or RESP3 type, nested
//                   to any depth, including attributes (|), push frames (>) and the streamed
//                   forms ($? with ;chunks, *? / %? / ~? with the '.' terminator).
//
// Both resume across chunks: when a message is incomplete they keep their state, and the
// caller may move the unconsumed tail into another buffer and call rebase(delta) so that
// the saved positions follow the bytes. No byte is examined twice except the few bytes of a
// header line that was cut in the middle.
//
// Limits are checked before anything is allocated (Valkey's habit): argument count, bulk
// length and inline line length each fail with their own protocol error text.

export const enum ScanStatus {
  Error = -1,
  Incomplete = 0,
  Complete = 1,
}

export interface ScanLimits {
  /** Arguments per command (codis: 1,048,576). */
  maxArgs: number;
  /** Length of one bulk string (Redis proto-max-bulk-len: 512 MiB). */
  maxBulk: number;
  /** Length of an inline command line, and of any header line (Redis: 64 KiB). */
  maxInline: number;
}

export const DEFAULT_LIMITS: ScanLimits = {
  maxArgs: 1024 * 1024,
  maxBulk: 512 * 1024 * 1024,
  maxInline: 64 * 1024,
};

const CR = 13;
const LF = 10;

// Request scanner states.
const R_START = 0; // at the first byte of a request
const R_ARG_HEADER = 1; // expecting "$<len>\r\n" of argument argi
const R_ARG_DATA = 2; // expecting <len> bytes + "\r\n" of argument argi
const R_INLINE = 3; // inside an inline line; cursor = how far we searched for '\n'

/**
 * Finds a request's boundaries and its arguments' offsets.
 *
 * After scan() returns Complete: argc, offsets (start/end pairs, argument i at
 * offsets[2i], offsets[2i+1]), reqStart / next (the request's byte range) refer to the buffer
 * passed in — or, for an inline request, to `inlineBuf`, a RESP re-encoding of the line
 * (inline === true), since inline arguments may be unescaped and cannot be forwarded as is.
 */
export class RequestScanner {
  argc = 0;
  offsets: Int32Array = new Int32Array(64);
  reqStart = 0;
  /** Position just after the last complete request (in the scanned buffer). */
  next = 0;
  inline = false;
  inlineBuf: Buffer | null = null;
  /** Protocol error text (without "ERR "), set when scan() returns Error. */
  error = "";

  private state = R_START;
  private cursor = 0;
  private argi = 0;
  private bulkLen = 0;

  /**
   * Before a client has authenticated, Redis's own stricter bounds apply (at most 10
   * arguments of at most 16 KiB), so an anonymous client cannot make the proxy buffer much.
   */
  unauthenticated = false;

  constructor(private readonly limits: ScanLimits = DEFAULT_LIMITS) {}

  /** True when a request has been started but not finished (a tail must be kept). */
  get partial(): boolean {
    return this.state !== R_START;
  }

  /** Where the current (possibly partial) request starts. */
  get start(): number {
    return this.reqStart;
  }

  /**
   * Lower bound of the buffer length (in the current buffer's coordinates) needed to make
   * progress: known exactly inside a bulk payload, otherwise one more byte.
   */
  get needEnd(): number {
    return this.state === R_ARG_DATA ? this.cursor + this.bulkLen + 2 : this.cursor + 1;
  }

  /** Shifts every saved position by -delta after the caller moved the unconsumed bytes. */
  rebase(delta: number): void {
    this.cursor -= delta;
    this.reqStart -= delta;
    const o = this.offsets;
    for (let i = 0, n = this.argi * 2; i < n; i++) o[i] -= delta;
  }

  /** Forgets any partial request (after a protocol error, or when a session closes). */
  reset(): void {
    this.state = R_START;
    this.argc = 0;
    this.argi = 0;
  }

  /**
   * Scans one request starting at pos (or resumes the partial one, ignoring pos) in
   * buf[.., end). Empty requests ("*0\r\n", blank inline lines) are skipped.
   */
  scan(buf: Buffer, pos: number, end: number): ScanStatus {
    for (;;) {
      if (this.state === R_START) {
        if (pos >= end) {
          this.next = pos;
          return ScanStatus.Incomplete;
        }
        this.reqStart = this.cursor = pos;
        this.inline = false;
        if (buf[pos] !== 0x2a /* * */) {
          this.state = R_INLINE;
        } else {
          // "*<n>\r\n"
          const n = readIntLine(buf, pos + 1, end, true);
          if (n === NEED_MORE) {
            if (end - pos > this.limits.maxInline) return this.fail("too big mbulk count string");
            this.state = R_ARG_HEADER; // resume by re-reading the header (it is short)
            this.argi = -1;
            return ScanStatus.Incomplete;
          }
          if (n === BAD_INT || n > this.limits.maxArgs) return this.fail("invalid multibulk length");
          if (this.unauthenticated && n > 10) return this.fail("unauthenticated multibulk length");
          pos = intLineEnd;
          if (n <= 0) continue; // "*0" / "*-1": nothing to run, like Redis
          this.argc = n;
          this.argi = 0;
          this.cursor = pos;
          this.state = R_ARG_HEADER;
        }
      }
      if (this.state === R_INLINE) {
        const r = this.scanInline(buf, end);
        if (r !== SKIP) return r;
        // A blank line: skip it, as Redis does, and look at what follows.
        pos = this.next;
        this.state = R_START;
        continue;
      }
      if (this.argi === -1) {
        // The multibulk header itself was cut: read this request again from its first byte.
        pos = this.reqStart;
        this.state = R_START;
        continue;
      }
      return this.scanArgs(buf, end);
    }
  }

  private scanArgs(buf: Buffer, end: number): ScanStatus {
    let pos = this.cursor;
    let o = this.offsets;
    const argc = this.argc;
    while (this.argi < argc) {
      if (this.state === R_ARG_HEADER) {
        if (pos >= end) break;
        if (buf[pos] !== 0x24 /* $ */) {
          return this.fail(`expected '$', got '${String.fromCharCode(buf[pos]!)}'`);
        }
        const n = readIntLine(buf, pos + 1, end, true);
        if (n === NEED_MORE) {
          if (end - pos > this.limits.maxInline) return this.fail("too big bulk count string");
          break;
        }
        if (n === BAD_INT || n < 0 || n > this.limits.maxBulk) return this.fail("invalid bulk length");
        if (this.unauthenticated && n > 16384) return this.fail("unauthenticated bulk length");
        pos = intLineEnd;
        this.bulkLen = n;
        this.state = R_ARG_DATA;
      }
      // R_ARG_DATA
      const dataEnd = pos + this.bulkLen;
      if (dataEnd + 2 > end) break;
      if (buf[dataEnd] !== CR || buf[dataEnd + 1] !== LF) return this.fail("invalid bulk format");
      const i2 = this.argi * 2;
      if (i2 + 2 > o.length) o = this.growOffsets(i2 + 2);
      o[i2] = pos;
      o[i2 + 1] = dataEnd;
      this.argi++;
      pos = dataEnd + 2;
      this.state = R_ARG_HEADER;
    }
    this.cursor = pos;
    if (this.argi < argc) return ScanStatus.Incomplete;
    this.next = pos;
    this.state = R_START;
    return ScanStatus.Complete;
  }

  private scanInline(buf: Buffer, end: number): ScanStatus | typeof SKIP {
    {
      const nl = buf.indexOf(LF, this.cursor);
      if (nl < 0 || nl >= end) {
        if (end - this.reqStart > this.limits.maxInline) return this.fail("too big inline request");
        this.cursor = end;
        return ScanStatus.Incomplete;
      }
      if (nl - this.reqStart > this.limits.maxInline) return this.fail("too big inline request");
      let lineEnd = nl;
      if (lineEnd > this.reqStart && buf[lineEnd - 1] === CR) lineEnd--;
      const args = splitInlineArgs(buf, this.reqStart, lineEnd);
      if (args === null) return this.fail("unbalanced quotes in request");
      if (args.length === 0) {
        this.next = nl + 1;
        return SKIP;
      }
      if (args.length > this.limits.maxArgs) return this.fail("invalid multibulk length");
      this.encodeInline(args);
      this.next = nl + 1;
      this.state = R_START;
      return ScanStatus.Complete;
    }
  }

  private encodeInline(args: Buffer[]): void {
    let size = 16;
    for (const a of args) size += a.length + 16;
    const out = Buffer.allocUnsafe(size);
    let p = out.write(`*${args.length}\r\n`, 0, "latin1");
    if (args.length * 2 > this.offsets.length) this.growOffsets(args.length * 2);
    const o = this.offsets;
    for (let i = 0; i < args.length; i++) {
      const a = args[i]!;
      p += out.write(`$${a.length}\r\n`, p, "latin1");
      o[2 * i] = p;
      p += a.copy(out, p);
      o[2 * i + 1] = p;
      out[p++] = CR;
      out[p++] = LF;
    }
    this.argc = args.length;
    this.argi = 0;
    this.inline = true;
    this.inlineBuf = out.subarray(0, p);
  }

  private growOffsets(min: number): Int32Array {
    // Grows with the arguments actually received, never with a claimed count, so a header
    // announcing a million arguments costs nothing until they arrive.
    let cap = this.offsets.length * 2;
    while (cap < min) cap *= 2;
    const o = new Int32Array(cap);
    o.set(this.offsets);
    this.offsets = o;
    return o;
  }

  private fail(msg: string): ScanStatus {
    this.error = `Protocol error: ${msg}`;
    this.state = R_START;
    return ScanStatus.Error;
  }
}

const NEED_MORE = -0x7ffffffe;
const SKIP = 2;
const BAD_INT = -0x7fffffff;

/**
 * Splits an inline command line like Redis's sdssplitargs: whitespace separates arguments;
 * "double quotes" understand \n \r \t \b \a \\ \" and \xHH; 'single quotes' understand \'.
 * A closing quote must be followed by whitespace or the end. Returns null on unbalanced quotes.
 */
export function splitInlineArgs(buf: Uint8Array, start: number, end: number): Buffer[] | null {
  const args: Buffer[] = [];
  let p = start;
  const isSpace = (c: number) => c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d || c === 0x0b || c === 0x0c;
  for (;;) {
    while (p < end && isSpace(buf[p]!)) p++;
    if (p >= end) return args;
    const cur: number[] = [];
    let inDq = false;
    let inSq = false;
    for (;;) {
      if (inDq) {
        if (p >= end) return null;
        const c = buf[p]!;
        if (c === 0x5c /* \ */ && p + 3 < end && buf[p + 1] === 0x78 /* x */ && isHex(buf[p + 2]!) && isHex(buf[p + 3]!)) {
          cur.push(hexVal(buf[p + 2]!) * 16 + hexVal(buf[p + 3]!));
          p += 4;
        } else if (c === 0x5c && p + 1 < end) {
          p++;
          const e = buf[p]!;
          cur.push(e === 0x6e ? 10 : e === 0x72 ? 13 : e === 0x74 ? 9 : e === 0x62 ? 8 : e === 0x61 ? 7 : e);
          p++;
        } else if (c === 0x22 /* " */) {
          p++;
          if (p < end && !isSpace(buf[p]!)) return null;
          inDq = false;
          break;
        } else {
          cur.push(c);
          p++;
        }
      } else if (inSq) {
        if (p >= end) return null;
        const c = buf[p]!;
        if (c === 0x5c && p + 1 < end && buf[p + 1] === 0x27 /* ' */) {
          cur.push(0x27);
          p += 2;
        } else if (c === 0x27) {
          p++;
          if (p < end && !isSpace(buf[p]!)) return null;
          inSq = false;
          break;
        } else {
          cur.push(c);
          p++;
        }
      } else {
        if (p >= end) break;
        const c = buf[p]!;
        if (isSpace(c)) break;
        if (c === 0x22) inDq = true;
        else if (c === 0x27) inSq = true;
        else cur.push(c);
        p++;
      }
    }
    args.push(Buffer.from(cur));
  }
}

function isHex(c: number): boolean {
  return (c >= 0x30 && c <= 0x39) || (c >= 0x61 && c <= 0x66) || (c >= 0x41 && c <= 0x46);
}
function hexVal(c: number): number {
  return c <= 0x39 ? c - 0x30 : (c | 0x20) - 0x61 + 10;
}

// ---------------------------------------------------------------------------------------
// Reply scanner

// Frame kinds on the nesting stack.
const F_COUNTED = 0; // array/set/push/map with a known number of elements left
const F_ATTR = 1; // attribute: its elements do not count as an element of the parent
const F_STREAMED = 2; // "*?" aggregate: ends at ".\r\n"

// Reply scanner states.
const P_VALUE = 0; // expecting the type byte of a value
const P_BULK_DATA = 1; // inside a bulk/verbatim/blob-error payload (bulkLen bytes + CRLF left)
const P_STREAM_CHUNK = 2; // inside a streamed string, expecting ";<len>\r\n"
const P_STREAM_DATA = 3; // inside a streamed string chunk payload

/**
 * Finds the end of one complete reply. After Complete: replyStart / next give its byte
 * range, `type` its first byte, and `push` tells a RESP3 push frame (out-of-band data that
 * answers no request).
 */
export class ReplyScanner {
  replyStart = 0;
  next = 0;
  type = 0;
  push = false;
  error = "";

  private state = P_VALUE;
  private cursor = 0;
  private depth = 0;
  private frameKind: Int8Array = new Int8Array(16);
  private frameLeft: Float64Array = new Float64Array(16);
  private bulkLen = 0;
  private started = false;

  constructor(private readonly maxBulk = DEFAULT_LIMITS.maxBulk, private readonly maxDepth = 1024) {}

  get partial(): boolean {
    return this.started;
  }

  /** Where the current (possibly partial) reply starts. */
  get start(): number {
    return this.replyStart;
  }

  /** Lower bound of the buffer end needed to progress (exact inside a bulk payload). */
  get needEnd(): number {
    return this.state === P_BULK_DATA || this.state === P_STREAM_DATA
      ? this.cursor + this.bulkLen + 2
      : this.cursor + 1;
  }

  rebase(delta: number): void {
    this.cursor -= delta;
    this.replyStart -= delta;
  }

  reset(): void {
    this.state = P_VALUE;
    this.depth = 0;
    this.started = false;
  }

  /** Scans one reply starting at pos (or resumes the partial one, ignoring pos). */
  scan(buf: Uint8Array, pos: number, end: number): ScanStatus {
    if (!this.started) {
      if (pos >= end) return ScanStatus.Incomplete;
      this.replyStart = this.cursor = pos;
      this.type = buf[pos]!;
      this.push = this.type === 0x3e; /* > */
      this.started = true;
      // Fast path for the common single-frame replies, complete in this buffer.
      const t = this.type;
      if (t === 0x24 /* $ */) {
        const n = readIntLine(buf, pos + 1, end);
        if (n >= -1 && n <= this.maxBulk) {
          const e = n < 0 ? intLineEnd : intLineEnd + n + 2;
          if (e <= end && (n < 0 || (buf[e - 2] === CR && buf[e - 1] === LF))) {
            return this.done(e);
          }
        }
      } else if (t === 0x2b /* + */ || t === 0x3a /* : */ || t === 0x2d /* - */) {
        const cr = findCR(buf, pos + 1, end);
        if (cr >= 0 && cr + 1 < end && buf[cr + 1] === LF) return this.done(cr + 2);
      }
    }
    return this.scanSlow(buf, end);
  }

  private done(next: number): ScanStatus {
    this.next = next;
    this.state = P_VALUE;
    this.depth = 0;
    this.started = false;
    return ScanStatus.Complete;
  }

  private fail(msg: string): ScanStatus {
    this.error = `Protocol error: ${msg}`;
    this.reset();
    return ScanStatus.Error;
  }

  private scanSlow(buf: Uint8Array, end: number): ScanStatus {
    let pos = this.cursor;
    for (;;) {
      switch (this.state) {
        case P_BULK_DATA:
        case P_STREAM_DATA: {
          const e = pos + this.bulkLen;
          if (e + 2 > end) {
            this.cursor = pos;
            return ScanStatus.Incomplete;
          }
          if (buf[e] !== CR || buf[e + 1] !== LF) return this.fail("invalid bulk format");
          pos = e + 2;
          if (this.state === P_STREAM_DATA) {
            this.state = P_STREAM_CHUNK; // the next ";<len>" chunk of a streamed string
            continue;
          }
          this.state = P_VALUE;
          if (this.elementDone()) return this.done(pos);
          continue;
        }
        case P_STREAM_CHUNK: {
          if (pos >= end) {
            this.cursor = pos;
            return ScanStatus.Incomplete;
          }
          if (buf[pos] !== 0x3b /* ; */) return this.fail("expected ';' in streamed string");
          const n = readIntLine(buf, pos + 1, end);
          if (n === NEED_MORE) {
            this.cursor = pos;
            return ScanStatus.Incomplete;
          }
          if (n < 0 || n > this.maxBulk) return this.fail("invalid bulk length");
          pos = intLineEnd;
          if (n === 0) {
            this.state = P_VALUE;
            if (this.elementDone()) return this.done(pos);
            continue;
          }
          this.bulkLen = n;
          this.state = P_STREAM_DATA;
          continue;
        }
      }
      // P_VALUE: read one value header.
      if (pos >= end) {
        this.cursor = pos;
        return ScanStatus.Incomplete;
      }
      const t = buf[pos]!;
      switch (t) {
        case 0x2b: // + simple string
        case 0x2d: // - error
        case 0x3a: // : integer
        case 0x5f: // _ null
        case 0x23: // # boolean
        case 0x2c: // , double
        case 0x28: { // ( big number
          const cr = findCR(buf, pos + 1, end);
          if (cr < 0 || cr + 1 >= end) {
            // Status and error lines have no length header; the backend is trusted and the
            // reader bounds the whole message, so only the reply size limit applies.
            if (end - pos > this.maxBulk) return this.fail("too big line");
            this.cursor = pos;
            return ScanStatus.Incomplete;
          }
          if (buf[cr + 1] !== LF) return this.fail("invalid line ending");
          pos = cr + 2;
          if (this.elementDone()) return this.done(pos);
          continue;
        }
        case 0x2e: { // . end of a streamed aggregate
          if (pos + 3 > end) {
            this.cursor = pos;
            return ScanStatus.Incomplete;
          }
          if (buf[pos + 1] !== CR || buf[pos + 2] !== LF) return this.fail("invalid line ending");
          if (this.depth === 0 || this.frameKind[this.depth - 1] !== F_STREAMED) {
            return this.fail("unexpected '.'");
          }
          pos += 3;
          this.depth--;
          if (this.elementDone()) return this.done(pos);
          continue;
        }
        case 0x24: // $ bulk string
        case 0x21: // ! blob error
        case 0x3d: { // = verbatim string
          if (pos + 1 < end && buf[pos + 1] === 0x3f /* ? */) {
            const e = lineEnd(buf, pos + 2, end);
            if (e === NEED_MORE) {
              this.cursor = pos;
              return ScanStatus.Incomplete;
            }
            if (e !== pos + 4) return this.fail("invalid streamed string header");
            pos = e;
            this.state = P_STREAM_CHUNK;
            continue;
          }
          const n = readIntLine(buf, pos + 1, end);
          if (n === NEED_MORE) {
            if (end - pos > 64) return this.fail("too big bulk count string");
            this.cursor = pos;
            return ScanStatus.Incomplete;
          }
          if (n === BAD_INT || n < -1 || n > this.maxBulk) return this.fail("invalid bulk length");
          pos = intLineEnd;
          if (n === -1) {
            if (this.elementDone()) return this.done(pos);
            continue;
          }
          this.bulkLen = n;
          this.state = P_BULK_DATA;
          continue;
        }
        case 0x2a: // * array
        case 0x25: // % map
        case 0x7e: // ~ set
        case 0x3e: // > push
        case 0x7c: { // | attribute
          if (pos + 1 < end && buf[pos + 1] === 0x3f /* ? */) {
            const e = lineEnd(buf, pos + 2, end);
            if (e === NEED_MORE) {
              this.cursor = pos;
              return ScanStatus.Incomplete;
            }
            if (e !== pos + 4) return this.fail("invalid streamed aggregate header");
            pos = e;
            if (!this.pushFrame(F_STREAMED, 0)) return this.fail("reply nested too deep");
            continue;
          }
          const n = readIntLine(buf, pos + 1, end);
          if (n === NEED_MORE) {
            if (end - pos > 64) return this.fail("too big mbulk count string");
            this.cursor = pos;
            return ScanStatus.Incomplete;
          }
          if (n === BAD_INT || n < -1) return this.fail("invalid multibulk length");
          pos = intLineEnd;
          const count = t === 0x25 || t === 0x7c ? n * 2 : n;
          if (count <= 0) {
            // Empty or null aggregate: a complete element (an empty attribute annotates the
            // value that follows, so it completes nothing).
            if (t === 0x7c) continue;
            if (this.elementDone()) return this.done(pos);
            continue;
          }
          if (!this.pushFrame(t === 0x7c ? F_ATTR : F_COUNTED, count)) {
            return this.fail("reply nested too deep");
          }
          continue;
        }
        default:
          return this.fail(`unknown reply type '${printable(t)}'`);
      }
    }
  }

  private pushFrame(kind: number, count: number): boolean {
    if (this.depth >= this.maxDepth) return false;
    if (this.depth === this.frameKind.length) {
      const k = new Int8Array(this.depth * 2);
      k.set(this.frameKind);
      this.frameKind = k;
      const l = new Float64Array(this.depth * 2);
      l.set(this.frameLeft);
      this.frameLeft = l;
    }
    this.frameKind[this.depth] = kind;
    this.frameLeft[this.depth] = count;
    this.depth++;
    return true;
  }

  /**
   * Records that one value finished; pops finished frames. Returns true when the top-level
   * reply is complete.
   */
  private elementDone(): boolean {
    for (;;) {
      if (this.depth === 0) return true;
      const d = this.depth - 1;
      const kind = this.frameKind[d]!;
      if (kind === F_STREAMED) return false;
      if (--this.frameLeft[d]! > 0) return false;
      this.depth--;
      // A finished attribute is not a value: the annotated value still follows.
      if (kind === F_ATTR) return false;
    }
  }
}

let intLineEnd = 0;

/**
 * Reads "<int>\r\n" at pos and sets intLineEnd; NEED_MORE or BAD_INT otherwise. strict
 * refuses leading zeros, as Redis's string2ll does for request headers: headers are then
 * canonical, which lets split commands copy an argument's "$<len>\r\n" from the client's
 * bytes.
 */
function readIntLine(buf: Uint8Array, pos: number, end: number, strict = false): number {
  let neg = false;
  let n = 0;
  let digits = 0;
  if (pos < end && buf[pos] === 0x2d) {
    neg = true;
    pos++;
  }
  for (;;) {
    if (pos >= end) return NEED_MORE;
    const c = buf[pos]!;
    if (c >= 0x30 && c <= 0x39) {
      // Canonical only: no "0" followed by a digit, and no "-0".
      if (strict && ((digits === 1 && n === 0) || (neg && digits === 0 && c === 0x30))) return BAD_INT;
      n = n * 10 + (c - 0x30);
      if (++digits > 15) return BAD_INT;
      pos++;
      continue;
    }
    if (c !== CR || digits === 0) return BAD_INT;
    if (pos + 1 >= end) return NEED_MORE;
    if (buf[pos + 1] !== LF) return BAD_INT;
    intLineEnd = pos + 2;
    return neg ? -n : n;
  }
}

/** Position after the "\r\n" ending the line that starts at pos, or NEED_MORE. */
function lineEnd(buf: Uint8Array, pos: number, end: number): number {
  const cr = findCR(buf, pos, end);
  if (cr < 0 || cr + 1 >= end) return NEED_MORE;
  return cr + 2;
}

/** Index of the next CR in buf[pos, end), or -1. Short lines are scanned inline. */
function findCR(buf: Uint8Array, pos: number, end: number): number {
  const stop = pos + 32 < end ? pos + 32 : end;
  for (let i = pos; i < stop; i++) if (buf[i] === CR) return i;
  if (stop === end) return -1;
  const i = buf.indexOf(CR, stop);
  return i < 0 || i >= end ? -1 : i;
}

function printable(c: number): string {
  return c >= 0x20 && c < 0x7f ? String.fromCharCode(c) : `\\x${c.toString(16).padStart(2, "0")}`;
}

/** Parses the integer of a complete ":<n>\r\n" reply at pos (for merging DEL/EXISTS counts). */
export function parseIntegerReply(buf: Uint8Array, pos: number, end: number): number | undefined {
  if (buf[pos] !== 0x3a) return undefined;
  const n = readIntLine(buf, pos + 1, end);
  return n === NEED_MORE || n === BAD_INT ? undefined : n;
}

/**
 * Splits a complete aggregate reply ("*<n>\r\n" + n values) at buf[pos, end) into the
 * [start, end) ranges of its elements (pairs in out). Returns the element count, or -1 when
 * it is not a well-formed array or set.
 */
export function splitArrayReply(buf: Uint8Array, pos: number, end: number, out: number[]): number {
  out.length = 0;
  const t = buf[pos];
  if (t !== 0x2a && t !== 0x7e) return -1;
  const n = readIntLine(buf, pos + 1, end);
  if (n < 0) return -1;
  let p = intLineEnd;
  const sc = elementScanner;
  sc.reset();
  for (let i = 0; i < n; i++) {
    if (sc.scan(buf, p, end) !== ScanStatus.Complete) return -1;
    out.push(p, sc.next);
    p = sc.next;
  }
  return n;
}

const elementScanner = new ReplyScanner();
