// The dashboard's slots (codis topom_slots.go): slot actions (one, some, a range), assignment
// to groups and offline, rebalance, and the action engine's knobs. The migration itself runs
// in migration.ts.
import { ApiError } from "../http.js";
import { newSlotMapping, toSlots, type SlotMapping } from "../models.js";
import { errText } from "./log.js";
import { rebalancePlan } from "./rebalance.js";
import { clone, type Topology } from "./topology.js";
import type { Topom } from "./topom.js";

export class SlotOps {
  constructor(private readonly t: Topom) {}

  /** GET .../slots: all 1024 slots converted with no proxy given. */
  list(): ReturnType<typeof toSlots> {
    const topo = this.t.topology();
    return toSlots(this.t.slotContext(topo), topo.slots);
  }

  slotCreateAction(sid: number, gid: number): Promise<void> {
    return this.t.withLock(async () => {
      const topo = this.t.topology();
      const g = topo.getGroup(gid);
      if (g.servers.length === 0) throw new ApiError(`group-[${gid}] is empty`);
      const m = topo.getSlot(sid);
      if (m.action.state !== "") throw new ApiError(`slot-[${sid}] action already exists`);
      if (m.group_id === gid) throw new ApiError(`slot-[${sid}] already in group-[${gid}]`);
      await this.schedule(topo, [sid], gid);
    });
  }

  slotCreateActionSome(src: number, dst: number, num: number): Promise<void> {
    return this.t.withLock(async () => {
      const topo = this.t.topology();
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
    return this.t.withLock(async () => {
      const topo = this.t.topology();
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
    if (sids.length) this.t.engine.kick();
  }

  slotRemoveAction(sid: number): Promise<void> {
    return this.t.withLock(async () => {
      const topo = this.t.topology();
      const m = topo.getSlot(sid);
      if (m.action.state === "") throw new ApiError(`slot-[${sid}] action doesn't exist`);
      if (m.action.state !== "pending") throw new ApiError(`slot-[${sid}] action isn't pending`);
      await topo.updateSlot(newSlotMapping(m.id, m.group_id));
    });
  }

  setSlotActionInterval(us: number): void {
    this.t.engine.interval = Math.min(1_000_000, Math.max(0, us));
    this.t.log.warn(`set action interval = ${this.t.engine.interval}`);
  }

  setSlotActionDisabled(value: boolean): void {
    this.t.engine.disabled = value;
    this.t.log.warn(`set action disabled = ${value}`);
    if (!value) this.t.engine.kick();
  }

  slotsAssignGroup(entries: readonly SlotMapping[]): Promise<void> {
    return this.t.withLock(async () => {
      const topo = this.t.topology();
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
      this.t.log.warn(`slot-[${slots.map((m) => m.id).join(",")}] will be mapped to group-[${[...new Set(slots.map((m) => m.group_id))].join(",")}]`);
      await topo.updateSlots(slots);
      await this.t.resync(slots);
    });
  }

  slotsAssignOffline(entries: readonly SlotMapping[]): Promise<void> {
    return this.t.withLock(async () => {
      const topo = this.t.topology();
      for (const m of entries) {
        topo.getSlot(m.id);
        if (m.group_id !== 0) throw new ApiError(`group of slot-[${m.id}] should be 0`);
      }
      const slots = [...new Map(entries.map((m) => [m.id, newSlotMapping(m.id)])).values()];
      this.t.log.warn(`slot-[${slots.map((m) => m.id).join(",")}] will be mapped to group-[0] (offline)`);
      await topo.updateSlots(slots);
      await this.t.resync(slots);
    });
  }

  slotsRebalance(confirm: boolean): Promise<Map<number, number>> {
    return this.t.withLock(async () => {
      const topo = this.t.topology();
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
      if (plan.size) this.t.engine.kick();
      return plan;
    });
  }

}
