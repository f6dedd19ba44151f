// The command table: what the proxy does with each command, driven by data rather than a
// switch. Two sources are joined here:
//   - facts: arity, read/write and key specs of every Redis 7 command (redis-commands.ts,
//     generated from a redis-server's COMMAND reply and checked against it by a test);
//   - policy: slotway's decision per command (forward by keys, split, answer locally, serve on
//     a dedicated connection, fan out to every group, or refuse), written out below.
// Lookup works on the name's bytes (ASCII case-folded) in an open-addressing table, so the
// hot path never builds a string for the command name.
//
// Key rules (README "Commands"): every key a command names must hash to one slot, or the
// command is answered `-CROSSSLOT Keys in request don't hash to the same slot` as Redis
// Cluster does (src/core/key-check.ts). Commands with one key at a fixed position (most of
// them) skip the check entirely. proxy_crossslot = "first-key" restores codis's routing by
// one key for the commands codis forwarded that way.
//
// codis-proxy 3.2 facts kept (pkg/proxy/mapper.go): the routing key of ZINTERSTORE,
// ZUNIONSTORE, EVAL, EVALSHA is argv[3]; refused commands answer
// "ERR handle request, command 'NAME' is not allowed" and keep the connection open; commands
// not in the table are forwarded by argv[1] as writes (so module commands work).

import { REDIS_COMMANDS } from "./redis-commands.js";
import {
  compileSpecs, singleKeyIndex, hasUnknownSpec, argEquals, collectKeys, KeyList,
  type CommandFact, type CompiledSpec, type KeySpecFact,
} from "./key-specs.js";

/** What the session does with a command. */
export const enum Kind {
  Forward = 0, // forward to the owner of the keys' slot (keys checked: one slot)
  Refused, // "command 'X' is not allowed"
  Blocking, // served on a dedicated backend connection (workers/blocking.ts)
  Keyless, // forward to the backend of any online slot (COMMAND, ROLE, TIME, ...)
  Quit,
  Auth,
  Select,
  Ping,
  Echo,
  Hello,
  Reset,
  Client, // CLIENT subcommands answered by the proxy
  SlotsInfo,
  SlotsScan,
  SlotsMapping,
  SlotsHashKey,
  MGet, // split per backend, merge as an array in key order
  MSet, // split per backend, merge as +OK
  SumKeys, // DEL, UNLINK, EXISTS, TOUCH: split per backend, merge as the sum
  XRead, // XREAD / XREADGROUP: blocking with BLOCK, else forwarded by their stream keys
  Multi,
  Exec,
  Discard,
  Watch,
  Unwatch,
  Subscribe, // variant: Channel, Pattern or Shard
  Unsubscribe, // variant as Subscribe
  ClusterWide, // variant: what to fan out (workers/cluster-wide.ts)
}

/** Variants of Subscribe / Unsubscribe. */
export const enum SubKind {
  Channel = 0,
  Pattern = 1,
  Shard = 2,
}

/** Variants of ClusterWide. */
export const enum Wide {
  DbSize = 0,
  Scan,
  RandomKey,
  Keys,
  FlushDb,
  FlushAll,
  Info,
  PubSub,
}

/** Coarse key shape, for the migration path (forward/*.ts): does the command name keys at all. */
export const enum KeySpec {
  None = 0,
  Keys = 1,
}

/** How the hot path finds the slot of a command. */
export const enum KeyMode {
  None = 0, // no key: routed by routeIndex (PUBLISH's channel) or to any backend
  Single, // one key at routeIndex: no check needed
  Multi, // walk the key specs, every key in one slot
  Sort, // SORT / SORT_RO: key, STORE destination, BY/GET patterns (key-check.ts)
  Subcommand, // resolve the subcommand first (OBJECT ENCODING key, XINFO STREAM key, ...)
}

