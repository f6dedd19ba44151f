// The soak's checkers must see what they claim to see: each actor is fed the replies a faulty
// cluster would give (a lost append, a resurrected key, a stale read, the RPOPLPUSH of issue 8,
// ...) and must count exactly that anomaly, while the replies of a correct cluster count none.
import { describe, expect, it } from "vitest";
import { CounterActor, FamilyActor, ListActor, RegisterActor, TtlActor, type Actor, type Op } from "../../bench/soak/actors.js";
import { Latency } from "../../bench/soak/client.js";
import { Anomalies, compareList, ErrorTexts, type Env, type Tally } from "../../bench/soak/model.js";
import type { Decoded } from "../../src/core/resp-decoder.js";

function env(): Env & { tallies: Record<string, Tally> } {
  const tallies: Record<string, Tally> = {};
  return {
    anomalies: new Anomalies(),
    errors: new ErrorTexts(),
    tallies,
    tally: (k) => (tallies[k] ??= { acked: 0, unknown: 0, checked: 0, abandoned: 0 }),
    where: () => "test",
  };
}

/** A generator that returns the given values in turn (then 0.5). */
function seq(...xs: number[]): () => number {
  let i = 0;
  return () => (i < xs.length ? xs[i++]! : 0.5);
}

const counts = (e: Env): Record<string, number> => Object.fromEntries(e.anomalies.counts);

/** Next op of an actor, asserting its command. */
function next(a: Actor, cmd: string, now = 0): Op {
  const o = a.next(now);
  expect(o.args[0]).toBe(cmd);
  return o;
}

describe("compareList", () => {
  const m = (...vs: string[]) => vs.map((v) => ({ v, st: "acked" as const }));
  const never = (): boolean => false;
  it("an exact list is clean", () => {
    const d = compareList(["a", "b", "c"], m("a", "b", "c"), never);
    expect([d.lost, d.duplicated, d.reordered, d.resurrected, d.foreign]).toEqual([0, 0, 0, 0, 0]);
  });
  it("counts lost, duplicated, reordered, resurrected and foreign elements", () => {
    expect(compareList(["a", "c"], m("a", "b", "c"), never).lost).toBe(1);
    expect(compareList(["a", "b", "b", "c"], m("a", "b", "c"), never).duplicated).toBe(1);
    expect(compareList(["a", "c", "b"], m("a", "b", "c"), never).reordered).toBe(1);
    expect(compareList(["old", "a"], m("a"), (v) => v === "old").resurrected).toBe(1);
    expect(compareList(["zz", "a"], m("a"), never).foreign).toBe(1);
  });
  it("an unknown append may be there or not, once, at its place; a sticky one stays possible", () => {
    const model = [{ v: "a", st: "acked" as const }, { v: "u", st: "unknown" as const }, { v: "s", st: "sticky" as const }, { v: "b", st: "acked" as const }];
    const with_ = compareList(["a", "u", "b"], model, never);
    expect(with_.lost + with_.reordered).toBe(0);
    expect(with_.settled.map((e) => `${e.v}:${e.st}`)).toEqual(["a:acked", "u:acked", "s:sticky", "b:acked"]);
    const without = compareList(["a", "b"], model, never);
    expect(without.lost).toBe(0);
    expect(without.settled.map((e) => e.v)).toEqual(["a", "s", "b"]);
    expect(compareList(["a", "b", "u"], model, never).reordered).toBe(1);
  });
});

