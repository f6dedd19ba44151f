// The codis 3.2 topology model: JSON shapes shared by the dashboard, the store, codis-admin,
// codis-fe and the proxies (shared/codis-dashboard-api.md §4), and the one pure rule that turns
// a slot mapping into what a proxy routes by (§4.3).
//
// Two forms of every record:
//  - the in-memory form (the interfaces below): every field present, zero when unset, so code
//    never has to ask "missing or zero?";
//  - the wire/store form: produced by encode*(), which drops exactly the fields codis marks
//    `omitempty` (§4.1), and read back by decode*(), which follows Go's encoding/json: a missing
//    or null field is zero, an unknown field is ignored, and a field of the wrong JSON type fails
//    the whole record (codis-admin does the same, so we must never write one).

import type { PaceJson } from "./dashboard/pacer.js";
import type { ProgressJson } from "./dashboard/progress.js";

export const MAX_SLOT_NUM = 1024;
export const MAX_GROUP_ID = 9999;

/** Slot action states, in the order a migration walks them. */
export const ActionState = {
  Nothing: "",
  Pending: "pending",
  Preparing: "preparing",
  Prepared: "prepared",
  Migrating: "migrating",
  Finished: "finished",
} as const;

/** Group promoting states. */
export const PromoteState = {
  Nothing: "",
  Preparing: "preparing",
  Prepared: "prepared",
  Finished: "finished",
} as const;

/** Server sync-action states. */
export const SyncState = {
  Nothing: "",
  Pending: "pending",
  Syncing: "syncing",
  Synced: "synced",
  SyncedFailed: "synced_failed",
} as const;

/**
 * Forward methods a proxy uses for a slot that has a migrate_from. 0 and 1 are codis's; 2 is
 * slotway's own for vanilla Redis/Valkey backends (ownership by presence, DESIGN §7).
 */
/** codis's 0 and 1; slotway's 2 (vanilla Redis: MIGRATE) and 3 (Pika classic: sync + EXISTS check). */
export const ForwardMethod = { Sync: 0, SemiAsync: 1, Redis: 2, Pika: 3 } as const;
export type ForwardMethodId = (typeof ForwardMethod)[keyof typeof ForwardMethod];

/** Parses a migration_method ("sync", "semi-async", "redis"; any case) into a forward method. */
export function parseForwardMethod(text: string): ForwardMethodId | undefined {
  switch (text.toUpperCase()) {
    case "SYNC":
      return ForwardMethod.Sync;
    case "SEMI-ASYNC":
      return ForwardMethod.SemiAsync;
    case "REDIS":
      return ForwardMethod.Redis;
    default:
      return undefined;
  }
}

// ---------------------------------------------------------------------------------------------
// Records (in-memory form)

export interface SlotMapping {
  id: number;
  /** 0 = offline. */
  group_id: number;
  action: { index: number; state: string; target_id: number };
}

export interface GroupServer {
  server: string;
  datacenter: string;
  action: { index: number; state: string };
  replica_group: boolean;
}

export interface Group {
  id: number;
  /** servers[0] is the master. */
  servers: GroupServer[];
  promoting: { index: number; state: string };
  out_of_sync: boolean;
}

export interface Proxy {
  id: number;
  token: string;
  start_time: string;
  admin_addr: string;
  proto_type: string;
  proxy_addr: string;
  jodis_path: string;
  product_name: string;
  pid: number;
  pwd: string;
  sys: string;
  hostname: string;
  datacenter: string;
}

export interface Topom {
  token: string;
  start_time: string;
  admin_addr: string;
  product_name: string;
  pid: number;
  pwd: string;
  sys: string;
}

export interface Sentinel {
  servers: string[];
  out_of_sync: boolean;
}

/** What a proxy routes a slot by (GET .../slots, body of the proxy's fillslots). */
export interface Slot {
  id: number;
  locked: boolean;
  backend_addr: string;
  backend_addr_group_id: number;
  migrate_from: string;
  migrate_from_group_id: number;
  forward_method: number;
  replica_groups: string[][];
}

/** codis's RemoteError JSON. */
export interface RemoteErrorJson {
  Cause: string;
  Stack: null;
}

/** One group server's or sentinel's entry in the stats (wire form: zero fields already left out). */
export interface RedisStats {
  stats?: Record<string, string>;
  error?: RemoteErrorJson;
  sentinel?: Record<string, { master: Record<string, string>; slaves?: Record<string, string>[] }>;
  unixtime: number;
  timeout?: boolean;
}

