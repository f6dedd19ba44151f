// Bulk movers: what moves the keys of migrating slots from the source group's master to the
// target's, one implementation per backend kind (DESIGN §7 "Movers, by backend kind").
//
// Invariant every mover keeps: moveSlots resolves only after the mover itself saw the source
// hold no key of the slots (a full scan that found none). A backend's "remaining" count is
// used for progress only, never as the proof.
import { slotOfKey } from "../../core/slot.js";

/** The part of the lead's RedisClient (src/control/redis-client.ts) the movers and dashboard use. */
export interface RedisConn {
  /** bulk → string (utf8), integer → number, array → array, nil → null, status → string; rejects on -ERR. */
  call(...args: (string | number | Buffer)[]): Promise<unknown>;
  /** Same, with bulk strings as Buffer. */
  callBuffer(...args: (string | number | Buffer)[]): Promise<unknown>;
  close(): void;
}

export interface RedisConnectOptions {
  password?: string;
  timeoutMs?: number;
  db?: number;
}

export type RedisConnector = (addr: string, opts?: RedisConnectOptions) => Promise<RedisConn>;

/** codis-server methods, the vanilla Redis mover, and "pika" (Pika classic: movers/pika-classic.ts). */
export type MoverMethod = "sync" | "semi-async" | "redis" | "pika";

export interface MoveOptions {
  connect: RedisConnector;
  /** product_auth: the password of every group server. */
  password?: string;
  /** Bound of one bulk move command (ms); codis's migration_timeout. */
  timeoutMs: number;
  /** semi-async: max bulks / bytes per message (codis migration_async_maxbulks / maxbytes). */
  maxBulks: number;
  maxBytes: number;
  /** Keys per bulk step (semi-async numkeys; keys per MIGRATE for the redis mover). */
  numKeys: number;
  /**
   * Most keys moved per second (migration_max_keys_per_second, or the dashboard's client-aware
   * pace, dashboard/pacer.ts, read before every step); 0 or absent: no limit. A lower rate
   * leaves the servers and proxies more room for clients and makes the move last longer.
   */
  keysPerSecond?: number | (() => number);
  /** Keys each bulk step moved, as it ends (the dashboard's pace measures the movers' rate). */
  onMoved?: (n: number) => void;
  /**
   * Awaited before every bulk step; resolves when moving may go on. The dashboard uses it for
   * `slots/action/disabled`, the batch interval and group promotions.
   */
  gate?: () => Promise<void>;
  /**
   * Progress: keys of sid still seen on db of the source (for the overview's status line), and
   * how many keys this step moved (for the overview's keys-moved counter).
   */
  onProgress?: (sid: number, db: number, remaining: number, moved?: number) => void;
  /** A slot was proven empty on the source (all dbs). */
  onSlotDone?: (sid: number) => void;
  log?: (msg: string) => void;
}

export interface SlotMover {
  readonly method: MoverMethod;
  /** Moves every key of sids from the master at `from` to the master at `to`. */
  moveSlots(sids: readonly number[], from: string, to: string, opts: MoveOptions, signal: AbortSignal): Promise<void>;
}

/**
 * Paces a mover to a number of keys per second: after each bulk step the mover reports how many
 * keys it moved and waits until that many keys' worth of time has passed since the previous
 * step was allowed (or since now, if the mover fell behind: unused time is not saved up into a
 * burst). stepKeys() caps a step at a tenth of a second's worth, so the pace stays even.
 */
export class Throttle {
  private next = 0;
  private readonly rate: () => number;

  /** perSecond: a fixed rate, or a function read before every step (a pace that changes). */
  constructor(perSecond: number | (() => number), private readonly onMoved?: (n: number) => void) {
    this.rate = typeof perSecond === "function" ? perSecond : () => perSecond;
  }

  /** The throttle of a bulk move with these options. */
  static of(opts: Pick<MoveOptions, "keysPerSecond" | "onMoved">): Throttle {
    return new Throttle(opts.keysPerSecond ?? 0, opts.onMoved);
  }

  get limited(): boolean {
    return this.rate() > 0;
  }

  /** The keys one step may move: numKeys, or a tenth of a second's worth when that is less. */
  stepKeys(numKeys: number): number {
    const r = this.rate();
    return r > 0 ? Math.max(1, Math.min(numKeys, Math.floor(r / 10))) : numKeys;
  }

  /** Called after a step that moved n keys; resolves when the next step may start. */
  async moved(n: number, signal?: AbortSignal): Promise<void> {
    if (n > 0) this.onMoved?.(n);
    const r = this.rate();
    if (r <= 0 || n <= 0) {
      this.next = 0;
      return;
    }
    const now = performance.now();
    this.next = Math.max(this.next, now) + (n * 1000) / r;
    const wait = this.next - now;
    if (wait > 1) await sleep(wait, signal);
  }
}

