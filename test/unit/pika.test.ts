// Pika support, the parts that need no server: Pika's internal keys, `pkcluster info slot`
// parsing (the replies recorded from the real 3.4.0 in ../shared/peers/pika/observed-3.4.0.txt),
// slot lists, and which method moves a slot between two kinds of servers.
import { describe, expect, it } from "vitest";
import type { BackendInfo } from "../../src/control/backends/kind.js";
import { describeBackend, mixReason, unusableReason } from "../../src/control/backends/kind.js";
import { binlogPos, parseSlotInfo, slotList } from "../../src/control/backends/pika-cluster.js";
import { isPikaInternalKey, migrationPlan } from "../../src/control/movers/index.js";
import { sameAddr } from "../../src/control/movers/pika-replication.js";

describe("isPikaInternalKey", () => {
  it("knows Pika's slot sets and nothing else", () => {
    const yes = ["_internal:slotkey:4migrate:5", "_internal:slotkey:4migrate:-735", "_internal:slottag:4migrate:59357059"];
    const no = ["_internal:slotkey:4migrat", "_internal:other:1", "internal:slotkey:4migrate:5", "k771", "", "_", "_internal:slotkey:4migrate"];
    for (const k of yes) expect(isPikaInternalKey(Buffer.from(k)), k).toBe(true);
    for (const k of no) expect(isPikaInternalKey(Buffer.from(k)), k).toBe(false);
  });
});

describe("parseSlotInfo (pkcluster info slot, Pika 3.4.0)", () => {
  it("a master with a slave and its lag", () => {
    const text = "(db0:5) binlog_offset=0 392,safety_purge=none\r\n  Role: Master\r\n  connected_slaves: 1\r\n  slave[0]: 127.0.0.1:19222\r\n  replication_status: SlaveBinlogSync\r\n  lag: 0\r\n\r\n";
    expect([...parseSlotInfo(text).values()]).toEqual([
      { sid: 5, file: 0, offset: 392, role: "master", slaves: [{ addr: "127.0.0.1:19222", status: "SlaveBinlogSync", lag: 0 }] },
    ]);
  });

  it("a slave, two blocks, an empty reply", () => {
    const text = "(db0:13) binlog_offset=0 0,safety_purge=none\r\n  Role: Master\r\n  connected_slaves: 0\r\n\r\n"
      + "(db0:14) binlog_offset=3 17,safety_purge=none\r\n  Role: Slave\r\n  master: 127.0.0.1:19221\r\n  slave status: kWaitReply\r\n\r\n\r\n";
    const m = parseSlotInfo(text);
    expect(m.get(13)).toEqual({ sid: 13, file: 0, offset: 0, role: "master", slaves: [] });
    expect(m.get(14)).toEqual({ sid: 14, file: 3, offset: 17, role: "slave", master: "127.0.0.1:19221", slaveStatus: "kWaitReply", slaves: [] });
    expect(parseSlotInfo("").size).toBe(0);
    expect(binlogPos(m.get(14)!)).toBeGreaterThan(binlogPos({ file: 2, offset: 2 ** 31 }));
  });

  it("a slave that serves its own slave (chained): both parts in one block", () => {
    const text = "(db0:5) binlog_offset=0 28975044,safety_purge=none\r\n  Role: Master\r\n  connected_slaves: 1\r\n  slave[0]: 127.0.0.1:21102\r\n"
      + "  replication_status: SlaveBinlogSync\r\n  lag: 0\r\n  -----------\r\n  Role: Slave\r\n  master: 127.0.0.1:21100\r\n  slave status: kConnected\r\n\r\n";
    expect(parseSlotInfo(text).get(5)).toEqual({
      sid: 5, file: 0, offset: 28975044, role: "slave", master: "127.0.0.1:21100", slaveStatus: "kConnected",
      slaves: [{ addr: "127.0.0.1:21102", status: "SlaveBinlogSync", lag: 0 }],
    });
  });
});