export interface CommandInfo {
  /** Upper-case name ("OBJECT|ENCODING" for a subcommand). */
  readonly name: string;
  /** Lower-case name as Redis writes it in error texts ('object|encoding'). */
  readonly errName: string;
  /** Index in the table, for per-command statistics (a subcommand has its container's). */
  readonly id: number;
  readonly kind: Kind;
  /** SubKind or Wide for the kinds that have variants. */
  readonly variant: number;
  /** Writes data (never sent to a replica). */
  readonly write: boolean;
  /** Reads but must see the master (SCAN family). */
  readonly masterOnly: boolean;
  /**
   * Index of the routing key: codis's (argv[3] for ZINTERSTORE, ZUNIONSTORE, EVAL, EVALSHA),
   * else the first key when its position is fixed; -1 when it is not (the migration path then
   * walks the key specs).
   */
  readonly routeIndex: number;
  readonly keySpec: KeySpec;
  readonly keyMode: KeyMode;
  /** Compiled Redis key specs (empty for none). */
  readonly specs: readonly CompiledSpec[];
  /** Arity bounds from Redis's arity: argc must lie in [minArgs, maxArgs]. minArgs 0: unchecked. */
  readonly minArgs: number;
  readonly maxArgs: number;
  /** Subcommands of a container command (OBJECT, MEMORY, XINFO, XGROUP, CLIENT, ...). */
  readonly subs: readonly CommandInfo[] | null;
  /** Kept strict under proxy_crossslot = "first-key": codis refused it, so nobody relies on first-key routing. */
  readonly alwaysChecked: boolean;
  /** Upper-case name bytes (the part after '|' for a subcommand), for lookup and re-encoding. */
  readonly nameBytes: Buffer;
}

// ------------------------------------------------------------------------------------------
// Policy. Every Redis 7 command must appear here or in FORWARD_IMPLICIT (a test checks it).

/** codis's refused list, kept (DESIGN §4), minus what slotway now serves. */
const REFUSED = `
ACL ASKING BGREWRITEAOF BGSAVE CLUSTER CONFIG DEBUG FAILOVER FUNCTION LASTSAVE LATENCY MIGRATE
MODULE MONITOR MOVE PSYNC READONLY READWRITE REPLCONF REPLICAOF RESTORE-ASKING SAVE SCRIPT
SHUTDOWN SLAVEOF SLOWLOG SWAPDB SYNC WAIT WAITAOF POST HOST: PKCLUSTER
SLOTSCHECK SLOTSDEL SLOTSRESTORE SLOTSMGRTONE SLOTSMGRTSLOT SLOTSMGRTTAGONE SLOTSMGRTTAGSLOT
SLOTSMGRTONE-ASYNC SLOTSMGRTSLOT-ASYNC SLOTSMGRTTAGONE-ASYNC SLOTSMGRTTAGSLOT-ASYNC
SLOTSMGRT-ASYNC-FENCE SLOTSMGRT-ASYNC-CANCEL SLOTSMGRT-ASYNC-STATUS SLOTSMGRT-EXEC-WRAPPER
SLOTSRESTORE-ASYNC SLOTSRESTORE-ASYNC-AUTH SLOTSRESTORE-ASYNC-ACK SLOTSMGRT-LAZY-RELEASE
SLOTSRELOAD SLOTSCLEANUP
`;

/** Commands codis refused because their keys could differ: strict even in first-key mode. */
const CODIS_REFUSED_MULTIKEY = new Set(["RENAME", "RENAMENX", "MSETNX", "BITOP", "OBJECT", "RESTORE"]);

const BLOCKING = "BLPOP BRPOP BRPOPLPUSH BLMOVE BLMPOP BZPOPMIN BZPOPMAX BZMPOP";
const KEYLESS = "COMMAND ROLE LOLWUT PFSELFTEST TIME";
const MASTER_ONLY = new Set(["HSCAN", "SSCAN", "ZSCAN"]);
/** Containers whose subcommands are forwarded by their own keys (keyless ones to any backend). */
const FORWARD_CONTAINERS = new Set(["OBJECT", "MEMORY", "XINFO", "XGROUP"]);

