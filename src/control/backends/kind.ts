// What a group server is, and which version: the dashboard asks each server once (group/add,
// and before a migration touches it) and keeps the answer.
//
//   kind            server                how it is recognised
//   redis           Redis or Valkey       INFO has no pika_version; SLOTSINFO is an unknown command
//   codis-server    codis's Redis fork    INFO has no pika_version; SLOTSINFO answers
//   pika-classic    Pika ≥ 3.5            INFO pika_version; CONFIG GET instance-mode = classic
//   pika-sharding   Pika 3.4              INFO pika_version; CONFIG GET instance-mode = sharding
//
// Facts checked on the real servers of ../shared/peers (test/integration/pika-facts.test.ts):
// Pika 4.0.1 reports pika_version:4.0.0; every Pika answers CONFIG GET instance-mode (3.4 has
// no slotmigrate key); Valkey adds server_name:valkey and valkey_version to INFO.
import type { RedisConn, RedisConnector } from "../movers/mover.js";
import { isUnknownCommand } from "../movers/mover.js";

export type BackendKind = "redis" | "codis-server" | "pika-classic" | "pika-sharding";

export interface BackendInfo {
  kind: BackendKind;
  /** "redis", "valkey", "codis-server" or "pika". */
  server: string;
  /** The server's own version text (INFO pika_version / valkey_version / redis_version). */
  version: string;
  /** pika-classic: CONFIG GET slotmigrate is yes (the SLOTS* commands and the slot sets work). */
  slotmigrate?: boolean;
  /**
   * pika-classic: whether SLOTSHASHKEY agrees with slotway's slot for a key whose CRC-32 is
   * ≥ 2^31 ("foo": codis 289). Pika 3.5.0 answers -735 (it takes the CRC as a signed int), so
   * its SLOTSINFO / SLOTSSCAN / SLOTSMGRTTAGSLOT never see about half of the keys.
   */
  slotNumbersOk?: boolean;
  /** Pika: CONFIG GET default-slot-num (sharding mode must have 1024, codis's slot count). */
  slotNum?: number;
  /** Pika: CONFIG GET databases (migrations need 1: Pika moves every db's keys into db 0). */
  databases?: number;
  /**
   * Pika 3.4: CONFIG GET write-buffer-size. Each slot is 5 RocksDB instances; each preallocates
   * ~4 MB of manifest and, once it holds data, a write-ahead log of 1.1 × write-buffer-size
   * (measured: 17 MB per empty slot; 288 MB more for the first string written with the default
   * 256 MB), so hundreds of slots need a small write-buffer-size or a very large disk.
   */
  writeBufferSize?: number;
  /**
   * Pika 4.x: CONFIG GET cache-model (0 = off). With the cache on (4.0.1's default, 1) reads can
   * be stale: RPOPLPUSH's destination reads back without the element, with no migration at all
   * (found by the soak), and a key moved away still answers EXISTS 1 (checked on 4.0.1).
   */
  cacheModel?: number;
}

/** The key and slot the slot-number check uses: crc32("foo") = 2356372769 ≥ 2^31. */
export const SLOT_CHECK_KEY = "foo";
export const SLOT_CHECK_SLOT = 289;

/** "pika-sharding 3.4.0", "redis 7.0.15", "valkey 8.0.1" ... */
export function describeBackend(b: BackendInfo): string {
  const name = b.kind === "redis" ? b.server : b.kind;
  return `${name} ${b.version}`;
}

/** INFO text → fields (sections and blank lines skipped). */
function infoFields(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of text.split("\n")) {
    const i = line.indexOf(":");
    if (i > 0) out.set(line.slice(0, i).trim(), line.slice(i + 1).trim());
  }
  return out;
}

async function configGet(conn: RedisConn, key: string): Promise<string | undefined> {
  const r = await conn.call("CONFIG", "GET", key);
  if (!Array.isArray(r) || r.length < 2) return undefined;
  return String(r[1]);
}

