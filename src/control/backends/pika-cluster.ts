// Pika 3.4 sharding mode's `pkcluster` commands, as the dashboard uses them. Every reply shape
// here was checked on the real 3.4.0 (../shared/peers/pika/observed-3.4.0.txt and
// test/integration/pika-facts.test.ts):
//
//   pkcluster addslots 0-3,7        +OK; a slot that exists: -ERR Corruption: partition : 5 exist
//   pkcluster delslots 5            +OK; missing: -ERR Corruption: partition : 200 not exist
//   pkcluster slotsslaveof H P 5 [force]      +OK (even when H lacks slot 5: it then waits in
//                                  kWaitReply for ever, so callers check the master first);
//                                  a slot missing here: -ERR Slot 5 not found!
//   pkcluster slotsslaveof no one 5           +OK
//   pkcluster info slot [5|3-7]     one bulk string, a block per existing slot (no arg: all):
//       (db0:5) binlog_offset=0 392,safety_purge=none
//         Role: Master | Slave
//         connected_slaves: 1            (master)   master: 127.0.0.1:19221   (slave)
//         slave[0]: 127.0.0.1:19222                 slave status: kConnected
//         replication_status: SlaveBinlogSync       (kTryConnect, kTryDBSync, kWaitDBSync,
//         lag: 0                                     kWaitReply, kConnected, kError...)
//
// A slot of a sharding Pika is a RocksDB instance set: ~26 file descriptors, a thread and ~3 MB
// each (measured: fds grow 578 → 4747 for 20 → 180 slots), ~35 once the slots hold data and
// replicate (the soak's servers reached their 20000 at 576 slots; Pika then fails commands with
// "ERR Corruption: open local meta file failed"). Pika 3.4 does not refuse a slot it
// has no descriptors for: the process dies during `addslots` (the connection just closes), and
// then dies again at every restart while loading the same slots, until its `ulimit -n` is raised.
// So the dashboard keeps each server under pika_max_slots_per_server and never adds slots a
// group does not own.
import type { RedisConn } from "../movers/mover.js";

export interface SlotSlave {
  addr: string;
  status: string;
  /** Binlog bytes the slave is behind (absent while it is not in binlog sync). */
  lag?: number;
}

export interface SlotReplState {
  sid: number;
  /** binlog position: file number and offset in it. */
  file: number;
  offset: number;
  role: "master" | "slave";
  /** role slave: "host:port" of its master and the link status (kConnected when syncing binlog). */
  master?: string;
  slaveStatus?: string;
  /** role master: its slaves. */
  slaves: SlotSlave[];
}

/** Parses `pkcluster info slot ...` text into one state per slot block. */
export function parseSlotInfo(text: string): Map<number, SlotReplState> {
  const out = new Map<number, SlotReplState>();
  let cur: SlotReplState | undefined;
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    let m = /^\(db\d+:(\d+)\)\s+binlog_offset=(\d+)\s+(\d+)/.exec(line);
    if (m) {
      cur = { sid: Number(m[1]), file: Number(m[2]), offset: Number(m[3]), role: "master", slaves: [] };
      out.set(cur.sid, cur);
      continue;
    }
    if (!cur) continue;
    if ((m = /^Role:\s*(\w+)/i.exec(line))) cur.role = m[1]!.toLowerCase() === "slave" ? "slave" : "master";
    else if ((m = /^master:\s*(\S+)/.exec(line))) cur.master = m[1];
    else if ((m = /^slave status:\s*(\S+)/.exec(line))) cur.slaveStatus = m[1];
    else if ((m = /^slave\[\d+\]:\s*(\S+)/.exec(line))) cur.slaves.push({ addr: m[1]!, status: "" });
    else if ((m = /^replication_status:\s*(\S+)/.exec(line))) {
      const s = cur.slaves.at(-1);
      if (s) s.status = m[1]!;
    } else if ((m = /^lag:\s*(\d+)/.exec(line))) {
      const s = cur.slaves.at(-1);
      if (s) s.lag = Number(m[1]);
    }
  }
  return out;
}