const SPECIAL: Record<string, [Kind, number?]> = {
  QUIT: [Kind.Quit],
  AUTH: [Kind.Auth],
  SELECT: [Kind.Select],
  PING: [Kind.Ping],
  ECHO: [Kind.Echo],
  HELLO: [Kind.Hello],
  RESET: [Kind.Reset],
  CLIENT: [Kind.Client],
  SLOTSINFO: [Kind.SlotsInfo],
  SLOTSSCAN: [Kind.SlotsScan],
  SLOTSMAPPING: [Kind.SlotsMapping],
  SLOTSHASHKEY: [Kind.SlotsHashKey],
  MGET: [Kind.MGet],
  MSET: [Kind.MSet],
  DEL: [Kind.SumKeys],
  UNLINK: [Kind.SumKeys],
  EXISTS: [Kind.SumKeys],
  TOUCH: [Kind.SumKeys],
  XREAD: [Kind.XRead],
  XREADGROUP: [Kind.XRead],
  MULTI: [Kind.Multi],
  EXEC: [Kind.Exec],
  DISCARD: [Kind.Discard],
  WATCH: [Kind.Watch],
  UNWATCH: [Kind.Unwatch],
  SUBSCRIBE: [Kind.Subscribe, SubKind.Channel],
  PSUBSCRIBE: [Kind.Subscribe, SubKind.Pattern],
  SSUBSCRIBE: [Kind.Subscribe, SubKind.Shard],
  UNSUBSCRIBE: [Kind.Unsubscribe, SubKind.Channel],
  PUNSUBSCRIBE: [Kind.Unsubscribe, SubKind.Pattern],
  SUNSUBSCRIBE: [Kind.Unsubscribe, SubKind.Shard],
  DBSIZE: [Kind.ClusterWide, Wide.DbSize],
  SCAN: [Kind.ClusterWide, Wide.Scan],
  RANDOMKEY: [Kind.ClusterWide, Wide.RandomKey],
  KEYS: [Kind.ClusterWide, Wide.Keys],
  FLUSHDB: [Kind.ClusterWide, Wide.FlushDb],
  FLUSHALL: [Kind.ClusterWide, Wide.FlushAll],
  INFO: [Kind.ClusterWide, Wide.Info],
  PUBSUB: [Kind.ClusterWide, Wide.PubSub],
};

/** PUBLISH's channel routes like a key (one backend per channel, by its slot); it is not a key. */
const CHANNEL_SPEC: KeySpecFact[] = [{ begin: ["index", 1], find: ["range", 0, 1, 0] }];
const ROUTE_BY_ARGV3 = new Set(["ZINTERSTORE", "ZUNIONSTORE", "EVAL", "EVALSHA"]);

function words(s: string): string[] {
  return s.split(/\s+/).filter((w) => w !== "");
}

function policyOf(name: string): [Kind, number] {
  const sp = SPECIAL[name];
  if (sp !== undefined) return [sp[0], sp[1] ?? 0];
  if (REFUSED_SET.has(name)) return [Kind.Refused, 0];
  if (BLOCKING_SET.has(name)) return [Kind.Blocking, 0];
  if (KEYLESS_SET.has(name)) return [Kind.Keyless, 0];
  return [Kind.Forward, 0];
}

const REFUSED_SET = new Set(words(REFUSED));
const BLOCKING_SET = new Set(words(BLOCKING));
const KEYLESS_SET = new Set(words(KEYLESS));

function firstFixedKey(facts: readonly KeySpecFact[]): number {
  const f = facts[0];
  if (f === undefined || f.begin[0] !== "index") return -1;
  if (f.find[0] === "range") return f.begin[1];
  if (f.find[0] === "keynum") return f.begin[1] + f.find[2];
  return -1;
}

function makeInfo(fact: CommandFact | undefined, name: string, id: number, kind: Kind, variant: number,
  subs: CommandInfo[] | null): CommandInfo {
  let facts: readonly KeySpecFact[] = fact?.keySpecs ?? [];
  if (name === "PUBLISH" || name === "SPUBLISH") facts = CHANNEL_SPEC;
  const specs = compileSpecs(facts);
  let keyMode = KeyMode.None;
  if (name === "SORT" || name === "SORT_RO") keyMode = KeyMode.Sort;
  else if (specs.length > 0) keyMode = singleKeyIndex(specs) >= 0 ? KeyMode.Single : KeyMode.Multi;
  if (keyMode === KeyMode.Multi && hasUnknownSpec(specs)) {
    throw new Error(`command table: ${name} has a key spec with no rule (add one in key-check.ts)`);
  }
  let routeIndex = ROUTE_BY_ARGV3.has(name) ? 3 : firstFixedKey(facts);
  if (specs.length === 0) routeIndex = -1;
  const arity = fact?.arity ?? 0;
  // Channels hash like keys (one backend per channel) but are not keys: nothing to migrate.
  const isChannel = facts.length > 0 && (name === "PUBLISH" || name === "SPUBLISH" || facts.every((f) => f.notKey === true));
  const bar = name.indexOf("|");
  return {
    name,
    errName: name.toLowerCase(),
    id,
    kind,
    variant,
    write: fact === undefined ? true : !fact.flags.includes("readonly"),
    masterOnly: MASTER_ONLY.has(name),
    routeIndex,
    keySpec: (specs.length > 0 && !isChannel) || (subs !== null && kind === Kind.Forward) ? KeySpec.Keys : KeySpec.None,
    keyMode,
    specs,
    minArgs: arity === 0 ? 0 : Math.abs(arity),
    maxArgs: arity > 0 ? arity : 0x7fffffff,
    subs,
    alwaysChecked: CODIS_REFUSED_MULTIKEY.has(name),
    nameBytes: Buffer.from(bar >= 0 ? name.slice(bar + 1) : name, "latin1"),
  };
}

