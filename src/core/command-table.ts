// The command table: what the proxy does with each command, driven by data rather than a
// switch. Lookup works on the name's bytes (ASCII case-folded) in an open-addressing table,
// so the hot path never builds a string for the command name.
//
// Rules kept from codis-proxy 3.2 (pkg/proxy/mapper.go, facts only):
//  - the routing key is argv[1], except ZINTERSTORE, ZUNIONSTORE, EVAL, EVALSHA: argv[3];
//    a missing routing key routes to slot 0;
//  - the refused list answers "ERR handle request, command 'NAME' is not allowed" and keeps
//    the connection open;
//  - unknown commands are forwarded by argv[1] as "may write" (so module commands work).
// Deliberate differences: blocking commands (BLMOVE, BZPOPMIN, XREAD ... BLOCK, ...) and all
// hyphenated slot-migration commands are refused too, since one blocked request would stall a
// shared backend connection for every client on it; commands whose key is not argv[1]
// (XGROUP/XINFO subcommands, ZUNION/ZINTER/ZDIFF/LMPOP/ZMPOP/SINTERCARD numkeys forms,
// EVAL_RO/FCALL, XREAD STREAMS) route by their real first key.

/** What the session does with a command. */
export const enum Kind {
  Forward = 0, // forward to the owner of the routing key's slot
  Refused, // "command 'X' is not allowed"
  Blocking, // refused: a blocking command would stall a shared backend connection
  Keyless, // forward to the backend of any online slot (INFO, COMMAND, ROLE, ...)
  Quit,
  Auth,
  Select,
  Ping,
  Echo,
  Hello,
  SlotsInfo,
  SlotsScan,
  SlotsMapping,
  SlotsHashKey,
  MGet, // split per backend, merge as an array in key order
  MSet, // split per backend, merge as +OK
  SumKeys, // DEL, UNLINK, EXISTS, TOUCH: split per backend, merge as the sum
  XRead, // XREAD / XREADGROUP: refused with BLOCK, else routed by the first stream key
}

/** How to find every key of a command (used to move keys of a migrating slot first). */
export const enum KeySpec {
  None = 0, // no key
  Range, // keys at first..last (negative last counts from the end) every step
  NumKeys, // argv[numkeysAt] = n, then n keys
  DestNumKeys, // argv[1] is a key, argv[2] = n, then n keys (ZUNIONSTORE ...)
  Streams, // keys are the first half of the arguments after STREAMS
}

export interface CommandInfo {
  /** Upper-case name. */
  readonly name: string;
  /** Index in the table, for per-command statistics. */
  readonly id: number;
  readonly kind: Kind;
  /** Writes data (never sent to a replica). */
  readonly write: boolean;
  /** Reads but must see the master (SCAN family). */
  readonly masterOnly: boolean;
  /** Index of the routing key, or -1 when the command carries no key (or for Streams). */
  readonly routeIndex: number;
  readonly keySpec: KeySpec;
  readonly firstKey: number;
  readonly lastKey: number;
  readonly keyStep: number;
  /** Upper-case name bytes, for lookup comparison and for re-encoding split sub-commands. */
  readonly nameBytes: Buffer;
}

