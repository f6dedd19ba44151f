// The Pika ≥ 3.5 (classic mode, slotmigrate on) mover: a full SCAN of the source finds the
// keys of the migrating slots by slotway's own CRC, and each is moved by name with
// SLOTSMGRTTAGONE (the key and every key of its hash tag). A batch of slots is finished when a
// whole SCAN pass finds none of their keys.
//
// Why not the codis way (SLOTSMGRTTAGSLOT until "remaining" is 0, then SLOTSSCAN): Pika keeps
// its own slot → keys sets, and 3.5.0 files every key whose CRC-32 is ≥ 2^31 under a negative
// slot, so SLOTSINFO / SLOTSSCAN / SLOTSMGRTTAGSLOT answer "empty" while half the keys remain
// (the seeds' data loss). A SCAN of the keyspace does not depend on those sets; moving by name
// works on 3.5.0 and 4.0 alike, hash tags included (checked on the real servers:
// test/integration/pika-facts.test.ts).
//
// Facts this mover depends on (all checked there):
//  - SCAN also returns Pika's own bookkeeping keys `_internal:slotkey:4migrate:<slot>` and
//    `_internal:slottag:4migrate:<crc>` (sets). They are never data: skipped here, never moved,
//    never counted (moving one would corrupt the target's slot sets).
//  - SLOTSMGRTTAGONE answers the number of keys moved; 0 for a key that is gone (expired, or
//    moved meanwhile with its tag). Pika sends the value as plain commands (SET .. EX, RPUSH
//    after DEL, HMSET, SADD, ZADD, EXPIRE), so the target may be any Redis-protocol server.
//  - 4.0 serialises SLOTSMGRTTAGONE calls with one lock but checks the key before taking it: a
//    call that waited behind another move of the same key fails ("cont get the key type.").
//    Such an error is retried once the key is checked gone.
//  - DBSIZE is wrong (3.5: 0) or an error (4.0), and INFO keyspace counts only after an async
//    "INFO keyspace 1": neither is used.
//
// Why this is complete: while a slot migrates, every proxy moves a key (SLOTSMGRTTAGONE) before
// running a command on it and then runs the command on the target (forward method sync, which
// the dashboard forces for Pika whatever migration_method says: Pika's SLOTSMGRT-EXEC-WRAPPER
// never runs the command), so no key of the slot is created on the source; a key present for the
// whole pass is seen by it.
import { crc32, slotOfKey } from "../../core/slot.js";
import {
  Throttle, checkAborted, isUnknownCommand, passesUntilEmpty, replyInt, scanPass, splitAddr,
  type MoveOptions, type RedisConn, type SlotMover,
} from "./mover.js";

/** Moves in flight on the connection (pipelined; Pika runs them one after the other). */
const PIPELINE = 32;

const SLOTKEY_PREFIX = Buffer.from("_internal:slotkey:4migrate:");
const SLOTTAG_PREFIX = Buffer.from("_internal:slottag:4migrate:");

/**
 * Pika's slot bookkeeping keys (slotmigrate on): never data. Moving one would move Pika's record
 * of a hash tag's keys, and the keys left behind could no longer be moved by SLOTSMGRTTAGONE.
 */
export function isPikaInternalKey(key: Buffer): boolean {
  const n = SLOTKEY_PREFIX.length; // both prefixes have the same length
  if (key.length < n || key[0] !== 0x5f /* _ */) return false;
  const head = key.subarray(0, n);
  return head.equals(SLOTKEY_PREFIX) || head.equals(SLOTTAG_PREFIX);
}

export class PikaClassicMover implements SlotMover {
  readonly method = "pika" as const;

  async moveSlots(sids: readonly number[], from: string, to: string, opts: MoveOptions, signal: AbortSignal): Promise<void> {
    if (sids.length === 0) return;
    const target = splitAddr(to);
    const conn = await opts.connect(from, { password: opts.password, timeoutMs: opts.timeoutMs + 5000 });
    const throttle = Throttle.of(opts);
    try {
      const dbs = await pikaDbs(conn);
      await passesUntilEmpty(conn, dbs, sids, opts, false, (db, want) => this.pass(conn, db, want, target, opts, throttle, signal));
    } finally {
      conn.close();
    }
  }

