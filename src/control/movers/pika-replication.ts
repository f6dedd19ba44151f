// The server side of moving a Pika 3.4 (sharding) slot: the target's copy of the slot becomes a
// replica of the source's (`pkcluster slotsslaveof`), catches up (full sync, then binlog), and
// is detached (`slotsslaveof no one`) once it holds exactly what the source holds. This file
// only talks to the Pika servers; the walk through the slot states, the proxies' lock and the
// route flip are dashboard/replication.ts.
//
// "Exactly what the source holds" is read in two parts. Binlog positions: a slot's replica
// writes the same binlog entries at the same positions as its master (after a full sync it
// starts at the master's position), so with the slot locked in every proxy (no writes), source
// and target positions equal and unchanged across two reads means the target has every write in
// its binlog. That is not yet in its data: a Pika 3.4 replica writes the binlog, then hands each
// command to one of its DB writer threads, chosen by a hash of the command's first key, which
// apply their queues later (seen in the soak: a DEL through the new owner answered 0, and the
// replicated SET it should have removed appeared after it). So the lock also writes a fence:
// marker keys of the slot on the source, enough distinct names to land on every writer thread
// (fenceSize); once the target reads every marker, each thread has applied everything queued
// before its marker. Markers expire by themselves (FENCE_TTL_MS) and are deleted when done.
import { randomBytes } from "node:crypto";
import { slotOfKey } from "../../core/slot.js";
import {
  addMissingSlots, binlogPos, delSlots, slaveOf, slaveOfNoOne, slotInfo, type SlotReplState,
} from "../backends/pika-cluster.js";
import type { RedisConn, RedisConnector } from "./mover.js";

/** A migration that must stop with the route left on the source (not retried by itself). */
export class ReplicationStop extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ReplicationStop";
  }
}

/** One connection per server, opened on demand and reopened after a failure. */
export class ConnPool {
  private readonly conns = new Map<string, Promise<RedisConn>>();

  constructor(private readonly connect: RedisConnector, private readonly password: string | undefined, private readonly timeoutMs: number) {}

  async call<T>(addr: string, fn: (c: RedisConn) => Promise<T>): Promise<T> {
    let p = this.conns.get(addr);
    if (!p) {
      p = this.connect(addr, { password: this.password, timeoutMs: this.timeoutMs });
      this.conns.set(addr, p);
    }
    try {
      return await fn(await p);
    } catch (e) {
      // A reply error leaves the connection usable; anything else (closed, timeout) does not.
      if (!(e instanceof Error && e.name === "RedisReplyError")) {
        this.conns.delete(addr);
        void p.then((c) => c.close(), () => undefined);
      }
      throw e;
    }
  }

  close(): void {
    for (const p of this.conns.values()) void p.then((c) => c.close(), () => undefined);
    this.conns.clear();
  }
}

/** What replicating one slot looks like right now. */
export interface SyncView {
  source?: SlotReplState;
  target?: SlotReplState;
  /** Binlog bytes the target is behind, as the source reports it (undefined: not in binlog sync). */
  lag?: number;
  /** The target follows the source and the link is up (slave status kConnected). */
  connected: boolean;
  /** "full sync", "binlog sync, lag N", "target kWaitReply", ... for the overview. */
  phase: string;
}

export class PikaSlotReplication {
  constructor(readonly pool: ConnPool) {}

  info(addr: string, sid: number): Promise<SlotReplState | undefined> {
    return this.pool.call(addr, async (c) => (await slotInfo(c, [sid])).get(sid));
  }

  /** Number of slots a server holds now. */
  async slotCount(addr: string): Promise<number> {
    return this.pool.call(addr, async (c) => (await slotInfo(c)).size);
  }

