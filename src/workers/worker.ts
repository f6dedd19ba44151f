// Entry of a data-plane worker thread.
//
//   clients ──▶ shared listening socket ──▶ Session ──▶ Router ──▶ Pool ──▶ BackendConn ──▶ Redis
//                 (one fd, every worker          │   scan,      slot table     (db, proto,
//                  accepts from it)              │   route      in shared      slot-pinned
//                                                │              memory         connection)
//                                                ◀── replies in request order ◀── FIFO match
//
// The control (main) thread owns the slot table and tells workers, by message, about new
// backend addresses, slot changes (to re-dispatch held requests), online state, config
// reloads, and asks them for stats. Workers never block: everything here is callbacks.

import { performance } from "node:perf_hooks";
import net from "node:net";
import { parentPort, workerData } from "node:worker_threads";
import { SlotTable, ONLINE } from "../core/slot-table.js";
import { SLOT_COUNT } from "../core/slot.js";
import type { ProxyConfig } from "../core/config-schema.js";
import { errorReply, type RespInput } from "../core/resp-encoder.js";
import * as E from "../core/errors.js";
import { Router, type RouterSettings } from "./router.js";
import { Session } from "./session.js";
import { WorkerStats, type WorkerStatsSnapshot } from "./stats.js";
import { setInflightRow } from "./request.js";
import type { WorkerContext } from "./context.js";
import { ExclusivePools } from "./exclusive.js";
import { SlotWatch } from "./slot-watch.js";
import { BlockingManager, type ExclusiveHost } from "./blocking.js";
import { TxManager } from "./transaction.js";
import { PubSubHub } from "./pubsub.js";
import { ClusterWide } from "./cluster-wide.js";
import type { ListenSpec, MainToWorker, WorkerInit, WorkerToMain } from "./messages.js";
import { log, setLogLevel } from "../log.js";

const init = workerData as WorkerInit;
const port = parentPort!;
const send = (m: WorkerToMain) => port.postMessage(m);

let config: ProxyConfig = init.config;
setLogLevel(config.log_level);
const table = new SlotTable(init.slotTable);
const clientCount = new Int32Array(init.clients);
const myClients = 1 + init.index;
setInflightRow(new Int32Array(init.inflight), init.index * SLOT_COUNT);

export function routerSettings(c: ProxyConfig): RouterSettings {
  return {
    productAuth: c.product_auth,
    connectTimeout: c.backend_send_timeout,
    keepalive: c.backend_keepalive_period,
    primaryOnly: c.backend_primary_only,
    primaryParallel: c.backend_primary_parallel,
    replicaParallel: c.backend_replica_parallel,
    recvTimeout: c.backend_recv_timeout,
    pingPeriod: c.backend_ping_period,
    lockWaitTimeout: c.slot_lock_wait_timeout,
  };
}

const router = new Router(table, routerSettings(config));
router.online = init.online;
const stats = new WorkerStats();
const sessions = new Set<Session>();
let sessionSeq = 0;

const exclusive = new ExclusivePools(() => routerSettings(config), () => config.backend_max_exclusive_conns);
const watch = new SlotWatch();
// No accessor properties in these two: V8 makes an object literal with a getter a dictionary
// (slow-mode) object, and every load from one is a generic inline-cache call (about 300
// instructions; `ctx.router`, `ctx.stats`, `ctx.config` are read per request). `config` is a
// data property, replaced on reload.
const exclusiveHost: { -readonly [K in keyof ExclusiveHost]: ExclusiveHost[K] } = {
  router,
  exclusive,
  watch,
  config,
};

const ctx: WorkerContext = {
  config,
  router,
  stats,
  exclusive,
  watch,
  blocking: new BlockingManager(exclusiveHost),
  transactions: new TxManager(exclusiveHost),
  pubsub: new PubSubHub(router, watch, () => config.product_auth),
  cluster: new ClusterWide(router, () => config),
  sessions: () => sessions,
  version: init.version,
  nextSessionId: () => init.index * 1_000_000_000 + ++sessionSeq,
  slotMapping(slot: number): RespInput {
    const r = router.route(slot);
    const groups: RespInput[] = (r.replicas ?? []).map((g) => g.map((p) => ({ simple: p.addr })));
    return [
      { simple: String(slot) },
      { simple: r.state & ONLINE && r.master ? r.master.addr : "" },
      { simple: r.from ? r.from.addr : "" },
      groups,
    ];
  },
  sessionClosed(s: Session) {
    if (sessions.delete(s)) {
      Atomics.sub(clientCount, myClients, 1);
      Atomics.sub(clientCount, 0, 1);
    }
  },
};

