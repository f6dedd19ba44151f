import { describe, it, expect } from "vitest";
import fc from "fast-check";
import { RequestScanner, ReplyScanner, ScanStatus, splitArrayReply, splitInlineArgs } from "../../src/core/resp-scanner.js";
import { encodeSubCommand } from "../../src/core/resp-encoder.js";
import { ChunkReader } from "../../src/workers/chunk-reader.js";

// ---------------------------------------------------------------------------------------
// An independent reference: a plain recursive RESP3 decoder over a complete buffer, written
// for clarity, not speed. It returns the value tree and where it ends.

type Val =
  | { t: "simple" | "error" | "int" | "double" | "big" | "bool"; v: string }
  | { t: "null" }
  | { t: "bulk" | "blobErr" | "verbatim"; v: Buffer | null }
  | { t: "agg"; k: string; items: Val[] | null }
  | { t: "attr"; items: Val[]; value: Val };

function refDecode(buf: Buffer, pos: number): { v: Val; end: number } {
  const line = (p: number) => {
    const i = buf.indexOf("\r\n", p);
    if (i < 0) throw new Error("incomplete");
    return { text: buf.toString("latin1", p, i), next: i + 2 };
  };
  const t = String.fromCharCode(buf[pos]!);
  const { text, next } = line(pos + 1);
  switch (t) {
    case "+": return { v: { t: "simple", v: text }, end: next };
    case "-": return { v: { t: "error", v: text }, end: next };
    case ":": return { v: { t: "int", v: text }, end: next };
    case ",": return { v: { t: "double", v: text }, end: next };
    case "(": return { v: { t: "big", v: text }, end: next };
    case "#": return { v: { t: "bool", v: text }, end: next };
    case "_": return { v: { t: "null" }, end: next };
    case "$": case "!": case "=": {
      const kind = t === "$" ? "bulk" : t === "!" ? "blobErr" : "verbatim";
      if (text === "?") {
        const parts: Buffer[] = [];
        let p = next;
        for (;;) {
          const l = line(p);
          const n = Number(l.text.slice(1));
          if (n === 0) return { v: { t: kind, v: Buffer.concat(parts) }, end: l.next };
          parts.push(buf.subarray(l.next, l.next + n));
          p = l.next + n + 2;
        }
      }
      const n = Number(text);
      if (n < 0) return { v: { t: kind, v: null }, end: next };
      if (buf.length < next + n + 2) throw new Error("incomplete");
      return { v: { t: kind, v: buf.subarray(next, next + n) }, end: next + n + 2 };
    }
    case "*": case "~": case ">": case "%": {
      const items: Val[] = [];
      let p = next;
      if (text === "?") {
        while (buf[p] !== 0x2e) {
          const r = refDecode(buf, p);
          items.push(r.v);
          p = r.end;
        }
        return { v: { t: "agg", k: t, items }, end: p + 3 };
      }
      const n = Number(text);
      if (n < 0) return { v: { t: "agg", k: t, items: null }, end: next };
      const count = t === "%" ? 2 * n : n;
      for (let i = 0; i < count; i++) {
        const r = refDecode(buf, p);
        items.push(r.v);
        p = r.end;
      }
      return { v: { t: "agg", k: t, items }, end: p };
    }
    case "|": {
      const n = Number(text);
      const items: Val[] = [];
      let p = next;
      for (let i = 0; i < 2 * n; i++) {
        const r = refDecode(buf, p);
        items.push(r.v);
        p = r.end;
      }
      const r = refDecode(buf, p);
      return { v: { t: "attr", items, value: r.v }, end: r.end };
    }
  }
  throw new Error(`bad type ${t}`);
}