describe("ListActor", () => {
  it("passes a correct history and counts a lost append in the LRANGE check", () => {
    const e = env();
    const a = new ListActor(e, "L", seq(), 3, 100);
    const pushes = [next(a, "RPUSH"), next(a, "RPUSH"), next(a, "RPUSH")];
    pushes.forEach((o, i) => o.reply(i + 1, 0, 0));
    const check = next(a, "LRANGE");
    check.reply(pushes.map((o) => o.args[2]!), 0, 0);
    expect(e.anomalies.total).toBe(0);
    const more = [next(a, "RPUSH"), next(a, "RPUSH"), next(a, "RPUSH")];
    more.forEach((o, i) => o.reply(i + 4, 0, 0));
    next(a, "LRANGE").reply([...pushes, more[0]!, more[2]!].map((o) => o.args[2]!), 0, 0);
    expect(counts(e)).toEqual({ lost: 1 });
  });

  it("a wrong RPUSH length forces a check next; a list read right afterwards makes it a stale observation", () => {
    const e = env();
    const a = new ListActor(e, "L", seq(), 16, 100);
    const p = next(a, "RPUSH");
    p.reply(5, 0, 0);
    next(a, "LRANGE").reply([p.args[2]!], 0, 0);
    expect(counts(e)).toEqual({ stale: 1 });
  });

  it("an append with an error reply may be present or absent", () => {
    const e = env();
    const a = new ListActor(e, "L", seq(), 2, 100);
    const p1 = next(a, "RPUSH");
    const p2 = next(a, "RPUSH");
    p1.unknown(false);
    p2.reply(2, 0, 0);
    next(a, "LRANGE").reply([p1.args[2]!, p2.args[2]!], 0, 0);
    expect(e.anomalies.total).toBe(0);
    expect(e.tallies.list!.unknown).toBe(1);
  });

  it("after a DEL, an old element is resurrected", () => {
    const e = env();
    const a = new ListActor(e, "L", seq(), 1, 1);
    const p = next(a, "RPUSH");
    p.reply(1, 0, 0);
    next(a, "LRANGE").reply([p.args[2]!], 0, 0);
    next(a, "DEL").reply(1, 0, 0);
    const p2 = next(a, "RPUSH");
    p2.reply(1, 0, 0);
    next(a, "LRANGE").reply([p.args[2]!, p2.args[2]!], 0, 0);
    expect(counts(e)).toEqual({ resurrected: 1 });
  });
});

describe("CounterActor", () => {
  it("INCR below the acknowledged count is lost, above acknowledged + unknown is duplicated", () => {
    const e = env();
    const a = new CounterActor(e, "N", seq(0, 0, 0, 0));
    next(a, "INCR").reply(1, 0, 0);
    next(a, "INCR").reply(2, 0, 0);
    next(a, "INCR").reply(2, 0, 0);
    expect(counts(e)).toEqual({ lost: 1 });
    next(a, "INCR").reply(5, 0, 0);
    expect(counts(e)).toEqual({ lost: 1, duplicated: 2 });
  });

  it("an unknown INCR widens the bound once; a read going backwards is stale", () => {
    const e = env();
    const a = new CounterActor(e, "N", seq(0, 0, 0.9, 0.9));
    next(a, "INCR").unknown(false);
    next(a, "INCR").reply(2, 0, 0);
    expect(e.anomalies.total).toBe(0);
    next(a, "GET").reply("2", 0, 0);
    next(a, "GET").reply("1", 0, 0);
    expect(counts(e)).toEqual({ stale: 1 });
    a.final()[0]!.reply("1", 0, 0);
    expect(counts(e)).toEqual({ stale: 1, lost: 1 });
  });
});

describe("RegisterActor", () => {
  it("set-then-delete: a correct cycle is clean; a read after the DEL is resurrected", () => {
    const e = env();
    const a = new RegisterActor(e, "S", seq(), "setdel");
    const s = next(a, "SET");
    s.reply("OK", 0, 0);
    next(a, "GET").reply(s.args[2]!, 0, 0);
    next(a, "DEL").reply(1, 0, 0);
    next(a, "GET").reply(null, 0, 0);
    next(a, "EXISTS").reply(0, 0, 0);
    expect(e.anomalies.total).toBe(0);
    const s2 = next(a, "SET");
    s2.reply("OK", 0, 0);
    next(a, "GET").reply(s2.args[2]!, 0, 0);
    next(a, "DEL").reply(1, 0, 0);
    next(a, "GET").reply(s2.args[2]!, 0, 0);
    next(a, "EXISTS").reply(1, 0, 0);
    expect(counts(e)).toEqual({ resurrected: 2 });
  });

  it("a DEL that finds nothing after an acknowledged SET is lost; an old value is stale", () => {
    const e = env();
    const a = new RegisterActor(e, "S", seq(), "setdel");
    const s = next(a, "SET");
    s.reply("OK", 0, 0);
    next(a, "GET").reply("S.999", 0, 0);
    expect(counts(e)).toEqual({ stale: 1 });
    next(a, "DEL").reply(0, 0, 0);
    expect(counts(e)).toEqual({ stale: 1, lost: 1 });
  });

  it("a read may return the value of a write whose outcome is unknown, and learns it", () => {
    const e = env();
    const a = new RegisterActor(e, "R", seq(0.1, 0.1, 0.5, 0.5), "register");
    const s1 = next(a, "SET");
    s1.reply("OK", 0, 0);
    const s2 = next(a, "SET");
    s2.unknown(true);
    next(a, "GET").reply(s2.args[2]!, 0, 0);
    next(a, "GET").reply(s1.args[2]!, 0, 0);
    expect(counts(e)).toEqual({ stale: 1 });
    a.final()[0]!.reply(null, 0, 0);
    expect(counts(e)).toEqual({ stale: 1, lost: 1 });
  });
});

