// Messages between the control thread and data-plane workers.
import type { ProxyConfig } from "../core/config-schema.js";
import type { WorkerStatsSnapshot } from "./stats.js";

export interface WorkerInit {
  index: number;
  version: string;
  config: ProxyConfig;
  slotTable: SharedArrayBuffer;
  inflight: SharedArrayBuffer;
  /**
   * Int32 words: [0] clients connected over all workers (proxy_max_clients), [1 + i] those of
   * worker i, so that a worker that dies can be taken out of the total.
   */
  clients: SharedArrayBuffer;
  online: boolean;
}

/** Worker 0 binds host:port (or a path); the others listen on worker 0's descriptor. */
export interface ListenSpec {
  host?: string;
  port?: number;
  ipv6Only?: boolean;
  path?: string;
  fd?: number;
}

export type MainToWorker =
  | { t: "addrs"; seq: number; addrs: string[]; replicaSets: number[][][] }
  | { t: "slots"; seq: number }
  | { t: "online"; seq: number; online: boolean }
  | { t: "config"; seq: number; config: ProxyConfig }
  | { t: "loglevel"; seq: number; level: string }
  | { t: "stats"; seq: number; reset?: boolean }
  | { t: "shutdown"; seq: number }
  /** Test hook (only with SLOTWAY_TEST_HOOKS=1 in the environment): the worker throws. */
  | { t: "crash"; seq: number }
  | { t: "listen"; seq: number; spec: ListenSpec };

export type WorkerToMain =
  | { t: "ready" }
  | { t: "listening"; fd: number }
  | { t: "ack"; seq: number }
  | { t: "stats"; seq: number; data: WorkerStatsSnapshot }
  | { t: "fatal"; message: string };
