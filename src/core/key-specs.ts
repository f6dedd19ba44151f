// Redis 7 key specs: where the keys of a command are, as data, and the one function that
// walks them over a request's argument offsets. The facts themselves (src/core/redis-commands.ts)
// are generated from a redis-server's COMMAND reply (scripts/redis-commands.ts); a test compares
// them with the local redis-server, so a wrong or stale spec fails the build.
//
// A key spec is a begin search (where the keys start) and a find rule (how many):
//   begin: index i                → keys start at argv[i]
//          keyword K from f       → keys start after the first argument equal to K, searching
//                                   forward from argv[f] (f ≥ 0) or backward from argv[argc+f]
//          unknown                → the command needs its own rule (SORT's STORE)
//   find:  range last step limit  → last ≥ 0: keys start..start+last; last < 0 and limit 0:
//                                   up to argv[argc+last]; limit n > 1: the first 1/n of what
//                                   is left (XREAD STREAMS k1 k2 id1 id2)
//          keynum idx first step  → argv[start+idx] holds the count, keys from start+first
//          unknown

/** One key spec of a command, as Redis 7 reports it. */
export interface KeySpecFact {
  begin: ["index", number] | ["keyword", string, number] | ["unknown"];
  find: ["range", number, number, number] | ["keynum", number, number, number] | ["unknown"];
  /** Redis's "incomplete" flag: the spec may miss keys (the command has a rule of its own). */
  incomplete?: true;
  /** Redis's "not_key" flag: the argument hashes like a key but is not one (shard channels). */
  notKey?: true;
}

/** One command (or subcommand, named "container|sub") from COMMAND. */
export interface CommandFact {
  name: string;
  arity: number;
  /** The command flags slotway uses (write, readonly, blocking, movablekeys, pubsub, admin, no_multi). */
  flags: string[];
  keySpecs: KeySpecFact[];
  subcommands?: CommandFact[];
}

/** The flags kept from COMMAND's reply (the rest do not change what a proxy does). */
export const KEPT_FLAGS: readonly string[] = ["write", "readonly", "blocking", "movablekeys", "pubsub", "admin", "no_multi"];

const BEGIN_INDEX = 0;
const BEGIN_KEYWORD = 1;
const BEGIN_UNKNOWN = 2;
const FIND_RANGE = 0;
const FIND_KEYNUM = 1;
const FIND_UNKNOWN = 2;

/** A key spec compiled for the hot path: numbers and a pre-folded keyword. */
export interface CompiledSpec {
  begin: number;
  index: number; // begin index, or keyword start-from
  keyword: Uint8Array | null;
  find: number;
  a: number; // range: lastkey | keynum: keynumidx
  b: number; // range: keystep | keynum: firstkey
  c: number; // range: limit   | keynum: keystep
}

export function compileSpecs(specs: readonly KeySpecFact[]): CompiledSpec[] {
  return specs.map((s) => {
    const begin = s.begin[0] === "index" ? BEGIN_INDEX : s.begin[0] === "keyword" ? BEGIN_KEYWORD : BEGIN_UNKNOWN;
    const find = s.find[0] === "range" ? FIND_RANGE : s.find[0] === "keynum" ? FIND_KEYNUM : FIND_UNKNOWN;
    return {
      begin,
      index: s.begin[0] === "index" ? s.begin[1] : s.begin[0] === "keyword" ? s.begin[2] : 0,
      keyword: s.begin[0] === "keyword" ? Buffer.from(s.begin[1].toUpperCase(), "latin1") : null,
      find,
      a: find === FIND_UNKNOWN ? 0 : (s.find[1] as number),
      b: find === FIND_UNKNOWN ? 0 : (s.find[2] as number),
      c: find === FIND_UNKNOWN ? 0 : (s.find[3] as number),
    };
  });
}