describe("TtlActor", () => {
  it("seen after the expiry is resurrected, gone before it is lost, within the slack either is fine", () => {
    const e = env();
    const a = new TtlActor(e, "T", seq(0, 0.9), 50, { min: 1000, max: 1000, step: 1 });
    const s = a.next(0);
    expect(s.args).toEqual(["SET", "sk:T:0", "T.0", "PX", "1000"]);
    s.reply("OK", 0, 10);
    const g = (): Op => next(a, "GET", 100);
    g().reply("T.0", 500, 510);
    g().reply(null, 1020, 1030);
    g().reply("T.0", 1040, 1045);
    expect(e.anomalies.total).toBe(0);
    g().reply("T.0", 1200, 1201);
    g().reply(null, 800, 810);
    expect(counts(e)).toEqual({ resurrected: 1, lost: 1 });
  });

  it("an unknown SET abandons the key for a new one", () => {
    const e = env();
    const a = new TtlActor(e, "T", seq(0, 0.9), 50);
    a.next(0).unknown(false);
    expect(e.tallies.ttl!.abandoned).toBe(1);
    expect(a.next(0).args[1]).toBe("sk:T:1");
  });
});

describe("FamilyActor", () => {
  /** Runs one 10-step cycle with the replies of a correct server (q empty at the start, d given). */
  function cycle(a: FamilyActor, d: string[], lrangeReply?: (want: string[]) => Decoded): string[] {
    const push = next(a, "RPUSH");
    push.reply(1, 0, 0);
    next(a, "RPOPLPUSH").reply(push.args[2]!, 0, 0);
    const want = [push.args[2]!, ...d];
    next(a, "LRANGE").reply(lrangeReply ? lrangeReply(want) : want, 0, 0);
    return want;
  }

  it("a correct cycle is clean; the RPOPLPUSH of issue 8 (popped, never in the destination) is lost", () => {
    const e = env();
    const a = new FamilyActor(e, "F", seq(), 100);
    const d = cycle(a, []);
    const ms = next(a, "MSET");
    ms.reply("OK", 0, 0);
    next(a, "MGET").reply([ms.args[2]!, ms.args[4]!], 0, 0);
    next(a, "SADD").reply(1, 0, 0);
    next(a, "SMOVE").reply(1, 0, 0); // rand 0.5: SADD s2 m4, then SMOVE s2 s1 m4
    next(a, "SUNIONSTORE").reply(1, 0, 0);
    next(a, "SMEMBERS").reply(["m4"], 0, 0);
    const delU = next(a, "DEL");
    expect(delU.args).toEqual(["DEL", "{Fg0}:u"]);
    delU.reply(1, 0, 0);
    expect(e.anomalies.total).toBe(0);
    cycle(a, d, (want) => want.slice(1));
    expect(counts(e)).toEqual({ lost: 1 });
    expect(Object.fromEntries(e.anomalies.byLabel)).toEqual({ "lost: family LRANGE :d": 1 });
    expect(e.tallies.family!.abandoned).toBe(1);
  });

  it("an MGET missing a value the MSET before it wrote is lost", () => {
    const e = env();
    const a = new FamilyActor(e, "F", seq(), 100);
    cycle(a, []);
    const ms = next(a, "MSET");
    ms.reply("OK", 0, 0);
    next(a, "MGET").reply([null, ms.args[4]!], 0, 0);
    expect(counts(e)).toEqual({ lost: 1 });
  });
});

describe("Latency", () => {
  it("a request slower than the bound is held", () => {
    const e = env();
    const l = new Latency(10_000, e);
    l.record("moving", 9_999, () => "fast");
    expect(e.anomalies.total).toBe(0);
    l.record("down", 10_500, () => "GET k");
    expect(counts(e)).toEqual({ held: 1 });
    expect(l.max.get("down")!.ms).toBe(10_500);
    expect(l.quantile("moving", 0.5)).toBeGreaterThanOrEqual(9_999);
  });
});
