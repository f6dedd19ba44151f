// The soak's actors: each owns a few keys (one writer per key: the client that holds the actor)
// and a model of what they must hold, plans the next command, and checks every reply against
// the model. Replies of one connection come in the order of the commands, so when a reply is
// checked, the outcome of every earlier command of the same client is already known.
//
// A write's outcome is "unknown" when it got an error reply (it may or may not have run) or no
// reply at all ("sticky": it may even run later). Lists, counters and registers keep modelling
// through unknown outcomes (a read may return the value of an unknown write); TTL keys and hash-tag
// families, whose models would branch too much, are abandoned instead: a new key (generation)
// takes over and the tally counts it.
import type { Decoded } from "../../src/core/resp-decoder.js";
import { slotOfKey } from "../../src/core/slot.js";
import { compareExact, compareList, describeDiff, show, type AnomalyCategory, type Env, type ListEntry, type Tally } from "./model.js";

/** One command of an actor, with what to do with its reply. */
export interface Op {
  readonly args: string[];
  /** A non-error reply; sentAt/at are performance.now() of the send and of the reply. */
  reply(r: Decoded, sentAt: number, at: number): void;
  /** An error reply (sticky false) or none at all (sticky true). */
  unknown(sticky: boolean): void;
}

export interface Placement {
  /** Keys that must exist (on the group that owns their slot, and nowhere else). */
  live: string[];
  /** Keys that must not exist on any group. */
  dead: string[];
}

export abstract class Actor {
  protected gen = 0;
  protected readonly tally: Tally;
  constructor(readonly kind: string, protected readonly env: Env, protected readonly name: string, protected readonly rand: () => number) {
    this.tally = env.tally(kind);
  }
  /** The next command (planned from what was sent so far, not from replies). */
  abstract next(now: number): Op;
  /** A read to send on the client's other connection (the other proxy) while nothing of this client is in flight. */
  crossRead(): Op | undefined {
    return undefined;
  }
  /** Reads that check the end state (run after the load stopped and the moves settled). */
  abstract final(): Op[];
  abstract placement(): Placement;

  /** The key name as the run confines it to its slots. */
  protected pinned(base: string): string {
    return this.env.pin ? this.env.pin(base) : base;
  }
  protected at(key: string): string {
    const slot = slotOfKey(key);
    return `${key} (slot ${slot}, ${this.env.where(slot)})`;
  }
  /** Records an anomaly, labelled with this kind and the command the detail names. */
  protected flag(cat: AnomalyCategory, detail: string, n = 1): void {
    const cmd = COMMAND_RE.exec(detail)?.[1] ?? "?";
    const part = cmd === "LRANGE" || cmd === "SMEMBERS" ? (/\}(:\w+)/.exec(detail)?.[1] ?? "") : "";
    const label = `${this.kind} ${detail.startsWith("final ") ? "final " : ""}${cmd}${part ? ` ${part}` : ""}${detail.includes("other proxy") ? " (other proxy)" : ""}`;
    this.env.anomalies.add(cat, detail, n, label);
  }
  protected abandon(): void {
    this.gen++;
    this.tally.abandoned++;
  }
}

const COMMAND_RE = /\b(RPUSH|LRANGE|LLEN|INCR|GET|SET|DEL|EXISTS|MSET|MGET|SADD|SMOVE|SUNIONSTORE|SMEMBERS|RPOPLPUSH)\b/;

function num(r: Decoded): number | undefined {
  return typeof r === "number" ? r : undefined;
}
function strs(r: Decoded): string[] | undefined {
  if (!Array.isArray(r)) return undefined;
  const out: string[] = [];
  for (const x of r) {
    if (typeof x !== "string") return undefined;
    out.push(x);
  }
  return out;
}

function op(args: string[], reply: (r: Decoded, sentAt: number, at: number) => void, unknown: (sticky: boolean) => void): Op {
  return { args, reply, unknown };
}

// ----------------------------------------------------------------------------------------------
// Lists: RPUSH of unique values; LRANGE checks the whole list against the appends.

export class ListActor extends Actor {
  private entries: ListEntry[] = [];
  /** Values with a sequence number ≤ this were deleted with the list. */
  private deadUpTo = -1;
  private seq = 0;
  private sinceCheck = 0;
  private length = 0;
  private delNext = false;
  private checkNext = false;
  /** A reply that contradicted the model, to be confirmed (or found transient) by the next LRANGE. */
  private suspicion = "";

