// Bulk movers: what moves the keys of migrating slots from the source group's master to the
// target's, one implementation per backend kind (DESIGN §7 "Movers, by backend kind").
//
// Invariant every mover keeps: moveSlots resolves only after the mover itself saw the source
// hold no key of the slots (a full scan that found none). A backend's "remaining" count is
// used for progress only, never as the proof.

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
   * Awaited before every bulk step; resolves when moving may go on. The dashboard uses it for
   * `slots/action/disabled`, the batch interval and group promotions.
   */
  gate?: () => Promise<void>;
  /** Progress: keys of sid still seen on db of the source (for the overview's status line). */
  onProgress?: (sid: number, db: number, remaining: number) => void;
  /** A slot was proven empty on the source (all dbs). */
  onSlotDone?: (sid: number) => void;
  log?: (msg: string) => void;
}

export interface SlotMover {
  readonly method: MoverMethod;
  /** Moves every key of sids from the master at `from` to the master at `to`. */
  moveSlots(sids: readonly number[], from: string, to: string, opts: MoveOptions, signal: AbortSignal): Promise<void>;
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
