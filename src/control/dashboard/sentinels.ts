// The dashboard's sentinels (codis topom_sentinel.go): add, remove and re-sync sentinels
// (monitor every group's master), and follow their failovers into the topology.
import net from "node:net";
import { ApiError } from "../http.js";
import { PromoteState, hostOf } from "../models.js";
import type { RedisConn } from "../movers/index.js";
import { errText } from "./log.js";
import { parseInfo, withConn, withTimeout } from "./redis-ops.js";
import { mastersAndSlaves, monitorGroups, productMasters, removeAllGroups, type MonitorConfig, type SentinelGroups } from "./sentinel.js";
import { clone, type Topology } from "./topology.js";
import type { Topom } from "./topom.js";

export class SentinelOps {
  /** gid → master address, as the sentinels last reported (stats.sentinels.masters). */
  haMasters = new Map<number, string>();

  constructor(private readonly t: Topom) {}

  async markOutOfSync(topo: Topology): Promise<void> {
    if (topo.sentinel.servers.length === 0) return;
    const s = clone(topo.sentinel);
    s.out_of_sync = true;
    await topo.updateSentinel(s);
  }

  private monitorConfig(): MonitorConfig {
    const c = this.t.config;
    return {
      quorum: c.sentinel_quorum, parallelSyncs: c.sentinel_parallel_syncs, downAfterMs: c.sentinel_down_after,
      failoverTimeoutMs: c.sentinel_failover_timeout, notificationScript: c.sentinel_notification_script,
      clientReconfigScript: c.sentinel_client_reconfig_script, auth: c.product_auth,
    };
  }

  private onSentinel<T>(addr: string, fn: (c: RedisConn) => Promise<T>): Promise<T> {
    const ms = this.t.config.sentinel_client_timeout;
    return withTimeout(ms, withConn(this.t.connect, addr, "", ms, fn));
  }

  addSentinel(addr: string): Promise<void> {
    return this.t.withLock(async () => {
      const topo = this.t.topology();
      if (addr === "") throw new ApiError("invalid sentinel address");
      if (topo.sentinel.servers.includes(addr)) throw new ApiError(`sentinel-[${addr}] already exists`);
      await this.onSentinel(addr, (c) => c.call("SENTINEL", "flushconfig")).catch((e) => {
        throw new ApiError(errText(e));
      });
      const s = clone(topo.sentinel);
      s.servers.push(addr);
      s.out_of_sync = true;
      await topo.updateSentinel(s);
    });
  }

  delSentinel(addr: string, force: boolean): Promise<void> {
    return this.t.withLock(async () => {
      const topo = this.t.topology();
      if (addr === "") throw new ApiError("invalid sentinel address");
      if (!topo.sentinel.servers.includes(addr)) throw new ApiError(`sentinel-[${addr}] not found`);
      const marked = clone(topo.sentinel);
      marked.out_of_sync = true;
      await topo.updateSentinel(marked);
      try {
        await this.onSentinel(addr, (c) => removeAllGroups(c, this.t.config.product_name));
      } catch (e) {
        this.t.log.warn(`remove sentinel ${addr} failed: ${errText(e)}`);
        if (!force) throw new ApiError(`remove sentinel ${addr} failed`);
      }
      const s = clone(marked);
      s.servers = s.servers.filter((x) => x !== addr);
      await topo.updateSentinel(s);
    });
  }

  resyncSentinels(): Promise<void> {
    return this.t.withLock(async () => {
      const topo = this.t.topology();
      const marked = clone(topo.sentinel);
      marked.out_of_sync = true;
      await topo.updateSentinel(marked);
      const masters = new Map<number, string>();
      for (const g of topo.sortedGroups()) if (g.servers.length) masters.set(g.id, g.servers[0]!.server);
      const product = this.t.config.product_name;
      await Promise.all(marked.servers.map((addr) => this.onSentinel(addr, (c) => removeAllGroups(c, product))
        .catch((e) => this.t.log.warn(`sentinel-[${addr}] remove failed: ${errText(e)}`))));
      const results = await Promise.allSettled(marked.servers.map((addr) =>
        this.onSentinel(addr, (c) => monitorGroups(c, product, masters, this.monitorConfig()))));
      for (const r of results) {
        if (r.status === "rejected") {
          this.t.log.warn(`resync sentinels failed: ${errText(r.reason)}`);
          throw new ApiError(errText(r.reason));
        }
      }
      const proxies = topo.sortedProxies();
      const pushed = await Promise.allSettled(proxies.map((p) => this.t.proxyClient(p).setSentinels(marked)));
      pushed.forEach((r, i) => {
        if (r.status === "rejected") {
          this.t.log.error(`proxy-[${proxies[i]!.token}] resync sentinel failed: ${errText(r.reason)}`);
        }
      });
      const bad = pushed.findIndex((r) => r.status === "rejected");
      if (bad >= 0) throw new ApiError(`proxy-[${proxies[bad]!.token}] sentinel failed`);
      const done = clone(marked);
      done.out_of_sync = false;
      await topo.updateSentinel(done);
    });
  }

