// The dashboard's views and stats loops (codis topom_stats.go): the overview, the stats of
// every proxy and group server (polled every second), and the sentinels' INFO.
import {
  encodeGroup, encodeProxy, encodeSentinel, encodeSlotMapping, encodeTopom,
  type Overview, type ProxyStats, type RedisStats, type Stats,
} from "../models.js";
import { configToJson } from "./config.js";
import { errText } from "./log.js";
import { TimeoutError, infoFull, parseInfo, withConn, withTimeout } from "./redis-ops.js";
import { mastersAndSlaves } from "./sentinel.js";
import { VERSION_TEXT, type Topom } from "./topom.js";

export class StatsOps {
  private proxyStats = new Map<string, ProxyStats>();
  private serverStats = new Map<string, RedisStats>();

  constructor(private readonly t: Topom) {}

  /** stats: the topology with each part's last polled stats (codis Topom.Stats). */
  snapshot(): Stats {
    const topo = this.t.topology();
    const groupStats: Record<string, RedisStats> = {};
    for (const g of topo.sortedGroups()) {
      for (const s of g.servers) {
        const v = this.serverStats.get(s.server);
        if (v) groupStats[s.server] = v;
      }
    }
    const sentinelStats: Record<string, RedisStats> = {};
    for (const s of topo.sentinel.servers) {
      const v = this.serverStats.get(s);
      if (v) sentinelStats[s] = v;
    }
    const slotAction: Stats["slot_action"] = {
      interval: this.t.engine.interval,
      disabled: this.t.engine.disabled,
      progress: { status: this.t.engine.status },
      executor: this.t.engine.executor,
    };
    if (this.t.engine.error !== "") slotAction.error = this.t.engine.error;
    return {
      closed: this.t.isClosed(),
      slots: topo.slots.map(encodeSlotMapping),
      group: { models: topo.sortedGroups().map(encodeGroup), stats: groupStats },
      proxy: { models: topo.sortedProxies().map(encodeProxy), stats: Object.fromEntries(this.proxyStats) },
      slot_action: slotAction,
      sentinels: {
        model: encodeSentinel(topo.sentinel),
        stats: sentinelStats,
        masters: Object.fromEntries([...this.t.sentinels.haMasters].map(([gid, addr]) => [String(gid), addr])),
      },
    };
  }

  overview(): Overview {
    return {
      version: this.t.opts.version ?? VERSION_TEXT,
      compile: "",
      config: configToJson(this.t.config),
      model: encodeTopom(this.t.model),
      stats: this.snapshot(),
    };
  }

  async refreshProxyStats(): Promise<void> {
    const topo = this.t.topology();
    const timeout = this.t.opts.statsTimeoutMs ?? 1000;
    const proxies = topo.sortedProxies();
    const out = new Map<string, ProxyStats>();
    await Promise.all(proxies.map(async (p) => {
      const st: ProxyStats = { unixtime: 0 };
      const askedAt = performance.now();
      try {
        st.stats = await withTimeout(timeout, this.t.proxyClient(p).stats(timeout + 500));
      } catch (e) {
        if (e instanceof TimeoutError) st.timeout = true;
        else st.error = { Cause: errText(e), Stack: null };
      }
      st.unixtime = Math.floor(Date.now() / 1000);
      out.set(p.token, st);
      this.t.proxies.reviveIfRestarted(p, st, askedAt);
    }));
    this.proxyStats = out;
  }

  async refreshServerStats(): Promise<void> {
    const topo = this.t.topology();
    const timeout = this.t.opts.statsTimeoutMs ?? 1000;
    const addrs = new Set<string>();
    for (const g of topo.groups.values()) for (const s of g.servers) addrs.add(s.server);
    const out = new Map<string, RedisStats>();
    await Promise.all([...addrs].map(async (addr) => {
      const st: RedisStats = { unixtime: 0 };
      try {
        st.stats = await withTimeout(timeout, withConn(this.t.connect, addr, this.t.config.product_auth, timeout, infoFull));
      } catch (e) {
        if (e instanceof TimeoutError) st.timeout = true;
        else st.error = { Cause: errText(e), Stack: null };
      }
      st.unixtime = Math.floor(Date.now() / 1000);
      out.set(addr, st);
    }));
    // Sentinels: INFO and what they monitor of this product (no AUTH: sentinels have none here).
    await Promise.all(topo.sentinel.servers.map(async (addr) => {
      const st: RedisStats = { unixtime: 0 };
      try {
        const r = await withTimeout(timeout, withConn(this.t.connect, addr, "", timeout, async (c) => ({
          info: parseInfo(String(await c.call("INFO"))),
          groups: await mastersAndSlaves(c, this.t.config.product_name),
        })));
        st.stats = r.info;
        st.sentinel = r.groups;
      } catch (e) {
        if (e instanceof TimeoutError) st.timeout = true;
        else st.error = { Cause: errText(e), Stack: null };
      }
      st.unixtime = Math.floor(Date.now() / 1000);
      out.set(addr, st);
    }));
    this.serverStats = out;
  }


  /** Drops a removed proxy's last stats. */
  forget(token: string): void {
    this.proxyStats.delete(token);
  }
}
