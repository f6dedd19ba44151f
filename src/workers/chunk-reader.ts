// Drives a resumable scanner over a socket's stream of chunks.
//
// Messages that lie whole inside one chunk are handed out in place (zero copy: the caller
// gets the chunk and offsets). Only a message cut by a chunk boundary is copied, once, into
// an assembly buffer, and the scanner is rebased onto it so nothing is scanned twice; once
// that message is complete, reading goes back to the chunk itself. Assembly buffers are cut
// from a slab that is never written twice (like read-slab.ts), because slices of earlier
// messages may still be queued for writing elsewhere.
//
// A message that nobody will read (`discard`: its client went away) is assembled in one
// scratch buffer reused from message to message instead: a closed client's pipeline of large
// replies then drains through the proxy without allocating, so it leaves no garbage behind.

import { ScanStatus } from "../core/resp-scanner.js";

export interface StreamScanner {
  scan(buf: Buffer, pos: number, end: number): ScanStatus;
  readonly partial: boolean;
  readonly start: number;
  readonly next: number;
  readonly needEnd: number;
  rebase(delta: number): void;
  reset(): void;
}

/** Bytes copied from a chunk into the assembly buffer per step while a header is cut. */
const HEADER_STEP = 1024;
/** Assembly buffers up to this size come from the shared slab, larger ones on their own. */
const SLAB_TAKE_MAX = 16 * 1024;
const SLAB_SIZE = 128 * 1024;

let slab = Buffer.allocUnsafeSlow(SLAB_SIZE);
let slabPos = 0;

/** A reader's scratch space for discarded messages is kept up to this size between uses. */
const SCRATCH_KEEP = 4 * 1024 * 1024;

/** A buffer of exactly size bytes that nothing else will ever write. */
function assemblyBuffer(size: number): Buffer {
  if (size > SLAB_TAKE_MAX) return Buffer.allocUnsafe(size);
  if (slabPos + size > slab.length) {
    slab = Buffer.allocUnsafeSlow(SLAB_SIZE);
    slabPos = 0;
  }
  const b = slab.subarray(slabPos, slabPos + size);
  slabPos += size;
  return b;
}

export class ChunkReader<S extends StreamScanner> {
  /** The buffer holding the message last returned by next(). */
  buf: Buffer = EMPTY;
  /** Set when next() returns Error: the message is too large. */
  tooLarge = false;
  /**
   * Set by the caller before next(): the next message is wanted by nobody, so if it must be
   * assembled it goes to the shared scratch buffer, and `buf` holds it only until the next call.
   */
  discard = false;

  private cur: Buffer = EMPTY;
  private curPos = 0;
  private curEnd = 0;
  private acc: Buffer | null = null;
  /** acc is the scratch buffer (the message being assembled is discarded). */
  private accScratch = false;
  /** This reader's scratch buffer (its own: another reader may be mid-message in theirs). */
  private scratch: Buffer | null = null;
  private accLen = 0;
  private accPos = 0;
  /** How many bytes of the current chunk were copied into the assembly buffer. */
  private copiedFromCur = 0;

  constructor(readonly scanner: S, private readonly maxMessage: number) {}

  /** Adds chunk[0, end); call next() until it stops returning Complete. */
  push(chunk: Buffer, end = chunk.length): void {
    this.cur = chunk;
    this.curPos = 0;
    this.curEnd = end;
    this.copiedFromCur = 0;
  }

