// The codis-server protocol mover: the source master moves a slot's keys itself, one tag group at
// a time (sync: SLOTSMGRTTAGSLOT) or a batch at a time (semi-async: SLOTSMGRTTAGSLOT-ASYNC).
// Both reply [moved, remaining]. codis stops when remaining is 0; we then also walk the slot with
// SLOTSSCAN and finish only when that finds no key, because a key an async batch still holds (or
// a backend that miscounts) is not in "remaining" (DESIGN §7 invariants).
import {
  Throttle, checkAborted, keyspaceDbs, replyPair, sleep, splitAddr,
  type MoveOptions, type RedisConn, type SlotMover,
} from "./mover.js";

const SCAN_COUNT = 100;
// sync: SLOTSMGRTTAGSLOT commands per write (fewer round trips and system calls per key; the
// pace's step cap, a tenth of a second's worth of keys, applies when it is lower).
const SYNC_PIPELINE = 16;
// When the source reports keys but moves none (they are mid-move), back off between tries.
const IDLE_BACKOFF_MIN_MS = 5;
const IDLE_BACKOFF_MAX_MS = 200;
// codis caps the async command's timeout at 5s whatever migration_timeout says.
const ASYNC_TIMEOUT_CAP_MS = 5000;

export class CodisMover implements SlotMover {
  constructor(readonly method: "sync" | "semi-async") {}

  async moveSlots(sids: readonly number[], from: string, to: string, opts: MoveOptions, signal: AbortSignal): Promise<void> {
    const target = splitAddr(to);
    const cmdTimeout = this.method === "sync" ? opts.timeoutMs : Math.min(ASYNC_TIMEOUT_CAP_MS, opts.timeoutMs);
    // The connection waits for each bulk command, which may take up to cmdTimeout on the server.
    const conn = await opts.connect(from, { password: opts.password, timeoutMs: cmdTimeout + 5000 });
    const throttle = Throttle.of(opts);
    try {
      // The dbs holding keys are read once: no key of a migrating slot appears on the source
      // meanwhile (no proxy writes it), so a db without any now cannot hold one of them later.
      // db by db, slot by slot: one SELECT per db, not per slot.
      const dbs = await keyspaceDbs(conn);
      const left = new Map(sids.map((sid) => [sid, dbs.length]));
      for (const db of dbs) {
        await conn.call("SELECT", db);
        for (const sid of sids) {
          await this.drain(conn, sid, db, target, cmdTimeout, opts, throttle, signal);
          const n = left.get(sid)! - 1;
          left.set(sid, n);
          if (n === 0) opts.onSlotDone?.(sid);
        }
      }
    } finally {
      conn.close();
    }
  }

  /** Moves sid's keys of the selected db until a SLOTSSCAN walk finds none. */
  private async drain(
    conn: RedisConn, sid: number, db: number, target: { host: string; port: number }, cmdTimeout: number,
    opts: MoveOptions, throttle: Throttle, signal: AbortSignal,
  ): Promise<void> {
    let backoff = IDLE_BACKOFF_MIN_MS;
    for (;;) {
      checkAborted(signal);
      await opts.gate?.();
      checkAborted(signal);
      const [moved, remaining] = this.method === "sync"
        ? await this.syncStep(conn, sid, target, cmdTimeout, throttle.stepKeys(SYNC_PIPELINE))
        : replyPair(await conn.call("SLOTSMGRTTAGSLOT-ASYNC", target.host, target.port, cmdTimeout,
          opts.maxBulks, opts.maxBytes, sid, throttle.stepKeys(opts.numKeys)), "SLOTSMGRTTAGSLOT-ASYNC");
      opts.onProgress?.(sid, db, remaining, moved);
      await throttle.moved(moved, signal);
      if (remaining !== 0) {
        if (moved === 0) {
          await sleep(backoff, signal);
          backoff = Math.min(IDLE_BACKOFF_MAX_MS, backoff * 2);
        } else {
          backoff = IDLE_BACKOFF_MIN_MS;
        }
        continue;
      }
      const left = await this.scanSlot(conn, sid, signal);
      if (left === 0) return;
      // The source said none remain but still holds keys: they are mid-move (or it miscounted).
      // Keep going; the slot is not finished until we see it empty ourselves.
      opts.onProgress?.(sid, db, left);
      opts.log?.(`slot-[${sid}] db${db}: source reports 0 remaining but SLOTSSCAN still finds ${left} key(s), retrying`);
      await sleep(backoff, signal);
      backoff = Math.min(IDLE_BACKOFF_MAX_MS, backoff * 2);
    }
  }

  /**
   * sync: n SLOTSMGRTTAGSLOT in one write (each moves one tag group; the source runs them one
   * after the other, and those after the slot ran empty answer 0 moved). Returns the keys moved
   * and the source's count of the slot's keys after the last.
   */
  private async syncStep(
    conn: RedisConn, sid: number, target: { host: string; port: number }, cmdTimeout: number, n: number,
  ): Promise<[number, number]> {
    const replies = await Promise.all(Array.from({ length: n }, () => conn.call("SLOTSMGRTTAGSLOT", target.host, target.port, cmdTimeout, sid)));
    let moved = 0;
    let remaining = 0;
    for (const r of replies) {
      const [m, left] = replyPair(r, "SLOTSMGRTTAGSLOT");
      moved += m;
      remaining = left;
    }
    return [moved, remaining];
  }

  /** Counts the keys of sid on the selected db with a full SLOTSSCAN walk. */
  private async scanSlot(conn: RedisConn, sid: number, signal: AbortSignal): Promise<number> {
    let cursor = "0";
    let n = 0;
    do {
      checkAborted(signal);
      const r = await conn.call("SLOTSSCAN", sid, cursor, "COUNT", SCAN_COUNT);
      if (!Array.isArray(r) || r.length !== 2 || !Array.isArray(r[1])) throw new Error(`invalid response = ${JSON.stringify(r)} (SLOTSSCAN)`);
      cursor = String(r[0]);
      n += r[1].length;
    } while (cursor !== "0");
    return n;
  }
}
