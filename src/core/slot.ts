// Slot hashing, codis rule: slot = CRC-32/IEEE(tag) % 1024, where tag is the bytes between
// the first '{' and the first '}' after it, even when that is empty ("a{}b" → crc32("") = 0
// → slot 0). Without a '{', or without a '}' after it, the whole key is hashed.
//
// The CRC is a table-driven JS loop (slicing by 4) over a range of the receive buffer: on the
// short keys a proxy sees (5-40 bytes) it beats node:zlib's crc32 and the native
// @node-rs/crc32 several times over, since their per-call cost (a Buffer view, the native
// boundary) is larger than the whole loop (`npm run bench:micro` has the figures).

export const SLOT_COUNT = 1024;
export const SLOT_MASK = SLOT_COUNT - 1;

// Slicing-by-4 tables: T0 is the classic byte table, T1..T3 advance it by 1..3 more bytes,
// so four bytes are folded with four lookups and one 32-bit load's worth of work.
const T0 = new Int32Array(256);
const T1 = new Int32Array(256);
const T2 = new Int32Array(256);
const T3 = new Int32Array(256);
for (let n = 0; n < 256; n++) {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  T0[n] = c;
}
for (let n = 0; n < 256; n++) {
  T1[n] = T0[T0[n]! & 0xff]! ^ (T0[n]! >>> 8);
  T2[n] = T0[T1[n]! & 0xff]! ^ (T1[n]! >>> 8);
  T3[n] = T0[T2[n]! & 0xff]! ^ (T2[n]! >>> 8);
}

/** Folds buf[start, end) into a running CRC state c (pre-inverted). */
function update(c: number, buf: Uint8Array, start: number, end: number): number {
  let i = start;
  for (; i + 4 <= end; i += 4) {
    c ^= buf[i]! | (buf[i + 1]! << 8) | (buf[i + 2]! << 16) | (buf[i + 3]! << 24);
    c = T3[c & 0xff]! ^ T2[(c >>> 8) & 0xff]! ^ T1[(c >>> 16) & 0xff]! ^ T0[c >>> 24]!;
  }
  for (; i < end; i++) c = T0[(c ^ buf[i]!) & 0xff]! ^ (c >>> 8);
  return c;
}

/** CRC-32/IEEE of buf[start, end), as an unsigned 32-bit number. */
export function crc32(buf: Uint8Array, start = 0, end = buf.length): number {
  return (update(-1, buf, start, end) ^ -1) >>> 0;
}

/**
 * Slot of the key stored in buf[start, end) by the codis hash-tag rule, in one pass: the CRC
 * runs while looking for '{' (four bytes at a time), and only a key that has one is looked at
 * again. (c ^ -1) & 1023 keeps the low bits of the unsigned CRC, so no >>> 0 is needed.
 */
export function slotOf(buf: Uint8Array, start: number, end: number): number {
  let c = -1;
  let i = start;
  for (; i + 4 <= end; i += 4) {
    const b0 = buf[i]!;
    const b1 = buf[i + 1]!;
    const b2 = buf[i + 2]!;
    const b3 = buf[i + 3]!;
    if (b0 === 0x7b || b1 === 0x7b || b2 === 0x7b || b3 === 0x7b) break;
    c ^= b0 | (b1 << 8) | (b2 << 16) | (b3 << 24);
    c = T3[c & 0xff]! ^ T2[(c >>> 8) & 0xff]! ^ T1[(c >>> 16) & 0xff]! ^ T0[c >>> 24]!;
  }
  for (; i < end; i++) {
    const b = buf[i]!;
    if (b === 0x7b /* { */) {
      // The first '{' decides: the tag is up to the next '}', else the whole key counts.
      for (let j = i + 1; j < end; j++) {
        if (buf[j] === 0x7d /* } */) return (update(-1, buf, i + 1, j) ^ -1) & SLOT_MASK;
      }
      return (update(c, buf, i, end) ^ -1) & SLOT_MASK;
    }
    c = T0[(c ^ b) & 0xff]! ^ (c >>> 8);
  }
  return (c ^ -1) & SLOT_MASK;
}

/** Slot of a key given as a string (UTF-8) or bytes; for the control plane and tests. */
export function slotOfKey(key: string | Uint8Array): number {
  const buf = typeof key === "string" ? Buffer.from(key, "utf8") : key;
  return slotOf(buf, 0, buf.length);
}

/** The hash tag of a key (the bytes that are hashed), for tests and tooling. */
export function hashTag(key: Uint8Array): Uint8Array {
  const open = key.indexOf(0x7b);
  if (open < 0) return key;
  const close = key.indexOf(0x7d, open + 1);
  if (close < 0) return key;
  return key.subarray(open + 1, close);
}

/**
 * Parses a slot range list such as "0-511", "512-1023", "0-10,20,30-40" into slot ids.
 * Throws with a reason on malformed input or ids outside 0..1023.
 */
export function parseSlotRanges(text: string): number[] {
  const out: number[] = [];
  for (const part of text.split(",")) {
    const p = part.trim();
    if (!p) throw new Error(`empty range in "${text}"`);
    const m = /^(\d+)(?:\s*-\s*(\d+))?$/.exec(p);
    if (!m) throw new Error(`bad slot range "${p}" (want N or N-M)`);
    const a = Number(m[1]);
    const b = m[2] === undefined ? a : Number(m[2]);
    if (a > b) throw new Error(`bad slot range "${p}": start is after end`);
    if (b >= SLOT_COUNT) throw new Error(`slot ${b} out of range 0-${SLOT_COUNT - 1}`);
    for (let s = a; s <= b; s++) out.push(s);
  }
  return out;
}
