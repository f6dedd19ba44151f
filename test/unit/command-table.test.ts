import { describe, it, expect } from "vitest";
import { lookupCommand, commandByName, keyIndexes, hasBlockOption, Kind, COMMANDS } from "../../src/core/command-table.js";

const argv = (...a: string[]) => a.map((x) => Buffer.from(x));
const at = (args: Buffer[]) => (i: number) => args[i]!;

describe("command table", () => {
  it("looks names up from bytes, case-insensitively, inside a larger buffer", () => {
    const buf = Buffer.from("xxgEtyy");
    expect(lookupCommand(buf, 2, 5)?.name).toBe("GET");
    expect(lookupCommand(buf, 2, 4)).toBeUndefined();
    expect(lookupCommand(Buffer.from("slotsmgrt-exec-wrapper"), 0, 22)?.kind).toBe(Kind.Refused);
    expect(lookupCommand(Buffer.from("NOSUCHCMD"), 0, 9)).toBeUndefined();
    for (const c of COMMANDS) expect(commandByName(c.name.toLowerCase())).toBe(c);
  });

  it("refuses codis's list and every blocking command", () => {
    for (const n of ["KEYS", "SCAN", "FLUSHALL", "MULTI", "SUBSCRIBE", "CONFIG", "RENAME", "MSETNX", "BITOP", "MIGRATE", "HOST:", "SLOTSDEL", "SLOTSMGRTTAGSLOT-ASYNC"]) {
      expect(commandByName(n)?.kind, n).toBe(Kind.Refused);
    }
    for (const n of ["BLPOP", "BRPOP", "BRPOPLPUSH", "BLMOVE", "BLMPOP", "BZPOPMIN", "BZPOPMAX", "BZMPOP"]) {
      expect(commandByName(n)?.kind, n).toBe(Kind.Blocking);
    }
  });

  it("routes by codis's key positions", () => {
    expect(commandByName("GET")!.routeIndex).toBe(1);
    for (const n of ["ZINTERSTORE", "ZUNIONSTORE", "EVAL", "EVALSHA"]) expect(commandByName(n)!.routeIndex, n).toBe(3);
    expect(commandByName("XGROUP")!.routeIndex).toBe(2);
    expect(commandByName("ZUNION")!.routeIndex).toBe(2);
    expect(commandByName("PING")!.kind).toBe(Kind.Ping);
  });

  it("finds every key of a command", () => {
    const mset = argv("MSET", "a", "1", "b", "2");
    expect(keyIndexes(commandByName("MSET")!, mset.length, at(mset))).toEqual([1, 3]);
    const ev = argv("EVAL", "return 1", "2", "k1", "k2", "arg");
    expect(keyIndexes(commandByName("EVAL")!, ev.length, at(ev))).toEqual([3, 4]);
    const zu = argv("ZUNIONSTORE", "dst", "2", "s1", "s2", "WEIGHTS", "1", "2");
    expect(keyIndexes(commandByName("ZUNIONSTORE")!, zu.length, at(zu))).toEqual([1, 3, 4]);
    const xr = argv("XREAD", "COUNT", "2", "STREAMS", "s1", "s2", "0", "0");
    expect(keyIndexes(commandByName("XREAD")!, xr.length, at(xr))).toEqual([4, 5]);
    expect(hasBlockOption(xr.length, at(xr))).toBe(false);
    const xb = argv("XREAD", "BLOCK", "0", "STREAMS", "s", "$");
    expect(hasBlockOption(xb.length, at(xb))).toBe(true);
    const rp = argv("RPOPLPUSH", "a", "b");
    expect(keyIndexes(commandByName("RPOPLPUSH")!, rp.length, at(rp))).toEqual([1, 2]);
  });
});
