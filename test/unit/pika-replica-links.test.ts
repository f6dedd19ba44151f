// The dashboard's upkeep of Pika 3.4 replica links (PikaGroupOps.keepReplicasLinked): which
// replica slots it starts again and when, from `pkcluster info slot` texts in the shape the real
// 3.4.0 prints (test/unit/pika.test.ts parses the recorded ones), on a fake clock. The real
// servers' side is in test/integration/pika34-cluster.test.ts (replicas follow, moves finish).
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { parseSlotInfo } from "../../src/control/backends/pika-cluster.js";
import { PikaGroupOps } from "../../src/control/dashboard/pika-groups.js";
import type { Topom } from "../../src/control/dashboard/topom.js";
import type { RedisConn } from "../../src/control/movers/mover.js";

const M = "127.0.0.1:19221";
const R = "127.0.0.1:19222";

const master = (sid: number, slaveStatus?: string, file = 0, offset = 392): string =>
  `(db0:${sid}) binlog_offset=${file} ${offset},safety_purge=none\r\n  Role: Master\r\n  connected_slaves: ${slaveStatus ? 1 : 0}\r\n`
  + (slaveStatus ? `  slave[0]: ${R}\r\n  replication_status: ${slaveStatus}\r\n${slaveStatus === "SlaveBinlogSync" ? "  lag: 0\r\n" : ""}` : "") + "\r\n";
const replica = (sid: number, status: string, file = 0, offset = 392): string =>
  `(db0:${sid}) binlog_offset=${file} ${offset},safety_purge=none\r\n  Role: Slave\r\n  master: ${M}\r\n  slave status: ${status}\r\n\r\n`;

function setup() {
  const sent: string[] = [];
  const warnings: string[] = [];
  const conn: RedisConn = {
    call: async (...args) => { sent.push(args.join(" ")); return "OK"; },
    callBuffer: async () => null,
    close: () => undefined,
  };
  const t = {
    topology: () => ({ groups: new Map([[1, { id: 1, servers: [{ server: M }, { server: R }] }]]) }),
    connect: async (addr: string) => { sent.push(`@${addr}`); return conn; },
    config: { product_auth: "" },
    log: { warn: (s: string) => warnings.push(s) },
  } as unknown as Topom;
  return { ops: new PikaGroupOps(t), sent, warnings };
}

describe("Pika 3.4 replica links (keepReplicasLinked)", () => {
  beforeEach(() => { vi.useFakeTimers({ toFake: ["performance"] }); });
  afterEach(() => { vi.useRealTimers(); });

  it("starts again, after 5 s, a slot stuck in kWaitReply or kConnected/SlaveNotSync; not the healthy or syncing ones", async () => {
    const { ops, sent, warnings } = setup();
    const infos = new Map([
      [M, parseSlotInfo(master(1, "SlaveBinlogSync") + master(2, "SlaveNotSync") + master(3) + master(4, "SlaveDbSync") + master(5, "SlaveNotSync"))],
      [R, parseSlotInfo(replica(1, "kConnected") + replica(2, "kConnected") + replica(3, "kWaitReply", 0, 0) + replica(4, "kWaitDBSync") + replica(5, "kTryConnect"))],
    ]);
    await ops.keepReplicasLinked(infos);
    vi.advanceTimersByTime(4900);
    await ops.keepReplicasLinked(infos);
    expect(sent).toEqual([]);
    vi.advanceTimersByTime(200);
    await ops.keepReplicasLinked(infos);
    // 2 from its own position; 3 is fresh (0 0): a full sync, as when it first followed.
    expect(sent).toEqual([`@${R}`, "PKCLUSTER SLOTSSLAVEOF no one 2-3", "PKCLUSTER SLOTSSLAVEOF 127.0.0.1 19221 3 force", "PKCLUSTER SLOTSSLAVEOF 127.0.0.1 19221 2"]);
    expect(warnings.join("\n")).toMatch(/sync-\[127.0.0.1:19222\] slots 2-3 stay in an unfinished handshake with 127.0.0.1:19221/);
  });

  it("backs off while a slot stays stuck, and forgets a slot once it is fine", async () => {
    const { ops, sent } = setup();
    const stuck = new Map([[M, parseSlotInfo(master(2, "SlaveNotSync"))], [R, parseSlotInfo(replica(2, "kConnected"))]]);
    const fine = new Map([[M, parseSlotInfo(master(2, "SlaveBinlogSync"))], [R, parseSlotInfo(replica(2, "kConnected"))]]);
    const restarts = () => sent.filter((s) => s.startsWith("PKCLUSTER SLOTSSLAVEOF no one")).length;
    await ops.keepReplicasLinked(stuck);
    vi.advanceTimersByTime(5001);
    await ops.keepReplicasLinked(stuck);
    expect(restarts()).toBe(1);
    vi.advanceTimersByTime(9000); // the second wait is 10 s
    await ops.keepReplicasLinked(stuck);
    expect(restarts()).toBe(1);
    vi.advanceTimersByTime(1001);
    await ops.keepReplicasLinked(stuck);
    expect(restarts()).toBe(2);
    await ops.keepReplicasLinked(fine);
    await ops.keepReplicasLinked(stuck);
    vi.advanceTimersByTime(5001);
    await ops.keepReplicasLinked(stuck);
    expect(restarts()).toBe(3);
  });

  it("leaves alone slots the master lacks (its Pika may crash on the detach), slots following another server, and unreadable servers", async () => {
    const { ops, sent } = setup();
    const other = `(db0:4) binlog_offset=0 0,safety_purge=none\r\n  Role: Slave\r\n  master: 127.0.0.1:19999\r\n  slave status: kWaitReply\r\n\r\n`;
    const infos = new Map([[M, parseSlotInfo(master(2))], [R, parseSlotInfo(replica(3, "kWaitReply") + other)]]);
    const unreadable = new Map<string, ReturnType<typeof parseSlotInfo> | string>([[M, "pkcluster info slot: timeout"], [R, parseSlotInfo(replica(2, "kWaitReply"))]]);
    for (const i of [0, 1]) {
      await ops.keepReplicasLinked(infos);
      await ops.keepReplicasLinked(unreadable);
      vi.advanceTimersByTime(6000 * (i + 1));
    }
    expect(sent).toEqual([]);
  });
});