/** "0-3,7,9-10" for a set of slots (Pika accepts ranges and comma lists). */
export function slotList(sids: Iterable<number>): string {
  const s = [...new Set(sids)].sort((a, b) => a - b);
  const parts: string[] = [];
  for (let i = 0; i < s.length; ) {
    let j = i;
    while (j + 1 < s.length && s[j + 1] === s[j]! + 1) j++;
    parts.push(i === j ? String(s[i]) : `${s[i]}-${s[j]}`);
    i = j + 1;
  }
  return parts.join(",");
}

/** Replication state of the given slots (all slots when sids is undefined); missing slots are absent. */
export async function slotInfo(conn: RedisConn, sids?: readonly number[]): Promise<Map<number, SlotReplState>> {
  if (sids !== undefined && sids.length === 0) return new Map();
  // Long lists are asked in pieces: one argument per request stays small.
  if (sids !== undefined && sids.length > 256) {
    const out = new Map<number, SlotReplState>();
    for (let i = 0; i < sids.length; i += 256) for (const [k, v] of await slotInfo(conn, sids.slice(i, i + 256))) out.set(k, v);
    return out;
  }
  const r = sids === undefined ? await conn.call("PKCLUSTER", "INFO", "SLOT") : await conn.call("PKCLUSTER", "INFO", "SLOT", slotList(sids));
  return parseSlotInfo(String(r ?? ""));
}

/** Slots per `addslots` command: each takes Pika 3.4 ~150 ms (a RocksDB instance set opened). */
export const ADDSLOTS_CHUNK = 16;

/**
 * Adds the slots the server does not have yet; returns those it added. Asks first, since one
 * existing slot fails a whole `addslots` list; adds ADDSLOTS_CHUNK at a time so each command
 * answers within seconds (the connection's timeout must allow ~3 s).
 */
export async function addMissingSlots(conn: RedisConn, sids: readonly number[]): Promise<number[]> {
  const have = await slotInfo(conn, sids);
  const missing = sids.filter((s) => !have.has(s));
  if (missing.length === 0) return [];
  try {
    for (let i = 0; i < missing.length; i += ADDSLOTS_CHUNK) {
      await conn.call("PKCLUSTER", "ADDSLOTS", slotList(missing.slice(i, i + ADDSLOTS_CHUNK)));
    }
  } catch (e) {
    if (isConnectionLoss(e)) {
      throw new Error(`${errMessage(e)} during pkcluster addslots: Pika 3.4 exits when it runs out of file descriptors `
        + `(each slot costs ~26); raise its ulimit -n, restart it, and check pika_max_slots_per_server`);
    }
    throw e;
  }
  return missing;
}

/** Deletes the slots the server has (a missing slot is not an error). */
export async function delSlots(conn: RedisConn, sids: readonly number[]): Promise<number[]> {
  const have = await slotInfo(conn, sids);
  const present = sids.filter((s) => have.has(s));
  if (present.length) await conn.call("PKCLUSTER", "DELSLOTS", slotList(present));
  return present;
}

/** `pkcluster slotsslaveof host port slots [force]`. */
export async function slaveOf(conn: RedisConn, master: string, sids: readonly number[], force = false): Promise<void> {
  if (sids.length === 0) return;
  const i = master.lastIndexOf(":");
  const host = master.slice(0, i).replace(/^\[|\]$/g, "");
  const args = ["PKCLUSTER", "SLOTSSLAVEOF", host, master.slice(i + 1), slotList(sids)];
  if (force) args.push("force");
  await conn.call(...args);
}

/** `pkcluster slotsslaveof no one slots|all`. */
export async function slaveOfNoOne(conn: RedisConn, sids: readonly number[] | "all"): Promise<void> {
  if (sids !== "all" && sids.length === 0) return;
  await conn.call("PKCLUSTER", "SLOTSSLAVEOF", "no", "one", sids === "all" ? "all" : slotList(sids));
}

/** The position as one comparable number (file numbers roll at binlog-file-size ≤ 2 GB). */
export function binlogPos(s: Pick<SlotReplState, "file" | "offset">): number {
  return s.file * 2 ** 32 + s.offset;
}

function errMessage(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

function isConnectionLoss(e: unknown): boolean {
  return /connection closed|ECONNRESET|EPIPE|socket hang up/i.test(errMessage(e));
}