/** A proxy's own /api/proxy/stats reply; passed through unchanged, so only the known part is typed. */
export interface ProxyStatsBody {
  online: boolean;
  closed: boolean;
  sentinels?: { servers?: string[]; masters?: Record<string, string>; switched?: boolean };
  ops?: { total: number; fails: number; redis?: { errors: number }; qps: number; cmd?: unknown[] };
  sessions?: { total: number; alive: number };
  rusage?: { now: string; cpu: number; mem: number; raw?: unknown };
  backend?: { primary_only: boolean };
  [extra: string]: unknown;
}

/** One proxy's entry in the stats (wire form). */
export interface ProxyStats {
  stats?: ProxyStatsBody;
  error?: RemoteErrorJson;
  unixtime: number;
  timeout?: boolean;
}

/** The dashboard config as codis shows it (sizes and durations as strings; no product_auth). */
export interface ConfigJson {
  coordinator_name: string;
  coordinator_addr: string;
  coordinator_auth: string;
  admin_addr: string;
  product_name: string;
  migration_method: string;
  migration_parallel_slots: number;
  migration_async_maxbulks: number;
  migration_async_maxbytes: string;
  migration_async_numkeys: number;
  migration_timeout: string;
  /** slotway only (codis has no such key). */
  migration_max_keys_per_second?: number;
  /** slotway only. */
  migration_keep_client_ops_percent?: number;
  sentinel_client_timeout: string;
  sentinel_quorum: number;
  sentinel_parallel_syncs: number;
  sentinel_down_after: string;
  sentinel_failover_timeout: string;
  sentinel_notification_script: string;
  sentinel_client_reconfig_script: string;
  /** slotway: Pika 3.4 slot replication (dashboard/replication.ts). */
  pika_replication_timeout?: string;
  pika_replication_lock_lag?: string;
  pika_replication_lock_timeout?: string;
  pika_replication_parallel_slots?: number;
  pika_delslots_grace?: string;
  pika_max_slots_per_server?: number;
}

/** GET /api/topom/stats (wire form). */
export interface Stats {
  closed: boolean;
  slots: SlotMappingJson[];
  group: { models: GroupJson[]; stats: Record<string, RedisStats> };
  proxy: { models: ProxyJson[]; stats: Record<string, ProxyStats> };
  slot_action: {
    interval: number;
    disabled: boolean;
    /** codis's status line; the other fields are slotway's (src/control/dashboard/progress.ts). */
    progress: { status: string } & Partial<ProgressJson>;
    executor: number;
    /** slotway: why the migration is blocked right now, with the detail codis leaves out ("" when not). */
    error?: string;
    /** slotway: migrations that stopped with the route left on the source: slot id → why. */
    stopped?: Record<string, string>;
    /** slotway: Pika 3.4 slot replication (dashboard/replication.ts). */
    replication?: ReplicationJson;
    /** slotway: the movers' client-aware pace (dashboard/pacer.ts). */
    pace?: PaceJson;
  };
  /** slotway: what each group server is (kind and version), keyed by address. */
  backends?: Record<string, BackendJson>;
  sentinels: { model: SentinelJson; stats: Record<string, RedisStats>; masters: Record<string, string> };
}

/** slotway: a group server's kind and version (backends/kind.ts). */
export interface BackendJson {
  /** redis | codis-server | pika-classic | pika-sharding */
  kind: string;
  /** redis | valkey | codis-server | pika */
  server: string;
  version: string;
  /** Pika classic: SLOTSHASHKEY agrees with slotway's slot numbers (false on 3.5.0). */
  slot_numbers_ok?: boolean;
  slotmigrate?: boolean;
  databases?: number;
  /** Pika 4.x: its read cache (0 = off; on, reads can be stale). */
  cache_model?: number;
  /** Pika 3.4: bytes each slot's WAL preallocates per data type is 1.1 × this. */
  write_buffer_size?: number;
  /** Pika 3.4: the slots it holds, as master or as a replica of each master, and replicas not linked. */
  pika_slots?: { total: number; master: number; following: Record<string, number>; not_linked: number };
  /** Why the kind or the slot summary could not be read. */
  error?: string;
}

/** slotway: Pika 3.4 slot replication in the overview. */
export interface ReplicationJson {
  /** Slot id → what it is doing ("replicating a → b: binlog sync, lag 123", "locked: ..."). */
  phases: Record<string, string>;
  /** Lock windows of the slots moved since the dashboard started (ms). */
  locks: { count: number; last_ms: number; max_ms: number; avg_ms: number };
  /** Source copies waiting for pkcluster delslots (unix ms). */
  cleanup: { sid: number; gid: number; at: number }[];
}