  constructor(env: Env, name: string, rand: () => number, private readonly checkEvery = 16, private readonly maxLen = 48) {
    super("list", env, name, rand);
  }

  private key(gen = this.gen): string {
    return this.pinned(`sk:${this.name}:${gen}`);
  }
  private seqOf(v: string): number | undefined {
    const p = `${this.name}.`;
    return v.startsWith(p) ? Number(v.slice(p.length)) : undefined;
  }
  private isDead = (v: string): boolean => {
    const s = this.seqOf(v);
    return s !== undefined && s <= this.deadUpTo;
  };

  next(): Op {
    if (this.delNext) {
      this.delNext = false;
      this.length = 0;
      return this.del();
    }
    if (this.checkNext || this.sinceCheck >= this.checkEvery) {
      this.checkNext = false;
      this.sinceCheck = 0;
      if (this.length >= this.maxLen) this.delNext = true;
      return this.lrange(false);
    }
    this.sinceCheck++;
    this.length++;
    return this.rpush();
  }

  private rpush(): Op {
    const gen = this.gen;
    const key = this.key();
    const v = `${this.name}.${this.seq++}`;
    return op(["RPUSH", key, v], (r) => {
      if (gen !== this.gen) return;
      this.tally.acked++;
      const n = num(r);
      let acked = 0;
      for (const e of this.entries) if (e.st === "acked") acked++;
      const maybe = this.entries.length - acked;
      if (n === undefined || n < acked + 1 || n > acked + maybe + 1) {
        this.suspicion = `RPUSH ${v} answered ${show(r)} with ${acked} acknowledged (+${maybe} unknown) appends before it`;
        this.checkNext = true;
      }
      this.entries.push({ v, st: "acked" });
    }, (sticky) => {
      if (gen !== this.gen) return;
      this.tally.unknown++;
      this.entries.push({ v, st: sticky ? "sticky" : "unknown" });
    });
  }

  private lrange(final: boolean): Op {
    const gen = this.gen;
    const key = this.key();
    return op(["LRANGE", key, "0", "-1"], (r) => {
      if (gen !== this.gen) return;
      this.tally.checked++;
      const got = strs(r);
      if (!got) {
        this.flag("stale", `${this.at(key)}: LRANGE answered ${show(r)}`);
        return;
      }
      const d = compareList(got, this.entries, this.isDead);
      const what = `${final ? "final " : ""}LRANGE ${this.at(key)}: ${describeDiff(d)}; got ${show(got)}, appends ${show(this.entries)}${this.suspicion ? `; before: ${this.suspicion}` : ""}`;
        this.flag("lost", what, d.lost);
      this.flag("duplicated", what, d.duplicated);
      this.flag("reordered", what, d.reordered);
      this.flag("resurrected", what, d.resurrected);
      this.flag("stale", what, d.foreign);
      if (d.lost + d.duplicated + d.reordered + d.resurrected + d.foreign === 0 && this.suspicion) {
        this.flag("stale", `${this.at(key)}: ${this.suspicion} (the list read afterwards was right)`);
      }
      this.suspicion = "";
      this.entries = d.settled;
    }, () => undefined);
  }

  private del(): Op {
    const gen = this.gen;
    const key = this.key();
    const upTo = this.seq - 1;
    return op(["DEL", key], (r) => {
      if (gen !== this.gen) return;
      this.tally.acked++;
      this.tally.checked++;
      const n = num(r);
      const acked = this.entries.filter((e) => e.st === "acked").length;
      if (n === 0 && acked > 0) this.flag("lost", `${this.at(key)}: DEL answered 0 with ${acked} acknowledged appends`, acked);
      else if (n === 1 && this.entries.length === 0) this.flag("resurrected", `${this.at(key)}: DEL answered 1 for an empty list`);
      else if (n !== 0 && n !== 1) this.flag("stale", `${this.at(key)}: DEL answered ${show(r)}`);
      this.entries = this.entries.filter((e) => e.st === "sticky");
      this.deadUpTo = upTo;
    }, () => {
      if (gen !== this.gen) return;
      this.tally.unknown++;
      this.entries = [];
      this.abandon();
    });
  }

