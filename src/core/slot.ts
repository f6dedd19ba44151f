// Slot hashing, codis rule: slot = CRC-32/IEEE(tag) % 1024, where tag is the bytes between
// the first '{' and the first '}' after it, even when that is empty ("a{}b" → crc32("") = 0
// → slot 0). Without a '{', or without a '}' after it, the whole key is hashed.
//
// The CRC is a plain table-driven JS loop over a range of the receive buffer: on the short keys
// a proxy sees (5-40 bytes) it beats both node:zlib crc32 and the native @node-rs/crc32, whose
// per-call boundary cost is larger than the whole loop (see `npm run bench:micro`).

export const SLOT_COUNT = 1024;
export const SLOT_MASK = SLOT_COUNT - 1;

const TABLE = (() => {
  const t = new Int32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c;
  }
  return t;
})();

/** CRC-32/IEEE of buf[start, end), as an unsigned 32-bit number. */
export function crc32(buf: Uint8Array, start = 0, end = buf.length): number {
  let c = -1;
  for (let i = start; i < end; i++) c = TABLE[(c ^ buf[i]!) & 0xff]! ^ (c >>> 8);
  return (c ^ -1) >>> 0;
}

/** Slot of the key stored in buf[start, end) by the codis hash-tag rule. */
export function slotOf(buf: Uint8Array, start: number, end: number): number {
  let tagStart = start;
  let tagEnd = end;
  // A manual scan beats indexOf on short keys (no call, no bounds setup).
  for (let i = start; i < end; i++) {
    if (buf[i] === 0x7b /* { */) {
      for (let j = i + 1; j < end; j++) {
        if (buf[j] === 0x7d /* } */) {
          tagStart = i + 1;
          tagEnd = j;
          break;
        }
      }
      break;
    }
  }
  // (c ^ -1) >>> 0 then & 1023 equals (c ^ -1) & 1023: the low bits are the same.
  let c = -1;
  for (let i = tagStart; i < tagEnd; i++) c = TABLE[(c ^ buf[i]!) & 0xff]! ^ (c >>> 8);
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