/** GET /topom. */
export interface Overview {
  version: string;
  compile: string;
  config?: ConfigJson;
  model?: Topom;
  stats?: Stats;
}

// ---------------------------------------------------------------------------------------------
// Zero values

export function newSlotMapping(id: number, groupId = 0): SlotMapping {
  return { id, group_id: groupId, action: { index: 0, state: "", target_id: 0 } };
}

export function newGroup(id: number): Group {
  return { id, servers: [], promoting: { index: 0, state: "" }, out_of_sync: false };
}

export function newGroupServer(server: string, datacenter = ""): GroupServer {
  return { server, datacenter, action: { index: 0, state: "" }, replica_group: false };
}

export function newSentinel(): Sentinel {
  return { servers: [], out_of_sync: false };
}

export function newProxy(): Proxy {
  return {
    id: 0, token: "", start_time: "", admin_addr: "", proto_type: "", proxy_addr: "", jodis_path: "",
    product_name: "", pid: 0, pwd: "", sys: "", hostname: "", datacenter: "",
  };
}

export function newSlot(id: number): Slot {
  return {
    id, locked: false, backend_addr: "", backend_addr_group_id: 0, migrate_from: "",
    migrate_from_group_id: 0, forward_method: 0, replica_groups: [],
  };
}

// ---------------------------------------------------------------------------------------------
// Wire form: encoding (§4.1). Field order follows codis's struct order, so our JSON reads like
// theirs; clients do not depend on it.

export type SlotMappingJson = { id: number; group_id: number; action: { index?: number; state?: string; target_id?: number } };
export type GroupServerJson = { server: string; datacenter: string; action: { index?: number; state?: string }; replica_group: boolean };
export type GroupJson = { id: number; servers: GroupServerJson[]; promoting: { index?: number; state?: string }; out_of_sync: boolean };
export type ProxyJson = Omit<Proxy, "id" | "jodis_path"> & { id?: number; jodis_path?: string };
export type SentinelJson = { servers?: string[]; out_of_sync: boolean };
export type SlotJson = { id: number } & Partial<Omit<Slot, "id">>;

function putIf<T extends object, K extends string, V>(o: T, key: K, v: V, nonZero: boolean): void {
  if (nonZero) (o as Record<string, unknown>)[key] = v;
}

export function encodeSlotMapping(m: SlotMapping): SlotMappingJson {
  const action: SlotMappingJson["action"] = {};
  putIf(action, "index", m.action.index, m.action.index !== 0);
  putIf(action, "state", m.action.state, m.action.state !== "");
  putIf(action, "target_id", m.action.target_id, m.action.target_id !== 0);
  return { id: m.id, group_id: m.group_id, action };
}

export function encodeGroupServer(s: GroupServer): GroupServerJson {
  const action: GroupServerJson["action"] = {};
  putIf(action, "index", s.action.index, s.action.index !== 0);
  putIf(action, "state", s.action.state, s.action.state !== "");
  return { server: s.server, datacenter: s.datacenter, action, replica_group: s.replica_group };
}

export function encodeGroup(g: Group): GroupJson {
  const promoting: GroupJson["promoting"] = {};
  putIf(promoting, "index", g.promoting.index, g.promoting.index !== 0);
  putIf(promoting, "state", g.promoting.state, g.promoting.state !== "");
  // servers is never null: codis-fe iterates it without a check.
  return { id: g.id, servers: g.servers.map(encodeGroupServer), promoting, out_of_sync: g.out_of_sync };
}

export function encodeProxy(p: Proxy): ProxyJson {
  const o: Record<string, unknown> = {};
  putIf(o, "id", p.id, p.id !== 0);
  o.token = p.token;
  o.start_time = p.start_time;
  o.admin_addr = p.admin_addr;
  o.proto_type = p.proto_type;
  o.proxy_addr = p.proxy_addr;
  putIf(o, "jodis_path", p.jodis_path, p.jodis_path !== "");
  o.product_name = p.product_name;
  o.pid = p.pid;
  o.pwd = p.pwd;
  o.sys = p.sys;
  o.hostname = p.hostname;
  o.datacenter = p.datacenter;
  return o as ProxyJson;
}

export function encodeSentinel(s: Sentinel): SentinelJson {
  if (s.servers.length !== 0) return { servers: [...s.servers], out_of_sync: s.out_of_sync };
  return { out_of_sync: s.out_of_sync };
}