// name flags keys
//   flags: r read (replica ok), w write, m master-only read, x refused, b blocking (refused),
//          k keyless forward, plus special kinds written out below.
//   keys:  "1" single key at argv[1] (default), "2" at argv[2], "3" at argv[3],
//          "1:-1:1" range first:last:step, "n1"/"n2" numkeys at argv[1]/argv[2],
//          "d1n2" destination + numkeys, "s" STREAMS, "-" none.
const SPEC = `
APPEND w; BITCOUNT r; BITFIELD w; BITFIELD_RO r; BITPOS r; DECR w; DECRBY w; GET r; GETBIT r;
GETDEL w; GETEX w; GETRANGE r; GETSET w; INCR w; INCRBY w; INCRBYFLOAT w; LCS r 1:2:1;
PSETEX w; SET w; SETBIT w; SETEX w; SETNX w; SETRANGE w; STRLEN r; SUBSTR r;
COPY w 1:2:1; DUMP r; EXPIRE w; EXPIREAT w; EXPIRETIME r; PERSIST w; PEXPIRE w; PEXPIREAT w;
PEXPIRETIME r; PTTL r; SORT w; SORT_RO r; TTL r; TYPE r;
HDEL w; HEXISTS r; HGET r; HGETALL r; HINCRBY w; HINCRBYFLOAT w; HKEYS r; HLEN r; HMGET r;
HMSET w; HRANDFIELD r; HSCAN m; HSET w; HSETNX w; HSTRLEN r; HVALS r;
LINDEX r; LINSERT w; LLEN r; LMOVE w 1:2:1; LMPOP w n1; LPOP w; LPOS r; LPUSH w; LPUSHX w;
LRANGE r; LREM w; LSET w; LTRIM w; RPOP w; RPOPLPUSH w 1:2:1; RPUSH w; RPUSHX w;
SADD w; SCARD r; SDIFF r 1:-1:1; SDIFFSTORE w 1:-1:1; SINTER r 1:-1:1; SINTERCARD r n1;
SINTERSTORE w 1:-1:1; SISMEMBER r; SMEMBERS r; SMISMEMBER r; SMOVE w 1:2:1; SPOP w;
SRANDMEMBER r; SREM w; SSCAN m; SUNION r 1:-1:1; SUNIONSTORE w 1:-1:1;
ZADD w; ZCARD r; ZCOUNT r; ZDIFF r n1; ZDIFFSTORE w d1n2; ZINCRBY w; ZINTER r n1;
ZINTERCARD r n1; ZINTERSTORE w d1n2; ZLEXCOUNT r; ZMPOP w n1; ZMSCORE r; ZPOPMAX w;
ZPOPMIN w; ZRANDMEMBER r; ZRANGE r; ZRANGEBYLEX r; ZRANGEBYSCORE r; ZRANGESTORE w 1:2:1;
ZRANK r; ZREM w; ZREMRANGEBYLEX w; ZREMRANGEBYRANK w; ZREMRANGEBYSCORE w; ZREVRANGE r;
ZREVRANGEBYLEX r; ZREVRANGEBYSCORE r; ZREVRANK r; ZSCAN m; ZSCORE r; ZUNION r n1;
ZUNIONSTORE w d1n2;
XACK w; XADD w; XAUTOCLAIM w; XCLAIM w; XDEL w; XGROUP w 2; XINFO r 2; XLEN r; XPENDING r;
XRANGE r; XREVRANGE r; XSETID w; XTRIM w;
PFADD w; PFCOUNT r 1:-1:1; PFDEBUG w 2; PFMERGE w 1:-1:1; PFSELFTEST k -;
GEOADD w; GEODIST r; GEOHASH r; GEOPOS r; GEORADIUS w; GEORADIUSBYMEMBER w; GEORADIUS_RO r;
GEORADIUSBYMEMBER_RO r; GEOSEARCH r; GEOSEARCHSTORE w 1:2:1;
EVAL w n2; EVALSHA w n2; EVAL_RO r n2; EVALSHA_RO r n2; FCALL w n2; FCALL_RO r n2;
MEMORY r 2; OBJECT x; PUBSUB k -; COMMAND k -; INFO k -; ROLE k -; LOLWUT k -;
KEYS x; SCAN x; RANDOMKEY x; DBSIZE x; FLUSHALL x; FLUSHDB x; MULTI x; EXEC x; DISCARD x;
WATCH x; UNWATCH x; SUBSCRIBE x; PSUBSCRIBE x; UNSUBSCRIBE x; PUNSUBSCRIBE x; PUBLISH x;
SSUBSCRIBE x; SUNSUBSCRIBE x; SPUBLISH x; CLIENT x; CLUSTER x; CONFIG x; DEBUG x; MONITOR x;
SCRIPT x; FUNCTION x; SHUTDOWN x; SLAVEOF x; REPLICAOF x; SYNC x; PSYNC x; REPLCONF x;
SAVE x; BGSAVE x; BGREWRITEAOF x; LASTSAVE x; LATENCY x; SLOWLOG x; TIME x; WAIT x;
WAITAOF x; MIGRATE x; MOVE x; RESTORE x; RESTORE-ASKING x; RENAME x; RENAMENX x; MSETNX x;
BITOP x; ASKING x; READONLY x; READWRITE x; POST x; HOST: x; ACL x; MODULE x; FAILOVER x;
SWAPDB x; RESET x; PKCLUSTER x;
SLOTSCHECK x; SLOTSDEL x; SLOTSRESTORE x; SLOTSMGRTONE x; SLOTSMGRTSLOT x; SLOTSMGRTTAGONE x;
SLOTSMGRTTAGSLOT x; SLOTSMGRTONE-ASYNC x; SLOTSMGRTSLOT-ASYNC x; SLOTSMGRTTAGONE-ASYNC x;
SLOTSMGRTTAGSLOT-ASYNC x; SLOTSMGRT-ASYNC-FENCE x; SLOTSMGRT-ASYNC-CANCEL x;
SLOTSMGRT-ASYNC-STATUS x; SLOTSMGRT-EXEC-WRAPPER x; SLOTSRESTORE-ASYNC x;
SLOTSRESTORE-ASYNC-AUTH x; SLOTSRESTORE-ASYNC-ACK x; SLOTSMGRT-LAZY-RELEASE x;
SLOTSRELOAD x; SLOTSCLEANUP x;
BLPOP b; BRPOP b; BRPOPLPUSH b; BLMOVE b; BLMPOP b; BZPOPMIN b; BZPOPMAX b; BZMPOP b;
`;

