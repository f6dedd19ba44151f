// Pika 3.4 (sharding) groups: a slot exists on a server only after `pkcluster addslots`, and a
// replica follows its master slot by slot (`pkcluster slotsslaveof`; SLAVEOF is refused in
// sharding mode: "This command is not supported in current configuration"). The dashboard does
// all of it, so operators never type pkcluster:
//
//   slots-assign to a sharding group   addslots on every server of the group (only the slots
//                                      assigned), replicas follow the master, before any proxy
//                                      gets the route
//   sync action (codis-fe "SYNC")      master: every slot becomes a master; replica: adds the
//                                      slots the group owns and follows the master for them
//   promotion                          the new master: every slot becomes a master
//   every server-stats poll            a replica slot whose handshake Pika lost (lostHandshake)
//                                      for HANDSHAKE_MS is started again, backing off
//
// A slot that goes offline or is assigned elsewhere by force keeps its copy on the old group:
// only a finished migration removes it (pika-cleanup.ts).
import { ApiError } from "../http.js";
import { addMissingSlots, delSlots, slaveOf, slaveOfNoOne, slotInfo, slotList, type SlotReplState } from "../backends/pika-cluster.js";
import { pikaSlotDiskBytes } from "../backends/kind.js";
import { HANDSHAKE_MS, isFresh, lostHandshake, sameAddr } from "../movers/pika-replication.js";
import type { RedisConn } from "../movers/mover.js";
import { errText } from "./log.js";
import { withConn } from "./redis-ops.js";
import type { Topom } from "./topom.js";

/** Bound of one pkcluster command that adds or removes slots (ADDSLOTS_CHUNK of them). */
const SLOW_MS = 60_000;

/** A replica slot restarted n times in a row waits HANDSHAKE_MS × 2^n (at most this many ×). */
const MAX_BACKOFF = 60;

export class PikaGroupOps {
  /** Replica slots that look like a lost handshake: "replica sid" → since when, restarts so far. */
  private readonly stuck = new Map<string, { since: number; restarts: number }>();

  constructor(private readonly t: Topom) {}

  /** Whether the group's servers are Pika 3.4 sharding (probing those not known yet). */
  async isSharding(gid: number): Promise<boolean> {
    const g = this.t.topology().groups.get(gid);
    const servers = g?.servers.map((s) => s.server) ?? [];
    if (servers.length === 0) return false;
    const unknown = servers.filter((s) => !this.t.kinds.has(s));
    if (unknown.length) {
      try {
        await this.t.ensureBackendKinds(unknown);
      } catch (e) {
        // A sharding master that cannot be asked cannot get its slots either: say so.
        if (!this.t.kinds.has(servers[0]!)) throw new ApiError(`group-[${gid}]: cannot learn what ${servers[0]} is: ${errText(e)}`);
      }
    }
    return servers.some((s) => this.t.kinds.get(s)?.kind === "pika-sharding");
  }

  private on<T>(addr: string, fn: (c: RedisConn) => Promise<T>, timeoutMs = 10_000): Promise<T> {
    return withConn(this.t.connect, addr, this.t.config.product_auth, timeoutMs, fn);
  }

