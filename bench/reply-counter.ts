// Counts complete RESP2 replies in a byte stream without decoding them.
//
// The load generator only needs to know how many replies arrived (to close the loop and to
// time them) and whether any were errors or nils (to prove GETs hit and nothing failed). A full
// decoder would build strings and arrays per reply and could become the bottleneck it is meant
// to measure, so this is a resumable state machine: header lines are read byte by byte (they are
// a few bytes long), bulk payloads are skipped by arithmetic, simple lines by indexOf(LF), and
// open arrays are a small stack of "elements still missing". State survives any chunk split.

const TYPE = 0; // expecting a type byte
const HEADER = 1; // inside "$<n>\r\n" or "*<n>\r\n": accumulating the length
const LINE = 2; // inside "+...\r\n", "-...\r\n" or ":...\r\n": looking for LF
const SKIP = 3; // inside a bulk payload (and its CRLF)

const MAX_DEPTH = 16;

export class ReplyCounter {
  /** Complete top-level replies seen so far. */
  replies = 0;
  /** "-ERR ..." values seen (at any depth). */
  errors = 0;
  /** "$-1" / "*-1" values seen (at any depth): a GET that missed. */
  nils = 0;
  /** Text of the first error, for the report (allocated once, only when an error arrives). */
  firstError: string | undefined;

  private state = TYPE;
  private type = 0;
  private num = 0;
  private neg = false;
  private skip = 0;
  // Elements still missing in each open array; depth 0 = at top level.
  private readonly stack = new Int32Array(MAX_DEPTH);
  private depth = 0;

  /**
   * Scans buf[start, end) and returns how many top-level replies it completed. Throws on a byte
   * that cannot start a RESP2 value: the stream is out of step and every later count would lie.
   */
  feed(buf: Uint8Array, start = 0, end = buf.length): number {
    const before = this.replies;
    let pos = start;
    while (pos < end) {
      switch (this.state) {
        case TYPE: {
          const t = buf[pos++]!;
          if (t === 36 /* $ */ || t === 42 /* * */) {
            this.type = t;
            this.num = 0;
            this.neg = false;
            this.state = HEADER;
          } else if (t === 43 /* + */ || t === 58 /* : */) {
            this.state = LINE;
          } else if (t === 45 /* - */) {
            this.errors++;
            if (this.firstError === undefined) {
              const lf = buf.indexOf(10, pos);
              this.firstError = Buffer.from(buf.buffer, buf.byteOffset + pos, (lf < 0 || lf > end ? end : lf) - pos)
                .toString("latin1")
                .trimEnd();
            }
            this.state = LINE;
          } else {
            throw new Error(`reply stream out of step: byte ${t} where a RESP type was expected`);
          }
          break;
        }
        case HEADER: {
          const c = buf[pos++]!;
          if (c >= 48 && c <= 57) this.num = this.num * 10 + (c - 48);
          else if (c === 45) this.neg = true;
          else if (c === 10) this.endHeader();
          // CR is skipped; LF ends the header.
          break;
        }
        case LINE: {
          const lf = buf.indexOf(10, pos);
          if (lf < 0 || lf >= end) {
            pos = end;
          } else {
            pos = lf + 1;
            this.state = TYPE;
            this.complete();
          }
          break;
        }
        case SKIP: {
          const avail = end - pos;
          if (avail < this.skip) {
            this.skip -= avail;
            pos = end;
          } else {
            pos += this.skip;
            this.skip = 0;
            this.state = TYPE;
            this.complete();
          }
          break;
        }
      }
    }
    return this.replies - before;
  }

  private endHeader(): void {
    this.state = TYPE;
    if (this.neg) {
      this.nils++;
      this.complete();
    } else if (this.type === 36) {
      this.skip = this.num + 2; // payload + CRLF
      this.state = SKIP;
    } else if (this.num === 0) {
      this.complete(); // empty array
    } else {
      if (this.depth === MAX_DEPTH) throw new Error(`reply nested deeper than ${MAX_DEPTH}`);
      this.stack[this.depth++] = this.num;
    }
  }

  // One value finished: it completes a top-level reply or counts toward its enclosing array,
  // which may in turn be complete.
  private complete(): void {
    for (;;) {
      if (this.depth === 0) {
        this.replies++;
        return;
      }
      if (--this.stack[this.depth - 1]! > 0) return;
      this.depth--;
    }
  }
}