const SPECIAL: Record<string, [Kind, string]> = {
  QUIT: [Kind.Quit, "-"],
  AUTH: [Kind.Auth, "-"],
  SELECT: [Kind.Select, "-"],
  PING: [Kind.Ping, "-"],
  ECHO: [Kind.Echo, "-"],
  HELLO: [Kind.Hello, "-"],
  SLOTSINFO: [Kind.SlotsInfo, "-"],
  SLOTSSCAN: [Kind.SlotsScan, "-"],
  SLOTSMAPPING: [Kind.SlotsMapping, "-"],
  SLOTSHASHKEY: [Kind.SlotsHashKey, "-"],
  MGET: [Kind.MGet, "1:-1:1"],
  MSET: [Kind.MSet, "1:-1:2"],
  DEL: [Kind.SumKeys, "1:-1:1"],
  UNLINK: [Kind.SumKeys, "1:-1:1"],
  EXISTS: [Kind.SumKeys, "1:-1:1"],
  TOUCH: [Kind.SumKeys, "1:-1:1"],
  XREAD: [Kind.XRead, "s"],
  XREADGROUP: [Kind.XRead, "s"],
};
const SPECIAL_WRITE = new Set(["MSET", "DEL", "UNLINK", "XREADGROUP"]);

// Codis routes these by argv[3] (the first source key; the destination at argv[1] must share
// its hash tag anyway for the command to be correct on one backend).
const ROUTE_BY_ARGV3 = new Set(["ZINTERSTORE", "ZUNIONSTORE", "ZDIFFSTORE"]);