  /**
   * slots-assign: the slots exist on every server of the group, replicas following the master,
   * before the route is stored and pushed. Checked first against pika_max_slots_per_server; on a
   * failure the slots this call added (empty) are removed again and the assign is refused.
   */
  async addSlotsToGroup(gid: number, sids: readonly number[]): Promise<void> {
    if (sids.length === 0 || !(await this.isSharding(gid))) return;
    const g = this.t.topology().getGroup(gid);
    const servers = g.servers.map((s) => s.server);
    const [master, ...replicas] = servers;
    const max = this.t.config.pika_max_slots_per_server;
    const before = new Map<string, Set<number>>();
    for (const addr of servers) {
      const have = await this.on(addr, (c) => slotInfo(c));
      before.set(addr, new Set(have.keys()));
      const missing = sids.filter((s) => !have.has(s));
      if (have.size + missing.length > max) {
        throw new ApiError(`server ${addr} (group-[${gid}], Pika 3.4) holds ${have.size} slots; ${missing.length} more exceed `
          + `pika_max_slots_per_server = ${max}. Each slot costs Pika 3.4 ~26 file descriptors and it dies when it runs out: `
          + `raise its ulimit -n (≥ maxclients + 40 × slots), restart it, then raise pika_max_slots_per_server`);
      }
      this.warnDisk(addr, have.size + missing.length);
    }
    const started = performance.now();
    try {
      // Servers in parallel: each slot takes a server ~150 ms to add.
      await Promise.all(servers.map((addr) => this.on(addr, (c) => addMissingSlots(c, sids), SLOW_MS)));
      for (const r of replicas) await this.follow(r, master!, sids);
    } catch (e) {
      // Only what this call added goes (it is empty); anything the servers held before stays.
      for (const addr of servers) {
        await this.on(addr, async (c) => {
          const now = await slotInfo(c, sids);
          const fresh = sids.filter((s) => now.has(s) && !before.get(addr)!.has(s));
          if (fresh.length === 0) return;
          await slaveOfNoOne(c, fresh).catch(() => undefined);
          await delSlots(c, fresh);
        }, SLOW_MS).catch((e2) => this.t.log.warn(`group-[${gid}] ${addr}: removing the slots a failed assign added: ${errText(e2)}`));
      }
      if (e instanceof ApiError) throw e;
      throw new ApiError(`group-[${gid}]: pkcluster addslots failed: ${errText(e)}`);
    }
    this.t.log.warn(`group-[${gid}] (Pika 3.4) holds slots ${slotList(sids)} on ${servers.join(", ")} (added in ${((performance.now() - started) / 1000).toFixed(1)} s)`);
  }

  /** Logs (once per server and size) what the slots may take on disk, which Pika does not refuse either. */
  warnDisk(addr: string, slots: number): void {
    const b = this.t.kinds.get(addr);
    if (!b || b.kind !== "pika-sharding") return;
    const gb = pikaSlotDiskBytes(b, slots) / 2 ** 30;
    if (gb < 10) return;
    this.t.log.warn(`server ${addr} (Pika 3.4) with ${slots} slots may preallocate ~${gb.toFixed(0)} GB of disk `
      + `(17 MB per slot, plus 1.1 × write-buffer-size = ${((b.writeBufferSize ?? 0) / 2 ** 20).toFixed(0)} MB per data type a slot holds): `
      + `lower write-buffer-size in its pika.conf if the disk is smaller`);
  }

  /** A replica follows the master for these slots (those the master has), with a full sync. */
  private async follow(replica: string, master: string, sids: readonly number[]): Promise<void> {
    const onMaster = await this.on(master, (c) => slotInfo(c, sids));
    const lacking = sids.filter((s) => !onMaster.has(s));
    if (lacking.length) throw new Error(`master ${master} lacks slots ${slotList(lacking)}: ${replica} cannot follow it for them`);
    await this.on(replica, async (c) => {
      await addMissingSlots(c, sids);
      const have = await slotInfo(c, sids);
      const fine = sids.filter((s) => have.get(s)?.role === "slave" && sameAddr(have.get(s)?.master, master));
      // A fresh slot replays the master's binlog; when the master's copy came by a full sync that
      // binlog lacks the history and the replica stalls at 0 0 (movers/pika-replication.ts).
      // Replicas here follow at group changes, with no lock waiting on them: a full sync for all.
      await slaveOf(c, master, sids.filter((s) => !fine.includes(s)), true);
    }, SLOW_MS);
  }

