// A scripted codis-server for tests: a RESP server on a free loopback port over an in-memory
// keyspace (string values only), speaking enough of codis's slot protocol for the movers and
// for the proxy's forward methods. It is not Redis: it is small on purpose, and says so in errors.
//
// API
//   const s = await startCodisServer({ password? })   // listens on 127.0.0.1:<free port>
//   s.addr / s.port
//   s.set(key, value, db = 0) / s.get(key, db = 0)     // direct keyspace access (utf8 strings)
//   s.dump(db = 0)                                     // { key: value } of a db, for assertions
//   s.markMoving(key, ms, db = 0)                      // see "mid-move" below
//   s.calls                                            // Map<COMMAND, count> received
//   await s.close()
//
// Commands: PING ECHO AUTH SELECT QUIT INFO CONFIG(GET maxmemory) GET SET DEL EXISTS MGET MSET
// INCR, and codis's SLOTSINFO, SLOTSSCAN, SLOTSHASHKEY, SLOTSMGRTTAGONE, SLOTSMGRTTAGSLOT,
// SLOTSMGRTTAGSLOT-ASYNC, SLOTSMGRT-EXEC-WRAPPER, SLOTSRESTORE. Reply shapes follow codis's
// extern redis-3.2.11 slots.c / slots_async.c:
//   SLOTSINFO [start [count]]        → [[slot, size], ...] for non-empty slots
//   SLOTSSCAN slot cursor [COUNT n]  → [cursor (bulk), [keys]]
//   SLOTSMGRTTAGONE h p timeout key  → integer: keys moved (the key and, when it has a hash tag,
//                                      every key with the same tag)
//   SLOTSMGRTTAGSLOT h p timeout slot → [moved, remaining in slot]   (one key/tag per call)
//   SLOTSMGRTTAGSLOT-ASYNC h p timeout maxbulks maxbytes slot numkeys → [moved, remaining]
//                                      (up to numkeys keys per call; done before replying)
//   SLOTSMGRT-EXEC-WRAPPER key cmd args... → [0, err] key not here (go to the target);
//                                      [1, err] key is mid-move (retry); [2, reply] executed
//   SLOTSRESTORE key ttlms value [key ttlms value ...] → OK. The value is the raw string, not a
//                                      DUMP payload (this harness only has strings).
// Keys move to the target by a connection that AUTHs with this server's password (as codis does),
// SELECTs the db and sends SLOTSRESTORE; the source deletes them only after the target's OK.
// The whole server executes one command at a time (codis-server is single-threaded and a sync
// migration blocks it), so a key is never half-moved as seen by another client.
//
// Mid-move: markMoving(key, ms) makes the key look as if an async batch were moving it for ms:
// write commands through SLOTSMGRT-EXEC-WRAPPER answer 1 (retry); the bulk move commands skip it
// and leave it out of their "remaining" count (a backend count must never be trusted, DESIGN §7);
// SLOTSSCAN, SLOTSINFO and plain commands still see it. When the mark expires the key is ordinary.
import net from "node:net";

const SLOTS = 1024;

class Status {
  constructor(readonly s: string) {}
}
class ErrorReply {
  constructor(readonly s: string) {}
}
type Reply = Status | ErrorReply | number | string | Buffer | null | Reply[];

const OK = new Status("OK");

interface Entry {
  value: Buffer;
  /** ms epoch; 0 = no expiry */
  expireAt: number;
}

export interface CodisServerOptions {
  password?: string;
}

export interface CodisServer {
  readonly port: number;
  /** "127.0.0.1:<port>" */
  readonly addr: string;
  set(key: string, value: string, db?: number): void;
  get(key: string, db?: number): string | undefined;
  dump(db?: number): Record<string, string>;
  markMoving(key: string, ms: number, db?: number): void;
  readonly calls: Map<string, number>;
  close(): Promise<void>;
}

// ------------------------------------------------------------------------------------------
// Slot hashing (codis rule: crc32 of the hash tag, mod 1024).

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

function tagOf(key: Buffer): { tag: Buffer; hasTag: boolean } {
  const open = key.indexOf(0x7b);
  if (open >= 0) {
    const close = key.indexOf(0x7d, open + 1);
    if (close >= 0) return { tag: key.subarray(open + 1, close), hasTag: true };
  }
  return { tag: key, hasTag: false };
}

