// The dashboard's groups (codis topom_group.go): create and remove groups, add and remove
// servers, promote a replica (the group's slots locked in every proxy while the master
// changes), replica groups, and the replication sync actions (SLAVEOF per server).
import { ApiError } from "../http.js";
import { MAX_GROUP_ID, PromoteState, newGroup, newGroupServer } from "../models.js";
import { probeBackendKind } from "../movers/index.js";
import { errText } from "./log.js";
import { infoFull, setMaster, withConn, withTimeout } from "./redis-ops.js";
import { clone } from "./topology.js";
import type { Topom } from "./topom.js";

export class GroupOps {
  constructor(private readonly t: Topom) {}

  createGroup(gid: number): Promise<void> {
    return this.t.withLock(async () => {
      const topo = this.t.topology();
      if (gid <= 0 || gid > MAX_GROUP_ID) throw new ApiError(`invalid group id = ${gid}, out of range`);
      if (topo.groups.has(gid)) throw new ApiError(`group-[${gid}] already exists`);
      await topo.createGroup(newGroup(gid));
    });
  }

  removeGroup(gid: number): Promise<void> {
    return this.t.withLock(async () => {
      const topo = this.t.topology();
      const g = topo.getGroup(gid);
      if (g.servers.length !== 0) throw new ApiError(`group-[${gid}] isn't empty`);
      await topo.removeGroup(g);
    });
  }

  resyncGroup(gid: number): Promise<void> {
    return this.t.withLock(async () => {
      const topo = this.t.topology();
      const g = topo.getGroup(gid);
      await this.t.resync(topo.slotsOfGroup(gid));
      const ng = clone(g);
      ng.out_of_sync = false;
      await topo.updateGroup(ng);
    });
  }

  resyncGroupAll(): Promise<void> {
    return this.t.withLock(async () => {
      const topo = this.t.topology();
      for (const g of topo.sortedGroups()) {
        await this.t.resync(topo.slotsOfGroup(g.id));
        const ng = clone(g);
        ng.out_of_sync = false;
        await topo.updateGroup(ng);
      }
    });
  }

  /**
   * Checks a server before group/add. codis refuses any server that fails SLOTSINFO; slotway
   * accepts plain Redis/Valkey (it has its own mover), so only a connection or AUTH failure
   * (or another error than "unknown command") refuses it, with the server's own text.
   */
  async checkServer(addr: string): Promise<void> {
    const kind = await probeBackendKind(this.t.connect, addr, this.t.config.product_auth || undefined, 1000).catch((e) => {
      this.t.log.warn(`redis ${addr} check slots-info failed: ${errText(e)}`);
      throw new ApiError(errText(e));
    });
    this.t.noteKind(addr, kind);
  }

  groupAddServer(gid: number, dc: string, addr: string): Promise<void> {
    return this.t.withLock(async () => {
      const topo = this.t.topology();
      if (addr === "") throw new ApiError("invalid server address");
      for (const g of topo.groups.values()) {
        if (g.servers.some((s) => s.server === addr)) throw new ApiError(`server-[${addr}] already exists`);
      }
      const g = topo.getGroup(gid);
      if (g.promoting.state !== PromoteState.Nothing) throw new ApiError(`group-[${g.id}] is promoting`);
      await this.t.sentinels.markOutOfSync(topo);
      const ng = clone(g);
      ng.servers.push(newGroupServer(addr, dc));
      await topo.updateGroup(ng);
    });
  }

  groupDelServer(gid: number, addr: string): Promise<void> {
    return this.t.withLock(async () => {
      const topo = this.t.topology();
      const g = topo.getGroup(gid);
      const index = topo.getGroupIndex(g, addr);
      if (g.promoting.state !== PromoteState.Nothing) throw new ApiError(`group-[${g.id}] is promoting`);
      if (index === 0 && (g.servers.length !== 1 || topo.isGroupInUse(g.id))) {
        throw new ApiError(`group-[${g.id}] can't remove master, still in use`);
      }
      await this.t.sentinels.markOutOfSync(topo);
      const ng = clone(g);
      if (index !== 0 && ng.servers[index]!.replica_group) ng.out_of_sync = true;
      ng.servers.splice(index, 1);
      if (ng.servers.length === 0) ng.out_of_sync = false;
      await topo.updateGroup(ng);
    });
  }