  /**
   * Sync action of a sharding server (in place of SLAVEOF): the master's slots all become masters;
   * a replica gets the slots its group owns and follows the master for them. Returns false for
   * other kinds (the caller runs SLAVEOF).
   */
  async syncAction(addr: string, gid: number, master: string | "NO:ONE"): Promise<boolean> {
    if (!(await this.isSharding(gid))) return false;
    if (master === "NO:ONE") {
      await this.on(addr, (c) => slaveOfNoOne(c, "all"));
      return true;
    }
    const owned = this.t.topology().slots.filter((m) => m.group_id === gid).map((m) => m.id);
    if (owned.length) await this.follow(addr, master, owned);
    this.t.log.warn(`sync-[${addr}] follows ${master} for ${owned.length} slots (${slotList(owned)})`);
    return true;
  }

  /**
   * Replicas keep following: a slot of a group replica that follows the group master and whose
   * handshake Pika lost (movers/pika-replication.ts) is started again after HANDSHAKE_MS, then
   * after twice as long each time it stays so. Only slots the master holds (a `slotsslaveof no
   * one` whose master lacks the slot may crash Pika 3.4's master). `infos`: each server's slots,
   * as the stats poll just read them (a string when it could not).
   */
  async keepReplicasLinked(infos: ReadonlyMap<string, ReadonlyMap<number, SlotReplState> | string>): Promise<void> {
    const now = performance.now();
    const seen = new Set<string>();
    const work: Promise<void>[] = [];
    for (const g of this.t.topology().groups.values()) {
      const master = g.servers[0]?.server;
      const onMaster = master === undefined ? undefined : infos.get(master);
      if (master === undefined || typeof onMaster !== "object") continue;
      for (const { server } of g.servers.slice(1)) {
        const onReplica = infos.get(server);
        if (typeof onReplica !== "object") continue;
        const due: SlotReplState[] = [];
        for (const st of onReplica.values()) {
          const their = onMaster.get(st.sid);
          if (st.role !== "slave" || !sameAddr(st.master, master) || their === undefined) continue;
          if (!lostHandshake(st.slaveStatus, their.slaves.find((x) => sameAddr(x.addr, server))?.status)) continue;
          const key = `${server} ${st.sid}`;
          seen.add(key);
          const s = this.stuck.get(key) ?? { since: now, restarts: 0 };
          this.stuck.set(key, s);
          if (now - s.since < HANDSHAKE_MS * Math.min(2 ** s.restarts, MAX_BACKOFF)) continue;
          s.since = now;
          s.restarts++;
          due.push(st);
        }
        if (due.length) work.push(this.restartLinks(server, master, due));
      }
    }
    for (const k of this.stuck.keys()) if (!seen.has(k)) this.stuck.delete(k);
    await Promise.all(work);
  }

  /** Starts the replica's link of these slots again: from its own position, or a full sync if fresh. */
  private async restartLinks(replica: string, master: string, slots: readonly SlotReplState[]): Promise<void> {
    const sids = slots.map((s) => s.sid);
    const phases = [...new Set(slots.map((s) => s.slaveStatus))].join(", ");
    this.t.log.warn(`sync-[${replica}] slots ${slotList(sids)} stay in an unfinished handshake with ${master} (${phases}) for ${HANDSHAKE_MS / 1000} s or more: starting them again`);
    try {
      await this.on(replica, async (c) => {
        await slaveOfNoOne(c, sids);
        // A fresh slot replays the master's binlog, which may lack its history (see follow).
        await slaveOf(c, master, slots.filter(isFresh).map((s) => s.sid), true);
        await slaveOf(c, master, slots.filter((s) => !isFresh(s)).map((s) => s.sid));
      });
    } catch (e) {
      this.t.log.warn(`sync-[${replica}] restart of slots ${slotList(sids)}: ${errText(e)}`);
    }
  }

  /** Promotion of a sharding server: every slot it holds becomes a master. */
  async promote(gid: number, addr: string): Promise<boolean> {
    if (!(await this.isSharding(gid))) return false;
    await this.on(addr, (c) => slaveOfNoOne(c, "all"));
    return true;
  }
}
