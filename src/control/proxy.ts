// `slotway proxy`: the control thread of a proxy. It owns the slot table and the workers,
// serves the codis-compatible admin API, reloads the config on SIGHUP, and comes online in
// one of three ways:
//   standalone   [[group]] tables in the config: slots are filled at start, online at once
//   --dashboard  announce to a dashboard (PUT /api/topom/proxy/online/...) and wait offline,
//                answering "ERR router is not online", until the dashboard fills and starts it
//   --fillslots  fill from a JSON file of codis Slot objects, then online
//   --filesystem / --etcd  like --dashboard, with the dashboard's address read from the
//                coordinator store (/codis3/<product>/topom), as codis-proxy does

import http from "node:http";
import os from "node:os";
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { availableParallelism } from "node:os";
import { PROXY_KEYS, type ProxyConfig } from "../core/config-schema.js";
import { SLOT_COUNT } from "../core/slot.js";
import { lockReport, lockMetrics } from "./lock-report.js";
import { SlotController } from "./slot-controller.js";
import { SteadyOps } from "./steady-ops.js";
import { WorkerSet } from "./worker-set.js";
import { loadProxyConfig, planReload, mergeReload } from "./config.js";
import { Router as HttpRouter, ApiError, Redirect, RawReply, apiCall, type ApiRequest } from "./http.js";
import { xauth } from "./xauth.js";
import { requireSecret, exposureWarning } from "./admin-secret.js";
import { openStore } from "./store/index.js";
import { topomPath } from "./store/layout.js";
import { decodeSlot, encodeSlot, encodeProxy, type Slot, type Proxy as ProxyModel } from "./models.js";
import type { WorkerStatsSnapshot, CommandStats } from "../workers/stats.js";
import { formatDuration, formatSize } from "../core/units.js";
import { log, setLogLevel } from "../log.js";
import { VERSION } from "../version.js";
import { goTimeNow } from "./go-text.js";
import { Jodis, jodisPath } from "./jodis.js";
import { sampleRusage } from "./rusage.js";

export interface ProxyOptions {
  configPath: string;
  config: ProxyConfig;
  dashboard?: string;
  fillSlotsFile?: string;
  /** codis-proxy --filesystem/--etcd/--zookeeper: find the dashboard through the coordinator store. */
  coordinator?: { name: string; addr: string; auth?: string };
  /** codis --host-admin / --host-proxy: the host published for an unspecified listen address. */
  hostAdmin?: string;
  hostProxy?: string;
  /** Keys set by flags (codis --product_name, --session_auth, ...): they win over the file, also on SIGHUP. */
  overrides?: Partial<ProxyConfig>;
}

/** A running proxy (the control thread's view). */
export class ProxyServer {
  config: ProxyConfig;
  readonly slots: SlotController;
  readonly workers: WorkerSet;
  readonly model: ProxyModel;
  online = false;
  closed = false;
  private admin: http.Server | null = null;
  private sentinels: string[] = [];
  private qps = 0;
  private lastOps = 0;
  private qpsTimer: NodeJS.Timeout | null = null;
  private readonly steady = new SteadyOps();
  private readonly xauthValue: string;
  private readonly workerCount: number;
  private readonly jodis: Jodis | null = null;

  constructor(private readonly opts: ProxyOptions) {
    this.config = opts.config;
    const c = this.config;
    this.workerCount = c.proxy_workers > 0 ? c.proxy_workers : defaultWorkers();
    this.slots = new SlotController(this.workerCount, () => this.config.slot_drain_timeout, () => this.config.slot_lock_wait_timeout);
    const listen = listenSpec(c);
    this.workers = new WorkerSet({
      count: this.workerCount,
      version: VERSION,
      config: c,
      slotTable: this.slots.table.buffer,
      inflight: this.slots.inflight.buffer,
      listen,
      online: false,
      onFatal: (m) => {
        log.error(`${m}; stopping so the supervisor can restart the proxy`);
        process.exit(1);
      },
    });
    this.slots.attach(this.workers);
    const token = randomBytes(16).toString("hex");
    this.model = {
      id: 0,
      token,
      start_time: goTimeNow(),
      admin_addr: reachable(c.admin_addr, opts.hostAdmin),
      proto_type: c.proto_type,
      proxy_addr: c.proto_type === "unix" ? c.proxy_addr : reachable(c.proxy_addr, opts.hostProxy),
      jodis_path: c.jodis_addr ? jodisPath(c.product_name, token, c.jodis_compatible as boolean) : "",
      product_name: c.product_name,
      pid: process.pid,
      pwd: process.cwd(),
      // What `uname -a` prints, as codis records it.
      sys: `${os.type()} ${os.hostname()} ${os.release()} ${os.version()} ${os.machine()}${os.type() === "Linux" ? " GNU/Linux" : ""}`,
      hostname: os.hostname(),
      datacenter: c.proxy_datacenter,
    };
    this.xauthValue = xauth(c.product_name, c.product_auth, token);
    if (c.jodis_addr) {
      this.jodis = new Jodis({
        name: c.jodis_name as string, addr: c.jodis_addr as string, auth: c.jodis_auth as string,
        timeoutMs: c.jodis_timeout as number, compatible: c.jodis_compatible as boolean,
        product: c.product_name, token, proxyAddr: this.model.proxy_addr, adminAddr: this.model.admin_addr,
        startTime: this.model.start_time, log,
      });
    }
  }