/** Learns a server's kind and version on an open connection. */
export async function probeOn(conn: RedisConn): Promise<BackendInfo> {
  const info = infoFields(String(await conn.call("INFO", "server")));
  const pika = info.get("pika_version");
  if (pika !== undefined) {
    const mode = (await configGet(conn, "instance-mode"))?.toLowerCase();
    const num = async (key: string): Promise<number | undefined> => {
      const text = await configGet(conn, key);
      return text !== undefined && /^\d+$/.test(text) ? Number(text) : undefined;
    };
    const slotNum = await num("default-slot-num");
    const databases = await num("databases");
    if (mode === "sharding") {
      return { kind: "pika-sharding", server: "pika", version: pika, slotNum, databases, writeBufferSize: await num("write-buffer-size") };
    }
    if (mode !== undefined && mode !== "classic") throw new Error(`Pika ${pika} answers instance-mode = ${mode}: slotway knows classic and sharding only`);
    const slotmigrate = (await configGet(conn, "slotmigrate"))?.toLowerCase() === "yes";
    let slotNumbersOk: boolean | undefined;
    if (slotmigrate) {
      const r = await conn.call("SLOTSHASHKEY", SLOT_CHECK_KEY);
      slotNumbersOk = Array.isArray(r) && Number(r[0]) === SLOT_CHECK_SLOT;
    }
    const info: BackendInfo = { kind: "pika-classic", server: "pika", version: pika, slotmigrate, slotNumbersOk, slotNum, databases };
    const cacheModel = await num("cache-model");
    if (cacheModel !== undefined) info.cacheModel = cacheModel;
    return info;
  }
  const valkey = info.get("valkey_version");
  const isValkey = valkey !== undefined || info.get("server_name") === "valkey";
  const version = valkey ?? info.get("redis_version") ?? "";
  try {
    await conn.call("SLOTSINFO", 0, 1);
  } catch (e) {
    if (isUnknownCommand(e)) return { kind: "redis", server: isValkey ? "valkey" : "redis", version };
    throw e;
  }
  return { kind: "codis-server", server: "codis-server", version };
}

/**
 * Connects and probes. A connection or AUTH failure (or any error other than "unknown command"
 * to SLOTSINFO) is thrown with the server's own text.
 */
export async function probeBackend(connect: RedisConnector, addr: string, password: string | undefined, timeoutMs = 1000): Promise<BackendInfo> {
  const conn = await connect(addr, { password, timeoutMs });
  try {
    return await probeOn(conn);
  } finally {
    conn.close();
  }
}

/**
 * Why a server cannot join a slotway group as it is configured, or undefined when it can.
 * (A Pika without slotmigrate, or a sharding Pika whose slots are not codis's 1024.)
 */
export function unusableReason(addr: string, b: BackendInfo): string | undefined {
  if (b.kind === "pika-classic" && !b.slotmigrate) {
    return `server ${addr} is Pika ${b.version} (classic) with slotmigrate off: its slots cannot be migrated; set "slotmigrate : yes" in its pika.conf and restart it`;
  }
  if (b.kind === "pika-sharding" && b.slotNum !== undefined && b.slotNum !== 1024) {
    return `server ${addr} is Pika ${b.version} (sharding) with default-slot-num ${b.slotNum}: slotway needs 1024 (codis's slot count)`;
  }
  return undefined;
}

/** Pika 3.4: disk a server's slots may preallocate (bytes), for the warning when slots are added. */
export function pikaSlotDiskBytes(b: BackendInfo, slots: number): number {
  const perType = 1.1 * (b.writeBufferSize ?? 256 << 20);
  return slots * (17 << 20) + slots * perType; // one data type written per slot, at least
}

/** Why a group cannot hold both servers (different kinds), or undefined. */
export function mixReason(gid: number, addr: string, b: BackendInfo, other: string, o: BackendInfo): string | undefined {
  if (b.kind === o.kind) return undefined;
  return `group-[${gid}] holds ${other} (${describeBackend(o)}): server ${addr} is ${describeBackend(b)}; a group's servers must be of one kind (they replicate each other)`;
}