function build(): CommandInfo[] {
  const out: CommandInfo[] = [];
  const seen = new Set<string>();
  for (const fact of REDIS_COMMANDS) {
    const name = fact.name.toUpperCase();
    const [kind, variant] = policyOf(name);
    let subs: CommandInfo[] | null = null;
    if (fact.subcommands !== undefined) {
      // Subcommands carry their own arity and keys; only the forwarded containers route by them.
      const forwarded = FORWARD_CONTAINERS.has(name);
      subs = fact.subcommands.map((sf) => {
        const subKind = !forwarded ? kind : sf.keySpecs.length > 0 ? Kind.Forward : Kind.Keyless;
        return makeInfo(sf, sf.name.toUpperCase(), out.length, subKind, variant, null);
      });
    }
    const info = makeInfo(fact, name, out.length, kind, variant, subs);
    if (subs !== null && kind === Kind.Forward) (info as { keyMode: KeyMode }).keyMode = KeyMode.Subcommand;
    out.push(info);
    seen.add(name);
  }
  // Commands Redis 7.0 does not have (codis's own, later Redis versions): policy only.
  const extra = [...REFUSED_SET, ...Object.keys(SPECIAL)].filter((n) => !seen.has(n));
  for (const name of extra) {
    const [kind, variant] = policyOf(name);
    out.push(makeInfo(undefined, name, out.length, kind, variant, null));
  }
  return out;
}

/** Every known command, indexed by id. */
export const COMMANDS: readonly CommandInfo[] = build();

/** Stand-in for commands not in the table: forwarded by argv[1], treated as writes. */
export const UNKNOWN_COMMAND: CommandInfo = {
  name: "UNKNOWN",
  errName: "unknown",
  id: COMMANDS.length,
  kind: Kind.Forward,
  variant: 0,
  write: true,
  masterOnly: false,
  routeIndex: 1,
  keySpec: KeySpec.Keys,
  keyMode: KeyMode.Single,
  specs: compileSpecs(CHANNEL_SPEC),
  minArgs: 0,
  maxArgs: 0x7fffffff,
  subs: null,
  alwaysChecked: false,
  nameBytes: Buffer.from("UNKNOWN"),
};

// Open-addressing hash table over upper-cased name bytes (FNV-1a), sized well above the
// number of entries so that probes stay short.
const BUCKETS = 2048;
const buckets = new Int32Array(BUCKETS).fill(-1);
const MAX_NAME = 64;

function fold(c: number): number {
  return c >= 0x61 && c <= 0x7a ? c - 0x20 : c;
}

function hashName(buf: Uint8Array, start: number, end: number): number {
  let h = 0x811c9dc5;
  for (let i = start; i < end; i++) h = Math.imul(h ^ fold(buf[i]!), 0x01000193);
  return (h >>> 0) & (BUCKETS - 1);
}

for (const info of COMMANDS) {
  let b = hashName(info.nameBytes, 0, info.nameBytes.length);
  while (buckets[b] !== -1) b = (b + 1) & (BUCKETS - 1);
  buckets[b] = info.id;
}

/** Looks a command up by its name bytes buf[start, end), case-insensitively. */
export function lookupCommand(buf: Uint8Array, start: number, end: number): CommandInfo | undefined {
  const len = end - start;
  if (len === 0 || len > MAX_NAME) return undefined;
  let b = hashName(buf, start, end);
  for (;;) {
    const id = buckets[b]!;
    if (id === -1) return undefined;
    const info = COMMANDS[id]!;
    const name = info.nameBytes;
    if (name.length === len) {
      let i = 0;
      while (i < len && name[i] === fold(buf[start + i]!)) i++;
      if (i === len) return info;
    }
    b = (b + 1) & (BUCKETS - 1);
  }
}

/** The subcommand of a container named by buf[start, end), or undefined (an unknown one). */
export function lookupSub(info: CommandInfo, buf: Uint8Array, start: number, end: number): CommandInfo | undefined {
  const subs = info.subs;
  if (subs === null) return undefined;
  for (let i = 0; i < subs.length; i++) {
    const s = subs[i]!;
    if (argEquals(buf, start, end, s.nameBytes)) return s;
  }
  return undefined;
}