  override crossRead(): Op {
    const gen = this.gen;
    const key = this.key();
    return op(["LLEN", key], (r) => {
      if (gen !== this.gen) return;
      this.tally.checked++;
      const n = num(r);
      let acked = 0;
      for (const e of this.entries) if (e.st === "acked") acked++;
      if (n === undefined || n < acked || n > this.entries.length) {
        this.flag("stale", `LLEN ${this.at(key)} through the other proxy answered ${show(r)}, model ${acked} acknowledged + ${this.entries.length - acked} unknown`);
      }
    }, () => undefined);
  }

  final(): Op[] {
    return [this.lrange(true)];
  }

  placement(): Placement {
    const sure = this.entries.every((e) => e.st === "acked");
    if (!sure) return { live: [], dead: [] };
    return this.entries.length ? { live: [this.key()], dead: [] } : { live: [], dead: [this.key()] };
  }
}

// ----------------------------------------------------------------------------------------------
// Counters: INCR; a reply or read must lie between acknowledged and acknowledged + unknown, and
// never below what was seen before.

export class CounterActor extends Actor {
  /** The value the model knows for sure. */
  private value = 0;
  /** INCRs with an error reply since the value was last learned. */
  private maybe = 0;
  /** INCRs with no reply: they may apply at any time. */
  private sticky = 0;

  constructor(env: Env, name: string, rand: () => number) {
    super("counter", env, name, rand);
  }

  private key(): string {
    return this.pinned(`sk:${this.name}:${this.gen}`);
  }

  next(): Op {
    return this.rand() < 0.85 ? this.incr() : this.get("GET", false);
  }

  /** Learns from a value the server showed (v within bounds). */
  private learn(v: number): void {
    const applied = v - this.value;
    this.sticky = Math.max(0, this.sticky - Math.max(0, applied - this.maybe));
    this.maybe = 0;
    this.value = v;
  }

  private incr(): Op {
    const key = this.key();
    return op(["INCR", key], (r) => {
      this.tally.acked++;
      this.tally.checked++;
      const v = num(r);
      const lo = this.value + 1;
      const hi = this.value + 1 + this.maybe + this.sticky;
      if (v === undefined) {
        this.flag("stale", `${this.at(key)}: INCR answered ${show(r)}`);
        return;
      }
      if (v < lo) this.flag("lost", `${this.at(key)}: INCR answered ${v}, acknowledged count before it ${this.value}`, lo - v);
      if (v > hi) this.flag("duplicated", `${this.at(key)}: INCR answered ${v}, at most ${hi} possible`, v - hi);
      if (v < lo || v > hi) {
        this.value = v;
        this.maybe = 0;
      } else this.learn(v);
    }, (sticky) => {
      this.tally.unknown++;
      if (sticky) this.sticky++;
      else this.maybe++;
    });
  }

  private get(how: string, final: boolean, cross = false): Op {
    const key = this.key();
    return op(["GET", key], (r) => {
      this.tally.checked++;
      const v = r === null ? 0 : typeof r === "string" && /^\d+$/.test(r) ? Number(r) : undefined;
      const lo = this.value;
      const hi = this.value + this.maybe + this.sticky;
      const via = `${final ? "final " : ""}${how}${cross ? " through the other proxy" : ""}`;
      if (v === undefined) this.flag("stale", `${via} ${this.at(key)} answered ${show(r)}`);
      else if (v < lo) this.flag(final ? "lost" : "stale", `${via} ${this.at(key)} answered ${v}, acknowledged ${lo}`, final ? lo - v : 1);
      else if (v > hi) this.flag("duplicated", `${via} ${this.at(key)} answered ${v}, at most ${hi} possible`, final ? v - hi : 1);
      else this.learn(v);
    }, () => undefined);
  }

  override crossRead(): Op {
    return this.get("GET", false, true);
  }

  final(): Op[] {
    return [this.get("GET", true)];
  }

  placement(): Placement {
    if (this.maybe || this.sticky) return { live: [], dead: [] };
    return this.value > 0 ? { live: [this.key()], dead: [] } : { live: [], dead: [this.key()] };
  }
}

// ----------------------------------------------------------------------------------------------
// Registers: SET / GET / DEL / EXISTS. "setdel" walks SET, GET, DEL, GET, EXISTS in a cycle (after
// an acknowledged DEL no read may see the key again); "register" mixes them at random.

interface Maybe {
  v: string | null;
  sticky: boolean;
}

export class RegisterActor extends Actor {
  private known: string | null = null;
  private possible: Maybe[] = [];
  private seq = 0;
  private step = 0;

  constructor(env: Env, name: string, rand: () => number, private readonly mode: "register" | "setdel") {
    super(mode, env, name, rand);
  }

