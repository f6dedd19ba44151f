// The server side of moving a Pika 3.4 (sharding) slot: the target's copy of the slot becomes a
// replica of the source's (`pkcluster slotsslaveof`), catches up (full sync, then binlog), and
// is detached (`slotsslaveof no one`) once it holds exactly what the source holds. This file
// only talks to the Pika servers; the walk through the slot states, the proxies' lock and the
// route flip are dashboard/replication.ts.
//
// "Exactly what the source holds" is read from binlog positions: a slot's replica writes the
// same binlog entries at the same positions as its master (after a full sync it starts at the
// master's position), so with the slot locked in every proxy (no writes), source and target
// positions equal and unchanged across two reads means the target has every write.
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
   * A slot the target already had (a leftover of an earlier attempt) is fully resynced (`force`),
   * so nothing it held survives.
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
      await this.pool.call(target, (c) => slaveOf(c, source, [sid], true));
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
      await this.pool.call(replica, (c) => slaveOf(c, master, [sid], true));
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
   * Starts the target's replication of the slot over (from its own binlog position): Pika 3.4
   * leaves a slave whose master dropped it ("Master del Recv Timeout slave") in kWaitReply for
   * ever; a new `slotsslaveof` after `no one` reconnects it.
   */
  async reattach(sid: number, source: string, target: string): Promise<void> {
    await this.pool.call(target, (c) => slaveOfNoOne(c, [sid]));
    await this.pool.call(target, (c) => slaveOf(c, source, [sid]));
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