  get workersUsed(): number {
    return this.workerCount;
  }

  /** Starts workers and the admin API, then comes online as the mode says. */
  async start(): Promise<void> {
    await this.workers.start();
    await this.startAdmin();
    this.qpsTimer = setInterval(() => void this.sampleQps(), 1000);
    this.qpsTimer.unref();
    this.slots.watchLocks();
    const c = this.config;
    log.info(`slotway ${VERSION} proxy "${c.product_name}" on ${c.proxy_addr} (${this.workerCount} worker thread${this.workerCount === 1 ? "" : "s"}), admin on ${c.admin_addr}, token ${this.model.token}`);
    // Standalone and --fillslots proxies are filled and online before the client port opens,
    // so a client that can connect is served; a dashboard-driven one listens at once and
    // answers "router is not online" until the dashboard starts it, as codis-proxy does.
    if (this.opts.fillSlotsFile) {
      const raw = JSON.parse(readFileSync(this.opts.fillSlotsFile, "utf8")) as unknown;
      if (!Array.isArray(raw)) throw new Error(`${this.opts.fillSlotsFile}: expected a JSON array of slots`);
      await this.slots.fill(raw.map(decodeSlot));
      await this.setOnline();
      await this.workers.listen();
    } else if (this.opts.dashboard) {
      await this.workers.listen();
      const addr = this.opts.dashboard;
      void this.announce(async () => addr, 10);
    } else if (this.opts.coordinator) {
      await this.workers.listen();
      void this.announce(() => this.dashboardFromStore(), 30);
    } else if (c.groups.length > 0) {
      await this.fillGroups(c);
      await this.setOnline();
      await this.workers.listen();
    } else {
      await this.workers.listen();
      log.warn("no [[group]] in the config and no --dashboard or --fillslots: the proxy stays offline until an admin API fillslots + start");
    }
  }

  private async fillGroups(c: ProxyConfig): Promise<void> {
    const slots: Slot[] = [];
    const owner = new Map<number, (typeof c.groups)[number]>();
    for (const g of c.groups) for (const s of g.slots) owner.set(s, g);
    for (let s = 0; s < SLOT_COUNT; s++) {
      const g = owner.get(s);
      slots.push({
        id: s,
        locked: false,
        backend_addr: g ? g.servers[0]! : "",
        backend_addr_group_id: g ? g.id : 0,
        migrate_from: "",
        migrate_from_group_id: 0,
        forward_method: 0,
        replica_groups: g && g.servers.length > 1 ? [g.servers.slice(1)] : [],
      });
    }
    await this.slots.fill(slots);
    const missing = SLOT_COUNT - owner.size;
    if (missing > 0) log.warn(`${missing} slot(s) belong to no group; they answer "slot is not ready"`);
  }

  async setOnline(): Promise<void> {
    this.online = true;
    this.workers.setOnline(true);
    await this.workers.broadcast({ t: "online", online: true });
    // As codis: registered for jodis clients once it serves.
    this.jodis?.start();
  }