  private key(): string {
    return this.pinned(`sk:${this.name}:${this.gen}`);
  }
  private mine(v: string): boolean {
    return v.startsWith(`${this.name}.`);
  }

  next(): Op {
    let what: string;
    if (this.mode === "setdel") {
      what = ["SET", "GET", "DEL", "GET", "EXISTS"][this.step++ % 5]!;
    } else {
      const x = this.rand();
      what = x < 0.35 ? "SET" : x < 0.85 ? "GET" : x < 0.95 ? "DEL" : "EXISTS";
    }
    switch (what) {
      case "SET":
        return this.set();
      case "DEL":
        return this.del();
      case "EXISTS":
        return this.exists();
      default:
        return this.get(false, false);
    }
  }

  private set(): Op {
    const key = this.key();
    const v = `${this.name}.${this.seq++}`;
    return op(["SET", key, v], (r) => {
      this.tally.acked++;
      if (r !== "OK") this.flag("stale", `${this.at(key)}: SET answered ${show(r)}`);
      this.known = v;
      this.possible = this.possible.filter((p) => p.sticky);
    }, (sticky) => {
      this.tally.unknown++;
      this.possible.push({ v, sticky });
    });
  }

  private del(): Op {
    const key = this.key();
    return op(["DEL", key], (r) => {
      this.tally.acked++;
      this.tally.checked++;
      const n = num(r);
      const allowed = new Set([this.known !== null ? 1 : 0, ...this.possible.map((p) => (p.v !== null ? 1 : 0))]);
      if (n === undefined || !allowed.has(n)) {
        if (n === 0) this.flag("lost", `${this.at(key)}: DEL answered 0 after the acknowledged SET of ${this.known}`);
        else if (n === 1) this.flag("resurrected", `${this.at(key)}: DEL answered 1 after an acknowledged DEL`);
        else this.flag("stale", `${this.at(key)}: DEL answered ${show(r)}`);
      }
      this.known = null;
      this.possible = this.possible.filter((p) => p.sticky);
    }, (sticky) => {
      this.tally.unknown++;
      this.possible.push({ v: null, sticky });
    });
  }

  /** Checks that the value read is the last acknowledged one or one of an unknown write, and learns from it. */
  private observe(g: string | null, what: string, final: boolean): void {
    this.tally.checked++;
    if (g === this.known) {
      this.possible = this.possible.filter((p) => p.sticky);
      return;
    }
    const i = this.possible.findIndex((p) => p.v === g);
    if (i >= 0) {
      this.known = g;
      this.possible = this.possible.filter((p, j) => p.sticky && j !== i);
      return;
    }
    const detail = `${what}: got ${show(g)}, last acknowledged ${show(this.known)}${this.possible.length ? `, unknown ${show(this.possible.map((p) => p.v))}` : ""}`;
    if (this.known === null && g !== null && this.mine(g)) this.flag("resurrected", detail);
    else if (final && this.known !== null) this.flag("lost", detail);
    else this.flag("stale", detail);
  }

  private get(final: boolean, cross: boolean): Op {
    const key = this.key();
    return op(["GET", key], (r) => {
      this.observe(typeof r === "string" || r === null ? r : `<${show(r)}>`, `${final ? "final " : ""}GET ${this.at(key)}${cross ? " through the other proxy" : ""}`, final);
    }, () => undefined);
  }

  private exists(): Op {
    const key = this.key();
    return op(["EXISTS", key], (r) => {
      this.tally.checked++;
      const n = num(r);
      const allowed = new Set([this.known !== null ? 1 : 0, ...this.possible.map((p) => (p.v !== null ? 1 : 0))]);
      if (n === undefined || !allowed.has(n)) {
        const detail = `EXISTS ${this.at(key)} answered ${show(r)}, last acknowledged ${show(this.known)}`;
        this.flag(n === 1 ? "resurrected" : "stale", detail);
      }
    }, () => undefined);
  }

  override crossRead(): Op {
    return this.get(false, true);
  }

  final(): Op[] {
    return [this.get(true, false)];
  }

  placement(): Placement {
    if (this.possible.length) return { live: [], dead: [] };
    return this.known !== null ? { live: [this.key()], dead: [] } : { live: [], dead: [this.key()] };
  }
}

// ----------------------------------------------------------------------------------------------
// TTL keys: SET k v PX n; before the expiry a read must see v (unless deleted), after it never.

