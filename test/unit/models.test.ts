import { describe, expect, it } from "vitest";
import {
  ActionState, DecodeError, decodeGroup, decodeProxy, decodeSentinel, decodeSlot, decodeSlotMapping, decodeSlots,
  encodeGroup, encodeProxy, encodeSentinel, encodeSlot, encodeSlotMapping, newGroup, newGroupServer, newProxy,
  newSlot, newSlotMapping, parseForwardMethod, toReplicaGroups, toSlot, type Group, type SlotContext, type SlotMapping,
} from "../../src/control/models.js";

function group(id: number, servers: string[], promoting = ""): Group {
  const g = newGroup(id);
  g.servers = servers.map((s) => newGroupServer(s));
  g.promoting.state = promoting;
  return g;
}

function mapping(id: number, gid: number, state = "", target = 0): SlotMapping {
  const m = newSlotMapping(id, gid);
  if (state) m.action = { index: 1, state, target_id: target };
  return m;
}

function ctxOf(groups: Group[], method = 1): SlotContext {
  return { groups: new Map(groups.map((g) => [g.id, g])), method };
}

describe("toSlot: every action state (api.md §4.3)", () => {
  const g1 = group(1, ["10.0.0.1:6379", "10.0.0.2:6379"]);
  const g2 = group(2, ["10.0.0.3:6379"]);
  g1.servers[1]!.replica_group = true;
  const ctx = ctxOf([g1, g2]);

  const table: { state: string; backend: string; bgid: number; from: string; fgid: number; locked: boolean; replicas: boolean }[] = [
    { state: "", backend: "10.0.0.1:6379", bgid: 1, from: "", fgid: 0, locked: false, replicas: true },
    { state: "pending", backend: "10.0.0.1:6379", bgid: 1, from: "", fgid: 0, locked: false, replicas: true },
    { state: "preparing", backend: "10.0.0.1:6379", bgid: 1, from: "", fgid: 0, locked: false, replicas: false },
    { state: "prepared", backend: "10.0.0.3:6379", bgid: 2, from: "10.0.0.1:6379", fgid: 1, locked: true, replicas: false },
    { state: "migrating", backend: "10.0.0.3:6379", bgid: 2, from: "10.0.0.1:6379", fgid: 1, locked: false, replicas: false },
    { state: "finished", backend: "10.0.0.3:6379", bgid: 2, from: "", fgid: 0, locked: false, replicas: false },
  ];
  for (const row of table) {
    it(`state "${row.state}"`, () => {
      const s = toSlot(ctx, mapping(7, 1, row.state, row.state ? 2 : 0));
      expect(s.id).toBe(7);
      expect(s.backend_addr).toBe(row.backend);
      expect(s.backend_addr_group_id).toBe(row.bgid);
      expect(s.migrate_from).toBe(row.from);
      expect(s.migrate_from_group_id).toBe(row.fgid);
      expect(s.locked).toBe(row.locked);
      expect(s.forward_method).toBe(1);
      expect(s.replica_groups).toEqual(row.replicas ? [["10.0.0.2:6379"]] : []);
    });
  }

  it("an offline slot has no backend", () => {
    const s = toSlot(ctx, mapping(3, 0));
    expect(encodeSlot(s)).toEqual({ id: 3, forward_method: 1 });
  });

  it("an invalid state throws", () => {
    expect(() => toSlot(ctx, mapping(3, 1, "bogus", 2))).toThrow("slot-[3] action state is invalid");
  });

  it("forward_method may depend on the mapping (plain Redis source → 2)", () => {
    const c: SlotContext = { ...ctx, method: (m) => (m.group_id === 1 ? 2 : 1) };
    expect(toSlot(c, mapping(1, 1, "migrating", 2)).forward_method).toBe(2);
    expect(toSlot(c, mapping(1, 2, "migrating", 1)).forward_method).toBe(1);
  });
});

