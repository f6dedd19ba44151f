// The dashboard ("topom" in codis): owns the product lock in the store, keeps the topology,
// pushes slot changes to proxies and knows the backend kinds. What it does is split by
// concern, as codis splits its topom into files:
//
//   topom.ts      lifecycle, the lock, resync (push slots to every proxy), backend kinds
//   proxies.ts    register / online / reinit / remove proxies
//   groups.ts     groups, servers, promotion, replica groups, sync actions
//   slots.ts      slot actions, assignment, rebalance
//   sentinels.ts  sentinels and their failovers
//   stats.ts      the overview and the stats loops
//   migration.ts  the slot migration engine (movers in ../movers/)
//   api.ts        the codis-dashboard HTTP API over all of these
//
// Concurrency: every operation that changes the topology runs under one async lock, as codis's
// Topom.mu. Reads (stats, overview, slots) do not take it: the topology copy only changes by
// whole-record replacement, so they never wait behind a slow push to a proxy.
import { createHash } from "node:crypto";
import dns from "node:dns";
import { setMaxListeners } from "node:events";
import http from "node:http";
import net from "node:net";
import os from "node:os";
import { ApiError } from "../http.js";
import {
  ForwardMethod, encodeTopom, hostOf, parseForwardMethod, toJsonText, toSlots,
  type Group, type Proxy, type SlotContext, type SlotMapping, type Topom as TopomModel,
} from "../models.js";
import { describeBackend, probeBackend, type BackendInfo } from "../backends/kind.js";
import { migrationPlan, moverFor, type MigrationPlan, type MoverMethod, type RedisConnector, type SlotMover } from "../movers/index.js";
import { sleep } from "../movers/mover.js";
import { SLOT_COUNT } from "../../core/slot.js";
import { ProxyClient, type ProxyClientOptions } from "../proxy-client.js";
import { topomPath } from "../store/layout.js";
import type { Store } from "../store/store.js";
import { xauth } from "../xauth.js";
import type { DashboardConfig } from "./config.js";
import { errText, Logger } from "./log.js";
import { SlotActionEngine, type ActionHost, type EngineOptions } from "./migration.js";
import { withTimeout } from "./redis-ops.js";
import { Topology } from "./topology.js";
import { ProxyOps } from "./proxies.js";
import { GroupOps } from "./groups.js";
import { SlotOps } from "./slots.js";
import { SentinelOps } from "./sentinels.js";
import { StatsOps } from "./stats.js";
import { ReplicationFlow } from "./replication.js";
import { PikaCleanup } from "./pika-cleanup.js";
import { PikaGroupOps } from "./pika-groups.js";
import { goTimeNow } from "../go-text.js";

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

  /** @internal */
  readonly store: Store;
  private readonly lock = new AsyncLock();
  private topo?: Topology;
  private online = false;
  private closed = false;
  private server?: http.Server;
  private readonly stop = new AbortController();
  private loops: Promise<void>[] = [];
  /** @internal kind and version of each server probed so far (backends/kind.ts). */
  readonly kinds = new Map<string, BackendInfo>();
  private readonly warnedPairs = new Set<string>();
  /** @internal resolved host names (cached 60 s), for replica ordering and sentinels. */
  readonly ips = new Map<string, { ip: string | undefined; at: number }>();
  /** @internal */
  readonly opts: TopomOptions;

  readonly proxies: ProxyOps;
  readonly groups: GroupOps;
  readonly slots: SlotOps;
  readonly sentinels: SentinelOps;
  readonly stats: StatsOps;
  /** Pika 3.4 (sharding): slot replication, source cleanup, group slot management. */
  readonly replication: ReplicationFlow;
  readonly pikaCleanup: PikaCleanup;
  readonly pikaGroups: PikaGroupOps;

  constructor(opts: TopomOptions) {
    this.opts = opts;
    this.config = opts.config;
    this.store = opts.store;
    this.connect = opts.connect;
    this.log = opts.log ?? new Logger("INFO");
    this.xauth = xauth(this.config.product_name);
    this.model = {
      token: "",
      start_time: goTimeNow(),
      admin_addr: "",
      product_name: this.config.product_name,
      pid: process.pid,
      pwd: process.cwd(),
      sys: `${os.type()} ${os.hostname()} ${os.release()} ${os.version()} ${os.machine()}`,
    };
    this.engine = new SlotActionEngine(this, opts.engine);
    this.proxies = new ProxyOps(this);
    this.groups = new GroupOps(this);
    this.slots = new SlotOps(this);
    this.sentinels = new SentinelOps(this);
    this.stats = new StatsOps(this);
    this.replication = new ReplicationFlow(this);
    this.pikaCleanup = new PikaCleanup(this);
    this.pikaGroups = new PikaGroupOps(this);
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
    // Every loop, and every slot job of a round while it waits (a turn to replicate, a poll, the
    // pace), listens on this signal: up to one per slot, beyond Node's leak warning at 10.
    setMaxListeners(SLOT_COUNT + 64, signal);
    const every = this.opts.statsIntervalMs ?? 1000;
    this.loops = [
      this.loop(every, () => this.stats.refreshProxyStats(), signal),
      this.loop(every, () => this.stats.refreshServerStats(), signal),
      this.engine.run(signal),
      this.loop(this.opts.syncIdleMs ?? 1000, () => this.groups.processSyncAction(), signal),
      this.loop(this.opts.sentinelPollMs ?? 5000, () => this.sentinels.watchSentinels(), signal),
      this.loop(1000, () => this.pikaCleanup.tick(), signal),
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
      if (addr === "" || this.kinds.has(addr)) continue;
      this.noteKind(addr, await probeBackend(this.connect, addr, this.config.product_auth || undefined, 1000));
    }
  }

  /** How a slot moves between these masters ("" = a group without servers); kinds must be known. */
  migrationPlan(from: string, to: string): MigrationPlan {
    const configured = this.config.migration_method.toLowerCase() as MoverMethod;
    const fromInfo = from === "" ? undefined : this.kinds.get(from);
    const toInfo = to === "" ? undefined : this.kinds.get(to);
    const plan = migrationPlan(configured, from, fromInfo, to, toInfo);
    if (plan.how === "mover" && plan.method !== configured && from !== "") {
      const key = `${from}>${to}`;
      if (!this.warnedPairs.has(key)) {
        this.warnedPairs.add(key);
        const why = plan.method === "pika" ? `${from} is ${describeBackend(fromInfo!)}` : "a plain Redis/Valkey server (no SLOTSINFO) is involved";
        this.log.warn(`moving ${from} → ${to} with the ${plan.method} mover instead of ${configured}: ${why}`);
      }
    }
    return plan;
  }

  /** The mover method for a pair of masters (see migrationPlan; a refused pair throws its reason). */
  moverMethod(from: string, to: string): MoverMethod {
    const plan = this.migrationPlan(from, to);
    if (plan.how === "refused") throw new Error(plan.reason);
    return plan.how === "mover" ? plan.method : "sync";
  }

  replicate(sids: readonly number[], signal: AbortSignal): Promise<void> {
    return this.replication.run(sids, signal);
  }

  moverFor(method: MoverMethod): SlotMover {
    return (this.opts.movers ?? moverFor)(method);
  }

  /** @internal */
  noteKind(addr: string, info: BackendInfo): void {
    const known = this.kinds.get(addr);
    if (known && known.kind === info.kind && known.version === info.version && known.slotNumbersOk === info.slotNumbersOk) return;
    this.kinds.set(addr, info);
    this.log.info(`server ${addr} is ${describeBackend(info)}`);
    if (info.kind === "redis" && this.config.migration_method.toLowerCase() !== "redis") {
      this.log.warn(`server ${addr} is plain Redis/Valkey (no SLOTSINFO): its slots migrate with the redis method, whatever migration_method says`);
    }
    if (info.kind === "pika-classic" && info.cacheModel !== undefined && info.cacheModel !== 0) {
      this.log.warn(`server ${addr} (${describeBackend(info)}) has its read cache on (cache-model ${info.cacheModel}): Pika 4.0 then serves stale reads `
        + `(a list read back without RPOPLPUSH's element, even with no migration); set "cache-model : 0". slotway refuses to move its slots until then`);
    }
    if (info.kind === "pika-classic" && info.slotNumbersOk === false) {
      this.log.warn(`server ${addr} (${describeBackend(info)}) computes wrong slot numbers for keys whose CRC-32 is ≥ 2^31 `
        + `(SLOTSHASHKEY foo ≠ 289): its slots are moved by a full SCAN and by key name, never by Pika's slot listing`);
    }
  }

  /** How slots are converted for proxies right now. */
  slotContext(topo: Topology): SlotContext {
    const base = parseForwardMethod(this.config.migration_method) ?? ForwardMethod.SemiAsync;
    const kind = (addr: string): string | undefined => this.kinds.get(addr)?.kind;
    return {
      groups: topo.groups,
      method: (m) => {
        // A slot that is not migrating is never forwarded by method, so it carries a value
        // codis-proxy accepts too: a codis-proxy in the fleet then refuses only the slots that
        // really migrate the redis way (slotway's extension, forward_method 2).
        if (m.action.state === "" || m.action.state === "pending") return base === ForwardMethod.Redis ? ForwardMethod.SemiAsync : base;
        const from = kind(topo.groupMaster(m.group_id));
        const to = kind(topo.groupMaster(m.action.target_id));
        // Pika: its SLOTSMGRT-EXEC-WRAPPER never runs the command (3.5.0 answers [0,0] for a key
        // it holds, 4.0.1 [-1,-1] or [1,1]), so semi-async would send writes to the target while
        // the key lives on the source. SLOTSMGRTTAGONE works on both, but Pika's record of a
        // tag's keys can miss some: method 3 is sync plus a check that the command's keys left
        // the source (workers/forward/sync.ts). (Pika 3.4 slots never reach "migrating".)
        if (from?.startsWith("pika") || to?.startsWith("pika")) return ForwardMethod.Pika;
        if (base === ForwardMethod.Redis) return base;
        // A migrating slot whose source or target is plain Redis can only be forwarded the redis way.
        return from === "redis" || to === "redis" ? ForwardMethod.Redis : base;
      },
      ipOf: (addr) => {
        const h = hostOf(addr);
        if (net.isIP(h)) return h;
        return this.ips.get(h)?.ip;
      },
    };
  }

  /** Resolves (50 ms bound, cached 60 s) the hosts replica ordering compares, as codis does. */
  /** @internal */
  async resolveIps(proxies: readonly Proxy[]): Promise<void> {
    const addrs = proxies.map((p) => p.admin_addr);
    for (const g of this.topology().groups.values()) for (const s of g.servers) if (s.replica_group) addrs.push(s.server);
    await this.resolveHosts(addrs);
  }

  /** @internal */
  async resolveHosts(addrs: readonly string[]): Promise<void> {
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

  /** @internal */
  proxyClient(p: Pick<Proxy, "admin_addr" | "token">): ProxyClient {
    return ProxyClient.forProxy(p, this.config.product_name, this.config.product_auth, this.opts.proxyClient);
  }

  // --- misc ------------------------------------------------------------------------------

  reload(): Promise<void> {
    return this.withLock(async () => {
      this.topology();
      this.topo = await Topology.load(this.store, this.config.product_name, this.log);
    });
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
