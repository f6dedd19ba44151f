// The dashboard's views and stats loops (codis topom_stats.go): the overview, the stats of
// every proxy and group server (polled every second), and the sentinels' INFO.
import {
  encodeGroup, encodeProxy, encodeSentinel, encodeSlotMapping, encodeTopom,
  type BackendJson, type Overview, type ProxyStats, type RedisStats, type Stats,
} from "../models.js";
import { slotInfo, type SlotReplState } from "../backends/pika-cluster.js";
import { configToJson } from "./config.js";
import { errText } from "./log.js";
import { TimeoutError, infoFull, parseInfo, withConn, withTimeout } from "./redis-ops.js";
import { mastersAndSlaves } from "./sentinel.js";
import { VERSION_TEXT, type Topom } from "./topom.js";

export class StatsOps {
  private proxyStats = new Map<string, ProxyStats>();
  private serverStats = new Map<string, RedisStats>();
  /** Pika 3.4 servers: the slots they hold and how they replicate (polled with the stats). */
  private pikaSlots = new Map<string, Map<number, SlotReplState> | string>();

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
      // codis's status line, then slotway's counters (keys moved, rates, ETA).
      progress: { status: this.t.engine.status, ...this.t.engine.progress.snapshot(topo.slots.filter((m) => m.action.state !== "").length) },
      executor: this.t.engine.executor,
    };
    if (this.t.engine.error !== "") slotAction.error = this.t.engine.error;
    slotAction.pace = this.t.engine.pace.snapshot();
    if (this.t.engine.stopped.size) slotAction.stopped = Object.fromEntries([...this.t.engine.stopped].map(([sid, why]) => [String(sid), why]));
    const r = this.t.replication;
    if (r.phase.size || r.locks.count || this.t.pikaCleanup.list().length) {
      slotAction.replication = {
        phases: Object.fromEntries([...r.phase].map(([sid, p]) => [String(sid), p])),
        locks: { count: r.locks.count, last_ms: round1(r.locks.lastMs), max_ms: round1(r.locks.maxMs), avg_ms: round1(r.locks.count ? r.locks.totalMs / r.locks.count : 0) },
        cleanup: this.t.pikaCleanup.list().map((e) => ({ sid: e.sid, gid: e.gid, at: e.at })),
      };
    }
    return {
      closed: this.t.isClosed(),
      slots: topo.slots.map(encodeSlotMapping),
      group: { models: topo.sortedGroups().map(encodeGroup), stats: groupStats },
      proxy: { models: topo.sortedProxies().map(encodeProxy), stats: Object.fromEntries(this.proxyStats) },
      slot_action: slotAction,
      backends: this.backends(),
      sentinels: {
        model: encodeSentinel(topo.sentinel),
        stats: sentinelStats,
        masters: Object.fromEntries([...this.t.sentinels.haMasters].map(([gid, addr]) => [String(gid), addr])),
      },
    };
  }

  /** Kind and version of every group server (and, for Pika 3.4, a summary of its slots). */
  backends(): Record<string, BackendJson> {
    const topo = this.t.topology();
    const out: Record<string, BackendJson> = {};
    for (const g of topo.sortedGroups()) {
      for (const { server } of g.servers) {
        const b = this.t.kinds.get(server);
        if (!b) continue;
        const j: BackendJson = { kind: b.kind, server: b.server, version: b.version };
        if (b.slotNumbersOk !== undefined) j.slot_numbers_ok = b.slotNumbersOk;
        if (b.slotmigrate !== undefined) j.slotmigrate = b.slotmigrate;
        if (b.databases !== undefined) j.databases = b.databases;
        if (b.writeBufferSize !== undefined) j.write_buffer_size = b.writeBufferSize;
        if (b.cacheModel !== undefined) j.cache_model = b.cacheModel;
        const slots = this.pikaSlots.get(server);
        if (typeof slots === "string") j.error = slots;
        else if (slots) {
          const following: Record<string, number> = {};
          let master = 0;
          let notLinked = 0;
          for (const st of slots.values()) {
            if (st.role === "master") master++;
            else {
              following[st.master ?? "?"] = (following[st.master ?? "?"] ?? 0) + 1;
              if (st.slaveStatus !== "kConnected") notLinked++;
            }
          }
          j.pika_slots = { total: slots.size, master, following, not_linked: notLinked };
        }
        out[server] = j;
      }
    }
    return out;
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
    // The movers' pace compares the clients' ops/s while slots move to before (pacer.ts).
    const totals = new Map<string, number>();
    let steady: number | undefined = 0;
    for (const [token, st] of out) {
      const total = st.stats?.ops?.total;
      if (typeof total === "number" && Number.isFinite(total)) totals.set(token, total);
      const s = (st.stats?.slotway as { steady_ops?: unknown } | undefined)?.steady_ops;
      steady = typeof s === "number" && s > 0 && steady !== undefined ? steady + s : undefined;
    }
    this.t.engine.pace.observe(totals, this.t.topology().slots.some((m) => m.action.state !== ""), out.size ? steady : undefined);
  }

  async refreshServerStats(): Promise<void> {
    const topo = this.t.topology();
    const timeout = this.t.opts.statsTimeoutMs ?? 1000;
    const addrs = new Set<string>();
    for (const g of topo.groups.values()) for (const s of g.servers) addrs.add(s.server);
    const out = new Map<string, RedisStats>();
    const pika = new Map<string, Map<number, SlotReplState> | string>();
    await Promise.all([...addrs].map(async (addr) => {
      // What each server is (a restarted dashboard learns it here; a server that was down, too).
      if (!this.t.kinds.has(addr)) await this.t.ensureBackendKinds([addr]).catch(() => undefined);
      if (this.t.kinds.get(addr)?.kind === "pika-sharding") {
        try {
          pika.set(addr, await withTimeout(timeout, withConn(this.t.connect, addr, this.t.config.product_auth, timeout, (c) => slotInfo(c))));
        } catch (e) {
          pika.set(addr, `pkcluster info slot: ${errText(e)}`);
        }
      }
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
    this.pikaSlots = pika;
    if (pika.size) await this.t.pikaGroups.keepReplicasLinked(pika);
  }


  /** Drops a removed proxy's last stats. */
  forget(token: string): void {
    this.proxyStats.delete(token);
  }
}

function round1(n: number): number {
  return Math.round(n * 10) / 10;
}