  /**
   * codis-proxy's auto-online: find the dashboard, check that it serves our product, then
   * PUT proxy/online; 3 s between tries (codis: 10 tries with --dashboard, 30 with a store).
   */
  private async announce(findDashboard: () => Promise<string>, tries: number): Promise<void> {
    for (let i = 0; i < tries && !this.closed && !this.online; i++) {
      let dashboard = "?";
      try {
        dashboard = await findDashboard();
        const base = `http://${dashboard}`;
        const t = await apiCall<{ product_name: string }>("GET", `${base}/api/topom/model`);
        if (t.product_name !== this.config.product_name) {
          log.error(`dashboard ${dashboard} serves product "${t.product_name}", not "${this.config.product_name}"; stopping`);
          process.exit(1);
        }
        const x = xauth(this.config.product_name);
        await apiCall("PUT", `${base}/api/topom/proxy/online/${x}/${this.model.admin_addr}`, undefined, 60_000);
        log.info(`announced to dashboard ${dashboard}`);
        return;
      } catch (e) {
        log.warn(`online with dashboard ${dashboard} failed: ${(e as Error).message}`);
      }
      await new Promise((r) => setTimeout(r, 3000));
    }
    if (!this.online && !this.closed) log.error(`could not come online through a dashboard after ${tries} tries; staying offline`);
  }

  /** The admin address the dashboard of our product wrote into the coordinator store. */
  private async dashboardFromStore(): Promise<string> {
    const c = this.opts.coordinator!;
    const store = await openStore(c.name, c.addr, c.auth);
    try {
      const text = await store.get(topomPath(this.config.product_name));
      if (text === undefined) throw new Error(`no dashboard of product "${this.config.product_name}" in the ${c.name} store at ${c.addr}`);
      const t = JSON.parse(text) as { admin_addr?: unknown };
      if (typeof t.admin_addr !== "string" || t.admin_addr === "") throw new Error("the dashboard's record has no admin_addr");
      return t.admin_addr;
    } finally {
      await store.close();
    }
  }

  private async sampleQps(): Promise<void> {
    try {
      const s = await this.workers.stats();
      const total = s.reduce((n, w) => n + w.opsTotal, 0);
      this.qps = Math.max(0, total - this.lastOps);
      this.lastOps = total;
      this.steady.sample(total, performance.now(), this.slots.busySince());
    } catch {
      // a slow worker: keep the previous figure
    }
  }

