import { describe, it, expect } from "vitest";
import {
  arrayReplies,
  bigSetStream,
  bulkReplies,
  encodeCommand,
  fixedChunks,
  getSetStream,
  keySet,
  mgetStream,
  okReplies,
  randomChunks,
  resp3Replies,
} from "../../bench/micro/streams.js";
import {
  RedisParserReplies,
  RedisParserRequests,
  RespjsReplies,
  RespjsRequests,
  SlotwayReplies,
  SlotwayRequests,
  type Adapter,
} from "../../bench/micro/parsers.js";
import { CRC_FNS, crcDisagreements, jsPass, nodeRsPass, slotPass, zlibPass } from "../../bench/micro/crc.js";
import { median, medianRatio, measure } from "../../bench/micro/timing.js";
import { crcWinners, fmtMBps, fmtNs } from "../../bench/micro/report.js";

// A deliberately naive decoder for arrays of bulk strings (independent of every parser under
// test): what the stream builders must have written.
function decodeCommands(buf: Buffer): string[][] {
  const out: string[][] = [];
  let p = 0;
  const line = () => {
    const i = buf.indexOf("\r\n", p);
    const s = buf.toString("latin1", p, i);
    p = i + 2;
    return s;
  };
  while (p < buf.length) {
    const h = line();
    expect(h[0]).toBe("*");
    const args: string[] = [];
    for (let n = Number(h.slice(1)); n > 0; n--) {
      const b = line();
      expect(b[0]).toBe("$");
      const len = Number(b.slice(1));
      args.push(buf.toString("latin1", p, p + len));
      expect(buf.toString("latin1", p + len, p + len + 2)).toBe("\r\n");
      p += len + 2;
    }
    out.push(args);
  }
  return out;
}

function totals(cmds: string[][]) {
  return { messages: cmds.length, args: cmds.reduce((a, c) => a + c.length, 0), argBytes: cmds.reduce((a, c) => a + c.join("").length, 0) };
}

describe("bench:micro stream builders", () => {
  it("encodes one command as RESP", () => {
    expect(encodeCommand(["SET", "k", Buffer.from("v1")]).toString("latin1")).toBe("*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$2\r\nv1\r\n");
  });

  it("GET/SET stream alternates GET key and SET key <100 B>, with the totals it claims", () => {
    const s = getSetStream(200);
    const cmds = decodeCommands(s.buf);
    expect(cmds).toHaveLength(200);
    cmds.forEach((c, i) => {
      expect(c[1]).toMatch(/^key:\d{12}$/);
      if (i % 2 === 0) {
        expect(c).toEqual(["GET", c[1]]);
      } else {
        expect(c).toHaveLength(3);
        expect(c[0]).toBe("SET");
        expect(c[2]).toMatch(/^[a-z]{100}$/);
      }
    });
    expect({ messages: s.messages, args: s.args, argBytes: s.argBytes }).toEqual(totals(cmds));
    expect(getSetStream(200).buf.equals(s.buf)).toBe(true); // seeded: the same bytes every run
  });

  it("MGET stream has 10 keys per command", () => {
    const s = mgetStream(50);
    const cmds = decodeCommands(s.buf);
    expect(cmds).toHaveLength(50);
    for (const c of cmds) {
      expect(c).toHaveLength(11);
      expect(c[0]).toBe("MGET");
      for (const k of c.slice(1)) expect(k).toMatch(/^key:\d{12}$/);
    }
    expect({ messages: s.messages, args: s.args, argBytes: s.argBytes }).toEqual(totals(cmds));
  });

  it("big SET stream carries values of the asked size", () => {
    const s = bigSetStream(2, 70_000);
    const cmds = decodeCommands(s.buf);
    expect(cmds.map((c) => [c[0], c[2]!.length])).toEqual([["SET", 70_000], ["SET", 70_000]]);
    expect(s.argBytes).toBe(totals(cmds).argBytes);
    expect(bigSetStream(1).name).toBe("SET 10 MiB");
  });

  it("reply streams are what they say", () => {
    expect(okReplies(3).buf.toString()).toBe("+OK\r\n+OK\r\n+OK\r\n");
    const b = bulkReplies(2, 5).buf.toString();
    expect(b).toMatch(/^\$5\r\n[a-z]{5}\r\n\$5\r\n[a-z]{5}\r\n$/);
    const a = arrayReplies(1, 3, 4).buf.toString();
    expect(a).toMatch(/^\*3\r\n(\$4\r\n[a-z]{4}\r\n){3}$/);
    expect(resp3Replies(2).messages).toBe(2);
  });
});