describe("slotList / sameAddr", () => {
  it("ranges and singles, sorted, deduplicated", () => {
    expect(slotList([7, 0, 1, 2, 3, 9, 10, 3])).toBe("0-3,7,9-10");
    expect(slotList([5])).toBe("5");
    expect(slotList([])).toBe("");
  });
  it("compares addresses by text, and loopback names by port", () => {
    expect(sameAddr("127.0.0.1:9221", "127.0.0.1:9221")).toBe(true);
    expect(sameAddr("localhost:9221", "127.0.0.1:9221")).toBe(true);
    expect(sameAddr("127.0.0.1:9222", "127.0.0.1:9221")).toBe(false);
    expect(sameAddr("10.0.0.1:9221", "127.0.0.1:9221")).toBe(false);
    expect(sameAddr(undefined, "127.0.0.1:9221")).toBe(false);
  });
});

const info = (kind: BackendInfo["kind"], extra: Partial<BackendInfo> = {}): BackendInfo => ({
  kind, server: kind === "redis" ? "redis" : kind === "codis-server" ? "codis-server" : "pika",
  version: kind.startsWith("pika") ? (kind === "pika-sharding" ? "3.4.0" : "4.0.0") : "7.0.15",
  ...(kind === "pika-classic" ? { slotmigrate: true, slotNumbersOk: true, databases: 1 } : {}),
  ...extra,
});

describe("migrationPlan: how a slot moves between two kinds of servers", () => {
  const plan = (from: BackendInfo | undefined, to: BackendInfo | undefined, configured: "sync" | "semi-async" | "redis" = "semi-async") =>
    migrationPlan(configured, from ? "s:1" : "", from, "t:1", to);

  it("Pika 3.4 ↔ Pika 3.4 by replication; into Pika 3.4 from nowhere too (the slot is only added)", () => {
    expect(plan(info("pika-sharding"), info("pika-sharding"))).toEqual({ how: "replication" });
    expect(plan(undefined, info("pika-sharding"))).toEqual({ how: "replication" });
  });

  it("Pika 3.4 with any other kind is refused, both ways, with the reason", () => {
    for (const other of ["redis", "codis-server", "pika-classic"] as const) {
      expect(plan(info("pika-sharding"), info(other))).toMatchObject({ how: "refused", reason: expect.stringMatching(/no command that moves keys/) });
      expect(plan(info(other), info("pika-sharding"))).toMatchObject({ how: "refused", reason: expect.stringMatching(/only come from another Pika 3.4/) });
    }
  });

  it("from Pika classic: the pika mover whatever migration_method says, to Pika, Redis or codis-server", () => {
    for (const to of ["pika-classic", "redis", "codis-server"] as const) {
      for (const m of ["sync", "semi-async", "redis"] as const) expect(plan(info("pika-classic"), info(to), m)).toEqual({ how: "mover", method: "pika" });
    }
    // 3.5.0's wrong slot numbers do not matter to this mover (it never asks Pika for them).
    expect(plan(info("pika-classic", { slotNumbersOk: false }), info("pika-classic"))).toEqual({ how: "mover", method: "pika" });
  });

  it("into Pika classic only from Pika classic; Pika with slotmigrate off or several dbs is refused", () => {
    expect(plan(info("redis"), info("pika-classic"))).toMatchObject({ how: "refused", reason: expect.stringMatching(/no DUMP payload/) });
    expect(plan(info("codis-server"), info("pika-classic"))).toMatchObject({ how: "refused" });
    expect(plan(info("pika-classic", { slotmigrate: false }), info("pika-classic"))).toMatchObject({ how: "refused", reason: expect.stringMatching(/slotmigrate/) });
    expect(plan(info("pika-classic"), info("pika-classic", { databases: 2 }))).toMatchObject({ how: "refused", reason: expect.stringMatching(/databases : 1/) });
    expect(plan(info("pika-classic", { cacheModel: 1 }), info("pika-classic"))).toMatchObject({ how: "refused", reason: expect.stringMatching(/cache-model : 0/) });
    expect(plan(info("pika-classic", { cacheModel: 0 }), info("pika-classic", { cacheModel: 0 }))).toEqual({ how: "mover", method: "pika" });
  });

  it("Redis and codis-server keep migration_method, redis when either is plain Redis", () => {
    expect(plan(info("codis-server"), info("codis-server"))).toEqual({ how: "mover", method: "semi-async" });
    expect(plan(info("codis-server"), info("codis-server"), "sync")).toEqual({ how: "mover", method: "sync" });
    expect(plan(info("codis-server"), info("redis"))).toEqual({ how: "mover", method: "redis" });
    expect(plan(info("redis"), info("redis"), "sync")).toEqual({ how: "mover", method: "redis" });
  });
});

