// What a session needs from its worker: configuration, router, counters, and the hooks
// for slot mapping replies and session bookkeeping.
import type { ProxyConfig } from "../core/config-schema.js";
import type { Router } from "./router.js";
import type { WorkerStats } from "./stats.js";
import type { RespInput } from "../core/resp-encoder.js";
import type { Session } from "./session.js";

export interface WorkerContext {
  config: ProxyConfig;
  readonly router: Router;
  readonly stats: WorkerStats;
  readonly version: string;
  nextSessionId(): number;
  /** codis SLOTSMAPPING entry of one slot: [id, backend_addr, migrate_from, replica_groups]. */
  slotMapping(slot: number): RespInput;
  sessionClosed(s: Session): void;
}