// Encoder of arbitrary values for the property tests (streamed forms included).
function enc(v: Val): Buffer {
  const s = (x: string) => Buffer.from(x, "latin1");
  switch (v.t) {
    case "simple": return s(`+${v.v}\r\n`);
    case "error": return s(`-${v.v}\r\n`);
    case "int": return s(`:${v.v}\r\n`);
    case "double": return s(`,${v.v}\r\n`);
    case "big": return s(`(${v.v}\r\n`);
    case "bool": return s(`#${v.v}\r\n`);
    case "null": return s("_\r\n");
    case "bulk": case "blobErr": case "verbatim": {
      const c = v.t === "bulk" ? "$" : v.t === "blobErr" ? "!" : "=";
      if (v.v === null) return s(`${c}-1\r\n`);
      return Buffer.concat([s(`${c}${v.v.length}\r\n`), v.v, s("\r\n")]);
    }
    case "agg": {
      if (v.items === null) return s(`${v.k}-1\r\n`);
      const n = v.k === "%" ? v.items.length / 2 : v.items.length;
      return Buffer.concat([s(`${v.k}${n}\r\n`), ...v.items.map(enc)]);
    }
    case "attr":
      return Buffer.concat([s(`|${v.items.length / 2}\r\n`), ...v.items.map(enc), enc(v.value)]);
  }
}

const text = fc.string({ unit: fc.constantFrom(..."abcXYZ019 _-:.{}"), maxLength: 12 });
const bytes = fc.uint8Array({ maxLength: 40 }).map((a) => Buffer.from(a));
const leaf: fc.Arbitrary<Val> = fc.oneof(
  text.map((v) => ({ t: "simple", v }) as Val),
  text.map((v) => ({ t: "error", v: `ERR ${v}` }) as Val),
  fc.integer().map((n) => ({ t: "int", v: String(n) }) as Val),
  fc.double({ noNaN: true, noDefaultInfinity: true }).map((n) => ({ t: "double", v: String(n) }) as Val),
  fc.bigInt().map((n) => ({ t: "big", v: String(n) }) as Val),
  fc.constantFrom("t", "f").map((v) => ({ t: "bool", v }) as Val),
  fc.constant({ t: "null" } as Val),
  fc.option(bytes, { nil: null }).map((v) => ({ t: "bulk", v }) as Val),
  bytes.map((v) => ({ t: "blobErr", v }) as Val),
  bytes.map((v) => ({ t: "verbatim", v: Buffer.concat([Buffer.from("txt:"), v]) }) as Val),
);
const { value: valueArb } = fc.letrec<{ value: Val }>((tie) => ({
  value: fc.oneof(
    { depthSize: "small", withCrossShrink: true },
    leaf,
    fc.record({ k: fc.constantFrom("*", "~", ">"), items: fc.array(tie("value"), { maxLength: 4 }) })
      .map(({ k, items }) => ({ t: "agg", k, items }) as Val),
    fc.array(fc.tuple(tie("value"), tie("value")), { maxLength: 3 })
      .map((pairs) => ({ t: "agg", k: "%", items: pairs.flat() }) as Val),
    fc.constant({ t: "agg", k: "*", items: null } as Val),
    fc.tuple(fc.array(fc.tuple(leaf, leaf), { minLength: 1, maxLength: 2 }), tie("value"))
      .map(([pairs, value]) => ({ t: "attr", items: pairs.flat(), value }) as Val),
  ),
}));

/** Feeds data in the given pieces through a ChunkReader and collects message ranges as bytes. */
function readAll<S extends RequestScanner | ReplyScanner>(scanner: S, pieces: Buffer[], max = 1 << 30) {
  const reader = new ChunkReader(scanner, max);
  const out: Buffer[] = [];
  const args: Buffer[][] = [];
  for (const p of pieces) {
    reader.push(p);
    for (;;) {
      const st = reader.next();
      if (st === ScanStatus.Incomplete) break;
      if (st === ScanStatus.Error) return { out, args, error: scanner.error || "too large" };
      if (scanner instanceof RequestScanner) {
        const buf = scanner.inline ? scanner.inlineBuf! : reader.buf;
        const a: Buffer[] = [];
        for (let i = 0; i < scanner.argc; i++) {
          a.push(Buffer.from(buf.subarray(scanner.offsets[2 * i], scanner.offsets[2 * i + 1])));
        }
        args.push(a);
        out.push(Buffer.from(scanner.inline ? buf : reader.buf.subarray(scanner.reqStart, scanner.next)));
      } else {
        out.push(Buffer.from(reader.buf.subarray(scanner.replyStart, scanner.next)));
      }
    }
  }
  return { out, args, error: null as string | null, reader };
}