export function encodeTopom(t: Topom): Topom {
  return {
    token: t.token, start_time: t.start_time, admin_addr: t.admin_addr, product_name: t.product_name,
    pid: t.pid, pwd: t.pwd, sys: t.sys,
  };
}

/** Every field except `id` is left out when zero (§4.3). */
export function encodeSlot(s: Slot): SlotJson {
  const o: SlotJson = { id: s.id };
  putIf(o, "locked", s.locked, s.locked);
  putIf(o, "backend_addr", s.backend_addr, s.backend_addr !== "");
  putIf(o, "backend_addr_group_id", s.backend_addr_group_id, s.backend_addr_group_id !== 0);
  putIf(o, "migrate_from", s.migrate_from, s.migrate_from !== "");
  putIf(o, "migrate_from_group_id", s.migrate_from_group_id, s.migrate_from_group_id !== 0);
  putIf(o, "forward_method", s.forward_method, s.forward_method !== 0);
  putIf(o, "replica_groups", s.replica_groups.map((l) => [...l]), s.replica_groups.length !== 0);
  return o;
}

/** codis's store/API text: JSON indented with 4 spaces. */
export function toJsonText(v: unknown): string {
  return JSON.stringify(v, null, 4);
}

// ---------------------------------------------------------------------------------------------
// Wire form: decoding with Go encoding/json semantics.

/** A record that does not decode the way Go would accept it. */
export class DecodeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "DecodeError";
  }
}

type Obj = Record<string, unknown>;

function goType(v: unknown): string {
  if (Array.isArray(v)) return "array";
  if (typeof v === "boolean") return "bool";
  if (typeof v === "number") return `number ${v}`;
  return typeof v;
}

function mismatch(v: unknown, where: string, want: string): DecodeError {
  return new DecodeError(`json: cannot unmarshal ${goType(v)} into Go struct field ${where} of type ${want}`);
}

function obj(v: unknown, where: string): Obj {
  if (v === undefined || v === null) return {};
  if (typeof v !== "object" || Array.isArray(v)) throw mismatch(v, where, "struct");
  return v as Obj;
}

function int(o: Obj, key: string, where: string): number {
  const v = o[key];
  if (v === undefined || v === null) return 0;
  if (typeof v !== "number" || !Number.isSafeInteger(v)) throw mismatch(v, `${where}.${key}`, "int");
  return v;
}

function str(o: Obj, key: string, where: string): string {
  const v = o[key];
  if (v === undefined || v === null) return "";
  if (typeof v !== "string") throw mismatch(v, `${where}.${key}`, "string");
  return v;
}

function bool(o: Obj, key: string, where: string): boolean {
  const v = o[key];
  if (v === undefined || v === null) return false;
  if (typeof v !== "boolean") throw mismatch(v, `${where}.${key}`, "bool");
  return v;
}

function arr(o: Obj, key: string, where: string): unknown[] {
  const v = o[key];
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) throw mismatch(v, `${where}.${key}`, "slice");
  return v;
}

function strList(o: Obj, key: string, where: string): string[] {
  return arr(o, key, where).map((x) => {
    if (typeof x !== "string") throw mismatch(x, `${where}.${key}`, "string");
    return x;
  });
}

/** Parses JSON text or takes an already-parsed value. */
function parsed(v: unknown): unknown {
  if (typeof v !== "string" && !Buffer.isBuffer(v)) return v;
  try {
    return JSON.parse(v.toString());
  } catch (e) {
    throw new DecodeError(`invalid json: ${(e as Error).message}`);
  }
}

export function decodeSlotMapping(v: unknown): SlotMapping {
  const o = obj(parsed(v), "SlotMapping");
  const a = obj(o.action, "SlotMapping.action");
  return {
    id: int(o, "id", "SlotMapping"),
    group_id: int(o, "group_id", "SlotMapping"),
    action: {
      index: int(a, "index", "SlotMapping.action"),
      state: str(a, "state", "SlotMapping.action"),
      target_id: int(a, "target_id", "SlotMapping.action"),
    },
  };
}

export function decodeGroupServer(v: unknown): GroupServer {
  const o = obj(v, "Group.servers");
  const a = obj(o.action, "GroupServer.action");
  return {
    server: str(o, "server", "GroupServer"),
    datacenter: str(o, "datacenter", "GroupServer"),
    action: { index: int(a, "index", "GroupServer.action"), state: str(a, "state", "GroupServer.action") },
    replica_group: bool(o, "replica_group", "GroupServer"),
  };
}

