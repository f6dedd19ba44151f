// The dashboard ("topom" in codis): owns the product lock in the store, keeps the topology,
// serves the codis-dashboard API (api.ts), pushes slot changes to proxies, polls stats, and
// runs the migration engine (migration.ts) and the replication sync actions.
//
// Concurrency: every operation that changes the topology runs under one async lock, as codis's
// Topom.mu. Reads (stats, overview, slots) do not take it: the topology copy only changes by
// whole-record replacement, so they never wait behind a slow push to a proxy.
import { createHash } from "node:crypto";
import dns from "node:dns";
import http from "node:http";
import net from "node:net";
import os from "node:os";
import { ApiError } from "../http.js";
import {
  MAX_GROUP_ID, PromoteState, ForwardMethod, encodeGroup, encodeProxy, encodeSentinel, encodeSlotMapping, encodeTopom,
  hostOf, newGroup, newGroupServer, newSlotMapping, parseForwardMethod, toJsonText, toSlots,
  type Group, type Overview, type Proxy, type ProxyStats, type RedisStats, type SlotContext, type SlotMapping, type Stats,
  type Topom as TopomModel,
} from "../models.js";
import { moverFor, probeBackendKind, type BackendKind, type MoverMethod, type RedisConn, type RedisConnector, type SlotMover } from "../movers/index.js";
import { sleep } from "../movers/mover.js";
import { ProxyClient, type ProxyClientOptions } from "../proxy-client.js";
import { topomPath } from "../store/layout.js";
import type { Store } from "../store/store.js";
import { xauth } from "../xauth.js";
import { configToJson, type DashboardConfig } from "./config.js";
import { errText, Logger } from "./log.js";
import { SlotActionEngine, type ActionHost, type EngineOptions } from "./migration.js";
import { rebalancePlan } from "./rebalance.js";
import { TimeoutError, infoFull, parseInfo, setMaster, withConn, withTimeout } from "./redis-ops.js";
import { mastersAndSlaves, monitorGroups, productMasters, removeAllGroups, type MonitorConfig, type SentinelGroups } from "./sentinel.js";
import { Topology, clone } from "./topology.js";

export const VERSION_TEXT = "slotway";

export interface TopomOptions {
  config: DashboardConfig;
  store: Store;
  /** How to reach group servers (the lead's RedisClient.connect in production). */
  connect: RedisConnector;
  log?: Logger;
  /** Host to publish in admin_addr when admin_addr binds all interfaces (codis --host-admin). */
  hostAdmin?: string;
  version?: string;
  proxyClient?: ProxyClientOptions;
  /** Stats poll period (codis: 1 s) and per-target timeout (codis: 1 s). */
  statsIntervalMs?: number;
  statsTimeoutMs?: number;
  engine?: EngineOptions;
  /** Pause of the sync-action loop when idle (codis: 1 s). */
  syncIdleMs?: number;
  /** Period of the sentinel failover watch (codis subscribes; we poll). */
  sentinelPollMs?: number;
  /** Mover factory (tests). */
  movers?: (method: MoverMethod) => SlotMover;
}

/** A resync failure: the codis text as message, with the proxy's address and cause as detail. */
export class ResyncError extends ApiError {
  constructor(message: string, readonly detail: string) {
    super(message);
  }
}

class AsyncLock {
  private tail: Promise<unknown> = Promise.resolve();
  run<T>(fn: () => Promise<T>): Promise<T> {
    const r = this.tail.then(fn);
    this.tail = r.catch(() => undefined);
    return r;
  }
}

export class Topom implements ActionHost {
  readonly config: DashboardConfig;
  readonly log: Logger;
  readonly connect: RedisConnector;
  readonly model: TopomModel;
  /** The dashboard's own xauth (product name only). */
  readonly xauth: string;
  readonly engine: SlotActionEngine;
  /** Called once after close() (the shutdown route uses it to end the process). */
  onClosed?: () => void;

  private readonly store: Store;
  private readonly lock = new AsyncLock();
  private topo?: Topology;
  private online = false;
  private closed = false;
  private server?: http.Server;
  private readonly stop = new AbortController();
  private loops: Promise<void>[] = [];
  private proxyStats = new Map<string, ProxyStats>();
  private serverStats = new Map<string, RedisStats>();
  private readonly kinds = new Map<string, BackendKind>();
  private readonly warnedPairs = new Set<string>();
  /** gid → master address, as the sentinels last reported (stats.sentinels.masters). */
  private haMasters = new Map<number, string>();
  private readonly autoOnline = new Set<string>();
  /** When each proxy last finished a reinit: a stats reply older than that is stale. */
  private readonly reinitAt = new Map<string, number>();
  private readonly ips = new Map<string, { ip: string | undefined; at: number }>();
  private readonly opts: TopomOptions;

  constructor(opts: TopomOptions) {
    this.opts = opts;
    this.config = opts.config;
    this.store = opts.store;
    this.connect = opts.connect;
    this.log = opts.log ?? new Logger("INFO");
    this.xauth = xauth(this.config.product_name);
    this.model = {
      token: "",
      start_time: new Date().toString(),
      admin_addr: "",
      product_name: this.config.product_name,
      pid: process.pid,
      pwd: process.cwd(),
      sys: `${os.type()} ${os.hostname()} ${os.release()} ${os.version()} ${os.machine()}`,
    };
    this.engine = new SlotActionEngine(this, opts.engine);
  }