function splitAt(buf: Buffer, cuts: number[]): Buffer[] {
  const points = [...new Set(cuts.map((c) => c % (buf.length + 1)))].sort((a, b) => a - b);
  const out: Buffer[] = [];
  let prev = 0;
  for (const p of points) {
    out.push(buf.subarray(prev, p));
    prev = p;
  }
  out.push(buf.subarray(prev));
  return out;
}

function byteByByte(buf: Buffer): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; i < buf.length; i++) out.push(buf.subarray(i, i + 1));
  return out;
}

describe("ReplyScanner", () => {
  it("finds every RESP2/RESP3 value whole, byte by byte and at random splits, like the reference", () => {
    fc.assert(
      fc.property(fc.array(valueArb, { minLength: 1, maxLength: 5 }), fc.array(fc.nat(), { maxLength: 8 }), (vals, cuts) => {
        const encoded = vals.map(enc);
        const stream = Buffer.concat(encoded);
        // The reference must agree with the encoder about where each value ends.
        let p = 0;
        for (const e of encoded) {
          const r = refDecode(stream, p);
          expect(r.end - p).toBe(e.length);
          p = r.end;
        }
        for (const pieces of [[stream], byteByByte(stream), splitAt(stream, cuts)]) {
          const { out, error } = readAll(new ReplyScanner(), pieces);
          expect(error).toBeNull();
          expect(out.map((b) => b.toString("hex"))).toEqual(encoded.map((b) => b.toString("hex")));
        }
      }),
      { numRuns: 400 },
    );
  });

  it("handles the streamed forms ($? with ;chunks and *? ... .)", () => {
    const stream = Buffer.from("$?\r\n;4\r\nHell\r\n;1\r\no\r\n;0\r\n*?\r\n:1\r\n$1\r\na\r\n.\r\n+OK\r\n");
    for (const pieces of [[stream], byteByByte(stream)]) {
      const { out } = readAll(new ReplyScanner(), pieces);
      expect(out.map(String)).toEqual(["$?\r\n;4\r\nHell\r\n;1\r\no\r\n;0\r\n", "*?\r\n:1\r\n$1\r\na\r\n.\r\n", "+OK\r\n"]);
    }
  });

  it("flags push frames and keeps attributes with the value they annotate", () => {
    const sc = new ReplyScanner();
    const buf = Buffer.from(">2\r\n$7\r\nmessage\r\n:1\r\n|1\r\n+ttl\r\n:3\r\n$1\r\nv\r\n");
    expect(sc.scan(buf, 0, buf.length)).toBe(ScanStatus.Complete);
    expect(sc.push).toBe(true);
    expect(sc.scan(buf, sc.next, buf.length)).toBe(ScanStatus.Complete);
    expect(sc.push).toBe(false);
    expect(buf.toString("latin1", sc.replyStart, sc.next)).toBe("|1\r\n+ttl\r\n:3\r\n$1\r\nv\r\n");
  });

  it("rejects malformed replies with a protocol error", () => {
    for (const bad of ["?x\r\n", "$abc\r\n", "$3\r\nabcd\r\n", "*x\r\n", ":1\rX", "$-5\r\n"]) {
      const sc = new ReplyScanner();
      const buf = Buffer.from(bad);
      expect(sc.scan(buf, 0, buf.length), bad).toBe(ScanStatus.Error);
      expect(sc.error).toMatch(/^Protocol error: /);
    }
  });

  it("refuses nesting beyond the depth limit instead of growing without bound", () => {
    const sc = new ReplyScanner(1024, 8);
    const buf = Buffer.from("*1\r\n".repeat(9) + ":1\r\n");
    expect(sc.scan(buf, 0, buf.length)).toBe(ScanStatus.Error);
    expect(sc.error).toContain("nested too deep");
  });

  it("splits arrays into element ranges", () => {
    const buf = Buffer.from("*3\r\n$1\r\na\r\n$-1\r\n*1\r\n:5\r\n");
    const out: number[] = [];
    expect(splitArrayReply(buf, 0, buf.length, out)).toBe(3);
    expect(buf.toString("latin1", out[4], out[5])).toBe("*1\r\n:5\r\n");
    expect(splitArrayReply(Buffer.from("+OK\r\n"), 0, 5, out)).toBe(-1);
  });
});