function onConnection(socket: net.Socket): void {
  socket.on("error", () => {});
  if (!router.online) {
    socket.end(errorReply(E.ROUTER_NOT_ONLINE));
    return;
  }
  if (Atomics.add(clientCount, 0, 1) >= config.proxy_max_clients) {
    Atomics.sub(clientCount, 0, 1);
    socket.end(errorReply(E.MAX_CLIENTS));
    return;
  }
  // The session reads the connection with `onread`, which net.Server cannot set up, so it
  // takes the accepted (paused, not yet read) handle over from the Socket net made for it.
  const holder = socket as unknown as { _handle: unknown };
  const handle = holder._handle;
  holder._handle = null;
  // Counted as ours before the session exists: if this worker dies from here on, the control
  // thread takes this word out of the total (worker-set.ts), never more than was added.
  Atomics.add(clientCount, myClients, 1);
  stats.sessionsTotal++;
  const s = new Session(handle, ctx);
  sessions.add(s);
}

const server = net.createServer({ noDelay: true, pauseOnConnect: true }, onConnection);
server.on("error", (err) => {
  send({ t: "fatal", message: `listen failed: ${err.message}` });
});

function listen(spec: ListenSpec): void {
  const done = () => send({ t: "listening", fd: spec.fd ?? handleFd(server) });
  if (spec.fd !== undefined) server.listen({ fd: spec.fd }, done);
  else if (spec.path !== undefined) server.listen({ path: spec.path }, done);
  else server.listen({ host: spec.host, port: spec.port, ipv6Only: spec.ipv6Only }, done);
}

function handleFd(s: net.Server): number {
  const h = (s as unknown as { _handle?: { fd?: number } })._handle;
  return h?.fd ?? -1;
}

port.on("message", (m: MainToWorker) => {
  switch (m.t) {
    case "addrs":
      router.setAddresses(m.addrs, m.replicaSets);
      send({ t: "ack", seq: m.seq });
      return;
    case "slots":
      router.slotsChanged();
      watch.tick(); // held blocked calls and transactions react to the change at once
      send({ t: "ack", seq: m.seq });
      return;
    case "online":
      router.online = m.online;
      send({ t: "ack", seq: m.seq });
      return;
    case "config":
      config = m.config;
      ctx.config = config;
      exclusiveHost.config = config;
      setLogLevel(config.log_level);
      router.updateSettings(routerSettings(config));
      send({ t: "ack", seq: m.seq });
      return;
    case "stats": {
      const data = snapshot();
      if (m.reset) stats.reset();
      send({ t: "stats", seq: m.seq, data });
      return;
    }
    case "loglevel":
      setLogLevel(m.level);
      send({ t: "ack", seq: m.seq });
      return;
    case "listen":
      listen(m.spec);
      return;
    case "shutdown":
      for (const s of sessions) s.close();
      send({ t: "ack", seq: m.seq });
      return;
    case "crash":
      // Test hook: an uncaught exception outside any handler, as a bug would raise one.
      if (process.env.SLOTWAY_TEST_HOOKS === "1") setImmediate(() => { throw new Error("crash requested by test hook"); });
      send({ t: "ack", seq: m.seq });
      return;
  }
});

function snapshot(): WorkerStatsSnapshot {
  const backends: WorkerStatsSnapshot["backends"] = [];
  router.forEachConn((c) => {
    backends.push({
      addr: c.addr, db: c.db, resp3: c.resp3, state: c.state, pending: c.pending,
      replies: c.replies, errors: c.errors, lastError: c.lastError,
    });
  });
  return {
    opsTotal: stats.opsTotal,
    opsFails: stats.opsFails,
    redisErrors: stats.redisErrors,
    protocolErrors: stats.protocolErrors,
    sessionsTotal: stats.sessionsTotal,
    sessionsAlive: sessions.size,
    heldRequests: router.heldRequests,
    heldExpired: router.heldExpired,
    heldSlots: router.heldBySlot(performance.now()),
    commands: stats.commands(),
    backends,
  };
}

// One timer for the whole worker: timeouts of every session and backend connection.
setInterval(() => {
  const now = performance.now();
  for (const s of sessions) s.tick(now);
  router.expireHeld(now);
  router.forEachConn((c) => c.tick(now, config.backend_recv_timeout, config.backend_ping_period));
}, 250).unref();

send({ t: "ready" });

process.on("uncaughtException", (err) => {
  // Crash-only: after a bug the worker's state cannot be trusted (a request may be half
  // routed, a count half taken), so it exits; the control thread clears its in-flight row and
  // starts a fresh one. Its clients see their connections close, never a wrong reply.
  log.error(`uncaught exception in worker ${init.index}, exiting: ${err.stack ?? err.message}`);
  process.exit(70);
});
