// The rebalance plan of codis 3.2 (topom_slots.go SlotsRebalance), reproduced exactly so that
// codis-fe's preview and `codis-admin --rebalance` show the same plan against slotway
// (shared/codis-dashboard-api.md §1.4 gives the steps).
import { MAX_SLOT_NUM, type Group, type SlotMapping } from "../models.js";

/**
 * Returns slot id → target gid for the slots to move. `groups` are all groups; only those with
 * servers take part. Throws "no valid group could be found" when none has servers.
 */
export function rebalancePlan(slots: readonly SlotMapping[], groups: Iterable<Group>): Map<number, number> {
  const gids = [...groups].filter((g) => g.servers.length !== 0).map((g) => g.id).sort((a, b) => a - b);
  if (gids.length === 0) throw new Error("no valid group could be found");

  const assigned = new Map<number, number>();
  const pendings = new Map<number, number[]>();
  const moveout = new Map<number, number>();
  let docking: number[] = [];
  const get = (m: Map<number, number>, g: number): number => m.get(g) ?? 0;
  const pend = (g: number): number[] => {
    let l = pendings.get(g);
    if (!l) pendings.set(g, (l = []));
    return l;
  };
  const size = (g: number): number => get(assigned, g) + (pendings.get(g)?.length ?? 0) - get(moveout, g);

  // Slots already being migrated count for their target and are not moved again.
  for (const m of slots) {
    if (m.action.state !== "") assigned.set(m.action.target_id, get(assigned, m.action.target_id) + 1);
  }
  const lower = Math.floor(MAX_SLOT_NUM / gids.length);
  // A group keeps its first `lower` slots; the rest are candidates to move out.
  for (const m of slots) {
    if (m.action.state !== "" || m.group_id === 0) continue;
    if (size(m.group_id) < lower) assigned.set(m.group_id, get(assigned, m.group_id) + 1);
    else pend(m.group_id).push(m.id);
  }

  // codis keeps the groups in a red-black tree ordered by (size, gid); with at most a few
  // thousand groups a sorted pick is as good and keeps the same order.
  const tree = new Set<number>(gids);
  const cmp = (a: number, b: number): number => size(a) - size(b) || a - b;
  const left = (): number => [...tree].sort(cmp)[0]!;
  const right = (): number => [...tree].sort(cmp).at(-1)!;

  // Offline slots go to whichever group is smallest at the time.
  for (const m of slots) {
    if (m.action.state !== "" || m.group_id !== 0) continue;
    const dest = left();
    docking.push(m.id);
    moveout.set(dest, get(moveout, dest) - 1);
  }

  const upper = Math.ceil(MAX_SLOT_NUM / gids.length);
  while (tree.size >= 2) {
    const from = right();
    tree.delete(from);
    if ((pendings.get(from)?.length ?? 0) === get(moveout, from)) continue;
    const dest = left();
    tree.delete(dest);
    const fromSize = size(from);
    const destSize = size(dest);
    if (fromSize <= lower || destSize >= upper || fromSize - destSize <= 1) break;
    moveout.set(from, get(moveout, from) + 1);
    moveout.set(dest, get(moveout, dest) - 1);
    tree.add(from);
    tree.add(dest);
  }

  for (const [gid, n] of [...moveout]) {
    if (n < 0) continue;
    if (n > 0) {
      const sids = [...(pendings.get(gid) ?? [])].sort((a, b) => b - a);
      docking.push(...sids.slice(0, n));
      pendings.set(gid, sids.slice(n));
    }
    moveout.delete(gid);
  }
  docking = docking.sort((a, b) => a - b);

  const plan = new Map<number, number>();
  let next = 0;
  for (const gid of gids) {
    const take = -get(moveout, gid);
    for (let i = 0; i < take && next < docking.length; i++) plan.set(docking[next++]!, gid);
  }
  return plan;
}