/** Splits "host:port" (IPv6 may be bracketed). */
export function splitAddr(addr: string): { host: string; port: number } {
  const m = /^\[?(.*?)\]?:(\d+)$/.exec(addr);
  if (!m) throw new Error(`invalid address ${addr}`);
  return { host: m[1]!, port: Number(m[2]) };
}

/** Sleeps ms, or rejects early with the signal's reason. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(abortError(signal));
      return;
    }
    const t = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    const onAbort = (): void => {
      clearTimeout(t);
      reject(abortError(signal!));
    };
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

export function abortError(signal: AbortSignal): Error {
  return signal.reason instanceof Error ? signal.reason : new Error("aborted");
}

export function checkAborted(signal: AbortSignal): void {
  if (signal.aborted) throw abortError(signal);
}

/** The dbs that hold keys, from INFO keyspace; db 0 always first (codis walks db 0, then up). */
export async function keyspaceDbs(conn: RedisConn): Promise<number[]> {
  const text = String(await conn.call("INFO", "keyspace"));
  const dbs = new Set<number>([0]);
  for (const line of text.split("\n")) {
    const m = /^db(\d+):/.exec(line.trim());
    if (m) dbs.add(Number(m[1]));
  }
  return [...dbs].sort((a, b) => a - b);
}

/** Whether a reply error says the command does not exist (a plain Redis/Valkey asked a codis command). */
export function isUnknownCommand(e: unknown): boolean {
  return e instanceof Error && /unknown command/i.test(e.message);
}

/** Reads an integer from a reply element. */
export function replyInt(v: unknown, what: string): number {
  const n = typeof v === "number" ? v : typeof v === "string" || Buffer.isBuffer(v) ? Number(v.toString()) : NaN;
  if (!Number.isSafeInteger(n)) throw new Error(`invalid response = ${JSON.stringify(v)} (${what})`);
  return n;
}

/** Reads a two-integer array reply ([moved, remaining] of the codis slot commands). */
export function replyPair(v: unknown, what: string): [number, number] {
  if (!Array.isArray(v) || v.length !== 2) throw new Error(`invalid response = ${JSON.stringify(v)} (${what})`);
  return [replyInt(v[0], what), replyInt(v[1], what)];
}

/**
 * Runs full SCAN passes over each db until a pass meets no key of a slot there; a slot is done
 * when it is clean on every db. pass(db, want) moves the keys of `want` it meets and returns
 * how many it found per slot; movedToo: every key a pass found, it moved (progress says so).
 */
export async function passesUntilEmpty(
  conn: RedisConn, dbs: readonly number[], sids: readonly number[], opts: MoveOptions, movedToo: boolean,
  pass: (db: number, want: ReadonlySet<number>) => Promise<Map<number, number>>,
): Promise<void> {
  const pendingDbs = new Map<number, Set<number>>(sids.map((s) => [s, new Set(dbs)]));
  for (const db of dbs) {
    await conn.call("SELECT", db);
    const want = new Set(sids);
    while (want.size !== 0) {
      const found = await pass(db, want);
      for (const sid of [...want]) {
        const n = found.get(sid) ?? 0;
        if (movedToo) opts.onProgress?.(sid, db, n, n);
        else opts.onProgress?.(sid, db, n);
        if (n !== 0) continue;
        want.delete(sid);
        const left = pendingDbs.get(sid)!;
        left.delete(db);
        if (left.size === 0) opts.onSlotDone?.(sid);
      }
    }
  }
}

const SCAN_COUNT = 1000;

/**
 * One full SCAN pass of the selected db: the keys of `want` each SCAN step meets (less those
 * skip names) go to moveBatch before the next step; returns the keys found per slot.
 */
export async function scanPass(
  conn: RedisConn, want: ReadonlySet<number>, opts: MoveOptions, signal: AbortSignal,
  moveBatch: (keys: Buffer[]) => Promise<void>, skip?: (key: Buffer) => boolean,
): Promise<Map<number, number>> {
  const found = new Map<number, number>();
  let cursor = "0";
  do {
    checkAborted(signal);
    await opts.gate?.();
    checkAborted(signal);
    const r = await conn.callBuffer("SCAN", cursor, "COUNT", SCAN_COUNT);
    if (!Array.isArray(r) || r.length !== 2 || !Array.isArray(r[1])) throw new Error(`invalid response = ${String(r)} (SCAN)`);
    cursor = Buffer.isBuffer(r[0]) ? r[0].toString() : String(r[0]);
    const batch: Buffer[] = [];
    for (const k of r[1] as unknown[]) {
      const key = Buffer.isBuffer(k) ? k : Buffer.from(String(k));
      if (skip?.(key)) continue;
      const sid = slotOfKey(key);
      if (!want.has(sid)) continue;
      found.set(sid, (found.get(sid) ?? 0) + 1);
      batch.push(key);
    }
    await moveBatch(batch);
  } while (cursor !== "0");
  return found;
}