describe("locked rules: a group is locked while its promotion is prepared", () => {
  const states = ["", "preparing", "prepared", "finished"];
  for (const srcP of states) {
    for (const dstP of states) {
      it(`source promoting "${srcP}", target promoting "${dstP}"`, () => {
        const ctx = ctxOf([group(1, ["a:1"], srcP), group(2, ["b:1"], dstP)]);
        const src = srcP === "prepared";
        const dst = dstP === "prepared";
        const want: Record<string, boolean> = {
          "": src, pending: src, preparing: src, prepared: true, migrating: src || dst, finished: dst,
        };
        for (const [state, locked] of Object.entries(want)) {
          expect(toSlot(ctx, mapping(0, 1, state, state ? 2 : 0)).locked, state).toBe(locked);
        }
      });
    }
  }
  it("an invalid promoting state throws", () => {
    expect(() => toSlot(ctxOf([group(1, ["a:1"], "weird")]), mapping(0, 1))).toThrow("invalid state of group-[1]");
  });
});

describe("replica_groups", () => {
  function g(): Group {
    const x = group(1, ["10.0.0.1:6379", "10.0.0.2:6379", "10.0.0.3:6379", "10.0.0.4:6379", "10.0.0.5:6379"]);
    const dcs = ["", "dc1", "dc1", "dc2", "dc1"];
    x.servers.forEach((s, i) => { s.datacenter = dcs[i]!; s.replica_group = i !== 4; });
    return x;
  }
  it("without a proxy: one list, replica_group servers in order (master included when flagged)", () => {
    const x = g();
    x.servers[0]!.replica_group = false;
    expect(toReplicaGroups(ctxOf([x]), 1)).toEqual([["10.0.0.2:6379", "10.0.0.3:6379", "10.0.0.4:6379"]]);
  });
  it("with a proxy: same IP+DC, same DC, rest", () => {
    const p = newProxy();
    p.admin_addr = "10.0.0.2:11080";
    p.datacenter = "dc1";
    expect(toReplicaGroups(ctxOf([g()]), 1, p)).toEqual([["10.0.0.2:6379"], ["10.0.0.3:6379"], ["10.0.0.1:6379", "10.0.0.4:6379"]]);
  });
  it("uses the resolver for IPs", () => {
    const p = newProxy();
    p.admin_addr = "proxyhost:11080";
    p.datacenter = "dc1";
    const ctx: SlotContext = { ...ctxOf([g()]), ipOf: (a) => (a.startsWith("proxyhost") ? "10.0.0.3" : a.split(":")[0]) };
    expect(toReplicaGroups(ctx, 1, p)).toEqual([["10.0.0.3:6379"], ["10.0.0.2:6379"], ["10.0.0.1:6379", "10.0.0.4:6379"]]);
  });
  it("an unresolvable proxy puts everything last", () => {
    const p = newProxy();
    p.admin_addr = "x:1";
    p.datacenter = "dc1";
    const ctx: SlotContext = { ...ctxOf([g()]), ipOf: () => undefined };
    expect(toReplicaGroups(ctx, 1, p)).toEqual([["10.0.0.1:6379", "10.0.0.2:6379", "10.0.0.3:6379", "10.0.0.4:6379"]]);
  });
  it("none for a single-server group or a promoting group", () => {
    const one = group(1, ["a:1"]);
    one.servers[0]!.replica_group = true;
    expect(toReplicaGroups(ctxOf([one]), 1)).toEqual([]);
    const x = g();
    x.promoting.state = "preparing";
    expect(toReplicaGroups(ctxOf([x]), 1)).toEqual([]);
  });
});