  /** GET sentinels/info/:addr: the sentinel's INFO (no AUTH, 1 s). */
  async infoSentinel(addr: string): Promise<Record<string, string>> {
    try {
      return await withTimeout(1000, withConn(this.t.connect, addr, "", 1000, async (c) => parseInfo(String(await c.call("INFO")))));
    } catch (e) {
      throw new ApiError(errText(e));
    }
  }

  /** GET sentinels/info/:addr/monitored: this product's groups as the sentinel sees them. */
  async infoSentinelMonitored(addr: string): Promise<SentinelGroups> {
    try {
      return await this.onSentinel(addr, (c) => mastersAndSlaves(c, this.t.config.product_name));
    } catch (e) {
      throw new ApiError(errText(e));
    }
  }

  /**
   * Follows sentinel failovers (codis rewatchSentinels/SwitchMasters, by polling instead of
   * subscribing): the master each group has in the most recent config epoch, when more than half
   * of the sentinels answered, becomes servers[0] of its group. Unlike codis, the group's slots are
   * then pushed to the proxies at once (slotway proxies do not watch sentinels themselves).
   */
  async watchSentinels(): Promise<void> {
    const topo = this.t.topology();
    const servers = topo.sentinel.servers;
    if (servers.length === 0) {
      this.haMasters = new Map();
      return;
    }
    const product = this.t.config.product_name;
    const answers = await Promise.allSettled(servers.map((a) => this.onSentinel(a, (c) => productMasters(c, product))));
    const ok = answers.filter((r): r is PromiseFulfilledResult<Map<number, Record<string, string>>> => r.status === "fulfilled");
    if (ok.length * 2 <= servers.length) {
      this.t.log.warn(`sentinel masters: lost majority (${ok.length}/${servers.length})`);
      return;
    }
    const best = new Map<number, { addr: string; epoch: number }>();
    for (const r of ok) {
      for (const [gid, m] of r.value) {
        const epoch = Number(m["config-epoch"] ?? "0");
        if (!m.ip || !m.port || !Number.isFinite(epoch)) continue;
        const cur = best.get(gid);
        if (!cur || epoch > cur.epoch) best.set(gid, { addr: `${m.ip}:${m.port}`, epoch });
      }
    }
    this.haMasters = new Map([...best].map(([gid, v]) => [gid, v.addr]));
    // Sentinels report IPs; group servers may be written as host names.
    await this.t.resolveHosts([...topo.groups.values()].flatMap((g) => g.servers.map((x) => x.server)));
    for (const [gid, { addr }] of best) {
      await this.t.withLock(() => this.trySwitchGroupMaster(gid, addr)).catch((e) =>
        this.t.log.warn(`sentinel switch group-[${gid}] master failed: ${errText(e)}`));
    }
  }

  private async trySwitchGroupMaster(gid: number, master: string): Promise<void> {
    const topo = this.t.topology();
    const g = topo.groups.get(gid);
    if (!g || g.servers.length === 0 || g.promoting.state !== PromoteState.Nothing) return;
    const index = g.servers.findIndex((s) => s.server === master || this.sameEndpoint(s.server, master));
    if (index < 0) throw new Error(`group-[${gid}] doesn't have server ${master}`);
    if (index === 0) return;
    this.t.log.warn(`group-[${gid}] will switch master to server[${index}] = ${g.servers[index]!.server}`);
    const ng = clone(g);
    [ng.servers[0], ng.servers[index]] = [ng.servers[index]!, ng.servers[0]!];
    ng.out_of_sync = true;
    await topo.updateGroup(ng);
    await this.t.resync(topo.slotsOfGroup(gid));
    const synced = clone(ng);
    synced.out_of_sync = false;
    await topo.updateGroup(synced);
  }

  /** Whether a group server address (maybe a host name) and a sentinel's ip:port are one endpoint. */
  private sameEndpoint(server: string, ipPort: string): boolean {
    const port = (a: string): string => a.slice(a.lastIndexOf(":") + 1);
    if (port(server) !== port(ipPort)) return false;
    const h = hostOf(server);
    const ip = net.isIP(h) ? h : this.t.ips.get(h)?.ip;
    return ip !== undefined && ip === hostOf(ipPort);
  }

}
