import { describe, it, expect } from "vitest";
import {
  lookupCommand, commandByName, keyIndexes, hasBlockOption, Kind, KeyMode, COMMANDS,
} from "../../src/core/command-table.js";
import { keysSlot, CROSSSLOT, NO_KEYS, SORT_BY_DENIED, SORT_GET_DENIED, patternSlot } from "../../src/core/key-check.js";
import { slotOfKey } from "../../src/core/slot.js";

const argv = (...a: string[]) => a.map((x) => Buffer.from(x));
const at = (args: Buffer[]) => (i: number) => args[i]!;

/** The request bytes and offsets of an argument list, as the scanner would give them. */
function request(...a: string[]): [Buffer, Int32Array, number] {
  const parts = a.map((x) => Buffer.from(x));
  const offs = new Int32Array(parts.length * 2);
  let p = 3; // some bytes before the first argument, as in a real receive buffer
  for (let i = 0; i < parts.length; i++) {
    offs[2 * i] = p;
    p += parts[i]!.length;
    offs[2 * i + 1] = p;
    p += 2;
  }
  const buf = Buffer.alloc(p);
  parts.forEach((b, i) => b.copy(buf, offs[2 * i]!));
  return [buf, offs, parts.length];
}

function slotOf(...a: string[]): number {
  const [buf, offs, argc] = request(...a);
  return keysSlot(commandByName(a[0]!)!, buf, offs, argc);
}

describe("command table", () => {
  it("looks names up from bytes, case-insensitively, inside a larger buffer", () => {
    const buf = Buffer.from("xxgEtyy");
    expect(lookupCommand(buf, 2, 5)?.name).toBe("GET");
    expect(lookupCommand(buf, 2, 4)).toBeUndefined();
    expect(lookupCommand(Buffer.from("slotsmgrt-exec-wrapper"), 0, 22)?.kind).toBe(Kind.Refused);
    expect(lookupCommand(Buffer.from("NOSUCHCMD"), 0, 9)).toBeUndefined();
    for (const c of COMMANDS) expect(commandByName(c.name.toLowerCase())).toBe(c);
    expect(commandByName("object|encoding")?.errName).toBe("object|encoding");
  });

  it("gives every command class its handling", () => {
    for (const n of ["CONFIG", "MIGRATE", "MOVE", "HOST:", "SLOTSDEL", "SLOTSMGRTTAGSLOT-ASYNC", "SCRIPT", "FUNCTION"]) {
      expect(commandByName(n)?.kind, n).toBe(Kind.Refused);
    }
    for (const n of ["BLPOP", "BRPOP", "BRPOPLPUSH", "BLMOVE", "BLMPOP", "BZPOPMIN", "BZPOPMAX", "BZMPOP"]) {
      expect(commandByName(n)?.kind, n).toBe(Kind.Blocking);
    }
    for (const n of ["RENAME", "RENAMENX", "MSETNX", "COPY", "SMOVE", "LMOVE", "RPOPLPUSH", "BITOP", "PFMERGE", "OBJECT", "MEMORY", "EVAL", "FCALL", "SORT"]) {
      expect(commandByName(n)?.kind, n).toBe(Kind.Forward);
    }
    for (const n of ["SCAN", "DBSIZE", "RANDOMKEY", "KEYS", "FLUSHDB", "FLUSHALL", "INFO", "PUBSUB"]) {
      expect(commandByName(n)?.kind, n).toBe(Kind.ClusterWide);
    }
    expect(commandByName("MULTI")!.kind).toBe(Kind.Multi);
    expect(commandByName("SSUBSCRIBE")!.kind).toBe(Kind.Subscribe);
    expect(commandByName("CLIENT")!.kind).toBe(Kind.Client);
  });

  it("takes arity from Redis", () => {
    expect([commandByName("GET")!.minArgs, commandByName("GET")!.maxArgs]).toEqual([2, 2]);
    expect(commandByName("MSET")!.minArgs).toBe(3);
    expect(commandByName("MSET")!.maxArgs).toBeGreaterThan(1e9);
    expect(commandByName("OBJECT|ENCODING")!.minArgs).toBe(3);
  });

  it("routes by codis's key positions, and skips the check for one fixed key", () => {
    expect(commandByName("GET")!.routeIndex).toBe(1);
    expect(commandByName("GET")!.keyMode).toBe(KeyMode.Single);
    for (const n of ["ZINTERSTORE", "ZUNIONSTORE", "EVAL", "EVALSHA"]) expect(commandByName(n)!.routeIndex, n).toBe(3);
    expect(commandByName("ZUNION")!.routeIndex).toBe(2);
    expect(commandByName("RENAME")!.keyMode).toBe(KeyMode.Multi);
    expect(commandByName("OBJECT")!.keyMode).toBe(KeyMode.Subcommand);
    expect(commandByName("SORT")!.keyMode).toBe(KeyMode.Sort);
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
    const so = argv("SORT", "src", "LIMIT", "0", "1", "GET", "STORE", "STORE", "dst");
    expect(keyIndexes(commandByName("SORT")!, so.length, at(so))).toEqual([1, 8]);
    const ob = argv("OBJECT", "ENCODING", "k");
    expect(keyIndexes(commandByName("OBJECT")!, ob.length, at(ob))).toEqual([2]);
    const gr = argv("GEORADIUS", "src", "1", "2", "3", "km", "STORE", "dst");
    expect(keyIndexes(commandByName("GEORADIUS")!, gr.length, at(gr))).toEqual([1, 7]);
    // PUBLISH routes by its channel but names no key (a migration moves nothing for it).
    const pu = argv("PUBLISH", "ch", "m");
    expect(keyIndexes(commandByName("PUBLISH")!, pu.length, at(pu))).toEqual([]);
  });
});