interface TtlState {
  v: string;
  ttl: number;
  /** The SET was sent / answered at (performance.now()); the key expires between sentAt+ttl and ackAt+ttl. */
  sentAt: number;
  ackAt: number;
  deleted: boolean;
}

export class TtlActor extends Actor {
  private m: TtlState | undefined;
  private seq = 0;
  /** Planning: when the last SET was sent, its ttl, and whether this cycle deletes. */
  private planAt = -Infinity;
  private planTtl = 0;
  private planDel = false;
  private delSent = false;

  /** ttl: PX values are drawn from [min, max] in steps of `step` ms (Pika counts whole seconds). */
  constructor(env: Env, name: string, rand: () => number, private readonly slackMs: number,
    private readonly ttl: { min: number; max: number; step: number } = { min: 300, max: 1500, step: 1 }) {
    super("ttl", env, name, rand);
  }

  private key(): string {
    return this.pinned(`sk:${this.name}:${this.gen}`);
  }

  next(now: number): Op {
    if (now > this.planAt + this.planTtl + 2 * this.slackMs + 20) {
      this.planAt = now;
      const t = this.ttl;
      this.planTtl = t.min + t.step * Math.floor(this.rand() * (Math.floor((t.max - t.min) / t.step) + 1));
      this.planDel = this.rand() < 0.25;
      this.delSent = false;
      return this.set(this.planTtl);
    }
    if (this.planDel && !this.delSent && now > this.planAt + this.planTtl / 2) {
      this.delSent = true;
      return this.del();
    }
    return this.get(false);
  }

  private set(ttl: number): Op {
    const gen = this.gen;
    const key = this.key();
    const v = `${this.name}.${this.seq++}`;
    return op(["SET", key, v, "PX", String(ttl)], (r, sentAt, at) => {
      if (gen !== this.gen) return;
      this.tally.acked++;
      if (r !== "OK") this.flag("stale", `${this.at(key)}: SET PX answered ${show(r)}`);
      this.m = { v, ttl, sentAt, ackAt: at, deleted: false };
    }, () => {
      if (gen !== this.gen) return;
      this.tally.unknown++;
      this.m = undefined;
      this.abandon();
    });
  }

  private del(): Op {
    const gen = this.gen;
    const key = this.key();
    return op(["DEL", key], (r, sentAt, at) => {
      if (gen !== this.gen) return;
      this.tally.acked++;
      this.tally.checked++;
      const n = num(r);
      const m = this.m;
      if (!m || m.deleted) {
        if (n !== 0) this.flag("resurrected", `${this.at(key)}: DEL answered ${show(r)} for a key never set or deleted`);
      } else if (n === 0 && at < m.sentAt + m.ttl - this.slackMs) {
        this.flag("lost", `${this.at(key)}: DEL answered 0 ${Math.round(m.sentAt + m.ttl - at)} ms before the expiry of the acknowledged SET PX ${m.ttl}`);
      } else if (n === 1 && sentAt > m.ackAt + m.ttl + this.slackMs) {
        this.flag("resurrected", `${this.at(key)}: DEL answered 1 ${Math.round(sentAt - m.ackAt - m.ttl)} ms after the expiry (PX ${m.ttl})`);
      } else if (n !== 0 && n !== 1) this.flag("stale", `${this.at(key)}: DEL answered ${show(r)}`);
      if (m) m.deleted = true;
    }, () => {
      if (gen !== this.gen) return;
      this.tally.unknown++;
      this.m = undefined;
      this.abandon();
    });
  }

  private get(final: boolean): Op {
    const gen = this.gen;
    const key = this.key();
    return op(["GET", key], (r, sentAt, at) => {
      if (gen !== this.gen) return;
      this.tally.checked++;
      const m = this.m;
      const what = `${final ? "final " : ""}GET ${this.at(key)}`;
      if (!m || m.deleted) {
        if (r !== null) this.flag("resurrected", `${what}: got ${show(r)} after ${m ? "an acknowledged DEL" : "nothing was set"}`);
        return;
      }
      if (r === m.v) {
        const late = sentAt - (m.ackAt + m.ttl);
        if (late > this.slackMs) this.flag("resurrected", `${what}: got ${m.v} ${Math.round(late)} ms after its expiry (PX ${m.ttl})`);
      } else if (r === null) {
        const early = m.sentAt + m.ttl - at;
        if (early > this.slackMs) this.flag("lost", `${what}: gone ${Math.round(early)} ms before its expiry (PX ${m.ttl}, set ${Math.round(at - m.ackAt)} ms before)`);
      } else {
        this.flag("stale", `${what}: got ${show(r)}, last acknowledged ${m.v}`);
      }
    }, () => undefined);
  }

