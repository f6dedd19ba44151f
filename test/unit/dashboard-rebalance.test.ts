import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { rebalancePlan } from "../../src/control/dashboard/rebalance.js";
import { newGroup, newGroupServer, newSlotMapping, type Group, type SlotMapping } from "../../src/control/models.js";

function groups(...ids: number[]): Group[] {
  return ids.map((id) => {
    const g = newGroup(id);
    g.servers = [newGroupServer(`10.0.0.${id}:6379`)];
    return g;
  });
}

function slots(owner: (sid: number) => number): SlotMapping[] {
  return Array.from({ length: 1024 }, (_, i) => newSlotMapping(i, owner(i)));
}

function ranges(plan: Map<number, number>): string[] {
  const out: string[] = [];
  let beg = -1;
  let end = -1;
  let gid = -1;
  for (const sid of [...plan.keys()].sort((a, b) => a - b)) {
    if (beg <= end && sid === end + 1 && plan.get(sid) === gid) {
      end = sid;
      continue;
    }
    if (beg >= 0) out.push(`[${beg},${end}] => ${gid}`);
    beg = end = sid;
    gid = plan.get(sid)!;
  }
  if (beg >= 0) out.push(`[${beg},${end}] => ${gid}`);
  return out;
}

describe("rebalance plan (codis SlotsRebalance)", () => {
  it("no group with servers is an error; empty groups do not take part", () => {
    expect(() => rebalancePlan(slots(() => 0), [newGroup(1)])).toThrow("no valid group could be found");
    expect(ranges(rebalancePlan(slots(() => 1), [...groups(1), newGroup(2)]))).toEqual([]);
  });

  it("two groups, all slots in one: the upper half moves", () => {
    expect(ranges(rebalancePlan(slots(() => 1), groups(1, 2)))).toEqual(["[512,1023] => 2"]);
  });

  it("three groups, all slots in one: the highest pending slots are docked and dealt in gid order", () => {
    expect(ranges(rebalancePlan(slots(() => 1), groups(1, 2, 3)))).toEqual(["[342,682] => 2", "[683,1023] => 3"]);
  });

  it("offline slots are spread over the smallest groups, then dealt in ascending order", () => {
    expect(ranges(rebalancePlan(slots(() => 0), groups(1, 2)))).toEqual(["[0,511] => 1", "[512,1023] => 2"]);
  });

  it("slots with an action count for their target and never move again", () => {
    const s = slots(() => 1);
    for (let i = 512; i < 1024; i++) s[i]!.action = { index: i, state: "pending", target_id: 2 };
    expect(rebalancePlan(s, groups(1, 2)).size).toBe(0);
  });

  it("a balanced cluster gives an empty plan", () => {
    expect(rebalancePlan(slots((i) => (i < 342 ? 1 : i < 683 ? 2 : 3)), groups(1, 2, 3)).size).toBe(0);
  });

  it("property: after the plan every group holds lower..upper slots, and re-planning gives nothing", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 6 }),
        fc.array(fc.integer({ min: 0, max: 6 }), { minLength: 1024, maxLength: 1024 }),
        (n, owners) => {
          const gs = groups(...Array.from({ length: n }, (_, i) => i + 1));
          const s = slots((i) => (owners[i]! > n ? 0 : owners[i]!));
          const plan = rebalancePlan(s, gs);
          for (const [sid, gid] of plan) {
            expect(s[sid]!.group_id).not.toBe(gid);
            expect(gid).toBeGreaterThanOrEqual(1);
            expect(gid).toBeLessThanOrEqual(n);
          }
          const after = s.map((m) => newSlotMapping(m.id, plan.get(m.id) ?? m.group_id));
          const sizes = new Map<number, number>();
          for (const m of after) sizes.set(m.group_id, (sizes.get(m.group_id) ?? 0) + 1);
          expect(sizes.get(0) ?? 0).toBe(0);
          for (let g = 1; g <= n; g++) {
            expect(sizes.get(g) ?? 0).toBeGreaterThanOrEqual(Math.floor(1024 / n));
            expect(sizes.get(g) ?? 0).toBeLessThanOrEqual(Math.ceil(1024 / n));
          }
          expect(rebalancePlan(after, gs).size).toBe(0);
        },
      ),
      { numRuns: 200 },
    );
  });
});