describe("bench:micro chunkers", () => {
  const buf = getSetStream(500).buf;

  it("fixed chunks cover every byte in order, all full but the last", () => {
    const cs = fixedChunks(buf, 1000);
    expect(Buffer.concat(cs).equals(buf)).toBe(true);
    cs.slice(0, -1).forEach((c) => expect(c.length).toBe(1000));
    expect(cs.at(-1)!.length).toBeGreaterThan(0);
    expect(cs.at(-1)!.length).toBeLessThanOrEqual(1000);
  });

  it("random chunks cover every byte in order, sizes within bounds, reproducibly", () => {
    const cs = randomChunks(buf, 16, 4096, 3);
    expect(Buffer.concat(cs).equals(buf)).toBe(true);
    cs.slice(0, -1).forEach((c) => expect(c.length >= 16 && c.length <= 4096).toBe(true));
    expect(new Set(cs.map((c) => c.length)).size).toBeGreaterThan(5);
    expect(randomChunks(buf, 16, 4096, 3).map((c) => c.length)).toEqual(cs.map((c) => c.length));
    expect(randomChunks(buf, 16, 4096, 4).map((c) => c.length)).not.toEqual(cs.map((c) => c.length));
  });
});

describe("bench:micro parser adapters", () => {
  const streams = [getSetStream(300), mgetStream(60), bigSetStream(2, 50_000)];
  const cuts: [string, (b: Buffer) => Buffer[]][] = [
    ["whole", (b) => [b]],
    ["7 B chunks", (b) => fixedChunks(b, 7)],
    ["random", (b) => randomChunks(b, 1, 3000, 9)],
  ];
  const requestAdapters = (): Adapter[] => [new SlotwayRequests(), new RespjsRequests(), new RedisParserRequests()];

  for (const s of streams) {
    for (const [cut, f] of cuts) {
      it(`every request parser yields every argument of ${s.name}, ${cut}`, () => {
        const chunks = f(s.buf);
        for (const a of requestAdapters()) {
          // Twice: the second run must start clean from the first one's state.
          for (let r = 0; r < 2; r++) {
            expect(a.run(chunks), a.name).toBe(s.messages);
            expect({ args: a.tally.args, argBytes: a.tally.argBytes }, a.name).toEqual({ args: s.args, argBytes: s.argBytes });
          }
        }
      });
    }
  }

  it("slotway reports copied messages only for cut input", () => {
    const s = getSetStream(300);
    const a = new SlotwayRequests();
    a.run([s.buf]);
    expect(a.tally.assembled).toBe(0);
    a.run(fixedChunks(s.buf, 7));
    expect(a.tally.assembled).toBeGreaterThan(0);
  });

  it("reply parsers count every reply; only slotway takes RESP3", () => {
    for (const s of [okReplies(100), bulkReplies(100), arrayReplies(20)]) {
      for (const chunks of [[s.buf], fixedChunks(s.buf, 13)]) {
        for (const a of [new SlotwayReplies(), new RespjsReplies(), new RedisParserReplies()]) {
          expect(a.run(chunks), `${a.name} ${s.name}`).toBe(s.messages);
        }
      }
    }
    const r3 = resp3Replies(10);
    const sw = new SlotwayReplies();
    expect(sw.run([r3.buf])).toBe(10);
    expect(sw.tally.argBytes).toBe(r3.buf.length);
    expect(() => new RespjsReplies().run([r3.buf])).toThrow();
    expect(() => new RedisParserReplies().run([r3.buf])).toThrow();
  });

  it("a truncated stream is not counted as complete", () => {
    const s = getSetStream(10);
    const cut = s.buf.subarray(0, s.buf.length - 1);
    for (const a of requestAdapters()) expect(a.run([cut]), a.name).toBe(9);
  });
});