  // --- lifecycle -------------------------------------------------------------------------

  /**
   * Binds the admin API (codis serves model before the lock is taken) and fixes admin_addr:
   * a wildcard bind is published with a reachable host, since codis-fe and proxies dial it.
   */
  async listen(listener: http.RequestListener): Promise<void> {
    const { host, port } = splitListen(this.config.admin_addr);
    const server = http.createServer(listener);
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen({ host: host === "" ? undefined : host, port }, () => {
        server.off("error", reject);
        resolve();
      });
    });
    this.server = server;
    const bound = (server.address() as net.AddressInfo).port;
    this.model.admin_addr = joinHostPort(publishHost(host, this.opts.hostAdmin), bound);
    this.model.token = createHash("md5")
      .update(`Codis-Token@${os.hostname()}-{${this.config.product_name}}-{${this.model.admin_addr}}-{${process.pid}}-{${this.model.start_time}}`)
      .digest("hex");
  }

  /** Takes the product lock (/codis3/<product>/topom), loads the topology, starts the loops. */
  async start(): Promise<void> {
    if (this.closed) throw new ApiError("use of closed topom");
    if (this.online) return;
    const key = topomPath(this.config.product_name);
    try {
      await this.store.acquireLock(key, toJsonText(encodeTopom(this.model)));
    } catch (e) {
      this.log.error(`store: acquire lock of ${this.config.product_name} failed: ${errText(e)}`);
      throw new Error(`store: acquire lock of ${this.config.product_name} failed: ${errText(e)}`);
    }
    try {
      this.topo = await Topology.load(this.store, this.config.product_name, this.log);
    } catch (e) {
      await this.store.releaseLock(key).catch(() => undefined);
      throw e;
    }
    this.online = true;
    this.log.warn(`dashboard online: product ${this.config.product_name}, admin ${this.model.admin_addr}`);
    const signal = this.stop.signal;
    const every = this.opts.statsIntervalMs ?? 1000;
    this.loops = [
      this.loop(every, () => this.refreshProxyStats(), signal),
      this.loop(every, () => this.refreshServerStats(), signal),
      this.engine.run(signal),
      this.loop(this.opts.syncIdleMs ?? 1000, () => this.processSyncAction(), signal),
      this.loop(this.opts.sentinelPollMs ?? 5000, () => this.watchSentinels(), signal),
    ];
  }

  /** Stops the loops, releases the lock, closes the API and the store. Idempotent. */
  async close(): Promise<void> {
    let failure: unknown;
    await this.release().catch((e) => { failure = e; });
    await this.finish();
    if (failure) throw failure;
  }

  /**
   * First half of close: marks the dashboard closed, stops the loops and releases the product
   * lock (codis's shutdown route answers only after this, with its error if the release failed).
   */
  async release(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.stop.abort(new Error("use of closed topom"));
    await Promise.allSettled(this.loops);
    if (!this.online) return;
    this.online = false;
    try {
      await this.store.releaseLock(topomPath(this.config.product_name));
    } catch (e) {
      this.log.error(`store: release lock of ${this.config.product_name} failed: ${errText(e)}`);
      throw new ApiError(`store: release lock of ${this.config.product_name} failed`);
    }
  }

  private finished = false;

  /** Second half of close: the HTTP server (in-flight replies get 2 s to finish) and the store. */
  private async finish(): Promise<void> {
    if (this.finished) return;
    this.finished = true;
    const server = this.server;
    if (server) {
      await new Promise<void>((resolve) => {
        const t = setTimeout(() => server.closeAllConnections(), 2000);
        server.close(() => {
          clearTimeout(t);
          resolve();
        });
        server.closeIdleConnections();
      });
    }
    await this.store.close().catch((e) => this.log.warn(`store close: ${errText(e)}`));
    this.onClosed?.();
  }

  isClosed(): boolean {
    return this.closed;
  }

  isOnline(): boolean {
    return this.online && !this.closed;
  }

  private async loop(everyMs: number, fn: () => Promise<void>, signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      if (this.isOnline()) await fn().catch((e) => this.log.warn(errText(e)));
      await sleep(everyMs, signal).catch(() => undefined);
    }
  }

  // --- ActionHost ------------------------------------------------------------------------

  withLock<T>(fn: () => Promise<T>): Promise<T> {
    return this.lock.run(fn);
  }

  /** The topology, or codis's "use of closed topom" / "topom is not online". */
  topology(): Topology {
    if (this.closed) throw new ApiError("use of closed topom");
    if (!this.online || !this.topo) throw new ApiError("topom is not online");
    return this.topo;
  }

  /** Pushes the given mappings to every proxy in parallel; all must answer 200 (codis resyncSlotMappings). */
  async resync(slots: readonly SlotMapping[], groups?: ReadonlyMap<number, Group>): Promise<void> {
    if (slots.length === 0) return;
    const topo = this.topology();
    const proxies = topo.sortedProxies();
    await this.resolveIps(proxies);
    const ctx = this.slotContext(topo);
    // A promotion pushes the group's next state before storing it: convert with that state.
    if (groups) ctx.groups = groups;
    const results = await Promise.allSettled(proxies.map((p) => this.proxyClient(p).fillSlots(toSlots(ctx, slots, p))));
    let first: ResyncError | undefined;
    results.forEach((r, i) => {
      if (r.status === "fulfilled") return;
      const p = proxies[i]!;
      const detail = `proxy-[${p.token}] (admin ${p.admin_addr}) resync slots failed: ${errText(r.reason)}`;
      this.log.error(detail);
      first ??= new ResyncError(`proxy-[${p.token}] resync slots failed`, detail);
    });
    if (first) throw first;
  }

  async ensureBackendKinds(addrs: readonly string[]): Promise<void> {
    for (const addr of addrs) {
      if (this.kinds.has(addr)) continue;
      const kind = await probeBackendKind(this.connect, addr, this.config.product_auth || undefined, 1000);
      this.noteKind(addr, kind);
    }
  }

  moverMethod(from: string, to: string): MoverMethod {
    const configured = this.config.migration_method.toLowerCase() as MoverMethod;
    if (configured === "redis") return "redis";
    const plain = [from, to].filter((a) => this.kinds.get(a) === "redis");
    if (plain.length) {
      const key = `${from}>${to}`;
      if (!this.warnedPairs.has(key)) {
        this.warnedPairs.add(key);
        this.log.warn(`${plain.join(", ")} does not answer SLOTSINFO (plain Redis/Valkey): moving ${from} → ${to} with the redis mover instead of ${configured}`);
      }
      return "redis";
    }
    return configured;
  }

  moverFor(method: MoverMethod): SlotMover {
    return (this.opts.movers ?? moverFor)(method);
  }

  private noteKind(addr: string, kind: BackendKind): void {
    if (this.kinds.get(addr) === kind) return;
    this.kinds.set(addr, kind);
    if (kind === "redis" && this.config.migration_method.toLowerCase() !== "redis") {
      this.log.warn(`server ${addr} is plain Redis/Valkey (no SLOTSINFO): its slots migrate with the redis method, whatever migration_method says`);
    }
  }

  /** How slots are converted for proxies right now. */
  slotContext(topo: Topology): SlotContext {
    const base = parseForwardMethod(this.config.migration_method) ?? ForwardMethod.SemiAsync;
    return {
      groups: topo.groups,
      // A migrating slot whose source or target is plain Redis can only be forwarded the redis way.
      method: (m) => {
        // A slot that is not migrating is never forwarded by method, so it carries a value
        // codis-proxy accepts too: a codis-proxy in the fleet then refuses only the slots that
        // really migrate the redis way (slotway's extension, forward_method 2).
        if (m.action.state === "" || m.action.state === "pending") return base === ForwardMethod.Redis ? ForwardMethod.SemiAsync : base;
        if (base === ForwardMethod.Redis) return base;
        const from = topo.groupMaster(m.group_id);
        const to = topo.groupMaster(m.action.target_id);
        return this.kinds.get(from) === "redis" || this.kinds.get(to) === "redis" ? ForwardMethod.Redis : base;
      },
      ipOf: (addr) => {
        const h = hostOf(addr);
        if (net.isIP(h)) return h;
        return this.ips.get(h)?.ip;
      },
    };
  }

  /** Resolves (50 ms bound, cached 60 s) the hosts replica ordering compares, as codis does. */
  private async resolveIps(proxies: readonly Proxy[]): Promise<void> {
    const addrs = proxies.map((p) => p.admin_addr);
    for (const g of this.topology().groups.values()) for (const s of g.servers) if (s.replica_group) addrs.push(s.server);
    await this.resolveHosts(addrs);
  }

  private async resolveHosts(addrs: readonly string[]): Promise<void> {
    const hosts = new Set(addrs.map(hostOf));
    const now = Date.now();
    await Promise.all([...hosts].map(async (h) => {
      if (h === "" || net.isIP(h)) return;
      const c = this.ips.get(h);
      if (c && now - c.at < 60_000) return;
      const ip = await withTimeout(50, dns.promises.lookup(h).then((r) => r.address)).catch(() => undefined);
      this.ips.set(h, { ip, at: now });
    }));
  }

  private proxyClient(p: Pick<Proxy, "admin_addr" | "token">): ProxyClient {
    return ProxyClient.forProxy(p, this.config.product_name, this.config.product_auth, this.opts.proxyClient);
  }

  // --- read-only views -------------------------------------------------------------------

  stats(): Stats {
    const topo = this.topology();
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
      interval: this.engine.interval,
      disabled: this.engine.disabled,
      progress: { status: this.engine.status },
      executor: this.engine.executor,
    };
    if (this.engine.error !== "") slotAction.error = this.engine.error;
    return {
      closed: this.closed,
      slots: topo.slots.map(encodeSlotMapping),
      group: { models: topo.sortedGroups().map(encodeGroup), stats: groupStats },
      proxy: { models: topo.sortedProxies().map(encodeProxy), stats: Object.fromEntries(this.proxyStats) },
      slot_action: slotAction,
      sentinels: {
        model: encodeSentinel(topo.sentinel),
        stats: sentinelStats,
        masters: Object.fromEntries([...this.haMasters].map(([gid, addr]) => [String(gid), addr])),
      },
    };
  }

  overview(): Overview {
    return {
      version: this.opts.version ?? VERSION_TEXT,
      compile: "",
      config: configToJson(this.config),
      model: encodeTopom(this.model),
      stats: this.stats(),
    };
  }

  /** GET .../slots: all 1024 slots converted with no proxy given. */
  slots(): ReturnType<typeof toSlots> {
    const topo = this.topology();
    return toSlots(this.slotContext(topo), topo.slots);
  }

  // --- proxies (codis topom_proxy.go) ----------------------------------------------------

  createProxy(addr: string): Promise<void> {
    return this.withLock(async () => {
      const topo = this.topology();
      const p = await new ProxyClient(addr, "", this.opts.proxyClient).model().catch((e) => {
        throw new ApiError(`proxy@${addr} fetch model failed, ${errText(e)}`);
      });
      const c = this.proxyClient(p);
      await c.xping().catch((e) => {
        throw new ApiError(`proxy@${addr} check xauth failed, ${errText(e)}`);
      });
      if (topo.proxies.has(p.token)) throw new ApiError(`proxy-[${p.token}] already exists`);
      p.id = topo.maxProxyId() + 1;
      await topo.createProxy(p);
      await this.reinit(p, c);
    });
  }

  onlineProxy(addr: string): Promise<void> {
    return this.withLock(() => this.onlineProxyLocked(addr));
  }

  private async onlineProxyLocked(addr: string): Promise<void> {
    const topo = this.topology();
    const p = await new ProxyClient(addr, "", this.opts.proxyClient).model().catch((e) => {
      this.log.warn(`proxy@${addr} fetch model failed: ${errText(e)}`);
      throw new ApiError(`proxy@${addr} fetch model failed`);
    });
    const c = this.proxyClient(p);
    await c.xping().catch((e) => {
      this.log.warn(`proxy@${addr} check xauth failed: ${errText(e)}`);
      throw new ApiError(`proxy@${addr} check xauth failed`);
    });
    const known = topo.proxies.get(p.token);
    if (known) {
      p.id = known.id;
      await topo.updateProxy(p);
    } else {
      p.id = topo.maxProxyId() + 1;
      await topo.createProxy(p);
    }
    await this.reinit(p, c);
  }

  reinitProxy(token: string): Promise<void> {
    return this.withLock(async () => {
      const p = this.topology().getProxy(token);
      await this.reinit(p, this.proxyClient(p));
    });
  }

  removeProxy(token: string, force: boolean): Promise<void> {
    return this.withLock(async () => {
      const topo = this.topology();
      const p = topo.getProxy(token);
      try {
        await this.proxyClient(p).shutdown();
      } catch (e) {
        this.log.warn(`proxy-[${token}] shutdown failed, force remove = ${force}: ${errText(e)}`);
        if (!force) throw new ApiError(`proxy-[${p.token}] shutdown failed`);
      }
      await topo.removeProxy(p);
      this.proxyStats.delete(token);
    });
  }

  /** fillslots (all 1024, for this proxy), start, sentinels. */
  private async reinit(p: Proxy, c: ProxyClient): Promise<void> {
    const topo = this.topology();
    this.log.warn(`proxy-[${p.token}] reinit: ${JSON.stringify(encodeProxy(p))}`);
    await this.resolveIps([p]);
    const slots = toSlots(this.slotContext(topo), topo.slots, p);
    const fail = (what: string) => (e: unknown): never => {
      this.log.error(`proxy-[${p.token}] ${what} failed: ${errText(e)}`);
      throw new ApiError(`proxy-[${p.token}] ${what} failed`);
    };
    await c.fillSlots(slots).catch(fail("fillslots"));
    await c.start().catch(fail("start"));
    await c.setSentinels(topo.sentinel).catch(fail("set sentinels"));
    this.reinitAt.set(p.token, performance.now());
  }

  // --- groups (codis topom_group.go) -----------------------------------------------------

  createGroup(gid: number): Promise<void> {
    return this.withLock(async () => {
      const topo = this.topology();
      if (gid <= 0 || gid > MAX_GROUP_ID) throw new ApiError(`invalid group id = ${gid}, out of range`);
      if (topo.groups.has(gid)) throw new ApiError(`group-[${gid}] already exists`);
      await topo.createGroup(newGroup(gid));
    });
  }

  removeGroup(gid: number): Promise<void> {
    return this.withLock(async () => {
      const topo = this.topology();
      const g = topo.getGroup(gid);
      if (g.servers.length !== 0) throw new ApiError(`group-[${gid}] isn't empty`);
      await topo.removeGroup(g);
    });
  }

  resyncGroup(gid: number): Promise<void> {
    return this.withLock(async () => {
      const topo = this.topology();
      const g = topo.getGroup(gid);
      await this.resync(topo.slotsOfGroup(gid));
      const ng = clone(g);
      ng.out_of_sync = false;
      await topo.updateGroup(ng);
    });
  }

  resyncGroupAll(): Promise<void> {
    return this.withLock(async () => {
      const topo = this.topology();
      for (const g of topo.sortedGroups()) {
        await this.resync(topo.slotsOfGroup(g.id));
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
    const kind = await probeBackendKind(this.connect, addr, this.config.product_auth || undefined, 1000).catch((e) => {
      this.log.warn(`redis ${addr} check slots-info failed: ${errText(e)}`);
      throw new ApiError(errText(e));
    });
    this.noteKind(addr, kind);
  }

  groupAddServer(gid: number, dc: string, addr: string): Promise<void> {
    return this.withLock(async () => {
      const topo = this.topology();
      if (addr === "") throw new ApiError("invalid server address");
      for (const g of topo.groups.values()) {
        if (g.servers.some((s) => s.server === addr)) throw new ApiError(`server-[${addr}] already exists`);
      }
      const g = topo.getGroup(gid);
      if (g.promoting.state !== PromoteState.Nothing) throw new ApiError(`group-[${g.id}] is promoting`);
      await this.markSentinelOutOfSync(topo);
      const ng = clone(g);
      ng.servers.push(newGroupServer(addr, dc));
      await topo.updateGroup(ng);
    });
  }

  groupDelServer(gid: number, addr: string): Promise<void> {
    return this.withLock(async () => {
      const topo = this.topology();
      const g = topo.getGroup(gid);
      const index = topo.getGroupIndex(g, addr);
      if (g.promoting.state !== PromoteState.Nothing) throw new ApiError(`group-[${g.id}] is promoting`);
      if (index === 0 && (g.servers.length !== 1 || topo.isGroupInUse(g.id))) {
        throw new ApiError(`group-[${g.id}] can't remove master, still in use`);
      }
      await this.markSentinelOutOfSync(topo);
      const ng = clone(g);
      if (index !== 0 && ng.servers[index]!.replica_group) ng.out_of_sync = true;
      ng.servers.splice(index, 1);
      if (ng.servers.length === 0) ng.out_of_sync = false;
      await topo.updateGroup(ng);
    });
  }

  groupPromoteServer(gid: number, addr: string): Promise<void> {
    return this.withLock(async () => {
      const topo = this.topology();
      let g = topo.getGroup(gid);
      const index = topo.getGroupIndex(g, addr);
      if (g.promoting.state !== PromoteState.Nothing) {
        if (index !== g.promoting.index) throw new ApiError(`group-[${g.id}] is promoting index = ${g.promoting.index}`);
      } else if (index === 0) {
        throw new ApiError(`group-[${g.id}] can't promote master`);
      }
      if (this.engine.executor !== 0) throw new ApiError(`slots-migration is running = ${this.engine.executor}`);

      // The same fall-through walk as codis: each state is stored before the next acts on it.
      if (g.promoting.state === PromoteState.Nothing) {
        this.log.warn(`group-[${g.id}] will promote index = ${index}`);
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
          await this.resync(slots, new Map([...topo.groups, [g.id, ng]]));
        } catch (e) {
          this.log.warn(`group-[${g.id}] resync-rollback to preparing`);
          await this.resync(slots).catch((e2) => this.log.warn(`rollback: ${errText(e2)}`));
          throw e;
        }
        await topo.updateGroup(ng);
        g = ng;
      }
      if (g.promoting.state === PromoteState.Prepared) {
        if (topo.sentinel.servers.length !== 0) {
          await this.markSentinelOutOfSync(topo);
          this.log.warn(`group-[${g.id}] promoted with sentinels configured: run sentinels/resync-all to re-monitor it`);
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
        await withConn(this.connect, master, this.config.product_auth, 1000, (c) => setMaster(c, "NO:ONE", this.config.product_auth))
          .then((w) => w && this.log.warn(`redis ${master} set master to NO:ONE: ${w}`))
          .catch((e) => this.log.warn(`redis ${master} set master to NO:ONE failed: ${errText(e)}`));
      }
      if (g.promoting.state === PromoteState.Finished) {
        await this.resync(topo.slotsOfGroup(g.id));
        const ng = newGroup(g.id);
        ng.servers = g.servers;
        await topo.updateGroup(ng);
        return;
      }
      throw new ApiError(`group-[${gid}] action state is invalid`);
    });
  }

  enableReplicaGroups(gid: number, addr: string, value: boolean): Promise<void> {
    return this.withLock(async () => {
      const topo = this.topology();
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
    return this.withLock(async () => {
      const topo = this.topology();
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
    return this.withLock(async () => {
      const topo = this.topology();
      const { group: g, index } = topo.getGroupByServer(addr);
      if (g.promoting.state !== PromoteState.Nothing) throw new ApiError(`group-[${g.id}] is promoting`);
      if (g.servers[index]!.action.state === "pending") throw new ApiError(`server-[${addr}] action already exist`);
      const ng = clone(g);
      ng.servers[index]!.action = { index: topo.maxSyncActionIndex() + 1, state: "pending" };
      await topo.updateGroup(ng);
    });
  }

  syncRemoveAction(addr: string): Promise<void> {
    return this.withLock(async () => {
      const topo = this.topology();
      const { group: g, index } = topo.getGroupByServer(addr);
      if (g.promoting.state !== PromoteState.Nothing) throw new ApiError(`group-[${g.id}] is promoting`);
      if (g.servers[index]!.action.state === "") throw new ApiError(`server-[${addr}] action doesn't exist`);
      const ng = clone(g);
      ng.servers[index]!.action = { index: 0, state: "" };
      await topo.updateGroup(ng);
    });
  }

  /** One sync action: pending → syncing (stored) → SLAVEOF → synced | synced_failed. */
  private async processSyncAction(): Promise<void> {
    const job = await this.withLock(async () => {
      const topo = this.topology();
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
    this.log.warn(`sync-[${job.addr}] process action: slaveof ${job.master}`);
    let failed = false;
    try {
      const w = await withConn(this.connect, job.addr, this.config.product_auth, 30 * 60_000, (c) => setMaster(c, job.master, this.config.product_auth));
      if (w) this.log.warn(`redis ${job.addr}: ${w}`);
    } catch (e) {
      failed = true;
      this.log.warn(`redis ${job.addr} set master to ${job.master} failed: ${errText(e)}`);
    }
    await this.withLock(async () => {
      const topo = this.topology();
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

  private async markSentinelOutOfSync(topo: Topology): Promise<void> {
    if (topo.sentinel.servers.length === 0) return;
    const s = clone(topo.sentinel);
    s.out_of_sync = true;
    await topo.updateSentinel(s);
  }

  // --- slots (codis topom_slots.go) ------------------------------------------------------

  slotCreateAction(sid: number, gid: number): Promise<void> {
    return this.withLock(async () => {
      const topo = this.topology();
      const g = topo.getGroup(gid);
      if (g.servers.length === 0) throw new ApiError(`group-[${gid}] is empty`);
      const m = topo.getSlot(sid);
      if (m.action.state !== "") throw new ApiError(`slot-[${sid}] action already exists`);
      if (m.group_id === gid) throw new ApiError(`slot-[${sid}] already in group-[${gid}]`);
      await this.schedule(topo, [sid], gid);
    });
  }

  slotCreateActionSome(src: number, dst: number, num: number): Promise<void> {
    return this.withLock(async () => {
      const topo = this.topology();
      const g = topo.getGroup(dst);
      if (g.servers.length === 0) throw new ApiError(`group-[${g.id}] is empty`);
      const pick: number[] = [];
      for (const m of topo.slots) {
        if (pick.length >= num) break;
        if (m.action.state !== "" || m.group_id !== src || m.group_id === g.id) continue;
        pick.push(m.id);
      }
      await this.schedule(topo, pick, g.id);
    });
  }

  slotCreateActionRange(beg: number, end: number, gid: number): Promise<void> {
    return this.withLock(async () => {
      const topo = this.topology();
      if (!(beg >= 0 && beg <= end && end < 1024)) throw new ApiError(`invalid slot range [${beg},${end}]`);
      const g = topo.getGroup(gid);
      if (g.servers.length === 0) throw new ApiError(`group-[${g.id}] is empty`);
      const pick: number[] = [];
      // All-or-nothing: every slot is checked before any is written.
      for (let sid = beg; sid <= end; sid++) {
        const m = topo.getSlot(sid);
        if (m.action.state !== "") throw new ApiError(`slot-[${sid}] action already exists`);
        if (m.group_id === g.id) throw new ApiError(`slot-[${sid}] already in group-[${g.id}]`);
        pick.push(sid);
      }
      await this.schedule(topo, pick, g.id);
    });
  }

  /** Marks slots pending toward gid, each with the next action index, in ascending sid. */
  private async schedule(topo: Topology, sids: readonly number[], gid: number): Promise<void> {
    const base = topo.maxSlotActionIndex() + 1;
    await topo.updateSlots(sids.map((sid, i) => {
      const m = clone(topo.getSlot(sid));
      m.action = { state: "pending", index: base + i, target_id: gid };
      return m;
    }));
    if (sids.length) this.engine.kick();
  }

  slotRemoveAction(sid: number): Promise<void> {
    return this.withLock(async () => {
      const topo = this.topology();
      const m = topo.getSlot(sid);
      if (m.action.state === "") throw new ApiError(`slot-[${sid}] action doesn't exist`);
      if (m.action.state !== "pending") throw new ApiError(`slot-[${sid}] action isn't pending`);
      await topo.updateSlot(newSlotMapping(m.id, m.group_id));
    });
  }

  setSlotActionInterval(us: number): void {
    this.engine.interval = Math.min(1_000_000, Math.max(0, us));
    this.log.warn(`set action interval = ${this.engine.interval}`);
  }

  setSlotActionDisabled(value: boolean): void {
    this.engine.disabled = value;
    this.log.warn(`set action disabled = ${value}`);
    if (!value) this.engine.kick();
  }

  slotsAssignGroup(entries: readonly SlotMapping[]): Promise<void> {
    return this.withLock(async () => {
      const topo = this.topology();
      for (const m of entries) {
        topo.getSlot(m.id);
        const g = topo.getGroup(m.group_id);
        if (g.servers.length === 0) throw new ApiError(`group-[${g.id}] is empty`);
        if (m.action.state !== "") throw new ApiError(`invalid slot-[${m.id}] action = ${m.action.state}`);
      }
      for (const m of entries) {
        const g = topo.groups.get(m.group_id)!;
        if (!g.out_of_sync) {
          const ng = clone(g);
          ng.out_of_sync = true;
          await topo.updateGroup(ng);
        }
      }
      // The same slot twice: the last entry wins, as with codis's writes in order.
      const slots = [...new Map(entries.map((m) => [m.id, newSlotMapping(m.id, m.group_id)])).values()];
      this.log.warn(`slot-[${slots.map((m) => m.id).join(",")}] will be mapped to group-[${[...new Set(slots.map((m) => m.group_id))].join(",")}]`);
      await topo.updateSlots(slots);
      await this.resync(slots);
    });
  }

  slotsAssignOffline(entries: readonly SlotMapping[]): Promise<void> {
    return this.withLock(async () => {
      const topo = this.topology();
      for (const m of entries) {
        topo.getSlot(m.id);
        if (m.group_id !== 0) throw new ApiError(`group of slot-[${m.id}] should be 0`);
      }
      const slots = [...new Map(entries.map((m) => [m.id, newSlotMapping(m.id)])).values()];
      this.log.warn(`slot-[${slots.map((m) => m.id).join(",")}] will be mapped to group-[0] (offline)`);
      await topo.updateSlots(slots);
      await this.resync(slots);
    });
  }

  slotsRebalance(confirm: boolean): Promise<Map<number, number>> {
    return this.withLock(async () => {
      const topo = this.topology();
      let plan: Map<number, number>;
      try {
        plan = rebalancePlan(topo.slots, topo.groups.values());
      } catch (e) {
        throw new ApiError(errText(e));
      }
      if (!confirm) return plan;
      const base = topo.maxSlotActionIndex() + 1;
      await topo.updateSlots([...plan.keys()].sort((a, b) => a - b).map((sid, i) => {
        const m = clone(topo.getSlot(sid));
        m.action = { state: "pending", index: base + i, target_id: plan.get(sid)! };
        return m;
      }));
      if (plan.size) this.engine.kick();
      return plan;
    });
  }

  // --- misc ------------------------------------------------------------------------------

  reload(): Promise<void> {
    return this.withLock(async () => {
      this.topology();
      this.topo = await Topology.load(this.store, this.config.product_name, this.log);
    });
  }

  /** GET group/info/:addr: INFO fields + master_addr + maxmemory (product_auth, 1 s). */
  async infoServer(addr: string): Promise<Record<string, string>> {
    try {
      return await withTimeout(1000, withConn(this.connect, addr, this.config.product_auth, 1000, infoFull));
    } catch (e) {
      throw new ApiError(errText(e));
    }
  }

  // --- stats loops (codis topom_stats.go) ------------------------------------------------

  private async refreshProxyStats(): Promise<void> {
    const topo = this.topology();
    const timeout = this.opts.statsTimeoutMs ?? 1000;
    const proxies = topo.sortedProxies();
    const out = new Map<string, ProxyStats>();
    await Promise.all(proxies.map(async (p) => {
      const st: ProxyStats = { unixtime: 0 };
      const askedAt = performance.now();
      try {
        st.stats = await withTimeout(timeout, this.proxyClient(p).stats(timeout + 500));
      } catch (e) {
        if (e instanceof TimeoutError) st.timeout = true;
        else st.error = { Cause: errText(e), Stack: null };
      }
      st.unixtime = Math.floor(Date.now() / 1000);
      out.set(p.token, st);
      // A registered proxy that restarted reports online:false; bring it back by itself. A reply
      // asked for before our own reinit of it finished may predate its start: ignore that one.
      const x = st.stats;
      if (x && !x.online && !x.closed && !this.closed && !this.autoOnline.has(p.token)) {
        // One at a time per proxy: while the lock is busy, later polls must not queue more.
        this.autoOnline.add(p.token);
        this.withLock(async () => {
          if (askedAt <= (this.reinitAt.get(p.token) ?? -1)) return;
          await this.onlineProxyLocked(p.admin_addr);
        })
          .catch((e) => this.log.warn(`auto online proxy-[${p.token}] failed: ${errText(e)}`))
          .finally(() => this.autoOnline.delete(p.token));
      }
    }));
    this.proxyStats = out;
  }

  private async refreshServerStats(): Promise<void> {
    const topo = this.topology();
    const timeout = this.opts.statsTimeoutMs ?? 1000;
    const addrs = new Set<string>();
    for (const g of topo.groups.values()) for (const s of g.servers) addrs.add(s.server);
    const out = new Map<string, RedisStats>();
    await Promise.all([...addrs].map(async (addr) => {
      const st: RedisStats = { unixtime: 0 };
      try {
        st.stats = await withTimeout(timeout, withConn(this.connect, addr, this.config.product_auth, timeout, infoFull));
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
        const r = await withTimeout(timeout, withConn(this.connect, addr, "", timeout, async (c) => ({
          info: parseInfo(String(await c.call("INFO"))),
          groups: await mastersAndSlaves(c, this.config.product_name),
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

  // --- sentinels (codis topom_sentinel.go) -----------------------------------------------

  private monitorConfig(): MonitorConfig {
    const c = this.config;
    return {
      quorum: c.sentinel_quorum, parallelSyncs: c.sentinel_parallel_syncs, downAfterMs: c.sentinel_down_after,
      failoverTimeoutMs: c.sentinel_failover_timeout, notificationScript: c.sentinel_notification_script,
      clientReconfigScript: c.sentinel_client_reconfig_script, auth: c.product_auth,
    };
  }

  private onSentinel<T>(addr: string, fn: (c: RedisConn) => Promise<T>): Promise<T> {
    const ms = this.config.sentinel_client_timeout;
    return withTimeout(ms, withConn(this.connect, addr, "", ms, fn));
  }

  addSentinel(addr: string): Promise<void> {
    return this.withLock(async () => {
      const topo = this.topology();
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
    return this.withLock(async () => {
      const topo = this.topology();
      if (addr === "") throw new ApiError("invalid sentinel address");
      if (!topo.sentinel.servers.includes(addr)) throw new ApiError(`sentinel-[${addr}] not found`);
      const marked = clone(topo.sentinel);
      marked.out_of_sync = true;
      await topo.updateSentinel(marked);
      try {
        await this.onSentinel(addr, (c) => removeAllGroups(c, this.config.product_name));
      } catch (e) {
        this.log.warn(`remove sentinel ${addr} failed: ${errText(e)}`);
        if (!force) throw new ApiError(`remove sentinel ${addr} failed`);
      }
      const s = clone(marked);
      s.servers = s.servers.filter((x) => x !== addr);
      await topo.updateSentinel(s);
    });
  }

  resyncSentinels(): Promise<void> {
    return this.withLock(async () => {
      const topo = this.topology();
      const marked = clone(topo.sentinel);
      marked.out_of_sync = true;
      await topo.updateSentinel(marked);
      const masters = new Map<number, string>();
      for (const g of topo.sortedGroups()) if (g.servers.length) masters.set(g.id, g.servers[0]!.server);
      const product = this.config.product_name;
      await Promise.all(marked.servers.map((addr) => this.onSentinel(addr, (c) => removeAllGroups(c, product))
        .catch((e) => this.log.warn(`sentinel-[${addr}] remove failed: ${errText(e)}`))));
      const results = await Promise.allSettled(marked.servers.map((addr) =>
        this.onSentinel(addr, (c) => monitorGroups(c, product, masters, this.monitorConfig()))));
      for (const r of results) {
        if (r.status === "rejected") {
          this.log.warn(`resync sentinels failed: ${errText(r.reason)}`);
          throw new ApiError(errText(r.reason));
        }
      }
      const proxies = topo.sortedProxies();
      const pushed = await Promise.allSettled(proxies.map((p) => this.proxyClient(p).setSentinels(marked)));
      pushed.forEach((r, i) => {
        if (r.status === "rejected") {
          this.log.error(`proxy-[${proxies[i]!.token}] resync sentinel failed: ${errText(r.reason)}`);
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
      return await withTimeout(1000, withConn(this.connect, addr, "", 1000, async (c) => parseInfo(String(await c.call("INFO")))));
    } catch (e) {
      throw new ApiError(errText(e));
    }
  }

  /** GET sentinels/info/:addr/monitored: this product's groups as the sentinel sees them. */
  async infoSentinelMonitored(addr: string): Promise<SentinelGroups> {
    try {
      return await this.onSentinel(addr, (c) => mastersAndSlaves(c, this.config.product_name));
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
  private async watchSentinels(): Promise<void> {
    const topo = this.topology();
    const servers = topo.sentinel.servers;
    if (servers.length === 0) {
      this.haMasters = new Map();
      return;
    }
    const product = this.config.product_name;
    const answers = await Promise.allSettled(servers.map((a) => this.onSentinel(a, (c) => productMasters(c, product))));
    const ok = answers.filter((r): r is PromiseFulfilledResult<Map<number, Record<string, string>>> => r.status === "fulfilled");
    if (ok.length * 2 <= servers.length) {
      this.log.warn(`sentinel masters: lost majority (${ok.length}/${servers.length})`);
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
    await this.resolveHosts([...topo.groups.values()].flatMap((g) => g.servers.map((x) => x.server)));
    for (const [gid, { addr }] of best) {
      await this.withLock(() => this.trySwitchGroupMaster(gid, addr)).catch((e) =>
        this.log.warn(`sentinel switch group-[${gid}] master failed: ${errText(e)}`));
    }
  }

  private async trySwitchGroupMaster(gid: number, master: string): Promise<void> {
    const topo = this.topology();
    const g = topo.groups.get(gid);
    if (!g || g.servers.length === 0 || g.promoting.state !== PromoteState.Nothing) return;
    const index = g.servers.findIndex((s) => s.server === master || this.sameEndpoint(s.server, master));
    if (index < 0) throw new Error(`group-[${gid}] doesn't have server ${master}`);
    if (index === 0) return;
    this.log.warn(`group-[${gid}] will switch master to server[${index}] = ${g.servers[index]!.server}`);
    const ng = clone(g);
    [ng.servers[0], ng.servers[index]] = [ng.servers[index]!, ng.servers[0]!];
    ng.out_of_sync = true;
    await topo.updateGroup(ng);
    await this.resync(topo.slotsOfGroup(gid));
    const synced = clone(ng);
    synced.out_of_sync = false;
    await topo.updateGroup(synced);
  }

  /** Whether a group server address (maybe a host name) and a sentinel's ip:port are one endpoint. */
  private sameEndpoint(server: string, ipPort: string): boolean {
    const port = (a: string): string => a.slice(a.lastIndexOf(":") + 1);
    if (port(server) !== port(ipPort)) return false;
    const h = hostOf(server);
    const ip = net.isIP(h) ? h : this.ips.get(h)?.ip;
    return ip !== undefined && ip === hostOf(ipPort);
  }
}

function splitListen(addr: string): { host: string; port: number } {
  const m = /^\[?(.*?)\]?:(\d+)$/.exec(addr);
  if (!m) throw new Error(`invalid admin_addr = ${addr}`);
  return { host: m[1]!, port: Number(m[2]) };
}

function joinHostPort(host: string, port: number): string {
  return host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
}

/** The host to publish for a bind host: itself, or (for a wildcard) --host-admin or a non-loopback IPv4. */
function publishHost(bind: string, hostAdmin?: string): string {
  if (bind !== "" && bind !== "0.0.0.0" && bind !== "::") return bind;
  if (hostAdmin) return hostAdmin;
  for (const list of Object.values(os.networkInterfaces())) {
    for (const i of list ?? []) if (i.family === "IPv4" && !i.internal) return i.address;
  }
  return "127.0.0.1";
}