  /**
   * Makes the target's slot a replica of the source's, and the target's replicas replicas of the
   * target (chained replication works on 3.4: a slot replica serves its own replicas). Idempotent:
   * a target already following the source is left alone (a restarted dashboard resumes here).
   * A fresh slot starts from binlog position 0 0: Pika 3.4.0 replays the master's binlog, which
   * is fast and right when that binlog holds the slot's whole history. A master whose copy came by
   * a full sync (a slot that moved in before) has no such history: the fresh slave then says
   * kConnected and stays at 0 0 for ever (pika-facts.test.ts); the dashboard sees that (stalled())
   * and starts the link over with a full sync (reattach). A copy the target already had (an
   * earlier attempt, or a slot moving back before its old copy was removed) is dropped first
   * (`delslots`, `addslots`): the route is on the source, so that copy serves nobody, and a fresh
   * slot takes the fast path. No attach is forced: a full sync dumps and copies the slot, and
   * Pika runs them one after another (measured: 32 slots under the soak's load, 60 s and 10 not
   * done).
   */
  async attach(sid: number, source: string, target: string, replicas: readonly string[]): Promise<void> {
    const src = await this.info(source, sid);
    // Replicating from a master that lacks the slot answers +OK and then waits for ever.
    if (!src) throw new ReplicationStop(`source ${source} has no slot ${sid} (pkcluster info slot ${sid} is empty)`);
    if (src.role !== "master") throw new ReplicationStop(`source ${source} holds slot ${sid} as a replica of ${src.master ?? "?"}, not as its master`);
    const tgt = await this.info(target, sid);
    if (!tgt) {
      await this.pool.call(target, (c) => addMissingSlots(c, [sid]));
      await this.pool.call(target, (c) => slaveOf(c, source, [sid]));
    } else if (!(tgt.role === "slave" && sameAddr(tgt.master, source))) {
      if (!isFresh(tgt)) {
        await this.remove(sid, [target]);
        await this.pool.call(target, (c) => addMissingSlots(c, [sid]));
      }
      await this.pool.call(target, (c) => slaveOf(c, source, [sid]));
    }
    for (const r of replicas) await this.follow(sid, target, r);
  }

  /** A replica server of the target group follows the target master for this slot. */
  async follow(sid: number, master: string, replica: string): Promise<void> {
    const have = await this.info(replica, sid);
    if (!have) {
      await this.pool.call(replica, (c) => addMissingSlots(c, [sid]));
      await this.pool.call(replica, (c) => slaveOf(c, master, [sid]));
    } else if (!(have.role === "slave" && sameAddr(have.master, master))) {
      await this.pool.call(replica, (c) => slaveOf(c, master, [sid], !isFresh(have)));
    }
  }

  async view(sid: number, source: string, target: string): Promise<SyncView> {
    const [src, tgt] = await Promise.all([this.info(source, sid), this.info(target, sid)]);
    const entry = src?.slaves.find((s) => sameAddr(s.addr, target));
    const following = tgt?.role === "slave" && sameAddr(tgt.master, source);
    // Both ends must agree: a source that dropped the target ("Master del Recv Timeout slave")
    // no longer lists it while the target may still say kConnected, or wait in kWaitReply.
    const connected = following && tgt?.slaveStatus === "kConnected" && entry !== undefined;
    let phase: string;
    if (!src) phase = `source ${source} has no slot ${sid}`;
    else if (!tgt) phase = `target ${target} has no slot ${sid}`;
    else if (!following) phase = `target ${target} does not follow ${source} (role ${tgt.role}${tgt.master ? ` of ${tgt.master}` : ""})`;
    else if (!connected) phase = `target ${tgt.slaveStatus ?? "?"}${entry ? `, source ${entry.status}` : ""}`;
    else if (entry?.lag !== undefined) phase = `binlog sync, lag ${entry.lag}`;
    else phase = `target connected, source ${entry?.status ?? "does not list it yet"}`;
    return { source: src, target: tgt, lag: connected ? entry?.lag : undefined, connected, phase };
  }

  /**
   * Starts the target's replication of the slot over: Pika 3.4 leaves a slave whose master
   * dropped it ("Master del Recv Timeout slave") in kWaitReply for ever; a new `slotsslaveof`
   * after `no one` reconnects it, from its own binlog position. full: a full sync instead (for a
   * fresh target stalled at 0 0, see attach). Not by default: Pika runs full syncs one after
   * another, and a slot whose copy came by one makes every later move of it need one too
   * (measured: 128 slots whose links were restarted with full syncs did not finish in 300 s).
   */
  async reattach(sid: number, source: string, target: string, full = false): Promise<void> {
    await this.pool.call(target, (c) => slaveOfNoOne(c, [sid]));
    await this.pool.call(target, (c) => slaveOf(c, source, [sid], full));
  }

  /** The fence's markers for a slot (see the head of this file), written on the source. */
  async writeFence(sid: number, source: string, target: string): Promise<string[]> {
    const threads = await this.pool.call(target, async (c) => {
      const r = await c.call("CONFIG", "GET", "sync-thread-num");
      return Array.isArray(r) && r.length === 2 ? Number(String(r[1])) : NaN;
    });
    // 6 is Pika's default; a server that does not say gets far more markers than it needs.
    const keys = fenceKeys(sid, Number.isFinite(threads) && threads > 0 ? threads : 48);
    await this.pool.call(source, (c) => Promise.all(keys.map((k) => c.call("SET", k, "1", "PX", String(FENCE_TTL_MS)))));
    return keys;
  }

