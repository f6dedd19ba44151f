// What a session needs from its worker: configuration, router, counters, the managers of
// the commands that leave the shared connections, and the hooks for slot mapping replies and
// session bookkeeping.
import type { ProxyConfig } from "../core/config-schema.js";
import type { Router } from "./router.js";
import type { WorkerStats } from "./stats.js";
import type { RespInput } from "../core/resp-encoder.js";
import type { Session } from "./session.js";
import type { ExclusivePools } from "./exclusive.js";
import type { SlotWatch } from "./slot-watch.js";
import type { BlockingManager } from "./blocking.js";
import type { TxManager } from "./transaction.js";
import type { PubSubHub } from "./pubsub.js";
import type { ClusterWide } from "./cluster-wide.js";

export interface WorkerContext {
  config: ProxyConfig;
  readonly router: Router;
  readonly stats: WorkerStats;
  readonly version: string;
  readonly exclusive: ExclusivePools;
  readonly watch: SlotWatch;
  readonly blocking: BlockingManager;
  readonly transactions: TxManager;
  readonly pubsub: PubSubHub;
  readonly cluster: ClusterWide;
  nextSessionId(): number;
  /** codis SLOTSMAPPING entry of one slot: [id, backend_addr, migrate_from, replica_groups]. */
  slotMapping(slot: number): RespInput;
  sessionClosed(s: Session): void;
  /** This worker's client sessions (CLIENT LIST). */
  sessions(): Iterable<Session>;
}