  /** One full SCAN pass; moves every key of `want` it meets. Returns the keys found per slot. */
  private pass(
    conn: RedisConn, db: number, want: ReadonlySet<number>, target: { host: string; port: number },
    opts: MoveOptions, throttle: Throttle, signal: AbortSignal,
  ): Promise<Map<number, number>> {
    return scanPass(conn, want, opts, signal, async (batch) => {
      for (let i = 0; i < batch.length; i += PIPELINE) {
        checkAborted(signal);
        const keys = batch.slice(i, i + PIPELINE);
        await Promise.all(keys.map((key) => this.moveKey(conn, db, key, target, opts)));
        await throttle.moved(keys.length, signal);
      }
    }, isPikaInternalKey);
  }

  /** Moves one key (and its tag) by name; proves it gone from the source, or throws. */
  private async moveKey(conn: RedisConn, db: number, key: Buffer, target: { host: string; port: number }, opts: MoveOptions): Promise<void> {
    await repairRecord(conn, key);
    let moved = 0;
    for (let attempt = 1; ; attempt++) {
      try {
        moved = replyInt(await conn.call("SLOTSMGRTTAGONE", target.host, target.port, opts.timeoutMs, key), "SLOTSMGRTTAGONE");
        break;
      } catch (e) {
        // Another move of the same key (a proxy's) may have taken it meanwhile.
        if (!isUnknownCommand(e) && !(await exists(conn, key))) return;
        // Pika keeps one connection per target and finds it closed by the target's idle timeout
        // only when it uses it ("Connect slots target, Recv error: IO error: Read null"); the
        // next call reconnects. Anything that fails twice stands.
        if (attempt >= 2 || isUnknownCommand(e)) throw withKey(e, key, db);
        opts.log?.(`move of key ${printable(key)} db${db}: ${e instanceof Error ? e.message : String(e)}; trying once more`);
        await repairRecord(conn, key);
      }
    }
    if (moved > 0 || !(await exists(conn, key))) return;
    // Still here after "0 moved": a key whose hash tag Pika has no record of (written while
    // slotmigrate was off). SLOTSMGRTONE moves it by itself; its tag siblings are found by SCAN.
    try {
      replyInt(await conn.call("SLOTSMGRTONE", target.host, target.port, opts.timeoutMs, key), "SLOTSMGRTONE");
    } catch (e) {
      if (await exists(conn, key)) throw withKey(e, key, db);
      return;
    }
    if (await exists(conn, key)) {
      // Pika keeps TTLs in whole seconds and moves nothing of a key in its last one (TTL 0:
      // still readable, SLOTSMGRTTAGONE and SLOTSMGRTONE answer 0; checked on 3.5.0 and 4.0.1).
      // It is gone within a second: wait for that rather than fail the slot.
      if (await expiresWithin(conn, key, LAST_SECOND_WAIT_MS)) {
        opts.log?.(`key ${printable(key)} db${db}: expired on the source (Pika does not move a key in its last second of TTL)`);
        return;
      }
      throw new Error(`key ${printable(key)} (db${db}, slot ${slotOfKey(key)}) stays on the source: Pika moved nothing for SLOTSMGRTTAGONE and SLOTSMGRTONE`);
    }
    opts.log?.(`key ${printable(key)} db${db}: moved by SLOTSMGRTONE (SLOTSMGRTTAGONE left it)`);
  }
}

const TYPE_CODE: Record<string, string> = { string: "k", hash: "h", list: "l", set: "s", zset: "z" };

/**
 * Makes Pika's record of a key say what the key is, before it is moved. Pika files every key as
 * "<type letter><key>" in a set per slot (`_internal:slotkey:4migrate:<its slot>`) and, for a key
 * with a hash tag, in a set per tag (`_internal:slottag:4migrate:<crc32 of the tag>`); its
 * SLOTSMGRT* commands move what those sets say. Some commands leave them wrong (checked on 3.5.0
 * and 4.0.1): RPOPLPUSH files its destination list as a string (then SLOTSMGRTTAGONE of any key
 * of the tag fails, "ERR ParseKey failed" on 4.0, or moves nothing on 3.5), SMOVE and SUNIONSTORE
 * do not file their destination at all (SLOTSMGRTTAGONE answers success and leaves it behind).
 * The type comes from TYPE once EXISTS says the key is there (4.0's TYPE names a type for a key
 * that is gone); the slot from Pika's own SLOTSHASHKEY (3.5.0's is negative for half the keys,
 * and that is the set it uses).
 */