/** Looks a command up by name (for the control plane and tests); "OBJECT|ENCODING" finds a subcommand. */
export function commandByName(name: string): CommandInfo | undefined {
  const bar = name.indexOf("|");
  const b = Buffer.from(bar >= 0 ? name.slice(0, bar) : name, "latin1");
  const info = lookupCommand(b, 0, b.length);
  if (info === undefined || bar < 0) return info;
  const s = Buffer.from(name.slice(bar + 1), "latin1");
  return lookupSub(info, s, 0, s.length);
}

const STREAMS = Buffer.from("STREAMS");
const BLOCK = Buffer.from("BLOCK");

/** Compares bytes to an upper-case ASCII word, ignoring case. */
export function equalsFolded(a: Uint8Array, upper: Uint8Array): boolean {
  return argEquals(a, 0, a.length, upper);
}

/** True when an XREAD/XREADGROUP carries a BLOCK option (before STREAMS). */
export function hasBlockOption(argc: number, argAt: (i: number) => Uint8Array): boolean {
  for (let i = 1; i < argc; i++) {
    const a = argAt(i);
    if (equalsFolded(a, STREAMS)) return false;
    if (equalsFolded(a, BLOCK)) return true;
  }
  return false;
}

/** Index of the STREAMS keyword of XREAD/XREADGROUP, or -1. */
export function streamsIndex(argc: number, argAt: (i: number) => Uint8Array): number {
  for (let i = 1; i < argc; i++) if (equalsFolded(argAt(i), STREAMS)) return i;
  return -1;
}

const STORE = Buffer.from("STORE");
const LIMIT = Buffer.from("LIMIT");
const GET = Buffer.from("GET");
const BY = Buffer.from("BY");

/**
 * Walks SORT's options after the key: returns the index of the STORE destination (or -1) and
 * puts the indexes of the BY and GET patterns in patterns (SORT's key spec marks them unknown:
 * the keys they form derive from the sorted values).
 */
export function sortOptions(buf: Uint8Array, args: Int32Array, argc: number, patterns: KeyList | null): number {
  let store = -1;
  for (let i = 2; i < argc; i++) {
    const s = args[2 * i]!;
    const e = args[2 * i + 1]!;
    if (argEquals(buf, s, e, LIMIT)) i += 2;
    else if (argEquals(buf, s, e, BY) || argEquals(buf, s, e, GET)) {
      if (patterns !== null && i + 1 < argc) patterns.push(i + 1);
      i++;
    } else if (argEquals(buf, s, e, STORE)) {
      if (i + 1 < argc) store = i + 1;
      i++;
    }
  }
  return store;
}

/**
 * Appends the argument index of every key a command names to out (channels are not keys).
 * A container resolves its subcommand; SORT adds its STORE destination.
 */
export function keyIndexesOf(info: CommandInfo, buf: Uint8Array, args: Int32Array, argc: number, out: KeyList): void {
  if (info.keyMode === KeyMode.Subcommand) {
    if (argc < 2) return;
    const sub = lookupSub(info, buf, args[2]!, args[3]!);
    if (sub !== undefined) keyIndexesOf(sub, buf, args, argc, out);
    return;
  }
  if (info.keySpec === KeySpec.None) return;
  const n0 = out.n;
  collectKeys(info.specs, buf, args, argc, out);
  if (info.name === "MIGRATE" && out.n > n0 && args[7] === args[6]) {
    // MIGRATE ... "" ... KEYS k1 k2: the empty key argument is a placeholder (Redis skips it).
    out.idx.copyWithin(n0, n0 + 1, out.n);
    out.n--;
  }
  if (info.keyMode === KeyMode.Sort && info.name === "SORT") {
    const store = sortOptions(buf, args, argc, null);
    if (store > 0) out.push(store);
  }
}

/**
 * Collects the argument indexes of every key of a command with argc arguments, whose
 * arguments are readable through argAt (used only on the rare migration path).
 */
export function keyIndexes(info: CommandInfo, argc: number, argAt: (i: number) => Uint8Array): number[] {
  const parts: Uint8Array[] = [];
  const args = new Int32Array(argc * 2);
  let p = 0;
  for (let i = 0; i < argc; i++) {
    const a = argAt(i);
    parts.push(a);
    args[2 * i] = p;
    p += a.length;
    args[2 * i + 1] = p;
  }
  const buf = Buffer.concat(parts);
  const out = new KeyList();
  keyIndexesOf(info, buf, args, argc, out);
  return Array.from(out.idx.subarray(0, out.n));
}