  /** True once the target holds every marker (read on the target, a replica that serves reads). */
  async fenceApplied(target: string, keys: readonly string[]): Promise<boolean> {
    const n = await this.pool.call(target, (c) => c.call("EXISTS", ...keys));
    return Number(n) === keys.length;
  }

  /** Deletes the markers (best effort: they expire anyway). */
  async dropFence(addrs: readonly string[], keys: readonly string[]): Promise<void> {
    for (const a of addrs) await this.pool.call(a, (c) => c.call("DEL", ...keys)).catch(() => undefined);
  }

  /** `slotsslaveof no one` on the target: its slot becomes a master. */
  async detach(sid: number, target: string): Promise<void> {
    await this.pool.call(target, (c) => slaveOfNoOne(c, [sid]));
  }

  /** Removes the slot from servers (replicas first); a server without it is skipped. */
  async remove(sid: number, servers: readonly string[]): Promise<void> {
    for (const s of servers) {
      const have = await this.info(s, sid);
      if (!have) continue;
      if (have.role === "slave") await this.pool.call(s, (c) => slaveOfNoOne(c, [sid]));
      await this.pool.call(s, (c) => delSlots(c, [sid]));
    }
  }
}

/** A slot with nothing written: binlog position 0 0. */
export function isFresh(s: SlotReplState): boolean {
  return s.file === 0 && s.offset === 0;
}

/**
 * How long a replication handshake may look lost (lostHandshake) before the link is started over.
 * A source closes a target's whole replication connection (all its slots) when a binlog ack names
 * a slot it no longer lists the target for, as happens right after another slot of the pair
 * detaches; a handshake in flight on that connection is then lost for good: the target waits in
 * kWaitReply (its TrySync or DBSync request, or the reply, was lost), or says kConnected while the
 * source keeps it at SlaveNotSync (its first binlog request was lost). Seen for 20-60 s and more
 * until a restart; when nothing is lost both pass in milliseconds (the source answers both
 * requests at once, a full sync's own wait being kWaitDBSync).
 */
export const HANDSHAKE_MS = 5000;

/** The slave's status and the master's entry for it say the handshake stalls (HANDSHAKE_MS). */
export function lostHandshake(slaveStatus: string | undefined, masterSays: string | undefined): boolean {
  return slaveStatus === "kWaitReply" || (slaveStatus === "kConnected" && masterSays === "SlaveNotSync");
}

/**
 * A fresh slave that the master cannot feed from its binlog (the master's copy came by a full
 * sync): connected, still at 0 0, while the master lists it behind. Only a full sync helps.
 */
export function stalledFresh(v: SyncView): boolean {
  return v.connected && v.target !== undefined && isFresh(v.target) && (v.lag ?? 0) > 0;
}

/** How long a fence marker lives if nothing deletes it. */
const FENCE_TTL_MS = 60_000;
/**
 * Markers per DB writer thread: with k random names per thread, the chance that one of t
 * threads gets none is below t·e^-k; 24 makes it ~4e-11 per thread.
 */
const FENCE_PER_WRITER = 24;

/**
 * Marker keys for the slot's lock fence: `{slotway-fence-<sid>-<n>}:<nonce>:<i>`, n the first
 * that hashes the tag to the slot. Pika 3.4 has sync-thread-num threads for replication, half
 * of them DB writers (pika_repl_client.cc GetHashIndex); names = FENCE_PER_WRITER per writer.
 */
export function fenceKeys(sid: number, syncThreads: number): string[] {
  let tag = "";
  for (let n = 0; ; n++) {
    tag = `slotway-fence-${sid}-${n}`;
    if (slotOfKey(tag) === sid) break;
  }
  const nonce = randomBytes(6).toString("hex");
  const count = FENCE_PER_WRITER * Math.max(1, Math.floor(syncThreads / 2));
  return Array.from({ length: count }, (_, i) => `{${tag}}:${nonce}:${i}`);
}

/** Equal binlog positions (file and offset). */
export function samePos(a: SlotReplState | undefined, b: SlotReplState | undefined): boolean {
  return a !== undefined && b !== undefined && binlogPos(a) === binlogPos(b);
}

/** "127.0.0.1:9221" vs "localhost:9221" are not compared by name: only the exact text or the port+loopback. */
export function sameAddr(a: string | undefined, b: string): boolean {
  if (a === undefined) return false;
  if (a === b) return true;
  const port = (x: string): string => x.slice(x.lastIndexOf(":") + 1);
  const host = (x: string): string => x.slice(0, x.lastIndexOf(":")).replace(/^\[|\]$/g, "");
  const loop = (h: string): boolean => h === "localhost" || h === "127.0.0.1" || h === "::1";
  return port(a) === port(b) && loop(host(a)) && loop(host(b));
}