/** True when the specs name exactly one key at a fixed index (most commands). */
export function singleKeyIndex(specs: readonly CompiledSpec[]): number {
  if (specs.length !== 1) return -1;
  const s = specs[0]!;
  return s.begin === BEGIN_INDEX && s.find === FIND_RANGE && s.a === 0 ? s.index : -1;
}

/** True when some spec cannot be walked from the arguments alone. */
export function hasUnknownSpec(specs: readonly CompiledSpec[]): boolean {
  return specs.some((s) => s.begin === BEGIN_UNKNOWN || s.find === FIND_UNKNOWN);
}

function fold(c: number): number {
  return c >= 0x61 && c <= 0x7a ? c - 0x20 : c;
}

/** Compares buf[start, end) with an upper-case word, ignoring ASCII case. */
export function argEquals(buf: Uint8Array, start: number, end: number, upper: Uint8Array): boolean {
  if (end - start !== upper.length) return false;
  for (let i = 0; i < upper.length; i++) if (fold(buf[start + i]!) !== upper[i]) return false;
  return true;
}

/** A non-negative decimal integer in buf[start, end), or -1. */
export function parseCount(buf: Uint8Array, start: number, end: number): number {
  if (end <= start || end - start > 9) return -1;
  let n = 0;
  for (let i = start; i < end; i++) {
    const c = buf[i]! - 0x30;
    if (c < 0 || c > 9) return -1;
    n = n * 10 + c;
  }
  return n;
}

/** A growable list of argument indexes, reused across requests (no allocation once grown). */
export class KeyList {
  idx = new Int32Array(64);
  n = 0;

  push(i: number): void {
    if (this.n === this.idx.length) {
      const bigger = new Int32Array(this.idx.length * 2);
      bigger.set(this.idx);
      this.idx = bigger;
    }
    this.idx[this.n++] = i;
  }
}

/**
 * Appends the argument indexes of every key the specs find to out. args holds [start, end)
 * byte offsets per argument. Keys past the last argument, or counted by a numkeys that is
 * not a valid count, are left out: Redis refuses such a command before it touches a key.
 * Unknown specs add nothing (callers with such a spec apply their own rule).
 */
export function collectKeys(specs: readonly CompiledSpec[], buf: Uint8Array, args: Int32Array, argc: number,
  out: KeyList): void {
  for (let si = 0; si < specs.length; si++) {
    const s = specs[si]!;
    let start = -1;
    if (s.begin === BEGIN_INDEX) {
      start = s.index;
    } else if (s.begin === BEGIN_KEYWORD) {
      const kw = s.keyword!;
      if (s.index >= 0) {
        for (let i = s.index; i < argc; i++) {
          if (argEquals(buf, args[2 * i]!, args[2 * i + 1]!, kw)) {
            start = i + 1;
            break;
          }
        }
      } else {
        for (let i = argc + s.index; i >= 1; i--) {
          if (argEquals(buf, args[2 * i]!, args[2 * i + 1]!, kw)) {
            start = i + 1;
            break;
          }
        }
      }
    }
    if (start < 1 || start >= argc) continue;
    if (s.find === FIND_RANGE) {
      let last: number;
      if (s.a >= 0) last = start + s.a;
      else if (s.c <= 1) last = argc + s.a;
      else last = start + Math.floor((argc - start) / s.c) + s.a;
      const step = s.b > 0 ? s.b : 1;
      if (last >= argc) last = argc - 1;
      for (let i = start; i <= last; i += step) out.push(i);
    } else if (s.find === FIND_KEYNUM) {
      const at = start + s.a;
      if (at >= argc) continue;
      const count = parseCount(buf, args[2 * at]!, args[2 * at + 1]!);
      if (count <= 0) continue;
      const first = start + s.b;
      const step = s.c > 0 ? s.c : 1;
      const last = first + (count - 1) * step;
      if (last >= argc) continue;
      for (let i = first; i <= last; i += step) out.push(i);
    }
  }
}