describe("key check", () => {
  it("answers the one slot of every key, or CROSSSLOT", () => {
    expect(slotOf("RENAME", "{x}a", "{x}b")).toBe(slotOfKey("x"));
    expect(slotOf("RENAME", "a", "b")).toBe(slotOfKey("a") === slotOfKey("b") ? slotOfKey("a") : CROSSSLOT);
    expect(slotOf("MSETNX", "{u}1", "v", "{u}2", "v")).toBe(slotOfKey("u"));
    expect(slotOf("MSETNX", "{u}1", "{v}is-a-value", "{w}2", "v")).toBe(CROSSSLOT);
    expect(slotOf("MSETNX", "{u}1", "{v}is-a-value", "{u}2", "v")).toBe(slotOfKey("u")); // values are not keys
    expect(slotOf("EVAL", "s", "2", "{e}1", "{e}2", "{other}arg")).toBe(slotOfKey("e"));
    expect(slotOf("EVAL", "s", "0", "{other}arg")).toBe(NO_KEYS);
    expect(slotOf("EVAL", "s", "3", "{e}1")).toBe(NO_KEYS); // numkeys past the arguments: Redis refuses it
    expect(slotOf("XREAD", "STREAMS", "{s}1", "{s}2", "0", "0")).toBe(slotOfKey("s"));
    expect(slotOf("XREAD", "STREAMS", "{s}1", "{t}2", "0", "0")).toBe(CROSSSLOT);
    expect(slotOf("OBJECT", "ENCODING", "{o}k")).toBe(slotOfKey("o"));
    expect(slotOf("OBJECT", "HELP")).toBe(NO_KEYS);
    expect(slotOf("SSUBSCRIBE", "{c}1", "{c}2")).toBe(slotOfKey("c"));
    expect(slotOf("SSUBSCRIBE", "{c}1", "{d}2")).toBe(CROSSSLOT);
  });

  it("checks SORT's STORE key and the keys its BY / GET patterns form", () => {
    expect(slotOf("SORT", "{o}l", "STORE", "{o}d")).toBe(slotOfKey("o"));
    expect(slotOf("SORT", "{o}l", "STORE", "{p}d")).toBe(CROSSSLOT);
    expect(slotOf("SORT", "{o}l", "BY", "{o}w_*", "GET", "#", "GET", "{o}h_*->f")).toBe(slotOfKey("o"));
    expect(slotOf("SORT", "{o}l", "BY", "nosort")).toBe(slotOfKey("o"));
    expect(slotOf("SORT", "{o}l", "BY", "w_*")).toBe(SORT_BY_DENIED);
    expect(slotOf("SORT", "{o}l", "GET", "*_{o}")).toBe(SORT_GET_DENIED);
    expect(slotOf("SORT", "{o}l", "BY", "{p}w_*")).toBe(CROSSSLOT);
    expect(slotOf("SORT_RO", "{o}l", "STORE", "{p}d")).toBe(slotOfKey("o")); // SORT_RO has no STORE
    const p = (s: string) => patternSlot(Buffer.from(s), 0, s.length);
    expect(p("#")).toBe(-2);
    expect(p("plain")).toBe(-2);
    expect(p("{*}x")).toBe(-1);
    expect(p("{a}*")).toBe(slotOfKey("a"));
  });
});
