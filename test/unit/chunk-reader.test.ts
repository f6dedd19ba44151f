// ChunkReader's discard mode (issue 10): messages nobody will read are assembled in a scratch
// buffer reused from message to message; wanted messages must never be left in it.
import { describe, it, expect } from "vitest";
import fc from "fast-check";
import { ReplyScanner, ScanStatus } from "../../src/core/resp-scanner.js";
import { ChunkReader } from "../../src/workers/chunk-reader.js";

const bulk = (b: Buffer) => Buffer.concat([Buffer.from(`$${b.length}\r\n`), b, Buffer.from("\r\n")]);
const arr = (items: Buffer[]) => Buffer.concat([Buffer.from(`*${items.length}\r\n`), ...items]);

// Values of very different sizes, so that messages are cut at every kind of place.
const value = fc.oneof(
  fc.uint8Array({ maxLength: 30 }).map((a) => bulk(Buffer.from(a))),
  fc.integer({ min: 1, max: 70_000 }).chain((n) => fc.integer({ min: 0, max: 255 }).map((v) => bulk(Buffer.alloc(n, v)))),
  fc.array(fc.uint8Array({ maxLength: 3000 }).map((a) => bulk(Buffer.from(a))), { maxLength: 4 }).map(arr),
  fc.constantFrom(Buffer.from("+OK\r\n"), Buffer.from("-ERR x\r\n"), Buffer.from(":12345\r\n")),
);

describe("ChunkReader discard", () => {
  it("keeps every wanted message intact (views, checked after the whole stream) whatever is discarded around it", () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(value, fc.boolean()), { minLength: 1, maxLength: 12 }),
        fc.array(fc.integer({ min: 1, max: 90_000 }), { minLength: 1, maxLength: 30 }),
        (msgs, sizes) => {
          const stream = Buffer.concat(msgs.map(([m]) => m));
          // Two readers fed alternately: each must use its own scratch space.
          const readers = [new ChunkReader(new ReplyScanner(), 1 << 30), new ChunkReader(new ReplyScanner(), 1 << 30)];
          const kept: { buf: Buffer; start: number; end: number; want: Buffer }[][] = [[], []];
          const index = [0, 0];
          const pos = [0, 0];
          let k = 0;
          while (pos[0]! < stream.length || pos[1]! < stream.length) {
            for (let r = 0; r < 2; r++) {
              if (pos[r]! >= stream.length) continue;
              const n = Math.min(sizes[k++ % sizes.length]!, stream.length - pos[r]!);
              // A fresh copy per chunk, as a socket read delivers it.
              const chunk = Buffer.from(stream.subarray(pos[r], pos[r]! + n));
              pos[r]! += n;
              const reader = readers[r]!;
              reader.push(chunk);
              for (;;) {
                const i = index[r]!;
                if (i < msgs.length) reader.discard = msgs[i]![1];
                const st = reader.next();
                if (st === ScanStatus.Incomplete) break;
                expect(st).toBe(ScanStatus.Complete);
                const sc = reader.scanner;
                expect(sc.next - sc.replyStart).toBe(msgs[i]![0].length);
                if (msgs[i]![1]) {
                  // A discarded message is whole at the moment it is handed out.
                  expect(reader.buf.subarray(sc.replyStart, sc.next).equals(msgs[i]![0])).toBe(true);
                } else {
                  kept[r]!.push({ buf: reader.buf, start: sc.replyStart, end: sc.next, want: msgs[i]![0] });
                }
                index[r] = i + 1;
              }
            }
          }
          for (let r = 0; r < 2; r++) {
            expect(index[r]).toBe(msgs.length);
            for (const m of kept[r]!) expect(m.buf.subarray(m.start, m.end).equals(m.want)).toBe(true);
          }
        },
      ),
      { numRuns: 300 },
    );
  });
});