const argArb = fc.uint8Array({ maxLength: 30 }).map((a) => Buffer.from(a));
const cmdArb = fc.array(argArb, { minLength: 1, maxLength: 6 });
const encodeReq = (args: Buffer[]) =>
  Buffer.concat([Buffer.from(`*${args.length}\r\n`), ...args.flatMap((a) => [Buffer.from(`$${a.length}\r\n`), a, Buffer.from("\r\n")])]);

describe("RequestScanner", () => {
  it("extracts every argument of pipelined commands whole, byte by byte and at random splits", () => {
    fc.assert(
      fc.property(fc.array(cmdArb, { minLength: 1, maxLength: 6 }), fc.array(fc.nat(), { maxLength: 10 }), (cmds, cuts) => {
        const stream = Buffer.concat(cmds.map(encodeReq));
        for (const pieces of [[stream], byteByByte(stream), splitAt(stream, cuts)]) {
          const { args, out, error } = readAll(new RequestScanner(), pieces);
          expect(error).toBeNull();
          expect(args.map((a) => a.map((b) => b.toString("hex")))).toEqual(cmds.map((a) => a.map((b) => b.toString("hex"))));
          // The request bytes handed out are exactly the client's bytes (forwarded as is).
          expect(Buffer.concat(out).equals(stream)).toBe(true);
        }
      }),
      { numRuns: 400 },
    );
  });

  it("reads inline commands, with quotes and escapes, mixed with RESP ones", () => {
    const stream = Buffer.from('SET k "a b\\x41\\n"\r\n\r\nget \'it\\\'s\'\n*1\r\n$4\r\nPING\r\n');
    for (const pieces of [[stream], byteByByte(stream)]) {
      const { args, out } = readAll(new RequestScanner(), pieces);
      expect(args.map((a) => a.map(String))).toEqual([["SET", "k", "a bA\n"], ["get", "it's"], ["PING"]]);
      // Inline commands are re-encoded as RESP for the backend.
      expect(String(out[0])).toBe("*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$5\r\na bA\n\r\n");
    }
  });

  it("skips empty multibulk requests like Redis", () => {
    const { args } = readAll(new RequestScanner(), [Buffer.from("*0\r\n*-1\r\n*1\r\n$4\r\nPING\r\n")]);
    expect(args.map((a) => a.map(String))).toEqual([["PING"]]);
  });

  it("answers malformed requests with Redis's protocol error texts", () => {
    const cases: [string, string][] = [
      ["*x\r\n", "Protocol error: invalid multibulk length"],
      ["*1\r\n+PING\r\n", "Protocol error: expected '$', got '+'"],
      ["*1\r\n$x\r\n", "Protocol error: invalid bulk length"],
      ["*1\r\n$-1\r\n", "Protocol error: invalid bulk length"],
      ["*1\r\n$04\r\nPING\r\n", "Protocol error: invalid bulk length"],
      ["*2\r\n$4\r\nPING\r\n$-0\r\n\r\n", "Protocol error: invalid bulk length"],
      ["*01\r\n$4\r\nPING\r\n", "Protocol error: invalid multibulk length"],
      ["*1\r\n$4\r\nPINGxx", "Protocol error: invalid bulk format"],
      ['SET "unterminated\r\n', "Protocol error: unbalanced quotes in request"],
    ];
    for (const [input, msg] of cases) {
      const { error } = readAll(new RequestScanner(), [Buffer.from(input)]);
      expect(error, input).toBe(msg);
    }
  });

  it("enforces the argument, bulk and inline limits before allocating", () => {
    const limits = { maxArgs: 4, maxBulk: 10, maxInline: 32 };
    expect(readAll(new RequestScanner(limits), [Buffer.from("*5\r\n")]).error).toBe("Protocol error: invalid multibulk length");
    expect(readAll(new RequestScanner(limits), [Buffer.from("*1\r\n$11\r\n")]).error).toBe("Protocol error: invalid bulk length");
    expect(readAll(new RequestScanner(limits), [Buffer.from("x".repeat(40))]).error).toBe("Protocol error: too big inline request");
    expect(readAll(new RequestScanner(limits), [Buffer.from("*1\r\n$" + "1".repeat(40))]).error).toBe("Protocol error: invalid bulk length");
    // A huge announced count allocates nothing up front: the offsets array stays small.
    const sc = new RequestScanner();
    const hdr = Buffer.from("*1000000\r\n$1\r\na\r\n");
    expect(sc.scan(hdr, 0, hdr.length)).toBe(ScanStatus.Incomplete);
    expect(sc.offsets.length).toBeLessThan(1024);
  });

  it("assembles a message larger than the reader's limit as an error, not unbounded memory", () => {
    const big = Buffer.concat([Buffer.from("*2\r\n$3\r\nSET\r\n$100\r\n"), Buffer.alloc(60)]);
    const { error } = readAll(new RequestScanner(), [big.subarray(0, 30), big.subarray(30)], 40);
    expect(error).toBeTruthy();
  });

  it("copies only cut messages: a message inside one chunk is handed out in place", () => {
    const chunk = encodeReq([Buffer.from("GET"), Buffer.from("k")]);
    const reader = new ChunkReader(new RequestScanner(), 1 << 20);
    reader.push(chunk);
    expect(reader.next()).toBe(ScanStatus.Complete);
    expect(reader.buf).toBe(chunk);
  });
});

