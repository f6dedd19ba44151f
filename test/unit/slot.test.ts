import { describe, it, expect } from "vitest";
import fc from "fast-check";
import zlib from "node:zlib";
import { crc32, slotOf, slotOfKey, hashTag, parseSlotRanges } from "../../src/core/slot.js";

// The independent reference: node:zlib's crc32 (zlib's C implementation) over the tag
// computed by a straightforward reading of the codis rule.
function refSlot(key: Buffer): number {
  const open = key.indexOf("{");
  let tag = key;
  if (open >= 0) {
    const close = key.indexOf("}", open + 1);
    if (close >= 0) tag = key.subarray(open + 1, close);
  }
  return zlib.crc32(tag) % 1024;
}

describe("slot hashing", () => {
  it("matches the CRC-32/IEEE check value", () => {
    expect(crc32(Buffer.from("123456789"))).toBe(0xcbf43926);
    expect(crc32(Buffer.alloc(0))).toBe(0);
  });

  it("follows the codis hash-tag rule", () => {
    expect(slotOfKey("a{}b")).toBe(0); // empty tag hashes as the empty string
    expect(hashTag(Buffer.from("{a}{b}")).toString()).toBe("a");
    expect(slotOfKey("{a}{b}")).toBe(slotOfKey("a"));
    expect(hashTag(Buffer.from("x{y")).toString()).toBe("x{y"); // no closing brace: whole key
    expect(slotOfKey("x{y")).toBe(crc32(Buffer.from("x{y")) % 1024);
    expect(slotOfKey("}x{")).toBe(crc32(Buffer.from("}x{")) % 1024);
    expect(slotOfKey("user:{42}:name")).toBe(slotOfKey("{42}"));
    expect(slotOfKey("foo")).toBe(289);
  });

  it("agrees with zlib on random keys, also inside a larger buffer", () => {
    const keyArb = fc.oneof(
      fc.uint8Array({ maxLength: 64 }).map((a) => Buffer.from(a)),
      fc.string({ unit: fc.constantFrom(..."ab{}xyz:01"), maxLength: 20 }).map((s) => Buffer.from(s)),
    );
    fc.assert(
      fc.property(keyArb, fc.uint8Array({ maxLength: 8 }), (key, pad) => {
        const buf = Buffer.concat([Buffer.from(pad), key, Buffer.from(pad)]);
        expect(slotOf(buf, pad.length, pad.length + key.length)).toBe(refSlot(key));
        expect(crc32(key)).toBe(zlib.crc32(key));
      }),
      { numRuns: 2000 },
    );
  });

  it("parses slot ranges and rejects bad ones", () => {
    expect(parseSlotRanges("0-3,7, 9-9")).toEqual([0, 1, 2, 3, 7, 9]);
    expect(() => parseSlotRanges("5-1")).toThrow(/start is after end/);
    expect(() => parseSlotRanges("0-1024")).toThrow(/out of range/);
    expect(() => parseSlotRanges("a")).toThrow(/bad slot range/);
  });
});