describe("bench:micro CRC", () => {
  const sets = [5, 16, 40, 200].map((len) => keySet(64, len, len));

  it("key sets hold keys of the asked length at unaligned, in-bounds offsets, without braces", () => {
    for (const ks of sets) {
      expect(ks.starts.length).toBe(64);
      for (let i = 0; i < ks.starts.length; i++) {
        const s = ks.starts[i]!;
        expect(s + ks.len).toBeLessThanOrEqual(ks.buf.length);
        if (i > 0) expect(s).toBeGreaterThanOrEqual(ks.starts[i - 1]! + ks.len);
        expect(ks.buf.subarray(s, s + ks.len).includes(0x7b)).toBe(false);
      }
      expect(new Set([...ks.starts].map((s) => s % 8)).size).toBeGreaterThan(1);
    }
  });

  it("all implementations agree, and a wrong one is reported", () => {
    expect(CRC_FNS.length).toBeGreaterThanOrEqual(2);
    expect(crcDisagreements(sets)).toEqual([]);
    const broken = [...CRC_FNS, { name: "off by one", fn: (b: Buffer, s: number, e: number) => CRC_FNS[0]!.fn(b, s, e - 1) }];
    expect(crcDisagreements(sets, broken).some((p) => p.startsWith("off by one"))).toBe(true);
  });

  it("the timed passes compute the same XOR of CRCs", () => {
    for (const ks of sets) {
      const want = jsPass(ks)();
      expect(nodeRsPass(ks)()).toBe(want);
      const z = zlibPass(ks);
      if (z) expect(z()).toBe(want);
      let slots = 0;
      for (let i = 0; i < ks.starts.length; i++) slots ^= CRC_FNS[0]!.fn(ks.buf, ks.starts[i]!, ks.starts[i]! + ks.len) & 1023;
      expect(slotPass(ks)()).toBe(slots);
    }
  });
});

describe("bench:micro arithmetic", () => {
  it("median", () => {
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 3, 2])).toBe(2.5);
    expect(median([])).toBeNaN();
  });

  it("medianRatio pairs samples by round", () => {
    // Round 2 was slow for both: paired by round, the slowdown cancels.
    expect(medianRatio([20, 200, 20], [10, 100, 10])).toBe(2);
    expect(medianRatio([1, 2, 3, 4], [1, 1, 1])).toBe(2);
  });

  it("measure checks every pass and reports per-pass medians", () => {
    let calls = 0;
    const [t] = measure(
      [{ name: "x", pass: () => ++calls, check: () => {} }],
      { samples: 3, minSampleMs: 1, warmupMs: 1, budgetMs: 100 },
    );
    expect(t!.samples).toBe(3);
    expect(t!.ns_per_pass).toBeGreaterThan(0);
    expect(t!.wall).toHaveLength(3);
    expect(t!.cpu_ns_per_pass).toBeGreaterThanOrEqual(0);
    expect(() =>
      measure([{ name: "bad", pass: () => 1, check: () => { throw new Error("wrong"); } }], { samples: 3, minSampleMs: 1, warmupMs: 1, budgetMs: 100 }),
    ).toThrow("wrong");
  });

  it("crcWinners ranks by time", () => {
    const w = crcWinners(
      [
        { impl: "a", ns_per_key: { "5": 10, "200": 400 } },
        { impl: "b", ns_per_key: { "5": 50, "200": 100 } },
      ],
      [5, 200],
    );
    expect(w.map((x) => [x.best, x.factor])).toEqual([["a", 5], ["b", 4]]);
  });

  it("formats", () => {
    expect(fmtNs(12.345)).toBe("12.3");
    expect(fmtNs(2_500_000)).toBe("2.50 ms");
    expect(fmtMBps(1234.4)).toBe("1234");
    expect(fmtMBps(3e8)).toBe("3.0e+8");
  });
});