  groupPromoteServer(gid: number, addr: string): Promise<void> {
    return this.t.withLock(async () => {
      const topo = this.t.topology();
      let g = topo.getGroup(gid);
      const index = topo.getGroupIndex(g, addr);
      if (g.promoting.state !== PromoteState.Nothing) {
        if (index !== g.promoting.index) throw new ApiError(`group-[${g.id}] is promoting index = ${g.promoting.index}`);
      } else if (index === 0) {
        throw new ApiError(`group-[${g.id}] can't promote master`);
      }
      if (this.t.engine.executor !== 0) throw new ApiError(`slots-migration is running = ${this.t.engine.executor}`);

      // The same fall-through walk as codis: each state is stored before the next acts on it.
      if (g.promoting.state === PromoteState.Nothing) {
        this.t.log.warn(`group-[${g.id}] will promote index = ${index}`);
        const ng = clone(g);
        ng.promoting = { index, state: PromoteState.Preparing };
        await topo.updateGroup(ng);
        g = ng;
      }
      if (g.promoting.state === PromoteState.Preparing) {
        // prepared = the group's slots are locked in every proxy while the master changes.
        const ng = clone(g);
        ng.promoting.state = PromoteState.Prepared;
        const slots = topo.slotsOfGroup(g.id);
        try {
          await this.t.resync(slots, new Map([...topo.groups, [g.id, ng]]));
        } catch (e) {
          this.t.log.warn(`group-[${g.id}] resync-rollback to preparing`);
          await this.t.resync(slots).catch((e2) => this.t.log.warn(`rollback: ${errText(e2)}`));
          throw e;
        }
        await topo.updateGroup(ng);
        g = ng;
      }
      if (g.promoting.state === PromoteState.Prepared) {
        if (topo.sentinel.servers.length !== 0) {
          await this.t.sentinels.markOutOfSync(topo);
          this.t.log.warn(`group-[${g.id}] promoted with sentinels configured: run sentinels/resync-all to re-monitor it`);
        }
        const i = g.promoting.index;
        const servers = [g.servers[i]!, ...g.servers.filter((_, j) => j !== i && j !== 0), g.servers[0]!].map((s) => {
          const c = clone(s);
          c.action = { index: 0, state: "" };
          return c;
        });
        const ng = clone(g);
        ng.servers = servers;
        ng.promoting = { index: 0, state: PromoteState.Finished };
        await topo.updateGroup(ng);
        g = ng;
        const master = servers[0]!.server;
        await withConn(this.t.connect, master, this.t.config.product_auth, 1000, (c) => setMaster(c, "NO:ONE", this.t.config.product_auth))
          .then((w) => w && this.t.log.warn(`redis ${master} set master to NO:ONE: ${w}`))
          .catch((e) => this.t.log.warn(`redis ${master} set master to NO:ONE failed: ${errText(e)}`));
      }
      if (g.promoting.state === PromoteState.Finished) {
        await this.t.resync(topo.slotsOfGroup(g.id));
        const ng = newGroup(g.id);
        ng.servers = g.servers;
        await topo.updateGroup(ng);
        return;
      }
      throw new ApiError(`group-[${gid}] action state is invalid`);
    });
  }

  enableReplicaGroups(gid: number, addr: string, value: boolean): Promise<void> {
    return this.t.withLock(async () => {
      const topo = this.t.topology();
      const g = topo.getGroup(gid);
      const index = topo.getGroupIndex(g, addr);
      if (g.promoting.state !== PromoteState.Nothing) throw new ApiError(`group-[${g.id}] is promoting`);
      const ng = clone(g);
      if (ng.servers.length !== 1 && topo.isGroupInUse(g.id)) ng.out_of_sync = true;
      ng.servers[index]!.replica_group = value;
      await topo.updateGroup(ng);
    });
  }