  final(): Op[] {
    return [this.get(true)];
  }

  placement(): Placement {
    // Expired keys: EXISTS on a server expires them, so none may be found anywhere.
    return { live: [], dead: [this.key()] };
  }
}

// ----------------------------------------------------------------------------------------------
// Hash-tag families: keys {tag}:q, :d, :a, :b, :s1, :s2, :u and multi-key commands within the tag
// (RPOPLPUSH, MSET/MGET, SMOVE, SUNIONSTORE, multi-key DEL). The model is exact; any unknown
// outcome or anomaly abandons the family (a new tag).

const MEMBERS = ["m0", "m1", "m2", "m3", "m4", "m5", "m6", "m7"];

interface FamilyModel {
  q: string[];
  /** Newest first, as RPOPLPUSH pushes to the head. */
  d: string[];
  a: string | null;
  b: string | null;
  s1: Set<string>;
  s2: Set<string>;
  u: Set<string>;
  deadUpTo: number;
}

const freshFamily = (): FamilyModel => ({ q: [], d: [], a: null, b: null, s1: new Set(), s2: new Set(), u: new Set(), deadUpTo: -1 });

export class FamilyActor extends Actor {
  private m = freshFamily();
  private seq = 0;
  private step = 0;
  private planD = 0;

  /**
   * setStores false: SMOVE and SUNIONSTORE are replaced by one-key steps (SREM, SCARD) for a
   * backend that refuses them (Pika 3.4 in sharding mode: "This command is not supported in
   * current configuration", whatever the keys).
   */
  constructor(env: Env, name: string, rand: () => number, private readonly maxD = 24, private readonly setStores = true) {
    super("family", env, name, rand);
  }

  private k(part: string, gen = this.gen): string {
    return `{${this.pinned(`${this.name}g${gen}`)}}:${part}`;
  }

  private fail(cat: "lost" | "duplicated" | "reordered" | "resurrected" | "stale", detail: string, n = 1): void {
    this.flag(cat, detail, n);
  }

  /** Wraps a family command: ignores replies of an abandoned generation, abandons on unknown outcomes. */
  private fop(args: string[], check: (r: Decoded) => boolean, write: boolean): Op {
    const gen = this.gen;
    return op(args, (r) => {
      if (gen !== this.gen) return;
      this.tally.checked++;
      if (write) this.tally.acked++;
      if (!check(r)) {
        this.m = freshFamily();
        this.abandon();
      }
    }, () => {
      if (gen !== this.gen) return;
      if (write) {
        this.tally.unknown++;
        this.m = freshFamily();
        this.abandon();
      }
    });
  }