describe("splitInlineArgs", () => {
  it("splits like sdssplitargs", () => {
    const split = (s: string) => splitInlineArgs(Buffer.from(s), 0, Buffer.byteLength(s))?.map(String);
    expect(split("  a  b\tc ")).toEqual(["a", "b", "c"]);
    expect(split('"a\\"b" \'c d\'')).toEqual(['a"b', "c d"]);
    expect(splitInlineArgs(Buffer.from('"ab"c'), 0, 5)).toBeNull();
    expect(splitInlineArgs(Buffer.from('"ab'), 0, 3)).toBeNull();
    expect(split("")).toEqual([]);
  });
});

describe("encodeSubCommand", () => {
  it("rebuilds MGET/MSET parts from the client's bytes, RESP or inline, for any key subset", () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(argArb, argArb), { minLength: 1, maxLength: 8 }),
        fc.boolean(),
        fc.boolean(),
        fc.array(fc.boolean(), { minLength: 8, maxLength: 8 }),
        (pairs, mset, inline, pick) => {
          const stride = mset ? 2 : 1;
          const argv = [Buffer.from(mset ? "MSET" : "MGET"), ...pairs.flatMap(([k, v]) => (mset ? [k, v] : [k]))];
          // Inline only for printable args (the inline form cannot carry every byte unquoted).
          const printable = argv.every((a) => a.length > 0 && a.every((b) => b > 0x20 && b < 0x7f && b !== 0x22 && b !== 0x27));
          const wire = inline && printable ? Buffer.from(argv.map(String).join(" ") + "\r\n") : encodeReq(argv);
          const sc = new RequestScanner();
          expect(sc.scan(wire, 0, wire.length)).toBe(ScanStatus.Complete);
          const buf = sc.inline ? sc.inlineBuf! : wire;
          const keys = pairs.map((_, i) => i).filter((i) => pick[i]);
          if (keys.length === 0) keys.push(0);
          const out = encodeSubCommand(Buffer.from(mset ? "MSET" : "MGET"), buf, sc.offsets, keys, stride);
          const want = [argv[0]!, ...keys.flatMap((k) => argv.slice(1 + k * stride, 1 + (k + 1) * stride))];
          expect(out.equals(encodeReq(want))).toBe(true);
        },
      ),
      { numRuns: 500 },
    );
  });
});