describe("backend kinds", () => {
  it("describes and refuses mixes and unusable Pika settings", () => {
    expect(describeBackend(info("pika-sharding"))).toBe("pika-sharding 3.4.0");
    expect(describeBackend({ kind: "redis", server: "valkey", version: "8.0.1" })).toBe("valkey 8.0.1");
    expect(mixReason(1, "b:1", info("redis"), "a:1", info("codis-server"))).toMatch(/group-\[1\] holds a:1 \(codis-server 7.0.15\): server b:1 is redis 7.0.15/);
    expect(mixReason(1, "b:1", info("pika-classic"), "a:1", info("pika-classic", { version: "3.5.0" }))).toBeUndefined();
    expect(unusableReason("p:1", info("pika-classic", { slotmigrate: false }))).toMatch(/slotmigrate : yes/);
    expect(unusableReason("p:1", info("pika-sharding", { slotNum: 128 }))).toMatch(/default-slot-num 128/);
    expect(unusableReason("p:1", info("pika-sharding", { slotNum: 1024 }))).toBeUndefined();
  });
});

describe("forward method proxies get for a migrating slot (Topom.slotContext)", () => {
  it("3 (sync + EXISTS check) whenever Pika is the source or the target, whatever migration_method says", async () => {
    const { Topom } = await import("../../src/control/dashboard/topom.js");
    const { defaultConfig } = await import("../../src/control/dashboard/config.js");
    const { MemoryStore } = await import("../../src/control/store/store.js");
    const { silentLogger } = await import("../../src/control/dashboard/log.js");
    const { ForwardMethod, newGroup, newGroupServer } = await import("../../src/control/models.js");
    const kinds: Record<string, BackendInfo> = {
      "p:1": info("pika-classic"), "p:2": info("pika-classic", { slotNumbersOk: false }),
      "c:1": info("codis-server"), "c:2": info("codis-server"), "r:1": info("redis"),
    };
    for (const configured of ["semi-async", "redis", "sync"]) {
      const t = new Topom({
        config: { ...defaultConfig(), product_name: "unit", migration_method: configured }, store: new MemoryStore(),
        connect: () => Promise.reject(new Error("no server in this test")), log: silentLogger,
      });
      await t.start();
      try {
        const topo = t.topology();
        const gids = new Map<string, number>();
        for (const [i, addr] of Object.keys(kinds).entries()) {
          const g = newGroup(i + 1);
          g.servers = [newGroupServer(addr)];
          await topo.createGroup(g);
          gids.set(addr, i + 1);
          t.noteKind(addr, kinds[addr]!);
        }
        const ctx = t.slotContext(topo);
        const method = (from: string, to: string): number => {
          const m = { id: 1, group_id: gids.get(from)!, action: { index: 1, state: "migrating", target_id: gids.get(to)! } };
          return (ctx.method as (m: unknown) => number)(m);
        };
        expect(method("p:1", "p:2"), configured).toBe(ForwardMethod.Pika);
        expect(method("p:1", "r:1"), configured).toBe(ForwardMethod.Pika);
        expect(method("p:2", "c:1"), configured).toBe(ForwardMethod.Pika);
        const codis = configured === "sync" ? ForwardMethod.Sync : configured === "redis" ? ForwardMethod.Redis : ForwardMethod.SemiAsync;
        expect(method("c:1", "c:2"), configured).toBe(codis);
        expect(method("c:1", "r:1"), configured).toBe(ForwardMethod.Redis);
      } finally {
        await t.close();
      }
    }
  });
});
