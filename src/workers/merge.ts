// Merging the replies of split commands, and the proxy's own reply transforms.

import { Req, Transform } from "./request.js";
import { ReplyScanner, ScanStatus, splitArrayReply } from "../core/resp-scanner.js";
import { errorReply } from "../core/resp-encoder.js";
import { slotOf } from "../core/slot.js";
import * as E from "../core/errors.js";
import { copyRange, headerLength, writeHeader } from "../core/bytes.js";

export function integerAt(buf: Buffer, start: number, end: number): number | undefined {
  if (buf[start] !== 0x3a) return undefined;
  const n = Number(buf.toString("latin1", start + 1, end - 2));
  return Number.isInteger(n) ? n : undefined;
}

export function preview(reply: Buffer): string {
  return JSON.stringify(reply.toString("latin1", 0, Math.min(reply.length, 64)));
}

const elementRanges: number[] = [];
// Scratch space for merging, reused across calls (one merge runs at a time per thread).
let starts = new Int32Array(64);
let ends = new Int32Array(64);
const scratchBufs: Buffer[] = [];
const checkScanner = new ReplyScanner();

/** Builds a split parent's reply from its sub-replies (called when the last one arrives). */
export function mergeSplit(parent: Req): void {
  const subs = parent.subs!;
  const subKeys = parent.subKeys!;
  const name = parent.cmd!.name; // only for error texts
  parent.subs = null;
  parent.subKeys = null;
  // codis: any failed part fails the whole command with that part's error.
  for (const s of subs) {
    if (s.isError) {
      parent.failed = s.failed;
      parent.complete(s.reply!, s.replyStart, s.replyEnd, true);
      return;
    }
  }
  switch (parent.transform) {
    case Transform.MergeOk:
      parent.completeWith(OK_REPLY, false);
      return;
    case Transform.MergeSum: {
      let sum = 0;
      for (const s of subs) {
        const v = integerAt(s.reply!, s.replyStart, s.replyEnd);
        if (v === undefined) {
          parent.completeWith(errorReply(E.badReply(name.toLowerCase(), `not an integer: ${preview(s.reply!.subarray(s.replyStart, s.replyEnd))}`)), true);
          return;
        }
        sum += v;
      }
      parent.completeWith(Buffer.from(`:${sum}\r\n`), false);
      return;
    }
    case Transform.MergeArray: {
      const n = parent.keyCount;
      if (starts.length < n) {
        starts = new Int32Array(n * 2);
        ends = new Int32Array(n * 2);
      }
      const bufs = scratchBufs;
      let total = 0;
      for (let i = 0; i < subs.length; i++) {
        const s = subs[i]!;
        const keys = subKeys[i]!;
        const count = splitArrayReply(s.reply!, s.replyStart, s.replyEnd, elementRanges);
        if (count !== keys.length) {
          bufs.length = 0;
          parent.completeWith(errorReply(E.badReply(name.toLowerCase(), `expected ${keys.length} elements, got ${count}`)), true);
          return;
        }
        for (let j = 0; j < count; j++) {
          const k = keys[j]!;
          bufs[k] = s.reply!;
          starts[k] = elementRanges[2 * j]!;
          ends[k] = elementRanges[2 * j + 1]!;
          total += ends[k]! - starts[k]!;
        }
      }
      const out = Buffer.allocUnsafe(headerLength(n) + total);
      let p = writeHeader(out, 0, 0x2a /* * */, n);
      // Neighbouring keys answered by one sub-reply are neighbours there too: copy runs.
      let k = 0;
      while (k < n) {
        const b = bufs[k]!;
        const s0 = starts[k]!;
        let e0 = ends[k]!;
        k++;
        while (k < n && bufs[k] === b && starts[k] === e0) e0 = ends[k++]!;
        p += copyRange(b, s0, e0, out, p);
      }
      // The scratch entries are overwritten by the next merge (no `length = 0`: a runtime call).
      parent.completeWith(out, false);
      return;
    }
    default:
      parent.completeWith(errorReply(E.badReply(name.toLowerCase(), "unexpected split")), true);
  }
}

const OK_REPLY = Buffer.from("+OK\r\n");

/**
 * Filters a SCAN reply ([cursor, [keys...]]) to the keys of one slot: SLOTSSCAN answered by
 * the proxy itself, so it works on vanilla Redis backends too.
 */
export function filterScanReply(reply: Buffer, start: number, end: number, slot: number): Buffer | null {
  const top: number[] = [];
  if (splitArrayReply(reply, start, end, top) !== 2) return null;
  const cursor = reply.subarray(top[0], top[1]);
  const keysStart = top[2]!;
  const keysEnd = top[3]!;
  const keyRanges: number[] = [];
  const n = splitArrayReply(reply, keysStart, keysEnd, keyRanges);
  if (n < 0) return null;
  const kept: Buffer[] = [];
  for (let i = 0; i < n; i++) {
    const s = keyRanges[2 * i]!;
    const e = keyRanges[2 * i + 1]!;
    // Each element is "$<len>\r\n<key>\r\n": hash the key bytes only.
    const sc = checkScanner;
    sc.reset();
    if (sc.scan(reply, s, e) !== ScanStatus.Complete || reply[s] !== 0x24) continue;
    const nl = reply.indexOf(10, s);
    if (slotOf(reply, nl + 1, e - 2) === slot) kept.push(reply.subarray(s, e));
  }
  return Buffer.concat([Buffer.from("*2\r\n"), cursor, Buffer.from(`*${kept.length}\r\n`), ...kept]);
}