function crc32(b: Buffer): number {
  let c = 0xffffffff;
  for (const x of b) c = CRC_TABLE[(c ^ x) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/** codis slot of a key given as a latin1 byte string. */
function slotOfBytes(k: string): number {
  return crc32(tagOf(Buffer.from(k, "latin1")).tag) % SLOTS;
}

// ------------------------------------------------------------------------------------------
// RESP

function encode(r: Reply, out: Buffer[]): void {
  if (r instanceof Status) out.push(Buffer.from(`+${r.s}\r\n`));
  else if (r instanceof ErrorReply) out.push(Buffer.from(`-${r.s}\r\n`));
  else if (typeof r === "number") out.push(Buffer.from(`:${r}\r\n`));
  else if (r === null) out.push(Buffer.from("$-1\r\n"));
  else if (Array.isArray(r)) {
    out.push(Buffer.from(`*${r.length}\r\n`));
    for (const x of r) encode(x, out);
  } else {
    const b = typeof r === "string" ? Buffer.from(r) : r;
    out.push(Buffer.from(`$${b.length}\r\n`), b, Buffer.from("\r\n"));
  }
}

/** Parses complete commands from buf; returns them and the bytes consumed. */
function parseCommands(buf: Buffer): { cmds: Buffer[][]; used: number } {
  const cmds: Buffer[][] = [];
  let pos = 0;
  for (;;) {
    if (pos >= buf.length) break;
    const eol = buf.indexOf("\r\n", pos);
    if (eol < 0) break;
    if (buf[pos] !== 0x2a /* * */) {
      const line = buf.subarray(pos, eol).toString("latin1").trim();
      pos = eol + 2;
      if (line) cmds.push(line.split(/\s+/).map((s) => Buffer.from(s, "latin1")));
      continue;
    }
    const n = Number(buf.subarray(pos + 1, eol).toString());
    let p = eol + 2;
    const args: Buffer[] = [];
    let complete = true;
    for (let i = 0; i < n; i++) {
      const e = buf.indexOf("\r\n", p);
      if (e < 0 || buf[p] !== 0x24 /* $ */) {
        complete = false;
        break;
      }
      const len = Number(buf.subarray(p + 1, e).toString());
      if (buf.length < e + 2 + len + 2) {
        complete = false;
        break;
      }
      args.push(Buffer.from(buf.subarray(e + 2, e + 2 + len)));
      p = e + 2 + len + 2;
    }
    if (!complete) break;
    cmds.push(args);
    pos = p;
  }
  return { cmds, used: pos };
}

/** A one-shot RESP client for talking to a migration target (replies: status/error/int only). */
function targetCall(addr: { host: string; port: number }, cmds: (string | Buffer)[][], timeoutMs: number): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const s = net.connect(addr);
    const timer = setTimeout(() => {
      s.destroy();
      reject(new Error("IOERR error or timeout writing to target"));
    }, timeoutMs);
    let buf = "";
    s.on("error", (e) => {
      clearTimeout(timer);
      reject(new Error(`ERR Can't connect to target node: ${e.message}`));
    });
    s.on("connect", () => {
      const out: Buffer[] = [];
      for (const c of cmds) encode(c.map((x) => (typeof x === "string" ? Buffer.from(x) : x)), out);
      s.write(Buffer.concat(out));
    });
    s.on("data", (d) => {
      buf += d.toString("latin1");
      const lines = buf.split("\r\n");
      lines.pop();
      if (lines.length >= cmds.length) {
        clearTimeout(timer);
        s.destroy();
        resolve(lines.slice(0, cmds.length));
      }
    });
  });
}

// ------------------------------------------------------------------------------------------

const WRITE_COMMANDS = new Set(["SET", "DEL", "MSET", "INCR"]);