export function decodeGroup(v: unknown): Group {
  const o = obj(parsed(v), "Group");
  const p = obj(o.promoting, "Group.promoting");
  return {
    id: int(o, "id", "Group"),
    servers: arr(o, "servers", "Group").map(decodeGroupServer),
    promoting: { index: int(p, "index", "Group.promoting"), state: str(p, "state", "Group.promoting") },
    out_of_sync: bool(o, "out_of_sync", "Group"),
  };
}

export function decodeProxy(v: unknown): Proxy {
  const o = obj(parsed(v), "Proxy");
  const w = "Proxy";
  return {
    id: int(o, "id", w), token: str(o, "token", w), start_time: str(o, "start_time", w),
    admin_addr: str(o, "admin_addr", w), proto_type: str(o, "proto_type", w), proxy_addr: str(o, "proxy_addr", w),
    jodis_path: str(o, "jodis_path", w), product_name: str(o, "product_name", w), pid: int(o, "pid", w),
    pwd: str(o, "pwd", w), sys: str(o, "sys", w), hostname: str(o, "hostname", w), datacenter: str(o, "datacenter", w),
  };
}

export function decodeTopom(v: unknown): Topom {
  const o = obj(parsed(v), "Topom");
  const w = "Topom";
  return {
    token: str(o, "token", w), start_time: str(o, "start_time", w), admin_addr: str(o, "admin_addr", w),
    product_name: str(o, "product_name", w), pid: int(o, "pid", w), pwd: str(o, "pwd", w), sys: str(o, "sys", w),
  };
}

export function decodeSentinel(v: unknown): Sentinel {
  const o = obj(parsed(v), "Sentinel");
  return { servers: strList(o, "servers", "Sentinel"), out_of_sync: bool(o, "out_of_sync", "Sentinel") };
}

export function decodeSlot(v: unknown): Slot {
  const o = obj(parsed(v), "Slot");
  const w = "Slot";
  const rg = arr(o, "replica_groups", w).map((l) => {
    if (l === null) return [];
    if (!Array.isArray(l)) throw mismatch(l, `${w}.replica_groups`, "[]string");
    return l.map((x) => {
      if (typeof x !== "string") throw mismatch(x, `${w}.replica_groups`, "string");
      return x;
    });
  });
  return {
    id: int(o, "id", w), locked: bool(o, "locked", w), backend_addr: str(o, "backend_addr", w),
    backend_addr_group_id: int(o, "backend_addr_group_id", w), migrate_from: str(o, "migrate_from", w),
    migrate_from_group_id: int(o, "migrate_from_group_id", w), forward_method: int(o, "forward_method", w),
    replica_groups: rg,
  };
}

/** Decodes a JSON array of slots (a fillslots body); a null body is an empty list, as in Go. */
export function decodeSlots(v: unknown): Slot[] {
  const a = parsed(v);
  if (a === null || a === undefined) return [];
  if (!Array.isArray(a)) throw new DecodeError(`json: cannot unmarshal ${goType(a)} into Go value of type []*models.Slot`);
  return a.map(decodeSlot);
}

// ---------------------------------------------------------------------------------------------
// SlotMapping → Slot (§4.3)

/** What the conversion needs to know about the topology. */
export interface SlotContext {
  groups: ReadonlyMap<number, Group>;
  /** Forward method for a slot with a migrate_from (config's migration_method, or 2 for plain Redis). */
  method: number | ((m: SlotMapping) => number);
  /**
   * The IP a "host:port" resolves to, for replica ordering; undefined when unknown. The caller
   * resolves names beforehand (this function stays synchronous and pure); the default compares
   * host parts as written.
   */
  ipOf?: (addr: string) => string | undefined;
}

/** The host part of "host:port" (IPv6 in brackets or not). */
export function hostOf(addr: string): string {
  if (addr.startsWith("[")) {
    const close = addr.indexOf("]");
    return close < 0 ? addr : addr.slice(1, close);
  }
  const colon = addr.lastIndexOf(":");
  return colon < 0 ? addr : addr.slice(0, colon);
}

function defaultIpOf(addr: string): string | undefined {
  const h = hostOf(addr);
  if (h === "") return undefined;
  return h === "localhost" ? "127.0.0.1" : h;
}

/** master(g): servers[0] of group g, "" if the group is missing or empty. */
export function groupMaster(groups: ReadonlyMap<number, Group>, gid: number): string {
  const g = groups.get(gid);
  return g && g.servers.length !== 0 ? g.servers[0]!.server : "";
}