function build(): CommandInfo[] {
  const out: CommandInfo[] = [];
  const add = (name: string, kind: Kind, flags: string, keys: string) => {
    let keySpec = KeySpec.Range;
    let first = 1;
    let last = 1;
    let step = 1;
    let routeIndex = 1;
    if (keys === "-") {
      keySpec = KeySpec.None;
      routeIndex = -1;
    } else if (keys === "s") {
      keySpec = KeySpec.Streams;
      routeIndex = -1;
    } else if (keys === "n1" || keys === "n2") {
      keySpec = KeySpec.NumKeys;
      first = keys === "n1" ? 1 : 2; // numkeys position
      routeIndex = first + 1;
    } else if (keys === "d1n2") {
      keySpec = KeySpec.DestNumKeys;
      first = 2;
      routeIndex = ROUTE_BY_ARGV3.has(name) ? 3 : 1;
    } else {
      const parts = keys.split(":").map(Number);
      first = parts[0]!;
      last = parts.length > 1 ? parts[1]! : first;
      step = parts.length > 2 ? parts[2]! : 1;
      routeIndex = first;
    }
    out.push({
      name,
      id: out.length,
      kind,
      write: flags.includes("w"),
      masterOnly: flags.includes("m"),
      routeIndex,
      keySpec,
      firstKey: first,
      lastKey: last,
      keyStep: step,
      nameBytes: Buffer.from(name, "latin1"),
    });
  };
  for (const entry of SPEC.split(";")) {
    const t = entry.trim().split(/\s+/);
    if (t.length < 2 || !t[0]) continue;
    const [name, flags, keys] = [t[0], t[1]!, t[2] ?? "1"];
    const kind = flags.includes("x")
      ? Kind.Refused
      : flags.includes("b")
        ? Kind.Blocking
        : flags.includes("k")
          ? Kind.Keyless
          : Kind.Forward;
    add(name, kind, flags, kind === Kind.Refused || kind === Kind.Blocking ? "-" : keys);
  }
  for (const [name, [kind, keys]] of Object.entries(SPECIAL)) {
    add(name, kind, SPECIAL_WRITE.has(name) ? "w" : "r", keys);
  }
  return out;
}

/** Every known command, indexed by id. */
export const COMMANDS: readonly CommandInfo[] = build();

/** Stand-in for commands not in the table: forwarded by argv[1], treated as writes. */
export const UNKNOWN_COMMAND: CommandInfo = {
  name: "UNKNOWN",
  id: COMMANDS.length,
  kind: Kind.Forward,
  write: true,
  masterOnly: false,
  routeIndex: 1,
  keySpec: KeySpec.Range,
  firstKey: 1,
  lastKey: 1,
  keyStep: 1,
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

/** Looks a command up by name (for the control plane and tests). */
export function commandByName(name: string): CommandInfo | undefined {
  const b = Buffer.from(name, "latin1");
  return lookupCommand(b, 0, b.length);
}

/**
 * Collects the argument indexes of every key of a command with argc arguments, whose
 * arguments are readable through argAt (used only on the rare migration path).
 */
export function keyIndexes(info: CommandInfo, argc: number, argAt: (i: number) => Uint8Array): number[] {
  const out: number[] = [];
  switch (info.keySpec) {
    case KeySpec.None:
      return out;
    case KeySpec.Range: {
      const last = info.lastKey < 0 ? argc + info.lastKey : info.lastKey;
      for (let i = info.firstKey; i <= last && i < argc; i += info.keyStep) out.push(i);
      return out;
    }
    case KeySpec.DestNumKeys:
    case KeySpec.NumKeys: {
      if (info.keySpec === KeySpec.DestNumKeys && argc > 1) out.push(1);
      const at = info.firstKey;
      if (at >= argc) return out;
      const n = Number(Buffer.from(argAt(at)).toString("latin1"));
      if (!Number.isInteger(n) || n < 0) return out;
      for (let i = at + 1; i <= at + n && i < argc; i++) out.push(i);
      return out;
    }
    case KeySpec.Streams: {
      const s = streamsIndex(argc, argAt);
      if (s < 0) return out;
      const n = (argc - s - 1) >> 1;
      for (let i = s + 1; i <= s + n; i++) out.push(i);
      return out;
    }
  }
}

const STREAMS = Buffer.from("STREAMS");
const BLOCK = Buffer.from("BLOCK");

/** Index of the STREAMS keyword of XREAD/XREADGROUP, or -1. */
export function streamsIndex(argc: number, argAt: (i: number) => Uint8Array): number {
  for (let i = 1; i < argc; i++) if (equalsFolded(argAt(i), STREAMS)) return i;
  return -1;
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

/** Compares bytes to an upper-case ASCII word, ignoring case. */
export function equalsFolded(a: Uint8Array, upper: Uint8Array): boolean {
  if (a.length !== upper.length) return false;
  for (let i = 0; i < a.length; i++) if (fold(a[i]!) !== upper[i]) return false;
  return true;
}