  next(): Op {
    const s = this.step++ % 10;
    const m = this.m;
    switch (s) {
      case 0: {
        const q = this.k("q");
        const v = `${this.name}.${this.seq++}`;
        return this.fop(["RPUSH", q, v], (r) => {
          const want = m.q.length + 1;
          if (r !== want) {
            this.fail(num(r) !== undefined && num(r)! < want ? "lost" : "duplicated", `RPUSH ${this.at(q)} ${v} answered ${show(r)}, want ${want}`);
            return false;
          }
          m.q.push(v);
          return true;
        }, true);
      }
      case 1: {
        const q = this.k("q");
        this.planD++;
        return this.fop(["RPOPLPUSH", q, this.k("d")], (r) => {
          const want = m.q.length ? m.q[m.q.length - 1]! : null;
          if (r !== want) {
            this.fail(want !== null && r === null ? "lost" : "stale", `RPOPLPUSH ${this.at(q)} ${this.k("d")} answered ${show(r)}, want ${show(want)}`);
            return false;
          }
          if (want !== null) {
            m.q.pop();
            m.d.unshift(want);
          }
          return true;
        }, true);
      }
      case 2: {
        const d = this.k("d");
        return this.fop(["LRANGE", d, "0", "-1"], (r) => this.checkList(d, r, m.d, m), false);
      }
      case 3: {
        const a = `${this.name}.${this.seq++}`;
        const b = `${this.name}.${this.seq++}`;
        return this.fop(["MSET", this.k("a"), a, this.k("b"), b], (r) => {
          if (r !== "OK") {
            this.fail("stale", `MSET ${this.at(this.k("a"))} answered ${show(r)}`);
            return false;
          }
          m.a = a;
          m.b = b;
          return true;
        }, true);
      }
      case 4: {
        const ka = this.k("a");
        return this.fop(["MGET", ka, this.k("b")], (r) => {
          const got = Array.isArray(r) ? r : undefined;
          if (!got || got.length !== 2 || got[0] !== m.a || got[1] !== m.b) {
            this.fail(got && ((m.a !== null && got[0] === null) || (m.b !== null && got[1] === null)) ? "lost" : "stale",
              `MGET ${this.at(ka)} ${this.k("b")} answered ${show(r)}, want ${show([m.a, m.b])}`);
            return false;
          }
          return true;
        }, false);
      }
      case 5: {
        const which = this.rand() < 0.5 ? "s1" : "s2";
        const key = this.k(which);
        const member = MEMBERS[Math.floor(this.rand() * MEMBERS.length)]!;
        return this.fop(["SADD", key, member], (r) => {
          const set = m[which];
          const want = set.has(member) ? 0 : 1;
          if (r !== want) {
            this.fail(want === 0 ? "lost" : "resurrected", `SADD ${this.at(key)} ${member} answered ${show(r)}, want ${want} (set ${show([...set])})`);
            return false;
          }
          set.add(member);
          return true;
        }, true);
      }
      case 6: {
        const [from, to] = this.rand() < 0.5 ? (["s1", "s2"] as const) : (["s2", "s1"] as const);
        const member = MEMBERS[Math.floor(this.rand() * MEMBERS.length)]!;
        const kf = this.k(from);
        if (!this.setStores) {
          return this.fop(["SREM", kf, member], (r) => {
            const want = m[from].has(member) ? 1 : 0;
            if (r !== want) {
              this.fail(want === 1 ? "lost" : "resurrected", `SREM ${this.at(kf)} ${member} answered ${show(r)}, want ${want}`);
              return false;
            }
            m[from].delete(member);
            return true;
          }, true);
        }
        return this.fop(["SMOVE", kf, this.k(to), member], (r) => {
          const want = m[from].has(member) ? 1 : 0;
          if (r !== want) {
            this.fail(want === 1 ? "lost" : "resurrected", `SMOVE ${this.at(kf)} ${this.k(to)} ${member} answered ${show(r)}, want ${want}`);
            return false;
          }
          if (want) {
            m[from].delete(member);
            m[to].add(member);
          }
          return true;
        }, true);
      }
      case 7: {
        const u = this.k("u");
        if (!this.setStores) {
          const k1 = this.k("s1");
          return this.fop(["SCARD", k1], (r) => {
            if (r !== m.s1.size) {
              this.fail(num(r) !== undefined && num(r)! < m.s1.size ? "lost" : "stale", `SCARD ${this.at(k1)} answered ${show(r)}, want ${m.s1.size} (${show([...m.s1].sort())})`);
              return false;
            }
            return true;
          }, false);
        }
        return this.fop(["SUNIONSTORE", u, this.k("s1"), this.k("s2")], (r) => {
          const union = new Set([...m.s1, ...m.s2]);
          if (r !== union.size) {
            this.fail(num(r) !== undefined && num(r)! < union.size ? "lost" : "stale",
              `SUNIONSTORE ${this.at(u)} ${this.k("s1")} ${this.k("s2")} answered ${show(r)}, want ${union.size} (${show([...union].sort())})`);
            return false;
          }
          m.u = union;
          return true;
        }, true);
      }
      case 8: {
        const u = this.k("u");
        return this.fop(["SMEMBERS", u], (r) => this.checkSet(u, r, m.u), false);
      }
      default: {
        // u is deleted every cycle, so that the next SUNIONSTORE's first key is absent (issue 8's
        // pattern); q and d now and then, so that d stays short.
        const u = this.k("u");
        if (this.planD < this.maxD) {
          return this.fop(["DEL", u], (r) => {
            const want = m.u.size ? 1 : 0;
            if (r !== want) {
              this.fail(want ? "lost" : "resurrected", `DEL ${this.at(u)} answered ${show(r)}, want ${want}`);
              return false;
            }
            m.u = new Set();
            return true;
          }, true);
        }
        this.planD = 0;
        const q = this.k("q");
        const upTo = this.seq - 1;
        return this.fop(["DEL", q, this.k("d"), u], (r) => {
          const want = (m.q.length ? 1 : 0) + (m.d.length ? 1 : 0) + (m.u.size ? 1 : 0);
          if (r !== want) {
            this.fail(num(r) !== undefined && num(r)! < want ? "lost" : "resurrected", `DEL ${this.at(q)} ${this.k("d")} ${u} answered ${show(r)}, want ${want}`);
            return false;
          }
          m.q = [];
          m.d = [];
          m.u = new Set();
          m.deadUpTo = upTo;
          return true;
        }, true);
      }
    }
  }

