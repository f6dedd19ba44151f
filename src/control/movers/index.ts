// Mover selection: how a slot moves from one group's master to another's depends on what the
// two servers are (backends/kind.ts), and migration_method only chooses among what both speak.
//
//   source → target                      how
//   pika-sharding → pika-sharding        slot replication (dashboard/replication.ts), no mover
//   (no source) → pika-sharding          the slot is added on the target, nothing to move
//   pika-classic → pika-classic | redis | codis-server
//                                        PikaClassicMover; proxies forward with sync
//   redis | codis-server → redis | codis-server
//                                        migration_method (redis when either is plain Redis)
//   anything else with a Pika            refused, with the reason: Pika 3.4 has no command that
//                                        moves keys to another server, and Pika takes no DUMP
//                                        payload (RESTORE / SLOTSRESTORE) from Redis or codis.
import type { BackendInfo } from "../backends/kind.js";
import { CodisMover } from "./codis-mover.js";
import type { MoverMethod, SlotMover } from "./mover.js";
import { PIKA_DATABASES_REASON, PikaClassicMover } from "./pika-classic.js";
import { RedisMover } from "./redis-mover.js";

export * from "./mover.js";
export { CodisMover } from "./codis-mover.js";
export { RedisMover } from "./redis-mover.js";
export { PikaClassicMover, isPikaInternalKey } from "./pika-classic.js";

export function moverFor(method: MoverMethod): SlotMover {
  if (method === "redis") return new RedisMover();
  if (method === "pika") return new PikaClassicMover();
  return new CodisMover(method);
}

/** How one slot moves between two masters. */
export type MigrationPlan =
  | { how: "mover"; method: MoverMethod }
  | { how: "replication" }
  | { how: "refused"; reason: string };

/**
 * The plan for moving a slot from `from` to `to` (undefined info = the group has no server).
 * `configured` is migration_method.
 */
export function migrationPlan(
  configured: MoverMethod, from: string, fromInfo: BackendInfo | undefined, to: string, toInfo: BackendInfo | undefined,
): MigrationPlan {
  const fk = fromInfo?.kind;
  const tk = toInfo?.kind;
  if (tk === "pika-sharding") {
    if (fk === undefined || fk === "pika-sharding") return { how: "replication" };
    return { how: "refused", reason: `${to} is Pika ${toInfo!.version} (sharding): its slots can only come from another Pika 3.4 sharding group (by slot replication), not from ${from} (${fk})` };
  }
  if (fk === "pika-sharding") {
    return { how: "refused", reason: `${from} is Pika ${fromInfo!.version} (sharding): it has no command that moves keys to another server, so its slots move only to another Pika 3.4 sharding group, not to ${to} (${tk})` };
  }
  for (const [addr, info] of [[from, fromInfo], [to, toInfo]] as const) {
    if (info?.kind === "pika-classic" && info.databases !== undefined && info.databases !== 1) {
      return { how: "refused", reason: `${PIKA_DATABASES_REASON} (${addr}: databases = ${info.databases})` };
    }
    if (info?.kind === "pika-classic" && info.cacheModel !== undefined && info.cacheModel !== 0) {
      return { how: "refused", reason: `${addr} is Pika ${info.version} with its read cache on (cache-model ${info.cacheModel}): it serves stale reads (a list after RPOPLPUSH, a key after it moved away), so a move cannot be checked; set "cache-model : 0" (CONFIG SET cache-model 0 works at once)` };
    }
    if (info?.kind === "pika-classic" && !info.slotmigrate) {
      return { how: "refused", reason: `${addr} is Pika ${info.version} with slotmigrate off: set "slotmigrate : yes" in its pika.conf and restart it` };
    }
  }
  if (fk === "pika-classic") return { how: "mover", method: "pika" };
  if (tk === "pika-classic") {
    if (fk === undefined) return { how: "mover", method: configured }; // nothing to move
    return { how: "refused", reason: `${to} is Pika ${toInfo!.version}: Pika takes no DUMP payload (RESTORE / SLOTSRESTORE), so its slots can only come from another Pika classic group, not from ${from} (${fk})` };
  }
  if (configured === "redis" || fk === "redis" || tk === "redis") return { how: "mover", method: "redis" };
  return { how: "mover", method: configured };
}