/** A group is locked while a promotion sits at `prepared` (its slots are held in every proxy). */
export function isGroupLocked(groups: ReadonlyMap<number, Group>, gid: number): boolean {
  const g = groups.get(gid);
  if (!g) return false;
  switch (g.promoting.state) {
    case PromoteState.Nothing:
    case PromoteState.Preparing:
    case PromoteState.Finished:
      return false;
    case PromoteState.Prepared:
      return true;
    default:
      throw new Error(`invalid state of group-[${g.id}] = ${g.promoting.state}`);
  }
}

export function isGroupPromoting(groups: ReadonlyMap<number, Group>, gid: number): boolean {
  const g = groups.get(gid);
  return g !== undefined && g.promoting.state !== PromoteState.Nothing;
}

/** Whether proxies must hold requests of this slot (the "Locked when" column of §4.3). */
export function isSlotLocked(groups: ReadonlyMap<number, Group>, m: SlotMapping): boolean {
  switch (m.action.state) {
    case ActionState.Nothing:
    case ActionState.Pending:
    case ActionState.Preparing:
      return isGroupLocked(groups, m.group_id);
    case ActionState.Prepared:
      // The migration barrier: no proxy may still write the source while any proxy already
      // treats the slot as migrating, so every proxy holds the slot until all have acked this.
      return true;
    case ActionState.Migrating:
      return isGroupLocked(groups, m.group_id) || isGroupLocked(groups, m.action.target_id);
    case ActionState.Finished:
      return isGroupLocked(groups, m.action.target_id);
    default:
      throw new Error(`slot-[${m.id}] action state is invalid`);
  }
}

/**
 * The replica lists for a slot of group gid as seen by proxy p: the servers with replica_group
 * set, in up to three lists by closeness (same datacenter and IP as the proxy's admin host; same
 * datacenter; the rest). Without a proxy (or an unresolvable one) everything is "the rest".
 */
export function toReplicaGroups(ctx: SlotContext, gid: number, p?: Proxy): string[][] {
  const g = ctx.groups.get(gid);
  if (!g || g.promoting.state !== PromoteState.Nothing || g.servers.length <= 1) return [];
  const ipOf = ctx.ipOf ?? defaultIpOf;
  const dc = p ? p.datacenter : "";
  const ip = p ? ipOf(p.admin_addr) : undefined;
  const lists: string[][] = [[], [], []];
  for (const s of g.servers) {
    if (!s.replica_group) continue;
    let prio = 2;
    if (ip !== undefined && dc === s.datacenter) prio = ipOf(s.server) === ip ? 0 : 1;
    lists[prio]!.push(s.server);
  }
  return lists.filter((l) => l.length !== 0);
}

/** The Slot a proxy (or, without p, the dashboard's slots route) gets for a mapping. */
export function toSlot(ctx: SlotContext, m: SlotMapping, p?: Proxy): Slot {
  const s = newSlot(m.id);
  s.locked = isSlotLocked(ctx.groups, m);
  s.forward_method = typeof ctx.method === "function" ? ctx.method(m) : ctx.method;
  switch (m.action.state) {
    case ActionState.Nothing:
    case ActionState.Pending:
      s.backend_addr = groupMaster(ctx.groups, m.group_id);
      s.backend_addr_group_id = m.group_id;
      s.replica_groups = toReplicaGroups(ctx, m.group_id, p);
      break;
    case ActionState.Preparing:
      // Replicas are dropped from here on: a replica may lag behind a write the migration depends on.
      s.backend_addr = groupMaster(ctx.groups, m.group_id);
      s.backend_addr_group_id = m.group_id;
      break;
    case ActionState.Prepared:
    case ActionState.Migrating:
      s.backend_addr = groupMaster(ctx.groups, m.action.target_id);
      s.backend_addr_group_id = m.action.target_id;
      s.migrate_from = groupMaster(ctx.groups, m.group_id);
      s.migrate_from_group_id = m.group_id;
      break;
    case ActionState.Finished:
      s.backend_addr = groupMaster(ctx.groups, m.action.target_id);
      s.backend_addr_group_id = m.action.target_id;
      break;
    default:
      throw new Error(`slot-[${m.id}] action state is invalid`);
  }
  return s;
}

/** toSlot over a list. */
export function toSlots(ctx: SlotContext, ms: readonly SlotMapping[], p?: Proxy): Slot[] {
  return ms.map((m) => toSlot(ctx, m, p));
}