  private checkList(key: string, r: Decoded, want: string[], m: FamilyModel, final = false): boolean {
    const got = strs(r);
    if (!got) {
      this.fail("stale", `LRANGE ${this.at(key)} answered ${show(r)}`);
      return false;
    }
    const dead = (v: string): boolean => {
      const p = `${this.name}.`;
      return v.startsWith(p) && Number(v.slice(p.length)) <= m.deadUpTo;
    };
    const d = compareExact(got, want, dead);
    if (d.lost + d.duplicated + d.reordered + d.resurrected + d.foreign === 0) return true;
    const what = `${final ? "final " : ""}LRANGE ${this.at(key)}: ${describeDiff(d)}; got ${show(got)}, want ${show(want)}`;
    this.fail("lost", what, d.lost);
    this.fail("duplicated", what, d.duplicated);
    this.fail("reordered", what, d.reordered);
    this.fail("resurrected", what, d.resurrected);
    this.fail("stale", what, d.foreign);
    return false;
  }

  private checkSet(key: string, r: Decoded, want: Set<string>, final = false): boolean {
    const got = strs(r);
    const same = got !== undefined && got.length === want.size && got.every((x) => want.has(x));
    if (same) return true;
    const missing = got ? [...want].filter((x) => !got.includes(x)).length : want.size;
    this.fail(missing ? "lost" : "stale", `${final ? "final " : ""}SMEMBERS ${this.at(key)} answered ${show(r)}, want ${show([...want].sort())}`, Math.max(1, missing));
    return false;
  }

  final(): Op[] {
    const m = this.m;
    const out: Op[] = [];
    const mk = (args: string[], check: (r: Decoded) => boolean): Op => this.fop(args, check, false);
    out.push(mk(["LRANGE", this.k("q"), "0", "-1"], (r) => this.checkList(this.k("q"), r, m.q, m, true)));
    out.push(mk(["LRANGE", this.k("d"), "0", "-1"], (r) => this.checkList(this.k("d"), r, m.d, m, true)));
    out.push(mk(["MGET", this.k("a"), this.k("b")], (r) => {
      const got = Array.isArray(r) ? r : [];
      if (got[0] === m.a && got[1] === m.b) return true;
      this.fail("lost", `final MGET ${this.at(this.k("a"))} ${this.k("b")} answered ${show(r)}, want ${show([m.a, m.b])}`);
      return false;
    }));
    for (const s of ["s1", "s2", "u"] as const) out.push(mk(["SMEMBERS", this.k(s)], (r) => this.checkSet(this.k(s), r, m[s], true)));
    return out;
  }

  placement(): Placement {
    const m = this.m;
    const live: string[] = [];
    const dead: string[] = [];
    const put = (part: string, exists: boolean): void => void (exists ? live : dead).push(this.k(part));
    put("q", m.q.length > 0);
    put("d", m.d.length > 0);
    put("a", m.a !== null);
    put("b", m.b !== null);
    put("s1", m.s1.size > 0);
    put("s2", m.s2.size > 0);
    put("u", m.u.size > 0);
    return { live, dead };
  }
}

// ----------------------------------------------------------------------------------------------
// Static data: keys written before the load, only read while slots move.

export class StaticActor extends Actor {
  constructor(env: Env, name: string, rand: () => number, private readonly keys: readonly string[], private readonly value: (k: string) => string) {
    super("static", env, name, rand);
  }

  next(): Op {
    const key = this.keys[Math.floor(this.rand() * this.keys.length)]!;
    const want = this.value(key);
    return op(["GET", key], (r) => {
      this.tally.checked++;
      if (r !== want) this.flag("stale", `GET ${this.at(key)} (written before the load, never changed) answered ${show(r)}`);
    }, () => undefined);
  }

  final(): Op[] {
    return [];
  }

  placement(): Placement {
    return { live: [], dead: [] };
  }
}
