// The vanilla Redis/Valkey mover (slotway's own "redis" method): such servers have no slot
// commands, so the dashboard finds a slot's keys itself. One SCAN pass over the source serves a
// whole batch of slots; the keys of those slots move with MIGRATE ... KEYS (no REPLACE).
//
// Why BUSYKEY → REPLACE is safe: while a slot migrates, proxies run every command of the slot on
// the source if its keys exist there and create new keys only on the target (DESIGN §7), so a key
// still present on the source is the live one, and a copy on the target can only be a leftover of
// an earlier MIGRATE whose reply was lost (the target restored it, the source kept it).
//
// A slot is finished when a full SCAN pass finds none of its keys: SCAN returns every key that is
// present for the whole pass, and no proxy creates keys of a migrating slot on the source.
import {
  Throttle, checkAborted, keyspaceDbs, passesUntilEmpty, scanPass, splitAddr,
  type MoveOptions, type RedisConn, type SlotMover,
} from "./mover.js";

export class RedisMover implements SlotMover {
  readonly method = "redis" as const;

  async moveSlots(sids: readonly number[], from: string, to: string, opts: MoveOptions, signal: AbortSignal): Promise<void> {
    if (sids.length === 0) return;
    const target = splitAddr(to);
    const conn = await opts.connect(from, { password: opts.password, timeoutMs: opts.timeoutMs + 5000 });
    const throttle = Throttle.of(opts);
    try {
      const dbs = await keyspaceDbs(conn);
      await passesUntilEmpty(conn, dbs, sids, opts, true, (db, want) => this.pass(conn, db, want, target, opts, throttle, signal));
    } finally {
      conn.close();
    }
  }

  /** One full SCAN pass of the selected db; moves every key of `want` it meets. Returns keys found per slot. */
  private pass(
    conn: RedisConn, db: number, want: ReadonlySet<number>, target: { host: string; port: number },
    opts: MoveOptions, throttle: Throttle, signal: AbortSignal,
  ): Promise<Map<number, number>> {
    return scanPass(conn, want, opts, signal, async (batch) => {
      const step = throttle.stepKeys(opts.numKeys);
      for (let i = 0; i < batch.length; i += step) {
        checkAborted(signal);
        const keys = batch.slice(i, i + step);
        await this.migrate(conn, db, target, keys, opts);
        await throttle.moved(keys.length, signal);
      }
    });
  }

  private async migrate(conn: RedisConn, db: number, target: { host: string; port: number }, keys: Buffer[], opts: MoveOptions): Promise<void> {
    const auth = opts.password ? ["AUTH", opts.password] : [];
    try {
      await conn.call("MIGRATE", target.host, target.port, "", db, opts.timeoutMs, ...auth, "KEYS", ...keys);
      return;
    } catch (e) {
      if (!isBusyKey(e)) throw e;
    }
    // Some key of the batch already exists on the target (the keys before it in the batch were
    // moved; the source kept the busy ones). Retry one by one: plain first, REPLACE on BUSYKEY.
    for (const k of keys) {
      try {
        await conn.call("MIGRATE", target.host, target.port, k, db, opts.timeoutMs, ...auth);
      } catch (e) {
        if (!isBusyKey(e)) throw e;
        opts.log?.(`MIGRATE ${k.toString()} db${db} → ${target.host}:${target.port}: target has a stale copy, replacing it`);
        await conn.call("MIGRATE", target.host, target.port, k, db, opts.timeoutMs, "REPLACE", ...auth);
      }
    }
  }
}

function isBusyKey(e: unknown): boolean {
  return e instanceof Error && /BUSYKEY/.test(e.message);
}