export async function startCodisServer(opts: CodisServerOptions = {}): Promise<CodisServer> {
  const dbs = new Map<number, Map<string, Entry>>();
  const moving = new Map<string, number>(); // `${db}/${key}` → until (ms epoch)
  const calls = new Map<string, number>();
  const sockets = new Set<net.Socket>();
  // One command at a time across all connections (see header).
  let serial: Promise<unknown> = Promise.resolve();

  const dbOf = (n: number): Map<string, Entry> => {
    let d = dbs.get(n);
    if (!d) dbs.set(n, (d = new Map()));
    return d;
  };
  const live = (db: number, k: string): Entry | undefined => {
    const d = dbOf(db);
    const e = d.get(k);
    if (e && e.expireAt !== 0 && e.expireAt <= Date.now()) {
      d.delete(k);
      return undefined;
    }
    return e;
  };
  const isMoving = (db: number, k: string): boolean => {
    const until = moving.get(`${db}/${k}`);
    if (until === undefined) return false;
    if (until <= Date.now()) {
      moving.delete(`${db}/${k}`);
      return false;
    }
    return true;
  };
  const keysOfSlot = (db: number, slot: number): string[] =>
    [...dbOf(db).keys()].filter((k) => live(db, k) && slotOfBytes(k) === slot).sort();

  /** Moves keys to host:port: SLOTSRESTORE on the target, then delete here. Returns how many moved. */
  const moveKeys = async (db: number, host: string, port: number, timeoutMs: number, keys: string[]): Promise<number> => {
    const present = keys.filter((k) => live(db, k));
    if (present.length === 0) return 0;
    const restore: (string | Buffer)[] = ["SLOTSRESTORE"];
    for (const k of present) {
      const e = live(db, k)!;
      const ttl = e.expireAt === 0 ? 0 : Math.max(1, e.expireAt - Date.now());
      restore.push(Buffer.from(k, "latin1"), String(ttl), e.value);
    }
    const cmds: (string | Buffer)[][] = [];
    if (opts.password) cmds.push(["AUTH", opts.password]);
    cmds.push(["SELECT", String(db)], restore);
    const replies = await targetCall({ host, port }, cmds, timeoutMs);
    for (const r of replies) {
      if (r.startsWith("-")) throw new Error(`ERR error on slotsrestore, ${r.slice(1)}`);
    }
    for (const k of present) dbOf(db).delete(k);
    return present.length;
  };

  /** The key and, when it has a hash tag, every key of its slot with the same tag. */
  const tagGroup = (db: number, k: string): string[] => {
    const { tag, hasTag } = tagOf(Buffer.from(k, "latin1"));
    if (!hasTag) return [k];
    const slot = slotOfBytes(k);
    return keysOfSlot(db, slot).filter((x) => {
      const t = tagOf(Buffer.from(x, "latin1"));
      return t.hasTag && t.tag.equals(tag);
    });
  };

  interface Conn {
    db: number;
    authed: boolean;
  }

  const int = (b: Buffer | undefined, what: string): number => {
    const s = b?.toString() ?? "";
    if (!/^-?\d+$/.test(s)) throw new ErrorReply(`ERR invalid ${what}`);
    return Number(s);
  };

  const exec = async (c: Conn, argv: Buffer[]): Promise<Reply> => {
    const name = argv[0]!.toString().toUpperCase();
    calls.set(name, (calls.get(name) ?? 0) + 1);
    const k = (i: number): string => argv[i]!.toString("latin1");
    if (name === "AUTH") {
      if (!opts.password) return new ErrorReply("ERR Client sent AUTH, but no password is set");
      if (argv[1]?.toString() !== opts.password) return new ErrorReply("ERR invalid password");
      c.authed = true;
      return OK;
    }
    if (opts.password && !c.authed) return new ErrorReply("NOAUTH Authentication required.");
    const arity = (n: number): void => {
      if (argv.length < n) throw new ErrorReply(`ERR wrong number of arguments for '${name.toLowerCase()}' command`);
    };
    switch (name) {
      case "PING":
        return argv.length > 1 ? argv[1]! : new Status("PONG");
      case "ECHO":
        arity(2);
        return argv[1]!;
      case "SELECT": {
        arity(2);
        const n = int(argv[1], "DB index");
        if (n < 0 || n > 15) return new ErrorReply("ERR invalid DB index");
        c.db = n;
        return OK;
      }
      case "INFO": {
        let keyspace = "";
        for (const [n, d] of [...dbs.entries()].sort((a, b) => a[0] - b[0])) {
          const count = [...d.keys()].filter((x) => live(n, x)).length;
          if (count) keyspace += `db${n}:keys=${count},expires=0,avg_ttl=0\r\n`;
        }
        return `# Server\r\nredis_version:3.2.11\r\nredis_mode:standalone\r\nrun_id:codis-harness\r\n\r\n# Memory\r\nused_memory:1024\r\n\r\n# Replication\r\nrole:master\r\nconnected_slaves:0\r\n\r\n# Keyspace\r\n${keyspace}`;
      }
      case "CONFIG":
        arity(3);
        if (argv[1]!.toString().toUpperCase() === "GET" && argv[2]!.toString().toLowerCase() === "maxmemory") return ["maxmemory", "0"];
        return new ErrorReply("ERR codis-server harness: only CONFIG GET maxmemory");
      case "GET":
        arity(2);
        return live(c.db, k(1))?.value ?? null;
      case "SET": {
        arity(3);
        let expireAt = 0;
        let nx = false;
        let xx = false;
        for (let i = 3; i < argv.length; i++) {
          const o = argv[i]!.toString().toUpperCase();
          if (o === "NX") nx = true;
          else if (o === "XX") xx = true;
          else if (o === "EX") expireAt = Date.now() + int(argv[++i], "expire time") * 1000;
          else if (o === "PX") expireAt = Date.now() + int(argv[++i], "expire time");
          else return new ErrorReply("ERR syntax error");
        }
        const exists = live(c.db, k(1)) !== undefined;
        if ((nx && exists) || (xx && !exists)) return null;
        dbOf(c.db).set(k(1), { value: argv[2]!, expireAt });
        return OK;
      }
      case "DEL": {
        arity(2);
        let n = 0;
        for (let i = 1; i < argv.length; i++) if (live(c.db, k(i)) && dbOf(c.db).delete(k(i))) n++;
        return n;
      }
      case "EXISTS": {
        arity(2);
        let n = 0;
        for (let i = 1; i < argv.length; i++) if (live(c.db, k(i))) n++;
        return n;
      }
      case "MGET":
        arity(2);
        return argv.slice(1).map((_, i) => live(c.db, k(i + 1))?.value ?? null);
      case "MSET":
        if (argv.length < 3 || argv.length % 2 !== 1) return new ErrorReply("ERR wrong number of arguments for 'mset' command");
        for (let i = 1; i < argv.length; i += 2) dbOf(c.db).set(k(i), { value: argv[i + 1]!, expireAt: 0 });
        return OK;
      case "INCR": {
        arity(2);
        const e = live(c.db, k(1));
        const cur = e ? e.value.toString() : "0";
        if (!/^-?\d+$/.test(cur)) return new ErrorReply("ERR value is not an integer or out of range");
        const next = BigInt(cur) + 1n;
        dbOf(c.db).set(k(1), { value: Buffer.from(next.toString()), expireAt: e?.expireAt ?? 0 });
        return Number(next);
      }
      case "SLOTSHASHKEY":
        return argv.slice(1).map((_, i) => slotOfBytes(k(i + 1)));
      case "SLOTSINFO": {
        const beg = argv.length >= 2 ? int(argv[1], "slot number") : 0;
        const count = argv.length >= 3 ? int(argv[2], "slot count") : SLOTS;
        const end = Math.min(SLOTS, beg + count);
        const sizes = new Map<number, number>();
        for (const x of dbOf(c.db).keys()) {
          if (!live(c.db, x)) continue;
          const s = slotOfBytes(x);
          if (s >= beg && s < end) sizes.set(s, (sizes.get(s) ?? 0) + 1);
        }
        return [...sizes.entries()].sort((a, b) => a[0] - b[0]).map(([s, n]) => [s, n]);
      }
      case "SLOTSSCAN": {
        arity(3);
        const slot = int(argv[1], "slot number");
        const cursor = int(argv[2], "cursor");
        let count = 10;
        if (argv.length === 5) {
          if (argv[3]!.toString().toUpperCase() !== "COUNT") return new ErrorReply("ERR syntax error");
          count = int(argv[4], "count");
          if (count < 1) return new ErrorReply("ERR syntax error");
        } else if (argv.length !== 3) {
          return new ErrorReply("ERR wrong number of arguments for 'slotsscan' command");
        }
        const keys = keysOfSlot(c.db, slot);
        const page = keys.slice(cursor, cursor + count);
        const next = cursor + count >= keys.length ? 0 : cursor + count;
        return [String(next), page.map((x) => Buffer.from(x, "latin1"))];
      }
      case "SLOTSMGRTTAGONE": {
        arity(5);
        const timeout = int(argv[3], "timeout");
        const key = k(4);
        if (!live(c.db, key)) return 0;
        return moveKeys(c.db, argv[1]!.toString(), int(argv[2], "port"), timeout || 1000, tagGroup(c.db, key));
      }
      case "SLOTSMGRTTAGSLOT": {
        arity(5);
        const timeout = int(argv[3], "timeout");
        const slot = int(argv[4], "slot number");
        const movable = keysOfSlot(c.db, slot).filter((x) => !isMoving(c.db, x));
        let moved = 0;
        if (movable.length) {
          const pick = movable[Math.floor(Math.random() * movable.length)]!;
          const group = tagGroup(c.db, pick).filter((x) => !isMoving(c.db, x));
          moved = await moveKeys(c.db, argv[1]!.toString(), int(argv[2], "port"), timeout || 1000, group);
        }
        const remaining = keysOfSlot(c.db, slot).filter((x) => !isMoving(c.db, x)).length;
        return [moved, remaining];
      }
      case "SLOTSMGRTTAGSLOT-ASYNC": {
        if (argv.length !== 8) return new ErrorReply("ERR wrong number of arguments for SLOTSMGRTSLOT-ASYNC");
        const timeout = int(argv[3], "timeout");
        const slot = int(argv[6], "slot");
        const numkeys = Math.max(1, int(argv[7], "numkeys"));
        const batch = keysOfSlot(c.db, slot).filter((x) => !isMoving(c.db, x)).slice(0, numkeys);
        const moved = await moveKeys(c.db, argv[1]!.toString(), int(argv[2], "port"), timeout || 1000, batch);
        const remaining = keysOfSlot(c.db, slot).filter((x) => !isMoving(c.db, x)).length;
        return [moved, remaining];
      }
      case "SLOTSMGRT-EXEC-WRAPPER": {
        if (argv.length < 3) return [-1, new ErrorReply("ERR wrong number of arguments for SLOTSMGRT-EXEC-WRAPPER")];
        const key = k(1);
        const inner = argv.slice(2);
        const innerName = inner[0]!.toString().toUpperCase();
        if (!live(c.db, key)) return [0, new ErrorReply("ERR the specified key doesn't exist")];
        if (WRITE_COMMANDS.has(innerName) && isMoving(c.db, key)) return [1, new ErrorReply("ERR the specified key is being migrated")];
        return [2, await execSafe(c, inner)];
      }
      case "SLOTSRESTORE": {
        if (argv.length < 4 || (argv.length - 1) % 3 !== 0) return new ErrorReply("ERR wrong number of arguments for 'slotsrestore' command");
        for (let i = 1; i < argv.length; i += 3) {
          const ttl = int(argv[i + 1], "ttl value");
          if (ttl < 0) return new ErrorReply("ERR invalid ttl value, must be >= 0");
          dbOf(c.db).set(k(i), { value: argv[i + 2]!, expireAt: ttl ? Date.now() + ttl : 0 });
        }
        return OK;
      }
      default:
        return new ErrorReply(`ERR unknown command '${argv[0]!.toString()}' (codis-server harness)`);
    }
  };

  const execSafe = async (c: Conn, argv: Buffer[]): Promise<Reply> => {
    try {
      return await exec(c, argv);
    } catch (e) {
      if (e instanceof ErrorReply) return e;
      return new ErrorReply(e instanceof Error ? (e.message.startsWith("ERR") || e.message.startsWith("IOERR") ? e.message : `ERR ${e.message}`) : "ERR ?");
    }
  };

  const server = net.createServer((sock) => {
    sockets.add(sock);
    const conn: Conn = { db: 0, authed: false };
    let buf: Buffer = Buffer.alloc(0);
    let chain: Promise<void> = Promise.resolve();
    sock.on("close", () => sockets.delete(sock));
    sock.on("error", () => sock.destroy());
    sock.on("data", (d: Buffer) => {
      buf = buf.length ? Buffer.concat([buf, d]) : d;
      const { cmds, used } = parseCommands(buf);
      buf = buf.subarray(used);
      for (const argv of cmds) {
        if (argv.length === 0) continue;
        // Per connection in order; across connections one at a time (the global `serial`).
        chain = chain.then(() => {
          if (argv[0]!.toString().toUpperCase() === "QUIT") {
            sock.end("+OK\r\n");
            return;
          }
          const run = serial.then(() => execSafe(conn, argv));
          serial = run.catch(() => undefined);
          return run.then((r) => {
            const out: Buffer[] = [];
            encode(r, out);
            if (!sock.destroyed) sock.write(Buffer.concat(out));
          });
        });
      }
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen({ port: 0, host: "127.0.0.1" }, () => resolve());
  });
  const port = (server.address() as net.AddressInfo).port;

  return {
    port,
    addr: `127.0.0.1:${port}`,
    calls,
    set(key, value, db = 0) {
      dbOf(db).set(Buffer.from(key).toString("latin1"), { value: Buffer.from(value), expireAt: 0 });
    },
    get(key, db = 0) {
      return live(db, Buffer.from(key).toString("latin1"))?.value.toString();
    },
    dump(db = 0) {
      const out: Record<string, string> = {};
      for (const k of [...dbOf(db).keys()].sort()) {
        const e = live(db, k);
        if (e) out[Buffer.from(k, "latin1").toString()] = e.value.toString();
      }
      return out;
    },
    markMoving(key, ms, db = 0) {
      moving.set(`${db}/${Buffer.from(key).toString("latin1")}`, Date.now() + ms);
    },
    close() {
      for (const s of sockets) s.destroy();
      return new Promise<void>((r) => server.close(() => r()));
    },
  };
}