  enableReplicaGroupsAll(value: boolean): Promise<void> {
    return this.t.withLock(async () => {
      const topo = this.t.topology();
      for (const g of topo.sortedGroups()) {
        if (g.promoting.state !== PromoteState.Nothing) throw new ApiError(`group-[${g.id}] is promoting`);
        if (g.servers.every((s) => s.replica_group === value)) continue;
        const ng = clone(g);
        for (const s of ng.servers) s.replica_group = value;
        if (ng.servers.length !== 1 && topo.isGroupInUse(g.id)) ng.out_of_sync = true;
        await topo.updateGroup(ng);
      }
    });
  }

  syncCreateAction(addr: string): Promise<void> {
    return this.t.withLock(async () => {
      const topo = this.t.topology();
      const { group: g, index } = topo.getGroupByServer(addr);
      if (g.promoting.state !== PromoteState.Nothing) throw new ApiError(`group-[${g.id}] is promoting`);
      if (g.servers[index]!.action.state === "pending") throw new ApiError(`server-[${addr}] action already exist`);
      const ng = clone(g);
      ng.servers[index]!.action = { index: topo.maxSyncActionIndex() + 1, state: "pending" };
      await topo.updateGroup(ng);
    });
  }

  syncRemoveAction(addr: string): Promise<void> {
    return this.t.withLock(async () => {
      const topo = this.t.topology();
      const { group: g, index } = topo.getGroupByServer(addr);
      if (g.promoting.state !== PromoteState.Nothing) throw new ApiError(`group-[${g.id}] is promoting`);
      if (g.servers[index]!.action.state === "") throw new ApiError(`server-[${addr}] action doesn't exist`);
      const ng = clone(g);
      ng.servers[index]!.action = { index: 0, state: "" };
      await topo.updateGroup(ng);
    });
  }

  /** One sync action: pending → syncing (stored) → SLAVEOF → synced | synced_failed. */
  async processSyncAction(): Promise<void> {
    const job = await this.t.withLock(async () => {
      const topo = this.t.topology();
      const addr = topo.minSyncActionServer();
      if (addr === "") return undefined;
      const { group: g, index } = topo.getGroupByServer(addr);
      if (g.promoting.state !== PromoteState.Nothing) return undefined;
      const ng = clone(g);
      ng.servers[index]!.action = { index: 0, state: "syncing" };
      await topo.updateGroup(ng);
      return { addr, master: index === 0 ? "NO:ONE" : g.servers[0]!.server };
    });
    if (!job) return;
    this.t.log.warn(`sync-[${job.addr}] process action: slaveof ${job.master}`);
    let failed = false;
    try {
      const w = await withConn(this.t.connect, job.addr, this.t.config.product_auth, 30 * 60_000, (c) => setMaster(c, job.master, this.t.config.product_auth));
      if (w) this.t.log.warn(`redis ${job.addr}: ${w}`);
    } catch (e) {
      failed = true;
      this.t.log.warn(`redis ${job.addr} set master to ${job.master} failed: ${errText(e)}`);
    }
    await this.t.withLock(async () => {
      const topo = this.t.topology();
      let found;
      try {
        found = topo.getGroupByServer(job.addr);
      } catch {
        return;
      }
      const { group: g, index } = found;
      if (g.promoting.state !== PromoteState.Nothing || g.servers[index]!.action.state !== "syncing") return;
      const ng = clone(g);
      ng.servers[index]!.action.state = failed ? "synced_failed" : "synced";
      await topo.updateGroup(ng);
    });
  }

  /** GET group/info/:addr: INFO fields + master_addr + maxmemory (product_auth, 1 s). */
  async infoServer(addr: string): Promise<Record<string, string>> {
    try {
      return await withTimeout(1000, withConn(this.t.connect, addr, this.t.config.product_auth, 1000, infoFull));
    } catch (e) {
      throw new ApiError(errText(e));
    }
  }

}