  /** SIGHUP: re-read the file; apply reloadable keys, report the others. */
  async reload(): Promise<void> {
    let next: ProxyConfig;
    try {
      if (this.opts.configPath === "") throw new Error("no --config file to re-read");
      const v = loadProxyConfig(this.opts.configPath);
      next = { ...v.config, ...this.opts.overrides };
      for (const w of v.warnings) log.warn(w);
    } catch (e) {
      log.error(`reload: ${(e as Error).message}; nothing changed`);
      return;
    }
    const plan = planReload(this.config, next);
    if (plan.needRestart.length > 0) log.warn(`reload: ${plan.needRestart.join(", ")} changed but need a restart to apply`);
    const merged = mergeReload(this.config, next);
    this.config = merged;
    setLogLevel(merged.log_level);
    this.workers.setConfig(merged);
    await this.workers.broadcast({ t: "config", config: merged });
    if (plan.groupsChanged && !this.opts.dashboard && !this.opts.fillSlotsFile) {
      await this.fillGroups(merged);
      log.info("reload: slot assignment from [[group]] applied");
    }
    log.info(`reload: applied ${plan.applied.length ? plan.applied.join(", ") : "no key changes"}`);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.qpsTimer) clearInterval(this.qpsTimer);
    this.slots.stopWatch();
    // First, so that jodis clients stop choosing this proxy before its port closes.
    await this.jodis?.close();
    this.admin?.close();
    await this.workers.stop();
  }

  // ------------------------------------------------------------------------------------
  // Admin API (codis-proxy routes, DESIGN §6)

  private startAdmin(): Promise<void> {
    const r = new HttpRouter();
    const verify = (req: ApiRequest) => {
      if (this.closed) throw new ApiError("use of closed proxy");
      const x = req.params.xauth ?? "";
      if (x === "") throw new ApiError("missing xauth, please check product name & auth");
      if (x !== this.xauthValue) throw new ApiError("invalid xauth, please check product name & auth");
    };
    // Routes that change something: the xauth, then admin_secret when one is set
    // (admin-secret.ts). Read at each call, so SIGHUP can set or change the secret.
    const verifyChange = (req: ApiRequest) => {
      verify(req);
      requireSecret(req, this.config.admin_secret);
    };
    r.get("/", () => new Redirect("/proxy"));
    r.get("/proxy", async () => this.overview());
    r.get("/proxy/model", () => encodeProxy(this.model));
    r.get("/proxy/stats", async () => this.stats(~0));
    r.get("/proxy/slots", () => this.slots.current().map(encodeSlot));
    r.get("/api/proxy/model", () => encodeProxy(this.model));
    r.get("/api/proxy/xping/:xauth", (req) => {
      verify(req);
      return "OK";
    });
    r.get("/api/proxy/stats/:xauth", async (req) => {
      verify(req);
      return this.stats(0);
    });
    r.get("/api/proxy/stats/:xauth/:flags", async (req) => {
      verify(req);
      const flags = Number(req.params.flags);
      if (!Number.isInteger(flags)) throw new ApiError(`strconv.Atoi: parsing "${req.params.flags}": invalid syntax`);
      return this.stats(flags);
    });
    r.get("/api/proxy/slots/:xauth", (req) => {
      verify(req);
      return this.slots.current().map(encodeSlot);
    });
    r.put("/api/proxy/start/:xauth", async (req) => {
      verifyChange(req);
      await this.setOnline();
      return "OK";
    });
    r.put("/api/proxy/stats/reset/:xauth", async (req) => {
      verifyChange(req);
      await this.workers.stats(true);
      this.lastOps = 0;
      return "OK";
    });
    r.put("/api/proxy/forcegc/:xauth", (req) => {
      verifyChange(req);
      const gc = (globalThis as { gc?: () => void }).gc;
      if (gc) gc();
      return "OK";
    });
    r.put("/api/proxy/shutdown/:xauth", (req) => {
      verifyChange(req);
      setTimeout(() => void this.close().then(() => process.exit(0)), 50);
      return "OK";
    });
    r.put("/api/proxy/loglevel/:xauth/:value", async (req) => {
      verifyChange(req);
      const v = req.params.value!.toLowerCase();
      const level = v === "warning" ? "warn" : v === "none" ? "error" : v;
      if (!setLogLevel(level)) throw new ApiError("invalid loglevel");
      await this.workers.broadcast({ t: "loglevel", level });
      log.warn(`set loglevel to ${req.params.value}`);
      return "OK";
    });
    r.put("/api/proxy/fillslots/:xauth", async (req) => {
      verifyChange(req);
      // Go decodes a JSON null into an empty []*Slot, so codis-proxy answers "OK" to it.
      const body = req.json<unknown>() ?? [];
      if (!Array.isArray(body)) throw new ApiError("fillslots: body must be a JSON array of slots");
      let slots: Slot[];
      try {
        slots = body.map(decodeSlot);
      } catch (e) {
        throw new ApiError(`fillslots: ${(e as Error).message}`);
      }
      // codis-proxy's check, with slotway's methods 2 ("redis") and 3 (Pika classic) added.
      if (slots.some((s) => s.forward_method < 0 || s.forward_method > 3)) throw new ApiError("use of invalid forwarder method");
      await this.slots.fill(slots);
      return "OK";
    });
    r.put("/api/proxy/sentinels/:xauth", (req) => {
      verifyChange(req);
      const body = req.json<{ servers?: string[] }>();
      this.sentinels = Array.isArray(body?.servers) ? body.servers.filter((s) => typeof s === "string") : [];
      return "OK";
    });
    r.put("/api/proxy/sentinels/:xauth/rewatch", (req) => {
      verifyChange(req);
      return "OK";
    });
    r.get("/metrics", async () => new RawReply(await this.metrics(), "text/plain; version=0.0.4; charset=utf-8"));
    if (process.env.SLOTWAY_TEST_HOOKS === "1") {
      // Test hook: crash one worker the way a bug would (the worker checks the variable too).
      r.put("/api/proxy/debug/crash/:xauth/:index", (req) => {
        verifyChange(req);
        this.workers.crash(Number(req.params.index));
        return "OK";
      });
    }

    const server = http.createServer(r.listener((err, req) => {
      if (!(err instanceof ApiError)) log.warn(`admin API ${req.method} ${req.url}: ${(err as Error).message}`);
    }));
    this.admin = server;
    const [host, port] = splitHostPort(this.config.admin_addr);
    const exposed = exposureWarning(this.config.admin_addr, this.config.product_auth, this.config.admin_secret);
    if (exposed) log.warn(exposed);
    return new Promise((resolve, reject) => {
      server.once("error", (e) => reject(new Error(`admin_addr ${this.config.admin_addr}: ${e.message}`)));
      server.listen({ host, port }, () => resolve());
    });
  }

  private async overview(): Promise<unknown> {
    return {
      version: VERSION,
      compile: `node ${process.version}`,
      config: this.configJson(),
      model: encodeProxy(this.model),
      stats: await this.stats(~0),
      slots: this.slots.current().map(encodeSlot),
    };
  }

  /** codis's config JSON: durations and sizes as strings, secrets left out. */
  private configJson(): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    for (const def of PROXY_KEYS) {
      // Secrets never leave the process (codis tags them json:"-").
      if (/auth|password|secret/.test(def.name)) continue;
      const v = this.config[def.name];
      if (def.type === "duration") out[def.name] = formatDuration(v as number);
      else if (def.type === "size") out[def.name] = formatSize(v as number);
      else out[def.name] = v;
    }
    return out;
  }

  /** codis Stats (flags: 1 commands, 4 runtime). */
  private async stats(flags: number): Promise<unknown> {
    const per = await this.workers.stats();
    const sum = (f: (w: WorkerStatsSnapshot) => number) => per.reduce((n, w) => n + f(w), 0);
    const out: Record<string, unknown> = {
      online: this.online,
      closed: this.closed,
      sentinels: this.sentinels.length ? { servers: this.sentinels } : {},
      ops: {
        total: sum((w) => w.opsTotal),
        fails: sum((w) => w.opsFails),
        redis: { errors: sum((w) => w.redisErrors) },
        qps: this.qps,
        ...(flags & 1 ? omitEmpty("cmd", mergeCommands(per)) : {}),
      },
      sessions: { total: sum((w) => w.sessionsTotal), alive: sum((w) => w.sessionsAlive) },
      rusage: sampleRusage(),
      backend: { primary_only: this.config.backend_primary_only },
      slotway: {
        workers: this.workerCount,
        held_requests: sum((w) => w.heldRequests),
        held_requests_expired: sum((w) => w.heldExpired),
        locked_slots: lockReport(this.slots.lockedSlots(), per),
        protocol_errors: sum((w) => w.protocolErrors),
        slots_online: this.slots.onlineCount(),
        // ops/s while no slot migrates: what the dashboard's migration pace compares with.
        steady_ops: this.steady.opsPerSec,
      },
    };
    if (flags & 4) {
      const m = process.memoryUsage();
      out.runtime = { general: { alloc: m.heapUsed, sys: m.rss }, heap: { alloc: m.heapUsed, sys: m.heapTotal }, num_procs: availableParallelism() };
    }
    return out;
  }

  private async metrics(): Promise<string> {
    const per = await this.workers.stats();
    const sum = (f: (w: WorkerStatsSnapshot) => number) => per.reduce((n, w) => n + f(w), 0);
    const lines: string[] = [];
    const metric = (name: string, type: string, help: string, values: [string, number][]) => {
      lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
      for (const [labels, v] of values) lines.push(`${name}${labels} ${v}`);
    };
    metric("slotway_online", "gauge", "1 when the proxy serves clients.", [["", this.online ? 1 : 0]]);
    metric("slotway_ops_total", "counter", "Commands answered.", [["", sum((w) => w.opsTotal)]]);
    metric("slotway_ops_fails_total", "counter", "Commands failed by the proxy (backend down, slot offline, ...).", [["", sum((w) => w.opsFails)]]);
    metric("slotway_redis_errors_total", "counter", "Error replies from backends.", [["", sum((w) => w.redisErrors)]]);
    metric("slotway_protocol_errors_total", "counter", "Client connections closed for a protocol error.", [["", sum((w) => w.protocolErrors)]]);
    metric("slotway_sessions_total", "counter", "Client connections accepted.", [["", sum((w) => w.sessionsTotal)]]);
    metric("slotway_sessions_alive", "gauge", "Client connections open.", [["", sum((w) => w.sessionsAlive)]]);
    metric("slotway_held_requests", "gauge", "Requests held for locked slots.", [["", sum((w) => w.heldRequests)]]);
    lockMetrics(lockReport(this.slots.lockedSlots(), per), per, metric);
    metric("slotway_slots_online", "gauge", "Slots with a backend.", [["", this.slots.onlineCount()]]);
    const cmds = mergeCommands(per);
    const esc = (s: string) => s.replace(/["\\\n]/g, "_");
    metric("slotway_command_calls_total", "counter", "Commands answered, by command.", cmds.map((c) => [`{cmd="${esc(c.opstr)}"}`, c.calls]));
    metric("slotway_command_usecs_total", "counter", "Time from read to reply, by command (microseconds).", cmds.map((c) => [`{cmd="${esc(c.opstr)}"}`, c.usecs]));
    const backends = new Map<string, { up: number; pending: number; errors: number }>();
    for (const w of per) {
      for (const b of w.backends) {
        const e = backends.get(b.addr) ?? { up: 1, pending: 0, errors: 0 };
        if (b.state !== 1 && b.state !== 0) e.up = 0;
        e.pending += b.pending;
        e.errors += b.errors;
        backends.set(b.addr, e);
      }
    }
    const bl = [...backends.entries()];
    metric("slotway_backend_up", "gauge", "0 when a connection to the backend is down.", bl.map(([a, e]) => [`{addr="${esc(a)}"}`, e.up]));
    metric("slotway_backend_pending", "gauge", "Requests waiting for the backend's reply.", bl.map(([a, e]) => [`{addr="${esc(a)}"}`, e.pending]));
    metric("slotway_backend_errors_total", "counter", "Error replies and failures from the backend.", bl.map(([a, e]) => [`{addr="${esc(a)}"}`, e.errors]));
    return lines.join("\n") + "\n";
  }
}

/** { [key]: list }, or nothing when the list is empty (Go's omitempty). */
function omitEmpty<T>(key: string, list: T[]): Record<string, T[]> {
  return list.length > 0 ? { [key]: list } : {};
}

function mergeCommands(per: WorkerStatsSnapshot[]): (CommandStats & { usecs_percall: number })[] {
  const m = new Map<string, CommandStats>();
  for (const w of per) {
    for (const c of w.commands) {
      const e = m.get(c.opstr) ?? { opstr: c.opstr, calls: 0, usecs: 0, fails: 0, redis_errtype: 0 };
      e.calls += c.calls;
      e.usecs += c.usecs;
      e.fails += c.fails;
      e.redis_errtype += c.redis_errtype;
      m.set(c.opstr, e);
    }
  }
  return [...m.values()]
    .sort((a, b) => a.opstr.localeCompare(b.opstr))
    .map((c) => ({ ...c, usecs_percall: c.calls ? Math.round(c.usecs / c.calls) : 0 }));
}

/**
 * The default worker count: one per two CPU cores, at least one. A worker spends about
 * two thirds of its CPU in the kernel's network stack (read, write and the wake-ups they
 * cause), work that needs cores of its own; on the 2-core machine the benchmark runs on, one
 * worker served 1.3x the ops/s of two without pipelining and the same with it (README).
 */
export function defaultWorkers(): number {
  return Math.max(1, Math.floor(availableParallelism() / 2));
}

export function splitHostPort(addr: string): [string, number] {
  const i = addr.lastIndexOf(":");
  return [addr.slice(0, i).replace(/^\[|\]$/g, ""), Number(addr.slice(i + 1))];
}

/**
 * Replaces an unspecified host (0.0.0.0, ::, empty) with an address others can reach: the
 * given host (codis --host-admin / --host-proxy), else the first external IPv4 address.
 */
function reachable(addr: string, host0?: string): string {
  const [host, port] = splitHostPort(addr);
  if (host !== "" && host !== "0.0.0.0" && host !== "::") return addr;
  if (host0) return `${host0.includes(":") && !host0.startsWith("[") ? `[${host0}]` : host0}:${port}`;
  for (const list of Object.values(os.networkInterfaces())) {
    for (const i of list ?? []) {
      if (i.family === "IPv4" && !i.internal) return `${i.address}:${port}`;
    }
  }
  return `127.0.0.1:${port}`;
}

function listenSpec(c: ProxyConfig): { host?: string; port?: number; ipv6Only?: boolean; path?: string } {
  if (c.proto_type === "unix") return { path: c.proxy_addr };
  const [host, port] = splitHostPort(c.proxy_addr);
  return { host: host === "" ? (c.proto_type === "tcp6" ? "::" : "0.0.0.0") : host, port, ipv6Only: c.proto_type === "tcp6" };
}