describe("JSON encoding omits zero fields exactly as codis (§4.1)", () => {
  it("an idle slot mapping has an empty action", () => {
    expect(JSON.stringify(encodeSlotMapping(newSlotMapping(5)))).toBe('{"id":5,"group_id":0,"action":{}}');
    expect(encodeSlotMapping(mapping(5, 1, "pending", 2))).toEqual({ id: 5, group_id: 1, action: { index: 1, state: "pending", target_id: 2 } });
  });
  it("groups keep servers and out_of_sync, drop zero promoting/action fields", () => {
    const g = group(3, ["a:1"]);
    expect(JSON.stringify(encodeGroup(g))).toBe(
      '{"id":3,"servers":[{"server":"a:1","datacenter":"","action":{},"replica_group":false}],"promoting":{},"out_of_sync":false}');
    expect(JSON.stringify(encodeGroup(newGroup(4)))).toBe('{"id":4,"servers":[],"promoting":{},"out_of_sync":false}');
    g.promoting = { index: 0, state: "preparing" };
    g.servers[0]!.action = { index: 2, state: "pending" };
    expect(encodeGroup(g).promoting).toEqual({ state: "preparing" });
    expect(encodeGroup(g).servers[0]!.action).toEqual({ index: 2, state: "pending" });
  });
  it("proxy drops id 0 and an empty jodis_path only", () => {
    const p = newProxy();
    const o = encodeProxy(p);
    expect("id" in o).toBe(false);
    expect("jodis_path" in o).toBe(false);
    expect(Object.keys(o)).toEqual(["token", "start_time", "admin_addr", "proto_type", "proxy_addr", "product_name", "pid", "pwd", "sys", "hostname", "datacenter"]);
    p.id = 2;
    p.jodis_path = "/jodis/x";
    expect(encodeProxy(p)).toMatchObject({ id: 2, jodis_path: "/jodis/x" });
  });
  it("sentinel drops empty servers", () => {
    expect(encodeSentinel({ servers: [], out_of_sync: false })).toEqual({ out_of_sync: false });
    expect(encodeSentinel({ servers: ["s:1"], out_of_sync: true })).toEqual({ servers: ["s:1"], out_of_sync: true });
  });
  it("slot keeps only id when everything is zero", () => {
    expect(encodeSlot(newSlot(9))).toEqual({ id: 9 });
    const s = newSlot(1);
    s.locked = true;
    s.replica_groups = [["a:1"]];
    s.forward_method = 2;
    expect(encodeSlot(s)).toEqual({ id: 1, locked: true, forward_method: 2, replica_groups: [["a:1"]] });
  });
  it("encode/decode round-trips", () => {
    const m = mapping(8, 2, "migrating", 3);
    expect(decodeSlotMapping(JSON.stringify(encodeSlotMapping(m)))).toEqual(m);
    const g = group(2, ["a:1", "b:2"], "prepared");
    g.promoting.index = 1;
    g.out_of_sync = true;
    expect(decodeGroup(JSON.stringify(encodeGroup(g)))).toEqual(g);
    const p = newProxy();
    p.token = "t";
    p.pid = 12;
    expect(decodeProxy(encodeProxy(p))).toEqual(p);
    expect(decodeSentinel('{"out_of_sync":true}')).toEqual({ servers: [], out_of_sync: true });
    const s = newSlot(3);
    s.migrate_from = "x:1";
    expect(decodeSlot(encodeSlot(s))).toEqual(s);
  });
});

describe("decoding follows Go encoding/json", () => {
  it("missing and null fields are zero, unknown fields are ignored", () => {
    expect(decodeSlotMapping('{"id":4,"action":null,"extra":1}')).toEqual(newSlotMapping(4));
    expect(decodeGroup('{"id":1,"servers":null}')).toEqual(newGroup(1));
  });
  it("a wrong type fails the record", () => {
    expect(() => decodeSlotMapping('{"id":"4"}')).toThrow(DecodeError);
    expect(() => decodeSlotMapping('{"id":4.5}')).toThrow(/cannot unmarshal number 4.5 into Go struct field SlotMapping.id of type int/);
    expect(() => decodeGroup('{"id":1,"out_of_sync":"no"}')).toThrow(DecodeError);
    expect(() => decodeSlot({ id: 1, replica_groups: ["a"] })).toThrow(DecodeError);
    expect(() => decodeSlotMapping("{")).toThrow(/invalid json/);
  });
  it("decodeSlots: null is an empty list, an object is an error", () => {
    expect(decodeSlots("null")).toEqual([]);
    expect(decodeSlots([{ id: 1 }, { id: 2, locked: true }]).map((s) => s.locked)).toEqual([false, true]);
    expect(() => decodeSlots("{}")).toThrow(DecodeError);
  });
});

describe("parseForwardMethod", () => {
  it("accepts codis's names in any case and slotway's redis", () => {
    expect(parseForwardMethod("sync")).toBe(0);
    expect(parseForwardMethod("SEMI-ASYNC")).toBe(1);
    expect(parseForwardMethod("redis")).toBe(2);
    expect(parseForwardMethod("async")).toBeUndefined();
  });
  it("action state names", () => {
    expect(Object.values(ActionState)).toEqual(["", "pending", "preparing", "prepared", "migrating", "finished"]);
  });
});