  next(): ScanStatus {
    const sc = this.scanner;
    for (;;) {
      if (this.acc !== null) {
        const acc = this.acc;
        const st = sc.scan(acc, this.accPos, this.accLen);
        if (st === ScanStatus.Complete) {
          this.accPos = sc.next;
          this.buf = acc;
          const tail = this.accLen - this.accPos;
          if (tail <= this.copiedFromCur) {
            // The bytes after this message are still in the chunk: go on reading there,
            // in place, instead of copying the rest of the chunk too.
            this.curPos -= tail;
            this.copiedFromCur -= tail;
            this.dropAcc();
          } else if (this.accScratch) {
            // The scratch buffer is overwritten by the next discarded message: bytes of later
            // (wanted) messages must not stay in it. (The copy steps above only copy bytes of
            // the current chunk past a message's end, so this is a guard, not a path in use.)
            const keep = assemblyBuffer(Math.max(tail, HEADER_STEP));
            acc.copy(keep, 0, this.accPos, this.accLen);
            this.acc = keep;
            this.accScratch = false;
            this.accLen = tail;
            this.accPos = 0;
          }
          return st;
        }
        if (st === ScanStatus.Error) return st;
        if (!sc.partial) {
          // Everything in the assembly buffer was consumed at a message boundary.
          this.dropAcc();
          continue;
        }
        const remaining = this.curEnd - this.curPos;
        if (remaining === 0) return ScanStatus.Incomplete;
        const need = sc.needEnd - this.accLen;
        const take = Math.min(remaining, need > 1 ? need : HEADER_STEP);
        if (!this.ensure(take)) return ScanStatus.Error;
        this.cur.copy(this.acc!, this.accLen, this.curPos, this.curPos + take);
        this.accLen += take;
        this.curPos += take;
        this.copiedFromCur += take;
        continue;
      }
      const cur = this.cur;
      const end = this.curEnd;
      if (this.curPos >= end) return ScanStatus.Incomplete;
      const st = sc.scan(cur, this.curPos, end);
      if (st === ScanStatus.Complete) {
        this.curPos = sc.next;
        this.buf = cur;
        return st;
      }
      if (st === ScanStatus.Error) return st;
      this.curPos = end;
      if (!sc.partial) return ScanStatus.Incomplete;
      // A message is cut at the chunk end: move its start into a fresh assembly buffer.
      const start = sc.start;
      const len = end - start;
      if (len > this.maxMessage) {
        this.tooLarge = true;
        return ScanStatus.Error;
      }
      // Sized for the message's announced length, but never more than a few times what has
      // arrived: a header claiming 512 MB must not make the proxy allocate 512 MB up front.
      const want = Math.max(len + HEADER_STEP, Math.min(sc.needEnd - start, this.maxMessage, Math.max(len * 4, 1 << 20)));
      const size = Math.min(want, this.maxMessage + 64);
      const acc = this.discard ? this.scratchBuffer(size) : assemblyBuffer(size);
      cur.copy(acc, 0, start, end);
      sc.rebase(start);
      this.acc = acc;
      this.accScratch = this.discard;
      this.accLen = len;
      this.accPos = 0;
      return ScanStatus.Incomplete;
    }
  }

  /** Makes room for `more` bytes after accLen, moving the partial message to a larger buffer. */
  private ensure(more: number): boolean {
    const acc = this.acc!;
    const start = this.scanner.start;
    const keep = this.accLen - start;
    if (keep + more > this.maxMessage) {
      this.tooLarge = true;
      return false;
    }
    if (this.accLen + more <= acc.length) return true;
    const announced = Math.min(this.scanner.needEnd - start, Math.max((keep + more) * 4, 1 << 20));
    const cap = Math.min(Math.max((keep + more) * 2, announced), this.maxMessage + 64);
    const size = Math.max(cap, keep + more);
    // Growing the scratch buffer: a new one (the old one is the copy's source).
    const next = this.accScratch ? (this.scratch = Buffer.allocUnsafeSlow(size)) : assemblyBuffer(size);
    acc.copy(next, 0, start, this.accLen);
    this.scanner.rebase(start);
    this.acc = next;
    this.accLen = keep;
    this.accPos = 0;
    return true;
  }

  /** A scratch buffer of at least size bytes, for a discarded message that starts now. */
  private scratchBuffer(size: number): Buffer {
    if (this.scratch === null || this.scratch.length < size) this.scratch = Buffer.allocUnsafeSlow(Math.max(size, 64 * 1024));
    return this.scratch;
  }

  private dropAcc(): void {
    if (this.accScratch && this.scratch !== null && this.scratch.length > SCRATCH_KEEP) this.scratch = null;
    this.accScratch = false;
    this.acc = null;
    this.accLen = 0;
    this.accPos = 0;
  }

  /** Forgets everything (on close or after a protocol error). */
  reset(): void {
    this.dropAcc();
    this.scratch = null;
    this.cur = EMPTY;
    this.curPos = 0;
    this.curEnd = 0;
    this.scanner.reset();
  }
}

const EMPTY = Buffer.alloc(0);