export async function repairRecord(conn: RedisConn, key: Buffer): Promise<void> {
  const r = await conn.call("SLOTSHASHKEY", key);
  const pikaSlot = Array.isArray(r) ? replyInt(r[0], "SLOTSHASHKEY") : replyInt(r, "SLOTSHASHKEY");
  const sets = [`_internal:slotkey:4migrate:${pikaSlot}`];
  const tag = hashTag(key);
  // A hash tag moves as one: every key Pika lists for it is checked too (a sibling filed with the
  // wrong type fails the move of the whole tag), and the keys that are gone leave the lists.
  const keys = new Map<string, Buffer>([[key.toString("latin1"), key]]);
  if (tag !== undefined) {
    const tagSet = `_internal:slottag:4migrate:${crc32(tag)}`;
    sets.push(tagSet);
    const members = await conn.callBuffer("SMEMBERS", tagSet);
    if (Array.isArray(members)) {
      for (const m of members) if (Buffer.isBuffer(m) && m.length > 1) keys.set(m.subarray(1).toString("latin1"), m.subarray(1));
    }
  }
  for (const k of keys.values()) {
    const code = (await exists(conn, k)) ? TYPE_CODE[String(await conn.call("TYPE", k))] : undefined;
    const wrong = [..."khlsz"].filter((c) => c !== code).map((c) => Buffer.concat([Buffer.from(c), k]));
    for (const set of sets) {
      await conn.call("SREM", set, ...wrong);
      if (code !== undefined) await conn.call("SADD", set, Buffer.concat([Buffer.from(code), k]));
    }
  }
}

/** The hash tag as Pika reads it: from the first '{' to the first '}' after it (may be empty). */
function hashTag(key: Buffer): Buffer | undefined {
  const o = key.indexOf(0x7b /* { */);
  if (o < 0) return undefined;
  const c = key.indexOf(0x7d /* } */, o + 1);
  return c < 0 ? undefined : key.subarray(o + 1, c);
}

/**
 * The dbs to walk: db 0 only. Pika's SLOTSMGRTTAGONE does not select the db on the target: a key
 * of db 1 lands in the target's db 0 (checked on 3.5.0 and 4.0.1), so a Pika with more than one
 * database is refused (the dashboard refuses such a migration before it starts, too).
 */
async function pikaDbs(conn: RedisConn): Promise<number[]> {
  const r = await conn.call("CONFIG", "GET", "databases");
  const n = Array.isArray(r) && r.length >= 2 ? Number(String(r[1])) : 1;
  if (n !== 1) throw new Error(`${PIKA_DATABASES_REASON} (this server: databases = ${n})`);
  return [0];
}

export const PIKA_DATABASES_REASON = "Pika moves the keys of every db into db 0 of the target (SLOTSMGRTTAGONE does not select the db): "
  + "slotway migrates Pika classic servers with \"databases : 1\" only";

/** How long a key Pika will not move because its TTL is 0 is watched until it expires. */
const LAST_SECOND_WAIT_MS = 2500;

/** True when the key has a TTL of 0 s (its last second) and is gone within ms. */
async function expiresWithin(conn: RedisConn, key: Buffer, ms: number): Promise<boolean> {
  if (replyInt(await conn.call("TTL", key), "TTL") !== 0) return false;
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 100));
    if (!(await exists(conn, key))) return true;
  }
  return false;
}

async function exists(conn: RedisConn, key: Buffer): Promise<boolean> {
  return replyInt(await conn.call("EXISTS", key), "EXISTS") > 0;
}

function printable(key: Buffer): string {
  const s = key.toString("utf8");
  return JSON.stringify(s.length > 80 ? `${s.slice(0, 80)}…` : s);
}

function withKey(e: unknown, key: Buffer, db: number): Error {
  return new Error(`move of key ${printable(key)} (db${db}): ${e instanceof Error ? e.message : String(e)}`);
}
